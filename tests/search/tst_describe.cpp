// Describe (core/search/photodescription.h) on the end-to-end fixture: each template's proposals
// are the reference fill-mask top-10 of that caption and photo, the tags follow the documented
// merge rule on the reference's own values, a described library photo is described again without
// the vision tower, and unusable templates fail before any vision work with the template named.
#include "core/index/vectorindex.h"
#include "core/search/photodescription.h"
#include "core/search/searchengine.h"
#include "e2elibrary.h"
#include "mapphotosource.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace ts;
using nlohmann::json;

namespace {

QString qs(const json &j) {
    return QString::fromStdString(j.get<std::string>());
}

// A reference fill-mask case as the pipeline returns it (only what the merge reads).
FillMaskResult referenceFill(const json &c) {
    FillMaskResult fill;
    for (const json &m : c["masks"]) {
        MaskPrediction p;
        p.position = m["position"].get<int>();
        p.ids = m["top_ids"].get<std::vector<int64_t>>();
        for (const json &w : m["top_words"])
            p.words << qs(w);
        p.probabilities = m["top_probabilities"].get<std::vector<float>>();
        fill.masks.push_back(std::move(p));
    }
    return fill;
}

} // namespace

class TestDescribe : public QObject {
    Q_OBJECT

    test::E2eLibrary m_lib; // the fixture's reference outputs, pipeline, index and photos
    QTemporaryDir m_tmp;

    static qint64 idOf(int imageIndex) { return test::E2eLibrary::idOf(imageIndex); }
    SearchEngine engine(std::shared_ptr<FusionCache> cache = {}) const {
        return SearchEngine(m_lib.pipeline, m_lib.index, m_lib.photos, std::move(cache));
    }
    // The reference's probability of `tag` summed over the blanks of `cases`, divided by their
    // count.
    double referenceScore(const QList<int> &cases, const QString &tag) const {
        double sum = 0;
        int blanks = 0;
        for (int c : cases)
            for (const json &m : m_lib.expected["fill_mask"][size_t(c)]["masks"]) {
                ++blanks;
                for (size_t k = 0; k < m["top_words"].size(); ++k)
                    if (qs(m["top_words"][k]).trimmed().toLower() == tag)
                        sum += m["top_probabilities"][k].get<double>();
            }
        return sum / blanks;
    }

private Q_SLOTS:
    void initTestCase();
    void tagWordKeepsWholeWordsOnly_data();
    void tagWordKeepsWholeWordsOnly();
    void tagsMergeTheReferenceProposals_data();
    void tagsMergeTheReferenceProposals();
    void eachTemplateIsFilledLikeTheReference_data();
    void eachTemplateIsFilledLikeTheReference();
    void describingAgainRunsNoVisionTower();
    void photoOutsideTheLibraryRunsTheVisionTowerOnce();
    void unusableTemplatesFailBeforeTheVisionTower_data();
    void unusableTemplatesFailBeforeTheVisionTower();
    void missingPhotoIsNamed();
};

void TestDescribe::initTestCase() {
    const Status loaded = m_lib.load();
    QVERIFY2(loaded.ok(), loaded.ok() ? "" : qPrintable(loaded.error().message));
    for (int i = 0; i < m_lib.imageCount(); ++i) {
        const Status added = m_lib.addPhoto(
            i, m_tmp.filePath(QFileInfo(m_lib.imageFile(i)).fileName()), /*embed=*/false);
        QVERIFY2(added.ok(), added.ok() ? "" : qPrintable(added.error().message));
    }
}

