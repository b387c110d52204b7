// towersearch: the desktop app. The composition root: opens the Library, loads the model off the
// GUI thread (or asks for one with the first-run dialog), builds the main window and wires the
// window's requests to the library and the library's news to the window. No singletons.
//
//   towersearch                 open the window
//   towersearch FILE            open it with a photo query for FILE
//   towersearch DIR             add DIR to the library
//   towersearch --screenshot-demo PHOTOS --model M --screenshot-out OUT
//                               a scripted tour (empty library, indexing, results, fill-mask)
//                               saving PNGs into OUT, with a throw-away library; see
//                               resources/screenshots/take-screenshots.sh
//   TOWERSEARCH_STARTUP_REPORT=1 towersearch
//                               prints to stderr when, counted from the process's start (dynamic
//                               loading included), the window is usable, the model is loaded and
//                               search is ready (README, Benchmarks)
#include "app/gui/cataloglisting.h"
#include "core/search/bridgetowerpipeline.h"
#include "indexer/library.h"
#include "ui/appsettings.h"
#include "ui/checkpointfolder.h"
#include "ui/describepanel.h"
#include "ui/detailpane.h"
#include "ui/duplicatesdialog.h"
#include "ui/fillmaskpanel.h"
#include "ui/librarymodel.h"
#include "ui/mainwindow.h"
#include "ui/modelsetupdialog.h"
#include "ui/resultmodel.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"
#include "ui/thumbnailloader.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QIcon>
#include <QListView>
#include <QMessageBox>
#include <QPointer>
#include <QSet>
#include <QSettings>
#include <QTemporaryDir>
#include <QThread>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include <cstdio>
#include <memory>

#include <unistd.h>

using namespace ts;

