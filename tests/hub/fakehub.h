#pragma once

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QObject>
#include <QString>
#include <QTcpServer>

class QTcpSocket;

namespace ts::test {

// A small HTTP/1.1 server on 127.0.0.1 that answers like the Hugging Face Hub:
//   HEAD/GET /{org}/{name}/resolve/{revision}/{file}
//     small files: 200, ETag = git blob SHA-1, X-Repo-Commit, Content-Length
//     LFS files (*.safetensors, *.bin): 302 to /lfs-store/<sha256> (absolute URL, like the CDN),
//       X-Linked-Etag = SHA-256, X-Linked-Size, X-Repo-Commit
//     unknown repo/revision/file: 404 with X-Error-Code; gated repo without the token: 401
//   GET /lfs-store/<sha256>: the bytes, with Range (206) support
// Switches make it cut a transfer, serve wrong bytes, or ignore Range. Single-threaded (the test's
// event loop); every request is logged.
class FakeHub : public QObject {
    Q_OBJECT
public:
    struct Request {
        QByteArray method;
        QByteArray path;
        QByteArray range;
        QByteArray authorization;
    };

    explicit FakeHub(QObject *parent = nullptr);
    bool listen();
    QString url() const;

    // Serves `files` (name -> bytes) as repo@main and repo@commit.
    void addRepo(const QString &repo, const QString &commit, const QMap<QString, QByteArray> &files,
                 bool gated = false);
    // Files from a folder on disk.
    static QMap<QString, QByteArray> readFolder(const QString &dir, const QStringList &names);

    static QByteArray sha256(const QByteArray &data);
    static QByteArray gitBlobSha1(const QByteArray &data);

    // The next `times` LFS transfers close the connection after `bytes` body bytes.
    void cutAfter(qint64 bytes, int times = 1) {
        m_cutAfter = bytes;
        m_cutTimes = times;
    }
    // LFS transfers carry one wrong byte (a hash mismatch for the client).
    void setCorrupt(bool on) { m_corrupt = on; }
    // LFS bodies are sent in 64 KiB pieces every `ms` milliseconds (0: all at once).
    void setThrottle(int ms) { m_throttleMs = ms; }
    void setToken(const QByteArray &token) { m_token = token; }
    // Answers Range requests with the whole file (200), as some proxies do.
    void setIgnoreRange(bool on) { m_ignoreRange = on; }
    // The next LFS transfer is refused with 403, like an expired signed URL.
    void expireStoreOnce() { m_expireOnce = true; }

    const QList<Request> &requests() const { return m_requests; }
    void clearRequests() { m_requests.clear(); }
    int count(const QByteArray &method, const QByteArray &pathPart) const;

private:
    struct Repo {
        QString commit;
        QMap<QString, QByteArray> files;
        bool gated = false;
    };
    void onNewConnection();
    void onReadyRead(QTcpSocket *socket);
    void handle(QTcpSocket *socket, const QByteArray &method, const QByteArray &path,
                const QMap<QByteArray, QByteArray> &headers);
    void reply(QTcpSocket *socket, int status, const QList<QPair<QByteArray, QByteArray>> &headers,
               const QByteArray &body, bool sendBody, qint64 cut = -1);
    void sendThrottled(QTcpSocket *socket, QByteArray body, qint64 cut);

    QTcpServer m_server;
    QMap<QString, Repo> m_repos;
    QMap<QByteArray, QByteArray> m_lfs; // sha256 hex -> bytes
    QList<Request> m_requests;
    qint64 m_cutAfter = -1;
    int m_cutTimes = 0;
    bool m_corrupt = false;
    bool m_ignoreRange = false;
    bool m_expireOnce = false;
    int m_throttleMs = 0;
    QByteArray m_token;
};

} // namespace ts::test
