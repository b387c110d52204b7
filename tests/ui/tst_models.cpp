// The item models: QAbstractItemModelTester on every change; progressive re-sorts keep the
// selection on its photo; thumbnails arrive as dataChanged(ThumbnailRole) off the GUI thread.
#include "core/common/nativepath.h"
#include "testdata.h"
#include "ui/folderlistmodel.h"
#include "ui/resultmodel.h"
#include "ui/thumbnailloader.h"

#include <QAbstractItemModelTester>
#include <QItemSelectionModel>
#include <QMimeData>
#include <QSignalSpy>
#include <QtTest>

using namespace ts;

namespace {
PhotoHit hit(qint64 id, const QString &path, float sim, std::optional<float> p = std::nullopt) {
    PhotoHit h;
    h.photoId = id;
    h.path = path;
    h.similarity = sim;
    h.matchProbability = p;
    return h;
}
QString photo(const char *name) {
    return test::dataDir(QStringLiteral("e2e/tiny-e2e/images/")) + QLatin1String(name);
}
} // namespace

class TestModels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void resultModelPassesTheTester();
    void rerankMovesRowsAndKeepsTheSelection();
    void newResultSetResets();
    void thumbnailArrivesAsDataChanged();
    void brokenPhotoKeepsThePlaceholder();
    void tenThousandResultsAreCheap();
    void dragOutCarriesFileUrls();
    void folderModelPassesTheTester();
};

void TestModels::resultModelPassesTheTester() {
    ResultModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setHits(
        {hit(1, photo("photo_coffee.jpg"), 0.3f), hit(2, photo("photo_chelsea.png"), 0.2f)});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.data(model.index(0), Qt::DisplayRole).toString(),
             QStringLiteral("photo_coffee.jpg"));
    QCOMPARE(model.data(model.index(0), ResultModel::PhotoIdRole).toLongLong(), 1);
    QVERIFY(!model.data(model.index(0), ResultModel::MatchProbabilityRole).isValid());
    QCOMPARE(model.data(model.index(1), ResultModel::ScoreRole).toFloat(), 0.2f);
    QVERIFY(model.data(model.index(0), ResultModel::ScoreTextRole)
                .toString()
                .contains(QStringLiteral("0.300")));
    model.setHits({hit(2, photo("photo_chelsea.png"), 0.2f, 0.8f),
                   hit(1, photo("photo_coffee.jpg"), 0.3f, 0.1f)});
    QCOMPARE(model.data(model.index(0), ResultModel::ScoreTextRole).toString(),
             QStringLiteral("80.0% match"));
    model.clear();
    QCOMPARE(model.rowCount(), 0);
}

void TestModels::rerankMovesRowsAndKeepsTheSelection() {
    ResultModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QItemSelectionModel selection(&model);
    model.setHits({hit(1, QStringLiteral("/a.jpg"), 0.3f), hit(2, QStringLiteral("/b.jpg"), 0.2f),
                   hit(3, QStringLiteral("/c.jpg"), 0.1f)});
    selection.setCurrentIndex(model.index(0), QItemSelectionModel::ClearAndSelect);
    QSignalSpy layout(&model, &QAbstractItemModel::layoutChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    // ITM says photo 3 matches best: same photos, new order.
    model.setHits({hit(3, QStringLiteral("/c.jpg"), 0.1f, 0.9f),
                   hit(1, QStringLiteral("/a.jpg"), 0.3f, 0.5f),
                   hit(2, QStringLiteral("/b.jpg"), 0.2f)});
    QCOMPARE(layout.count(), 1);
    QCOMPARE(reset.count(), 0);
    QCOMPARE(selection.currentIndex().row(), 1); // photo 1 moved to row 1, the selection with it
    QVERIFY(selection.isSelected(model.index(1)));
    QCOMPARE(model.rowOfPhoto(3), 0);
}

void TestModels::newResultSetResets() {
    ResultModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setHits({hit(1, QStringLiteral("/a.jpg"), 0.3f)});
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    model.setHits({hit(7, QStringLiteral("/x.jpg"), 0.3f), hit(8, QStringLiteral("/y.jpg"), 0.1f)});
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.rowCount(), 2);
}

void TestModels::thumbnailArrivesAsDataChanged() {
    ThumbnailLoader loader;
    loader.setThumbnailSize(96);
    ResultModel model(&loader);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setHits(
        {hit(1, photo("photo_chelsea.png"), 0.3f), hit(2, photo("photo_coffee.jpg"), 0.2f)});
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    // Asking for the thumbnail of a row (as a view does for visible rows) gives the placeholder
    // at once and queues the decode.
    const QImage first = model.data(model.index(0), ResultModel::ThumbnailRole).value<QImage>();
    QCOMPARE(first, ThumbnailLoader::placeholder());
    QTRY_VERIFY_WITH_TIMEOUT(!loader.thumbnail(photo("photo_chelsea.png")).isNull(), 10000);
    bool sawRow0 = false;
    for (const QList<QVariant> &args : changed) {
        const QModelIndex tl = args.at(0).toModelIndex();
        const auto roles = args.at(2).value<QList<int>>();
        if (tl.row() == 0 && args.at(1).toModelIndex().row() == 0 &&
            roles.contains(ResultModel::ThumbnailRole))
            sawRow0 = true;
    }
    QVERIFY(sawRow0);
    const QImage thumb = model.data(model.index(0), ResultModel::ThumbnailRole).value<QImage>();
    QCOMPARE(thumb.width(), 96); // 400 x 266 fitted into 96 x 96
    QVERIFY(qAbs(thumb.height() - 64) <= 1);
}

