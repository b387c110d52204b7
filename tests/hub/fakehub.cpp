#include "fakehub.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QPointer>
#include <QSslConfiguration>
#include <QSslServer>
#include <QTcpSocket>
#include <QTimer>
#include <QUrl>

#include <memory>

namespace ts::test {

FakeHub::FakeHub(QObject *parent) : QObject(parent), m_server(std::make_unique<QTcpServer>()) {
    connect(m_server.get(), &QTcpServer::newConnection, this, &FakeHub::onNewConnection);
}

bool FakeHub::listen(const QHostAddress &address) {
    return m_server->listen(address, 0);
}

bool FakeHub::listenTls(const QSslCertificate &certificate, const QSslKey &key) {
    auto server = std::make_unique<QSslServer>();
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setLocalCertificate(certificate);
    config.setPrivateKey(key);
    server->setSslConfiguration(config);
    // A TLS connection is pending only once its handshake is done.
    connect(server.get(), &QTcpServer::pendingConnectionAvailable, this, &FakeHub::onNewConnection);
    m_server = std::move(server);
    m_tls = true;
    return m_server->listen(QHostAddress::LocalHost, 0);
}

QString FakeHub::url() const {
    const QHostAddress a = m_server->serverAddress();
    const QString host = a.protocol() == QAbstractSocket::IPv6Protocol
                             ? QStringLiteral("[%1]").arg(a.toString())
                             : a.toString();
    return QStringLiteral("%1://%2:%3")
        .arg(m_tls ? QStringLiteral("https") : QStringLiteral("http"), host)
        .arg(m_server->serverPort());
}

QByteArray FakeHub::sha256(const QByteArray &data) {
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

QByteArray FakeHub::gitBlobSha1(const QByteArray &data) {
    return QCryptographicHash::hash("blob " + QByteArray::number(data.size()) +
                                        QByteArray(1, '\0') + data,
                                    QCryptographicHash::Sha1)
        .toHex();
}

QMap<QString, QByteArray> FakeHub::readFolder(const QString &dir, const QStringList &names) {
    QMap<QString, QByteArray> out;
    for (const QString &name : names) {
        QFile f(QDir(dir).filePath(name));
        if (f.open(QIODevice::ReadOnly))
            out.insert(name, f.readAll());
    }
    return out;
}

static bool isLfs(const QString &name) {
    return name.endsWith(QLatin1String(".safetensors")) || name.endsWith(QLatin1String(".bin"));
}

void FakeHub::addRepo(const QString &repo, const QString &commit,
                      const QMap<QString, QByteArray> &files, bool gated) {
    m_repos.insert(repo, Repo{commit, files, gated});
    for (auto it = files.begin(); it != files.end(); ++it)
        if (isLfs(it.key()))
            m_lfs.insert(sha256(it.value()), it.value());
}

int FakeHub::count(const QByteArray &method, const QByteArray &pathPart) const {
    int n = 0;
    for (const Request &r : m_requests)
        n += (r.method == method && r.path.contains(pathPart)) ? 1 : 0;
    return n;
}

void FakeHub::onNewConnection() {
    while (QTcpSocket *socket = m_server->nextPendingConnection()) {
        connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
    }
}

void FakeHub::onReadyRead(QTcpSocket *socket) {
    // Requests without bodies (HEAD/GET): parse every complete header block, keep-alive.
    QByteArray buffer = socket->property("buffer").toByteArray() + socket->readAll();
    qsizetype end;
    while ((end = buffer.indexOf("\r\n\r\n")) >= 0) {
        const QList<QByteArray> lines = buffer.left(end).split('\n');
        buffer.remove(0, end + 4);
        const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
        QMap<QByteArray, QByteArray> headers;
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines[i].indexOf(':');
            if (colon > 0)
                headers.insert(lines[i].left(colon).trimmed().toLower(),
                               lines[i].mid(colon + 1).trimmed());
        }
        if (socket->state() != QAbstractSocket::ConnectedState)
            return;
        handle(socket, first.value(0), first.value(1), headers);
    }
    socket->setProperty("buffer", buffer);
}

void FakeHub::handle(QTcpSocket *socket, const QByteArray &method, const QByteArray &rawPath,
                     const QMap<QByteArray, QByteArray> &headers) {
    m_requests.append(
        {method, rawPath, headers.value("range"), headers.value("authorization"), headers});
    const bool body = method == "GET";
    const qsizetype query = rawPath.indexOf('?'); // signed URLs carry one
    const QByteArray pathOnly = query < 0 ? rawPath : rawPath.left(query);
    const QString path = QUrl::fromPercentEncoding(pathOnly);

    if (path.startsWith(QLatin1String("/lfs-store/"))) {
        const QByteArray sha = path.mid(11).toLatin1();
        if (!m_lfs.contains(sha))
            return reply(socket, 404, {}, "Not found", body);
        if (m_expireOnce && body) {
            m_expireOnce = false;
            return reply(socket, 403, {}, "Request has expired", body);
        }
        if (m_errorBody >= 0 && body)
            return reply(socket, 500, {}, QByteArray(m_errorBody, 'e'), body);
        QByteArray data = m_lfs.value(sha);
        if (m_corrupt && !data.isEmpty())
            data[data.size() / 2] = char(data[data.size() / 2] ^ 0x5a);
        if (m_extraBytes > 0)
            data += QByteArray(m_extraBytes, 'x');
        qint64 cut = -1;
        if (m_cutTimes > 0 && body) {
            --m_cutTimes;
            cut = m_cutAfter;
        }
        const QByteArray range = headers.value("range");
        if (!m_ignoreRange && range.startsWith("bytes=") && range.endsWith('-')) {
            const qint64 from = range.mid(6, range.size() - 7).toLongLong();
            if (from >= data.size())
                return reply(socket, 416,
                             {{"Content-Range", "bytes */" + QByteArray::number(data.size())}}, {},
                             body);
            const QByteArray part = data.mid(from);
            return reply(socket, 206,
                         {{"Content-Range", "bytes " + QByteArray::number(from) + '-' +
                                                QByteArray::number(data.size() - 1) + '/' +
                                                QByteArray::number(data.size())}},
                         part, body, cut);
        }
        return reply(socket, 200, {{"Accept-Ranges", "bytes"}}, data, body, cut, !m_hideSizes);
    }

    // /{org}/{name}/resolve/{revision}/{file...}
    const QStringList parts = path.split(QLatin1Char('/'));
    if (parts.size() < 6 || parts[3] != QLatin1String("resolve"))
        return reply(socket, 404, {}, "Not found", body);
    const QString repoName = parts[1] + QLatin1Char('/') + parts[2];
    const QString revision = parts[4];
    const QString file = parts.mid(5).join(QLatin1Char('/'));
    if (!m_repos.contains(repoName))
        return reply(
            socket, 404,
            {{"X-Error-Code", "RepoNotFound"}, {"X-Error-Message", "Repository not found"}}, "",
            body);
    if (!m_metadataBase.isEmpty())
        return reply(socket, 307, {{"Location", m_metadataBase.toLatin1() + rawPath}}, {}, body);
    const Repo &repo = m_repos[repoName];
    if (repo.gated && headers.value("authorization") != "Bearer " + m_token)
        return reply(socket, 401,
                     {{"X-Error-Code", "GatedRepo"},
                      {"X-Error-Message", "Access to this repository is restricted"}},
                     "", body);
    if (revision != QLatin1String("main") && revision != repo.commit)
        return reply(socket, 404, {{"X-Error-Code", "RevisionNotFound"}}, "", body);
    const QByteArray commit = m_commitHeader.isEmpty() ? repo.commit.toLatin1() : m_commitHeader;
    if (!repo.files.contains(file))
        return reply(socket, 404, {{"X-Error-Code", "EntryNotFound"}, {"X-Repo-Commit", commit}},
                     "", body);
    const QByteArray data = repo.files.value(file);
    if (isLfs(file)) {
        const QByteArray sha = sha256(data);
        const QByteArray linkedEtag =
            m_plainLfsEtags ? QCryptographicHash::hash(data, QCryptographicHash::Md5).toHex() : sha;
        QList<QPair<QByteArray, QByteArray>> lfsHeaders{
            {"Location", (m_storeBase.isEmpty() ? url() : m_storeBase).toLatin1() + "/lfs-store/" +
                             sha + m_storeQuery},
            {"X-Repo-Commit", commit},
            {"X-Linked-Etag", '"' + linkedEtag + '"'},
            {"ETag", "\"" + gitBlobSha1("version https://git-lfs.github.com/spec/v1\n") + "\""}};
        if (!m_hideSizes)
            lfsHeaders.append({"X-Linked-Size", QByteArray::number(data.size())});
        return reply(socket, 302, lfsHeaders, {}, body, -1, !m_hideSizes);
    }
    if (body && !m_smallGetBase.isEmpty())
        return reply(socket, 302, {{"Location", m_smallGetBase.toLatin1() + rawPath}}, {}, body);
    const QByteArray etag =
        m_plainSmallEtags ? QByteArray::number(data.size(), 16) + "-5f3c2a1b" : gitBlobSha1(data);
    return reply(socket, 200, {{"X-Repo-Commit", commit}, {"ETag", '"' + etag + '"'}}, data, body,
                 -1, !m_hideSizes);
}

void FakeHub::reply(QTcpSocket *socket, int status,
                    const QList<QPair<QByteArray, QByteArray>> &headers, const QByteArray &body,
                    bool sendBody, qint64 cut, bool withLength) {
    static const QMap<int, QByteArray> reasons{{200, "OK"},
                                               {206, "Partial Content"},
                                               {302, "Found"},
                                               {307, "Temporary Redirect"},
                                               {401, "Unauthorized"},
                                               {403, "Forbidden"},
                                               {404, "Not Found"},
                                               {416, "Range Not Satisfiable"},
                                               {500, "Internal Server Error"}};
    QByteArray head =
        "HTTP/1.1 " + QByteArray::number(status) + ' ' + reasons.value(status, "Status") + "\r\n";
    for (const auto &h : headers)
        head += h.first + ": " + h.second + "\r\n";
    if (withLength)
        head += "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n";
    else
        head += "Connection: close\r\n\r\n"; // the body ends when the connection does
    socket->write(head);
    if (!sendBody) {
        if (!withLength)
            socket->disconnectFromHost();
        return;
    }
    if (!withLength && cut < 0)
        cut = body.size(); // send it all, then close
    if ((m_throttleMs > 0 || m_errorBody >= 0) && body.size() > 65536)
        return sendThrottled(socket, body, cut);
    if (cut >= 0 && (cut < body.size() || !withLength)) {
        socket->write(body.left(cut));
        socket->disconnectFromHost(); // sends what is buffered, then closes: a dropped transfer
        return;
    }
    socket->write(body);
}

void FakeHub::sendThrottled(QTcpSocket *socket, QByteArray body, qint64 cut) {
    QPointer<QTcpSocket> guard(socket);
    auto *timer = new QTimer(this);
    auto sent = std::make_shared<qint64>(0);
    connect(timer, &QTimer::timeout, this, [this, guard, timer, body, cut, sent] {
        const qint64 limit = cut >= 0 ? qMin<qint64>(cut, body.size()) : body.size();
        if (!guard || guard->state() != QAbstractSocket::ConnectedState) {
            if (*sent < limit)
                ++m_abandonedBodies;
            timer->deleteLater();
            return;
        }
        const qint64 n = qMin<qint64>(65536, limit - *sent);
        guard->write(body.constData() + *sent, n);
        *sent += n;
        if (*sent >= limit) {
            if (limit < body.size() || cut == body.size())
                guard->disconnectFromHost();
            timer->deleteLater();
        }
    });
    timer->start(qMax(m_throttleMs, 1));
}

} // namespace ts::test
