// The shared work queue of worker mode (schema 7): jobs with leases, the discovery lease, and the
// workers table. Every time is the database's clock (nowMs()), through one helper, so workers on
// machines whose clocks disagree agree on who holds what.
#include "indexer/catalog.h"
#include "indexer/sqldatabase.h"

#include <algorithm>
#include <cstring>

namespace ts {

namespace {

// `ids` in ascending order: the order in which job rows are locked (lockOwnJobsInIdOrder).
std::vector<qint64> ascending(std::vector<qint64> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
}

// Job flags (index_jobs.flags).
constexpr qint64 kJobHadEmbedding = 1;
constexpr qint64 kJobUnchanged = 2;
constexpr qint64 kJobVanished = 4;

// A worker whose heartbeat is older than this is left out of `status` (its row stays).
constexpr qint64 kWorkerHistoryMs = 24LL * 3600 * 1000;

// The library root of a stored path "@name/rest", or empty for an absolute path.
QString rootOf(const QString &path) {
    if (!path.startsWith(QLatin1Char('@')))
        return {};
    const qsizetype slash = path.indexOf(QLatin1Char('/'));
    return slash > 1 ? path.mid(1, slash - 1) : QString();
}

// The claim's root filter: "/name1/name2/" (rootFilterSql finds "/root/" in it).
QString rootList(const QStringList &roots) {
    return QLatin1Char('/') + roots.join(QLatin1Char('/')) + QLatin1Char('/');
}

QueuedJob jobFrom(const sql::Statement &s) {
    // Column order of TS_JOB_COLUMNS.
    QueuedJob j;
    j.id = s.int64At(0);
    j.folderId = s.int64At(1);
    j.path = s.pathAt(2);
    j.size = s.int64At(3);
    j.mtimeMs = s.int64At(4);
    j.existingId = s.int64At(5);
    const qint64 flags = s.int64At(6);
    j.existingHadEmbedding = flags & kJobHadEmbedding;
    j.unchanged = flags & kJobUnchanged;
    j.vanished = flags & kJobVanished;
    return j;
}

#define TS_JOB_COLUMNS "id, folder_id, path, size, mtime_ms, existing_id, flags"

// SQL that differs between the backends. Parameters are cast where PostgreSQL cannot infer their
// type from a column (arithmetic on two parameters, a SELECT list): CAST(? AS BIGINT) and
// CAST(? AS TEXT) mean the same on SQLite, a path is BYTEA on PostgreSQL only (on SQLite a
// BYTEA cast would be NUMERIC affinity).

// Is the job's root (NULL: an absolute path) one of the roots in the list parameter `list`?
QByteArray rootFilterSql(sql::Backend backend, const char *list) {
    const QByteArray l(list);
    return backend == sql::Backend::Postgres
               ? "(root IS NULL OR strpos(CAST(" + l + " AS TEXT), '/' || root || '/') > 0)"
               : "(root IS NULL OR instr(" + l + ", '/' || root || '/') > 0)";
}

QByteArray pathParamSql(sql::Backend backend, const char *param) {
    return backend == sql::Backend::Postgres ? "CAST(" + QByteArray(param) + " AS BYTEA)"
                                             : QByteArray(param);
}

// Leases the claimable jobs of ?1 (model) at ?2 (now) for roots ?3 to ?4 until ?2 + ?5, at most
// ?6: free or expired, a root this worker has mapped; a vanished row's job only once no other job
// is left. PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent claimers take different jobs instead
// of waiting on each other's rows; SQLite: the caller's BEGIN IMMEDIATE serialises claimers.
QByteArray claimSql(sql::Backend backend) {
    return "UPDATE index_jobs SET lease_owner = ?4, lease_expires_ms = CAST(?2 AS BIGINT) +"
           " CAST(?5 AS BIGINT) WHERE id IN (SELECT id FROM index_jobs WHERE model_key = ?1"
           " AND lease_expires_ms <= ?2 AND " +
           rootFilterSql(backend, "?3") +
           " AND (flags & 4 = 0 OR NOT EXISTS (SELECT 1 FROM index_jobs o WHERE o.model_key = ?1"
           " AND o.flags & 4 = 0)) ORDER BY flags & 4, id LIMIT ?6" +
           (backend == sql::Backend::Postgres ? " FOR UPDATE SKIP LOCKED" : "") +
           ") RETURNING " TS_JOB_COLUMNS;
}

} // namespace

Result<qint64> Catalog::registerWorker(const QString &name, const QString &modelKey,
                                       qint64 leaseMs) {
    std::lock_guard lock(m_mutex);
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(QStringLiteral("reading the database's clock"));
    auto s = m_db->prepare("INSERT INTO workers(name, model_key, started_ms, heartbeat_ms,"
                           " lease_ms, state) VALUES (?1, ?2, ?3, ?3, ?4, 'idle') RETURNING id");
    s.bind(1, name).bind(2, modelKey).bind(3, now).bind(4, leaseMs);
    if (!s.step())
        return m_db->lastError(QStringLiteral("registering the worker %1").arg(name));
    return s.int64At(0);
}

Status Catalog::updateWorker(const WorkerInfo &w) {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("UPDATE workers SET state = ?2, embedded = ?3, failed = ?4,"
                           " current_batch = ?5, last_error = ?6, heartbeat_ms = ?7 WHERE id = ?1");
    s.bind(1, w.id).bind(2, w.state).bind(3, w.embedded).bind(4, w.failed).bind(5, w.currentBatch);
    if (w.lastError.isEmpty())
        s.bindNull(6);
    else
        s.bind(6, w.lastError);
    s.bind(7, nowMs());
    if (!s.exec())
        return m_db->lastError(QStringLiteral("recording the worker's progress"));
    return {};
}

// Every transaction that writes several job rows locks them by ascending id: the batch commit (its
// jobs deleted one by one), giving jobs back, and the heartbeat renewing them on the worker's
// second connection. Two transactions locking the same rows in different orders deadlock, and
// PostgreSQL then aborts one of them (bench_shared_library met it: the commit of a batch against
// its own worker's renewal). An UPDATE alone locks in the order it finds the rows, so the rows
// are locked first, in order. SQLite has one write lock for the whole file: nothing to order.
bool Catalog::lockOwnJobsInIdOrder(qint64 workerId) {
    if (m_db->backend() != sql::Backend::Postgres)
        return true;
    auto s =
        m_db->prepare("SELECT id FROM index_jobs WHERE lease_owner = ?1 ORDER BY id FOR UPDATE");
    s.bind(1, workerId);
    while (s.step()) {
    }
    return s.failure() == sql::Failure::None;
}

Status Catalog::renewLeases(qint64 workerId, qint64 leaseMs) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("renewing the worker's leases");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(doing);
    // workers, queue_state, then the jobs: the order of every transaction that takes two of them.
    for (const char *sql :
         {"UPDATE workers SET heartbeat_ms = ?2 WHERE id = ?1 AND ?3 >= 0",
          "UPDATE queue_state SET discovery_expires_ms = CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT)"
          " WHERE discovery_owner = ?1",
          "UPDATE index_jobs SET lease_expires_ms = CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT)"
          " WHERE lease_owner = ?1"}) {
        if (std::strstr(sql, "index_jobs") && !lockOwnJobsInIdOrder(workerId))
            return m_db->lastError(doing);
        auto s = m_db->prepare(sql);
        if (!s.bind(1, workerId).bind(2, now).bind(3, leaseMs).exec())
            return m_db->lastError(doing);
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

Result<bool> Catalog::tryBeginDiscovery(const QString &modelKey, qint64 workerId, qint64 leaseMs,
                                        qint64 minIntervalMs) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("starting a discovery");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    auto ensure = m_db->prepare("INSERT INTO queue_state(model_key) VALUES (?1)"
                                " ON CONFLICT(model_key) DO NOTHING");
    if (!ensure.bind(1, modelKey).exec())
        return m_db->lastError(doing);
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(doing);
    auto take = m_db->prepare("UPDATE queue_state SET discovery_owner = ?2,"
                              " discovery_expires_ms = CAST(?3 AS BIGINT) + CAST(?4 AS BIGINT)"
                              " WHERE model_key = ?1"
                              " AND (discovery_owner IS NULL OR discovery_expires_ms <= ?3)"
                              " AND last_discovery_ms <= CAST(?3 AS BIGINT) - CAST(?5 AS BIGINT)");
    take.bind(1, modelKey).bind(2, workerId).bind(3, now).bind(4, leaseMs).bind(5, minIntervalMs);
    if (!take.exec())
        return m_db->lastError(doing);
    const bool taken = m_db->changes() == 1;
    if (!tx.commit())
        return m_db->lastError(doing);
    return taken;
}

Status Catalog::finishDiscovery(const QString &modelKey, qint64 workerId,
                                const std::vector<QueuedJob> &jobs,
                                const QStringList &walkedRoots) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("filling the work queue");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(doing);
    auto release = m_db->prepare("UPDATE queue_state SET discovery_owner = NULL,"
                                 " discovery_expires_ms = 0, last_discovery_ms = ?3"
                                 " WHERE model_key = ?1 AND discovery_owner = ?2");
    if (!release.bind(1, modelKey).bind(2, workerId).bind(3, now).exec())
        return m_db->lastError(doing);
    if (m_db->changes() != 1)
        return Error(Error::Code::Cancelled,
                     QStringLiteral("the discovery took longer than its lease and another worker "
                                    "took it over; its result was dropped"));
    auto clear = m_db->prepare("DELETE FROM index_jobs WHERE model_key = ?1"
                               " AND (lease_owner IS NULL OR lease_expires_ms <= ?2) AND " +
                               rootFilterSql(m_db->backend(), "?3"));
    if (!clear.bind(1, modelKey).bind(2, now).bind(3, rootList(walkedRoots)).exec())
        return m_db->lastError(doing);
    // A job leased now is kept as it is (its worker commits it). A file whose row is done with
    // the same size and mtime was committed by a worker after this discovery read the catalog:
    // not queued again, so it is not embedded twice.
    const sql::Backend b = m_db->backend();
    auto insertFile = m_db->prepare(
        "INSERT INTO index_jobs(model_key, folder_id, path, root, size, mtime_ms, existing_id,"
        " flags) SELECT CAST(?1 AS TEXT), CAST(?2 AS BIGINT), " +
        pathParamSql(b, "?3") +
        ", CAST(?4 AS TEXT), CAST(?5 AS BIGINT), CAST(?6 AS BIGINT), CAST(?7 AS BIGINT),"
        " CAST(?8 AS BIGINT) WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.path = ?3"
        " AND p.size = ?5 AND p.mtime_ms = ?6 AND (p.state = 2 OR EXISTS (SELECT 1 FROM"
        " embeddings e WHERE e.photo_id = p.id AND e.model_key = ?1)))"
        " ON CONFLICT(model_key, path) DO NOTHING");
    auto insertVanished = m_db->prepare(
        "INSERT INTO index_jobs(model_key, folder_id, path, root, size, mtime_ms, existing_id,"
        " flags) SELECT CAST(?1 AS TEXT), p.folder_id, p.path, CAST(?4 AS TEXT), p.size,"
        " p.mtime_ms, p.id, CAST(?8 AS BIGINT) FROM photos p WHERE p.id = ?7"
        " ON CONFLICT(model_key, path) DO NOTHING");
    for (const QueuedJob &j : jobs) {
        sql::Statement &s = j.vanished ? insertVanished : insertFile;
        const qint64 flags = (j.existingHadEmbedding ? kJobHadEmbedding : 0) |
                             (j.unchanged ? kJobUnchanged : 0) | (j.vanished ? kJobVanished : 0);
        s.bind(1, modelKey);
        if (!j.vanished)
            s.bind(2, j.folderId).bindPath(3, j.path).bind(5, j.size).bind(6, j.mtimeMs);
        // The root of the path as stored (bindPath maps a local path under a mapped root).
        if (const QString root = rootOf(m_rootMapper.toStored(j.path)); root.isEmpty())
            s.bindNull(4);
        else
            s.bind(4, root);
        s.bind(7, j.existingId).bind(8, flags);
        if (!s.exec())
            return m_db->lastError(doing);
        s.reset();
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

qint64 Catalog::lastDiscoveryMs(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT last_discovery_ms FROM queue_state WHERE model_key = ?1");
    s.bind(1, modelKey);
    return s.step() ? s.int64At(0) : 0;
}

Status Catalog::abandonDiscovery(const QString &modelKey, qint64 workerId) {
    std::lock_guard lock(m_mutex);
    auto s =
        m_db->prepare("UPDATE queue_state SET discovery_owner = NULL,"
                      " discovery_expires_ms = 0 WHERE model_key = ?1 AND discovery_owner = ?2");
    if (!s.bind(1, modelKey).bind(2, workerId).exec())
        return m_db->lastError(QStringLiteral("ending a discovery"));
    return {};
}

Result<std::vector<QueuedJob>> Catalog::claimJobs(const QString &modelKey, qint64 workerId,
                                                  int limit, qint64 leaseMs,
                                                  const QStringList &roots) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("claiming jobs of the work queue");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(doing);
    auto s = m_db->prepare(claimSql(m_db->backend()));
    s.bind(1, modelKey).bind(2, now).bind(3, rootList(roots)).bind(4, workerId);
    s.bind(5, leaseMs).bind(6, limit);
    std::vector<QueuedJob> jobs;
    while (s.step())
        jobs.push_back(jobFrom(s));
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(doing);
    s = {};
    if (!tx.commit())
        return m_db->lastError(doing);
    std::sort(jobs.begin(), jobs.end(),
              [](const QueuedJob &a, const QueuedJob &b) { return a.id < b.id; });
    return jobs;
}

Status Catalog::releaseJobs(qint64 workerId, const std::vector<qint64> &jobIds, qint64 delayMs) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("giving jobs back to the work queue");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    auto release = m_db->prepare("UPDATE index_jobs SET lease_owner = NULL, lease_expires_ms = ?3,"
                                 " misses = misses + 1 WHERE id = ?1 AND lease_owner = ?2");
    auto drop = m_db->prepare("DELETE FROM index_jobs WHERE id = ?1 AND misses >= 3");
    const qint64 until = nowMs() + delayMs;
    for (qint64 id : ascending(jobIds)) {
        if (!release.bind(1, id).bind(2, workerId).bind(3, until).exec() ||
            !drop.bind(1, id).exec())
            return m_db->lastError(doing);
        release.reset();
        drop.reset();
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

Status Catalog::deleteLeasedJobs(JobLease &lease) {
    auto s = m_db->prepare("DELETE FROM index_jobs WHERE id = ?1 AND lease_owner = ?2");
    for (qint64 id : ascending(lease.jobIds)) { // the order of lockOwnJobsInIdOrder
        if (!s.bind(1, id).bind(2, lease.owner).exec())
            return m_db->lastError(QStringLiteral("removing done jobs from the work queue"));
        if (m_db->changes() != 1) {
            lease.lost = true;
            return {};
        }
        s.reset();
    }
    return {};
}

Result<WorkQueueStatus> Catalog::workQueue(const QString &modelKey,
                                           const std::optional<QStringList> &roots) const {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("reading the work queue");
    WorkQueueStatus out;
    const qint64 now = nowMs();
    if (now == 0) // PostgreSQL could not be asked the time: its error says why
        return m_db->lastError(doing);
    // A job given back for a while (a file this machine could not see) waits, leased to nobody.
    auto count = m_db->prepare(
        "SELECT count(*) FILTER (WHERE lease_owner IS NULL OR lease_expires_ms <= ?2),"
        " count(*) FILTER (WHERE lease_owner IS NOT NULL AND lease_expires_ms > ?2)"
        " FROM index_jobs WHERE model_key = ?1 AND " +
        (roots ? rootFilterSql(m_db->backend(), "?3") : QByteArray("1 = 1")));
    count.bind(1, modelKey).bind(2, now);
    if (roots)
        count.bind(3, rootList(*roots));
    if (!count.step())
        return m_db->lastError(doing);
    out.queued = count.int64At(0);
    out.leased = count.int64At(1);
    count = {};
    auto workers = m_db->prepare(
        "SELECT id, name, model_key, CASE WHEN state <> 'stopped' AND heartbeat_ms < ?2 -"
        " 2 * lease_ms THEN 'gone' ELSE state END, started_ms, heartbeat_ms, embedded, failed,"
        " current_batch, last_error FROM workers WHERE heartbeat_ms > ?1 ORDER BY id");
    workers.bind(1, now - kWorkerHistoryMs).bind(2, now);
    while (workers.step()) {
        WorkerInfo w;
        w.id = workers.int64At(0);
        w.name = workers.textAt(1);
        w.modelKey = workers.textAt(2);
        w.state = workers.textAt(3);
        w.startedMs = workers.int64At(4);
        w.heartbeatMs = workers.int64At(5);
        w.embedded = workers.int64At(6);
        w.failed = workers.int64At(7);
        w.currentBatch = workers.int64At(8);
        w.lastError = workers.textAt(9);
        out.workers.push_back(w);
    }
    if (workers.failure() != sql::Failure::None)
        return m_db->lastError(doing);
    return out;
}

Status Catalog::dropLeases(qint64 workerId) {
    std::lock_guard lock(m_mutex);
    return giveBackLeases(workerId);
}

Status Catalog::giveBackLeases(qint64 workerId) {
    const QString doing = QStringLiteral("giving the worker's leases back");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    for (const char *sql :
         {"UPDATE queue_state SET discovery_owner = NULL, discovery_expires_ms = 0"
          " WHERE discovery_owner = ?1",
          "UPDATE index_jobs SET lease_owner = NULL, lease_expires_ms = 0 WHERE lease_owner = "
          "?1"}) {
        if (std::strstr(sql, "index_jobs") && !lockOwnJobsInIdOrder(workerId))
            return m_db->lastError(doing);
        auto s = m_db->prepare(sql);
        if (!s.bind(1, workerId).exec())
            return m_db->lastError(doing);
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

bool Catalog::connectionLost() const {
    std::lock_guard lock(m_mutex);
    // Unreachable: the connection was lost and the reconnect the connection made on the next call
    // (sql::ReconnectingDatabase) found the server still down; it is lost all the same.
    const sql::Failure f = m_db->lastFailure();
    return f == sql::Failure::ConnectionLost || f == sql::Failure::Unreachable;
}

bool Catalog::rolledBackByConflict() const {
    std::lock_guard lock(m_mutex);
    return m_db->backend() == sql::Backend::Postgres && m_db->lastFailure() == sql::Failure::Busy;
}

Status Catalog::reconnect() {
    std::lock_guard lock(m_mutex);
    return m_db->reconnect();
}

bool Catalog::isDiscovering(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT 1 FROM queue_state WHERE model_key = ?1"
                           " AND discovery_owner IS NOT NULL AND discovery_expires_ms > ?2");
    s.bind(1, modelKey).bind(2, nowMs());
    return s.step();
}

} // namespace ts
