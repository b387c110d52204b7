// The SQL seam (indexer/sqldatabase.h) on both backends: every case runs on a SQLite file and on
// a real PostgreSQL server the test starts (tests/common/pgserver.h); the PostgreSQL rows skip
// with the reason when the server binaries are not installed. Then what only a server does: a
// wrong password, no server at the address, a restart under an open connection.

#include "core/common/nativepath.h"
#include "indexer/sqldatabase.h"
#include "pgserver.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <limits>

using namespace ts;
using ts::test::PgServer;

namespace {

const QString kSqlite = QStringLiteral("sqlite");
const QString kPostgres = QStringLiteral("postgres");

// SQL for each backend where they differ (types, identity columns).
struct Dialect {
    const char *sqlite;
    const char *postgres;
    const char *pick(sql::Backend b) const { return b == sql::Backend::Sqlite ? sqlite : postgres; }
};

const Dialect kTypesTable{
    "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, d REAL, s TEXT, b BLOB, p BLOB)",
    "CREATE TABLE t(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, i BIGINT, "
    "d DOUBLE PRECISION, s TEXT, b BYTEA, p BYTEA)"};
const Dialect kUniqueTable{"CREATE TABLE u(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
                           "CREATE TABLE u(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                           "name TEXT NOT NULL UNIQUE)"};

} // namespace

class TestSqlDriver : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_tmp;
    int m_files = 0;
    std::unique_ptr<PgServer> m_passwordServer; // started by the wrong-password test

    // Adds one row per backend for a test whose only column is the backend.
    static void backendRows() {
        QTest::addColumn<QString>("backend");
        QTest::newRow("sqlite") << kSqlite;
        QTest::newRow("postgres") << kPostgres;
    }

    // A fresh, empty database on `backend`: a new SQLite file, or a new database on the test
    // server. Fails (or skips, when PostgreSQL is not installed) the calling test.
    Result<QString> freshLocation(const QString &backend) {
        if (backend == kSqlite)
            return m_tmp.filePath(QStringLiteral("db%1.sqlite").arg(++m_files));
        PgServer &server = PgServer::shared();
        if (!server.isRunning())
            return Error(Error::Code::Io, server.startError());
        return server.freshDatabase();
    }

    static qint64 countRows(sql::Database &db, const char *table) {
        const QByteArray q = QByteArray("SELECT count(*) FROM ") + table;
        auto s = db.prepare(q.constData());
        return s.step() ? s.int64At(0) : -1;
    }

private Q_SLOTS:
    void init();
    void cleanupTestCase() { m_passwordServer.reset(); }

    void bindsAndReadsEveryType_data();
    void bindsAndReadsEveryType();
    void readsColumnsOfEveryServerType_data();
    void readsColumnsOfEveryServerType();
    void pathLookupIsByExactBytes_data() { backendRows(); }
    void pathLookupIsByExactBytes();
    void rewritesOnlyPlaceholdersOutsideQuotes_data();
    void rewritesOnlyPlaceholdersOutsideQuotes();
    void uncommittedTransactionRollsBack_data() { backendRows(); }
    void uncommittedTransactionRollsBack();
    void constraintViolationIsConstraintFailure_data() { backendRows(); }
    void constraintViolationIsConstraintFailure();
    void insertReturningGivesTheNewId_data() { backendRows(); }
    void insertReturningGivesTheNewId();
    void changesCountsRowsOfTheLastWrite_data() { backendRows(); }
    void changesCountsRowsOfTheLastWrite();
    void statementsRunWhileAnotherIsReadingRows_data() { backendRows(); }
    void statementsRunWhileAnotherIsReadingRows();
    void resetAndReuseRunsWithNewBindings_data() { backendRows(); }
    void resetAndReuseRunsWithNewBindings();
    void invalidSqlIsAnInvalidStatementWithTheLocation_data() { backendRows(); }
    void invalidSqlIsAnInvalidStatementWithTheLocation();
    void readOnlyConnectionRefusesWrites_data() { backendRows(); }
    void readOnlyConnectionRefusesWrites();

    void redactsPasswordsFromLocations_data();
    void redactsPasswordsFromLocations();
    void libpqWordsQuotingPiecesOfAPasswordAreMasked_data();
    void libpqWordsQuotingPiecesOfAPasswordAreMasked();
    void wrongPasswordIsAuthFailedNamingTheUser_data();
    void wrongPasswordIsAuthFailedNamingTheUser();
    void noServerAtTheAddressIsUnreachable();
    void missingDatabaseIsNamed();
    void serverRestartIsConnectionLostThenReconnectWorks();
};

