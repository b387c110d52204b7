// Where the library commands find the library: --db and $TOWERSEARCH_DB take a file or a
// PostgreSQL URL. A malformed URL is a usage error before anything connects or is created, a
// server that cannot be reached is a failure, and no message ever shows the URL's password.
#include "clirun.h"
#include "pgserver.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

namespace {

const QString kPassword = QStringLiteral("s3cret-pw");

ts::test::CliRun runCli(const QStringList &args, const QProcessEnvironment &env) {
    return ts::test::runCli(QStringLiteral(TOWERSEARCH_CLI_PATH), args, 60000, env);
}

// A home of its own, so nothing the CLI might create lands in the user's files.
QProcessEnvironment isolatedEnvironment(const QTemporaryDir &home) {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("HOME"), home.path());
    env.insert(QStringLiteral("XDG_DATA_HOME"), home.filePath(QStringLiteral("data")));
    env.insert(QStringLiteral("XDG_CACHE_HOME"), home.filePath(QStringLiteral("cache")));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), home.filePath(QStringLiteral("config")));
    env.remove(QStringLiteral("TOWERSEARCH_DB"));
    env.remove(QStringLiteral("PGPASSWORD"));
    return env;
}

} // namespace

class TestCliDatabase : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void malformedUrlIsAUsageErrorThatHidesThePassword_data();
    void malformedUrlIsAUsageErrorThatHidesThePassword();
    void helpSaysDbTakesAPostgresUrl();
    void unreachableServerFailsNamingTheUrlWithoutPassword();
    void wrongPasswordFailsWithoutShowingIt();
};

void TestCliDatabase::malformedUrlIsAUsageErrorThatHidesThePassword_data() {
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("fromEnvironment"); // $TOWERSEARCH_DB instead of --db
    QTest::addColumn<QString>("reason");       // what the message must say is wrong
    QTest::addColumn<QString>("shown");        // the URL as the message must show it

    QTest::newRow("port not a number, --db")
        << QStringLiteral("postgresql://alice:%1@nas:54x2/photos").arg(kPassword) << false
        << QStringLiteral("port \"54x2\"")
        << QStringLiteral("postgresql://alice:***@nas:54x2/photos");
    QTest::newRow("port out of range, $TOWERSEARCH_DB")
        << QStringLiteral("postgres://alice:%1@nas:99999/photos").arg(kPassword) << true
        << QStringLiteral("port \"99999\"")
        << QStringLiteral("postgres://alice:***@nas:99999/photos");
    QTest::newRow("unknown parameter, $TOWERSEARCH_DB")
        << QStringLiteral("postgresql://alice:%1@nas/photos?sslmod=require").arg(kPassword) << true
        << QStringLiteral("invalid URI query parameter: \"sslmod\"")
        << QStringLiteral("postgresql://alice:***@nas/photos?sslmod=require");
    // libpq quotes the whole URL here: the quote must be masked too.
    QTest::newRow("unterminated IPv6 address, --db")
        << QStringLiteral("postgresql://alice:%1@[::1/photos").arg(kPassword) << false
        << QStringLiteral("IPv6 host address")
        << QStringLiteral("postgresql://alice:***@[::1/photos");
    // libpq quotes the bad token, which is the password itself.
    QTest::newRow("bad percent-encoding in the password, --db")
        << QStringLiteral("postgresql://alice:%1%zz@nas/photos").arg(kPassword) << false
        << QStringLiteral("invalid percent-encoded token")
        << QStringLiteral("postgresql://alice:***@nas/photos");
    // An invalid URL typed all the same ('/' must be %2F): libpq takes the password for the port.
    QTest::newRow("raw / in the password, --db")
        << QStringLiteral("postgresql://alice:%1/x@nas/photos").arg(kPassword) << false
        << QStringLiteral("port \"***\"") << QStringLiteral("postgresql://alice:***@nas/photos");
    QTest::newRow("password parameter, bad port, --db")
        << QStringLiteral("postgresql:///photos?host=/tmp&password=%1&port=x").arg(kPassword)
        << false << QStringLiteral("port \"x\"")
        << QStringLiteral("postgresql:///photos?host=/tmp&password=***&port=x");
}

