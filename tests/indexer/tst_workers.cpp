// Many indexing workers on one catalog (issue 17, worker mode): real worker processes
// (tst_workers_child, the fake embedder logging every photo it embeds), killed with SIGKILL or left
// without lease renewal, and the catalog checked afterwards: every photo has exactly one vector,
// and only a killed or lease-losing worker's batch was ever embedded twice.
#include "fakeembedder.h"
#include "indexer/catalog.h"
#include "indexer/library.h"
#include "indexer/sqldatabase.h"
#include "indexertestutil.h"
#include "testcatalog.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <memory>
#include <thread>

using namespace ts;

namespace {

// A read-only look at the catalog, as a third party (not through the code under test).
class RawCatalog {
public:
    explicit RawCatalog(const QString &location) {
        if (auto db = sql::Database::open(location, sql::Database::Mode::ReadOnly))
            m_db = std::move(*db);
        else
            m_error = db.error().message;
    }

    QStringList texts(const char *sql, const QString &arg = QString()) const {
        if (!m_db)
            return {QStringLiteral("error: %1").arg(m_error)};
        QStringList out;
        auto s = m_db->prepare(sql);
        if (!arg.isNull())
            s.bind(1, arg);
        while (s.step())
            out << s.textAt(0);
        if (s.failure() != sql::Failure::None)
            return {m_db->lastError(QStringLiteral("reading the catalog")).message};
        return out;
    }
    qint64 count(const char *sql) const {
        const QStringList r = texts(sql);
        return r.size() == 1 ? r.first().toLongLong() : -1;
    }
    // The paths leased to the worker named `name` now.
    QStringList leasedTo(const QString &name) const {
        return texts("SELECT j.path FROM index_jobs j JOIN workers w"
                     " ON w.id = j.lease_owner WHERE w.name = ?1",
                     name);
    }

private:
    std::unique_ptr<sql::Database> m_db;
    QString m_error;
};

QStringList loggedPaths(const QString &log) {
    QFile f(log);
    QStringList out;
    if (!f.open(QIODevice::ReadOnly))
        return out;
    const QList<QByteArray> lines = f.readAll().split('\n');
    // The last piece has no newline: a line a kill cut short, or empty.
    for (qsizetype i = 0; i + 1 < lines.size(); ++i)
        out << QString::fromUtf8(lines[i]);
    return out;
}

// A worker process; its output is read at the end.
struct Worker {
    Worker() = default;
    Worker(QString workerName, QString logFile)
        : name(std::move(workerName)), log(std::move(logFile)) {}

    QString name, log;
    std::unique_ptr<QProcess> process = std::make_unique<QProcess>();

    void start(const QString &db, int delayMs, int batch, int leaseSeconds,
               const QStringList &extra = {}) {
        process->setReadChannel(QProcess::StandardOutput);
        process->start(QStringLiteral(TOWERSEARCH_WORKER_CHILD),
                       QStringList{db, log, QString::number(delayMs), QString::number(batch),
                                   QString::number(leaseSeconds), name} +
                           extra);
    }
    QString output; // stdout, read once it finished

    // "embedded N ..." printed at the end: this worker's committed embeddings.
    qint64 committedEmbeddings() {
        output += QString::fromUtf8(process->readAllStandardOutput());
        const QString &all = output;
        const qsizetype at = all.indexOf(QLatin1String("embedded "));
        return at < 0 ? -1 : all.mid(at + 9).section(QLatin1Char(' '), 0, 0).toLongLong();
    }
};

// Waits (bounded) until `name` holds a lease; returns the leased paths.
QStringList waitForLease(const RawCatalog &raw, const QString &name, const QProcess &process) {
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 60000 && process.state() == QProcess::Running) {
        const QStringList leased = raw.leasedTo(name);
        if (!leased.isEmpty())
            return leased;
        QThread::msleep(20);
    }
    return {};
}

// Queues `paths` (files of `folderId`) as worker `worker`'s discovery of `model`, walking `roots`.
bool queueJobs(Catalog &c, const QString &model, qint64 worker, qint64 folderId,
               const QStringList &paths, const QStringList &roots) {
    auto began = c.tryBeginDiscovery(model, worker, 60000, 0);
    if (!began || !*began)
        return false;
    std::vector<QueuedJob> jobs;
    for (const QString &p : paths)
        jobs.push_back({0, folderId, p, 100, 1, 0, false, false, false});
    return c.finishDiscovery(model, worker, jobs, roots).ok();
}

} // namespace

