// Filters, exclusions and sort orders of the search engine, on the end-to-end fixture library:
// the expected lists are the reference's rankings (tests/data/e2e/tiny-e2e/expected.json)
// restricted to the photos the test's own metadata keeps, cut by the reference's ITM
// probabilities for the excluded phrases, and reordered by the dates and names the test gave.
#include "core/index/vectorindex.h"
#include "core/search/searchengine.h"
#include "e2elibrary.h"
#include "mapphotosource.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <set>

using namespace ts;
using nlohmann::json;
using test::MapPhotoSource;

Q_DECLARE_METATYPE(ts::PhotoFilter)
Q_DECLARE_METATYPE(ts::SortOrder)

namespace {

qint64 msOf(int year, int month, int day) {
    return QDateTime(QDate(year, month, day), QTime(12, 0)).toMSecsSinceEpoch();
}

std::vector<qint64> idsOf(const std::vector<PhotoHit> &hits) {
    std::vector<qint64> out;
    for (const PhotoHit &h : hits)
        out.push_back(h.photoId);
    return out;
}

template <typename R> QByteArray why(const R &result) {
    return result.ok() ? QByteArray() : result.error().message.toUtf8();
}

} // namespace

class TestFilteredSearch : public QObject {
    Q_OBJECT

    test::E2eLibrary m_lib; // the fixture's reference outputs, pipeline, index and photos
    std::shared_ptr<FusionCache> m_cache;
    QTemporaryDir m_tmp;

    // Photo ids are 100 + the image's index in expected.json.
    static qint64 idOf(int imageIndex) { return test::E2eLibrary::idOf(imageIndex); }
    int imageCount() const { return int(m_lib.expected["images"].size()); }
    int textCount() const { return int(m_lib.expected["texts"].size()); }
    QString textOf(int t) const {
        return QString::fromStdString(
            m_lib.expected["texts"][size_t(t)]["text"].get<std::string>());
    }
    // The reference's ITM match probability of image i with text t.
    double itm(int image, int text) const {
        for (const json &pair : m_lib.expected["itm"])
            if (pair["image"].get<int>() == image && pair["text"].get<int>() == text)
                return pair["match_probability"].get<double>();
        qFatal("no ITM pair (%d, %d) in expected.json", image, text);
    }
    std::vector<double> embeds(const char *kind, int index, const char *field) const {
        return m_lib.expected[kind][size_t(index)][field].get<std::vector<double>>();
    }
    // The reference's ranking of text t by ITM, as photo ids, kept to `keep`.
    std::vector<qint64> referenceByItm(int t, const std::set<qint64> &keep) const {
        std::vector<qint64> out;
        for (const json &i : m_lib.expected["search"][size_t(t)]["by_itm"])
            if (keep.count(idOf(i.get<int>())))
                out.push_back(idOf(i.get<int>()));
        return out;
    }
    SearchEngine engine(std::shared_ptr<const PhotoSource> photos = {}) const {
        return SearchEngine(m_lib.pipeline, m_lib.index, photos ? photos : m_lib.photos, m_cache);
    }
    SearchOptions everyPhoto() const {
        SearchOptions options;
        options.candidates = options.rerankDepth = 10; // more than the library holds
        return options;
    }

private Q_SLOTS:
    void initTestCase();
    void filterKeepsTheReferenceRankingWithinTheSubset_data();
    void filterKeepsTheReferenceRankingWithinTheSubset();
    void filterAppliesToSimilarAndComposedQueries_data();
    void filterAppliesToSimilarAndComposedQueries();
    void filterThatKeepsNothingGivesNoResultWithoutTheModel();
    void filterWithASourceThatCannotEvaluateItIsAnError();
    void excludedPhraseRemovesPhotosTheItmHeadMatches_data();
    void excludedPhraseRemovesPhotosTheItmHeadMatches();
    void excludedPhrasePushesDownInTheContrastiveStage_data();
    void excludedPhrasePushesDownInTheContrastiveStage();
    void someExclusionReordersTheContrastiveList();
    void exclusionsRunEachTowerOncePerPhraseAndPhoto();
    void sortOrdersTheResultAndEveryUpdate_data();
    void sortOrdersTheResultAndEveryUpdate();
};

