#pragma once

#include "indexer/library.h"
#include "ui/appsettings.h"
#include "ui/mainwindow.h"

#include <QObject>
#include <QString>

#include <memory>

namespace ts {

class BridgeTowerPipeline;

// Where the app's library is: --database (`commandLine`), else $TOWERSEARCH_DB, else the
// setting, else empty (the default library).
QString libraryLocation(const QString &commandLine, const AppSettings &settings);
// The Library's options from the settings, for `location`.
LibraryOptions libraryOptions(const AppSettings &settings, const QString &location);
// Adds this machine's mount paths of the library's roots (roots.json, `towersearch-cli roots
// map`) to `options`; an error names a malformed file.
Status loadRootMounts(LibraryOptions &options);

// The desktop app's composition root: owns the Library and the main window and keeps them in
// step. The window's requests (add a folder, rescan, settings, duplicates, ...) go to the library;
// the library's news (progress, folders, the search engine once the model and its vector index are
// in place) go to the window. Loads the model off the GUI thread, or opens the first-run dialog.
// GUI thread only; no singletons.
class App : public QObject {
public:
    App(std::unique_ptr<Library> library, const AppSettings &settings);
    ~App() override; // saves the window geometry, cancels indexing

    MainWindow &window() { return m_window; }
    Library &library() { return *m_library; }
    const AppSettings &settings() const { return m_settings; }

    // --database: chooses the library instead of $TOWERSEARCH_DB and the setting.
    void setDatabaseOverride(const QString &location) { m_databaseOverride = location; }
    // When the user chose another library database in the settings, App opens it (keeping the
    // current one and saying why when it cannot) and quits the event loop with
    // kReopenLibraryExitCode; main() then takes the new library and builds a fresh App on it, so
    // nothing of the old library (providers, thumbnails by id, running searches) outlives it.
    std::unique_ptr<Library> takeReopenedLibrary() { return std::move(m_reopened); }
    static constexpr int kReopenLibraryExitCode = 0x7e5;
    // Whether a model is in use (indexing waits for it).
    bool hasPipeline() const { return m_hasPipeline; }

    // Adds a watched folder and indexes it (a warning box says why when it cannot be added).
    void addFolder(const QString &path);
    // Indexes now, or once the model is loaded.
    void startIndexing();
    // Folders, failed count and cameras from the library to the window.
    void refreshFolders();
    // Loads in the background; on failure offers the setup dialog with the reason.
    void loadModel(const QString &directory);
    // The first-run / setup dialog, showing `error` (empty: none) as the reason it opened.
    void askForModel(const QString &error);
    // Gives a loaded model to the library and the window, then starts indexing.
    void usePipeline(const QString &directory, std::shared_ptr<const BridgeTowerPipeline> pipeline);
    // Loads the model on this thread at the default precision and uses it (the screenshot demo:
    // no dialog); fails with the loader's message.
    Status useModelNow(const QString &directory);

    // The model's intra-op threads; 0 or less: one per core. Any time: the model's worker threads
    // follow from their next forward pass. (Here so that only app.cpp includes the pipeline.)
    static void setModelThreads(int threads);

private:
    void giveWindowTheLibrary();
    void wireWindowRequests();
    void wireLibraryNews();
    void restoreWindowState();
    void removeFolder(const QString &path);
    void openDuplicatesDialog();
    void applySettings(const AppSettings &settings);
    void onModelReady(const QString &error);

    void reopenLibrary(const AppSettings &before);

    std::unique_ptr<Library> m_library;
    std::unique_ptr<Library> m_reopened;
    QString m_databaseOverride;
    AppSettings m_settings;
    MainWindow m_window;
    bool m_hasPipeline = false;
};

} // namespace ts
