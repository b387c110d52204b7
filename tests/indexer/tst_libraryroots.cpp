// Library roots (issue 17, "shared photo roots"): a folder with one identity on every machine,
// mapped on each to its own mount path. "Machines" here are Library instances over one catalog
// with different root mappings and cache folders; the photos move between mount paths by renaming
// the folder (mtimes kept, as on a share mounted elsewhere).
#include "indexer/catalog.h"
#include "indexer/rootmapper.h"
#include "indexer/rootmountsfile.h"
#include "indexertestutil.h"
#include "libraryfixture.h"

#include <QProcess>
#include <QtTest>

using namespace ts;
using ts::test::LibraryFixture;
using ts::test::runIndex;

namespace {

using Mounts = QHash<QString, QString>;

// The library at the fixture's database as one machine sees it: its root mapping, its own cache.
std::unique_ptr<Library> openAs(LibraryFixture &f, const Mounts &mounts, const QString &cache) {
    LibraryOptions options;
    options.rootMounts = mounts;
    options.cacheDirectory = cache;
    return f.open(options);
}

// Writes `count` distinct photos under `dir` (two in a subfolder); returns their file names
// relative to `dir`.
QStringList writePhotos(const QString &dir, int count) {
    QStringList names;
    for (int i = 0; i < count; ++i) {
        const QString name =
            (i < 2 ? QStringLiteral("sub/p%1.png") : QStringLiteral("p%1.png")).arg(i);
        if (!ts::test::writePhoto(dir + QLatin1Char('/') + name, quint32(100 + i)))
            return {};
        names << name;
    }
    return names;
}

// Photo id -> path, for every photo the library lists.
QHash<qint64, QString> idsAndPaths(const Library &lib) {
    QHash<qint64, QString> out;
    auto page = lib.listPhotos({}, SortOrder::Name, 0, 1000);
    if (page)
        for (const PhotoRecord &r : *page)
            out.insert(r.id, r.path);
    return out;
}

// The paths as the catalog stores them (no mapping on this connection).
QStringList storedPaths(const QString &db) {
    auto catalog = Catalog::open(db);
    if (!catalog)
        return {};
    auto page = (*catalog)->listPhotos({}, SortOrder::Name, 0, 1000);
    QStringList out;
    if (page)
        for (const PhotoRecord &r : *page)
            out << r.path;
    out.sort();
    return out;
}

QByteArray bytesOf(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestLibraryRoots : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void mapperTranslatesPathsUnderRoots_data();
    void mapperTranslatesPathsUnderRoots();
    void rootMovedToAnotherMountKeepsIdsAndVectors();
    void mappingOverPhotosIndexedByPathIsRefused();
    void unavailableRootIsNeverScannedOrDeleted_data();
    void unavailableRootIsNeverScannedOrDeleted();
    void unmountedShareKeepsItsPhotos();
    void badRootsAreRefused_data();
    void badRootsAreRefused();
    void addingARootKeepsWhatTheLibraryHolds_data();
    void addingARootKeepsWhatTheLibraryHolds();
    void thumbnailsComeFromTheCatalogOnAnotherMachine();
    void forgettingPhotosDropsTheirStoredThumbnails();
    void rootsFileKeepsEachCatalogsMapping();
    void malformedRootsFileIsAnErrorNamingIt_data();
    void malformedRootsFileIsAnErrorNamingIt();
};

void TestLibraryRoots::mapperTranslatesPathsUnderRoots_data() {
    QTest::addColumn<QString>("local");
    QTest::addColumn<QString>("stored");
    QTest::addColumn<QString>("readBack"); // what a stored path reads as on this machine
    // photos -> /mnt/nas/photos, usb -> /media/usb; "old" is a root not mapped here.
    QTest::newRow("photo under a root") << "/mnt/nas/photos/2020/a.jpg"
                                        << "@photos/2020/a.jpg"
                                        << "/mnt/nas/photos/2020/a.jpg";
    QTest::newRow("the mount point itself") << "/mnt/nas/photos"
                                            << "@photos"
                                            << "/mnt/nas/photos";
    QTest::newRow("a sibling sharing the prefix stays absolute") << "/mnt/nas/photos2/a.jpg"
                                                                 << "/mnt/nas/photos2/a.jpg"
                                                                 << "/mnt/nas/photos2/a.jpg";
    QTest::newRow("a folder around the mount stays absolute") << "/mnt/nas"
                                                              << "/mnt/nas"
                                                              << "/mnt/nas";
    QTest::newRow("second root") << "/media/usb/x/y.png"
                                 << "@usb/x/y.png"
                                 << "/media/usb/x/y.png";
    QTest::newRow("outside every root") << "/home/me/p.jpg"
                                        << "/home/me/p.jpg"
                                        << "/home/me/p.jpg";
    QTest::newRow("unmapped root reads as stored") << "@old/a.jpg"
                                                   << "@old/a.jpg"
                                                   << "@old/a.jpg";
    QTest::newRow("name that is not UTF-8")
        << QString::fromUtf8("/mnt/nas/photos/caf") + QChar(0xDCE9) + QStringLiteral(".jpg")
        << QString::fromUtf8("@photos/caf") + QChar(0xDCE9) + QStringLiteral(".jpg")
        << QString::fromUtf8("/mnt/nas/photos/caf") + QChar(0xDCE9) + QStringLiteral(".jpg");
}

void TestLibraryRoots::mapperTranslatesPathsUnderRoots() {
    QFETCH(QString, local);
    QFETCH(QString, stored);
    QFETCH(QString, readBack);
    const RootMapper mapper(Mounts{{QStringLiteral("photos"), QStringLiteral("/mnt/nas/photos/")},
                                   {QStringLiteral("usb"), QStringLiteral("/media/usb")}});
    QCOMPARE(mapper.toStored(local), stored);
    QCOMPARE(mapper.toLocal(stored), readBack);
    // Prefix logic holds on both sides: under the mount exactly when under "@name".
    const bool underLocal = isPathAtOrUnder(local, QStringLiteral("/mnt/nas/photos"));
    const bool underStored = isPathAtOrUnder(stored, QStringLiteral("@photos"));
    QCOMPARE(underStored, underLocal);
}

void TestLibraryRoots::rootMovedToAnotherMountKeepsIdsAndVectors() {
    LibraryFixture f;
    const QString dirA = f.tmp.filePath(QStringLiteral("machineA/photos"));
    const QStringList names = writePhotos(dirA, 5);
    QCOMPARE(names.size(), 5);
    QHash<qint64, QString> before;
    {
        auto lib = openAs(f, {}, f.tmp.filePath(QStringLiteral("cacheA")));
        QVERIFY(lib);
        QVERIFY2(lib->addRoot(QStringLiteral("photos"), dirA).ok(), "addRoot");
        QVERIFY(lib->addFolder(dirA).ok());
        QVERIFY(runIndex(*lib));
        QCOMPARE(lib->lastRunSummary().embedded, 5);
        before = idsAndPaths(*lib);
    }
    QCOMPARE(before.size(), 5);
    for (const QString &path : storedPaths(f.db()))
        QVERIFY2(path.startsWith(QLatin1String("@photos/")), qPrintable(path));

    // Machine B: the same share at another path.
    const QString dirB = f.tmp.filePath(QStringLiteral("machineB/mnt/photos"));
    QVERIFY(QDir().mkpath(QFileInfo(dirB).absolutePath()));
    QVERIFY(QDir().rename(dirA, dirB));
    auto lib =
        openAs(f, {{QStringLiteral("photos"), dirB}}, f.tmp.filePath(QStringLiteral("cacheB")));
    QVERIFY(lib);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(lib->lastRunSummary().skipped, 5);
    QCOMPARE(f.embedder->calls.load(), 5);
    const QHash<qint64, QString> after = idsAndPaths(*lib);
    QCOMPARE(after.keys().size(), 5);
    for (auto it = before.cbegin(); it != before.cend(); ++it) {
        QVERIFY(after.contains(it.key()));
        QCOMPARE(after[it.key()], dirB + it.value().mid(dirA.size()));
    }
    // The folder, its filter and a lookup by path work with this machine's paths.
    QCOMPARE(lib->folders().value(0).path, dirB);
    QCOMPARE(lib->folders().value(0).photoCount, 5);
    PhotoFilter inSub;
    inSub.folders << dirB + QStringLiteral("/sub");
    QCOMPARE(lib->countPhotos(inSub).value(), qint64(2));
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(lib->roots().value(0).localPath, dirB);
    QCOMPARE(lib->roots().value(0).photoCount, qint64(5));
    QVERIFY(lib->roots().value(0).unavailableReason.isEmpty());
}

// Machine B indexed the share by its own path before mapping the root: mapping it now would make
// a second copy of every photo. Refused with what to do, nothing changed; after forgetting the
// folder the mapping goes through and the root's photos are as they were.
void TestLibraryRoots::mappingOverPhotosIndexedByPathIsRefused() {
    LibraryFixture f;
    const QString dirA = f.tmp.filePath(QStringLiteral("machineA/photos"));
    QCOMPARE(writePhotos(dirA, 3).size(), 3);
    {
        auto lib = openAs(f, {}, f.tmp.filePath(QStringLiteral("cacheA")));
        QVERIFY(lib);
        QVERIFY(lib->addRoot(QStringLiteral("photos"), dirA).ok());
        QVERIFY(lib->addFolder(dirA).ok());
        QVERIFY(runIndex(*lib));
    }
    const QString dirB = f.tmp.filePath(QStringLiteral("machineB/photos"));
    QVERIFY(QDir().mkpath(QFileInfo(dirB).absolutePath()));
    QVERIFY(QProcess::execute(QStringLiteral("cp"), {QStringLiteral("-a"), dirA, dirB}) == 0);
    auto lib = openAs(f, {}, f.tmp.filePath(QStringLiteral("cacheB")));
    QVERIFY(lib);
    QVERIFY(lib->addFolder(dirB).ok());
    QVERIFY(runIndex(*lib));
    const QStringList before = storedPaths(f.db());
    QCOMPARE(before.size(), 6);

    const Status mapped = lib->mapRoot(QStringLiteral("photos"), dirB);
    QVERIFY(!mapped);
    QVERIFY2(mapped.error().message.contains(QLatin1String("forget")),
             qPrintable(mapped.error().message));
    QCOMPARE(storedPaths(f.db()), before);
    QVERIFY(lib->rootMounts().isEmpty());

    QVERIFY(lib->forgetFolder(dirB).ok());
    QVERIFY2(lib->mapRoot(QStringLiteral("photos"), dirB).ok(), "mapRoot after forget");
    QCOMPARE(storedPaths(f.db()).size(), 3);
    QCOMPARE(lib->roots().value(0).photoCount, qint64(3));
}

void TestLibraryRoots::unavailableRootIsNeverScannedOrDeleted_data() {
    QTest::addColumn<QString>("mapping"); // "none", "missing" or "empty"
    QTest::addColumn<QString>("reason");
    QTest::newRow("not mapped on this machine") << "none"
                                                << "is not mapped on this machine";
    QTest::newRow("mapped to a folder that is not there") << "missing"
                                                          << "which is not there";
    QTest::newRow("mapped to an empty mount point") << "empty"
                                                    << "which is empty";
}

void TestLibraryRoots::unavailableRootIsNeverScannedOrDeleted() {
    QFETCH(QString, mapping);
    QFETCH(QString, reason);
    LibraryFixture f;
    const QString dirA = f.tmp.filePath(QStringLiteral("machineA/photos"));
    QCOMPARE(writePhotos(dirA, 4).size(), 4);
    QHash<qint64, QString> before;
    {
        auto lib = openAs(f, {}, f.tmp.filePath(QStringLiteral("cacheA")));
        QVERIFY(lib);
        QVERIFY(lib->addRoot(QStringLiteral("photos"), dirA).ok());
        QVERIFY(lib->addFolder(dirA + QStringLiteral("/sub")).ok()); // a folder inside, too
        QVERIFY(lib->addFolder(dirA).ok());
        QVERIFY(runIndex(*lib));
        before = idsAndPaths(*lib);
    }
    QCOMPARE(before.size(), 4);
    // Machine B has not got the share (its files are elsewhere, or nowhere).
    QVERIFY(QDir().rename(dirA, f.tmp.filePath(QStringLiteral("elsewhere"))));
    Mounts mounts;
    const QString dirB = f.tmp.filePath(QStringLiteral("machineB/photos"));
    if (mapping == QLatin1String("missing"))
        mounts.insert(QStringLiteral("photos"), dirB);
    if (mapping == QLatin1String("empty")) {
        QVERIFY(QDir().mkpath(dirB));
        mounts.insert(QStringLiteral("photos"), dirB);
    }
    auto lib = openAs(f, mounts, f.tmp.filePath(QStringLiteral("cacheB")));
    QVERIFY(lib);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->stats().offline, 0); // nothing marked in the shared catalog either
    const QHash<qint64, QString> after = idsAndPaths(*lib);
    QCOMPARE(QSet<qint64>(after.keyBegin(), after.keyEnd()),
             QSet<qint64>(before.keyBegin(), before.keyEnd()));
    for (auto it = after.cbegin(); it != after.cend(); ++it) {
        const QString rel = before[it.key()].mid(dirA.size());
        QCOMPARE(it.value(),
                 mapping == QLatin1String("none") ? QStringLiteral("@photos") + rel : dirB + rel);
    }
    // Every vector is still there: search still finds these photos.
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    QCOMPARE(lib->photosMatching({}).value().size(), size_t(4));
    const QList<WatchedFolder> folders = lib->folders();
    QCOMPARE(folders.size(), 2);
    for (const WatchedFolder &folder : folders) {
        QVERIFY(folder.offline);
        QVERIFY2(folder.offlineReason.contains(QLatin1String("library root 'photos'")) &&
                     folder.offlineReason.contains(reason),
                 qPrintable(folder.offlineReason));
    }
    const QList<OfflineDirectory> offline = lib->offlineDirectories();
    QCOMPARE(offline.size(), 2);
    QVERIFY2(offline[0].reason.contains(reason), qPrintable(offline[0].reason));
    QVERIFY(!lib->roots().value(0).unavailableReason.isEmpty());