void TestDescribe::tagWordKeepsWholeWordsOnly_data() {
    QTest::addColumn<QString>("proposal");
    QTest::addColumn<QString>("tag");
    QTest::newRow("word") << QStringLiteral(" wine") << QStringLiteral("wine");
    QTest::newRow("capitalised word, lower-cased")
        << QStringLiteral(" Nepal") << QStringLiteral("nepal");
    QTest::newRow("piece continuing the word before") << QStringLiteral("eeds") << QString();
    QTest::newRow("capitalised piece") << QStringLiteral("Easy") << QString();
    QTest::newRow("stop word in capitals") << QStringLiteral(" WHERE") << QString();
    QTest::newRow("stop word") << QStringLiteral(" the") << QString();
    QTest::newRow("punctuation") << QStringLiteral(" \"(") << QString();
    QTest::newRow("symbol") << QStringLiteral(" \u00a5") << QString();
    QTest::newRow("digits") << QStringLiteral(" 905") << QString();
    QTest::newRow("word with a digit") << QStringLiteral(" mp3") << QString();
    QTest::newRow("one letter") << QStringLiteral(" x") << QString();
    QTest::newRow("hyphen between letters") << QStringLiteral(" x-ray") << QStringLiteral("x-ray");
    QTest::newRow("apostrophe between letters")
        << QStringLiteral(" o'clock") << QStringLiteral("o'clock");
    QTest::newRow("leading hyphen") << QStringLiteral(" -ray") << QString();
    QTest::newRow("trailing apostrophe") << QStringLiteral(" dogs'") << QString();
    QTest::newRow("zero-width space") << QStringLiteral(" cat\u200b") << QString();
    QTest::newRow("accented letters")
        << QStringLiteral(" Caf\u00e9") << QStringLiteral("caf\u00e9");
}

void TestDescribe::tagWordKeepsWholeWordsOnly() {
    QFETCH(QString, proposal);
    QFETCH(QString, tag);
    QCOMPARE(describeTagWord(proposal), tag);
}

void TestDescribe::tagsMergeTheReferenceProposals_data() {
    QTest::addColumn<QList<int>>("cases"); // indices into expected.json's fill_mask
    QTest::addColumn<QStringList>(
        "tags"); // what the rule keeps, in the order of the reference scores
    // Words read off the reference top-10s by the rule, ordered by their reference probabilities.
    QTest::newRow("a <mask> sitting on a couch: pieces and digits dropped")
        << QList<int>{0}
        << QStringList{"required", "financial", "waterproof", "zucker", "consistently"};
    QTest::newRow("a cup of <mask> ...: the stop word 'others' dropped")
        << QList<int>{1} << QStringList{"required", "lost", "magn"};
    QTest::newRow("two blanks of one caption: 'wine' proposed at both comes first")
        << QList<int>{2} << QStringList{"wine",    "required", "determined", "lost",
                                        "signals", "dared",    "magn",       "king"};
    QTest::newRow("punctuation with a leading space dropped")
        << QList<int>{3} << QStringList{"lovers", "signals", "computational", "ned", "dwind"};
    QTest::newRow("symbol and capitalised stop word dropped")
        << QList<int>{4} << QStringList{"revelation", "acrylic", "nepal"};
    QTest::newRow("two captions of one photo merged")
        << QList<int>{0, 4} << QStringList{"required",   "financial", "waterproof",   "zucker",
                                           "revelation", "acrylic",   "consistently", "nepal"};
}

void TestDescribe::tagsMergeTheReferenceProposals() {
    QFETCH(QList<int>, cases);
    QFETCH(QStringList, tags);
    std::vector<FillMaskResult> fills;
    for (int c : cases)
        fills.push_back(referenceFill(m_lib.expected["fill_mask"][size_t(c)]));
    const std::vector<DescribeTag> merged = mergeDescribeTags(fills, 100);
    QStringList words;
    for (const DescribeTag &t : merged)
        words << t.word;
    QCOMPARE(words, tags);
    for (const DescribeTag &t : merged)
        QVERIFY2(std::abs(t.score - referenceScore(cases, t.word)) <= 1e-9, qPrintable(t.word));
    // maxTags keeps the best.
    const std::vector<DescribeTag> best = mergeDescribeTags(fills, 2);
    QCOMPARE(best.size(), size_t(2));
    QCOMPARE(best[0], merged[0]);
    QCOMPARE(best[1], merged[1]);
}

