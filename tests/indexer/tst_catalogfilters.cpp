// Filters and listings over the catalog (schema 4): a library indexed with the fake embedder
// from photos the test wrote, with EXIF dates, cameras, orientations and sizes it chose. Every
// expected set, order and month count is computed by the test from what it wrote (a reference
// evaluation of PhotoFilter's documented semantics), never read back from the program.
// Also: schema 3 -> 4 migration and the metadata refresh of photos indexed before it.
#include "core/common/nativepath.h"
#include "exifwriter.h"
#include "fakeembedder.h"
#include "indexer/catalog.h"
#include "indexer/library.h"
#include "indexertestutil.h"
#include "libraryfixture.h"

#include <QtTest>

#include <algorithm>
#include <map>
#include <set>

#include <sys/stat.h>
#include <unistd.h>

using namespace ts;

namespace {

struct Spec {
    QString relative;            // under the photos folder; may hold escaped non-UTF-8 bytes
    int width = 48, height = 32; // stored
    int orientation = 1;
    QByteArray exifDate; // "YYYY:MM:DD HH:MM:SS"; empty: none (file time)
    QByteArray make, model;
    QDateTime mtime; // set on the file (what "file time" falls back to)
    // What the test expects, from the above:
    QString path;
    qint64 id = 0;
    qint64 takenMs() const {
        if (exifDate.isEmpty())
            return mtime.toMSecsSinceEpoch();
        const QList<QByteArray> p = exifDate.split(' ');
        const QList<QByteArray> d = p[0].split(':'), t = p[1].split(':');
        return QDateTime(QDate(d[0].toInt(), d[1].toInt(), d[2].toInt()),
                         QTime(t[0].toInt(), t[1].toInt(), t[2].toInt()))
            .toMSecsSinceEpoch();
    }
    int shownWidth() const { return orientation >= 5 ? height : width; }
    int shownHeight() const { return orientation >= 5 ? width : height; }
    QString type() const {
        return relative.endsWith(QLatin1String(".png")) ? QStringLiteral("png")
                                                        : QStringLiteral("jpeg");
    }
    QString camera() const { return QString::fromLatin1(make + ' ' + model); }
    QString name() const { return relative.mid(relative.lastIndexOf(QLatin1Char('/')) + 1); }
};

const QString kCafe = pathFromNative(QByteArray("caf\xe9"));

Spec spec(const QString &relative, int width, int height, int orientation,
          const QByteArray &exifDate, const QByteArray &make, const QByteArray &model,
          const QDateTime &mtime) {
    Spec s;
    s.relative = relative;
    s.width = width;
    s.height = height;
    s.orientation = orientation;
    s.exifDate = exifDate;
    s.make = make;
    s.model = model;
    s.mtime = mtime;
    return s;
}

std::vector<Spec> librarySpecs() {
    auto at = [](int y, int mo, int d) { return QDateTime(QDate(y, mo, d), QTime(12, 0)); };
    std::vector<Spec> s;
    s.push_back(spec("2019/a.jpg", 48, 32, 1, "2019:03:10 10:00:00", "Canon", "Canon EOS 5D",
                     at(2024, 1, 1)));
    s.push_back(spec("2019/b.jpg", 32, 48, 1, "2019:12:31 23:59:59", "NIKON CORPORATION",
                     "NIKON D750", at(2024, 1, 1)));
    s.push_back(spec("2020/trip/c.jpg", 40, 40, 1, "2020:01:01 00:00:00", "Apple", "iPhone 12",
                     at(2024, 1, 1)));
    s.push_back(spec("2020/trip/d.png", 64, 32, 1, "2020:06:15 12:00:00", "Apple", "iPhone 12",
                     at(2024, 1, 1)));
    // Stored landscape, shown portrait (orientation 6). 00:30 local on 1 March: February in UTC
    // east of Greenwich, so the month view must count it in local time.
    s.push_back(spec("2020/e.jpg", 48, 32, 6, "2020:03:01 00:30:00", "Canon", "Canon EOS R5",
                     at(2024, 1, 1)));
    // The folder-prefix trap: "2020" must not take "20201".
    s.push_back(spec("20201/f.jpg", 100, 60, 1, "2021:07:04 09:00:00", {}, {}, at(2024, 1, 1)));
    s.push_back(spec("20201/g.png", 30, 30, 1, {}, {}, {}, at(2018, 5, 5))); // file time only
    s.push_back(spec(kCafe + "/h.jpg", 50, 20, 1, "2019:08:08 08:08:08", "SONY", "ILCE-7M3",
                     at(2024, 1, 1)));
    s.push_back(spec("2019/i.png", 20, 50, 1, {}, {}, {}, at(2022, 11, 11))); // file time only
    return s;
}

bool writeSpec(const QString &root, Spec &spec, quint32 seed) {
    spec.path = root + QLatin1Char('/') + spec.relative;
    const QString dir = spec.path.left(spec.path.lastIndexOf(QLatin1Char('/')));
    // Folders through their bytes: one name is not UTF-8.
    QString built;
    for (const QString &part : dir.split(QLatin1Char('/'), Qt::SkipEmptyParts)) {
        built += QLatin1Char('/') + part;
        ::mkdir(nativePath(built).constData(), 0755);
    }
    const QTemporaryDir scratch;
    const QString plain = scratch.filePath(spec.type() == QLatin1String("png") ? "x.png" : "x.jpg");
    if (!test::writePhoto(plain, seed, spec.width, spec.height))
        return false;
    QFile in(plain);
    if (!in.open(QIODevice::ReadOnly))
        return false;
    QByteArray bytes = in.readAll();
    if (!spec.exifDate.isEmpty() || !spec.make.isEmpty() || spec.orientation != 1) {
        test::ExifFields f;
        f.orientation = spec.orientation;
        f.make = spec.make;
        f.model = spec.model;
        f.dateTimeOriginal = spec.exifDate;
        const QByteArray block = test::exifBlock(f);
        bytes = spec.type() == QLatin1String("png") ? test::pngWithExif(bytes, block)
                                                    : test::jpegWithExif(bytes, block);
    }
    QFile out;
    if (!openNativeFile(out, spec.path, QIODevice::WriteOnly) || out.write(bytes) != bytes.size() ||
        !out.flush())
        return false; // flushed first: a later write would set the mtime again
    return out.setFileTime(spec.mtime, QFileDevice::FileModificationTime);
}

// The reference: PhotoFilter's documented semantics over what the test wrote.
bool keeps(const PhotoFilter &f, const Spec &s) {
    const qint64 t = s.takenMs();
    if ((f.takenFromMs && t < *f.takenFromMs) || (f.takenBeforeMs && t >= *f.takenBeforeMs))
        return false;
    if (!f.folders.isEmpty() &&
        std::none_of(f.folders.cbegin(), f.folders.cend(), [&](QString folder) {
            while (folder.endsWith(QLatin1Char('/')))
                folder.chop(1);
            return s.path.startsWith(folder + QLatin1Char('/'));
        }))
        return false;
    if (!f.fileTypes.isEmpty() && !f.fileTypes.contains(s.type()) &&
        !(s.type() == QLatin1String("jpeg") && f.fileTypes.contains(QStringLiteral("jpg"))))
        return false;
    if (!f.cameras.isEmpty() &&
        (s.make.isEmpty() ||
         std::none_of(f.cameras.cbegin(), f.cameras.cend(), [&](const QString &c) {
             return s.camera().contains(c, Qt::CaseInsensitive);
         })))
        return false;
    const int w = s.shownWidth(), h = s.shownHeight();
    if ((f.shape == PhotoShape::Portrait && !(h > w)) ||
        (f.shape == PhotoShape::Landscape && !(w > h)) || (f.shape == PhotoShape::Square && w != h))
        return false;
    return std::max(w, h) >= f.minLongSide && std::min(w, h) >= f.minShortSide;
}

qint64 ms(int y, int mo, int d = 1) {
    return QDateTime(QDate(y, mo, d), QTime(0, 0)).toMSecsSinceEpoch();
}

} // namespace

