// Benchmark (not a test) of a shared library (README, Shared library): N generated small photos
// indexed by 1, 2, 4 ... worker processes over one catalog with a fake embedder of a fixed cost per
// photo; prints photos/s per worker count, the time a new client takes to build its local vector
// index from the catalog's vectors, and the database size per photo.
//
//   bench_shared_library [--photos 100000] [--workers 1,2,4] [--cost-ms 2] [--batch 32]
//                        [--db URL] [--dir DIR (photos reused when already there)]
//
// The catalog: a fresh database per worker count on the PostgreSQL server the benchmark starts
// (tests/common/pgserver.h), or, with --db, the given one (it must be empty, so then only one
// worker count per run); without a server in this build, a SQLite file per worker count.
// Each worker is a process (this program with --worker-child, in worker mode), as on separate
// machines.
#include "fakeembedder.h"
#include "indexer/library.h"
#include "indexer/librarylocation.h"
#include "indexertestutil.h"
#include "loadaverage.h"

#if __has_include("pgserver.h")
#include "pgserver.h"
#define TS_BENCH_HAS_PGSERVER 1
#endif

#include <QCoreApplication>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QProcess>
#include <QTemporaryDir>

#include <cstdio>
#include <memory>
#include <optional>

using namespace ts;

namespace {

const QString kModelKey = QStringLiteral("bench-fake");
constexpr int kDimension = 512; // the real model's

// The fake model with a fixed cost per photo (a model's time grows with the batch).
class CostlyEmbedder : public test::FakeEmbedder {
public:
    explicit CostlyEmbedder(int costMs) : FakeEmbedder(kModelKey, kDimension), m_costMs(costMs) {}
    Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) override {
        QThread::msleep(ulong(m_costMs) * ulong(pixels.size()));
        return FakeEmbedder::embed(pixels);
    }

private:
    int m_costMs;
};

struct Options {
    int photos = 100000;
    QList<int> workers{1, 2, 4};
    int costMs = 2;
    int batch = 32;
    QString db, dir;
};

Result<Options> parse(const QStringList &args) {
    Options o;
    for (int i = 1; i < args.size(); ++i) {
        const QString &a = args[i];
        const QString value = args.value(i + 1);
        auto number = [&](int &out) {
            bool ok = false;
            out = value.toInt(&ok);
            ++i;
            return ok && out >= 0;
        };
        bool ok = true;
        if (a == QLatin1String("--photos"))
            ok = number(o.photos) && o.photos > 0;
        else if (a == QLatin1String("--cost-ms"))
            ok = number(o.costMs);
        else if (a == QLatin1String("--batch"))
            ok = number(o.batch) && o.batch > 0;
        else if (a == QLatin1String("--db"))
            o.db = args.value(++i);
        else if (a == QLatin1String("--dir"))
            o.dir = args.value(++i);
        else if (a == QLatin1String("--workers")) {
            o.workers.clear();
            for (const QString &w : args.value(++i).split(QLatin1Char(','))) {
                const int n = w.toInt(&ok);
                if (!ok || n < 1)
                    break;
                o.workers << n;
            }
        } else
            ok = false;
        if (!ok)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("bad argument %1 (see the comment at the top of "
                                        "bench_shared_library.cpp)")
                             .arg(a));
    }
    if (!o.db.isEmpty() && o.workers.size() > 1)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("--db takes one worker count per run (the database must be "
                                    "empty): give --workers N"));
    return o;
}

LibraryOptions libraryOptions(const QString &location, const QString &cacheDirectory, int batch) {
    LibraryOptions options;
    options.databasePath = location;
    options.cacheDirectory = cacheDirectory;
    options.watchFolders = false;
    options.batchSize = batch;
    return options;
}

// One worker process (`index --worker`: claim a batch under a lease, embed it, commit it, until
// the queue is empty and no live worker holds a lease) over the library at `location` (its
// folders added by the parent), with the costly fake embedder; then prints "embedded K".
int runOneWorker(const QString &location, const QString &cacheDirectory, int costMs, int batch) {
    LibraryOptions options = libraryOptions(location, cacheDirectory, batch);
    options.worker.enabled = true;
    options.worker.name = QFileInfo(cacheDirectory).fileName();
    auto lib = Library::open(options);
    if (!lib) {
        std::fprintf(stderr, "worker: %s\n", qPrintable(lib.error().message));
        return 1;
    }
    auto embedder = std::make_shared<CostlyEmbedder>(costMs);
    if (Status st = (*lib)->setEmbedder(embedder); !st || !(st = (*lib)->waitForModel())) {
        std::fprintf(stderr, "worker: %s\n", qPrintable(st.error().message));
        return 1;
    }
    QEventLoop loop;
    QObject::connect(lib->get(), &Library::indexingFinished, &loop, &QEventLoop::quit);
    (*lib)->startIndexing();
    loop.exec();
    std::printf("embedded %d\n", embedder->calls.load());
    return 0;
}

// Starts `count` worker processes on the library and waits for all: wall seconds and the photos
// they embedded together, or an error naming the worker that failed.
Result<std::pair<double, qint64>> runWorkers(const QString &location, const QString &cacheRoot,
                                             int count, const Options &o) {
    std::vector<std::unique_ptr<QProcess>> workers;
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < count; ++i) {
        auto p = std::make_unique<QProcess>();
        p->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        p->start(QCoreApplication::applicationFilePath(),
                 {QStringLiteral("--worker-child"), location,
                  cacheRoot + QStringLiteral("/worker-%1").arg(i), QString::number(o.costMs),
                  QString::number(o.batch)});
        workers.push_back(std::move(p));
    }
    qint64 embedded = 0;
    for (size_t i = 0; i < workers.size(); ++i) {
        QProcess &p = *workers[i];
        if (!p.waitForFinished(-1) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0)
            return Error(Error::Code::Internal, QStringLiteral("worker %1 failed").arg(i));
        const QByteArray out = p.readAllStandardOutput();
        embedded += out.mid(out.indexOf("embedded ") + 9).trimmed().toLongLong();
    }
    return std::pair{timer.elapsed() / 1000.0, embedded};
}

