#pragma once

#include "core/common/result.h"
#include "core/hub/hubcache.h"
#include "core/hub/modellocator.h"

#include <QElapsedTimer>
#include <QFile>
#include <QList>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QStringList>
#include <QThread>
#include <QUrl>

#include <functional>
#include <memory>

class QCryptographicHash;
class QNetworkAccessManager;
class QNetworkReply;
class QNetworkRequest;
class QThread;

namespace ts {

// Writes `safetensorsPath` from the PyTorch checkpoint `binPath`, reporting progress(done, total)
// in bytes. Called on a worker thread; must not throw. The app passes core/model's
// convertTorchBinToSafetensors: the Hub client does not link the model itself.
using CheckpointConverter =
    std::function<Status(const QString &binPath, const QString &safetensorsPath,
                         std::function<void(qint64 done, qint64 total)>)>;

struct HubDownloadOptions {
    QString repo = QString::fromLatin1(kDefaultModelRepo);
    QString revision = QStringLiteral("main");
    // After a pytorch_model.bin download, write model.safetensors next to it (once) with this
    // converter, so later starts memory-map it instead of parsing the pickle. Empty: no conversion.
    CheckpointConverter convertToSafetensors;
    // Resumes (HTTP Range) after a dropped connection, per file, before giving up.
    int maxRetries = 3;
    int retryDelayMs = 1000;
    int transferTimeoutMs = 60000; // a stalled transfer counts as dropped after this
    // A file whose size no header announced (neither X-Linked-Size nor Content-Length) is stopped
    // when it grows past this: above every BridgeTower checkpoint (3.7 GB), and still an end to a
    // server that never stops sending.
    qint64 maxUnannouncedBytes = qint64(8) << 30;
};

// One progress report (at most ~10 a second, plus one at the end of each file).
struct HubProgress {
    enum class Phase { Checking, Downloading, Verifying, Converting };
    Phase phase = Phase::Checking;
    QString file;
    int fileIndex = 0; // 0-based, of fileCount
    int fileCount = 0;
    qint64 fileDone = 0;
    qint64 fileTotal = -1; // -1 when unknown
    qint64 done = 0;       // bytes of every file of this run that had to be fetched
    qint64 total = -1;
    double bytesPerSecond = 0; // smoothed
    qint64 etaSeconds = -1;    // -1 when unknown
};

// Gets a BridgeTower checkpoint from the Hugging Face Hub into the Hub cache (HubCache), the way
// huggingface_hub does, so Python tools and TowerSearch share one copy.
//
// For repo@revision it asks `$HF_ENDPOINT/{repo}/resolve/{revision}/{file}` (HEAD, redirects not
// followed) for the commit (X-Repo-Commit), the file's etag (X-Linked-Etag for LFS files: their
// SHA-256; else ETag: the git blob SHA-1) and size, for config.json, preprocessor_config.json,
// vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json and model.safetensors
// (pytorch_model.bin when the revision has no safetensors). Files already in the snapshot or the
// blobs are not fetched again. Each missing file is streamed (redirects to the file store followed)
// into blobs/<etag>.incomplete, hashed while written, resumed with `Range: bytes=N-` after a
// dropped connection (up to maxRetries) or on a later run, verified, renamed into place and linked
// from snapshots/<commit>/; a hash or size mismatch deletes the partial file. refs/<revision>
// records the commit. HF_TOKEN (or the token file of `huggingface-cli login`) is sent as a bearer
// token. With HF_HUB_OFFLINE=1, or when the Hub cannot be reached, a complete cached snapshot is
// used as is; otherwise the error explains how to place the files by hand.
//
// The server is not trusted (HF_ENDPOINT may name a mirror or a proxy):
// - X-Repo-Commit must be a commit hash (40 lowercase hex digits) and every etag a SHA-256 or a
//   git blob SHA-1; anything else stops the run before a file is written. A file without a
//   verifiable hash is never stored: the error says so and how to place the files by hand.
// - Redirects are followed by this class only (at most 10 per request, never from https to
//   http). The token goes only to the origin of HF_ENDPOINT (same scheme, host and port), never
//   to the file store it redirects to, and over plain http only to a loopback address.
// - No file grows past its announced size (X-Linked-Size, else Content-Length), nor past
//   maxUnannouncedBytes when no size was announced; error bodies are read up to 64 KiB; messages
//   show URLs without their query (signed URLs carry credentials there).
// - Partial downloads (blobs/*.incomplete) of etags this run does not need, untouched for a day,
//   are removed when a run has planned its files.
//
// Usage (the CLI and the first-run dialog):
//   auto *dl = new HubDownloader(HubCache::fromEnvironment(), this);
//   connect(dl, &HubDownloader::progressChanged, ...);   // bars, rate, ETA
//   connect(dl, &HubDownloader::finished, [dl](bool ok) { ok ? dl->model() : dl->result().error();
//   }); dl->start(options);   // dl->cancel() stops; a later start() resumes where it stopped
//
// Thread-safety: a QObject living in one thread (usually the GUI thread); call every method from
// that thread. Work is asynchronous (Qt Network on the event loop); only the optional conversion
// runs on a short-lived worker thread. No exception leaves this class.
class HubDownloader : public QObject {
    Q_OBJECT
public:
    explicit HubDownloader(HubCache cache, QObject *parent = nullptr);
    ~HubDownloader() override;

