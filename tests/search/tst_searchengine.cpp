// The search engine over a library built from the end-to-end fixture photos: rankings (contrastive,
// then ITM) must equal the reference's, progressively; cancellation, the cut-off, the
// vision-feature cache, vanished files and photo queries behave as documented.
#include "core/index/vectorindex.h"
#include "core/search/captioncache.h"
#include "core/search/searchengine.h"
#include "e2elibrary.h"
#include "mapphotosource.h"
#include "precisions.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <map>

using namespace ts;
using nlohmann::json;

using test::MapPhotoSource;

class TestSearchEngine : public QObject {
    Q_OBJECT

    test::E2eLibrary m_lib; // the fixture's reference outputs, pipeline, index and photos
    QTemporaryDir m_tmp;

    // Photo ids are 100 + the image's index in expected.json.
    static qint64 idOf(int imageIndex) { return test::E2eLibrary::idOf(imageIndex); }
    SearchEngine engine(std::shared_ptr<FusionCache> cache = {}) const {
        return SearchEngine(m_lib.pipeline, m_lib.index, m_lib.photos, cache);
    }

private Q_SLOTS:
    void initTestCase();
    void ranksLikeTheReference_data();
    void ranksLikeTheReference();
    void cancelStopsTheRerank();
    void cutOffHidesNonMatches();
    void cacheSkipsTheVisionTowerOnTheSecondQuery();
    void rerankRunsTheTextTowerOncePerQuery();
    void fillMaskOfALibraryPhotoUsesTheCachedVisionSide_data();
    void fillMaskOfALibraryPhotoUsesTheCachedVisionSide();
    void vanishedPhotoIsSkippedAndReported();
    void similarPhotosExcludeTheQueryPhoto();
    void composedQueryRerankedByTheWords();
    void fillMaskNeedsABlank();
    void pipelineRunsEveryHeadInEveryPrecision_data();
    void pipelineRunsEveryHeadInEveryPrecision();
    void precisionKeepsTheModelKeyAndComparableVectors();
    void repeatedCaptionSkipsTheTextTower();
    void captionCacheKeepsModelsAndPrecisionsApart();
    void captionCacheIsBounded();
};

void TestSearchEngine::initTestCase() {
    const Status loaded = m_lib.load();
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    for (int i = 0; i < m_lib.imageCount(); ++i) {
        // Copies, so one test can delete a photo without touching the fixtures.
        const Status added =
            m_lib.addPhoto(i, m_tmp.filePath(QFileInfo(m_lib.imageFile(i)).fileName()));
        QVERIFY2(added.ok(), added.ok() ? "" : qPrintable(added.error().message));
    }
}

void TestSearchEngine::ranksLikeTheReference_data() {
    QTest::addColumn<int>("textIndex");
    QTest::addColumn<int>("rerankBatch");
    // One photo per cross-modal pass, a batch that does not divide the list, and the default.
    for (int batch : {1, 3, 4})
        for (size_t j = 0; j < m_lib.expected["texts"].size(); ++j)
            QTest::addRow("%s, batch %d",
                          m_lib.expected["texts"][j]["text"].get<std::string>().c_str(), batch)
                << int(j) << batch;
}