class TestWorkers : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void init();
    void threeWorkersOneKilledEmbedEveryPhotoOnce();
    void expiredLeaseHandsTheBatchToAnotherWorkerAndTheLoserCommitsNothing();
    void fileMissingOnThisMachineIsGivenBackNotMarkedFailed();
    void serverRestartedMidRunLosesNothing();
    void jobUnderALibraryRootIsClaimedOnlyWhereTheRootIsMapped();
    void jobRowsAreLockedInIdOrder_data();
    void jobRowsAreLockedInIdOrder();
    void batchRolledBackByADeadlockIsWrittenAgain();
    void lostBatchGivesBackTheJobsNobodyTook();
    void discoveryKeepsTheJobsOfRootsItCouldNotWalk();
    void workerOutlivesADiscovererThatDied();
    void workerLeavesTheJobsOfAnUnmountedRoot();
    void workerStopsWhenANewerTowerSearchUpgradedTheLibrary();

private:
    // The library with a folder of `count` generated photos (and `copies` byte-equal copies of
    // the first ones), its folders added by a Library in this process.
    void makeLibrary(int count, int copies);

    std::unique_ptr<QTemporaryDir> m_tmp;
    QString m_db;
    QString m_folder;
    int m_photos = 0;
};

void TestWorkers::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    m_db = test::catalogLocation(m_tmp->filePath(QStringLiteral("lib/library.sqlite")));
    QVERIFY(!m_db.isEmpty());
    m_folder = m_tmp->filePath(QStringLiteral("photos"));
}

void TestWorkers::makeLibrary(int count, int copies) {
    for (int i = 0; i < count; ++i)
        QVERIFY(test::writePhoto(m_folder + QStringLiteral("/d%1/p%2.png").arg(i % 5).arg(i),
                                 quint32(1000 + i), 12, 12));
    QVERIFY(QDir().mkpath(m_folder + QStringLiteral("/copies")));
    for (int i = 0; i < copies; ++i)
        QVERIFY(QFile::copy(m_folder + QStringLiteral("/d%1/p%2.png").arg(i % 5).arg(i),
                            m_folder + QStringLiteral("/copies/c%1.png").arg(i)));
    m_photos = count + copies;
    LibraryOptions options;
    options.databasePath = m_db;
    options.watchFolders = false;
    auto lib = Library::open(options);
    QVERIFY2(lib, lib ? "" : qPrintable(lib.error().message));
    QVERIFY((*lib)->addFolder(m_folder).ok());
}

void TestWorkers::threeWorkersOneKilledEmbedEveryPhotoOnce() {
    makeLibrary(90, 6);
    constexpr int kLeaseSeconds = 2;
    std::vector<Worker> workers(3);
    for (size_t i = 0; i < workers.size(); ++i) {
        workers[i].name = QStringLiteral("w%1").arg(i);
        workers[i].log = m_tmp->filePath(QStringLiteral("embedded-w%1.txt").arg(i));
        workers[i].start(m_db, 150, 4, kLeaseSeconds);
        QVERIFY(workers[i].process->waitForStarted(10000));
    }
    // w1 dies mid-batch: killed as soon as it holds a lease.
    const RawCatalog raw(m_db);
    Worker &victim = workers[1];
    QVERIFY(!waitForLease(raw, victim.name, *victim.process).isEmpty());
    victim.process->kill(); // SIGKILL
    QVERIFY(victim.process->waitForFinished(10000));
    const QStringList leasedAtKill = raw.leasedTo(victim.name);
    const QSet<QString> lostBatch(leasedAtKill.cbegin(), leasedAtKill.cend());
    QVERIFY(!lostBatch.isEmpty());
    qint64 committed = 0;
    for (Worker *w : {&workers[0], &workers[2]}) {
        QVERIFY(w->process->waitForFinished(120000));
        QCOMPARE(w->process->exitStatus(), QProcess::NormalExit);
        QCOMPARE(w->process->exitCode(), 0);
        committed += w->committedEmbeddings();
    }

    // Every photo has exactly one vector and the queue is empty.
    QCOMPARE(raw.count("SELECT count(*) FROM photos"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM photos WHERE state = 1"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(0));
    // Nothing embedded twice, except what the killed worker embedded of its lost batch.
    QMap<QString, int> times;
    for (const Worker &w : workers)
        for (const QString &p : loggedPaths(w.log))
            ++times[p];
    QSet<QString> twice;
    for (auto it = times.cbegin(); it != times.cend(); ++it) {
        QVERIFY2(it.value() <= 2, qPrintable(it.key()));
        if (it.value() == 2)
            twice.insert(it.key());
    }
    const QStringList victimLog = loggedPaths(victim.log);
    const QSet<QString> expectedTwice =
        QSet<QString>(victimLog.cbegin(), victimLog.cend()).intersect(lostBatch);
    QCOMPARE(twice, expectedTwice);
    // The survivors' committed embeddings are the photos not copied (equal content in one batch
    // or already in the catalog reuses the vector) minus what the victim committed before dying.
    QVERIFY(committed > 0);

    // `status`: complete; the victim is gone (its heartbeat stopped), the others stopped.
    LibraryOptions options;
    options.databasePath = m_db;
    options.watchFolders = false;
    auto lib = Library::open(options);
    QVERIFY(lib);
    QVERIFY((*lib)->setEmbedder(std::make_shared<test::FakeEmbedder>()).ok());
    QCOMPARE((*lib)->stats().pending, qint64(0));
    QCOMPARE((*lib)->stats().indexed, qint64(m_photos));
    QCOMPARE((*lib)->checkConsistency(), QStringLiteral("ok"));
    const auto queue = (*lib)->workQueue();
    QVERIFY(queue);
    QCOMPARE(queue->queued, qint64(0));
    QCOMPARE(queue->leased, qint64(0));
    QCOMPARE(queue->workers.size(), 3);
    QMap<QString, QString> states;
    for (const WorkerInfo &w : queue->workers)
        states[w.name] = w.state;
    QCOMPARE(states.value(QStringLiteral("w0")), QStringLiteral("stopped"));
    QCOMPARE(states.value(QStringLiteral("w2")), QStringLiteral("stopped"));
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const auto q = (*lib)->workQueue();
            for (const WorkerInfo &w : q->workers)
                if (w.name == victim.name)
                    return w.state == QLatin1String("gone");
            return false;
        }(),
        5 * kLeaseSeconds * 1000);

    // Two clients with their own local files agree on what the catalog holds.
    std::vector<std::unique_ptr<Library>> clients;
    for (const QString &cache : {QStringLiteral("client-a"), QStringLiteral("client-b")}) {
        LibraryOptions o;
        o.databasePath = m_db;
        o.cacheDirectory = m_tmp->filePath(cache);
        o.watchFolders = false;
        auto client = Library::open(o);
        QVERIFY(client);
        QVERIFY((*client)->setEmbedder(std::make_shared<test::FakeEmbedder>()).ok());
        clients.push_back(std::move(*client));
    }
    auto groupsOf = [](const Library &client) {
        QStringList out;
        const auto groups = client.findDuplicates(0.999f);
        if (!groups)
            return QStringList{groups.error().message};
        for (const DuplicatePhotos &g : *groups) {
            QStringList paths;
            for (const PhotoRecord &r : g.photos)
                paths << r.path;
            paths.sort();
            out << paths.join(QLatin1Char(','));
        }
        out.sort();
        return out;
    };
    const QStringList groupsA = groupsOf(*clients[0]);
    QCOMPARE(groupsA.size(), 6); // each copy with its original
    QCOMPARE(groupsOf(*clients[1]), groupsA);
}

