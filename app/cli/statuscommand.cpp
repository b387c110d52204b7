// towersearch-cli status: what the library holds (folders, counts, failures, model, database).
// --json schema (stable): {"database": str, "database_bytes": int, "model": str|null (serving
// search),
//   "indexing_model": str|null, "models": [{"key": str, "embeddings": int}], "photos": int,
//   "indexed": int, "pending": int, "failed": int, "offline": int, "read_only": bool,
//   "folders": [{"path": str, "indexed": int, "pending": int, "failed": int, "offline": int,
//                "folder_offline": bool, "last_scan": ISO-8601|null}],
//   "offline_directories": [{"path": str, "reason": str, "since": ISO-8601}],
//   "failures": [{"path": str, "error": str}], "consistency": "ok" | what is wrong,
//   "precision": "f32" | "bf16" | "int8", "precision_reason": str,
//   "queue": {"queued": int, "leased": int} (worker mode's shared queue),
//   "workers": [{"name", "model", "state": "idle"|"discovering"|"embedding"|"stopped"|"gone",
//                "started", "heartbeat" (ISO-8601), "embedded", "failed", "current_batch",
//                "last_error": str|null}]}
// The precision is the one model-using commands run in with the same options (--precision, auto by
// default), and why; embeddings of every precision of one model are kept and searched together.
// Offline: photos under folders that could not be listed at the last scan (an unmounted disk, no
// permission, a dangling link); they stay searchable and come back without re-embedding.
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

#include <QDateTime>
#include <QLocale>

