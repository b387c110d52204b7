#include "app/gui/app.h"

#include "app/gui/cataloglisting.h"
#include "app/gui/startupreport.h"
#include "core/search/bridgetowerpipeline.h"
#include "indexer/rootmountsfile.h"
#include "ui/checkpointfolder.h"
#include "ui/duplicatesdialog.h"
#include "ui/modelsetupdialog.h"
#include "ui/thumbnailloader.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QIcon>
#include <QMessageBox>
#include <QSettings>
#include <QThread>
#include <QtConcurrent/QtConcurrentRun>

#include <utility>

namespace ts {

QString libraryLocation(const QString &commandLine, const AppSettings &settings) {
    if (!commandLine.isEmpty())
        return commandLine;
    if (const QString env = qEnvironmentVariable("TOWERSEARCH_DB"); !env.isEmpty())
        return env;
    return settings.libraryLocation;
}

LibraryOptions libraryOptions(const AppSettings &settings, const QString &location) {
    LibraryOptions options;
    options.databasePath = location;
    options.excludedFolders = settings.excludedFolders;
    options.rerankCacheMemoryBytes = qint64(settings.rerankCacheMemoryMiB) << 20;
    options.rerankCacheDiskBytes = qint64(settings.rerankCacheDiskMiB) << 20;
    return options;
}

Status loadRootMounts(LibraryOptions &options) {
    auto mounts = RootMountsFile().load(options.databasePath);
    if (!mounts)
        return mounts.error();
    options.rootMounts = *mounts;
    return {};
}

App::App(std::unique_ptr<Library> library, const AppSettings &settings)
    : m_library(std::move(library)), m_settings(settings), m_window(settings) {
    giveWindowTheLibrary();
    wireWindowRequests();
    wireLibraryNews();
    refreshFolders();
    restoreWindowState();
}

App::~App() {
    QSettings store;
    store.setValue(QStringLiteral("window/geometry"), m_window.saveGeometry());
    m_library->cancelIndexing();
}

// What the window reads from the library directly: the database path, failed photos, stored
// thumbnails, dates taken, and the library view's listing.
void App::giveWindowTheLibrary() {
    Library *lib = m_library.get();
    m_window.setLibraryPath(lib->databasePath());
    m_window.setLocationCheck([](const QString &location) {
        return Library::checkLocation(location.isEmpty() ? Library::defaultDatabasePath()
                                                         : location);
    });
    m_window.setFailedPhotosProvider([lib] { return lib->failedPhotos(); });
    m_window.thumbnailLoader()->setStoredThumbnailProvider(lib->storedThumbnailProvider());
    m_window.setDateTakenProvider([lib](qint64 id, const QString &) -> std::optional<QDateTime> {
        auto record = lib->photo(id);
        // The pane says "taken" only for a camera's date, not for the file-time fallback.
        return record && !record->takenIsFileTime ? record->taken : std::nullopt;
    });
    // The library view without a query: its own catalog connection, queried off the GUI thread
    // (the location as given: a URL's password is in it, not in databasePath()).
    if (auto listing = CatalogListing::open(lib->catalogLocation(), lib->rootMounts());
        listing.ok())
        m_window.setPhotoListing(listing.value());
    else
        qWarning("library view: %s", qPrintable(listing.error().message));
}

void App::wireWindowRequests() {
    MainWindow *w = &m_window;
    Library *lib = m_library.get();
    connect(w, &MainWindow::addFolderRequested, this, &App::addFolder);
    connect(w, &MainWindow::removeFolderRequested, this, &App::removeFolder);
    connect(w, &MainWindow::rescanRequested, this, [this] { startIndexing(); });
    connect(w, &MainWindow::pauseIndexingRequested, lib, &Library::pauseIndexing);
    connect(w, &MainWindow::resumeIndexingRequested, lib, &Library::resumeIndexing);
    connect(w, &MainWindow::modelSetupRequested, this, [this] { askForModel({}); });
    connect(w, &MainWindow::duplicatesRequested, this, &App::openDuplicatesDialog);
    connect(w, &MainWindow::settingsChanged, this, &App::applySettings);
}

void App::wireLibraryNews() {
    Library *lib = m_library.get();
    connect(lib, &Library::progressChanged, &m_window, &MainWindow::setIndexProgress);
    connect(lib, &Library::indexingFinished, this, [this](bool) {
        m_window.setSearchEngine(m_library->searchEngine());
        m_window.setIndexingFinished();
        refreshFolders();
    });
    connect(lib, &Library::foldersChanged, this, &App::refreshFolders);
    connect(lib, &Library::modelReady, this, &App::onModelReady);
    connect(lib, &Library::errorOccurred, this, [this](const QString &message) {
        QMessageBox::warning(&m_window, QObject::tr("Indexing Stopped"), message);
    });
}

// The icon, the geometry of the last session and the saved searches, which live with the settings
// (they are counted once the model is ready); their changes are stored from then on.
void App::restoreWindowState() {
    m_window.setWindowIcon(QIcon(QStringLiteral(":/icons/towersearch.svg")));
    QSettings store;
    m_window.restoreGeometry(store.value(QStringLiteral("window/geometry")).toByteArray());
    m_window.setSavedSearches(SavedSearch::loadAll(store));
    connect(&m_window, &MainWindow::savedSearchesChanged, this,
            [](const QList<SavedSearch> &searches) {
                QSettings later; // the signal comes long after this function returned
                SavedSearch::saveAll(later, searches);
            });
}

void App::removeFolder(const QString &path) {
    const Status st = m_library->forgetFolder(path);
    if (!st.ok())
        QMessageBox::warning(&m_window, QObject::tr("Remove Folder"), st.error().message);
    refreshFolders();
}

void App::openDuplicatesDialog() {
    Library *lib = m_library.get();
    auto *dialog = new DuplicatesDialog(
        lib->duplicateFinder(), [lib](qint64 id) { return lib->moveToTrash(id); }, &m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->show();
}

void App::applySettings(const AppSettings &s) {
    // A new precision reloads the model; the library keeps its vectors (keyed by model only).
    const bool modelChanged =
        s.modelDirectory != m_settings.modelDirectory || s.precision != m_settings.precision;
    const AppSettings before = m_settings;
    m_settings = s;
    QSettings store;
    s.save(store);
    if (libraryLocation(m_databaseOverride, s) != libraryLocation(m_databaseOverride, before)) {
        reopenLibrary(before);
        return; // the new App applies everything else
    }
    // At once, not at the next start: the model's worker threads follow the new count from their
    // next forward pass.
    setModelThreads(s.threads);
    m_library->setExcludedFolders(s.excludedFolders);
    m_library->setRerankCacheBudgets(qint64(s.rerankCacheMemoryMiB) << 20,
                                     qint64(s.rerankCacheDiskMiB) << 20);
    m_window.setSearchEngine(m_library->searchEngine());
    if (modelChanged)
        loadModel(s.modelDirectory);
}

void App::reopenLibrary(const AppSettings &before) {
    const QString location = libraryLocation(m_databaseOverride, m_settings);
    LibraryOptions options = libraryOptions(m_settings, location);
    const Status mounts = loadRootMounts(options);
    auto opened =
        mounts ? Library::open(options) : Result<std::unique_ptr<Library>>(mounts.error());
    if (!opened) {
        QMessageBox::warning(
            &m_window, QObject::tr("Library Database"),
            QObject::tr("The library stays as it was: %1").arg(opened.error().message));
        m_settings.libraryLocation = before.libraryLocation;
        QSettings store;
        m_settings.save(store);
        m_window.applySettings(m_settings);
        return;
    }
    m_reopened = std::move(*opened);
    QCoreApplication::exit(kReopenLibraryExitCode);
}

// A large library's vector index is loaded off the GUI thread: search starts when it is in place.
void App::onModelReady(const QString &error) {
    if (!error.isEmpty()) {
        askForModel(error);
        return;
    }
    m_window.setSearchEngine(m_library->searchEngine());
    if (m_library->searchEngine())
        startupMilestone("search ready (vector index loaded)");
}

void App::addFolder(const QString &path) {
    const Status st = m_library->addFolder(path);
    if (!st.ok()) {
        QMessageBox::warning(&m_window, QObject::tr("Add Folder"), st.error().message);
        return;
    }
    refreshFolders();
    startIndexing();
}

void App::startIndexing() {
    if (m_hasPipeline) // otherwise it starts once the model is loaded
        m_library->startIndexing();
}

void App::refreshFolders() {
    m_window.setFolders(m_library->folders());
    m_window.setFailedCount(m_library->stats().failed);
    // camera: completion; one grouped query (cameras are few), after each run and folder change.
    QStringList cameras;
    for (const auto &[camera, count] : m_library->cameras())
        cameras.append(camera);
    m_window.setCameras(cameras);
}

void App::loadModel(const QString &directory) {
    const QString problem = CheckpointFolder::problem(directory);
    if (directory.isEmpty() || !problem.isEmpty()) {
        askForModel(directory.isEmpty() ? QString() : problem);
        return;
    }
    m_window.setModelStatus(
        QObject::tr("Loading the model from %1…").arg(QDir::toNativeSeparators(directory)));
    const PrecisionChoice precision = resolvePrecision(m_settings.precision);
    BridgeTowerPipeline::Options options;
    options.precision = precision.precision;
    using Loaded = std::pair<std::shared_ptr<const BridgeTowerPipeline>, QString>; // or the error
    QtConcurrent::run([directory, options] {
        auto loaded = BridgeTowerPipeline::load(directory, options);
        return loaded.ok() ? Loaded(loaded.value(), QString())
                           : Loaded(nullptr, loaded.error().message);
    }).then(this, [this, directory](const Loaded &r) {
        if (!r.first) {
            m_window.setModelStatus(QObject::tr("No model loaded"));
            askForModel(r.second);
            return;
        }
        usePipeline(directory, r.first);
    });
}

Status App::useModelNow(const QString &directory) {
    auto loaded = BridgeTowerPipeline::load(directory);
    if (!loaded.ok())
        return loaded.error();
    usePipeline(directory, loaded.value());
    return {};
}

void App::setModelThreads(int threads) {
    BridgeTowerPipeline::setThreadCount(threads > 0 ? threads : QThread::idealThreadCount());
}

void App::askForModel(const QString &error) {
    auto *dialog = new ModelSetupDialog(m_settings.modelDirectory, error, &m_window);
    dialog->setPrecision(resolvePrecision(m_settings.precision).precision);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        m_settings.modelDirectory = dialog->directory();
        QSettings store;
        m_settings.save(store);
        usePipeline(dialog->directory(), dialog->pipeline());
    });
    connect(dialog, &QDialog::rejected, this, [this] {
        if (!m_hasPipeline)
            m_window.setModelStatus(
                QObject::tr("No model: search is off. Use File ▸ Set Up Model… to choose one."));
    });
    dialog->open();
}

void App::usePipeline(const QString &directory,
                      std::shared_ptr<const BridgeTowerPipeline> pipeline) {
    const Status st = m_library->setPipeline(std::move(pipeline));
    if (!st.ok()) {
        askForModel(st.error().message);
        return;
    }
    m_hasPipeline = true;
    startupMilestone("model loaded");
    m_window.setModelStatus(
        QObject::tr("Model: %1, %2")
            .arg(QFileInfo(directory).fileName(), resolvePrecision(m_settings.precision).reason));
    m_window.setSearchEngine(m_library->searchEngine());
    if (!m_library->isLoadingModel() && m_library->searchEngine())
        startupMilestone("search ready (vector index loaded)");
    m_library->startIndexing();
}

} // namespace ts
