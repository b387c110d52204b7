#pragma once

// The batch committer, the last step of an indexing run for each batch of prepared photos: decides
// each photo's row (a move takes over the vanished row with its id and every vector; a copy or a
// repeat within the run reuses a vector; a new content is embedded, once per batch), embeds,
// writes the batch in one catalog transaction, then updates the vector index and fills the rerank
// cache's disk tier. It also owns saving the index file (a cache of the catalog: every 30 s and at
// the end of a run, when it changed).
//
// Threads: the indexer's worker thread (embed() is called here). Failure: a catalog write error
// (disk full, read-only) rolls the batch back and is returned; nothing of it reaches the index.

#include "core/common/result.h"
#include "indexer/folderdiscovery.h"
#include "indexer/indexworker.h"
#include "indexer/photopreparer.h"

#include <QElapsedTimer>
#include <QHash>
#include <QList>

#include <functional>

#include <unordered_set>
#include <vector>

namespace ts::internal {

class BatchCommitter {
public:
    // `config` gives the embedder, the vector index and its file, and the rerank cache; it and
    // `catalog` must outlive the committer. `vanished` are the rows discovery did not find (the
    // sources of moves). The counts of `result` and `progress` grow as batches are committed.
    BatchCommitter(Catalog &catalog, const IndexWorkerConfig &config,
                   const std::vector<VanishedPhoto> &vanished, IndexRunResult &result,
                   IndexProgress &progress);

    // With `lease` (worker mode), the transaction also deletes the batch's jobs, and writes nothing
    // when their lease is no longer this worker's (lease->lost; the counts have grown anyway).
    Status commit(const QList<PreparedPhoto> &batch, JobLease *lease = nullptr);
    // Worker mode on a server: when a write fails because the connection was lost
    // (Catalog::connectionLost()), commit() calls `reconnect` (which waits and connects again) and,
    // when it returns true, writes the same batch again without embedding it again. Whether the
    // first write committed is unknown then: with a lease, the retry finds its jobs gone if it did
    // (lease->lost, nothing written twice).
    void setReconnect(std::function<bool()> reconnect) { m_reconnect = std::move(reconnect); }

    // Vanished rows that no move took over: gone.
    std::vector<qint64> unclaimedVanished() const;
    // Drops `ids` from the vector index (photos deleted from the catalog).
    void removeFromIndex(const std::vector<qint64> &ids);
    // Saves the index file when it changed (and every 30 s while batches change it); with
    // `evenIfUnchanged`, also when the file is missing.
    void saveIndex(bool evenIfUnchanged = false);
    void saveIndexIfDue();

private:
    struct Plan;
    Plan plan(const QList<PreparedPhoto> &batch);
    void planReuse(Plan &plan, const PreparedPhoto &p, PhotoWrite w);
    void planDecoded(Plan &plan, const PreparedPhoto &p, PhotoWrite w);
    void recordFailure(PhotoWrite &w, const QString &error);
    void embed(Plan &plan);
    void resolveCopies(Plan &plan);
    void updateIndex(Plan &plan, const std::vector<qint64> &ids);
    void fillFusionCache(const Plan &plan, const std::vector<qint64> &ids);

    Catalog &m_catalog;
    const IndexWorkerConfig &m_config;
    const QString m_modelKey;
    IndexRunResult &m_result;
    IndexProgress &m_progress;
    QHash<QString, qint64> m_movable;         // full hash -> vanished row id with a vector
    std::vector<qint64> m_vanishedIds;        // in discovery's order
    std::unordered_set<qint64> m_claimed;     // vanished rows that a move took over
    QHash<QString, qint64> m_embeddedThisRun; // full hash -> id committed with a vector this run
    std::function<bool()> m_reconnect;
    bool m_indexDirty = false;
    QElapsedTimer m_sinceSave;
};

} // namespace ts::internal