namespace {

// Milliseconds since the kernel started this process (/proc/self/stat's start time against
// /proc/uptime, 10 ms resolution): a timer started in main() would miss the dynamic loading of
// LibTorch and Qt, which the user waits for too. -1 where /proc cannot tell.
double msSinceProcessStart() {
    QFile stat(QStringLiteral("/proc/self/stat")), uptime(QStringLiteral("/proc/uptime"));
    if (!stat.open(QIODevice::ReadOnly) || !uptime.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray line = stat.readAll();
    // Fields after the command name (which may hold spaces): field 22 is the start time in ticks.
    const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 20)
        return -1;
    const double startSeconds = fields[19].toDouble() / double(sysconf(_SC_CLK_TCK));
    return (uptime.readAll().split(' ').value(0).toDouble() - startSeconds) * 1000.0;
}

// The start-up report (TOWERSEARCH_STARTUP_REPORT=1): each milestone once, on stderr.
void startupMilestone(const char *what) {
    static const bool enabled = qEnvironmentVariableIntValue("TOWERSEARCH_STARTUP_REPORT") != 0;
    static QSet<QByteArray> seen;
    if (!enabled || seen.contains(what))
        return;
    seen.insert(what);
    std::fprintf(stderr, "startup: %s after %.0f ms\n", what, msSinceProcessStart());
}

// Owns the library and the window and keeps them in step.
class App : public QObject {
public:
    App(std::unique_ptr<Library> library, const AppSettings &settings)
        : m_library(std::move(library)), m_settings(settings), m_window(settings) {
        Library *lib = m_library.get();
        MainWindow *w = &m_window;
        w->setLibraryPath(lib->databasePath());
        w->setFailedPhotosProvider([lib] { return lib->failedPhotos(); });
        w->thumbnailLoader()->setStoredThumbnailProvider(lib->storedThumbnailProvider());
        w->setDateTakenProvider([lib](qint64 id, const QString &) -> std::optional<QDateTime> {
            auto record = lib->photo(id);
            // The pane says "taken" only for a camera's date, not for the file-time fallback.
            return record && !record->takenIsFileTime ? record->taken : std::nullopt;
        });
        // The library view without a query: its own catalog connection, queried off the GUI thread.
        if (auto listing = CatalogListing::open(lib->databasePath()); listing.ok())
            w->setPhotoListing(listing.value());
        else
            qWarning("library view: %s", qPrintable(listing.error().message));
        connect(w, &MainWindow::addFolderRequested, this, &App::addFolder);
        connect(w, &MainWindow::removeFolderRequested, this, [this](const QString &path) {
            const Status st = m_library->forgetFolder(path);
            if (!st.ok())
                QMessageBox::warning(&m_window, QObject::tr("Remove Folder"), st.error().message);
            refreshFolders();
        });
        connect(w, &MainWindow::rescanRequested, this, [this] { startIndexing(); });
        connect(w, &MainWindow::pauseIndexingRequested, lib, &Library::pauseIndexing);
        connect(w, &MainWindow::resumeIndexingRequested, lib, &Library::resumeIndexing);
        connect(w, &MainWindow::modelSetupRequested, this, [this] { askForModel({}); });
        connect(w, &MainWindow::duplicatesRequested, this, [this, lib] {
            auto *dialog = new DuplicatesDialog(
                lib->duplicateFinder(), [lib](qint64 id) { return lib->moveToTrash(id); },
                &m_window);
            dialog->setAttribute(Qt::WA_DeleteOnClose);
            dialog->show();
        });
        connect(w, &MainWindow::settingsChanged, this, [this](const AppSettings &s) {
            // A new precision reloads the model; the library keeps its vectors (keyed by model
            // only).
            const bool modelChanged = s.modelDirectory != m_settings.modelDirectory ||
                                      s.precision != m_settings.precision;
            m_settings = s;
            QSettings store;
            s.save(store);
            // At once, not at the next start: the model's worker threads follow the new count
            // from their next forward pass.
            BridgeTowerPipeline::setThreadCount(s.threads > 0 ? s.threads
                                                              : QThread::idealThreadCount());
            m_library->setExcludedFolders(s.excludedFolders);
            m_library->setRerankCacheBudgets(qint64(s.rerankCacheMemoryMiB) << 20,
                                             qint64(s.rerankCacheDiskMiB) << 20);
            m_window.setSearchEngine(m_library->searchEngine());
            if (modelChanged)
                loadModel(s.modelDirectory);
        });
        connect(lib, &Library::progressChanged, w, &MainWindow::setIndexProgress);
        connect(lib, &Library::indexingFinished, this, [this](bool) {
            m_window.setSearchEngine(m_library->searchEngine());
            m_window.setIndexingFinished();
            refreshFolders();
        });
        connect(lib, &Library::foldersChanged, this, &App::refreshFolders);
        // A large library's vector index is loaded off the GUI thread: search starts when it is in
        // place.
        connect(lib, &Library::modelReady, this, [this](const QString &error) {
            if (!error.isEmpty()) {
                askForModel(error);
                return;
            }
            m_window.setSearchEngine(m_library->searchEngine());
            if (m_library->searchEngine())
                startupMilestone("search ready (vector index loaded)");
        });
        connect(lib, &Library::errorOccurred, this, [this](const QString &message) {
            QMessageBox::warning(&m_window, QObject::tr("Indexing Stopped"), message);
        });
        refreshFolders();
        m_window.setWindowIcon(QIcon(QStringLiteral(":/icons/towersearch.svg")));
        QSettings store;
        m_window.restoreGeometry(store.value(QStringLiteral("window/geometry")).toByteArray());
        // Saved searches live with the settings; they are counted once the model is ready.
        m_window.setSavedSearches(SavedSearch::loadAll(store));
        connect(w, &MainWindow::savedSearchesChanged, this, [](const QList<SavedSearch> &searches) {
            QSettings store;
            SavedSearch::saveAll(store, searches);
        });
    }

    ~App() override {
        QSettings store;
        store.setValue(QStringLiteral("window/geometry"), m_window.saveGeometry());
        m_library->cancelIndexing();
    }

    MainWindow &window() { return m_window; }
    Library &library() { return *m_library; }
    bool hasPipeline() const { return m_hasPipeline; }

    void addFolder(const QString &path) {
        const Status st = m_library->addFolder(path);
        if (!st.ok()) {
            QMessageBox::warning(&m_window, QObject::tr("Add Folder"), st.error().message);
            return;
        }
        refreshFolders();
        startIndexing();
    }

    void startIndexing() {
        if (m_hasPipeline) // otherwise it starts once the model is loaded
            m_library->startIndexing();
    }