void TestSqlDriver::init() {
    QVERIFY(m_tmp.isValid());
    // The backend column exists in every table but the server-only tests'.
    if (QTest::currentDataTag() && QByteArray(QTest::currentDataTag()).startsWith("postgres") &&
        !PgServer::available())
        QSKIP(qPrintable(PgServer::whyUnavailable()));
}

// Opens a fresh database of the row's backend as `db`, or fails/skips the test.
#define OPEN_FRESH(db, backend)                                                                    \
    const auto db##Location = freshLocation(backend);                                              \
    QVERIFY2(db##Location.ok(),                                                                    \
             db##Location.ok() ? "" : qPrintable(db##Location.error().message));                   \
    auto db##Opened = sql::Database::open(*db##Location);                                          \
    QVERIFY2(db##Opened.ok(), db##Opened.ok() ? "" : qPrintable(db##Opened.error().message));      \
    sql::Database &db = **db##Opened

void TestSqlDriver::bindsAndReadsEveryType_data() {
    QTest::addColumn<QString>("backend");
    QTest::addColumn<bool>("null");
    QTest::addColumn<qint64>("integer");
    QTest::addColumn<double>("real");
    QTest::addColumn<QString>("text");
    QTest::addColumn<QByteArray>("blob");
    QTest::addColumn<QByteArray>("pathBytes");
    struct Case {
        const char *name;
        bool null;
        qint64 integer;
        double real;
        QString text;
        QByteArray blob;
        QByteArray pathBytes;
    };
    const Case cases[] = {
        {"ordinary", false, 42, 1.5, QStringLiteral("a cat"), QByteArray("abc"),
         QByteArray("/photos/cat.jpg")},
        {"int64 max, largest double", false, std::numeric_limits<qint64>::max(),
         std::numeric_limits<double>::max(), QStringLiteral("x"), QByteArray("\xff", 1),
         QByteArray("/")},
        {"int64 min, smallest double", false, std::numeric_limits<qint64>::min(),
         std::numeric_limits<double>::denorm_min(), QStringLiteral("x"), QByteArray(1, '\0'),
         QByteArray("/a")},
        {"zero bytes inside a blob, unicode text", false, -1, -0.1,
         QString::fromUtf8("caf\xc3\xa9 \xf0\x9f\x93\xb7 \xe6\x97\xa5\xe6\x9c\xac"),
         QByteArray("\0\x01\0\xfe\xff\0", 6), QByteArray("/photos/\xe6\x97\xa5.jpg")},
        {"path that is not UTF-8", false, 0, 0.0, QString(), QByteArray(),
         QByteArray("/photos/caf\xe9 \xff\xfe.jpg")},
        {"nulls", true, 0, 0.0, QString(), QByteArray(), QByteArray()},
    };
    for (const QString &backend : {kSqlite, kPostgres}) {
        for (const Case &c : cases)
            QTest::addRow("%s: %s", qPrintable(backend), c.name)
                << backend << c.null << c.integer << c.real << c.text << c.blob << c.pathBytes;
    }
}

void TestSqlDriver::bindsAndReadsEveryType() {
    QFETCH(QString, backend);
    QFETCH(bool, null);
    QFETCH(qint64, integer);
    QFETCH(double, real);
    QFETCH(QString, text);
    QFETCH(QByteArray, blob);
    QFETCH(QByteArray, pathBytes);
    OPEN_FRESH(db, backend);
    QVERIFY2(db.execScript(kTypesTable.pick(db.backend())), qPrintable(db.lastError("").message));
    const QString path = pathFromNative(pathBytes);

    auto insert = db.prepare("INSERT INTO t(i, d, s, b, p) VALUES (?1, ?2, ?3, ?4, ?5)");
    QVERIFY(insert.isValid());
    if (null)
        insert.bindNull(1).bindNull(2).bindNull(3).bindNull(4).bindNull(5);
    else
        insert.bind(1, integer)
            .bind(2, real)
            .bind(3, text)
            .bindBlob(4, blob.constData(), int(blob.size()))
            .bindPath(5, path);
    QVERIFY2(insert.exec(), qPrintable(db.lastError(QStringLiteral("inserting")).message));

    auto read = db.prepare("SELECT i, d, s, b, p FROM t");
    QVERIFY(read.step());
    for (int c = 0; c < 5; ++c)
        QCOMPARE(read.isNullAt(c), null);
    QCOMPARE(read.int64At(0), integer);
    QCOMPARE(read.doubleAt(1), real);
    QCOMPARE(read.textAt(2), text);
    QCOMPARE(read.blobAt(3), blob);
    QCOMPARE(nativePath(read.pathAt(4)), pathBytes);
    QCOMPARE(read.pathAt(4), path);
    QVERIFY(!read.step());
    QCOMPARE(read.failure(), sql::Failure::None);
}

void TestSqlDriver::readsColumnsOfEveryServerType_data() {
    // What each backend gives for expressions of its own types: the accessors convert as
    // SQLite does (a boolean or a number as an integer, a sum over integers exactly).
    QTest::addColumn<QString>("backend");
    QTest::addColumn<QString>("sql");
    QTest::addColumn<qint64>("integer");
    QTest::addColumn<double>("real");
    QTest::addColumn<QString>("text");
    QTest::newRow("sqlite: integer")
        << kSqlite << "SELECT 70000" << qint64(70000) << 70000.0 << "70000";
    QTest::newRow("sqlite: real") << kSqlite << "SELECT 2.5" << qint64(2) << 2.5 << "2.5";
    QTest::newRow("sqlite: numeric text")
        << kSqlite << "SELECT '123'" << qint64(123) << 123.0 << "123";
    QTest::newRow("postgres: smallint")
        << kPostgres << "SELECT (-7)::int2" << qint64(-7) << -7.0 << "-7";
    QTest::newRow("postgres: integer")
        << kPostgres << "SELECT 70000::int4" << qint64(70000) << 70000.0 << "70000";
    QTest::newRow("postgres: boolean") << kPostgres << "SELECT true" << qint64(1) << 1.0 << "1";
    QTest::newRow("postgres: real")
        << kPostgres << "SELECT 2.5::float4" << qint64(2) << 2.5 << "2.5";
    QTest::newRow("postgres: sum of bigints is numeric")
        << kPostgres << "SELECT sum(x) FROM (VALUES (4000000000::int8), (5000000000::int8)) v(x)"
        << qint64(9000000000) << 9e9 << "9000000000";
    QTest::newRow("postgres: negative numeric with a fraction")
        << kPostgres << "SELECT (-12345.5)::numeric" << qint64(-12345) << -12345.5 << "-12345.5";
    QTest::newRow("postgres: varchar")
        << kPostgres << "SELECT '123'::varchar" << qint64(123) << 123.0 << "123";
}

void TestSqlDriver::readsColumnsOfEveryServerType() {
    QFETCH(QString, backend);
    QFETCH(QString, sql);
    QFETCH(qint64, integer);
    QFETCH(double, real);
    QFETCH(QString, text);
    OPEN_FRESH(db, backend);
    const QByteArray q = sql.toUtf8();
    auto s = db.prepare(q.constData());
    QVERIFY2(s.step(), qPrintable(db.lastError(sql).message));
    QCOMPARE(s.int64At(0), integer);
    QCOMPARE(s.doubleAt(0), real);
    QCOMPARE(s.textAt(0), text);
    QVERIFY(!s.isNullAt(0));
}

void TestSqlDriver::pathLookupIsByExactBytes() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kTypesTable.pick(db.backend())));
    // Two names that differ only in a byte that is not UTF-8, and what Qt would decode both as.
    const QString a = pathFromNative(QByteArray("/p/\xe9.jpg"));
    const QString b = pathFromNative(QByteArray("/p/\xe8.jpg"));
    const QString lookalike = QString::fromUtf8(QByteArray("/p/\xe9.jpg"));
    auto insert = db.prepare("INSERT INTO t(p) VALUES (?1)");
    QVERIFY(insert.bindPath(1, a).exec());
    QVERIFY(insert.bindPath(1, b).exec());
    auto find = db.prepare("SELECT count(*) FROM t WHERE p = ?1");
    for (const QString &p : {a, b, lookalike}) {
        find.reset();
        find.bindPath(1, p);
        QVERIFY(find.step());
        QCOMPARE(find.int64At(0), qint64(p == lookalike ? 0 : 1));
    }
}