void TestDescribe::eachTemplateIsFilledLikeTheReference_data() {
    QTest::addColumn<int>("caseIndex");
    for (size_t i = 0; i < m_lib.expected["fill_mask"].size(); ++i) {
        const QString text = qs(m_lib.expected["fill_mask"][i]["text"]);
        if (!text.startsWith(QLatin1String("<mask>"))) // Describe refuses those (see the rule)
            QTest::newRow(qPrintable(text)) << int(i);
    }
}

// Describe with a reference caption as its template gives the reference's top-10 for it (words,
// ids, probabilities), and tags that are the merge rule applied to those proposals.
void TestDescribe::eachTemplateIsFilledLikeTheReference() {
    QFETCH(int, caseIndex);
    const json &want = m_lib.expected["fill_mask"][size_t(caseIndex)];
    DescribeOptions options;
    options.templates = {qs(want["text"])};
    options.topK = int(want["masks"][0]["top_ids"].size());
    options.maxTags = 100;
    auto described =
        engine().describe(m_lib.photos->paths[idOf(want["image"].get<int>())], options);
    QVERIFY2(described.ok(), described.ok() ? "" : qPrintable(described.error().message));
    QCOMPARE(described->templates, options.templates);
    QCOMPARE(described->fills.size(), size_t(1));
    const FillMaskResult &fill = described->fills[0];
    QCOMPARE(fill.masks.size(), want["masks"].size());
    for (size_t m = 0; m < fill.masks.size(); ++m) {
        const json &wm = want["masks"][m];
        QCOMPARE(fill.masks[m].position, wm["position"].get<int>());
        QCOMPARE(fill.masks[m].ids, wm["top_ids"].get<std::vector<int64_t>>());
        for (size_t k = 0; k < fill.masks[m].ids.size(); ++k) {
            QCOMPARE(fill.masks[m].words[qsizetype(k)], qs(wm["top_words"][k]));
            const double p = wm["top_probabilities"][k].get<double>();
            QVERIFY(std::abs(fill.masks[m].probabilities[k] - p) <= 1e-3 * p); // the fixture's bar
        }
    }
    const std::vector<DescribeTag> fromReference = mergeDescribeTags({referenceFill(want)}, 100);
    QCOMPARE(described->tags.size(), fromReference.size());
    for (size_t t = 0; t < fromReference.size(); ++t) {
        QCOMPARE(described->tags[t].word, fromReference[t].word);
        QVERIFY(std::abs(described->tags[t].score - fromReference[t].score) <=
                1e-3 * fromReference[t].score);
    }
}

void TestDescribe::describingAgainRunsNoVisionTower() {
    auto cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{});
    const QString photo = m_lib.photos->paths[idOf(0)];
    const DescribeOptions options; // the default templates
    QCOMPARE(options.templates.size(), 2);
    const BridgeTowerModel::TowerRuns start = m_lib.pipeline->model().towerRuns();
    auto first = engine(cache).describe(photo, options);
    QVERIFY2(first.ok(), first.ok() ? "" : qPrintable(first.error().message));
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision - start.vision,
             qint64(1)); // once for both templates
    QCOMPARE(cache->stats().misses, qint64(1));
    QVERIFY(!first->tags.empty());
    QVERIFY(int(first->tags.size()) <= options.maxTags);
    // "a <mask> in the <mask>.": both blanks from one pass.
    QCOMPARE(first->fills.size(), size_t(2));
    QCOMPARE(first->fills[0].masks.size(), size_t(1));
    QCOMPARE(first->fills[1].masks.size(), size_t(2));
    for (const FillMaskResult &fill : first->fills)
        for (const MaskPrediction &m : fill.masks)
            QCOMPARE(int(m.ids.size()), options.topK);

    const BridgeTowerModel::TowerRuns warm = m_lib.pipeline->model().towerRuns();
    auto second = engine(cache).describe(photo, options);
    QVERIFY(second.ok());
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision, warm.vision);
    QCOMPARE(cache->stats().memoryHits, qint64(1));
    QCOMPARE(second->tags, first->tags); // float32 in memory: the same numbers

    // And the same as each template filled from the pixels on its own.
    auto pixels = m_lib.pipeline->loadPixels(photo);
    QVERIFY(pixels.ok());
    for (qsizetype t = 0; t < options.templates.size(); ++t) {
        auto alone = m_lib.pipeline->fillMask(*pixels, options.templates[t], options.topK);
        QVERIFY(alone.ok());
        for (size_t m = 0; m < alone->masks.size(); ++m) {
            QCOMPARE(second->fills[size_t(t)].masks[m].ids, alone->masks[m].ids);
            QCOMPARE(second->fills[size_t(t)].masks[m].probabilities,
                     alone->masks[m].probabilities);
        }
    }
    QCOMPARE(second->tags, mergeDescribeTags(second->fills, options.maxTags));
}

