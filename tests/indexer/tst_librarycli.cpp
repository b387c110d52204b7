// The library commands of towersearch-cli end to end on the fixture photos and the tiny model:
// index, status, search, similar, forget, a bad file, a newer database refused, and Ctrl+C
// followed by a resuming `index`.
#include "clirun.h"
#include "core/search/duplicates.h"
#include "indexertestutil.h"
#include "nearcopies.h"
#include "testcatalog.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using nlohmann::json;

namespace {

using Run = ts::test::CliRun;

Run cli(const QStringList &args, int timeoutMs = 120000,
        const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment()) {
    return ts::test::runCli(QStringLiteral(TOWERSEARCH_CLI_PATH), args, timeoutMs, env);
}

// A machine of its own: its config folder (roots.json) in the environment.
QProcessEnvironment machine(const QString &configHome) {
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), configHome);
    return env;
}

QString modelDir() {
    return ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
}

} // namespace

class TestLibraryCli : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString photos() const { return m_tmp.filePath(QStringLiteral("photos")); }
    QString db() const {
        return ts::test::catalogLocation(m_tmp.filePath(QStringLiteral("db/library.sqlite")));
    }
    QStringList common() const {
        return {QStringLiteral("--db"), db(), QStringLiteral("--model"), modelDir()};
    }

private Q_SLOTS:
    void initTestCase();
    void indexStatusSearchSimilarForget();
    void interruptedIndexResumes();
    void oddFileNamesKeepOneLineAndExactJson();
    void newerDatabaseIsRefused();
    void statusShowsTheLibraryTheAppIndexedAndOfflineFolders();
    void switchingPrecisionKeepsTheLibrary();
    void duplicatesListsTheCopiesMade();
    void rootsMapOneShareOnTwoMachines();
    void rootsCommandRefusesBadRequests_data();
    void rootsCommandRefusesBadRequests();
    void workerIndexesAndStatusListsTheWorkers();
};

void TestLibraryCli::initTestCase() {
    QDir().mkpath(photos());
    for (const QString &name : QDir(modelDir() + QStringLiteral("/images")).entryList(QDir::Files))
        QVERIFY(QFile::copy(modelDir() + QStringLiteral("/images/") + name,
                            photos() + QLatin1Char('/') + name));
    QFile bad(photos() + QStringLiteral("/broken.jpg"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("not a jpeg");
}

void TestLibraryCli::indexStatusSearchSimilarForget() {
    Run r =
        cli(QStringList{QStringLiteral("index"), photos(), QStringLiteral("--json")} + common());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 4);
    QCOMPARE(r.j["failed"].get<int>(), 1);
    QCOMPARE(r.j["failures"].size(), size_t(1));

    // Plain (not a terminal): progress lines and a summary.
    r = cli(QStringList{QStringLiteral("index")} + common());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QLatin1String("0 embedded")) &&
                 r.out.contains(QLatin1String("5 unchanged")),
             qPrintable(r.out));

    r = cli({QStringLiteral("status"), QStringLiteral("--db"), db(), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["photos"].get<int>(), 5);
    QCOMPARE(r.j["indexed"].get<int>(), 4);
    QCOMPARE(r.j["failed"].get<int>(), 1);
    QCOMPARE(r.j["consistency"].get<std::string>(), std::string("ok"));
    QVERIFY(QString::fromStdString(r.j["failures"][0]["path"].get<std::string>())
                .endsWith(QLatin1String("broken.jpg")));
    QVERIFY(!r.j["model"].is_null());
    r = cli({QStringLiteral("status"), QStringLiteral("--db"), db()});
    QVERIFY(r.out.contains(QLatin1String("failed: ")) &&
            r.out.contains(QLatin1String("broken.jpg")));

    r = cli(QStringList{QStringLiteral("search"), QStringLiteral("a cat on a couch"),
                        QStringLiteral("--json")} +
            common());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(4));
    QCOMPARE(r.j["results"][0]["rank"].get<int>(), 1);
    QVERIFY(!r.j["results"][0]["match_probability"].is_null());
    r = cli(QStringList{QStringLiteral("search"), QStringLiteral("a cat")} + common());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.out.count(QLatin1Char('\n')), 4);

    const QString query = photos() + QStringLiteral("/photo_chelsea.png");
    r = cli(QStringList{QStringLiteral("similar"), query, QStringLiteral("--json")} + common());
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(3));
    for (const auto &hit : r.j["results"])
        QVERIFY(QString::fromStdString(hit["path"].get<std::string>()) != query);

    r = cli({QStringLiteral("forget"), photos(), QStringLiteral("--db"), db(),
             QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["photos"].get<int>(), 0);
    r = cli({QStringLiteral("forget"), photos(), QStringLiteral("--db"), db()});
    QCOMPARE(r.exitCode, 4); // not in the library
    r = cli({QStringLiteral("status"), QStringLiteral("--db"), db(), QStringLiteral("--json")});
    QCOMPARE(r.j["photos"].get<int>(), 0);
    QCOMPARE(r.j["consistency"].get<std::string>(), std::string("ok"));

    r = cli(QStringList{QStringLiteral("index"), m_tmp.filePath(QStringLiteral("nope"))} +
            common());
    QCOMPARE(r.exitCode, 4);
}

