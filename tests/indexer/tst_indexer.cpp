// The background indexer and its catalog, with a fake embedder (fast, model-free): incremental
// rules, moves by content hash, copies, deletion, model change, bad files, folders to skip,
// cancellation, a full disk, live watching and schema migrations. The real tiny model end to end
// at the end.
#include "core/common/nativepath.h"
#include "core/image/imagedecoder.h"
#include "core/index/indexfileformat.h"
#include "core/index/vectorindex.h"
#include "core/search/bridgetowerpipeline.h"
#include "fakeembedder.h"
#include "indexer/catalog.h"
#include "indexer/indexworker.h"
#include "indexer/library.h"
#include "indexertestutil.h"
#include "libraryfixture.h"
#include "testdata.h"
#include "tests/index/olderindexfile.h"

#include <QCryptographicHash>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <cerrno>
#include <cstring>
#include <latch>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace ts;
using ts::test::FakeEmbedder;

namespace {

using Fixture = test::LibraryFixture;
using test::runIndex;

void setMtime(const QString &path, const QDateTime &when) {
    QFile f(path);
    if (f.open(QIODevice::ReadWrite))
        f.setFileTime(when, QFileDevice::FileModificationTime);
}

QByteArray readAll(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// Two uncompressed scans of one page (BMP, ~360 KB) that differ only in a band in the middle, as
// two flatbed scans with blank margins do: same size, same first and last 64 KiB.
bool writeScansDifferingInTheMiddle(const QString &a, const QString &b) {
    QDir().mkpath(QFileInfo(a).absolutePath());
    QDir().mkpath(QFileInfo(b).absolutePath());
    QImage page(400, 300, QImage::Format_RGB888);
    page.fill(Qt::white);
    if (!page.save(a, "BMP"))
        return false;
    for (int y = 140; y < 160; ++y)
        for (int x = 100; x < 300; ++x)
            page.setPixelColor(x, y, QColor(20, 20, 20));
    return page.save(b, "BMP");
}

// The catalog's embedding of every photo, as the vector index must serve it (L2-normalised).
QHash<qint64, std::vector<float>> catalogVectors(const QString &db, const QString &modelKey) {
    QHash<qint64, std::vector<float>> out;
    auto catalog = Catalog::open(db);
    if (!catalog)
        return out;
    for (qint64 id : (*catalog)->embeddedIds(modelKey)) {
        std::vector<float> v = (*catalog)->embedding(id, modelKey);
        double norm = 0;
        for (float x : v)
            norm += double(x) * x;
        for (float &x : v)
            x = float(x / std::sqrt(norm));
        out.insert(id, v);
    }
    return out;
}

// Loads the library's saved index file and checks that every id holds the catalog's vector of
// that photo (and nothing else); returns what is wrong, or an empty string.
QString indexFileServesCatalogVectors(const Library &lib, const QString &db,
                                      const QString &modelKey, int dim) {
    auto index = VectorIndex::load(lib.vectorIndexPath(modelKey), modelKey, {dim});
    if (!index)
        return index.error().message;
    const auto expected = catalogVectors(db, modelKey);
    if (index->size() != expected.size())
        return QStringLiteral("index holds %1 vectors, catalog %2")
            .arg(index->size())
            .arg(expected.size());
    for (auto it = expected.cbegin(); it != expected.cend(); ++it) {
        const std::vector<float> got = index->vector(it.key());
        if (got.size() != it->size())
            return QStringLiteral("photo %1 missing from the index").arg(it.key());
        for (size_t i = 0; i < got.size(); ++i)
            if (std::abs(got[i] - (*it)[i]) > 1e-5f)
                return QStringLiteral("photo %1 has another vector in the index").arg(it.key());
    }
    return {};
}

} // namespace

class TestIndexer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void indexesNewPhotosAndSkipsUnchangedOnes();
    void changedPhotoIsReembedded();
    void movedOrRenamedPhotoKeepsItsEmbedding();
    void copiedPhotoReusesTheVector();
    void moveIsPreferredOverCopyWhenDuplicatesExist();
    void onlyWholeContentMatchesReuseAVector_data();
    void onlyWholeContentMatchesReuseAVector();
    void duplicatesInOneRunAreEmbeddedOnce_data();
    void duplicatesInOneRunAreEmbeddedOnce();
    void photoIdsAreNeverReused();
    void staleIndexFileNeverServesAnotherPhotosVector();
    void indexFileFromBeforeAnInPlaceChangeIsRebuilt();
    void version1DatabaseIsMigratedKeepingIdsAndVectors();
    void deletedPhotoLeavesCatalogAndIndex();
    void badFilesAreRecordedAndSkipped();
    void vanishedMidScanIsNotAFailure();
    void skipsHiddenExcludedAndOwnFoldersAndSurvivesSymlinkLoops();
    void nonUtf8FileNamesAreIndexedLikeAnyOther();
    void modelChangeReembedsWhileTheOldModelServes();
    void forgetFolderRemovesItsPhotos();
    void cancelStopsWithinOneBatchAndRunAgainResumes();
    void pauseHoldsAndResumeGoesOn();
    void progressIsThrottled();
    void fullDiskStopsCleanly();
    void readOnlyDatabaseStopsCleanly();
    void vectorIndexIsRebuiltWhenOutOfStep();
    void vectorIndexIsRebuiltFromACraftedFile();
    void olderIndexFileIsRebuilt();
    void liveWatchingPicksUpNewFiles();
    void dateTakenComesFromExif();
    void freshDatabaseGetsTheCurrentSchema();
    void olderSchemaIsMigrated();
    void newerSchemaIsRefusedAndLeftUntouched();
    void concurrentOpensOfAFreshDatabaseMigrateItOnce();
    void realModelEndToEnd();
    void droppedPhotoUsesItsStoredVector_data();
    void droppedPhotoUsesItsStoredVector();
};

void TestIndexer::indexesNewPhotosAndSkipsUnchangedOnes() {
    Fixture f;
    for (int i = 0; i < 6; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/sub/deeper/q.jpg"), 99));
    QFile::copy(f.photos() + QStringLiteral("/p0.png"),
                f.photos() + QStringLiteral("/notes.txt")); // not a photo name
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 7);
    QCOMPARE(lib->stats().indexed, 7);
    QCOMPARE(lib->stats().photos, 7);
    QCOMPARE(f.embedder->calls.load(), 7);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    const auto folders = lib->folders();
    QCOMPARE(folders.size(), 1);
    QCOMPARE(folders[0].photoCount, 7);
    QVERIFY(folders[0].lastScan.isValid());

    // Unchanged: not even opened (the fake's prepare would be called for any read).
    int prepared = 0;
    f.embedder->onPrepare = [&](const QString &) { ++prepared; };
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().skipped, 7);
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(prepared, 0);
    QCOMPARE(f.embedder->calls.load(), 7);

    // A reopened library resumes from the catalog too.
    lib.reset();
    lib = f.open();
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    auto rec = lib->photo(1);
    QVERIFY(rec);
    QCOMPARE(rec->state, PhotoState::Indexed);
    QVERIFY(rec->width > 0);
    QVERIFY(QFileInfo::exists(rec->thumbnailPath));
}

