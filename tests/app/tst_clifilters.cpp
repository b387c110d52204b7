// towersearch-cli search/similar with filters, on a library the test builds from the fixture
// photos: each photo is re-encoded here (no EXIF, so its date taken is the file time the test
// sets), in a folder, type and shape the test chooses, so every expected set below is computed from
// what the test wrote. Flags and the same filters written in the caption give the same result; a
// listing (filters without a caption) needs no model; a malformed filter is a usage error naming
// it.
#include "clirun.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QtTest>

using nlohmann::json;

namespace {

using Run = ts::test::CliRun;

Run cli(const QStringList &args) {
    return ts::test::runCli(QStringLiteral(TOWERSEARCH_CLI_PATH), args, 180000);
}

QString modelDir() {
    return ts::test::dataDir(QStringLiteral("e2e/tiny-e2e"));
}

// A photo the test writes: where, as what, how big, and when it was "taken" (its file time).
struct Photo {
    QString source;   // fixture image
    QString relative; // under the photos folder
    QSize size;
    QDateTime taken;
    QString type; // canonical name
};

const QList<Photo> &photos() {
    static const QList<Photo> p = {
        {QStringLiteral("photo_chelsea.png"), QStringLiteral("2019/Holidays/chelsea.png"),
         QSize(400, 300), QDateTime(QDate(2019, 7, 10), QTime(12, 0)), QStringLiteral("png")},
        {QStringLiteral("photo_coffee.jpg"), QStringLiteral("2020/Holidays/coffee.jpg"),
         QSize(300, 400), QDateTime(QDate(2020, 8, 1), QTime(9, 30)), QStringLiteral("jpeg")},
        {QStringLiteral("photo_astronaut.png"), QStringLiteral("Birthday/astronaut.jpg"),
         QSize(320, 320), QDateTime(QDate(2018, 3, 5), QTime(18, 0)), QStringLiteral("jpeg")},
        {QStringLiteral("photo_camera_gray.png"), QStringLiteral("Birthday/camera.png"),
         QSize(240, 500), QDateTime(QDate(2021, 1, 2), QTime(0, 0)), QStringLiteral("png")},
    };
    return p;
}

} // namespace

class TestCliFilters : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString root() const { return m_tmp.filePath(QStringLiteral("photos")); }
    QString db() const { return m_tmp.filePath(QStringLiteral("library.sqlite")); }
    QString path(const Photo &p) const { return root() + QLatin1Char('/') + p.relative; }
    // The paths of the photos `keep` accepts, in the order `less` gives (none: sorted by path).
    QStringList expected(const std::function<bool(const Photo &)> &keep,
                         const std::function<bool(const Photo &, const Photo &)> &less = {}) const {
        QList<Photo> kept;
        for (const Photo &p : photos())
            if (keep(p))
                kept.append(p);
        if (less)
            std::stable_sort(kept.begin(), kept.end(), less);
        QStringList out;
        for (const Photo &p : kept)
            out.append(path(p));
        if (!less)
            out.sort();
        return out;
    }
    static QStringList paths(const json &j, bool sorted) {
        QStringList out;
        for (const auto &r : j["results"])
            out.append(QString::fromStdString(r["path"].get<std::string>()));
        if (sorted)
            out.sort();
        return out;
    }

private Q_SLOTS:
    void initTestCase();
    void listingKeepsExactlyTheFilteredPhotos_data();
    void listingKeepsExactlyTheFilteredPhotos();
    void listingIsOrderedByDateOrName();
    void listingReportsEachPhotosMetadata();
    void captionSearchStaysWithinTheFilter();
    void similarStaysWithinTheFilter();
    void malformedFilterIsAUsageError_data();
    void malformedFilterIsAUsageError();
};

void TestCliFilters::initTestCase() {
    QVERIFY(m_tmp.isValid());
    for (const Photo &p : photos()) {
        QImage image(modelDir() + QStringLiteral("/images/") + p.source);
        QVERIFY2(!image.isNull(), qPrintable(p.source));
        image = image.convertToFormat(QImage::Format_RGB888).scaled(p.size, Qt::IgnoreAspectRatio);
        QVERIFY(QDir().mkpath(QFileInfo(path(p)).path()));
        QVERIFY(image.save(path(p), p.type == QLatin1String("png") ? "PNG" : "JPEG"));
        QFile f(path(p));
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.setFileTime(p.taken, QFileDevice::FileModificationTime));
    }
    const Run r = cli({QStringLiteral("index"), root(), QStringLiteral("--db"), db(),
                       QStringLiteral("--model"), modelDir()});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
}

