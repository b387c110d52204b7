// towersearch-cli model list | download [REPO] [--revision R] [--convert] | verify [DIR|REPO]
#include "clicommand.h"

#include "core/hub/hubcache.h"
#include "core/hub/hubdownloader.h"
#include "core/hub/modellocator.h"
#include "core/model/checkpointconverter.h"

#include <QCoreApplication>
#include <QDir>
#include <QEventLoop>
#include <QFileInfo>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace ts::cli {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void onSigint(int) {
    g_interrupted = 1;
}

QString size(qint64 bytes) {
    if (bytes < 0)
        return QStringLiteral("?");
    const double b = double(bytes);
    if (b >= 1024.0 * 1024.0 * 1024.0)
        return QString::number(b / (1024.0 * 1024.0 * 1024.0), 'f', 2) + QStringLiteral(" GiB");
    if (b >= 1024.0 * 1024.0)
        return QString::number(b / (1024.0 * 1024.0), 'f', 1) + QStringLiteral(" MiB");
    return QString::number(b / 1024.0, 'f', 1) + QStringLiteral(" KiB");
}

QString duration(qint64 s) {
    if (s < 0)
        return QStringLiteral("--:--");
    if (s >= 3600)
        return QStringLiteral("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1:%2")
        .arg(s / 60, 2, 10, QLatin1Char('0'))
        .arg(s % 60, 2, 10, QLatin1Char('0'));
}

QString progressLine(const HubProgress &p, bool bar) {
    switch (p.phase) {
    case HubProgress::Phase::Checking:
        return QStringLiteral("checking %1").arg(p.file);
    case HubProgress::Phase::Verifying:
        return QStringLiteral("re-hashing the part of %1 already downloaded").arg(p.file);
    case HubProgress::Phase::Converting:
        return QStringLiteral("converting to model.safetensors: %1 / %2")
            .arg(size(p.fileDone), size(p.fileTotal));
    case HubProgress::Phase::Downloading:
        break;
    }
    const int percent = p.total > 0 ? int(100 * p.done / p.total) : 0;
    QString text;
    if (bar) {
        const int width = 30, filled = width * percent / 100;
        text = QStringLiteral("[%1%2] ").arg(QString(filled, QLatin1Char('#')),
                                             QString(width - filled, QLatin1Char('.')));
    }
    return text + QStringLiteral("%1% %2 / %3  %4/s  ETA %5  %6 (%7/%8)")
                      .arg(percent)
                      .arg(size(p.done), size(p.total), size(qint64(p.bytesPerSecond)),
                           duration(p.etaSeconds), p.file)
                      .arg(p.fileIndex + 1)
                      .arg(p.fileCount);
}

// Reads `model download`'s arguments into `options`; returns an exit code when the command ends
// here (help, usage error), else -1.
int parseDownloadArgs(const QStringList &args, HubDownloadOptions &options) {
    QCommandLineParser parser;
    const QCommandLineOption revisionOpt(QStringLiteral("revision"),
                                         QStringLiteral("Branch, tag or commit (default: main)."),
                                         QStringLiteral("R"), QStringLiteral("main"));
    const QCommandLineOption convertOpt(
        QStringLiteral("convert"),
        QStringLiteral(
            "After a pytorch_model.bin download, write model.safetensors once (faster starts)."));
    parser.addOption(revisionOpt);
    parser.addOption(convertOpt);
    parser.addPositionalArgument(QStringLiteral("REPO"),
                                 QStringLiteral("Hub repository (default: %1).")
                                     .arg(QString::fromLatin1(kDefaultModelRepo)));
    if (int code =
            parseOrExit(parser, args,
                        QStringLiteral("Download a BridgeTower checkpoint from the Hugging Face "
                                       "Hub ($HF_ENDPOINT) into the Hugging Face "
                                       "cache ($HF_HUB_CACHE, $HF_HOME/hub or "
                                       "~/.cache/huggingface/hub), shared with Python tools.\n"
                                       "Files already there are not fetched again; an interrupted "
                                       "download resumes (Ctrl+C stops it). "
                                       "$HF_TOKEN is sent for private or gated repositories."));
        code >= 0)
        return code;
    if (parser.positionalArguments().size() > 1) {
        err(QStringLiteral("towersearch-cli model download: one repository at most\n"));
        return kExitUsage;
    }
    if (!parser.positionalArguments().isEmpty())
        options.repo = parser.positionalArguments().first();
    if (!options.repo.contains(QLatin1Char('/'))) {
        err(QStringLiteral("towersearch-cli model download: '%1' is not ORG/NAME\n")
                .arg(options.repo));
        return kExitUsage;
    }
    options.revision = parser.value(revisionOpt);
    // The Hub client does not link the model: the conversion step is wired in here.
    if (parser.isSet(convertOpt))
        options.convertToSafetensors = convertTorchBinToSafetensors;
    return -1;
}