void TestSqlDriver::rewritesOnlyPlaceholdersOutsideQuotes_data() {
    QTest::addColumn<QString>("backend");
    QTest::addColumn<QString>("sql");
    QTest::addColumn<QString>("expected"); // column 0 with ?1 = 'X', ?2 = 'Y'
    struct Case {
        const char *name;
        const char *sql;
        const char *expected;
        bool postgresOnly;
    };
    const Case cases[] = {
        {"in a string literal", "SELECT '?1 and ?2 stay' || CAST(?2 AS TEXT)", "?1 and ?2 stayY",
         false},
        {"after a doubled quote", "SELECT 'it''s ?1' || CAST(?1 AS TEXT)", "it's ?1X", false},
        {"in a quoted identifier", "SELECT v.\"a?1\" FROM (SELECT CAST(?2 AS TEXT) AS \"a?1\") v",
         "Y", false},
        {"in comments", "SELECT /* ?2 */ CAST(?1 AS TEXT) -- ?2\n", "X", false},
        {"numbered out of order", "SELECT CAST(?2 AS TEXT) || CAST(?1 AS TEXT)", "YX", false},
        {"one parameter used twice", "SELECT CAST(?1 AS TEXT) || CAST(?1 AS TEXT)", "XX", false},
        {"in an escape string", "SELECT E'\\' ?1' || CAST(?2 AS TEXT)", "' ?1Y", true},
        {"in a dollar quote", "SELECT $q$ it's ?1 $q$ || CAST(?1 AS TEXT)", " it's ?1 X", true},
        {"in a nested comment", "SELECT /* a /* ?1 */ ?2 */ CAST(?1 AS TEXT)", "X", true},
    };
    for (const QString &backend : {kSqlite, kPostgres}) {
        for (const Case &c : cases) {
            if (c.postgresOnly && backend == kSqlite)
                continue;
            QTest::addRow("%s: %s", qPrintable(backend), c.name)
                << backend << QString::fromUtf8(c.sql) << QString::fromUtf8(c.expected);
        }
    }
}