    // Back on machine A's mapping with the files there: all of it is as it was.
    QVERIFY(QDir().rename(f.tmp.filePath(QStringLiteral("elsewhere")), dirA));
    lib.reset();
    lib = openAs(f, {{QStringLiteral("photos"), dirA}}, f.tmp.filePath(QStringLiteral("cacheA")));
    QVERIFY(lib);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(idsAndPaths(*lib), before);
    QVERIFY(lib->offlineDirectories().isEmpty());
}

// A real mount: the root is a tmpfs that goes away between two runs (its mount point is an empty
// folder then), and comes back.
void TestLibraryRoots::unmountedShareKeepsItsPhotos() {
    LibraryFixture f;
    const QString share = f.tmp.filePath(QStringLiteral("mnt/share"));
    ts::test::TmpfsMount mount(share);
    if (const QString why = mount.mount(); !why.isEmpty())
        QSKIP(qPrintable(why));
    const QString stash = f.tmp.filePath(QStringLiteral("stash"));
    QCOMPARE(writePhotos(stash, 3).size(), 3);
    QVERIFY(QProcess::execute(QStringLiteral("cp"),
                              {QStringLiteral("-a"), stash + QStringLiteral("/."), share}) == 0);
    auto lib = openAs(f, {}, f.tmp.filePath(QStringLiteral("cache")));
    QVERIFY(lib);
    QVERIFY(lib->addRoot(QStringLiteral("share"), share).ok());
    QVERIFY(lib->addFolder(share).ok());
    QVERIFY(runIndex(*lib));
    const QHash<qint64, QString> before = idsAndPaths(*lib);
    QCOMPARE(before.size(), 3);

    mount.unmount();
    QVERIFY(QDir(share).isEmpty());
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(idsAndPaths(*lib), before);
    QVERIFY2(lib->folders().value(0).offlineReason.contains(QLatin1String("which is empty")),
             qPrintable(lib->folders().value(0).offlineReason));

    QVERIFY(mount.mount().isEmpty());
    QVERIFY(QProcess::execute(QStringLiteral("cp"),
                              {QStringLiteral("-a"), stash + QStringLiteral("/."), share}) == 0);
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(idsAndPaths(*lib), before);
    QVERIFY(!lib->folders().value(0).offline);
}

