#pragma once

// The photo catalog: tables for watched folders, photos, per-model embeddings and metadata, in a
// SQLite file or a PostgreSQL database (the same schema and behaviour on both). The source of
// truth of a library (the vector index file is a cache rebuilt from it).
//
// Schema (migrations 1-5, see catalogschema.cpp; the version is PRAGMA user_version on SQLite,
// meta 'schema_version' on PostgreSQL):
//   meta(key TEXT PRIMARY KEY, value TEXT)      -- serving_model, photos_last_id
//   folders(id, path UNIQUE, added_at, last_scan)
//   photos(id, folder_id -> folders ON DELETE CASCADE, path UNIQUE, size, mtime_ms, content_hash,
//          width, height, orientation, taken_ms, state 0 pending / 1 indexed / 2 failed, error,
//          thumbnail, full_hash)
//   Photo ids are never reused (SQLite: a new row takes meta photos_last_id + 1; PostgreSQL: an
//   identity sequence; paths are BYTEA there). content_hash is the
//   quick hash (size, first and last 64 KiB), full_hash a hash of every byte (NULL before v3).
//   directories(path PK, device, parent_device, offline_since, offline_reason)   (migration 2)
//   photos.offline (migration 2): under a folder that could not be listed at the last scan
//   photos.camera_make, camera_model, file_type, file_name, taken_is_file_time, metadata_version
//          (migration 4, filters): taken_ms is the EXIF date, else the file's mtime with
//          taken_is_file_time = 1; metadata_version < kMetadataVersion: EXIF not read yet
//   embeddings(photo_id -> photos ON DELETE CASCADE, model_key, dimension, vector BLOB of float32,
//              PRIMARY KEY(photo_id, model_key))
//   embeddings.change_seq, embedding_removals(photo_id, model_key, change_seq),
//   change_counter(seq),
//          meta catalog_id (migration 5, change sequence): set by triggers, see changesSince()
//   library_roots(name PK, created_ms)  (migration 6, issue 17): paths under a root are stored
//          "@name/relative/path" (indexer/rootmapper.h); this machine's mount paths are given to
//          open() / setRootMounts(), never stored in the catalog
//   thumbnails(name PK, data)  (migration 6): each thumbnail file's bytes, by file name
//          (<full content hash>.jpg), so every machine sharing the catalog can show it
//   index_jobs, queue_state, workers (migration 7, worker mode: the shared work queue with
//          leases, who discovers, the workers; catalogqueue.cpp)
//
// Threads: every method may be called from any thread; calls are serialised by a mutex around the
// one connection. A second thread that writes a lot (the indexer) opens its own Catalog on the same
// location (WAL, or PostgreSQL's MVCC, lets readers go on while it writes).
//
// Failure: methods return Result/Status with a message naming the database; a full disk or a
// read-only file is reported as such and the transaction is rolled back (nothing half-written).

#include "core/common/result.h"
#include "indexer/library.h"
#include "indexer/rootmapper.h"

#include <QHash>
#include <QSet>
#include <QString>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace ts {

namespace sql {
class Database;
}

// A catalog row as discovery needs it to decide what to do with a file.
struct KnownFile {
    qint64 id = 0;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    PhotoState state = PhotoState::Pending;
    bool hasEmbedding = false; // for the model being indexed
    QString contentHash;       // quick hash
    QString fullHash;          // empty for rows indexed before schema version 2
};

// A photo with an embedding, as a candidate for reuse by content.
struct EmbeddedContent {
    qint64 id = 0;
    QString fullHash;
};

// Photos with an embedding for a model, and what each vector belongs to (the vector index's
// owner tags, see Catalog::contentTag), in parallel.
struct EmbeddedOwners {
    std::vector<qint64> ids;
    std::vector<quint64> tags;
};

// A folder as the last scan found it: the filesystem it was on (st_dev) and its
// parent's, so that a mount point whose disk is gone is recognised; offline when it could not be
// listed (its photos are kept).
struct DirectoryRecord {
    QString path;
    qint64 device = 0;
    qint64 parentDevice = 0;
    std::optional<qint64> offlineSinceMs;
    QString offlineReason;
};

// What forgetting a folder removed: photo ids, and thumbnails no remaining photo uses.
struct RemovedPhotos {
    std::vector<qint64> ids;
    QStringList thumbnails;
};