void TestDescribe::photoOutsideTheLibraryRunsTheVisionTowerOnce() {
    QTemporaryDir tmp;
    const QString outside = tmp.filePath(QStringLiteral("outside.png"));
    QVERIFY(QFile::copy(m_lib.photos->paths[idOf(2)], outside));
    auto cache = std::make_shared<FusionCache>(m_lib.pipeline->modelKey(), FusionCache::Options{});
    const BridgeTowerModel::TowerRuns start = m_lib.pipeline->model().towerRuns();
    auto described = engine(cache).describe(outside);
    QVERIFY2(described.ok(), described.ok() ? "" : qPrintable(described.error().message));
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision - start.vision, qint64(1));
    QCOMPARE(cache->stats().misses, qint64(0)); // not a library photo: the cache is left alone
    auto inLibrary = engine(cache).describe(m_lib.photos->paths[idOf(2)]);
    QVERIFY(inLibrary.ok());
    QCOMPARE(described->tags, inLibrary->tags);
}

void TestDescribe::unusableTemplatesFailBeforeTheVisionTower_data() {
    QTest::addColumn<QStringList>("templates");
    QTest::addColumn<QString>("named"); // what the message must contain
    QTest::newRow("no blank") << QStringList{QStringLiteral("a photo of a cat.")}
                              << QStringLiteral("a photo of a cat.");
    QTest::newRow("starts with a blank") << QStringList{QStringLiteral("<mask> on a table.")}
                                         << QStringLiteral("<mask> on a table.");
    QString nine = QStringLiteral("a");
    for (int i = 0; i < 9; ++i)
        nine += QStringLiteral(" <mask>");
    QTest::newRow("too many blanks, after a good one")
        << QStringList{QStringLiteral("a photo of a <mask>."), nine} << QStringLiteral("at most 8");
    QTest::newRow("no template") << QStringList{} << QStringLiteral("at least one");
}

void TestDescribe::unusableTemplatesFailBeforeTheVisionTower() {
    QFETCH(QStringList, templates);
    QFETCH(QString, named);
    DescribeOptions options;
    options.templates = templates;
    QTemporaryDir tmp;
    const QString outside = tmp.filePath(QStringLiteral("outside.png"));
    QVERIFY(QFile::copy(m_lib.photos->paths[idOf(1)], outside));
    const BridgeTowerModel::TowerRuns start = m_lib.pipeline->model().towerRuns();
    for (const QString &photo : {m_lib.photos->paths[idOf(1)], outside}) {
        auto described = engine().describe(photo, options);
        QVERIFY(!described.ok());
        QCOMPARE(described.error().code, Error::Code::InvalidArgument);
        QVERIFY2(described.error().message.contains(named), qPrintable(described.error().message));
    }
    QCOMPARE(m_lib.pipeline->model().towerRuns().vision, start.vision);
    QCOMPARE(m_lib.pipeline->model().towerRuns().text, start.text);
}

void TestDescribe::missingPhotoIsNamed() {
    const QString gone = m_tmp.filePath(QStringLiteral("never-there.jpg"));
    auto described = engine().describe(gone);
    QVERIFY(!described.ok());
    QVERIFY2(described.error().message.contains(QStringLiteral("never-there.jpg")),
             qPrintable(described.error().message));
}

QTEST_GUILESS_MAIN(TestDescribe)
#include "tst_describe.moc"
