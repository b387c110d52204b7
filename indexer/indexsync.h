#pragma once

// A local vector index kept in step with the catalog through its change sequence (schema 5,
// Catalog::changesSince): the index file records which catalog it was built from and the change
// number it includes, so opening it applies only what changed since instead of rebuilding, and a
// running Library applies new changes every few seconds. Internal to the indexer (Library, the
// benchmark); core/index knows nothing of catalogs.
//
// The record is a small file beside the index (<index>.sync: catalog id, change number, and the
// index's idFingerprint() when it was written), written after the index file. It only counts for
// an index file with that fingerprint: when another writer saved the index since (the indexer
// saves after its batches), the record is set aside and the index is checked against the
// catalog's ids as before. Applying changes is idempotent (an upsert or a removal of the photo's
// latest state), so an index holding more than its record says is brought to the same result.
//
// Threads: the functions may run on any thread; the Catalog serialises its reads and VectorIndex
// its writers. Costs: a rebuild streams the vectors in batches of 4,096 (never the whole table in
// memory beside the index); a sync reads only the rows changed since (and their vectors).

#include "core/common/result.h"
#include "indexer/libraryrecords.h"

#include <QString>

#include <memory>

namespace ts {

class Catalog;
class VectorIndex;

struct SyncedIndex {
    std::shared_ptr<VectorIndex> index;
    QString catalogId;
    IndexSyncSummary summary; // summary.throughSeq: the change number the index includes
};

// The record of an index file: <indexPath>.sync.
QString syncRecordPath(const QString &indexPath);

// Loads the index file of `modelKey` at `indexPath` and brings it up to date with the catalog:
// only the changes after its record when the record belongs to this catalog and this file;
// else, when the file holds exactly the catalog's ids and owner tags, as it is; else (missing,
// corrupt, other model or dimension, another catalog, out of step) rebuilt from every stored
// vector. Saves what it changed (the index, then its record). Fails only when the catalog cannot
// be read or the index cannot be built; failing to save is logged (a cache: it costs a rebuild).
Result<SyncedIndex> openSyncedIndex(const Catalog &catalog, const QString &indexPath,
                                    const QString &modelKey, int dimension);

// A new index built from every vector of `modelKey` stored in the catalog, streamed in batches
// into a flat index; above VectorIndexOptions::approximateThreshold it is then saved to
// `indexPath`, loaded back with the usual options and trained once (IVF) on every vector. The
// caller saves the result with its record (saveSyncedIndex).
Result<SyncedIndex> buildIndexFromCatalog(const Catalog &catalog, const QString &indexPath,
                                          const QString &modelKey, int dimension);

// Applies the catalog's changes after `since` to `index`: vectors written since are added (or
// replace the index's, unless it already holds that id with the same owner tag), removed ones
// removed. Does not save. A vector of another dimension (a model with the same key but another
// shape) is never served and is skipped.
Result<IndexSyncSummary> applyCatalogChanges(const Catalog &catalog, VectorIndex &index,
                                             qint64 since);

// Saves the index (when `indexChanged`) and then its record (catalog id, change number, the
// index's fingerprint). Failures are returned; callers log them (a cache).
Status saveSyncedIndex(const VectorIndex &index, const QString &indexPath, const QString &catalogId,
                       qint64 throughSeq, bool indexChanged);

} // namespace ts