void TestIndexer::changedPhotoIsReembedded() {
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString path = f.photos() + QStringLiteral("/p1.png");
    QVERIFY(test::writePhoto(path, 1234, 64, 40));
    setMtime(path, QDateTime::currentDateTime().addSecs(5));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 1);
    QCOMPARE(lib->lastRunSummary().skipped, 2);
    QCOMPARE(lib->stats().photos, 3);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::movedOrRenamedPhotoKeepsItsEmbedding() {
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString from = f.photos() + QStringLiteral("/p2.png");
    const auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    const qint64 id = *(*catalog)->idForPath(from);
    QVERIFY(QDir().mkpath(f.photos() + QStringLiteral("/moved")));
    const QString to = f.photos() + QStringLiteral("/moved/renamed.png");
    QVERIFY(QFile::rename(from, to));
    QVERIFY(QFile::rename(f.photos() + QStringLiteral("/p0.png"),
                          f.photos() + QStringLiteral("/zero.png")));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().moved, 2);
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(f.embedder->calls.load(), 3);
    QCOMPARE((*catalog)->idForPath(to), std::optional<qint64>(id));
    QVERIFY(!(*catalog)->idForPath(from));
    QCOMPARE(lib->stats().photos, 3);
    QCOMPARE(lib->stats().indexed, 3);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::copiedPhotoReusesTheVector() {
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/a.png"), 1));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QVERIFY(QFile::copy(f.photos() + QStringLiteral("/a.png"),
                        f.photos() + QStringLiteral("/copy of a.png")));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().copied, 1);
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->stats().indexed, 2);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::moveIsPreferredOverCopyWhenDuplicatesExist() {
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/a.png"), 1));
    QVERIFY(
        QFile::copy(f.photos() + QStringLiteral("/a.png"), f.photos() + QStringLiteral("/b.png")));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    // Duplicates discovered in the same run are embedded once.
    QCOMPARE(f.embedder->calls.load(), 1);
    auto catalog = Catalog::open(f.db());
    const qint64 idA = *(*catalog)->idForPath(f.photos() + QStringLiteral("/a.png"));
    QVERIFY(QFile::rename(f.photos() + QStringLiteral("/a.png"),
                          f.photos() + QStringLiteral("/c.png")));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().moved, 1);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE((*catalog)->idForPath(f.photos() + QStringLiteral("/c.png")),
             std::optional<qint64>(idA));
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::onlyWholeContentMatchesReuseAVector_data() {
    QTest::addColumn<bool>("keepOriginal");
    QTest::newRow("second scan beside the first (looks like a copy)") << true;
    QTest::newRow("first scan replaced by the second (looks like a move)") << false;
}

void TestIndexer::onlyWholeContentMatchesReuseAVector() {
    // Two scans with equal size, head and tail but different middles are different photos: the
    // second gets its own vector and thumbnail, never the first one's.
    QFETCH(bool, keepOriginal);
    Fixture f;
    const QString first = f.photos() + QStringLiteral("/scan-001.bmp");
    const QString second = f.photos() + QStringLiteral("/scan-002.bmp");
    QVERIFY(writeScansDifferingInTheMiddle(first, second));
    const QByteArray a = readAll(first), b = readAll(second);
    constexpr qsizetype kEdge = 64 * 1024;
    QVERIFY(a.size() == b.size() && a.size() > 3 * kEdge);
    QVERIFY(a != b && a.left(kEdge) == b.left(kEdge) && a.right(kEdge) == b.right(kEdge));
    QVERIFY(QFile::rename(second, f.tmp.filePath(QStringLiteral("second.bmp")))); // added later
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 1);
    if (!keepOriginal)
        QVERIFY(QFile::remove(first));
    QVERIFY(QFile::rename(f.tmp.filePath(QStringLiteral("second.bmp")), second));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 1);
    QCOMPARE(lib->lastRunSummary().copied, 0);
    QCOMPARE(lib->lastRunSummary().moved, 0);
    QCOMPARE(lib->lastRunSummary().removed, keepOriginal ? 0 : 1);
    QCOMPARE(f.embedder->calls.load(), 2);
    auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    const auto secondId = (*catalog)->idForPath(second);
    QVERIFY(secondId);
    const auto secondRecord = lib->photo(*secondId);
    QVERIFY(secondRecord && QFileInfo::exists(secondRecord->thumbnailPath));
    // Its thumbnail shows its own content (the dark band), not the blank first scan.
    const QImage thumb(secondRecord->thumbnailPath);
    QVERIFY(!thumb.isNull());
    QVERIFY2(qGray(thumb.pixel(thumb.width() / 2, thumb.height() / 2)) < 100,
             qPrintable(secondRecord->thumbnailPath));
    if (keepOriginal) {
        const auto firstId = (*catalog)->idForPath(first);
        QVERIFY(firstId && *firstId != *secondId);
        QVERIFY((*catalog)->embedding(*firstId, f.embedder->modelKey()) !=
                (*catalog)->embedding(*secondId, f.embedder->modelKey()));
        QVERIFY(lib->photo(*firstId)->thumbnailPath != secondRecord->thumbnailPath);
    }
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(indexFileServesCatalogVectors(*lib, f.db(), f.embedder->modelKey(), 8), QString());
}

void TestIndexer::duplicatesInOneRunAreEmbeddedOnce_data() {
    QTest::addColumn<int>("batchSize");
    QTest::newRow("in one batch") << 8;
    QTest::newRow("in different batches") << 1;
}

