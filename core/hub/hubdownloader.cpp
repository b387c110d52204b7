#include "core/hub/hubdownloader.h"

#include "core/hub/internal/hubhttp.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSet>
#include <QThread>
#include <QTimer>
#include <QUrl>

namespace ts {

using namespace internal;

namespace {

// A partial download of an etag no run needs, untouched this long, is nobody's any more.
constexpr qint64 kStalePartialSecs = 24 * 3600;

} // namespace

HubDownloader::HubDownloader(HubCache cache, QObject *parent)
    : QObject(parent), m_cache(std::move(cache)), m_endpoint(defaultEndpoint()),
      m_token(defaultToken()), m_network(new QNetworkAccessManager(this)) {
    qRegisterMetaType<ts::HubProgress>();
}

HubDownloader::~HubDownloader() {
    if (m_convertThread)
        m_convertThread->wait(); // it writes through `this`
    if (m_reply) {
        m_reply->disconnect(this);
        m_reply->abort();
    }
}

bool HubDownloader::sendsTokenTo(const QUrl &endpoint, const QUrl &url) {
    if (!isHttp(url) || !sameOrigin(endpoint, url))
        return false;
    return url.scheme().toLower() == QLatin1String("https") || isLoopbackHost(url.host());
}

QString HubDownloader::displayUrl(const QUrl &url) {
    return url.toString(QUrl::RemoveQuery | QUrl::RemoveFragment | QUrl::RemoveUserInfo);
}

QString HubDownloader::defaultEndpoint() {
    QString e = qEnvironmentVariable("HF_ENDPOINT");
    if (e.isEmpty())
        e = QStringLiteral("https://huggingface.co");
    while (e.endsWith(QLatin1Char('/')))
        e.chop(1);
    return e;
}

QString HubDownloader::defaultToken() {
    for (const char *var : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
        const QString t = qEnvironmentVariable(var).trimmed();
        if (!t.isEmpty())
            return t;
    }
    QString path = qEnvironmentVariable("HF_TOKEN_PATH");
    if (path.isEmpty()) {
        const QString home = qEnvironmentVariable("HF_HOME");
        path = home.isEmpty() ? QDir::home().filePath(QStringLiteral(".cache/huggingface/token"))
                              : QDir(home).filePath(QStringLiteral("token"));
    }
    QFile f(path);
    if (f.open(QIODevice::ReadOnly))
        return QString::fromUtf8(f.read(4096)).trimmed();
    return {};
}

QUrl HubDownloader::resolveUrl(const QString &file) const {
    // Revisions such as refs/pr/1 are one path segment on the Hub: their slashes are encoded.
    const QString rev = QString::fromLatin1(QUrl::toPercentEncoding(m_options.revision));
    return QUrl(QStringLiteral("%1/%2/resolve/%3/%4").arg(m_endpoint, m_options.repo, rev, file));
}

QNetworkRequest HubDownloader::makeRequest(const QUrl &url, bool withToken) const {
    QNetworkRequest request(url);
    // Sizes and hashes are of the stored bytes: no transparent compression.
    request.setRawHeader("Accept-Encoding", "identity");
    request.setRawHeader("User-Agent", "towersearch/0.1 (Qt Network; hf_hub compatible)");
    if (withToken && !m_token.isEmpty() && sendsTokenTo(QUrl(m_endpoint), url))
        request.setRawHeader("Authorization", "Bearer " + m_token.toUtf8());
    request.setTransferTimeout(m_options.transferTimeoutMs);
    return request;
}

void HubDownloader::start(const HubDownloadOptions &options) {
    if (m_running)
        return;
    m_options = options;
    m_running = true;
    m_cancelled = false;
    m_result = Status();
    m_model = LocalModel();
    m_downloaded.clear();
    m_notes.clear();
    m_tasks.clear();
    m_commit.clear();
    m_current = -1;
    m_doneBefore = 0;
    m_inTransfer = false;
    m_progress = HubProgress();
    m_clock.start();
    m_lastEmitMs = -1000;
    m_lastRateMs = 0;
    m_lastRateBytes = 0;

    if (qEnvironmentVariableIntValue("HF_HUB_OFFLINE") == 1) {
        // Deferred so that finished() never arrives before start() returns.
        QTimer::singleShot(0, this, [this] {
            if (!fallBackToCache(QStringLiteral("HF_HUB_OFFLINE=1 is set")))
                finish(offlineError(QStringLiteral("HF_HUB_OFFLINE=1 is set")));
        });
        return;
    }
    m_headQueue = ModelLocator::requiredFiles();
    m_headStep = HeadStep::Required;
    m_progress.fileCount = int(m_headQueue.size()) + 1;
    QTimer::singleShot(0, this, &HubDownloader::headNext);
}

void HubDownloader::cancel() {
    if (!m_running || m_cancelled)
        return;
    m_cancelled = true;
    if (m_reply)
        m_reply->abort(); // finished handlers see m_cancelled
}

// ---- Planning: one HEAD per file -------------------------------------------------------------

void HubDownloader::headNext() {
    if (m_cancelled)
        return finish(Error(Error::Code::Cancelled,
                            QStringLiteral("download of %1 cancelled").arg(m_options.repo)));
    if (!m_headQueue.isEmpty()) {
        m_headFile = m_headQueue.takeFirst();
    } else if (m_headStep == HeadStep::Required) {
        m_headStep = HeadStep::Safetensors;
        m_headFile = QStringLiteral("model.safetensors");
    } else {
        return planDone();
    }
    m_progress.phase = HubProgress::Phase::Checking;
    m_progress.file = m_headFile;
    m_progress.fileIndex = int(m_tasks.size());
    emitProgress(true);
    sendHead(resolveUrl(m_headFile), 5);
}

void HubDownloader::sendHead(const QUrl &url, int redirectsLeft) {
    QNetworkRequest request = makeRequest(url);
    // The Hub's answer (not the file store's) carries the commit and the LFS hash.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    QNetworkReply *reply = m_network->head(request);
    m_reply = reply;
    connect(reply, &QNetworkReply::finished, this,
            [this, reply, redirectsLeft] { onHeadFinished(reply, redirectsLeft); });
}

void HubDownloader::onHeadFinished(QNetworkReply *reply, int redirectsLeft) {
    reply->deleteLater();
    m_reply = nullptr;
    if (m_cancelled)
        return finish(Error(Error::Code::Cancelled,
                            QStringLiteral("download of %1 cancelled").arg(m_options.repo)));
    const int status = httpStatus(reply);
    if (status == 0 || isConnectionError(reply->error())) {
        const QString why = QStringLiteral("cannot reach %1 (%2)")
                                .arg(displayUrl(QUrl(m_endpoint)),
                                     reply->errorString().replace(reply->url().toString(),
                                                                  displayUrl(reply->url())));
        if (!fallBackToCache(why))
            finish(offlineError(why));
        return;
    }
    if (followedHeadRedirect(reply, status, redirectsLeft))
        return;
    if (status == 404 && m_headStep == HeadStep::Safetensors &&
        header(reply, "X-Error-Code") != QLatin1String("RepoNotFound") &&
        header(reply, "X-Error-Code") != QLatin1String("RevisionNotFound")) {
        m_headStep = HeadStep::Bin;
        m_headFile = QStringLiteral("pytorch_model.bin");
        m_progress.file = m_headFile;
        return sendHead(resolveUrl(m_headFile), 5);
    }
    if (status >= 400)
        return finish(httpError(reply, m_headFile));
    Result<HeadAnswer> answer = readHeadAnswer(reply, status);
    if (!answer)
        return finish(answer.error());
    m_commit = answer->commit;
    planFile(std::move(answer->task));
}

bool HubDownloader::followedHeadRedirect(QNetworkReply *reply, int status, int redirectsLeft) {
    if (status < 300 || status >= 400)
        return false;
    const QString location = header(reply, "Location");
    const QUrl next = location.isEmpty() ? QUrl() : reply->url().resolved(QUrl(location));
    if (!location.isEmpty() && !isHttp(next)) {
        finish(Error(Error::Code::Format,
                     QStringLiteral("%1 redirected %2 to %3, which is no http(s) URL")
                         .arg(displayUrl(reply->url()), m_headFile, quoted(location))));
        return true;
    }
    if (next.isValid() && isDowngrade(reply->url(), next)) {
        finish(Error(Error::Code::Io,
                     QStringLiteral("%1 redirected %2 from https to plain http (%3); "
                                    "refusing the downgrade")
                         .arg(displayUrl(reply->url()), m_headFile, displayUrl(next))));
        return true;
    }
    // A redirect without file metadata within the Hub is a renamed repository: follow it, like
    // huggingface_hub. Its origin is compared, not its spelling: "//host/..." is another server.
    // With metadata it points at the file store: the answer is read as the file's.
    if (!header(reply, "X-Linked-Etag").isEmpty() || !next.isValid())
        return false;
    if (sameOrigin(next, QUrl(m_endpoint))) {
        if (redirectsLeft <= 0)
            finish(Error(Error::Code::Io,
                         QStringLiteral("%1: too many redirects").arg(displayUrl(reply->url()))));
        else
            sendHead(next, redirectsLeft - 1);
        return true;
    }
    if (header(reply, "X-Repo-Commit").isEmpty()) {
        finish(
            Error(Error::Code::Format,
                  QStringLiteral("%1 redirected %2 to another server (%3) without the file's "
                                 "metadata; not following it: is HF_ENDPOINT a Hugging Face Hub?")
                      .arg(displayUrl(reply->url()), m_headFile, displayUrl(next))));
        return true;
    }
    return false;
}

Result<HubDownloader::HeadAnswer> HubDownloader::readHeadAnswer(QNetworkReply *reply,
                                                                int status) const {
    const QString linkedEtag = header(reply, "X-Linked-Etag");
    // A redirect's Content-Length is its own (empty) body's, not the file's.
    const bool redirect = status >= 300 && status < 400;
    HeadAnswer answer;
    FileTask &task = answer.task;
    task.name = m_headFile;
    task.etag = HubCache::normalizeEtag(linkedEtag.isEmpty() ? header(reply, "ETag") : linkedEtag);
    bool okSize = false;
    const QString sizeText = header(reply, "X-Linked-Size");
    task.size = (sizeText.isEmpty() && !redirect ? header(reply, "Content-Length") : sizeText)
                    .toLongLong(&okSize);
    if (!okSize || task.size < 0)
        task.size = -1;
    answer.commit = header(reply, "X-Repo-Commit");
    const QString &commit = answer.commit;
    if (commit.isEmpty() || task.etag.isEmpty())
        return Error(Error::Code::Format,
                     QStringLiteral("%1 answered without X-Repo-Commit or ETag "
                                    "for %2: is HF_ENDPOINT a Hugging Face Hub?")
                         .arg(displayUrl(reply->url()), m_headFile));
    // The commit names a folder, the etag a file: nothing else than hashes may become paths.
    if (!HubCache::isCommitHash(commit))
        return Error(
            Error::Code::Format,
            QStringLiteral("%1 answered X-Repo-Commit %2 for %3, which is no commit (40 lowercase "
                           "hex digits); stopped before writing anything")
                .arg(displayUrl(reply->url()), quoted(commit), m_headFile));
    if (HubCache::etagKind(task.etag) == HubCache::EtagKind::Unverifiable)
        return Error(
            Error::Code::Format,
            QStringLiteral("%1 gave no verifiable hash for %2: its %3 %4 is neither a git blob "
                           "SHA-1 (40 hex digits) nor a SHA-256 (64), so the bytes could not be "
                           "checked, and TowerSearch stores only files it can check. Use "
                           "https://huggingface.co or a mirror that passes on the Hub's ETag and "
                           "X-Linked-Etag headers, or place the files by hand.\n%5")
                .arg(displayUrl(reply->url()), m_headFile,
                     linkedEtag.isEmpty() ? QStringLiteral("ETag")
                                          : QStringLiteral("X-Linked-Etag"),
                     quoted(task.etag),
                     ModelLocator::manualInstallHelp(m_cache, m_options.repo, m_options.revision)));
    task.etag = task.etag.toLower();
    if (!m_commit.isEmpty() && commit != m_commit)
        return Error(Error::Code::Io,
                     QStringLiteral(
                         "%1@%2 changed (commit %3, then %4) while it was being checked; run again")
                         .arg(m_options.repo, m_options.revision, m_commit, commit));
    const QString location = header(reply, "Location");
    const QUrl next = location.isEmpty() ? QUrl() : reply->url().resolved(QUrl(location));
    if (redirect && next.isValid())
        task.location = next;
    return answer;
}

void HubDownloader::planFile(FileTask task) {
    if (!m_cache.snapshotFile(m_options.repo, m_commit, task.name).isEmpty()) {
        task.needsDownload = false; // already in this snapshot
    } else if (QFileInfo(m_cache.blobPath(m_options.repo, task.etag)).isFile()) {
        // The blob is there (another revision, or a Python download): link only.
        if (const Status s =
                m_cache.linkSnapshotFile(m_options.repo, m_commit, task.name, task.etag);
            !s)
            return finish(s.error());
    } else {
        task.needsDownload = true;
    }
    m_tasks << task;
    headNext();
}

bool HubDownloader::fallBackToCache(const QString &why) {
    const auto local = ModelLocator::find({}, m_cache, m_options.repo, m_options.revision);
    if (!local)
        return false;
    m_model = *local;
    m_notes << QStringLiteral("%1; using the cached snapshot %2").arg(why, local->directory);
    finish(Status());
    return true;
}

Error HubDownloader::cancelledError() const {
    return Error(
        Error::Code::Cancelled,
        QStringLiteral("download of %1 cancelled; run again to resume").arg(m_options.repo));
}

Error HubDownloader::offlineError(const QString &why) const {
    return Error(Error::Code::Io,
                 QStringLiteral("%1: you seem to be offline, or the Hub is blocked here.\n%2")
                     .arg(why, ModelLocator::manualInstallHelp(m_cache, m_options.repo,
                                                               m_options.revision)));
}

Error HubDownloader::httpError(QNetworkReply *reply, const QString &file) const {
    const int status = httpStatus(reply);
    const QString url = displayUrl(reply->url());
    const QString code = header(reply, "X-Error-Code");
    const QString serverMessage = header(reply, "X-Error-Message");
    const QString detail =
        serverMessage.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(serverMessage);
    if (status == 401 || status == 403) {
        const QUrl endpoint(m_endpoint);
        const QString tokenHint =
            m_token.isEmpty()
                ? QStringLiteral(
                      "set HF_TOKEN to an access token from https://huggingface.co/settings/tokens")
            : !sendsTokenTo(endpoint, endpoint)
                ? QStringLiteral("HF_TOKEN was not sent: %1 is plain http:// to another machine, "
                                 "where anyone on the way could read it; use an https:// "
                                 "HF_ENDPOINT")
                      .arg(displayUrl(endpoint))
                : QStringLiteral("the access token in HF_TOKEN was refused: check it, and that its "
                                 "account accepted the terms");
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1 is private or gated, or does not exist (HTTP %2 for %3)%4: "
                                    "request access on https://huggingface.co/%1, then %5")
                         .arg(m_options.repo)
                         .arg(status)
                         .arg(url, detail, tokenHint));
    }
    if (status == 404) {
        QString what;
        if (code == QLatin1String("RepoNotFound"))
            what = QStringLiteral("repository %1 not found").arg(m_options.repo);
        else if (code == QLatin1String("RevisionNotFound"))
            what = QStringLiteral("revision %1 not found in %2")
                       .arg(m_options.revision, m_options.repo);
        else
            what = QStringLiteral("%1 not found in %2 at revision %3")
                       .arg(file, m_options.repo, m_options.revision);
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1 (HTTP 404 for %2)%3").arg(what, url, detail));
    }
    return Error(Error::Code::Io,
                 QStringLiteral("%1: HTTP %2 %3%4 for %5")
                     .arg(url)
                     .arg(status)
                     .arg(reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString(),
                          detail, file));
}