// One photo written by the indexer in a batch transaction.
struct PhotoWrite {
    qint64 id = 0; // 0: a new row; else the row to update (a changed file, or a moved one)
    qint64 folderId = 0;
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    QString contentHash; // quick hash (size, first and last 64 KiB)
    QString fullHash;    // hash of every byte (empty: unknown)
    int width = 0, height = 0, orientation = 1;
    std::optional<qint64> takenMs;
    PhotoState state = PhotoState::Pending;
    QString error;
    QString thumbnail;
    QByteArray thumbnailData; // the thumbnail file's bytes, stored with the row (empty: stored)
    // Metadata for filters (schema 4): takenMs holds the file time when takenIsFileTime.
    QString fileType; // canonical (core/image/exifreader.h); empty: unknown
    QString cameraMake, cameraModel;
    bool takenIsFileTime = false;
    bool keepEmbeddings = false; // a move: the content is the same, keep every model's vector
    std::vector<float> vector;   // the embedding for the model being indexed (empty: none)
};

// A photo whose metadata an older version did not read (metadata_version below the current).
struct StaleMetadata {
    qint64 id = 0;
    QString path;
    qint64 mtimeMs = 0;
};

// Metadata read again from a photo's file head (no new embedding, no other column touched).
struct MetadataUpdate {
    qint64 id = 0;
    QString fileType;
    QString cameraMake, cameraModel;
    std::optional<qint64> exifTakenMs; // nullopt: keep the file time (or EXIF date) stored
};

// A job of the shared work queue (schema 7, worker mode): a file discovery found needing work, or
// a row whose file vanished (delete it unless the file is back).
struct QueuedJob {
    qint64 id = 0;
    qint64 folderId = 0;
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    qint64 existingId = 0;
    bool existingHadEmbedding = false;
    bool unchanged = false;
    bool vanished = false;
};

// The jobs a batch commit must delete in its own transaction, and whose lease must still be
// `owner`'s; `lost` is set when one is not (the batch is then rolled back).
struct JobLease {
    qint64 owner = 0;
    std::vector<qint64> jobIds;
    bool lost = false;
};

class Catalog {
public:
    static constexpr int kSchemaVersion = 7;
    // What a photo row's metadata_version is when its metadata was read by this version; rows
    // below are read again (their file heads) by the next indexing run.
    static constexpr int kMetadataVersion = 1;

    // Opens `location`: a SQLite file path (created with its folder if missing; WAL, foreign keys)
    // or a postgresql:// / postgres:// URL (libpq; the database must exist, its tables are
    // created). Migrates an older schema (one transaction per migration; on PostgreSQL under an
    // advisory lock, so two processes opening a fresh database migrate it once). A database written
    // by a newer TowerSearch (version > kSchemaVersion) is refused (Unsupported) and left
    // untouched. A SQLite file that cannot be written (read-only mount, no permission) is opened
    // read-only (isReadOnly()); every write then fails with a message saying so.
    // `rootMounts`: this machine's mount path of each library root (name -> absolute path).
    static Result<std::unique_ptr<Catalog>> open(const QString &location,
                                                 const QHash<QString, QString> &rootMounts = {});
    ~Catalog();

    // The file path, or the URL with any password replaced by *** (for messages).
    const QString &path() const { return m_path; }
    bool isPostgres() const;
    int schemaVersion() const;
    bool isReadOnly() const { return !m_readOnlyReason.isEmpty(); }
    const QString &readOnlyReason() const { return m_readOnlyReason; }