void TestIndexer::duplicatesInOneRunAreEmbeddedOnce() {
    QFETCH(int, batchSize);
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/a.png"), 1));
    QVERIFY(
        QFile::copy(f.photos() + QStringLiteral("/a.png"), f.photos() + QStringLiteral("/b.png")));
    QVERIFY(QFile::copy(f.photos() + QStringLiteral("/a.png"),
                        f.photos() + QStringLiteral("/sub/c.png")) ||
            (QDir().mkpath(f.photos() + QStringLiteral("/sub")) &&
             QFile::copy(f.photos() + QStringLiteral("/a.png"),
                         f.photos() + QStringLiteral("/sub/c.png"))));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/other.png"), 2));
    LibraryOptions options;
    options.batchSize = batchSize;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(f.embedder->calls.load(), 2); // a.png's content once, other.png once
    QCOMPARE(lib->lastRunSummary().embedded, 2);
    QCOMPARE(lib->lastRunSummary().copied, 2);
    QCOMPARE(lib->stats().indexed, 4);
    auto catalog = Catalog::open(f.db());
    const auto key = f.embedder->modelKey();
    const auto va =
        (*catalog)->embedding(*(*catalog)->idForPath(f.photos() + QStringLiteral("/a.png")), key);
    QVERIFY(!va.empty());
    QCOMPARE(
        (*catalog)->embedding(*(*catalog)->idForPath(f.photos() + QStringLiteral("/b.png")), key),
        va);
    QCOMPARE((*catalog)->embedding(
                 *(*catalog)->idForPath(f.photos() + QStringLiteral("/sub/c.png")), key),
             va);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(indexFileServesCatalogVectors(*lib, f.db(), key, 8), QString());
}

void TestIndexer::photoIdsAreNeverReused() {
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    qint64 highest = 0;
    QString highestPath;
    for (int i = 0; i < 3; ++i) {
        const QString path = f.photos() + QStringLiteral("/p%1.png").arg(i);
        const qint64 id = *(*catalog)->idForPath(path);
        if (id > highest) {
            highest = id;
            highestPath = path;
        }
    }
    QVERIFY(QFile::remove(highestPath));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 1);
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/new.png"), 77));
    QVERIFY(runIndex(*lib));
    const auto newId = (*catalog)->idForPath(f.photos() + QStringLiteral("/new.png"));
    QVERIFY(newId);
    QVERIFY2(*newId > highest,
             qPrintable(QStringLiteral("new id %1, deleted id %2").arg(*newId).arg(highest)));
    // Also across a reopen and when every photo is gone.
    lib.reset();
    for (const QString &name : QDir(f.photos()).entryList(QDir::Files))
        QVERIFY(QFile::remove(f.photos() + QLatin1Char('/') + name));
    lib = f.open();
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().photos, 0);
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/again.png"), 78));
    QVERIFY(runIndex(*lib));
    const auto againId = (*catalog)->idForPath(f.photos() + QStringLiteral("/again.png"));
    QVERIFY(againId && *againId > *newId);
}

void TestIndexer::staleIndexFileNeverServesAnotherPhotosVector() {
    // An index file saved before a deletion (a crash before the next save, a copy from a backup)
    // must never give a new photo the deleted photo's vector.
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString indexPath = lib->vectorIndexPath(f.embedder->modelKey());
    const QString saved = f.tmp.filePath(QStringLiteral("index-before-delete.tsvi"));
    QVERIFY(QFile::copy(indexPath, saved));
    QVERIFY(QFile::remove(f.photos() + QStringLiteral("/p2.png"))); // the highest id
    QVERIFY(runIndex(*lib));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/different.png"), 99));
    QVERIFY(runIndex(*lib));
    lib.reset();
    QVERIFY(QFile::remove(indexPath));
    QVERIFY(QFile::copy(saved, indexPath));
    lib = f.open();
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(indexFileServesCatalogVectors(*lib, f.db(), f.embedder->modelKey(), 8), QString());
}

void TestIndexer::indexFileFromBeforeAnInPlaceChangeIsRebuilt() {
    // Same ids, but one photo was rewritten in place and re-embedded after the file was saved:
    // the index's fingerprint covers each vector's content, so the old file is rebuilt.
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString indexPath = lib->vectorIndexPath(f.embedder->modelKey());
    const QString saved = f.tmp.filePath(QStringLiteral("index-before-change.tsvi"));
    QVERIFY(QFile::copy(indexPath, saved));
    const QString path = f.photos() + QStringLiteral("/p1.png");
    QVERIFY(test::writePhoto(path, 4321, 60, 40));
    setMtime(path, QDateTime::currentDateTime().addSecs(5));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 1);
    lib.reset();
    QVERIFY(QFile::remove(indexPath));
    QVERIFY(QFile::copy(saved, indexPath));
    lib = f.open();
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(indexFileServesCatalogVectors(*lib, f.db(), f.embedder->modelKey(), 8), QString());
}

void TestIndexer::version1DatabaseIsMigratedKeepingIdsAndVectors() {
    // A library written by schema version 1 (ids without a high-water mark, quick hashes only):
    // migrated in place, ids, vectors and foreign keys kept; ids are not reused afterwards.
    Fixture f;
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    lib.reset();
    const auto before = catalogVectors(f.db(), f.embedder->modelKey());
    QCOMPARE(before.size(), 3);
    {
        // Turn the database back into version 1 the way version 1 wrote it.
        const char *undoPostgres = TS_UNDO_WORKERS
            " " TS_UNDO_ROOTS " " TS_UNDO_CHANGE_SEQUENCE_PG
            " DROP INDEX photos_taken; DROP INDEX photos_type; DROP INDEX photos_camera;" // 4 -> 3
            " DROP INDEX photos_name; ALTER TABLE photos DROP COLUMN camera_make,"
            " DROP COLUMN camera_model, DROP COLUMN file_type, DROP COLUMN file_name,"
            " DROP COLUMN taken_is_file_time, DROP COLUMN metadata_version;"
            " ALTER TABLE photos DROP COLUMN full_hash;"                       // 3 -> 2
            " DROP TABLE directories; ALTER TABLE photos DROP COLUMN offline;" // 2 -> 1
            " UPDATE meta SET value = '1' WHERE key = 'schema_version';";
        const char *undoSqlite = TS_UNDO_WORKERS
            " " TS_UNDO_ROOTS " " TS_UNDO_CHANGE_SEQUENCE
            " DROP INDEX photos_taken; DROP INDEX photos_type; DROP INDEX photos_camera;" // 4 -> 3
            " DROP INDEX photos_name; ALTER TABLE photos DROP COLUMN camera_make;"
            " ALTER TABLE photos DROP COLUMN camera_model;"
            " ALTER TABLE photos DROP COLUMN file_type; ALTER TABLE photos DROP COLUMN file_name;"
            " ALTER TABLE photos DROP COLUMN taken_is_file_time;"
            " ALTER TABLE photos DROP COLUMN metadata_version;"
            " DROP TRIGGER photos_last_id; DELETE FROM meta WHERE key = 'photos_last_id';"
            " ALTER TABLE photos DROP COLUMN full_hash;"                       // 3 -> 2
            " DROP TABLE directories; ALTER TABLE photos DROP COLUMN offline;" // 2 -> 1
            " PRAGMA user_version = 1;";
        QCOMPARE(test::execSql(f.db(), test::isPostgresRun() ? undoPostgres : undoSqlite),
                 QString());
    }
    lib = f.open();
    QVERIFY(lib);
    auto catalog = Catalog::open(f.db());
    QCOMPARE((*catalog)->schemaVersion(), Catalog::kSchemaVersion);
    QCOMPARE(catalogVectors(f.db(), f.embedder->modelKey()), before);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    const qint64 highest = *std::max_element(before.keyBegin(), before.keyEnd());
    QVERIFY(QFile::remove(f.photos() + QStringLiteral("/p2.png")));
    QVERIFY(runIndex(*lib));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/new.png"), 50));
    QVERIFY(runIndex(*lib));
    QVERIFY(*(*catalog)->idForPath(f.photos() + QStringLiteral("/new.png")) > highest);
    QCOMPARE(lib->stats().indexed, 3);
}