void TestModels::brokenPhotoKeepsThePlaceholder() {
    QTemporaryDir dir;
    const QString broken = dir.filePath(QStringLiteral("broken.jpg"));
    QFile f(broken);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not a jpeg at all");
    f.close();
    ThumbnailLoader loader;
    QSignalSpy failed(&loader, &ThumbnailLoader::thumbnailFailed);
    loader.request(broken);
    QVERIFY(failed.wait(10000));
    QVERIFY(failed.first().at(1).toString().contains(QStringLiteral("broken.jpg")));
    QVERIFY(loader.hasFailed(broken));
    loader.request(broken); // not retried
    QCOMPARE(loader.pendingCount(), 0);
}

void TestModels::tenThousandResultsAreCheap() {
    ThumbnailLoader loader;
    ResultModel model(&loader);
    std::vector<PhotoHit> many;
    for (int i = 0; i < 10000; ++i)
        many.push_back(hit(i, QStringLiteral("/nowhere/%1.jpg").arg(i), 1.0f - float(i) * 1e-5f));
    QElapsedTimer t;
    t.start();
    model.setHits(many);
    std::reverse(many.begin(), many.end());
    model.setHits(many); // a full re-sort
    qInfo("setHits of 10,000 results twice: %lld ms", t.elapsed());
    QVERIFY(t.elapsed() < 200);
    // Asking for many rows' thumbnails keeps the queue bounded (newest first).
    for (int r = 0; r < 10000; ++r)
        (void)model.data(model.index(r), ResultModel::ThumbnailRole);
    QVERIFY(loader.pendingCount() <= 402);
}

void TestModels::dragOutCarriesFileUrls() {
    ResultModel model;
    model.setHits({hit(1, QStringLiteral("/photos/a.jpg"), 0.3f),
                   hit(2, QStringLiteral("/photos/b.jpg"), 0.2f)});
    std::unique_ptr<QMimeData> mime(model.mimeData({model.index(0), model.index(1)}));
    QVERIFY(mime);
    QCOMPARE(mime->urls(), (QList<QUrl>{QUrl::fromLocalFile(QStringLiteral("/photos/a.jpg")),
                                        QUrl::fromLocalFile(QStringLiteral("/photos/b.jpg"))}));
    QVERIFY(model.flags(model.index(0)) & Qt::ItemIsDragEnabled);
    // A name that is not valid UTF-8 leaves as its exact bytes (Latin-1 e acute, 0xE9).
    model.setHits({hit(3, pathFromNative("/photos/caf\xe9.jpg"), 0.3f)});
    mime.reset(model.mimeData({model.index(0)}));
    QVERIFY(mime);
    QCOMPARE(mime->urls().value(0).toEncoded(), QByteArray("file:///photos/caf%E9.jpg"));
}

void TestModels::folderModelPassesTheTester() {
    FolderListModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    WatchedFolder a;
    a.id = 1;
    a.path = QStringLiteral("/home/me/Pictures");
    a.photoCount = 1200;
    a.pendingCount = 30;
    WatchedFolder b;
    b.id = 2;
    b.path = QStringLiteral("/media/usb/DCIM");
    b.photoCount = 1;
    b.failedCount = 2;
    b.lastScan = QDateTime::currentDateTime();
    model.setFolders({a, b});
    QCOMPARE(model.rowCount(), 2);
    QVERIFY(model.data(model.index(0), Qt::DisplayRole)
                .toString()
                .startsWith(QStringLiteral("Pictures\n")));
    QVERIFY(model.data(model.index(0), FolderListModel::StateTextRole)
                .toString()
                .contains(QStringLiteral("30 waiting")));
    model.setIndexing(true);
    QVERIFY(model.data(model.index(0), FolderListModel::StateTextRole)
                .toString()
                .contains(QStringLiteral("indexing 30")));
    QVERIFY(model.data(model.index(1), FolderListModel::StateTextRole)
                .toString()
                .contains(QStringLiteral("2 failed")));
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    a.pendingCount = 0;
    a.photoCount = 1230;
    a.lastScan = QDateTime::currentDateTime();
    model.setFolders({a, b}); // same folders: updated in place
    QCOMPARE(reset.count(), 0);
    QVERIFY(model.data(model.index(0), FolderListModel::StateTextRole)
                .toString()
                .contains(QStringLiteral("up to date")));
    model.setFolders({b});
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.pathAt(0), b.path);
    model.setFolders({});
    QCOMPARE(model.rowCount(), 0);

    // Offline: a folder that could not be listed, and one with an unreadable subfolder.
    WatchedFolder usb = b;
    usb.offline = true;
    usb.offlineReason =
        QStringLiteral("the disk is not mounted (the folder is an empty mount point)");
    usb.offlineCount = usb.photoCount;
    WatchedFolder home = a;
    home.offlineCount = 12;
    model.setFolders({home, usb});
    const QString homeState = model.data(model.index(0), FolderListModel::StateTextRole).toString();
    QVERIFY2(homeState.contains(QStringLiteral("12 offline")) &&
                 !homeState.contains(QStringLiteral("up to date")),
             qPrintable(homeState));
    QVERIFY(model.data(model.index(1), FolderListModel::StateTextRole)
                .toString()
                .contains(QStringLiteral("offline")));
    const QString tip = model.data(model.index(1), Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(usb.offlineReason) &&
                 tip.contains(QStringLiteral("every watched folder that contains it")),
             qPrintable(tip));
}

int runModelTests(int argc, char **argv) {
    TestModels t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_models.moc"