Q_DECLARE_METATYPE(ts::PhotoFilter)

class TestCatalogFilters : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void filterKeepsExactlyTheExpectedPhotos_data();
    void filterKeepsExactlyTheExpectedPhotos();
    void recordsCarryTheMetadata();
    void camerasAreListedMostUsedFirst();
    void photoSourceFiltersForTheEngine();
    void schema3LibraryIsMigratedAndItsCamerasReadWithoutEmbedding();
    void changedPhotoGetsItsNewMetadata();

private:
    test::LibraryFixture m_fixture;
    std::unique_ptr<Library> m_lib;
    std::vector<Spec> m_specs;
};

void TestCatalogFilters::initTestCase() {
    // Months are local: a zone east of UTC makes 00:30 on 1 March a February instant in UTC.
    if (QFile::exists(QStringLiteral("/usr/share/zoneinfo/Europe/Berlin"))) {
        qputenv("TZ", "Europe/Berlin");
        ::tzset();
    } else {
        qWarning("tzdata has no Europe/Berlin: local months are checked in the machine's own zone");
    }
    m_specs = librarySpecs();
    for (size_t i = 0; i < m_specs.size(); ++i)
        QVERIFY2(writeSpec(m_fixture.photos(), m_specs[i], quint32(100 + i)),
                 qPrintable(m_specs[i].relative));
    m_lib = m_fixture.open();
    QVERIFY(m_lib);
    QVERIFY(m_lib->addFolder(m_fixture.photos()).ok());
    QVERIFY(test::runIndex(*m_lib));
    QCOMPARE(m_lib->stats().indexed, qint64(m_specs.size()));
    auto catalog = Catalog::open(m_fixture.db());
    QVERIFY(catalog);
    for (Spec &s : m_specs) {
        const auto id = (*catalog)->idForPath(s.path);
        QVERIFY2(id, qPrintable(s.relative));
        s.id = *id;
    }
}

