#include "indexer/indexworker.h"

#include "core/index/vectorindex.h"
#include "core/search/fusioncache.h"
#include "indexer/catalog.h"
#include "indexer/exifdate.h"
#include "indexer/imageembedder.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDirIterator>
#include <QDeadlineTimer>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QSet>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentMap>

#include <deque>

#ifdef Q_OS_UNIX
#include <dirent.h>
#include <sys/stat.h>
#endif
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace ts {

namespace {

// Extensions discovery considers (decoding itself recognises formats by content). Other files in a
// photo folder (sidecars, videos, documents) are not photos and are not reported as failures.
bool looksLikePhoto(const QString &name) {
    static const QSet<QString> kExtensions = {
        QStringLiteral("jpg"), QStringLiteral("jpeg"), QStringLiteral("jpe"), QStringLiteral("png"),
        QStringLiteral("webp"), QStringLiteral("gif"), QStringLiteral("bmp"), QStringLiteral("tif"),
        QStringLiteral("tiff"), QStringLiteral("heic"), QStringLiteral("heif"), QStringLiteral("avif")};
    const qsizetype dot = name.lastIndexOf(QLatin1Char('.'));
    return dot > 0 && kExtensions.contains(name.mid(dot + 1).toLower());
}

// Names in `dir` that Qt cannot represent (not valid UTF-8): Qt 6 skips them when listing, so they
// are found here with readdir() to be reported rather than silently ignored.
QStringList undecodableNames(const QString &dir) {
    QStringList out;
#ifdef Q_OS_UNIX
    DIR *d = ::opendir(QFile::encodeName(dir).constData());
    if (!d)
        return out;
    while (const dirent *e = ::readdir(d)) {
        const QByteArray raw(e->d_name);
        if (raw.startsWith('.'))
            continue;
        const QString name = QFile::decodeName(raw);
        if (QFile::encodeName(name) != raw)
            out << name;
    }
    ::closedir(d);
#else
    Q_UNUSED(dir);
#endif
    return out;
}

struct DirectoryProbe {
    qint64 device = 0, parentDevice = 0;
    QString offlineReason; // non-empty: the folder cannot be listed, or its disk is not mounted
};

// Can `path` be listed, and is it still the filesystem it was when last listed (`last`)? A mount
// point whose disk is gone is an empty folder on its parent's filesystem again: offline, not
// emptied. So is a folder that is empty now and on another filesystem than before.
DirectoryProbe probeDirectory(const QString &path, const DirectoryRecord *last) {
    DirectoryProbe probe;
#ifdef Q_OS_UNIX
    const QByteArray native = QFile::encodeName(path);
    struct stat st {};
    if (::stat(native.constData(), &st) != 0) {
        const int error = errno;
        struct stat link {};
        if (::lstat(native.constData(), &link) == 0 && S_ISLNK(link.st_mode))
            probe.offlineReason = QStringLiteral("it is a link to %1, which is not there").arg(QFileInfo(path).symLinkTarget());
        else if (error == ENOENT)
            probe.offlineReason = QStringLiteral("the folder is missing (a disk that is not mounted, or a folder renamed)");
        else
            probe.offlineReason = QStringLiteral("it cannot be read: %1").arg(QString::fromLocal8Bit(std::strerror(error)));
        return probe;
    }
    probe.device = qint64(st.st_dev);
    struct stat parent {};
    probe.parentDevice = ::stat((native + "/..").constData(), &parent) == 0 ? qint64(parent.st_dev) : probe.device;
    DIR *d = ::opendir(native.constData());
    if (!d) {
        probe.offlineReason = QStringLiteral("it cannot be listed: %1").arg(QString::fromLocal8Bit(std::strerror(errno)));
        return probe;
    }
    bool empty = true;
    while (const dirent *e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    ::closedir(d);
    if (last && last->device != 0) {
        const bool wasMountPoint = last->device != last->parentDevice;
        if (wasMountPoint && probe.device == probe.parentDevice)
            probe.offlineReason = QStringLiteral("the disk is not mounted (the folder is an empty mount point)");
        else if (empty && probe.device != last->device)
            probe.offlineReason = QStringLiteral("the disk is not mounted (the folder is empty and on another filesystem than before)");
    }
#else
    if (!QFileInfo(path).isDir())
        probe.offlineReason = QStringLiteral("the folder is missing");
#endif
    return probe;
}

struct Job {
    qint64 folderId = 0;
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    qint64 existingId = 0;
    bool existingHadEmbedding = false;
    bool unchanged = false; // same size and mtime as the catalog row (model change, interrupted run)
    bool unaddressableName = false; // not valid UTF-8: Qt 6 cannot open it (see prepareOne)
};

struct Prepared {
    Job job;
    bool vanished = false;
    QString hash;
    qint64 reuseFrom = 0;  // a photo with the same content and an embedding (move or copy)
    std::optional<Result<PreparedImage>> image; // set when decoded
    QString thumbnail;
    std::optional<qint64> takenMs;
};

} // namespace

QString quickContentHash(const QString &path, qint64 size, QByteArray *headOut) {
    constexpr qint64 kChunk = 64 * 1024;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    QCryptographicHash hash(QCryptographicHash::Sha1);
    const QByteArray sizeBytes = QByteArray::number(size);
    hash.addData(sizeBytes);
    const QByteArray head = file.read(kChunk);
    hash.addData(head);
    if (headOut)
        *headOut = head;
    if (size > kChunk) {
        if (!file.seek(std::max(kChunk, size - kChunk)))
            return {};
        hash.addData(file.read(kChunk));
    }
    return QString::fromLatin1(hash.result().toHex());
}

IndexWorker::IndexWorker(IndexWorkerConfig config) : m_config(std::move(config)) {}
IndexWorker::~IndexWorker() = default;

void IndexWorker::run() {
    IndexRunResult result;
    try {
        result = doRun();
    } catch (const std::exception &e) {
        // Nothing may escape a slot on the worker thread.
        result.error = QStringLiteral("indexing stopped by an internal error: %1").arg(QString::fromUtf8(e.what()));
    } catch (...) {
        result.error = QStringLiteral("indexing stopped by an unknown internal error");
    }
    Q_EMIT finished(result);
}

IndexRunResult IndexWorker::doRun() {
    IndexRunResult result;
    // m_cancelled is not reset: a worker serves one run, and a cancel that arrives before run()
    // starts must still count.
    const QString modelKey = m_config.embedder->modelKey();
    auto opened = Catalog::open(m_config.databasePath);
    if (!opened) {
        result.error = opened.error().message;
        return result;
    }
    Catalog &catalog = **opened;
    if (m_config.maxDatabasePages > 0)
        catalog.setMaxPageCount(m_config.maxDatabasePages);
    if (m_config.simulateReadOnly)
        catalog.setQueryOnly(true);
    if (catalog.isReadOnly()) {
        result.error = QStringLiteral("cannot index into the library database %1: it is read-only (%2). Searching it still "
                                      "works; to index, make it writable or pass another database")
                           .arg(catalog.path(), catalog.readOnlyReason());
        return result;
    }

    IndexProgress progress;
    QElapsedTimer sinceEmit;
    QElapsedTimer clock;
    clock.start();
    auto emitProgress = [&](bool force) {
        if (!force && sinceEmit.isValid() && sinceEmit.elapsed() < 100)
            return;
        sinceEmit.start();
        const double seconds = clock.elapsed() / 1000.0;
        progress.photosPerSecond = seconds > 0.5 ? progress.done / seconds : 0.0;
        progress.etaSeconds = progress.photosPerSecond > 0
                                  ? qint64((progress.total - progress.done) / progress.photosPerSecond)
                                  : -1;
        progress.paused = m_paused;
        Q_EMIT progressChanged(progress);
    };

    // ---- Discovery: compare the files on disk with the catalog, reading nothing but metadata.
    // A folder that cannot be listed (an unmounted disk's empty mount point, no permission, a
    // dangling link) is offline: its photos are kept and marked, never taken for deleted.
    progress.discovering = true;
    emitProgress(true);
    std::vector<Job> jobs;
    struct Missing {
        qint64 id;
        QString hash;
        bool hadEmbedding;
    };
    std::vector<Missing> missing;
    QSet<QString> excluded;
    for (const QString &e : m_config.excludedFolders)
        excluded.insert(QDir::cleanPath(e));
    QSet<QString> visited; // canonical folders: symlink loops end here
    const auto folders = catalog.folders(modelKey);
    const QHash<QString, DirectoryRecord> recorded = catalog.directories();
    // Watched folders inside another one are walked as their own roots (a photo belongs to the
    // innermost watched folder that contains it), never as a subfolder of the outer one.
    QSet<QString> roots;
    for (const WatchedFolder &folder : folders) {
        roots.insert(folder.path);
        if (const QString canonical = QFileInfo(folder.path).canonicalFilePath(); !canonical.isEmpty())
            roots.insert(canonical);
    }
    const qint64 scanStartMs = QDateTime::currentMSecsSinceEpoch();
    std::vector<DirectoryRecord> directoryRecords;
    std::vector<qint64> offlinePhotos;
    QStringList scannedRoots;
    std::vector<qint64> scannedFolders;
    for (const WatchedFolder &folder : folders) {
        if (m_cancelled)
            break;
        auto knownResult = catalog.filesOf(folder.id, modelKey);
        if (!knownResult) {
            result.error = knownResult.error().message;
            return result;
        }
        QHash<QString, KnownFile> known = std::move(*knownResult);
        QStringList offlinePaths;
        auto goOffline = [&](const QString &path, const QString &reason) {
            offlinePaths << path;
            DirectoryRecord d = recorded.value(path); // keeps the device it was last listed on
            d.path = path;
            if (!d.offlineSinceMs)
                d.offlineSinceMs = scanStartMs;
            d.offlineReason = reason;
            directoryRecords.push_back(d);
        };
        std::deque<QString> stack{folder.path};
        while (!stack.empty() && !m_cancelled) {
            const QString dirPath = stack.back();
            stack.pop_back();
            if (excluded.contains(QDir::cleanPath(dirPath)))
                continue;
            const auto last = recorded.constFind(dirPath);
            const DirectoryProbe probe = probeDirectory(dirPath, last == recorded.cend() ? nullptr : &*last);
            if (!probe.offlineReason.isEmpty()) {
                goOffline(dirPath, probe.offlineReason);
                continue;
            }
            const QFileInfo dirInfo(dirPath);
            const QString canonical = dirInfo.canonicalFilePath();
            if (canonical.isEmpty() || visited.contains(canonical) || excluded.contains(canonical))
                continue;
            visited.insert(canonical);
            directoryRecords.push_back({dirPath, probe.device, probe.parentDevice, std::nullopt, QString()});
            if (result.directories.size() < m_config.maxWatchedDirectories)
                result.directories << dirPath;
            else
                result.directoriesTruncated = true;
            const QDir dir(dirPath);
            // Hidden entries are skipped (QDir lists them only with QDir::Hidden).
            QFileInfoList entries = dir.entryInfoList(QDir::Dirs | QDir::Files | QDir::System | QDir::NoDotAndDotDot, QDir::Name);
            for (const QString &odd : undecodableNames(dirPath))
                entries << QFileInfo(dir.filePath(odd));
            for (const QFileInfo &entry : entries) {
                if (entry.fileName().startsWith(QLatin1Char('.')))
                    continue;
                if (entry.isSymLink() && !entry.exists()) {
                    // A dangling link: a folder (or photo) on a share or disk that is not there.
                    offlinePaths << entry.filePath();
                    const QString prefix = entry.filePath() + QLatin1Char('/');
                    for (auto k = known.cbegin(); k != known.cend(); ++k) {
                        if (k.key().startsWith(prefix)) {
                            goOffline(entry.filePath(),
                                      QStringLiteral("it is a link to %1, which is not there").arg(entry.symLinkTarget()));
                            break;
                        }
                    }
                    continue;
                }
                if (entry.isDir()) {
                    if (!roots.contains(entry.filePath()) && !roots.contains(entry.canonicalFilePath()))
                        stack.push_back(entry.filePath());
                    continue;
                }
                if (!looksLikePhoto(entry.fileName()))
                    continue;
                const bool lossyName = entry.fileName().contains(QChar(0xFFFD)) && !entry.exists();
                if (!entry.isFile() && !lossyName)
                    continue;
                Job job;
                job.folderId = folder.id;
                job.path = entry.filePath();
                // A name that is not valid UTF-8 decodes lossily (U+FFFD) and cannot be opened
                // through Qt: it is recorded as a failure the user can see, not silently dropped.
                job.unaddressableName = lossyName;
                job.size = entry.size();
                job.mtimeMs = entry.lastModified().toMSecsSinceEpoch();
                auto it = known.find(job.path);
                if (it != known.end()) {
                    const KnownFile k = *it;
                    known.erase(it);
                    const bool same = k.size == job.size && k.mtimeMs == job.mtimeMs;
                    if (same && (k.hasEmbedding || k.state == PhotoState::Failed)) {
                        ++result.skipped;
                        continue; // unchanged: not even opened
                    }
                    job.existingId = k.id;
                    job.existingHadEmbedding = k.hasEmbedding;
                    job.unchanged = same;
                }
                jobs.push_back(std::move(job));
                progress.total = qint64(jobs.size());
                emitProgress(false);
            }
        }
        if (m_cancelled)
            break;
        // Catalog rows whose file was not found: kept (offline) under a folder that could not be
        // listed; else moved (matched by hash below) or deleted.
        for (auto it = known.cbegin(); it != known.cend(); ++it) {
            const bool offline = std::any_of(offlinePaths.cbegin(), offlinePaths.cend(), [&](const QString &o) {
                return it.key() == o || (it.key().startsWith(o) && it.key().at(o.size()) == QLatin1Char('/'));
            });
            if (offline)
                offlinePhotos.push_back(it->id);
            else
                missing.push_back({it->id, it->contentHash, it->hasEmbedding});
        }
        scannedRoots << folder.path;
        scannedFolders.push_back(folder.id);
    }
    if (!m_cancelled) {
        if (Status s = catalog.recordDiscovery(scannedRoots, directoryRecords, scannedFolders, offlinePhotos); !s) {
            result.error = s.error().message;
            return result;
        }
    }
    progress.discovering = false;
    progress.total = qint64(jobs.size());
    emitProgress(true);

    // Where a new file's content is already embedded: a vanished row (a move: the row follows the
    // file) or a present one (a copy: its vector is reused).
    auto hashesResult = catalog.hashesWithEmbedding(modelKey);
    if (!hashesResult) {
        result.error = hashesResult.error().message;
        return result;
    }
    const QHash<QString, qint64> embeddedByHash = std::move(*hashesResult);
    QHash<QString, qint64> movable; // hash -> vanished row id
    for (const Missing &m : missing)
        if (m.hadEmbedding && !m.hash.isEmpty())
            movable.insert(m.hash, m.id);
    std::unordered_set<qint64> claimed; // vanished rows that a move took over

    // ---- Processing: decode batch k+1 in the pool while batch k is embedded and committed.
    QThreadPool pool;
    pool.setMaxThreadCount(std::max(1, m_config.decodeThreads));
    const auto embedder = m_config.embedder;
    const QString thumbDir = m_config.thumbnailDirectory;
    if (!thumbDir.isEmpty())
        QDir().mkpath(thumbDir);
    auto prepareOne = [embedder, thumbDir, &embeddedByHash](const Job &job) -> Prepared {
        Prepared p;
        p.job = job;
        if (job.unaddressableName) {
            p.image = Result<PreparedImage>(Error(
                Error::Code::Unsupported,
                QStringLiteral("%1: the file name is not valid UTF-8 and cannot be opened by this version; rename the "
                               "file (e.g. with convmv) to index it").arg(job.path)));
            return p;
        }
        const QFileInfo info(job.path);
        if (!info.exists()) {
            p.vanished = true;
            return p;
        }
        p.job.size = info.size();
        p.job.mtimeMs = info.lastModified().toMSecsSinceEpoch();
        QByteArray head;
        p.hash = quickContentHash(job.path, p.job.size, &head);
        if (const auto taken = exifDateTaken(head))
            p.takenMs = taken->toMSecsSinceEpoch();
        const QString thumb = p.hash.isEmpty() || thumbDir.isEmpty() ? QString() : thumbDir + QLatin1Char('/') + p.hash + QStringLiteral(".jpg");
        if (!p.hash.isEmpty()) {
            auto it = embeddedByHash.constFind(p.hash);
            if (it != embeddedByHash.cend() && *it != job.existingId) {
                p.reuseFrom = *it;
                p.thumbnail = QFileInfo::exists(thumb) ? thumb : QString();
                return p;
            }
        }
        p.image = embedder->prepare(job.path);
        if (p.image->ok() && !thumb.isEmpty()) {
            if (QFileInfo::exists(thumb)) {
                p.thumbnail = thumb;
            } else if (!(*p.image)->thumbnail.isNull()) {
                QSaveFile out(thumb); // atomic: a killed run never leaves half a thumbnail
                if (out.open(QIODevice::WriteOnly) && (*p.image)->thumbnail.save(&out, "JPEG", 85) && out.commit())
                    p.thumbnail = thumb;
            }
            (*p.image)->thumbnail = QImage(); // not needed past this point
        }
        return p;
    };

    VectorIndex &index = *m_config.index;
    QElapsedTimer sinceSave;
    sinceSave.start();
    bool indexDirty = false;
    auto saveIndex = [&]() {
        if (!indexDirty)
            return;
        // The catalog is the truth; a failed save only means a rebuild on the next start.
        (void)index.save(m_config.indexPath);
        indexDirty = false;
        sinceSave.restart();
    };

    const int batchSize = std::max(1, m_config.batchSize);
    const size_t batchCount = (jobs.size() + size_t(batchSize) - 1) / size_t(batchSize);
    auto batchJobs = [&](size_t b) {
        const size_t from = b * size_t(batchSize);
        const size_t to = std::min(jobs.size(), from + size_t(batchSize));
        return std::vector<Job>(jobs.begin() + qsizetype(from), jobs.begin() + qsizetype(to));
    };
    QFuture<Prepared> next;
    if (batchCount > 0)
        next = QtConcurrent::mapped(&pool, batchJobs(0), prepareOne);
    for (size_t b = 0; b < batchCount; ++b) {
        while (m_paused && !m_cancelled) {
            progress.paused = true;
            emitProgress(false);
            QThread::msleep(50);
        }
        progress.paused = false;
        if (m_cancelled)
            break;
        next.waitForFinished();
        const QList<Prepared> prepared = next.results();
        if (b + 1 < batchCount)
            next = QtConcurrent::mapped(&pool, batchJobs(b + 1), prepareOne);
        else
            next = {};

        std::vector<PhotoWrite> writes;
        std::vector<qint64> deletes;
        std::vector<qint64> dropFromIndex;
        std::vector<const FloatTensor *> toEmbed;
        std::vector<size_t> embedWrite; // writes index for each toEmbed
        for (const Prepared &p : prepared) {
            progress.currentFile = p.job.path;
            if (p.vanished) {
                if (p.job.existingId) {
                    deletes.push_back(p.job.existingId);
                    dropFromIndex.push_back(p.job.existingId);
                    ++result.removed;
                }
                continue;
            }
            PhotoWrite w;
            w.id = p.job.existingId;
            w.folderId = p.job.folderId;
            w.path = p.job.path;
            w.size = p.job.size;
            w.mtimeMs = p.job.mtimeMs;
            w.contentHash = p.hash;
            w.thumbnail = p.thumbnail;
            w.keepEmbeddings = p.job.unchanged;
            if (p.reuseFrom) {
                const auto source = catalog.photo(p.reuseFrom);
                if (source) {
                    w.width = source->width;
                    w.height = source->height;
                    w.orientation = source->orientation;
                    if (source->taken)
                        w.takenMs = source->taken->toMSecsSinceEpoch();
                    if (w.thumbnail.isEmpty())
                        w.thumbnail = source->thumbnailPath;
                }
                w.state = PhotoState::Indexed;
                auto mv = movable.constFind(p.hash);
                if (mv != movable.cend() && !claimed.count(*mv)) {
                    // A move: the vanished row follows the file, with its id and every vector.
                    claimed.insert(*mv);
                    if (p.job.existingId && p.job.existingId != *mv) {
                        dropFromIndex.push_back(p.job.existingId); // its row is replaced by the move
                    }
                    w.id = *mv;
                    w.keepEmbeddings = true;
                    ++result.moved;
                } else {
                    // A copy (or a move whose source row another file took): reuse the vector.
                    w.vector = catalog.embedding(p.reuseFrom, modelKey);
                    w.keepEmbeddings = false;
                    if (w.vector.empty()) {
                        // The source lost its vector meanwhile: embed like any new photo.
                        Job job = p.job;
                        Prepared again;
                        again.image = embedder->prepare(job.path);
                        if (again.image->ok()) {
                            w.width = (*again.image)->width;
                            w.height = (*again.image)->height;
                            w.orientation = (*again.image)->orientation;
                        }
                        w.state = PhotoState::Failed;
                        w.error = again.image->ok() ? QStringLiteral("%1: could not be embedded").arg(job.path)
                                                    : again.image->error().message;
                        if (p.job.existingHadEmbedding)
                            dropFromIndex.push_back(p.job.existingId);
                        ++result.failed;
                    } else {
                        ++result.copied;
                    }
                }
                writes.push_back(std::move(w));
                continue;
            }
            const Result<PreparedImage> &image = *p.image;
            if (!image) {
                w.state = PhotoState::Failed;
                w.error = image.error().message;
                w.keepEmbeddings = false;
                if (p.job.existingHadEmbedding)
                    dropFromIndex.push_back(p.job.existingId);
                ++result.failed;
                ++progress.failed;
                writes.push_back(std::move(w));
                continue;
            }
            w.width = image->width;
            w.height = image->height;
            w.takenMs = p.takenMs;
            w.orientation = image->orientation;
            w.state = PhotoState::Indexed;
            embedWrite.push_back(writes.size());
            toEmbed.push_back(&image->pixels);
            writes.push_back(std::move(w));
        }

        std::vector<FloatTensor> fusion(writes.size());
        if (!toEmbed.empty()) {
            auto embedded = m_config.embedder->embed(toEmbed);
            for (size_t i = 0; i < toEmbed.size(); ++i) {
                PhotoWrite &w = writes[embedWrite[i]];
                if (!embedded || i >= embedded->vectors.size()) {
                    w.state = PhotoState::Failed;
                    w.error = embedded ? QStringLiteral("%1: the model returned no embedding").arg(w.path)
                                       : QStringLiteral("%1: %2").arg(w.path, embedded.error().message);
                    w.keepEmbeddings = false;
                    ++result.failed;
                    ++progress.failed;
                    continue;
                }
                w.vector = std::move(embedded->vectors[i]);
                if (i < embedded->fusion.size())
                    fusion[embedWrite[i]] = std::move(embedded->fusion[i]);
                ++result.embedded;
            }
        }

        auto committed = catalog.commitBatch(writes, modelKey, deletes);
        if (!committed) {
            result.error = committed.error().message;
            next.waitForFinished();
            saveIndex();
            return result;
        }
        // The catalog now holds the batch; the index follows (rebuilt from the catalog if we die
        // before it is saved).
        std::vector<qint64> addIds;
        std::vector<float> addVectors;
        for (size_t i = 0; i < writes.size(); ++i) {
            const qint64 id = (*committed)[i];
            if (!writes[i].vector.empty()) {
                addIds.push_back(id);
                addVectors.insert(addVectors.end(), writes[i].vector.begin(), writes[i].vector.end());
            } else if (writes[i].state == PhotoState::Failed) {
                dropFromIndex.push_back(id);
            }
        }
        if (!dropFromIndex.empty() && index.remove(dropFromIndex).ok())
            indexDirty = true;
        if (!addIds.empty()) {
            if (index.add(addIds, addVectors).ok()) {
                indexDirty = true;
            } else {
                // One unusable vector refuses the batch; add them one by one so the rest are served.
                const size_t dim = addVectors.size() / addIds.size();
                for (size_t i = 0; i < addIds.size(); ++i)
                    (void)index.add({addIds[i]}, std::vector<float>(addVectors.begin() + qsizetype(i * dim),
                                                                     addVectors.begin() + qsizetype((i + 1) * dim)));
                indexDirty = true;
            }
        }
        if (m_config.fusionCache) {
            for (size_t i = 0; i < writes.size(); ++i) {
                if (fusion[i].numel() == 0)
                    continue;
                const qint64 bytes = fusion[i].numel() * 2; // the disk tier stores float16
                if (m_config.fusionCache->stats().diskBytes + bytes > m_config.fusionDiskBudget)
                    break; // within budget only: never evict what earlier photos cached
                m_config.fusionCache->put((*committed)[i],
                                          QStringLiteral("%1-%2").arg(writes[i].size).arg(writes[i].mtimeMs), fusion[i]);
            }
        }
        progress.done += qint64(prepared.size());
        emitProgress(false);
        if (sinceSave.elapsed() > 30'000)
            saveIndex();
    }
    if (next.isValid())
        next.waitForFinished();

    if (!m_cancelled) {
        std::vector<qint64> gone;
        for (const Missing &m : missing)
            if (!claimed.count(m.id))
                gone.push_back(m.id);
        if (!gone.empty()) {
            if (Status s = catalog.deletePhotos(gone); !s) {
                result.error = s.error().message;
                saveIndex();
                return result;
            }
            if (index.remove(gone).ok())
                indexDirty = true;
            result.removed += qint64(gone.size());
        }
        for (const WatchedFolder &folder : folders)
            (void)catalog.setFolderScanned(folder.id);
        collectOrphans(catalog, scanStartMs);
    }
    if (!m_cancelled && !indexDirty && !QFileInfo::exists(m_config.indexPath))
        indexDirty = true;
    saveIndex();
    result.cancelled = m_cancelled;
    progress.currentFile.clear();
    emitProgress(true);
    return result;
}

void IndexWorker::collectOrphans(const Catalog &catalog, qint64 olderThanMs) const {
    // Thumbnails and rerank features of photos that are no longer in the catalog (forgotten by an
    // older version, or left by a run that died between a file and its commit). Only files older
    // than this run: another process indexing the same library may have written newer ones.
    auto stale = [olderThanMs](const QFileInfo &fi) { return fi.lastModified().toMSecsSinceEpoch() < olderThanMs; };
    if (!m_config.thumbnailDirectory.isEmpty()) {
        const QSet<QString> used = catalog.thumbnailFiles();
        QSet<QString> usedNames;
        for (const QString &path : used)
            usedNames.insert(QFileInfo(path).fileName());
        for (const QFileInfo &fi : QDir(m_config.thumbnailDirectory).entryInfoList({QStringLiteral("*.jpg")}, QDir::Files))
            if (!usedNames.contains(fi.fileName()) && stale(fi))
                QFile::remove(fi.absoluteFilePath());
    }
    if (!m_config.rerankDirectory.isEmpty() && QFileInfo(m_config.rerankDirectory).isDir()) {
        // <rerank>/<model key>/<photo id>-<stamp>.tsfc: every model's tier.
        const QHash<qint64, QString> stamps = catalog.photoStamps();
        QDirIterator it(m_config.rerankDirectory, {QStringLiteral("*.tsfc")}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QFileInfo fi(it.next());
            const QString base = fi.completeBaseName();
            const qsizetype dash = base.indexOf(QLatin1Char('-'));
            bool ok = false;
            const qint64 id = base.left(dash).toLongLong(&ok);
            const auto stamp = stamps.constFind(id);
            const bool current = ok && stamp != stamps.cend() && base.mid(dash + 1) == *stamp;
            if (!current && stale(fi))
                QFile::remove(fi.absoluteFilePath());
        }
    }
}

} // namespace ts
