#pragma once

// A real PostgreSQL server for tests, in a temporary directory, on a Unix socket there (no TCP).
// Header-only; needs only the server binaries (Debian: `postgresql`, /usr/lib/postgresql/NN/bin).
//
// Usage in a Qt Test function:
//   TS_PG_SHARED_SERVER(server);            // QSKIPs (with the reason) when PostgreSQL is not
//                                           // installed; fails when it is and does not start
//   const auto url = server.freshDatabase(); // a new empty database for this test function
//   QVERIFY2(url.ok(), url.ok() ? "" : qPrintable(url.error().message)); // (Qt 6.4 evaluates
//                                            // the message even when the check passes)
//   auto db = sql::Database::open(*url);
//
// PostgreSQL refuses to run as root, and tests run as root in CI: then initdb, pg_ctl and the
// server run as `nobody` (setpriv), in a directory handed to nobody; clients (the test, as root)
// connect over the socket as the database superuser `postgres`. As any other user the server runs
// as that user. One shared server per test process (shared()), or servers of your own (e.g. with
// password authentication for wrong-password tests). Each is stopped and its directory removed by
// the destructor; a watchdog stops the server too if the test process dies without cleaning up.
//
// Not thread-safe: use from the test's main thread.

#include "core/common/result.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStringList>
#include <QTemporaryDir>
#include <QUrl>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace ts::test {

class PgServer {
public:
    struct Options {
        // Non-empty: the superuser `postgres` has this password and every connection must give it
        // (initdb --auth=scram-sha-256 --pwfile). Empty: trust, no password.
        QString password;
    };

    // The folder with initdb, pg_ctl and psql: $TOWERSEARCH_PG_BINDIR, else the newest
    // /usr/lib/postgresql/NN/bin, else the folder of initdb on PATH; empty when none is found.
    static QString binDir() {
        const QString fromEnv = qEnvironmentVariable("TOWERSEARCH_PG_BINDIR");
        if (!fromEnv.isEmpty())
            return hasBinaries(fromEnv) ? fromEnv : QString();
        QDir versions(QStringLiteral("/usr/lib/postgresql"));
        QStringList names = versions.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        std::sort(names.begin(), names.end(),
                  [](const QString &a, const QString &b) { return a.toInt() > b.toInt(); });
        for (const QString &v : names) {
            const QString dir = versions.filePath(v + QStringLiteral("/bin"));
            if (hasBinaries(dir))
                return dir;
        }
        for (const QString &dir : qEnvironmentVariable("PATH").split(QLatin1Char(':'))) {
            if (!dir.isEmpty() && hasBinaries(dir))
                return dir;
        }
        return {};
    }
    // Empty when a server can be started here; else why not, in a sentence for QSKIP.
    static QString whyUnavailable() {
        if (binDir().isEmpty())
            return QStringLiteral(
                "PostgreSQL server binaries (initdb, pg_ctl, psql) not found in "
                "/usr/lib/postgresql/*/bin, $TOWERSEARCH_PG_BINDIR or PATH: install `postgresql` "
                "(installer/install-deps.sh) to run the PostgreSQL tests");
        if (::geteuid() == 0) {
            if (!::getpwnam("nobody"))
                return QStringLiteral("running as root and there is no user `nobody` to run "
                                      "PostgreSQL as (it refuses to run as root)");
            if (setprivPath().isEmpty())
                return QStringLiteral("running as root and `setpriv` (util-linux) is missing: "
                                      "needed to run PostgreSQL as nobody");
        }
        return {};
    }
    static bool available() { return whyUnavailable().isEmpty(); }

    PgServer() : PgServer(Options{}) {}
    explicit PgServer(Options options) : m_options(std::move(options)) {}
    ~PgServer() {
        (void)stop();
        if (m_watchdog > 0)
            (void)QFile::remove(m_dir.path() + QStringLiteral("/watched")); // ends the watchdog
    }
    PgServer(const PgServer &) = delete;
    PgServer &operator=(const PgServer &) = delete;

    // The one server of this test process, started on first use (check isRunning(), or use
    // TS_PG_SHARED_SERVER). Stopped when the application quits.
    static PgServer &shared() {
        static PgServer server;
        if (!server.m_triedStart && available()) {
            (void)server.start();
            if (QCoreApplication::instance())
                qAddPostRoutine([] { (void)server.stop(); });
        }
        return server;
    }

