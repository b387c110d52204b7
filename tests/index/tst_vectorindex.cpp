#include "core/index/indexfileformat.h"
#include "core/index/vectorindex.h"
#include "core/search/duplicates.h" // kDuplicateScanNprobe (a constant; nothing linked)
#include "olderindexfile.h"
#include "syntheticvectors.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <thread>

using namespace ts;

namespace {

constexpr int kDim = 512;
// Cone data where main's fixed nprobe falls short: enough vectors per cell that a query's
// neighbours spread over many cells (see tunedNprobeReachesTargetRecallOnConeData).
constexpr int kConeVectors = 40'000;
constexpr int kConeNlist = 1024;
const QString kModel = QStringLiteral("bridgetower-test@1");

VectorIndex makeIndex(qint64 threshold = 50'000, int dim = kDim, const QString &model = kModel) {
    VectorIndexOptions options;
    options.dimension = dim;
    options.approximateThreshold = threshold;
    auto index = VectorIndex::create(options, model);
    if (!index)
        qFatal("create failed: %s", qPrintable(index.error().message));
    return std::move(index).value();
}

std::vector<qint64> idsFrom(qint64 first, qint64 n) {
    std::vector<qint64> ids(static_cast<size_t>(n));
    std::iota(ids.begin(), ids.end(), first);
    return ids;
}

std::vector<qint64> hitIds(const std::vector<SearchHit> &hits) {
    std::vector<qint64> out;
    for (const SearchHit &h : hits)
        out.push_back(h.id);
    return out;
}

// Ids of brute-force top-k over `base` whose row r has id ids[r].
std::vector<qint64> exactIds(const std::vector<float> &base, const std::vector<qint64> &ids,
                             const float *query, int k) {
    std::vector<qint64> out;
    for (qint64 row : test::bruteForceTopK(base, kDim, query, k))
        out.push_back(ids[size_t(row)]);
    return out;
}

// The error message of a failed result, for QVERIFY2 (which evaluates its message eagerly).
template <typename R> QByteArray why(const R &result) {
    return result.ok() ? QByteArray() : result.error().message.toUtf8();
}

QByteArray readAll(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeAll(const QString &path, const QByteArray &data) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(f.write(data), qint64(data.size()));
}

// Little-endian fields of FAISS's serialisation, to craft payloads the way an attacker would.
template <typename T> QByteArray le(T value) {
    QByteArray out(int(sizeof(T)), Qt::Uninitialized);
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

QByteArray fourcc(const char (&code)[5]) {
    return QByteArray(code, 4);
}

// FAISS's Index header: d, ntotal, two unused words, is_trained, metric (0 = inner product).
QByteArray faissHeader(qint32 d, qint64 ntotal) {
    return le<qint32>(d) + le<qint64>(ntotal) + le<qint64>(1 << 20) + le<qint64>(1 << 20) +
           QByteArray(1, '\1') + le<qint32>(0);
}

// Wraps `payload` in a valid TowerSearch container (magic, checksums, key, dimension, count):
// what reaches FAISS is then only the payload, as with a file crafted by someone who read the
// source.
// `tuning` (optional): the saved header whose tuning fields (nprobe, flags, sizes) to keep; else an
// untuned index (an IVF one trained at its size).
QByteArray container(const QByteArray &payload, indexfile::Kind kind, qint64 count,
                     quint64 fingerprint = 0, const indexfile::Header *tuning = nullptr) {
    indexfile::Header header;
    if (tuning)
        header = *tuning;
    else if (kind == indexfile::Kind::Ivf)
        header.trainedAt = std::max<qint64>(1, count);
    header.dimension = quint32(kDim);
    header.kind = kind;
    header.modelKey = kModel.toUtf8();
    header.count = count;
    header.fingerprint = fingerprint;
    header.payloadSize = quint64(payload.size());
    indexfile::StreamHash hash;
    hash.update(payload.constData(), size_t(payload.size()));
    header.payloadHash = hash.finish();
    return indexfile::encodeHeader(header) + payload;
}

// The header and payload of a saved file.
struct SavedFile {
    indexfile::Header header;
    QByteArray payload;
};

SavedFile splitSaved(const QByteArray &file) {
    SavedFile out;
    const auto decoded =
        indexfile::decodeHeader(reinterpret_cast<const uchar *>(file.constData()), file.size());
    if (!decoded)
        qFatal("a saved index does not decode: %s", qPrintable(decoded.error().message));
    out.header = decoded->header;
    out.payload = file.mid(decoded->bytes);
    return out;
}

// An IVF index of 3000 vectors saved by VectorIndex: its payload and header.
SavedFile savedIvf(const QString &dir) {
    test::ClusteredVectors gen(kDim, 30, 13);
    VectorIndex index = makeIndex(1000);
    if (!index.add(idsFrom(1, 3000), gen.sample(3000)).ok() || !index.isApproximate())
        qFatal("cannot build the IVF index");
    const QString path = dir + QStringLiteral("/ivf.faiss");
    if (!index.save(path).ok())
        qFatal("cannot save the IVF index");
    return splitSaved(readAll(path));
}

// Where the inverted lists start in an IVF payload: "ilar", nlist, code size, list type, sizes.
qsizetype invertedListsAt(const QByteArray &payload) {
    return payload.indexOf(QByteArray("ilar"));
}

// Rewrites the "full" list-size table of an IVF payload as FAISS's sparse form ("sprs": pairs of
// list number and size for the non-empty lists), with `shift` added to the last list number.
QByteArray toSparseLists(const QByteArray &payload, quint64 shift) {
    const qsizetype at = invertedListsAt(payload);
    if (at < 0 || payload.mid(at + 20, 4) != "full")
        qFatal("no full inverted lists in the payload");
    quint64 nlist = 0;
    std::memcpy(&nlist, payload.constData() + at + 24, 8);
    std::vector<quint64> pairs;
    for (quint64 i = 0; i < nlist; ++i) {
        quint64 n = 0;
        std::memcpy(&n, payload.constData() + at + 32 + 8 * i, 8);
        if (n > 0) {
            pairs.push_back(i);
            pairs.push_back(n);
        }
    }
    pairs[pairs.size() - 2] += shift;
    QByteArray table = le<quint64>(pairs.size());
    for (quint64 v : pairs)
        table += le<quint64>(v);
    return payload.left(at + 20) + "sprs" + table + payload.mid(at + 32 + qsizetype(8 * nlist));
}
} // namespace

class TstVectorIndex : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void searchOrderMatchesBruteForce_data();
    void searchOrderMatchesBruteForce();
    void scoresAreCosineOfNormalisedVectors();
    void upsertReplacesVector();
    void removeDropsIds_data();
    void removeDropsIds();
    void excludeIdsAreSkipped();
    void emptyIndexReturnsNoHits();
    void kLargerThanSizeReturnsAll();
    void filteredSearchFindsTheBestWithinTheSubset_data();
    void filteredSearchFindsTheBestWithinTheSubset();
    void filteredSearchIgnoresIdsNotInTheIndex();
    void filteredSearchWithEmptySubsetReturnsNoHits();
    void rejectsBadInput_data();
    void rejectsBadInput();
    void rejectsBadQuery_data();
    void rejectsBadQuery();
    void switchesToApproximateAndBack();
    void fingerprintTracksIdSet();
    void fingerprintCoversWhatEachVectorBelongsTo_data();
    void fingerprintCoversWhatEachVectorBelongsTo();
    void saveLoadRoundTripGivesIdenticalResults_data();
    void saveLoadRoundTripGivesIdenticalResults();
    void loadRejectsBadFiles_data();
    void loadRejectsBadFiles();
    void loadRejectsCraftedPayloads_data();
    void loadRejectsCraftedPayloads();
    void loadAcceptsSparseInvertedLists();
    void failedSaveLeavesOldFileIntact();
    void approximateRecallAtLeast98Percent();
    void tunedNprobeReachesTargetRecallOnConeData();
    void tunedNprobeSurvivesSaveAndLoad();
    void fixedNprobeTurnsTuningOff();
    void retunesOnceGrownByTheFactor();
    void staysExactWhereAFlatScanIsCheaper();
    void loadRefusesHostileTuning_data();
    void loadRefusesHostileTuning();
    void olderFormatVersionIsRefusedAsUnsupported();
    void concurrentSearchesDuringAdds();
    void similarPairsMatchBruteForce_data();
    void similarPairsMatchBruteForce();
    void similarPairsCanBeCancelled();
    void similarPairsRejectsBadThreshold_data();
    void similarPairsRejectsBadThreshold();
};

