// The Hub client's parts on their own: its HTTP rules (core/hub/internal/hubhttp.h), the etag
// kinds of HubCache, and ModelLocator checking a checkpoint folder. This executable links
// tscore_hub without the model (tscore_model, LibTorch): it builds only while hub does not need it.
#include "testdata.h"

#include "core/hub/hubcache.h"
#include "core/hub/internal/hubhttp.h"
#include "core/hub/modellocator.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using namespace ts;

class TestHubParts : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // ---- HubCache: what an etag says about the bytes ------------------------------------------

    void etagKindFollowsTheHashOfTheBytes_data() {
        QTest::addColumn<QString>("etag");
        QTest::addColumn<int>("kind");
        const QByteArray bytes("BridgeTower weights, or any bytes at all\n");
        const QString sha256 = QString::fromLatin1(
            QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
        const QString sha1 =
            QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha1).toHex());
        const QString md5 =
            QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Md5).toHex());
        QTest::newRow("sha256") << sha256 << int(HubCache::EtagKind::Sha256);
        QTest::newRow("sha256, upper case") << sha256.toUpper() << int(HubCache::EtagKind::Sha256);
        QTest::newRow("git blob sha1") << sha1 << int(HubCache::EtagKind::GitBlobSha1);
        QTest::newRow("md5") << md5 << int(HubCache::EtagKind::Unverifiable);
        QTest::newRow("sha256 cut by one")
            << sha256.chopped(1) << int(HubCache::EtagKind::Unverifiable);
        QTest::newRow("sha256 with a non-hex digit")
            << sha256.left(63) + QLatin1Char('g') << int(HubCache::EtagKind::Unverifiable);
        QTest::newRow("quoted sha1") << QLatin1Char('"') + sha1.left(38) + QLatin1Char('"')
                                     << int(HubCache::EtagKind::Unverifiable);
        QTest::newRow("empty") << QString() << int(HubCache::EtagKind::Unverifiable);
    }
    void etagKindFollowsTheHashOfTheBytes() {
        QFETCH(QString, etag);
        QFETCH(int, kind);
        QCOMPARE(int(HubCache::etagKind(etag)), kind);
    }

    // The git blob hash is git's own: compared with `git hash-object` on the same bytes.
    void gitBlobHeaderGivesGitsBlobHash_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::newRow("empty") << QByteArray();
        QTest::newRow("a line") << QByteArray("{\"model_type\": \"bridgetower\"}\n");
        QTest::newRow("binary with NUL") << QByteArray("\0\1\2\xff", 4).repeated(3000);
    }
    void gitBlobHeaderGivesGitsBlobHash() {
        QFETCH(QByteArray, bytes);
        const QString git = QStandardPaths::findExecutable(QStringLiteral("git"));
        if (git.isEmpty())
            QSKIP("git is not installed: no reference for the blob hash");
        QProcess p;
        p.start(git, {QStringLiteral("hash-object"), QStringLiteral("--stdin")});
        QVERIFY(p.waitForStarted());
        p.write(bytes);
        p.closeWriteChannel();
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 0);
        const QByteArray expected = p.readAllStandardOutput().trimmed();
        QCryptographicHash hash(QCryptographicHash::Sha1);
        hash.addData(HubCache::gitBlobHeader(bytes.size()));
        hash.addData(bytes);
        QCOMPARE(hash.result().toHex(), expected);
        // verifyFile() uses the same rule.
        QTemporaryDir tmp;
        QFile f(tmp.filePath(QStringLiteral("blob")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        QCOMPARE(f.write(bytes), bytes.size());
        f.close();
        QVERIFY(HubCache::verifyFile(f.fileName(), QString::fromLatin1(expected)).ok());
    }

    // ---- HTTP rules
    // ------------------------------------------------------------------------------

    void sameOriginComparesSchemeHostAndPort_data() {
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<bool>("same");
        QTest::newRow("same URL") << "https://hub.example/a"
                                  << "https://hub.example/b" << true;
        QTest::newRow("default port spelled") << "https://hub.example/a"
                                              << "https://hub.example:443/b" << true;
        QTest::newRow("host case") << "https://Hub.Example/a"
                                   << "https://hub.example/b" << true;
        QTest::newRow("other port") << "https://hub.example/a"
                                    << "https://hub.example:8443/b" << false;
        QTest::newRow("other scheme") << "https://hub.example/a"
                                      << "http://hub.example/b" << false;
        QTest::newRow("other host") << "https://hub.example/a"
                                    << "https://cdn.example/b" << false;
        QTest::newRow("no host") << "file:///a"
                                 << "file:///b" << false;
    }
    void sameOriginComparesSchemeHostAndPort() {
        QFETCH(QString, a);
        QFETCH(QString, b);
        QFETCH(bool, same);
        QCOMPARE(internal::sameOrigin(QUrl(a), QUrl(b)), same);
    }

    void downgradeIsHttpsToHttpOnly_data() {
        QTest::addColumn<QString>("from");
        QTest::addColumn<QString>("to");
        QTest::addColumn<bool>("downgrade");
        QTest::newRow("https to http") << "https://hub.example/a"
                                       << "http://cdn.example/a" << true;
        QTest::newRow("HTTPS to HTTP") << "HTTPS://hub.example/a"
                                       << "HTTP://cdn.example/a" << true;
        QTest::newRow("https to https") << "https://hub.example/a"
                                        << "https://cdn.example/a" << false;
        QTest::newRow("http to https") << "http://127.0.0.1/a"
                                       << "https://cdn.example/a" << false;
        QTest::newRow("http to http") << "http://127.0.0.1/a"
                                      << "http://127.0.0.1/b" << false;
    }
    void downgradeIsHttpsToHttpOnly() {
        QFETCH(QString, from);
        QFETCH(QString, to);
        QFETCH(bool, downgrade);
        QCOMPARE(internal::isDowngrade(QUrl(from), QUrl(to)), downgrade);
    }

    void loopbackHostsAreRecognised_data() {
        QTest::addColumn<QString>("host");
        QTest::addColumn<bool>("loopback");
        QTest::newRow("localhost") << "LocalHost" << true;
        QTest::newRow("127.0.0.1") << "127.0.0.1" << true;
        QTest::newRow("127.1.2.3") << "127.1.2.3" << true;
        QTest::newRow("::1") << "::1" << true;
        QTest::newRow("10.0.0.1") << "10.0.0.1" << false;
        QTest::newRow("a name") << "hub.example" << false;
    }
    void loopbackHostsAreRecognised() {
        QFETCH(QString, host);
        QFETCH(bool, loopback);
        QCOMPARE(internal::isLoopbackHost(host), loopback);
    }

    // A server's header in a message: control characters cannot reach a terminal, length is cut.
    void quotedHidesControlCharactersAndCuts() {
        const QString hostile = QStringLiteral("abc\x1b[2Jdef\r\n\x7f");
        const QString q = internal::quoted(hostile);
        QVERIFY2(q.startsWith(QLatin1Char('"')) && q.endsWith(QLatin1Char('"')), qPrintable(q));
        for (const QChar c : q)
            QVERIFY2(c.unicode() >= 0x20 && c.unicode() != 0x7f, qPrintable(q));
        QCOMPARE(q.size(), hostile.size() + 2);
        const QString longValue(500, QLatin1Char('x'));
        const QString cut = internal::quoted(longValue);
        QVERIFY(cut.endsWith(QLatin1String("...\"")));
        QVERIFY(cut.size() < 110);
    }

    // ---- ModelLocator without the model ---------------------------------------------------------

    // The e2e fixture is a complete contrastive checkpoint: its config is read and its heads are
    // found from the safetensors header, with no model code linked.
    void inspectReadsConfigAndHeadsWithoutTheModel() {
        const LocalModel m = ModelLocator::inspect(test::dataDir(QStringLiteral("e2e/tiny-e2e")));
        QVERIFY2(m.usable(), qPrintable(m.problem));
        QCOMPARE(m.weightsFile, QStringLiteral("model.safetensors"));
        QVERIFY(m.canSearch());
    }

    void inspectRefusesABadConfig() {
        QTemporaryDir tmp;
        const QDir fixture(test::dataDir(QStringLiteral("e2e/tiny-e2e")));
        // A named list: `requiredFiles() << x` in the loop header would iterate a destroyed
        // temporary.
        const QStringList files = ModelLocator::requiredFiles()
                                  << QStringLiteral("model.safetensors");
        for (const QString &f : files)
            QVERIFY(QFile::copy(fixture.filePath(f), tmp.filePath(f)));
        QFile config(tmp.filePath(QStringLiteral("config.json")));
        QVERIFY(config.open(QIODevice::WriteOnly | QIODevice::Truncate));
        config.write("{\"model_type\": \"bridgetower\", \"text_config\": 7}");
        config.close();
        const LocalModel m = ModelLocator::inspect(tmp.path());
        QVERIFY(!m.usable());
        QVERIFY2(m.problem.contains(QLatin1String("config.json")), qPrintable(m.problem));
    }
};

QTEST_GUILESS_MAIN(TestHubParts)
#include "tst_hubparts.moc"
