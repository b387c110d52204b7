// The library view without a query: month headers computed from the photos' own dates, pages
// fetched off data(), a bounded cache over 100,000 photos, filters and sort; copying photos out.
#include "core/common/nativepath.h"
#include "fakelisting.h"
#include "fixtureengine.h"
#include "ui/appsettings.h"
#include "ui/librarymodel.h"
#include "ui/mainwindow.h"
#include "ui/photoactions.h"
#include "ui/resultdelegate.h"
#include "ui/resultmodel.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"

#include <QAbstractItemModelTester>
#include <QClipboard>
#include <QComboBox>
#include <QLineEdit>
#include <QListView>
#include <QMessageBox>
#include <QMimeData>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/mount.h>
#include <unistd.h>

using namespace ts;
using test::FakeListing;
using test::FixtureEngine;

Q_DECLARE_METATYPE(ts::PhotoFilter)

namespace {
struct Expected {
    QList<int> headerRows;
    QStringList titles;
    QStringList paths; // row -> path ("" for headers)
};

// The rows the view must show, from the listing's reference order and the photos' dates.
Expected expectedRows(const FakeListing &fake, const PhotoFilter &filter) {
    Expected e;
    const std::vector<PhotoRecord> photos = fake.ordered(filter, SortOrder::DateTaken);
    for (size_t i = 0; i < photos.size();) {
        const std::optional<QDateTime> &t = photos[i].taken;
        size_t j = i;
        while (j < photos.size() && photos[j].taken.has_value() == t.has_value() &&
               (!t || (photos[j].taken->date().year() == t->date().year() &&
                       photos[j].taken->date().month() == t->date().month())))
            ++j;
        e.headerRows << int(e.paths.size());
        e.titles << LibraryModel::monthTitle(t ? t->date().year() : 0, t ? t->date().month() : 0,
                                             qint64(j - i));
        e.paths << QString();
        for (size_t k = i; k < j; ++k)
            e.paths << photos[k].path;
        i = j;
    }
    return e;
}

bool waitLoaded(LibraryModel &model) {
    QSignalSpy spy(&model, &LibraryModel::loaded);
    return spy.wait(5000);
}

// Asks for every row's path (as painting would) and waits until every page has arrived.
bool loadEveryRow(LibraryModel &model) {
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 10000) {
        bool all = true;
        for (int row = 0; row < model.rowCount(); ++row) {
            if (!model.isHeader(row) &&
                !model.data(model.index(row), LibraryModel::LoadedRole).toBool()) {
                model.data(model.index(row), LibraryModel::PathRole); // wants its page
                all = false;
            }
        }
        if (all)
            return true;
        QTest::qWait(5);
    }
    return false;
}

qint64 msOf(int y, int m, int d) {
    return QDateTime(QDate(y, m, d), QTime(0, 0)).toMSecsSinceEpoch();
}
} // namespace

class TestLibrary : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void modelPassesTheTester();
    void monthHeadersFollowTheDates_data();
    void monthHeadersFollowTheDates();
    void dataNeverQueriesTheListing();
    void hundredThousandPhotosKeepTheCacheBounded();
    void sortByNameHasNoHeaders();
    void collectPathsWaitsForTheirPages();
    void listingErrorIsReportedAndEmptiesTheView();
    void staleCountsAreDropped();
    void monthHeaderTakesAWholeLineOfTheGrid();
    void dragCarriesEveryLoadedPhoto();
    void copyNeverOverwrites();
    void copyKeepsTheModificationTime();
    void copyReportsErrorsAndGoesOn();
    void copyIntoAFullDiskRemovesThePartialFile();
    void sortForDisplayOrdersByDateAndName();
    void windowShowsTheLibraryWithoutAQuery();
    void shiftAndCtrlClicksSelectSeveralPhotos();
    void selectAllCopyPathsAndCopyFiles();
    void copyErrorsAreListedInTheWindow();
    void sortBoxReordersTheResults();
};

