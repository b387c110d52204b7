// Killed at any moment (SIGKILL), the next start finds an intact catalog (integrity_check ok, no
// duplicates), a vector index in step with it, and resumes without re-embedding anything committed.
// A child process indexes a generated folder; it is killed at random points, 25 rounds with a fixed
// seed (most a random number of photos into the round), and everything is checked after each kill.
#include "fakeembedder.h"
#include "indexer/library.h"
#include "indexertestutil.h"
#include "testcatalog.h"

#include <QProcess>
#include <QRandomGenerator>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

using namespace ts;

namespace {

// The paths with a vector in the catalog (read behind the library's back), and how many photo
// and embedding rows it holds.
QSet<QString> committedPaths(const QString &db, qint64 *rows = nullptr,
                             qint64 *embeddings = nullptr) {
    QSet<QString> out;
    auto opened = sql::Database::open(db, sql::Database::Mode::ReadOnly);
    if (!opened)
        return out;
    sql::Database &raw = **opened;
    auto s = raw.prepare("SELECT p.path FROM photos p JOIN embeddings e ON e.photo_id = p.id");
    while (s.step())
        out.insert(s.pathAt(0));
    auto count = [&](const char *sql) {
        auto c = raw.prepare(sql);
        return c.step() ? c.int64At(0) : qint64(-1);
    };
    if (rows)
        *rows = count("SELECT count(*) FROM photos");
    if (embeddings)
        *embeddings = count("SELECT count(*) FROM embeddings");
    return out;
}

QStringList loggedPaths(const QString &log) {
    QFile f(log);
    QStringList out;
    if (!f.open(QIODevice::ReadOnly))
        return out;
    const QByteArray all = f.readAll();
    const QList<QByteArray> lines = all.split('\n');
    // The last piece has no newline: a line the kill cut short, or empty.
    for (qsizetype i = 0; i + 1 < lines.size(); ++i)
        out << QString::fromUtf8(lines[i]);
    return out;
}

} // namespace

class TestIndexerKill : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void killedAtRandomMomentsResumesWithoutLoss();
};

void TestIndexerKill::killedAtRandomMomentsResumesWithoutLoss() {
    constexpr int kPhotos = 600;
    constexpr int kRounds = 25;
    QTemporaryDir tmp;
    const QString folder = tmp.filePath(QStringLiteral("photos"));
    const QString db = test::catalogLocation(tmp.filePath(QStringLiteral("lib/library.sqlite")));
    for (int i = 0; i < kPhotos; ++i)
        QVERIFY(test::writePhoto(folder + QStringLiteral("/d%1/p%2.png").arg(i % 7).arg(i),
                                 quint32(i), 12, 12));
    QRandomGenerator rng(20261127);
    int killedWorking = 0;
    int roundsWithProgress = 0;
    QStringList committedPerRound;
    for (int round = 0; round <= kRounds; ++round) {
        const bool last = round == kRounds;
        const QSet<QString> before = committedPaths(db);
        const QString log = tmp.filePath(QStringLiteral("log-%1.txt").arg(round));
        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        child.setReadChannel(QProcess::StandardOutput);
        child.start(QStringLiteral(TOWERSEARCH_INDEXER_CHILD),
                    {db, folder, log, QStringLiteral("25"), QStringLiteral("4")});
        QVERIFY(child.waitForStarted(10000));
        if (last) {
            QVERIFY(child.waitForFinished(60000));
            QCOMPARE(child.exitStatus(), QProcess::NormalExit);
            QCOMPARE(child.exitCode(), 0);
        } else {
            // The kill lands at a random moment of the run itself, not of the process start-up
            // (which takes a variable second or so while libraries load).
            QElapsedTimer startUp;
            startUp.start();
            while (!child.canReadLine() && child.state() == QProcess::Running &&
                   startUp.elapsed() < 30000)
                child.waitForReadyRead(100);
            // Most kills land after a random number of photos embedded in this round and a few
            // random ms more: inside an embedding, a commit or between two, on a machine of any
            // speed (kills at random ms alone let a fast machine finish the library in the first
            // rounds, and the later rounds killed nothing). Every fifth round is killed at random
            // in its first 150 ms instead: the scan and the first batch.
            int delay = int(rng.bounded(150));
            if (round % 5 != 4) {
                const qsizetype embeddedFirst = 1 + rng.bounded(40);
                QElapsedTimer working;
                working.start();
                while (child.state() == QProcess::Running &&
                       loggedPaths(log).size() < embeddedFirst && working.elapsed() < 30000)
                    child.waitForFinished(5);
                delay = int(rng.bounded(30));
            }
            if (!child.waitForFinished(delay)) {
                child.kill(); // SIGKILL
                QVERIFY(child.waitForFinished(10000));
                ++killedWorking;
            }
        }
        // Nothing committed before this round was embedded again.
        const QStringList embedded = loggedPaths(log);
        for (const QString &p : embedded)
            QVERIFY2(!before.contains(p),
                     qPrintable(QStringLiteral("round %1 re-embedded %2").arg(round).arg(p)));
        // The catalog is intact and the index, once the library opens, in step with it.
        qint64 rows = 0, embeddings = 0;
        const QSet<QString> after = committedPaths(db, &rows, &embeddings);
        QVERIFY(after.size() >= before.size());
        if (!last && after.size() > before.size() && after.size() < kPhotos)
            ++roundsWithProgress; // killed between two commits, with work done and left
        committedPerRound << QString::number(after.size());
        QCOMPARE(embeddings, qint64(after.size())); // one model: one vector per indexed photo
        LibraryOptions options;
        options.databasePath = db;
        options.watchFolders = false;
        auto lib = Library::open(options);
        QVERIFY2(lib, lib ? "" : qPrintable(lib.error().message));
        QVERIFY((*lib)->setEmbedder(std::make_shared<test::FakeEmbedder>()).ok());
        QCOMPARE((*lib)->checkConsistency(), QStringLiteral("ok"));
        QCOMPARE((*lib)->stats().photos, rows);
        if (last) {
            QCOMPARE(after.size(), kPhotos);
            QCOMPARE((*lib)->stats().indexed, kPhotos);
        }
    }
    qInfo("killed %d of %d rounds mid-run; committed after each round: %s", killedWorking, kRounds,
          qPrintable(committedPerRound.join(QLatin1Char(' '))));
    QVERIFY(killedWorking >= kRounds / 2);
    QVERIFY(roundsWithProgress >=
            kRounds / 3); // the kills landed while photos were being committed
}

QTEST_GUILESS_MAIN(TestIndexerKill)
#include "tst_indexer_kill.moc"
