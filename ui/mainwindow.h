#pragma once

#include "core/search/searchengine.h"
#include "indexer/library.h"
#include "ui/appsettings.h"
#include "ui/detailpane.h"

#include <QMainWindow>
#include <QPointer>
#include <QTemporaryDir>

#include <functional>
#include <memory>

class QLabel;
class QListView;
class QMimeData;
class QProgressBar;
class QSlider;
class QStackedWidget;
class QToolButton;

namespace ts {

class FillMaskPanel;
class FolderListModel;
class IndexingStatusWidget;
class PreviewDialog;
class ResultDelegate;
class ResultModel;
class SearchController;
class SearchField;
class Sidebar;
class ThumbnailLoader;

// The main window: folders sidebar, search field (words and/or a photo chip), relevance slider,
// results grid, detail pane with masked captioning, and the indexing status bar.
//
// It never blocks: searches, fill-mask, previews and thumbnails run off the GUI thread. It does not
// own the library: it shows what it is given (setFolders, setIndexProgress, ...) and asks for
// changes by signals, which the composition root (app/gui/main.cpp) connects to the Library.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(const AppSettings &settings, QWidget *parent = nullptr);
    ~MainWindow() override;

    // Null until the model is loaded (queries typed before then run once it is set).
    void setSearchEngine(std::shared_ptr<const SearchEngine> engine);
    void setModelStatus(const QString &text);
    void setFailedPhotosProvider(std::function<QList<PhotoRecord>()> provider) { m_failures = std::move(provider); }
    void setDateTakenProvider(DetailPane::DateTakenProvider provider);
    void applySettings(const AppSettings &settings);
    const AppSettings &settings() const { return m_settings; }
    // The library database the settings dialog shows.
    void setLibraryPath(const QString &path) { m_libraryPath = path; }

    // A photo query (the photo becomes the chip in the search field); a text query.
    void runPhotoQuery(const QString &path);
    void runTextQuery(const QString &text);
    // What a drop does: folders are added, the first image (file or image data) becomes the query.
    // Returns false when the data holds nothing usable.
    bool handleDroppedData(const QMimeData *mime);
    static bool canHandle(const QMimeData *mime);

    // For tests and the screenshot mode.
    SearchField *searchField() const { return m_searchField; }
    SearchController *searchController() const { return m_controller; }
    ResultModel *resultModel() const { return m_results; }
    QListView *resultView() const { return m_view; }
    FolderListModel *folderModel() const { return m_folders; }
    Sidebar *sidebar() const { return m_sidebar; }
    DetailPane *detailPane() const { return m_detail; }
    FillMaskPanel *fillMaskPanel() const { return m_fillMask; }
    IndexingStatusWidget *indexingStatus() const { return m_indexing; }
    QSlider *relevanceSlider() const { return m_relevance; }
    ThumbnailLoader *thumbnailLoader() const { return m_loader; }

public Q_SLOTS:
    void setFolders(const QList<ts::WatchedFolder> &folders);
    void setIndexProgress(const ts::IndexProgress &progress);
    void setIndexingFinished();
    void setFailedCount(qint64 failed);
    void showFailures();
    void showSettings();
    void openCurrent();
    void previewCurrent();

Q_SIGNALS:
    void addFolderRequested(const QString &path);
    void removeFolderRequested(const QString &path);
    void rescanRequested();
    void pauseIndexingRequested();
    void resumeIndexingRequested();
    void settingsChanged(const ts::AppSettings &settings);
    void modelSetupRequested();
    void duplicatesRequested(); // Search > Find Duplicates… (the composition root opens the dialog)

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    void buildMenus();
    void onResults(const std::vector<PhotoHit> &hits);
    void onCurrentChanged(const QModelIndex &current);
    void updatePlaceholder();
    void updateRelevanceLabel();

    AppSettings m_settings;
    QString m_libraryPath;
    ThumbnailLoader *m_loader;
    ResultModel *m_results;
    SearchController *m_controller;
    FolderListModel *m_folders;
    SearchField *m_searchField;
    QProgressBar *m_rerankBar;
    QLabel *m_rerankLabel;
    QSlider *m_relevance;
    QLabel *m_relevanceLabel;
    QStackedWidget *m_stack;
    QLabel *m_placeholder;
    QListView *m_view;
    ResultDelegate *m_delegate;
    Sidebar *m_sidebar;
    DetailPane *m_detail;
    FillMaskPanel *m_fillMask;
    IndexingStatusWidget *m_indexing;
    QLabel *m_modelStatus;
    std::function<QList<PhotoRecord>()> m_failures;
    QPointer<PreviewDialog> m_preview;
    QTemporaryDir m_dropDir; // image data dropped from browsers, saved so the engine can read it
    int m_droppedCount = 0;
    qint64 m_selectedId = -1;
    bool m_hasEngine = false;
    bool m_searchDone = false;
};

} // namespace ts