void TestCliDatabase::malformedUrlIsAUsageErrorThatHidesThePassword() {
    QFETCH(QString, url);
    QFETCH(bool, fromEnvironment);
    QFETCH(QString, reason);
    QFETCH(QString, shown);
    QTemporaryDir home, work;
    QVERIFY(home.isValid() && work.isValid());
    QProcessEnvironment env = isolatedEnvironment(home);
    QStringList args{QStringLiteral("status")};
    if (fromEnvironment)
        env.insert(QStringLiteral("TOWERSEARCH_DB"), url);
    else
        args << QStringLiteral("--db") << url;
    // Run in an empty folder: a URL taken for a relative file path would leave files here.
    const QString before = QDir::currentPath();
    QDir::setCurrent(work.path());
    const ts::test::CliRun r = runCli(args, env);
    QDir::setCurrent(before);

    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(reason), qPrintable(r.err));
    QVERIFY2(r.err.contains(shown), qPrintable(r.err));
    QVERIFY2(r.err.contains(fromEnvironment ? QStringLiteral("$TOWERSEARCH_DB")
                                            : QStringLiteral("--db")),
             qPrintable(r.err));
    QVERIFY2(!r.err.contains(kPassword) && !r.out.contains(kPassword), qPrintable(r.err));
    QVERIFY2(QDir(work.path()).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden),
             "the CLI created files for a malformed URL");
    QVERIFY(QDir(home.path()).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden));
}

void TestCliDatabase::helpSaysDbTakesAPostgresUrl() {
    QTemporaryDir home;
    const ts::test::CliRun r =
        runCli({QStringLiteral("status"), QStringLiteral("--help")}, isolatedEnvironment(home));
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(r.out.contains(QStringLiteral("postgresql://USER@HOST")), qPrintable(r.out));
    QVERIFY2(r.out.contains(QStringLiteral("$TOWERSEARCH_DB")), qPrintable(r.out));
}

// A socket folder with no server behind it: libpq cannot connect, the CLI says so in a sentence
// that names the URL with its password masked, and exits 1 having created nothing.
void TestCliDatabase::unreachableServerFailsNamingTheUrlWithoutPassword() {
    QTemporaryDir home, work, sockets;
    QVERIFY(home.isValid() && work.isValid() && sockets.isValid());
    const QString url =
        QStringLiteral("postgresql://alice:%1@/photos?host=%2").arg(kPassword, sockets.path());
    const QString before = QDir::currentPath();
    QDir::setCurrent(work.path());
    const ts::test::CliRun r =
        runCli({QStringLiteral("status"), QStringLiteral("--db"), url}, isolatedEnvironment(home));
    QDir::setCurrent(before);
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(
                 QStringLiteral("postgresql://alice:***@/photos?host=%1").arg(sockets.path())),
             qPrintable(r.err));
    QVERIFY2(!r.err.contains(kPassword) && !r.out.contains(kPassword), qPrintable(r.err));
    QVERIFY(QDir(work.path()).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden));
}

// A server that wants a password refuses the wrong one: exit 1, the user named, the password not.
void TestCliDatabase::wrongPasswordFailsWithoutShowingIt() {
    if (const QString why = ts::test::PgServer::whyUnavailable(); !why.isEmpty())
        QSKIP(qPrintable(why));
    ts::test::PgServer server(ts::test::PgServer::Options{QStringLiteral("right-pw-1")});
    const ts::Status started = server.start();
    QVERIFY2(started.ok(), started.ok() ? "" : qPrintable(started.error().message));
    QTemporaryDir home, work;
    QVERIFY(home.isValid() && work.isValid());
    const QString url =
        server.url(QStringLiteral("postgres"), QStringLiteral("postgres"), kPassword);
    const QString before = QDir::currentPath();
    QDir::setCurrent(work.path());
    const ts::test::CliRun r =
        runCli({QStringLiteral("status"), QStringLiteral("--db"), url}, isolatedEnvironment(home));
    QDir::setCurrent(before);
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(QStringLiteral("postgresql://postgres:***@")), qPrintable(r.err));
    QVERIFY2(r.err.contains(QStringLiteral("password")), qPrintable(r.err));
    QVERIFY2(!r.err.contains(kPassword) && !r.out.contains(kPassword), qPrintable(r.err));
    QVERIFY(QDir(work.path()).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden));
}

QTEST_GUILESS_MAIN(TestCliDatabase)
#include "tst_clidatabase.moc"