void TstVectorIndex::searchOrderMatchesBruteForce_data() {
    QTest::addColumn<int>("count");
    QTest::addColumn<int>("k");
    QTest::newRow("1 vector, k=1") << 1 << 1;
    QTest::newRow("100 vectors, k=10") << 100 << 10;
    QTest::newRow("3000 vectors, k=50") << 3000 << 50;
}

void TstVectorIndex::searchOrderMatchesBruteForce() {
    QFETCH(int, count);
    QFETCH(int, k);
    test::ClusteredVectors gen(kDim, 20, 7);
    const std::vector<float> base = gen.sample(count);
    const std::vector<qint64> ids = idsFrom(5'000'000'000LL, count); // beyond 32 bits
    VectorIndex index = makeIndex();
    QVERIFY(index.add(ids, base).ok());
    QCOMPARE(index.size(), qint64(count));
    QVERIFY(!index.isApproximate());
    const std::vector<float> queries = gen.sample(5);
    for (int q = 0; q < 5; ++q) {
        const float *query = queries.data() + q * kDim;
        auto hits = index.search(query, k);
        QVERIFY2(hits.ok(), why(hits).constData());
        QCOMPARE(hitIds(hits.value()), exactIds(base, ids, query, k));
        for (size_t i = 1; i < hits->size(); ++i)
            QVERIFY((*hits)[i - 1].score >= (*hits)[i].score);
    }
}

void TstVectorIndex::scoresAreCosineOfNormalisedVectors() {
    // Stored vectors and the query are normalised: scaling either changes nothing.
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({1, 2}, {3, 0, 0, 0, /**/ 1, 1, 0, 0}).ok());
    const float query[4] = {10, 0, 0, 0};
    auto hits = index.search(query, 2);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(2));
    QCOMPARE((*hits)[0].id, qint64(1));
    QVERIFY(std::abs((*hits)[0].score - 1.0f) < 1e-6f);
    QCOMPARE((*hits)[1].id, qint64(2));
    QVERIFY(std::abs((*hits)[1].score - float(1.0 / std::sqrt(2.0))) < 1e-6f);
    const std::vector<float> stored = index.vector(1);
    QCOMPARE(stored, (std::vector<float>{1, 0, 0, 0}));
    QVERIFY(index.vector(99).empty());
}

void TstVectorIndex::upsertReplacesVector() {
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({1, 2, 3}, {1, 0, 0, 0, /**/ 0, 1, 0, 0, /**/ 0, 0, 1, 0}).ok());
    const quint64 before = index.idFingerprint();
    // id 2 now points where id 1 does; id 4 is new.
    QVERIFY(index.add({2, 4}, {1, 0.01f, 0, 0, /**/ 0, 0, 0, 1}).ok());
    QCOMPARE(index.size(), qint64(4));
    const float query[4] = {0, 1, 0, 0};
    auto hits = index.search(query, 1);
    QVERIFY(hits.ok());
    QCOMPARE((*hits)[0].id, qint64(2)); // with its new vector's score: the old vector is gone
    QVERIFY((*hits)[0].score < 0.02f);
    const float query1[4] = {1, 0, 0, 0};
    hits = index.search(query1, 2);
    QCOMPARE(hitIds(hits.value()), (std::vector<qint64>{1, 2}));
    QVERIFY(index.idFingerprint() != before);
    QCOMPARE(index.idFingerprint(), VectorIndex::fingerprintOf({4, 3, 2, 1}));
}

void TstVectorIndex::removeDropsIds_data() {
    QTest::addColumn<bool>("approximate");
    QTest::newRow("exact") << false;
    QTest::newRow("approximate (IVF)") << true;
}

void TstVectorIndex::removeDropsIds() {
    QFETCH(bool, approximate);
    const int n = 4000;
    test::ClusteredVectors gen(kDim, 30, 11);
    const std::vector<float> base = gen.sample(n);
    const std::vector<qint64> ids = idsFrom(1, n);
    VectorIndex index = makeIndex(approximate ? 1000 : 50'000);
    QVERIFY(index.add(ids, base).ok());
    QCOMPARE(index.isApproximate(), approximate);

    // Remove the current best 5 hits of a query (and an unknown id, which is ignored).
    const float *query = base.data(); // row 0 itself
    auto hits = index.search(query, 5);
    QVERIFY(hits.ok());
    std::vector<qint64> gone = hitIds(hits.value());
    QCOMPARE(gone.front(), qint64(1));
    gone.push_back(999'999);
    QVERIFY(index.remove(gone).ok());
    QCOMPARE(index.size(), qint64(n - 5));
    QCOMPARE(index.isApproximate(), approximate);
    for (size_t i = 0; i < 5; ++i)
        QVERIFY(!index.contains(gone[i]));
    hits = index.search(query, 20);
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(20));
    for (const SearchHit &h : hits.value())
        QVERIFY(std::find(gone.begin(), gone.end(), h.id) == gone.end());
    // Removed ids can come back.
    QVERIFY(index.add({1}, std::vector<float>(base.begin(), base.begin() + kDim)).ok());
    QCOMPARE(index.search(query, 1)->front().id, qint64(1));
}

void TstVectorIndex::excludeIdsAreSkipped() {
    const int n = 500;
    test::ClusteredVectors gen(kDim, 10, 3);
    const std::vector<float> base = gen.sample(n);
    const std::vector<qint64> ids = idsFrom(100, n);
    VectorIndex index = makeIndex();
    QVERIFY(index.add(ids, base).ok());
    const float *query = base.data() + 7 * kDim;
    const std::vector<qint64> top = hitIds(index.search(query, 15).value());
    // Exclude the first 5 hits plus ids that are not in the index.
    std::vector<qint64> exclude(top.begin(), top.begin() + 5);
    exclude.push_back(-1);
    exclude.push_back(1'000'000);
    auto hits = index.search(query, 10, exclude);
    QVERIFY(hits.ok());
    QCOMPARE(hitIds(hits.value()), std::vector<qint64>(top.begin() + 5, top.end()));
}

void TstVectorIndex::emptyIndexReturnsNoHits() {
    VectorIndex index = makeIndex();
    const std::vector<float> query(kDim, 0.5f);
    auto hits = index.search(query.data(), 10);
    QVERIFY(hits.ok());
    QVERIFY(hits->empty());
    QCOMPARE(index.size(), qint64(0));
    QCOMPARE(index.idFingerprint(), VectorIndex::fingerprintOf({}));
}

void TstVectorIndex::kLargerThanSizeReturnsAll() {
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({5, 6, 7}, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}).ok());
    const float query[4] = {1, 1, 1, 0};
    auto hits = index.search(query, 100, {6});
    QVERIFY(hits.ok());
    QCOMPARE(hits->size(), size_t(2));
}

void TstVectorIndex::rejectsBadInput_data() {
    QTest::addColumn<std::vector<qint64>>("ids");
    QTest::addColumn<std::vector<float>>("vectors");
    QTest::addColumn<QString>("mentions");
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    QTest::newRow("NaN") << std::vector<qint64>{1, 2}
                         << std::vector<float>{1, 0, 0, 0, 0, nan, 0, 0}
                         << QStringLiteral("id 2 contains NaN or infinity");
    QTest::newRow("infinity") << std::vector<qint64>{3} << std::vector<float>{inf, 0, 0, 0}
                              << QStringLiteral("NaN or infinity");
    QTest::newRow("zero vector") << std::vector<qint64>{4} << std::vector<float>{0, 0, 0, 0}
                                 << QStringLiteral("zero length");
    QTest::newRow("too few floats") << std::vector<qint64>{1, 2} << std::vector<float>{1, 0, 0, 0}
                                    << QStringLiteral("4 floats given for 2 ids of dimension 4");
    QTest::newRow("negative id") << std::vector<qint64>{-1} << std::vector<float>{1, 0, 0, 0}
                                 << QStringLiteral("id -1 is negative");
    QTest::newRow("duplicate id in batch")
        << std::vector<qint64>{9, 9} << std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0}
        << QStringLiteral("id 9 appears twice");
}