    // A photo belongs to the innermost watched folder that contains it (folder_id); counts and
    // forgetting follow the rule "a photo belongs to every watched folder that contains it".
    // Adding a folder inside a watched one takes over its photos there (nothing is re-embedded).
    Result<qint64> addFolder(const QString &path);
    // Removes the folder. Its photos go to the innermost watched folder around it, or, without
    // one, are deleted; returns what was deleted.
    Result<RemovedPhotos> removeFolder(const QString &path);
    QList<WatchedFolder> folders(const QString &modelKey) const;
    // Every folder recorded by the last scans, by path.
    QHash<QString, DirectoryRecord> directories() const;
    QList<OfflineDirectory> offlineDirectories() const;
    // One transaction at the end of discovery: the folders found under `roots` replace those
    // recorded before; the photos of `folderIds` are online except `offlinePhotos`.
    Status recordDiscovery(const QStringList &roots,
                           const std::vector<DirectoryRecord> &directories,
                           const std::vector<qint64> &folderIds,
                           const std::vector<qint64> &offlinePhotos);
    // Thumbnail files referenced by a photo; every photo's stamp (photoStamp()) by id.
    QSet<QString> thumbnailFiles() const;
    QHash<qint64, QString> photoStamps() const;
    // The stamp a photo's cached rerank features are filed under (FusionCache): its file's size
    // and mtime, so features of a file rewritten in place are never served. The indexer writes
    // with it, search and the orphan collection read with it: one function, so they agree.
    static QString photoStamp(qint64 size, qint64 mtimeMs);
    Status setFolderScanned(qint64 folderId);

    // Rows under one folder keyed by path (discovery compares them with the files it finds).
    Result<QHash<QString, KnownFile>> filesOf(qint64 folderId, const QString &modelKey) const;
    // Quick hash -> photos that have an embedding for `modelKey` and a full hash (moves and
    // copies): the quick hash pre-filters, equal full hashes confirm.
    Result<QMultiHash<QString, EmbeddedContent>> embeddedByQuickHash(const QString &modelKey) const;
    // The owner tag of a vector: the first 64 bits of the full hash, else of the quick hash.
    static quint64 contentTag(const QString &fullHash, const QString &quickHash);
    std::vector<float> embedding(qint64 photoId, const QString &modelKey) const;
    // The vector for `modelKey` of an indexed photo with this content (the quick hash finds
    // candidates through its index, the full hash confirms; any path), or empty when there is none.
    std::vector<float> embeddingOfContent(const QString &quickHash, const QString &fullHash,
                                          const QString &modelKey) const;

    // One transaction: writes the photos and deletes `deleteIds`. Returns the ids of the photos
    // written (new rows get theirs here), in order.
    // With `lease`, the transaction also deletes its jobs, and is rolled back (lease->lost set)
    // when one of them is no longer leased to lease->owner.
    Result<std::vector<qint64>> commitBatch(const std::vector<PhotoWrite> &photos,
                                            const QString &modelKey,
                                            const std::vector<qint64> &deleteIds,
                                            JobLease *lease = nullptr);
    Status deletePhotos(const std::vector<qint64> &ids);

    // Every (id, owner tag, vector) stored for a model, in id order (rebuilding the vector index).
    Status
    forEachEmbedding(const QString &modelKey,
                     const std::function<void(qint64, quint64, const float *, int)> &visit) const;
    // The change sequence (schema 5): every embedding written or removed takes the next number
    // of a catalog-wide counter, in commit order. A local vector index records the number it
    // includes and applies only what came after (indexer/indexsync.h).
    // The catalog's identity: a random UUID set when it was created (meta 'catalog_id'), so a
    // local index is never applied to another catalog.
    QString catalogId() const;
    // The highest change number committed (every change up to it is visible to a read after it).
    Result<qint64> currentChangeSeq() const;
    // Streams every change of `modelKey`'s embeddings after `since`, as they are now: a written
    // vector (id, owner tag, vector, dimension) or a removal (id, 0, nullptr, 0). One statement,
    // so one consistent view; each photo at most once (its latest state), in no particular order.
    // Returns the number the caller now includes (every change up to it): at least `since`.
    // `rowsRead` (optional) receives how many change rows were read.
    Result<qint64>
    changesSince(qint64 since, const QString &modelKey,
                 const std::function<void(qint64, quint64, const float *, int)> &visit,
                 qint64 *rowsRead = nullptr) const;
    std::vector<qint64> embeddedIds(const QString &modelKey) const;
    EmbeddedOwners embeddedOwners(const QString &modelKey) const;
    int dimensionOf(const QString &modelKey) const; // 0 when none stored
    qint64 embeddingCount(const QString &modelKey) const;
    // Photos (not failed) without an embedding for the model.
    qint64 pendingCount(const QString &modelKey) const;

    QList<PhotoRecord> failedPhotos() const;
    std::optional<PhotoRecord> photo(qint64 id) const;