void TestLibrary::modelPassesTheTester() {
    auto fake = std::make_shared<FakeListing>(1000, false, 50, 600);
    LibraryModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QVERIFY(loadEveryRow(model));
    PhotoFilter f;
    f.folders << QStringLiteral("/library/2026");
    model.setFilter(f);
    QVERIFY(waitLoaded(model));
    model.setSortOrder(SortOrder::Name);
    QVERIFY(waitLoaded(model));
    QVERIFY(loadEveryRow(model));
    model.setListing(nullptr);
    QVERIFY(waitLoaded(model));
    QCOMPARE(model.rowCount(), 0);
}

void TestLibrary::monthHeadersFollowTheDates_data() {
    QTest::addColumn<bool>("threaded");
    QTest::addColumn<int>("undatedEvery");
    QTest::addColumn<PhotoFilter>("filter");
    PhotoFilter none;
    PhotoFilter year2025;
    year2025.takenFromMs = msOf(2025, 1, 1);
    year2025.takenBeforeMs = msOf(2026, 1, 1);
    PhotoFilter folder;
    folder.folders << QStringLiteral("/library/2024/f3");
    QTest::newRow("all photos, gui thread") << false << 0 << none;
    QTest::newRow("all photos, worker thread") << true << 0 << none;
    QTest::newRow("some without a date come last") << true << 17 << none;
    QTest::newRow("taken in 2025") << false << 17 << year2025;
    QTest::newRow("one folder") << true << 0 << folder;
}

void TestLibrary::monthHeadersFollowTheDates() {
    QFETCH(bool, threaded);
    QFETCH(int, undatedEvery);
    QFETCH(PhotoFilter, filter);
    // 3,000 photos 12 hours apart: about 50 months, most spanning several pages.
    auto fake = std::make_shared<FakeListing>(3000, threaded, undatedEvery, 720);
    const Expected want = expectedRows(*fake, filter);
    QVERIFY(want.paths.size() > want.headerRows.size());
    LibraryModel model;
    model.setFilter(filter);
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QCOMPARE(model.rowCount(), want.paths.size());
    QCOMPARE(model.photoCount(), qint64(want.paths.size() - want.headerRows.size()));
    QVERIFY(loadEveryRow(model));
    QCOMPARE(fake->ranOffThread(), threaded);
    for (int row = 0; row < model.rowCount(); ++row) {
        const bool header = want.headerRows.contains(row);
        QCOMPARE(model.isHeader(row), header);
        QCOMPARE(model.data(model.index(row), LibraryModel::HeaderRole).toBool(), header);
        if (header) {
            QCOMPARE(model.data(model.index(row)).toString(),
                     want.titles[want.headerRows.indexOf(row)]);
            QVERIFY(!(model.flags(model.index(row)) & Qt::ItemIsSelectable));
        } else {
            QCOMPARE(model.data(model.index(row), LibraryModel::PathRole).toString(),
                     want.paths[row]);
            QCOMPARE(model.rowOfPhotoOffset(model.photoOffsetOfRow(row)), row);
        }
    }
}

void TestLibrary::dataNeverQueriesTheListing() {
    auto fake = std::make_shared<FakeListing>(5000, false);
    LibraryModel model;
    model.setListing(fake);
    QCOMPARE(fake->countCalls(), 0); // not even the counts before the event loop runs
    QVERIFY(waitLoaded(model));
    const int before = fake->listCalls();
    for (int row = 0; row < model.rowCount(); row += 37) {
        model.data(model.index(row), Qt::DisplayRole);
        model.data(model.index(row), LibraryModel::ThumbnailRole);
    }
    QCOMPARE(fake->listCalls(), before);
    QTRY_VERIFY_WITH_TIMEOUT(fake->listCalls() > before, 2000);
    // Layout roles (the delegate's sizeHint) never want a page (a listing of its own: the first
    // model still fetches what it was asked for).
    auto quiet = std::make_shared<FakeListing>(5000, false);
    LibraryModel second;
    second.setListing(quiet);
    QVERIFY(waitLoaded(second));
    for (int row = 0; row < second.rowCount(); ++row)
        second.data(second.index(row), LibraryModel::HeaderRole);
    QTest::qWait(50);
    QCOMPARE(quiet->listCalls(), 0);
}

