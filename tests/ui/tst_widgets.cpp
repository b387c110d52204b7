// Widgets on their own: the fill-mask panel against the reference's top words, the indexing
// status, the photo chip, the first-run model dialog's checks, settings stored with QSettings.
#include "fixtureengine.h"
#include "testdata.h"
#include "ui/appsettings.h"
#include "ui/checkpointfolder.h"
#include "ui/fillmaskpanel.h"
#include "ui/indexingstatuswidget.h"
#include "ui/modelsetupdialog.h"
#include "ui/searchfield.h"
#include "ui/settingsdialog.h"

#include <QComboBox>
#include <QLineEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QToolButton>
#include <QtTest>

#include <cmath>

using namespace ts;
using test::FixtureEngine;

class TestWidgets : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void fillMaskMatchesTheReference_data();
    void fillMaskMatchesTheReference();
    void clickingAChipFillsItsBlankAndUpdatesTheRest();
    void captionWithoutBlankSaysSo();
    void insertBlankPutsAMaskAtTheCursor();
    void indexingStatusShowsProgressRateAndEta();
    void searchFieldChipAndDebounce();
    void modelSetupExplainsUnusableFolders_data();
    void modelSetupExplainsUnusableFolders();
    void modelSetupLoadsTheFixtureCheckpoint();
    void huggingFaceCacheIsSearched();
    void downloadUsesACompleteCachedSnapshotOffline();
    void settingsRoundTrip();
    void settingsDialogChoosesThePrecision();
};

void TestWidgets::initTestCase() {
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
}

void TestWidgets::fillMaskMatchesTheReference_data() {
    QTest::addColumn<int>("caseIndex");
    const auto &cases = FixtureEngine::instance().expected["fill_mask"];
    for (size_t k = 0; k < cases.size(); ++k)
        QTest::newRow(cases[k]["text"].get<std::string>().c_str()) << int(k);
}

void TestWidgets::fillMaskMatchesTheReference() {
    QFETCH(int, caseIndex);
    const FixtureEngine &f = FixtureEngine::instance();
    const auto &want = f.expected["fill_mask"][size_t(caseIndex)];
    FillMaskPanel panel;
    panel.setEngine(f.engine);
    panel.setPhoto(f.imagePath(want["image"].get<int>()));
    panel.setCaption(QString::fromStdString(want["text"].get<std::string>()));
    QSignalSpy filled(&panel, &FillMaskPanel::filled);
    panel.fill();
    QVERIFY(panel.isBusy()); // off the GUI thread
    QVERIFY(filled.wait(30000));
    QCOMPARE(panel.candidates().size(), qsizetype(want["masks"].size()));
    for (size_t m = 0; m < want["masks"].size(); ++m) {
        const auto &mask = want["masks"][m];
        const auto &got = panel.candidates()[qsizetype(m)];
        QCOMPARE(got.size(), 5);
        for (int c = 0; c < 5; ++c) {
            QCOMPARE(got[c].word,
                     QString::fromStdString(mask["top_words"][size_t(c)].get<std::string>()));
            const double p = mask["top_probabilities"][size_t(c)].get<double>();
            QVERIFY2(std::abs(got[c].probability - p) <= 1e-3 * p + 1e-7,
                     qPrintable(QStringLiteral("%1 vs %2").arg(got[c].probability).arg(p)));
        }
    }
    // One clickable chip per candidate.
    const auto chips = panel.findChildren<QToolButton *>(QStringLiteral("fillMaskChip"));
    QCOMPARE(chips.size(), qsizetype(5 * want["masks"].size()));
    QVERIFY(!chips.first()->accessibleName().isEmpty());
}