    // Filters and listings (schema 4), as documented in Library. Photos that failed to index are
    // not listed (they cannot be shown); pending and offline ones are.
    Result<std::vector<qint64>> photosMatching(const PhotoFilter &filter) const;
    Result<qint64> countPhotos(const PhotoFilter &filter) const;
    Result<std::vector<PhotoRecord>> listPhotos(const PhotoFilter &filter, SortOrder order,
                                                qint64 offset, int limit) const;
    Result<std::vector<MonthCount>> monthCounts(const PhotoFilter &filter) const;
    QList<QPair<QString, qint64>> cameras() const;
    std::optional<qint64> takenMs(qint64 photoId) const;
    // Up to `limit` photos with an id above `afterId` whose metadata_version is below
    // kMetadataVersion, by id.
    Result<std::vector<StaleMetadata>> staleMetadata(qint64 afterId, int limit) const;
    // One transaction: writes the metadata and sets metadata_version to kMetadataVersion.
    Status updateMetadata(const std::vector<MetadataUpdate> &updates);
    std::optional<qint64> idForPath(const QString &path) const;
    LibraryStats stats(const QString &modelKey) const;

    // "Now" in milliseconds since the epoch by the database's clock: the server's on PostgreSQL
    // (machines sharing a catalog disagree about the time; leases, heartbeats and scan times in
    // shared tables must not), the local clock on SQLite. 0 when the server cannot be asked.
    qint64 nowMs() const;
    // The shared work queue and its workers (schema 7, catalogqueue.cpp). Times are the
    // database's clock (nowMs()), so workers on machines whose clocks disagree share leases.
    // A new workers row (every process gets its own id, the owner of its leases); it counts as
    // gone when its heartbeat is older than twice `leaseMs`.
    Result<qint64> registerWorker(const QString &name, const QString &modelKey, qint64 leaseMs);
    // The worker's row: state and counts, heartbeat now.
    Status updateWorker(const WorkerInfo &worker);
    // One transaction: the worker's heartbeat, and every lease it holds (jobs, discovery) extended
    // to now + leaseMs.
    Status renewLeases(qint64 workerId, qint64 leaseMs);
    // Takes the discovery of `modelKey` for `workerId` when nobody holds it (or its holder's lease
    // expired) and the last discovery is older than minIntervalMs; false when not taken.
    Result<bool> tryBeginDiscovery(const QString &modelKey, qint64 workerId, qint64 leaseMs,
                                   qint64 minIntervalMs);
    // One transaction: the model's unleased jobs that the discovery covered (absolute paths, and
    // those under `walkedRoots`: the library roots it could walk) are replaced by `jobs` (leased
    // ones are kept; a file whose row is done, with the same size and mtime, is not queued; jobs
    // under other roots, queued by machines that can see them, are kept), the discovery is
    // released and its time recorded. Fails when the worker lost the discovery lease.
    Status finishDiscovery(const QString &modelKey, qint64 workerId,
                           const std::vector<QueuedJob> &jobs, const QStringList &walkedRoots);
    // When the last discovery of `modelKey` finished (the database's clock), 0 if none did.
    qint64 lastDiscoveryMs(const QString &modelKey) const;
    Status abandonDiscovery(const QString &modelKey, qint64 workerId);
    // Leases up to `limit` free jobs (never leased, or expired) of `modelKey` to `workerId` until
    // now + leaseMs, in id order; jobs of vanished rows only once no other job is left. Jobs under
    // a library root ("@name/...") only when `roots` names it.
    Result<std::vector<QueuedJob>> claimJobs(const QString &modelKey, qint64 workerId, int limit,
                                             qint64 leaseMs, const QStringList &roots);
    // Gives jobs back (a file this machine cannot see): free again after delayMs, for another
    // worker or a later try; a job that could not be seen 3 times is dropped (the photo's row is
    // left as it is: the next discovery decides).
    Status releaseJobs(qint64 workerId, const std::vector<qint64> &jobIds, qint64 delayMs);
    // The model's queue (root filter as claimJobs; nullopt: every job, whatever its root) and the
    // workers of the last day.
    Result<WorkQueueStatus> workQueue(const QString &modelKey,
                                      const std::optional<QStringList> &roots) const;
    // Is a discovery of `modelKey` running (its lease not expired)?
    bool isDiscovering(const QString &modelKey) const;
    // After a lost connection (a restarted server, PostgreSQL): gives back every lease the
    // worker holds (jobs free at once, the discovery released), so that work it can no longer
    // finish does not wait for its heartbeat to stop.
    Status dropLeases(qint64 workerId);

