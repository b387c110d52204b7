#pragma once

#include "core/search/searchengine.h"
#include "indexer/libraryrecords.h"
#include "ui/appsettings.h"
#include "ui/detailpane.h"
#include "ui/latestonly.h"
#include "ui/photodrop.h"
#include "ui/photolisting.h"
#include "ui/savedsearchmodel.h"

#include <QMainWindow>
#include <QPointer>

#include <functional>
#include <memory>

class QComboBox;
class QLabel;
class QListView;
class QMimeData;
class QSlider;
class QStackedWidget;

namespace ts {

class DescribePanel;
class FillMaskPanel;
class FolderListModel;
class IndexingStatusWidget;
class LibraryModel;
class PreviewDialog;
class ResultDelegate;
class ResultModel;
class SearchBar;
class SearchController;
class SearchField;
class Sidebar;
class ThumbnailLoader;

// The main window: folders sidebar, search field (words and/or a photo chip), relevance slider,
// results grid, detail pane with Describe (the model's words for the photo; a word searches) and
// masked captioning, and the indexing status bar.
//
// It never blocks: searches, fill-mask, previews and thumbnails run off the GUI thread. It does not
// own the library: it shows what it is given (setFolders, setIndexProgress, ...) and asks for
// changes by signals, which the composition root (App, app/gui/app.h) connects to the Library.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const AppSettings &settings, QWidget *parent = nullptr);
    ~MainWindow() override;

    // Null until the model is loaded (queries typed before then run once it is set).
    void setSearchEngine(std::shared_ptr<const SearchEngine> engine);
    void setModelStatus(const QString &text);
    void setFailedPhotosProvider(std::function<QList<PhotoRecord>()> provider) {
        m_failures = std::move(provider);
    }
    // Also the date the results are sorted by when "Date taken" is chosen.
    void setDateTakenProvider(DetailPane::DateTakenProvider provider);
    // What the library view lists when there is no query (Library::listPhotos & co. in the app).
    void setPhotoListing(std::shared_ptr<const PhotoListing> listing);
    // Narrows the library view and the searches (the search field's filters).
    void setFilter(const PhotoFilter &filter);
    const PhotoFilter &filter() const { return m_filter; }
    // Relevance / DateTaken / Name; the library view has no relevance and lists by date then.
    void setSortOrder(SortOrder order);
    void applySettings(const AppSettings &settings);
    const AppSettings &settings() const { return m_settings; }
    // The library database the settings dialog shows.
    void setLibraryPath(const QString &path) { m_libraryPath = path; }
    // What the settings dialog's "Test Connection" runs (on a worker thread).
    void setLocationCheck(std::function<Result<QString>(const QString &)> check) {
        m_locationCheck = std::move(check);
    }

    // A photo query (the photo becomes the chip in the search field); a text query.
    void runPhotoQuery(const QString &path);
    void runTextQuery(const QString &text);
    // Saved searches (sidebar): the stored list at start-up; the current search kept; one run
    // again.
    void setSavedSearches(const QList<SavedSearch> &searches);
    void saveCurrentSearch();
    void runSavedSearch(int row);
    // What a drop does: folders are added, the first image (file or image data) becomes the query.
    // Returns false when the data holds nothing usable.
    bool handleDroppedData(const QMimeData *mime);
    static bool canHandle(const QMimeData *mime);