void TestIndexer::deletedPhotoLeavesCatalogAndIndex() {
    Fixture f;
    for (int i = 0; i < 4; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QVERIFY(QFile::remove(f.photos() + QStringLiteral("/p3.png")));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 1);
    QCOMPARE(lib->stats().photos, 3);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    // The saved index file matches the catalog too.
    auto index = VectorIndex::load(lib->vectorIndexPath(f.embedder->modelKey()),
                                   f.embedder->modelKey(), {8});
    QVERIFY(index);
    QCOMPARE(index->size(), 3);
}

void TestIndexer::badFilesAreRecordedAndSkipped() {
    Fixture f;
    const QString dir = f.photos();
    QVERIFY(test::writePhoto(dir + QStringLiteral("/good1.png"), 1));
    QVERIFY(test::writePhoto(dir + QStringLiteral("/good2.jpg"), 2));
    QDir().mkpath(dir);
    {
        QFile z(dir + QStringLiteral("/zero.jpg"));
        QVERIFY(z.open(QIODevice::WriteOnly));
    }
    {
        QFile t(dir + QStringLiteral("/text.png"));
        QVERIFY(t.open(QIODevice::WriteOnly));
        t.write("this is not an image\n");
    }
    {
        QFile good(dir + QStringLiteral("/good2.jpg"));
        QVERIFY(good.open(QIODevice::ReadOnly));
        QFile bad(dir + QStringLiteral("/truncated.jpg"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write(good.read(good.size() / 3));
    }
    QVERIFY(test::writePngHeaderOnly(dir + QStringLiteral("/bomb.png"), 100000, 100000));
    QStringList bad{QStringLiteral("zero.jpg"), QStringLiteral("text.png"),
                    QStringLiteral("truncated.jpg"), QStringLiteral("bomb.png")};
    if (geteuid() != 0) { // root reads anything: permission denied cannot be staged
        QVERIFY(test::writePhoto(dir + QStringLiteral("/locked.png"), 3));
        QFile::setPermissions(dir + QStringLiteral("/locked.png"), QFileDevice::Permissions());
        bad << QStringLiteral("locked.png");
    }
    auto lib = f.open();
    QVERIFY(lib->addFolder(dir).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 2);
    QCOMPARE(lib->lastRunSummary().failed, bad.size());
    const auto failed = lib->failedPhotos();
    QCOMPARE(failed.size(), bad.size());
    for (const PhotoRecord &r : failed) {
        QVERIFY2(bad.contains(QFileInfo(r.path).fileName()), qPrintable(r.path));
        QCOMPARE(r.state, PhotoState::Failed);
        QVERIFY2(r.error.contains(QFileInfo(r.path).fileName()),
                 qPrintable(r.error)); // the message names the file
    }
    QCOMPARE(lib->stats().failed, bad.size());
    // Failed files are not retried while unchanged, and are once they change.
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().failed, 0);
    QVERIFY(test::writePhoto(dir + QStringLiteral("/zero.jpg"), 7));
    setMtime(dir + QStringLiteral("/zero.jpg"), QDateTime::currentDateTime().addSecs(10));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 1);
    QCOMPARE(lib->failedPhotos().size(), bad.size() - 1);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::vanishedMidScanIsNotAFailure() {
    Fixture f;
    for (int i = 0; i < 6; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    const QString victim = f.photos() + QStringLiteral("/p5.png");
    f.embedder->onPrepare = [victim](const QString &path) {
        if (path.endsWith(QLatin1String("p0.png")))
            QFile::remove(victim);
    };
    LibraryOptions options;
    options.batchSize = 1;
    options.decodeThreads = 1;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().failed, 0);
    QCOMPARE(lib->stats().photos, 5);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::skipsHiddenExcludedAndOwnFoldersAndSurvivesSymlinkLoops() {
    Fixture f;
    const QString dir = f.photos();
    QVERIFY(test::writePhoto(dir + QStringLiteral("/a.png"), 1));
    QVERIFY(test::writePhoto(dir + QStringLiteral("/.hidden/b.png"), 2));
    QVERIFY(test::writePhoto(dir + QStringLiteral("/.c.png"), 3));
    QVERIFY(test::writePhoto(dir + QStringLiteral("/private/d.png"), 4));
    QVERIFY(test::writePhoto(dir + QStringLiteral("/sub/e.png"), 5));
    QVERIFY(QFile::link(dir, dir + QStringLiteral("/sub/loop"))); // a loop back to the top
    QVERIFY(QFile::link(dir + QStringLiteral("/sub"), dir + QStringLiteral("/sub/self")));
    LibraryOptions options;
    options.excludedFolders = {dir + QStringLiteral("/private")};
    // The library's own cache inside the watched folder is never indexed.
    options.cacheDirectory = dir + QStringLiteral("/cache");
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(dir).ok());
    QVERIFY(runIndex(*lib, 20000));
    QCOMPARE(lib->stats().photos, 2); // a.png, sub/e.png
    QVERIFY(QFileInfo::exists(dir + QStringLiteral("/cache/thumbnails")));
    QVERIFY(runIndex(*lib, 20000)); // the thumbnails written under the folder stay out
    QCOMPARE(lib->stats().photos, 2);
}

void TestIndexer::nonUtf8FileNamesAreIndexedLikeAnyOther() {
    // Names from old FAT drives and archives: Latin-1 "cafe" with e acute (0xE9) and with e grave
    // (0xE8) are not valid UTF-8 and differ only in that byte. Each is its own photo: indexed,
    // with its own vector and row, found again by its path and opened through it; a folder with
    // such a name is walked too; moves and deletions are recognised.
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/ok.png"), 1));
    const QByteArray dir = QFile::encodeName(f.photos());
    const QByteArray folder = dir + "/\xc9t\xe9 2003"; // "Ete 2003" in Latin-1
    const QByteArray names[] = {dir + "/caf\xe9.png", dir + "/caf\xe8.png",
                                folder + "/plage\xff.jpg"};
    if (::mkdir(folder.constData(), 0755) != 0) {
        if (errno == EILSEQ || errno == EINVAL)
            QSKIP(qPrintable(
                QStringLiteral("the filesystem of %1 refuses names that are not valid UTF-8: %2")
                    .arg(f.photos(), QString::fromLocal8Bit(std::strerror(errno)))));
        QFAIL(std::strerror(errno));
    }
    QHash<QByteArray, QByteArray> contents;
    for (int i = 0; i < 3; ++i) {
        const QString scratch =
            f.tmp.filePath(QStringLiteral("scratch%1.%2").arg(i).arg(i == 2 ? "jpg" : "png"));
        QVERIFY(test::writePhoto(scratch, quint32(10 + i)));
        contents.insert(names[i], readAll(scratch));
        QVERIFY2(::rename(QFile::encodeName(scratch).constData(), names[i].constData()) == 0,
                 std::strerror(errno));
    }
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().failed, 0);
    QCOMPARE(lib->stats().indexed, 4);
    QCOMPARE(lib->stats().photos, 4);
    auto catalog = Catalog::open(f.db());
    QSet<QString> thumbnails;
    std::set<std::vector<float>> vectors;
    for (const QByteArray &name : names) {
        const QString path = pathFromNative(name);
        const auto id = (*catalog)->idForPath(path);
        QVERIFY2(id, name.constData());
        const auto record = lib->photo(*id);
        QVERIFY(record);
        QCOMPARE(nativePath(record->path), name); // the exact bytes, not a lossy decoding
        QCOMPARE(record->state, PhotoState::Indexed);
        QVERIFY(record->width > 0 && QFileInfo::exists(record->thumbnailPath));
        thumbnails.insert(record->thumbnailPath);
        // Opened through its path: the bytes of this file, not of its look-alike.
        const auto read = readImageFile(record->path);
        QVERIFY2(read, read ? "" : qPrintable(read.error().message));
        QCOMPARE(*read, contents.value(name));
        vectors.insert((*catalog)->embedding(*id, f.embedder->modelKey()));
    }
    QCOMPARE(thumbnails.size(), 3);
    QCOMPARE(vectors.size(), 3);
    // Stable: skipped, neither retried nor duplicated.
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().skipped, 4);
    QCOMPARE(lib->stats().photos, 4);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    // A rename between two such names is a move; a deletion removes only that photo.
    const qint64 movedId = *(*catalog)->idForPath(pathFromNative(names[0]));
    const QByteArray renamed = dir + "/caf\xe9 (1).png";
    QVERIFY(::rename(names[0].constData(), renamed.constData()) == 0);
    QVERIFY(::unlink(names[1].constData()) == 0);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().moved, 1);
    QCOMPARE(lib->lastRunSummary().removed, 1);
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE((*catalog)->idForPath(pathFromNative(renamed)), std::optional<qint64>(movedId));
    QVERIFY(!(*catalog)->idForPath(pathFromNative(names[0])));
    QVERIFY((*catalog)->idForPath(pathFromNative(names[2])));
    QCOMPARE(lib->stats().photos, 3);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    // QTemporaryDir cannot name these files to remove them.
    ::unlink(renamed.constData());
    ::unlink(names[2].constData());
    ::rmdir(folder.constData());
}