void TestLibraryRoots::badRootsAreRefused_data() {
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("path"); // relative to the temporary folder
    QTest::addColumn<QString>("message");
    // An existing root "photos" is mapped to <tmp>/nas/photos.
    QTest::newRow("same name") << "photos"
                               << "other"
                               << "already has a root named 'photos'";
    QTest::newRow("inside a root") << "inner"
                                   << "nas/photos/sub"
                                   << "cannot be nested";
    QTest::newRow("around a root") << "outer"
                                   << "nas"
                                   << "cannot be nested";
    QTest::newRow("the same folder") << "again"
                                     << "nas/photos"
                                     << "cannot be nested";
    QTest::newRow("not a folder") << "gone"
                                  << "missing"
                                  << "is not a folder";
    QTest::newRow("slash in the name") << "a/b"
                                       << "other"
                                       << "not a valid library root name";
    QTest::newRow("name starting with a dot") << ".x"
                                              << "other"
                                              << "not a valid";
    QTest::newRow("empty name") << ""
                                << "other"
                                << "not a valid";
}

void TestLibraryRoots::badRootsAreRefused() {
    QFETCH(QString, name);
    QFETCH(QString, path);
    QFETCH(QString, message);
    LibraryFixture f;
    QVERIFY(QDir().mkpath(f.tmp.filePath(QStringLiteral("nas/photos/sub"))));
    QVERIFY(QDir().mkpath(f.tmp.filePath(QStringLiteral("other"))));
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(
        lib->addRoot(QStringLiteral("photos"), f.tmp.filePath(QStringLiteral("nas/photos"))).ok());
    const Status s = lib->addRoot(name, f.tmp.filePath(path));
    QVERIFY(!s.ok());
    QVERIFY2(s.error().message.contains(message), qPrintable(s.error().message));
    QCOMPARE(lib->roots().size(), 1);
    // Mapping an existing root where it would nest is refused the same way.
    if (path.startsWith(QLatin1String("nas"))) {
        QVERIFY(lib->addRoot(QStringLiteral("usb"), f.tmp.filePath(QStringLiteral("other"))).ok());
        const Status m = lib->mapRoot(QStringLiteral("usb"), f.tmp.filePath(path));
        QVERIFY2(!m.ok() && m.error().message.contains(QLatin1String("cannot be nested")),
                 qPrintable(m.ok() ? QString() : m.error().message));
        QCOMPARE(lib->rootMounts().value(QStringLiteral("usb")),
                 f.tmp.filePath(QStringLiteral("other")));
    }
}