    // $HF_ENDPOINT, else https://huggingface.co.
    static QString defaultEndpoint();
    // $HF_TOKEN, else $HUGGING_FACE_HUB_TOKEN, else the file $HF_TOKEN_PATH or $HF_HOME/token
    // (~/.cache/huggingface/token). Empty when none.
    static QString defaultToken();
    // Whether a request to `url` may carry the token of `endpoint`: same scheme (http or https),
    // host and port (default ports filled in), and https unless the host is a loopback address.
    static bool sendsTokenTo(const QUrl &endpoint, const QUrl &url);
    // `url` for a message or a log: without query, fragment and user info.
    static QString displayUrl(const QUrl &url);

    void setEndpoint(const QString &endpoint) { m_endpoint = endpoint; }
    void setToken(const QString &token) { m_token = token; }
    const QString &endpoint() const { return m_endpoint; }
    const HubCache &cache() const { return m_cache; }

    // Starts (or, after a cancel or a failure, resumes) fetching. Ignored while running.
    void start(const HubDownloadOptions &options);
    // Stops the transfer; `finished(false)` follows with a Cancelled error. The partial file is
    // kept, so a later start() resumes. A running conversion finishes first.
    void cancel();
    bool isRunning() const { return m_running; }

    // After finished(): success, or what went wrong (the file, the URL or the folder named).
    const Status &result() const { return m_result; }
    // After a successful run: the snapshot folder and what it can do.
    const LocalModel &model() const { return m_model; }
    // Files this run transferred (the rest came from the cache).
    const QStringList &downloadedFiles() const { return m_downloaded; }
    // Informational lines (offline fallback used, conversion done, ...).
    const QStringList &notes() const { return m_notes; }

Q_SIGNALS:
    void progressChanged(const ts::HubProgress &progress);
    void finished(bool ok);

private:
    struct FileTask {
        QString name;
        QString etag;
        qint64 size = -1;
        QUrl location; // where the Hub redirected (LFS file store), else empty
        bool locationRefreshed = false;
        bool needsDownload = false;
        int retries = 0;
    };
    enum class HeadStep { Required, Safetensors, Bin };
    // What the Hub's HEAD answer says about m_headFile, checked.
    struct HeadAnswer {
        FileTask task;
        QString commit;
    };

