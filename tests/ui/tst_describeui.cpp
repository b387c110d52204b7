// Describe in the app (ui/describepanel.h): the tags of the selected photo come off the GUI thread
// as the merge rule makes them of the reference fill-mask proposals, a tag searches for its word,
// tags of a photo no longer selected never show, and the window's Describe action and tag clicks
// reach the search field. Saved searches (ui/savedsearchmodel.h, the sidebar): kept from the
// current search with its cut-off, stored in the settings, renamed, removed, run again by a click,
// and counted off the GUI thread as the reference's ITM scores say, again as indexing adds photos.
#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"
#include "fixtureengine.h"
#include "mapphotosource.h"
#include "ui/describepanel.h"
#include "ui/mainwindow.h"
#include "ui/resultmodel.h"
#include "ui/savedsearchmodel.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"
#include "ui/sidebar.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QTemporaryDir>
#include <QThreadPool>
#include <QToolButton>
#include <QtTest>

#include <cmath>

using namespace ts;
using test::FixtureEngine;

namespace {
QStringList wordsOf(const std::vector<DescribeTag> &tags) {
    QStringList words;
    for (const DescribeTag &t : tags)
        words << t.word;
    return words;
}
// Describe options that fill one reference caption with the reference's top-10.
DescribeOptions referenceOptions(int caseIndex) {
    DescribeOptions options;
    options.templates = {
        QString::fromStdString(FixtureEngine::instance()
                                   .expected["fill_mask"][size_t(caseIndex)]["text"]
                                   .get<std::string>())};
    options.topK = 10;
    options.maxTags = 100;
    return options;
}
} // namespace

class TestDescribeUi : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void describeShowsTheTagsOfTheReferenceProposals();
    void clickingATagAsksToSearchForIt();
    void tagsOfAPhotoNoLongerSelectedNeverShow();
    void windowDescribesTheSelectedPhotoAndSearchesATag();
    void savedSearchesRoundTripThroughTheSettings();
    void savedSearchKeepsTheCurrentSearchAndCountsItsMatches();
    void savedSearchCountsGrowAsIndexingAddsPhotos();
    void savedSearchQueryIsParsedLikeTheSearchField();
};

void TestDescribeUi::initTestCase() {
    const FixtureEngine &f = FixtureEngine::instance();
    QVERIFY2(f.error.isEmpty(), qPrintable(f.error));
}

void TestDescribeUi::describeShowsTheTagsOfTheReferenceProposals() {
    const FixtureEngine &f = FixtureEngine::instance();
    DescribePanel panel;
    QVERIFY(!panel.describeButton()->isEnabled()); // no photo, no engine
    panel.setEngine(f.engine);
    panel.setPhoto(f.imagePath(2));
    QVERIFY(panel.describeButton()->isEnabled());
    // "an <mask> in a white <mask>" on the astronaut: the rule (photodescription.h) keeps these
    // words of the reference's two top-10s, in the order of their mean reference probability.
    panel.setOptions(referenceOptions(2));
    QSignalSpy described(&panel, &DescribePanel::described);
    QTest::mouseClick(panel.describeButton(), Qt::LeftButton);
    QVERIFY(panel.isBusy()); // off the GUI thread
    QVERIFY(!panel.describeButton()->isEnabled());
    QVERIFY(described.wait(30000));
    QCOMPARE(wordsOf(panel.tags()), (QStringList{"wine", "required", "determined", "lost",
                                                 "signals", "dared", "magn", "king"}));
    const auto &masks = f.expected["fill_mask"][2]["masks"];
    const double wine = (masks[0]["top_probabilities"][2].get<double>() +
                         masks[1]["top_probabilities"][3].get<double>()) /
                        2;
    QVERIFY(std::abs(panel.tags().front().score - wine) <= 1e-3 * wine);
    const auto chips = panel.findChildren<QToolButton *>(QStringLiteral("describeTag"));
    QCOMPARE(chips.size(), qsizetype(panel.tags().size()));
    QVERIFY(chips.first()->text().startsWith(QStringLiteral("wine")));
    QVERIFY(chips.first()->accessibleName().contains(QStringLiteral("wine")));
    QVERIFY(panel.describeButton()->isEnabled());
}