void TestIndexer::modelChangeReembedsWhileTheOldModelServes() {
    Fixture f;
    for (int i = 0; i < 4; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    auto second = std::make_shared<FakeEmbedder>(QStringLiteral("fake-model-2"), 16);
    QVERIFY(lib->setEmbedder(second).ok());
    QCOMPARE(lib->stats().modelKey, QStringLiteral("fake-model-1")); // still serving search
    QCOMPARE(lib->stats().indexingModelKey, QStringLiteral("fake-model-2"));
    QCOMPARE(lib->stats().pending, 4);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 4);
    QCOMPARE(second->calls.load(), 4);
    QCOMPARE(lib->stats().modelKey, QStringLiteral("fake-model-2")); // complete: it took over
    QCOMPARE(lib->stats().modelEmbeddings.size(),
             2); // the old vectors stay (switching back is free)
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    // Back to the first model: nothing to embed.
    QVERIFY(lib->setEmbedder(f.embedder).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->stats().modelKey, QStringLiteral("fake-model-1"));
}

void TestIndexer::forgetFolderRemovesItsPhotos() {
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/one/a.png"), 1));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/two/b.png"), 2));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos() + QStringLiteral("/one")).ok());
    QVERIFY(lib->addFolder(f.photos() + QStringLiteral("/two/")).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().photos, 2);
    QVERIFY(lib->forgetFolder(f.photos() + QStringLiteral("/two")).ok());
    QCOMPARE(lib->stats().photos, 1);
    QCOMPARE(lib->folders().size(), 1);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    const Status missing = lib->forgetFolder(f.photos() + QStringLiteral("/three"));
    QVERIFY(!missing.ok());
    QCOMPARE(missing.error().code, Error::Code::NotFound);
}

void TestIndexer::cancelStopsWithinOneBatchAndRunAgainResumes() {
    Fixture f;
    for (int i = 0; i < 30; ++i)
        QVERIFY(test::writePhoto(
            f.photos() + QStringLiteral("/p%1.png").arg(i, 2, 10, QLatin1Char('0')), quint32(i)));
    f.embedder->delayMs = 60;
    LibraryOptions options;
    options.batchSize = 2;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QSignalSpy finished(lib.get(), &Library::indexingFinished);
    connect(lib.get(), &Library::progressChanged, lib.get(), [&](const IndexProgress &p) {
        if (p.done >= 4)
            lib->cancelIndexing();
    });
    QElapsedTimer t;
    lib->startIndexing();
    QTRY_VERIFY_WITH_TIMEOUT(f.embedder->calls.load() >= 4, 10000);
    t.start();
    QVERIFY(finished.wait(5000));
    QVERIFY(t.elapsed() < 1000); // one batch is ~60 ms
    QCOMPARE(finished.first().first().toBool(), true);
    const int embeddedBefore = f.embedder->calls.load();
    QVERIFY(embeddedBefore < 30);
    disconnect(lib.get(), &Library::progressChanged, lib.get(), nullptr);
    f.embedder->delayMs = 0;
    const qint64 committed = lib->stats().indexed;
    QVERIFY(committed >= 4);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().indexed, 30);
    // Nothing committed was embedded again (at most the batch in flight at the cancel).
    QVERIFY2(f.embedder->calls.load() <= 30 + 2,
             qPrintable(QString::number(f.embedder->calls.load())));
    QCOMPARE(lib->lastRunSummary().embedded, 30 - committed);
}