void TestCliFilters::listingKeepsExactlyTheFilteredPhotos_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("paths");
    const QDateTime y2020(QDate(2020, 1, 1), QTime(0, 0));
    const QDateTime aug2020(QDate(2020, 8, 1), QTime(0, 0));
    auto add = [&](const char *name, const QStringList &args,
                   const std::function<bool(const Photo &)> &keep) {
        QTest::newRow(name) << args << expected(keep);
    };
    add("in: a folder by its name", {QStringLiteral("--in"), QStringLiteral("Birthday")},
        [](const Photo &p) { return p.relative.startsWith(QLatin1String("Birthday/")); });
    add("in: a tail of the path", {QStringLiteral("--in"), QStringLiteral("2019/Holidays")},
        [](const Photo &p) { return p.relative.startsWith(QLatin1String("2019/Holidays/")); });
    add("in: two folders",
        {QStringLiteral("--in"), QStringLiteral("2019"), QStringLiteral("--in"),
         QStringLiteral("2020")},
        [](const Photo &p) { return p.relative.startsWith(QLatin1String("20")); });
    add("in: an absolute path", {QStringLiteral("--in"), root() + QStringLiteral("/2020")},
        [](const Photo &p) { return p.relative.startsWith(QLatin1String("2020/")); });
    add("after a year", {QStringLiteral("--after"), QStringLiteral("2020")},
        [&](const Photo &p) { return p.taken >= y2020; });
    add("after a day is inclusive", {QStringLiteral("--after"), QStringLiteral("2020-08-01")},
        [&](const Photo &p) { return p.taken >= aug2020; });
    add("before a year", {QStringLiteral("--before"), QStringLiteral("2020")},
        [&](const Photo &p) { return p.taken < y2020; });
    add("type png", {QStringLiteral("--type"), QStringLiteral("png")},
        [](const Photo &p) { return p.type == QLatin1String("png"); });
    add("type jpg alias", {QStringLiteral("--type"), QStringLiteral("jpg")},
        [](const Photo &p) { return p.type == QLatin1String("jpeg"); });
    add("portrait", {QStringLiteral("--shape"), QStringLiteral("portrait")},
        [](const Photo &p) { return p.size.height() > p.size.width(); });
    add("square", {QStringLiteral("--shape"), QStringLiteral("square")},
        [](const Photo &p) { return p.size.height() == p.size.width(); });
    add("min size either way round", {QStringLiteral("--min-size"), QStringLiteral("400x300")},
        [](const Photo &p) {
            return std::max(p.size.width(), p.size.height()) >= 400 &&
                   std::min(p.size.width(), p.size.height()) >= 300;
        });
    add("filters in the text", {QStringLiteral("in:Birthday type:png")}, [](const Photo &p) {
        return p.relative.startsWith(QLatin1String("Birthday/")) && p.type == QLatin1String("png");
    });
    add("flags and text combine",
        {QStringLiteral("--before"), QStringLiteral("2021"), QStringLiteral("after:2019")},
        [&](const Photo &p) {
            return p.taken >= QDateTime(QDate(2019, 1, 1), QTime(0, 0)) &&
                   p.taken < QDateTime(QDate(2021, 1, 1), QTime(0, 0));
        });
    add("nothing matches", {QStringLiteral("--after"), QStringLiteral("2030")},
        [](const Photo &) { return false; });
}

void TestCliFilters::listingKeepsExactlyTheFilteredPhotos() {
    QFETCH(QStringList, args);
    QFETCH(QStringList, paths);
    // No --model: a listing reads the catalog only.
    const Run r = cli(QStringList{QStringLiteral("search"), QStringLiteral("--json"),
                                  QStringLiteral("--db"), db()} +
                      args);
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(TestCliFilters::paths(r.j, true), paths);
    QVERIFY(r.j["model"].is_null());
}

void TestCliFilters::listingIsOrderedByDateOrName() {
    const Run byDate =
        cli({QStringLiteral("search"), QStringLiteral("--json"), QStringLiteral("--db"), db(),
             QStringLiteral("--after"), QStringLiteral("1990")});
    QVERIFY2(byDate.exitCode == 0, qPrintable(byDate.err));
    QCOMPARE(paths(byDate.j, false), expected([](const Photo &) { return true; },
                                              [](const Photo &a, const Photo &b) {
                                                  return a.taken > b.taken;
                                              })); // newest first
    const Run byName =
        cli({QStringLiteral("search"), QStringLiteral("--json"), QStringLiteral("--db"), db(),
             QStringLiteral("--after"), QStringLiteral("1990"), QStringLiteral("sort:name")});
    QVERIFY2(byName.exitCode == 0, qPrintable(byName.err));
    QCOMPARE(paths(byName.j, false),
             expected([](const Photo &) { return true; },
                      [](const Photo &a, const Photo &b) {
                          return QFileInfo(a.relative)
                                     .fileName()
                                     .compare(QFileInfo(b.relative).fileName(),
                                              Qt::CaseInsensitive) < 0;
                      }));
    QCOMPARE(byName.j["filter"]["sort"].get<std::string>(), std::string("name"));
}

