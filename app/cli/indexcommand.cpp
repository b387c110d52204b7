// towersearch-cli index DIR...: adds folders to the library and indexes them (incremental and
// resumable: Ctrl+C stops after the batch in flight, a later `index` goes on from there).
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

#include "indexer/librarylocation.h"
#include "indexer/rootmapper.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFileInfo>
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

// While it lives, Ctrl+C and SIGTERM only raise a flag (the event loop turns it into a clean
// cancel); the previous Ctrl+C handler comes back after.
class InterruptFlag {
public:
    InterruptFlag() {
        g_interrupted = false;
        struct sigaction action {};
        action.sa_handler = onIndexInterrupt;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, &m_previous);
        sigaction(SIGTERM, &action, nullptr);
    }
    ~InterruptFlag() { sigaction(SIGINT, &m_previous, nullptr); }
    InterruptFlag(const InterruptFlag &) = delete;
    InterruptFlag &operator=(const InterruptFlag &) = delete;

    bool raised() const { return g_interrupted; }

private:
    struct sigaction m_previous {};
};

// Indexing progress: on a terminal one redrawn line on stderr with a bar; in logs and pipes a plain
// line on stdout at most once a second; nothing with --json.
class ProgressPrinter {
public:
    enum class Style { None, Terminal, Log };
    explicit ProgressPrinter(Style style) : m_style(style) {}

    bool onTerminal() const { return m_style == Style::Terminal; }

    void print(const IndexProgress &p) {
        if (m_style == Style::Terminal)
            redrawLine(p);
        else if (m_style == Style::Log)
            logLine(p);
    }

    // Ends the redrawn line, if one was drawn.
    void finish() {
        if (m_style == Style::Terminal && m_lastWidth > 0)
            err(QStringLiteral("\n"));
    }

private:
    // [#####.....] done/total rate ETA file
    void redrawLine(const IndexProgress &p) {
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
                      .arg(p.paused ? QStringLiteral("(paused)")
                                    : printablePath(p.currentFile.section(QLatin1Char('/'), -1)));
        line = line.left(110);
        const int width = int(line.size());
        err(QStringLiteral("\r") + line +
            QString(std::max(0, m_lastWidth - width), QLatin1Char(' ')));
        m_lastWidth = width;
    }

    void logLine(const IndexProgress &p) {
        if (m_sinceLine.isValid() && m_sinceLine.elapsed() < 1000 &&
            !(p.total > 0 && p.done == p.total))
            return;
        m_sinceLine.start();
        out(QStringLiteral("progress %1/%2 failed %3 %4 photos/s eta %5\n")
                .arg(p.done)
                .arg(p.total)
                .arg(p.failed)
                .arg(p.photosPerSecond, 0, 'f', 1)
                .arg(duration(p.etaSeconds)));
    }

    Style m_style;
    QElapsedTimer m_sinceLine;
    int m_lastWidth = 0;
};

struct IndexingOutcome {
    bool interrupted = false;
    QString lastError; // the last errorOccurred() message
};

// Runs one indexing pass to its end, printing progress; Ctrl+C cancels it after the batch in
// flight.
IndexingOutcome indexUntilFinished(Library &lib, ProgressPrinter &progress) {
    IndexingOutcome outcome;
    QEventLoop loop;
    QObject::connect(&lib, &Library::progressChanged, &loop,
                     [&](const IndexProgress &p) { progress.print(p); });
    QObject::connect(&lib, &Library::errorOccurred, &loop,
                     [&](const QString &m) { outcome.lastError = m; });
    // The summary says whether it was cancelled (interrupted below), so the flag is not needed.
    QObject::connect(&lib, &Library::indexingFinished, &loop, [&](bool) { loop.quit(); });
    {
        const InterruptFlag interrupt;
        QTimer poll; // the handler only sets a flag; the event loop turns it into a clean cancel
        QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
            if (interrupt.raised() && !outcome.interrupted) {
                outcome.interrupted = true;
                if (progress.onTerminal())
                    err(QStringLiteral("\ninterrupted: finishing the batch in flight...\n"));
                lib.cancelIndexing();
            }
        });
        poll.start(50);
        lib.startIndexing();
        loop.exec();
        poll.stop();
    }
    progress.finish();
    return outcome;
}

void printSummaryJson(const Library &lib, const IndexRunSummary &s, const LibraryStats &stats,
                      bool interrupted) {
    nlohmann::json failures = nlohmann::json::array();
    for (const PhotoRecord &r : lib.failedPhotos())
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
}

