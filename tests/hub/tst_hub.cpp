// The Hub cache layout, finding a model on disk, and downloading one from a fake Hub on 127.0.0.1.
#include "fakehub.h"
#include "testdata.h"

#include "core/common/safetensorsfile.h"
#include "core/hub/hubcache.h"
#include "core/hub/hubdownloader.h"
#include "core/hub/modellocator.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/checkpointconverter.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QNetworkInterface>
#include <QProcess>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>

using namespace ts;
using ts::test::FakeHub;

namespace {

const QString kRepo = QString::fromLatin1(kDefaultModelRepo);
const QString kCommit = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
const QString kBinRepo = QStringLiteral("BridgeTower/tiny-bin-only");
const QString kBinCommit = QStringLiteral("89abcdef0123456789abcdef0123456789abcdef");
const QString kGatedRepo = QStringLiteral("BridgeTower/gated-model");

QStringList allFiles() {
    return ModelLocator::requiredFiles() << QStringLiteral("model.safetensors");
}

QMap<QString, QByteArray> tinyFiles() {
    return FakeHub::readFolder(test::dataDir(QStringLiteral("e2e/tiny-e2e")), allFiles());
}

QMap<QString, QByteArray> binOnlyFiles() {
    // The tokenizer files of the e2e fixture with tiny-add's config and pytorch_model.bin.
    QMap<QString, QByteArray> files = FakeHub::readFolder(
        test::dataDir(QStringLiteral("e2e/tiny-e2e")), ModelLocator::requiredFiles());
    const auto model =
        FakeHub::readFolder(test::dataDir(QStringLiteral("model/tiny-add")),
                            {QStringLiteral("config.json"), QStringLiteral("pytorch_model.bin")});
    files.insert(model);
    return files;
}

bool isSymlink(const QString &path) {
    return QFileInfo(path).isSymLink();
}

QString sha256Of(const QString &name) {
    return QString::fromLatin1(FakeHub::sha256(tinyFiles()[name]));
}

void setModified(const QString &path, const QDateTime &when) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.setFileTime(when, QFileDevice::FileModificationTime));
}

void writeFile(const QString &path, const QByteArray &bytes) {
    QVERIFY(QDir().mkpath(QFileInfo(path).absolutePath()));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    QCOMPARE(f.write(bytes), bytes.size());
}

} // namespace

class TestHub : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<FakeHub> m_hub;

    QString cacheRoot() const { return m_tmp->filePath(QStringLiteral("hub")); }
    HubCache cache() const { return HubCache(cacheRoot()); }

    // Everything under the test's folder that is not inside the cache root (links not followed):
    // what a path traversal would have created.
    QStringList outsideCache() const {
        QStringList out;
        QDirIterator it(m_tmp->path(),
                        QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System,
                        QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QString path = it.next();
            if (path != cacheRoot() && !path.startsWith(cacheRoot() + QLatin1Char('/')))
                out << path;
        }
        return out;
    }

    static QString message(const HubDownloader &dl) {
        return dl.result().ok() ? QStringLiteral("(no error)") : dl.result().error().message;
    }

    std::unique_ptr<HubDownloader> downloader() {
        auto dl = std::make_unique<HubDownloader>(cache());
        dl->setEndpoint(m_hub->url());
        dl->setToken({});
        return dl;
    }

    // Runs one download to the end (bounded wait); returns whether it succeeded.
    static bool run(HubDownloader &dl, HubDownloadOptions options = {}) {
        options.retryDelayMs = 10;
        QSignalSpy done(&dl, &HubDownloader::finished);
        dl.start(options);
        if (!done.wait(60000))
            return false;
        return done.first().first().toBool();
    }

