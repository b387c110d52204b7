#include "indexer/indexworker.h"

#include "core/common/nativepath.h"
#include "core/image/exifreader.h"
#include "core/image/imagedecoder.h"
#include "indexer/batchcommitter.h"
#include "indexer/catalog.h"
#include "indexer/folderdiscovery.h"
#include "indexer/imageembedder.h"
#include "indexer/photopreparer.h"
#include "indexer/queuerunner.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentMap>

#include <algorithm>
#include <functional>

namespace ts {

namespace internal {

// The run's progress, emitted at most every 100 ms unless forced (the first and last report).
class ProgressReporter {
public:
    ProgressReporter(const std::atomic<bool> &paused,
                     std::function<void(const IndexProgress &)> emitProgress)
        : m_paused(paused), m_emit(std::move(emitProgress)) {
        m_clock.start();
    }

    IndexProgress &progress() { return m_progress; }
    qint64 elapsedNs() const { return m_clock.nsecsElapsed(); }

    void report(bool force = false) {
        if (!force && m_sinceEmit.isValid() && m_sinceEmit.elapsed() < 100)
            return;
        m_sinceEmit.start();
        const double seconds = m_clock.elapsed() / 1000.0;
        m_progress.photosPerSecond = seconds > 0.5 ? m_progress.done / seconds : 0.0;
        m_progress.etaSeconds =
            m_progress.photosPerSecond > 0
                ? qint64((m_progress.total - m_progress.done) / m_progress.photosPerSecond)
                : -1;
        m_progress.paused = m_paused;
        m_emit(m_progress);
    }

private:
    const std::atomic<bool> &m_paused;
    std::function<void(const IndexProgress &)> m_emit;
    IndexProgress m_progress;
    QElapsedTimer m_sinceEmit;
    QElapsedTimer m_clock;
};

} // namespace internal

namespace {

constexpr qint64 kQuickHashChunk = 64 * 1024;

// How much of a file the metadata refresh reads first: a JPEG's EXIF lies in its first APP1
// segment (at most 64 KiB, near the start). Other containers may put it after the image data
// (PNG, WebP), anywhere (HEIF's iloc, TIFF's IFD offsets): when the head has no EXIF, the whole
// file is read (bounded by the decoder's file size limit).
constexpr qint64 kMetadataHeadBytes = 256 * 1024;

// The metadata update of a catalog row from its file (the id is the caller's to set).
MetadataUpdate readMetadataFromFile(const QString &path) {
    MetadataUpdate u;
    QFile file;
    if (!openNativeFile(file, path, QIODevice::ReadOnly, nullptr))
        return u;
    const QByteArray head = file.read(kMetadataHeadBytes);
    u.fileType = imageFileType(head);
    ExifData exif = readExif(head);
    if (!exif.found && u.fileType != QLatin1String("jpeg") && !file.atEnd()) {
        file.close();
        if (const auto whole = readImageFile(path))
            exif = readExif(*whole);
    }
    u.cameraMake = exif.make;
    u.cameraModel = exif.model;
    if (exif.dateTaken)
        u.exifTakenMs = exif.dateTaken->toMSecsSinceEpoch();
    return u;
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
        result.error =
            Error(Error::Code::Internal, QStringLiteral("indexing stopped by an internal error: %1")
                                             .arg(QString::fromUtf8(e.what())));
    } catch (...) {
        result.error = Error(Error::Code::Internal,
                             QStringLiteral("indexing stopped by an unknown internal error"));
    }
    Q_EMIT finished(result);
}

IndexRunResult IndexWorker::doRun() {
    IndexRunResult result;
    // m_cancelled is not reset: a worker serves one run, and a cancel that arrives before run()
    // starts must still count.
    auto opened = openCatalog();
    if (!opened) {
        result.error = opened.error();
        return result;
    }
    Catalog &catalog = **opened;
    internal::ProgressReporter reporter(
        m_paused, [this](const IndexProgress &p) { Q_EMIT progressChanged(p); });
    IndexProgress &progress = reporter.progress();
    const qint64 runStartMs = QDateTime::currentMSecsSinceEpoch();
    if (m_config.queue.enabled) {
        internal::QueueRunner runner(catalog, m_config, m_cancelled, result, progress,
                                     [&reporter](bool force) { reporter.report(force); });
        if (Status s = runner.run(); !s)
            result.error = s.error();
        result.cancelled = m_cancelled;
        result.stages.total = reporter.elapsedNs() / 1e6;
        reporter.report(true);
        return result;
    }

    progress.discovering = true;
    reporter.report(true);
    const QString modelKey = m_config.embedder->modelKey();
    auto discovery = internal::discoverPhotos(
        catalog, {modelKey, m_config.excludedFolders, m_config.maxWatchedDirectories, runStartMs},
        m_cancelled, [&](qint64 jobsFound) {
            progress.total = jobsFound;
            reporter.report();
        });
    if (!discovery) {
        result.error = discovery.error();
        return result;
    }
    result.skipped = discovery->skipped;
    result.directories = discovery->directories;
    result.directoriesTruncated = discovery->directoriesTruncated;
    progress.discovering = false;
    progress.total = qint64(discovery->jobs.size());
    reporter.report(true);

    // Where a new file's content is already embedded: a vanished row (a move: the row follows the
    // file) or a present one (a copy: its vector is reused).
    auto embedded = catalog.embeddedByQuickHash(modelKey);
    if (!embedded) {
        result.error = embedded.error();
        return result;
    }
    if (!m_config.thumbnailDirectory.isEmpty())
        QDir().mkpath(m_config.thumbnailDirectory);
    const internal::PhotoPreparer preparer(m_config.embedder, m_config.thumbnailDirectory,
                                           std::move(*embedded));
    internal::BatchCommitter committer(catalog, m_config, discovery->vanished, result, progress);
    Status status = processJobs(discovery->jobs, preparer, committer, reporter, result.stages);
    if (status && !m_cancelled)
        status = finishCompleteRun(catalog, *discovery, committer, result, runStartMs);
    if (!status) {
        result.error = status.error();
        committer.saveIndex();
        return result;
    }
    // A complete run leaves an index file even when nothing changed (a library's first run).
    committer.saveIndex(/*evenIfUnchanged=*/!m_cancelled);
    result.cancelled = m_cancelled;
    result.stages.total = reporter.elapsedNs() / 1e6;
    progress.currentFile.clear();
    reporter.report(true);
    return result;
}

Result<std::unique_ptr<Catalog>> IndexWorker::openCatalog() const {
    auto opened = Catalog::open(m_config.databasePath, m_config.rootMounts);
    if (!opened)
        return opened;
    Catalog &catalog = **opened;
    if (m_config.maxDatabasePages > 0)
        catalog.setMaxPageCount(m_config.maxDatabasePages);
    if (m_config.simulateReadOnly)
        catalog.setQueryOnly(true);
    if (catalog.isReadOnly())
        return Error(Error::Code::Io,
                     QStringLiteral("cannot index into the library database %1: it is read-only "
                                    "(%2). Searching it still works; to index, make it writable "
                                    "or pass another database")
                         .arg(catalog.path(), catalog.readOnlyReason()));
    return opened;
}

Status IndexWorker::processJobs(const std::vector<internal::PhotoJob> &jobs,
                                const internal::PhotoPreparer &preparer,
                                internal::BatchCommitter &committer,
                                internal::ProgressReporter &reporter, IndexStageTimes &stages) {
    QThreadPool pool;
    pool.setMaxThreadCount(std::max(1, m_config.decodeThreads));
    const size_t batchSize = size_t(std::max(1, m_config.batchSize));
    const size_t batchCount = (jobs.size() + batchSize - 1) / batchSize;
    auto prepareBatch = [&](size_t b) {
        const auto from = jobs.begin() + qsizetype(b * batchSize);
        const auto to = jobs.begin() + qsizetype(std::min(jobs.size(), (b + 1) * batchSize));
        return QtConcurrent::mapped(
            &pool, std::vector<internal::PhotoJob>(from, to),
            [&preparer](const internal::PhotoJob &job) { return preparer.prepare(job); });
    };
    QFuture<internal::PreparedPhoto> next;
    if (batchCount > 0)
        next = prepareBatch(0);
    Status status;
    for (size_t b = 0; b < batchCount; ++b) {
        waitWhilePaused(reporter);
        if (m_cancelled)
            break;
        QElapsedTimer waited;
        waited.start();
        next.waitForFinished();
        stages.waitForPhotos += waited.nsecsElapsed() / 1e6;
        const QList<internal::PreparedPhoto> prepared = next.results();
        next = b + 1 < batchCount ? prepareBatch(b + 1) : QFuture<internal::PreparedPhoto>();
        status = committer.commit(prepared);
        if (!status)
            break;
        reporter.progress().done += qint64(prepared.size());
        reporter.report();
        committer.saveIndexIfDue();
    }
    if (next.isValid()) {
        // Cancelled, paused into a cancel, or stopped by an error: the photos of the next batch
        // not yet started are not read at all; the few in flight finish (each is one photo's work).
        next.cancel();
        next.waitForFinished();
    }
    return status;
}

void IndexWorker::waitWhilePaused(internal::ProgressReporter &reporter) const {
    while (m_paused && !m_cancelled) {
        reporter.progress().paused = true;
        reporter.report();
        QThread::msleep(50);
    }
    reporter.progress().paused = false;
}

Status IndexWorker::finishCompleteRun(Catalog &catalog, const internal::Discovery &discovery,
                                      internal::BatchCommitter &committer, IndexRunResult &result,
                                      qint64 runStartMs) {
    if (Status s = refreshMetadata(catalog, result); !s)
        return s;
    if (m_cancelled)
        return {};
    if (const std::vector<qint64> gone = committer.unclaimedVanished(); !gone.empty()) {
        if (Status s = catalog.deletePhotos(gone); !s)
            return s;
        committer.removeFromIndex(gone);
        result.removed += qint64(gone.size());
    }
    const RootMapper roots = catalog.rootMapper();
    for (const WatchedFolder &folder : discovery.folders) {
        if (!roots.unavailableReason(folder.path).isEmpty())
            continue; // not walked on this machine (an unmapped or unmounted library root)
        // Only the "last scanned" time shown to the user: the run's work is committed already.
        if (Status s = catalog.setFolderScanned(folder.id); !s)
            qWarning("%s", qPrintable(s.error().message));
    }
    collectOrphans(catalog, runStartMs);
    return {};
}

Status IndexWorker::refreshMetadata(Catalog &catalog, IndexRunResult &result) {
    // One transaction per batch: a killed run keeps what it read, and the next goes on.
    constexpr int kBatch = 256;
    qint64 afterId = 0;
    while (!m_cancelled) {
        auto stale = catalog.staleMetadata(afterId, kBatch);
        if (!stale)
            return stale.error();
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
            MetadataUpdate u = readMetadataFromFile(row.path);
            u.id = row.id;
            updates.push_back(std::move(u));
        }
        if (Status s = catalog.updateMetadata(updates); !s)
            return s;
        result.metadataRefreshed += qint64(updates.size());
    }
    return {};
}

void IndexWorker::collectOrphans(Catalog &catalog, qint64 olderThanMs) const {
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
    // Their stored copies too (shared catalogs, migration 6); what a photo names stays.
    if (auto dropped = catalog.dropUnusedThumbnails(); !dropped)
        qWarning("%s", qPrintable(dropped.error().message));
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
