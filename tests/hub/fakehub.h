#pragma once

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QMap>
#include <QObject>
#include <QString>
#include <QTcpServer>

#include <memory>

class QSslCertificate;
class QSslKey;
class QTcpSocket;

namespace ts::test {

// A small HTTP/1.1 server on 127.0.0.1 that answers like the Hugging Face Hub:
//   HEAD/GET /{org}/{name}/resolve/{revision}/{file}
//     small files: 200, ETag = git blob SHA-1, X-Repo-Commit, Content-Length
//     LFS files (*.safetensors, *.bin): 302 to /lfs-store/<sha256> (absolute URL, like the CDN),
//       X-Linked-Etag = SHA-256, X-Linked-Size, X-Repo-Commit
//     unknown repo/revision/file: 404 with X-Error-Code; gated repo without the token: 401
//   GET /lfs-store/<sha256>: the bytes, with Range (206) support
// Switches make it cut a transfer, serve wrong bytes, ignore Range, or behave like a hostile or
// misconfigured server (redirects elsewhere, bad headers, oversized bodies). Single-threaded (the
// test's event loop); every request is logged with its headers, so a second instance serves as
// the "foreign" host that must never see the token.
class FakeHub : public QObject {
    Q_OBJECT
public:
    struct Request {
        QByteArray method;
        QByteArray path;
        QByteArray range;
        QByteArray authorization;
        QMap<QByteArray, QByteArray> headers; // names in lower case
    };

    explicit FakeHub(QObject *parent = nullptr);
    bool listen(const QHostAddress &address = QHostAddress::LocalHost);
    // The same over TLS on 127.0.0.1 (QSslServer), with this certificate and key.
    bool listenTls(const QSslCertificate &certificate, const QSslKey &key);
    // http(s)://<address>:<port>
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

    // ---- Hostile or misconfigured servers ----
    // LFS redirects point to `base` + /lfs-store/<sha256> + `query` instead of this server (another
    // server's url(), or "//host:port" for a scheme-relative Location).
    void setStoreUrl(const QString &base, const QByteArray &query = {}) {
        m_storeBase = base;
        m_storeQuery = query;
    }
    // GETs of small files answer 302 to `base` + the same path (empty: off). This server's own
    // url() makes an endless redirect loop.
    void redirectSmallFileGets(const QString &base) { m_smallGetBase = base; }
    // Every resolve/ request answers 307 to `base` + the same path, without file metadata (what
    // the Hub does for a renamed repository).
    void redirectMetadata(const QString &base) { m_metadataBase = base; }
    // X-Repo-Commit carries this instead of the repository's commit.
    void setCommitHeader(const QByteArray &commit) { m_commitHeader = commit; }
    // Etags that are no hash: nginx-style "size-mtime" for small files, a 32-hex MD5 for LFS files.
    void setUnverifiableEtags(bool smallFiles, bool lfsFiles) {
        m_plainSmallEtags = smallFiles;
        m_plainLfsEtags = lfsFiles;
    }
    // LFS bodies carry `bytes` more than the announced X-Linked-Size.
    void setExtraBytes(qint64 bytes) { m_extraBytes = bytes; }
    // No size anywhere: HEAD without Content-Length/X-Linked-Size, GET bodies end at close.
    void setHideSizes(bool on) { m_hideSizes = on; }
    // LFS transfers fail with HTTP 500 and an error body of `bytes` (sent in throttled pieces).
    void setErrorBody(qint64 bytes) { m_errorBody = bytes; }
    // Throttled bodies the client stopped reading before their end (it closed the connection).
    int abandonedBodies() const { return m_abandonedBodies; }

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
               const QByteArray &body, bool sendBody, qint64 cut = -1, bool withLength = true);
    void sendThrottled(QTcpSocket *socket, QByteArray body, qint64 cut);

    std::unique_ptr<QTcpServer> m_server;
    bool m_tls = false;
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
    QString m_storeBase;
    QByteArray m_storeQuery;
    QString m_smallGetBase;
    QString m_metadataBase;
    QByteArray m_commitHeader;
    bool m_plainSmallEtags = false;
    bool m_plainLfsEtags = false;
    qint64 m_extraBytes = 0;
    bool m_hideSizes = false;
    qint64 m_errorBody = -1;
    int m_abandonedBodies = 0;
};

} // namespace ts::test
