#pragma once

// The photo library: the catalog (SQLite), the vector index file beside it, the background
// indexer and the search engine over them. What the app (GUI and CLI) talks to; it never sees
// SQLite, FAISS or torch.
//
// Threads: a Library lives on the thread that opened it (the GUI thread in the app). Its methods
// return quickly: catalog reads are small prepared queries; indexing runs on the Library's own
// worker thread; searches run wherever the caller runs SearchEngine (a worker, never the GUI
// thread). Signals are delivered on the Library's thread, throttled to ~10 per second.
//
// Failure: everything that touches disk returns Result/Status with a message that names the
// file. The catalog is the source of truth: every change is one transaction; the vector index file
// is a cache rebuilt from the catalog's embeddings when missing, corrupt, made by another model or
// out of step.

#include "core/common/result.h"
#include "core/index/vectorindex.h"
#include "core/search/photofilter.h"
#include "core/search/searchengine.h"
#include "indexer/libraryrecords.h"

#include <QDateTime>
#include <QHash>
#include <QList>
#include <QObject>
#include <QPair>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace ts {

class BridgeTowerPipeline;
class ImageEmbedder;
struct SyncedIndex;

struct LibraryOptions {
    // A SQLite file, or a PostgreSQL URL (postgresql://user@host/db, postgres://...; a password in
    // it, PGPASSWORD or ~/.pgpass as libpq reads them). Empty: defaultDatabasePath().
    QString databasePath;
    // Thumbnails, rerank cache, and the vector index files when given or for a URL (one per
    // client). Empty: beside the
    // database file; for a URL <XDG cache home>/towersearch/shared/<hex sha1 of the URL as
    // databasePath() shows it, password as ***>: one per catalog, whatever the password.
    QString cacheDirectory;
    qint64 rerankCacheMemoryBytes = 256LL << 20;
    qint64 rerankCacheDiskBytes = 2LL << 30;
    QStringList excludedFolders; // never indexed (besides hidden folders and the app's own)
    // Library roots (issue 17): root name -> this machine's path for it. The app and the CLI
    // read it from RootMountsFile (roots.json); a root not listed is not mapped here.
    QHash<QString, QString> rootMounts;
    int batchSize = 8;        // photos per embedding batch / per transaction
    int decodeThreads = 2;    // decode + preprocess pool (the model runs on the worker thread)
    bool watchFolders = true; // follow changes while the Library lives (the CLI turns it off)
    int maxWatchedDirectories = 2000; // inotify watches used at most; beyond, periodic rescans only
    int rescanIntervalSeconds = 600;  // cheap rescan (size + mtime) period while watching; 0: never
    qint64 maxDatabasePages = 0;      // testing only: simulate a full disk (PRAGMA max_page_count)
    bool simulateReadOnlyDatabase =
        false; // testing only: the indexer's writes fail as on a read-only file
    // Period of the background sync of the local vector index with the catalog's changes (other
    // writers: workers, other machines); 0: only on syncIndex().
    int syncIntervalSeconds = 5;
    // Worker mode: startIndexing() drains the shared work queue with other workers (several
    // processes or machines on one database) instead of indexing alone; see IndexQueueOptions.
    IndexQueueOptions worker;
};

class Library : public QObject {
    Q_OBJECT
public:
    // Opens (creating if needed) the catalog; migrates an older schema in one transaction; refuses
    // a database from a newer TowerSearch (never modifying it).
    // A malformed PostgreSQL URL is refused before anything connects (librarylocation.h).
    static Result<std::unique_ptr<Library>> open(const LibraryOptions &options);
    // What the app's "Test connection" says about a location (a file path or a PostgreSQL URL,
    // librarylocation.h), in one sentence naming it (its password masked): how many photos the
    // library there holds, that none exists there yet, or why it cannot be opened. Opens the
    // catalog as Library::open would (so it migrates an older one), then closes it; blocks for
    // as long as connecting takes (libpq's connect_timeout): call it off the GUI thread.
    static Result<QString> checkLocation(const QString &location);
    ~Library() override;

    // Sets the model used for indexing and search. Loads the vector index for its model key, or
    // rebuilds it from the catalog. Photos without an embedding for this model become pending;
    // until they are done, search keeps serving the previous model's vectors.
    // Returns at once for a library with more than kSynchronousIndexLimit vectors of the model:
    // the index is then loaded or rebuilt on a worker thread (its own catalog connection) and
    // modelReady() is emitted on this thread when it is in place; until then searchEngine() is
    // the previous one and startIndexing() is deferred. Smaller libraries are set up before it
    // returns (a few milliseconds). The returned Status only covers the arguments; the load's
    // outcome is modelReady()'s / waitForModel()'s.
    Status setPipeline(std::shared_ptr<const BridgeTowerPipeline> pipeline);
    // The same with any embedder (tests use a fake one; no search engine without a pipeline).
    Status setEmbedder(std::shared_ptr<ImageEmbedder> embedder);
    // Blocks until the model set last is in place and returns how that went (the CLI, tests).
    Status waitForModel();
    bool isLoadingModel() const;
    static constexpr qint64 kSynchronousIndexLimit = 20000;

