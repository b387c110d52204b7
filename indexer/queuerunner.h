#pragma once

// Worker mode of an indexing run (issue 17, `towersearch-cli index --worker`): instead of indexing
// what its own discovery found, the run drains the catalog's shared work queue together with any
// number of other workers (processes on this machine or others, one database):
//   1. One worker at a time discovers (the discovery lease, Catalog::tryBeginDiscovery) with the
//      same step as a Library run (folderdiscovery.h) and replaces the queue in one transaction.
//   2. Each worker claims a batch (a lease that expires), prepares it with PhotoPreparer and
//      commits it with BatchCommitter, deleting its jobs in the same transaction only while the
//      lease is still its own: a batch whose lease was lost is rolled back and dropped (the worker
//      that took it over embeds it), so a photo is stored once however many workers run.
//   3. A heartbeat thread (its own connection) renews the leases while a batch takes long.
// What differs from a Library run: a moved photo is not followed by its row; its new path reuses
// the vector of equal content (nothing is re-embedded) under a new id, and the old row is deleted
// by the vanished row's job, claimed once every other job is done. A file this machine cannot see
// is given back to the queue (another machine may see it), never marked failed.
//
// Threads: the indexer's worker thread. Failure: a catalog error other than a lost lease or a lost
// connection ends the run (nothing half-written: each batch is one transaction). A lost connection
// (a restarted PostgreSQL server) is waited out with backoff and the batch's write retried.

#include "core/common/result.h"
#include "indexer/indexworker.h"

#include <QList>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

namespace ts {

class Catalog;
struct QueuedJob;

namespace internal {

class BatchCommitter;
class PhotoPreparer;
struct PreparedPhoto;

class QueueRunner {
public:
    // `report(force)` emits `progress` (throttled unless forced). Everything must outlive the run.
    QueueRunner(Catalog &catalog, const IndexWorkerConfig &config,
                const std::atomic<bool> &cancelled, IndexRunResult &result, IndexProgress &progress,
                std::function<void(bool force)> report);
    ~QueueRunner();

    Status run();

private:
    class Heartbeat;
    // Discovers and refills the queue when it is due and this worker gets the discovery lease.
    Status discoverIfDue(bool first);
    // Takes the discovery lease unless another worker holds it or the last discovery is younger
    // than minIntervalMs, then walks the folders and refills the queue. False: not taken.
    Result<bool> discover(qint64 minIntervalMs);
    // Did a discovery finish since this worker started (or at most a discovery interval before)?
    // Else the one it waited for never finished (its worker died or gave up): the queue may not
    // hold what there is to do.
    bool queueIsCurrent() const;
    // The library roots this worker may claim jobs under and discover: the ones mapped on this
    // machine whose mount point is there and not empty (an unmounted share's jobs are left to
    // machines that see it).
    QStringList claimableRoots() const;
    Status processBatch(const std::vector<QueuedJob> &jobs);
    // Prepares the jobs of files (in the decode pool); the ones this machine cannot see are
    // returned in `missing`.
    QList<PreparedPhoto> prepare(const std::vector<QueuedJob> &jobs, std::vector<qint64> &committed,
                                 std::vector<qint64> &missing);
    Status makePreparer();
    // After a lost connection: waits 1, 2, 4 ... 30 s, printing one line per try, until the
    // catalog connects again (true) or the run is cancelled (false).
    bool reconnect();
    void setState(const QString &state, qint64 currentBatch = 0);
    // Is there nothing left that this worker could ever take (no job free or leased, nobody
    // discovering)?
    bool queueDrained();

    Catalog &m_catalog;
    const IndexWorkerConfig &m_config;
    const std::atomic<bool> &m_cancelled;
    IndexRunResult &m_result;
    IndexProgress &m_progress;
    std::function<void(bool)> m_report;
    QString m_modelKey;
    qint64 m_leaseMs = 0;
    WorkerInfo m_info;
    std::unique_ptr<PhotoPreparer> m_preparer;
    std::unique_ptr<BatchCommitter> m_committer;
    qint64 m_lastDiscoveryTryMs = 0;
    qint64 m_startedMs = 0; // the database's clock
};

} // namespace internal
} // namespace ts