void TestSearchEngine::ranksLikeTheReference() {
    QFETCH(int, textIndex);
    QFETCH(int, rerankBatch);
    const json &want = m_lib.expected["search"][size_t(textIndex)];
    const QString text = QString::fromStdString(
        m_lib.expected["texts"][size_t(textIndex)]["text"].get<std::string>());
    SearchOptions options;
    options.candidates = 10;
    options.rerankDepth = 10;
    options.rerankBatch = rerankBatch;
    std::vector<SearchUpdate> updates;
    auto hits =
        engine().searchText(text, options, [&](const SearchUpdate &u) { updates.push_back(u); });
    QVERIFY2(hits.ok(), hits.ok() ? "" : qPrintable(hits.error().message));

    // First the contrastive ranking, with the reference's logits (cosine * exp(logit_scale)).
    QVERIFY(!updates.empty());
    const SearchUpdate &first = updates.front();
    QCOMPARE(first.reranked, 0);
    QCOMPARE(first.hits.size(), want["by_contrastive"].size());
    const double scale = m_lib.expected["logit_scale_exp"].get<double>();
    for (size_t r = 0; r < first.hits.size(); ++r) {
        QCOMPARE(first.hits[r].photoId, idOf(want["by_contrastive"][r].get<int>()));
        QVERIFY(std::abs(first.hits[r].similarity * scale -
                         want["by_contrastive_scores"][r].get<double>()) <= 1e-4);
    }
    // Then one update per batch of reranked photos, and the final order by ITM match probability.
    const int reranked = int(want["by_itm"].size());
    QCOMPARE(int(updates.size()), 1 + (reranked + rerankBatch - 1) / rerankBatch + 1);
    for (size_t u = 1; u + 1 < updates.size(); ++u)
        QCOMPARE(updates[u].reranked, std::min(reranked, int(u) * rerankBatch));
    QVERIFY(updates.back().finished);
    QCOMPARE(hits->size(), want["by_itm"].size());
    for (size_t r = 0; r < hits->size(); ++r) {
        QCOMPARE((*hits)[r].photoId, idOf(want["by_itm"][r].get<int>()));
        QVERIFY((*hits)[r].matchProbability.has_value());
        QVERIFY(std::abs(*(*hits)[r].matchProbability -
                         want["by_itm_match_probability"][r].get<double>()) <= 1e-5);
    }
}

void TestSearchEngine::cancelStopsTheRerank() {
    CancelToken cancel;
    int updates = 0;
    SearchOptions options;
    options.rerankDepth = 4;
    auto hits = engine().searchText(
        QStringLiteral("a cat sitting on a couch"), options,
        [&](const SearchUpdate &) {
            ++updates;
            cancel.cancel(); // as a new query would
        },
        cancel);
    QVERIFY(!hits.ok());
    QCOMPARE(hits.error().code, Error::Code::Cancelled);
    QCOMPARE(updates, 1); // the contrastive list arrived; no photo was reranked after the cancel
}

void TestSearchEngine::cutOffHidesNonMatches() {
    const json &want = m_lib.expected["search"][0];
    const double second = want["by_itm_match_probability"][1].get<double>();
    const double third = want["by_itm_match_probability"][2].get<double>();
    SearchOptions options;
    options.rerankDepth = 4;
    options.minMatchProbability = float((second + third) / 2);
    auto hits = engine().searchText(
        QString::fromStdString(m_lib.expected["texts"][0]["text"].get<std::string>()), options);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(2));
    QCOMPARE((*hits)[0].photoId, idOf(want["by_itm"][0].get<int>()));
    QCOMPARE((*hits)[1].photoId, idOf(want["by_itm"][1].get<int>()));

    // Photos beyond the rerank depth have no match probability: with a cut-off they are hidden too.
    options.rerankDepth = 1;
    options.minMatchProbability = 1e-6f;
    hits = engine().searchText(
        QString::fromStdString(m_lib.expected["texts"][0]["text"].get<std::string>()), options);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(1));
}

void TestSearchEngine::cacheSkipsTheVisionTowerOnTheSecondQuery() {
    QTemporaryDir diskDir;
    FusionCache::Options cacheOptions;
    cacheOptions.diskBudgetBytes = 64 << 20;
    cacheOptions.diskDirectory = diskDir.path();
    auto cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), cacheOptions);
    SearchOptions options;
    options.rerankDepth = 4;
    const QString text = QStringLiteral("a black and white photo of a man with a camera");
    auto cold = engine(cache).searchText(text, options);
    QVERIFY(cold.ok());
    QCOMPARE(cache->stats().misses, qint64(4));
    auto warm = engine(cache).searchText(text, options);
    QVERIFY(warm.ok());
    QCOMPARE(cache->stats().memoryHits, qint64(4));
    for (size_t i = 0; i < cold->size(); ++i) {
        QCOMPARE((*warm)[i].photoId, (*cold)[i].photoId);
        QCOMPARE(*(*warm)[i].matchProbability,
                 *(*cold)[i].matchProbability); // float32 in memory: exact
    }
    // A fresh cache over the same folder (a restart) reads the float16 disk tier.
    auto restarted = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), cacheOptions);
    QVERIFY(restarted->stats().diskBytes > 0);
    auto fromDisk = engine(restarted).searchText(text, options);
    QVERIFY(fromDisk.ok());
    QCOMPARE(restarted->stats().diskHits, qint64(4));
    for (size_t i = 0; i < cold->size(); ++i) {
        QCOMPARE((*fromDisk)[i].photoId, (*cold)[i].photoId);
        const double delta =
            std::abs(*(*fromDisk)[i].matchProbability - *(*cold)[i].matchProbability);
        qInfo("disk-cached match probability differs by %.2g", delta);
        QVERIFY(delta < 2e-3);
    }
    // A budget below one entry keeps the disk tier empty.
    cacheOptions.diskBudgetBytes = 1000;
    QTemporaryDir smallDir;
    cacheOptions.diskDirectory = smallDir.path();
    auto tiny = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), cacheOptions);
    QVERIFY(engine(tiny).searchText(text, options).ok());
    QCOMPARE(tiny->stats().diskBytes, qint64(0));
}