void TstVectorIndex::rejectsBadInput() {
    QFETCH(std::vector<qint64>, ids);
    QFETCH(std::vector<float>, vectors);
    QFETCH(QString, mentions);
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({100}, {0, 0, 0, 1}).ok());
    const Status st = index.add(ids, vectors);
    QVERIFY(!st.ok());
    QCOMPARE(st.error().code, Error::Code::InvalidArgument);
    QVERIFY2(st.error().message.contains(mentions), qPrintable(st.error().message));
    QCOMPARE(index.size(), qint64(1)); // nothing of the batch was added
}

void TstVectorIndex::rejectsBadQuery_data() {
    QTest::addColumn<std::vector<float>>("query");
    QTest::addColumn<int>("k");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("NaN query") << std::vector<float>{std::numeric_limits<float>::quiet_NaN(), 0, 0,
                                                     0}
                               << 5 << QStringLiteral("NaN");
    QTest::newRow("zero query") << std::vector<float>{0, 0, 0, 0} << 5
                                << QStringLiteral("zero length");
    QTest::newRow("k = 0") << std::vector<float>{1, 0, 0, 0} << 0
                           << QStringLiteral("k must be at least 1 (got 0)");
    QTest::newRow("k < 0") << std::vector<float>{1, 0, 0, 0} << -3 << QStringLiteral("got -3");
}

void TstVectorIndex::rejectsBadQuery() {
    QFETCH(std::vector<float>, query);
    QFETCH(int, k);
    QFETCH(QString, mentions);
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({1}, {1, 0, 0, 0}).ok());
    auto hits = index.search(query.data(), k);
    QVERIFY(!hits.ok());
    QCOMPARE(hits.error().code, Error::Code::InvalidArgument);
    QVERIFY2(hits.error().message.contains(mentions), qPrintable(hits.error().message));
}

void TstVectorIndex::switchesToApproximateAndBack() {
    test::ClusteredVectors gen(kDim, 20, 5);
    const std::vector<float> base = gen.sample(3000);
    VectorIndex index = makeIndex(2000);
    QVERIFY(
        index.add(idsFrom(0, 2000), std::vector<float>(base.begin(), base.begin() + 2000 * kDim))
            .ok());
    QVERIFY(!index.isApproximate());
    QVERIFY(
        index.add(idsFrom(2000, 1000), std::vector<float>(base.begin() + 2000 * kDim, base.end()))
            .ok());
    QVERIFY(index.isApproximate());
    QVERIFY(index.nlist() > 1);
    QCOMPARE(index.size(), qint64(3000));
    // Stays approximate down to half the threshold (hysteresis), then becomes exact again.
    QVERIFY(index.remove(idsFrom(0, 1900)).ok());
    QVERIFY(index.isApproximate());
    QVERIFY(index.remove(idsFrom(1900, 200)).ok());
    QVERIFY(!index.isApproximate());
    QCOMPARE(index.size(), qint64(900));
    QVERIFY(index.isInStepWith(idsFrom(2100, 900)));
    const float *query = base.data() + 2500 * kDim;
    QCOMPARE(index.search(query, 1)->front().id, qint64(2500));
}

void TstVectorIndex::fingerprintTracksIdSet() {
    VectorIndex index = makeIndex(50'000, 4);
    QVERIFY(index.add({1, 2, 3}, std::vector<float>(12, 1.0f)).ok());
    QVERIFY(index.isInStepWith({3, 1, 2}));
    QVERIFY(!index.isInStepWith({1, 2}));
    QVERIFY(!index.isInStepWith({1, 2, 4}));
    QVERIFY(index.remove({2}).ok());
    QVERIFY(index.isInStepWith({1, 3}));
    QCOMPARE(index.idFingerprint(), VectorIndex::fingerprintOf({3, 1}));
}

void TstVectorIndex::fingerprintCoversWhatEachVectorBelongsTo_data() {
    QTest::addColumn<bool>("approximate");
    QTest::newRow("exact") << false;
    QTest::newRow("approximate (IVF)") << true;
}

void TstVectorIndex::fingerprintCoversWhatEachVectorBelongsTo() {
    // Same ids but another owner (the photo's content changed, or two photos swapped names) is
    // out of step; the owners survive save and load, upserts and removals.
    QFETCH(bool, approximate);
    test::ClusteredVectors gen(kDim, 10, 3);
    const int n = approximate ? 1200 : 50;
    const std::vector<qint64> ids = idsFrom(1, n);
    std::vector<quint64> tags(ids.size());
    for (int i = 0; i < n; ++i)
        tags[size_t(i)] = 0xABCD0000ull + quint64(i) * 7919;
    VectorIndex index = makeIndex(approximate ? 1000 : 50'000);
    QVERIFY(index.add(ids, gen.sample(n), tags).ok());
    QCOMPARE(index.isApproximate(), approximate);
    QVERIFY(index.isInStepWith(ids, tags));
    QVERIFY(!index.isInStepWith(ids)); // no owners given: not the same thing
    std::vector<quint64> swapped = tags;
    std::swap(swapped[0], swapped[1]);
    QVERIFY(!index.isInStepWith(ids, swapped));
    std::vector<quint64> changed = tags;
    changed[5] += 1;
    QVERIFY(!index.isInStepWith(ids, changed));
    QCOMPARE(index.tag(ids[5]), tags[5]);

    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("owners.tsvi"));
    QVERIFY(index.save(path).ok());
    VectorIndexOptions options;
    options.approximateThreshold = approximate ? 1000 : 50'000;
    auto loaded = VectorIndex::load(path, kModel, options);
    QVERIFY2(loaded.ok(), why(loaded).constData());
    QVERIFY(loaded->isInStepWith(ids, tags));
    QVERIFY(!loaded->isInStepWith(ids, changed));
    QCOMPARE(loaded->tag(ids[7]), tags[7]);

    // An upsert with a new owner, then a removal, keep the fingerprint in step.
    QVERIFY(loaded->add({ids[5]}, gen.sample(1), {changed[5]}).ok());
    QVERIFY(loaded->isInStepWith(ids, changed));
    QVERIFY(loaded->remove({ids[0]}).ok());
    QVERIFY(loaded->isInStepWith(std::vector<qint64>(ids.begin() + 1, ids.end()),
                                 std::vector<quint64>(changed.begin() + 1, changed.end())));
    QCOMPARE(
        loaded->idFingerprint(),
        VectorIndex::fingerprintOf(std::vector<qint64>(ids.rbegin(), ids.rend() - 1),
                                   std::vector<quint64>(changed.rbegin(), changed.rend() - 1)));
}

void TstVectorIndex::saveLoadRoundTripGivesIdenticalResults_data() {
    QTest::addColumn<bool>("approximate");
    QTest::newRow("exact") << false;
    QTest::newRow("approximate (IVF)") << true;
}

void TstVectorIndex::saveLoadRoundTripGivesIdenticalResults() {
    QFETCH(bool, approximate);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("photos.faiss"));
    test::ClusteredVectors gen(kDim, 30, 13);
    const std::vector<float> base = gen.sample(3000);
    const std::vector<qint64> ids = idsFrom(7'000'000'000LL, 3000);
    const qint64 threshold = approximate ? 1000 : 50'000;
    VectorIndex index = makeIndex(threshold);
    QVERIFY(index.add(ids, base).ok());
    QVERIFY(index.remove({ids[10], ids[20]}).ok());
    const Status saved = index.save(path);
    QVERIFY2(saved.ok(), why(saved).constData());
    QVERIFY(!QDir(dir.path()).entryList(QDir::Files).filter(QStringLiteral(".faiss.")).size());

    VectorIndexOptions options;
    options.approximateThreshold = threshold;
    auto loaded = VectorIndex::load(path, kModel, options);
    QVERIFY2(loaded.ok(), why(loaded).constData());
    QCOMPARE(loaded->size(), index.size());
    QCOMPARE(loaded->isApproximate(), approximate);
    QCOMPARE(loaded->idFingerprint(), index.idFingerprint());
    QCOMPARE(loaded->modelKey(), kModel);
    QCOMPARE(loaded->nprobe(), index.nprobe());
    const std::vector<float> queries = gen.sample(10);
    for (int q = 0; q < 10; ++q) {
        auto a = index.search(queries.data() + q * kDim, 20);
        auto b = loaded->search(queries.data() + q * kDim, 20);
        QVERIFY(a.ok() && b.ok());
        QCOMPARE(hitIds(b.value()), hitIds(a.value()));
        for (size_t i = 0; i < a->size(); ++i)
            QCOMPARE((*b)[i].score, (*a)[i].score);
    }
    // The loaded index stays fully usable.
    QVERIFY(loaded->remove({ids[0]}).ok());
    QVERIFY(loaded->add({1}, std::vector<float>(base.begin(), base.begin() + kDim)).ok());
    QCOMPARE(loaded->search(base.data(), 1)->front().id, qint64(1));
}

void TstVectorIndex::loadRejectsBadFiles_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("mentions");
    const int format = int(Error::Code::Format), unsupported = int(Error::Code::Unsupported);
    QTest::newRow("missing file") << "missing" << int(Error::Code::NotFound) << "does not exist";
    QTest::newRow("empty file") << "empty" << format << "truncated";
    QTest::newRow("truncated payload") << "truncate" << format << "truncated";
    QTest::newRow("truncated header") << "truncate-header" << format << "truncated";
    QTest::newRow("flipped payload byte") << "flip-payload" << format << "checksum";
    QTest::newRow("flipped header byte") << "flip-header" << format << "checksum";
    QTest::newRow("not an index") << "garbage" << format << "not a TowerSearch vector index";
    QTest::newRow("other model key") << "other-model" << unsupported << "built for model";
    QTest::newRow("other dimension") << "other-dimension" << unsupported << "512-dimensional";
    QTest::newRow("path is a directory") << "directory" << int(Error::Code::Io) << "cannot open";
}

