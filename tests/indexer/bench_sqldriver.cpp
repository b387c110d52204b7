// Benchmark (not a test): the SQL seam writing and reading float vectors, as the catalog stores
// embeddings and a new client reads them all to build its index: a SQLite file against a
// PostgreSQL server on a Unix socket (tests/common/pgserver.h, started here). Prints rows/s,
// MB/s and how much the process's peak memory grew while reading (single-row mode keeps it flat).
//
//   bench_sqldriver [ROWS=100000] [DIMENSION=512]
#include "indexer/sqldatabase.h"
#include "loadaverage.h"
#include "pgserver.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace ts;

namespace {

long peakRssKiB() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

bool run(const char *name, const QString &location, int rows, int dimension) {
    auto opened = sql::Database::open(location);
    if (!opened) {
        std::fprintf(stderr, "%s: %s\n", name, qPrintable(opened.error().message));
        return false;
    }
    sql::Database &db = **opened;
    const char *schema = db.backend() == sql::Backend::Sqlite
                             ? "CREATE TABLE e(id INTEGER PRIMARY KEY, v BLOB NOT NULL)"
                             : "CREATE TABLE e(id BIGINT PRIMARY KEY, v BYTEA NOT NULL)";
    if (!db.execScript(schema)) {
        std::fprintf(stderr, "%s\n", qPrintable(db.lastError(QStringLiteral("schema")).message));
        return false;
    }
    std::vector<float> v(static_cast<size_t>(dimension));
    const double mb = double(rows) * dimension * sizeof(float) / 1e6;

    QElapsedTimer t;
    t.start();
    {
        sql::Transaction tx(db);
        auto insert = db.prepare("INSERT INTO e(id, v) VALUES (?1, ?2)");
        for (int i = 0; i < rows; ++i) {
            for (int d = 0; d < dimension; ++d)
                v[size_t(d)] = float(i) + float(d) * 1e-3f;
            insert.bind(1, qint64(i)).bindBlob(2, v.data(), int(v.size() * sizeof(float)));
            if (!insert.exec())
                break;
        }
        if (!tx.commit()) {
            std::fprintf(stderr, "%s\n",
                         qPrintable(db.lastError(QStringLiteral("inserting")).message));
            return false;
        }
    }
    const double writeS = double(t.nsecsElapsed()) / 1e9;

    const long rssBefore = peakRssKiB();
    t.restart();
    auto read = db.prepare("SELECT id, v FROM e ORDER BY id");
    qint64 n = 0;
    double checksum = 0;
    while (read.step()) {
        const QByteArray blob = read.blobAt(1);
        if (blob.size() != qsizetype(v.size() * sizeof(float)))
            return false;
        float first;
        std::memcpy(&first, blob.constData(), sizeof first);
        checksum += first - double(read.int64At(0));
        ++n;
    }
    const double readS = double(t.nsecsElapsed()) / 1e9;
    if (read.failure() != sql::Failure::None || n != rows || checksum != 0) {
        std::fprintf(stderr, "%s: read %lld rows, checksum %g\n", name, static_cast<long long>(n),
                     checksum);
        return false;
    }
    std::printf("%-10s write %8.0f rows/s (%6.1f MB/s)   read %8.0f rows/s (%6.1f MB/s)   "
                "peak RSS +%ld MiB while reading\n",
                name, rows / writeS, mb / writeS, rows / readS, mb / readS,
                (peakRssKiB() - rssBefore) / 1024);
    return true;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const int rows = argc > 1 ? std::atoi(argv[1]) : 100000;
    const int dimension = argc > 2 ? std::atoi(argv[2]) : 512;
    std::printf("%d vectors of %d floats (%.0f MB), load average %s\n", rows, dimension,
                double(rows) * dimension * 4 / 1e6, qPrintable(ts::test::loadAverage()));
    QTemporaryDir tmp;
    bool ok = run("sqlite", tmp.filePath(QStringLiteral("bench.sqlite")), rows, dimension);
    if (!test::PgServer::available()) {
        std::printf("postgres: skipped (%s)\n", qPrintable(test::PgServer::whyUnavailable()));
        return ok ? 0 : 1;
    }
    test::PgServer server;
    if (!server.start()) {
        std::fprintf(stderr, "%s\n", qPrintable(server.startError()));
        return 1;
    }
    const auto url = server.freshDatabase();
    if (!url) {
        std::fprintf(stderr, "%s\n", qPrintable(url.error().message));
        return 1;
    }
    ok = run("postgres", *url, rows, dimension) && ok;
    return ok ? 0 : 1;
}
