// Benchmark (not a test): the time a new client takes to build its vector index from a catalog's
// vectors, and an incremental sync of changes written by another writer (syncbench.h).
//
//   bench_librarysync [PHOTOS=100000] [DIMENSION=512] [CHANGES=1000] [LOCATION]
// LOCATION: a SQLite file or a postgresql:// URL of an empty database (default: a temporary
// SQLite file).
#include "loadaverage.h"
#include "syncbench.h"

#include <QCoreApplication>
#include <QFile>
#include <QTemporaryDir>

#include <cstdio>

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const qint64 photos = argc > 1 ? QString::fromLocal8Bit(argv[1]).toLongLong() : 100000;
    const int dimension = argc > 2 ? QString::fromLocal8Bit(argv[2]).toInt() : 512;
    const qint64 changes = argc > 3 ? QString::fromLocal8Bit(argv[3]).toLongLong() : 1000;
    QTemporaryDir tmp;
    const QString location =
        argc > 4 ? QString::fromLocal8Bit(argv[4]) : tmp.filePath(QStringLiteral("library.sqlite"));
    auto t = ts::bench::measureIndexSync(location, tmp.path(), photos, dimension, changes);
    if (!t) {
        std::fprintf(stderr, "%s\n", qPrintable(t.error().message));
        return 1;
    }
    std::printf("%lld photos x %d floats, %lld changes (half new, half removed)\n",
                static_cast<long long>(photos), dimension, static_cast<long long>(changes));
    std::printf("generate rows          %8.2f s\n", t->generateSeconds);
    std::printf("                         wall s    cpu s\n");
    std::printf("new client: build+save %8.2f %8.2f\n", t->newClientSeconds,
                t->newClientCpuSeconds);
    std::printf("reopen + sync changes  %8.3f %8.3f\n", t->reopenSyncSeconds,
                t->reopenSyncCpuSeconds);
    std::printf("live sync of changes   %8.3f %8.3f  (%lld rows read)\n", t->liveSyncSeconds,
                t->liveSyncCpuSeconds, static_cast<long long>(t->rowsRead));
    std::printf("load average after: %s\n", qPrintable(ts::test::loadAverage()));
    return 0;
}