namespace ts::cli {

namespace {

// Everything `status` prints, read from the library once.
struct LibraryReport {
    LibraryStats stats;
    QList<WatchedFolder> folders;
    QList<PhotoRecord> failures;
    QList<OfflineDirectory> offline;
    QString consistency;
    PrecisionChoice precision;
    WorkQueueStatus queue; // worker mode's shared queue and its workers
};

nlohmann::json workersJson(const WorkQueueStatus &q) {
    nlohmann::json jw = nlohmann::json::array();
    for (const WorkerInfo &w : q.workers)
        jw.push_back(
            {{"name", toJson(w.name)},
             {"model", toJson(w.modelKey)},
             {"state", toJson(w.state)},
             {"started",
              toJson(QDateTime::fromMSecsSinceEpoch(w.startedMs).toUTC().toString(Qt::ISODate))},
             {"heartbeat",
              toJson(QDateTime::fromMSecsSinceEpoch(w.heartbeatMs).toUTC().toString(Qt::ISODate))},
             {"embedded", w.embedded},
             {"failed", w.failed},
             {"current_batch", w.currentBatch},
             {"last_error",
              w.lastError.isEmpty() ? nlohmann::json(nullptr) : toJson(w.lastError)}});
    return jw;
}

nlohmann::json orNull(const QString &s) {
    return s.isEmpty() ? nlohmann::json(nullptr) : toJson(s);
}

nlohmann::json foldersJson(const QList<WatchedFolder> &folders) {
    nlohmann::json jf = nlohmann::json::array();
    for (const WatchedFolder &f : folders)
        jf.push_back(
            {{"path", toJson(f.path)},
             {"indexed", f.photoCount},
             {"pending", f.pendingCount},
             {"failed", f.failedCount},
             {"offline", f.offlineCount},
             {"folder_offline", f.offline},
             {"last_scan", f.lastScan.isValid() ? toJson(f.lastScan.toUTC().toString(Qt::ISODate))
                                                : nlohmann::json(nullptr)}});
    return jf;
}

void printReportJson(const LibraryReport &r) {
    const LibraryStats &stats = r.stats;
    nlohmann::json jfail = nlohmann::json::array();
    for (const PhotoRecord &p : r.failures)
        jfail.push_back({{"path", toJson(p.path)}, {"error", toJson(p.error)}});
    nlohmann::json joff = nlohmann::json::array();
    for (const OfflineDirectory &o : r.offline)
        joff.push_back({{"path", toJson(o.path)},
                        {"reason", toJson(o.reason)},
                        {"since", toJson(o.since.toUTC().toString(Qt::ISODate))}});
    nlohmann::json models = nlohmann::json::array();
    for (const auto &[key, count] : stats.modelEmbeddings)
        models.push_back({{"key", toJson(key)}, {"embeddings", count}});
    printJson({{"database", toJson(stats.databasePath)},
               {"database_bytes", stats.databaseBytes},
               {"model", orNull(stats.modelKey)},
               {"indexing_model", orNull(stats.indexingModelKey)},
               {"models", models},
               {"photos", stats.photos},
               {"indexed", stats.indexed},
               {"pending", stats.pending},
               {"failed", stats.failed},
               {"offline", stats.offline},
               {"read_only", stats.readOnly},
               {"folders", foldersJson(r.folders)},
               {"offline_directories", joff},
               {"failures", jfail},
               {"consistency", toJson(r.consistency)},
               {"queue", {{"queued", r.queue.queued}, {"leased", r.queue.leased}}},
               {"workers", workersJson(r.queue)},
               {"precision", toJson(precisionName(r.precision.precision))},
               {"precision_reason", toJson(r.precision.reason)}});
}

void printReportText(const LibraryReport &r) {
    const LibraryStats &stats = r.stats;
    out(QStringLiteral("database: %1 (%2 KiB%3)\n")
            .arg(stats.databasePath)
            .arg(stats.databaseBytes / 1024)
            .arg(stats.readOnly ? QStringLiteral(", read-only: search only") : QString()));
    out(QStringLiteral("model: %1\n")
            .arg(stats.modelKey.isEmpty() ? QStringLiteral("(none yet)") : stats.modelKey));
    out(QStringLiteral("precision: %1\n").arg(r.precision.reason));
    out(QStringLiteral("photos: %1, indexed %2, pending %3, failed %4, offline %5\n")
            .arg(stats.photos)
            .arg(stats.indexed)
            .arg(stats.pending)
            .arg(stats.failed)
            .arg(stats.offline));
    for (const WatchedFolder &f : r.folders)
        out(QStringLiteral("folder: %1 (%2 indexed, %3 pending, %4 failed%5)\n")
                .arg(printablePath(f.path))
                .arg(f.photoCount)
                .arg(f.pendingCount)
                .arg(f.failedCount)
                .arg(f.offline        ? QStringLiteral(", offline: %1").arg(f.offlineReason)
                     : f.offlineCount ? QStringLiteral(", %1 offline").arg(f.offlineCount)
                                      : QString()));
    for (const OfflineDirectory &o : r.offline)
        out(QStringLiteral("offline: %1: %2 (since %3; its photos are kept and still found)\n")
                .arg(printablePath(o.path), o.reason,
                     QLocale::system().toString(o.since, QLocale::ShortFormat)));
    for (const PhotoRecord &p : r.failures)
        out(QStringLiteral("failed: %1: %2\n").arg(printablePath(p.path), printablePath(p.error)));
    if (r.queue.queued > 0 || r.queue.leased > 0 || !r.queue.workers.isEmpty())
        out(QStringLiteral("queue: %1 waiting, %2 leased by workers\n")
                .arg(r.queue.queued)
                .arg(r.queue.leased));
    for (const WorkerInfo &w : r.queue.workers)
        out(QStringLiteral("worker: %1: %2, %3 embedded, %4 failed%5%6\n")
                .arg(w.name, w.state)
                .arg(w.embedded)
                .arg(w.failed)
                .arg(w.currentBatch > 0 ? QStringLiteral(", %1 in hand").arg(w.currentBatch)
                                        : QString())
                .arg(w.lastError.isEmpty() ? QString()
                                           : QStringLiteral(", last error: %1").arg(w.lastError)));
    if (r.consistency != QLatin1String("ok"))
        out(QStringLiteral("consistency: %1\n").arg(r.consistency));
}

} // namespace

static int runStatus(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "Show the library: folders, photo counts, photos that could not be indexed, "
                "model and database. With --model, counts are for that model."));
        code >= 0)
        return code;
    int exitCode = kExitOk;
    const auto precision = common.precisionChoice(parser, QStringLiteral("status"), exitCode);
    if (!precision)
        return exitCode;
    auto lib = library.open(parser, QStringLiteral("status"), exitCode);
    if (!lib)
        return exitCode;
    if (const auto stop = useGivenModel(parser, common, *lib, QStringLiteral("status")))
        return *stop;
    LibraryReport report{lib->stats(),
                         lib->folders(),
                         lib->failedPhotos(),
                         lib->offlineDirectories(),
                         lib->checkConsistency(),
                         *precision,
                         {}};
    if (auto queue = lib->workQueue())
        report.queue = *queue;
    else
        err(QStringLiteral("towersearch-cli status: %1\n").arg(queue.error().message));
    if (parser.isSet(common.json))
        printReportJson(report);
    else
        printReportText(report);
    return kExitOk;
}

CliCommand statusCommand() {
    return {QStringLiteral("status"),
            QStringLiteral("Show the library: counts, failures, model, database."), runStatus};
}

} // namespace ts::cli
