#include "indexer/queuerunner.h"

#include "core/common/nativepath.h"
#include "indexer/batchcommitter.h"
#include "indexer/catalog.h"
#include "indexer/folderdiscovery.h"
#include "indexer/imageembedder.h"
#include "indexer/photopreparer.h"
#include "indexer/rootmapper.h"

#include <QCoreApplication>
#include <QDir>
#include <QSysInfo>
#include <QThread>
#include <QThreadPool>
#include <QtConcurrent/QtConcurrentMap>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace ts::internal {

// Renews the worker's leases and heartbeat every third of a lease, on its own thread and its own
// catalog connection, so that a batch that embeds for long keeps its lease (the worker thread is
// inside embed() meanwhile).
class QueueRunner::Heartbeat {
public:
    Heartbeat(const QString &databasePath, qint64 workerId, qint64 leaseMs)
        : m_thread([this, databasePath, workerId, leaseMs] {
              std::unique_ptr<Catalog> catalog;
              std::unique_lock lock(m_mutex);
              while (!m_stop) {
                  if (m_wake.wait_for(lock, std::chrono::milliseconds(leaseMs / 3),
                                      [this] { return m_stop; }))
                      break;
                  lock.unlock();
                  beat(catalog, databasePath, workerId, leaseMs);
                  lock.lock();
              }
          }) {}
    ~Heartbeat() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_wake.notify_all();
        m_thread.join();
    }
    Heartbeat(const Heartbeat &) = delete;
    Heartbeat &operator=(const Heartbeat &) = delete;

