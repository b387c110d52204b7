// Near-duplicate grouping (core/search/duplicates.h): groups form around a representative, largest
// first; chains of small edits do not merge; the whole path from a vector index.
#include "core/search/duplicates.h"

#include <QTest>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

using namespace ts;

using Pairs = std::vector<SimilarPair>;
using Groups = std::vector<std::vector<qint64>>;
Q_DECLARE_METATYPE(Pairs)
Q_DECLARE_METATYPE(Groups)

namespace {

Groups idsOf(const std::vector<DuplicateGroup> &groups) {
    Groups out;
    for (const DuplicateGroup &g : groups)
        out.push_back(g.ids);
    return out;
}

QByteArray show(const Groups &groups) {
    QStringList parts;
    for (const auto &g : groups) {
        QStringList ids;
        for (qint64 id : g)
            ids << QString::number(id);
        parts << QLatin1Char('[') + ids.join(QLatin1Char(',')) + QLatin1Char(']');
    }
    return parts.join(QLatin1Char(' ')).toUtf8();
}

} // namespace

class TstDuplicates : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void groupsFormAroundARepresentative_data();
    void groupsFormAroundARepresentative();
    void everyMemberIsWithinTheThresholdOfItsRepresentative();
    void findsGroupsInAVectorIndex();
};

void TstDuplicates::groupsFormAroundARepresentative_data() {
    QTest::addColumn<Pairs>("pairs");
    QTest::addColumn<Groups>("expected");
    QTest::newRow("no pairs") << Pairs{} << Groups{};
    QTest::newRow("one pair") << Pairs{{4, 9, 0.97f}} << Groups{{4, 9}};
    // Ties (same count, same sum) go to the smaller id.
    QTest::newRow("three copies of one photo, members by similarity")
        << Pairs{{1, 2, 0.96f}, {1, 3, 0.99f}, {2, 3, 0.96f}} << Groups{{1, 3, 2}};
    QTest::newRow("the photo similar to most is the representative")
        << Pairs{{1, 5, 0.96f}, {2, 5, 0.97f}, {3, 5, 0.98f}} << Groups{{5, 3, 2, 1}};
    QTest::newRow("largest group first, then the most similar")
        << Pairs{{10, 11, 0.96f}, {20, 21, 0.99f}, {30, 31, 0.97f}, {30, 32, 0.97f}}
        << Groups{{30, 31, 32}, {20, 21}, {10, 11}};
    // A~B~C~D: B (smaller id of the two with two neighbours) takes A and C; D is similar only to
    // C, which is in B's group but not similar enough to B: it is left out, not chained in.
    QTest::newRow("a chain of small edits does not merge end to end")
        << Pairs{{1, 2, 0.95f}, {2, 3, 0.96f}, {3, 4, 0.95f}} << Groups{{2, 3, 1}};
    QTest::newRow("two groups joined by a pair of their members stay two")
        << Pairs{{1, 2, 0.99f}, {1, 3, 0.99f}, {1, 4, 0.99f}, {5, 6, 0.99f},
                 {5, 7, 0.99f}, {5, 8, 0.99f}, {4, 8, 0.95f}}
        << Groups{{1, 2, 3, 4}, {5, 6, 7, 8}};
}

void TstDuplicates::groupsFormAroundARepresentative() {
    QFETCH(Pairs, pairs);
    QFETCH(Groups, expected);
    const Groups got = idsOf(groupSimilarPairs(pairs));
    QVERIFY2(got == expected, show(got) + " instead of " + show(expected));
    // The order of the pairs does not matter.
    std::reverse(pairs.begin(), pairs.end());
    QCOMPARE(idsOf(groupSimilarPairs(pairs)), expected);
}

// On random pair sets: every member has a pair with its representative, and that pair's score.
void TstDuplicates::everyMemberIsWithinTheThresholdOfItsRepresentative() {
    std::mt19937 rng(7);
    for (int round = 0; round < 50; ++round) {
        Pairs pairs;
        std::map<std::pair<qint64, qint64>, float> score;
        for (int i = 0; i < 60; ++i) {
            qint64 a = qint64(rng() % 30), b = qint64(rng() % 30);
            if (a == b || score.count({std::min(a, b), std::max(a, b)}))
                continue;
            const float s = 0.9f + float(rng() % 100) / 1000.0f;
            score[{std::min(a, b), std::max(a, b)}] = s;
            pairs.push_back({std::min(a, b), std::max(a, b), s});
        }
        std::set<qint64> seen;
        for (const DuplicateGroup &g : groupSimilarPairs(pairs)) {
            QVERIFY(g.ids.size() >= 2);
            QCOMPARE(g.ids.size(), g.scores.size());
            QCOMPARE(g.scores.front(), 1.0f);
            for (size_t i = 0; i < g.ids.size(); ++i) {
                QVERIFY2(seen.insert(g.ids[i]).second, "a photo is in two groups");
                if (i == 0)
                    continue;
                const auto it =
                    score.find({std::min(g.ids[0], g.ids[i]), std::max(g.ids[0], g.ids[i])});
                QVERIFY(it != score.end());
                QCOMPARE(g.scores[i], it->second);
                if (i > 1)
                    QVERIFY(g.scores[i] <= g.scores[i - 1]);
            }
        }
    }
}

// From vectors to groups: two photos with one copy and one with two, an unrelated one.
void TstDuplicates::findsGroupsInAVectorIndex() {
    VectorIndexOptions options;
    options.dimension = 4;
    auto index = VectorIndex::create(options, QStringLiteral("test"));
    QVERIFY(index.ok());
    // Cosines follow from the vectors: (1, 0.1) vs (1, 0) is 1/sqrt(1.01) = 0.995.
    const std::vector<qint64> ids{1, 2, 3, 4, 5, 6, 7};
    const std::vector<float> vectors{1,    0,    0,    0,     1, 0.1f, 0, 0, // 1 and its copy 2
                                     0,    0,    1,    0,     0, 0,    1, 0.1f,
                                     0,    0,    1,    -0.1f, // 3 and its copies 4, 5 (4~5 at 0.98)
                                     0,    1,    0,    0,     // 6 alone
                                     0.5f, 0.5f, 0.5f, 0.5f}; // 7 alone (cosine 0.5 to the others)
    QVERIFY(index->add(ids, vectors).ok());
    auto groups = findDuplicateGroups(*index, 0.95f);
    QVERIFY(groups.ok());
    QCOMPARE(idsOf(*groups), (Groups{{3, 4, 5}, {1, 2}}));
    QVERIFY(std::abs(double((*groups)[1].scores[1]) - 1.0 / std::sqrt(1.01)) < 1e-6);
    // Above every copy's similarity, nothing is a duplicate.
    auto none = findDuplicateGroups(*index, 0.999f);
    QVERIFY(none.ok());
    QVERIFY(none->empty());
}

QTEST_GUILESS_MAIN(TstDuplicates)
#include "tst_duplicates.moc"