void TestLibrary::hundredThousandPhotosKeepTheCacheBounded() {
    auto fake = std::make_shared<FakeListing>(100000, true);
    LibraryModel model;
    QSignalSpy pages(&model, &LibraryModel::pageLoaded);
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QCOMPARE(model.photoCount(), 100000);
    // A fast scroll from top to bottom: a screenful of rows every step, no waiting.
    const int rows = model.rowCount();
    for (int row = 0; row < rows; row += 2000) {
        for (int r = row; r < qMin(rows, row + 40); ++r)
            model.data(model.index(r), LibraryModel::PathRole);
        QCoreApplication::processEvents();
    }
    // The end of the list is what is on screen now: it arrives; most pages scrolled past never
    // load.
    const int last = rows - 1;
    QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(last), LibraryModel::PathRole).isValid(), 5000);
    QCOMPARE(model.data(model.index(last), LibraryModel::PathRole).toString(),
             fake->ordered({}, SortOrder::DateTaken).back().path);
    QTest::qWait(100);
    QVERIFY2(fake->listCalls() < rows / LibraryModel::kPageSize / 2,
             qPrintable(QStringLiteral("%1 pages fetched").arg(fake->listCalls())));
    // Reading every page keeps at most kMaxCachedPages of them.
    for (qint64 page = 0; page * LibraryModel::kPageSize < model.photoCount(); ++page) {
        const int row = model.rowOfPhotoOffset(page * LibraryModel::kPageSize);
        model.data(model.index(row), LibraryModel::PathRole);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(row), LibraryModel::LoadedRole).toBool(),
                                 2000);
    }
    int cached = 0;
    for (int row = 0; row < rows; ++row)
        if (model.photoAt(row) && (model.photoOffsetOfRow(row) % LibraryModel::kPageSize) == 0)
            ++cached;
    QVERIFY2(cached <= LibraryModel::kMaxCachedPages, qPrintable(QString::number(cached)));
}

void TestLibrary::sortByNameHasNoHeaders() {
    auto fake = std::make_shared<FakeListing>(700, false, 9);
    LibraryModel model;
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QVERIFY(model.headerCount() > 0);
    model.setSortOrder(SortOrder::Name);
    QVERIFY(waitLoaded(model));
    QCOMPARE(model.headerCount(), 0);
    QCOMPARE(model.rowCount(), 700);
    QVERIFY(loadEveryRow(model));
    const std::vector<PhotoRecord> want = fake->ordered({}, SortOrder::Name);
    for (int row = 0; row < model.rowCount(); ++row)
        QCOMPARE(model.data(model.index(row), LibraryModel::PathRole).toString(),
                 want[size_t(row)].path);
    // The names really are ascending (the reference is not the identity).
    QVERIFY(want.front().path.endsWith(QLatin1String("/IMG_0.jpg")));
}

void TestLibrary::collectPathsWaitsForTheirPages() {
    auto fake = std::make_shared<FakeListing>(20000, true, 0, 60);
    const Expected want = expectedRows(*fake, {});
    LibraryModel model;
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    // Rows far apart, a header among them, nothing loaded yet.
    QList<int> rows{want.headerRows[3], 5, 4999, 12345, model.rowCount() - 1, 7};
    QStringList wantPaths;
    QList<int> sorted = rows;
    std::sort(sorted.begin(), sorted.end());
    for (int r : sorted)
        if (!want.headerRows.contains(r))
            wantPaths << want.paths[r];
    std::optional<Result<QStringList>> got;
    model.collectPaths(rows, [&](const Result<QStringList> &paths) { got = paths; });
    QVERIFY(!got); // deferred: the pages are fetched first
    QTRY_VERIFY_WITH_TIMEOUT(got.has_value(), 5000);
    QVERIFY(got->ok());
    QCOMPARE(got->value(), wantPaths);
}

