// HubDownloader's transfers: streaming each planned file into blobs/<etag>.incomplete with its
// hash, following redirects itself, resuming with Range after a dropped connection or an expired
// signed URL, then verifying and linking it into the snapshot. The planning (HEAD requests), the
// run's lifecycle and progress are in hubdownloader.cpp.
#include "core/hub/hubdownloader.h"

#include "core/hub/internal/hubhttp.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>
#include <QUrl>

#include <filesystem>
#include <system_error>

namespace ts {

using namespace internal;

namespace {

// A chain of redirects longer than this is a loop (the Hub uses one, a CDN two or three).
constexpr int kMaxRedirects = 10;
// An error or redirect page is read up to this much, then the connection is closed.
constexpr qint64 kMaxErrorBody = 64 * 1024;

} // namespace

void HubDownloader::downloadNext() {
    if (m_cancelled)
        return finish(cancelledError());
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
    const HubCache::EtagKind kind = HubCache::etagKind(task.etag);
    const bool sha256 = kind == HubCache::EtagKind::Sha256;
    const bool gitSha1 = kind == HubCache::EtagKind::GitBlobSha1 && task.size >= 0;
    m_hash.reset();
    if (sha256 || gitSha1) {
        m_hash = std::make_unique<QCryptographicHash>(sha256 ? QCryptographicHash::Sha256
                                                             : QCryptographicHash::Sha1);
        if (gitSha1)
            m_hash->addData(HubCache::gitBlobHeader(task.size));
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
        return finish(cancelledError());
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
    if (!m_statusChecked) {
        m_statusChecked = true;
        if (!acceptTransferStatus(reply, status))
            return;
    }
    const QByteArray data = reply->readAll();
    if (data.isEmpty())
        return;
    appendToPart(reply, data);
}

bool HubDownloader::acceptTransferStatus(QNetworkReply *reply, int status) {
    const FileTask &task = m_tasks[m_current];
    if (status == 206) {
        const QString range = header(reply, "Content-Range"); // "bytes N-M/T"
        const qint64 first =
            range.section(QLatin1Char(' '), 1).section(QLatin1Char('-'), 0, 0).toLongLong();
        if (first != m_partStart) {
            m_replyError = Error(Error::Code::Io,
                                 QStringLiteral("%1: the server resumed at byte %2 instead of %3")
                                     .arg(displayUrl(reply->url()))
                                     .arg(first)
                                     .arg(m_partStart));
            m_stopped = true;
            reply->abort();
            return false;
        }
        if (m_limit < 0) { // no size from the Hub: the file store's own word, if any
            bool ok = false;
            const qint64 total = range.section(QLatin1Char('/'), 1).toLongLong(&ok);
            m_limit = ok && total >= 0 ? total : -1;
        }
        return true;
    }
    if (status == 200) {
        if (m_partStart > 0)
            restartPart(); // the server ignored Range
        if (m_limit < 0) {
            bool ok = false;
            const qint64 length = header(reply, "Content-Length").toLongLong(&ok);
            m_limit = ok && length >= 0 ? length : -1;
        }
        return true;
    }
    m_drainBody = true;
    if ((status == 401 || status == 403 || status == 410) && task.location.isValid() &&
        !task.locationRefreshed)
        m_refreshLocation = true; // handled when the (short) error body has arrived
    else
        m_replyError = httpError(reply, task.name);
    drainBody(reply);
    return false;
}

void HubDownloader::restartPart() {
    const FileTask &task = m_tasks[m_current];
    m_lastRateBytes = m_doneBefore;
    m_part.resize(0);
    m_part.seek(0);
    m_partStart = 0;
    m_progress.fileDone = 0;
    if (m_hash) {
        m_hash->reset();
        if (HubCache::etagKind(task.etag) == HubCache::EtagKind::GitBlobSha1)
            m_hash->addData(HubCache::gitBlobHeader(task.size));
    }
}

void HubDownloader::appendToPart(QNetworkReply *reply, const QByteArray &data) {
    const FileTask &task = m_tasks[m_current];
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
    if (!dropped.isEmpty())
        return resumeOrGiveUp(reply->url(), dropped);
    completeFile();
}

void HubDownloader::resumeOrGiveUp(const QUrl &url, const QString &dropped) {
    FileTask &task = m_tasks[m_current];
    // Progress resets the budget: a slow but moving connection is never given up on.
    if (m_progress.fileDone > m_partStart)
        task.retries = 0;
    if (task.retries < m_options.maxRetries) {
        ++task.retries;
        QTimer::singleShot(m_options.retryDelayMs, this, [this] {
            if (m_cancelled)
                return finish(cancelledError());
            sendGet();
        });
        return;
    }
    m_part.close();
    finish(Error(
        Error::Code::Io,
        QStringLiteral("downloading %1 from %2 stopped after %3 of %4: %5; run again to resume")
            .arg(task.name, displayUrl(url), mib(m_progress.fileDone), mib(task.size), dropped)));
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
            return finish(cancelledError());
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
                                  .arg(HubCache::etagKind(task.etag) == HubCache::EtagKind::Sha256
                                           ? QStringLiteral("SHA-256")
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

} // namespace ts