void TestFilteredSearch::initTestCase() {
    const Status loaded = m_lib.load();
    QVERIFY2(loaded.ok(), why(loaded).constData());
    m_cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{});
    // Two folders; metadata as a catalog would hold it (the shapes, dates and cameras are the
    // test's: the filters' expected sets below follow from this table).
    QVERIFY(QDir(m_tmp.path()).mkpath(QStringLiteral("Holidays")));
    QVERIFY(QDir(m_tmp.path()).mkpath(QStringLiteral("Work")));
    const MapPhotoSource::Meta meta[] = {
        {msOf(2019, 7, 1), QStringLiteral("png"), QStringLiteral("Canon EOS 5D"), 400, 266},
        {msOf(2020, 3, 15), QStringLiteral("jpeg"), QStringLiteral("Apple iPhone 12"), 300, 400},
        {std::nullopt, QStringLiteral("png"), QString(), 512, 512},
        {msOf(2018, 1, 1), QStringLiteral("png"), QStringLiteral("Canon PowerShot G7"), 200, 200},
    };
    QCOMPARE(imageCount(), 4);
    for (int i = 0; i < imageCount(); ++i) {
        const QString copy =
            m_tmp.filePath((i < 2 ? QStringLiteral("Holidays/") : QStringLiteral("Work/")) +
                           QFileInfo(m_lib.imageFile(i)).fileName());
        const Status added = m_lib.addPhoto(i, copy);
        QVERIFY2(added.ok(), why(added).constData());
        m_lib.photos->meta[idOf(i)] = meta[i];
    }
}

// Rows: a filter and the images it keeps by the metadata table of initTestCase.
static void addFilterRows(const QString &root) {
    QTest::addColumn<PhotoFilter>("filter");
    QTest::addColumn<QList<int>>("kept");
    auto row = [](const char *name, PhotoFilter f, QList<int> kept) {
        QTest::newRow(name) << f << kept;
    };
    PhotoFilter f;
    f.takenFromMs = msOf(2019, 1, 1);
    row("after:2019", f, {0, 1});
    f = {};
    f.takenBeforeMs = msOf(2019, 6, 1);
    row("before:2019-06 (undated photos never match)", f, {3});
    f.takenFromMs = msOf(2018, 1, 1);
    f.takenBeforeMs = msOf(2020, 1, 1);
    row("2018 to 2019", f, {0, 3});
    f = {};
    f.folders = QStringList{root + QStringLiteral("/Holidays")};
    row("in:Holidays", f, {0, 1});
    f = {};
    f.fileTypes = QStringList{QStringLiteral("png")};
    row("type:png", f, {0, 2, 3});
    f = {};
    f.cameras = QStringList{QStringLiteral("canon")};
    row("camera:canon", f, {0, 3});
    f = {};
    f.shape = PhotoShape::Portrait;
    row("portrait", f, {1});
    f.shape = PhotoShape::Square;
    row("square", f, {2, 3});
    f = {};
    f.minLongSide = 500;
    row("long side >= 500", f, {2});
    f = {};
    f.cameras = QStringList{QStringLiteral("canon")};
    f.fileTypes = QStringList{QStringLiteral("png")};
    f.folders = QStringList{root + QStringLiteral("/Work")};
    row("camera:canon type:png in:Work", f, {3});
}

void TestFilteredSearch::filterKeepsTheReferenceRankingWithinTheSubset_data() {
    addFilterRows(m_tmp.path());
}

// Every caption of the reference: the contrastive list and the reranked list are the reference's
// rankings restricted to the kept photos, with the reference's probabilities.
void TestFilteredSearch::filterKeepsTheReferenceRankingWithinTheSubset() {
    QFETCH(PhotoFilter, filter);
    QFETCH(QList<int>, kept);
    std::set<qint64> keep;
    for (int i : kept)
        keep.insert(idOf(i));
    SearchOptions options = everyPhoto();
    options.filter = filter;
    for (int t = 0; t < textCount(); ++t) {
        std::vector<SearchUpdate> updates;
        auto hits = engine().searchText(textOf(t), options,
                                        [&](const SearchUpdate &u) { updates.push_back(u); });
        QVERIFY2(hits.ok(), why(hits).constData());
        std::vector<qint64> contrastive;
        for (const json &i : m_lib.expected["search"][size_t(t)]["by_contrastive"])
            if (keep.count(idOf(i.get<int>())))
                contrastive.push_back(idOf(i.get<int>()));
        QVERIFY(!updates.empty());
        QCOMPARE(idsOf(updates.front().hits), contrastive);
        QCOMPARE(idsOf(*hits), referenceByItm(t, keep));
        for (const PhotoHit &h : *hits)
            QVERIFY(std::abs(*h.matchProbability - itm(int(h.photoId - 100), t)) <= 1e-5);
    }
}

