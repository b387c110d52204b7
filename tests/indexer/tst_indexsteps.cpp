// The steps of an indexing run on their own, on real files in a temporary folder with the fake
// embedder: discovery (which files are new, changed, unchanged, gone; offline folders), the photo
// preparer (read, hash, decode, thumbnail, reuse by content; errors recorded per photo) and the
// batch committer (catalog transaction, vector index, rerank cache under the catalog's stamp).
#include "core/common/nativepath.h"
#include "core/image/imagedecoder.h"
#include "core/index/vectorindex.h"
#include "core/search/fusioncache.h"
#include "fakeembedder.h"
#include "indexer/batchcommitter.h"
#include "indexer/catalog.h"
#include "indexer/folderdiscovery.h"
#include "indexer/indexworker.h"
#include "indexer/photopreparer.h"
#include "indexertestutil.h"
#include "testcatalog.h"

#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>

using namespace ts;
using namespace ts::internal;
using ts::test::FakeEmbedder;

namespace {

// What discovery must make of one file.
enum class Expected { Job, Skipped, Vanished, Ignored };

std::shared_ptr<VectorIndex> makeIndex(int dimension) {
    VectorIndexOptions options;
    options.dimension = dimension;
    auto created = VectorIndex::create(options, QStringLiteral("fake-model-1"));
    return created ? std::make_shared<VectorIndex>(std::move(*created)) : nullptr;
}

// A catalog with one watched folder, in a temporary directory.
struct CatalogFixture {
    QTemporaryDir tmp;
    std::unique_ptr<Catalog> catalog;
    qint64 folderId = 0;
    std::shared_ptr<FakeEmbedder> embedder = std::make_shared<FakeEmbedder>();

    QString photos() const { return tmp.filePath(QStringLiteral("photos")); }
    QString photo(const QString &name) const { return photos() + QLatin1Char('/') + name; }

    bool open() {
        QDir().mkpath(photos());
        auto opened = Catalog::open(test::catalogLocation(tmp));
        if (!opened)
            return false;
        catalog = std::move(*opened);
        auto folder = catalog->addFolder(photos());
        folderId = folder ? *folder : 0;
        return folder.ok();
    }

    // A catalog row for `name` as it is on disk now, with or without a vector for the model.
    qint64 addRow(const QString &name, bool withVector) {
        const QString path = photo(name);
        const NativeFileInfo info = statNative(path);
        auto bytes = readImageFile(path);
        PhotoWrite w;
        w.folderId = folderId;
        w.path = path;
        w.size = info.size;
        w.mtimeMs = info.mtimeMs;
        if (bytes) {
            w.contentHash = quickContentHash(*bytes);
            w.fullHash = fullContentHash(*bytes);
        }
        w.state = withVector ? PhotoState::Indexed : PhotoState::Pending;
        if (withVector)
            w.vector = std::vector<float>(size_t(embedder->dimension()), 0.5f);
        auto ids = catalog->commitBatch({w}, embedder->modelKey(), {});
        return ids ? ids->front() : 0;
    }

    Discovery discover(const std::atomic<bool> &cancelled = false, int maxDirectories = 2000) {
        auto found =
            discoverPhotos(*catalog, {embedder->modelKey(), {}, maxDirectories, 1000}, cancelled);
        if (!found)
            qWarning() << found.error().message;
        return found ? std::move(*found) : Discovery{};
    }

    PhotoPreparer preparer(const QString &thumbnails = {}) const {
        auto candidates = catalog->embeddedByQuickHash(embedder->modelKey());
        return PhotoPreparer(embedder, thumbnails,
                             candidates ? *candidates : QMultiHash<QString, EmbeddedContent>{});
    }

    // What a BatchCommitter needs: the fixture's embedder and an empty vector index.
    IndexWorkerConfig committerConfig() const {
        IndexWorkerConfig config;
        config.embedder = embedder;
        config.index = makeIndex(embedder->dimension());
        config.indexPath = tmp.filePath(QStringLiteral("index.tsvi"));
        return config;
    }

