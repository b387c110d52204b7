// The Find Duplicates dialog over a real Library: the fixture photos and near-copies
// of one of them, made here, embedded with the tiny e2e model. The dialog shows the one group of
// copies side by side with size, resolution and date; "Move to Trash" asks first (Cancel keeps the
// file), then puts the file in the desktop's trash (a test XDG_DATA_HOME) and the library drops it.
#include "core/search/duplicates.h"
#include "fixtureengine.h"
#include "fixturelibrary.h"
#include "indexer/library.h"
#include "nearcopies.h"
#include "ui/duplicatesdialog.h"

#include <QApplication>
#include <QListWidget>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTimer>
#include <QtTest>

using namespace ts;
using test::FixtureEngine;

namespace {

// Answers the next message box that opens (polling: QMessageBox::question runs its own loop).
void answerNextMessageBox(QMessageBox::StandardButton answer, bool *answered) {
    auto *timer = new QTimer(qApp);
    timer->setInterval(20);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, answer, answered] {
        auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
        if (!box)
            return;
        *answered = true;
        box->button(answer)->click();
        timer->deleteLater();
    });
    timer->start();
}

} // namespace

class TestDuplicatesDialog : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void showsTheCopiesAndTrashesOneAfterConfirmation();
};

void TestDuplicatesDialog::showsTheCopiesAndTrashesOneAfterConfirmation() {
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
    QTemporaryDir tmp;
    const QString photos = tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(photos));
    for (int i = 0; i < 4; ++i)
        QVERIFY(QFile::copy(f.imagePath(i),
                            photos + QLatin1Char('/') + QFileInfo(f.imagePath(i)).fileName()));
    const QString original = f.imagePath(3);
    QSet<QString> expected{QFileInfo(original).fileName()};
    for (const auto &copy : test::writeNearCopies(original, photos, 3))
        expected.insert(QFileInfo(copy.path).fileName());
    QCOMPARE(expected.size(), 4);

    const QByteArray savedXdg = qgetenv("XDG_DATA_HOME");
    const QString xdg = tmp.filePath(QStringLiteral("xdg-data"));
    QVERIFY(QDir().mkpath(xdg));
    qputenv("XDG_DATA_HOME", QFile::encodeName(xdg));
    auto restore = qScopeGuard([&] {
        if (savedXdg.isEmpty())
            qunsetenv("XDG_DATA_HOME");
        else
            qputenv("XDG_DATA_HOME", savedXdg);
    });

    auto library = test::openFixtureLibrary(tmp.path());
    QVERIFY2(library.ok(), library.ok() ? "" : qPrintable(library.error().message));
    Library &lib = **library;
    const Status indexed = test::indexFolder(lib, photos);
    QVERIFY2(indexed.ok(), indexed.ok() ? "" : qPrintable(indexed.error().message));

    DuplicatesDialog dialog(lib.duplicateFinder(),
                            [&lib](qint64 id) { return lib.moveToTrash(id); });
    QSignalSpy found(&dialog, &DuplicatesDialog::searchFinished);
    dialog.show(); // the first show searches
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QVERIFY(found.count() == 1 || found.wait(30000));

    QCOMPARE(dialog.groupList()->count(), 1);
    QCOMPARE(dialog.photoList()->count(), 4);
    QSet<QString> shown;
    const DuplicatePhotos &group = dialog.groups().front();
    for (int i = 0; i < dialog.photoList()->count(); ++i) {
        const PhotoRecord &p = group.photos[size_t(i)];
        shown.insert(QFileInfo(p.path).fileName());
        const QString text = dialog.photoList()->item(i)->text();
        // Side by side: each photo's size, resolution and date, as the files have them.
        const QImage image(p.path);
        QVERIFY2(text.contains(QStringLiteral("%1 × %2").arg(image.width()).arg(image.height())),
                 qPrintable(text));
        QVERIFY2(text.contains(QLocale().formattedDataSize(QFileInfo(p.path).size())),
                 qPrintable(text));
        QVERIFY2(text.contains(
                     QLocale().toString(p.taken ? *p.taken : p.modified, QLocale::ShortFormat)),
                 qPrintable(text));
        QVERIFY(!dialog.photoList()->item(i)->icon().isNull()); // the stored thumbnail
    }
    QCOMPARE(shown, expected);

    dialog.photoList()->setCurrentRow(3);
    const PhotoRecord victim = group.photos[3];
    QPushButton *trashButton = nullptr;
    for (QPushButton *b : dialog.findChildren<QPushButton *>())
        if (b->text().contains(QStringLiteral("Trash")))
            trashButton = b;
    QVERIFY(trashButton && trashButton->isEnabled());
    QSignalSpy trashed(&dialog, &DuplicatesDialog::photoTrashed);

    // Cancel: nothing moves.
    bool answered = false;
    answerNextMessageBox(QMessageBox::Cancel, &answered);
    trashButton->click();
    QVERIFY(answered);
    QVERIFY(QFile::exists(victim.path));
    QVERIFY(lib.photo(victim.id));
    QCOMPARE(trashed.count(), 0);

    // Yes: in the trash (files/ and its .trashinfo), out of the list, the catalog and the index.
    answered = false;
    answerNextMessageBox(QMessageBox::Yes, &answered);
    trashButton->click();
    QVERIFY(answered);
    QCOMPARE(trashed.count(), 1);
    QCOMPARE(trashed.first().at(0).toLongLong(), victim.id);
    const QString name = QFileInfo(victim.path).fileName();
    QVERIFY(!QFile::exists(victim.path));
    QVERIFY2(QFile::exists(xdg + QStringLiteral("/Trash/files/") + name),
             qPrintable(trashed.first().at(1).toString()));
    QVERIFY(
        QFile::exists(xdg + QStringLiteral("/Trash/info/") + name + QStringLiteral(".trashinfo")));
    QCOMPARE(dialog.photoList()->count(), 3);
    QVERIFY(!lib.photo(victim.id));
    QCOMPARE(lib.checkConsistency(), QStringLiteral("ok"));
    auto again = lib.findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY(again.ok());
    QCOMPARE(again->size(), size_t(1));
    QCOMPARE(again->front().photos.size(), size_t(3));
}

int runDuplicatesDialogTests(int argc, char **argv) {
    TestDuplicatesDialog t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_duplicatesdialog.moc"