private Q_SLOTS:
    void init() {
        m_tmp = std::make_unique<QTemporaryDir>();
        QVERIFY(m_tmp->isValid());
        // Nothing from the developer's own environment: no token, no real cache, no offline switch.
        qputenv("HF_HOME", m_tmp->path().toUtf8());
        qputenv("HF_HUB_CACHE", cacheRoot().toUtf8());
        qunsetenv("HF_TOKEN");
        qunsetenv("HUGGING_FACE_HUB_TOKEN");
        qunsetenv("HF_TOKEN_PATH");
        qunsetenv("HF_HUB_OFFLINE");
        m_hub = std::make_unique<FakeHub>();
        QVERIFY(m_hub->listen());
        m_hub->addRepo(kRepo, kCommit, tinyFiles());
        m_hub->addRepo(kBinRepo, kBinCommit, binOnlyFiles());
        m_hub->addRepo(kGatedRepo, kCommit, tinyFiles(), /*gated=*/true);
        m_hub->setToken("hf_secret");
        qputenv("HF_ENDPOINT", m_hub->url().toUtf8());
    }

    void cleanup() {
        m_hub.reset();
        m_tmp.reset();
    }

    // ---- HubCache ------------------------------------------------------------------------------

    void cacheRootFollowsEnvironment_data() {
        QTest::addColumn<QByteArray>("hubCache");
        QTest::addColumn<QByteArray>("hfHome");
        QTest::addColumn<QByteArray>("xdg");
        QTest::addColumn<QString>("expected");
        QTest::newRow("HF_HUB_CACHE wins")
            << QByteArray("/a/hub") << QByteArray("/b") << QByteArray("/c") << "/a/hub";
        QTest::newRow("HF_HOME/hub")
            << QByteArray() << QByteArray("/b") << QByteArray("/c") << "/b/hub";
        QTest::newRow("XDG_CACHE_HOME")
            << QByteArray() << QByteArray() << QByteArray("/c") << "/c/huggingface/hub";
        QTest::newRow("home") << QByteArray() << QByteArray() << QByteArray()
                              << QDir::home().filePath(QStringLiteral(".cache/huggingface/hub"));
    }
    void cacheRootFollowsEnvironment() {
        QFETCH(QByteArray, hubCache);
        QFETCH(QByteArray, hfHome);
        QFETCH(QByteArray, xdg);
        QFETCH(QString, expected);
        const QByteArray oldXdg = qgetenv("XDG_CACHE_HOME");
        auto set = [](const char *name, const QByteArray &v) {
            v.isEmpty() ? qunsetenv(name) : qputenv(name, v);
        };
        set("HF_HUB_CACHE", hubCache);
        set("HF_HOME", hfHome);
        set("XDG_CACHE_HOME", xdg);
        const QString root = HubCache::defaultRoot();
        set("XDG_CACHE_HOME", oldXdg);
        QCOMPARE(root, expected);
    }

    void cacheNamesAndEtags() {
        QCOMPARE(HubCache::repoFolderName(kRepo),
                 QStringLiteral("models--BridgeTower--bridgetower-large-itm-mlm-itc"));
        QCOMPARE(HubCache::repoFromFolderName(
                     QStringLiteral("models--BridgeTower--bridgetower-base-itm-mlm")),
                 QStringLiteral("BridgeTower/bridgetower-base-itm-mlm"));
        QCOMPARE(HubCache::normalizeEtag(QStringLiteral("W/\"abc\"")), QStringLiteral("abc"));
        QCOMPARE(HubCache::normalizeEtag(QStringLiteral("\"abc\"")), QStringLiteral("abc"));
        QVERIFY(HubCache::isCommitHash(kCommit));
        QVERIFY(!HubCache::isCommitHash(QStringLiteral("main")));
    }

    void verifyFileChecksSha256AndGitSha1() {
        const QString path = m_tmp->filePath(QStringLiteral("f.txt"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("hello\n");
        f.close();
        // `git hash-object` of "hello\n" and sha256sum of it.
        QVERIFY(
            HubCache::verifyFile(path, QStringLiteral("ce013625030ba8dba906f756967f9e9ca394464a"))
                .ok());
        QVERIFY(HubCache::verifyFile(
                    path, QStringLiteral(
                              "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"))
                    .ok());
        const Status bad = HubCache::verifyFile(path, QString(64, QLatin1Char('0')));
        QVERIFY(!bad.ok());
        QVERIFY2(bad.error().message.contains(path) &&
                     bad.error().message.contains(QLatin1String("SHA-256")),
                 qPrintable(bad.error().message));
    }

    // ---- Downloads -----------------------------------------------------------------------------

    void downloadsCompleteModelIntoCacheLayout() {
        auto dl = downloader();
        QList<HubProgress> reports;
        connect(dl.get(), &HubDownloader::progressChanged, this,
                [&](const HubProgress &p) { reports << p; });
        QVERIFY2(run(*dl),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));

        const QString snapshot = cache().snapshotDir(kRepo, kCommit);
        QCOMPARE(dl->model().directory, snapshot);
        QVERIFY(dl->model().canSearch());
        QCOMPARE(dl->downloadedFiles().size(), allFiles().size());
        const auto files = tinyFiles();
        for (const QString &name : allFiles()) {
            const QString link = snapshot + QLatin1Char('/') + name;
            QVERIFY2(isSymlink(link), qPrintable(link));
            // Relative links into blobs/, named by the etag (sha256 for LFS, git blob sha1 else).
            const QString target = QFileInfo(link).symLinkTarget();
            const QString etag = QString::fromLatin1(name.endsWith(QLatin1String(".safetensors"))
                                                         ? FakeHub::sha256(files[name])
                                                         : FakeHub::gitBlobSha1(files[name]));
            QCOMPARE(QFileInfo(target).canonicalFilePath(),
                     QFileInfo(cache().blobPath(kRepo, etag)).canonicalFilePath());
            QVERIFY(std::filesystem::read_symlink(link.toStdString()).is_relative());
            QFile f(link);
            QVERIFY(f.open(QIODevice::ReadOnly));
            QVERIFY(f.readAll() == files[name]);
        }
        QFile ref(cache().repoDir(kRepo) + QStringLiteral("/refs/main"));
        QVERIFY(ref.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromLatin1(ref.readAll()), kCommit);
        QVERIFY(QDir(cache().repoDir(kRepo) + QStringLiteral("/blobs"))
                    .entryList({QStringLiteral("*.incomplete")}, QDir::Files)
                    .isEmpty());

        // The weights came through the LFS redirect, with the progress ending at the total.
        QCOMPARE(m_hub->count("GET", "/lfs-store/"), 1);
        QVERIFY(!reports.isEmpty());
        QCOMPARE(reports.last().done, reports.last().total);
        QVERIFY(reports.last().total >= files[QStringLiteral("model.safetensors")].size());
    }

    void downloadedModelLoadsThroughModelLoader() {
        auto dl = downloader();
        QVERIFY(run(*dl));
        const auto located = ModelLocator::find({}, cache());
        QVERIFY2(located.ok(), qPrintable(located.ok() ? QString() : located.error().message));
        QCOMPARE(located->directory, cache().snapshotDir(kRepo, kCommit));
        auto model = BridgeTowerModel::load(located->directory);
        QVERIFY2(model.ok(), qPrintable(model.ok() ? QString() : model.error().message));
        QVERIFY((*model)->has(kHeadContrastive));
    }

    // The GETs of the weights, in order, as "range" strings ("" for the whole file). Qt's HTTP
    // transport may send a request a second time, unchanged, when the server closed the
    // connection before the client read any of the reply (seen under CPU load); such a copy is
    // not the downloader's doing, so the checks below are about which ranges were asked for and
    // in what order, not how many requests arrived.
    QList<QByteArray> weightRanges() const {
        QList<QByteArray> out;
        for (const FakeHub::Request &r : m_hub->requests())
            if (r.method == "GET" && r.path.startsWith("/lfs-store/"))
                out << r.range;
        return out;
    }

    void transferCutInTheMiddleIsResumed() {
        m_hub->cutAfter(1 << 20); // the connection drops after 1 MiB of the weights
        auto dl = downloader();
        QVERIFY2(run(*dl),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));
        // From the start, then from the cut: never the whole file again after resuming.
        const QList<QByteArray> ranges = weightRanges();
        QVERIFY2(ranges.size() >= 2, ranges.join(' ').constData());
        QCOMPARE(ranges.first(), QByteArray());
        const qsizetype resumed = ranges.indexOf(QByteArray("bytes=1048576-"));
        QVERIFY2(resumed > 0, ranges.join(' ').constData());
        for (qsizetype i = 0; i < ranges.size(); ++i)
            QCOMPARE(ranges[i], i < resumed ? QByteArray() : QByteArray("bytes=1048576-"));
        QCOMPARE(m_hub->requests().last().range, QByteArray("bytes=1048576-"));
        QVERIFY(HubCache::verifyFile(
                    cache().snapshotFile(kRepo, kCommit, QStringLiteral("model.safetensors")),
                    QString::fromLatin1(
                        FakeHub::sha256(tinyFiles()[QStringLiteral("model.safetensors")])))
                    .ok());
    }

    void interruptedDownloadResumesOnNextRun() {
        m_hub->cutAfter(3 << 20);
        HubDownloadOptions noRetry;
        noRetry.maxRetries = 0;
        {
            auto dl = downloader();
            QVERIFY(!run(*dl, noRetry));
            QVERIFY2(dl->result().error().message.contains(QLatin1String("run again to resume")),
                     qPrintable(dl->result().error().message));
            QVERIFY(dl->result().error().message.contains(QLatin1String("model.safetensors")));
        }
        const QString sha =
            QString::fromLatin1(FakeHub::sha256(tinyFiles()[QStringLiteral("model.safetensors")]));
        const QString part = cache().blobPath(kRepo, sha) + QStringLiteral(".incomplete");
        QCOMPARE(QFileInfo(part).size(), qint64(3 << 20));
        QVERIFY(
            ModelLocator::find({}, cache()).error().message.contains(QLatin1String("incomplete")));

        m_hub->clearRequests();
        auto dl = downloader();
        QVERIFY(run(*dl));
        // Every GET of the second run resumes at the 3 MiB kept on disk.
        const QList<QByteArray> ranges = weightRanges();
        QVERIFY(!ranges.isEmpty());
        for (const QByteArray &range : ranges)
            QCOMPARE(range, QByteArray("bytes=3145728-"));
        QCOMPARE(m_hub->requests().last().range, QByteArray("bytes=3145728-"));
        QCOMPARE(dl->downloadedFiles(),
                 QStringList{QStringLiteral("model.safetensors")}); // the small files were kept
        QVERIFY(!QFileInfo::exists(part));
        QVERIFY(ModelLocator::find({}, cache()).ok());
    }

    void serverIgnoringRangeRestartsTheFile() {
        m_hub->cutAfter(2 << 20);
        HubDownloadOptions noRetry;
        noRetry.maxRetries = 0;
        {
            auto dl = downloader();
            QVERIFY(!run(*dl, noRetry));
        }
        m_hub->setIgnoreRange(true);
        m_hub->clearRequests();
        auto dl = downloader();
        QVERIFY2(run(*dl),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));
        QCOMPARE(m_hub->requests().last().range, QByteArray("bytes=2097152-")); // asked, got 200
        QVERIFY(HubCache::verifyFile(
                    cache().snapshotFile(kRepo, kCommit, QStringLiteral("model.safetensors")),
                    QString::fromLatin1(
                        FakeHub::sha256(tinyFiles()[QStringLiteral("model.safetensors")])))
                    .ok());
    }

    void expiredFileStoreUrlIsRefreshed() {
        m_hub->expireStoreOnce();
        auto dl = downloader();
        QVERIFY2(run(*dl),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));
        QCOMPARE(m_hub->count("GET", "/lfs-store/"), 2);
        QCOMPARE(m_hub->count("HEAD", "/model.safetensors"), 2); // planned, then asked again
    }

    void progressReportsRateAndEtaThrottled() {
        m_hub->setThrottle(5); // ~1.2 s for the weights
        auto dl = downloader();
        QList<HubProgress> reports;
        connect(dl.get(), &HubDownloader::progressChanged, this,
                [&](const HubProgress &p) { reports << p; });
        QElapsedTimer timer;
        timer.start();
        QVERIFY(run(*dl));
        const qint64 ms = timer.elapsed();
        bool sawRate = false;
        qint64 lastDone = 0;
        for (const HubProgress &p : reports) {
            if (p.phase != HubProgress::Phase::Downloading)
                continue;
            sawRate = sawRate || (p.bytesPerSecond > 0 && p.etaSeconds >= 0);
            QVERIFY(p.done >= lastDone); // never goes back
            QVERIFY(p.total < 0 || p.done <= p.total);
            lastDone = p.done;
        }
        QVERIFY(sawRate);
        // ~10 a second, plus one per file and phase.
        QVERIFY2(reports.size() <= ms / 100 + 4 * int(allFiles().size()) + 4,
                 qPrintable(QString::number(reports.size())));
    }

    void cancelKeepsPartialFileAndResumes() {
        m_hub->setThrottle(5);
        auto dl = downloader();
        QSignalSpy done(dl.get(), &HubDownloader::finished);
        connect(dl.get(), &HubDownloader::progressChanged, this, [&](const HubProgress &p) {
            if (p.phase == HubProgress::Phase::Downloading &&
                p.file == QLatin1String("model.safetensors") && p.fileDone > 0)
                dl->cancel();
        });
        dl->start({});
        QVERIFY(done.wait(60000));
        QCOMPARE(done.first().first().toBool(), false);
        QCOMPARE(dl->result().error().code, Error::Code::Cancelled);
        const QString sha =
            QString::fromLatin1(FakeHub::sha256(tinyFiles()[QStringLiteral("model.safetensors")]));
        const qint64 kept =
            QFileInfo(cache().blobPath(kRepo, sha) + QStringLiteral(".incomplete")).size();
        QVERIFY(kept > 0);

        dl->disconnect(this);
        m_hub->setThrottle(0);
        QVERIFY(run(*dl));
        QCOMPARE(m_hub->requests().last().range, "bytes=" + QByteArray::number(kept) + "-");
    }

    void hashMismatchDeletesPartialFile() {
        m_hub->setCorrupt(true);
        auto dl = downloader();
        QVERIFY(!run(*dl));
        const QString msg = dl->result().error().message;
        QVERIFY2(msg.contains(QLatin1String("model.safetensors")) &&
                     msg.contains(QLatin1String("SHA-256 mismatch")) &&
                     msg.contains(QLatin1String("deleted")),
                 qPrintable(msg));
        QVERIFY(QDir(cache().repoDir(kRepo) + QStringLiteral("/blobs"))
                    .entryList({QStringLiteral("*.incomplete")}, QDir::Files)
                    .isEmpty());
        QVERIFY(
            cache().snapshotFile(kRepo, kCommit, QStringLiteral("model.safetensors")).isEmpty());
    }

    void httpErrorsAreExplained_data() {
        QTest::addColumn<QString>("repo");
        QTest::addColumn<QString>("revision");
        QTest::addColumn<QStringList>("mustContain");
        QTest::newRow("404 unknown repository")
            << QStringLiteral("BridgeTower/no-such-model") << QStringLiteral("main")
            << QStringList{QStringLiteral("repository BridgeTower/no-such-model not found"),
                           QStringLiteral("404")};
        QTest::newRow("404 unknown revision")
            << kRepo << QStringLiteral("v9")
            << QStringList{QStringLiteral("revision v9 not found"), QStringLiteral("404")};
        QTest::newRow("401 gated without token")
            << kGatedRepo << QStringLiteral("main")
            << QStringList{kGatedRepo, QStringLiteral("gated"), QStringLiteral("HF_TOKEN"),
                           QStringLiteral("401")};
    }
    void httpErrorsAreExplained() {
        QFETCH(QString, repo);
        QFETCH(QString, revision);
        QFETCH(QStringList, mustContain);
        auto dl = downloader();
        HubDownloadOptions o;
        o.repo = repo;
        o.revision = revision;
        QVERIFY(!run(*dl, o));
        QCOMPARE(dl->result().error().code, Error::Code::NotFound);
        for (const QString &s : mustContain)
            QVERIFY2(dl->result().error().message.contains(s),
                     qPrintable(dl->result().error().message));
        QCOMPARE(m_hub->count("GET", ""), 0);
    }

    void gatedRepositoryWorksWithToken() {
        qputenv("HF_TOKEN", "hf_secret");
        auto dl = std::make_unique<HubDownloader>(cache());
        QCOMPARE(dl->endpoint(), m_hub->url()); // from HF_ENDPOINT
        HubDownloadOptions o;
        o.repo = kGatedRepo;
        QVERIFY2(run(*dl, o),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));
        QCOMPARE(m_hub->requests().first().authorization, QByteArray("Bearer hf_secret"));
        // The token is for the Hub only, never for the file store it redirects to.
        for (const FakeHub::Request &r : m_hub->requests())
            QCOMPARE(r.authorization.isEmpty(), r.path.startsWith("/lfs-store/"));
    }

    void offlineExplainsHowToPlaceFiles() {
        QTcpServer closed;
        QVERIFY(closed.listen(QHostAddress::LocalHost, 0));
        const quint16 port = closed.serverPort();
        closed.close();
        auto dl = downloader();
        dl->setEndpoint(QStringLiteral("http://127.0.0.1:%1").arg(port));
        QVERIFY(!run(*dl));
        const QString msg = dl->result().error().message;
        const QStringList expected = allFiles()
                                     << QStringLiteral("--model") << QStringLiteral("offline");
        for (const QString &s : expected)
            QVERIFY2(msg.contains(s), qPrintable(msg));
    }

    void existingCacheIsFoundAndNotDownloadedAgain() {
        {
            auto dl = downloader();
            QVERIFY(run(*dl));
        }
        m_hub->clearRequests();
        auto dl = downloader();
        QVERIFY(run(*dl));
        QVERIFY(dl->downloadedFiles().isEmpty());
        QCOMPARE(m_hub->count("GET", ""), 0);

        // Without any network: the locator finds it, and the downloader falls back to it.
        QVERIFY(ModelLocator::find({}, cache()).ok());
        qputenv("HF_HUB_OFFLINE", "1");
        m_hub->clearRequests();
        auto offline = downloader();
        QVERIFY(run(*offline));
        QVERIFY(m_hub->requests().isEmpty());
        QCOMPARE(offline->model().directory, cache().snapshotDir(kRepo, kCommit));
    }

    void cacheWrittenByPythonIsReused() {
        // huggingface_hub's layout, made by hand: blobs by etag, relative links, refs/main.
        const auto files = tinyFiles();
        const HubCache c = cache();
        for (auto it = files.begin(); it != files.end(); ++it) {
            const QString etag =
                QString::fromLatin1(it.key().endsWith(QLatin1String(".safetensors"))
                                        ? FakeHub::sha256(it.value())
                                        : FakeHub::gitBlobSha1(it.value()));
            QVERIFY(QDir().mkpath(c.repoDir(kRepo) + QStringLiteral("/blobs")));
            QFile blob(c.blobPath(kRepo, etag));
            QVERIFY(blob.open(QIODevice::WriteOnly));
            blob.write(it.value());
            blob.close();
            QVERIFY(c.linkSnapshotFile(kRepo, kCommit, it.key(), etag).ok());
        }
        QVERIFY(c.writeRef(kRepo, QStringLiteral("main"), kCommit).ok());

        const QList<LocalModel> listed = ModelLocator::listCached(c);
        QCOMPARE(listed.size(), 1);
        QCOMPARE(listed[0].repo, kRepo);
        QCOMPARE(listed[0].refs, QStringList{QStringLiteral("main")});
        QVERIFY(listed[0].canSearch());
        QVERIFY(listed[0].heads & kHeadImageTextMatching);

        auto dl = downloader();
        QVERIFY(run(*dl));
        QVERIFY(dl->downloadedFiles().isEmpty());
        QCOMPARE(m_hub->count("GET", ""), 0);
    }

    void binOnlyRepositoryFallsBackAndConverts() {
        auto dl = downloader();
        HubDownloadOptions o;
        o.repo = kBinRepo;
        o.convertToSafetensors = convertTorchBinToSafetensors;
        QVERIFY2(run(*dl, o),
                 qPrintable(dl->result().ok() ? QString() : dl->result().error().message));
        QVERIFY(dl->downloadedFiles().contains(QStringLiteral("pytorch_model.bin")));
        QCOMPARE(m_hub->count("HEAD", "/model.safetensors"), 1); // asked first, 404
        const QString dir = cache().snapshotDir(kBinRepo, kBinCommit);
        QVERIFY(isSymlink(dir + QStringLiteral("/pytorch_model.bin")));
        const auto converted = SafetensorsFile::open(dir + QStringLiteral("/model.safetensors"));
        QVERIFY2(converted.ok(),
                 qPrintable(converted.ok() ? QString() : converted.error().message));
        QCOMPARE(dl->model().weightsFile, QStringLiteral("model.safetensors"));
    }

    // ---- Hostile servers: paths
    // ------------------------------------------------------------------

    void commitHeaderMustBeFortyLowercaseHex_data() {
        QTest::addColumn<QByteArray>("commit");
        QTest::newRow("parent traversal") << QByteArray("../../../escaped");
        QTest::newRow("traversal padded to 40")
            << QByteArray("../../../escaped-0123456789abcdef01234567").left(40);
        QTest::newRow("backslashes") << QByteArray("..\\..\\..\\escaped");
        QTest::newRow("absolute path") << QByteArray("/towersearch-escaped");
        QTest::newRow("uppercase hex") << kCommit.toUpper().toLatin1();
        QTest::newRow("39 hex digits") << kCommit.left(39).toLatin1();
        QTest::newRow("41 hex digits") << (kCommit + QLatin1Char('0')).toLatin1();
        QTest::newRow("branch name") << QByteArray("main");
    }
    void commitHeaderMustBeFortyLowercaseHex() {
        QFETCH(QByteArray, commit);
        m_hub->setCommitHeader(commit);
        auto dl = downloader();
        QVERIFY2(!run(*dl), "a download with a bad X-Repo-Commit succeeded");
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("X-Repo-Commit")) &&
                     msg.contains(QLatin1String("40 lowercase hex")),
                 qPrintable(msg));
        QCOMPARE(outsideCache(), QStringList());
        QVERIFY(!QFileInfo::exists(cache().repoDir(kRepo) + QStringLiteral("/refs/main")));
        QVERIFY(!QFileInfo::exists(cache().repoDir(kRepo) + QStringLiteral("/snapshots")));
        QCOMPARE(m_hub->count("GET", ""), 0);
    }

    // HubCache itself refuses names that would leave its folder, whoever passes them.
    void cacheRefusesUnsafeNames_data() {
        QTest::addColumn<QString>("commit");
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("etag");
        QTest::addColumn<QString>("revision");
        const QString etag = QString(64, QLatin1Char('a'));
        const QString file = QStringLiteral("config.json");
        const QString main = QStringLiteral("main");
        const QString up = QStringLiteral("../../../../escaped");
        QTest::newRow("commit: parent traversal")
            << QStringLiteral("../../../escaped") << file << etag << main;
        QTest::newRow("commit: uppercase") << kCommit.toUpper() << file << etag << main;
        QTest::newRow("file: parent traversal") << kCommit << up << etag << main;
        QTest::newRow("file: absolute")
            << kCommit << QStringLiteral("/towersearch-escaped") << etag << main;
        QTest::newRow("file: backslash")
            << kCommit << QStringLiteral("..\\..\\escaped") << etag << main;
        QTest::newRow("file: empty segment")
            << kCommit << QStringLiteral("sub//config.json") << etag << main;
        QTest::newRow("file: dot segment")
            << kCommit << QStringLiteral("./config.json") << etag << main;
        QTest::newRow("file: empty") << kCommit << QString() << etag << main;
        QTest::newRow("file: NUL")
            << kCommit << (QStringLiteral("config") + QChar(0) + QStringLiteral(".json")) << etag
            << main;
        QTest::newRow("file: newline")
            << kCommit << QStringLiteral("config\n.json") << etag << main;
        QTest::newRow("etag: parent traversal") << kCommit << file << up << main;
        QTest::newRow("etag: dot dot") << kCommit << file << QStringLiteral("..") << main;
        QTest::newRow("revision: parent traversal") << kCommit << file << etag << up;
        QTest::newRow("revision: absolute")
            << kCommit << file << etag << QStringLiteral("/towersearch-escaped");
    }
    void cacheRefusesUnsafeNames() {
        QFETCH(QString, commit);
        QFETCH(QString, file);
        QFETCH(QString, etag);
        QFETCH(QString, revision);
        const HubCache c = cache();
        const Status link = c.linkSnapshotFile(kRepo, commit, file, etag);
        const Status ref = c.writeRef(kRepo, revision, commit);
        QVERIFY2(!link.ok() || !ref.ok(), "an unsafe name was accepted");
        for (const Status *s : {&link, &ref})
            if (!s->ok())
                QVERIFY2(s->error().message.contains(QLatin1String("unsafe")),
                         qPrintable(s->error().message));
        QCOMPARE(outsideCache(), QStringList());
    }

    // A refs/ file edited to point elsewhere is not followed out of the cache.
    void poisonedRefIsNotFollowed() {
        QVERIFY(QFile::link(test::dataDir(QStringLiteral("e2e/tiny-e2e")),
                            m_tmp->filePath(QStringLiteral("outside"))));
        writeFile(cache().repoDir(kRepo) + QStringLiteral("/refs/main"), "../../../outside");
        QVERIFY(QDir().mkpath(cache().repoDir(kRepo) + QStringLiteral("/snapshots")));
        QVERIFY(cache().resolveRevision(kRepo, QStringLiteral("main")).isEmpty());
        const auto found = ModelLocator::find({}, cache());
        QVERIFY2(!found.ok(), qPrintable(found.ok() ? found->directory : QString()));
    }

    // ---- Hostile servers: the token ----------------------------------------------------------

    void tokenNeverReachesAnotherServer_data() {
        QTest::addColumn<QString>("what");
        QTest::addColumn<bool>("schemeRelative");
        QTest::addColumn<bool>("succeeds");
        QTest::newRow("weights, absolute redirect") << "weights" << false << true;
        QTest::newRow("weights, scheme-relative redirect") << "weights" << true << true;
        QTest::newRow("small files, absolute redirect") << "small" << false << true;
        QTest::newRow("small files, scheme-relative redirect") << "small" << true << true;
        QTest::newRow("metadata, absolute redirect") << "metadata" << false << false;
        QTest::newRow("metadata, scheme-relative redirect") << "metadata" << true << false;
    }
    void tokenNeverReachesAnotherServer() {
        QFETCH(QString, what);
        QFETCH(bool, schemeRelative);
        QFETCH(bool, succeeds);
        // Another origin (same address, another port): a mirror's file store, or an attacker.
        FakeHub foreign;
        QVERIFY(foreign.listen());
        foreign.addRepo(kRepo, kCommit, tinyFiles());
        const QString base = schemeRelative
                                 ? QStringLiteral("//127.0.0.1:%1").arg(QUrl(foreign.url()).port())
                                 : foreign.url();
        if (what == QLatin1String("weights"))
            m_hub->setStoreUrl(base);
        else if (what == QLatin1String("small"))
            m_hub->redirectSmallFileGets(base);
        else
            m_hub->redirectMetadata(base);
        auto dl = downloader();
        dl->setToken(QStringLiteral("hf_secret"));
        QCOMPARE(run(*dl), succeeds);
        if (!succeeds)
            QVERIFY2(dl->result().error().message.contains(QLatin1String("127.0.0.1")),
                     qPrintable(message(*dl)));
        QVERIFY(!m_hub->requests().isEmpty());
        QCOMPARE(m_hub->requests().first().authorization, QByteArray("Bearer hf_secret"));
        for (const FakeHub::Request &r : foreign.requests())
            QVERIFY2(!r.headers.contains("authorization"), r.method + ' ' + r.path);
        if (succeeds) {
            QVERIFY(!foreign.requests().isEmpty()); // the redirect was followed, without the token
            QVERIFY(ModelLocator::find({}, cache()).ok());
        }
    }

    // Plain http:// carries the token only to this machine: a proxy or a network in between would
    // read it.
    void tokenIsNotSentOverPlainHttpToAnotherMachine() {
        QHostAddress lan;
        for (const QHostAddress &a : QNetworkInterface::allAddresses())
            if (a.protocol() == QAbstractSocket::IPv4Protocol && !a.isLoopback()) {
                lan = a;
                break;
            }
        if (lan.isNull())
            QSKIP("this machine has no non-loopback IPv4 address to serve a plain-http Hub on");
        FakeHub remote;
        if (!remote.listen(lan))
            QSKIP(qPrintable(QStringLiteral("cannot listen on %1").arg(lan.toString())));
        remote.addRepo(kGatedRepo, kCommit, tinyFiles(), /*gated=*/true);
        remote.setToken("hf_secret");
        auto dl = downloader();
        dl->setEndpoint(remote.url());
        dl->setToken(QStringLiteral("hf_secret"));
        HubDownloadOptions o;
        o.repo = kGatedRepo;
        QVERIFY(!run(*dl, o));
        QVERIFY(!remote.requests().isEmpty());
        for (const FakeHub::Request &r : remote.requests())
            QVERIFY2(!r.headers.contains("authorization"), r.method + ' ' + r.path);
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("HF_TOKEN was not sent")) &&
                     msg.contains(QLatin1String("https")),
                 qPrintable(msg));
    }

    void tokenGoesOnlyToTheEndpointOrigin_data() {
        QTest::addColumn<QString>("endpoint");
        QTest::addColumn<QString>("url");
        QTest::addColumn<bool>("sendsToken");
        const QString hub = QStringLiteral("https://huggingface.co");
        const QString file = QStringLiteral("/BridgeTower/m/resolve/main/config.json");
        QTest::newRow("same origin") << hub << hub + file << true;
        QTest::newRow("same origin, default port spelled out")
            << hub << QStringLiteral("https://huggingface.co:443") + file << true;
        QTest::newRow("host differs only in case")
            << hub << QStringLiteral("https://HuggingFace.co") + file << true;
        QTest::newRow("https to http downgrade")
            << hub << QStringLiteral("http://huggingface.co") + file << false;
        QTest::newRow("another port")
            << hub << QStringLiteral("https://huggingface.co:8443") + file << false;
        QTest::newRow("another host")
            << hub << QStringLiteral("https://cdn-lfs.hf.co") + file << false;
        QTest::newRow("subdomain")
            << hub << QStringLiteral("https://evil.huggingface.co") + file << false;
        QTest::newRow("user info hiding another host")
            << hub << QStringLiteral("https://huggingface.co@evil.example") + file << false;
        QTest::newRow("scheme-relative location, resolved")
            << hub << QUrl(hub + file).resolved(QUrl(QStringLiteral("//evil.example/x"))).toString()
            << false;
        QTest::newRow("not http") << QStringLiteral("ftp://huggingface.co")
                                  << QStringLiteral("ftp://huggingface.co") + file << false;
        QTest::newRow("plain http mirror on another machine")
            << QStringLiteral("http://mirror.example:8080")
            << QStringLiteral("http://mirror.example:8080") + file << false;
        QTest::newRow("plain http on 127.0.0.1")
            << QStringLiteral("http://127.0.0.1:8080")
            << QStringLiteral("http://127.0.0.1:8080") + file << true;
        QTest::newRow("plain http on localhost")
            << QStringLiteral("http://localhost:8080")
            << QStringLiteral("http://localhost:8080") + file << true;
        QTest::newRow("plain http on ::1") << QStringLiteral("http://[::1]:8080")
                                           << QStringLiteral("http://[::1]:8080") + file << true;
        QTest::newRow("loopback, another port")
            << QStringLiteral("http://127.0.0.1:8080")
            << QStringLiteral("http://127.0.0.1:8081") + file << false;
    }
    void tokenGoesOnlyToTheEndpointOrigin() {
        QFETCH(QString, endpoint);
        QFETCH(QString, url);
        QFETCH(bool, sendsToken);
        QCOMPARE(HubDownloader::sendsTokenTo(QUrl(endpoint), QUrl(url)), sendsToken);
    }

    void messagesShowUrlsWithoutQuery() {
        const QUrl signedUrl(QStringLiteral(
            "https://user:pw@cdn-lfs.hf.co/repos/ab/cd/0123?X-Amz-Signature=deadbeef&Expires=1#f"));
        QCOMPARE(HubDownloader::displayUrl(signedUrl),
                 QStringLiteral("https://cdn-lfs.hf.co/repos/ab/cd/0123"));
    }

    // An https Hub (TLS on 127.0.0.1, a certificate made for the test) that redirects to plain
    // http: the redirect is refused, and the http server never sees the token.
    void httpsIsNeverDowngraded_data() {
        QTest::addColumn<QString>("what");
        QTest::addColumn<bool>("succeeds");
        QTest::newRow("no redirect: works over https") << "none" << true;
        QTest::newRow("small files redirected to http") << "small" << false;
        QTest::newRow("weights store on http") << "weights" << false;
        QTest::newRow("metadata redirected to http") << "metadata" << false;
    }
    void httpsIsNeverDowngraded() {
        QFETCH(QString, what);
        QFETCH(bool, succeeds);
        if (!QSslSocket::supportsSsl())
            QSKIP("Qt has no TLS backend here (QSslSocket::supportsSsl() is false)");
        QProcess openssl;
        openssl.start(QStringLiteral("openssl"),
                      {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                       QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                       QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
                       QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-subj"),
                       QStringLiteral("/CN=127.0.0.1"), QStringLiteral("-addext"),
                       QStringLiteral("subjectAltName=IP:127.0.0.1"), QStringLiteral("-keyout"),
                       m_tmp->filePath(QStringLiteral("key.pem")), QStringLiteral("-out"),
                       m_tmp->filePath(QStringLiteral("cert.pem"))});
        if (!openssl.waitForFinished(30000) || openssl.exitStatus() != QProcess::NormalExit ||
            openssl.exitCode() != 0)
            QSKIP(qPrintable(QStringLiteral("cannot make a test certificate with openssl: %1 %2")
                                 .arg(openssl.errorString(),
                                      QString::fromLocal8Bit(openssl.readAllStandardError()))));
        QFile certFile(m_tmp->filePath(QStringLiteral("cert.pem")));
        QFile keyFile(m_tmp->filePath(QStringLiteral("key.pem")));
        QVERIFY(certFile.open(QIODevice::ReadOnly) && keyFile.open(QIODevice::ReadOnly));
        const QSslCertificate cert(certFile.readAll(), QSsl::Pem);
        const QSslKey key(keyFile.readAll(), QSsl::Ec, QSsl::Pem);
        QVERIFY(!cert.isNull() && !key.isNull());
        // The client trusts the test certificate (every request takes the default configuration).
        const QSslConfiguration saved = QSslConfiguration::defaultConfiguration();
        QSslConfiguration trusting = saved;
        trusting.addCaCertificate(cert);
        QSslConfiguration::setDefaultConfiguration(trusting);
        auto restore = qScopeGuard([&] { QSslConfiguration::setDefaultConfiguration(saved); });
        // TLS files live beside the cache, not in it.
        QVERIFY(QFile::remove(certFile.fileName()) && QFile::remove(keyFile.fileName()));

        FakeHub tls;
        QVERIFY(tls.listenTls(cert, key));
        tls.addRepo(kRepo, kCommit, tinyFiles());
        FakeHub plain;
        QVERIFY(plain.listen());
        plain.addRepo(kRepo, kCommit, tinyFiles());
        if (what == QLatin1String("small"))
            tls.redirectSmallFileGets(plain.url());
        else if (what == QLatin1String("weights"))
            tls.setStoreUrl(plain.url());
        else if (what == QLatin1String("metadata"))
            tls.redirectMetadata(plain.url());
        auto dl = downloader();
        dl->setEndpoint(tls.url());
        dl->setToken(QStringLiteral("hf_secret"));
        QCOMPARE(run(*dl), succeeds);
        QVERIFY(!tls.requests().isEmpty());
        QCOMPARE(tls.requests().first().authorization, QByteArray("Bearer hf_secret"));
        for (const FakeHub::Request &r : plain.requests())
            QVERIFY2(!r.headers.contains("authorization"), r.method + ' ' + r.path);
        if (succeeds)
            return;
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("plain http")) ||
                     msg.contains(QLatin1String("another server")),
                 qPrintable(msg));
        QCOMPARE(plain.count("GET", ""), 0); // nothing fetched over http
    }

    void redirectLoopIsCapped() {
        m_hub->redirectSmallFileGets(m_hub->url());
        auto dl = downloader();
        QVERIFY(!run(*dl));
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("too many redirects")) &&
                     msg.contains(QLatin1String("config.json")),
                 qPrintable(msg));
        QVERIFY2(m_hub->count("GET", "/config.json") <= 11,
                 qPrintable(QString::number(m_hub->count("GET", "/config.json"))));
    }

    // ---- Hostile servers: sizes, bodies, messages
    // ------------------------------------------------

    void bodyLongerThanAnnouncedIsCut() {
        m_hub->setExtraBytes(8 << 20);
        auto dl = downloader();
        qint64 worst = 0;
        connect(dl.get(), &HubDownloader::progressChanged, this, [&](const HubProgress &p) {
            if (p.phase == HubProgress::Phase::Downloading && p.fileTotal >= 0)
                worst = qMax(worst, p.fileDone - p.fileTotal);
        });
        QVERIFY(!run(*dl));
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("model.safetensors")) &&
                     msg.contains(QLatin1String("more than the announced")),
                 qPrintable(msg));
        QCOMPARE(worst, qint64(0)); // never a byte past the announced size on disk
        const QString part = cache().blobPath(kRepo, sha256Of(QStringLiteral("model.safetensors")));
        QVERIFY(!QFileInfo::exists(part + QStringLiteral(".incomplete")));
        QVERIFY(!QFileInfo::exists(part));
    }

    void unannouncedSizeIsCapped_data() {
        QTest::addColumn<qint64>("cap");
        QTest::addColumn<bool>("succeeds");
        QTest::newRow("under the cap: verified by hash") << qint64(64) * 1024 * 1024 << true;
        QTest::newRow("over the cap: stopped") << qint64(100) << false;
    }
    void unannouncedSizeIsCapped() {
        QFETCH(qint64, cap);
        QFETCH(bool, succeeds);
        m_hub->setHideSizes(true);
        auto dl = downloader();
        HubDownloadOptions o;
        o.maxUnannouncedBytes = cap;
        QCOMPARE(run(*dl, o), succeeds);
        if (succeeds) {
            QVERIFY(ModelLocator::find({}, cache()).ok());
            return;
        }
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("config.json")) &&
                     msg.contains(QLatin1String("no size")) && msg.contains(QString::number(cap)),
                 qPrintable(msg));
        QVERIFY(QDir(cache().repoDir(kRepo) + QStringLiteral("/blobs"))
                    .entryList({QStringLiteral("*.incomplete")}, QDir::Files)
                    .isEmpty());
    }

    void errorBodyIsReadOnlyUpToALimit() {
        m_hub->setErrorBody(qint64(16) << 20);
        auto dl = downloader();
        QVERIFY(!run(*dl));
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(QLatin1String("500")), qPrintable(msg));
        // The client hung up instead of buffering 16 MiB of error page.
        QTRY_COMPARE_WITH_TIMEOUT(m_hub->abandonedBodies(), 1, 5000);
    }

    void signedUrlQueryNeverAppearsInMessages_data() {
        QTest::addColumn<QString>("failure");
        QTest::newRow("HTTP error from the file store") << "error";
        QTest::newRow("dropped transfer") << "cut";
        QTest::newRow("hash mismatch") << "corrupt";
    }
    void signedUrlQueryNeverAppearsInMessages() {
        QFETCH(QString, failure);
        m_hub->setStoreUrl(m_hub->url(),
                           "?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeef0secret");
        if (failure == QLatin1String("error"))
            m_hub->setErrorBody(100);
        else if (failure == QLatin1String("cut"))
            m_hub->cutAfter(1 << 20);
        else
            m_hub->setCorrupt(true);
        auto dl = downloader();
        HubDownloadOptions o;
        o.maxRetries = 0;
        QVERIFY(!run(*dl, o));
        QVERIFY(m_hub->requests().last().path.contains("X-Amz-Signature")); // the URL was used
        const QString all = message(*dl) + dl->notes().join(QLatin1Char('\n'));
        QVERIFY2(!all.contains(QLatin1String("X-Amz")) &&
                     !all.contains(QLatin1String("deadbeef0secret")) &&
                     !all.contains(QLatin1String("AKIAEXAMPLE")),
                 qPrintable(all));
        QVERIFY2(all.contains(QLatin1String("model.safetensors")), qPrintable(all));
    }

    // Partial downloads nobody will resume are removed; the one this run needs is resumed; one
    // another process may be writing right now (recently modified) is left alone.
    void stalePartialDownloadsAreRemoved() {
        const QString blobs = cache().repoDir(kRepo) + QStringLiteral("/blobs/");
        const QString old = blobs + QString(64, QLatin1Char('1')) + QStringLiteral(".incomplete");
        const QString fresh = blobs + QString(64, QLatin1Char('2')) + QStringLiteral(".incomplete");
        const QString mine =
            cache().blobPath(kRepo, sha256Of(QStringLiteral("model.safetensors"))) +
            QStringLiteral(".incomplete");
        writeFile(old, QByteArray(4096, 'o'));
        writeFile(fresh, QByteArray(4096, 'f'));
        writeFile(mine, tinyFiles()[QStringLiteral("model.safetensors")].left(1 << 20));
        const QDateTime now = QDateTime::currentDateTime();
        setModified(old, now.addDays(-3));
        setModified(mine, now.addDays(-30));

        auto dl = downloader();
        QVERIFY2(run(*dl), qPrintable(message(*dl)));
        QVERIFY(!QFileInfo::exists(old));
        QVERIFY(QFileInfo::exists(fresh));
        QCOMPARE(m_hub->requests().last().range, QByteArray("bytes=1048576-"));
        QVERIFY2(dl->notes().join(QLatin1Char('\n')).contains(QLatin1String("1 stale partial")),
                 qPrintable(dl->notes().join(QLatin1Char('\n'))));
    }

    void etagThatIsNoHashIsRefused_data() {
        QTest::addColumn<bool>("smallFiles");
        QTest::addColumn<bool>("lfsFiles");
        QTest::addColumn<QString>("file");
        QTest::newRow("small file with an nginx etag") << true << false << "config.json";
        QTest::newRow("weights with an MD5 etag") << false << true << "model.safetensors";
    }
    void etagThatIsNoHashIsRefused() {
        QFETCH(bool, smallFiles);
        QFETCH(bool, lfsFiles);
        QFETCH(QString, file);
        m_hub->setUnverifiableEtags(smallFiles, lfsFiles);
        auto dl = downloader();
        QVERIFY(!run(*dl));
        const QString msg = message(*dl);
        QVERIFY2(msg.contains(file) && msg.contains(QLatin1String("no verifiable hash")),
                 qPrintable(msg));
        QVERIFY(cache().snapshotFile(kRepo, kCommit, file).isEmpty());
        QCOMPARE(m_hub->count("GET", ""), 0);
    }

    void verifyFileRefusesEtagThatIsNoHash() {
        const QString path = m_tmp->filePath(QStringLiteral("f.txt"));
        writeFile(path, "hello\n");
        const Status s = HubCache::verifyFile(path, QStringLiteral("6-5f3c2a1b"));
        QVERIFY(!s.ok());
        QVERIFY2(s.error().message.contains(path) &&
                     s.error().message.contains(QLatin1String("cannot be verified")),
                 qPrintable(s.error().message));
    }

    void userFolderIsCheckedFirst() {
        const auto ok = ModelLocator::find(test::dataDir(QStringLiteral("e2e/tiny-e2e")), cache());
        QVERIFY(ok.ok());
        QVERIFY(ok->canSearch());
        const auto bad =
            ModelLocator::find(test::dataDir(QStringLiteral("model/tiny-add")), cache());
        QVERIFY(!bad.ok());
        QVERIFY2(bad.error().message.contains(QLatin1String("vocab.json")) &&
                     bad.error().message.contains(QLatin1String("tiny-add")),
                 qPrintable(bad.error().message));
    }
};

QTEST_GUILESS_MAIN(TestHub)
#include "tst_hub.moc"