    // initdb (the first time) and pg_ctl start; waits until the server accepts connections.
    Status start() {
        m_triedStart = true;
        if (m_running)
            return {};
        if (const QString why = whyUnavailable(); !why.isEmpty())
            return fail(why);
        if (!m_dir.isValid())
            return fail(QStringLiteral("cannot create a temporary directory for the server: %1")
                            .arg(m_dir.errorString()));
        if (!m_initialized) {
            if (Status s = initdb(); !s)
                return s;
            m_initialized = true;
            startWatchdog();
        }
        auto r =
            runServerTool(QStringLiteral("pg_ctl"),
                          {QStringLiteral("-D"), dataDir(), QStringLiteral("-o"), serverOptions(),
                           QStringLiteral("-l"), logPath(), QStringLiteral("-w"),
                           QStringLiteral("-t"), QStringLiteral("60"), QStringLiteral("start")});
        if (!r)
            return fail(r.error().message + QStringLiteral("\nserver log:\n") + log());
        m_running = true;
        m_startError.clear();
        return {};
    }
    // pg_ctl stop -m fast (connections are cut). The data stays: start() again works.
    Status stop() {
        if (!m_running)
            return {};
        m_running = false;
        auto r =
            runServerTool(QStringLiteral("pg_ctl"),
                          {QStringLiteral("-D"), dataDir(), QStringLiteral("-m"),
                           QStringLiteral("fast"), QStringLiteral("-w"), QStringLiteral("stop")});
        return r ? Status() : Status(r.error());
    }
    // pg_ctl restart -m fast: every open connection is cut (for reconnect tests).
    Status restart() {
        if (!m_running)
            return start();
        auto r =
            runServerTool(QStringLiteral("pg_ctl"),
                          {QStringLiteral("-D"), dataDir(), QStringLiteral("-o"), serverOptions(),
                           QStringLiteral("-l"), logPath(), QStringLiteral("-m"),
                           QStringLiteral("fast"), QStringLiteral("-w"), QStringLiteral("-t"),
                           QStringLiteral("60"), QStringLiteral("restart")});
        if (!r) {
            m_running = false;
            return fail(r.error().message + QStringLiteral("\nserver log:\n") + log());
        }
        return {};
    }

    bool isRunning() const { return m_running; }
    // Why the last start failed (with the server log), for QVERIFY2.
    const QString &startError() const { return m_startError; }
    // The directory holding the socket (and the data directory, data/).
    QString socketDir() const { return m_dir.path(); }
    int port() const { return kPort; }
    QString log() const {
        QFile f(logPath());
        return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    }

    // A libpq URL for `database` over this server's socket, as `user` (with `password` when
    // given): postgresql://user[:password]@/database?host=<socket dir>&port=5432
    QString url(const QString &database, const QString &user = QStringLiteral("postgres"),
                const QString &password = {}) const {
        QString out =
            QStringLiteral("postgresql://") + QString::fromUtf8(QUrl::toPercentEncoding(user));
        if (!password.isEmpty())
            out += QLatin1Char(':') + QString::fromUtf8(QUrl::toPercentEncoding(password));
        return out + QStringLiteral("@/") + QString::fromUtf8(QUrl::toPercentEncoding(database)) +
               QStringLiteral("?host=") +
               QString::fromUtf8(QUrl::toPercentEncoding(socketDir(), "/")) +
               QStringLiteral("&port=") + QString::number(kPort);
    }
    // The superuser's URL (with the password of Options when set).
    QString adminUrl(const QString &database) const {
        return url(database, QStringLiteral("postgres"), m_options.password);
    }

    // Creates an empty database; returns its adminUrl().
    Result<QString> createDatabase(const QString &name) {
        QString quoted = name;
        quoted.replace(QLatin1Char('"'), QStringLiteral("\"\""));
        auto r =
            psql(QStringLiteral("postgres"), QStringLiteral("CREATE DATABASE \"%1\"").arg(quoted));
        if (!r)
            return r.error();
        return adminUrl(name);
    }
    // A new empty database with a name not used before in this process (ts_test_1, ...): one per
    // test function keeps tests independent. Returns its adminUrl().
    Result<QString> freshDatabase() {
        return createDatabase(QStringLiteral("ts_test_%1").arg(++m_databases));
    }