void TestFilteredSearch::filterAppliesToSimilarAndComposedQueries_data() {
    addFilterRows(m_tmp.path());
}

// Similar photos (the new overload with options) and composed queries: only kept photos, the
// query photo itself never; similar keeps the unfiltered order among them.
void TestFilteredSearch::filterAppliesToSimilarAndComposedQueries() {
    QFETCH(PhotoFilter, filter);
    QFETCH(QList<int>, kept);
    const QString query = m_lib.photos->paths[idOf(0)];
    std::set<qint64> keep;
    for (int i : kept)
        if (i != 0)
            keep.insert(idOf(i));
    auto all = engine().searchSimilar(query, 10);
    QVERIFY(all.ok());
    std::vector<qint64> expected;
    for (qint64 id : idsOf(*all))
        if (keep.count(id))
            expected.push_back(id);
    SearchOptions options = everyPhoto();
    options.filter = filter;
    auto similar = engine().searchSimilar(query, options);
    QVERIFY2(similar.ok(), why(similar).constData());
    QCOMPARE(idsOf(*similar), expected);

    auto composed = engine().searchComposed(query, textOf(1), options);
    QVERIFY2(composed.ok(), why(composed).constData());
    const std::vector<qint64> got = idsOf(*composed);
    QCOMPARE(std::set<qint64>(got.begin(), got.end()), keep);
    for (const PhotoHit &h : *composed)
        QVERIFY(std::abs(*h.matchProbability - itm(int(h.photoId - 100), 1)) <= 1e-5);
}

// A filter that keeps no photo: an empty, finished result, and neither tower runs.
void TestFilteredSearch::filterThatKeepsNothingGivesNoResultWithoutTheModel() {
    SearchOptions options = everyPhoto();
    options.filter.cameras = QStringList{QStringLiteral("Nikon")};
    const BridgeTowerModel::TowerRuns before = m_lib.pipeline->model().towerRuns();
    std::vector<SearchUpdate> updates;
    auto hits = engine().searchText(QStringLiteral("a lighthouse in a storm"), options,
                                    [&](const SearchUpdate &u) { updates.push_back(u); });
    QVERIFY2(hits.ok(), why(hits).constData());
    QVERIFY(hits->empty());
    QVERIFY(!updates.empty());
    QVERIFY(updates.back().finished);
    QVERIFY(updates.back().hits.empty());
    QTemporaryDir tmp;
    const QString outside = tmp.filePath(QStringLiteral("outside.png"));
    QVERIFY(QFile::copy(m_lib.photos->paths[idOf(2)],
                        outside)); // not in the library: would need vision
    auto similar = engine().searchSimilar(outside, options);
    QVERIFY(similar.ok());
    QVERIFY(similar->empty());
    auto composed = engine().searchComposed(outside, QStringLiteral("a red bicycle"), options);
    QVERIFY(composed.ok());
    QVERIFY(composed->empty());
    const BridgeTowerModel::TowerRuns after = m_lib.pipeline->model().towerRuns();
    QCOMPARE(after.text, before.text);
    QCOMPARE(after.vision, before.vision);
}

void TestFilteredSearch::filterWithASourceThatCannotEvaluateItIsAnError() {
    auto photos = std::make_shared<MapPhotoSource>(*m_lib.photos);
    photos->evaluatesFilters = false;
    SearchOptions options = everyPhoto();
    options.filter.fileTypes = QStringList{QStringLiteral("png")};
    const QString query = m_lib.photos->paths[idOf(0)];
    auto text = engine(photos).searchText(textOf(0), options);
    QVERIFY(!text.ok());
    QCOMPARE(text.error().code, Error::Code::InvalidArgument);
    QVERIFY(text.error().message.contains(QStringLiteral("filter")));
    auto similar = engine(photos).searchSimilar(query, options);
    QVERIFY(!similar.ok());
    QCOMPARE(similar.error().code, Error::Code::InvalidArgument);
    auto composed = engine(photos).searchComposed(query, textOf(1), options);
    QVERIFY(!composed.ok());
    QCOMPARE(composed.error().code, Error::Code::InvalidArgument);
    // Without a filter the same source searches as before.
    QVERIFY(engine(photos).searchText(textOf(0), everyPhoto()).ok());
}

