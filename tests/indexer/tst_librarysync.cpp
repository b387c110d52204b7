// Local search over a shared catalog: the change sequence (schema 5), and each client's vector
// index built from the catalog's vectors and brought up to date from the changes since the number
// it includes. Two clients are two Library objects on one catalog with their own cache folders,
// as two desktops are. The fake embedder counts its calls: a joining client embeds nothing.
// The catalog's connection to a PostgreSQL server that restarts (a real server, pgserver.h).
#include "core/index/vectorindex.h"
#include "fakeembedder.h"
#include "indexer/catalog.h"
#include "indexer/library.h"
#include "indexer/reconnectingdatabase.h"
#include "indexer/rootmapper.h"
#include "indexer/sqldatabase.h"
#include "indexertestutil.h"
#include "libraryfixture.h"
#include "pgserver.h"
#include "testcatalog.h"

#include <QCryptographicHash>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <map>

using namespace ts;
using ts::test::FakeEmbedder;

namespace {

constexpr int kDimension = 8;

// One client of the catalog: its own cache folder (vector index, thumbnails) and embedder.
struct Client {
    std::shared_ptr<FakeEmbedder> embedder = std::make_shared<FakeEmbedder>();
    std::unique_ptr<Library> library;
};

Client openClient(const QString &db, const QString &cacheDirectory, int syncIntervalSeconds = 0) {
    Client c;
    LibraryOptions options;
    options.databasePath = db;
    options.cacheDirectory = cacheDirectory;
    options.watchFolders = false;
    options.syncIntervalSeconds = syncIntervalSeconds;
    auto lib = Library::open(options);
    if (!lib) {
        qWarning() << lib.error().message;
        return c;
    }
    if (Status s = (*lib)->setEmbedder(c.embedder); !s) {
        qWarning() << s.error().message;
        return c;
    }
    c.library = std::move(*lib);
    return c;
}

std::unique_ptr<VectorIndex> loadIndex(const Library &lib, const QString &modelKey) {
    auto index = VectorIndex::load(lib.vectorIndexPath(modelKey), modelKey, {kDimension});
    if (!index) {
        qWarning() << index.error().message;
        return {};
    }
    return std::make_unique<VectorIndex>(std::move(*index));
}

// The ids with an embedding in the catalog, by a connection of its own.
std::vector<qint64> catalogIds(const QString &db, const QString &modelKey) {
    auto catalog = Catalog::open(db);
    return catalog ? (*catalog)->embeddedIds(modelKey) : std::vector<qint64>{};
}

// What `a` and `b` answer for every vector of `a` as the query (ids, best first), compared.
QString sameNeighbours(const VectorIndex &a, const VectorIndex &b, const std::vector<qint64> &ids) {
    for (qint64 id : ids) {
        const std::vector<float> q = a.vector(id);
        if (q.empty())
            return QStringLiteral("id %1 missing from the first index").arg(id);
        auto ha = a.search(q.data(), 5);
        auto hb = b.search(q.data(), 5);
        if (!ha || !hb)
            return QStringLiteral("search failed");
        if (ha->size() != hb->size())
            return QStringLiteral("id %1: %2 hits vs %3").arg(id).arg(ha->size()).arg(hb->size());
        for (size_t i = 0; i < ha->size(); ++i)
            if ((*ha)[i].id != (*hb)[i].id)
                return QStringLiteral("id %1: hit %2 is %3 vs %4")
                    .arg(id)
                    .arg(i)
                    .arg((*ha)[i].id)
                    .arg((*hb)[i].id);
    }
    return {};
}

// A fresh database on the test's server, behind the catalog's reconnecting wrapper.
Result<std::unique_ptr<sql::ReconnectingDatabase>> wrappedFreshDatabase(test::PgServer &server) {
    auto url = server.freshDatabase();
    if (!url)
        return url.error();
    auto opened = sql::Database::open(*url);
    if (!opened)
        return opened.error();
    return std::make_unique<sql::ReconnectingDatabase>(std::move(*opened));
}

} // namespace