    void refreshFolders() {
        m_window.setFolders(m_library->folders());
        m_window.setFailedCount(m_library->stats().failed);
        // camera: completion; one grouped query (cameras are few), after each run and folder
        // change.
        QStringList cameras;
        for (const auto &[camera, count] : m_library->cameras())
            cameras.append(camera);
        m_window.setCameras(cameras);
    }

    // Loads in the background; on failure offers the setup dialog with the reason.
    void loadModel(const QString &directory) {
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
        QtConcurrent::run([directory, options] {
            auto loaded = BridgeTowerPipeline::load(directory, options);
            return loaded.ok()
                       ? std::make_pair(std::shared_ptr<const BridgeTowerPipeline>(loaded.value()),
                                        QString())
                       : std::make_pair(std::shared_ptr<const BridgeTowerPipeline>(),
                                        loaded.error().message);
        })
            .then(this,
                  [this, directory](
                      const std::pair<std::shared_ptr<const BridgeTowerPipeline>, QString> &r) {
                      if (!r.first) {
                          m_window.setModelStatus(QObject::tr("No model loaded"));
                          askForModel(r.second);
                          return;
                      }
                      usePipeline(directory, r.first);
                  });
    }

    void askForModel(const QString &error) {
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
                m_window.setModelStatus(QObject::tr(
                    "No model: search is off. Use File ▸ Set Up Model… to choose one."));
        });
        dialog->open();
    }

    void usePipeline(const QString &directory,
                     std::shared_ptr<const BridgeTowerPipeline> pipeline) {
        const Status st = m_library->setPipeline(std::move(pipeline));
        if (!st.ok()) {
            askForModel(st.error().message);
            return;
        }
        m_hasPipeline = true;
        startupMilestone("model loaded");
        m_window.setModelStatus(QObject::tr("Model: %1, %2")
                                    .arg(QFileInfo(directory).fileName(),
                                         resolvePrecision(m_settings.precision).reason));
        m_window.setSearchEngine(m_library->searchEngine());
        if (!m_library->isLoadingModel() && m_library->searchEngine())
            startupMilestone("search ready (vector index loaded)");
        m_library->startIndexing();
    }

private:
    std::unique_ptr<Library> m_library;
    AppSettings m_settings;
    MainWindow m_window;
    bool m_hasPipeline = false;
};

// The scripted tour for the README's screenshots.
int runScreenshotDemo(App &app, const QString &photos, const QString &modelDir,
                      const QString &outDir) {
    MainWindow &w = app.window();
    QDir().mkpath(outDir);
    auto save = [&w, outDir](const char *name) {
        QApplication::processEvents();
        const QString path = QDir(outDir).filePath(QLatin1String(name));
        const bool ok = w.grab().save(path);
        qInfo("%s %s", ok ? "saved" : "could not save", qPrintable(path));
    };
    w.resize(1280, 800);
    w.show();
    QTimer::singleShot(180000, qApp, [] {
        qWarning("screenshot demo: timed out");
        QApplication::exit(1);
    });
    auto loaded = BridgeTowerPipeline::load(modelDir);
    if (!loaded.ok()) {
        qWarning("%s", qPrintable(loaded.error().message));
        return 1;
    }
    app.usePipeline(modelDir, loaded.value());
    // The indexing shot: the first progress report with some photos done and some to go, else the
    // first report at all (a tiny library may be done in one batch).
    QImage indexingShot;
    bool indexingShotFinal = false;
    QTimer::singleShot(500, &w, [&] {
        save("01-empty-library.png");
        QObject::connect(&app.library(), &Library::progressChanged, &w,
                         [&](const IndexProgress &p) {
                             if (indexingShotFinal || p.total == 0)
                                 return;
                             QApplication::processEvents();
                             if (indexingShot.isNull() || (p.done > 0 && p.done < p.total))
                                 indexingShot = w.grab().toImage();
                             indexingShotFinal = p.done > 0 && p.done < p.total;
                         });
        QObject::connect(&app.library(), &Library::indexingFinished, &w, [&] {
            if (!indexingShot.isNull()) {
                const QString path = QDir(outDir).filePath(QStringLiteral("02-indexing.png"));
                qInfo("%s %s", indexingShot.save(path) ? "saved" : "could not save",
                      qPrintable(path));
                indexingShot = QImage();
            }
            QTimer::singleShot(300, &w, [&] {
                QObject::connect(w.searchController(), &SearchController::searchFinished, &w, [&] {
                    static bool once = false;
                    if (once)
                        return;
                    once = true;
                    w.resultView()->setCurrentIndex(w.resultModel()->index(0));
                    QTimer::singleShot(1500, &w, [&] {
                        save("03-results.png");
                        FillMaskPanel *panel = w.fillMaskPanel();
                        QObject::connect(panel, &FillMaskPanel::filled, &w, [&] {
                            QTimer::singleShot(300, &w, [&] {
                                save("04-fill-mask.png");
                                // No query: the library by month.
                                w.searchField()->clear();
                                QTimer::singleShot(1500, &w, [&] {
                                    w.libraryView()->setCurrentIndex(w.libraryModel()->index(1));
                                    QTimer::singleShot(800, &w, [&] {
                                        save("05-library-by-month.png");
                                        // Filters as chips beside the words, and Describe.
                                        QObject::connect(
                                            w.describePanel(), &DescribePanel::described, &w, [&] {
                                                QTimer::singleShot(300, &w, [&] {
                                                    save("06-filters-and-describe.png");
                                                    QApplication::exit(0);
                                                });
                                            });
                                        w.searchField()->setText(
                                            QStringLiteral("a cat after:2026-07 type:png -dog "));
                                        QTimer::singleShot(2500, &w, [&] {
                                            w.resultView()->setCurrentIndex(
                                                w.resultModel()->index(0));
                                            w.describePanel()->describe();
                                        });
                                    });
                                });
                            });
                        });
                        panel->setCaption(QStringLiteral("a <mask> sitting on a <mask>"));
                        panel->fill();
                    });
                });
                w.runTextQuery(QStringLiteral("a cat sitting on a couch"));
            });
        });
        app.addFolder(photos);
    });
    return QApplication::exec();
}