void TestLibrary::listingErrorIsReportedAndEmptiesTheView() {
    auto fake = std::make_shared<FakeListing>(100, false);
    fake->setFailure(QStringLiteral("could not read /tmp/library.sqlite: disk I/O error"));
    LibraryModel model;
    QSignalSpy errors(&model, &LibraryModel::errorOccurred);
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(errors.count(), 1);
    QVERIFY(errors.first().first().toString().contains(QLatin1String("/tmp/library.sqlite")));
}

void TestLibrary::staleCountsAreDropped() {
    auto fake = std::make_shared<FakeListing>(4000, true, 0, 300);
    fake->setLatencyMs(30);
    LibraryModel model;
    QSignalSpy loaded(&model, &LibraryModel::loaded);
    model.setListing(fake);
    PhotoFilter f;
    f.folders << QStringLiteral("/library/2026/f1");
    model.setFilter(f); // before the first counts arrive
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, 5000);
    QTest::qWait(100);
    QCOMPARE(loaded.count(), 1); // the unfiltered answer never showed
    const std::vector<PhotoRecord> want = fake->ordered(f, SortOrder::DateTaken);
    QCOMPARE(model.photoCount(), qint64(want.size()));
    QVERIFY(model.photoCount() < 4000);
}

void TestLibrary::monthHeaderTakesAWholeLineOfTheGrid() {
    auto fake = std::make_shared<FakeListing>(400, false, 0, 360);
    LibraryModel model;
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QListView view;
    view.setViewMode(QListView::IconMode);
    view.setResizeMode(QListView::Adjust);
    view.setMovement(QListView::Static);
    auto *delegate = new ResultDelegate(&view);
    delegate->setTileSize(100);
    view.setItemDelegate(delegate);
    view.setModel(&model);
    view.resize(800, 600);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.doItemsLayout();
    QVERIFY(model.headerCount() >= 2);
    for (int row = 0; row < qMin(model.rowCount(), 200); ++row) {
        if (!model.isHeader(row) || row == 0)
            continue;
        const QRect header = view.visualRect(model.index(row));
        const QRect before = view.visualRect(model.index(row - 1));
        const QRect after = view.visualRect(model.index(row + 1));
        QVERIFY2(header.top() >= before.bottom(), qPrintable(QStringLiteral("row %1").arg(row)));
        QVERIFY(after.top() >= header.bottom());
        QCOMPARE(after.left(), view.visualRect(model.index(1)).left()); // a new line starts
    }
}

void TestLibrary::dragCarriesEveryLoadedPhoto() {
    auto fake = std::make_shared<FakeListing>(300, false);
    LibraryModel model;
    model.setListing(fake);
    QVERIFY(waitLoaded(model));
    QVERIFY(loadEveryRow(model));
    QModelIndexList drag;
    QList<QUrl> want;
    for (int row : {1, 2, 40, 250})
        if (!model.isHeader(row)) {
            drag << model.index(row);
            want << fileUrl(model.data(model.index(row), LibraryModel::PathRole).toString());
        }
    std::unique_ptr<QMimeData> mime(model.mimeData(drag));
    QVERIFY(mime);
    QCOMPARE(mime->urls(), want);
}