void TestLibraryRoots::addingARootKeepsWhatTheLibraryHolds_data() {
    QTest::addColumn<QString>("watched"); // the folder watched before the root exists
    QTest::newRow("the root's own folder is watched") << "nas/photos";
    QTest::newRow("a folder around the root is watched") << "nas";
}

void TestLibraryRoots::addingARootKeepsWhatTheLibraryHolds() {
    QFETCH(QString, watched);
    LibraryFixture f;
    const QString root = f.tmp.filePath(QStringLiteral("nas/photos"));
    QCOMPARE(writePhotos(root, 4).size(), 4);
    QVERIFY(ts::test::writePhoto(f.tmp.filePath(QStringLiteral("nas/outside.png")), 7));
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(f.tmp.filePath(watched)).ok());
    QVERIFY(runIndex(*lib));
    const QHash<qint64, QString> before = idsAndPaths(*lib);
    const qint64 embedded = f.embedder->calls.load();

    QVERIFY(lib->addRoot(QStringLiteral("photos"), root).ok());
    QCOMPARE(idsAndPaths(*lib), before); // same ids, same local paths
    QVERIFY(runIndex(*lib));
    QCOMPARE(lib->lastRunSummary().embedded, 0);
    QCOMPARE(lib->lastRunSummary().removed, 0);
    QCOMPARE(f.embedder->calls.load(), embedded);
    QCOMPARE(idsAndPaths(*lib), before);
    QCOMPARE(lib->checkConsistency(), QStringLiteral("ok"));
    // Stored under the root; what lies outside it keeps its absolute path.
    const QStringList stored = storedPaths(f.db());
    QCOMPARE(stored.filter(QStringLiteral("@photos/")).size(), 4);
    QCOMPARE(lib->roots().value(0).photoCount, qint64(4));
    QCOMPARE(lib->roots().value(0).folderCount, qint64(1));
    // The root's photos are counted in the root's folder, not in the folder around it.
    for (const WatchedFolder &folder : lib->folders())
        QCOMPARE(folder.photoCount, qint64(folder.path == root ? 4 : 1));
}

