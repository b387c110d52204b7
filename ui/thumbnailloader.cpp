#include "ui/thumbnailloader.h"

#include "core/image/imagedecoder.h"

#include <QPainter>
#include <QtConcurrent/QtConcurrentRun>

namespace ts {

ThumbnailLoader::ThumbnailLoader(QObject *parent) : QObject(parent) {
    m_pool.setMaxThreadCount(m_maxThreads);
    m_cache.setMaxCost(128 << 20);
}

ThumbnailLoader::~ThumbnailLoader() {
    clearQueue();
    m_pool.waitForDone(5000);
}

void ThumbnailLoader::setThumbnailSize(int devicePixels) {
    if (devicePixels == m_size || devicePixels < 16)
        return;
    m_size = devicePixels;
    m_cache.clear();
}

void ThumbnailLoader::setCacheBudget(qint64 bytes) {
    m_cache.setMaxCost(qMax<qint64>(bytes, 1 << 20));
}

void ThumbnailLoader::setMaxThreads(int threads) {
    m_maxThreads = qMax(1, threads);
    m_pool.setMaxThreadCount(m_maxThreads);
}

QImage ThumbnailLoader::thumbnail(const QString &path) const {
    const QImage *img = m_cache.object(path);
    return img ? *img : QImage();
}

void ThumbnailLoader::request(const QString &path) {
    if (path.isEmpty() || m_cache.contains(path) || m_failed.contains(path) ||
        m_running.contains(path))
        return;
    if (m_queued.contains(path)) {
        // Asked again: it is visible now, move it to the front.
        auto it = std::find(m_queue.begin(), m_queue.end(), path);
        if (it != m_queue.end() && it != m_queue.begin()) {
            m_queue.erase(it);
            m_queue.push_front(path);
        }
        return;
    }
    m_queue.push_front(path);
    m_queued.insert(path);
    while (m_queue.size() > kMaxQueued) { // scrolled past long ago: asked again if seen again
        m_queued.remove(m_queue.back());
        m_queue.pop_back();
    }
    pump();
}

void ThumbnailLoader::clearQueue() {
    m_queue.clear();
    m_queued.clear();
}

void ThumbnailLoader::pump() {
    while (!m_queue.empty() && int(m_running.size()) < m_maxThreads) {
        const QString path = m_queue.front();
        m_queue.pop_front();
        m_queued.remove(path);
        m_running.insert(path);
        const int size = m_size;
        QtConcurrent::run(&m_pool, [path, size, stored = m_stored] {
            return decode(path, size, stored);
        }).then(this, [this](const Decoded &result) { finished(result); });
    }
}

void ThumbnailLoader::finished(const Decoded &result) {
    m_running.remove(result.path);
    if (result.image.isNull()) {
        m_failed.insert(result.path);
        Q_EMIT thumbnailFailed(result.path, result.error);
    } else if (result.image.width() <= m_size && result.image.height() <= m_size) {
        const qint64 cost = result.image.sizeInBytes();
        m_cache.insert(result.path, new QImage(result.image), qMax<qint64>(1, cost));
        Q_EMIT thumbnailReady(result.path);
    } // else: made for an older size; it will be asked for again
    pump();
}

ThumbnailLoader::Decoded ThumbnailLoader::decode(const QString &path, int size,
                                                 const StoredThumbnailProvider &stored) {
    DecodeOptions options;
    options.targetShortestEdgeHint = QSize(size, size);
    if (const QString file = stored ? stored(path) : QString(); !file.isEmpty()) {
        // Already oriented and at most 256 px; smaller than the tile (a small photo, or a HiDPI
        // tile) would be blurred, and the original is then the better source.
        if (auto thumb = decodeImageFile(file, options);
            thumb.ok() && std::max(thumb->rgb.width(), thumb->rgb.height()) >= size) {
            QImage image = thumb->rgb;
            if (image.width() > size || image.height() > size)
                image = image.scaled(size, size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
            return {path, image.convertToFormat(QImage::Format_RGB32), {}};
        }
    }
    auto decoded = decodeImageFile(path, options);
    if (!decoded.ok())
        return {path, {}, decoded.error().message};
    QImage image = decoded->rgb;
    if (image.width() > size || image.height() > size)
        image = image.scaled(size, size, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return {path, image.convertToFormat(QImage::Format_RGB32), {}};
}

QImage ThumbnailLoader::placeholder() {
    static const QImage image = [] {
        QImage img(64, 48, QImage::Format_ARGB32_Premultiplied);
        img.fill(QColor(128, 128, 128, 40));
        return img;
    }();
    return image;
}

} // namespace ts
