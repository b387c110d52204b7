// The window over a real Library indexing a folder of photos: the progress bar moves
// from 0 to the total, the failures link counts the broken file, the sidebar shows the folder's
// state, search works once indexing is done, and the GUI thread never stalls for 50 ms.
#include "app/gui/cataloglisting.h"
#include "fixtureengine.h"
#include "fixturelibrary.h"
#include "indexer/library.h"
#include "indexer/sqldatabase.h"
#include "stallmeter.h"
#include "ui/failuresdialog.h"
#include "ui/folderlistmodel.h"
#include "ui/indexingstatuswidget.h"
#include "ui/librarymodel.h"
#include "ui/mainwindow.h"
#include "ui/resultmodel.h"
#include "ui/searchcontroller.h"
#include "ui/thumbnailloader.h"

#include <QAbstractItemModelTester>
#include <QLabel>
#include <QListView>
#include <QProgressBar>
#include <QSignalSpy>
#include <QToolButton>
#include <QTreeWidget>
#include <QtTest>

using namespace ts;
using test::FixtureEngine;

class TestIndexing : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void progressBarMovesDuringIndexing();
    void gridThumbnailComesFromTheStoredFile_data();
    void gridThumbnailComesFromTheStoredFile();
    void libraryViewListsIndexedPhotosByMonth();
};

void TestIndexing::progressBarMovesDuringIndexing() {
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
    QTemporaryDir tmp;
    const QString photos = tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(photos));
    // 40 distinct photos (the fixtures at different sizes) and one broken file.
    for (int i = 0; i < 40; ++i) {
        const QImage img(f.imagePath(i % 4));
        QVERIFY(
            img.scaledToWidth(120 + i * 3)
                .save(
                    QStringLiteral("%1/photo%2.png").arg(photos).arg(i, 2, 10, QLatin1Char('0'))));
    }
    QFile broken(photos + QStringLiteral("/broken.jpg"));
    QVERIFY(broken.open(QIODevice::WriteOnly));
    broken.write(QByteArray("\xff\xd8\xff\xe0 truncated", 14));
    broken.close();

    LibraryOptions options;
    options.batchSize = 2; // many small batches: many progress updates
    auto library = test::openFixtureLibrary(tmp.path(), options);
    QVERIFY2(library.ok(), library.ok() ? "" : qPrintable(library.error().message));
    Library &lib = **library;

    MainWindow window(AppSettings{});
    QAbstractItemModelTester tester(window.folderModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QList<int> values;
    // Pause from the status bar's button as soon as indexing runs, resume once it says "Paused".
    connect(&window, &MainWindow::pauseIndexingRequested, &lib, &Library::pauseIndexing);
    connect(&window, &MainWindow::resumeIndexingRequested, &lib, &Library::resumeIndexing);
    QToolButton *pauseButton = window.indexingStatus()->findChild<QToolButton *>();
    QVERIFY(pauseButton);
    bool pauseClicked = false, sawPaused = false;
    connect(&lib, &Library::progressChanged, &window, [&](const IndexProgress &p) {
        window.setIndexProgress(p);
        values << window.indexingStatus()->progressBar()->value();
        if (p.total > 0 && p.done < p.total && !pauseClicked) {
            pauseClicked = true;
            pauseButton->click();
        } else if (p.paused && !sawPaused) {
            sawPaused = window.indexingStatus()->isPaused() &&
                        window.indexingStatus()->text().startsWith(QStringLiteral("Paused"));
            pauseButton->click(); // resume
        }
    });
    connect(&lib, &Library::foldersChanged, &window, [&] { window.setFolders(lib.folders()); });
    QSignalSpy finished(&lib, &Library::indexingFinished);
    QVERIFY(lib.addFolder(photos).ok());
    test::StallMeter stalls;
    stalls.start();
    lib.startIndexing();
    QVERIFY(finished.wait(120000));
    stalls.stop();
    window.setIndexingFinished();
    window.setFailedCount(lib.stats().failed);
    qInfo("progress bar values during indexing: %s", qPrintable([&] {
              QStringList s;
              for (int v : values)
                  s << QString::number(v);
              return s.join(QLatin1Char(' '));
          }()));
    qInfo("worst GUI stall while indexing 41 files: %.1f ms (%.1f ms less waits for a free core)",
          stalls.worstMs(), stalls.worstOwnMs());
    QVERIFY(!values.isEmpty());
    QCOMPARE(values.last(), 41);
    if (pauseClicked)
        QVERIFY(sawPaused); // the run paused, showed it, and resumed to the end
    QVERIFY2(stalls.worstOwnMs() < 50, qPrintable(QString::number(stalls.worstOwnMs())));
    QCOMPARE(window.folderModel()->rowCount(), 1);
    QVERIFY2(window.folderModel()
                 ->data(window.folderModel()->index(0), FolderListModel::StateTextRole)
                 .toString()
                 .contains(QStringLiteral("40 photos")),
             qPrintable(window.folderModel()
                            ->data(window.folderModel()->index(0), FolderListModel::StateTextRole)
                            .toString()));
    QCOMPARE(lib.failedPhotos().size(), 1);
    // The status bar's link, and the list it opens, with the error.
    const auto links = window.indexingStatus()->findChildren<QLabel *>();
    QVERIFY(std::any_of(links.begin(), links.end(), [](QLabel *l) {
        return l->isVisible() && l->text().contains(QStringLiteral("1 photo could not be indexed"));
    }));
    FailuresDialog failures(lib.failedPhotos());
    QCOMPARE(failures.list()->topLevelItemCount(), 1);
    QVERIFY(failures.list()->topLevelItem(0)->text(0).endsWith(QStringLiteral("broken.jpg")));
    QVERIFY(!failures.list()->topLevelItem(0)->text(1).isEmpty());

    // Search over what was indexed.
    QVERIFY(lib.searchEngine());
    window.setSearchEngine(lib.searchEngine());
    QSignalSpy searched(window.searchController(), &SearchController::searchFinished);
    window.runTextQuery(QStringLiteral("a cup of coffee"));
    QVERIFY(searched.wait(30000));
    QCOMPARE(window.resultModel()->rowCount(), 40);
}