    PhotoJob jobFor(const QString &name, qint64 existingId = 0) const {
        const NativeFileInfo info = statNative(photo(name));
        PhotoJob job;
        job.folderId = folderId;
        job.path = photo(name);
        job.size = info.size;
        job.mtimeMs = info.mtimeMs;
        job.existingId = existingId;
        return job;
    }
};

bool writeBytes(const QString &path, const QByteArray &bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

QByteArray readAll(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// The fake embedder with rerank features: one small tensor per photo, derived from its vector.
class FusionEmbedder : public FakeEmbedder {
public:
    Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) override {
        auto out = FakeEmbedder::embed(pixels);
        if (out)
            for (const std::vector<float> &v : out->vectors) {
                FloatTensor f({1, 1, 2, 4});
                std::copy(v.begin(), v.begin() + 8, f.data.begin());
                out->fusion.push_back(f);
            }
        return out;
    }
};

} // namespace

class TestIndexSteps : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void discoveryDecidesWhatEachFileNeeds_data();
    void discoveryDecidesWhatEachFileNeeds();
    void discoveryKeepsPhotosOfAMissingRootOffline();
    void cancelledDiscoveryRecordsNothing();
    void discoveryCapsTheFoldersToWatch();

    void preparerReadsHashesAndDecodes_data();
    void preparerReadsHashesAndDecodes();
    void preparerFindsAnEmbeddedPhotoWithTheSameBytes();

    void committerWritesRowsAndTheIndex();
    void committerTurnsAVanishedRowIntoAMove();
    void committerLeavesTheIndexAloneWhenTheCatalogRefuses();
    void rerankFeaturesAreFiledUnderTheCatalogsStamp();
};

void TestIndexSteps::discoveryDecidesWhatEachFileNeeds_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<bool>("row");        // a catalog row exists before discovery
    QTest::addColumn<bool>("withVector"); // ... with a vector for the model
    QTest::addColumn<QString>("change");  // what happens to the file after the row was written
    QTest::addColumn<Expected>("expected");
    QTest::addColumn<bool>("unchanged"); // for a job: same size and mtime as its row

    QTest::newRow("new photo") << "new.png" << false << false << "" << Expected::Job << false;
    QTest::newRow("unchanged with a vector")
        << "done.png" << true << true << "" << Expected::Skipped << false;
    QTest::newRow("unchanged without a vector (model change)")
        << "pending.png" << true << false << "" << Expected::Job << true;
    QTest::newRow("rewritten") << "edited.png" << true << true << "rewrite" << Expected::Job
                               << false;
    QTest::newRow("deleted") << "gone.png" << true << true << "delete" << Expected::Vanished
                             << false;
    QTest::newRow("not a photo extension")
        << "notes.txt" << false << false << "" << Expected::Ignored << false;
    QTest::newRow("hidden") << ".hidden.png" << false << false << "" << Expected::Ignored << false;
}

void TestIndexSteps::discoveryDecidesWhatEachFileNeeds() {
    QFETCH(QString, name);
    QFETCH(bool, row);
    QFETCH(bool, withVector);
    QFETCH(QString, change);
    QFETCH(Expected, expected);
    QFETCH(bool, unchanged);

    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(name), 1));
    const qint64 id = row ? f.addRow(name, withVector) : 0;
    if (row)
        QVERIFY(id > 0);
    const QString fullHash = fullContentHash(readAll(f.photo(name)));
    if (change == QLatin1String("rewrite"))
        QVERIFY(test::writePhoto(f.photo(name), 2, 64, 40));
    else if (change == QLatin1String("delete"))
        QVERIFY(QFile::remove(f.photo(name)));

    const Discovery found = f.discover();
    QCOMPARE(found.folders.size(), 1);
    QCOMPARE(found.directories, QStringList{f.photos()});
    QCOMPARE(found.jobs.size(), size_t(expected == Expected::Job));
    QCOMPARE(found.skipped, qint64(expected == Expected::Skipped));
    QCOMPARE(found.vanished.size(), size_t(expected == Expected::Vanished));
    if (expected == Expected::Job) {
        const PhotoJob &job = found.jobs.front();
        const NativeFileInfo info = statNative(f.photo(name));
        QCOMPARE(job.path, f.photo(name));
        QCOMPARE(job.folderId, f.folderId);
        QCOMPARE(job.size, info.size);
        QCOMPARE(job.mtimeMs, info.mtimeMs);
        QCOMPARE(job.existingId, id);
        QCOMPARE(job.existingHadEmbedding, withVector);
        QCOMPARE(job.unchanged, unchanged);
    }
    if (expected == Expected::Vanished) {
        QCOMPARE(found.vanished.front().id, id);
        QCOMPARE(found.vanished.front().hadEmbedding, withVector);
        QCOMPARE(found.vanished.front().fullHash, fullHash); // what a move must match
    }
    // Discovery records the folders it listed (the next scan compares devices with them).
    QVERIFY(f.catalog->directories().contains(f.photos()));
}