void TestLibraryCli::interruptedIndexResumes() {
    QTemporaryDir tmp;
    const QString many = tmp.filePath(QStringLiteral("many"));
    for (int i = 0; i < 400; ++i)
        QVERIFY(
            ts::test::writePhoto(many + QStringLiteral("/p%1.jpg").arg(i), quint32(i), 320, 240));
    const QString dbPath = ts::test::catalogLocation(tmp.filePath(QStringLiteral("lib.sqlite")));
    const QStringList args{
        QStringLiteral("index"),   many,       QStringLiteral("--db"),   dbPath,
        QStringLiteral("--model"), modelDir(), QStringLiteral("--json"), QStringLiteral("--batch"),
        QStringLiteral("4")};
    QProcess p;
    p.start(QStringLiteral(TOWERSEARCH_CLI_PATH), args);
    QVERIFY(p.waitForStarted());
    // Interrupt once the first batches are committed (read behind the CLI's back, as another
    // program on the file or server would).
    auto committed = [&] {
        auto db = ts::sql::Database::open(dbPath, ts::sql::Database::Mode::ReadOnly);
        if (!db)
            return qint64(0);
        auto s = (*db)->prepare("SELECT count(*) FROM embeddings");
        return s.step() ? s.int64At(0) : qint64(0);
    };
    QTRY_VERIFY_WITH_TIMEOUT(committed() >= 8 || p.state() == QProcess::NotRunning, 60000);
    if (p.state() == QProcess::NotRunning)
        QSKIP("the machine indexed everything before the interrupt");
    ::kill(pid_t(p.processId()), SIGINT);
    QVERIFY(p.waitForFinished(30000));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 130);
    const json first = json::parse(p.readAllStandardOutput().toStdString());
    QVERIFY(first["interrupted"].get<bool>());
    const int done = first["embedded"].get<int>();
    QVERIFY(done > 0 && done < 400);
    Run r = cli(args);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 400 - done); // nothing committed is embedded again
    QCOMPARE(r.j["indexed"].get<int>(), 400);
}