void TestIndexing::gridThumbnailComesFromTheStoredFile_data() {
    QTest::addColumn<QString>("storedThumbnails"); // what happens to the stored thumbnails
    QTest::addColumn<bool>("fromStored");          // the grid shows the stored one
    QTest::newRow("stored") << QStringLiteral("kept") << true;
    // The catalog keeps each thumbnail's bytes (a shared library's other machines have no file):
    // a missing file is written again from them.
    QTest::newRow("stored file missing: refilled from the catalog")
        << QStringLiteral("deleted") << true;
    QTest::newRow("stored file and the catalog's copy gone: the original")
        << QStringLiteral("deleted everywhere") << false;
    QTest::newRow("stored one unreadable: the original") << QStringLiteral("garbage") << false;
}

// The grid reads the thumbnails the indexer stored (256 px, a few KB) instead of decoding the
// originals. Each original is replaced by a blue photo after indexing (a change the indexer has
// not seen yet), so the colour of a tile tells where it came from: the indexed colour from the
// stored file, blue from the original (the fallback when the stored file is gone or broken).
void TestIndexing::gridThumbnailComesFromTheStoredFile() {
    QFETCH(QString, storedThumbnails);
    QFETCH(bool, fromStored);
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
    QTemporaryDir tmp;
    const QString photos = tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(photos));
    const QList<QColor> colours = {QColor(220, 30, 30), QColor(30, 200, 40), QColor(230, 210, 20)};
    QStringList paths;
    for (int i = 0; i < colours.size(); ++i) {
        QImage img(640, 480,
                   QImage::Format_RGB32); // larger than the tile, so the stored one is used
        img.fill(colours[i]);
        paths << QStringLiteral("%1/photo%2.png").arg(photos).arg(i);
        QVERIFY(img.save(paths.last()));
    }
    auto library = test::openFixtureLibrary(tmp.path());
    QVERIFY2(library.ok(), library.ok() ? "" : qPrintable(library.error().message));
    Library &lib = **library;
    const Status indexed = test::indexFolder(lib, photos);
    QVERIFY2(indexed.ok(), indexed.ok() ? "" : qPrintable(indexed.error().message));
    QCOMPARE(lib.stats().indexed, qint64(colours.size()));

    const auto thumbnailOf = lib.storedThumbnailProvider();
    for (const QString &path : paths) {
        const QString thumb = thumbnailOf(path);
        QVERIFY2(QFileInfo::exists(thumb),
                 qPrintable(path + QStringLiteral(": no stored thumbnail")));
        if (storedThumbnails.startsWith(QLatin1String("deleted"))) {
            QVERIFY(QFile::remove(thumb));
        } else if (storedThumbnails == QLatin1String("garbage")) {
            QFile out(thumb);
            QVERIFY(out.open(QIODevice::WriteOnly | QIODevice::Truncate));
            out.write("not a JPEG");
        }
        QImage blue(640, 480, QImage::Format_RGB32);
        blue.fill(QColor(20, 40, 230));
        QVERIFY(blue.save(path));
    }
    if (storedThumbnails == QLatin1String("deleted everywhere")) {
        auto db = sql::Database::open(tmp.filePath(QStringLiteral("library.sqlite")));
        QVERIFY2(db, db ? "" : qPrintable(db.error().message));
        QVERIFY((*db)->prepare("DELETE FROM thumbnails").exec());
        QCOMPARE((*db)->changes(), qint64(colours.size()));
    }

    MainWindow window(AppSettings{});
    window.thumbnailLoader()->setStoredThumbnailProvider(thumbnailOf);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.setSearchEngine(lib.searchEngine());
    QSignalSpy searched(window.searchController(), &SearchController::searchFinished);
    window.runTextQuery(QStringLiteral("a photo"));
    QVERIFY(searched.wait(30000));
    ResultModel *model = window.resultModel();
    QCOMPARE(model->rowCount(), colours.size());
    for (int row = 0; row < model->rowCount(); ++row) {
        const QString path = model->data(model->index(row), ResultModel::PathRole).toString();
        (void)model->data(model->index(row), ResultModel::ThumbnailRole); // asks the loader
        QTRY_VERIFY_WITH_TIMEOUT(!window.thumbnailLoader()->thumbnail(path).isNull(), 10000);
        const QImage tile =
            model->data(model->index(row), ResultModel::ThumbnailRole).value<QImage>();
        QVERIFY(std::max(tile.width(), tile.height()) <= window.thumbnailLoader()->thumbnailSize());
        const QColor centre = tile.pixelColor(tile.width() / 2, tile.height() / 2);
        const QColor expected = fromStored ? colours[paths.indexOf(path)] : QColor(20, 40, 230);
        const int distance = std::abs(centre.red() - expected.red()) +
                             std::abs(centre.green() - expected.green()) +
                             std::abs(centre.blue() - expected.blue());
        QVERIFY2(distance < 30, qPrintable(QStringLiteral("%1: tile colour %2, expected %3")
                                               .arg(path, centre.name(), expected.name())));
    }
}