    // Settings that apply at once: folders never indexed (from the next run; a run in
    // progress is restarted), and the rerank cache's budgets (the caches are rebuilt, the disk
    // tier kept).
    void setExcludedFolders(const QStringList &folders);
    void setRerankCacheBudgets(qint64 memoryBytes, qint64 diskBytes);

    // The one default library of the app and the CLI: <XDG data home>/towersearch/library.sqlite
    // (~/.local/share/towersearch/library.sqlite). Opening the default moves a library found at
    // legacyDatabasePath() there once (database, vector index files, cache folder), never
    // overwriting a library already at the new place.
    static QString defaultDatabasePath();
    // Where earlier versions kept the library: <XDG data home>/TowerSearch/TowerSearch/.
    static QString legacyDatabasePath();
    // The database file, or the URL with its password hidden (for messages and status).
    QString databasePath() const;
    // The location as given, password included: for opening another connection (the GUI's
    // CatalogListing); never show it.
    QString catalogLocation() const;
    // The vector index file of a model: in LibraryOptions::cacheDirectory when one was given or
    // for a URL, else beside the database.
    QString vectorIndexPath(const QString &modelKey) const;
    IndexRunSummary lastRunSummary() const;
    // Checks the catalog (PRAGMA integrity_check, no duplicate paths) and that the vector index is
    // in step with it; returns "ok" or what is wrong. For tests and the CLI's `status`.
    QString checkConsistency() const;

    // Library roots (issue 17): a folder with one identity on every machine sharing the catalog
    // (a share, a removable disk), mapped on each machine to its local path; a photo under a root
    // keeps its id, vectors and thumbnail wherever it is mounted. Folders under a root that is
    // not mapped here, or not mounted, are offline with the reason (nothing under them is
    // scanned, marked or deleted); their photos are still searched, with paths "@name/...".
    // Every root with this machine's mapping, availability and counts.
    QList<LibraryRoot> roots() const;
    // Creates root `name` at `path` (an existing folder, mapped here at once). What the library
    // already holds under `path` moves under the root (same ids, nothing re-embedded). Refuses an
    // invalid or existing name, a missing folder, and a path inside or around another root
    // mapped here. The caller saves the mapping (RootMountsFile).
    Status addRoot(const QString &name, const QString &path);
    // Maps an existing root to this machine's `path` (an existing folder), or unmaps it (`path`
    // empty). Cancels a running indexing first. The caller saves the mapping.
    Status mapRoot(const QString &name, const QString &path);
    // This machine's mapping as it is now (name -> path).
    QHash<QString, QString> rootMounts() const;

    QList<WatchedFolder> folders() const;
    Status addFolder(const QString &path); // starts nothing; call startIndexing()
    // Removes the folder and the photos no other watched folder covers from the catalog and the
    // vector index, with their thumbnails and cached rerank features (cancels a running indexing
    // first).
    Status forgetFolder(const QString &path);
    QList<PhotoRecord> failedPhotos() const;
    // Folders found offline at the last scan, by path.
    QList<OfflineDirectory> offlineDirectories() const;
    std::optional<PhotoRecord> photo(qint64 id) const;
    // Filters and listings (schema 4). All are single indexed queries, safe on the GUI thread for
    // a page; `filter` as documented in core/search/photofilter.h.
    // The ids the filter keeps, ascending (what the search engine searches within).
    Result<std::vector<qint64>> photosMatching(const PhotoFilter &filter) const;
    Result<qint64> countPhotos(const PhotoFilter &filter) const;
    // A page of the photos the filter keeps: DateTaken newest first, Name by file name then path,
    // Relevance as DateTaken. Stable: equal keys are ordered by id.
    Result<std::vector<PhotoRecord>> listPhotos(const PhotoFilter &filter, SortOrder order,
                                                qint64 offset, int limit) const;
    // Newest month first; photos without any date are not counted.
    Result<std::vector<MonthCount>> monthCounts(const PhotoFilter &filter) const;
    // Completion: "<make> <model>" of every camera in the library with its photo count, most used
    // first.
    QList<QPair<QString, qint64>> cameras() const;
    // Photo path -> the thumbnail file the indexer stored for it (empty: none), for the grid's
    // ThumbnailLoader. Thread-safe (any thread) and valid after the Library is gone.
    std::function<QString(const QString &photoPath)> storedThumbnailProvider() const;
    LibraryStats stats() const;
    // The shared work queue of the indexing model (else the serving one), every job whatever
    // machine can take it, and the workers that drain it (worker mode, `towersearch-cli status`).
    // A small query; any thread of the Library.
    Result<WorkQueueStatus> workQueue() const;