void TestWorkers::expiredLeaseHandsTheBatchToAnotherWorkerAndTheLoserCommitsNothing() {
    makeLibrary(24, 0);
    // The slow worker never renews its 1 s lease, and its embedder waits for the gate file before
    // it returns: its first batch expires under it and the fast worker takes it over.
    Worker slow{QStringLiteral("slow"), m_tmp->filePath(QStringLiteral("embedded-slow.txt"))};
    Worker fast{QStringLiteral("fast"), m_tmp->filePath(QStringLiteral("embedded-fast.txt"))};
    slow.process->setProcessChannelMode(QProcess::SeparateChannels);
    const QString gate = m_tmp->filePath(QStringLiteral("gate"));
    slow.start(m_db, 0, 4, 1, {QStringLiteral("--no-renew"), QStringLiteral("--gate"), gate});
    QVERIFY(slow.process->waitForStarted(10000));
    const RawCatalog raw(m_db);
    const QStringList firstBatch = waitForLease(raw, slow.name, *slow.process);
    QCOMPARE(firstBatch.size(), 4);
    // The fast worker takes the slow one's batch once its lease expired, and everything else; it
    // exits when nothing is left (the slow worker holds no lease any more). Then the slow worker
    // finishes embedding its batch and tries to commit it.
    fast.start(m_db, 0, 4, 1);
    QVERIFY(fast.process->waitForStarted(10000));
    QVERIFY(fast.process->waitForFinished(120000));
    QCOMPARE(fast.process->exitCode(), 0);
    QFile(gate).open(QIODevice::WriteOnly);
    QVERIFY(slow.process->waitForFinished(120000));
    QCOMPARE(slow.process->exitCode(), 0);
    const QString slowErrors = QString::fromUtf8(slow.process->readAllStandardError());
    QVERIFY2(slowErrors.contains(QLatin1String("lease on the batch was lost")),
             qPrintable(slowErrors));
    // The fast worker embedded the slow one's first batch; the slow one's commit of it wrote
    // nothing: one vector per photo, and the two workers' committed counts add up to the photos.
    const QStringList fastLog = loggedPaths(fast.log);
    for (const QString &p : firstBatch)
        QVERIFY2(fastLog.contains(p), qPrintable(p));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM photos WHERE state = 1"), qint64(m_photos));
    QCOMPARE(slow.committedEmbeddings() + fast.committedEmbeddings(), qint64(m_photos));
    // What the slow worker embedded and did commit, the fast one never embedded.
    const QStringList slowLog = loggedPaths(slow.log);
    const QSet<QString> both = QSet<QString>(slowLog.cbegin(), slowLog.cend())
                                   .intersect({fastLog.cbegin(), fastLog.cend()});
    QCOMPARE(qint64(slowLog.size() - both.size()), slow.committedEmbeddings());
    QCOMPARE(slow.committedEmbeddings(), qint64(0)); // its only batch was lost
}

