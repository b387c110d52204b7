// Folders as users really have them: disks that are unmounted and come back,
// unreadable folders and broken folder symlinks (offline, not empty), nested watched folders, one
// default library for the app and the CLI, a read-only library, a full disk, and `forget` leaving
// nothing behind. Real tmpfs mounts and a helper process that runs as `nobody`; a test skips, with
// the kernel's reason, only where a mount or the privilege drop is refused.
#include "core/search/bridgetowerpipeline.h"
#include "indexer/catalog.h"
#include "indexertestutil.h"
#include "libraryfixture.h"
#include "testdata.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QScopeGuard>
#include <QtTest>

#include <sys/stat.h>

using namespace ts;
using ts::test::FakeEmbedder;
using ts::test::LibraryFixture;
using ts::test::runIndex;
using ts::test::TmpfsMount;

namespace {

// `cp -a`: the copy keeps the mtime, as files on a disk that is unplugged and plugged back do.
bool copyTree(const QString &from, const QString &to) {
    return QProcess::execute(QStringLiteral("cp"),
                             {QStringLiteral("-a"), from + QStringLiteral("/."), to}) == 0;
}

QStringList linesOf(const QString &path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(f.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

qint64 offlineIn(const Library &lib, const QString &folder) {
    for (const WatchedFolder &f : lib.folders())
        if (f.path == folder)
            return f.offlineCount;
    return -1;
}

int filesUnder(const QString &dir, const QStringList &patterns) {
    int n = 0;
    QDirIterator it(dir, patterns, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        ++n;
    }
    return n;
}

// The fixture's temporary folder, made traversable for `nobody` (QTemporaryDir creates it 0700).
void openToOthers(const QString &path) {
    ::chmod(QFile::encodeName(path).constData(), 0755);
}

} // namespace

class TestLibraryFolders : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void unmountedDiskKeepsItsPhotosOffline_data();
    void unmountedDiskKeepsItsPhotosOffline();
    void brokenFolderSymlinkIsOffline_data();
    void brokenFolderSymlinkIsOffline();
    void deletedSubfolderIsStillRemoved();
    void unreadableFileFailsAndUnreadableFolderIsOfflineForNobody();
    void nestedFoldersShareTheirPhotos_data();
    void nestedFoldersShareTheirPhotos();
    void appAndCliShareOneDefaultLibrary();
    void legacyLibraryIsNeverOverwritten();
    void readOnlyLibraryIsSearchableAndIndexingSaysWhy();
    void readOnlyForNobodyIndexingSaysWhy();
    void fullDiskStopsCleanlyAndTheNextRunResumes();
    void forgetDeletesThumbnailsAndRerankFeatures();
    void setEmbedderReturnsBeforeALargeIndexIsBuilt();
    void excludedFoldersApplyAtOnce();
};

// ---- 1. A drive that is not there is not an empty folder.

void TestLibraryFolders::unmountedDiskKeepsItsPhotosOffline_data() {
    QTest::addColumn<bool>("rootIsMountPoint");
    QTest::newRow("the watched folder is the mount point") << true;
    QTest::newRow("a subfolder of the watched folder is a mount point") << false;
}

void TestLibraryFolders::unmountedDiskKeepsItsPhotosOffline() {
    QFETCH(bool, rootIsMountPoint);
    LibraryFixture f;
    const QString root = f.photos();
    const QString disk = rootIsMountPoint ? root : root + QStringLiteral("/usb");
    QDir().mkpath(disk);
    TmpfsMount mount(disk);
    if (const QString why = mount.mount(); !why.isEmpty())
        QSKIP(qPrintable(why));
    for (int i = 0; i < 4; ++i)
        QVERIFY(test::writePhoto(disk + QStringLiteral("/d%1.png").arg(i), quint32(i)));
    QVERIFY(test::writePhoto(disk + QStringLiteral("/sub/deeper.jpg"), 40));
    const int onDisk = 5;
    int onRoot = 0;
    if (!rootIsMountPoint) {
        QVERIFY(test::writePhoto(root + QStringLiteral("/local.png"), 50));
        onRoot = 1;
    }
    const QString backup = f.tmp.filePath(QStringLiteral("backup"));
    QDir().mkpath(backup);
    QVERIFY(copyTree(disk, backup));

    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(root).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().indexed, onDisk + onRoot);
    QCOMPARE(f.embedder->calls.load(), onDisk + onRoot);
    QCOMPARE(lib->stats().offline, 0);