void TestLibraryRoots::thumbnailsComeFromTheCatalogOnAnotherMachine() {
    LibraryFixture f;
    const QString dirA = f.tmp.filePath(QStringLiteral("machineA/photos"));
    const QStringList names = writePhotos(dirA, 3);
    const QString cacheA = f.tmp.filePath(QStringLiteral("cacheA"));
    QString thumbA;
    {
        auto lib = openAs(f, {}, cacheA);
        QVERIFY(lib);
        QVERIFY(lib->addRoot(QStringLiteral("photos"), dirA).ok());
        QVERIFY(lib->addFolder(dirA).ok());
        QVERIFY(runIndex(*lib));
        thumbA = lib->storedThumbnailProvider()(dirA + QLatin1Char('/') + names[2]);
    }
    QVERIFY2(thumbA.startsWith(cacheA), qPrintable(thumbA));
    const QByteArray bytesA = bytesOf(thumbA);
    QVERIFY(!bytesA.isEmpty());

    const QString dirB = f.tmp.filePath(QStringLiteral("machineB/photos"));
    QVERIFY(QDir().mkpath(QFileInfo(dirB).absolutePath()));
    QVERIFY(QDir().rename(dirA, dirB));
    const QString cacheB = f.tmp.filePath(QStringLiteral("cacheB"));
    auto lib = openAs(f, {{QStringLiteral("photos"), dirB}}, cacheB);
    QVERIFY(lib);
    // The provider is called on loader threads: from another thread here.
    const auto provider = lib->storedThumbnailProvider();
    QString thumbB;
    QThread *thread =
        QThread::create([&] { thumbB = provider(dirB + QLatin1Char('/') + names[2]); });
    thread->start();
    QVERIFY(thread->wait(10000));
    delete thread;
    QVERIFY2(thumbB.startsWith(cacheB), qPrintable(thumbB));
    QCOMPARE(QFileInfo(thumbB).fileName(), QFileInfo(thumbA).fileName());
    QCOMPARE(bytesOf(thumbB), bytesA);
    // Machine A's cache is not needed any more.
    QVERIFY(QDir(cacheA).removeRecursively());
    QCOMPARE(provider(dirB + QLatin1Char('/') + names[2]), thumbB);
}