void TestWorkers::fileMissingOnThisMachineIsGivenBackNotMarkedFailed() {
    makeLibrary(6, 0);
    Worker first{QStringLiteral("first"), m_tmp->filePath(QStringLiteral("embedded-first.txt"))};
    first.start(m_db, 0, 4, 30);
    QVERIFY(first.process->waitForFinished(60000));
    QCOMPARE(first.process->exitCode(), 0);
    // A job for an indexed photo (its file changed, as a discovery on another machine saw it)
    // whose file this machine cannot see.
    const QString gone = m_folder + QStringLiteral("/d0/p0.png");
    auto catalog = Catalog::open(m_db);
    QVERIFY(catalog);
    const auto id = (*catalog)->idForPath(gone);
    QVERIFY(id);
    const auto folder = (*catalog)->addFolder(m_folder);
    QVERIFY(folder);
    const auto discoverer = (*catalog)->registerWorker(QStringLiteral("elsewhere"),
                                                       QStringLiteral("fake-model-1"), 30000);
    QVERIFY(discoverer);
    const auto taken =
        (*catalog)->tryBeginDiscovery(QStringLiteral("fake-model-1"), *discoverer, 30000, 0);
    QVERIFY(taken && *taken);
    QVERIFY((*catalog)
                ->finishDiscovery(QStringLiteral("fake-model-1"), *discoverer,
                                  {{0, *folder, gone, 999, 1, *id, true, false, false}}, {})
                .ok());
    QVERIFY(QFile::remove(gone));

    // The worker cannot see it: gives it back, tries again, drops the job after 3 misses and
    // exits (nothing else to do); the photo keeps its row and vector, not failed.
    Worker second{QStringLiteral("second"), m_tmp->filePath(QStringLiteral("embedded-2.txt"))};
    QElapsedTimer clock;
    clock.start();
    // (No discovery of its own: it would find the file gone and delete the row.)
    second.start(m_db, 0, 4, 30, {QStringLiteral("--discovery-interval"), QStringLiteral("3600")});
    QVERIFY(second.process->waitForFinished(60000));
    QCOMPARE(second.process->exitCode(), 0);
    QVERIFY2(clock.elapsed() < 30000, "a missing file must not hold the queue for a lease");
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(0));
    QCOMPARE(raw.count("SELECT count(*) FROM photos WHERE state = 2"), qint64(0));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QVERIFY(loggedPaths(second.log).isEmpty());
}

void TestWorkers::serverRestartedMidRunLosesNothing() {
    if (!test::isPostgresRun())
        QSKIP("a server restart needs the PostgreSQL backend (tst_workers_pg); an SQLite catalog "
              "is a file with no server to restart");
    makeLibrary(60, 0);
    // Two workers with 20 s leases: the server is away for about 3 s and the reconnect waits
    // (1 s, then 2 s) fit in a lease, so a batch in hand is written by its worker afterwards.
    std::vector<Worker> workers(2);
    for (size_t i = 0; i < workers.size(); ++i) {
        workers[i].name = QStringLiteral("r%1").arg(i);
        workers[i].log = m_tmp->filePath(QStringLiteral("embedded-r%1.txt").arg(i));
        workers[i].process->setProcessChannelMode(QProcess::SeparateChannels);
        workers[i].start(m_db, 100, 4, 20);
        QVERIFY(workers[i].process->waitForStarted(10000));
    }
    // Restart once both hold a batch and some photos are stored (mid-run, not before or after).
    {
        const RawCatalog raw(m_db);
        for (const Worker &w : workers)
            QVERIFY(!waitForLease(raw, w.name, *w.process).isEmpty());
        QTRY_VERIFY_WITH_TIMEOUT(raw.count("SELECT count(*) FROM embeddings") > 0, 30000);
        QVERIFY(raw.count("SELECT count(*) FROM embeddings") < m_photos);
    }
    // Stopped for 2.5 s, so that the first try (after 1 s) fails and the worker waits longer.
    test::PgServer &server = test::PgServer::shared();
    const Status stopped = server.stop();
    QVERIFY2(stopped, stopped ? "" : qPrintable(stopped.error().message));
    QThread::msleep(2500);
    const Status started = server.start();
    QVERIFY2(started, started ? "" : qPrintable(started.error().message));
    QString errors;
    for (Worker &w : workers) {
        QVERIFY(w.process->waitForFinished(120000));
        errors += QString::fromUtf8(w.process->readAllStandardError());
        QCOMPARE(w.process->exitStatus(), QProcess::NormalExit);
        QVERIFY2(w.process->exitCode() == 0, qPrintable(errors));
    }
    // Each worker said it was connecting again, one line per try, waiting longer after a failed
    // try.
    for (const Worker &w : workers) {
        QVERIFY2(errors.contains(QStringLiteral("worker %1: lost the connection to the catalog; "
                                                "connecting again in 1 s")
                                     .arg(w.name)),
                 qPrintable(errors));
        QVERIFY2(errors.contains(QRegularExpression(
                     QStringLiteral("worker %1: [^\\n]*; connecting again in 2 s").arg(w.name))),
                 qPrintable(errors));
    }

    // Nothing lost: every photo stored once with its vector, the queue empty.
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM photos"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM photos WHERE state = 1"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(0));
    // Nothing embedded twice: a batch whose write the restart cut is written again from what was
    // embedded (its lease outlived the outage), a claim that was cut is given back unembedded.
    QMap<QString, int> times;
    for (const Worker &w : workers)
        for (const QString &p : loggedPaths(w.log))
            ++times[p];
    QCOMPARE(times.size(), m_photos);
    for (auto it = times.cbegin(); it != times.cend(); ++it)
        QVERIFY2(it.value() == 1, qPrintable(it.key()));

    LibraryOptions options;
    options.databasePath = m_db;
    options.watchFolders = false;
    auto lib = Library::open(options);
    QVERIFY(lib);
    QVERIFY((*lib)->setEmbedder(std::make_shared<test::FakeEmbedder>()).ok());
    QCOMPARE((*lib)->stats().pending, qint64(0));
    QCOMPARE((*lib)->stats().indexed, qint64(m_photos));
    QCOMPARE((*lib)->checkConsistency(), QStringLiteral("ok"));
}