void TestIndexer::pauseHoldsAndResumeGoesOn() {
    Fixture f;
    for (int i = 0; i < 12; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    f.embedder->delayMs = 30;
    LibraryOptions options;
    options.batchSize = 2;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QSignalSpy finished(lib.get(), &Library::indexingFinished);
    lib->startIndexing();
    QTRY_VERIFY_WITH_TIMEOUT(f.embedder->calls.load() >= 2, 10000);
    lib->pauseIndexing();
    QTest::qWait(150); // let the batch in flight end
    const int atPause = f.embedder->calls.load();
    QTest::qWait(300);
    QCOMPARE(f.embedder->calls.load(), atPause);
    QVERIFY(lib->isIndexing());
    lib->resumeIndexing();
    QVERIFY(finished.wait(10000));
    QCOMPARE(lib->stats().indexed, 12);
}

void TestIndexer::progressIsThrottled() {
    Fixture f;
    for (int i = 0; i < 40; ++i)
        QVERIFY(
            test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i), 16, 16));
    LibraryOptions options;
    options.batchSize = 1;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QSignalSpy progress(lib.get(), &Library::progressChanged);
    QElapsedTimer t;
    t.start();
    QVERIFY(runIndex(*lib));
    const double seconds = t.elapsed() / 1000.0;
    QVERIFY(progress.size() >= 2);
    QVERIFY2(progress.size() <= 4 + int(seconds * 10 * 1.5),
             qPrintable(QString::number(progress.size())));
    const auto last = progress.last().first().value<IndexProgress>();
    QCOMPARE(last.done, 40);
    QCOMPARE(last.total, 40);
}