// The caption's text tower does not depend on the photo: one pass per query gives the search
// embedding and the text side of every reranked photo (main ran it again for each photo).
void TestSearchEngine::rerankRunsTheTextTowerOncePerQuery() {
    auto cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{});
    SearchOptions options;
    options.rerankDepth = 4;
    // Captions no other test searches for: a caption already in the caption cache needs no
    // text tower at all (repeatedCaptionSkipsTheTextTower).
    SearchOptions everyPhoto;
    everyPhoto.candidates = everyPhoto.rerankDepth = 1000;
    QVERIFY(engine(cache)
                .searchText(QStringLiteral("an owl on a fence post at dusk"), everyPhoto)
                .ok()); // fills the cache
    const BridgeTowerModel::TowerRuns before = m_lib.pipeline->model().towerRuns();
    int reranked = 0;
    auto hits = engine(cache).searchText(QStringLiteral("a red kayak on a calm lake"), options,
                                         [&](const SearchUpdate &u) { reranked = u.reranked; });
    QVERIFY(hits.ok());
    QCOMPARE(reranked, 4);
    const BridgeTowerModel::TowerRuns after = m_lib.pipeline->model().towerRuns();
    QCOMPARE(after.text - before.text, qint64(1));
    QCOMPARE(after.vision - before.vision, qint64(0)); // every photo came from the cache

    // A composed query embeds its photo (vision) and its words once (text) for the whole rerank.
    auto composed = engine(cache).searchComposed(
        m_lib.photos->paths[idOf(0)], QStringLiteral("a paper boat in the rain"), options);
    QVERIFY(composed.ok());
    QCOMPARE(m_lib.pipeline->model().towerRuns().text - after.text, qint64(1));
}

void TestSearchEngine::fillMaskOfALibraryPhotoUsesTheCachedVisionSide_data() {
    QTest::addColumn<int>("caseIndex");
    for (size_t i = 0; i < m_lib.expected["fill_mask"].size(); ++i)
        QTest::newRow(m_lib.expected["fill_mask"][i]["text"].get<std::string>().c_str()) << int(i);
}