void TestIndexSteps::discoveryKeepsPhotosOfAMissingRootOffline() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 1));
    const qint64 id = f.addRow(QStringLiteral("a.png"), true);
    QVERIFY(QDir(f.photos()).removeRecursively()); // as an unmounted disk's folder

    const Discovery found = f.discover();
    QVERIFY(found.jobs.empty());
    QVERIFY(found.vanished.empty()); // kept, not taken for deleted
    const QList<OfflineDirectory> offline = f.catalog->offlineDirectories();
    QCOMPARE(offline.size(), 1);
    QCOMPARE(offline.front().path, f.photos());
    QVERIFY2(offline.front().reason.contains(QLatin1String("missing")),
             qPrintable(offline.front().reason));
    QVERIFY(f.catalog->photo(id).has_value());
    QVERIFY(f.catalog->photo(id)->offline);
}

void TestIndexSteps::cancelledDiscoveryRecordsNothing() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 1));
    const std::atomic<bool> cancelled{true};
    const Discovery found = f.discover(cancelled);
    QVERIFY(found.jobs.empty());
    QVERIFY(f.catalog->directories().isEmpty());
}

void TestIndexSteps::discoveryCapsTheFoldersToWatch() {
    CatalogFixture f;
    QVERIFY(f.open());
    for (const char *sub : {"x", "y", "z"})
        QVERIFY(test::writePhoto(
            f.photos() + QLatin1Char('/') + QLatin1String(sub) + QStringLiteral("/p.png"), 1));
    const Discovery found = f.discover(false, 2);
    QCOMPARE(found.directories.size(), 2);
    QVERIFY(found.directoriesTruncated);
    QCOMPARE(found.jobs.size(), size_t(3)); // every folder is still walked
}

void TestIndexSteps::preparerReadsHashesAndDecodes_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("kind"); // photo | not-an-image | vanished
    QTest::newRow("png photo") << "a.png"
                               << "photo";
    QTest::newRow("jpeg photo") << "b.jpg"
                                << "photo";
    QTest::newRow("text named .jpg") << "c.jpg"
                                     << "not-an-image";
    QTest::newRow("vanished before its turn") << "d.png"
                                              << "vanished";
}

void TestIndexSteps::preparerReadsHashesAndDecodes() {
    QFETCH(QString, name);
    QFETCH(QString, kind);
    CatalogFixture f;
    QVERIFY(f.open());
    const QString path = f.photo(name);
    if (kind == QLatin1String("not-an-image"))
        QVERIFY(writeBytes(path, "this is not a photo"));
    else
        QVERIFY(test::writePhoto(path, 7, 300, 200));
    const PhotoJob job = f.jobFor(name);
    if (kind == QLatin1String("vanished"))
        QVERIFY(QFile::remove(path));
    const QString thumbnails = f.tmp.filePath(QStringLiteral("thumbnails"));
    QVERIFY(QDir().mkpath(thumbnails));

    const PreparedPhoto p = f.preparer(thumbnails).prepare(job);
    QCOMPARE(p.vanished, kind == QLatin1String("vanished"));
    QCOMPARE(p.reuseFrom, qint64(0));
    if (p.vanished) {
        QVERIFY(!p.image.has_value());
        return;
    }
    const QByteArray bytes = readAll(path);
    QCOMPARE(p.quickHash, quickContentHash(bytes));
    QCOMPARE(p.fullHash, fullContentHash(bytes));
    QCOMPARE(p.job.size, qint64(bytes.size()));
    QVERIFY(p.image.has_value());
    if (kind == QLatin1String("not-an-image")) {
        QVERIFY(!p.image->ok());
        QVERIFY2(p.image->error().message.contains(path), qPrintable(p.image->error().message));
        QVERIFY(p.thumbnail.isEmpty());
        return;
    }
    QVERIFY2(p.image->ok(), p.image->ok() ? "" : qPrintable(p.image->error().message));
    QCOMPARE((*p.image)->width, 300);
    QCOMPARE((*p.image)->height, 200);
    QVERIFY((*p.image)->thumbnail.isNull()); // written, then dropped
    QCOMPARE(p.thumbnail, thumbnails + QLatin1Char('/') + p.fullHash + QStringLiteral(".jpg"));
    QImage thumbnail(p.thumbnail);
    QVERIFY(!thumbnail.isNull());
    QVERIFY(std::max(thumbnail.width(), thumbnail.height()) <= kThumbnailSize);
}