    // Unplugged: the mount point is an empty folder on the parent's filesystem again.
    mount.unmount();
    QVERIFY(QFileInfo(disk).isDir());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(lib->stats().photos, onDisk + onRoot);
    QCOMPARE(lib->stats().indexed, onDisk + onRoot);
    QCOMPARE(lib->stats().offline, onDisk);
    QCOMPARE(offlineIn(*lib, root), onDisk);
    const auto offlineDirs = lib->offlineDirectories();
    QCOMPARE(offlineDirs.size(), 1);
    QCOMPARE(offlineDirs[0].path, disk);
    QVERIFY2(offlineDirs[0].reason.contains(QLatin1String("not mounted")),
             qPrintable(offlineDirs[0].reason));
    if (rootIsMountPoint)
        QVERIFY(lib->folders().value(0).offline);
    // Still searchable, with the thumbnail stored in the library.
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    auto catalog = Catalog::open(f.db());
    QVERIFY(catalog);
    const auto id = (*catalog)->idForPath(disk + QStringLiteral("/d0.png"));
    QVERIFY(id);
    QVERIFY(!(*catalog)->embedding(*id, f.embedder->modelKey()).empty());
    const auto record = lib->photo(*id);
    QVERIFY(record && record->offline);
    QVERIFY(QFileInfo::exists(record->thumbnailPath));

    // Plugged back in: nothing is embedded again, nothing is offline.
    QVERIFY(mount.mount().isEmpty());
    QVERIFY(copyTree(backup, disk));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().skipped, onDisk + onRoot);
    QCOMPARE(f.embedder->calls.load(), onDisk + onRoot);
    QCOMPARE(lib->stats().offline, 0);
    QVERIFY(lib->offlineDirectories().isEmpty());
    QVERIFY(!lib->photo(*id)->offline);

    // A file deleted from the disk while it is mounted is removed as before.
    QVERIFY(QFile::remove(disk + QStringLiteral("/d1.png")));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 1);
    QCOMPARE(lib->stats().photos, onDisk + onRoot - 1);
}

void TestLibraryFolders::brokenFolderSymlinkIsOffline_data() {
    QTest::addColumn<bool>("rootIsLink");
    QTest::newRow("the watched folder is a symlink") << true;
    QTest::newRow("a subfolder is a symlink") << false;
}

void TestLibraryFolders::brokenFolderSymlinkIsOffline() {
    QFETCH(bool, rootIsLink);
    LibraryFixture f;
    const QString target = f.tmp.filePath(QStringLiteral("share/photos"));
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(target + QStringLiteral("/s%1.png").arg(i), quint32(i)));
    const QString root = f.photos();
    const QString link = rootIsLink ? root : root + QStringLiteral("/share");
    QDir().mkpath(QFileInfo(link).absolutePath());
    QVERIFY(QFile::link(target, link));
    if (!rootIsLink)
        QVERIFY(test::writePhoto(root + QStringLiteral("/local.png"), 9));
    const int local = rootIsLink ? 0 : 1;
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(root).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().indexed, 3 + local);

    // The share goes away: the link dangles.
    const QString away = f.tmp.filePath(QStringLiteral("share-away"));
    QVERIFY(QDir().rename(f.tmp.filePath(QStringLiteral("share")), away));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(lib->stats().photos, 3 + local);
    QCOMPARE(lib->stats().offline, 3);
    QCOMPARE(lib->offlineDirectories().value(0).path, link);

    QVERIFY(QDir().rename(away, f.tmp.filePath(QStringLiteral("share"))));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->stats().offline, 0);
    QCOMPARE(f.embedder->calls.load(), 3 + local);
}