// Progress on stderr: a redrawn bar on a terminal; for logs, one plain line per file or phase and
// every 10%.
class ProgressPrinter {
public:
    void operator()(const HubProgress &p) {
        if (m_tty) {
            err(QStringLiteral("\r\033[K") + progressLine(p, true));
            return;
        }
        const int percent = p.total > 0 ? int(10 * p.done / p.total) * 10 : -1;
        if (p.file != m_lastFile || p.phase != m_lastPhase ||
            (p.phase == HubProgress::Phase::Downloading && percent != m_lastPercent)) {
            err(progressLine(p, false) + QLatin1Char('\n'));
            m_lastFile = p.file;
            m_lastPhase = p.phase;
            m_lastPercent = percent;
        }
    }
    bool tty() const { return m_tty; }

private:
    bool m_tty = ::isatty(STDERR_FILENO) == 1;
    int m_lastPercent = -1;
    QString m_lastFile;
    HubProgress::Phase m_lastPhase = HubProgress::Phase::Checking;
};

// Runs the download to its end in a local event loop; Ctrl+C cancels it (the partial file stays).
void runToEnd(HubDownloader &downloader, const HubDownloadOptions &options) {
    ProgressPrinter printer;
    const QMetaObject::Connection progress =
        QObject::connect(&downloader, &HubDownloader::progressChanged,
                         [&printer](const HubProgress &p) { printer(p); });
    QEventLoop loop;
    QObject::connect(&downloader, &HubDownloader::finished, &loop, &QEventLoop::quit);
    g_interrupted = 0;
    auto *previous = std::signal(SIGINT, onSigint);
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, [&] {
        if (g_interrupted)
            downloader.cancel();
    });
    poll.start(100);
    err(QStringLiteral("%1@%2 from %3 into %4\n")
            .arg(options.repo, options.revision,
                 HubDownloader::displayUrl(QUrl(downloader.endpoint())),
                 downloader.cache().root()));
    downloader.start(options);
    loop.exec();
    poll.stop();
    std::signal(SIGINT, previous);
    QObject::disconnect(progress); // `printer` ends here
    if (printer.tty())
        err(QStringLiteral("\n"));
}

int runDownload(const QStringList &args) {
    HubDownloadOptions options;
    if (const int code = parseDownloadArgs(args, options); code >= 0)
        return code;
    HubDownloader downloader(HubCache::fromEnvironment());
    runToEnd(downloader, options);
    for (const QString &note : downloader.notes())
        err(note + QLatin1Char('\n'));
    if (!downloader.result().ok())
        return reportError(downloader.result().error());
    const LocalModel &m = downloader.model();
    out(QStringLiteral("%1\n  %2 downloaded, %3 already there\n  weights: %4\n  heads: %5\n")
            .arg(m.directory)
            .arg(downloader.downloadedFiles().size())
            .arg(ModelLocator::requiredFiles().size() + 1 - downloader.downloadedFiles().size())
            .arg(m.weightsFile, m.headsText()));
    if (!m.note().isEmpty())
        out(QStringLiteral("  note: %1\n").arg(m.note()));
    return kExitOk;
}

int runList(const QStringList &args) {
    QCommandLineParser parser;
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral("List the BridgeTower checkpoints in the Hugging Face cache."));
        code >= 0)
        return code;
    const HubCache cache = HubCache::fromEnvironment();
    const QList<LocalModel> models = ModelLocator::listCached(cache);
    out(QStringLiteral("Hugging Face cache: %1\n").arg(cache.root()));
    if (models.isEmpty())
        out(QStringLiteral("  no BridgeTower checkpoint; run 'towersearch-cli model download'\n"));
    for (const LocalModel &m : models) {
        out(QStringLiteral("\n%1 @ %2%3\n  %4\n")
                .arg(m.repo, m.commit.left(12),
                     m.refs.isEmpty()
                         ? QString()
                         : QStringLiteral(" (%1)").arg(m.refs.join(QStringLiteral(", "))),
                     m.directory));
        if (!m.usable()) {
            out(QStringLiteral("  unusable: %1\n").arg(m.problem));
            continue;
        }
        out(QStringLiteral("  weights: %1\n  heads: %2\n").arg(m.weightsFile, m.headsText()));
        if (!m.note().isEmpty())
            out(QStringLiteral("  note: %1\n").arg(m.note()));
    }
    out(QStringLiteral("\nOn the Hub:\n"));
    for (const QString &repo : ModelLocator::knownRepos())
        out(QStringLiteral("  %1\n      %2\n").arg(repo, ModelLocator::describeRepo(repo)));
    return kExitOk;
}