void TestCatalogFilters::cleanupTestCase() {
    m_lib.reset();
    // QTemporaryDir cannot remove a name that is not UTF-8: that folder goes through its bytes.
    for (const Spec &s : m_specs) {
        if (!isRawPath(s.path))
            continue;
        ::unlink(nativePath(s.path).constData());
        ::rmdir(nativePath(s.path.left(s.path.lastIndexOf(QLatin1Char('/')))).constData());
    }
}

void TestCatalogFilters::filterKeepsExactlyTheExpectedPhotos_data() {
    QTest::addColumn<PhotoFilter>("filter");
    const QString root = m_fixture.photos();
    auto row = [](const char *name, PhotoFilter f) { QTest::newRow(name) << f; };
    row("no filter", {});
    PhotoFilter f;
    f.takenFromMs = ms(2020, 1);
    row("after 2020-01 (inclusive at midnight)", f);
    f = {};
    f.takenBeforeMs = ms(2020, 1);
    row("before 2020", f);
    f = {};
    f.takenFromMs = ms(2019, 6);
    f.takenBeforeMs = ms(2020, 3);
    row("2019-06 to 2020-03 (exclusive)", f);
    f = {};
    f.takenBeforeMs = ms(2019, 1);
    row("before 2019: only a file time", f);
    f = {};
    f.takenFromMs = ms(2030, 1);
    row("empty: nothing after 2030", f);
    f = {};
    f.folders = {root + "/2020"};
    row("folder 2020 is not 20201", f);
    f.folders = {root + "/2020/"};
    row("folder with a trailing slash", f);
    f.folders = {root + "/2020/trip"};
    row("subfolder", f);
    f.folders = {root};
    row("the watched folder", f);
    f.folders = {root + "/" + kCafe};
    row("folder whose name is not UTF-8", f);
    f.folders = {root + "/2019", root + "/20201"};
    row("two folders", f);
    f.folders = {root + "/20"};
    row("a name prefix is no folder", f);
    f = {};
    f.fileTypes = {"jpeg"};
    row("type jpeg", f);
    f.fileTypes = {"jpg"};
    row("type jpg is jpeg", f);
    f.fileTypes = {"png", "jpeg"};
    row("types png and jpeg", f);
    f.fileTypes = {"heic"};
    row("type heic: none", f);
    f = {};
    f.cameras = {"canon"};
    row("camera canon (case-insensitive)", f);
    f.cameras = {"iPhone"};
    row("camera iphone (model)", f);
    f.cameras = {"nikon d750"};
    row("camera make and model", f);
    f.cameras = {"canon eos r5"};
    row("camera one model", f);
    f.cameras = {"sony", "apple"};
    row("two cameras", f);
    f.cameras = {"leica"};
    row("camera leica: none", f);
    f = {};
    f.shape = PhotoShape::Portrait;
    row("portrait as displayed (EXIF orientation 6 included)", f);
    f.shape = PhotoShape::Landscape;
    row("landscape", f);
    f.shape = PhotoShape::Square;
    row("square", f);
    f = {};
    f.minLongSide = 60;
    row("long side at least 60", f);
    f = {};
    f.minShortSide = 40;
    row("short side at least 40", f);
    f = {};
    f.cameras = {"canon"};
    f.takenFromMs = ms(2020, 1);
    f.shape = PhotoShape::Portrait;
    row("camera + date + shape", f);
    f = {};
    f.folders = {root + "/2019"};
    f.fileTypes = {"png"};
    f.takenBeforeMs = ms(2023, 1);
    row("folder + type + date: the file-time photo", f);
    f.cameras = {"canon"};
    row("combination with an empty result", f);
}