void TestLibrary::copyNeverOverwrites() {
    QTemporaryDir src, dst;
    const QByteArray a = "first photo", b = "second photo with the same name";
    QDir(src.path()).mkdir(QStringLiteral("x"));
    QDir(src.path()).mkdir(QStringLiteral("y"));
    const QString pa = src.filePath(QStringLiteral("x/IMG_1.jpg")),
                  pb = src.filePath(QStringLiteral("y/IMG_1.jpg"));
    for (auto [p, bytes] : {std::pair{pa, a}, std::pair{pb, b}}) {
        QFile f(p);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(bytes);
    }
    QFile existing(dst.filePath(QStringLiteral("IMG_1.jpg")));
    QVERIFY(existing.open(QIODevice::WriteOnly));
    existing.write("already there");
    existing.close();
    const CopyOutcome out = copyPhotosToFolder({pa, pb}, dst.path());
    QVERIFY2(out.errors.isEmpty(), qPrintable(out.errors.join(QLatin1Char('\n'))));
    QCOMPARE(out.copied, QStringList({dst.filePath(QStringLiteral("IMG_1 (2).jpg")),
                                      dst.filePath(QStringLiteral("IMG_1 (3).jpg"))}));
    auto read = [](const QString &p) {
        QFile f(p);
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    QCOMPARE(read(dst.filePath(QStringLiteral("IMG_1.jpg"))), QByteArray("already there"));
    QCOMPARE(read(out.copied[0]), a);
    QCOMPARE(read(out.copied[1]), b);
    QCOMPARE(freeFileName(dst.path(), QStringLiteral(".hidden")), QStringLiteral(".hidden"));
    QCOMPARE(freeFileName(dst.path(), QStringLiteral("IMG_1.jpg")),
             QStringLiteral("IMG_1 (4).jpg"));
}

void TestLibrary::copyKeepsTheModificationTime() {
    QTemporaryDir src, dst;
    // A name that is not UTF-8 (byte 0xFF) survives too.
    const QString path = src.path() + QLatin1Char('/') + pathFromNative("holiday-\xff.jpg");
    QFile f;
    QVERIFY(openNativeFile(f, path, QIODevice::WriteOnly));
    f.write("jpeg bytes");
    QVERIFY(f.flush()); // else close() writes, and sets the time to now
    const QDateTime when(QDate(2019, 6, 14), QTime(10, 30));
    QVERIFY(f.setFileTime(when, QFileDevice::FileModificationTime));
    f.close();
    const CopyOutcome out = copyPhotosToFolder({path}, dst.path());
    // QTemporaryDir cannot remove a name that is not UTF-8: remove both files by their bytes.
    auto cleanup = qScopeGuard([&] {
        for (const QString &p : QStringList{path} + out.copied)
            ::unlink(nativePath(p).constData());
    });
    QVERIFY2(out.errors.isEmpty(), qPrintable(out.errors.join(QLatin1Char('\n'))));
    QCOMPARE(out.copied.size(), 1);
    QCOMPARE(QFileInfo(out.copied[0]).path(), dst.path());
    const NativeFileInfo info = statNative(out.copied[0]);
    QVERIFY(info.isFile);
    QCOMPARE(info.size, 10);
    QCOMPARE(info.mtimeMs, when.toMSecsSinceEpoch());
}

void TestLibrary::copyReportsErrorsAndGoesOn() {
    QTemporaryDir src, dst;
    const QString gone = src.filePath(QStringLiteral("deleted-meanwhile.jpg"));
    const QString good = src.filePath(QStringLiteral("good.jpg"));
    QFile f(good);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("x");
    f.close();
    const CopyOutcome out = copyPhotosToFolder({gone, good}, dst.path());
    QCOMPARE(out.copied, QStringList{dst.filePath(QStringLiteral("good.jpg"))});
    QCOMPARE(out.errors.size(), 1);
    QVERIFY2(out.errors[0].contains(gone), qPrintable(out.errors[0]));
    QVERIFY(!QFile::exists(dst.filePath(QStringLiteral("deleted-meanwhile.jpg"))));
    const CopyOutcome noFolder =
        copyPhotosToFolder({good}, dst.filePath(QStringLiteral("missing")));
    QCOMPARE(noFolder.copied.size(), 0);
    QVERIFY(noFolder.errors.value(0).contains(dst.filePath(QStringLiteral("missing"))));
}

void TestLibrary::copyIntoAFullDiskRemovesThePartialFile() {
    QTemporaryDir src, mnt;
    if (::mount("tmpfs", QFile::encodeName(mnt.path()).constData(), "tmpfs", 0, "size=256k") != 0)
        QSKIP(qPrintable(
            QStringLiteral("cannot mount a small tmpfs (%1): run as root to test a full disk")
                .arg(QString::fromLocal8Bit(strerror(errno)))));
    auto unmount = qScopeGuard([&] { ::umount(QFile::encodeName(mnt.path()).constData()); });
    const QString small = src.filePath(QStringLiteral("small.jpg")),
                  big = src.filePath(QStringLiteral("big.jpg"));
    for (auto [p, n] : {std::pair{big, 600 * 1024}, std::pair{small, 1000}}) {
        QFile f(p);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(n, 'x'));
    }
    const CopyOutcome out = copyPhotosToFolder({big, small}, mnt.path());
    QCOMPARE(out.errors.size(), 1);
    QVERIFY2(out.errors[0].contains(big) && out.errors[0].contains(mnt.path()),
             qPrintable(out.errors[0]));
    QCOMPARE(out.copied, QStringList{mnt.filePath(QStringLiteral("small.jpg"))});
    QVERIFY(!QFile::exists(mnt.filePath(QStringLiteral("big.jpg")))); // no half photo left behind
}