void TstVectorIndex::loadRejectsBadFiles() {
    QFETCH(QString, damage);
    QFETCH(int, code);
    QFETCH(QString, mentions);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("index.faiss"));
    test::ClusteredVectors gen(kDim, 5, 17);
    VectorIndex index = makeIndex();
    QVERIFY(index.add(idsFrom(1, 200), gen.sample(200)).ok());
    QVERIFY(index.save(path).ok());
    QByteArray bytes = readAll(path);
    QVERIFY(bytes.size() > 200 * kDim * 4);

    QString expectedModel = kModel;
    VectorIndexOptions options;
    if (damage == QLatin1String("missing")) {
        QVERIFY(QFile::remove(path));
    } else if (damage == QLatin1String("empty")) {
        writeAll(path, {});
    } else if (damage == QLatin1String("truncate")) {
        writeAll(path, bytes.left(bytes.size() - 1000));
    } else if (damage == QLatin1String("truncate-header")) {
        writeAll(path, bytes.left(70));
    } else if (damage == QLatin1String("flip-payload")) {
        bytes[bytes.size() / 2] = char(bytes[bytes.size() / 2] ^ 0x10);
        writeAll(path, bytes);
    } else if (damage == QLatin1String("flip-header")) {
        bytes[26] = char(bytes[26] ^ 0x01); // the vector count
        writeAll(path, bytes);
    } else if (damage == QLatin1String("garbage")) {
        writeAll(path, QByteArray(4096, 'x'));
    } else if (damage == QLatin1String("other-model")) {
        expectedModel = QStringLiteral("bridgetower-large@2");
    } else if (damage == QLatin1String("other-dimension")) {
        options.dimension = 768;
    } else if (damage == QLatin1String("directory")) {
        QVERIFY(QFile::remove(path));
        QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("index.faiss")));
    }
    auto loaded = VectorIndex::load(path, expectedModel, options);
    QVERIFY(!loaded.ok());
    QCOMPARE(int(loaded.error().code), code);
    QVERIFY2(loaded.error().message.contains(path), qPrintable(loaded.error().message));
    QVERIFY2(loaded.error().message.contains(mentions), qPrintable(loaded.error().message));
}

// Payloads inside a valid container (right checksums, key, dimension): before they reach FAISS they
// must have exactly the shape we write (IndexIDMap2 over IndexFlatIP, or IndexIVFFlat with a
// hashtable direct map over an IndexFlatIP quantizer), every size checked against the file length.
// FAISS's reader recurses per nested index (200,000 of them overflowed the stack every start) and
// resizes vectors to whatever size a file names (up to 2^40 elements) before reading them.
void TstVectorIndex::loadRejectsCraftedPayloads_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("200,000 nested IndexIDMap2 headers (7 MB)") << "nested"
                                                               << "IndexFlatIP";
    QTest::newRow("IndexIDMap2 over IndexIDMap2") << "map-over-map"
                                                  << "IndexFlatIP";
    QTest::newRow("flat storage claiming 256 MiB in a small file") << "huge-storage"
                                                                   << "bytes remain";
    QTest::newRow("id map claiming 2^36 ids") << "huge-ids"
                                              << "bytes remain";
    QTest::newRow("metric L2") << "metric"
                               << "metric";
    QTest::newRow("trailing bytes after a valid index") << "trailing"
                                                        << "trailing";
    QTest::newRow("IVF list sizes beyond the file") << "ivf-sizes"
                                                    << "inverted lists";
    QTest::newRow("IVF sparse list number out of range") << "ivf-sparse-range"
                                                         << "list number";
    QTest::newRow("IVF direct map that is not a hashtable") << "ivf-direct-map"
                                                            << "direct map";
}