private:
    // A connection that could not be opened (the server's connection limit, a restart) is tried
    // again on the next beat: without renewals every batch longer than a lease would be lost.
    static void beat(std::unique_ptr<Catalog> &catalog, const QString &databasePath,
                     qint64 workerId, qint64 leaseMs) {
        if (!catalog) {
            auto opened = Catalog::open(databasePath);
            if (!opened) {
                qWarning("%s", qPrintable(opened.error().message));
                return;
            }
            catalog = std::move(*opened);
        }
        if (Status s = catalog->renewLeases(workerId, leaseMs); !s) {
            qWarning("%s", qPrintable(s.error().message)); // the next beat tries again
            // A restarted server: connect again for the next beat (the worker thread waits with
            // backoff and says so; this one stays quiet).
            if (catalog->connectionLost())
                (void)catalog->reconnect();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_stop = false;
    std::thread m_thread; // last: started once the members it uses exist
};

namespace {

// A file this worker could not see is free again after this (for another worker, or a later try of
// this one); after 3 tries the job is dropped (Catalog::releaseJobs), so a file deleted since the
// discovery costs a few seconds, not a stuck queue.
constexpr qint64 kRetryMissingMs = 2000;

// Waits between tries to reach a server that went away: 1, 2, 4 ... seconds, at most this.
constexpr int kMaxReconnectWaitSeconds = 30;
// Steps rolled back by a conflict with another client (PostgreSQL), in a row, before the worker
// stops with the error.
constexpr int kConflictRetries = 5;

PhotoJob photoJobOf(const QueuedJob &j) {
    PhotoJob p;
    p.folderId = j.folderId;
    p.path = j.path;
    p.size = j.size;
    p.mtimeMs = j.mtimeMs;
    p.existingId = j.existingId;
    p.existingHadEmbedding = j.existingHadEmbedding;
    p.unchanged = j.unchanged;
    return p;
}

QString defaultWorkerName() {
    return QStringLiteral("%1:%2")
        .arg(QSysInfo::machineHostName())
        .arg(QCoreApplication::applicationPid());
}

} // namespace

QueueRunner::QueueRunner(Catalog &catalog, const IndexWorkerConfig &config,
                         const std::atomic<bool> &cancelled, IndexRunResult &result,
                         IndexProgress &progress, std::function<void(bool)> report)
    : m_catalog(catalog), m_config(config), m_cancelled(cancelled), m_result(result),
      m_progress(progress), m_report(std::move(report)), m_modelKey(config.embedder->modelKey()),
      m_leaseMs(std::max(1, config.queue.leaseSeconds) * 1000LL) {}

QueueRunner::~QueueRunner() = default;

Status QueueRunner::run() {
    const IndexQueueOptions &q = m_config.queue;
    m_info.name = q.name.isEmpty() ? defaultWorkerName() : q.name;
    m_info.modelKey = m_modelKey;
    auto id = m_catalog.registerWorker(m_info.name, m_modelKey, m_leaseMs);
    if (!id)
        return id.error();
    m_info.id = *id;
    m_startedMs = m_catalog.nowMs();
    std::unique_ptr<Heartbeat> heartbeat;
    if (q.renewLeases)
        heartbeat = std::make_unique<Heartbeat>(m_config.databasePath, m_info.id, m_leaseMs);
    if (!m_config.thumbnailDirectory.isEmpty())
        QDir().mkpath(m_config.thumbnailDirectory);
    // Moves are not followed in worker mode (no vanished rows to take over): equal content
    // reuses the vector instead.
    m_committer = std::make_unique<BatchCommitter>(
        m_catalog, m_config, std::vector<VanishedPhoto>{}, m_result, m_progress);
    m_committer->setReconnect([this] { return reconnect(); });
    Status status = makePreparer();
    bool first = true;
    int conflicts = 0; // in a row
    while (!m_cancelled) {
        if (!status) {
            // A server that went away (a restart), or a step the server rolled back to break a
            // conflict with another client: nothing half-written (each step is one transaction);
            // connect again where needed, give back what this worker held (the outcome of the
            // step that failed is unknown) and go on.
            if (m_catalog.rolledBackByConflict() && ++conflicts <= kConflictRetries)
                qWarning("worker %s: %s; going on", qPrintable(m_info.name),
                         qPrintable(status.error().message));
            else if (!m_catalog.connectionLost() || !reconnect())
                break;
            if (status = m_catalog.dropLeases(m_info.id); !status)
                continue;
            status = makePreparer();
            continue;
        }
        if (status = discoverIfDue(std::exchange(first, false)); !status)
            continue;
        auto jobs = m_catalog.claimJobs(m_modelKey, m_info.id, std::max(1, m_config.batchSize),
                                        m_leaseMs, claimableRoots());
        if (!jobs) {
            status = jobs.error();
            continue;
        }
        if (jobs->empty()) {
            if (!q.follow && !m_catalog.isDiscovering(m_modelKey) && !queueIsCurrent()) {
                auto taken = discover(0);
                if (!taken)
                    status = taken.error();
                if (!taken || *taken)
                    continue;
            } else if (!q.follow && queueDrained()) {
                break;
            }
            setState(QStringLiteral("idle"));
            QThread::msleep(ulong(std::max(10, q.pollMilliseconds)));
            continue;
        }
        status = processBatch(*jobs);
        if (status)
            conflicts = 0;
    }
    m_committer->saveIndex(/*evenIfUnchanged=*/status && !m_cancelled);
    heartbeat.reset();
    m_info.lastError = status ? QString() : status.error().message;
    setState(QStringLiteral("stopped"));
    return status;
}

bool QueueRunner::reconnect() {
    int waitSeconds = 1;
    QString why; // the last try's error, empty before the first
    while (!m_cancelled) {
        if (why.isEmpty())
            qWarning("worker %s: lost the connection to the catalog; connecting again in %d s",
                     qPrintable(m_info.name), waitSeconds);
        else
            qWarning("worker %s: %s; connecting again in %d s", qPrintable(m_info.name),
                     qPrintable(why), waitSeconds);
        for (int i = 0; i < waitSeconds * 10 && !m_cancelled; ++i)
            QThread::msleep(100);
        if (m_cancelled)
            break;
        const Status s = m_catalog.reconnect();
        if (s)
            return true;
        why = s.error().message;
        waitSeconds = std::min(waitSeconds * 2, kMaxReconnectWaitSeconds);
    }
    return false;
}

Status QueueRunner::makePreparer() {
    auto embedded = m_catalog.embeddedByQuickHash(m_modelKey);
    if (!embedded)
        return embedded.error();
    m_preparer = std::make_unique<PhotoPreparer>(m_config.embedder, m_config.thumbnailDirectory,
                                                 std::move(*embedded));
    return {};
}

Status QueueRunner::discoverIfDue(bool first) {
    const IndexQueueOptions &q = m_config.queue;
    const qint64 now = m_catalog.nowMs();
    if (!first && (!q.follow || now - m_lastDiscoveryTryMs < q.rediscoverSeconds * 1000LL))
        return {};
    m_lastDiscoveryTryMs = now;
    auto taken = discover(q.discoveryIntervalSeconds * 1000LL);
    return taken ? Status() : Status(taken.error());
}

Result<bool> QueueRunner::discover(qint64 minIntervalMs) {
    const qint64 now = m_catalog.nowMs();
    auto taken = m_catalog.tryBeginDiscovery(m_modelKey, m_info.id, m_leaseMs, minIntervalMs);
    if (!taken || !*taken)
        return taken; // another worker discovers now, or did a moment ago
    setState(QStringLiteral("discovering"));
    m_progress.discovering = true;
    m_report(true);
    // What this machine can walk: the jobs of other roots stay as the machines that see them
    // queued them.
    const QStringList walkedRoots = claimableRoots();
    auto discovery = discoverPhotos(
        m_catalog, {m_modelKey, m_config.excludedFolders, m_config.maxWatchedDirectories, now},
        m_cancelled);
    m_progress.discovering = false;
    if (!discovery || m_cancelled) {
        if (Status s = m_catalog.abandonDiscovery(m_modelKey, m_info.id); !s)
            qWarning("%s", qPrintable(s.error().message));
        if (!discovery)
            return discovery.error();
        return true;
    }
    std::vector<QueuedJob> jobs;
    jobs.reserve(discovery->jobs.size() + discovery->vanished.size());
    for (const PhotoJob &p : discovery->jobs)
        jobs.push_back({0, p.folderId, p.path, p.size, p.mtimeMs, p.existingId,
                        p.existingHadEmbedding, p.unchanged, false});
    for (const VanishedPhoto &v : discovery->vanished)
        jobs.push_back({0, 0, v.path, 0, 0, v.id, v.hadEmbedding, false, true});
    if (Status s = m_catalog.finishDiscovery(m_modelKey, m_info.id, jobs, walkedRoots); !s)
        return s.error();
    const RootMapper mapper = m_catalog.rootMapper();
    for (const WatchedFolder &folder : discovery->folders)
        if (mapper.unavailableReason(folder.path).isEmpty()) // walked
            if (Status s = m_catalog.setFolderScanned(folder.id); !s)
                qWarning("%s", qPrintable(s.error().message));
    m_result.skipped += discovery->skipped;
    m_result.directories = discovery->directories;
    m_result.directoriesTruncated = discovery->directoriesTruncated;
    // Rows committed since this worker started are candidates for reuse too.
    if (Status s = makePreparer(); !s)
        return s.error();
    return true;
}

bool QueueRunner::queueIsCurrent() const {
    const qint64 last = m_catalog.lastDiscoveryMs(m_modelKey);
    return last > 0 && last >= m_startedMs - m_config.queue.discoveryIntervalSeconds * 1000LL;
}

QStringList QueueRunner::claimableRoots() const {
    const RootMapper mapper = m_catalog.rootMapper();
    QStringList out;
    for (const QString &root : m_config.queue.roots)
        if (mapper.unavailableReason(QLatin1Char('@') + root).isEmpty())
            out << root;
    return out;
}

bool QueueRunner::queueDrained() {
    auto queue = m_catalog.workQueue(m_modelKey, claimableRoots());
    return queue && queue->queued == 0 && queue->leased == 0 &&
           !m_catalog.isDiscovering(m_modelKey);
}

QList<PreparedPhoto> QueueRunner::prepare(const std::vector<QueuedJob> &jobs,
                                          std::vector<qint64> &committed,
                                          std::vector<qint64> &missing) {
    QList<PreparedPhoto> out;
    std::vector<PhotoJob> files;
    std::vector<qint64> fileJobIds;
    for (const QueuedJob &j : jobs) {
        if (j.vanished) {
            // A row whose file was not found: deleted unless the file is back (then the job is
            // only dropped; the next discovery sees the file).
            committed.push_back(j.id);
            if (!statNative(j.path).exists) {
                PreparedPhoto p;
                p.job = photoJobOf(j);
                p.vanished = true;
                out.push_back(std::move(p));
            }
            continue;
        }
        files.push_back(photoJobOf(j));
        fileJobIds.push_back(j.id);
    }
    QThreadPool pool;
    pool.setMaxThreadCount(std::max(1, m_config.decodeThreads));
    const PhotoPreparer &preparer = *m_preparer;
    const QList<PreparedPhoto> prepared = QtConcurrent::blockingMapped<QList<PreparedPhoto>>(
        &pool, files, [&](const PhotoJob &job) { return preparer.prepare(job); });
    for (qsizetype i = 0; i < prepared.size(); ++i) {
        if (prepared[i].vanished) {
            missing.push_back(fileJobIds[size_t(i)]); // another machine may see it
            continue;
        }
        committed.push_back(fileJobIds[size_t(i)]);
        out.push_back(prepared[i]);
    }
    return out;
}

Status QueueRunner::processBatch(const std::vector<QueuedJob> &jobs) {
    setState(QStringLiteral("embedding"), qint64(jobs.size()));
    JobLease lease;
    lease.owner = m_info.id;
    std::vector<qint64> missing;
    const QList<PreparedPhoto> prepared = prepare(jobs, lease.jobIds, missing);
    if (!missing.empty()) {
        if (Status s = m_catalog.releaseJobs(m_info.id, missing, kRetryMissingMs); !s)
            return s;
    }
    if (lease.jobIds.empty())
        return {};
    // A batch whose lease was lost is not this worker's work: its counts are taken back.
    const IndexRunResult before = m_result;
    const IndexProgress progressBefore = m_progress;
    Status s = m_committer->commit(prepared, &lease);
    if (lease.lost) {
        m_result = before;
        m_progress = progressBefore;
        qWarning("worker %s: %s", qPrintable(m_info.name), qPrintable(s.error().message));
        return {};
    }
    if (!s)
        return s;
    m_progress.done += qint64(prepared.size());
    if (auto queue = m_catalog.workQueue(m_modelKey, claimableRoots()))
        m_progress.total = m_progress.done + queue->queued + queue->leased;
    m_report(false);
    m_committer->saveIndexIfDue();
    setState(QStringLiteral("embedding"));
    return {};
}

void QueueRunner::setState(const QString &state, qint64 currentBatch) {
    m_info.state = state;
    m_info.embedded = m_result.embedded;
    m_info.failed = m_result.failed;
    m_info.currentBatch = currentBatch;
    // Only what `status` shows: a failed write is logged, the work goes on.
    if (Status s = m_catalog.updateWorker(m_info); !s)
        qWarning("%s", qPrintable(s.error().message));
}

} // namespace ts::internal
