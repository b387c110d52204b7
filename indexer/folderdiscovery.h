#pragma once

// Discovery, the first step of an indexing run: walks every watched folder and compares what it
// finds with the catalog, reading nothing but file metadata. It says which files need work (new,
// changed, or without a vector for the model), which catalog rows lost their file (moved or
// deleted: decided later by content), and which folders are offline (an unmounted disk's empty
// mount point, no permission, a dangling link): their photos are kept and marked, never taken
// for deleted. The folders found replace the recorded ones in one transaction at the end.
//
// Threads: the indexer's worker thread (any one thread). Failure: a catalog read or write error.

#include "core/common/result.h"
#include "indexer/library.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <vector>

namespace ts {

class Catalog;

namespace internal {

// A file that needs work: new, changed, or unchanged but without a vector for the model.
struct PhotoJob {
    qint64 folderId = 0;
    QString path;
    qint64 size = 0;
    qint64 mtimeMs = 0;
    qint64 existingId = 0; // its catalog row, 0 when new
    bool existingHadEmbedding = false;
    // Same size and mtime as the catalog row (a model change, an interrupted run): its other
    // models' vectors stay.
    bool unchanged = false;
};

// A catalog row whose file is gone from a folder that could be listed: a move (matched by content
// while processing) or a deletion (at the end of a complete run).
struct VanishedPhoto {
    qint64 id = 0;
    QString fullHash;
    bool hadEmbedding = false;
    QString path; // where it was (worker mode queues it under that path's library root)
};

struct DiscoveryOptions {
    QString modelKey;
    QStringList excludedFolders; // absolute, canonical where they exist
    int maxWatchedDirectories = 2000;
    qint64 scanStartMs = 0; // recorded as offline_since for folders that go offline now
};

struct Discovery {
    QList<WatchedFolder> folders; // every watched folder
    std::vector<PhotoJob> jobs;
    std::vector<VanishedPhoto> vanished;
    qint64 skipped = 0;      // unchanged files that already have a vector (or failed): not opened
    QStringList directories; // folders seen (up to maxWatchedDirectories), for live watching
    bool directoriesTruncated = false;
};

// Walks the watched folders of `catalog`. Checks `cancelled` between folders; a cancelled walk
// records nothing in the catalog (its result is partial and must not be acted on). `onJobFound`
// (may be empty) is told the number of jobs found so far after each one.
Result<Discovery> discoverPhotos(Catalog &catalog, const DiscoveryOptions &options,
                                 const std::atomic<bool> &cancelled,
                                 const std::function<void(qint64 jobsFound)> &onJobFound = {});

} // namespace internal
} // namespace ts