    // Runs SQL with psql as the superuser; returns what it printed (unaligned, tuples only,
    // trimmed), or an error with psql's message.
    Result<QString> psql(const QString &database, const QString &sql) const {
        QProcess p;
        QProcessEnvironment env = cleanEnvironment();
        if (!m_options.password.isEmpty())
            env.insert(QStringLiteral("PGPASSWORD"), m_options.password);
        p.setProcessEnvironment(env);
        p.start(binDir() + QStringLiteral("/psql"),
                {QStringLiteral("-X"), QStringLiteral("-q"), QStringLiteral("-A"),
                 QStringLiteral("-t"), QStringLiteral("-v"), QStringLiteral("ON_ERROR_STOP=1"),
                 QStringLiteral("-h"), socketDir(), QStringLiteral("-p"), QString::number(kPort),
                 QStringLiteral("-U"), QStringLiteral("postgres"), QStringLiteral("-d"), database,
                 QStringLiteral("-c"), sql});
        if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit ||
            p.exitCode() != 0) {
            p.kill();
            p.waitForFinished(1000);
            return Error(Error::Code::Io,
                         QStringLiteral("psql on %1 failed (%2): %3")
                             .arg(database, sql, QString::fromUtf8(p.readAllStandardError())));
        }
        return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
    }