int runVerify(const QStringList &args) {
    QCommandLineParser parser;
    const QCommandLineOption revisionOpt(QStringLiteral("revision"),
                                         QStringLiteral("With REPO: the revision (default: main)."),
                                         QStringLiteral("R"), QStringLiteral("main"));
    parser.addOption(revisionOpt);
    parser.addPositionalArgument(
        QStringLiteral("DIR|REPO"),
        QStringLiteral("A checkpoint folder, or a repository in the cache (default: %1).")
            .arg(QString::fromLatin1(kDefaultModelRepo)));
    if (int code =
            parseOrExit(parser, args,
                        QStringLiteral("Re-hash a checkpoint's files against the Hub's hashes (the "
                                       "cache's blob names) and check config.json."));
        code >= 0)
        return code;
    const HubCache cache = HubCache::fromEnvironment();
    const QString arg = parser.positionalArguments().value(0);
    QString dir;
    if (!arg.isEmpty() && QFileInfo(arg).isDir()) {
        dir = arg;
    } else {
        const QString repo = arg.isEmpty() ? QString::fromLatin1(kDefaultModelRepo) : arg;
        const QString commit = cache.resolveRevision(repo, parser.value(revisionOpt));
        if (commit.isEmpty())
            return reportError(
                Error(Error::Code::NotFound,
                      QStringLiteral("%1: not a folder, and %1@%2 is not in the cache %3")
                          .arg(repo, parser.value(revisionOpt), cache.root())));
        dir = cache.snapshotDir(repo, commit);
    }
    out(QStringLiteral("%1\n").arg(QDir(dir).absolutePath()));
    bool allOk = true;
    const QDir folder(dir);
    for (const QString &name : folder.entryList(QDir::Files, QDir::Name)) {
        const QFileInfo info(folder.filePath(name));
        // In a cache snapshot the link target's name is the Hub's etag; a plain folder has none.
        const QString etag =
            info.isSymLink() ? QFileInfo(info.symLinkTarget()).fileName() : QString();
        const bool checkable = etag.size() == 64 || etag.size() == 40;
        if (!checkable) {
            out(QStringLiteral("  --  %1 (no published hash here)\n").arg(name));
            continue;
        }
        const Status s =
            HubCache::verifyFile(info.filePath(), etag, [&](qint64 done, qint64 total) {
                if (total > (64 << 20) && ::isatty(STDERR_FILENO) == 1)
                    err(QStringLiteral("\r  hashing %1: %2%")
                            .arg(name)
                            .arg(100 * done / qMax<qint64>(total, 1)));
            });
        if (info.size() > (64 << 20) && ::isatty(STDERR_FILENO) == 1)
            err(QStringLiteral("\r\033[K"));
        if (s) {
            out(QStringLiteral("  ok  %1 (%2)\n")
                    .arg(name, etag.size() == 64 ? QStringLiteral("SHA-256")
                                                 : QStringLiteral("git SHA-1")));
        } else {
            allOk = false;
            out(QStringLiteral("  BAD %1: %2\n").arg(name, s.error().message));
        }
    }
    const LocalModel m = ModelLocator::inspect(dir);
    if (!m.usable())
        return reportError(Error(Error::Code::Model, m.problem));
    out(QStringLiteral("  config.json loads; weights: %1; heads: %2\n")
            .arg(m.weightsFile, m.headsText()));
    if (!m.note().isEmpty())
        out(QStringLiteral("  note: %1\n").arg(m.note()));
    if (!allOk)
        return reportError(
            Error(Error::Code::Model,
                  QStringLiteral("%1: some files do not match their published hashes; "
                                 "delete them and run 'towersearch-cli model download' again")
                      .arg(dir)));
    return kExitOk;
}

int runModel(const QStringList &args) {
    const QString sub = args.value(1);
    const QStringList rest = args.mid(1);
    if (sub == QLatin1String("list"))
        return runList(rest);
    if (sub == QLatin1String("download"))
        return runDownload(rest);
    if (sub == QLatin1String("verify"))
        return runVerify(rest);
    const QString help =
        QStringLiteral("Usage: towersearch-cli model <list | download [REPO] [--revision R] "
                       "[--convert] | verify [DIR|REPO]>\n\n"
                       "  list      BridgeTower checkpoints in the Hugging Face cache, with their "
                       "usable heads\n"
                       "  download  fetch a checkpoint from the Hub (default %1), resumable\n"
                       "  verify    re-hash a checkpoint's files and check its config\n")
            .arg(QString::fromLatin1(kDefaultModelRepo));
    if (sub == QLatin1String("--help") || sub == QLatin1String("-h")) {
        out(help);
        return kExitOk;
    }
    err(help);
    return kExitUsage;
}

} // namespace

CliCommand modelCommand() {
    return {QStringLiteral("model"),
            QStringLiteral("List, download (from the Hugging Face Hub) or verify checkpoints."),
            runModel};
}

} // namespace ts::cli