void TestSqlDriver::rewritesOnlyPlaceholdersOutsideQuotes() {
    QFETCH(QString, backend);
    QFETCH(QString, sql);
    QFETCH(QString, expected);
    OPEN_FRESH(db, backend);
    const QByteArray q = sql.toUtf8();
    auto s = db.prepare(q.constData());
    QVERIFY2(s.isValid(), qPrintable(db.lastError(sql).message));
    s.bind(1, QStringLiteral("X")).bind(2, QStringLiteral("Y"));
    QVERIFY2(s.step(), qPrintable(db.lastError(sql).message));
    QCOMPARE(s.textAt(0), expected);
}

void TestSqlDriver::uncommittedTransactionRollsBack() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO u(name) VALUES (?1)");
    {
        sql::Transaction tx(db);
        QVERIFY(tx.isActive());
        QVERIFY(insert.bind(1, QStringLiteral("dropped")).exec());
        QCOMPARE(countRows(db, "u"), qint64(1)); // seen inside the transaction
    }
    QCOMPARE(countRows(db, "u"), qint64(0));
    {
        sql::Transaction tx(db);
        QVERIFY(insert.bind(1, QStringLiteral("kept")).exec());
        QVERIFY(tx.commit());
    }
    QCOMPARE(countRows(db, "u"), qint64(1));
    // A failed statement inside a transaction: the transaction does not commit what came before
    // it (PostgreSQL refuses the commit; the caller rolls back on the failure).
    {
        sql::Transaction tx(db);
        QVERIFY(insert.bind(1, QStringLiteral("second")).exec());
        QVERIFY(!insert.bind(1, QStringLiteral("kept")).exec());
        QCOMPARE(insert.failure(), sql::Failure::Constraint);
    }
    QCOMPARE(countRows(db, "u"), qint64(1));
    QCOMPARE(db.lastFailure(), sql::Failure::Constraint); // kept through the rollback
}

void TestSqlDriver::constraintViolationIsConstraintFailure() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO u(name) VALUES (?1)");
    QVERIFY(insert.bind(1, QStringLiteral("a")).exec());
    QCOMPARE(insert.failure(), sql::Failure::None);
    QVERIFY(!insert.bind(1, QStringLiteral("a")).exec());
    QCOMPARE(insert.failure(), sql::Failure::Constraint);
    QCOMPARE(db.lastFailure(), sql::Failure::Constraint);
    const Error e = db.lastError(QStringLiteral("adding a"));
    QVERIFY2(
        e.message.startsWith(QStringLiteral("adding a in ") + sql::redactedLocation(db.location())),
        qPrintable(e.message));
    QVERIFY(!insert.bindNull(1).exec()); // NOT NULL
    QCOMPARE(insert.failure(), sql::Failure::Constraint);
    QCOMPARE(countRows(db, "u"), qint64(1));
}