void TestLibraryCli::oddFileNamesKeepOneLineAndExactJson() {
    // A Latin-1 name (not valid UTF-8) and a name with a newline, created for real with ::open:
    // indexed, one line each in plain output (escaped), the exact bytes in JSON (\udcXY).
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(QStringLiteral("odd"));
    QDir().mkpath(dir);
    const QByteArray latin1 = QFile::encodeName(dir) + "/caf\xe9.png";
    const QByteArray newline = QFile::encodeName(dir) + "/two\nlines.png";
    const QByteArray images[] = {latin1, newline};
    const QStringList fixtures =
        QDir(modelDir() + QStringLiteral("/images")).entryList(QDir::Files);
    QVERIFY(fixtures.size() >= 2);
    for (int i = 0; i < 2; ++i) {
        QFile fixture(modelDir() + QStringLiteral("/images/") + fixtures[i]);
        QVERIFY(fixture.open(QIODevice::ReadOnly));
        const QByteArray data = fixture.readAll();
        const int fd = ::open(images[i].constData(), O_CREAT | O_WRONLY | O_EXCL, 0644);
        if (fd < 0 && (errno == EILSEQ || errno == EINVAL))
            QSKIP(qPrintable(QStringLiteral("the filesystem of %1 refuses such names: %2")
                                 .arg(dir, QString::fromLocal8Bit(std::strerror(errno)))));
        QVERIFY2(fd >= 0, std::strerror(errno));
        QCOMPARE(::write(fd, data.constData(), size_t(data.size())), ssize_t(data.size()));
        ::close(fd);
    }
    const QString dbPath = ts::test::catalogLocation(tmp.filePath(QStringLiteral("odd.sqlite")));
    const QStringList lib{QStringLiteral("--db"), dbPath, QStringLiteral("--model"), modelDir()};
    Run r = cli(QStringList{QStringLiteral("index"), dir, QStringLiteral("--json")} + lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 2);
    QCOMPARE(r.j["failed"].get<int>(), 0);

    r = cli(QStringList{QStringLiteral("search"), QStringLiteral("a photo")} + lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const QStringList lines = r.out.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 2); // one line per photo, the newline in a name escaped
    QVERIFY2(r.out.contains(QLatin1String("/caf\\xe9.png")), qPrintable(r.out));
    QVERIFY2(r.out.contains(QLatin1String("/two\\x0alines.png")), qPrintable(r.out));

    r = cli(
        QStringList{QStringLiteral("search"), QStringLiteral("a photo"), QStringLiteral("--json")} +
        lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    // Python's surrogateescape: json.loads + os.fsencode give back the bytes 'caf\xe9.png'.
    QVERIFY2(r.out.contains(QLatin1String("/caf\\udce9.png\"")), qPrintable(r.out));
    QVERIFY2(r.out.contains(QLatin1String("/two\\nlines.png\"")), qPrintable(r.out));
    // Decoded back here the same way: both paths are the files' exact bytes.
    QByteArray decoded = r.out.toUtf8();
    decoded.replace("\\udce9", "\\u00e9"); // a stand-in a JSON parser accepts
    const json j = json::parse(decoded.toStdString());
    QSet<QByteArray> paths;
    for (const auto &hit : j["results"])
        paths.insert(
            QByteArray::fromStdString(hit["path"].get<std::string>()).replace("\xc3\xa9", "\xe9"));
    QCOMPARE(paths, (QSet<QByteArray>{latin1, newline}));

    // The name as a command-line argument, byte for byte (QProcess cannot pass such bytes: the
    // shell's printf writes 0xE9): `similar` finds the photo itself and returns the other one.
    QProcess sh;
    sh.start(QStringLiteral("/bin/sh"),
             {QStringLiteral("-c"),
              QStringLiteral("exec \"$0\" similar \"$(printf '%s/caf\\351.png' \"$1\")\" --db "
                             "\"$2\" --model \"$3\" --json"),
              QStringLiteral(TOWERSEARCH_CLI_PATH), dir, dbPath, modelDir()});
    QVERIFY(sh.waitForFinished(120000));
    const QString similar = QString::fromUtf8(sh.readAllStandardOutput());
    QVERIFY2(sh.exitCode() == 0, qPrintable(QString::fromUtf8(sh.readAllStandardError())));
    QVERIFY2(similar.contains(QLatin1String("\"photo\": \"") + dir +
                              QLatin1String("/caf\\udce9.png\"")) &&
                 similar.count(QLatin1String("\"rank\"")) == 1 &&
                 similar.contains(QLatin1String("/two\\nlines.png\"")),
             qPrintable(similar));
}

void TestLibraryCli::newerDatabaseIsRefused() {
    // A database from a newer TowerSearch: user_version far ahead (written by the library itself
    // with the sqlite3 shell unavailable: a raw header edit at offset 60, the user_version field).
    // On PostgreSQL: meta's schema_version.
    QTemporaryDir tmp;
    const QString dbPath = ts::test::catalogLocation(tmp.filePath(QStringLiteral("future.sqlite")));
    Run r = cli({QStringLiteral("status"), QStringLiteral("--db"), dbPath});
    QCOMPARE(r.exitCode, 0);
    if (ts::test::isPostgresRun()) {
        QCOMPARE(
            ts::test::execSql(dbPath, "UPDATE meta SET value = '99' WHERE key = 'schema_version'"),
            QString());
        r = cli({QStringLiteral("status"), QStringLiteral("--db"), dbPath});
        QCOMPARE(r.exitCode, 4);
        QVERIFY2(r.err.contains(QLatin1String("newer TowerSearch")), qPrintable(r.err));
        return;
    }
    QFile f(dbPath);
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.seek(60));
    f.write(QByteArray("\x00\x00\x00\x63", 4)); // 99
    f.close();
    QVERIFY(QFile::remove(dbPath + QStringLiteral("-wal")) || true);
    r = cli({QStringLiteral("status"), QStringLiteral("--db"), dbPath});
    QCOMPARE(r.exitCode, 4);
    QVERIFY2(r.err.contains(QLatin1String("newer TowerSearch")), qPrintable(r.err));
}