void TestWidgets::clickingAChipFillsItsBlankAndUpdatesTheRest() {
    const FixtureEngine &f = FixtureEngine::instance();
    FillMaskPanel panel;
    panel.setEngine(f.engine);
    panel.setPhoto(f.imagePath(2));
    panel.setCaption(QStringLiteral("an <mask> in a white <mask>"));
    QSignalSpy filled(&panel, &FillMaskPanel::filled);
    panel.fill();
    QVERIFY(filled.wait(30000));
    QCOMPARE(panel.candidates().size(), 2);
    const QString second = panel.candidates()[1][3].word; // " wine"
    QCOMPARE(second, QStringLiteral(" wine"));
    auto chips = panel.findChildren<QToolButton *>(QStringLiteral("fillMaskChip"));
    QToolButton *wine = nullptr;
    for (QToolButton *chip : chips)
        if (chip->property("maskIndex").toInt() == 1 && chip->property("choice").toInt() == 3)
            wine = chip;
    QVERIFY(wine);
    QTest::mouseClick(wine, Qt::LeftButton);
    QCOMPARE(panel.caption(), QStringLiteral("an <mask> in a white wine"));
    QVERIFY(filled.wait(30000)); // the remaining blank is filled again
    QCOMPARE(panel.candidates().size(), 1);
    panel.choose(0, 2); // " wine" again? whatever is third: a word or a suffix
    QVERIFY(!panel.caption().contains(QStringLiteral("<mask>")));
    QVERIFY(panel.message().contains(QStringLiteral("All blanks")));
}

void TestWidgets::captionWithoutBlankSaysSo() {
    const FixtureEngine &f = FixtureEngine::instance();
    FillMaskPanel panel;
    panel.setEngine(f.engine);
    panel.setPhoto(f.imagePath(0));
    panel.setCaption(QStringLiteral("a cat on a couch"));
    panel.fill();
    QVERIFY(!panel.isBusy());
    QVERIFY(panel.message().contains(QStringLiteral("no blank")));
    QVERIFY(panel.candidates().isEmpty());
}

void TestWidgets::insertBlankPutsAMaskAtTheCursor() {
    FillMaskPanel panel;
    panel.setCaption(QStringLiteral("a cat"));
    panel.captionEdit()->setCursorPosition(1);
    panel.insertBlank();
    QCOMPARE(panel.caption(), QStringLiteral("a <mask> cat"));
    panel.captionEdit()->setCursorPosition(int(panel.caption().size()));
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    panel.captionEdit()->setFocus();
    QTest::keyClick(panel.captionEdit(), Qt::Key_M, Qt::ControlModifier);
    QCOMPARE(panel.caption(), QStringLiteral("a <mask> cat <mask>"));
}

void TestWidgets::indexingStatusShowsProgressRateAndEta() {
    IndexingStatusWidget w;
    QSignalSpy pause(&w, &IndexingStatusWidget::pauseRequested);
    QSignalSpy failures(&w, &IndexingStatusWidget::failuresRequested);
    IndexProgress p;
    p.total = 400;
    p.done = 100;
    p.photosPerSecond = 12.5;
    p.etaSeconds = 24;
    w.setProgress(p);
    QCOMPARE(w.progressBar()->maximum(), 400);
    QCOMPARE(w.progressBar()->value(), 100);
    QVERIFY2(w.text().contains(QStringLiteral("100 / 400")), qPrintable(w.text()));
    QVERIFY(w.text().contains(QStringLiteral("13/s")));
    QVERIFY(w.text().contains(QStringLiteral("less than a minute")));
    QCOMPARE(IndexingStatusWidget::formatEta(3 * 3600 + 120),
             QStringLiteral("about 3 h 2 min left"));
    p.paused = true;
    w.setProgress(p);
    QVERIFY(w.text().startsWith(QStringLiteral("Paused")));
    QVERIFY(w.isPaused());
    w.setFailedCount(3);
    w.setFinished();
    QVERIFY(w.progressBar()->isHidden());
    Q_UNUSED(pause);
    Q_UNUSED(failures);
}

void TestWidgets::searchFieldChipAndDebounce() {
    SearchField field;
    field.setDebounceInterval(50);
    QSignalSpy query(&field, &SearchField::queryChanged);
    field.show();
    QVERIFY(QTest::qWaitForWindowExposed(&field));
    QTest::keyClicks(field.lineEdit(), QStringLiteral("a cat"));
    QCOMPARE(query.count(), 0); // waits for a pause in typing
    QVERIFY(query.wait(2000));
    QCOMPARE(query.count(), 1);
    QCOMPARE(query.last().at(0).toString(), QStringLiteral("a cat"));
    field.setPhoto(QStringLiteral("/photos/x.jpg"));
    QCOMPARE(query.count(), 2); // at once
    QCOMPARE(query.last().at(1).toString(), QStringLiteral("/photos/x.jpg"));
    QVERIFY(field.chip()->isVisible());
    QTest::mouseClick(field.chip(), Qt::LeftButton); // the chip's ×
    QVERIFY(!field.chip()->isVisible());
    QCOMPARE(query.last().at(1).toString(), QString());
    QTest::keyClick(field.lineEdit(), Qt::Key_Escape);
    QCOMPARE(field.text(), QString());
}