class TestLibrarySync : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    int m_seed = 1000;

    QString photos() const { return m_tmp.filePath(QStringLiteral("photos")); }
    int m_run = 0; // each test function has a catalog of its own
    // A SQLite file, or on the PostgreSQL run a fresh database for it (testcatalog.h).
    QString db() const {
        return test::catalogLocation(
            m_tmp.filePath(QStringLiteral("lib%1/library.sqlite").arg(m_run)));
    }
    QString cache(const QString &name) const {
        return m_tmp.filePath(QStringLiteral("cache-") + name);
    }
    bool addPhotos(int count, const QString &prefix) {
        for (int i = 0; i < count; ++i)
            if (!test::writePhoto(photos() + QStringLiteral("/%1%2.png").arg(prefix).arg(i),
                                  quint32(++m_seed)))
                return false;
        return true;
    }
    // Client 1 with `count` photos indexed.
    Client indexedClient(int count) {
        if (!addPhotos(count, QStringLiteral("p")))
            return {};
        Client c = openClient(db(), cache(QStringLiteral("1")));
        if (!c.library || !c.library->addFolder(photos()).ok() || !test::runIndex(*c.library))
            return {};
        return c;
    }

private Q_SLOTS:
    void init() {
        QVERIFY(m_tmp.isValid());
        ++m_run;
    }
    void cleanup() {
        QDir(m_tmp.path()).removeRecursively();
        QDir().mkpath(m_tmp.path());
    }

    void changeSequenceNumbersEveryWriteAndRemoval() {
        Client c1 = indexedClient(3);
        QVERIFY(c1.library);
        auto catalog = Catalog::open(db());
        QVERIFY(catalog);
        const QString key = c1.embedder->modelKey();
        // Every vector written is a change after the number a fresh catalog starts at.
        std::map<qint64, bool> seen; // id -> vector (true) or removal (false)
        qint64 rows = -1;
        auto through = (*catalog)->changesSince(
            0, key, [&](qint64 id, quint64, const float *v, int) { seen[id] = v != nullptr; },
            &rows);
        QVERIFY(through);
        QCOMPARE(rows, qint64(3));
        QCOMPARE(qint64(seen.size()), qint64(3));
        QCOMPARE(*through, *(*catalog)->currentChangeSeq());
        const qint64 before = *through;

        // A removal (by cascade from its photo) is a change too, and only the changes after a
        // number are read.
        const qint64 removedId = seen.begin()->first;
        QVERIFY(c1.library->removePhotos({removedId}).ok());
        seen.clear();
        through = (*catalog)->changesSince(
            before, key, [&](qint64 id, quint64, const float *v, int) { seen[id] = v != nullptr; },
            &rows);
        QVERIFY(through);
        QCOMPARE(rows, qint64(1));
        QCOMPARE(seen.size(), size_t(1));
        QCOMPARE(seen.begin()->first, removedId);
        QCOMPARE(seen.begin()->second, false);
        QVERIFY(*through > before);
        // Nothing new: nothing read, the number stays.
        const qint64 now = *through;
        through = (*catalog)->changesSince(
            now, key, [&](qint64, quint64, const float *, int) {}, &rows);
        QCOMPARE(rows, qint64(0));
        QCOMPARE(*through, now);
    }

    // A URL library's own files live in <cache home>/towersearch/shared/<SHA-1 of the URL without
    // its password>: one folder whichever way the password is given (the server here trusts the
    // socket, so any password connects).
    void cacheFolderIsNamedByTheUrlWithoutItsPassword() {
        if (!test::isPostgresRun())
            QSKIP("a SQLite library keeps its index beside the database file");
        const QString url = db();
        QVERIFY(!url.isEmpty());
        const qsizetype at = url.indexOf(QLatin1Char('@'));
        // postgresql://USER@/DATABASE?host=...: a user and no password yet.
        QVERIFY2(at > 0 && !url.left(at).section(QStringLiteral("://"), 1).contains(u':'),
                 qPrintable(url));
        const QString inUserInfo = url.left(at) + QStringLiteral(":s3cr%3Ft") + url.mid(at);
        const QString inQuery =
            url + (url.contains(QLatin1Char('?')) ? QStringLiteral("&") : QStringLiteral("?")) +
            QStringLiteral("password=s3cret");
        const QString expected =
            QStandardPaths::writableLocation(QStandardPaths::GenericCacheLocation) +
            QStringLiteral("/towersearch/shared/") +
            QString::fromLatin1(
                QCryptographicHash::hash(url.toUtf8(), QCryptographicHash::Sha1).toHex());
        for (const QString &location : {url, inUserInfo, inQuery}) {
            LibraryOptions options;
            options.databasePath = location;
            options.watchFolders = false;
            auto lib = Library::open(options);
            QVERIFY2(lib, lib ? "" : qPrintable(lib.error().message));
            QCOMPARE(QFileInfo((*lib)->vectorIndexPath(QStringLiteral("m"))).absolutePath(),
                     expected);
        }
    }

    void catalogIdIsRandomAndStable() {
        QTemporaryDir other;
        QString first;
        {
            auto a = Catalog::open(db());
            QVERIFY(a);
            first = (*a)->catalogId();
        }
        QCOMPARE(first.size(), 36); // a UUID
        auto again = Catalog::open(db());
        QCOMPARE((*again)->catalogId(), first);
        auto b = Catalog::open(test::catalogLocation(other.filePath(QStringLiteral("b.sqlite"))));
        QVERIFY(b);
        QVERIFY((*b)->catalogId() != first);
    }

    void newClientBuildsIndexFromCatalogWithoutEmbedding() {
        constexpr int kPhotos = 12;
        Client c1 = indexedClient(kPhotos);
        QVERIFY(c1.library);
        QCOMPARE(c1.embedder->calls.load(), kPhotos);

        Client c2 = openClient(db(), cache(QStringLiteral("2")));
        QVERIFY(c2.library);
        QCOMPARE(c2.embedder->calls.load(), 0);
        const IndexSyncSummary built = c2.library->lastSync();
        QVERIFY(built.rebuilt);
        QCOMPARE(built.rowsRead, qint64(kPhotos));
        QCOMPARE(built.added, qint64(kPhotos));
        QVERIFY(c2.library->vectorIndexPath(c2.embedder->modelKey()) !=
                c1.library->vectorIndexPath(c1.embedder->modelKey()));

        const QString key = c1.embedder->modelKey();
        auto i1 = loadIndex(*c1.library, key);
        auto i2 = loadIndex(*c2.library, key);
        QVERIFY(i1 && i2);
        const std::vector<qint64> ids = catalogIds(db(), key);
        QCOMPARE(i2->size(), qint64(ids.size()));
        const QString diff = sameNeighbours(*i1, *i2, ids);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    void syncAppliesOnlyTheChangesOfAnotherClient() {
        Client c1 = indexedClient(10);
        QVERIFY(c1.library);
        Client c2 = openClient(db(), cache(QStringLiteral("2")));
        QVERIFY(c2.library);
        const QString key = c1.embedder->modelKey();

        // Client 1 adds three photos and removes two.
        QVERIFY(addPhotos(3, QStringLiteral("new")));
        QVERIFY(test::runIndex(*c1.library));
        std::vector<qint64> ids = catalogIds(db(), key);
        QCOMPARE(ids.size(), size_t(13));
        const std::vector<qint64> removed{ids[0], ids[1]};
        QVERIFY(c1.library->removePhotos(removed).ok());

        QSignalSpy synced(c2.library.get(), &Library::indexSynced);
        QSignalSpy counts(c2.library.get(), &Library::foldersChanged);
        auto result = c2.library->syncIndex();
        QVERIFY2(result, result ? "" : qPrintable(result.error().message));
        QCOMPARE(result->rowsRead, qint64(5)); // 3 written + 2 removed, not the 11 others
        QCOMPARE(result->added, qint64(3));
        QCOMPARE(result->removed, qint64(2));
        QVERIFY(!result->rebuilt);
        QCOMPARE(synced.size(), 1);
        QCOMPARE(synced.at(0).at(0).toLongLong(), qlonglong(3));
        QCOMPARE(synced.at(0).at(1).toLongLong(), qlonglong(2));
        QCOMPARE(counts.size(), 1); // the views showing counts reload

        ids = catalogIds(db(), key);
        auto i1 = loadIndex(*c1.library, key);
        auto i2 = loadIndex(*c2.library, key); // saved by the sync
        QVERIFY(i1 && i2);
        QCOMPARE(i2->size(), qint64(ids.size()));
        for (qint64 id : removed)
            QVERIFY(!i2->contains(id));
        const QString diff = sameNeighbours(*i1, *i2, ids);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));

        // A second sync finds nothing new and reads nothing.
        auto again = c2.library->syncIndex();
        QVERIFY(again);
        QCOMPARE(again->rowsRead, qint64(0));
        QCOMPARE(synced.size(), 1);
        QCOMPARE(c2.embedder->calls.load(), 0);
    }

    void reopenedClientAppliesOnlyChangesSinceItsIndexFile() {
        Client c1 = indexedClient(8);
        QVERIFY(c1.library);
        {
            Client c2 = openClient(db(), cache(QStringLiteral("2")));
            QVERIFY(c2.library);
            QVERIFY(c2.library->lastSync().rebuilt);
        }
        QVERIFY(addPhotos(2, QStringLiteral("later")));
        QVERIFY(test::runIndex(*c1.library));
        Client c2 = openClient(db(), cache(QStringLiteral("2")));
        QVERIFY(c2.library);
        const IndexSyncSummary opened = c2.library->lastSync();
        QVERIFY(!opened.rebuilt);
        QCOMPARE(opened.rowsRead, qint64(2));
        QCOMPARE(opened.added, qint64(2));
        const QString key = c1.embedder->modelKey();
        auto i2 = loadIndex(*c2.library, key);
        QVERIFY(i2);
        QCOMPARE(i2->size(), qint64(10));
    }

    void ownIndexingLeavesNothingForTheSync() {
        // A single-user library: its indexer keeps its index in step; the sync reads the rows it
        // wrote and changes nothing (no signal, no save).
        Client c1 = indexedClient(5);
        QVERIFY(c1.library);
        QSignalSpy synced(c1.library.get(), &Library::indexSynced);
        auto result = c1.library->syncIndex();
        QVERIFY(result);
        QCOMPARE(result->rowsRead, qint64(5));
        QCOMPARE(result->added, qint64(0));
        QCOMPARE(result->removed, qint64(0));
        QCOMPARE(synced.size(), 0);
        QCOMPARE(c1.library->checkConsistency(), QStringLiteral("ok"));
    }

    void indexFileOfAnotherCatalogIsRebuilt() {
        // Two catalogs with the same photos (same ids, same content): only the catalog id in the
        // index's record tells them apart, and it must.
        Client c1 = indexedClient(6);
        QVERIFY(c1.library);
        const QString key = c1.embedder->modelKey();
        const QString otherDb = test::catalogLocation(
            m_tmp.filePath(QStringLiteral("other%1/library.sqlite").arg(m_run)));
        QString otherIndex;
        {
            Client other = openClient(otherDb, cache(QStringLiteral("other")));
            QVERIFY(other.library);
            QVERIFY(other.library->addFolder(photos()).ok());
            QVERIFY(test::runIndex(*other.library));
            QVERIFY(other.library->syncIndex()); // writes its record
            otherIndex = other.library->vectorIndexPath(key);
        }
        // Client 2's cache gets the other catalog's index file and record.
        {
            Client probe = openClient(db(), cache(QStringLiteral("2")));
            QVERIFY(probe.library);
        }
        const QString mine =
            cache(QStringLiteral("2")) + QStringLiteral("/") + QFileInfo(otherIndex).fileName();
        for (const QString &suffix : {QString(), QStringLiteral(".sync")}) {
            QFile::remove(mine + suffix);
            QVERIFY(QFile::copy(otherIndex + suffix, mine + suffix));
        }
        Client c2 = openClient(db(), cache(QStringLiteral("2")));
        QVERIFY(c2.library);
        QVERIFY(c2.library->lastSync().rebuilt);
        QCOMPARE(c2.library->lastSync().rowsRead, qint64(6));
    }

    void periodicSyncBringsNewPhotos() {
        Client c1 = indexedClient(4);
        QVERIFY(c1.library);
        Client c2 = openClient(db(), cache(QStringLiteral("2")), 1);
        QVERIFY(c2.library);
        QSignalSpy synced(c2.library.get(), &Library::indexSynced);
        QVERIFY(addPhotos(2, QStringLiteral("tick")));
        QVERIFY(test::runIndex(*c1.library));
        QVERIFY(synced.wait(5000));
        QCOMPARE(synced.at(0).at(0).toLongLong(), qlonglong(2));
        QCOMPARE(c2.library->lastSync().added, qint64(2));
        QCOMPARE(c2.embedder->calls.load(), 0);
    }

    // The catalog's wrapper over a PostgreSQL connection (indexer/reconnectingdatabase.h): a read
    // that finds the connection lost by a server restart runs again on a new connection.
    void readAfterServerRestartIsRetriedOnANewConnection() {
        TS_PG_SHARED_SERVER(server);
        auto wrapped = wrappedFreshDatabase(server);
        QVERIFY2(wrapped.ok(), wrapped.ok() ? "" : qPrintable(wrapped.error().message));
        sql::ReconnectingDatabase &db = **wrapped;
        QVERIFY(db.execScript("CREATE TABLE t (name TEXT NOT NULL)"));
        QVERIFY(db.prepare("INSERT INTO t(name) VALUES (?1)").bind(1, QStringLiteral("a")).exec());
        auto count = db.prepare("SELECT count(*) FROM t");
        QVERIFY(count.step());
        QCOMPARE(count.int64At(0), qint64(1));
        count.reset();

        QVERIFY2(server.restart(), qPrintable(server.log()));
        // The same statement, its first step after the restart: answered, not failed.
        QVERIFY2(count.step(), qPrintable(db.lastError(QStringLiteral("counting")).message));
        QCOMPARE(count.int64At(0), qint64(1));
        QCOMPARE(db.reconnects(), 1);
        QVERIFY(!count.step());
        QCOMPARE(count.failure(), sql::Failure::None);

        // The loss is over once the new connection works: the calls that follow keep it (one
        // server process, no reconnect each), and an error of another kind is not taken for a
        // lost connection (a worker whose batch lease was lost would reconnect and retry it
        // forever).
        QCOMPARE(db.lastFailure(), sql::Failure::None);
        auto pid = db.prepare("SELECT pg_backend_pid()");
        QVERIFY(pid.step());
        const qint64 backend = pid.int64At(0);
        for (int i = 0; i < 5; ++i) {
            auto again = db.prepare("SELECT pg_backend_pid()");
            QVERIFY(again.step());
            QCOMPARE(again.int64At(0), backend);
        }
        QVERIFY(!db.prepare("INSERT INTO t(name) VALUES (NULL)").exec());
        QCOMPARE(db.lastFailure(), sql::Failure::Constraint);
        QCOMPARE(db.reconnects(), 1);
    }

    // A server that stays down (a NAS switched off: each try waits up to the connect timeout) is
    // not tried again on every call: after a failed reconnect the calls of the next second fail at
    // once; once it is back, the next call after the wait connects.
    void downServerIsNotTriedAgainOnEveryCall() {
        TS_PG_SHARED_SERVER(server);
        auto wrapped = wrappedFreshDatabase(server);
        QVERIFY2(wrapped.ok(), wrapped.ok() ? "" : qPrintable(wrapped.error().message));
        sql::ReconnectingDatabase &db = **wrapped;
        QVERIFY(db.prepare("SELECT 1").step());
        QVERIFY(server.stop());
        for (int i = 0; i < 5; ++i) {
            auto s = db.prepare("SELECT 1");
            QVERIFY(!s.step());
        }
        const int attempts = db.reconnectAttempts();
        QVERIFY2(server.restart(), qPrintable(server.log()));
        QCOMPARE(attempts, 1);
        QCOMPARE(db.reconnects(), 0);
        QTRY_VERIFY_WITH_TIMEOUT(db.prepare("SELECT 1").step(), 5000);
        QCOMPARE(db.reconnects(), 1);
    }

    // A write transaction cut by a restart is reported as failed, nothing of it is kept, and the
    // next call works on a new connection.
    void writeTransactionCutByRestartFailsWholeAndTheNextCallReconnects() {
        TS_PG_SHARED_SERVER(server);
        auto wrapped = wrappedFreshDatabase(server);
        QVERIFY2(wrapped.ok(), wrapped.ok() ? "" : qPrintable(wrapped.error().message));
        sql::ReconnectingDatabase &db = **wrapped;
        QVERIFY(db.execScript("CREATE TABLE t (name TEXT NOT NULL)"));
        auto insert = db.prepare("INSERT INTO t(name) VALUES (?1)");
        QVERIFY(insert.bind(1, QStringLiteral("committed")).exec());
        {
            sql::Transaction tx(db);
            QVERIFY(tx.isActive());
            QVERIFY(insert.bind(1, QStringLiteral("first half")).exec());
            QVERIFY2(server.restart(), qPrintable(server.log()));
            QVERIFY(!insert.bind(1, QStringLiteral("second half")).exec());
            QCOMPARE(insert.failure(), sql::Failure::ConnectionLost);
            QVERIFY(!tx.commit());
            QCOMPARE(db.reconnects(), 0); // never inside the transaction
        }
        auto names = db.prepare("SELECT name FROM t ORDER BY name");
        QStringList seen;
        while (names.step())
            seen << names.textAt(0);
        QCOMPARE(names.failure(), sql::Failure::None);
        QCOMPARE(seen, QStringList{QStringLiteral("committed")});
        QCOMPARE(db.reconnects(), 1);
        // And the caller's retry of the whole transaction goes through.
        sql::Transaction again(db);
        QVERIFY(again.isActive());
        QVERIFY(insert.bind(1, QStringLiteral("retried")).exec());
        QVERIFY(again.commit());
    }

    // Library roots through the wrapper (Catalog::open sets the RootMapper on it): a path written
    // through it is stored "@name/...", read back local, once (the wrapped connection maps
    // nothing), and a read retried on a new connection after a restart maps it too.
    void rootMapperOfTheWrapperIsWhatItsStatementsSee() {
        TS_PG_SHARED_SERVER(server);
        auto wrapped = wrappedFreshDatabase(server);
        QVERIFY2(wrapped.ok(), wrapped.ok() ? "" : qPrintable(wrapped.error().message));
        sql::ReconnectingDatabase &db = **wrapped;
        const RootMapper mapper(
            QHash<QString, QString>{{QStringLiteral("photos"), QStringLiteral("/mnt/nas/photos")}});
        db.setRootMapper(&mapper);
        QVERIFY(db.execScript("CREATE TABLE t (path BYTEA NOT NULL)"));
        const QString local = QStringLiteral("/mnt/nas/photos/2024/cat.jpg");
        QVERIFY(db.prepare("INSERT INTO t(path) VALUES (?1)").bindPath(1, local).exec());

        auto raw = sql::Database::open(db.location()); // no mapper: the bytes as stored
        QVERIFY2(raw.ok(), raw.ok() ? "" : qPrintable(raw.error().message));
        auto stored = (*raw)->prepare("SELECT path FROM t");
        QVERIFY(stored.step());
        QCOMPARE(stored.pathAt(0), QStringLiteral("@photos/2024/cat.jpg"));
        stored = {};
        raw->reset();

        auto read = db.prepare("SELECT path FROM t WHERE path = ?1");
        QVERIFY(read.bindPath(1, local).step());
        QCOMPARE(read.pathAt(0), local);
        read.reset();
        QVERIFY2(server.restart(), qPrintable(server.log()));
        // reset() cleared the binding: bound again, then the step that finds the connection lost.
        QVERIFY2(read.bindPath(1, local).step(),
                 qPrintable(db.lastError(QStringLiteral("reading")).message));
        QCOMPARE(read.pathAt(0), local);
        QCOMPARE(db.reconnects(), 1);
    }
};

QTEST_GUILESS_MAIN(TestLibrarySync)
#include "tst_librarysync.moc"