void TestLibraryCli::statusShowsTheLibraryTheAppIndexedAndOfflineFolders() {
    // The app's library at its old default place; the CLI's default is the shared one, and it
    // moves the old library there on first use (no --db, no $TOWERSEARCH_DB).
    TS_SKIP_ON_POSTGRES("the default library and the one it moves are SQLite files");
    QTemporaryDir tmp;
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString legacy = data + QStringLiteral("/TowerSearch/TowerSearch/library.sqlite");
    const QString album = tmp.filePath(QStringLiteral("album"));
    QVERIFY(QDir().mkpath(album));
    for (const QString &name : QDir(photos()).entryList({QStringLiteral("photo_*")}, QDir::Files))
        QVERIFY(QFile::copy(photos() + QLatin1Char('/') + name, album + QLatin1Char('/') + name));
    Run r = cli({QStringLiteral("index"), album, QStringLiteral("--db"), legacy,
                 QStringLiteral("--model"), modelDir(), QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    const int photosIndexed = r.j["embedded"].get<int>();
    QVERIFY(photosIndexed > 0);

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("XDG_DATA_HOME"), data);
    env.remove(QStringLiteral("TOWERSEARCH_DB"));
    r = cli({QStringLiteral("status"), QStringLiteral("--json")}, 120000, env);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(QString::fromStdString(r.j["database"].get<std::string>()),
             data + QStringLiteral("/towersearch/library.sqlite"));
    QCOMPARE(r.j["photos"].get<int>(), photosIndexed);
    QCOMPARE(r.j["offline"].get<int>(), 0);
    QVERIFY(!QFileInfo::exists(legacy));

    // The album's folder goes away (a disk unplugged): status says so, the photos stay found.
    QVERIFY(QDir().rename(album, album + QStringLiteral("-unplugged")));
    r = cli(
        {QStringLiteral("index"), QStringLiteral("--model"), modelDir(), QStringLiteral("--json")},
        120000, env);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
    r = cli({QStringLiteral("status"), QStringLiteral("--json")}, 120000, env);
    QCOMPARE(r.j["photos"].get<int>(), photosIndexed);
    QCOMPARE(r.j["offline"].get<int>(), photosIndexed);
    QCOMPARE(r.j["folders"][0]["folder_offline"].get<bool>(), true);
    QCOMPARE(QString::fromStdString(r.j["offline_directories"][0]["path"].get<std::string>()),
             album);
    r = cli({QStringLiteral("status")}, 120000, env);
    QVERIFY2(r.out.contains(QLatin1String("offline: ") + album), qPrintable(r.out));
    r = cli({QStringLiteral("search"), QStringLiteral("a cat"), QStringLiteral("--model"),
             modelDir(), QStringLiteral("--json")},
            120000, env);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(photosIndexed));
}

// Vectors of every precision of one model are kept and searched together: indexing again in
// another precision embeds nothing, and search and status work across precisions.
void TestLibraryCli::switchingPrecisionKeepsTheLibrary() {
    QTemporaryDir tmp;
    const QStringList lib{QStringLiteral("--db"), ts::test::catalogLocation(tmp),
                          QStringLiteral("--model"), modelDir()};
    const QStringList f32{QStringLiteral("--precision"), QStringLiteral("f32")};
    const QStringList bf16{QStringLiteral("--precision"), QStringLiteral("bf16")};
    Run r =
        cli(QStringList{QStringLiteral("index"), photos(), QStringLiteral("--json")} + lib + f32);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 4);
    r = cli(QStringList{QStringLiteral("index"), QStringLiteral("--json")} + lib + bf16);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 0);
    r = cli(QStringList{QStringLiteral("status"), QStringLiteral("--json")} + lib + bf16);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["indexed"].get<int>(), 4);
    QCOMPARE(r.j["models"].size(), size_t(1)); // one model key for both precisions
    QCOMPARE(r.j["precision"].get<std::string>(), std::string("bf16"));
    QVERIFY(!r.j["precision_reason"].get<std::string>().empty());
    r = cli(QStringList{QStringLiteral("search"), QStringLiteral("a cat on a couch"),
                        QStringLiteral("--json")} +
            lib + bf16);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(4));
}

