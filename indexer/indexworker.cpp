#include "indexer/indexworker.h"

#include "core/common/nativepath.h"
#include "core/image/exifreader.h"
#include "core/image/imagedecoder.h"
#include "core/index/vectorindex.h"
#include "core/search/fusioncache.h"
#include "indexer/catalog.h"
#include "indexer/imageembedder.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QDirIterator>
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
        QStringLiteral("jpg"),  QStringLiteral("jpeg"), QStringLiteral("jpe"),
        QStringLiteral("png"),  QStringLiteral("webp"), QStringLiteral("gif"),
        QStringLiteral("bmp"),  QStringLiteral("tif"),  QStringLiteral("tiff"),
        QStringLiteral("heic"), QStringLiteral("heif"), QStringLiteral("avif")};
    const qsizetype dot = name.lastIndexOf(QLatin1Char('.'));
    return dot > 0 && kExtensions.contains(name.mid(dot + 1).toLower());
}

// One entry of a folder listing, with what stat() says of it (following symlinks, as QFileInfo).
struct DirEntry {
    QString name;
    QString path;
    NativeFileInfo info;
    QString linkTarget; // not null: a symlink whose target is not there
};

// Lists `dir` with readdir(), so that names which are not valid UTF-8 (old FAT drives, archives)
// are listed losslessly (core/common/nativepath.h) where QDir would mangle them. Hidden entries
// are left out; sorted by name. nullopt when the folder cannot be listed.
std::optional<std::vector<DirEntry>> listDirectory(const QString &dir) {
    std::vector<DirEntry> out;
#ifdef Q_OS_UNIX
    DIR *d = ::opendir(nativePath(dir).constData());
    if (!d)
        return std::nullopt;
    const QString prefix = dir.endsWith(QLatin1Char('/')) ? dir : dir + QLatin1Char('/');
    while (const dirent *e = ::readdir(d)) {
        if (e->d_name[0] == '.') // hidden, and "." and ".."
            continue;
        DirEntry entry;
        entry.name = pathFromNative(QByteArray(e->d_name));
        entry.path = prefix + entry.name;
        entry.info = statNative(entry.path);
        if (!entry.info.exists) {
            // A dangling symlink is kept (its target may be an unmounted disk); a file gone
            // since readdir is not.
            struct stat link {};
            if (::lstat(nativePath(entry.path).constData(), &link) != 0 || !S_ISLNK(link.st_mode))
                continue;
            entry.linkTarget = QFileInfo(entry.path).symLinkTarget();
            if (entry.linkTarget.isNull())
                entry.linkTarget = QStringLiteral("");
        }
        out.push_back(std::move(entry));
    }
    ::closedir(d);
#else
    const QDir qdir(dir);
    if (!qdir.exists())
        return std::nullopt;
    for (const QFileInfo &fi : qdir.entryInfoList(QDir::Dirs | QDir::Files | QDir::NoDotAndDotDot))
        if (!fi.fileName().startsWith(QLatin1Char('.')))
            out.push_back({fi.fileName(), fi.filePath(), statNative(fi.filePath())});
#endif
    std::sort(out.begin(), out.end(),
              [](const DirEntry &x, const DirEntry &y) { return x.name < y.name; });
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
    const QByteArray native = nativePath(path);
    struct stat st {};
    if (::stat(native.constData(), &st) != 0) {
        const int error = errno;
        struct stat link {};
        if (::lstat(native.constData(), &link) == 0 && S_ISLNK(link.st_mode))
            probe.offlineReason = QStringLiteral("it is a link to %1, which is not there")
                                      .arg(QFileInfo(path).symLinkTarget());
        else if (error == ENOENT)
            probe.offlineReason = QStringLiteral(
                "the folder is missing (a disk that is not mounted, or a folder renamed)");
        else
            probe.offlineReason = QStringLiteral("it cannot be read: %1")
                                      .arg(QString::fromLocal8Bit(std::strerror(error)));
        return probe;
    }
    probe.device = qint64(st.st_dev);
    struct stat parent {};
    probe.parentDevice =
        ::stat((native + "/..").constData(), &parent) == 0 ? qint64(parent.st_dev) : probe.device;
    DIR *d = ::opendir(native.constData());
    if (!d) {
        probe.offlineReason = QStringLiteral("it cannot be listed: %1")
                                  .arg(QString::fromLocal8Bit(std::strerror(errno)));
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
            probe.offlineReason =
                QStringLiteral("the disk is not mounted (the folder is an empty mount point)");
        else if (empty && probe.device != last->device)
            probe.offlineReason = QStringLiteral("the disk is not mounted (the folder is empty and "
                                                 "on another filesystem than before)");
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
    bool unchanged =
        false; // same size and mtime as the catalog row (model change, interrupted run)
};

struct Prepared {
    Job job;
    bool vanished = false;
    QString hash;         // quick hash (size, head, tail): the catalog's pre-filter
    QString fullHash;     // every byte: what a reuse must match
    qint64 reuseFrom = 0; // a photo with the same content and an embedding (move or copy)
    std::optional<Result<PreparedImage>> image; // set when decoded (or when reading failed)
    QString thumbnail;
    ExifData exif;
    QString fileType; // by content; empty when the file could not be read or was not recognised
    double readHashMs = 0, thumbnailWriteMs = 0; // the benchmark's stages (IndexStageTimes)
};

constexpr qint64 kQuickHashChunk = 64 * 1024;

// The filter metadata of a photo row: the type by content (else by extension), the camera, and
// the EXIF date, else the file's modification time marked as such.
void setMetadata(PhotoWrite &w, const ExifData &exif, const QString &typeByContent) {
    w.fileType = typeByContent.isEmpty() ? fileTypeForExtension(w.path) : typeByContent;
    w.cameraMake = exif.make;
    w.cameraModel = exif.model;
    w.takenIsFileTime = !exif.dateTaken;
    w.takenMs = exif.dateTaken ? exif.dateTaken->toMSecsSinceEpoch() : w.mtimeMs;
}

// How much of a file the metadata refresh reads first: a JPEG's EXIF lies in its first APP1
// segment (at most 64 KiB, near the start). Other containers may put it after the image data
// (PNG, WebP), anywhere (HEIF's iloc, TIFF's IFD offsets): when the head has no EXIF, the whole
// file is read (bounded by the decoder's file size limit).
constexpr qint64 kMetadataHeadBytes = 256 * 1024;

ExifData readExifFromFile(const QString &path, QString *fileType) {
    QFile file;
    if (!openNativeFile(file, path, QIODevice::ReadOnly, nullptr))
        return {};
    const QByteArray head = file.read(kMetadataHeadBytes);
    *fileType = imageFileType(head);
    ExifData exif = readExif(head);
    if (exif.found || *fileType == QLatin1String("jpeg") || file.atEnd())
        return exif;
    file.close();
    const auto whole = readImageFile(path);
    return whole ? readExif(*whole) : exif;
}

} // namespace

