#pragma once

// The photo preparer, the second step of an indexing run (in the decode pool): reads a file once,
// hashes its bytes (quick and full), reads its EXIF and type, and either finds a photo with the
// same content that already has a vector (a move or a copy: nothing is decoded) or decodes and
// preprocesses it for the model and writes its thumbnail. Errors are recorded per photo (in
// `image`), never thrown: one bad photo does not stop the run.
//
// Threads: prepare() is const and may run on many threads at once.

#include "core/common/result.h"
#include "core/image/exifreader.h"
#include "indexer/catalog.h"
#include "indexer/folderdiscovery.h"
#include "indexer/imageembedder.h"

#include <QMultiHash>
#include <QString>

#include <memory>
#include <optional>

namespace ts::internal {

struct PreparedPhoto {
    PhotoJob job;          // size and mtime as read now
    bool vanished = false; // the file was gone when its turn came
    QString quickHash;     // size, head, tail: the catalog's pre-filter
    QString fullHash;      // every byte: what a reuse must match
    qint64 reuseFrom = 0;  // a photo with the same content and a vector (a move or a copy)
    // Set when decoded, or when reading failed (the error names the file); unset for a reuse.
    std::optional<Result<PreparedImage>> image;
    QString thumbnail;        // the thumbnail file, when there is one
    QByteArray thumbnailData; // its bytes, stored in the catalog with the row (shared catalogs)
    ExifData exif;
    QString fileType; // by content; empty when the file could not be read or was not recognised
    double readHashMs = 0, thumbnailWriteMs = 0; // the benchmark's stages (IndexStageTimes)
};

class PhotoPreparer {
public:
    // `thumbnailDirectory` empty: no thumbnails. `embeddedByQuickHash`: the catalog's photos with a
    // vector for the embedder's model (Catalog::embeddedByQuickHash), the candidates for reuse.
    PhotoPreparer(std::shared_ptr<ImageEmbedder> embedder, QString thumbnailDirectory,
                  QMultiHash<QString, EmbeddedContent> embeddedByQuickHash);

    PreparedPhoto prepare(const PhotoJob &job) const;

private:
    // A photo other than the job's own row whose every byte matches, or 0.
    qint64 reuseSource(const PreparedPhoto &p) const;
    // `file` when it is there or `thumbnail` could be written to it (the same content has one
    // thumbnail, keyed by its full hash), else empty; `bytes` gets the file's contents.
    static QString thumbnailFile(const QImage &thumbnail, const QString &file, QByteArray &bytes);
    // The bytes of a thumbnail file already written (a few KB); empty when it cannot be read.
    static QByteArray thumbnailBytes(const QString &file);

    std::shared_ptr<ImageEmbedder> m_embedder;
    QString m_thumbnailDirectory;
    QMultiHash<QString, EmbeddedContent> m_embeddedByQuickHash;
};

} // namespace ts::internal