void TestLibraryRoots::forgettingPhotosDropsTheirStoredThumbnails() {
    LibraryFixture f;
    QCOMPARE(writePhotos(f.photos(), 3).size(), 3);
    auto lib = f.open();
    QVERIFY(lib);
    QVERIFY(lib->addFolder(f.photos()).ok());
    QVERIFY(runIndex(*lib));
    QStringList names;
    const auto listed = lib->listPhotos({}, SortOrder::Name, 0, 10);
    QVERIFY(listed);
    for (const PhotoRecord &r : *listed)
        names << QFileInfo(r.thumbnailPath).fileName();
    QCOMPARE(names.size(), 3);
    {
        auto catalog = Catalog::open(f.db());
        QVERIFY(catalog);
        for (const QString &name : names)
            QVERIFY2((*catalog)->thumbnailData(name).has_value(), qPrintable(name));
    }
    // One photo removed, then the folder forgotten: each time its stored thumbnail goes too.
    const qint64 first = listed->at(0).id;
    QVERIFY(lib->removePhotos({first}).ok());
    {
        auto catalog = Catalog::open(f.db());
        QVERIFY(!(*catalog)->thumbnailData(names[0]).has_value());
        QVERIFY((*catalog)->thumbnailData(names[1]).has_value());
    }
    QVERIFY(lib->forgetFolder(f.photos()).ok());
    auto catalog = Catalog::open(f.db());
    for (const QString &name : names)
        QVERIFY2(!(*catalog)->thumbnailData(name).has_value(), qPrintable(name));
}