void TestWidgets::modelSetupExplainsUnusableFolders_data() {
    QTest::addColumn<QString>("setup");
    QTest::addColumn<QString>("mustSay");
    QTest::newRow("missing folder") << "missing"
                                    << "does not exist";
    QTest::newRow("empty folder") << "empty"
                                  << "no config.json";
    QTest::newRow("other model") << "bert"
                                 << "\"bert\" checkpoint";
    QTest::newRow("no weights") << "noweights"
                                << "no weights";
    QTest::newRow("no tokenizer") << "novocab"
                                  << "no vocab.json";
}

void TestWidgets::modelSetupExplainsUnusableFolders() {
    QFETCH(QString, setup);
    QFETCH(QString, mustSay);
    QTemporaryDir tmp;
    const QString dir = tmp.filePath(QStringLiteral("checkpoint"));
    const QString fixture = FixtureEngine::instance().directory;
    if (setup != QLatin1String("missing"))
        QVERIFY(QDir().mkpath(dir));
    auto link = [&](const char *name) {
        QVERIFY(QFile::link(fixture + QLatin1Char('/') + QLatin1String(name),
                            dir + QLatin1Char('/') + QLatin1String(name)));
    };
    if (setup == QLatin1String("bert")) {
        QFile f(dir + QStringLiteral("/config.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(R"({"model_type": "bert"})");
    } else if (setup == QLatin1String("noweights") || setup == QLatin1String("novocab")) {
        link("config.json");
        if (setup == QLatin1String("novocab"))
            link("model.safetensors");
    }
    ModelSetupDialog dialog;
    QSignalSpy finished(&dialog, &ModelSetupDialog::checkFinished);
    dialog.useFolder(dir);
    QCOMPARE(finished.count(), 1); // file checks answer at once
    QCOMPARE(finished.first().at(0).toBool(), false);
    QVERIFY2(dialog.errorText().contains(mustSay), qPrintable(dialog.errorText()));
    QVERIFY2(dialog.errorText().contains(QDir::toNativeSeparators(dir)),
             qPrintable(dialog.errorText()));
    QVERIFY(!dialog.pipeline());
}

void TestWidgets::modelSetupLoadsTheFixtureCheckpoint() {
    ModelSetupDialog dialog;
    QSignalSpy finished(&dialog, &ModelSetupDialog::checkFinished);
    dialog.useFolder(FixtureEngine::instance().directory);
    QVERIFY(finished.wait(30000)); // loading runs off the GUI thread
    QCOMPARE(finished.first().at(0).toBool(), true);
    QVERIFY(dialog.pipeline());
    QCOMPARE(dialog.directory(), FixtureEngine::instance().directory);
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
}

void TestWidgets::huggingFaceCacheIsSearched() {
    QTemporaryDir home;
    const QString snapshot = home.filePath(
        QStringLiteral("hub/models--BridgeTower--bridgetower-tiny/snapshots/0123abcd"));
    QVERIFY(QDir().mkpath(snapshot));
    const QString fixture = FixtureEngine::instance().directory;
    for (const char *name : {"config.json", "model.safetensors", "vocab.json", "merges.txt",
                             "preprocessor_config.json"})
        QVERIFY(QFile::link(fixture + QLatin1Char('/') + QLatin1String(name),
                            snapshot + QLatin1Char('/') + QLatin1String(name)));
    QVERIFY(
        QDir().mkpath(home.filePath(QStringLiteral("hub/models--bert--bert-base/snapshots/x"))));
    const QByteArray old = qgetenv("HF_HOME");
    qputenv("HF_HOME", home.path().toUtf8());
    const QStringList found = CheckpointFolder::findInHuggingFaceCache();
    if (old.isEmpty())
        qunsetenv("HF_HOME");
    else
        qputenv("HF_HOME", old);
    QVERIFY(found.contains(snapshot));
    QVERIFY(CheckpointFolder::huggingFaceCacheRoots().contains(
        QDir::home().filePath(QStringLiteral(".cache/huggingface/hub"))));
}

void TestWidgets::downloadUsesACompleteCachedSnapshotOffline() {
    if (!ModelSetupDialog::canDownload())
        QSKIP("built without core/hub: the dialog shows the CLI command instead");
    // A Hub cache holding the default repository's snapshot (the fixture's files), and no network:
    // "Download" finds it complete and loads it.
    QTemporaryDir home;
    const QString commit = QStringLiteral("0123456789abcdef0123456789abcdef01234567");
    const QString repo =
        home.filePath(QStringLiteral("hub/models--BridgeTower--bridgetower-large-itm-mlm-itc"));
    const QString snapshot = repo + QStringLiteral("/snapshots/") + commit;
    QVERIFY(QDir().mkpath(snapshot));
    QVERIFY(QDir().mkpath(repo + QStringLiteral("/refs")));
    QFile ref(repo + QStringLiteral("/refs/main"));
    QVERIFY(ref.open(QIODevice::WriteOnly));
    ref.write(commit.toLatin1());
    ref.close();
    const QString fixture = FixtureEngine::instance().directory;
    for (const char *name :
         {"config.json", "model.safetensors", "vocab.json", "merges.txt",
          "preprocessor_config.json", "tokenizer_config.json", "special_tokens_map.json"})
        QVERIFY(QFile::link(fixture + QLatin1Char('/') + QLatin1String(name),
                            snapshot + QLatin1Char('/') + QLatin1String(name)));
    const QByteArray oldHome = qgetenv("HF_HOME"), oldOffline = qgetenv("HF_HUB_OFFLINE");
    qputenv("HF_HOME", home.path().toUtf8());
    qputenv("HF_HUB_OFFLINE", "1");
    ModelSetupDialog dialog;
    QSignalSpy finished(&dialog, &ModelSetupDialog::checkFinished);
    dialog.downloadDefaultModel();
    const bool done = finished.wait(30000);
    if (oldHome.isEmpty())
        qunsetenv("HF_HOME");
    else
        qputenv("HF_HOME", oldHome);
    if (oldOffline.isEmpty())
        qunsetenv("HF_HUB_OFFLINE");
    else
        qputenv("HF_HUB_OFFLINE", oldOffline);
    QVERIFY2(done, qPrintable(dialog.errorText()));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(dialog.errorText()));
    QVERIFY(dialog.pipeline());
    QCOMPARE(QFileInfo(dialog.directory()).canonicalFilePath(),
             QFileInfo(snapshot).canonicalFilePath());
}

void TestWidgets::settingsRoundTrip() {
    QTemporaryDir tmp;
    QSettings store(tmp.filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
    AppSettings defaults = AppSettings::load(store);
    QCOMPARE(defaults, AppSettings{});
    AppSettings s;
    s.modelDirectory = QStringLiteral("/models/bt");
    s.rerankDepth = 40;
    s.relevanceDefault = 0.25;
    s.threads = 2;
    s.excludedFolders = {QStringLiteral("/home/me/Pictures/private")};
    s.rerankCacheDiskMiB = 100;
    s.precision = PrecisionSetting::BFloat16;
    s.libraryLocation = QStringLiteral("postgresql://alice@nas/photos");
    s.save(store);
    store.setValue(QStringLiteral("search/candidates"), -5); // hand-edited nonsense is clamped
    s.candidates = 1;
    QCOMPARE(AppSettings::load(store), s);
    store.setValue(QStringLiteral("model/precision"),
                   QStringLiteral("fp64")); // ... or falls back to auto
    s.precision = PrecisionSetting::Auto;
    QCOMPARE(AppSettings::load(store), s);
}

void TestWidgets::settingsDialogChoosesThePrecision() {
    AppSettings base;
    base.precision = PrecisionSetting::Int8;
    SettingsDialog dialog(base);
    auto *combo = dialog.findChild<QComboBox *>(QStringLiteral("precision"));
    QVERIFY(combo);
    QCOMPARE(dialog.settings().precision, PrecisionSetting::Int8);
    QCOMPARE(combo->count(), 4);
    // The automatic choice says what it resolves to on this machine, and why.
    const int autoIndex = combo->findData(int(PrecisionSetting::Auto));
    QVERIFY(combo->itemText(autoIndex).contains(resolvePrecision(PrecisionSetting::Auto).reason));
    for (PrecisionSetting p :
         {PrecisionSetting::Auto, PrecisionSetting::Float32, PrecisionSetting::BFloat16}) {
        combo->setCurrentIndex(combo->findData(int(p)));
        QCOMPARE(dialog.settings().precision, p);
    }
}

int runWidgetTests(int argc, char **argv) {
    TestWidgets t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_widgets.moc"
