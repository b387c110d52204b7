#pragma once

#include <QCache>
#include <QImage>
#include <QObject>
#include <QSet>
#include <QString>
#include <QThreadPool>

#include <deque>
#include <functional>

namespace ts {

// Decodes thumbnails off the GUI thread and keeps the recent ones in an LRU cache bounded in
// bytes. A photo the indexer stored a thumbnail for is read from that small file (a few KB instead
// of decoding a 12 MP original); the original is decoded when there is none, it cannot be read, or
// it is smaller than the tile. Requests are served newest first (what the user scrolled to last is
// what they look at), and the queue is bounded, so scrolling through 10,000 results never builds a
// backlog.
//
// Threads: create and call it on the GUI thread; decoding runs on the loader's own small pool;
// thumbnailReady() is emitted on the GUI thread. Photos that cannot be decoded are remembered and
// reported once (thumbnailFailed), then served as the placeholder.
class ThumbnailLoader : public QObject {
    Q_OBJECT
public:
    explicit ThumbnailLoader(QObject *parent = nullptr);
    ~ThumbnailLoader() override; // drops queued requests and waits for the running decodes

    // The longest side of a thumbnail in device pixels (a tile's size times devicePixelRatio).
    // Changing it empties the cache.
    void setThumbnailSize(int devicePixels);
    int thumbnailSize() const { return m_size; }
    void setCacheBudget(qint64 bytes);
    void setMaxThreads(int threads);
    // Where the stored thumbnail of a photo is (empty: none), e.g.
    // Library::storedThumbnailProvider(). Called on the loader's pool threads, so it must be
    // thread-safe. Set it before requests.
    using StoredThumbnailProvider = std::function<QString(const QString &photoPath)>;
    void setStoredThumbnailProvider(StoredThumbnailProvider provider) {
        m_stored = std::move(provider);
    }

    // The cached thumbnail for `path`, or a null image.
    QImage thumbnail(const QString &path) const;
    bool hasFailed(const QString &path) const { return m_failed.contains(path); }
    // Queues a decode unless cached, failed, queued or running. Cheap; call it for each visible
    // row.
    void request(const QString &path);
    void clearQueue();
    int pendingCount() const { return int(m_queue.size()) + int(m_running.size()); }

    // A neutral tile shown until the thumbnail arrives (works on light and dark palettes).
    static QImage placeholder();

Q_SIGNALS:
    void thumbnailReady(const QString &path);
    void thumbnailFailed(const QString &path, const QString &message);

private:
    struct Decoded {
        QString path;
        QImage image;
        QString error;
    };
    static Decoded decode(const QString &path, int size, const StoredThumbnailProvider &stored);
    void pump();
    void finished(const Decoded &result);

    StoredThumbnailProvider m_stored;
    QThreadPool m_pool;
    QCache<QString, QImage> m_cache;
    std::deque<QString> m_queue; // front: newest
    QSet<QString> m_queued, m_running, m_failed;
    int m_size = 256;
    int m_maxThreads = 2;
    static constexpr size_t kMaxQueued = 400;
};

} // namespace ts