// A discovered file under a library root is queued with that root (its path as stored,
// "@nas/..."), so a worker of a machine that has not mapped the root leaves it, and one that has
// gets it with its own local path.
void TestWorkers::jobRowsAreLockedInIdOrder_data() {
    QTest::addColumn<QString>("operation");
    QTest::newRow("renewing the leases (the heartbeat)") << QStringLiteral("renew");
    QTest::newRow("committing the batch") << QStringLiteral("commit");
    QTest::newRow("giving the leases back") << QStringLiteral("drop");
}

// Two transactions locking the same job rows in different orders deadlock, and PostgreSQL aborts
// one of them: bench_shared_library met it between a worker's batch commit and its own heartbeat
// renewing the leases on its second connection. Every writer of a worker's jobs locks them by
// ascending id. Here a transaction of the test, in that order, holds the first job while the
// operation runs on the catalog's connection, then takes the last one: with the operation in any
// other order (the rows are stored last job first, the batch lists its jobs last first) the two
// wait for each other and one is aborted.
void TestWorkers::jobRowsAreLockedInIdOrder() {
    QFETCH(QString, operation);
    if (!test::isPostgresRun())
        QSKIP("SQLite has one write lock for the whole file: no row locks to order");
    QVERIFY(QDir().mkpath(m_folder));
    auto catalog = Catalog::open(m_db);
    QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
    Catalog &c = **catalog;
    const QString key = QStringLiteral("order-test");
    const auto folder = c.addFolder(m_folder);
    QVERIFY(folder);
    const auto worker = c.registerWorker(QStringLiteral("w"), key, 60000);
    QVERIFY(worker);
    QStringList queued;
    for (int i = 0; i < 4; ++i)
        queued << m_folder + QStringLiteral("/p%1.jpg").arg(i);
    QVERIFY(queueJobs(c, key, *worker, *folder, queued, {}));
    const auto jobs = c.claimJobs(key, *worker, 4, 60000, {});
    QVERIFY(jobs);
    QCOMPARE(jobs->size(), size_t(4));
    std::vector<qint64> ids;
    for (const QueuedJob &j : *jobs)
        ids.push_back(j.id);
    std::sort(ids.begin(), ids.end());

    auto opened = sql::Database::open(m_db);
    QVERIFY(opened);
    sql::Database &test = **opened;
    auto touch = [&](qint64 id) {
        auto s = test.prepare("UPDATE index_jobs SET misses = misses WHERE id = ?1");
        return s.bind(1, id).exec();
    };
    // A new row version goes behind the older ones, and its index entries after theirs (an
    // indexed column changes): the rows are now stored, and indexed, last job first.
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
        auto s = test.prepare(
            "UPDATE index_jobs SET lease_expires_ms = lease_expires_ms + 1 WHERE id = ?1");
        QVERIFY(s.bind(1, *it).exec());
    }
    QVERIFY(test.begin());
    QVERIFY(touch(ids.front()));

    Status result;
    std::thread other([&] {
        if (operation == QLatin1String("renew")) {
            result = c.renewLeases(*worker, 60000);
        } else if (operation == QLatin1String("drop")) {
            result = c.dropLeases(*worker);
        } else {
            JobLease lease;
            lease.owner = *worker;
            lease.jobIds.assign(ids.rbegin(), ids.rend());
            auto committed = c.commitBatch({}, key, {}, &lease);
            result = !committed   ? Status(committed.error())
                     : lease.lost ? Status(Error(Error::Code::Internal, QStringLiteral("lost")))
                                  : Status();
        }
    });
    // Once the operation waits for a row lock (the first job's, in order), take the last job.
    auto watcher = sql::Database::open(m_db);
    QVERIFY(watcher);
    QElapsedTimer clock;
    clock.start();
    qint64 waiting = 0;
    while (waiting == 0 && clock.elapsed() < 10000) {
        auto s = (*watcher)->prepare("SELECT count(*) FROM pg_stat_activity"
                                     " WHERE wait_event_type = 'Lock'");
        waiting = s.step() ? s.int64At(0) : -1;
        QThread::msleep(20);
    }
    const bool tookLast = touch(ids.back());
    const QString why = tookLast ? QString() : test.lastError(QStringLiteral("locking")).message;
    const bool committed = tookLast && test.commit();
    if (!committed)
        test.rollback();
    other.join();
    QCOMPARE(waiting, qint64(1));
    QVERIFY2(committed, qPrintable(why));
    QVERIFY2(result.ok(), result.ok() ? "" : qPrintable(result.error().message));
}