void TstVectorIndex::loadRejectsCraftedPayloads() {
    QFETCH(QString, damage);
    QFETCH(QString, mentions);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("crafted.faiss"));
    using indexfile::Kind;
    const QByteArray vector(kDim * 4, '\0');
    const QByteArray flatOne = fourcc("IxFI") + faissHeader(kDim, 1) + le<quint64>(kDim) + vector;
    QByteArray file;
    if (damage == QLatin1String("nested")) {
        QByteArray payload;
        const QByteArray level = fourcc("IxM2") + faissHeader(kDim, 0);
        payload.reserve(200'000 * level.size());
        for (int i = 0; i < 200'000; ++i)
            payload += level;
        file = container(payload, Kind::Flat, 0);
    } else if (damage == QLatin1String("map-over-map")) {
        const QByteArray inner =
            fourcc("IxM2") + faissHeader(kDim, 1) + flatOne + le<quint64>(1) + le<qint64>(5);
        file = container(fourcc("IxM2") + faissHeader(kDim, 1) + inner + le<quint64>(1) +
                             le<qint64>(5),
                         Kind::Flat, 1, indexfile::mixId(5));
    } else if (damage == QLatin1String("huge-storage")) {
        const QByteArray storage =
            fourcc("IxFI") + faissHeader(kDim, 1) + le<quint64>(quint64(1) << 26) + vector;
        file = container(fourcc("IxM2") + faissHeader(kDim, 1) + storage + le<quint64>(1) +
                             le<qint64>(5),
                         Kind::Flat, 1, indexfile::mixId(5));
    } else if (damage == QLatin1String("huge-ids")) {
        file = container(fourcc("IxM2") + faissHeader(kDim, 1) + flatOne +
                             le<quint64>(quint64(1) << 36) + le<qint64>(5),
                         Kind::Flat, 1, indexfile::mixId(5));
    } else if (damage == QLatin1String("metric")) {
        QByteArray storage = flatOne;
        storage[4 + 29] = 1; // METRIC_L2
        file = container(fourcc("IxM2") + faissHeader(kDim, 1) + storage + le<quint64>(1) +
                             le<qint64>(5),
                         Kind::Flat, 1, indexfile::mixId(5));
    } else if (damage == QLatin1String("trailing")) {
        test::ClusteredVectors gen(kDim, 5, 17);
        VectorIndex index = makeIndex();
        QVERIFY(index.add(idsFrom(1, 20), gen.sample(20)).ok());
        QVERIFY(index.save(path).ok());
        const SavedFile saved = splitSaved(readAll(path));
        file = container(saved.payload + le<quint64>(0), Kind::Flat, saved.header.count,
                         saved.header.fingerprint);
    } else {
        const SavedFile saved = savedIvf(dir.path());
        QByteArray payload = saved.payload;
        const qsizetype at = invertedListsAt(payload);
        QVERIFY(at > 0);
        if (damage == QLatin1String("ivf-sizes")) {
            quint64 first = 0;
            std::memcpy(&first, payload.constData() + at + 32, 8);
            const QByteArray bigger = le<quint64>(first + 100'000);
            payload.replace(at + 32, 8, bigger);
        } else if (damage == QLatin1String("ivf-sparse-range")) {
            payload = toSparseLists(payload, 1'000'000);
        } else if (damage == QLatin1String("ivf-direct-map")) {
            // The direct map type byte follows the quantizer: 2 (hashtable) becomes 1 (array).
            const qsizetype quantizerAt = payload.indexOf(QByteArray("IxFI"));
            quint64 floats = 0;
            std::memcpy(&floats, payload.constData() + quantizerAt + 4 + 33, 8);
            const qsizetype mapAt = quantizerAt + 4 + 33 + 8 + qsizetype(floats * 4);
            QCOMPARE(int(payload[mapAt]), 2);
            payload[mapAt] = 1;
        }
        file = container(payload, Kind::Ivf, saved.header.count, saved.header.fingerprint);
    }
    writeAll(path, file);
    auto loaded = VectorIndex::load(path, kModel, VectorIndexOptions{});
    QVERIFY2(!loaded.ok(), "a crafted index file was accepted");
    qInfo("%s", qPrintable(loaded.error().message));
    QCOMPARE(loaded.error().code, Error::Code::Format);
    QVERIFY2(loaded.error().message.contains(path), qPrintable(loaded.error().message));
    QVERIFY2(loaded.error().message.contains(mentions), qPrintable(loaded.error().message));
}

// FAISS writes the list sizes of an IVF index sparsely when at most half the lists hold vectors;
// such a file (here the same lists rewritten that way) loads and searches like the original.
void TstVectorIndex::loadAcceptsSparseInvertedLists() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const SavedFile saved = savedIvf(dir.path());
    const QString original = dir.filePath(QStringLiteral("ivf.faiss"));
    const QString sparse = dir.filePath(QStringLiteral("sparse.faiss"));
    writeAll(sparse, container(toSparseLists(saved.payload, 0), indexfile::Kind::Ivf,
                               saved.header.count, saved.header.fingerprint, &saved.header));
    VectorIndexOptions options;
    options.approximateThreshold = 1000;
    auto a = VectorIndex::load(original, kModel, options);
    auto b = VectorIndex::load(sparse, kModel, options);
    QVERIFY2(a.ok(), why(a).constData());
    QVERIFY2(b.ok(), why(b).constData());
    QCOMPARE(b->size(), a->size());
    test::ClusteredVectors gen(kDim, 30, 99);
    const std::vector<float> queries = gen.sample(5);
    for (int q = 0; q < 5; ++q)
        QCOMPARE(hitIds(*b->search(queries.data() + q * kDim, 10)),
                 hitIds(*a->search(queries.data() + q * kDim, 10)));
}

void TstVectorIndex::failedSaveLeavesOldFileIntact() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("index.faiss"));
    test::ClusteredVectors gen(kDim, 5, 19);
    const std::vector<float> base = gen.sample(1000);
    VectorIndex index = makeIndex();
    QVERIFY(index.add(idsFrom(1, 100), std::vector<float>(base.begin(), base.begin() + 100 * kDim))
                .ok());
    QVERIFY(index.save(path).ok());
    const QByteArray oldBytes = readAll(path);

    // A write that fails half-way: limit the size of files this process may write (works as root,
    // unlike a read-only directory). Writing past it fails with EFBIG once SIGXFSZ is ignored.
    QVERIFY(index.add(idsFrom(101, 900), std::vector<float>(base.begin() + 100 * kDim, base.end()))
                .ok());
    rlimit old{};
    QCOMPARE(getrlimit(RLIMIT_FSIZE, &old), 0);
    auto previousHandler = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limited = old;
    limited.rlim_cur = rlim_t(oldBytes.size() + 4096);
    QCOMPARE(setrlimit(RLIMIT_FSIZE, &limited), 0);
    const Status failed = index.save(path);
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, previousHandler);
    QVERIFY(!failed.ok());
    QCOMPARE(failed.error().code, Error::Code::Io);
    QVERIFY2(failed.error().message.contains(path), qPrintable(failed.error().message));
    QCOMPARE(readAll(path), oldBytes);
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{QStringLiteral("index.faiss")});
    auto loaded = VectorIndex::load(path, kModel, {});
    QVERIFY(loaded.ok());
    QCOMPARE(loaded->size(), qint64(100));

    // A target that cannot be replaced (a directory) fails with the path named, too.
    const QString dirPath = dir.filePath(QStringLiteral("sub"));
    QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("sub")));
    const Status intoDir = index.save(dirPath);
    QVERIFY(!intoDir.ok());
    QVERIFY2(intoDir.error().message.contains(dirPath), qPrintable(intoDir.error().message));
    QVERIFY(QFileInfo(dirPath).isDir());
}

void TstVectorIndex::approximateRecallAtLeast98Percent() {
    // 40k clustered vectors in 200 clusters, threshold 20k: the index is IVF with default
    // parameters; recall@10 against exact brute force over 100 held-out queries.
    const int n = 40'000, queries = 100, k = 10;
    test::ClusteredVectors gen(kDim, 200, 23);
    const std::vector<float> base = gen.sample(n);
    const std::vector<qint64> ids = idsFrom(1, n);
    VectorIndex index = makeIndex(20'000);
    QVERIFY(index.add(ids, base).ok());
    QVERIFY(index.isApproximate());
    const std::vector<float> q = gen.sample(queries);
    double sum = 0;
    for (int i = 0; i < queries; ++i) {
        const float *query = q.data() + i * kDim;
        auto hits = index.search(query, k);
        QVERIFY(hits.ok());
        sum += test::recall(hitIds(hits.value()), exactIds(base, ids, query, k));
    }
    const double recall = sum / queries;
    qInfo("recall@10 = %.4f (nlist %d, nprobe %d)", recall, index.nlist(), index.nprobe());
    QVERIFY2(recall >= 0.98, qPrintable(QStringLiteral("recall@10 %1").arg(recall)));
}

// CLIP-like vectors (a cone: mean cosine 0.62 between random vectors, Zipf cluster sizes): the
// fixed nprobe of main (max(32, nlist / 64)) misses neighbours of new queries there; the nprobe
// tuned on the library's own vectors reaches the target recall@10 (0.98) against exact search.
void TstVectorIndex::tunedNprobeReachesTargetRecallOnConeData() {
    const int n = kConeVectors, queries = 200, k = 10;
    test::ConeVectors gen(kDim, 200, 31);
    const std::vector<float> base = gen.sample(n);
    const std::vector<qint64> ids = idsFrom(1, n);
    VectorIndexOptions options;
    options.approximateThreshold = 20'000;
    options.nlist = kConeNlist;
    auto created = VectorIndex::create(options, kModel);
    QVERIFY(created.ok());
    VectorIndex index = std::move(created).value();
    QVERIFY(index.add(ids, base).ok());
    QVERIFY(index.isApproximate());
    VectorIndex exact = makeIndex(n + 1);
    QVERIFY(exact.add(ids, base).ok());

    const std::vector<float> q = gen.sample(queries); // new photos, not in the index
    auto recallAt = [&](int nprobe) {
        index.setNprobe(nprobe);
        double sum = 0;
        for (int i = 0; i < queries; ++i) {
            const float *query = q.data() + i * kDim;
            sum += test::recall(hitIds(*index.search(query, k)), hitIds(*exact.search(query, k)));
        }
        return sum / queries;
    };
    const int fixed = std::max(32, index.nlist() / 64);
    const double fixedRecall = recallAt(fixed);
    const double tunedRecall = recallAt(0);
    const IndexTuning tuning = index.tuning();
    qInfo("nlist %d: fixed nprobe %d recall@10 %.4f; tuned nprobe %d (sample recall %.4f, %.2f s) "
          "recall@10 %.4f",
          index.nlist(), fixed, fixedRecall, index.nprobe(), tuning.sampleRecall, tuning.seconds,
          tunedRecall);
    QVERIFY2(fixedRecall < 0.98, "the data should be hard for a fixed nprobe");
    QCOMPARE(tuning.atSize, qint64(n));
    QCOMPARE(index.nprobe(), tuning.nprobe);
    QVERIFY(tuning.sampleRecall >= 0.98);
    QVERIFY2(tunedRecall >= 0.98, qPrintable(QStringLiteral("recall@10 %1").arg(tunedRecall)));
}

// The tuned nprobe is saved with the index and used after loading (not recomputed); a fixed nprobe
// in the options still wins.
void TstVectorIndex::tunedNprobeSurvivesSaveAndLoad() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("tuned.tsvi"));
    test::ConeVectors gen(kDim, 50, 37);
    VectorIndexOptions options;
    options.approximateThreshold = 2000;
    auto created = VectorIndex::create(options, kModel);
    QVERIFY(created.ok());
    VectorIndex index = std::move(created).value();
    QVERIFY(index.add(idsFrom(1, 6000), gen.sample(6000)).ok());
    QVERIFY(index.isApproximate());
    const IndexTuning tuned = index.tuning();
    QCOMPARE(tuned.atSize, qint64(6000));
    QVERIFY(tuned.nprobe >= 1 && tuned.nprobe <= index.nlist());
    // The automatic rule would pick another value: loading must not fall back to it.
    QVERIFY(tuned.nprobe != std::max(32, index.nlist() / 64));
    QVERIFY(index.save(path).ok());

    auto loaded = VectorIndex::load(path, kModel, options);
    QVERIFY2(loaded.ok(), why(loaded).constData());
    QCOMPARE(loaded->nprobe(), tuned.nprobe);
    QCOMPARE(loaded->tuning().nprobe, tuned.nprobe);
    QCOMPARE(loaded->tuning().atSize, tuned.atSize);
    QCOMPARE(loaded->tuning().sampleRecall, -1.0); // measured in another process
    // Saved again, the file carries the same tuning (nothing was re-measured).
    const QString again = dir.filePath(QStringLiteral("again.tsvi"));
    QVERIFY(loaded->save(again).ok());
    const indexfile::Header first = splitSaved(readAll(path)).header;
    const indexfile::Header second = splitSaved(readAll(again)).header;
    QCOMPARE(second.nprobe, quint32(tuned.nprobe));
    QCOMPARE(second.nprobe, first.nprobe);
    QCOMPARE(second.tunedAt, first.tunedAt);
    QCOMPARE(second.trainedAt, first.trainedAt);

    VectorIndexOptions fixed = options;
    fixed.nprobe = 3;
    auto overridden = VectorIndex::load(path, kModel, fixed);
    QVERIFY(overridden.ok());
    QCOMPARE(overridden->nprobe(), 3);
    overridden->setNprobe(0); // back to automatic: the stored tuning
    QCOMPARE(overridden->nprobe(), tuned.nprobe);
}