// This process's resident and peak memory, from /proc/self/status ("VmRSS: 123 kB").
qint64 statusKiB(const QByteArray &key) {
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n'))
        if (line.startsWith(key + ':'))
            return line.mid(key.size() + 1).trimmed().split(' ').value(0).toLongLong();
    return -1;
}

// For the memory benchmark (tests/app/bench_memory): the normal start (window, model loaded in the
// background, library rescanned), then one caption search with its rerank; 3 s after it finished,
// prints the idle memory and quits.
int runMemoryReport(App &app, const QString &caption) {
    MainWindow &w = app.window();
    w.show();
    QTimer::singleShot(600000, qApp, [] {
        qWarning("memory report: timed out");
        QApplication::exit(1);
    });
    auto *poll = new QTimer(&w);
    QObject::connect(poll, &QTimer::timeout, &w, [&app, &w, poll, caption] {
        if (!app.hasPipeline())
            return;
        poll->stop();
        QObject::connect(w.searchController(), &SearchController::searchFinished, &w,
                         [](int results) {
                             QTimer::singleShot(3000, qApp, [results] {
                                 std::printf("memory report: %d results; idle after search: VmRSS "
                                             "%lld KiB, VmHWM %lld KiB\n",
                                             results, statusKiB("VmRSS"), statusKiB("VmHWM"));
                                 std::fflush(stdout);
                                 QApplication::exit(0);
                             });
                         });
        QObject::connect(w.searchController(), &SearchController::searchFailed, &w,
                         [](const QString &message) {
                             qWarning("memory report: search failed: %s", qPrintable(message));
                             QApplication::exit(1);
                         });
        w.runTextQuery(caption);
    });
    poll->start(200);
    return QApplication::exec();
}

} // namespace