// A batch's commit that the server rolls back to break a deadlock (here with a transaction of the
// test that takes the batch's jobs last first) is written again, without embedding it again: the
// worker goes on instead of stopping with "deadlock detected".
void TestWorkers::batchRolledBackByADeadlockIsWrittenAgain() {
    if (!test::isPostgresRun())
        QSKIP("SQLite has one write lock for the whole file: no deadlock between two writers");
    makeLibrary(8, 0);
    Worker worker{QStringLiteral("w"), m_tmp->filePath(QStringLiteral("embedded-w.txt"))};
    worker.process->setProcessChannelMode(QProcess::SeparateChannels);
    const QString gate = m_tmp->filePath(QStringLiteral("gate"));
    // No heartbeat: only the commit and the test's transaction lock the jobs.
    worker.start(m_db, 0, 4, 120, {QStringLiteral("--no-renew"), QStringLiteral("--gate"), gate});
    QVERIFY(worker.process->waitForStarted(10000));
    const RawCatalog raw(m_db);
    QCOMPARE(waitForLease(raw, worker.name, *worker.process).size(), 4);
    QStringList ids = raw.texts("SELECT CAST(id AS TEXT) FROM index_jobs WHERE lease_owner ="
                                " (SELECT id FROM workers WHERE name = ?1) ORDER BY id",
                                worker.name);
    QCOMPARE(ids.size(), 4);

    auto opened = sql::Database::open(m_db);
    QVERIFY(opened);
    sql::Database &test = **opened;
    auto lock = [&](const QString &id) {
        auto s = test.prepare("SELECT id FROM index_jobs WHERE id = ?1 FOR UPDATE");
        return s.bind(1, id.toLongLong()).step();
    };
    QVERIFY(test.begin());
    QVERIFY(lock(ids.last()));
    QFile(gate).open(QIODevice::WriteOnly); // the worker commits: it waits for the last job
    QElapsedTimer clock;
    clock.start();
    while (raw.count("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") < 1 &&
           clock.elapsed() < 30000)
        QThread::msleep(20);
    // The first job closes the cycle. The worker has waited longer: its transaction is the one
    // the server rolls back (deadlock_timeout), and this lock is granted.
    QVERIFY2(lock(ids.first()), qPrintable(test.lastError(QStringLiteral("locking")).message));
    QVERIFY(test.commit());

    QVERIFY(worker.process->waitForFinished(60000));
    const QString errors = QString::fromUtf8(worker.process->readAllStandardError());
    QVERIFY2(worker.process->exitCode() == 0, qPrintable(errors));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(0));
    const QStringList embedded = loggedPaths(worker.log);
    QCOMPARE(embedded.size(), m_photos); // the rolled-back batch was not embedded again
    QCOMPARE(worker.committedEmbeddings(), qint64(m_photos));
}

void TestWorkers::jobUnderALibraryRootIsClaimedOnlyWhereTheRootIsMapped() {
    const QString nas = m_tmp->filePath(QStringLiteral("nas/photos"));
    QVERIFY(QDir().mkpath(nas));
    const QString model = QStringLiteral("fake-model-1");
    auto here = Catalog::open(m_db, {{QStringLiteral("nas"), nas}});
    QVERIFY2(here, here ? "" : qPrintable(here.error().message));
    const auto folder = (*here)->addFolder(nas);
    QVERIFY(folder);
    const auto worker = (*here)->registerWorker(QStringLiteral("here"), model, 30000);
    QVERIFY(worker);
    const QString photo = nas + QStringLiteral("/a.png");
    QVERIFY(queueJobs(**here, model, *worker, *folder, {photo}, {QStringLiteral("nas")}));
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs WHERE root = 'nas'"), qint64(1));

    const auto unmapped = (*here)->claimJobs(model, *worker, 10, 30000, {});
    QVERIFY(unmapped);
    QVERIFY(unmapped->empty());
    const auto mapped = (*here)->claimJobs(model, *worker, 10, 30000, {QStringLiteral("nas")});
    QVERIFY(mapped);
    QCOMPARE(mapped->size(), size_t(1));
    QCOMPARE(mapped->front().path, photo);
}