void TestSqlDriver::insertReturningGivesTheNewId() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO u(name) VALUES (?1) RETURNING id");
    auto idOf = db.prepare("SELECT id FROM u WHERE name = ?1");
    qint64 previous = 0;
    for (const QString &name : {QStringLiteral("a"), QStringLiteral("b"), QStringLiteral("c")}) {
        insert.reset();
        QVERIFY2(insert.bind(1, name).step(), qPrintable(db.lastError(name).message));
        const qint64 id = insert.int64At(0);
        QVERIFY(id > previous);
        previous = id;
        idOf.reset();
        QVERIFY(idOf.bind(1, name).step());
        QCOMPARE(idOf.int64At(0), id);
    }
    QCOMPARE(countRows(db, "u"), qint64(3));
}

void TestSqlDriver::changesCountsRowsOfTheLastWrite() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kTypesTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO t(i) VALUES (?1)");
    for (int i = 0; i < 10; ++i) {
        QVERIFY(insert.bind(1, i).exec());
        QCOMPARE(db.changes(), qint64(1));
    }
    auto count = db.prepare("SELECT count(*) FROM t WHERE i >= ?1");
    QVERIFY(count.bind(1, 6).step());
    const qint64 matching = count.int64At(0);
    count.reset();
    auto update = db.prepare("UPDATE t SET s = 'x' WHERE i >= ?1");
    QVERIFY(update.bind(1, 6).exec());
    QCOMPARE(db.changes(), matching);
    QVERIFY(count.bind(1, 0).step()); // a SELECT changes nothing
    count.reset();
    QCOMPARE(db.changes(), matching);
    auto del = db.prepare("DELETE FROM t WHERE i < ?1");
    QVERIFY(del.bind(1, 3).exec());
    QCOMPARE(db.changes(), qint64(3));
    QVERIFY(del.bind(1, -5).exec());
    QCOMPARE(db.changes(), qint64(0));
}

void TestSqlDriver::statementsRunWhileAnotherIsReadingRows() {
    // The catalog writes while it walks a query's rows; on PostgreSQL the connection runs one
    // query at a time, so the rows still to come are read ahead.
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kTypesTable.pick(db.backend())));
    QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
    constexpr int kRows = 500;
    {
        sql::Transaction tx(db);
        auto insert = db.prepare("INSERT INTO t(i) VALUES (?1)");
        for (int i = 0; i < kRows; ++i)
            QVERIFY(insert.bind(1, i).exec());
        QVERIFY(tx.commit());
    }
    auto walk = db.prepare("SELECT i FROM t ORDER BY i");
    auto copy = db.prepare("INSERT INTO u(name) VALUES (?1)");
    int seen = 0;
    while (walk.step()) {
        QCOMPARE(walk.int64At(0), qint64(seen));
        if (seen % 7 == 0)
            QVERIFY(copy.bind(1, QString::number(seen)).exec());
        ++seen;
    }
    QCOMPARE(walk.failure(), sql::Failure::None);
    QCOMPARE(seen, kRows);
    QCOMPARE(countRows(db, "u"), qint64((kRows + 6) / 7));
    // Stepping after the end runs the statement again, as sqlite3_step does.
    QVERIFY(walk.step());
    QCOMPARE(walk.int64At(0), qint64(0));
    // Left in the middle: the next statement still runs, and so does a new run of this one.
    QCOMPARE(countRows(db, "t"), qint64(kRows));
    walk.reset();
    QVERIFY(walk.step());
    QCOMPARE(walk.int64At(0), qint64(0));
}