void TestIndexing::libraryViewListsIndexedPhotosByMonth() {
    // Photos without EXIF dates, with file times the test chose over three months: the window
    // without a query lists them newest first under their months, through the app's catalog
    // listing (its own connection, queried on worker threads).
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
    QTemporaryDir tmp;
    const QString photos = tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(photos));
    const QList<QDateTime> taken{
        QDateTime(QDate(2024, 3, 10), QTime(12, 0)), QDateTime(QDate(2024, 3, 20), QTime(12, 0)),
        QDateTime(QDate(2023, 12, 5), QTime(12, 0)), QDateTime(QDate(2024, 1, 15), QTime(12, 0)),
        QDateTime(QDate(2023, 12, 25), QTime(12, 0))};
    QStringList paths;
    for (int i = 0; i < taken.size(); ++i) {
        const QString path = QStringLiteral("%1/p%2.png").arg(photos).arg(i);
        QVERIFY(QImage(f.imagePath(i % 4)).scaledToWidth(100 + i).save(path));
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.setFileTime(taken[i], QFileDevice::FileModificationTime));
        paths << path;
    }
    auto library = test::openFixtureLibrary(tmp.path());
    QVERIFY2(library.ok(), library.ok() ? "" : qPrintable(library.error().message));
    Library &lib = **library;
    const Status indexed = test::indexFolder(lib, photos);
    QVERIFY2(indexed.ok(), indexed.ok() ? "" : qPrintable(indexed.error().message));

    auto listing = CatalogListing::open(lib.databasePath(), lib.rootMounts());
    QVERIFY2(listing.ok(), listing.ok() ? "" : qPrintable(listing.error().message));
    MainWindow window(AppSettings{});
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.setPhotoListing(listing.value());
    QTRY_COMPARE_WITH_TIMEOUT(window.currentGrid(), window.libraryView(), 10000);

    // The rows the test expects: newest first, a header before each month.
    QList<int> order{0, 1, 2, 3, 4};
    std::sort(order.begin(), order.end(), [&](int a, int b) { return taken[a] > taken[b]; });
    QStringList wantRows;
    for (int k = 0; k < order.size(); ++k) {
        const QDate d = taken[order[k]].date();
        if (k == 0 || taken[order[k - 1]].date().month() != d.month()) {
            int count = 0;
            for (const QDateTime &t : taken)
                count += t.date().year() == d.year() && t.date().month() == d.month();
            wantRows << LibraryModel::monthTitle(d.year(), d.month(), count);
        }
        wantRows << paths[order[k]];
    }
    LibraryModel *model = window.libraryModel();
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), int(wantRows.size()), 10000);
    for (int row = 0; row < model->rowCount(); ++row) {
        if (model->isHeader(row)) {
            QCOMPARE(model->data(model->index(row)).toString(), wantRows[row]);
        } else {
            model->data(model->index(row), LibraryModel::PathRole);
            QTRY_COMPARE_WITH_TIMEOUT(
                model->data(model->index(row), LibraryModel::PathRole).toString(), wantRows[row],
                10000);
        }
    }
}

int runIndexingTests(int argc, char **argv) {
    TestIndexing t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_indexing.moc"