void TestLibrary::sortForDisplayOrdersByDateAndName() {
    // Relevance order in, with dates the test chose (one unknown).
    std::vector<PhotoHit> hits;
    const QStringList names{QStringLiteral("b.jpg"), QStringLiteral("C.jpg"),
                            QStringLiteral("a.jpg"), QStringLiteral("d.jpg")};
    const std::map<qint64, std::optional<qint64>> taken{
        {1, msOf(2020, 5, 1)}, {2, std::nullopt}, {3, msOf(2023, 1, 9)}, {4, msOf(2021, 7, 7)}};
    for (int i = 0; i < 4; ++i) {
        PhotoHit h;
        h.photoId = i + 1;
        h.path = QStringLiteral("/p/") + names[i];
        h.similarity = 1.0f - 0.1f * float(i);
        hits.push_back(h);
    }
    auto ids = [](const std::vector<PhotoHit> &v) {
        QList<qint64> out;
        for (const PhotoHit &h : v)
            out << h.photoId;
        return out;
    };
    auto takenOf = [&](qint64 id) { return taken.at(id); };
    // Newest first, the unknown date last.
    QList<qint64> byDate{1, 3, 4};
    std::sort(byDate.begin(), byDate.end(),
              [&](qint64 a, qint64 b) { return *taken.at(a) > *taken.at(b); });
    byDate << 2;
    QCOMPARE(ids(SearchController::sortForDisplay(hits, SortOrder::DateTaken, takenOf)), byDate);
    QCOMPARE(ids(SearchController::sortForDisplay(hits, SortOrder::Name, takenOf)),
             (QList<qint64>{3, 1, 2, 4}));
    QCOMPARE(ids(SearchController::sortForDisplay(hits, SortOrder::Relevance, takenOf)), ids(hits));
}