    // For tests and the screenshot mode.
    SearchField *searchField() const { return m_searchField; }
    SearchController *searchController() const { return m_controller; }
    ResultModel *resultModel() const { return m_results; }
    QListView *resultView() const { return m_view; }
    LibraryModel *libraryModel() const { return m_library; }
    QListView *libraryView() const { return m_libraryView; }
    QComboBox *sortBox() const { return m_sort; }
    // The grid on screen (search results, or the library without a query), or null.
    QListView *currentGrid() const;
    // The paths of the photos selected in the grid on screen, in display order; async because
    // the library view may have to load the pages they lie on first.
    void withSelectedPaths(std::function<void(const QStringList &paths)> use);
    FolderListModel *folderModel() const { return m_folders; }
    Sidebar *sidebar() const { return m_sidebar; }
    DetailPane *detailPane() const { return m_detail; }
    FillMaskPanel *fillMaskPanel() const { return m_fillMask; }
    DescribePanel *describePanel() const { return m_describe; }
    SavedSearchModel *savedSearchModel() const { return m_saved; }
    IndexingStatusWidget *indexingStatus() const { return m_indexing; }
    QSlider *relevanceSlider() const { return m_relevance; }
    ThumbnailLoader *thumbnailLoader() const { return m_loader; }

public Q_SLOTS:
    void setFolders(const QList<ts::WatchedFolder> &folders);
    // The library's cameras ("<make> <model>", most used first), for camera: completion.
    void setCameras(const QStringList &cameras);
    void setIndexProgress(const ts::IndexProgress &progress);
    void setIndexingFinished();
    void setFailedCount(qint64 failed);
    void showFailures();
    void showSettings();
    void openCurrent();
    void previewCurrent();
    void selectAll();
    void copySelectedPaths();
    // Asks for a folder, then copies the selection there off the GUI thread (copyTo for tests).
    void copySelectedToFolder();
    void copySelectedTo(const QString &folder);
    void openSelected();

Q_SIGNALS:
    // A copy to a folder finished (also when some photos could not be copied).
    void copyFinished(const QStringList &copied, const QStringList &errors);
    void addFolderRequested(const QString &path);
    void removeFolderRequested(const QString &path);
    void rescanRequested();
    void pauseIndexingRequested();
    void resumeIndexingRequested();
    void settingsChanged(const ts::AppSettings &settings);
    void modelSetupRequested();
    // The saved searches changed (added, renamed, removed): the composition root stores them.
    void savedSearchesChanged(const QList<ts::SavedSearch> &searches);
    void duplicatesRequested(); // Search > Find Duplicates… (the composition root opens the dialog)

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    // The constructor's steps, in this order: widgets, then the connections between them.
    QWidget *buildTopBar();
    void buildGrids();
    void buildLayout(QWidget *top);
    void wireSearch();
    void wireGrids();
    void wirePanels();
    void buildShortcuts();
    void buildMenus();
    void onQueryChanged(const QString &photo);
    void onResults(const std::vector<PhotoHit> &hits);
    void onCurrentChanged(const QModelIndex &current);
    void onLibraryCurrentChanged(const QModelIndex &current);
    QListView *makeGrid(const QString &accessibleName);
    void showContextMenu(QListView *grid, const QPoint &pos);
    bool hasQuery() const;
    void updatePlaceholder();
    void updateSavedSearchCounter();

    AppSettings m_settings;
    QString m_libraryPath;
    std::function<Result<QString>(const QString &)> m_locationCheck;
    ThumbnailLoader *m_loader;
    ResultModel *m_results;
    SearchController *m_controller;
    FolderListModel *m_folders;
    SearchField *m_searchField;
    LatestOnly m_folderWalk{this}; // the subfolders of the newest folder list only
    SearchBar *m_searchBar;
    QSlider *m_relevance;
    QStackedWidget *m_stack;
    QLabel *m_placeholder;
    QListView *m_view;
    ResultDelegate *m_delegate;
    LibraryModel *m_library;
    QListView *m_libraryView;
    QComboBox *m_sort;
    PhotoFilter m_filter;
    QAction *m_copyPathsAction = nullptr;
    QAction *m_copyToAction = nullptr;
    QAction *m_openAction = nullptr;
    Sidebar *m_sidebar;
    DetailPane *m_detail;
    FillMaskPanel *m_fillMask;
    DescribePanel *m_describe;
    SavedSearchModel *m_saved;
    IndexingStatusWidget *m_indexing;
    QLabel *m_modelStatus;
    std::function<QList<PhotoRecord>()> m_failures;
    QPointer<PreviewDialog> m_preview;
    PhotoDrop m_drop; // keeps image data dropped from browsers in files the engine can read
    qint64 m_selectedId = -1;
    bool m_hasEngine = false;
    bool m_searchDone = false;
};

} // namespace ts