void TestSqlDriver::resetAndReuseRunsWithNewBindings() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    QVERIFY(db.execScript(kTypesTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO t(i, s) VALUES (?1, ?2)");
    QVERIFY(insert.bind(1, 1).bind(2, QStringLiteral("one")).exec());
    QVERIFY(insert.exec()); // exec keeps the bindings: the same row again
    insert.reset();         // reset clears them: NULLs
    QVERIFY(insert.exec());
    auto s = db.prepare("SELECT count(*) FROM t WHERE i = 1 AND s = 'one'");
    QVERIFY(s.step());
    QCOMPARE(s.int64At(0), qint64(2));
    auto nulls = db.prepare("SELECT count(*) FROM t WHERE i IS NULL AND s IS NULL");
    QVERIFY(nulls.step());
    QCOMPARE(nulls.int64At(0), qint64(1));
}

void TestSqlDriver::invalidSqlIsAnInvalidStatementWithTheLocation() {
    QFETCH(QString, backend);
    OPEN_FRESH(db, backend);
    auto s = db.prepare("SELEC 1");
    QVERIFY(!s.isValid());
    QVERIFY(!s.step());
    QVERIFY(!s.exec());
    QCOMPARE(s.failure(), sql::Failure::Other);
    QCOMPARE(db.lastFailure(), sql::Failure::Other);
    const Error e = db.lastError(QStringLiteral("reading"));
    QVERIFY2(e.message.contains(sql::redactedLocation(db.location())), qPrintable(e.message));
    QVERIFY2(e.message.contains(QLatin1String("SELEC")), qPrintable(e.message));
    // The connection goes on.
    auto ok = db.prepare("SELECT 1");
    QVERIFY(ok.step());
}

void TestSqlDriver::readOnlyConnectionRefusesWrites() {
    QFETCH(QString, backend);
    QString location;
    {
        OPEN_FRESH(db, backend);
        QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
        QVERIFY(!db.isReadOnly());
        location = db.location();
    }
    auto opened = sql::Database::open(location, sql::Database::Mode::ReadOnly);
    QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error().message));
    sql::Database &db = **opened;
    QVERIFY(db.isReadOnly());
    QCOMPARE(countRows(db, "u"), qint64(0));
    auto insert = db.prepare("INSERT INTO u(name) VALUES ('a')");
    QVERIFY(!insert.exec());
    QCOMPARE(insert.failure(), sql::Failure::ReadOnly);
    QCOMPARE(db.lastFailure(), sql::Failure::ReadOnly);
}

void TestSqlDriver::redactsPasswordsFromLocations_data() {
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("shown");   // Redaction::Mask (messages)
    QTest::addColumn<QString>("without"); // Redaction::Remove (a key naming the catalog)
    QTest::newRow("user and password") << "postgresql://alice:s3cret@nas/photos"
                                       << "postgresql://alice:***@nas/photos"
                                       << "postgresql://alice@nas/photos";
    QTest::newRow("password with an encoded @") << "postgres://alice:p%40ss@nas:5433/photos"
                                                << "postgres://alice:***@nas:5433/photos"
                                                << "postgres://alice@nas:5433/photos";
    QTest::newRow("password with a raw @") << "postgresql://alice:p@ss@nas/photos"
                                           << "postgresql://alice:***@nas/photos"
                                           << "postgresql://alice@nas/photos";
    QTest::newRow("password with a raw ? and #")
        << "postgresql://alice:pa?s#s@nas/photos?sslmode=require"
        << "postgresql://alice:***@nas/photos?sslmode=require"
        << "postgresql://alice@nas/photos?sslmode=require";
    // Invalid (a '/' must be written %2F) but typed all the same: libpq reads no user name and
    // takes "ab" for the port; the message must not show the password either way.
    QTest::newRow("password with a raw /") << "postgresql://alice:ab/cd@nas/photos"
                                           << "postgresql://alice:***@nas/photos"
                                           << "postgresql://alice@nas/photos";
    QTest::newRow("ssl key password parameter")
        << "postgresql://alice@nas/photos?sslmode=require&sslpassword=k3y"
        << "postgresql://alice@nas/photos?sslmode=require&sslpassword=***"
        << "postgresql://alice@nas/photos?sslmode=require";
    QTest::newRow("password, no database") << "postgresql://alice:pa?ss@nas"
                                           << "postgresql://alice:***@nas"
                                           << "postgresql://alice@nas";
    QTest::newRow("password parameter") << "postgresql:///lib?host=/tmp/s&password=s3cret&port=5432"
                                        << "postgresql:///lib?host=/tmp/s&password=***&port=5432"
                                        << "postgresql:///lib?host=/tmp/s&port=5432";
    QTest::newRow("password the only parameter") << "postgresql://nas/lib?password=s3cret"
                                                 << "postgresql://nas/lib?password=***"
                                                 << "postgresql://nas/lib";
    QTest::newRow("no password") << "postgresql://alice@nas/photos"
                                 << "postgresql://alice@nas/photos"
                                 << "postgresql://alice@nas/photos";
    QTest::newRow("no user") << "postgresql:///lib?host=/tmp/s"
                             << "postgresql:///lib?host=/tmp/s"
                             << "postgresql:///lib?host=/tmp/s";
    QTest::newRow("file path") << "/home/alice/lib:secret@x.sqlite"
                               << "/home/alice/lib:secret@x.sqlite"
                               << "/home/alice/lib:secret@x.sqlite";
}