void TestDescribeUi::clickingATagAsksToSearchForIt() {
    const FixtureEngine &f = FixtureEngine::instance();
    DescribePanel panel;
    panel.setEngine(f.engine);
    panel.setPhoto(f.imagePath(0));
    panel.setOptions(referenceOptions(0));
    QSignalSpy described(&panel, &DescribePanel::described);
    panel.describe();
    QVERIFY(described.wait(30000));
    QSignalSpy clicked(&panel, &DescribePanel::tagClicked);
    QToolButton *waterproof = nullptr;
    for (QToolButton *chip : panel.findChildren<QToolButton *>(QStringLiteral("describeTag")))
        if (chip->property("word").toString() == QLatin1String("waterproof"))
            waterproof = chip;
    QVERIFY(waterproof);
    QTest::mouseClick(waterproof, Qt::LeftButton);
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.first().at(0).toString(), QStringLiteral("waterproof"));
}

void TestDescribeUi::tagsOfAPhotoNoLongerSelectedNeverShow() {
    const FixtureEngine &f = FixtureEngine::instance();
    DescribePanel panel;
    panel.setEngine(f.engine);
    panel.setOptions(referenceOptions(1)); // one template for both photos: only the photo differs
    QSignalSpy described(&panel, &DescribePanel::described);
    panel.setPhoto(f.imagePath(0));
    panel.describe();
    panel.setPhoto(f.imagePath(1)); // the user moves on before the first answer
    QVERIFY(panel.tags().empty());
    QVERIFY(!panel.isBusy());
    panel.describe();
    QVERIFY(described.wait(30000));
    // Let the first request finish and deliver too: it must be dropped.
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QCoreApplication::processEvents();
    QCOMPARE(described.count(), 1);
    // "a cup of <mask> on a wooden table" on the coffee photo, by the rule.
    QCOMPARE(wordsOf(panel.tags()), (QStringList{"required", "lost", "magn"}));
    // Another photo clears the tags at once.
    panel.setPhoto(f.imagePath(3));
    QVERIFY(panel.tags().empty());
    QVERIFY(panel.findChildren<QToolButton *>(QStringLiteral("describeTag")).isEmpty());
}

void TestDescribeUi::windowDescribesTheSelectedPhotoAndSearchesATag() {
    const FixtureEngine &f = FixtureEngine::instance();
    MainWindow window(AppSettings{});
    window.setSearchEngine(f.engine);
    window.show();
    QSignalSpy finished(window.searchController(), &SearchController::searchFinished);
    window.runTextQuery(f.text(1));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() >= 1, 30000);
    window.resultView()->setCurrentIndex(window.resultModel()->index(0));
    const QString selected = window.resultModel()->hits().front().path;
    QCOMPARE(window.describePanel()->photo(), selected);

    // Search > Describe Photo (Ctrl+D) describes the selected photo with the default templates.
    QAction *action = nullptr;
    for (QAction *menu : window.menuBar()->actions())
        for (QAction *a : menu->menu() ? menu->menu()->actions() : QList<QAction *>{})
            if (a->text().remove(QLatin1Char('&')) == QLatin1String("Describe Photo"))
                action = a;
    QVERIFY(action);
    QCOMPARE(action->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_D));
    QSignalSpy described(window.describePanel(), &DescribePanel::described);
    action->trigger();
    QVERIFY(described.wait(30000));
    auto direct = f.engine->describe(selected);
    QVERIFY(direct.ok());
    QCOMPARE(window.describePanel()->tags(), direct->tags);
    QVERIFY(!window.describePanel()->tags().empty());

    // A tag becomes the query.
    const QString word = window.describePanel()->tags().front().word;
    const auto chips =
        window.describePanel()->findChildren<QToolButton *>(QStringLiteral("describeTag"));
    QVERIFY(!chips.isEmpty());
    QTest::mouseClick(chips.first(), Qt::LeftButton);
    QCOMPARE(window.searchField()->lineEdit()->text(), word);
    QTRY_COMPARE_WITH_TIMEOUT(window.searchController()->currentText(), word, 5000);
}

void TestDescribeUi::savedSearchesRoundTripThroughTheSettings() {
    QTemporaryDir dir;
    QSettings settings(dir.filePath(QStringLiteral("s.ini")), QSettings::IniFormat);
    const QList<SavedSearch> three{
        {QStringLiteral("Beach"), QStringLiteral("a beach -people"), 0.25},
        {QStringLiteral("caf\u00e9 \u2615"), QStringLiteral("caf\u00e9 latte \u2615"), 0.0},
        {QStringLiteral("Dogs"), QStringLiteral("dogs in the snow after:2019"), 0.5}};
    SavedSearch::saveAll(settings, three);
    settings.sync();
    QCOMPARE(SavedSearch::loadAll(settings), three);
    // A shorter list leaves nothing of the longer one behind.
    SavedSearch::saveAll(settings, three.mid(1, 1));
    QCOMPARE(SavedSearch::loadAll(settings), three.mid(1, 1));
    // A hand-edited entry without a query is skipped; a cut-off out of range is clamped.
    settings.beginWriteArray(QStringLiteral("savedSearches"), 2);
    settings.setArrayIndex(1);
    settings.setValue(QStringLiteral("name"), QStringLiteral("empty"));
    settings.setValue(QStringLiteral("query"), QStringLiteral("  "));
    settings.endArray();
    settings.beginWriteArray(QStringLiteral("savedSearches"), 2);
    settings.setArrayIndex(0);
    settings.setValue(QStringLiteral("minMatch"), 7.0);
    settings.endArray();
    const QList<SavedSearch> loaded = SavedSearch::loadAll(settings);
    QCOMPARE(loaded.size(), 1);
    QCOMPARE(loaded.first().minMatchProbability, 1.0);
}

