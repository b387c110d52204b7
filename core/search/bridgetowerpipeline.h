#pragma once

#include "core/common/floattensor.h"
#include "core/common/modelheads.h"
#include "core/common/precision.h"
#include "core/common/result.h"
#include "core/common/tokenbatch.h"
#include "core/image/imageprocessor.h"
#include "core/search/fillmaskresult.h"
#include "core/text/tokenizer.h"

#include <QString>
#include <QStringList>

#include <memory>
#include <vector>

// No core/model header here: the model is reached through model() (include
// core/model/bridgetowermodel.h where it is used), so editing the model's headers recompiles the
// model's users only, never everything that loads a pipeline (the UI, the app).
namespace ts {

class BridgeTowerModel;
class CaptionCache;
class PreparedText;

// Image-text match of one pair: the ITM head's logits and the match probability softmax(logits)[1].
struct MatchScore {
    float logitNoMatch = 0;
    float logitMatch = 0;
    float probability = 0;
};

// A checkpoint folder made usable end to end: tokenizer, image processor and model, as Hugging
// Face's BridgeTowerProcessor + model classes use them. The shared entry point for the CLI, the
// search engine and the indexer.
//
// Thread-safety: immutable after load(); every const method may be called from several threads.
class BridgeTowerPipeline {
public:
    struct Options {
        unsigned requiredHeads = kHeadNone;
        Precision precision = Precision::Float32;
        int maxMasks = 8; // fill-mask refuses captions with more blanks
        // Recent caption embeddings (keyed by model key, precision and text, so one cache may be
        // shared by pipelines of several models or precisions). Null: the pipeline makes its own.
        std::shared_ptr<CaptionCache> captionCache;
    };

    // Fails with an Error naming the folder and the unusable file (config, weights, vocab, merges,
    // preprocessor_config.json).
    static Result<std::shared_ptr<BridgeTowerPipeline>> load(const QString &directory,
                                                             const Options &options);
    static Result<std::shared_ptr<BridgeTowerPipeline>> load(const QString &directory) {
        return load(directory, Options{});
    }
    ~BridgeTowerPipeline();

    // Sets LibTorch's intra-op thread count for the whole process (BridgeTowerModel::
    // setThreadCount), for callers that load pipelines and have no other business with the model.
    static void setThreadCount(int threads);

    const BridgeTowerModel &model() const;
    const Tokenizer &tokenizer() const { return m_tokenizer; }
    const ImageProcessor &imageProcessor() const { return m_imageProcessor; }
    // Identity of the checkpoint (hash of its config and weights' header and size): embeddings
    // made with one model key are never mixed with another's.
    const QString &modelKey() const { return m_modelKey; }
    const QString &directory() const { return m_directory; }
    Precision precision() const { return m_options.precision; }
    CaptionCache &captionCache() const;

    // Tokenizes captions with <s> </s>, truncated to what the model accepts, padded to the longest.
    TokenBatch tokenize(const QStringList &texts) const;

    // Two-tower embeddings, L2-normalised, [N, C]. Captions found in the caption cache are not run
    // through the text tower again; one caption alone goes through prepareCaption (and is cached),
    // several missing ones run in one batch (embeddings only: not cached).
    Result<FloatTensor> embedTexts(const QStringList &texts) const;
    // Decodes (EXIF orientation applied) and preprocesses one photo: [1, 3, S, S].
    Result<FloatTensor> loadPixels(const QString &path) const;
    Result<FloatTensor> loadPixels(const std::vector<QString> &paths) const; // [N, 3, S, S]
    Result<FloatTensor> embedImages(const FloatTensor &pixels,
                                    FloatTensor *fusionOut = nullptr) const;

    // ITM of one image (pixels [1,3,S,S] or its vision fusion inputs) against each text.
    Result<std::vector<MatchScore>> matchTexts(const FloatTensor &pixels,
                                               const QStringList &texts) const;
    // A caption through the text tower once (tokenized as tokenize() does): its search embedding
    // (PreparedText::embedding) and what matchImages needs, however many photos it is matched with.
    // Served from and kept in the caption cache.
    Result<PreparedText> prepareCaption(const QString &text) const;
    // ITM of one prepared caption against many images given by their vision fusion inputs
    // [N, Lc, L, H], in one pass of the cross-modal layers.
    Result<std::vector<MatchScore>> matchImages(const PreparedText &caption,
                                                const FloatTensor &fusionInputs) const;

    // Masked captioning: the caption must contain between 1 and maxMasks "<mask>" tokens.
    // checkMaskedCaption says whether it does, before any photo is processed.
    Status checkMaskedCaption(const QString &caption) const;
    Result<FillMaskResult> fillMask(const FloatTensor &pixels, const QString &caption,
                                    int topK = 10) const;
    // The same from a photo's cached vision fusion inputs [1, Lc, L, H] (no vision tower).
    Result<FillMaskResult> fillMaskFromFusion(const FloatTensor &fusionInputs,
                                              const QString &caption, int topK = 10) const;

    static std::vector<MatchScore> scoresFromLogits(const FloatTensor &logits);

private:
    BridgeTowerPipeline();
    struct MaskedCaption {
        TokenBatch tokens;
        std::vector<int64_t> positions; // of the <mask> tokens
    };
    Result<MaskedCaption> encodeMaskedCaption(const QString &caption) const;
    FillMaskResult decodeMasks(const MaskedCaption &caption, const FloatTensor &logits,
                               int topK) const;

    std::unique_ptr<BridgeTowerModel> m_model;
    Tokenizer m_tokenizer;
    ImageProcessor m_imageProcessor{ImageProcessorConfig{}};
    QString m_modelKey;
    QString m_directory;
    Options m_options;
};

} // namespace ts