void TstVectorIndex::fixedNprobeTurnsTuningOff() {
    test::ConeVectors gen(kDim, 50, 41);
    VectorIndexOptions options;
    options.approximateThreshold = 2000;
    options.nprobe = 5;
    auto index = VectorIndex::create(options, kModel);
    QVERIFY(index.ok());
    QVERIFY(index->add(idsFrom(1, 5000), gen.sample(5000)).ok());
    QVERIFY(index->isApproximate());
    QCOMPARE(index->nprobe(), 5);
    QCOMPARE(index->tuning().atSize, qint64(0));
    options.nprobe = 0;
    options.targetRecall = 0; // no tuning: the automatic rule
    index = VectorIndex::create(options, kModel);
    QVERIFY(index.ok());
    QVERIFY(index->add(idsFrom(1, 5000), gen.sample(5000)).ok());
    QCOMPARE(index->tuning().atSize, qint64(0));
    QCOMPARE(index->nprobe(), std::clamp(std::max(32, index->nlist() / 64), 1, index->nlist()));
}

// Tuned when built; rebuilt and tuned again (the measurement needs vectors the cells were not
// trained on) once the index has grown past retuneGrowthFactor (2) times the size of the last
// tuning, not before.
void TstVectorIndex::retunesOnceGrownByTheFactor() {
    test::ConeVectors gen(kDim, 50, 43);
    const std::vector<float> base = gen.sample(4003);
    VectorIndex index = makeIndex(2000);
    auto addRange = [&](qint64 from, qint64 to) {
        return index.add(idsFrom(from, to - from),
                         std::vector<float>(base.begin() + from * kDim, base.begin() + to * kDim));
    };
    QVERIFY(addRange(0, 2001).ok());
    QVERIFY(index.isApproximate());
    QCOMPARE(index.tuning().atSize, qint64(2001));
    const int nlist = index.nlist();
    QVERIFY(addRange(2001, 4002).ok()); // exactly 2x: not yet
    QCOMPARE(index.tuning().atSize, qint64(2001));
    QCOMPARE(index.nlist(), nlist);
    QVERIFY(addRange(4002, 4003).ok()); // past 2x: retrained and measured again
    QCOMPARE(index.tuning().atSize, qint64(4003));
    QVERIFY(index.nlist() > nlist);
    QVERIFY(index.tuning().sampleRecall >= 0.98);
    QCOMPARE(index.nprobe(), index.tuning().nprobe);
    QVERIFY(index.isInStepWith(idsFrom(0, 4003)));
}

// Vectors in random directions (no clusters: a query's neighbours are in any cell) need nearly
// every cell for recall 1.0, where a flat scan costs less: the index stays exact (and says so in
// the file) until it has grown by retuneGrowthFactor.
// The subset's rows of `base` (row r has id ids[r]) and their ids, in the order of `ids`.
std::pair<std::vector<float>, std::vector<qint64>> subsetRows(const std::vector<float> &base,
                                                              const std::vector<qint64> &ids,
                                                              const std::vector<qint64> &subset) {
    std::vector<float> rows;
    std::vector<qint64> rowIds;
    for (size_t r = 0; r < ids.size(); ++r)
        if (std::binary_search(subset.begin(), subset.end(), ids[r])) {
            rows.insert(rows.end(), base.begin() + qsizetype(r) * kDim,
                        base.begin() + qsizetype(r + 1) * kDim);
            rowIds.push_back(ids[r]);
        }
    return {rows, rowIds};
}

void TstVectorIndex::filteredSearchFindsTheBestWithinTheSubset_data() {
    QTest::addColumn<bool>("approximate");
    QTest::addColumn<double>("share");
    QTest::addColumn<bool>("byCluster");
    for (bool approximate : {false, true})
        for (double share : {0.001, 0.01, 0.1, 0.2, 0.5, 1.0})
            for (bool byCluster : {false, true})
                QTest::addRow("%s, %g%% of the photos, %s", approximate ? "IVF" : "exact",
                              share * 100, byCluster ? "whole clusters" : "random")
                    << approximate << share << byCluster;
}

// A filter keeps a random share of the photos, or whole clusters (a folder of one trip: the
// subset then sits in cells far from many queries). Exact index: the hits are exactly the
// brute-force top k over the subset. IVF (nprobe fixed at 1/16 of the cells): recall@10 against
// brute force over the subset is at least the unfiltered query's recall against brute force over
// everything, less 0.02; and every hit is in the subset.
void TstVectorIndex::filteredSearchFindsTheBestWithinTheSubset() {
    QFETCH(bool, approximate);
    QFETCH(double, share);
    QFETCH(bool, byCluster);
    const int n = approximate ? 10'000 : 3'000, k = 10, queries = 40;
    test::ClusteredVectors gen(kDim, 100, 61);
    std::vector<int> clusterOf;
    const std::vector<float> base = gen.sample(n, &clusterOf);
    const std::vector<qint64> ids = idsFrom(1000, n);
    VectorIndexOptions options;
    options.approximateThreshold = approximate ? 2000 : 50'000;
    options.nprobe = 16; // fixed: no tuning, so the index stays IVF
    auto created = VectorIndex::create(options, kModel);
    QVERIFY(created.ok());
    VectorIndex index = std::move(created).value();
    QVERIFY(index.add(ids, base).ok());
    QCOMPARE(index.isApproximate(), approximate);

    std::mt19937_64 rng(quint64(share * 1e6) + (byCluster ? 1 : 0));
    std::vector<qint64> subset;
    if (byCluster) { // clusters in random order until the share is reached
        std::vector<int> clusters(100);
        std::iota(clusters.begin(), clusters.end(), 0);
        std::shuffle(clusters.begin(), clusters.end(), rng);
        std::vector<bool> kept(100, false);
        qint64 count = 0;
        for (int c : clusters) {
            if (count >= qint64(std::ceil(share * n)))
                break;
            kept[size_t(c)] = true;
            count += std::count(clusterOf.begin(), clusterOf.end(), c);
        }
        for (int r = 0; r < n; ++r)
            if (kept[size_t(clusterOf[size_t(r)])])
                subset.push_back(ids[size_t(r)]);
    } else {
        std::sample(ids.begin(), ids.end(), std::back_inserter(subset),
                    std::max<qint64>(1, qint64(share * n)), rng);
    }
    QVERIFY(std::is_sorted(subset.begin(), subset.end()));
    const auto [rows, rowIds] = subsetRows(base, ids, subset);

    const std::vector<float> q = gen.sample(queries);
    double filteredRecall = 0, unfilteredRecall = 0;
    for (int i = 0; i < queries; ++i) {
        const float *query = q.data() + i * kDim;
        auto hits = index.searchWithin(query, k, subset);
        QVERIFY2(hits.ok(), why(hits).constData());
        QCOMPARE(hits->size(), std::min(subset.size(), size_t(k)));
        for (const SearchHit &h : *hits)
            QVERIFY(std::binary_search(subset.begin(), subset.end(), h.id));
        for (size_t j = 1; j < hits->size(); ++j)
            QVERIFY((*hits)[j - 1].score >= (*hits)[j].score);
        const std::vector<qint64> truth = exactIds(rows, rowIds, query, k);
        if (!approximate)
            QCOMPARE(hitIds(*hits), truth);
        filteredRecall += test::recall(hitIds(*hits), truth);
        unfilteredRecall +=
            test::recall(hitIds(index.search(query, k).value()), exactIds(base, ids, query, k));
    }
    filteredRecall /= queries;
    unfilteredRecall /= queries;
    qInfo("subset %zu of %d: filtered recall@10 %.3f, unfiltered %.3f", subset.size(), n,
          filteredRecall, unfilteredRecall);
    QVERIFY2(filteredRecall >= unfilteredRecall - 0.02,
             qPrintable(QStringLiteral("filtered recall@10 %1 below the unfiltered %2")
                            .arg(filteredRecall)
                            .arg(unfilteredRecall)));
}