void TestCliFilters::listingReportsEachPhotosMetadata() {
    const Run r = cli({QStringLiteral("search"), QStringLiteral("--json"), QStringLiteral("--db"),
                       db(), QStringLiteral("--in"), QStringLiteral("2019/Holidays")});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    QCOMPARE(r.j["results"].size(), size_t(1));
    const json &hit = r.j["results"][0];
    const Photo &p = photos()[0];
    const QDateTime taken =
        QDateTime::fromString(QString::fromStdString(hit["taken"].get<std::string>()), Qt::ISODate);
    QCOMPARE(taken.toMSecsSinceEpoch(), p.taken.toMSecsSinceEpoch());
    QCOMPARE(hit["taken_source"].get<std::string>(), std::string("file"));
    QCOMPARE(hit["type"].get<std::string>(), p.type.toStdString());
    QCOMPARE(hit["width"].get<int>(), p.size.width());
    QCOMPARE(hit["height"].get<int>(), p.size.height());
    QVERIFY(hit["camera"].is_null());
    QCOMPARE(r.j["filter"]["in"][0].get<std::string>(),
             (root() + QStringLiteral("/2019/Holidays")).toStdString());
}

void TestCliFilters::captionSearchStaysWithinTheFilter() {
    const QStringList want =
        expected([](const Photo &p) { return p.relative.startsWith(QLatin1String("Birthday/")); });
    const Run flags =
        cli({QStringLiteral("search"), QStringLiteral("--json"), QStringLiteral("--db"), db(),
             QStringLiteral("--model"), modelDir(), QStringLiteral("--in"),
             QStringLiteral("Birthday"), QStringLiteral("a cat on a couch")});
    QVERIFY2(flags.exitCode == 0, qPrintable(flags.err));
    QCOMPARE(paths(flags.j, true), want);
    QCOMPARE(flags.j["caption"].get<std::string>(), std::string("a cat on a couch"));
    const Run text = cli({QStringLiteral("search"), QStringLiteral("--json"),
                          QStringLiteral("--db"), db(), QStringLiteral("--model"), modelDir(),
                          QStringLiteral("a cat in:Birthday on a couch")});
    QVERIFY2(text.exitCode == 0, qPrintable(text.err));
    QCOMPARE(paths(text.j, false), paths(flags.j, false)); // the same query, the same order
    for (const auto &hit : text.j["results"])
        QVERIFY(hit["type"].is_string());
}

void TestCliFilters::similarStaysWithinTheFilter() {
    const QString query = path(photos()[0]);
    const Run r = cli({QStringLiteral("similar"), QStringLiteral("--json"), QStringLiteral("--db"),
                       db(), QStringLiteral("--model"), modelDir(), QStringLiteral("--type"),
                       QStringLiteral("png"), query});
    QVERIFY2(r.exitCode == 0, qPrintable(r.err));
    // The png photos but the query photo itself.
    QCOMPARE(paths(r.j, true), expected([&](const Photo &p) {
                 return p.type == QLatin1String("png") && p.relative != photos()[0].relative;
             }));
}

void TestCliFilters::malformedFilterIsAUsageError_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("token");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("day-month-year date")
        << QStringList{QStringLiteral("--after"), QStringLiteral("13-2020")} << "after:13-2020"
        << "YYYY-MM-DD";
    QTest::newRow("ambiguous folder")
        << QStringList{QStringLiteral("--in"), QStringLiteral("Holidays")} << "in:Holidays"
        << "in:2020/Holidays";
    QTest::newRow("unknown folder")
        << QStringList{QStringLiteral("--in"), QStringLiteral("Zanzibar")} << "in:Zanzibar"
        << root();
    QTest::newRow("unknown type") << QStringList{QStringLiteral("--type"), QStringLiteral("raw")}
                                  << "type:raw"
                                  << "heic";
    QTest::newRow("bad sort") << QStringList{QStringLiteral("--sort"), QStringLiteral("size")}
                              << "sort:size"
                              << "relevance, date or name";
    QTest::newRow("before not after after")
        << QStringList{QStringLiteral("after:2020 before:2019")} << "before:2019"
        << "after:2020";
    QTest::newRow("exclusion without a caption")
        << QStringList{QStringLiteral("--not"), QStringLiteral("people")} << "--not"
        << "caption";
}

void TestCliFilters::malformedFilterIsAUsageError() {
    QFETCH(QStringList, args);
    QFETCH(QString, token);
    QFETCH(QString, mentions);
    const Run r = cli(QStringList{QStringLiteral("search"), QStringLiteral("--db"), db()} + args);
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains(token), qPrintable(r.err));
    QVERIFY2(r.err.contains(mentions), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
}

QTEST_GUILESS_MAIN(TestCliFilters)
#include "tst_clifilters.moc"