void HubDownloader::planDone() {
    m_progress.total = 0;
    m_progress.fileCount = int(m_tasks.size());
    for (const FileTask &t : m_tasks)
        if (t.needsDownload && t.size > 0)
            m_progress.total += t.size;
    m_doneBefore = 0;
    m_current = -1;
    if (const Status s = m_cache.writeRef(m_options.repo, m_options.revision, m_commit); !s)
        return finish(s.error());
    removeStalePartials();
    downloadNext();
}

void HubDownloader::removeStalePartials() {
    // Partials are named by etag, so one this run does not need belongs to another revision, or
    // to a download given up on. A recently written one may be another process's: left alone.
    QSet<QString> needed;
    for (const FileTask &t : m_tasks)
        if (t.needsDownload)
            needed.insert(t.etag);
    const QDir blobs(m_cache.repoDir(m_options.repo) + QStringLiteral("/blobs"));
    const QDateTime now = QDateTime::currentDateTime();
    int removed = 0;
    qint64 bytes = 0;
    const QLatin1String suffix(".incomplete");
    for (const QFileInfo &fi : blobs.entryInfoList({QStringLiteral("*.incomplete")},
                                                   QDir::Files | QDir::Hidden | QDir::System)) {
        if (needed.contains(fi.fileName().chopped(suffix.size())) ||
            fi.lastModified().secsTo(now) < kStalePartialSecs)
            continue;
        const qint64 size = fi.size();
        if (QFile::remove(fi.filePath())) {
            ++removed;
            bytes += size;
        }
    }
    if (removed > 0)
        m_notes << QStringLiteral("removed %1 stale partial download(s) (%2) from %3")
                       .arg(removed)
                       .arg(mib(bytes), blobs.path());
}