// Fill-mask on a photo of the library reads its vision side from the rerank cache (or computes
// and caches it once), and gives exactly what the uncached path from the pixels gives.
void TestSearchEngine::fillMaskOfALibraryPhotoUsesTheCachedVisionSide() {
    QFETCH(int, caseIndex);
    const json &want = m_lib.expected["fill_mask"][size_t(caseIndex)];
    const QString caption = QString::fromStdString(want["text"].get<std::string>());
    const QString photo = m_lib.photos->paths[idOf(want["image"].get<int>())];
    const int topK = int(want["masks"][0]["top_ids"].size());
    auto pixels = m_lib.pipeline->loadPixels(photo);
    QVERIFY(pixels.ok());
    auto uncached = m_lib.pipeline->fillMask(*pixels, caption, topK);
    QVERIFY2(uncached.ok(), uncached.ok() ? "" : qPrintable(uncached.error().message));

    auto cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{});
    const BridgeTowerModel::TowerRuns start = m_lib.pipeline->model().towerRuns();
    auto first = engine(cache).fillMask(photo, caption, topK);
    QVERIFY2(first.ok(), first.ok() ? "" : qPrintable(first.error().message));
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision - start.vision,
             qint64(1)); // computed once, and cached
    QCOMPARE(cache->stats().misses, qint64(1));
    const BridgeTowerModel::TowerRuns warm = m_lib.pipeline->model().towerRuns();
    auto second = engine(cache).fillMask(photo, caption, topK);
    QVERIFY(second.ok());
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision,
             warm.vision); // no vision tower for a cached photo
    QCOMPARE(cache->stats().memoryHits, qint64(1));

    for (const FillMaskResult *r : {&*first, &*second}) {
        QCOMPARE(r->filledIds, uncached->filledIds);
        QCOMPARE(r->masks.size(), uncached->masks.size());
        for (size_t m = 0; m < r->masks.size(); ++m) {
            QCOMPARE(r->masks[m].ids, uncached->masks[m].ids);
            QCOMPARE(r->masks[m].logits,
                     uncached->masks[m].logits); // float32 cache: the same numbers
            QCOMPARE(r->masks[m].probabilities, uncached->masks[m].probabilities);
        }
    }
    // And both are the reference's.
    QCOMPARE(second->filledText, QString::fromStdString(want["filled_text"].get<std::string>()));
    for (size_t m = 0; m < second->masks.size(); ++m) {
        const json &wm = want["masks"][m];
        QCOMPARE(second->masks[m].position, wm["position"].get<int>());
        QCOMPARE(second->masks[m].ids, wm["top_ids"].get<std::vector<int64_t>>());
        for (size_t k = 0; k < second->masks[m].logits.size(); ++k)
            QVERIFY(std::abs(second->masks[m].logits[k] - wm["top_logits"][k].get<double>()) <=
                    1e-4);
    }

    // A caption without a blank fails before any vision work; a photo from outside the library
    // takes the uncached path and leaves the cache alone.
    const BridgeTowerModel::TowerRuns beforeErrors = m_lib.pipeline->model().towerRuns();
    QVERIFY(!engine(cache)
                 .fillMask(m_lib.photos->paths[idOf(1)], QStringLiteral("no blank here"))
                 .ok());
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision, beforeErrors.vision);
    QTemporaryDir tmp;
    const QString outside = tmp.filePath(QStringLiteral("outside.png"));
    QVERIFY(QFile::copy(photo, outside));
    auto fromOutside = engine(cache).fillMask(outside, caption, topK);
    QVERIFY(fromOutside.ok());
    QCOMPARE(fromOutside->filledIds, uncached->filledIds);
    QCOMPARE(cache->stats().misses, qint64(1));
}

void TestSearchEngine::vanishedPhotoIsSkippedAndReported() {
    QTemporaryDir tmp;
    auto photos = std::make_shared<MapPhotoSource>(*m_lib.photos);
    const QString gone = tmp.filePath(QStringLiteral("gone.jpg"));
    QVERIFY(QFile::copy(photos->paths[idOf(1)], gone));
    photos->paths[idOf(1)] = gone;
    QVERIFY(QFile::remove(gone));
    SearchEngine e(m_lib.pipeline, m_lib.index, photos, {});
    SearchOptions options;
    options.rerankDepth = 4;
    SearchUpdate last;
    auto hits = e.searchText(QStringLiteral("a cup of coffee"), options,
                             [&](const SearchUpdate &u) { last = u; });
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(3));
    QCOMPARE(last.skipped.size(), 1);
    QVERIFY(last.skipped.first().contains(gone));
}

void TestSearchEngine::similarPhotosExcludeTheQueryPhoto() {
    const QString query = m_lib.photos->paths[idOf(0)];
    auto hits = engine().searchSimilar(query, 10);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(3));
    for (const PhotoHit &h : *hits)
        QVERIFY(h.photoId != idOf(0));
    for (size_t i = 1; i < hits->size(); ++i)
        QVERIFY((*hits)[i - 1].similarity >= (*hits)[i].similarity);
    // A photo from outside the library is compared with all of them: a copy of a library photo
    // finds that photo first, as an exact match.
    QTemporaryDir tmp;
    const QString outside = tmp.filePath(QStringLiteral("outside.png"));
    QVERIFY(QFile::copy(m_lib.photos->paths[idOf(0)], outside));
    hits = engine().searchSimilar(outside, 10);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(4));
    QCOMPARE(hits->front().photoId, idOf(0));
    QVERIFY(hits->front().similarity > 0.9999f);
}