// `duplicates` on a library of the fixture photos plus near-copies of one of them, made
// here; run without --model (the library's own index), in JSON and as text; bad thresholds refused.
void TestLibraryCli::duplicatesListsTheCopiesMade() {
    const QString dir = m_tmp.filePath(QStringLiteral("duplicates"));
    const QStringList lib{
        QStringLiteral("--db"),
        ts::test::catalogLocation(m_tmp.filePath(QStringLiteral("duplicates-db/library.sqlite")))};
    QVERIFY(QDir().mkpath(dir));
    for (const QString &name : QDir(modelDir() + QStringLiteral("/images")).entryList(QDir::Files))
        QVERIFY(QFile::copy(modelDir() + QStringLiteral("/images/") + name,
                            dir + QLatin1Char('/') + name));
    QSet<QString> expected{QStringLiteral("photo_chelsea.png")};
    for (const auto &copy : ts::test::writeNearCopies(
             modelDir() + QStringLiteral("/images/photo_chelsea.png"), dir, 6))
        expected.insert(QFileInfo(copy.path).fileName());
    QVERIFY(expected.size() > 2);
    Run r =
        cli(QStringList{QStringLiteral("index"), dir, QStringLiteral("--model"), modelDir()} + lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));

    r = cli(QStringList{QStringLiteral("duplicates"), QStringLiteral("--json")} + lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.j["groups"].size() == 1, r.out.toUtf8().constData());
    QCOMPARE(r.j["threshold"].get<double>(), double(ts::kDefaultDuplicateThreshold));
    QSet<QString> names;
    const json &photos = r.j["groups"][0]["photos"];
    QCOMPARE(photos[0]["similarity"].get<double>(), 1.0);
    for (const json &p : photos) {
        const QString path = QString::fromStdString(p["path"].get<std::string>());
        names.insert(QFileInfo(path).fileName());
        QCOMPARE(p["size"].get<qint64>(), QFileInfo(path).size());
        const QImage image(path);
        QCOMPARE(QSize(p["width"].get<int>(), p["height"].get<int>()), image.size());
        QVERIFY(p["similarity"].get<double>() >= ts::kDefaultDuplicateThreshold);
        QVERIFY(p["modified"].is_string());
    }
    QCOMPARE(names, expected);

    r = cli(QStringList{QStringLiteral("duplicates")} + lib);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.startsWith(QStringLiteral("group 1: %1 photos\n").arg(expected.size())),
             qPrintable(r.out));
    for (const QString &name : expected)
        QVERIFY2(r.out.contains(dir + QLatin1Char('/') + name + QLatin1Char('\n')),
                 qPrintable(r.out));

    for (const QString &bad : {QStringLiteral("1.5"), QStringLiteral("0"), QStringLiteral("nan"),
                               QStringLiteral("high")}) {
        r = cli(QStringList{QStringLiteral("duplicates"), QStringLiteral("--threshold"), bad} +
                lib);
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains(QStringLiteral("--threshold")) && r.err.contains(bad),
                 qPrintable(r.err));
    }
}