    // The server went away (PostgreSQL: a restart, the network): reconnect() and try again.
    // Never on SQLite.
    bool connectionLost() const;
    // The last write was rolled back by PostgreSQL to break a deadlock or a serialization
    // conflict with another client: nothing of it was kept, and running it again is the remedy.
    // Never on SQLite (its busy timeout has waited already).
    bool rolledBackByConflict() const;
    // Connects again after connectionLost(); statements are prepared again on their next use.
    Status reconnect();

    QString meta(const QString &key) const;
    Status setMeta(const QString &key, const QString &value);

    // Library roots (issue 17). Every path this catalog takes and gives is local: a path under a
    // root mapped here is stored "@name/..." and given back under this machine's mount path; one
    // under a root not mapped here is given as "@name/...".
    // Replaces this connection's mapping (name -> absolute local path). Any thread.
    void setRootMounts(const QHash<QString, QString> &mounts);
    RootMapper rootMapper() const;
    // Every root of the catalog with this machine's mapping, availability and counts, by name.
    QList<LibraryRoot> roots() const;
    // Creates the root `name` mapped here to `localPath` (absolute, an existing folder: checked by
    // the caller). Refuses an invalid or existing name and a path that contains or lies in
    // another root mapped here (nested roots). One transaction: what the catalog already holds
    // under `localPath` (photos, folders, recorded directories) is stored under the root from
    // now on, same ids; photos whose watched folder lay outside the root are given the root's
    // own folder (a root is a boundary). Then maps it on this connection.
    Status addRoot(const QString &name, const QString &localPath);
    // Checks that `name` is a root of the catalog and that `localPath` does not contain or lie in
    // another root mapped here; maps it on this connection.
    Status mapRoot(const QString &name, const QString &localPath);
    // The bytes stored for a thumbnail file name (<hash>.jpg); nullopt when there are none.
    std::optional<QByteArray> thumbnailData(const QString &name) const;
    // Deletes the stored thumbnails that no photo's thumbnail names any more (one statement, so a
    // photo committed meanwhile keeps its own); returns how many.
    Result<qint64> dropUnusedThumbnails();

    // Testing: limits the database's size on this connection (PRAGMA max_page_count), so a write
    // beyond it fails exactly as a full disk does (SQLITE_FULL). SQLite only (no-op on PostgreSQL).
    void setMaxPageCount(qint64 pages);
    // Testing: makes this connection refuse writes (PRAGMA query_only; on PostgreSQL
    // default_transaction_read_only) as a read-only file does.
    void setQueryOnly(bool on);
    // Model keys with stored embeddings, and how many each.
    QList<QPair<QString, qint64>> embeddingModels() const;

    // "ok" when intact, else what is wrong: PRAGMA integrity_check on SQLite; on PostgreSQL (whose
    // storage checks itself) duplicate paths, embeddings without a photo, photos without a folder.
    QString integrityCheck() const;
    // Number of paths present more than once (0 unless the schema's UNIQUE constraint broke).
    qint64 duplicatePaths() const;

private:
    Catalog() = default;
    Status migrate();
    Status configureSqlite();
    bool lockOwnJobsInIdOrder(qint64 workerId);
    Status runMigrations();
    Result<int> readSchemaVersion() const;
    Error newerSchemaError(int version) const;
    // In the caller's transaction: deletes the lease's jobs, or sets lease.lost when one is not
    // leased to its owner any more.
    Status deleteLeasedJobs(JobLease &lease);
    // dropLeases() with m_mutex held (its own transaction).
    Status giveBackLeases(qint64 workerId);

    Status checkNotNested(const QString &name, const QString &localPath) const;
    Status storeUnderRoot(const QString &name, const QString &localPath);

    QString m_path;
    QString m_readOnlyReason; // empty: writable
    RootMapper m_rootMapper;  // read by m_db's bindPath/pathAt; changed under m_mutex
    std::unique_ptr<sql::Database> m_db;
    mutable std::recursive_mutex m_mutex;
};

} // namespace ts