void TestSearchEngine::composedQueryRerankedByTheWords() {
    SearchOptions options;
    options.rerankDepth = 4;
    auto hits = engine().searchComposed(m_lib.photos->paths[idOf(0)],
                                        QStringLiteral("a cup of coffee"), options);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(3));
    for (size_t i = 1; i < hits->size(); ++i)
        QVERIFY(*(*hits)[i - 1].matchProbability >= *(*hits)[i].matchProbability);
}

void TestSearchEngine::fillMaskNeedsABlank() {
    auto none = engine().fillMask(m_lib.photos->paths[idOf(0)], QStringLiteral("a cat on a couch"));
    QVERIFY(!none.ok());
    QCOMPARE(none.error().code, Error::Code::InvalidArgument);
    auto many = engine().fillMask(m_lib.photos->paths[idOf(0)],
                                  QString(QStringLiteral("<mask> ")).repeated(9));
    QVERIFY(!many.ok());
    QVERIFY(many.error().message.contains(QStringLiteral("at most 8")));
    auto one = engine().fillMask(m_lib.photos->paths[idOf(0)],
                                 QStringLiteral("a <mask> sitting on a couch"), 5);
    QVERIFY(one.ok());
    QCOMPARE(one->masks.size(), size_t(1));
    QCOMPARE(one->masks[0].ids.size(), size_t(5));
}

namespace {

double cosine(const float *a, const float *b, int64_t n) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t k = 0; k < n; ++k) {
        dot += double(a[k]) * b[k];
        na += double(a[k]) * a[k];
        nb += double(b[k]) * b[k];
    }
    return dot / std::sqrt(na * nb);
}

std::vector<float> floats(const json &array) {
    return array.get<std::vector<float>>();
}

} // namespace

// The pipeline's own entry points (captions and photo files in, as the app and the CLI call them)
// in every precision against what Hugging Face computed from the same strings and files: the
// caption and photo embeddings, ITM of a photo against every caption, and fill-mask.
void TestSearchEngine::pipelineRunsEveryHeadInEveryPrecision_data() {
    QTest::addColumn<int>("precisionIndex");
    for (int p = 0; p < test::kPrecisionCount; ++p)
        QTest::newRow(test::kPrecisionBounds[p].name) << p;
}