// The sidebar's "Save Search" keeps the search that ran, with the slider's cut-off; its count is
// the number of photos that search shows, which the reference's ITM probabilities give.
void TestDescribeUi::savedSearchKeepsTheCurrentSearchAndCountsItsMatches() {
    const FixtureEngine &f = FixtureEngine::instance();
    MainWindow window(AppSettings{});
    SavedSearchModel *model = window.savedSearchModel();
    QAbstractItemModelTester tester(model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.setSearchEngine(f.engine);
    window.show();
    QVERIFY(!window.sidebar()->saveSearchButton()->isEnabled()); // nothing typed yet
    QSignalSpy finished(window.searchController(), &SearchController::searchFinished);
    window.relevanceSlider()->setValue(12);
    window.runTextQuery(f.text(0));
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() >= 1, 30000);
    QVERIFY(window.sidebar()->saveSearchButton()->isEnabled());

    QSignalSpy edited(&window, &MainWindow::savedSearchesChanged);
    QSignalSpy counted(model, &SavedSearchModel::countsRefreshed);
    QTest::mouseClick(window.sidebar()->saveSearchButton(), Qt::LeftButton);
    QCOMPARE(model->rowCount(), 1);
    const SavedSearch saved = model->at(0);
    QCOMPARE(saved.query, f.text(0));
    QCOMPARE(saved.name, f.text(0));
    QCOMPARE(saved.minMatchProbability, 0.12);
    QCOMPARE(edited.count(), 1);
    QCOMPARE(edited.first().at(0).value<QList<SavedSearch>>(), QList<SavedSearch>{saved});
    QVERIFY(model->isCounting()); // off the GUI thread
    QVERIFY(counted.wait(30000));
    qint64 expected = 0;
    for (const auto &p : f.expected["search"][0]["by_itm_match_probability"])
        expected += p.get<double>() >= 0.12 ? 1 : 0;
    QCOMPARE(expected,
             qint64(2)); // the cut-off lies between the reference's second and third photo
    QCOMPARE(model->countAt(0).value_or(-1), qint64(expected));
    QVERIFY(model->data(model->index(0)).toString().contains(QStringLiteral("(2)")));

    // Saving the same query again updates it instead of adding a copy.
    window.relevanceSlider()->setValue(20);
    window.saveCurrentSearch();
    QCOMPARE(model->rowCount(), 1);
    QCOMPARE(model->at(0).minMatchProbability, 0.2);
    QVERIFY(counted.wait(30000));
    QCOMPARE(model->countAt(0).value_or(-1), qint64(1));

    // Rename in place (what the view's editor writes).
    QVERIFY(model->setData(model->index(0), QStringLiteral("Cats")));
    QCOMPARE(model->at(0).name, QStringLiteral("Cats"));
    QCOMPARE(model->at(0).query, f.text(0));
    QCOMPARE(edited.last().at(0).value<QList<SavedSearch>>().first().name, QStringLiteral("Cats"));
    QVERIFY(!model->setData(model->index(0), QStringLiteral("   "))); // a name cannot be blank

    // A click runs it again, cut-off included.
    window.relevanceSlider()->setValue(0);
    window.runTextQuery(f.text(3));
    QTRY_COMPARE_WITH_TIMEOUT(window.searchController()->currentText(), f.text(3), 5000);
    QListView *view = window.sidebar()->savedSearchView();
    QTest::mouseClick(view->viewport(), Qt::LeftButton, {},
                      view->visualRect(model->index(0)).center());
    QCOMPARE(window.relevanceSlider()->value(), 20);
    QCOMPARE(window.searchField()->lineEdit()->text(), f.text(0));
    QTRY_COMPARE_WITH_TIMEOUT(window.searchController()->currentText(), f.text(0), 5000);

    // Remove.
    view->setCurrentIndex(model->index(0));
    const auto buttons = window.sidebar()->findChildren<QToolButton *>();
    QToolButton *remove = nullptr;
    for (QToolButton *b : buttons)
        if (b->accessibleName() == QLatin1String("Remove saved search"))
            remove = b;
    QVERIFY(remove && remove->isEnabled());
    QTest::mouseClick(remove, Qt::LeftButton);
    QCOMPARE(model->rowCount(), 0);
    QVERIFY(edited.last().at(0).value<QList<SavedSearch>>().isEmpty());
    QVERIFY(!remove->isEnabled());
}