void HubDownloader::maybeConvert() {
    const QString dir = m_cache.snapshotDir(m_options.repo, m_commit);
    const QString bin = QDir(dir).filePath(QStringLiteral("pytorch_model.bin"));
    const QString safetensors = QDir(dir).filePath(QStringLiteral("model.safetensors"));
    if (!m_options.convertToSafetensors || !QFileInfo(bin).isFile() ||
        QFileInfo(safetensors).isFile()) {
        m_model = ModelLocator::inspect(dir);
        m_model.repo = m_options.repo;
        m_model.commit = m_commit;
        if (!m_model.usable())
            return finish(Error(Error::Code::Model, m_model.problem));
        return finish(Status());
    }
    m_progress.phase = HubProgress::Phase::Converting;
    m_progress.file = QStringLiteral("model.safetensors");
    m_progress.fileDone = 0;
    m_progress.fileTotal = -1;
    emitProgress(true);
    // The converter reads the whole checkpoint: off this (possibly GUI) thread. It never throws.
    auto *status = new Status;
    QThread *thread = m_convertThread =
        QThread::create([this, bin, safetensors, status, convert = m_options.convertToSafetensors] {
            *status = convert(bin, safetensors, [this](qint64 done, qint64 total) {
                QMetaObject::invokeMethod(
                    this,
                    [this, done, total] {
                        m_progress.fileDone = done;
                        m_progress.fileTotal = total;
                        emitProgress(false);
                    },
                    Qt::QueuedConnection);
            });
        });
    connect(thread, &QThread::finished, this, [this, thread, status, dir] {
        thread->deleteLater();
        const Status s = *status;
        delete status;
        if (!s)
            return finish(s.error().withContext(QStringLiteral(
                "converting to model.safetensors (the download itself is complete)")));
        m_notes << QStringLiteral("converted pytorch_model.bin to %1/model.safetensors").arg(dir);
        m_options.convertToSafetensors = nullptr;
        maybeConvert();
    });
    thread->start();
}