void TestSearchEngine::pipelineRunsEveryHeadInEveryPrecision() {
    QFETCH(int, precisionIndex);
    const test::PrecisionBounds &bounds = test::kPrecisionBounds[precisionIndex];
    BridgeTowerPipeline::Options options;
    options.precision = bounds.precision;
    auto loaded = BridgeTowerPipeline::load(m_lib.dir, options);
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    const BridgeTowerPipeline &p = **loaded;
    QCOMPARE(p.precision(), bounds.precision);
    const double tolerance = bounds.parity ? 1e-4 : INFINITY;

    QStringList texts;
    for (const auto &t : m_lib.expected["texts"])
        texts << QString::fromStdString(t["text"].get<std::string>());
    auto textEmbeds = p.embedTexts(texts);
    QVERIFY2(textEmbeds.ok(), textEmbeds.ok() ? "" : qPrintable(textEmbeds.error().message));
    const int64_t dim = textEmbeds->dim(1);
    double worstCosine = 1, worstAbs = 0, worstProbability = 0;
    for (qsizetype j = 0; j < texts.size(); ++j) {
        const std::vector<float> want = floats(m_lib.expected["texts"][size_t(j)]["text_embeds"]);
        const float *got = textEmbeds->ptr() + j * dim;
        worstCosine = std::min(worstCosine, cosine(got, want.data(), dim));
        for (int64_t k = 0; k < dim; ++k)
            worstAbs = std::max(worstAbs, double(std::abs(got[k] - want[size_t(k)])));
    }
    for (size_t i = 0; i < m_lib.expected["images"].size(); ++i) {
        auto pixels = p.loadPixels(m_lib.photos->paths[idOf(int(i))]);
        QVERIFY(pixels.ok());
        auto imageEmbeds = p.embedImages(*pixels);
        QVERIFY2(imageEmbeds.ok(), imageEmbeds.ok() ? "" : qPrintable(imageEmbeds.error().message));
        const std::vector<float> want = floats(m_lib.expected["images"][i]["image_embeds"]);
        worstCosine = std::min(worstCosine, cosine(imageEmbeds->ptr(), want.data(), dim));
        for (int64_t k = 0; k < dim; ++k)
            worstAbs = std::max(worstAbs,
                                double(std::abs(imageEmbeds->data[size_t(k)] - want[size_t(k)])));

        auto scores = p.matchTexts(*pixels, texts);
        QVERIFY2(scores.ok(), scores.ok() ? "" : qPrintable(scores.error().message));
        for (qsizetype j = 0; j < texts.size(); ++j) {
            const json &wantItm = m_lib.expected["itm"][i * size_t(texts.size()) + size_t(j)];
            worstProbability = std::max(
                worstProbability, double(std::abs((*scores)[size_t(j)].probability -
                                                  wantItm["match_probability"].get<float>())));
        }
    }
    qInfo("%s: embeddings min cosine %.6f (max abs error %.3g), ITM probability off by %.3g",
          bounds.name, worstCosine, worstAbs, worstProbability);
    QVERIFY2(worstCosine >= test::minCosineOnThisCpu(bounds),
             qPrintable(QString::number(worstCosine)));
    QVERIFY2(worstAbs <= tolerance, qPrintable(QString::number(worstAbs)));
    QVERIFY2(worstProbability <= bounds.maxProbabilityDiff,
             qPrintable(QString::number(worstProbability)));

    int masks = 0, agree = 0;
    for (const auto &fm : m_lib.expected["fill_mask"]) {
        auto pixels = p.loadPixels(m_lib.photos->paths[idOf(fm["image"].get<int>())]);
        QVERIFY(pixels.ok());
        auto filled = p.fillMask(*pixels, QString::fromStdString(fm["text"].get<std::string>()));
        QVERIFY2(filled.ok(), filled.ok() ? "" : qPrintable(filled.error().message));
        QCOMPARE(filled->masks.size(), fm["masks"].size());
        for (size_t m = 0; m < fm["masks"].size(); ++m) {
            const json &want = fm["masks"][m];
            const MaskPrediction &got = filled->masks[m];
            ++masks;
            agree += got.ids.front() == want["top_ids"][0].get<int64_t>() ? 1 : 0;
            if (bounds.parity) {
                QCOMPARE(json(got.ids), want["top_ids"]);
                for (size_t k = 0; k < got.logits.size(); ++k)
                    QVERIFY(std::abs(got.logits[k] - want["top_logits"][k].get<double>()) <= 1e-4);
            }
        }
    }
    qInfo("%s: fill-mask top-1 agrees on %d of %d blanks", bounds.name, agree, masks);
    QVERIFY(masks > 0);
    QVERIFY2(double(agree) / masks >= bounds.minTop1Agreement,
             qPrintable(QStringLiteral("%1 of %2").arg(agree).arg(masks)));
}

// The library keys vectors by model only: a photo indexed in float32 is searched by a bfloat16
// caption and the other way round, so switching precision must not change the key (which would
// re-embed the whole library), and the vectors of both must stay comparable.
void TestSearchEngine::precisionKeepsTheModelKeyAndComparableVectors() {
    BridgeTowerPipeline::Options options;
    std::map<QString, std::shared_ptr<BridgeTowerPipeline>> byPrecision;
    for (const test::PrecisionBounds &b : test::kPrecisionBounds) {
        options.precision = b.precision;
        auto loaded = BridgeTowerPipeline::load(m_lib.dir, options);
        QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
        QCOMPARE((*loaded)->modelKey(), m_lib.pipeline->modelKey());
        byPrecision[QLatin1String(b.name)] = *loaded;
    }
    const BridgeTowerPipeline &f32 = *byPrecision.at(QStringLiteral("f32"));
    QStringList texts;
    for (const auto &t : m_lib.expected["texts"])
        texts << QString::fromStdString(t["text"].get<std::string>());
    for (const test::PrecisionBounds &b : test::kPrecisionBounds) {
        if (b.precision == Precision::Float32)
            continue;
        const BridgeTowerPipeline &other = *byPrecision.at(QLatin1String(b.name));
        auto a = f32.embedTexts(texts), c = other.embedTexts(texts);
        QVERIFY(a.ok() && c.ok());
        const int64_t dim = a->dim(1);
        double worstText = 1, worstImage = 1;
        for (qsizetype j = 0; j < texts.size(); ++j)
            worstText = std::min(worstText, cosine(a->ptr() + j * dim, c->ptr() + j * dim, dim));
        for (const auto &[id, path] : m_lib.photos->paths) {
            auto pixels = f32.loadPixels(path);
            QVERIFY(pixels.ok());
            auto x = f32.embedImages(*pixels), y = other.embedImages(*pixels);
            QVERIFY(x.ok() && y.ok());
            worstImage = std::min(worstImage, cosine(x->ptr(), y->ptr(), dim));
        }
        qInfo("cosine(%s, f32) on the e2e fixture: captions >= %.6f, photos >= %.6f", b.name,
              worstText, worstImage);
        QVERIFY(worstText >= test::minCosineOnThisCpu(b));
        QVERIFY(worstImage >= test::minCosineOnThisCpu(b));
    }
}

