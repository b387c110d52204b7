// towersearch-cli index DIR...: adds folders to the library and indexes them (incremental and
// resumable: Ctrl+C stops after the batch in flight, a later `index` goes on from there).
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QTimer>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace ts::cli {

namespace {

std::atomic<bool> g_interrupted{false};

void onIndexInterrupt(int) {
    g_interrupted = true;
} // async-signal-safe: only sets the flag

QString duration(qint64 seconds) {
    if (seconds < 0)
        return QStringLiteral("?");
    if (seconds < 60)
        return QStringLiteral("%1s").arg(seconds);
    if (seconds < 3600)
        return QStringLiteral("%1m%2s")
            .arg(seconds / 60)
            .arg(seconds % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1h%2m")
        .arg(seconds / 3600)
        .arg((seconds / 60) % 60, 2, 10, QLatin1Char('0'));
}

} // namespace

static int runIndex(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption exclude(QStringLiteral("exclude"),
                                     QStringLiteral("Never index this folder (repeatable)."),
                                     QStringLiteral("DIR"));
    const QCommandLineOption batch(QStringLiteral("batch"),
                                   QStringLiteral("Photos per batch/transaction (default 8)."),
                                   QStringLiteral("N"));
    parser.addOptions({exclude, batch});
    parser.addPositionalArgument(
        QStringLiteral("DIR"),
        QStringLiteral("Folders to add and index (none: re-index the library's folders)."),
        QStringLiteral("[DIR...]"));
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "Index photo folders into the library: new and changed photos are embedded, "
                "moved ones recognised, deleted ones removed. Ctrl+C stops cleanly; run "
                "again to resume."));
        code >= 0)
        return code;
    LibraryOptions options;
    options.excludedFolders = parser.values(exclude);
    if (parser.isSet(batch)) {
        bool ok = false;
        options.batchSize = parser.value(batch).toInt(&ok);
        if (!ok || options.batchSize < 1) {
            err(QStringLiteral("towersearch-cli index: --batch needs a positive number\n"));
            return kExitUsage;
        }
    }
    int exitCode = kExitOk;
    // Threads: the model gets the cores, the decode pool runs beside it (I/O-bound mostly).
    auto pipeline = common.load(parser, QStringLiteral("index"), kHeadContrastive, exitCode);
    if (!pipeline)
        return exitCode;
    auto lib = library.open(parser, QStringLiteral("index"), exitCode, options);
    if (!lib)
        return exitCode;
    for (const QString &dir : parser.positionalArguments()) {
        if (Status s = lib->addFolder(dir); !s) {
            err(QStringLiteral("towersearch-cli index: %1\n").arg(s.error().message));
            return kExitInput;
        }
    }
    if (lib->folders().isEmpty()) {
        err(QStringLiteral(
            "towersearch-cli index: the library has no folders: give at least one DIR\n"));
        return kExitUsage;
    }
    if (Status s = lib->setPipeline(pipeline); !s || !(s = lib->waitForModel()))
        return reportError(s.error());

    const bool json = parser.isSet(common.json);
    const bool tty = !json && ::isatty(STDERR_FILENO);
    QEventLoop loop;
    QString lastError;
    bool cancelled = false;
    QElapsedTimer sinceLine;
    int lastWidth = 0;
    QObject::connect(lib.get(), &Library::progressChanged, &loop, [&](const IndexProgress &p) {
        if (json)
            return;
        if (tty) {
            // One redrawn line on stderr: [#####.....] done/total rate ETA file
            constexpr int kBar = 24;
            const int filled = p.total > 0 ? int(kBar * p.done / p.total) : 0;
            QString line =
                p.discovering
                    ? QStringLiteral("looking for photos... %1 found").arg(p.total)
                    : QStringLiteral("[%1%2] %3/%4  %5/s  ETA %6  %7")
                          .arg(QString(filled, QLatin1Char('#')),
                               QString(kBar - filled, QLatin1Char('.')))
                          .arg(p.done)
                          .arg(p.total)
                          .arg(p.photosPerSecond, 0, 'f', 1)
                          .arg(duration(p.etaSeconds))
                          .arg(p.paused
                                   ? QStringLiteral("(paused)")
                                   : printablePath(p.currentFile.section(QLatin1Char('/'), -1)));
            line = line.left(110);
            const int width = int(line.size());
            err(QStringLiteral("\r") + line +
                QString(std::max(0, lastWidth - width), QLatin1Char(' ')));
            lastWidth = width;
        } else if (!sinceLine.isValid() || sinceLine.elapsed() >= 1000 ||
                   (p.total > 0 && p.done == p.total)) {
            // Logs and pipes: a plain line at most once a second.
            sinceLine.start();
            out(QStringLiteral("progress %1/%2 failed %3 %4 photos/s eta %5\n")
                    .arg(p.done)
                    .arg(p.total)
                    .arg(p.failed)
                    .arg(p.photosPerSecond, 0, 'f', 1)
                    .arg(duration(p.etaSeconds)));
        }
    });
    QObject::connect(lib.get(), &Library::errorOccurred, &loop,
                     [&](const QString &m) { lastError = m; });
    QObject::connect(lib.get(), &Library::indexingFinished, &loop, [&](bool c) {
        cancelled = c;
        loop.quit();
    });
    g_interrupted = false;
    struct sigaction action {};
    action.sa_handler = onIndexInterrupt;
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    sigaction(SIGINT, &action, &previous);
    sigaction(SIGTERM, &action, nullptr);
    QTimer poll; // the handler only sets a flag; the event loop turns it into a clean cancel
    bool interrupted = false;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (g_interrupted && !interrupted) {
            interrupted = true;
            if (tty)
                err(QStringLiteral("\ninterrupted: finishing the batch in flight...\n"));
            lib->cancelIndexing();
        }
    });
    poll.start(50);
    lib->startIndexing();
    loop.exec();
    poll.stop();
    sigaction(SIGINT, &previous, nullptr);
    if (tty && lastWidth > 0)
        err(QStringLiteral("\n"));

    const IndexRunSummary s = lib->lastRunSummary();
    const LibraryStats stats = lib->stats();
    if (json) {
        nlohmann::json failures = nlohmann::json::array();
        for (const PhotoRecord &r : lib->failedPhotos())
            failures.push_back({{"path", toJson(r.path)}, {"error", toJson(r.error)}});
        printJson({{"database", toJson(stats.databasePath)},
                   {"model", toJson(stats.indexingModelKey)},
                   {"embedded", s.embedded},
                   {"moved", s.moved},
                   {"copied", s.copied},
                   {"removed", s.removed},
                   {"failed", s.failed},
                   {"skipped", s.skipped},
                   {"interrupted", interrupted},
                   {"error", s.error.isEmpty() ? nlohmann::json(nullptr) : toJson(s.error)},
                   {"photos", stats.photos},
                   {"indexed", stats.indexed},
                   {"pending", stats.pending},
                   {"failures", failures}});
    } else {
        out(QStringLiteral(
                "%1: %2 embedded, %3 moved, %4 copied, %5 removed, %6 failed, %7 unchanged\n")
                .arg(interrupted
                         ? QStringLiteral("interrupted")
                         : (s.error.isEmpty() ? QStringLiteral("done") : QStringLiteral("stopped")))
                .arg(s.embedded)
                .arg(s.moved)
                .arg(s.copied)
                .arg(s.removed)
                .arg(s.failed)
                .arg(s.skipped));
        out(QStringLiteral("library: %1 photos, %2 indexed, %3 pending, %4 failed (%5)\n")
                .arg(stats.photos)
                .arg(stats.indexed)
                .arg(stats.pending)
                .arg(stats.failed)
                .arg(stats.databasePath));
        if (stats.failed > 0)
            out(QStringLiteral(
                "run 'towersearch-cli status' to list the photos that could not be indexed\n"));
        if (interrupted)
            out(QStringLiteral("run the same command again to resume\n"));
    }
    if (!s.error.isEmpty() || !lastError.isEmpty()) {
        err(QStringLiteral("towersearch-cli index: %1\n")
                .arg(s.error.isEmpty() ? lastError : s.error));
        return kExitFailure;
    }
    Q_UNUSED(cancelled);
    return interrupted ? kExitInterrupted : kExitOk;
}

CliCommand indexCommand() {
    return {QStringLiteral("index"),
            QStringLiteral("Add photo folders to the library and index them."), runIndex};
}

} // namespace ts::cli