void TestLibraryFolders::deletedSubfolderIsStillRemoved() {
    // The other side of the rule: a folder the user deleted (its parent listed fine) is not
    // offline.
    LibraryFixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/keep.png"), 1));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/trip/a.png"), 2));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/trip/b.png"), 3));
    auto lib = f.open();
    QVERIFY(lib && lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QVERIFY(QDir(f.photos() + QStringLiteral("/trip")).removeRecursively());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 2);
    QCOMPARE(lib->stats().photos, 1);
    QCOMPARE(lib->stats().offline, 0);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

// ---- 4. Permissions, for real: the indexer runs as nobody.

void TestLibraryFolders::unreadableFileFailsAndUnreadableFolderIsOfflineForNobody() {
    if (const QString why = test::cannotDropPrivileges(); !why.isEmpty())
        QSKIP(qPrintable(why));
    LibraryFixture f;
    openToOthers(f.tmp.path());
    const QString root = f.photos();
    QVERIFY(test::writePhoto(root + QStringLiteral("/open.png"), 1));
    QVERIFY(test::writePhoto(root + QStringLiteral("/locked.png"), 2));
    QVERIFY(test::writePhoto(root + QStringLiteral("/private/p1.png"), 3));
    QVERIFY(test::writePhoto(root + QStringLiteral("/private/p2.jpg"), 4));
    const QString work = f.tmp.filePath(QStringLiteral("lib"));
    QDir().mkpath(work);
    // A library on a URL keeps its local files in the XDG cache folder: one nobody may write.
    const QByteArray cacheHome = qgetenv("XDG_CACHE_HOME");
    const auto restoreCacheHome = qScopeGuard([&] { qputenv("XDG_CACHE_HOME", cacheHome); });
    qputenv("XDG_CACHE_HOME", QFile::encodeName(f.tmp.filePath(QStringLiteral("cache"))));
    QVERIFY(test::giveToNobody(f.tmp.path()));
    const QString log = work + QStringLiteral("/embedded.log");
    const QStringList args{f.db(), root, log, QStringLiteral("0"), QStringLiteral("4")};

    auto first = test::runAsNobody(QStringLiteral(TOWERSEARCH_INDEXER_CHILD), args);
    QVERIFY2(first.exitCode == 0, qPrintable(first.err));
    QCOMPARE(linesOf(log).size(), 4);

    // The owner locks a file (changed since) and a folder away from everyone else.
    QVERIFY(test::writePhoto(root + QStringLiteral("/locked.png"), 22));
    QVERIFY(QFile::setPermissions(root + QStringLiteral("/locked.png"),
                                  QFileDevice::ReadOwner | QFileDevice::WriteOwner));
    QVERIFY(::chown(QFile::encodeName(root + QStringLiteral("/locked.png")).constData(), 0, 0) ==
            0);
    QVERIFY(::chown(QFile::encodeName(root + QStringLiteral("/private")).constData(), 0, 0) == 0);
    QVERIFY(::chmod(QFile::encodeName(root + QStringLiteral("/private")).constData(), 0700) == 0);
    auto second = test::runAsNobody(QStringLiteral(TOWERSEARCH_INDEXER_CHILD), args);
    QVERIFY2(second.exitCode == 0, qPrintable(second.err));

    LibraryFixture check; // read the result as root
    auto lib = check.openAt(f.db());
    QVERIFY(lib);
    QCOMPARE(lib->stats().photos, 4);
    QCOMPARE(lib->stats().failed, 1);
    const auto failures = lib->failedPhotos();
    QCOMPARE(failures.size(), 1);
    QCOMPARE(failures[0].path, root + QStringLiteral("/locked.png"));
    QVERIFY2(failures[0].error.contains(root + QStringLiteral("/locked.png")),
             qPrintable(failures[0].error));
    QCOMPARE(lib->stats().offline, 2);
    const auto offline = lib->offlineDirectories();
    QCOMPARE(offline.size(), 1);
    QCOMPARE(offline[0].path, root + QStringLiteral("/private"));
    QVERIFY2(offline[0].reason.contains(QLatin1String("ermission denied")),
             qPrintable(offline[0].reason));
    lib.reset();

    // Readable again: the folder's photos come back unchanged, without being embedded again.
    QVERIFY(::chmod(QFile::encodeName(root + QStringLiteral("/private")).constData(), 0755) == 0);
    auto third = test::runAsNobody(QStringLiteral(TOWERSEARCH_INDEXER_CHILD), args);
    QVERIFY2(third.exitCode == 0, qPrintable(third.err));
    QCOMPARE(linesOf(log).filter(QStringLiteral("/private/")).size(), 2);
    lib = check.openAt(f.db());
    QCOMPARE(lib->stats().offline, 0);
}