// `roots add` on machine A, indexing there; machine B (its own roots.json) sees the root unmapped
// and loses nothing, maps it to its own mount path and re-embeds nothing.
void TestLibraryCli::rootsMapOneShareOnTwoMachines() {
    const QString db =
        ts::test::catalogLocation(m_tmp.filePath(QStringLiteral("roots/library.sqlite")));
    const QString nasA = m_tmp.filePath(QStringLiteral("machineA/nas/photos"));
    const QString nasB = m_tmp.filePath(QStringLiteral("machineB/Volumes/photos"));
    QVERIFY(QDir().mkpath(QFileInfo(nasA).absolutePath()));
    QVERIFY(QDir().mkpath(QFileInfo(nasB).absolutePath()));
    QVERIFY(QProcess::execute(QStringLiteral("cp"), {QStringLiteral("-a"), photos(), nasA}) == 0);
    const auto a = machine(m_tmp.filePath(QStringLiteral("configA")));
    const auto b = machine(m_tmp.filePath(QStringLiteral("configB")));
    const QStringList dbArgs{QStringLiteral("--db"), db};
    const QStringList model{QStringLiteral("--model"), modelDir()};

    Run r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("add"),
                            QStringLiteral("photos"), nasA} +
                    dbArgs,
                120000, a);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QLatin1String("added library root 'photos'")), qPrintable(r.out));
    QVERIFY(QFileInfo::exists(m_tmp.filePath(QStringLiteral("configA/towersearch/roots.json"))));
    r = cli(QStringList{QStringLiteral("index"), nasA, QStringLiteral("--json")} + dbArgs + model,
            120000, a);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(!r.err.contains(QLatin1String("not under a library root")), qPrintable(r.err));
    const int embedded = r.j["embedded"].get<int>();
    QVERIFY(embedded > 0);
    const int photos = r.j["photos"].get<int>();
    r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("list"), QStringLiteral("--json")} +
                dbArgs,
            120000, a);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["roots"].size(), size_t(1));
    QCOMPARE(r.j["roots"][0]["name"].get<std::string>(), std::string("photos"));
    QCOMPARE(QString::fromStdString(r.j["roots"][0]["path"].get<std::string>()), nasA);
    QVERIFY(r.j["roots"][0]["available"].get<bool>());
    QCOMPARE(r.j["roots"][0]["folders"].get<int>(), 1);
    QCOMPARE(r.j["roots"][0]["photos"].get<int>(), photos);

    // Machine B: the share is mounted elsewhere, and B has not mapped it yet.
    QVERIFY(QDir().rename(nasA, nasB));
    r = cli(QStringList{QStringLiteral("roots")} + dbArgs, 120000, b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains(QLatin1String("photos\t-\tlibrary root 'photos' is not mapped on "
                                          "this machine")),
             qPrintable(r.out));
    r = cli(QStringList{QStringLiteral("index"), QStringLiteral("--json")} + dbArgs + model, 120000,
            b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 0);
    QCOMPARE(r.j["removed"].get<int>(), 0);
    QCOMPARE(r.j["photos"].get<int>(), photos);
    r = cli(QStringList{QStringLiteral("status")} + dbArgs, 120000, b);
    QVERIFY2(r.out.contains(QLatin1String("is not mapped on this machine")), qPrintable(r.out));

    r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("map"), QStringLiteral("photos"),
                        nasB} +
                dbArgs,
            120000, b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    r = cli(QStringList{QStringLiteral("index"), QStringLiteral("--json")} + dbArgs + model, 120000,
            b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 0);
    QCOMPARE(r.j["removed"].get<int>(), 0);
    r = cli(
        QStringList{QStringLiteral("search"), QStringLiteral("a cat"), QStringLiteral("--json")} +
            dbArgs + model,
        120000, b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(embedded));
    for (const auto &hit : r.j["results"])
        QVERIFY(QString::fromStdString(hit["path"].get<std::string>()).startsWith(nasB + '/'));
    // Machine A's mapping is its own.
    r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("--json")} + dbArgs, 120000, a);
    QCOMPARE(QString::fromStdString(r.j["roots"][0]["path"].get<std::string>()), nasA);

    r = cli(
        QStringList{QStringLiteral("roots"), QStringLiteral("unmap"), QStringLiteral("photos")} +
            dbArgs,
        120000, b);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("--json")} + dbArgs, 120000, b);
    QVERIFY(r.j["roots"][0]["path"].is_null());
    QCOMPARE(r.j["roots"][0]["photos"].get<int>(), photos);
}

void TestLibraryCli::rootsCommandRefusesBadRequests_data() {
    QTest::addColumn<QStringList>("args"); // after "roots"; {nas} is a root mapped here
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");
    QTest::newRow("existing name")
        << QStringList{"add", "nas", "{tmp}/other"} << 2 << "already has a root named 'nas'";
    QTest::newRow("nested root") << QStringList{"add", "inner", "{nas}/sub"} << 2
                                 << "roots cannot be nested";
    QTest::newRow("missing folder")
        << QStringList{"add", "gone", "{tmp}/missing"} << 4 << "is not a folder";
    QTest::newRow("map an unknown root")
        << QStringList{"map", "nope", "{tmp}/other"} << 4 << "has no root named 'nope'";
    QTest::newRow("unknown action") << QStringList{"frob"} << 2 << "unknown action 'frob'";
    QTest::newRow("missing PATH") << QStringList{"add", "x"} << 2 << "add takes NAME PATH";
}

