// The "Library database" setting over a real Library: "Test Connection" runs
// Library::checkLocation (what the app wires in) off the GUI thread and says in one sentence what
// is at the location: a library and its photo count, no library yet, or why it cannot be opened,
// never with the URL's password. The setting itself is what the user typed.
#include "fixtureengine.h"
#include "fixturelibrary.h"
#include "indexer/library.h"
#include "ui/settingsdialog.h"

#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QThread>
#include <QtTest>

#include <atomic>

using namespace ts;
using test::FixtureEngine;

class TestLibrarySetting : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void testConnectionSaysWhatIsThere_data();
    void testConnectionSaysWhatIsThere();
};

void TestLibrarySetting::testConnectionSaysWhatIsThere_data() {
    QTest::addColumn<QString>("location"); // relative to the test's folder unless a URL
    QTest::addColumn<QString>("expected"); // part of the sentence; %1: the indexed photo count
    QTest::addColumn<bool>("createsNothing");
    QTest::newRow("a library with photos")
        << QStringLiteral("indexed/library.sqlite") << QStringLiteral("holds %1 photos") << false;
    QTest::newRow("no library there yet")
        << QStringLiteral("new/library.sqlite") << QStringLiteral("no library at") << true;
    QTest::newRow("malformed URL, password masked")
        << QStringLiteral("postgresql://alice:s3cret-pw@nas/photos?sslmod=require")
        << QStringLiteral("postgresql://alice:***@nas/photos?sslmod=require is not a valid "
                          "PostgreSQL URL (invalid URI query parameter: \"sslmod\")")
        << true;
}

void TestLibrarySetting::testConnectionSaysWhatIsThere() {
    QFETCH(QString, location);
    QFETCH(QString, expected);
    QFETCH(bool, createsNothing);
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    // A library with the fixture photos indexed, for the row that points at it.
    const QString folder = tmp.filePath(QStringLiteral("photos"));
    QVERIFY(QDir().mkpath(folder));
    qint64 photos = 0;
    for (const auto &[id, path] : f.photos)
        photos += QFile::copy(path, folder + QLatin1Char('/') + QFileInfo(path).fileName());
    QVERIFY(photos > 0);
    {
        auto library = test::openFixtureLibrary(tmp.filePath(QStringLiteral("indexed")));
        QVERIFY2(library.ok(), library.ok() ? "" : qPrintable(library.error().message));
        const Status indexed = test::indexFolder(**library, folder);
        QVERIFY2(indexed.ok(), indexed.ok() ? "" : qPrintable(indexed.error().message));
    }

    const bool isUrl = location.startsWith(QLatin1String("postgresql://"));
    const QString typed = isUrl ? location : tmp.filePath(location);
    AppSettings base;
    SettingsDialog dialog(base);
    std::atomic<bool> onGuiThread{true};
    dialog.setLocationCheck([&onGuiThread](const QString &where) {
        onGuiThread = QThread::currentThread() == qApp->thread();
        return Library::checkLocation(where);
    });
    auto *edit = dialog.findChild<QLineEdit *>(QStringLiteral("libraryLocation"));
    auto *button = dialog.findChild<QPushButton *>(QStringLiteral("testConnection"));
    auto *result = dialog.findChild<QLabel *>(QStringLiteral("connectionResult"));
    QVERIFY(edit && button && result);
    QVERIFY(!button->isHidden());
    edit->setText(typed);
    button->click();
    const QString sentence =
        expected.contains(QLatin1String("%1")) ? expected.arg(photos) : expected;
    QTRY_VERIFY2_WITH_TIMEOUT(result->text().contains(sentence, Qt::CaseInsensitive),
                              qPrintable(result->text()), 30000);
    QVERIFY2(!onGuiThread, "the location was checked on the GUI thread");
    QVERIFY(!result->text().contains(QLatin1String("s3cret-pw")));
    QVERIFY(button->isEnabled());
    if (createsNothing && !isUrl)
        QVERIFY2(!QFileInfo::exists(typed), "testing a location created a library there");
    QCOMPARE(dialog.settings().libraryLocation, typed);
}

int runLibrarySettingTests(int argc, char **argv) {
    TestLibrarySetting t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_librarysetting.moc"