namespace {
// A listing of real files (for copying and opening): writes each photo FakeListing names.
std::shared_ptr<FakeListing> realFiles(const QTemporaryDir &dir, int n) {
    auto fake = std::make_shared<FakeListing>(n, false, 0, 60 * 24 * 9, 2, dir.path());
    for (const PhotoRecord &r : fake->photos()) {
        QDir().mkpath(QFileInfo(r.path).path());
        QFile f(r.path);
        if (!f.open(QIODevice::WriteOnly))
            return nullptr;
        f.write(r.path.toUtf8()); // content that says which photo it is
    }
    return fake;
}
int firstPhotoRow(const LibraryModel &m, int from = 0) {
    for (int row = from; row < m.rowCount(); ++row)
        if (!m.isHeader(row))
            return row;
    return -1;
}
void click(QListView *view, int row, Qt::KeyboardModifiers mods = Qt::NoModifier) {
    const QRect r = view->visualRect(view->model()->index(row, 0));
    QTest::mouseClick(view->viewport(), Qt::LeftButton, mods, r.center());
}
QStringList selectedPaths(QListView *view) {
    QModelIndexList sel = view->selectionModel()->selectedIndexes();
    std::sort(sel.begin(), sel.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    QStringList out;
    for (const QModelIndex &i : sel)
        out << i.data(LibraryModel::PathRole).toString();
    return out;
}
} // namespace

void TestLibrary::windowShowsTheLibraryWithoutAQuery() {
    QTemporaryDir dir;
    auto fake = realFiles(dir, 60);
    QVERIFY(fake);
    MainWindow w(AppSettings{});
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.setPhotoListing(fake);
    QTRY_COMPARE_WITH_TIMEOUT(w.currentGrid(), w.libraryView(), 5000);
    const Expected want = expectedRows(*fake, {});
    QCOMPARE(w.libraryModel()->rowCount(), want.paths.size());
    QTRY_COMPARE_WITH_TIMEOUT(
        w.libraryModel()->data(w.libraryModel()->index(1), LibraryModel::PathRole).toString(),
        want.paths[1], 5000);
    // A filter narrows the view; one that keeps nothing says so.
    PhotoFilter f;
    f.folders << QFileInfo(want.paths[1]).path();
    w.setFilter(f);
    QTRY_COMPARE_WITH_TIMEOUT(w.libraryModel()->photoCount(),
                              qint64(fake->ordered(f, SortOrder::DateTaken).size()), 5000);
    QVERIFY(w.libraryModel()->photoCount() < 60);
    f.folders = QStringList{dir.filePath(QStringLiteral("nowhere"))};
    w.setFilter(f);
    QTRY_VERIFY_WITH_TIMEOUT(w.currentGrid() == nullptr, 5000);
}

void TestLibrary::shiftAndCtrlClicksSelectSeveralPhotos() {
    QTemporaryDir dir;
    auto fake = realFiles(dir, 60);
    QVERIFY(fake);
    MainWindow w(AppSettings{});
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.setPhotoListing(fake);
    QTRY_COMPARE_WITH_TIMEOUT(w.currentGrid(), w.libraryView(), 5000);
    LibraryModel *m = w.libraryModel();
    QListView *view = w.libraryView();
    QVERIFY(loadEveryRow(*m));
    const int a = firstPhotoRow(*m), b = firstPhotoRow(*m, a + 3), c = firstPhotoRow(*m, b + 4);
    QVERIFY(a >= 0 && b > a && c > b);
    click(view, a);
    click(view, b, Qt::ControlModifier);
    QCOMPARE(selectedPaths(view),
             (QStringList{m->data(m->index(a), LibraryModel::PathRole).toString(),
                          m->data(m->index(b), LibraryModel::PathRole).toString()}));
    click(view, c, Qt::ShiftModifier); // from the anchor b to c
    QStringList range;
    for (int row = b; row <= c; ++row)
        if (!m->isHeader(row))
            range << m->data(m->index(row), LibraryModel::PathRole).toString();
    QStringList got = selectedPaths(view);
    QVERIFY(got.contains(range.first()) && got.contains(range.last()));
    for (const QString &p : range)
        QVERIFY(got.contains(p));
    click(view, b, Qt::ControlModifier); // toggles b off
    QVERIFY(!selectedPaths(view).contains(m->data(m->index(b), LibraryModel::PathRole).toString()));
    // The drag of the selection carries every selected file.
    std::unique_ptr<QMimeData> mime(m->mimeData(view->selectionModel()->selectedIndexes()));
    QVERIFY(mime);
    QCOMPARE(mime->urls().size(), selectedPaths(view).size());
}

void TestLibrary::selectAllCopyPathsAndCopyFiles() {
    QTemporaryDir dir, target;
    auto fake = realFiles(dir, 45);
    QVERIFY(fake);
    MainWindow w(AppSettings{});
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.setPhotoListing(fake);
    QTRY_COMPARE_WITH_TIMEOUT(w.currentGrid(), w.libraryView(), 5000);
    w.selectAll();
    const std::vector<PhotoRecord> want = fake->ordered({}, SortOrder::DateTaken);
    QCOMPARE(w.libraryView()->selectionModel()->selectedIndexes().size(),
             qsizetype(want.size())); // no headers
    QStringList wantPaths;
    for (const PhotoRecord &r : want)
        wantPaths << r.path;
    w.copySelectedPaths();
    QTRY_COMPARE_WITH_TIMEOUT(QApplication::clipboard()->text(), wantPaths.join(QLatin1Char('\n')),
                              5000);

    QSignalSpy copied(&w, &MainWindow::copyFinished);
    w.copySelectedTo(target.path());
    QTRY_COMPARE_WITH_TIMEOUT(copied.count(), 1, 10000);
    QCOMPARE(copied.first().at(1).toStringList(), QStringList());
    const QStringList first = copied.first().at(0).toStringList();
    QCOMPARE(first.size(), wantPaths.size());
    QCOMPARE(QDir(target.path()).entryList(QDir::Files).size(), wantPaths.size());
    for (int i = 0; i < first.size(); ++i) {
        QFile f(first[i]);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromUtf8(f.readAll()), wantPaths[i]);
    }
    // Again: every copy gets a new name, the first copies stay as they were.
    w.copySelectedTo(target.path());
    QTRY_COMPARE_WITH_TIMEOUT(copied.count(), 2, 10000);
    QCOMPARE(QDir(target.path()).entryList(QDir::Files).size(), 2 * wantPaths.size());
    for (const QString &p : copied.at(1).at(0).toStringList())
        QVERIFY2(QFileInfo(p).fileName().contains(QLatin1String(" (")), qPrintable(p));
}