QString quickContentHash(const QByteArray &contents) {
    // The tail starts at max(64 KiB, size - 64 KiB): the same bytes version 1 read with two seeks,
    // so quick hashes already in a catalog still match.
    const qint64 size = contents.size();
    QCryptographicHash hash(QCryptographicHash::Sha1);
    hash.addData(QByteArray::number(size));
    hash.addData(QByteArrayView(contents).first(std::min(size, kQuickHashChunk)));
    if (size > kQuickHashChunk) {
        const qint64 from = std::max(kQuickHashChunk, size - kQuickHashChunk);
        hash.addData(QByteArrayView(contents).sliced(from, std::min(kQuickHashChunk, size - from)));
    }
    return QString::fromLatin1(hash.result().toHex());
}

QString fullContentHash(const QByteArray &contents) {
    // BLAKE2b-256: 16 ms for 5 MB on an idle core here (SHA-256 38 ms; SHA-1 10 ms but has known
    // collisions), beside 1.7 s of embedding (bench_indexer --hash-cost).
    return QString::fromLatin1(
        QCryptographicHash::hash(contents, QCryptographicHash::Blake2b_256).toHex());
}

IndexWorker::IndexWorker(IndexWorkerConfig config) : m_config(std::move(config)) {}
IndexWorker::~IndexWorker() = default;