void TestFilteredSearch::excludedPhraseRemovesPhotosTheItmHeadMatches_data() {
    QTest::addColumn<int>("query");
    QTest::addColumn<int>("excluded");
    QTest::addColumn<double>("cutOff"); // 0: the default (0.5)
    for (int q = 0; q < textCount(); ++q)
        for (int x = 0; x < textCount(); ++x) {
            if (x == q)
                continue;
            QTest::addRow("%d without %d, default cut-off", q, x) << q << x << 0.0;
            // A cut-off between the 2nd and 3rd highest probability of the excluded phrase
            // (every probability of the tiny model is below 0.5, so the default removes none).
            std::vector<double> p;
            for (int i = 0; i < imageCount(); ++i)
                p.push_back(itm(i, x));
            std::sort(p.rbegin(), p.rend());
            QTest::addRow("%d without %d, cut-off %.4f", q, x, (p[1] + p[2]) / 2)
                << q << x << (p[1] + p[2]) / 2;
        }
}

// The photos left are exactly those whose reference probability for the excluded phrase is not
// above the cut-off (and, with a cut-off set, whose probability for the query reaches it), in
// the reference's ITM order of the query.
void TestFilteredSearch::excludedPhraseRemovesPhotosTheItmHeadMatches() {
    QFETCH(int, query);
    QFETCH(int, excluded);
    QFETCH(double, cutOff);
    SearchOptions options = everyPhoto();
    options.minMatchProbability = float(cutOff);
    options.excludedPhrases = QStringList{textOf(excluded), QStringLiteral("  ")}; // blank: ignored
    const double bar = cutOff > 0 ? cutOff : 0.5;
    QCOMPARE(double(exclusionCutOff(options)), double(float(bar)));
    std::set<qint64> keep;
    for (int i = 0; i < imageCount(); ++i)
        if (itm(i, excluded) <= bar && (cutOff <= 0 || itm(i, query) >= cutOff))
            keep.insert(idOf(i));
    auto hits = engine().searchText(textOf(query), options);
    QVERIFY2(hits.ok(), why(hits).constData());
    QCOMPARE(idsOf(*hits), referenceByItm(query, keep));
}

void TestFilteredSearch::excludedPhrasePushesDownInTheContrastiveStage_data() {
    QTest::addColumn<int>("query");
    QTest::addColumn<int>("excluded");
    for (int q = 0; q < textCount(); ++q)
        for (int x = 0; x < textCount(); ++x)
            if (x != q)
                QTest::addRow("%d without %d", q, x) << q << x;
}

// The contrastive list ranks photos by cosine with q - kExclusionWeight * e (normalised),
// computed here from the reference's text and image embeddings.
void TestFilteredSearch::excludedPhrasePushesDownInTheContrastiveStage() {
    QFETCH(int, query);
    QFETCH(int, excluded);
    const std::vector<double> q = embeds("texts", query, "text_embeds");
    const std::vector<double> e = embeds("texts", excluded, "text_embeds");
    std::vector<double> steered(q.size());
    double norm = 0;
    for (size_t j = 0; j < q.size(); ++j) {
        steered[j] = q[j] - double(kExclusionWeight) * e[j];
        norm += steered[j] * steered[j];
    }
    norm = std::sqrt(norm);
    std::vector<std::pair<double, qint64>> predicted;
    for (int i = 0; i < imageCount(); ++i) {
        const std::vector<double> img = embeds("images", i, "image_embeds");
        double dot = 0;
        for (size_t j = 0; j < img.size(); ++j)
            dot += img[j] * steered[j] / norm;
        predicted.emplace_back(dot, idOf(i));
    }
    std::sort(predicted.rbegin(), predicted.rend());

    SearchOptions options = everyPhoto();
    options.rerankDepth = 0; // the contrastive stage alone
    options.excludedPhrases = QStringList{textOf(excluded)};
    auto hits = engine().searchText(textOf(query), options);
    QVERIFY2(hits.ok(), why(hits).constData());
    QCOMPARE(hits->size(), predicted.size());
    for (size_t r = 0; r < predicted.size(); ++r) {
        // Scores within the model's tolerance of the reference; the order where they differ by
        // more.
        const PhotoHit &h = (*hits)[r];
        const auto want = std::find_if(predicted.begin(), predicted.end(),
                                       [&](const auto &p) { return p.second == h.photoId; });
        QVERIFY(std::abs(double(h.similarity) - want->first) <= 1e-4);
        if (r + 1 < predicted.size() && predicted[r].first - predicted[r + 1].first > 2e-4)
            QCOMPARE(h.photoId, predicted[r].second);
    }
}