// Ids of the filter that the index does not hold (not embedded yet, removed) are ignored; the
// filter's ids may come in any order and repeat; excluded ids are skipped; k beyond the subset
// gives the whole subset, best first.
void TstVectorIndex::filteredSearchIgnoresIdsNotInTheIndex() {
    const int n = 500;
    test::ClusteredVectors gen(kDim, 10, 5);
    const std::vector<float> base = gen.sample(n);
    const std::vector<qint64> ids = idsFrom(100, n);
    VectorIndex index = makeIndex();
    QVERIFY(index.add(ids, base).ok());
    const std::vector<qint64> subset = {130, 104, 450, 130, 7, 599, 600, 5'000'000'000LL, 222};
    const float *query = base.data() + 3 * kDim;
    auto hits = index.searchWithin(query, 100, subset, {222, 9});
    QVERIFY2(hits.ok(), why(hits).constData());
    const std::vector<qint64> kept = {104, 130, 450, 599};
    const auto [rows, rowIds] = subsetRows(base, ids, kept);
    QCOMPARE(hitIds(*hits), exactIds(rows, rowIds, query, 100));
    // Only ids the index lacks: no hits, no error.
    hits = index.searchWithin(query, 10, {1, 2, 3, 9999});
    QVERIFY(hits.ok());
    QVERIFY(hits->empty());
}

void TstVectorIndex::filteredSearchWithEmptySubsetReturnsNoHits() {
    VectorIndex index = makeIndex();
    test::ClusteredVectors gen(kDim, 10, 9);
    const std::vector<float> base = gen.sample(50);
    QVERIFY(index.add(idsFrom(1, 50), base).ok());
    auto hits = index.searchWithin(base.data(), 10, {});
    QVERIFY(hits.ok());
    QVERIFY(hits->empty());
    // Bad queries are still refused.
    const std::vector<float> zero(kDim, 0.0f);
    QVERIFY(!index.searchWithin(zero.data(), 10, {1}).ok());
    QVERIFY(!index.searchWithin(base.data(), 0, {1}).ok());
}

void TstVectorIndex::staysExactWhereAFlatScanIsCheaper() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    test::ClusteredVectors gen(kDim, 1, 47, 100.0f);
    const std::vector<float> base = gen.sample(7000);
    VectorIndexOptions options;
    options.approximateThreshold = 2000;
    options.targetRecall = 1.0;
    auto created = VectorIndex::create(options, kModel);
    QVERIFY(created.ok());
    VectorIndex index = std::move(created).value();
    QVERIFY(
        index.add(idsFrom(0, 3000), std::vector<float>(base.begin(), base.begin() + 3000 * kDim))
            .ok());
    QVERIFY(!index.isApproximate());
    QVERIFY(index.tuning().exact);
    QCOMPARE(index.tuning().atSize, qint64(3000));
    QCOMPARE(index.nprobe(), 0);
    const QString path = dir.filePath(QStringLiteral("exact.tsvi"));
    QVERIFY(index.save(path).ok());
    auto loaded = VectorIndex::load(path, kModel, options);
    QVERIFY2(loaded.ok(), why(loaded).constData());
    QVERIFY(!loaded->isApproximate());
    QVERIFY(loaded->tuning().exact);
    QCOMPARE(loaded->tuning().atSize, qint64(3000));
    // Growing within the factor keeps it exact (no rebuild on every add above the threshold).
    QVERIFY(loaded
                ->add(idsFrom(3000, 3000),
                      std::vector<float>(base.begin() + 3000 * kDim, base.begin() + 6000 * kDim))
                .ok());
    QVERIFY(!loaded->isApproximate());
    QCOMPARE(loaded->tuning().atSize, qint64(3000));
    // Past it, the choice is measured again.
    QVERIFY(
        loaded->add(idsFrom(6000, 1000), std::vector<float>(base.begin() + 6000 * kDim, base.end()))
            .ok());
    QCOMPARE(loaded->tuning().atSize, qint64(7000));
    QVERIFY(loaded->isInStepWith(idsFrom(0, 7000)));
    QCOMPARE(loaded->search(base.data() + 6500 * kDim, 1)->front().id, qint64(6500));
}

// The tuning fields of a file are outside input like the rest: out-of-range values are refused
// (Format, so the library rebuilds the index), never used.
void TstVectorIndex::loadRefusesHostileTuning_data() {
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("nprobe above nlist") << "nprobe-above-nlist"
                                        << "exceeds its";
    QTest::newRow("nprobe 2^32 - 1") << "nprobe-max"
                                     << "exceeds its";
    QTest::newRow("nprobe on a flat index") << "nprobe-flat"
                                            << "does not fit a flat index";
    QTest::newRow("exact flag on an IVF index") << "exact-ivf"
                                                << "does not fit a IVF index";
    QTest::newRow("IVF trained at 0 vectors") << "trained-zero"
                                              << "does not fit a IVF index";
    QTest::newRow("unknown flag") << "flags"
                                  << "unknown flags";
    QTest::newRow("negative tuning size") << "tuned-negative"
                                          << "must be 0 to";
    QTest::newRow("tuning size 2^62") << "tuned-huge"
                                      << "must be 0 to";
}

void TstVectorIndex::loadRefusesHostileTuning() {
    QFETCH(QString, field);
    QFETCH(QString, mentions);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("hostile.tsvi"));
    SavedFile saved;
    if (field == QLatin1String("nprobe-flat")) {
        test::ClusteredVectors gen(kDim, 5, 17);
        VectorIndex index = makeIndex();
        QVERIFY(index.add(idsFrom(1, 20), gen.sample(20)).ok());
        QVERIFY(index.save(path).ok());
        saved = splitSaved(readAll(path));
    } else {
        saved = savedIvf(dir.path());
    }
    indexfile::Header h = saved.header;
    QVERIFY(field == QLatin1String("nprobe-flat") || h.nprobe >= 1);
    if (field == QLatin1String("nprobe-above-nlist")) {
        auto ok = VectorIndex::load(dir.filePath(QStringLiteral("ivf.faiss")), kModel, {});
        QVERIFY(ok.ok());
        h.nprobe = quint32(ok->nlist() + 1);
    } else if (field == QLatin1String("nprobe-max")) {
        h.nprobe = 0xFFFFFFFFu;
    } else if (field == QLatin1String("nprobe-flat")) {
        h.nprobe = 4;
    } else if (field == QLatin1String("exact-ivf")) {
        h.flags = indexfile::kFlagExactChosen;
    } else if (field == QLatin1String("trained-zero")) {
        h.trainedAt = 0;
    } else if (field == QLatin1String("flags")) {
        h.flags = 0x80;
    } else if (field == QLatin1String("tuned-negative")) {
        h.tunedAt = -5;
    } else if (field == QLatin1String("tuned-huge")) {
        h.tunedAt = qint64(1) << 62;
    }
    writeAll(path, indexfile::encodeHeader(h) + saved.payload);
    auto loaded = VectorIndex::load(path, kModel, VectorIndexOptions{});
    QVERIFY2(!loaded.ok(), "a hostile tuning was accepted");
    QCOMPARE(loaded.error().code, Error::Code::Format);
    QVERIFY2(loaded.error().message.contains(path), qPrintable(loaded.error().message));
    QVERIFY2(loaded.error().message.contains(mentions), qPrintable(loaded.error().message));
}