int main(int argc, char **argv) {
    QApplication qapp(argc, argv);
    QApplication::setApplicationName(QStringLiteral("TowerSearch"));
    QApplication::setOrganizationName(QStringLiteral("TowerSearch"));
    QApplication::setApplicationVersion(QStringLiteral(TOWERSEARCH_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.towersearch.TowerSearch"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/towersearch.svg")));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QApplication::translate("main", "Find photos by what is in them."));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(
        QStringLiteral("paths"),
        QApplication::translate("main", "A photo to search with, or folders to add."),
        QStringLiteral("[FILE|DIR...]"));
    const QCommandLineOption modelOption(
        QStringLiteral("model"),
        QApplication::translate("main", "Checkpoint folder to use (saved in the settings)."),
        QStringLiteral("DIR"));
    const QCommandLineOption databaseOption(
        QStringLiteral("database"),
        QApplication::translate(
            "main", "Library database file (default: ~/.local/share/towersearch/library.sqlite, "
                    "shared with towersearch-cli)."),
        QStringLiteral("FILE"));
    const QCommandLineOption demoOption(
        QStringLiteral("screenshot-demo"),
        QApplication::translate("main",
                                "Scripted tour over the photos in DIR, saving screenshots."),
        QStringLiteral("DIR"));
    const QCommandLineOption outOption(
        QStringLiteral("screenshot-out"),
        QApplication::translate("main", "Where --screenshot-demo saves its PNGs."),
        QStringLiteral("DIR"), QStringLiteral("."));
    const QCommandLineOption precisionOption(
        QStringLiteral("precision"),
        QApplication::translate(
            "main", "Model precision: auto, f32, bf16 or int8 (saved in the settings)."),
        QStringLiteral("auto|f32|bf16|int8"));
    QCommandLineOption memoryOption(
        QStringLiteral("memory-report"),
        QStringLiteral("Search for TEXT, then print the idle memory and quit (benchmark)."),
        QStringLiteral("TEXT"));
    memoryOption.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions(
        {modelOption, databaseOption, precisionOption, demoOption, outOption, memoryOption});
    parser.process(qapp);

    QSettings store;
    AppSettings settings = AppSettings::load(store);
    const bool demo = parser.isSet(demoOption);
    if (parser.isSet(modelOption)) {
        settings.modelDirectory = QFileInfo(parser.value(modelOption)).absoluteFilePath();
        if (!demo)
            settings.save(store);
    }
    if (parser.isSet(precisionOption)) {
        const auto precision = parsePrecisionSetting(parser.value(precisionOption));
        if (!precision) {
            std::fprintf(stderr,
                         "towersearch: --precision takes auto, f32, bf16 or int8, not \"%s\"\n",
                         qPrintable(parser.value(precisionOption)));
            return 2;
        }
        settings.precision = *precision;
        if (!demo)
            settings.save(store);
    }
    BridgeTowerPipeline::setThreadCount(settings.threads > 0 ? settings.threads
                                                             : QThread::idealThreadCount());

    QTemporaryDir demoDir;
    LibraryOptions options;
    options.databasePath =
        demo ? demoDir.filePath(QStringLiteral("library.sqlite")) : parser.value(databaseOption);
    if (demo)
        options.batchSize = 1; // more progress reports to take the indexing screenshot from
    options.excludedFolders = settings.excludedFolders;
    options.rerankCacheMemoryBytes = qint64(settings.rerankCacheMemoryMiB) << 20;
    options.rerankCacheDiskBytes = qint64(settings.rerankCacheDiskMiB) << 20;
    auto library = Library::open(options);
    if (!library.ok()) {
        QMessageBox::critical(
            nullptr, QApplication::translate("main", "TowerSearch"),
            QApplication::translate("main", "The photo library cannot be opened:\n%1")
                .arg(library.error().message));
        return 1;
    }

    App app(std::move(library.value()), settings);
    if (demo)
        return runScreenshotDemo(app, QFileInfo(parser.value(demoOption)).absoluteFilePath(),
                                 settings.modelDirectory, parser.value(outOption));

    if (parser.isSet(memoryOption)) {
        QTimer::singleShot(0, &app, [&app, dir = settings.modelDirectory] { app.loadModel(dir); });
        return runMemoryReport(app, parser.value(memoryOption));
    }
    app.window().show();
    for (const QString &arg : parser.positionalArguments()) {
        const QFileInfo info(arg);
        if (info.isDir())
            app.addFolder(info.absoluteFilePath());
        else if (info.isFile())
            app.window().runPhotoQuery(info.absoluteFilePath()); // runs once the model is loaded
        else
            qWarning("%s: no such file or folder", qPrintable(arg));
    }
    // After the window is on screen: the model loads in the background (or the setup dialog opens).
    QTimer::singleShot(0, &app, [&app, dir = settings.modelDirectory] {
        startupMilestone("window usable (shown, event loop running)");
        app.loadModel(dir);
    });
    return QApplication::exec();
}
