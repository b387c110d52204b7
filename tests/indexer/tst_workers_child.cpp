// One indexing worker (worker mode, issue 17) over DB with the fake embedder, for tst_workers and
// for benchmarks: every embedded path is appended to LOG, each embed() call sleeps DELAY_MS (a
// fixed cost per batch, like a model). Usage:
//   tst_workers_child DB LOG DELAY_MS BATCH LEASE_SECONDS NAME [--no-renew] [--follow]
//                     [--add-folder DIR | --only-add-folder DIR] [--gate FILE]
// --add-folder: adds DIR to the library first; --only-add-folder: adds it and exits.
// --discovery-interval S: no discovery while the last one is younger than S seconds.
// --gate: each embed() call waits until FILE exists (a test holds a batch in hand with it).
// --root NAME=PATH: this machine maps the library root NAME to PATH (repeatable).
//   tst_workers_child --generate DIR N: writes N small distinct photos into DIR (for benchmarks).
// Prints "worker started" once the library is open, then at the end
// "embedded N failed M copied C removed R" (this worker's committed work). Exit 0 when the queue
// is drained, 1 on an error. The library's folders are the catalog's (add them before).
#include "fakeembedder.h"
#include "indexer/library.h"
#include "indexertestutil.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QThread>

#include <cstdio>

using namespace ts;

namespace {

// The fake embedder, holding each batch until the gate file exists.
class GatedEmbedder : public test::FakeEmbedder {
public:
    Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) override {
        while (!gate.isEmpty() && !QFileInfo::exists(gate))
            QThread::msleep(20);
        return FakeEmbedder::embed(pixels);
    }
    QString gate;
};

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() == 4 && args[1] == QLatin1String("--generate")) {
        for (int i = 0; i < args[3].toInt(); ++i)
            if (!test::writePhoto(args[2] + QStringLiteral("/d%1/p%2.png").arg(i % 10).arg(i),
                                  quint32(i), 16, 16))
                return 1;
        return 0;
    }
    if (args.size() < 7) {
        qWarning("usage: tst_workers_child DB LOG DELAY_MS BATCH LEASE_SECONDS NAME [--no-renew] "
                 "[--follow] [--add-folder DIR | --only-add-folder DIR] [--gate FILE] "
                 "[--discovery-interval S] [--root NAME=PATH]");
        return 2;
    }
    LibraryOptions options;
    options.databasePath = args[1];
    // Each worker its own local files (as on its own machine): index file, thumbnails.
    options.cacheDirectory = args[2] + QStringLiteral(".cache");
    options.watchFolders = false;
    options.batchSize = args[4].toInt();
    options.worker.enabled = true;
    options.worker.leaseSeconds = args[5].toInt();
    options.worker.name = args[6];
    options.worker.renewLeases = !args.contains(QStringLiteral("--no-renew"));
    options.worker.follow = args.contains(QStringLiteral("--follow"));
    options.worker.pollMilliseconds = 100;
    if (const qsizetype at = args.indexOf(QStringLiteral("--discovery-interval")); at > 0)
        options.worker.discoveryIntervalSeconds = args.value(at + 1).toInt();
    for (qsizetype i = 0; i + 1 < args.size(); ++i)
        if (args[i] == QLatin1String("--root"))
            options.rootMounts.insert(args[i + 1].section(QLatin1Char('='), 0, 0),
                                      args[i + 1].section(QLatin1Char('='), 1));
    auto lib = Library::open(options);
    if (!lib) {
        qWarning("%s", qPrintable(lib.error().message));
        return 1;
    }
    auto embedder = std::make_shared<GatedEmbedder>();
    if (const qsizetype at = args.indexOf(QStringLiteral("--gate")); at > 0)
        embedder->gate = args.value(at + 1);
    embedder->logFile = args[2];
    embedder->delayMs = args[3].toInt();
    if (Status s = (*lib)->setEmbedder(embedder); !s) {
        qWarning("%s", qPrintable(s.error().message));
        return 1;
    }
    const bool onlyAdd = args.contains(QStringLiteral("--only-add-folder"));
    if (const qsizetype at = args.indexOf(onlyAdd ? QStringLiteral("--only-add-folder")
                                                  : QStringLiteral("--add-folder"));
        at > 0) {
        if (Status s = (*lib)->addFolder(args.value(at + 1)); !s) {
            qWarning("%s", qPrintable(s.error().message));
            return 1;
        }
        if (onlyAdd)
            return 0;
    }
    int code = 0;
    QObject::connect(lib->get(), &Library::errorOccurred, [&](const QString &m) {
        qWarning("%s", qPrintable(m));
        code = 1;
    });
    QObject::connect(lib->get(), &Library::indexingFinished, &app, [&] {
        const IndexRunSummary s = (*lib)->lastRunSummary();
        std::printf("embedded %lld failed %lld copied %lld removed %lld\n",
                    static_cast<long long>(s.embedded), static_cast<long long>(s.failed),
                    static_cast<long long>(s.copied), static_cast<long long>(s.removed));
        std::fflush(stdout);
        app.exit(code);
    });
    (*lib)->startIndexing();
    std::fputs("worker started\n", stdout);
    std::fflush(stdout);
    return app.exec();
}
