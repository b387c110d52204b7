#pragma once

// Where a test's catalog lives, so that every catalog and indexer test runs on both backends:
// a SQLite file in the test's temporary folder, or, when TOWERSEARCH_TEST_BACKEND=postgres (the
// `<name>_pg` ctest entries that towersearch_add_test(... BOTH_BACKENDS) registers), a fresh
// database on the one PostgreSQL server of this test process (pgserver.h, started on first use).
//
// Usage:
//   QTemporaryDir tmp;
//   auto catalog = Catalog::open(test::catalogLocation(tmp));
//   TS_SKIP_ON_POSTGRES("a read-only mount is a SQLite file's behaviour");
#include "indexer/sqldatabase.h"
#include "pgserver.h"

#include <QFile>
#include <QHash>
#include <QString>
#include <QTemporaryDir>
#include <QTest>

namespace ts::test {

// This process runs the suite against PostgreSQL.
inline bool isPostgresRun() {
    return qgetenv("TOWERSEARCH_TEST_BACKEND") == "postgres";
}

// The catalog standing for the SQLite file `sqlitePath`: that path, or on the PostgreSQL run the
// URL of a database created for it on first use (the same URL for the same path afterwards, so a
// test can reopen its library; another path gets another, empty database). Fails the calling
// test (an empty string, with the reason logged) when the server cannot be started.
inline QString catalogLocation(const QString &sqlitePath) {
    if (!isPostgresRun())
        return sqlitePath;
    static QHash<QString, QString> databases; // tests run on one thread
    if (const auto it = databases.constFind(sqlitePath); it != databases.constEnd())
        return *it;
    // A library on a URL keeps its local files under <XDG cache home>/towersearch/shared: one
    // folder for this process (and the helpers it starts, some as nobody), not the user's own.
    static QTemporaryDir cacheHome;
    if (databases.isEmpty()) {
        QFile::setPermissions(cacheHome.path(), QFileDevice::Permissions(0x7777));
        qputenv("XDG_CACHE_HOME", QFile::encodeName(cacheHome.path()));
    }
    PgServer &server = PgServer::shared();
    if (!server.isRunning()) {
        qWarning("%s", qPrintable(server.startError()));
        return {};
    }
    auto url = server.freshDatabase();
    if (!url) {
        qWarning("%s", qPrintable(url.error().message));
        return {};
    }
    databases.insert(sqlitePath, *url);
    return *url;
}

// dir/library.sqlite, or a fresh PostgreSQL database for `dir` on the PostgreSQL run.
inline QString catalogLocation(const QTemporaryDir &dir) {
    return catalogLocation(dir.filePath(QStringLiteral("library.sqlite")));
}

// Runs SQL (statements without parameters) on the catalog at `location` behind the Catalog's
// back: how a test plants an older schema or a changed row. Empty on success, else why not.
inline QString execSql(const QString &location, const char *sql) {
    auto db = sql::Database::open(location);
    if (!db)
        return db.error().message;
    if (!(*db)->execScript(sql))
        return (*db)->lastError(QStringLiteral("running a test's SQL")).message;
    return {};
}

} // namespace ts::test

// Skips the calling test function on the PostgreSQL run, printing why: only for what is a SQLite
// file's own behaviour (a read-only mount, max_page_count, WAL files, the file's bytes).
#define TS_SKIP_ON_POSTGRES(reason)                                                                \
    do {                                                                                           \
        if (ts::test::isPostgresRun())                                                             \
            QSKIP("SQLite-file behaviour, not run on PostgreSQL: " reason);                        \
    } while (false)