    void headNext();
    void sendHead(const QUrl &url, int redirectsLeft);
    void onHeadFinished(QNetworkReply *reply, int redirectsLeft);
    // A redirect of the HEAD request that ends here: followed (a renamed repository) or refused
    // (finished with the error). False for any other answer, a redirect to the file store
    // included.
    bool followedHeadRedirect(QNetworkReply *reply, int status, int redirectsLeft);
    // The file's etag, size, file-store location and the commit; fails when the server's words
    // could not be trusted (no commit hash, no verifiable hash, the commit changed).
    Result<HeadAnswer> readHeadAnswer(QNetworkReply *reply, int status) const;
    // Records the file as present, linked from a blob already there, or to be downloaded.
    void planFile(FileTask task);
    void planDone();
    void downloadNext();
    void sendGet();
    void rehashStep();
    void refreshLocation();
    void startTransfer();
    void sendTransfer(const QUrl &url);
    void drainBody(QNetworkReply *reply);
    Result<QUrl> redirectTarget(QNetworkReply *reply);
    void removeStalePartials();
    void onGetReadyRead();
    // The answer's first bytes: whether its body is the file from m_partStart on. A resume at the
    // wrong offset is stopped; an error page is drained (or, for an expired signed URL, marks the
    // location for a refresh).
    bool acceptTransferStatus(QNetworkReply *reply, int status);
    // The server ignored Range: the partial file and its hash start again.
    void restartPart();
    // Writes the body's next bytes to the partial file and its hash, within the announced size.
    void appendToPart(QNetworkReply *reply, const QByteArray &data);
    void onGetFinished();
    // The connection dropped: resumed after retryDelayMs while retries are left (progress resets
    // the count), else the download fails naming how far it got.
    void resumeOrGiveUp(const QUrl &url, const QString &dropped);
    void completeFile();
    void maybeConvert();
    void finish(Status status);
    void emitProgress(bool force);
    bool fallBackToCache(const QString &why);
    QNetworkRequest makeRequest(const QUrl &url, bool withToken = true) const;
    QUrl resolveUrl(const QString &file) const;
    Error httpError(QNetworkReply *reply, const QString &file) const;
    Error offlineError(const QString &why) const;
    // A stop by cancel() once files are planned: the partial file is kept for the next run.
    Error cancelledError() const;

    HubCache m_cache;
    QString m_endpoint;
    QString m_token;
    QNetworkAccessManager *m_network = nullptr;

    HubDownloadOptions m_options;
    bool m_running = false;
    bool m_cancelled = false;
    Status m_result;
    LocalModel m_model;
    QStringList m_downloaded;
    QStringList m_notes;

    // Planning (HEAD requests).
    QStringList m_headQueue;
    QString m_headFile;
    HeadStep m_headStep = HeadStep::Required;
    QString m_commit;
    QList<FileTask> m_tasks;

    // Transfer of m_tasks[m_current].
    int m_current = -1;
    QPointer<QNetworkReply> m_reply;
    QPointer<QThread> m_convertThread;
    QFile m_part;
    std::unique_ptr<QCryptographicHash> m_hash;
    qint64 m_partStart = 0; // bytes in the .incomplete file when this request started
    bool m_statusChecked = false;
    bool m_refreshLocation = false; // the file store refused a signed URL: get a new one
    Status m_replyError;            // set by readyRead when the response cannot be used
    bool m_fromStore = false;       // this transfer started at the file store: never the token
    int m_redirects = 0;            // followed for this transfer
    bool m_drainBody = false;       // an error or redirect body: read up to a limit, not kept
    qint64 m_drained = 0;
    bool m_stopped = false;     // we aborted the reply ourselves (its error is not the cause)
    bool m_discardPart = false; // the partial file is garbage: delete it on failure
    qint64 m_limit = -1;        // bytes the partial file may reach (-1: the unannounced cap)

    // Progress.
    HubProgress m_progress;
    qint64 m_doneBefore = 0;   // bytes of finished files of this run
    bool m_inTransfer = false; // m_progress.fileDone counts towards `done`
    QElapsedTimer m_clock;
    qint64 m_lastEmitMs = -1000;
    qint64 m_lastRateMs = 0;
    qint64 m_lastRateBytes = 0;
};

} // namespace ts

Q_DECLARE_METATYPE(ts::HubProgress)