void IndexWorker::run() {
    IndexRunResult result;
    try {
        result = doRun();
    } catch (const std::exception &e) {
        // Nothing may escape a slot on the worker thread.
        result.error = QStringLiteral("indexing stopped by an internal error: %1")
                           .arg(QString::fromUtf8(e.what()));
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
        result.error = QStringLiteral("cannot index into the library database %1: it is read-only "
                                      "(%2). Searching it still "
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
        progress.etaSeconds =
            progress.photosPerSecond > 0
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
        QString fullHash;
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
        if (const QString canonical = QFileInfo(folder.path).canonicalFilePath();
            !canonical.isEmpty())
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
            const DirectoryProbe probe =
                probeDirectory(dirPath, last == recorded.cend() ? nullptr : &*last);
            if (!probe.offlineReason.isEmpty()) {
                goOffline(dirPath, probe.offlineReason);
                continue;
            }
            const QString canonical = canonicalNativePath(dirPath);
            if (canonical.isEmpty() || visited.contains(canonical) || excluded.contains(canonical))
                continue;
            visited.insert(canonical);
            directoryRecords.push_back(
                {dirPath, probe.device, probe.parentDevice, std::nullopt, QString()});
            if (result.directories.size() < m_config.maxWatchedDirectories)
                result.directories << dirPath;
            else
                result.directoriesTruncated = true;
            const std::optional<std::vector<DirEntry>> listed = listDirectory(dirPath);
            if (!listed) {
                // Listable a moment ago (probeDirectory): unmounted or made unreadable since.
                goOffline(dirPath, QStringLiteral("it cannot be listed: %1")
                                       .arg(QString::fromLocal8Bit(std::strerror(errno))));
                continue;
            }
            for (const DirEntry &entry : *listed) {
                if (!entry.linkTarget.isNull()) {
                    // A dangling link: a folder (or photo) on a share or disk that is not there.
                    offlinePaths << entry.path;
                    const QString prefix = entry.path + QLatin1Char('/');
                    for (auto k = known.cbegin(); k != known.cend(); ++k) {
                        if (k.key().startsWith(prefix)) {
                            goOffline(entry.path,
                                      QStringLiteral("it is a link to %1, which is not there")
                                          .arg(entry.linkTarget));
                            break;
                        }
                    }
                    continue;
                }
                if (entry.info.isDir) {
                    if (!roots.contains(entry.path) &&
                        !roots.contains(canonicalNativePath(entry.path)))
                        stack.push_back(entry.path);
                    continue;
                }
                if (!looksLikePhoto(entry.name) || !entry.info.isFile)
                    continue;
                Job job;
                job.folderId = folder.id;
                job.path = entry.path;
                job.size = entry.info.size;
                job.mtimeMs = entry.info.mtimeMs;
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
            const bool offline =
                std::any_of(offlinePaths.cbegin(), offlinePaths.cend(), [&](const QString &o) {
                    return it.key() == o ||
                           (it.key().startsWith(o) && it.key().at(o.size()) == QLatin1Char('/'));
                });
            if (offline)
                offlinePhotos.push_back(it->id);
            else
                missing.push_back({it->id, it->fullHash, it->hasEmbedding});
        }
        scannedRoots << folder.path;
        scannedFolders.push_back(folder.id);
    }
    if (!m_cancelled) {
        if (Status s = catalog.recordDiscovery(scannedRoots, directoryRecords, scannedFolders,
                                               offlinePhotos);
            !s) {
            result.error = s.error().message;
            return result;
        }
    }
    progress.discovering = false;
    progress.total = qint64(jobs.size());
    emitProgress(true);

    // Where a new file's content is already embedded: a vanished row (a move: the row follows the
    // file) or a present one (a copy: its vector is reused).
    auto candidatesResult = catalog.embeddedByQuickHash(modelKey);
    if (!candidatesResult) {
        result.error = candidatesResult.error().message;
        return result;
    }
    const QMultiHash<QString, EmbeddedContent> embeddedByQuick = std::move(*candidatesResult);
    QHash<QString, qint64> movable; // full hash -> vanished row id
    for (const Missing &m : missing)
        if (m.hadEmbedding && !m.fullHash.isEmpty())
            movable.insert(m.fullHash, m.id);
    std::unordered_set<qint64> claimed;     // vanished rows that a move took over
    QHash<QString, qint64> embeddedThisRun; // full hash -> id committed with a vector in this run

    // ---- Processing: decode batch k+1 in the pool while batch k is embedded and committed.
    QThreadPool pool;
    pool.setMaxThreadCount(std::max(1, m_config.decodeThreads));
    const auto embedder = m_config.embedder;
    const QString thumbDir = m_config.thumbnailDirectory;
    if (!thumbDir.isEmpty())
        QDir().mkpath(thumbDir);
    auto prepareOne = [embedder, thumbDir, &embeddedByQuick](const Job &job) -> Prepared {
        Prepared p;
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
        p.hash = quickContentHash(*contents);
        p.fullHash = fullContentHash(*contents);
        // The whole file is in memory: EXIF is found wherever the container put it.
        p.exif = readExif(*contents);
        p.fileType = imageFileType(*contents);
        p.readHashMs = stage.nsecsElapsed() / 1e6;
        const QString thumb =
            thumbDir.isEmpty() ? QString()
                               : thumbDir + QLatin1Char('/') + p.fullHash + QStringLiteral(".jpg");
        // The quick hash finds candidates; only a photo whose every byte matches lends its vector.
        for (auto it = embeddedByQuick.constFind(p.hash);
             it != embeddedByQuick.cend() && it.key() == p.hash; ++it) {
            if (it->fullHash == p.fullHash && it->id != job.existingId) {
                p.reuseFrom = it->id;
                p.thumbnail = QFileInfo::exists(thumb) ? thumb : QString();
                return p;
            }
        }
        p.image = embedder->prepare(job.path, *contents);
        if (p.image->ok() && !thumb.isEmpty()) {
            stage.restart();
            if (QFileInfo::exists(thumb)) {
                p.thumbnail = thumb;
            } else if (!(*p.image)->thumbnail.isNull()) {
                QSaveFile out(thumb); // atomic: a killed run never leaves half a thumbnail
                if (out.open(QIODevice::WriteOnly) &&
                    (*p.image)->thumbnail.save(&out, "JPEG", 85) && out.commit())
                    p.thumbnail = thumb;
            }
            (*p.image)->thumbnail = QImage(); // not needed past this point
            p.thumbnailWriteMs = stage.nsecsElapsed() / 1e6;
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
    IndexStageTimes &stages = result.stages;
    QElapsedTimer stageClock;
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
        stageClock.start();
        next.waitForFinished();
        stages.waitForPhotos += stageClock.nsecsElapsed() / 1e6;
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
        // Same content twice in this batch: the later write takes the first one's vector.
        QHash<QString, size_t> embeddingInBatch;       // full hash -> writes index embedded
        std::vector<std::pair<size_t, size_t>> copyOf; // (writes index, writes index it copies)
        for (const Prepared &p : prepared) {
            progress.currentFile = p.job.path;
            stages.readHash += p.readHashMs;
            stages.thumbnail += p.thumbnailWriteMs;
            if (p.image && p.image->ok()) {
                stages.decode += (*p.image)->decodeMs;
                stages.resize += (*p.image)->resizeMs;
                stages.thumbnail += (*p.image)->thumbnailMs;
            }
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
            w.fullHash = p.fullHash;
            w.thumbnail = p.thumbnail;
            w.keepEmbeddings = p.job.unchanged;
            setMetadata(w, p.exif, p.fileType);
            if (p.reuseFrom) {
                const auto source = catalog.photo(p.reuseFrom);
                if (source) {
                    w.width = source->width;
                    w.height = source->height;
                    w.orientation = source->orientation;
                    if (w.thumbnail.isEmpty())
                        w.thumbnail = source->thumbnailPath;
                }
                w.state = PhotoState::Indexed;
                auto mv = movable.constFind(p.fullHash);
                if (mv != movable.cend() && !claimed.count(*mv)) {
                    // A move: the vanished row follows the file, with its id and every vector.
                    claimed.insert(*mv);
                    if (p.job.existingId && p.job.existingId != *mv) {
                        dropFromIndex.push_back(
                            p.job.existingId); // its row is replaced by the move
                    }
                    w.id = *mv;
                    w.keepEmbeddings = true;
                    ++result.moved;
                } else {
                    // A copy (or a move whose source row another file took): reuse the vector.
                    w.vector = catalog.embedding(p.reuseFrom, modelKey);
                    w.keepEmbeddings = false;
                    if (w.vector.empty()) {
                        // The source lost its vector meanwhile: recorded as failed, retried
                        // when the file changes.
                        w.state = PhotoState::Failed;
                        w.error = QStringLiteral("%1: could not be embedded (the photo with the "
                                                 "same content lost its "
                                                 "vector during indexing)")
                                      .arg(p.job.path);
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
            w.orientation = image->orientation;
            w.state = PhotoState::Indexed;
            // Same content as a photo embedded earlier in this run: its vector, no second
            // embedding.
            if (auto earlier = embeddedThisRun.constFind(p.fullHash);
                earlier != embeddedThisRun.cend()) {
                w.vector = catalog.embedding(*earlier, modelKey);
                if (!w.vector.empty()) {
                    ++result.copied;
                    writes.push_back(std::move(w));
                    continue;
                }
            }
            if (auto first = embeddingInBatch.constFind(p.fullHash);
                first != embeddingInBatch.cend()) {
                copyOf.emplace_back(writes.size(), *first);
                writes.push_back(std::move(w));
                continue;
            }
            embeddingInBatch.insert(p.fullHash, writes.size());
            embedWrite.push_back(writes.size());
            toEmbed.push_back(&image->pixels);
            writes.push_back(std::move(w));
        }

        std::vector<FloatTensor> fusion(writes.size());
        if (!toEmbed.empty()) {
            stageClock.start();
            auto embedded = m_config.embedder->embed(toEmbed);
            stages.model += stageClock.nsecsElapsed() / 1e6;
            for (size_t i = 0; i < toEmbed.size(); ++i) {
                PhotoWrite &w = writes[embedWrite[i]];
                if (!embedded || i >= embedded->vectors.size()) {
                    w.state = PhotoState::Failed;
                    w.error =
                        embedded ? QStringLiteral("%1: the model returned no embedding").arg(w.path)
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
        for (const auto &[copy, source] : copyOf) {
            PhotoWrite &w = writes[copy];
            if (writes[source].state == PhotoState::Failed) {
                w.state = PhotoState::Failed;
                w.error = QStringLiteral("%1: %2").arg(w.path, writes[source].error);
                w.keepEmbeddings = false;
                ++result.failed;
                ++progress.failed;
            } else {
                w.vector = writes[source].vector;
                ++result.copied;
            }
        }

        stageClock.start();
        auto committed = catalog.commitBatch(writes, modelKey, deletes);
        if (!committed) {
            result.error = committed.error().message;
            next.cancel(); // photos not yet prepared are not read
            next.waitForFinished();
            saveIndex();
            return result;
        }
        // The catalog now holds the batch; the index follows (rebuilt from the catalog if we die
        // before it is saved).
        std::vector<qint64> addIds;
        std::vector<quint64> addTags;
        std::vector<float> addVectors;
        for (size_t i = 0; i < writes.size(); ++i) {
            const qint64 id = (*committed)[i];
            if (!writes[i].vector.empty()) {
                addIds.push_back(id);
                addTags.push_back(Catalog::contentTag(writes[i].fullHash, writes[i].contentHash));
                addVectors.insert(addVectors.end(), writes[i].vector.begin(),
                                  writes[i].vector.end());
                if (!writes[i].fullHash.isEmpty() && !embeddedThisRun.contains(writes[i].fullHash))
                    embeddedThisRun.insert(writes[i].fullHash, id);
            } else if (writes[i].state == PhotoState::Failed) {
                dropFromIndex.push_back(id);
            }
        }
        if (!dropFromIndex.empty() && index.remove(dropFromIndex).ok())
            indexDirty = true;
        if (!addIds.empty()) {
            if (index.add(addIds, addVectors, addTags).ok()) {
                indexDirty = true;
            } else {
                // One unusable vector refuses the batch; add them one by one so the rest are
                // served.
                const size_t dim = addVectors.size() / addIds.size();
                for (size_t i = 0; i < addIds.size(); ++i)
                    (void)index.add(
                        {addIds[i]},
                        std::vector<float>(addVectors.begin() + qsizetype(i * dim),
                                           addVectors.begin() + qsizetype((i + 1) * dim)),
                        {addTags[i]});
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
                m_config.fusionCache->put(
                    (*committed)[i],
                    QStringLiteral("%1-%2").arg(writes[i].size).arg(writes[i].mtimeMs), fusion[i]);
            }
        }
        stages.commit += stageClock.nsecsElapsed() / 1e6;
        progress.done += qint64(prepared.size());
        emitProgress(false);
        if (sinceSave.elapsed() > 30'000)
            saveIndex();
    }
    if (next.isValid()) {
        // Cancelled (or paused into a cancel): the photos of the next batch not yet started are
        // not read at all; the few in flight finish (each is one photo's work).
        next.cancel();
        next.waitForFinished();
    }

    if (!m_cancelled) {
        if (QString error = refreshMetadata(catalog, result); !error.isEmpty()) {
            result.error = error;
            saveIndex();
            return result;
        }
    }
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
    result.stages.total = clock.nsecsElapsed() / 1e6;
    progress.currentFile.clear();
    emitProgress(true);
    return result;
}

QString IndexWorker::refreshMetadata(Catalog &catalog, IndexRunResult &result) {
    // One transaction per batch: a killed run keeps what it read, and the next goes on.
    constexpr int kBatch = 256;
    qint64 afterId = 0;
    while (!m_cancelled) {
        auto stale = catalog.staleMetadata(afterId, kBatch);
        if (!stale)
            return stale.error().message;
        if (stale->empty())
            return {};
        std::vector<MetadataUpdate> updates;
        for (const StaleMetadata &row : *stale) {
            afterId = row.id;
            // A file that changed since is read whole by the embedding pass of a later run; one
            // that cannot be read now (offline, gone) keeps its old version and is tried again.
            const NativeFileInfo info = statNative(row.path);
            if (!info.exists || info.mtimeMs != row.mtimeMs)
                continue;
            MetadataUpdate u;
            u.id = row.id;
            const ExifData exif = readExifFromFile(row.path, &u.fileType);
            u.cameraMake = exif.make;
            u.cameraModel = exif.model;
            if (exif.dateTaken)
                u.exifTakenMs = exif.dateTaken->toMSecsSinceEpoch();
            updates.push_back(std::move(u));
        }
        if (Status s = catalog.updateMetadata(updates); !s)
            return s.error().message;
        result.metadataRefreshed += qint64(updates.size());
    }
    return {};
}

void IndexWorker::collectOrphans(const Catalog &catalog, qint64 olderThanMs) const {
    // Thumbnails and rerank features of photos that are no longer in the catalog (forgotten by an
    // older version, or left by a run that died between a file and its commit). Only files older
    // than this run: another process indexing the same library may have written newer ones.
    auto stale = [olderThanMs](const QFileInfo &fi) {
        return fi.lastModified().toMSecsSinceEpoch() < olderThanMs;
    };
    if (!m_config.thumbnailDirectory.isEmpty()) {
        const QSet<QString> used = catalog.thumbnailFiles();
        QSet<QString> usedNames;
        for (const QString &path : used)
            usedNames.insert(QFileInfo(path).fileName());
        for (const QFileInfo &fi : QDir(m_config.thumbnailDirectory)
                                       .entryInfoList({QStringLiteral("*.jpg")}, QDir::Files))
            if (!usedNames.contains(fi.fileName()) && stale(fi))
                QFile::remove(fi.absoluteFilePath());
    }
    if (!m_config.rerankDirectory.isEmpty() && QFileInfo(m_config.rerankDirectory).isDir()) {
        // <rerank>/<model key>/<photo id>-<stamp>.tsfc: every model's tier.
        const QHash<qint64, QString> stamps = catalog.photoStamps();
        QDirIterator it(m_config.rerankDirectory, {QStringLiteral("*.tsfc")}, QDir::Files,
                        QDirIterator::Subdirectories);
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