void TestIndexSteps::preparerFindsAnEmbeddedPhotoWithTheSameBytes() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 3));
    const qint64 source = f.addRow(QStringLiteral("a.png"), true);
    QVERIFY(QFile::copy(f.photo(QStringLiteral("a.png")), f.photo(QStringLiteral("copy.png"))));

    const PhotoPreparer preparer = f.preparer();
    const PreparedPhoto copy = preparer.prepare(f.jobFor(QStringLiteral("copy.png")));
    QCOMPARE(copy.reuseFrom, source);
    QVERIFY(!copy.image.has_value()); // not decoded
    // The photo's own row never lends it its vector: a changed file is decoded and embedded.
    const PreparedPhoto own = preparer.prepare(f.jobFor(QStringLiteral("a.png"), source));
    QCOMPARE(own.reuseFrom, qint64(0));
    QVERIFY(own.image.has_value() && own.image->ok());
}

void TestIndexSteps::committerWritesRowsAndTheIndex() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 1));
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("b.png")), 2));
    QVERIFY(QFile::copy(f.photo(QStringLiteral("a.png")), f.photo(QStringLiteral("a2.png"))));
    QVERIFY(writeBytes(f.photo(QStringLiteral("bad.png")), "not a png"));
    const IndexWorkerConfig config = f.committerConfig();
    QVERIFY(config.index);
    IndexRunResult result;
    IndexProgress progress;
    BatchCommitter committer(*f.catalog, config, {}, result, progress);
    const PhotoPreparer preparer = f.preparer();
    QList<PreparedPhoto> batch;
    for (const char *name : {"a.png", "a2.png", "b.png", "bad.png"})
        batch << preparer.prepare(f.jobFor(QLatin1String(name)));

    const Status s = committer.commit(batch);
    QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
    QCOMPARE(result.embedded, qint64(2)); // a and b; a2 has a's bytes: copied, not embedded
    QCOMPARE(result.copied, qint64(1));
    QCOMPARE(result.failed, qint64(1));
    QCOMPARE(progress.failed, qint64(1));
    QCOMPARE(f.embedder->calls.load(), 2);
    const std::vector<qint64> ids = f.catalog->embeddedIds(f.embedder->modelKey());
    QCOMPARE(ids.size(), size_t(3));
    QCOMPARE(config.index->size(), qint64(3));
    for (qint64 id : ids)
        QVERIFY(config.index->contains(id));
    const QList<PhotoRecord> failed = f.catalog->failedPhotos();
    QCOMPARE(failed.size(), 1);
    QVERIFY(failed.front().error.contains(f.photo(QStringLiteral("bad.png"))));

    QVERIFY(!QFileInfo::exists(config.indexPath));
    committer.saveIndex();
    QVERIFY(QFileInfo::exists(config.indexPath));
}