// A worker's lease expired (a laptop asleep, an outage longer than the lease) and another worker
// took part of its batch: the commit writes nothing, and the jobs nobody took are free at once,
// not kept by the loser's heartbeat for as long as it runs (a worker without --follow would wait
// for them forever).
void TestWorkers::lostBatchGivesBackTheJobsNobodyTook() {
    QVERIFY(QDir().mkpath(m_folder));
    auto catalog = Catalog::open(m_db);
    QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
    Catalog &c = **catalog;
    const QString model = QStringLiteral("fake-model-1");
    const auto folder = c.addFolder(m_folder);
    const auto loser = c.registerWorker(QStringLiteral("loser"), model, 60000);
    const auto taker = c.registerWorker(QStringLiteral("taker"), model, 60000);
    QVERIFY(folder && loser && taker);
    QStringList paths;
    for (int i = 0; i < 4; ++i)
        paths << m_folder + QStringLiteral("/p%1.png").arg(i);
    QVERIFY(queueJobs(c, model, *loser, *folder, paths, {}));
    const auto batch = c.claimJobs(model, *loser, 4, 60000, {});
    QVERIFY(batch);
    QCOMPARE(batch->size(), size_t(4));
    QVERIFY(test::execSql(m_db, "UPDATE index_jobs SET lease_expires_ms = 0").isEmpty());
    const auto taken = c.claimJobs(model, *taker, 2, 60000, {});
    QVERIFY(taken);
    QCOMPARE(taken->size(), size_t(2));
    QVERIFY(c.renewLeases(*loser, 60000).ok()); // the loser's heartbeat, still beating

    JobLease lease;
    lease.owner = *loser;
    for (const QueuedJob &j : *batch)
        lease.jobIds.push_back(j.id);
    const auto committed = c.commitBatch({}, model, {}, &lease);
    QVERIFY(!committed);
    QVERIFY(lease.lost);
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(4)); // nothing deleted
    QCOMPARE(raw.leasedTo(QStringLiteral("loser")), QStringList());
    const auto rest = c.claimJobs(model, *taker, 4, 60000, {});
    QVERIFY(rest);
    QCOMPARE(rest->size(), size_t(2));
    QCOMPARE(raw.leasedTo(QStringLiteral("taker")).size(), 4);
}

// Machines that map different library roots share one queue: a discovery replaces the jobs of
// what it walked (absolute folders, the roots it sees), never those another machine queued under
// a root this one cannot see.
void TestWorkers::discoveryKeepsTheJobsOfRootsItCouldNotWalk() {
    auto catalog = Catalog::open(m_db);
    QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
    Catalog &c = **catalog;
    const QString model = QStringLiteral("fake-model-1");
    QVERIFY(QDir().mkpath(m_folder));
    const auto folder = c.addFolder(m_folder);
    const auto both = c.registerWorker(QStringLiteral("maps a and b"), model, 60000);
    const auto onlyB = c.registerWorker(QStringLiteral("maps b"), model, 60000);
    QVERIFY(folder && both && onlyB);
    QVERIFY(queueJobs(c, model, *both, *folder,
                      {QStringLiteral("@a/1.png"), QStringLiteral("@b/1.png"),
                       m_folder + QStringLiteral("/1.png")},
                      {QStringLiteral("a"), QStringLiteral("b")}));
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(3));
    // The second machine walks b and the absolute folder and finds b/2.png only.
    QVERIFY(
        queueJobs(c, model, *onlyB, *folder, {QStringLiteral("@b/2.png")}, {QStringLiteral("b")}));
    QStringList roots = raw.texts("SELECT COALESCE(root, '-') FROM index_jobs ORDER BY id");
    QCOMPARE(roots, (QStringList{QStringLiteral("a"), QStringLiteral("b")}));
    const auto forA = c.claimJobs(model, *both, 10, 60000, {QStringLiteral("a")});
    QVERIFY(forA);
    QCOMPARE(forA->size(), size_t(1));
    QCOMPARE(forA->front().path, QStringLiteral("@a/1.png"));
}