void TestIndexer::fullDiskStopsCleanly() {
    TS_SKIP_ON_POSTGRES("PRAGMA max_page_count limits the size of a SQLite file");
    Fixture f;
    for (int i = 0; i < 400; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i), 8, 8));
    LibraryOptions options;
    options.maxDatabasePages = 40; // 160 KiB at 4 KiB pages: the indexer fills it
    options.batchSize = 16;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QSignalSpy errors(lib.get(), &Library::errorOccurred);
    QVERIFY(runIndex(*lib));
    QCOMPARE(errors.size(), 1);
    const QString message = errors.first().first().toString();
    QVERIFY2(message.contains(QLatin1String("disk is full")) && message.contains(f.db()),
             qPrintable(message));
    QVERIFY(!lib->lastRunSummary().error.isEmpty());
    const qint64 indexed = lib->stats().indexed;
    QVERIFY(indexed > 0 && indexed < 400);
    QCOMPARE(lib->stats().photos, indexed); // whole batches only
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::readOnlyDatabaseStopsCleanly() {
    Fixture f;
    for (int i = 0; i < 10; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    LibraryOptions options;
    options.simulateReadOnlyDatabase = true;
    auto lib = f.open(options);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QSignalSpy errors(lib.get(), &Library::errorOccurred);
    QVERIFY(runIndex(*lib));
    QCOMPARE(errors.size(), 1);
    const QString message = errors.first().first().toString();
    QVERIFY2(message.contains(QLatin1String("read-only")) && message.contains(f.db()),
             qPrintable(message));
    QCOMPARE(lib->stats().photos, 0); // nothing half-written
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

void TestIndexer::vectorIndexIsRebuiltWhenOutOfStep() {
    Fixture f;
    for (int i = 0; i < 5; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString indexPath = lib->vectorIndexPath(f.embedder->modelKey());
    lib.reset();
    QFile file(indexPath);
    QVERIFY(file.open(QIODevice::ReadWrite));
    file.resize(file.size() / 2); // corrupt
    file.close();
    lib = f.open();
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    auto index = VectorIndex::load(indexPath, f.embedder->modelKey(), {8});
    QVERIFY(index);
    QCOMPARE(index->size(), 5);
}

// A crafted index file (valid container and checksums, 200,000 nested FAISS IndexIDMap2 headers
// that overflowed FAISS's recursive reader) is refused before FAISS reads it and rebuilt from the
// catalog.
void TestIndexer::vectorIndexIsRebuiltFromACraftedFile() {
    Fixture f;
    for (int i = 0; i < 5; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString indexPath = lib->vectorIndexPath(f.embedder->modelKey());
    lib.reset();

    auto le = [](auto value) {
        return QByteArray(reinterpret_cast<const char *>(&value), sizeof value);
    };
    const QByteArray level = QByteArray("IxM2") + le(qint32(8)) + le(qint64(0)) +
                             le(qint64(1 << 20)) + le(qint64(1 << 20)) + QByteArray(1, '\1') +
                             le(qint32(0));
    QByteArray payload;
    for (int i = 0; i < 200'000; ++i)
        payload += level;
    indexfile::Header header;
    header.dimension = 8;
    header.modelKey = f.embedder->modelKey().toUtf8();
    header.payloadSize = quint64(payload.size());
    indexfile::StreamHash hash;
    hash.update(payload.constData(), size_t(payload.size()));
    header.payloadHash = hash.finish();
    QFile file(indexPath);
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QVERIFY(file.write(indexfile::encodeHeader(header) + payload) > payload.size());
    file.close();

    lib = f.open();
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    auto index = VectorIndex::load(indexPath, f.embedder->modelKey(), {8});
    QVERIFY2(index, index ? "" : qPrintable(index.error().message));
    QCOMPARE(index->size(), 5);
}

// An index file of an older format version (2: no stored nprobe tuning) is refused as
// Unsupported and rebuilt from the catalog in the current format, which carries the tuning.
void TestIndexer::olderIndexFileIsRebuilt() {
    Fixture f;
    for (int i = 0; i < 5; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    const QString indexPath = lib->vectorIndexPath(f.embedder->modelKey());
    lib.reset();

    QFile file(indexPath);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray current = file.readAll();
    file.close();
    const auto decoded = indexfile::decodeHeader(
        reinterpret_cast<const uchar *>(current.constData()), current.size());
    QVERIFY2(decoded.ok(), decoded.ok() ? "" : qPrintable(decoded.error().message));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QVERIFY(file.write(test::versionTwoFile(decoded->header, current.mid(decoded->bytes))) > 0);
    file.close();
    auto old = VectorIndex::load(indexPath, f.embedder->modelKey(), {8});
    QVERIFY(!old);
    QCOMPARE(old.error().code, Error::Code::Unsupported);

    lib = f.open();
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(lib->stats().photos, 5);
    auto index = VectorIndex::load(indexPath, f.embedder->modelKey(), {8});
    QVERIFY2(index, index ? "" : qPrintable(index.error().message));
    QCOMPARE(index->size(), 5);
}

void TestIndexer::liveWatchingPicksUpNewFiles() {
    Fixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/a.png"), 1));
    LibraryOptions options;
    options.databasePath = f.db();
    options.watchFolders = true;
    auto opened = Library::open(options);
    QVERIFY(opened);
    auto &lib = *opened;
    QVERIFY(lib->setEmbedder(f.embedder).ok());
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().photos, 1);
    QSignalSpy finished(lib.get(), &Library::indexingFinished);
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/b.png"), 2));
    QVERIFY(finished.wait(15000)); // debounced, then a rescan
    QCOMPARE(lib->stats().photos, 2);
    QVERIFY(QFile::remove(f.photos() + QStringLiteral("/a.png")));
    QVERIFY(finished.wait(15000));
    QCOMPARE(lib->stats().photos, 1);
}

void TestIndexer::dateTakenComesFromExif() {
    Fixture f;
    const QString path = f.photos() + QStringLiteral("/dated.jpg");
    QVERIFY(test::writePhoto(path, 5));
    QVERIFY(test::addExifDate(path, "2021:06:15 14:30:00"));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/undated.png"), 6));
    auto lib = f.open();
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().indexed, 2);
    auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    const auto dated = lib->photo(*(*catalog)->idForPath(path));
    QVERIFY(dated && dated->taken);
    QCOMPARE(*dated->taken, QDateTime(QDate(2021, 6, 15), QTime(14, 30, 0)));
    QVERIFY(!dated->takenIsFileTime);
    // Without EXIF, the date taken is the file's modification time, marked as such (schema 4).
    const QString undatedPath = f.photos() + QStringLiteral("/undated.png");
    const auto undated = lib->photo(*(*catalog)->idForPath(undatedPath));
    QVERIFY(undated && undated->taken && undated->takenIsFileTime);
    QCOMPARE(*undated->taken, QFileInfo(undatedPath).lastModified());
}

void TestIndexer::freshDatabaseGetsTheCurrentSchema() {
    QTemporaryDir tmp;
    auto catalog =
        Catalog::open(test::catalogLocation(tmp.filePath(QStringLiteral("new/library.sqlite"))));
    QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
    QCOMPARE((*catalog)->schemaVersion(), Catalog::kSchemaVersion);
    QCOMPARE((*catalog)->integrityCheck(), QStringLiteral("ok"));
}

void TestIndexer::olderSchemaIsMigrated() {
    // Version 0: an empty database (a SQLite file with user_version 0, a PostgreSQL database
    // without our meta table) with an unrelated table: migrated in place, the unrelated table left
    // alone.
    QTemporaryDir tmp;
    const QString path = test::catalogLocation(tmp);
    QCOMPARE(test::execSql(path, "CREATE TABLE other(x BIGINT); INSERT INTO other VALUES (42);"),
             QString());
    auto catalog = Catalog::open(path);
    QVERIFY(catalog);
    QCOMPARE((*catalog)->schemaVersion(), Catalog::kSchemaVersion);
    QVERIFY((*catalog)->addFolder(tmp.path()).ok());
}

void TestIndexer::newerSchemaIsRefusedAndLeftUntouched() {
    // A database a newer TowerSearch wrote: its version far ahead, a table this one does not know.
    QTemporaryDir tmp;
    const QString path = test::catalogLocation(tmp);
    QCOMPARE(test::execSql(path, test::isPostgresRun()
                                     ? "CREATE TABLE future(x BIGINT);"
                                       " CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);"
                                       " INSERT INTO meta VALUES ('schema_version', '99');"
                                     : "CREATE TABLE future(x); PRAGMA user_version = 99;"),
             QString());
    // What is in it: the file's bytes; on PostgreSQL every table, column and meta row.
    auto digest = [&] {
        if (!test::isPostgresRun()) {
            QFile file(path);
            return file.open(QIODevice::ReadOnly)
                       ? QCryptographicHash::hash(file.readAll(), QCryptographicHash::Sha1)
                       : QByteArray();
        }
        auto db = sql::Database::open(path);
        if (!db)
            return QByteArray();
        auto s = (*db)->prepare(
            "SELECT table_name || '.' || column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() UNION ALL SELECT key || '=' || value FROM meta"
            " ORDER BY 1");
        QByteArray all;
        while (s.step())
            all += s.textAt(0).toUtf8() + '\n';
        return all;
    };
    const QByteArray before = digest();
    LibraryOptions options;
    options.databasePath = path;
    auto lib = Library::open(options);
    QVERIFY(!lib);
    QCOMPARE(lib.error().code, Error::Code::Unsupported);
    QVERIFY2(lib.error().message.contains(QLatin1String("newer TowerSearch")) &&
                 lib.error().message.contains(path),
             qPrintable(lib.error().message));
    QVERIFY(!before.isEmpty());
    QCOMPARE(digest(), before);
    QVERIFY(!QFileInfo::exists(path + QStringLiteral("-wal")));
}

void TestIndexer::concurrentOpensOfAFreshDatabaseMigrateItOnce() {
    // Several programs opening a new library at the same moment (the app and a worker on another
    // machine; here connections on threads, released together): one migrates, the others wait
    // for it and find the schema current. None fails with "table already exists", none migrates
    // again.
    constexpr int kOpeners = 4;
    for (int round = 0; round < 3; ++round) {
        QTemporaryDir tmp;
        const QString location = test::catalogLocation(tmp);
        std::latch start(kOpeners);
        std::vector<QString> outcomes(kOpeners);
        std::vector<std::thread> threads;
        for (int i = 0; i < kOpeners; ++i)
            threads.emplace_back([&, i] {
                start.arrive_and_wait();
                auto catalog = Catalog::open(location);
                outcomes[size_t(i)] =
                    !catalog ? catalog.error().message
                    : (*catalog)->schemaVersion() != Catalog::kSchemaVersion
                        ? QStringLiteral("schema version %1").arg((*catalog)->schemaVersion())
                        : QString();
            });
        for (std::thread &t : threads)
            t.join();
        for (const QString &outcome : outcomes)
            QVERIFY2(outcome.isEmpty(), qPrintable(outcome));
        auto catalog = Catalog::open(location);
        QVERIFY(catalog);
        QCOMPARE((*catalog)->integrityCheck(), QStringLiteral("ok"));
        QVERIFY((*catalog)->addFolder(tmp.path()).ok());
    }
}

void TestIndexer::realModelEndToEnd() {
    const QString modelDir = test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    auto pipeline = BridgeTowerPipeline::load(modelDir);
    QVERIFY2(pipeline, pipeline ? "" : qPrintable(pipeline.error().message));
    Fixture f;
    QVERIFY(f.copyPhotosFrom(modelDir + QStringLiteral("/images")));
    auto lib = f.openWithPipeline(*pipeline);
    QVERIFY(lib);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib, 60000));
    QCOMPARE(lib->lastRunSummary().embedded, 4);
    QCOMPARE(lib->stats().indexed, 4);
    QCOMPARE(lib->stats().modelKey, (*pipeline)->modelKey());
    auto engine = lib->searchEngine();
    QVERIFY(engine);
    SearchOptions so;
    so.rerankDepth = 2;
    auto hits = engine->searchText(QStringLiteral("a cat"), so);
    QVERIFY2(hits, hits ? "" : qPrintable(hits.error().message));
    QCOMPARE(hits->size(), size_t(4));
    // The stored vector is the one search computes from the file (same decode and preprocessing):
    // "similar" to a library photo finds the others, not itself.
    const QString first = f.photos() + QStringLiteral("/photo_chelsea.png");
    auto similar = engine->searchSimilar(first, 3);
    QVERIFY(similar);
    QCOMPARE(similar->size(), size_t(3));
    for (const PhotoHit &h : *similar)
        QVERIFY(h.path != first);
    auto pixels = (*pipeline)->loadPixels(first);
    QVERIFY(pixels);
    auto direct = (*pipeline)->embedImages(*pixels);
    QVERIFY(direct);
    auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    const auto stored =
        (*catalog)->embedding(*(*catalog)->idForPath(first), (*pipeline)->modelKey());
    QCOMPARE(stored.size(), direct->data.size());
    for (size_t i = 0; i < stored.size(); ++i)
        QVERIFY(std::abs(stored[i] - direct->data[i]) < 1e-5f);
}

void TestIndexer::droppedPhotoUsesItsStoredVector_data() {
    QTest::addColumn<QString>("drop");      // which file is dropped on the window
    QTest::addColumn<bool>("expectStored"); // its stored vector is the query (no model run)
    QTest::newRow("a library photo") << QStringLiteral("library") << true;
    QTest::newRow("a copy of it outside the library") << QStringLiteral("copy") << true;
    QTest::newRow("the library photo edited since it was indexed")
        << QStringLiteral("edited") << false;
}

// A photo dropped on the window (a "similar" or composed query) that the library already holds is
// not run through the vision tower again: its stored vector is the query. The proof: the stored
// vector of photo A is replaced by photo B's, so a query that used it finds B at similarity 1,
// while the model's own vector of A (computed here as the reference) does not. A file whose bytes
// changed since it was indexed is embedded anew.
void TestIndexer::droppedPhotoUsesItsStoredVector() {
    QFETCH(QString, drop);
    QFETCH(bool, expectStored);
    const QString modelDir = test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    auto pipeline = BridgeTowerPipeline::load(modelDir);
    QVERIFY2(pipeline, pipeline ? "" : qPrintable(pipeline.error().message));
    Fixture f;
    QVERIFY(f.copyPhotosFrom(modelDir + QStringLiteral("/images")));
    auto lib = f.openWithPipeline(*pipeline);
    QVERIFY(lib);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib, 60000));
    QCOMPARE(lib->lastRunSummary().embedded, 4);
    const QString modelKey = (*pipeline)->modelKey();
    const QString a = f.photos() + QStringLiteral("/photo_chelsea.png");
    qint64 idA = 0, idB = 0;
    {
        auto catalog = Catalog::open(f.db());
        QVERIFY(catalog);
        idA = *(*catalog)->idForPath(a);
        for (qint64 id : (*catalog)->embeddedIds(modelKey))
            if (id != idA && !idB)
                idB = id;
    }
    QVERIFY(idB);
    // Plant B's vector as A's stored one.
    const QByteArray plant =
        QStringLiteral(
            "UPDATE embeddings SET vector = (SELECT vector FROM embeddings WHERE photo_id = %1) "
            "WHERE photo_id = %2")
            .arg(idB)
            .arg(idA)
            .toUtf8();
    QCOMPARE(test::execSql(f.db(), plant.constData()), QString());

    QString dropped = a;
    if (drop == QLatin1String("copy")) {
        dropped = f.tmp.filePath(QStringLiteral("Downloads/chelsea copy.png"));
        QVERIFY(QDir().mkpath(QFileInfo(dropped).absolutePath()));
        QVERIFY(QFile::copy(a, dropped));
    } else if (drop == QLatin1String("edited")) {
        QImage edited(a);
        QVERIFY(!edited.isNull());
        edited.setPixelColor(0, 0,
                             QColor(1, 2, 3)); // one pixel: other bytes, nearly the same photo
        QVERIFY(edited.save(a, "PNG"));
    }
    auto engine = lib->searchEngine();
    QVERIFY(engine);
    auto similar = engine->searchSimilar(dropped, 4);
    QVERIFY2(similar, similar ? "" : qPrintable(similar.error().message));
    QVERIFY(!similar->empty());

    // The reference: what the model makes of the dropped file, against every stored vector.
    auto pixels = (*pipeline)->loadPixels(dropped);
    QVERIFY(pixels);
    auto direct = (*pipeline)->embedImages(*pixels);
    QVERIFY(direct);
    const QHash<qint64, std::vector<float>> stored = catalogVectors(f.db(), modelKey);
    auto cosine = [](const float *x, const std::vector<float> &y) {
        double dot = 0, nx = 0, ny = 0;
        for (size_t i = 0; i < y.size(); ++i) {
            dot += double(x[i]) * y[i];
            nx += double(x[i]) * x[i];
            ny += double(y[i]) * y[i];
        }
        return dot / std::sqrt(nx * ny);
    };
    const double modelToB = cosine(direct->ptr(), stored.value(idB));
    QVERIFY2(modelToB < 0.9999,
             qPrintable(QString::number(modelToB))); // else the test could not tell
    const PhotoHit &top = similar->front();
    if (expectStored) {
        QCOMPARE(top.photoId, idB);
        QVERIFY2(std::abs(top.similarity - 1.0f) < 1e-5f,
                 qPrintable(QString::number(double(top.similarity))));
    } else {
        QVERIFY2(std::abs(double(top.similarity) -
                          cosine(direct->ptr(), stored.value(top.photoId))) < 1e-4,
                 qPrintable(QString::number(double(top.similarity))));
        QVERIFY(top.similarity < 0.9999f);
    }
    if (drop != QLatin1String("copy")) // the dropped library photo itself is never a result
        for (const PhotoHit &h : *similar)
            QVERIFY(h.photoId != idA);
}

QTEST_MAIN(TestIndexer)
#include "tst_indexer.moc"