    // Near-duplicates: groups of photos whose embeddings of the serving model have
    // cosine similarity >= `threshold` to the group's representative (kDefaultDuplicateThreshold
    // in core/search/duplicates.h), largest group first, each photo with its record (size,
    // resolution, date, path). Needs no model: without one the serving model's index file is
    // loaded, or rebuilt from the catalog. Cost: a range search of every photo against the index
    // (seconds at 100,000 photos, see README); `progress` reports it and can cancel it
    // (Error::Code::Cancelled). Photos removed meanwhile are left out.
    Result<std::vector<DuplicatePhotos>> findDuplicates(float threshold,
                                                        const ScanProgress &progress = {}) const;
    // The same as a callable for a worker thread (the GUI): it keeps what it needs alive.
    DuplicateFinder duplicateFinder() const;
    // Drops photos from the catalog and the vector indexes, with their cached rerank features and
    // the thumbnails no other photo uses (the files themselves are not touched). For photos the
    // user deleted or moved out of the library; ids not in the library are ignored.
    Status removePhotos(const std::vector<qint64> &ids);
    // Moves the photo's file to the desktop's trash (QFile::moveToTrash: the freedesktop.org trash
    // under $XDG_DATA_HOME/Trash, or the volume's .Trash-<uid>), never deleting it, then drops it
    // from the library (removePhotos). Returns where the file went. Fails with a sentence naming
    // the file, and leaves the library as it was, when the file cannot be moved.
    Result<QString> moveToTrash(qint64 id);

    // Background indexing of every watched folder: incremental (unchanged files skipped unread,
    // moved files recognised by content hash), resumable (killed at any moment, the next run goes
    // on), one transaction per batch. Also watches the folders for changes while the app runs.
    void startIndexing();
    void pauseIndexing();
    void resumeIndexing();
    void cancelIndexing(); // stops within one batch
    bool isIndexing() const;

    // The search engine over the current index; null until setPipeline() succeeded.
    std::shared_ptr<const SearchEngine> searchEngine() const;

    // Brings the local vector index (a cache: <cache>/...tsvi) up to date with the catalog now:
    // applies only the vectors written and removed since the change number it includes (other
    // writers: index workers, other machines on a shared catalog). Blocks the calling thread for
    // the read (milliseconds for a few hundred changes; the Library's own indexing keeps the
    // index in step by itself). Emits indexSynced() when the index changed. Fails with the
    // catalog's error (e.g. a server that cannot be reached); the index is then as it was.
    // While the Library lives the same runs every LibraryOptions::syncIntervalSeconds on its
    // worker thread (never this one), skipped while it indexes.
    Result<IndexSyncSummary> syncIndex();
    // What the model's load (rebuilt or synced) and then the last sync that changed the index did.
    IndexSyncSummary lastSync() const;

Q_SIGNALS:
    void progressChanged(const ts::IndexProgress &progress);
    // `cancelled` is also true when the run stopped on an error (errorOccurred is emitted first).
    void indexingFinished(bool cancelled);
    void foldersChanged();
    void errorOccurred(const QString &message); // e.g. disk full: indexing stopped cleanly
    // The model given to setPipeline()/setEmbedder() is in place (error empty) or could not be.
    void modelReady(const QString &error);
    // A sync brought vectors written or removed by another writer into the local index: new
    // photos can be found (and removed ones no longer are). foldersChanged() follows (counts).
    void indexSynced(qint64 added, qint64 removed);

private:
    Library();
    static Result<std::unique_ptr<Library>> openShared(std::unique_ptr<Library> lib);
    static Result<std::unique_ptr<Library>> start(std::unique_ptr<Library> lib);
    void stopIndexingAndWait();
    void updateWatches(const QStringList &directories, bool truncated);
    void finishModel(const Result<SyncedIndex> &index);
    void syncIndexInBackground();
    std::vector<std::pair<std::shared_ptr<VectorIndex>, QString>> indexesToSync() const;
    void makeCaches(bool keepServing);
    void dropFromIndexesAndCaches(const std::vector<qint64> &ids, const QStringList &thumbnails);
    struct Impl;
    std::unique_ptr<Impl> d;
};

} // namespace ts