void TestCatalogFilters::filterKeepsExactlyTheExpectedPhotos() {
    QFETCH(PhotoFilter, filter);
    std::vector<const Spec *> kept;
    for (const Spec &s : m_specs)
        if (keeps(filter, s))
            kept.push_back(&s);

    std::vector<qint64> ids;
    for (const Spec *s : kept)
        ids.push_back(s->id);
    std::sort(ids.begin(), ids.end());
    const auto matching = m_lib->photosMatching(filter);
    QVERIFY(matching);
    QCOMPARE(*matching, ids);
    const auto count = m_lib->countPhotos(filter);
    QVERIFY(count);
    QCOMPARE(*count, qint64(kept.size()));

    // Listings: newest first (ties by id), by name; paged pages concatenate to the whole.
    auto byDate = kept;
    std::sort(byDate.begin(), byDate.end(), [](const Spec *a, const Spec *b) {
        return a->takenMs() != b->takenMs() ? a->takenMs() > b->takenMs() : a->id > b->id;
    });
    auto byName = kept;
    std::sort(byName.begin(), byName.end(), [](const Spec *a, const Spec *b) {
        const int c = a->name().compare(b->name(), Qt::CaseInsensitive);
        return c != 0 ? c < 0 : a->path < b->path;
    });
    for (const auto &[order, expected] :
         {std::pair{SortOrder::DateTaken, byDate}, std::pair{SortOrder::Name, byName}}) {
        QStringList want, got;
        for (const Spec *s : expected)
            want << s->relative;
        for (qint64 offset = 0;; offset += 2) {
            const auto page = m_lib->listPhotos(filter, order, offset, 2);
            QVERIFY(page);
            for (const PhotoRecord &r : *page)
                got << r.path.mid(m_fixture.photos().size() + 1);
            if (page->size() < 2)
                break;
        }
        QCOMPARE(got, want);
    }

    std::map<std::pair<int, int>, qint64, std::greater<>> months;
    for (const Spec *s : kept) {
        const QDate d = QDateTime::fromMSecsSinceEpoch(s->takenMs()).date();
        ++months[{d.year(), d.month()}];
    }
    QStringList want, got;
    for (const auto &[ym, n] : months)
        want << QStringLiteral("%1-%2:%3").arg(ym.first).arg(ym.second).arg(n);
    const auto counted = m_lib->monthCounts(filter);
    QVERIFY(counted);
    for (const MonthCount &m : *counted)
        got << QStringLiteral("%1-%2:%3").arg(m.year).arg(m.month).arg(m.count);
    QCOMPARE(got, want);
}

void TestCatalogFilters::recordsCarryTheMetadata() {
    for (const Spec &s : m_specs) {
        const auto r = m_lib->photo(s.id);
        QVERIFY(r);
        QCOMPARE(r->fileType, s.type());
        QCOMPARE(r->cameraMake, QString::fromLatin1(s.make));
        QCOMPARE(r->cameraModel, QString::fromLatin1(s.model));
        QVERIFY(r->taken);
        QCOMPARE(r->taken->toMSecsSinceEpoch(), s.takenMs());
        QCOMPARE(r->takenIsFileTime, s.exifDate.isEmpty());
        QCOMPARE(r->width, s.shownWidth());
        QCOMPARE(r->height, s.shownHeight());
    }
}