// A file of format version 2 (before the tuning was stored; its header is 24 bytes shorter) is
// refused as Unsupported, naming the version, which is what makes the library rebuild it from
// the catalog (tests/indexer: olderIndexFileIsRebuiltAndTuned).
void TstVectorIndex::olderFormatVersionIsRefusedAsUnsupported() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const SavedFile saved = savedIvf(dir.path());
    const QString path = dir.filePath(QStringLiteral("v2.tsvi"));
    writeAll(path, test::versionTwoFile(saved.header, saved.payload));
    auto loaded = VectorIndex::load(path, kModel, {});
    QVERIFY(!loaded.ok());
    QCOMPARE(loaded.error().code, Error::Code::Unsupported);
    QVERIFY2(loaded.error().message.contains(QStringLiteral("format version 2 is not supported")),
             qPrintable(loaded.error().message));
    QVERIFY2(loaded.error().message.contains(path), qPrintable(loaded.error().message));
}

void TstVectorIndex::concurrentSearchesDuringAdds() {
    // Readers search while a writer adds batches (crossing the threshold, so one add rebuilds the
    // index as IVF) and removes. Every search must succeed, and a vector present from the start
    // must always be found as its own best hit.
    test::ClusteredVectors gen(kDim, 40, 29);
    const std::vector<float> base = gen.sample(6000);
    VectorIndex index = makeIndex(3000);
    QVERIFY(
        index.add(idsFrom(0, 1000), std::vector<float>(base.begin(), base.begin() + 1000 * kDim))
            .ok());
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, searches{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t)
        readers.emplace_back([&, t] {
            int i = t;
            while (!done.load()) {
                const int row = (i++ * 37) % 1000;
                auto hits = index.search(base.data() + size_t(row) * kDim, 5);
                if (!hits.ok() || hits->empty() || hits->front().id != row)
                    failures.fetch_add(1);
                searches.fetch_add(1);
            }
        });
    bool writesOk = true;
    for (int b = 1; b < 6; ++b) {
        const auto from = base.begin() + b * 1000 * kDim;
        writesOk &=
            index.add(idsFrom(b * 1000, 1000), std::vector<float>(from, from + 1000 * kDim)).ok();
        writesOk &= index.remove(idsFrom(b * 1000, 10)).ok();
    }
    done = true;
    for (auto &t : readers)
        t.join();
    QVERIFY(writesOk);
    QVERIFY(index.isApproximate());
    QCOMPARE(index.size(), qint64(6000 - 50));
    QVERIFY(searches.load() > 0);
    QCOMPARE(failures.load(), 0);
}

void TstVectorIndex::similarPairsMatchBruteForce_data() {
    QTest::addColumn<qint64>("approximateThreshold");
    QTest::addColumn<bool>("approximate");
    QTest::addColumn<int>("scanNprobe");
    QTest::newRow("exact (flat index)") << qint64(50'000) << false << 0;
    QTest::newRow("approximate (IVF index, tuned nprobe)") << qint64(1'000) << true << 0;
    QTest::newRow("approximate (IVF index, Find Duplicates' nprobe)")
        << qint64(1'000) << true << kDuplicateScanNprobe;
}

// CLIP-like vectors (unrelated ones at cosine ~0.6) with planted near-copies at ~0.98: the pairs
// found must be those brute force finds (on IVF: no false pair, every near-copy found).
void TstVectorIndex::similarPairsMatchBruteForce() {
    QFETCH(qint64, approximateThreshold);
    QFETCH(bool, approximate);
    QFETCH(int, scanNprobe);
    constexpr qint64 kOriginals = 3'000;
    constexpr double kThreshold = 0.95;
    test::ConeVectors cone(kDim, 40, 11);
    std::vector<float> vectors = cone.sample(kOriginals);
    std::vector<qint64> originals;
    for (qint64 i = 0; i < kOriginals; i += 10)
        originals.push_back(i); // one photo in ten has a copy; every 100th a second one
    for (qint64 i = 0; i < kOriginals; i += 100)
        originals.push_back(i);
    const std::vector<qint64> copies = test::appendNearCopies(vectors, kDim, originals, 0.2f, 5);
    const qint64 n = qint64(vectors.size() / kDim);
    std::vector<qint64> ids = idsFrom(1000, n); // ids are not row numbers
    VectorIndex index = makeIndex(approximateThreshold);
    QVERIFY(index.add(ids, vectors).ok());
    QCOMPARE(index.isApproximate(), approximate);

    qint64 calls = 0, lastDone = -1;
    auto found = index.similarPairs(
        float(kThreshold),
        [&](qint64 done, qint64 total) {
            ++calls;
            lastDone = done;
            return total == n;
        },
        scanNprobe);
    QVERIFY2(found.ok(), why(found).constData());
    QVERIFY(calls >= 2);
    QCOMPARE(lastDone, n);

    // Pairs within float rounding of the threshold may fall either way.
    auto borderline = [&](double c) { return std::abs(c - kThreshold) < 1e-5; };
    std::map<std::pair<qint64, qint64>, double> truth;
    for (const auto &[rows, cosine] : test::bruteForcePairs(vectors, kDim, kThreshold - 1e-5))
        truth[{ids[size_t(rows.first)], ids[size_t(rows.second)]}] = cosine;
    std::set<std::pair<qint64, qint64>> got;
    for (const SimilarPair &p : *found) {
        QVERIFY(p.first < p.second);
        QVERIFY2(got.insert({p.first, p.second}).second, "a pair is listed twice");
        const auto it = truth.find({p.first, p.second});
        QVERIFY2(it != truth.end(), qPrintable(QStringLiteral("(%1, %2) at %3 is not a pair")
                                                   .arg(p.first)
                                                   .arg(p.second)
                                                   .arg(double(p.score))));
        QVERIFY(std::abs(double(p.score) - it->second) < 1e-4);
    }
    qint64 missed = 0;
    for (const auto &[pair, cosine] : truth)
        if (!borderline(cosine) && !got.count(pair))
            ++missed;
    // Every planted copy is at cosine ~0.98 to its original, well above the threshold.
    for (size_t i = 0; i < copies.size(); ++i) {
        QVERIFY(test::cosineOf(vectors, kDim, originals[i], copies[i]) > kThreshold + 0.01);
        QVERIFY2(
            got.count({ids[size_t(originals[i])], ids[size_t(copies[i])]}),
            qPrintable(QStringLiteral("near-copy %1 of %2 not found").arg(i).arg(originals[i])));
    }
    QCOMPARE(missed, qint64(0));
    QVERIFY(truth.size() >= copies.size());
}

void TstVectorIndex::similarPairsCanBeCancelled() {
    test::ClusteredVectors data(kDim, 8, 3);
    const qint64 n = 3'000; // three batches
    VectorIndex index = makeIndex();
    QVERIFY(index.add(idsFrom(0, n), data.sample(n)).ok());
    int calls = 0;
    auto result = index.similarPairs(0.9f, [&](qint64, qint64) { return ++calls < 2; });
    QVERIFY(!result.ok());
    QCOMPARE(result.error().code, Error::Code::Cancelled);
    QCOMPARE(calls, 2); // stopped before the second batch
}

void TstVectorIndex::similarPairsRejectsBadThreshold_data() {
    QTest::addColumn<float>("threshold");
    QTest::newRow("NaN") << std::numeric_limits<float>::quiet_NaN();
    QTest::newRow("above 1") << 1.5f;
    QTest::newRow("-1 (every pair)") << -1.0f;
    QTest::newRow("infinity") << std::numeric_limits<float>::infinity();
}

void TstVectorIndex::similarPairsRejectsBadThreshold() {
    QFETCH(float, threshold);
    VectorIndex index = makeIndex();
    test::ClusteredVectors data(kDim, 2, 1);
    QVERIFY(index.add(idsFrom(0, 10), data.sample(10)).ok());
    auto result = index.similarPairs(threshold);
    QVERIFY(!result.ok());
    QCOMPARE(result.error().code, Error::Code::InvalidArgument);
    QVERIFY2(result.error().message.contains(QStringLiteral("threshold")),
             qPrintable(result.error().message));
}

QTEST_GUILESS_MAIN(TstVectorIndex)
#include "tst_vectorindex.moc"
