#pragma once

// The background indexer: lives on the Library's worker thread (moved there, not a QThread
// subclass). One run() walks every watched folder, decides per file (skip / embed / move / delete),
// decodes in a small pool while the previous batch is embedded, and commits each batch in one
// transaction (catalog rows + embeddings), then updates the vector index and the rerank cache.
//
// Threads: construct anywhere, then moveToThread(); run() on the worker thread. pause(), resume()
// and cancel() may be called from any thread and take effect between batches.
// Failure: one bad photo is recorded (state Failed + error) and skipped; a catalog write failure
// (disk full, read-only) rolls the batch back and ends the run with finished(..., error).

#include "core/common/result.h"
#include "indexer/library.h"

#include <QHash>
#include <QObject>
#include <QString>
#include <QStringList>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace ts {

class Catalog;
class FusionCache;
class ImageEmbedder;
class VectorIndex;

namespace internal {
class BatchCommitter;
class PhotoPreparer;
class ProgressReporter;
struct Discovery;
struct PhotoJob;
} // namespace internal

struct IndexWorkerConfig {
    QString databasePath;
    QString thumbnailDirectory; // <cache>/thumbnails; thumbnails are <content hash>.jpg
    QString rerankDirectory;    // <cache>/rerank: every model's rerank features (orphans collected)
    QStringList excludedFolders;        // absolute, canonical where they exist
    QHash<QString, QString> rootMounts; // library root name -> this machine's path (issue 17)
    int batchSize = 8;
    int decodeThreads = 2;
    int maxWatchedDirectories = 2000;
    qint64 maxDatabasePages = 0;   // testing: simulate a full disk (PRAGMA max_page_count)
    bool simulateReadOnly = false; // testing: PRAGMA query_only (writes fail with SQLITE_READONLY)
    std::shared_ptr<ImageEmbedder> embedder;
    std::shared_ptr<VectorIndex> index; // of embedder's model, shared with search (thread-safe)
    QString indexPath;
    std::shared_ptr<FusionCache> fusionCache; // of embedder's model; may be null
    qint64 fusionDiskBudget = 0;
    IndexQueueOptions queue; // enabled: worker mode, drain the shared queue (queuerunner.h)
};

struct IndexRunResult {
    bool cancelled = false;
    std::optional<Error> error; // set: stopped because of it (nothing half-written)
    qint64 embedded = 0, moved = 0, copied = 0, removed = 0, failed = 0, skipped = 0;
    qint64 metadataRefreshed =
        0;                   // rows of an older version whose EXIF was read again (no embedding)
    QStringList directories; // folders seen (up to maxWatchedDirectories) for live watching
    bool directoriesTruncated = false;
    IndexStageTimes stages;
};

class IndexWorker : public QObject {
    Q_OBJECT
public:
    explicit IndexWorker(IndexWorkerConfig config);
    ~IndexWorker() override;

    void pause() { m_paused = true; }
    void resume() { m_paused = false; }
    void cancel() { m_cancelled = true; }
    bool isPaused() const { return m_paused; }

public Q_SLOTS:
    void run();

Q_SIGNALS:
    void progressChanged(const ts::IndexProgress &progress);
    void finished(const ts::IndexRunResult &result);

private:
    IndexRunResult doRun();
    Result<std::unique_ptr<Catalog>> openCatalog() const;
    // Prepares the jobs in the decode pool, batch k+1 while batch k is embedded and committed;
    // returns a catalog write error (the run stops).
    Status processJobs(const std::vector<internal::PhotoJob> &jobs,
                       const internal::PhotoPreparer &preparer, internal::BatchCommitter &committer,
                       internal::ProgressReporter &progress, IndexStageTimes &stages);
    void waitWhilePaused(internal::ProgressReporter &progress) const;
    // After a complete (not cancelled) run: metadata refresh, deleting the rows whose files are
    // gone, the folders' scan time, orphaned cache files.
    Status finishCompleteRun(Catalog &catalog, const internal::Discovery &discovery,
                             internal::BatchCommitter &committer, IndexRunResult &result,
                             qint64 runStartMs);
    void collectOrphans(Catalog &catalog, qint64 olderThanMs) const;
    // Reads the EXIF of rows an older version indexed without it (file heads only, no decoding, no
    // embedding); fails when the catalog could not be written.
    Status refreshMetadata(Catalog &catalog, IndexRunResult &result);
    IndexWorkerConfig m_config;
    std::atomic<bool> m_paused{false};
    std::atomic<bool> m_cancelled{false};
};

// SHA-1 of the size and the first and last 64 KiB of a file's contents: the catalog's pre-filter
// for moved and copied photos (a false match needs equal size, head and tail: two flatbed scans
// with blank margins), never enough on its own to reuse a vector. Pure.
QString quickContentHash(const QByteArray &contents);
// BLAKE2b-256 of every byte: a moved or copied photo shares a vector and a thumbnail only when
// this matches. Pure; ~8 ms per MB on the 2-core machine under load (bench_indexer --hash-cost).
QString fullContentHash(const QByteArray &contents);

} // namespace ts

Q_DECLARE_METATYPE(ts::IndexRunResult)