void TestIndexSteps::committerTurnsAVanishedRowIntoAMove() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("old.png")), 4));
    const qint64 id = f.addRow(QStringLiteral("old.png"), true);
    QVERIFY(QFile::rename(f.photo(QStringLiteral("old.png")), f.photo(QStringLiteral("new.png"))));
    const Discovery found = f.discover();
    QCOMPARE(found.vanished.size(), size_t(1));
    QCOMPARE(found.jobs.size(), size_t(1));

    const IndexWorkerConfig config = f.committerConfig();
    QVERIFY(config.index);
    IndexRunResult result;
    IndexProgress progress;
    BatchCommitter committer(*f.catalog, config, found.vanished, result, progress);
    QCOMPARE(committer.unclaimedVanished(), std::vector<qint64>{id});
    const Status s = committer.commit({f.preparer().prepare(found.jobs.front())});
    QVERIFY(s.ok());
    QCOMPARE(result.moved, qint64(1));
    QCOMPARE(result.embedded, qint64(0));
    QVERIFY(committer.unclaimedVanished().empty());
    QCOMPARE(f.catalog->photo(id)->path, f.photo(QStringLiteral("new.png")));
    QCOMPARE(f.catalog->embedding(id, f.embedder->modelKey()),
             std::vector<float>(size_t(f.embedder->dimension()), 0.5f)); // the same vector
}

void TestIndexSteps::committerLeavesTheIndexAloneWhenTheCatalogRefuses() {
    CatalogFixture f;
    QVERIFY(f.open());
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 1));
    const IndexWorkerConfig config = f.committerConfig();
    QVERIFY(config.index);
    IndexRunResult result;
    IndexProgress progress;
    BatchCommitter committer(*f.catalog, config, {}, result, progress);
    const PreparedPhoto p = f.preparer().prepare(f.jobFor(QStringLiteral("a.png")));
    f.catalog->setQueryOnly(true); // writes fail as on a read-only file
    const Status s = committer.commit({p});
    QVERIFY(!s.ok());
    QVERIFY2(s.error().message.contains(f.catalog->path()), qPrintable(s.error().message));
    QCOMPARE(config.index->size(), qint64(0));
    f.catalog->setQueryOnly(false);
    QVERIFY(f.catalog->embeddedIds(f.embedder->modelKey()).empty());
}

void TestIndexSteps::rerankFeaturesAreFiledUnderTheCatalogsStamp() {
    CatalogFixture f;
    QVERIFY(f.open());
    auto embedder = std::make_shared<FusionEmbedder>();
    f.embedder = embedder;
    QVERIFY(test::writePhoto(f.photo(QStringLiteral("a.png")), 5));
    IndexWorkerConfig config = f.committerConfig();
    QVERIFY(config.index);
    const QString rerank = f.tmp.filePath(QStringLiteral("rerank"));
    config.fusionCache = std::make_shared<FusionCache>(
        embedder->modelKey(), FusionCache::Options{1 << 20, 1 << 20, rerank});
    config.fusionDiskBudget = 1 << 20;
    IndexRunResult result;
    IndexProgress progress;
    BatchCommitter committer(*f.catalog, config, {}, result, progress);
    const Status s = committer.commit({f.preparer().prepare(f.jobFor(QStringLiteral("a.png")))});
    QVERIFY(s.ok());
    const qint64 id = f.catalog->embeddedIds(embedder->modelKey()).front();

    // The reader (search, the orphan collection) finds the features under the catalog's stamp of
    // the photo, which is its file's size and mtime.
    const QString stamp = f.catalog->photoStamps().value(id);
    const NativeFileInfo info = statNative(f.photo(QStringLiteral("a.png")));
    QCOMPARE(stamp, Catalog::photoStamp(info.size, info.mtimeMs));
    FusionCache reader(embedder->modelKey(), FusionCache::Options{1 << 20, 1 << 20, rerank});
    const std::optional<FloatTensor> features = reader.get(id, stamp);
    QVERIFY(features.has_value());
    QCOMPARE(reader.stats().diskHits, qint64(1));
    const std::vector<float> vector = f.catalog->embedding(id, embedder->modelKey());
    QCOMPARE(features->shape, (std::vector<int64_t>{1, 1, 2, 4}));
    for (size_t i = 0; i < 8; ++i)
        QVERIFY(std::abs(features->data[i] - vector[i]) < 1e-3f); // float16 on disk
    // A file rewritten in place has another stamp: its old features are never served.
    QVERIFY(!reader.get(id, Catalog::photoStamp(info.size + 1, info.mtimeMs)).has_value());
}

QTEST_GUILESS_MAIN(TestIndexSteps)
#include "tst_indexsteps.moc"