private:
    static constexpr int kPort = 5432; // each server has its own socket folder

    static bool hasBinaries(const QString &dir) {
        for (const char *tool : {"initdb", "pg_ctl", "psql", "postgres"}) {
            if (!QFileInfo(dir + QLatin1Char('/') + QLatin1String(tool)).isExecutable())
                return false;
        }
        return true;
    }
    static QString setprivPath() {
        for (const char *p : {"/usr/bin/setpriv", "/bin/setpriv"}) {
            if (QFileInfo(QString::fromLatin1(p)).isExecutable())
                return QString::fromLatin1(p);
        }
        return {};
    }
    static bool asRoot() { return ::geteuid() == 0; }
    static QString nobodyGroup() {
        return QString::fromLatin1(::getgrnam("nogroup") ? "nogroup" : "nobody");
    }
    // Our own environment, without the PG* variables a developer may have set (they would
    // redirect psql to another server).
    static QProcessEnvironment cleanEnvironment() {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const QString &key : env.keys()) {
            if (key.startsWith(QLatin1String("PG")))
                env.remove(key);
        }
        return env;
    }
    // /tmp when there (short socket paths: a Unix socket path holds at most 107 bytes, and nobody
    // can reach it), else the system's temporary folder.
    static QString tempBase() {
        return QFileInfo(QStringLiteral("/tmp")).isDir() ? QStringLiteral("/tmp")
                                                         : QDir::tempPath();
    }

    QString dataDir() const { return m_dir.path() + QStringLiteral("/data"); }
    QString logPath() const { return m_dir.path() + QStringLiteral("/server.log"); }
    // fsync off: a throwaway server; a test never survives a power cut.
    QString serverOptions() const {
        return QStringLiteral("-k %1 -p %2 -c listen_addresses='' -c fsync=off "
                              "-c synchronous_commit=off -c full_page_writes=off")
            .arg(socketDir())
            .arg(kPort);
    }

    Status fail(const QString &why) {
        m_startError = QStringLiteral("cannot start the test PostgreSQL server in %1: %2")
                           .arg(m_dir.path(), why);
        return Error(Error::Code::Io, m_startError);
    }

    // Hands `path` to nobody when we are root (the server runs as nobody).
    static bool giveToServerUser(const QString &path) {
        if (!asRoot())
            return true;
        const passwd *pw = ::getpwnam("nobody");
        return pw && ::chown(QFile::encodeName(path).constData(), pw->pw_uid, pw->pw_gid) == 0;
    }

    // Runs initdb, pg_ctl... (as nobody when root); the output is in the error when it fails.
    Result<QString> runServerTool(const QString &tool, const QStringList &args) const {
        QString program = binDir() + QLatin1Char('/') + tool;
        QStringList all = args;
        if (asRoot()) {
            all = QStringList{QStringLiteral("--reuid=nobody"),
                              QStringLiteral("--regid=") + nobodyGroup(),
                              QStringLiteral("--clear-groups"), program} +
                  args;
            program = setprivPath();
        }
        QProcess p;
        p.setProcessEnvironment(cleanEnvironment());
        p.setWorkingDirectory(m_dir.path()); // nobody cannot enter root's working directory
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(program, all);
        if (!p.waitForFinished(120000) || p.exitStatus() != QProcess::NormalExit ||
            p.exitCode() != 0) {
            p.kill();
            p.waitForFinished(1000);
            return Error(Error::Code::Io, QStringLiteral("%1 %2 failed: %3")
                                              .arg(tool, args.join(QLatin1Char(' ')),
                                                   QString::fromUtf8(p.readAll())));
        }
        return QString::fromUtf8(p.readAll());
    }

    Status initdb() {
        if (!giveToServerUser(m_dir.path()))
            return fail(QStringLiteral("cannot hand %1 to the user nobody").arg(m_dir.path()));
        QStringList args{QStringLiteral("-D"),
                         dataDir(),
                         QStringLiteral("-U"),
                         QStringLiteral("postgres"),
                         QStringLiteral("-E"),
                         QStringLiteral("UTF8"),
                         QStringLiteral("--locale=C.UTF-8"),
                         QStringLiteral("--no-sync")};
        const QString pwfile = m_dir.path() + QStringLiteral("/pwfile");
        if (m_options.password.isEmpty()) {
            args << QStringLiteral("--auth=trust");
        } else {
            QFile f(pwfile);
            if (!f.open(QIODevice::WriteOnly) || f.write(m_options.password.toUtf8() + '\n') < 0)
                return fail(QStringLiteral("cannot write %1").arg(pwfile));
            f.close();
            if (!giveToServerUser(pwfile))
                return fail(QStringLiteral("cannot hand %1 to the user nobody").arg(pwfile));
            args << QStringLiteral("--auth=scram-sha-256") << QStringLiteral("--pwfile=") + pwfile;
        }
        auto r = runServerTool(QStringLiteral("initdb"), args);
        QFile::remove(pwfile);
        if (!r)
            return fail(r.error().message);
        return {};
    }

    // A detached shell that stops the server and removes its folder when this process is gone
    // (a crashed or killed test), so no stray server is left behind. It ends on its own once the
    // destructor has removed the `watched` marker.
    void startWatchdog() {
        const QString marker = m_dir.path() + QStringLiteral("/watched");
        QFile f(marker);
        if (!f.open(QIODevice::WriteOnly))
            return;
        f.close();
        QString stopCmd = binDir() + QStringLiteral("/pg_ctl -D '") + dataDir() +
                          QStringLiteral("' -m immediate stop");
        if (asRoot())
            stopCmd = setprivPath() + QStringLiteral(" --reuid=nobody --regid=") + nobodyGroup() +
                      QStringLiteral(" --clear-groups ") + stopCmd;
        const QString script =
            QStringLiteral("cd /; while [ -d /proc/%1 ] && [ -e '%2' ]; do sleep 1; done; "
                           "if [ -e '%2' ]; then %3 >/dev/null 2>&1; rm -rf '%4'; fi")
                .arg(QString::number(QCoreApplication::applicationPid()), marker, stopCmd,
                     m_dir.path());
        QProcess::startDetached(QStringLiteral("/bin/sh"), {QStringLiteral("-c"), script},
                                QStringLiteral("/"), &m_watchdog);
    }

    Options m_options;
    QTemporaryDir m_dir{tempBase() + QStringLiteral("/tspg-XXXXXX")};
    bool m_initialized = false;
    bool m_running = false;
    bool m_triedStart = false;
    QString m_startError;
    int m_databases = 0;
    qint64 m_watchdog = 0;
};

} // namespace ts::test

// In a Qt Test function: `server` is the process's shared PgServer. QSKIPs with the reason when
// PostgreSQL cannot run here (not installed); fails when it is installed but does not start.
#define TS_PG_SHARED_SERVER(server)                                                                \
    if (!::ts::test::PgServer::available())                                                        \
        QSKIP(qPrintable(::ts::test::PgServer::whyUnavailable()));                                 \
    ::ts::test::PgServer &server = ::ts::test::PgServer::shared();                                 \
    QVERIFY2(server.isRunning(), qPrintable(server.startError()))
