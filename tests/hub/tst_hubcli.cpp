// `towersearch-cli model list | download | verify` against a fake Hub on 127.0.0.1.
#include "clirun.h"
#include "fakehub.h"
#include "testdata.h"

#include "core/hub/hubcache.h"
#include "core/hub/modellocator.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace ts;
using ts::test::FakeHub;

namespace {

const QString kRepo = QString::fromLatin1(kDefaultModelRepo);
const QString kCommit = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
const QString kBaseRepo = QStringLiteral("BridgeTower/bridgetower-base-itm-mlm");

using Run = ts::test::CliRun;

} // namespace

class TestHubCli : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    std::unique_ptr<FakeHub> m_hub;

    QString cacheRoot() const { return m_tmp->filePath(QStringLiteral("hub")); }

    // Runs the CLI while the fake Hub keeps serving (the event loop turns during the wait).
    Run cli(const QStringList &args, const QString &endpoint = {}) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("HF_HOME"), m_tmp->path());
        env.insert(QStringLiteral("HF_HUB_CACHE"), cacheRoot());
        env.insert(QStringLiteral("HF_ENDPOINT"), endpoint.isEmpty() ? m_hub->url() : endpoint);
        env.remove(QStringLiteral("HF_TOKEN"));
        env.remove(QStringLiteral("HF_HUB_OFFLINE"));
        return ts::test::runCli(QStringLiteral(TOWERSEARCH_CLI_PATH), args, 120000, env,
                                ts::test::CliWait::ServingEvents);
    }

private Q_SLOTS:
    void init() {
        m_tmp = std::make_unique<QTemporaryDir>();
        QVERIFY(m_tmp->isValid());
        m_hub = std::make_unique<FakeHub>();
        QVERIFY(m_hub->listen());
        QStringList names = ModelLocator::requiredFiles();
        names << QStringLiteral("model.safetensors");
        m_hub->addRepo(kRepo, kCommit,
                       FakeHub::readFolder(test::dataDir(QStringLiteral("e2e/tiny-e2e")), names));
        auto base = FakeHub::readFolder(test::dataDir(QStringLiteral("e2e/tiny-e2e")),
                                        ModelLocator::requiredFiles());
        base.insert(FakeHub::readFolder(
            test::dataDir(QStringLiteral("model/tiny-add")),
            {QStringLiteral("config.json"), QStringLiteral("pytorch_model.bin")}));
        m_hub->addRepo(kBaseRepo, kCommit, base);
    }
    void cleanup() {
        m_hub.reset();
        m_tmp.reset();
    }

    void downloadThenListThenVerify() {
        const Run dl = cli({QStringLiteral("model"), QStringLiteral("download")});
        QVERIFY2(dl.exitCode == 0, qPrintable(dl.err));
        const QString snapshot = HubCache(cacheRoot()).snapshotDir(kRepo, kCommit);
        QVERIFY2(dl.out.contains(snapshot), qPrintable(dl.out));
        QVERIFY2(dl.err.contains(QLatin1String("100%")),
                 qPrintable(dl.err)); // plain progress lines off a TTY

        const Run again = cli({QStringLiteral("model"), QStringLiteral("download")});
        QCOMPARE(again.exitCode, 0);
        QVERIFY2(again.out.contains(QLatin1String("0 downloaded")), qPrintable(again.out));

        const Run list = cli({QStringLiteral("model"), QStringLiteral("list")});
        QCOMPARE(list.exitCode, 0);
        QVERIFY2(list.out.contains(kRepo) && list.out.contains(QLatin1String("contrastive")) &&
                     list.out.contains(QLatin1String("(main)")),
                 qPrintable(list.out));

        const Run verify = cli({QStringLiteral("model"), QStringLiteral("verify")});
        QVERIFY2(verify.exitCode == 0, qPrintable(verify.out + verify.err));
        QVERIFY2(verify.out.contains(QLatin1String("ok  model.safetensors (SHA-256)")) &&
                     verify.out.contains(QLatin1String("ok  vocab.json (git SHA-1)")),
                 qPrintable(verify.out));

        // A damaged blob is caught.
        QFile vocab(snapshot + QStringLiteral("/vocab.json"));
        QVERIFY(vocab.open(QIODevice::ReadWrite));
        vocab.seek(10);
        vocab.write("X");
        vocab.close();
        const Run bad = cli({QStringLiteral("model"), QStringLiteral("verify"), snapshot});
        QCOMPARE(bad.exitCode, 3);
        QVERIFY2(bad.out.contains(QLatin1String("BAD vocab.json")), qPrintable(bad.out));
    }

    void baseCheckpointIsMarkedAsUnableToSearch() {
        const Run dl = cli({QStringLiteral("model"), QStringLiteral("download"), kBaseRepo});
        QVERIFY2(dl.exitCode == 0, qPrintable(dl.err));
        QVERIFY2(dl.out.contains(QLatin1String("cannot search")), qPrintable(dl.out));
        const Run list = cli({QStringLiteral("model"), QStringLiteral("list")});
        QVERIFY2(list.out.contains(kBaseRepo) && list.out.contains(QLatin1String("cannot search")),
                 qPrintable(list.out));
    }

    // A proxy's credentials in HF_ENDPOINT are not echoed to the terminal or a log.
    void endpointCredentialsAreNotPrinted() {
        const QString endpoint =
            m_hub->url().replace(QLatin1String("http://"), QLatin1String("http://me:pa55word@"));
        const Run dl = cli({QStringLiteral("model"), QStringLiteral("download")}, endpoint);
        QVERIFY2(dl.exitCode == 0, qPrintable(dl.err));
        QVERIFY2(dl.err.contains(m_hub->url()), qPrintable(dl.err)); // the server is still named
        QVERIFY2(!(dl.out + dl.err).contains(QLatin1String("pa55word")), qPrintable(dl.err));
    }

    void errorsHaveExitCodes() {
        const Run missing = cli({QStringLiteral("model"), QStringLiteral("download"),
                                 QStringLiteral("BridgeTower/no-such-model")});
        QCOMPARE(missing.exitCode, 4);
        QVERIFY2(missing.err.contains(QLatin1String("not found")), qPrintable(missing.err));
        const Run usage = cli({QStringLiteral("model"), QStringLiteral("frobnicate")});
        QCOMPARE(usage.exitCode, 2);
    }
};

QTEST_GUILESS_MAIN(TestHubCli)
#include "tst_hubcli.moc"