// A library that grows: the saved search's count follows the index as indexing reports progress
// (throttled) and when it finishes.
void TestDescribeUi::savedSearchCountsGrowAsIndexingAddsPhotos() {
    const FixtureEngine &f = FixtureEngine::instance();
    VectorIndexOptions options;
    options.dimension = f.pipeline->model().embeddingDimension();
    auto created = VectorIndex::create(options, f.pipeline->modelKey());
    QVERIFY(created.ok());
    auto index = std::make_shared<VectorIndex>(std::move(*created));
    auto photos = std::make_shared<test::MapPhotoSource>();
    auto addPhoto = [&](int i) {
        const qint64 id = FixtureEngine::idOf(i);
        photos->paths[id] = f.imagePath(i);
        auto pixels = f.pipeline->loadPixels(f.imagePath(i));
        QVERIFY(pixels.ok());
        auto embedding = f.pipeline->embedImages(*pixels);
        QVERIFY(embedding.ok());
        QVERIFY(index->add({id}, embedding->data).ok());
    };
    addPhoto(0);
    addPhoto(1);
    auto engine = std::make_shared<SearchEngine>(f.pipeline, index, photos, nullptr);

    MainWindow window(AppSettings{});
    SavedSearchModel *model = window.savedSearchModel();
    QSignalSpy counted(model, &SavedSearchModel::countsRefreshed);
    // At start-up, before the model is loaded: listed, not counted.
    window.setSavedSearches({{QStringLiteral("coffee"), f.text(1), 0.0}});
    QCOMPARE(model->rowCount(), 1);
    QVERIFY(!model->isCounting());
    QVERIFY(!model->countAt(0).has_value());
    window.setSearchEngine(engine);
    QVERIFY(counted.wait(30000));
    QCOMPARE(model->countAt(0).value_or(-1), qint64(2)); // no cut-off: every photo shows

    // Two more photos indexed; progress ticks come often, so they count only when due.
    addPhoto(2);
    addPhoto(3);
    model->setMinRefreshInterval(3600 * 1000);
    window.setIndexProgress(IndexProgress{});
    QVERIFY(!model->isCounting());
    model->setMinRefreshInterval(0);
    window.setIndexProgress(IndexProgress{});
    QVERIFY(model->isCounting());
    QVERIFY(counted.wait(30000));
    QCOMPARE(model->countAt(0).value_or(-1), qint64(4));
    // And always when indexing finishes.
    model->setMinRefreshInterval(3600 * 1000);
    const int before = int(counted.count());
    window.setIndexingFinished();
    QVERIFY(model->isCounting());
    QTRY_VERIFY_WITH_TIMEOUT(counted.count() > before, 30000);
    QCOMPARE(model->countAt(0).value_or(-1), qint64(4));
}

// A saved query's filter words are not caption words: "sort:date" beside the caption counts what
// the caption alone shows; a malformed filter is an error on the entry, not a count.
void TestDescribeUi::savedSearchQueryIsParsedLikeTheSearchField() {
    const FixtureEngine &f = FixtureEngine::instance();
    MainWindow window(AppSettings{});
    SavedSearchModel *model = window.savedSearchModel();
    QSignalSpy counted(model, &SavedSearchModel::countsRefreshed);
    window.setSavedSearches(
        {{QStringLiteral("sorted"), f.text(0) + QStringLiteral(" sort:date"), 0.12},
         {QStringLiteral("bad"), f.text(0) + QStringLiteral(" after:13-2020"), 0.0}});
    window.setSearchEngine(f.engine);
    QVERIFY(counted.wait(30000));
    qint64 expected = 0;
    for (const auto &p : f.expected["search"][0]["by_itm_match_probability"])
        expected += p.get<double>() >= 0.12 ? 1 : 0;
    QCOMPARE(model->countAt(0).value_or(-1), expected);
    QVERIFY(!model->countAt(1).has_value());
    const QString tip = model->data(model->index(1), Qt::ToolTipRole).toString();
    QVERIFY2(tip.contains(QStringLiteral("after:13-2020")), qPrintable(tip));
    QVERIFY(model->data(model->index(1)).toString().contains(QStringLiteral("(!)")));
}

int runDescribeUiTests(int argc, char **argv) {
    TestDescribeUi t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_describeui.moc"
