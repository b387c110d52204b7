#include "core/hub/hubdownloader.h"

#include "core/model/checkpointconverter.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QHostAddress>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSet>
#include <QThread>
#include <QTimer>
#include <QUrl>

#include <filesystem>
#include <system_error>

namespace ts {

namespace {

// A chain of redirects longer than this is a loop (the Hub uses one, a CDN two or three).
constexpr int kMaxRedirects = 10;
// An error or redirect page is read up to this much, then the connection is closed.
constexpr qint64 kMaxErrorBody = 64 * 1024;
// A partial download of an etag no run needs, untouched this long, is nobody's any more.
constexpr qint64 kStalePartialSecs = 24 * 3600;

bool isHex(const QString &s, qsizetype n) {
    if (s.size() != n)
        return false;
    for (const QChar c : s)
        if (!((c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F')))
            return false;
    return true;
}

QString header(QNetworkReply *reply, const char *name) {
    return QString::fromLatin1(reply->rawHeader(name)).trimmed();
}

int httpStatus(QNetworkReply *reply) {
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

// The network itself failed (no answer from the server), as opposed to an HTTP error status.
bool isConnectionError(QNetworkReply::NetworkError e) {
    switch (e) {
    case QNetworkReply::ConnectionRefusedError:
    case QNetworkReply::HostNotFoundError:
    case QNetworkReply::TimeoutError:
    case QNetworkReply::TemporaryNetworkFailureError:
    case QNetworkReply::NetworkSessionFailedError:
    case QNetworkReply::UnknownNetworkError:
    case QNetworkReply::ProxyConnectionRefusedError:
    case QNetworkReply::ProxyNotFoundError:
    case QNetworkReply::ProxyTimeoutError:
    case QNetworkReply::SslHandshakeFailedError:
        return true;
    default:
        return false;
    }
}

// Worth resuming: the transfer started, then the connection dropped or stalled.
bool isTransientError(QNetworkReply::NetworkError e) {
    return e == QNetworkReply::RemoteHostClosedError || e == QNetworkReply::TimeoutError ||
           e == QNetworkReply::TemporaryNetworkFailureError ||
           e == QNetworkReply::UnknownNetworkError || e == QNetworkReply::ProtocolFailure ||
           e == QNetworkReply::ServiceUnavailableError || e == QNetworkReply::InternalServerError ||
           e == QNetworkReply::UnknownServerError;
}

QString mib(qint64 bytes) {
    return QString::number(double(bytes) / (1024.0 * 1024.0), 'f', 1) + QStringLiteral(" MiB");
}

bool isHttp(const QUrl &url) {
    const QString scheme = url.scheme().toLower();
    return scheme == QLatin1String("http") || scheme == QLatin1String("https");
}

bool isLoopbackHost(const QString &host) {
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0)
        return true;
    QHostAddress address;
    return address.setAddress(host) && address.isLoopback();
}

bool sameOrigin(const QUrl &a, const QUrl &b) {
    const QString scheme = a.scheme().toLower();
    const int defaultPort = scheme == QLatin1String("https") ? 443 : 80;
    return scheme == b.scheme().toLower() && !a.host().isEmpty() &&
           a.host().compare(b.host(), Qt::CaseInsensitive) == 0 &&
           a.port(defaultPort) == b.port(defaultPort);
}

// A header value from the server, quoted for a message.
QString quoted(const QString &s) {
    QString out = s.left(100);
    for (QChar &c : out)
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            c = u'?';
    return QLatin1Char('"') + out +
           (s.size() > 100 ? QStringLiteral("...\"") : QStringLiteral("\""));
}

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
    const QString location = header(reply, "Location");
    const QString linkedEtag = header(reply, "X-Linked-Etag");
    const QUrl next = location.isEmpty() ? QUrl() : reply->url().resolved(QUrl(location));
    if (status >= 300 && status < 400 && !location.isEmpty() && !isHttp(next))
        return finish(Error(Error::Code::Format,
                            QStringLiteral("%1 redirected %2 to %3, which is no http(s) URL")
                                .arg(displayUrl(reply->url()), m_headFile, quoted(location))));
    if (status >= 300 && status < 400 && next.isValid() &&
        reply->url().scheme().toLower() == QLatin1String("https") &&
        next.scheme().toLower() == QLatin1String("http"))
        return finish(Error(Error::Code::Io,
                            QStringLiteral("%1 redirected %2 from https to plain http (%3); "
                                           "refusing the downgrade")
                                .arg(displayUrl(reply->url()), m_headFile, displayUrl(next))));
    // A redirect without file metadata within the Hub is a renamed repository: follow it, like
    // huggingface_hub. Its origin is compared, not its spelling: "//host/..." is another server.
    if (status >= 300 && status < 400 && linkedEtag.isEmpty() && next.isValid()) {
        if (sameOrigin(next, QUrl(m_endpoint))) {
            if (redirectsLeft <= 0)
                return finish(
                    Error(Error::Code::Io,
                          QStringLiteral("%1: too many redirects").arg(displayUrl(reply->url()))));
            return sendHead(next, redirectsLeft - 1);
        }
        if (header(reply, "X-Repo-Commit").isEmpty())
            return finish(Error(
                Error::Code::Format,
                QStringLiteral("%1 redirected %2 to another server (%3) without the file's "
                               "metadata; not following it: is HF_ENDPOINT a Hugging Face Hub?")
                    .arg(displayUrl(reply->url()), m_headFile, displayUrl(next))));
    }
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

    FileTask task;
    task.name = m_headFile;
    task.etag = HubCache::normalizeEtag(linkedEtag.isEmpty() ? header(reply, "ETag") : linkedEtag);
    bool okSize = false;
    // A redirect's Content-Length is its own (empty) body's, not the file's.
    const bool redirect = status >= 300 && status < 400;
    const QString sizeText = header(reply, "X-Linked-Size");
    task.size = (sizeText.isEmpty() && !redirect ? header(reply, "Content-Length") : sizeText)
                    .toLongLong(&okSize);
    if (!okSize || task.size < 0)
        task.size = -1;
    const QString commit = header(reply, "X-Repo-Commit");
    if (commit.isEmpty() || task.etag.isEmpty())
        return finish(
            Error(Error::Code::Format, QStringLiteral("%1 answered without X-Repo-Commit or ETag "
                                                      "for %2: is HF_ENDPOINT a Hugging Face Hub?")
                                           .arg(displayUrl(reply->url()), m_headFile)));
    // The commit names a folder, the etag a file: nothing else than hashes may become paths.
    if (!HubCache::isCommitHash(commit))
        return finish(Error(
            Error::Code::Format,
            QStringLiteral("%1 answered X-Repo-Commit %2 for %3, which is no commit (40 lowercase "
                           "hex digits); stopped before writing anything")
                .arg(displayUrl(reply->url()), quoted(commit), m_headFile)));
    if (!isHex(task.etag, 40) && !isHex(task.etag, 64))
        return finish(Error(
            Error::Code::Format,
            QStringLiteral("%1 gave no verifiable hash for %2: its %3 %4 is neither a git blob "
                           "SHA-1 (40 hex digits) nor a SHA-256 (64), so the bytes could not be "
                           "checked, and TowerSearch stores only files it can check. Use "
                           "https://huggingface.co or a mirror that passes on the Hub's ETag and "
                           "X-Linked-Etag headers, or place the files by hand.\n%5")
                .arg(
                    displayUrl(reply->url()), m_headFile,
                    linkedEtag.isEmpty() ? QStringLiteral("ETag") : QStringLiteral("X-Linked-Etag"),
                    quoted(task.etag),
                    ModelLocator::manualInstallHelp(m_cache, m_options.repo, m_options.revision))));
    task.etag = task.etag.toLower();
    if (!m_commit.isEmpty() && commit != m_commit)
        return finish(
            Error(Error::Code::Io,
                  QStringLiteral(
                      "%1@%2 changed (commit %3, then %4) while it was being checked; run again")
                      .arg(m_options.repo, m_options.revision, m_commit, commit)));
    m_commit = commit;
    if (status >= 300 && status < 400 && next.isValid())
        task.location = next;
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

// ---- Transfers --------------------------------------------------------------------------------

void HubDownloader::downloadNext() {
    if (m_cancelled)
        return finish(Error(
            Error::Code::Cancelled,
            QStringLiteral("download of %1 cancelled; run again to resume").arg(m_options.repo)));
    while (++m_current < m_tasks.size() && !m_tasks[m_current].needsDownload) {
    }
    if (m_current >= m_tasks.size())
        return maybeConvert();
    const FileTask &task = m_tasks[m_current];
    m_part.setFileName(m_cache.blobPath(m_options.repo, task.etag) + QStringLiteral(".incomplete"));
    if (!QDir().mkpath(QFileInfo(m_part.fileName()).absolutePath()))
        return finish(
            Error(Error::Code::Io, QStringLiteral("%1: cannot create the folder")
                                       .arg(QFileInfo(m_part.fileName()).absolutePath())));
    sendGet();
}

void HubDownloader::sendGet() {
    FileTask &task = m_tasks[m_current];
    m_part.close();
    if (!m_part.open(QIODevice::ReadWrite))
        return finish(Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot write: %2").arg(m_part.fileName(), m_part.errorString())));
    m_partStart = m_part.size();
    if (task.size >= 0 && m_partStart > task.size) {
        // More than the file: not ours to resume.
        m_part.resize(0);
        m_partStart = 0;
    }
    const bool sha256 = isHex(task.etag, 64);
    const bool gitSha1 = isHex(task.etag, 40) && task.size >= 0;
    m_hash.reset();
    if (sha256 || gitSha1) {
        m_hash = std::make_unique<QCryptographicHash>(sha256 ? QCryptographicHash::Sha256
                                                             : QCryptographicHash::Sha1);
        if (gitSha1)
            m_hash->addData(QByteArray("blob ") + QByteArray::number(task.size) +
                            QByteArray(1, '\0'));
        if (m_partStart > 0) {
            // Resuming: the bytes already on disk are part of the hash. Hashed a slice per
            // event-loop turn, so a GUI stays responsive while gigabytes are re-read.
            m_part.seek(0);
            m_progress.phase = HubProgress::Phase::Verifying;
            m_progress.file = task.name;
            m_progress.fileIndex = m_current;
            m_progress.fileDone = 0;
            m_progress.fileTotal = m_partStart;
            m_inTransfer = false;
            emitProgress(true);
            QTimer::singleShot(0, this, &HubDownloader::rehashStep);
            return;
        }
    }
    startTransfer();
}

void HubDownloader::rehashStep() {
    if (m_cancelled)
        return finish(Error(
            Error::Code::Cancelled,
            QStringLiteral("download of %1 cancelled; run again to resume").arg(m_options.repo)));
    const qint64 pos = m_part.pos();
    const QByteArray slice = m_part.read(qMin<qint64>(16 << 20, m_partStart - pos));
    if (slice.isEmpty() && pos < m_partStart)
        return finish(Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot read: %2").arg(m_part.fileName(), m_part.errorString())));
    m_hash->addData(slice);
    m_progress.fileDone = pos + slice.size();
    emitProgress(false);
    if (m_progress.fileDone < m_partStart) {
        QTimer::singleShot(0, this, &HubDownloader::rehashStep);
        return;
    }
    startTransfer();
}

void HubDownloader::startTransfer() {
    FileTask &task = m_tasks[m_current];
    m_part.seek(m_partStart);
    m_progress.phase = HubProgress::Phase::Downloading;
    m_progress.file = task.name;
    m_progress.fileIndex = m_current;
    m_progress.fileTotal = task.size;
    m_progress.fileDone = m_partStart;
    m_inTransfer = true;
    // The rate counts this transfer only, not the part already on disk.
    m_lastRateMs = m_clock.elapsed();
    m_lastRateBytes = m_doneBefore + m_partStart;
    if (task.size >= 0 && m_partStart == task.size)
        return completeFile(); // complete on disk, only the rename was missing

    // LFS files come from the file store the Hub redirected to (a signed URL): fetched directly and
    // without the token, which is for the Hub only (huggingface_hub does the same).
    m_fromStore = task.location.isValid();
    m_redirects = 0;
    sendTransfer(m_fromStore ? task.location : resolveUrl(task.name));
}

void HubDownloader::sendTransfer(const QUrl &url) {
    // Redirects are ours to follow: Qt would carry the Authorization header to any host.
    QNetworkRequest request = makeRequest(url, /*withToken=*/!m_fromStore);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    if (m_partStart > 0)
        request.setRawHeader("Range", "bytes=" + QByteArray::number(m_partStart) + '-');
    m_statusChecked = false;
    m_refreshLocation = false;
    m_replyError = Status();
    m_drainBody = false;
    m_drained = 0;
    m_stopped = false;
    m_discardPart = false;
    m_limit = m_tasks[m_current].size;
    QNetworkReply *reply = m_network->get(request);
    m_reply = reply;
    connect(reply, &QNetworkReply::readyRead, this, &HubDownloader::onGetReadyRead);
    connect(reply, &QNetworkReply::finished, this, &HubDownloader::onGetFinished);
}

void HubDownloader::drainBody(QNetworkReply *reply) {
    // An error page or a redirect's body is not kept; a server that sends more than a page is
    // hung up on rather than buffered.
    m_drained += reply->readAll().size();
    if (m_drained > kMaxErrorBody && !m_stopped) {
        m_stopped = true;
        reply->abort();
    }
}

Result<QUrl> HubDownloader::redirectTarget(QNetworkReply *reply) {
    const FileTask &task = m_tasks[m_current];
    const QString location = header(reply, "Location");
    const QUrl from = reply->url();
    if (location.isEmpty())
        return Error(Error::Code::Format,
                     QStringLiteral("%1 answered HTTP %2 for %3 without a Location")
                         .arg(displayUrl(from))
                         .arg(httpStatus(reply))
                         .arg(task.name));
    if (++m_redirects > kMaxRedirects)
        return Error(Error::Code::Io,
                     QStringLiteral("%1: too many redirects (more than %2) for %3; stopped at %4")
                         .arg(displayUrl(resolveUrl(task.name)))
                         .arg(kMaxRedirects)
                         .arg(task.name, displayUrl(from)));
    const QUrl next = from.resolved(QUrl(location));
    if (!isHttp(next) || next.host().isEmpty())
        return Error(Error::Code::Format,
                     QStringLiteral("%1 redirected %2 to %3, which is no http(s) URL")
                         .arg(displayUrl(from), task.name, quoted(location)));
    if (from.scheme().toLower() == QLatin1String("https") &&
        next.scheme().toLower() == QLatin1String("http"))
        return Error(Error::Code::Io,
                     QStringLiteral("%1 redirected %2 from https to plain http (%3); refusing the "
                                    "downgrade")
                         .arg(displayUrl(from), task.name, displayUrl(next)));
    return next;
}

void HubDownloader::onGetReadyRead() {
    QNetworkReply *reply = m_reply;
    if (!reply || m_stopped)
        return;
    const int status = httpStatus(reply);
    if (status == 0)
        return; // no answer yet
    if (m_drainBody || !m_replyError.ok() || m_refreshLocation || (status >= 300 && status < 400))
        return drainBody(reply);
    FileTask &task = m_tasks[m_current];
    if (!m_statusChecked) {
        m_statusChecked = true;
        if (status == 206) {
            const QString range = header(reply, "Content-Range"); // "bytes N-M/T"
            const qint64 first =
                range.section(QLatin1Char(' '), 1).section(QLatin1Char('-'), 0, 0).toLongLong();
            if (first != m_partStart) {
                m_replyError =
                    Error(Error::Code::Io,
                          QStringLiteral("%1: the server resumed at byte %2 instead of %3")
                              .arg(displayUrl(reply->url()))
                              .arg(first)
                              .arg(m_partStart));
                m_stopped = true;
                reply->abort();
                return;
            }
            if (m_limit < 0) { // no size from the Hub: the file store's own word, if any
                bool ok = false;
                const qint64 total = range.section(QLatin1Char('/'), 1).toLongLong(&ok);
                m_limit = ok && total >= 0 ? total : -1;
            }
        } else if (status == 200) {
            if (m_partStart > 0) {
                // The server ignored Range: start the file again.
                m_lastRateBytes = m_doneBefore;
                m_part.resize(0);
                m_part.seek(0);
                m_partStart = 0;
                m_progress.fileDone = 0;
                if (m_hash) {
                    m_hash->reset();
                    if (isHex(task.etag, 40))
                        m_hash->addData(QByteArray("blob ") + QByteArray::number(task.size) +
                                        QByteArray(1, '\0'));
                }
            }
            if (m_limit < 0) {
                bool ok = false;
                const qint64 length = header(reply, "Content-Length").toLongLong(&ok);
                m_limit = ok && length >= 0 ? length : -1;
            }
        } else {
            m_drainBody = true;
            if ((status == 401 || status == 403 || status == 410) && task.location.isValid() &&
                !task.locationRefreshed)
                m_refreshLocation = true; // handled when the (short) error body has arrived
            else
                m_replyError = httpError(reply, task.name);
            return drainBody(reply);
        }
    }
    const QByteArray data = reply->readAll();
    if (data.isEmpty())
        return;
    // Never more on disk than announced: a hostile or broken server could fill the disk.
    const qint64 room = (m_limit >= 0 ? m_limit : m_options.maxUnannouncedBytes) - m_part.pos();
    if (data.size() > room) {
        m_replyError = Error(
            Error::Code::Format,
            m_limit >= 0
                ? QStringLiteral("%1: the server sent more than the announced %2 bytes of %3; "
                                 "stopped, and the partial file %4 was deleted")
                      .arg(displayUrl(reply->url()))
                      .arg(m_limit)
                      .arg(task.name, m_part.fileName())
                : QStringLiteral("%1: no size was announced for %2 (neither X-Linked-Size nor "
                                 "Content-Length), and it grew past %3 bytes, the limit for a file "
                                 "of unknown size; stopped, and the partial file %4 was deleted")
                      .arg(displayUrl(reply->url()), task.name)
                      .arg(m_options.maxUnannouncedBytes)
                      .arg(m_part.fileName()));
        m_discardPart = true;
        m_stopped = true;
        reply->abort();
        return;
    }
    if (m_part.write(data) != data.size()) {
        m_replyError =
            Error(Error::Code::Io, QStringLiteral("%1: write failed: %2 (is the disk full?)")
                                       .arg(m_part.fileName(), m_part.errorString()));
        m_stopped = true;
        reply->abort();
        return;
    }
    if (m_hash)
        m_hash->addData(data);
    m_progress.fileDone += data.size();
    emitProgress(false);
}

void HubDownloader::onGetFinished() {
    QNetworkReply *reply = m_reply;
    if (!reply)
        return;
    if (!m_stopped && (reply->error() == QNetworkReply::NoError || reply->isReadable()))
        onGetReadyRead(); // the last bytes
    m_reply = nullptr;
    reply->deleteLater();
    m_part.flush();
    FileTask &task = m_tasks[m_current];
    if (m_cancelled) {
        m_part.close();
        return finish(
            Error(Error::Code::Cancelled,
                  QStringLiteral("download of %1 cancelled at %2 of %3 of %4; run again to resume")
                      .arg(m_options.repo, mib(m_progress.fileDone), mib(task.size), task.name)));
    }
    if (!m_replyError.ok()) {
        m_part.close();
        if (m_discardPart)
            QFile::remove(m_part.fileName());
        return finish(m_replyError.error());
    }
    const int status = httpStatus(reply);
    if (status >= 300 && status < 400) {
        const Result<QUrl> next = redirectTarget(reply);
        if (!next) {
            m_part.close();
            return finish(next.error());
        }
        return sendTransfer(*next);
    }
    QString dropped; // why the transfer ended early, when it did
    if (reply->error() != QNetworkReply::NoError) {
        if ((status == 401 || status == 403 || status == 410) && task.location.isValid() &&
            !task.locationRefreshed) {
            // The file store's signed URL expired (a long or resumed transfer): ask the Hub again.
            task.locationRefreshed = true;
            return refreshLocation();
        }
        if (status >= 400 && !isTransientError(reply->error())) {
            m_part.close();
            return finish(httpError(reply, task.name));
        }
        // Qt's own text names the URL, query included.
        dropped = reply->errorString().replace(reply->url().toString(), displayUrl(reply->url()));
        if (!isTransientError(reply->error()) && !isConnectionError(reply->error())) {
            m_part.close();
            return finish(
                Error(Error::Code::Io,
                      QStringLiteral(
                          "downloading %1 from %2 failed after %3 of %4: %5; run again to resume")
                          .arg(task.name, displayUrl(reply->url()), mib(m_progress.fileDone),
                               mib(task.size), dropped)));
        }
    } else if (task.size >= 0 && m_part.size() < task.size) {
        // Qt may report a connection closed mid-body as a normal end: still a dropped transfer.
        dropped = QStringLiteral("the connection closed early");
    }
    if (!dropped.isEmpty()) {
        // Progress resets the budget: a slow but moving connection is never given up on.
        if (m_progress.fileDone > m_partStart)
            task.retries = 0;
        if (task.retries < m_options.maxRetries) {
            ++task.retries;
            QTimer::singleShot(m_options.retryDelayMs, this, [this] {
                if (m_cancelled)
                    return finish(
                        Error(Error::Code::Cancelled,
                              QStringLiteral("download of %1 cancelled; run again to resume")
                                  .arg(m_options.repo)));
                sendGet();
            });
            return;
        }
        m_part.close();
        return finish(Error(
            Error::Code::Io,
            QStringLiteral("downloading %1 from %2 stopped after %3 of %4: %5; run again to resume")
                .arg(task.name, displayUrl(reply->url()), mib(m_progress.fileDone), mib(task.size),
                     dropped)));
    }
    completeFile();
}

void HubDownloader::refreshLocation() {
    QNetworkRequest request = makeRequest(resolveUrl(m_tasks[m_current].name));
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    QNetworkReply *reply = m_network->head(request);
    m_reply = reply;
    connect(reply, &QNetworkReply::finished, this, [this, reply] {
        reply->deleteLater();
        m_reply = nullptr;
        FileTask &task = m_tasks[m_current];
        if (m_cancelled)
            return finish(Error(Error::Code::Cancelled,
                                QStringLiteral("download of %1 cancelled; run again to resume")
                                    .arg(m_options.repo)));
        const int status = httpStatus(reply);
        const QString location = header(reply, "Location");
        if (status >= 400 || status == 0)
            return finish(status == 0 ? offlineError(reply->errorString())
                                      : httpError(reply, task.name));
        const QUrl next = location.isEmpty() ? QUrl() : reply->url().resolved(QUrl(location));
        if (HubCache::normalizeEtag(header(reply, "X-Linked-Etag")).toLower() != task.etag ||
            !isHttp(next))
            return finish(
                Error(Error::Code::Io,
                      QStringLiteral("%1 changed on the Hub during the download; run again")
                          .arg(task.name)));
        task.location = next;
        sendGet();
    });
}

void HubDownloader::completeFile() {
    FileTask &task = m_tasks[m_current];
    const QString part = m_part.fileName();
    const qint64 size = m_part.size();
    m_part.close();
    const QString blob = m_cache.blobPath(m_options.repo, task.etag);
    auto rejectPart = [&](const QString &what) {
        QFile::remove(part);
        return finish(Error(Error::Code::Format,
                            QStringLiteral("%1 of %2@%3 is corrupt: %4; the partial file %5 was "
                                           "deleted, run again to download it again")
                                .arg(task.name, m_options.repo, m_options.revision, what, part)));
    };
    if (task.size >= 0 && size != task.size)
        return rejectPart(
            QStringLiteral("%1 bytes received, the Hub announced %2").arg(size).arg(task.size));
    if (m_hash) {
        const QString actual = QString::fromLatin1(m_hash->result().toHex());
        if (actual.compare(task.etag, Qt::CaseInsensitive) != 0)
            return rejectPart(QStringLiteral("%1 mismatch: expected %2, got %3")
                                  .arg(isHex(task.etag, 64) ? QStringLiteral("SHA-256")
                                                            : QStringLiteral("git blob SHA-1"),
                                       task.etag, actual));
    } else {
        // Not hashed while written (a git blob SHA-1 needs the size first): hashed now.
        if (const Status s = HubCache::verifyFile(part, task.etag); !s)
            return rejectPart(s.error().message);
    }
    std::error_code ec;
    std::filesystem::rename(part.toStdString(), blob.toStdString(), ec);
    if (ec)
        return finish(
            Error(Error::Code::Io, QStringLiteral("%1: cannot rename to %2: %3")
                                       .arg(part, blob, QString::fromStdString(ec.message()))));
    m_downloaded << task.name;
    m_progress.fileDone = size;
    emitProgress(true);
    m_doneBefore += size;
    m_inTransfer = false;
    if (const Status s = m_cache.linkSnapshotFile(m_options.repo, m_commit, task.name, task.etag);
        !s)
        return finish(s.error());
    downloadNext();
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
    QThread *thread = m_convertThread = QThread::create([this, bin, safetensors, status] {
        *status = convertTorchBinToSafetensors(bin, safetensors, [this](qint64 done, qint64 total) {
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
        m_options.convertToSafetensors = false;
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
