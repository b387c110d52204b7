// Near-duplicates through the Library: a library of the fixture photos and near-copies
// the test makes (resized, re-encoded, cropped, converted), embedded with the tiny e2e model;
// findDuplicates must give back exactly the copies made, around their original; moveToTrash puts
// a copy in the desktop's trash (a test XDG_DATA_HOME) and drops it from catalog and index.
#include "core/search/bridgetowerpipeline.h"
#include "core/search/duplicates.h"
#include "indexer/library.h"
#include "libraryfixture.h"
#include "nearcopies.h"
#include "testdata.h"

#include <QSet>
#include <QtTest>

using namespace ts;

namespace {

QSet<QString> pathsOf(const DuplicatePhotos &group) {
    QSet<QString> out;
    for (const PhotoRecord &p : group.photos)
        out.insert(QFileInfo(p.path).fileName());
    return out;
}

QString show(const std::vector<DuplicatePhotos> &groups) {
    QStringList out;
    for (const DuplicatePhotos &g : groups) {
        QStringList names;
        for (size_t i = 0; i < g.photos.size(); ++i)
            names << QStringLiteral("%1 (%2)")
                         .arg(QFileInfo(g.photos[i].path).fileName())
                         .arg(double(g.similarity[i]), 0, 'f', 4);
        out << QLatin1Char('[') + names.join(QStringLiteral(", ")) + QLatin1Char(']');
    }
    return out.join(QLatin1Char(' '));
}

} // namespace

class TestLibraryDuplicates : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    std::shared_ptr<const BridgeTowerPipeline> m_pipeline;
    std::unique_ptr<Library> m_lib;
    // The groups the test made: file names of an original and its copies.
    QList<QSet<QString>> m_expected;

    QString photos() const { return m_tmp.filePath(QStringLiteral("photos")); }

private Q_SLOTS:
    void initTestCase();
    void findsExactlyTheCopiesMade();
    void recordsCarrySizeResolutionAndDate();
    void findsDuplicatesWithoutAModel();
    void movesACopyToTheTrashAndOutOfTheLibrary();
};

void TestLibraryDuplicates::initTestCase() {
    QVERIFY(m_tmp.isValid());
    QVERIFY(QDir().mkpath(photos()));
    const QString images = test::dataDir(QStringLiteral("e2e/tiny-e2e/images"));
    // Originals: the four fixture photos. Copies: of two of them, every variant nearcopies.h makes.
    for (const QString &name : QDir(images).entryList(QDir::Files, QDir::Name))
        QVERIFY(QFile::copy(images + QLatin1Char('/') + name, photos() + QLatin1Char('/') + name));
    for (const QString &name :
         {QStringLiteral("photo_astronaut.png"), QStringLiteral("photo_coffee.jpg")}) {
        QSet<QString> group{name};
        for (const auto &copy :
             test::writeNearCopies(images + QLatin1Char('/') + name, photos(), 6))
            group.insert(QFileInfo(copy.path).fileName());
        QVERIFY(group.size() > 1);
        m_expected << group;
    }
    auto pipeline = BridgeTowerPipeline::load(test::dataDir(QStringLiteral("e2e/tiny-e2e")));
    QVERIFY2(pipeline.ok(), pipeline.ok() ? "" : qPrintable(pipeline.error().message));
    m_pipeline = *pipeline;
    LibraryOptions options;
    options.databasePath =
        test::catalogLocation(m_tmp.filePath(QStringLiteral("lib/library.sqlite")));
    options.watchFolders = false;
    auto lib = Library::open(options);
    QVERIFY2(lib.ok(), lib.ok() ? "" : qPrintable(lib.error().message));
    m_lib = std::move(*lib);
    QVERIFY(m_lib->setPipeline(m_pipeline).ok());
    QVERIFY(m_lib->waitForModel().ok());
    QVERIFY(m_lib->addFolder(photos()).ok());
    QVERIFY(test::runIndex(*m_lib, 120000));
    QCOMPARE(m_lib->stats().failed, qint64(0));
}