void HubDownloader::finish(Status status) {
    if (!m_running)
        return;
    m_part.close();
    m_running = false;
    m_result = std::move(status);
    if (m_result.ok())
        emitProgress(true);
    Q_EMIT finished(m_result.ok());
}

void HubDownloader::emitProgress(bool force) {
    const qint64 now = m_clock.elapsed();
    if (!force && now - m_lastEmitMs < 100)
        return;
    m_lastEmitMs = now;
    if (m_progress.phase == HubProgress::Phase::Downloading ||
        m_progress.phase == HubProgress::Phase::Verifying) {
        m_progress.done = m_doneBefore + (m_inTransfer ? m_progress.fileDone : 0);
        // Rate over the last half second or more, smoothed so the ETA does not jump about.
        const qint64 dt = now - m_lastRateMs;
        if (dt >= 500) {
            const double instant = double(m_progress.done - m_lastRateBytes) * 1000.0 / double(dt);
            m_progress.bytesPerSecond = m_progress.bytesPerSecond <= 0
                                            ? instant
                                            : 0.7 * m_progress.bytesPerSecond + 0.3 * instant;
            m_lastRateMs = now;
            m_lastRateBytes = m_progress.done;
        }
        m_progress.etaSeconds =
            (m_progress.bytesPerSecond > 1 && m_progress.total >= 0)
                ? qint64(double(qMax<qint64>(0, m_progress.total - m_progress.done)) /
                         m_progress.bytesPerSecond)
                : -1;
    }
    Q_EMIT progressChanged(m_progress);
}

} // namespace ts