// A new client: a Library with an empty cache folder builds its vector index from the catalog's
// vectors (no embedding). Seconds, and the vectors it holds.
Result<std::pair<double, qint64>> newClientSync(const QString &location,
                                                const QString &cacheDirectory) {
    QElapsedTimer timer;
    timer.start();
    auto lib = Library::open(libraryOptions(location, cacheDirectory, 32));
    if (!lib)
        return lib.error();
    // A SQLite library keeps its index file beside the database: drop it to measure the build.
    QFile::remove((*lib)->vectorIndexPath(kModelKey));
    auto embedder = std::make_shared<CostlyEmbedder>(0);
    if (Status st = (*lib)->setEmbedder(embedder); !st || !(st = (*lib)->waitForModel()))
        return st.error();
    const double seconds = timer.elapsed() / 1000.0;
    if (embedder->calls > 0)
        return Error(Error::Code::Internal, QStringLiteral("the new client embedded photos"));
    return std::pair{seconds, (*lib)->stats().indexed};
}

qint64 databaseBytes(const QString &location) {
    if (!isDatabaseUrl(location))
        return QFileInfo(location).size() + QFileInfo(location + QStringLiteral("-wal")).size();
    QProcess psql;
    psql.start(QStringLiteral("psql"),
               {QStringLiteral("-Atc"),
                QStringLiteral("select pg_database_size(current_database())"), location});
    psql.waitForFinished(60000);
    return psql.readAllStandardOutput().trimmed().toLongLong();
}

void generatePhotos(const QString &dir, int n) {
    QElapsedTimer t;
    t.start();
    int generated = 0;
    for (int i = 0; i < n; ++i) {
        const QString path =
            dir + QStringLiteral("/%1/%2.jpg").arg(i / 1000, 3, 10, QLatin1Char('0')).arg(i);
        if (!QFileInfo::exists(path)) {
            test::writePhoto(path, quint32(i), 64, 48);
            ++generated;
        }
    }
    std::printf("photos: %d (%d generated in %.1f s)\n", n, generated, t.elapsed() / 1000.0);
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.value(1) == QLatin1String("--worker-child"))
        return runOneWorker(args.value(2), args.value(3), args.value(4).toInt(),
                            args.value(5).toInt());
    const auto o = parse(args);
    if (!o) {
        std::fprintf(stderr, "bench_shared_library: %s\n", qPrintable(o.error().message));
        return 2;
    }
    QTemporaryDir tmp;
    const QString dir = o->dir.isEmpty() ? tmp.path() : o->dir;
    const QString photos = dir + QStringLiteral("/photos");
    generatePhotos(photos, o->photos);
#ifdef TS_BENCH_HAS_PGSERVER
    test::PgServer server;
    if (o->db.isEmpty()) {
        if (Status started = server.start(); !started)
            std::printf("no PostgreSQL server (%s): SQLite files instead\n",
                        qPrintable(started.error().message));
    }
#endif
    std::printf("fake model: %d ms per photo, batches of %d, vectors of %d floats\n", o->costMs,
                o->batch, kDimension);
    std::printf("workers  photos/s  seconds  embedded | new client: index build s  vectors | "
                "database bytes/photo\n");
    for (const int count : o->workers) {
        const QString run =
            dir + QStringLiteral("/run-%1-%2").arg(count).arg(QDateTime::currentMSecsSinceEpoch());
        QString location = o->db;
#ifdef TS_BENCH_HAS_PGSERVER
        if (location.isEmpty() && server.isRunning()) {
            const auto created = server.createDatabase(QStringLiteral("bench_w%1").arg(count));
            if (!created) {
                std::fprintf(stderr, "%s\n", qPrintable(created.error().message));
                return 1;
            }
            location = *created;
        }
#endif
        if (location.isEmpty())
            location = run + QStringLiteral("/library.sqlite");
        {
            auto lib = Library::open(libraryOptions(location, run + QStringLiteral("/parent"), 32));
            if (!lib || !(*lib)->addFolder(photos)) {
                std::fprintf(stderr, "cannot open %s\n", qPrintable(redactedLocation(location)));
                return 1;
            }
        }
        const auto workers = runWorkers(location, run, count, *o);
        if (!workers) {
            std::fprintf(stderr, "%s\n", qPrintable(workers.error().message));
            return 1;
        }
        const auto [seconds, embedded] = *workers;
        const auto client = newClientSync(location, run + QStringLiteral("/new-client"));
        if (!client) {
            std::fprintf(stderr, "new client: %s\n", qPrintable(client.error().message));
            return 1;
        }
        std::printf("%7d  %8.1f  %7.1f  %8lld | %25.2f  %7lld | %9.0f\n", count,
                    o->photos / seconds, seconds, embedded, client->first, client->second,
                    double(databaseBytes(location)) / o->photos);
        std::fflush(stdout);
    }
    bool postgres = isDatabaseUrl(o->db);
#ifdef TS_BENCH_HAS_PGSERVER
    postgres = postgres || server.isRunning();
#endif
    std::printf("load average: %s\n", qPrintable(test::loadAverage()));
    std::printf("catalog: %s on %s\n",
                o->db.isEmpty() ? "a fresh database per worker count"
                                : qPrintable(redactedLocation(o->db)),
                postgres ? "PostgreSQL" : "SQLite");
    return 0;
}