// A repeated caption query is answered from the caption cache: the text tower runs once.
void TestSearchEngine::repeatedCaptionSkipsTheTextTower() {
    auto loaded = BridgeTowerPipeline::load(m_lib.dir); // its own, empty caption cache
    QVERIFY(loaded.ok());
    std::shared_ptr<const BridgeTowerPipeline> pipeline = *loaded;
    SearchEngine e(pipeline, m_lib.index, m_lib.photos, {});
    SearchOptions options;
    options.rerankDepth = 0; // first the search alone; the rerank below
    const QString text = QStringLiteral("a cat sitting on a couch");
    const qint64 before = pipeline->model().towerRuns().text;
    auto first = e.searchText(text, options);
    QVERIFY(first.ok());
    QCOMPARE(pipeline->model().towerRuns().text, before + 1);
    auto second = e.searchText(text, options);
    QVERIFY(second.ok());
    QCOMPARE(pipeline->model().towerRuns().text, before + 1);
    QCOMPARE(second->size(), first->size());
    for (size_t i = 0; i < first->size(); ++i) {
        QCOMPARE((*second)[i].photoId, (*first)[i].photoId);
        QCOMPARE((*second)[i].similarity, (*first)[i].similarity);
    }
    QCOMPARE(pipeline->captionCache().stats().hits, qint64(1));
    // With the ITM rerank the same caption still needs no text tower: the cached caption carries
    // the rerank's text side too.
    SearchOptions withRerank;
    withRerank.rerankDepth = 3;
    auto reranked = e.searchText(text, withRerank);
    QVERIFY2(reranked.ok(), reranked.ok() ? "" : qPrintable(reranked.error().message));
    QCOMPARE(pipeline->model().towerRuns().text, before + 1);
    // Another caption runs it.
    QVERIFY(e.searchText(QStringLiteral("a cup of coffee"), options).ok());
    QCOMPARE(pipeline->model().towerRuns().text, before + 2);
    // A batch with one cached and one new caption runs the text tower for the new one only, and
    // returns the same rows as embedding each alone.
    auto batch = pipeline->embedTexts({text, QStringLiteral("two dogs")});
    QVERIFY(batch.ok());
    QCOMPARE(pipeline->model().towerRuns().text, before + 3);
    auto alone = BridgeTowerPipeline::load(m_lib.dir);
    QVERIFY(alone.ok());
    auto reference = (*alone)->embedTexts({text});
    QVERIFY(reference.ok());
    const int64_t dim = reference->dim(1);
    QCOMPARE(std::vector<float>(batch->data.begin(), batch->data.begin() + dim), reference->data);
}