void TestSqlDriver::redactsPasswordsFromLocations() {
    QFETCH(QString, location);
    QFETCH(QString, shown);
    QFETCH(QString, without);
    QCOMPARE(sql::redactedLocation(location), shown);
    QCOMPARE(sql::redactedLocation(location, sql::Redaction::Remove), without);
    // What libpq may say about it, quoting the whole URL.
    QCOMPARE(sql::maskPasswords(QStringLiteral("bad \"%1\"").arg(location), location),
             QStringLiteral("bad \"%1\"").arg(shown));
}

// libpq splits a password holding a raw '@' at its first '@' and takes the rest for the host,
// which it quotes when it cannot find it: the pieces of the password are masked too.
void TestSqlDriver::libpqWordsQuotingPiecesOfAPasswordAreMasked_data() {
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("words");
    QTest::addColumn<QString>("masked");
    QTest::newRow("raw @") << "postgresql://alice:pw@rest@nas/photos"
                           << "could not translate host name \"rest@nas\" to address"
                           << "could not translate host name \"***@nas\" to address";
    QTest::newRow("raw /") << "postgresql://alice:12/rest@nas/photos"
                           << "database \"rest@nas/photos\" does not exist (port 12)"
                           << "database \"***@nas/photos\" does not exist (port ***)";
    QTest::newRow("percent-decoded") << "postgresql://alice:p%40ss@nas/photos"
                                     << "password for p@ss refused"
                                     << "password for *** refused";
    QTest::newRow("nothing to mask") << "postgresql://alice@nas/photos"
                                     << "connection refused"
                                     << "connection refused";
}

void TestSqlDriver::libpqWordsQuotingPiecesOfAPasswordAreMasked() {
    QFETCH(QString, location);
    QFETCH(QString, words);
    QFETCH(QString, masked);
    QCOMPARE(sql::maskPasswords(words, location), masked);
}

void TestSqlDriver::wrongPasswordIsAuthFailedNamingTheUser_data() {
    QTest::addColumn<QString>("password"); // what the client gives
    QTest::addColumn<bool>("accepted");
    QTest::newRow("right password") << QStringLiteral("Right-Horse-Battery") << true;
    QTest::newRow("wrong password") << QStringLiteral("wrong-Guess-42") << false;
    QTest::newRow("no password") << QString() << false;
}

void TestSqlDriver::wrongPasswordIsAuthFailedNamingTheUser() {
    QFETCH(QString, password);
    QFETCH(bool, accepted);
    if (!PgServer::available())
        QSKIP(qPrintable(PgServer::whyUnavailable()));
    if (!m_passwordServer)
        m_passwordServer =
            std::make_unique<PgServer>(PgServer::Options{QStringLiteral("Right-Horse-Battery")});
    PgServer &server = *m_passwordServer;
    if (!server.isRunning())
        QVERIFY2(server.start(), qPrintable(server.startError()));
    qunsetenv("PGPASSWORD");
    qputenv("PGPASSFILE", QFile::encodeName(m_tmp.filePath(QStringLiteral("no-pgpass"))));
    const QString url =
        server.url(QStringLiteral("postgres"), QStringLiteral("postgres"), password);
    sql::Failure failure = sql::Failure::None;
    auto db = sql::Database::open(url, sql::Database::Mode::ReadWrite, &failure);
    if (accepted) {
        QVERIFY2(db.ok(), db.ok() ? "" : qPrintable(db.error().message));
        QCOMPARE(failure, sql::Failure::None);
        return;
    }
    QVERIFY(!db);
    QCOMPARE(failure, sql::Failure::AuthFailed);
    const QString message = db.error().message;
    qInfo().noquote() << message;
    QVERIFY2(message.contains(QLatin1String("user postgres")), qPrintable(message));
    QVERIFY2(message.contains(sql::redactedLocation(url)), qPrintable(message));
    QVERIFY2(!message.contains(QLatin1String("Right-Horse-Battery")), qPrintable(message));
    if (!password.isEmpty()) {
        QVERIFY2(!message.contains(password), qPrintable(message));
        QVERIFY2(message.contains(QLatin1String("postgres:***@")), qPrintable(message));
        QVERIFY2(message.contains(QLatin1String("refused the password")), qPrintable(message));
    }
}