void TestCatalogFilters::camerasAreListedMostUsedFirst() {
    // Counted by the test: "Canon EOS 5D" and "Canon EOS R5" are two cameras; the make is not
    // repeated when the model starts with it.
    std::map<QString, qint64> counts;
    for (const Spec &s : m_specs) {
        if (s.make.isEmpty())
            continue;
        const QString model = QString::fromLatin1(s.model), make = QString::fromLatin1(s.make);
        ++counts[model.startsWith(make, Qt::CaseInsensitive) ? model : make + ' ' + model];
    }
    QList<QPair<QString, qint64>> want;
    for (const auto &[name, n] : counts)
        want.append({name, n});
    std::stable_sort(want.begin(), want.end(),
                     [](const auto &a, const auto &b) { return a.second > b.second; });
    QCOMPARE(m_lib->cameras(), want);
}

void TestCatalogFilters::photoSourceFiltersForTheEngine() {
    // What the search engine asks: the ids a filter keeps and each photo's date, through the
    // library's PhotoSource (the engine needs a pipeline; the source is reached through the
    // engine-free path the Library offers to tests: the same catalog queries).
    PhotoFilter f;
    f.cameras = {"apple"};
    std::vector<qint64> want;
    for (const Spec &s : m_specs)
        if (keeps(f, s))
            want.push_back(s.id);
    std::sort(want.begin(), want.end());
    auto catalog = Catalog::open(m_fixture.db());
    QVERIFY(catalog);
    QCOMPARE(*(*catalog)->photosMatching(f), want);
    for (const Spec &s : m_specs)
        QCOMPARE((*catalog)->takenMs(s.id), std::optional<qint64>(s.takenMs()));
    QCOMPARE((*catalog)->takenMs(999999), std::nullopt);
}