// A worker started while another discovers waits for that discovery. When the discoverer dies
// (SIGKILL, a machine switched off) its discovery never finishes: once its lease expires the
// waiting worker discovers itself and indexes the library, instead of finding an empty queue and
// exiting with nothing done.
void TestWorkers::workerOutlivesADiscovererThatDied() {
    makeLibrary(12, 0);
    const QString model = QStringLiteral("fake-model-1");
    {
        auto catalog = Catalog::open(m_db);
        QVERIFY(catalog);
        constexpr qint64 kDeadLeaseMs = 3000;
        const auto dead = (*catalog)->registerWorker(QStringLiteral("dead"), model, kDeadLeaseMs);
        QVERIFY(dead);
        const auto began = (*catalog)->tryBeginDiscovery(model, *dead, kDeadLeaseMs, 0);
        QVERIFY(began && *began); // and never finished
    }
    Worker worker{QStringLiteral("w"), m_tmp->filePath(QStringLiteral("embedded-w.txt"))};
    worker.start(m_db, 0, 4, 30);
    QVERIFY(worker.process->waitForStarted(10000));
    QVERIFY(worker.process->waitForFinished(60000));
    QCOMPARE(worker.process->exitCode(), 0);
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(m_photos));
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs"), qint64(0));
    QCOMPARE(worker.committedEmbeddings(), qint64(m_photos));
}

// A machine whose share is not mounted (its mount point an empty folder) takes no job under that
// root: it would give each back unseen, and after 3 such misses the job is dropped, so the
// machines that do see the share would find nothing left to embed.
void TestWorkers::workerLeavesTheJobsOfAnUnmountedRoot() {
    auto catalog = Catalog::open(m_db);
    QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
    const QString model = QStringLiteral("fake-model-1");
    QVERIFY(QDir().mkpath(m_folder));
    const auto folder = (*catalog)->addFolder(m_folder);
    const auto elsewhere = (*catalog)->registerWorker(QStringLiteral("elsewhere"), model, 60000);
    QVERIFY(folder && elsewhere);
    QStringList queued;
    for (int i = 0; i < 3; ++i)
        queued << QStringLiteral("@nas/p%1.png").arg(i);
    QVERIFY(queueJobs(**catalog, model, *elsewhere, *folder, queued, {QStringLiteral("nas")}));

    const QString mountPoint = m_tmp->filePath(QStringLiteral("mnt/nas"));
    QVERIFY(QDir().mkpath(mountPoint)); // empty: the share is not mounted
    Worker worker{QStringLiteral("w"), m_tmp->filePath(QStringLiteral("embedded-w.txt"))};
    worker.start(m_db, 0, 4, 30, {QStringLiteral("--root"), QStringLiteral("nas=") + mountPoint});
    QVERIFY(worker.process->waitForStarted(10000));
    QVERIFY(worker.process->waitForFinished(60000));
    QCOMPARE(worker.process->exitCode(), 0);
    const RawCatalog raw(m_db);
    QCOMPARE(raw.count("SELECT count(*) FROM index_jobs WHERE root = 'nas' AND misses = 0"),
             qint64(queued.size()));
    QVERIFY(loggedPaths(worker.log).isEmpty());
    // `status` on a machine that maps no root shows the whole queue all the same.
    LibraryOptions options;
    options.databasePath = m_db;
    options.watchFolders = false;
    auto lib = Library::open(options);
    QVERIFY(lib);
    QVERIFY((*lib)->setEmbedder(std::make_shared<test::FakeEmbedder>()).ok());
    const auto queue = (*lib)->workQueue();
    QVERIFY(queue);
    QCOMPARE(queue->queued, qint64(queued.size()));
    QCOMPARE(queue->leased, qint64(0));
}

// Machines of a shared library are upgraded one by one: a worker of the older version, running
// when a newer TowerSearch upgrades the catalog, stops with the sentence of a newer database
// instead of writing rows the old way; nothing of its batch is written.
void TestWorkers::workerStopsWhenANewerTowerSearchUpgradedTheLibrary() {
    makeLibrary(8, 0);
    Worker worker{QStringLiteral("w"), m_tmp->filePath(QStringLiteral("embedded-w.txt"))};
    worker.process->setProcessChannelMode(QProcess::SeparateChannels);
    const QString gate = m_tmp->filePath(QStringLiteral("gate"));
    worker.start(m_db, 0, 4, 30, {QStringLiteral("--gate"), gate});
    QVERIFY(worker.process->waitForStarted(10000));
    const RawCatalog raw(m_db);
    QVERIFY(!waitForLease(raw, worker.name, *worker.process).isEmpty());
    const QByteArray newer = QByteArray::number(Catalog::kSchemaVersion + 1);
    const QByteArray upgrade = test::isPostgresRun() ? "UPDATE meta SET value = '" + newer +
                                                           "' WHERE key = 'schema_version'"
                                                     : "PRAGMA user_version = " + newer;
    QCOMPARE(test::execSql(m_db, upgrade.constData()), QString());
    QFile(gate).open(QIODevice::WriteOnly);
    QVERIFY(worker.process->waitForFinished(60000));
    const QString errors = QString::fromUtf8(worker.process->readAllStandardError());
    QCOMPARE(worker.process->exitCode(), 1);
    QVERIFY2(errors.contains(QLatin1String("written by a newer TowerSearch")), qPrintable(errors));
    QCOMPARE(raw.count("SELECT count(*) FROM embeddings"), qint64(0));
}

QTEST_GUILESS_MAIN(TestWorkers)
#include "tst_workers.moc"