void printSummaryText(const IndexRunSummary &s, const LibraryStats &stats, bool interrupted) {
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

// On a shared library a folder outside every library root is the same path on every machine:
// another machine that has that path (the same user name's ~/Pictures) would index its own files
// there. Said once, when the folder is given; the folder is added all the same.
void warnIfNotUnderARoot(const Library &lib, const QString &dir) {
    if (!isDatabaseUrl(lib.catalogLocation()))
        return;
    const QString path = QFileInfo(dir).absoluteFilePath();
    if (RootMapper(lib.rootMounts()).rootContaining(path))
        return;
    err(QStringLiteral("towersearch-cli index: warning: %1 is not under a library root, so every "
                       "machine indexing this shared library takes it for its own folder of that "
                       "path; name the share with 'towersearch-cli roots add NAME %1' (see the "
                       "README's Shared library)\n")
            .arg(path));
}

// The library with the command line's folders added, indexing with the model; on failure prints
// why and sets `exitCode`.
std::unique_ptr<Library> openForIndexing(const QCommandLineParser &parser,
                                         const ModelOptions &model,
                                         const LibraryCliOptions &library,
                                         const LibraryOptions &options, int &exitCode) {
    const QString command = QStringLiteral("index");
    // Threads: the model gets the cores, the decode pool runs beside it (I/O-bound mostly).
    auto pipeline = model.load(parser, command, kHeadContrastive, exitCode);
    if (!pipeline)
        return {};
    auto lib = library.open(parser, command, exitCode, options);
    if (!lib)
        return {};
    for (const QString &dir : parser.positionalArguments()) {
        if (Status s = lib->addFolder(dir); !s) {
            err(QStringLiteral("towersearch-cli index: %1\n").arg(s.error().message));
            exitCode = kExitInput;
            return {};
        }
        warnIfNotUnderARoot(*lib, dir);
    }
    if (lib->folders().isEmpty() && !options.worker.enabled) {
        exitCode = usageError(command, QStringLiteral("the library has no folders: give at "
                                                      "least one DIR"));
        return {};
    }
    if (const auto stop = attachPipeline(*lib, pipeline)) {
        exitCode = *stop;
        return {};
    }
    return lib;
}

// --worker and its options (worker mode: one of many workers sharing the library's queue).
struct WorkerCliOptions {
    QCommandLineOption worker{
        QStringLiteral("worker"),
        QStringLiteral("Share the work with other workers on this database (other processes or "
                       "machines): claim batches from the shared queue, embed, commit.")};
    QCommandLineOption name{QStringLiteral("name"),
                            QStringLiteral("Worker name shown by status (default host:pid)."),
                            QStringLiteral("N")};
    QCommandLineOption lease{
        QStringLiteral("lease-seconds"),
        QStringLiteral("A worker's batch goes to another worker when it has not renewed it "
                       "for this long (default 60)."),
        QStringLiteral("S")};
    QCommandLineOption follow{
        QStringLiteral("follow"),
        QStringLiteral("With --worker: keep waiting for work and look for new photos every few "
                       "minutes, instead of exiting when the queue is empty.")};

    void addTo(QCommandLineParser &parser) const {
        parser.addOptions({worker, name, lease, follow});
    }

    // The options given, or a usage error (a bad number, options without --worker).
    Result<IndexQueueOptions> parse(const QCommandLineParser &parser) const {
        IndexQueueOptions q;
        q.enabled = parser.isSet(worker);
        q.name = parser.value(name);
        q.follow = parser.isSet(follow);
        const Result<int> seconds = positiveIntOption(parser, lease, q.leaseSeconds);
        if (!seconds)
            return seconds.error();
        q.leaseSeconds = *seconds;
        if (!q.enabled && (parser.isSet(name) || parser.isSet(lease) || parser.isSet(follow)))
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("--name, --lease-seconds and --follow need --worker"));
        return q;
    }
};

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
    const WorkerCliOptions worker;
    parser.addOptions({exclude, batch});
    worker.addTo(parser);
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
    const Result<int> batchSize = positiveIntOption(parser, batch, options.batchSize);
    if (!batchSize)
        return usageError(QStringLiteral("index"), batchSize.error().message);
    options.batchSize = *batchSize;
    const Result<IndexQueueOptions> queue = worker.parse(parser);
    if (!queue)
        return usageError(QStringLiteral("index"), queue.error().message);
    options.worker = *queue;
    int exitCode = kExitOk;
    auto lib = openForIndexing(parser, common, library, options, exitCode);
    if (!lib)
        return exitCode;

    const bool json = parser.isSet(common.json);
    ProgressPrinter progress(json                      ? ProgressPrinter::Style::None
                             : ::isatty(STDERR_FILENO) ? ProgressPrinter::Style::Terminal
                                                       : ProgressPrinter::Style::Log);
    const IndexingOutcome outcome = indexUntilFinished(*lib, progress);

    const IndexRunSummary s = lib->lastRunSummary();
    const LibraryStats stats = lib->stats();
    if (json)
        printSummaryJson(*lib, s, stats, outcome.interrupted);
    else
        printSummaryText(s, stats, outcome.interrupted);
    if (!s.error.isEmpty() || !outcome.lastError.isEmpty()) {
        err(QStringLiteral("towersearch-cli index: %1\n")
                .arg(s.error.isEmpty() ? outcome.lastError : s.error));
        return kExitFailure;
    }
    return outcome.interrupted ? kExitInterrupted : kExitOk;
}

CliCommand indexCommand() {
    return {QStringLiteral("index"),
            QStringLiteral("Add photo folders to the library and index them."), runIndex};
}

} // namespace ts::cli