void TestSearchEngine::captionCacheKeepsModelsAndPrecisionsApart() {
    auto shared = std::make_shared<CaptionCache>();
    BridgeTowerPipeline::Options f32Options, bf16Options;
    f32Options.captionCache = bf16Options.captionCache = shared;
    bf16Options.precision = Precision::BFloat16;
    // Another model: the same files but config.json, so another model key.
    QTemporaryDir other;
    for (const QString &name : QDir(m_lib.dir).entryList(QDir::Files))
        QVERIFY(QFile::copy(QDir(m_lib.dir).filePath(name), other.filePath(name)));
    QFile config(other.filePath(QStringLiteral("config.json")));
    QVERIFY(config.open(QIODevice::Append));
    config.write("\n");
    config.close();
    auto a = BridgeTowerPipeline::load(m_lib.dir, f32Options);
    auto b = BridgeTowerPipeline::load(m_lib.dir, bf16Options);
    auto c = BridgeTowerPipeline::load(other.path(), f32Options);
    QVERIFY(a.ok() && b.ok() && c.ok());
    QVERIFY((*c)->modelKey() != (*a)->modelKey());

    const QString text = QStringLiteral("two cats asleep on a couch");
    std::vector<FloatTensor> first;
    for (const auto &p : {*a, *b, *c}) {
        const qint64 before = p->model().towerRuns().text;
        auto e = p->embedTexts({text});
        QVERIFY(e.ok());
        QCOMPARE(p->model().towerRuns().text, before + 1); // not served from another's entry
        first.push_back(*e);
    }
    QVERIFY(first[1].data != first[0].data); // bfloat16 differs in the last digits
    QCOMPARE(shared->stats().entries, 3);
    int k = 0;
    for (const auto &p : {*a, *b, *c}) {
        const qint64 before = p->model().towerRuns().text;
        auto e = p->embedTexts({text});
        QVERIFY(e.ok());
        QCOMPARE(p->model().towerRuns().text, before); // each finds its own
        QCOMPARE(e->data, first[size_t(k++)].data);
    }
}

void TestSearchEngine::captionCacheIsBounded() {
    const QString key = m_lib.pipeline->modelKey();
    auto prepare = [&](const QString &text) {
        auto p = m_lib.pipeline->model().prepareText(m_lib.pipeline->tokenize({text}));
        return p ? *p : PreparedText();
    };
    const PreparedText a = prepare(QStringLiteral("a")), b = prepare(QStringLiteral("b")),
                       c = prepare(QStringLiteral("c"));
    QVERIFY(!a.isNull() && !b.isNull() && !c.isNull());
    QVERIFY(a.byteSize() > 0);

    CaptionCache cache(2);
    cache.put(key, Precision::Float32, QStringLiteral("a"), a);
    cache.put(key, Precision::Float32, QStringLiteral("b"), b);
    QVERIFY(cache.get(key, Precision::Float32, QStringLiteral("a"))); // "a" is now the most recent
    cache.put(key, Precision::Float32, QStringLiteral("c"), c);       // evicts "b"
    QCOMPARE(cache.stats().entries, 2);
    QVERIFY(!cache.get(key, Precision::Float32, QStringLiteral("b")));
    QCOMPARE(cache.get(key, Precision::Float32, QStringLiteral("a"))->embedding().data,
             a.embedding().data);
    QCOMPARE(cache.get(key, Precision::Float32, QStringLiteral("c"))->embedding().data,
             c.embedding().data);
    QCOMPARE(cache.stats().bytes, a.byteSize() + c.byteSize());
    // A pasted page is not kept.
    const QString page(CaptionCache::kMaxTextLength + 1, QLatin1Char('x'));
    cache.put(key, Precision::Float32, page, a);
    QVERIFY(!cache.get(key, Precision::Float32, page));

    // The byte budget holds too: room for two of these captions, not three.
    CaptionCache small(10, a.byteSize() + b.byteSize() + a.byteSize() / 2);
    small.put(key, Precision::Float32, QStringLiteral("a"), a);
    small.put(key, Precision::Float32, QStringLiteral("b"), b);
    small.put(key, Precision::Float32, QStringLiteral("c"), c); // evicts "a", the least recent
    QCOMPARE(small.stats().entries, 2);
    QVERIFY(small.stats().bytes <= a.byteSize() + b.byteSize() + a.byteSize() / 2);
    QVERIFY(!small.get(key, Precision::Float32, QStringLiteral("a")));
    QVERIFY(small.get(key, Precision::Float32, QStringLiteral("c")));
}

QTEST_GUILESS_MAIN(TestSearchEngine)
#include "tst_searchengine.moc"