void TestLibraryDuplicates::findsExactlyTheCopiesMade() {
    auto groups = m_lib->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY2(groups.ok(), groups.ok() ? "" : qPrintable(groups.error().message));
    QVERIFY2(groups->size() == size_t(m_expected.size()), qPrintable(show(*groups)));
    // Largest first; each group exactly one original with its copies.
    QList<QSet<QString>> found;
    for (size_t i = 0; i < groups->size(); ++i) {
        if (i > 0)
            QVERIFY((*groups)[i - 1].photos.size() >= (*groups)[i].photos.size());
        found << pathsOf((*groups)[i]);
        QCOMPARE((*groups)[i].similarity.front(), 1.0f);
        for (float s : (*groups)[i].similarity)
            QVERIFY(s >= kDefaultDuplicateThreshold);
    }
    for (const QSet<QString> &group : m_expected)
        QVERIFY2(found.contains(group), qPrintable(show(*groups)));
}

void TestLibraryDuplicates::recordsCarrySizeResolutionAndDate() {
    auto groups = m_lib->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY(groups.ok() && !groups->empty());
    for (const DuplicatePhotos &g : *groups)
        for (const PhotoRecord &p : g.photos) {
            const QFileInfo file(p.path);
            QCOMPARE(p.size, file.size());
            const QImage image(p.path);
            QCOMPARE(QSize(p.width, p.height), image.size());
            QCOMPARE(p.modified.toMSecsSinceEpoch(), file.lastModified().toMSecsSinceEpoch());
        }
}

// The CLI's case: a library opened without a model uses the serving model's index file.
void TestLibraryDuplicates::findsDuplicatesWithoutAModel() {
    LibraryOptions options;
    options.databasePath = m_lib->databasePath();
    options.watchFolders = false;
    auto other = Library::open(options);
    QVERIFY(other.ok());
    auto groups = (*other)->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY2(groups.ok(), groups.ok() ? "" : qPrintable(groups.error().message));
    auto withModel = m_lib->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY(withModel.ok());
    QCOMPARE(groups->size(), withModel->size());
    for (size_t i = 0; i < groups->size(); ++i)
        QCOMPARE(pathsOf((*groups)[i]), pathsOf((*withModel)[i]));
}

void TestLibraryDuplicates::movesACopyToTheTrashAndOutOfTheLibrary() {
    QTemporaryDir home;
    const QByteArray saved = qgetenv("XDG_DATA_HOME");
    qputenv("XDG_DATA_HOME", QFile::encodeName(home.path()));
    auto restore = qScopeGuard([&] {
        if (saved.isEmpty())
            qunsetenv("XDG_DATA_HOME");
        else
            qputenv("XDG_DATA_HOME", saved);
    });
    auto groups = m_lib->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY(groups.ok() && !groups->empty());
    const PhotoRecord copy = groups->front().photos.back();
    const qint64 photosBefore = m_lib->stats().photos;

    auto trashed = m_lib->moveToTrash(copy.id);
    QVERIFY2(trashed.ok(), trashed.ok() ? "" : qPrintable(trashed.error().message));
    QVERIFY(!QFile::exists(copy.path));
    // The freedesktop.org trash: the file under files/, its origin under info/.
    const QString inTrash =
        home.filePath(QStringLiteral("Trash/files/") + QFileInfo(copy.path).fileName());
    QVERIFY2(QFile::exists(inTrash), qPrintable(QStringLiteral("not in the trash: ") + *trashed));
    QFile info(home.filePath(QStringLiteral("Trash/info/") + QFileInfo(copy.path).fileName() +
                             QStringLiteral(".trashinfo")));
    QVERIFY(info.open(QIODevice::ReadOnly));
    QVERIFY(info.readAll().contains(QFileInfo(copy.path).fileName().toUtf8()));

    QVERIFY(!m_lib->photo(copy.id));
    QCOMPARE(m_lib->stats().photos, photosBefore - 1);
    QCOMPARE(m_lib->checkConsistency(), QStringLiteral("ok")); // the index dropped it too
    auto after = m_lib->findDuplicates(kDefaultDuplicateThreshold);
    QVERIFY(after.ok());
    for (const DuplicatePhotos &g : *after)
        for (const PhotoRecord &p : g.photos)
            QVERIFY(p.id != copy.id);

    // A photo no longer there cannot be trashed: a sentence naming it, nothing changes.
    auto again = m_lib->moveToTrash(copy.id);
    QVERIFY(!again.ok());
    QCOMPARE(again.error().code, Error::Code::NotFound);
}

QTEST_MAIN(TestLibraryDuplicates)
#include "tst_libraryduplicates.moc"