// The subtraction matters on the fixtures: for some pair the pushed list differs from the plain
// one (computed from the reference, then checked against the engine).
void TestFilteredSearch::someExclusionReordersTheContrastiveList() {
    int reordered = 0;
    for (int q = 0; q < textCount(); ++q)
        for (int x = 0; x < textCount(); ++x) {
            if (x == q)
                continue;
            SearchOptions options = everyPhoto();
            options.rerankDepth = 0;
            auto plain = engine().searchText(textOf(q), options);
            options.excludedPhrases = QStringList{textOf(x)};
            auto pushed = engine().searchText(textOf(q), options);
            QVERIFY(plain.ok() && pushed.ok());
            reordered += idsOf(*plain) != idsOf(*pushed) ? 1 : 0;
        }
    qInfo("%d of %d query/exclusion pairs reorder the contrastive list", reordered,
          textCount() * (textCount() - 1));
    QVERIFY(reordered > 0);
}

// With two excluded phrases, a cold feature cache and captions no other test uses: the text tower
// runs once for the caption and once per phrase, the vision tower once per reranked photo (its
// features serve the caption and both phrases).
void TestFilteredSearch::exclusionsRunEachTowerOncePerPhraseAndPhoto() {
    SearchEngine cold(
        m_lib.pipeline, m_lib.index, m_lib.photos,
        std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{}));
    SearchOptions options = everyPhoto();
    options.excludedPhrases =
        QStringList{QStringLiteral("a bowl of ramen"), QStringLiteral("a steam train")};
    const BridgeTowerModel::TowerRuns before = m_lib.pipeline->model().towerRuns();
    int reranked = 0;
    auto hits = cold.searchText(QStringLiteral("a windmill in a tulip field"), options,
                                [&](const SearchUpdate &u) { reranked = u.reranked; });
    QVERIFY2(hits.ok(), why(hits).constData());
    QCOMPARE(reranked, imageCount());
    const BridgeTowerModel::TowerRuns after = m_lib.pipeline->model().towerRuns();
    QCOMPARE(after.text - before.text, qint64(3));
    QCOMPARE(after.vision - before.vision, qint64(imageCount()));
}

void TestFilteredSearch::sortOrdersTheResultAndEveryUpdate_data() {
    QTest::addColumn<SortOrder>("order");
    QTest::addColumn<int>("text");
    for (int t = 0; t < textCount(); ++t) {
        QTest::addRow("date taken, text %d", t) << SortOrder::DateTaken << t;
        QTest::addRow("name, text %d", t) << SortOrder::Name << t;
    }
}

// DateTaken: newest first by the test's dates, the undated photo last; Name: by file name. Ties
// (none here) would keep the reference's ITM order, which is the starting point.
void TestFilteredSearch::sortOrdersTheResultAndEveryUpdate() {
    QFETCH(SortOrder, order);
    QFETCH(int, text);
    std::set<qint64> all;
    for (int i = 0; i < imageCount(); ++i)
        all.insert(idOf(i));
    auto before = [&](qint64 a, qint64 b) {
        if (order == SortOrder::Name)
            return QFileInfo(m_lib.photos->paths[a]).fileName().toLower() <
                   QFileInfo(m_lib.photos->paths[b]).fileName().toLower();
        const auto da = m_lib.photos->meta[a].takenMs, db = m_lib.photos->meta[b].takenMs;
        return da.has_value() != db.has_value() ? da.has_value() : da && *da > *db;
    };
    std::vector<qint64> expected = referenceByItm(text, all);
    std::stable_sort(expected.begin(), expected.end(), before);
    SearchOptions options = everyPhoto();
    options.sort = order;
    std::vector<SearchUpdate> updates;
    auto hits = engine().searchText(textOf(text), options,
                                    [&](const SearchUpdate &u) { updates.push_back(u); });
    QVERIFY2(hits.ok(), why(hits).constData());
    QCOMPARE(idsOf(*hits), expected);
    for (const SearchUpdate &u : updates) {
        const std::vector<qint64> ids = idsOf(u.hits);
        QVERIFY(std::is_sorted(ids.begin(), ids.end(), before));
    }
}

QTEST_GUILESS_MAIN(TestFilteredSearch)
#include "tst_filteredsearch.moc"