void TestSqlDriver::noServerAtTheAddressIsUnreachable() {
    QTemporaryDir empty; // a socket folder without a server
    QVERIFY(empty.isValid());
    const QString url = QStringLiteral("postgresql://alice:Not-Shown-9@/photos?host=%1&port=5432")
                            .arg(empty.path());
    sql::Failure failure = sql::Failure::None;
    auto db = sql::Database::open(url, sql::Database::Mode::ReadWrite, &failure);
    QVERIFY(!db);
    QCOMPARE(failure, sql::Failure::Unreachable);
    const QString message = db.error().message;
    qInfo().noquote() << message;
    QVERIFY2(message.startsWith(QStringLiteral("cannot reach the PostgreSQL server at ") +
                                sql::redactedLocation(url)),
             qPrintable(message));
    QVERIFY2(!message.contains(QLatin1String("Not-Shown-9")), qPrintable(message));
}

void TestSqlDriver::missingDatabaseIsNamed() {
    TS_PG_SHARED_SERVER(server);
    const QString url = server.url(QStringLiteral("no_such_library"));
    sql::Failure failure = sql::Failure::None;
    auto db = sql::Database::open(url, sql::Database::Mode::ReadWrite, &failure);
    QVERIFY(!db);
    QCOMPARE(failure, sql::Failure::Other);
    QCOMPARE(db.error().code, Error::Code::NotFound);
    const QString message = db.error().message;
    qInfo().noquote() << message;
    QVERIFY2(message.contains(url), qPrintable(message));
    QVERIFY2(message.contains(QLatin1String("does not exist")), qPrintable(message));
}

void TestSqlDriver::serverRestartIsConnectionLostThenReconnectWorks() {
    TS_PG_SHARED_SERVER(server);
    const auto url = server.freshDatabase();
    QVERIFY2(url.ok(), url.ok() ? "" : qPrintable(url.error().message));
    auto opened = sql::Database::open(*url);
    QVERIFY2(opened.ok(), opened.ok() ? "" : qPrintable(opened.error().message));
    sql::Database &db = **opened;
    QVERIFY(db.execScript(kUniqueTable.pick(db.backend())));
    auto insert = db.prepare("INSERT INTO u(name) VALUES (?1)");
    QVERIFY(insert.bind(1, QStringLiteral("before")).exec());
    {
        // A transaction open when the server goes: its work is gone, nothing half-written.
        sql::Transaction tx(db);
        QVERIFY(tx.isActive());
        QVERIFY(insert.bind(1, QStringLiteral("uncommitted")).exec());

        QVERIFY2(server.restart(), qPrintable(server.log()));
        QVERIFY(!insert.bind(1, QStringLiteral("lost")).exec());
        QCOMPARE(insert.failure(), sql::Failure::ConnectionLost);
        QCOMPARE(db.lastFailure(), sql::Failure::ConnectionLost);
        QVERIFY(!tx.commit());
    } // the rollback on a dead connection does nothing, and keeps the failure
    QCOMPARE(db.lastFailure(), sql::Failure::ConnectionLost);
    const QString message = db.lastError(QStringLiteral("adding")).message;
    qInfo().noquote() << message;
    QVERIFY2(message.contains(QLatin1String("connection to the PostgreSQL server was lost")),
             qPrintable(message));
    // Still lost until reconnected.
    auto count = db.prepare("SELECT count(*) FROM u");
    QCOMPARE(count.failure(), sql::Failure::ConnectionLost);

    QVERIFY2(db.reconnect(), qPrintable(db.lastError(QStringLiteral("reconnecting")).message));
    QVERIFY2(insert.bind(1, QStringLiteral("after")).exec(),
             qPrintable(db.lastError(QStringLiteral("adding")).message));
    QCOMPARE(countRows(db, "u"), qint64(2)); // "before" (committed) and "after", not "uncommitted"
}

QTEST_GUILESS_MAIN(TestSqlDriver)
#include "tst_sqldriver.moc"