void TestLibraryRoots::rootsFileKeepsEachCatalogsMapping() {
    QTemporaryDir tmp;
    const RootMountsFile file(tmp.filePath(QStringLiteral("config/towersearch/roots.json")));
    const QString sqlite = tmp.filePath(QStringLiteral("lib.sqlite"));
    const QString url = QStringLiteral("postgresql://alice:s3cret@nas/photos");
    QVERIFY(file.load(sqlite).value().isEmpty()); // no file yet: nothing mapped
    QVERIFY(file.save(sqlite, {{QStringLiteral("photos"), QStringLiteral("/mnt/a")}}).ok());
    QVERIFY(file.save(url, {{QStringLiteral("photos"), QStringLiteral("/Volumes/p")},
                            {QStringLiteral("usb"), QStringLiteral("/media/u")}})
                .ok());
    QCOMPARE(file.load(sqlite).value(),
             (Mounts{{QStringLiteral("photos"), QStringLiteral("/mnt/a")}}));
    QCOMPARE(file.load(url).value().value(QStringLiteral("usb")), QStringLiteral("/media/u"));
    // The same catalog named with another password (or none) is the same entry; the password
    // is never written.
    QCOMPARE(file.load(QStringLiteral("postgresql://alice@nas/photos")).value().size(), 2);
    QVERIFY(!bytesOf(file.path()).contains("s3cret"));
    // Unmapping everything removes the catalog's entry, not the others'.
    QVERIFY(file.save(url, {}).ok());
    QVERIFY(file.load(url).value().isEmpty());
    QCOMPARE(file.load(sqlite).value().size(), 1);
}

void TestLibraryRoots::malformedRootsFileIsAnErrorNamingIt_data() {
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("message");
    QTest::newRow("not JSON") << QByteArray("{\"catalogs\": ") << "not valid JSON";
    QTest::newRow("not an object") << QByteArray("[1, 2]") << "not a roots file";
    QTest::newRow("catalogs not an object")
        << QByteArray("{\"catalogs\": 3}") << "not a roots file";
    QTest::newRow("a path that is not a string")
        << QByteArray("{\"catalogs\": {\"{db}\": {\"photos\": 7}}}") << "is not a string";
    QTest::newRow("roots that are not an object")
        << QByteArray("{\"catalogs\": {\"{db}\": []}}") << "are not an object";
}

void TestLibraryRoots::malformedRootsFileIsAnErrorNamingIt() {
    QFETCH(QByteArray, content);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const QString db = tmp.filePath(QStringLiteral("lib.sqlite"));
    const RootMountsFile file(tmp.filePath(QStringLiteral("roots.json")));
    QFile f(file.path());
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(content.replace("{db}", db.toUtf8()));
    f.close();
    const auto loaded = file.load(db);
    QVERIFY(!loaded);
    QVERIFY2(loaded.error().message.contains(file.path()) &&
                 loaded.error().message.contains(message),
             qPrintable(loaded.error().message));
    // Nothing is overwritten on top of a file that could not be read.
    QVERIFY(!file.save(db, {{QStringLiteral("x"), QStringLiteral("/x")}}).ok());
    QCOMPARE(bytesOf(file.path()), content);
}

QTEST_MAIN(TestLibraryRoots)
#include "tst_libraryroots.moc"
