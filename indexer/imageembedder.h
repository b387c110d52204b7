#pragma once

// What the indexer needs from a model: decode + preprocess one photo (any thread, in the decode
// pool) and embed a batch of preprocessed photos (the indexer's worker thread only). The real one
// is BridgeTowerEmbedder; tests use a fake that derives vectors from the file bytes.

#include "core/common/floattensor.h"
#include "core/common/result.h"

#include <QImage>
#include <QString>

#include <memory>
#include <optional>
#include <vector>

namespace ts {

class BridgeTowerPipeline;

struct PreparedImage {
    FloatTensor pixels;        // what embed() takes for this photo ([3, S, S] for the real model)
    int width = 0, height = 0; // as displayed (EXIF orientation applied)
    int orientation = 1;
    QImage thumbnail; // at most kThumbnailSize on its longer side; may be null
    // What preparing cost on its thread, in ms (the indexing benchmark's stages).
    double decodeMs = 0, resizeMs = 0, thumbnailMs = 0;
};

struct EmbeddedBatch {
    std::vector<std::vector<float>> vectors; // one per input, L2-normalised
    std::vector<FloatTensor> fusion;         // per input [1, Lc, L, H] rerank features, or empty
};

inline constexpr int kThumbnailSize = 256; // freedesktop "normal" is 128, "large" 256

class ImageEmbedder {
public:
    virtual ~ImageEmbedder() = default;
    // Identity of the model: vectors with different keys are never mixed.
    virtual QString modelKey() const = 0;
    virtual int dimension() const = 0;
    // Decodes and preprocesses one photo from `contents`, the whole file the caller has read
    // (readImageFile; the indexer hashes the same bytes, so a photo is read once). `path` names
    // the file in errors. Thread-safe. Errors name the file.
    virtual Result<PreparedImage> prepare(const QString &path,
                                          const QByteArray &contents) const = 0;
    // Embeds prepared photos (all from prepare()). Called from one thread at a time.
    virtual Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) = 0;
    // The pipeline behind it for search; null for fakes.
    virtual std::shared_ptr<const BridgeTowerPipeline> pipeline() const { return {}; }
};

// Over the real model: decodes once (for the thumbnail and the model input), the vision tower gives
// the search embedding and the rerank features in one pass.
std::shared_ptr<ImageEmbedder>
makeBridgeTowerEmbedder(std::shared_ptr<const BridgeTowerPipeline> pipeline);

// Shared by embedders: decodes a photo's bytes (bounded, EXIF-oriented) for the given
// shortest-edge hint and fills width/height/orientation/thumbnail of `out`; returns the decoded RGB
// image. `path` names the file in errors.
Result<QImage> decodeForIndexing(const QString &path, const QByteArray &contents,
                                 int targetShortestEdge, PreparedImage &out);

} // namespace ts
