#pragma once

// The library's record types: what Library (indexer/library.h) reports about folders, photos,
// indexing runs and near-duplicates. Plain values with Qt and std types only, so that code which
// shows them (the UI) includes this header instead of library.h.

#include "core/common/result.h"
#include "core/index/scanprogress.h"

#include <QDateTime>
#include <QList>
#include <QPair>
#include <QString>
#include <QtGlobal>

#include <functional>
#include <optional>
#include <vector>

namespace ts {

// Where an indexing run's time went, in milliseconds. The preparing stages run on the
// decode pool while the model runs, so they are summed over photos (CPU time, not wall time);
// `waitForPhotos` is the wall time the model waited for prepared photos (what overlap did not
// hide).
struct IndexStageTimes {
    double readHash = 0;      // read the file into memory, quick + full content hash, EXIF date
    double decode = 0;        // decode (reduced-scale JPEG where possible, EXIF orientation)
    double resize = 0;        // the model's preprocessing (resize, crop, normalise)
    double thumbnail = 0;     // scale to 256 px and write the JPEG
    double model = 0;         // embed() on the worker thread (wall)
    double commit = 0;        // catalog transaction, vector index update, rerank cache (wall)
    double waitForPhotos = 0; // the worker waited for the decode pool (wall)
    double total = 0;         // the whole run (wall), discovery included
};

// What the last indexing run did (the CLI prints it).
struct IndexRunSummary {
    qint64 embedded = 0; // photos run through the model
    qint64 moved = 0;    // recognised by content hash at a new path: kept their embedding
    qint64 copied = 0;   // same content as a photo already embedded: vector reused
    qint64 removed = 0;  // files gone from disk, removed from catalog and index
    qint64 failed = 0;   // recorded with their error
    qint64 skipped = 0;  // unchanged (same size and mtime), not read
    QString error;       // non-empty: the run stopped because of it (e.g. disk full)
    IndexStageTimes stages;
};

// What bringing the local vector index up to date with the catalog did (Library::syncIndex).
struct IndexSyncSummary {
    qint64 throughSeq = 0; // the index now holds every catalog change up to this number
    qint64 rowsRead = 0;   // change rows (or, when rebuilt, vectors) read from the catalog
    qint64 added = 0;      // vectors added or replaced in the index
    qint64 removed = 0;    // vectors removed from the index
    bool rebuilt = false;  // built anew from every vector (no usable file of this catalog)
};

// A watched folder. A photo belongs to every watched folder that contains it (nested folders share
// their photos; the counts include those of watched folders inside this one).
struct WatchedFolder {
    qint64 id = 0;
    QString path;
    qint64 photoCount = 0;   // photos with an embedding for the current model
    qint64 pendingCount = 0; // discovered, not yet embedded
    qint64 failedCount = 0;
    QDateTime lastScan;
    // Photos under folders that could not be listed at the last scan (an
    // unmounted disk, no permission, a dangling link). They stay in the library and in search.
    qint64 offlineCount = 0;
    bool offline = false;  // the folder itself could not be listed
    QString offlineReason; // why, when `offline`
};

// A folder that could not be listed at the last scan: its photos are kept, marked
// offline, and come back without being embedded again when it can be listed again.
struct OfflineDirectory {
    QString path;
    QString reason; // e.g. "the disk is not mounted", "Permission denied"
    QDateTime since;
};

// A library root (issue 17): a folder with one identity on every machine, mapped on each to its
// local mount path; paths under it are stored "@name/...".
struct LibraryRoot {
    QString name;
    QString localPath;         // where this machine maps it; empty: not mapped here
    QString unavailableReason; // empty: its files can be reached here
    qint64 folderCount = 0;    // watched folders at or under it
    qint64 photoCount = 0;     // photos under it
};

enum class PhotoState { Pending, Indexed, Failed };

struct PhotoRecord {
    qint64 id = 0; // never reused, also after the photo is removed
    QString path;  // exact: bytes that are not UTF-8 are escaped (core/common/nativepath.h)
    qint64 size = 0;
    QDateTime modified;
    QString contentHash;
    int width = 0, height = 0; // as displayed (EXIF orientation applied)
    int orientation = 1;
    std::optional<QDateTime> taken; // EXIF DateTimeOriginal (JPEG/TIFF; else DateTime of IFD0)
    PhotoState state = PhotoState::Pending;
    QString error; // why it could not be indexed (Failed)
    QString
        thumbnailPath; // <cache>/thumbnails/<content hash>.jpg, at most 256 px on the longer side
    bool offline = false; // under a folder that could not be listed at the last scan
    // Metadata for filters (catalog schema 4). `taken` falls back to the file's modification time
    // when the file has no EXIF date: `takenIsFileTime` then says so.
    bool takenIsFileTime = false;
    QString fileType; // canonical lower-case type, see PhotoFilter::fileTypes ("jpeg", "heic", ...)
    QString cameraMake;  // EXIF Make (0x010F), trimmed; empty when unknown
    QString cameraModel; // EXIF Model (0x0110), trimmed; empty when unknown
};

// Photos per calendar month of their date taken (local time), for the library's month view.
struct MonthCount {
    int year = 0;
    int month = 0; // 1..12
    qint64 count = 0;
};

// A group of near-duplicate photos (Library::findDuplicates, core/search/duplicates.h).
struct DuplicatePhotos {
    std::vector<PhotoRecord> photos; // the representative first, then by similarity to it
    std::vector<float> similarity;   // each photo's cosine similarity to the representative (1: it)
};

// Finds near-duplicate groups; made on the Library's thread, callable on any thread (it holds
// the catalog and the vector index it needs, not the Library).
using DuplicateFinder = std::function<Result<std::vector<DuplicatePhotos>>(
    float threshold, const ScanProgress &progress)>;

struct IndexProgress {
    qint64 done = 0;  // photos processed in this run (indexed or failed)
    qint64 total = 0; // photos to process in this run (grows while discovery runs)
    qint64 failed = 0;
    double photosPerSecond = 0;
    qint64 etaSeconds = -1; // -1: unknown
    QString currentFile;
    bool discovering = false;
    bool paused = false;
};

struct LibraryStats {
    QString databasePath;
    QString modelKey; // the model whose embeddings serve search
    qint64 folders = 0, photos = 0, indexed = 0, pending = 0, failed = 0;
    qint64 databaseBytes = 0;
    QString indexingModelKey; // the model new photos are embedded with
    QList<QPair<QString, qint64>>
        modelEmbeddings;   // every model key with stored vectors, and how many
    qint64 offline = 0;    // photos under folders that could not be listed at the last scan
    bool readOnly = false; // the database cannot be written: search works, indexing does not
};

// Worker mode (issue 17, `towersearch-cli index --worker`): the run drains the shared work queue
// (schema 7) with any number of other workers, on this machine or others, instead of indexing
// alone. One worker at a time discovers and fills the queue; each claims a batch of jobs under a
// lease that expires, embeds, and commits the batch together with deleting its jobs (only while the
// lease is still its own).
struct IndexQueueOptions {
    bool enabled = false;
    QString name;                      // shown by `status`; empty: host:pid
    int leaseSeconds = 60;             // a killed worker's batch goes to another after this
    bool follow = false;               // keep polling and rediscovering instead of exiting
    int discoveryIntervalSeconds = 10; // no new discovery while the last one is younger
    int rediscoverSeconds = 300;       // with `follow`: discover again this often
    int pollMilliseconds = 500;        // how often an idle worker looks for work
    bool renewLeases = true;           // testing: false lets this worker's leases expire
    QStringList roots;                 // library root names mapped here ("@name/..." jobs)
};

// A worker as the workers table records it (state: idle, discovering, embedding, stopped; "gone"
// when its heartbeat is older than twice its lease, by the database's clock).
struct WorkerInfo {
    qint64 id = 0;
    QString name;
    QString modelKey;
    QString state;
    qint64 startedMs = 0, heartbeatMs = 0;
    qint64 embedded = 0, failed = 0;
    qint64 currentBatch = 0; // photos in the batch in hand
    QString lastError;
};

// The shared work queue of the indexing model: jobs waiting, jobs leased by a worker, and the
// workers seen in the last day.
struct WorkQueueStatus {
    qint64 queued = 0; // free to claim (never leased, or the lease expired)
    qint64 leased = 0; // held by a worker whose lease has not expired
    QList<WorkerInfo> workers;
};

} // namespace ts