void TestCatalogFilters::schema3LibraryIsMigratedAndItsCamerasReadWithoutEmbedding() {
    test::LibraryFixture f;
    std::vector<Spec> specs = librarySpecs();
    specs.resize(5); // JPEG and PNG, with and without a camera
    specs.push_back(
        spec("old/noexif.png", 30, 20, 1, {}, {}, {}, QDateTime(QDate(2017, 2, 3), QTime(4, 5))));
    for (size_t i = 0; i < specs.size(); ++i)
        QVERIFY(writeSpec(f.photos(), specs[i], quint32(200 + i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(test::runIndex(*lib));
    lib.reset();
    const int embeddedBefore = f.embedder->calls;
    QCOMPARE(embeddedBefore, int(specs.size()));
    {
        // Back to what version 3 wrote: no metadata columns, no date for photos without EXIF.
        const char *undoPostgres = TS_UNDO_WORKERS
            " " TS_UNDO_ROOTS " " TS_UNDO_CHANGE_SEQUENCE_PG
            " DROP INDEX photos_taken; DROP INDEX photos_type; DROP INDEX photos_camera;"
            " DROP INDEX photos_name;"
            " UPDATE photos SET taken_ms = NULL WHERE taken_is_file_time = 1;"
            " ALTER TABLE photos DROP COLUMN camera_make, DROP COLUMN camera_model,"
            " DROP COLUMN file_type, DROP COLUMN file_name, DROP COLUMN taken_is_file_time,"
            " DROP COLUMN metadata_version;"
            " UPDATE meta SET value = '3' WHERE key = 'schema_version';";
        const char *undoSqlite = TS_UNDO_WORKERS
            " " TS_UNDO_ROOTS " " TS_UNDO_CHANGE_SEQUENCE
            " DROP INDEX photos_taken; DROP INDEX photos_type; DROP INDEX photos_camera;"
            " DROP INDEX photos_name;"
            " UPDATE photos SET taken_ms = NULL WHERE taken_is_file_time = 1;"
            " ALTER TABLE photos DROP COLUMN camera_make; ALTER TABLE photos DROP COLUMN "
            "camera_model;"
            " ALTER TABLE photos DROP COLUMN file_type; ALTER TABLE photos DROP COLUMN file_name;"
            " ALTER TABLE photos DROP COLUMN taken_is_file_time;"
            " ALTER TABLE photos DROP COLUMN metadata_version; PRAGMA user_version = 3;";
        QCOMPARE(test::execSql(f.db(), test::isPostgresRun() ? undoPostgres : undoSqlite),
                 QString());
    }
    lib = f.open();
    QVERIFY(lib);
    {
        auto catalog = Catalog::open(f.db());
        QCOMPARE((*catalog)->schemaVersion(), Catalog::kSchemaVersion);
        QCOMPARE((*catalog)->staleMetadata(0, 100)->size(), specs.size());
    }
    // Right after the migration: type from the extension, file time for photos without a date,
    // no camera yet.
    auto recordOf = [&](const Spec &s) {
        const auto catalog = Catalog::open(f.db());
        return lib->photo(*(*catalog)->idForPath(s.path));
    };
    for (const Spec &s : specs) {
        const auto r = recordOf(s);
        QVERIFY(r);
        QCOMPARE(r->fileType, s.type());
        QVERIFY(r->cameraMake.isEmpty());
        QCOMPARE(r->takenIsFileTime, s.exifDate.isEmpty());
        QCOMPARE(r->taken->toMSecsSinceEpoch(), s.takenMs());
    }
    PhotoFilter canon;
    canon.cameras = {"canon"};
    QCOMPARE(*lib->countPhotos(canon), 0);

    // The next run reads the file heads: cameras appear, nothing is embedded again.
    QVERIFY(test::runIndex(*lib));
    QCOMPARE(int(f.embedder->calls), embeddedBefore);
    for (const Spec &s : specs) {
        const auto r = recordOf(s);
        QCOMPARE(r->cameraMake, QString::fromLatin1(s.make));
        QCOMPARE(r->cameraModel, QString::fromLatin1(s.model));
        QCOMPARE(r->takenIsFileTime, s.exifDate.isEmpty());
        QCOMPARE(r->taken->toMSecsSinceEpoch(), s.takenMs());
    }
    qint64 canons = 0;
    for (const Spec &s : specs)
        canons += keeps(canon, s) ? 1 : 0;
    QCOMPARE(*lib->countPhotos(canon), canons);
    auto catalog = Catalog::open(f.db());
    QCOMPARE((*catalog)->staleMetadata(0, 100)->size(), size_t(0));
}

void TestCatalogFilters::changedPhotoGetsItsNewMetadata() {
    // A photo edited in place (another camera's EXIF, no date any more): the next run embeds it
    // again and its row carries the new metadata, the file time marked as such.
    test::LibraryFixture f;
    Spec before = spec("x.jpg", 48, 32, 1, "2015:05:05 05:05:05", "Canon", "Canon EOS 5D",
                       QDateTime(QDate(2020, 1, 1), QTime(1, 0)));
    QVERIFY(writeSpec(f.photos(), before, 300));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(test::runIndex(*lib));
    Spec after =
        spec("x.jpg", 40, 60, 1, {}, "FUJIFILM", "X-T3", QDateTime(QDate(2021, 2, 2), QTime(2, 0)));
    QVERIFY(writeSpec(f.photos(), after, 301));
    QVERIFY(test::runIndex(*lib));
    QCOMPARE(int(f.embedder->calls), 2);
    const auto all = lib->listPhotos({}, SortOrder::DateTaken, 0, 10);
    QVERIFY(all);
    QCOMPARE(all->size(), size_t(1));
    const PhotoRecord &r = all->front();
    QCOMPARE(r.cameraMake, QStringLiteral("FUJIFILM"));
    QCOMPARE(r.cameraModel, QStringLiteral("X-T3"));
    QVERIFY(r.takenIsFileTime);
    QCOMPARE(r.taken->toMSecsSinceEpoch(), after.takenMs());
    QCOMPARE(r.width, 40);
    QCOMPARE(r.height, 60);
    PhotoFilter canon;
    canon.cameras = {QStringLiteral("canon")};
    QCOMPARE(*lib->countPhotos(canon), 0);
}

QTEST_MAIN(TestCatalogFilters)
#include "tst_catalogfilters.moc"