void TestLibraryCli::rootsCommandRefusesBadRequests() {
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const QString nas = tmp.filePath(QStringLiteral("nas"));
    QVERIFY(QDir().mkpath(nas + QStringLiteral("/sub")));
    QVERIFY(QDir().mkpath(tmp.filePath(QStringLiteral("other"))));
    const QStringList dbArgs{QStringLiteral("--db"), tmp.filePath(QStringLiteral("lib.sqlite"))};
    const auto env = machine(tmp.filePath(QStringLiteral("config")));
    Run r = cli(
        QStringList{QStringLiteral("roots"), QStringLiteral("add"), QStringLiteral("nas"), nas} +
            dbArgs,
        120000, env);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    for (QString &a : args)
        a.replace(QLatin1String("{nas}"), nas).replace(QLatin1String("{tmp}"), tmp.path());
    r = cli(QStringList{QStringLiteral("roots")} + args + dbArgs, 120000, env);
    QCOMPARE(r.exitCode, exitCode);
    QVERIFY2(r.err.contains(message), qPrintable(r.err));
    r = cli(QStringList{QStringLiteral("roots"), QStringLiteral("--json")} + dbArgs, 120000, env);
    QCOMPARE(r.j["roots"].size(), size_t(1)); // nothing was added
}

// Worker mode end to end: `index --worker` fills the shared queue, drains it and exits; `status`
// lists the worker and an empty queue; a second worker finds nothing left to do; two clients,
// each with its own local files, find the same photos for a caption.
void TestLibraryCli::workerIndexesAndStatusListsTheWorkers() {
    const QString workerDb =
        ts::test::catalogLocation(m_tmp.filePath(QStringLiteral("workers/library.sqlite")));
    const QStringList args = {QStringLiteral("--db"), workerDb, QStringLiteral("--model"),
                              modelDir(), QStringLiteral("--json")};
    Run r = cli(QStringList{QStringLiteral("index"), photos(), QStringLiteral("--worker"),
                            QStringLiteral("--name"), QStringLiteral("first"),
                            QStringLiteral("--lease-seconds"), QStringLiteral("30")} +
                args);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 4);
    QCOMPARE(r.j["failed"].get<int>(), 1);
    QCOMPARE(r.j["pending"].get<int>(), 0);
    // A shared library's folder outside every root: every machine would take it for its own.
    QCOMPARE(r.err.contains(QLatin1String("is not under a library root")),
             ts::test::isPostgresRun());
    r = cli(QStringList{QStringLiteral("index"), QStringLiteral("--worker"),
                        QStringLiteral("--name"), QStringLiteral("second")} +
            args);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["embedded"].get<int>(), 0);

    r = cli({QStringLiteral("status"), QStringLiteral("--db"), workerDb, QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["indexed"].get<int>(), 4);
    QCOMPARE(r.j["queue"]["queued"].get<int>(), 0);
    QCOMPARE(r.j["queue"]["leased"].get<int>(), 0);
    QCOMPARE(r.j["workers"].size(), size_t(2));
    QCOMPARE(r.j["workers"][0]["name"].get<std::string>(), std::string("first"));
    QCOMPARE(r.j["workers"][0]["state"].get<std::string>(), std::string("stopped"));
    QCOMPARE(r.j["workers"][0]["embedded"].get<int>(), 4);
    QCOMPARE(r.j["workers"][0]["failed"].get<int>(), 1);
    QCOMPARE(r.j["workers"][1]["embedded"].get<int>(), 0);
    r = cli({QStringLiteral("status"), QStringLiteral("--db"), workerDb});
    QVERIFY2(r.out.contains(QLatin1String("worker: first: stopped, 4 embedded, 1 failed")),
             qPrintable(r.out));

    // Each client's vector index and rerank cache are its own (its XDG cache on a server's
    // library), built from the catalog's vectors: a caption finds the same photos, same scores.
    QStringList answers;
    for (const QString &client : {QStringLiteral("client-a"), QStringLiteral("client-b")}) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("XDG_CACHE_HOME"), m_tmp.filePath(client));
        r = cli(QStringList{QStringLiteral("search"), QStringLiteral("a cat on a couch")} + args,
                120000, env);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(r.j["results"].size(), size_t(4));
        answers << QString::fromStdString(r.j["results"].dump());
    }
    QCOMPARE(answers[1], answers[0]);

    // Worker options without --worker are a usage error.
    r = cli(QStringList{QStringLiteral("index"), QStringLiteral("--follow")} + args);
    QCOMPARE(r.exitCode, 2);
}

QTEST_MAIN(TestLibraryCli)
#include "tst_librarycli.moc"