// ---- 2. Nested folders.

void TestLibraryFolders::nestedFoldersShareTheirPhotos_data() {
    QTest::addColumn<bool>("childFirst");
    QTest::newRow("child watched first, then its parent") << true;
    QTest::newRow("parent watched first, then a child") << false;
}

void TestLibraryFolders::nestedFoldersShareTheirPhotos() {
    QFETCH(bool, childFirst);
    LibraryFixture f;
    const QString parent = f.photos();
    const QString child = parent + QStringLiteral("/2019");
    QVERIFY(test::writePhoto(parent + QStringLiteral("/top.png"), 1));
    QVERIFY(test::writePhoto(child + QStringLiteral("/a.png"), 2));
    QVERIFY(test::writePhoto(child + QStringLiteral("/summer/b.jpg"), 3));
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(childFirst ? child : parent).ok());
    QVERIFY(runIndex(*lib));
    QVERIFY(lib->addFolder(childFirst ? parent : child).ok());
    QVERIFY(runIndex(*lib));
    // Every photo embedded once, whatever the order.
    QCOMPARE(f.embedder->calls.load(), 3);
    QCOMPARE(lib->stats().photos, 3);
    QCOMPARE(lib->stats().indexed, 3);
    QHash<QString, qint64> counts;
    for (const WatchedFolder &w : lib->folders())
        counts.insert(w.path, w.photoCount);
    QCOMPARE(counts.value(parent), 3); // a photo belongs to every watched folder that contains it
    QCOMPARE(counts.value(child), 2);

    // Forgetting the parent keeps what the child still covers.
    QVERIFY(lib->forgetFolder(parent).ok());
    QCOMPARE(lib->stats().photos, 2);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().indexed, 2);
    QCOMPARE(f.embedder->calls.load(), 3);

    // And the other way round: forgetting the child removes nothing the parent covers.
    QVERIFY(lib->addFolder(parent).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(f.embedder->calls.load(), 4); // top.png came back with its folder
    QVERIFY(lib->forgetFolder(child).ok());
    QCOMPARE(lib->stats().photos, 3);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(lib->stats().indexed, 3);
    QCOMPARE(f.embedder->calls.load(), 4);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

// ---- 3. One library.

void TestLibraryFolders::appAndCliShareOneDefaultLibrary() {
    TS_SKIP_ON_POSTGRES("the default library is a SQLite file in the XDG data folder");
    LibraryFixture f;
    const QString data = f.tmp.filePath(QStringLiteral("xdg-data"));
    qputenv("XDG_DATA_HOME", QFile::encodeName(data));
    const auto restore = qScopeGuard([] { qunsetenv("XDG_DATA_HOME"); });
    const QString legacy = data + QStringLiteral("/TowerSearch/TowerSearch/library.sqlite");
    const QString current = data + QStringLiteral("/towersearch/library.sqlite");
    QCOMPARE(Library::defaultDatabasePath(), current);
    QCOMPARE(Library::legacyDatabasePath(), legacy);

    // A library the app wrote at its old place, with its cache folder and vector index.
    for (int i = 0; i < 3; ++i)
        QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/p%1.png").arg(i), quint32(i)));
    {
        auto lib = f.openAt(legacy);
        QVERIFY(lib && lib->addFolder(f.photos()).ok());
        QVERIFY(runIndex(*lib));
    }
    const QString legacyDir = QFileInfo(legacy).absolutePath();
    const int thumbnails = filesUnder(legacyDir + QStringLiteral("/library-cache/thumbnails"),
                                      {QStringLiteral("*.jpg")});
    QCOMPARE(thumbnails, 3);

    LibraryOptions options; // no database path: the default, as the app and the CLI open it
    options.watchFolders = false;
    auto opened = Library::open(options);
    QVERIFY2(opened, opened ? "" : qPrintable(opened.error().message));
    QCOMPARE((*opened)->databasePath(), current);
    QVERIFY((*opened)->setEmbedder(f.embedder).ok());
    QCOMPARE((*opened)->stats().photos, 3);
    QCOMPARE((*opened)->stats().databasePath, current);
    QVERIFY(!QFileInfo::exists(legacy));
    QVERIFY(!QFileInfo::exists(legacy + QStringLiteral("-wal")));
    QCOMPARE(
        filesUnder(QFileInfo(current).absolutePath() + QStringLiteral("/library-cache/thumbnails"),
                   {QStringLiteral("*.jpg")}),
        thumbnails);
    QVERIFY(QFileInfo::exists((*opened)->photo(1)->thumbnailPath));
    QVERIFY((*opened)->photo(1)->thumbnailPath.startsWith(QFileInfo(current).absolutePath()));
    QVERIFY(runIndex(**opened));
    QCOMPARE((*opened)->lastRunSummary().embedded, 0); // nothing embedded again
    QCOMPARE((*opened)->checkConsistency(), QStringLiteral("ok"));
}

void TestLibraryFolders::legacyLibraryIsNeverOverwritten() {
    TS_SKIP_ON_POSTGRES("moving a legacy library moves its SQLite file");
    LibraryFixture f;
    const QString data = f.tmp.filePath(QStringLiteral("xdg-data"));
    qputenv("XDG_DATA_HOME", QFile::encodeName(data));
    const auto restore = qScopeGuard([] { qunsetenv("XDG_DATA_HOME"); });
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/old.png"), 1));
    QVERIFY(test::writePhoto(f.tmp.filePath(QStringLiteral("other/new1.png")), 2));
    QVERIFY(test::writePhoto(f.tmp.filePath(QStringLiteral("other/new2.png")), 3));
    {
        auto lib = f.openAt(Library::legacyDatabasePath());
        QVERIFY(lib && lib->addFolder(f.photos()).ok());
        QVERIFY(runIndex(*lib));
    }
    {
        auto lib = f.openAt(Library::defaultDatabasePath());
        QVERIFY(lib && lib->addFolder(f.tmp.filePath(QStringLiteral("other"))).ok());
        QVERIFY(runIndex(*lib));
    }
    LibraryOptions options;
    options.watchFolders = false;
    auto opened = Library::open(options);
    QVERIFY(opened);
    QCOMPARE((*opened)->stats().photos, 2); // the library already at the new place, untouched
    QVERIFY(QFileInfo::exists(Library::legacyDatabasePath())); // and the old one kept as it was
    opened->reset();
    auto old = f.openAt(Library::legacyDatabasePath());
    QVERIFY(old);
    QCOMPARE(old->stats().photos, 1);
}

// ---- 5. A read-only library.

void TestLibraryFolders::readOnlyLibraryIsSearchableAndIndexingSaysWhy() {
    TS_SKIP_ON_POSTGRES("the SQLite file on a read-only mount");
    const QString modelDir = test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    auto pipeline = BridgeTowerPipeline::load(modelDir);
    QVERIFY2(pipeline, pipeline ? "" : qPrintable(pipeline.error().message));
    LibraryFixture f;
    const QString libDir = f.tmp.filePath(QStringLiteral("lib"));
    TmpfsMount mount(libDir);
    if (const QString why = mount.mount("size=16m"); !why.isEmpty())
        QSKIP(qPrintable(why));
    QDir().mkpath(f.photos());
    for (const QString &name : QDir(modelDir + QStringLiteral("/images")).entryList(QDir::Files))
        QVERIFY(QFile::copy(modelDir + QStringLiteral("/images/") + name,
                            f.photos() + QLatin1Char('/') + name));
    LibraryOptions options;
    options.databasePath = f.db();
    options.watchFolders = false;
    {
        auto lib = Library::open(options);
        QVERIFY(lib);
        QVERIFY((*lib)->setPipeline(*pipeline).ok());
        QVERIFY((*lib)->addFolder(f.photos()).ok());
        QVERIFY(runIndex(**lib, 60000));
        QCOMPARE((*lib)->stats().indexed, 4);
    }
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/new.png"), 7));
    if (const QString why = mount.remount(MS_RDONLY); !why.isEmpty())
        QSKIP(qPrintable(why));

    auto lib = Library::open(options);
    QVERIFY2(lib, lib ? "" : qPrintable(lib.error().message));
    QVERIFY((*lib)->setPipeline(*pipeline).ok());
    QCOMPARE((*lib)->stats().indexed, 4);
    QCOMPARE((*lib)->folders().size(), 1);
    auto engine = (*lib)->searchEngine();
    QVERIFY(engine);
    auto hits = engine->searchText(QStringLiteral("a cat"), SearchOptions{});
    QVERIFY2(hits, hits ? "" : qPrintable(hits.error().message));
    QCOMPARE(hits->size(), size_t(4));

    QSignalSpy errors(lib->get(), &Library::errorOccurred);
    QVERIFY(runIndex(**lib));
    QCOMPARE(errors.size(), 1);
    const QString message = errors[0][0].toString();
    QVERIFY2(message.contains(f.db()) && message.contains(QLatin1String("read-only")),
             qPrintable(message));
    QCOMPARE((*lib)->stats().photos, 4);
    QVERIFY(!(*lib)->addFolder(f.tmp.path()).ok());
}

void TestLibraryFolders::readOnlyForNobodyIndexingSaysWhy() {
    TS_SKIP_ON_POSTGRES("the SQLite file's permissions");
    if (const QString why = test::cannotDropPrivileges(); !why.isEmpty())
        QSKIP(qPrintable(why));
    LibraryFixture f;
    openToOthers(f.tmp.path());
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/a.png"), 1));
    {
        auto lib = f.open();
        QVERIFY(lib && lib->addFolder(f.photos()).ok());
        QVERIFY(runIndex(*lib));
    }
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/b.png"), 2));
    // The library belongs to root (0755 folder, 0644 file): nobody may read it, not write it.
    auto r = test::runAsNobody(QStringLiteral(TOWERSEARCH_INDEXER_CHILD),
                               {f.db(), f.photos(), QStringLiteral("/dev/null"),
                                QStringLiteral("0"), QStringLiteral("4")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains(f.db()) && r.err.contains(QLatin1String("read-only")),
             qPrintable(r.err));
    auto lib = f.open();
    QCOMPARE(lib->stats().photos, 1);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
}

// ---- 6. Disk full.

void TestLibraryFolders::fullDiskStopsCleanlyAndTheNextRunResumes() {
    TS_SKIP_ON_POSTGRES("the SQLite file on a full tmpfs");
    LibraryFixture f;
    const QString libDir = f.tmp.filePath(QStringLiteral("lib"));
    TmpfsMount mount(libDir);
    if (const QString why = mount.mount("size=256k"); !why.isEmpty())
        QSKIP(qPrintable(why));
    const int count = 120;
    for (int i = 0; i < count; ++i)
        QVERIFY(test::writePhoto(f.photos() +
                                     QStringLiteral("/p%1.jpg").arg(i, 3, 10, QLatin1Char('0')),
                                 quint32(i), 160, 120));
    f.embedder =
        std::make_shared<FakeEmbedder>(QStringLiteral("fake-model-1"), 256); // 1 KiB vectors
    f.embedder->logFile = f.tmp.filePath(QStringLiteral("embedded.log"));
    auto lib = f.open();
    QVERIFY(lib && lib->addFolder(f.photos()).ok());
    QSignalSpy errors(lib.get(), &Library::errorOccurred);
    QVERIFY(runIndex(*lib, 60000));
    QCOMPARE(errors.size(), 1);
    const QString message = errors[0][0].toString();
    QVERIFY2(message.contains(QLatin1String("full")) && message.contains(libDir),
             qPrintable(message));
    const qint64 before = lib->stats().indexed;
    QVERIFY2(before < count, "the tmpfs should have filled before the end");
    lib.reset();
    {
        auto catalog = Catalog::open(f.db());
        QVERIFY2(catalog, catalog ? "" : qPrintable(catalog.error().message));
        QCOMPARE((*catalog)->integrityCheck(), QStringLiteral("ok"));
    }

    // More room: the next run goes on from where the last one stopped.
    QVERIFY(mount.remount(0, "size=32m").isEmpty());
    lib = f.open();
    QVERIFY(runIndex(*lib, 60000));
    QCOMPARE(lib->lastRunSummary().error, QString());
    QCOMPARE(lib->stats().indexed, count);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    const QStringList embedded = linesOf(f.embedder->logFile);
    QVERIFY2(embedded.size() <= count + 2 * 8, qPrintable(QString::number(embedded.size())));
    QCOMPARE(QSet<QString>(embedded.begin(), embedded.end()).size(), count);
}

// ---- 7. forget leaves nothing behind.

void TestLibraryFolders::forgetDeletesThumbnailsAndRerankFeatures() {
    const QString modelDir = test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    auto pipeline = BridgeTowerPipeline::load(modelDir);
    QVERIFY2(pipeline, pipeline ? "" : qPrintable(pipeline.error().message));
    LibraryFixture f;
    const QString keep = f.tmp.filePath(QStringLiteral("keep"));
    QDir().mkpath(f.photos());
    const QStringList images = QDir(modelDir + QStringLiteral("/images")).entryList(QDir::Files);
    for (const QString &name : images)
        QVERIFY(QFile::copy(modelDir + QStringLiteral("/images/") + name,
                            f.photos() + QLatin1Char('/') + name));
    QVERIFY(test::writePhoto(keep + QStringLiteral("/other.png"), 5, 64, 48));
    const QString cache = f.tmp.filePath(QStringLiteral("lib/library-cache"));
    LibraryOptions options;
    options.databasePath = f.db();
    options.cacheDirectory = cache; // the default for the file; a URL's would be elsewhere
    options.watchFolders = false;
    auto opened = Library::open(options);
    QVERIFY(opened);
    auto &lib = *opened;
    QVERIFY(lib->setPipeline(*pipeline).ok());
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(lib->addFolder(keep).ok());
    QVERIFY(runIndex(*lib, 60000));
    const int photos = int(images.size()) + 1;
    QCOMPARE(filesUnder(cache + QStringLiteral("/thumbnails"), {QStringLiteral("*.jpg")}), photos);
    QCOMPARE(filesUnder(cache + QStringLiteral("/rerank"), {QStringLiteral("*.tsfc")}), photos);

    QVERIFY(lib->forgetFolder(f.photos()).ok());
    QCOMPARE(filesUnder(cache + QStringLiteral("/thumbnails"), {QStringLiteral("*.jpg")}), 1);
    QCOMPARE(filesUnder(cache + QStringLiteral("/rerank"), {QStringLiteral("*.tsfc")}), 1);
    QVERIFY(QFileInfo::exists(
        lib->photo(*Catalog::open(f.db()).value()->idForPath(keep + QStringLiteral("/other.png")))
            ->thumbnailPath));

    // Orphans an older version left behind are collected by the next complete run.
    const QString rerankDir =
        QFileInfo(QDirIterator(cache + QStringLiteral("/rerank"), {QStringLiteral("*.tsfc")},
                               QDir::Files, QDirIterator::Subdirectories)
                      .next())
            .absolutePath();
    QFile orphanThumb(cache +
                      QStringLiteral("/thumbnails/0123456789abcdef0123456789abcdef01234567.jpg"));
    QVERIFY(orphanThumb.open(QIODevice::WriteOnly) && orphanThumb.write("x") == 1);
    orphanThumb.close();
    QFile orphanFeatures(rerankDir + QStringLiteral("/999-12-34.tsfc"));
    QVERIFY(orphanFeatures.open(QIODevice::WriteOnly) && orphanFeatures.write("x") == 1);
    orphanFeatures.close();
    // Left by an older version: written well before this run (the collector takes only files
    // older than the run, so one written in the same clock tick would race it).
    const QDateTime longAgo = QDateTime::currentDateTime().addSecs(-3600);
    for (QFile *orphan : {&orphanThumb, &orphanFeatures}) {
        QVERIFY(orphan->open(QIODevice::ReadWrite));
        QVERIFY(orphan->setFileTime(longAgo, QFileDevice::FileModificationTime));
        orphan->close();
    }
    QVERIFY(runIndex(*lib, 60000));
    QVERIFY(!orphanThumb.exists());
    QVERIFY(!orphanFeatures.exists());
    QCOMPARE(filesUnder(cache + QStringLiteral("/thumbnails"), {QStringLiteral("*.jpg")}), 1);
    QCOMPARE(filesUnder(cache + QStringLiteral("/rerank"), {QStringLiteral("*.tsfc")}), 1);
}

// ---- 8. The GUI thread never rebuilds a large index; settings apply at once.

void TestLibraryFolders::setEmbedderReturnsBeforeALargeIndexIsBuilt() {
    LibraryFixture f;
    const int count = int(Library::kSynchronousIndexLimit) + 5000;
    const int dimension = 64;
    f.embedder = std::make_shared<FakeEmbedder>(QStringLiteral("fake-model-1"), dimension);
    {
        // A large library written straight into the catalog (its folder is on a disk not mounted).
        auto catalog = Catalog::open(f.db());
        QVERIFY(catalog);
        const auto folder = (*catalog)->addFolder(f.tmp.filePath(QStringLiteral("usb")));
        QVERIFY(folder);
        std::vector<PhotoWrite> batch;
        for (int i = 0; i < count; ++i) {
            PhotoWrite w;
            w.folderId = *folder;
            w.path = f.tmp.filePath(QStringLiteral("usb/p%1.jpg").arg(i));
            w.size = 1000 + i;
            w.mtimeMs = 1;
            w.contentHash = QString::number(i);
            w.state = PhotoState::Indexed;
            w.vector.assign(size_t(dimension), 0.0f);
            w.vector[size_t(i % dimension)] = 1.0f;
            batch.push_back(std::move(w));
            if (batch.size() == 5000) {
                QVERIFY((*catalog)->commitBatch(batch, f.embedder->modelKey(), {}));
                batch.clear();
            }
        }
        QVERIFY((*catalog)->commitBatch(batch, f.embedder->modelKey(), {}));
    }
    LibraryOptions options;
    options.databasePath = f.db();
    options.watchFolders = false;
    auto opened = Library::open(options);
    QVERIFY(opened);
    Library &lib = **opened;
    QSignalSpy ready(&lib, &Library::modelReady);
    QSignalSpy finished(&lib, &Library::indexingFinished);
    QElapsedTimer clock;
    clock.start();
    QVERIFY(lib.setEmbedder(f.embedder).ok());
    const qint64 returnedMs = clock.elapsed();
    // Returned with the index still being built elsewhere; indexing waits for it.
    QVERIFY(lib.isLoadingModel());
    QCOMPARE(ready.size(), 0);
    lib.startIndexing();
    QCOMPARE(finished.size(), 0);
    QVERIFY(ready.wait(60000));
    qInfo("setEmbedder returned after %lld ms; the index of %d vectors was in place after %lld ms",
          returnedMs, count, clock.elapsed());
    QCOMPARE(ready[0][0].toString(), QString());
    QVERIFY(!lib.isLoadingModel());
    QVERIFY(finished.wait(60000));
    QCOMPARE(lib.lastRunSummary().removed, 0); // the folder is offline: everything kept
    QCOMPARE(lib.stats().indexed, count);
    QCOMPARE(lib.checkConsistency(), QStringLiteral("ok"));
}

void TestLibraryFolders::excludedFoldersApplyAtOnce() {
    LibraryFixture f;
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/keep.png"), 1));
    QVERIFY(test::writePhoto(f.photos() + QStringLiteral("/private/a.png"), 2));
    auto lib = f.open();
    QVERIFY(lib && lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().photos, 2);
    lib->setExcludedFolders({f.photos() + QStringLiteral("/private")});
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->stats().photos, 1);
    QCOMPARE(lib->failedPhotos().size(), 0);
}

QTEST_MAIN(TestLibraryFolders)
#include "tst_libraryfolders.moc"