void TestLibrary::copyErrorsAreListedInTheWindow() {
    QTemporaryDir dir, target;
    auto fake = realFiles(dir, 6);
    QVERIFY(fake);
    MainWindow w(AppSettings{});
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    w.setPhotoListing(fake);
    QTRY_COMPARE_WITH_TIMEOUT(w.currentGrid(), w.libraryView(), 5000);
    w.selectAll();
    const QString gone = fake->photos()[2].path; // deleted after it was listed
    QVERIFY(QFile::remove(gone));
    QSignalSpy copied(&w, &MainWindow::copyFinished);
    w.copySelectedTo(target.path());
    QTRY_COMPARE_WITH_TIMEOUT(copied.count(), 1, 10000);
    QCOMPARE(copied.first().at(0).toStringList().size(), 5);
    const QStringList errors = copied.first().at(1).toStringList();
    QCOMPARE(errors.size(), 1);
    QVERIFY2(errors[0].contains(gone), qPrintable(errors[0]));
    QMessageBox *box = w.findChild<QMessageBox *>();
    QVERIFY(box);
    QTRY_VERIFY(box->isVisible());
    QVERIFY(box->detailedText().contains(gone));
    box->close();
}

void TestLibrary::sortBoxReordersTheResults() {
    const FixtureEngine &fx = FixtureEngine::instance();
    QVERIFY2(fx.error.isEmpty(), qPrintable(fx.error));
    MainWindow w(AppSettings{});
    w.setSearchEngine(fx.engine);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QSignalSpy done(w.searchController(), &SearchController::searchFinished);
    w.runTextQuery(fx.text(0));
    QVERIFY(done.wait(60000));
    const std::vector<PhotoHit> relevance = w.resultModel()->hits();
    QVERIFY(relevance.size() >= 2);
    QStringList byName;
    for (const PhotoHit &h : relevance)
        byName << QFileInfo(h.path).fileName();
    std::sort(byName.begin(), byName.end(), [](const QString &a, const QString &b) {
        return a.compare(b, Qt::CaseInsensitive) < 0;
    });
    QComboBox *sort = w.sortBox();
    sort->setCurrentIndex(sort->findData(int(SortOrder::Name)));
    Q_EMIT sort->activated(sort->currentIndex());
    QStringList got;
    for (const PhotoHit &h : w.resultModel()->hits())
        got << QFileInfo(h.path).fileName();
    QCOMPARE(got, byName);
    sort->setCurrentIndex(sort->findData(int(SortOrder::Relevance)));
    Q_EMIT sort->activated(sort->currentIndex());
    QCOMPARE(w.resultModel()->hits().size(), relevance.size());
    for (size_t i = 0; i < relevance.size(); ++i)
        QCOMPARE(w.resultModel()->hits()[i].photoId, relevance[i].photoId);
}

int runLibraryTests(int argc, char **argv) {
    TestLibrary t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_library.moc"
