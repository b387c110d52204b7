#include "indexer/photopreparer.h"

#include "core/common/jsonfile.h"
#include "core/common/nativepath.h"
#include "core/image/imagedecoder.h"
#include "indexer/indexworker.h"

#include <QBuffer>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSaveFile>

namespace ts::internal {

PhotoPreparer::PhotoPreparer(std::shared_ptr<ImageEmbedder> embedder, QString thumbnailDirectory,
                             QMultiHash<QString, EmbeddedContent> embeddedByQuickHash)
    : m_embedder(std::move(embedder)), m_thumbnailDirectory(std::move(thumbnailDirectory)),
      m_embeddedByQuickHash(std::move(embeddedByQuickHash)) {}

PreparedPhoto PhotoPreparer::prepare(const PhotoJob &job) const {
    PreparedPhoto p;
    p.job = job;
    const NativeFileInfo info = statNative(job.path);
    if (!info.exists) {
        p.vanished = true;
        return p;
    }
    p.job.mtimeMs = info.mtimeMs;
    QElapsedTimer stage;
    stage.start();
    // One read: the bytes are hashed (quick and full) and decoded from memory.
    auto contents = readImageFile(job.path);
    if (!contents) {
        p.job.size = info.size;
        p.image = Result<PreparedImage>(contents.error());
        return p;
    }
    p.job.size = contents->size();
    p.quickHash = quickContentHash(*contents);
    p.fullHash = fullContentHash(*contents);
    // The whole file is in memory: EXIF is found wherever the container put it.
    p.exif = readExif(*contents);
    p.fileType = imageFileType(*contents);
    p.readHashMs = stage.nsecsElapsed() / 1e6;
    const QString thumb = m_thumbnailDirectory.isEmpty() ? QString()
                                                         : m_thumbnailDirectory + QLatin1Char('/') +
                                                               p.fullHash + QStringLiteral(".jpg");
    p.reuseFrom = reuseSource(p);
    if (p.reuseFrom) {
        p.thumbnail = QFileInfo::exists(thumb) ? thumb : QString();
        if (!p.thumbnail.isEmpty())
            p.thumbnailData = thumbnailBytes(thumb);
        return p;
    }
    p.image = m_embedder->prepare(job.path, *contents);
    if (p.image->ok() && !thumb.isEmpty()) {
        stage.restart();
        p.thumbnail = thumbnailFile((*p.image)->thumbnail, thumb, p.thumbnailData);
        (*p.image)->thumbnail = QImage(); // not needed past this point
        p.thumbnailWriteMs = stage.nsecsElapsed() / 1e6;
    }
    return p;
}

qint64 PhotoPreparer::reuseSource(const PreparedPhoto &p) const {
    // The quick hash finds candidates; only a photo whose every byte matches lends its vector.
    for (auto it = m_embeddedByQuickHash.constFind(p.quickHash);
         it != m_embeddedByQuickHash.cend() && it.key() == p.quickHash; ++it)
        if (it->fullHash == p.fullHash && it->id != p.job.existingId)
            return it->id;
    return 0;
}

QString PhotoPreparer::thumbnailFile(const QImage &thumbnail, const QString &file,
                                     QByteArray &bytes) {
    if (QFileInfo::exists(file)) {
        bytes = thumbnailBytes(file);
        return file;
    }
    if (thumbnail.isNull())
        return {};
    QBuffer buffer(&bytes);
    if (!buffer.open(QIODevice::WriteOnly) || !thumbnail.save(&buffer, "JPEG", 85)) {
        bytes.clear();
        return {};
    }
    QSaveFile out(file); // atomic: a killed run never leaves half a thumbnail
    if (out.open(QIODevice::WriteOnly) && out.write(bytes) == bytes.size() && out.commit())
        return file;
    bytes.clear();
    return {};
}

QByteArray PhotoPreparer::thumbnailBytes(const QString &file) {
    // A thumbnail is at most 256 px JPEG (a few KB); anything larger is not ours.
    auto bytes = readFileBytes(file, 4LL << 20);
    return bytes ? *bytes : QByteArray();
}

} // namespace ts::internal
