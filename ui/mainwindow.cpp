#include "ui/mainwindow.h"

#include "core/search/queryparser.h"
#include "ui/describepanel.h"
#include "ui/failuresdialog.h"
#include "ui/fillmaskpanel.h"
#include "ui/folderlistmodel.h"
#include "ui/indexingstatuswidget.h"
#include "ui/librarymodel.h"
#include "ui/photoactions.h"
#include "ui/photodrop.h"
#include "ui/previewdialog.h"
#include "ui/resultdelegate.h"
#include "ui/resultmodel.h"
#include "ui/searchbar.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"
#include "ui/settingsdialog.h"
#include "ui/sidebar.h"
#include "ui/thumbnailloader.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QShortcut>
#include <QSlider>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

namespace ts {

namespace {
constexpr int kTileSize = 160;
} // namespace

MainWindow::MainWindow(const AppSettings &settings, QWidget *parent)
    : QMainWindow(parent), m_settings(settings), m_loader(new ThumbnailLoader(this)),
      m_results(new ResultModel(m_loader, this)), m_controller(new SearchController(this)),
      m_folders(new FolderListModel(this)), m_saved(new SavedSearchModel(this)) {
    setWindowTitle(tr("TowerSearch"));
    setAcceptDrops(true);
    resize(1280, 800);
    QWidget *top = buildTopBar();
    buildGrids();
    buildLayout(top);
    wireSearch();
    wireGrids();
    wirePanels();
    buildShortcuts();
    buildMenus();
    setModelStatus(tr("Loading the model…"));
    updatePlaceholder();
    m_searchField->setFocus();
}

MainWindow::~MainWindow() = default;

// The top bar (search field, search status, relevance slider, sort box, settings).
QWidget *MainWindow::buildTopBar() {
    m_searchBar = new SearchBar(m_settings.relevanceDefault, this);
    m_searchField = m_searchBar->searchField();
    m_relevance = m_searchBar->relevanceSlider();
    m_sort = m_searchBar->sortBox();
    connect(m_sort, &QComboBox::activated, this,
            [this](int i) { setSortOrder(SortOrder(m_sort->itemData(i).toInt())); });
    connect(m_searchBar, &SearchBar::settingsRequested, this, &MainWindow::showSettings);
    return m_searchBar;
}

// Results grid, and the library grid shown without a query (the same tiles), on a stack with the
// placeholder text.
void MainWindow::buildGrids() {
    m_delegate = new ResultDelegate(this);
    m_delegate->setTileSize(kTileSize);
    m_view = makeGrid(tr("Search results"));
    m_view->setModel(m_results);
    m_library = new LibraryModel(m_loader, this);
    m_libraryView = makeGrid(tr("Library"));
    // Month headers are wider than a tile: the view asks each row's size (a cheap role, no page).
    m_libraryView->setUniformItemSizes(false);
    m_libraryView->setModel(m_library);
    m_loader->setThumbnailSize(int(kTileSize * devicePixelRatioF()));
    m_loader->setCacheBudget(qint64(m_settings.thumbnailCacheMiB) << 20);

    m_placeholder = new QLabel(this);
    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setAccessibleName(tr("Results status"));
    m_placeholder->setForegroundRole(QPalette::PlaceholderText);
    m_stack = new QStackedWidget(this);
    m_stack->addWidget(m_placeholder);
    m_stack->addWidget(m_view);
    m_stack->addWidget(m_libraryView);
}

// Sidebar | grids | detail, describe and fill-mask; the top bar above; the status bar below.
void MainWindow::buildLayout(QWidget *top) {
    m_sidebar = new Sidebar(m_folders, this);
    m_sidebar->setSavedSearchModel(m_saved);
    m_detail = new DetailPane(this);
    m_describe = new DescribePanel(this);
    m_fillMask = new FillMaskPanel(this);
    auto *right = new QSplitter(Qt::Vertical, this);
    right->addWidget(m_detail);
    right->addWidget(m_describe);
    right->addWidget(m_fillMask);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);
    right->setStretchFactor(2, 1);
    right->setSizes({440, 120, 200});
    right->setChildrenCollapsible(false);
    auto *split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(m_sidebar);
    split->addWidget(m_stack);
    split->addWidget(right);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 0);
    split->setSizes({220, 680, 380});
    split->setChildrenCollapsible(false);

    auto *central = new QWidget(this);
    auto *centralLayout = new QVBoxLayout(central);
    centralLayout->setContentsMargins(0, 0, 0, 0);
    centralLayout->setSpacing(0);
    centralLayout->addWidget(top);
    centralLayout->addWidget(split, 1);
    setCentralWidget(central);

    m_modelStatus = new QLabel(this);
    m_indexing = new IndexingStatusWidget(this);
    statusBar()->addWidget(m_modelStatus, 1);
    statusBar()->addPermanentWidget(m_indexing);
}

// The search field's queries to the controller; the controller's news to the top bar, the results
// and the status bar; the relevance slider to the controller.
void MainWindow::wireSearch() {
    SearchOptions options;
    options.candidates = m_settings.candidates;
    options.rerankDepth = m_settings.rerankDepth;
    m_controller->setOptions(options);
    m_controller->setMinMatchProbability(float(m_settings.relevanceDefault));
    connect(m_searchField, &SearchField::queryChanged, m_controller,
            [this](const QString &, const QString &photo) { onQueryChanged(photo); });
    connect(m_controller, &SearchController::resultsChanged, this, &MainWindow::onResults);
    connect(m_controller, &SearchController::rerankProgress, this, [this](int done, int total) {
        m_searchBar->setRerankProgress(done, total, m_controller->isBusy());
    });
    connect(m_controller, &SearchController::busyChanged, m_searchBar, &SearchBar::setBusy);
    connect(m_controller, &SearchController::searchFinished, this, [this] {
        m_searchDone = true;
        updatePlaceholder();
    });
    connect(m_controller, &SearchController::searchFailed, this, [this](const QString &message) {
        m_searchDone = true;
        statusBar()->showMessage(tr("Search failed: %1").arg(message), 10000);
        updatePlaceholder();
    });
    connect(m_controller, &SearchController::photosSkipped, this,
            [this](const QStringList &reasons) {
                statusBar()->showMessage(tr("Skipped %1").arg(reasons.join(QStringLiteral("; "))),
                                         8000);
            });
    connect(m_relevance, &QSlider::valueChanged, this,
            [this](int v) { m_controller->setMinMatchProbability(float(v) / 100.0f); });
}

// The field emits only queries it could read: the filter narrows the library view and the search,
// exclusions go to the engine, a sort named in the query sets the sort box (otherwise the box
// keeps its choice), and the caption words are searched.
void MainWindow::onQueryChanged(const QString &photo) {
    const ParsedQuery &query = m_searchField->parsedQuery();
    if (query.filter != m_filter) {
        m_filter = query.filter;
        m_library->setFilter(m_filter);
    }
    SearchOptions next = m_controller->options();
    next.filter = query.filter;
    next.excludedPhrases = query.excludedPhrases;
    m_controller->setOptions(next);
    const bool namesSort =
        std::any_of(query.tokens.begin(), query.tokens.end(),
                    [](const QueryToken &t) { return t.kind == QueryTokenKind::Sort; });
    if (namesSort)
        setSortOrder(query.sort);
    m_searchDone = false;
    m_controller->search(query.caption, photo);
    m_sidebar->setCanSaveSearch(!query.caption.trimmed().isEmpty());
    updatePlaceholder();
}

// The current photo of either grid to the detail pane; a double click opens it.
void MainWindow::wireGrids() {
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });
    connect(m_results, &QAbstractItemModel::modelReset, this, [this] {
        // A new result set: keep the photo selected if it is still there.
        const int row = m_results->rowOfPhoto(m_selectedId);
        if (row >= 0)
            m_view->setCurrentIndex(m_results->index(row));
    });
    connect(m_results, &QAbstractItemModel::modelReset, this, &MainWindow::updatePlaceholder);
    connect(m_libraryView->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex &current) { onLibraryCurrentChanged(current); });
    connect(m_library, &LibraryModel::loaded, this, &MainWindow::updatePlaceholder);
    connect(m_library, &LibraryModel::dataChanged, this,
            [this](const QModelIndex &first, const QModelIndex &last) {
                // The current photo's page arrived: show it in the detail pane.
                const QModelIndex current = m_libraryView->currentIndex();
                if (current.isValid() && current.row() >= first.row() &&
                    current.row() <= last.row())
                    onLibraryCurrentChanged(current);
            });
    connect(m_library, &LibraryModel::errorOccurred, this,
            [this](const QString &message) { statusBar()->showMessage(message, 10000); });
    connect(m_libraryView, &QListView::doubleClicked, this, &MainWindow::openCurrent);
    connect(m_view, &QListView::doubleClicked, this, &MainWindow::openCurrent);
}

// The side panels' requests: to the window's own slots, or on to the composition root.
void MainWindow::wirePanels() {
    connect(m_detail, &DetailPane::findSimilarRequested, this, &MainWindow::runPhotoQuery);
    connect(m_describe, &DescribePanel::tagClicked, this, &MainWindow::runTextQuery);
    connect(m_sidebar, &Sidebar::addFolderRequested, this, &MainWindow::addFolderRequested);
    connect(m_sidebar, &Sidebar::removeFolderRequested, this, &MainWindow::removeFolderRequested);
    connect(m_sidebar, &Sidebar::rescanRequested, this, &MainWindow::rescanRequested);
    connect(m_sidebar, &Sidebar::saveSearchRequested, this, &MainWindow::saveCurrentSearch);
    connect(m_sidebar, &Sidebar::savedSearchActivated, this, &MainWindow::runSavedSearch);
    connect(m_saved, &SavedSearchModel::searchesEdited, this, &MainWindow::savedSearchesChanged);
    connect(m_indexing, &IndexingStatusWidget::pauseRequested, this,
            &MainWindow::pauseIndexingRequested);
    connect(m_indexing, &IndexingStatusWidget::resumeRequested, this,
            &MainWindow::resumeIndexingRequested);
    connect(m_indexing, &IndexingStatusWidget::failuresRequested, this, &MainWindow::showFailures);
}

// Keyboard: arrows (the view), Enter opens, Space previews, Ctrl+F focuses search, Esc clears; the
// grids' context menu.
void MainWindow::buildShortcuts() {
    auto *openEnter =
        new QShortcut(QKeySequence(Qt::Key_Enter), m_view, nullptr, nullptr, Qt::WidgetShortcut);
    connect(openEnter, &QShortcut::activated, this, &MainWindow::openCurrent);
    for (QListView *grid : {m_view, m_libraryView}) {
        auto *gridOpen =
            new QShortcut(QKeySequence(Qt::Key_Return), grid, nullptr, nullptr, Qt::WidgetShortcut);
        connect(gridOpen, &QShortcut::activated, this, &MainWindow::openCurrent);
        auto *gridPreview =
            new QShortcut(QKeySequence(Qt::Key_Space), grid, nullptr, nullptr, Qt::WidgetShortcut);
        connect(gridPreview, &QShortcut::activated, this, &MainWindow::previewCurrent);
        grid->setContextMenuPolicy(Qt::CustomContextMenu);
        connect(grid, &QWidget::customContextMenuRequested, this,
                [this, grid](const QPoint &pos) { showContextMenu(grid, pos); });
    }
    auto *find = new QShortcut(QKeySequence::Find, this);
    connect(find, &QShortcut::activated, this, [this] {
        m_searchField->lineEdit()->setFocus(Qt::ShortcutFocusReason);
        m_searchField->lineEdit()->selectAll();
    });
    auto *escape = new QShortcut(QKeySequence(Qt::Key_Escape), this);
    connect(escape, &QShortcut::activated, this, [this] {
        m_searchField->clear();
        m_searchField->lineEdit()->setFocus(Qt::ShortcutFocusReason);
    });
}

void MainWindow::buildMenus() {
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Add Folder…"), QKeySequence(Qt::CTRL | Qt::Key_O), m_sidebar,
                    &Sidebar::chooseFolderToAdd);
    file->addAction(tr("&Rescan Folders"), QKeySequence(Qt::Key_F5), this,
                    &MainWindow::rescanRequested);
    file->addSeparator();
    file->addAction(tr("Set Up &Model…"), this, &MainWindow::modelSetupRequested);
    file->addAction(tr("&Settings…"), QKeySequence::Preferences, this, &MainWindow::showSettings);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu *selection = menuBar()->addMenu(tr("&Edit"));
    selection->addAction(tr("Select &All"), QKeySequence::SelectAll, this, &MainWindow::selectAll);
    m_copyPathsAction = selection->addAction(tr("&Copy Paths"), QKeySequence::Copy, this,
                                             &MainWindow::copySelectedPaths);
    m_copyToAction = selection->addAction(tr("Copy &Files to Folder…"),
                                          QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_C), this,
                                          &MainWindow::copySelectedToFolder);
    m_openAction = selection->addAction(tr("&Open with Default Application"),
                                        QKeySequence(Qt::CTRL | Qt::Key_Return), this,
                                        &MainWindow::openSelected);
    QMenu *edit = menuBar()->addMenu(tr("&Search"));
    edit->addAction(tr("&Find"), this, [this] { m_searchField->lineEdit()->setFocus(); });
    edit->addAction(tr("Find &Similar Photos"), this, [this] {
        if (m_detail->hasPhoto())
            runPhotoQuery(m_detail->photo().path);
    });
    edit->addAction(tr("&Describe Photo"), QKeySequence(Qt::CTRL | Qt::Key_D), m_describe,
                    &DescribePanel::describe);
    edit->addAction(tr("&Clear"), this, [this] { m_searchField->clear(); });
    edit->addSeparator();
    edit->addAction(tr("Find &Duplicates…"), this, &MainWindow::duplicatesRequested);
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About TowerSearch"), this, [this] {
        QMessageBox::about(
            this, tr("About TowerSearch"),
            tr("<h3>TowerSearch %1</h3><p>Finds photos by what is in them, with the BridgeTower "
               "vision-language model, entirely on this computer.</p>")
                .arg(QApplication::applicationVersion()));
    });
}

void MainWindow::setSearchEngine(std::shared_ptr<const SearchEngine> engine) {
    m_hasEngine = bool(engine);
    m_fillMask->setEngine(engine);
    m_describe->setEngine(engine);
    m_controller->setEngine(std::move(engine));
    updateSavedSearchCounter();
    updatePlaceholder();
}

void MainWindow::setModelStatus(const QString &text) {
    m_modelStatus->setText(text);
}

void MainWindow::setDateTakenProvider(DetailPane::DateTakenProvider provider) {
    m_controller->setTakenProvider([provider](qint64 id) -> std::optional<qint64> {
        const std::optional<QDateTime> t = provider ? provider(id, QString()) : std::nullopt;
        return t ? std::optional<qint64>(t->toMSecsSinceEpoch()) : std::nullopt;
    });
    m_detail->setDateTakenProvider(std::move(provider));
}

void MainWindow::setPhotoListing(std::shared_ptr<const PhotoListing> listing) {
    m_library->setListing(std::move(listing));
}

void MainWindow::setFilter(const PhotoFilter &filter) {
    if (filter == m_filter)
        return;
    m_filter = filter;
    m_library->setFilter(filter);
    SearchOptions options = m_controller->options();
    options.filter = filter;
    m_controller->setOptions(options);
    if (hasQuery())
        m_controller->rerun();
}

void MainWindow::setSortOrder(SortOrder order) {
    const int i = m_sort->findData(int(order));
    if (i >= 0 && i != m_sort->currentIndex())
        m_sort->setCurrentIndex(i);
    m_controller->setSortOrder(order);
    m_library->setSortOrder(order); // Relevance lists by date
}

QListView *MainWindow::makeGrid(const QString &accessibleName) {
    auto *view = new QListView(this);
    view->setViewMode(QListView::IconMode);
    view->setResizeMode(QListView::Adjust);
    view->setMovement(QListView::Static);
    view->setUniformItemSizes(true);
    view->setLayoutMode(QListView::Batched);
    view->setBatchSize(500);
    // Click, Ctrl+click toggles, Shift+click extends, rubber band; Ctrl+A selects all.
    view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    view->setDragEnabled(true);
    view->setDragDropMode(QAbstractItemView::DragOnly);
    view->setDefaultDropAction(Qt::CopyAction);
    view->setMouseTracking(true);
    view->viewport()->setAttribute(Qt::WA_Hover);
    view->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    view->setAccessibleName(accessibleName);
    view->setItemDelegate(m_delegate);
    return view;
}

bool MainWindow::hasQuery() const {
    return !m_controller->currentText().isEmpty() || !m_controller->currentPhoto().isEmpty();
}

QListView *MainWindow::currentGrid() const {
    QWidget *shown = m_stack->currentWidget();
    return shown == m_view || shown == m_libraryView ? static_cast<QListView *>(shown) : nullptr;
}

void MainWindow::withSelectedPaths(std::function<void(const QStringList &paths)> use) {
    QListView *grid = currentGrid();
    if (!grid) {
        use({});
        return;
    }
    QList<int> rows;
    for (const QModelIndex &idx : grid->selectionModel()->selectedIndexes())
        rows << idx.row();
    if (rows.isEmpty() && grid->currentIndex().isValid())
        rows << grid->currentIndex().row();
    std::sort(rows.begin(), rows.end());
    if (grid == m_view) {
        QStringList paths;
        for (int row : std::as_const(rows))
            if (const PhotoHit *hit = m_results->hitAt(row))
                paths << hit->path;
        use(paths);
        return;
    }
    QPointer<MainWindow> self(this);
    m_library->collectPaths(rows, [self, use](const Result<QStringList> &paths) {
        if (!self)
            return;
        if (!paths.ok()) {
            self->statusBar()->showMessage(paths.error().message, 10000);
            return;
        }
        use(paths.value());
    });
}

void MainWindow::selectAll() {
    if (QListView *grid = currentGrid()) {
        grid->selectAll();
        grid->setFocus(Qt::ShortcutFocusReason);
    }
}

void MainWindow::copySelectedPaths() {
    withSelectedPaths([this](const QStringList &paths) {
        if (paths.isEmpty())
            return;
        QApplication::clipboard()->setText(pathsForClipboard(paths));
        statusBar()->showMessage(
            tr("Copied the paths of %1.").arg(LibraryModel::photosText(paths.size())), 4000);
    });
}

void MainWindow::copySelectedToFolder() {
    const QString folder = QFileDialog::getExistingDirectory(this, tr("Copy Photos to Folder"));
    if (!folder.isEmpty())
        copySelectedTo(folder);
}

void MainWindow::copySelectedTo(const QString &folder) {
    withSelectedPaths([this, folder](const QStringList &paths) {
        if (paths.isEmpty())
            return;
        statusBar()->showMessage(tr("Copying %1…").arg(LibraryModel::photosText(paths.size())));
        QPointer<MainWindow> self(this);
        QtConcurrent::run([paths, folder] {
            return copyPhotosToFolder(paths, folder);
        }).then(this, [self, folder](const CopyOutcome &out) {
            if (!self)
                return;
            self->statusBar()->showMessage(
                tr("Copied %1 to %2.").arg(LibraryModel::photosText(out.copied.size()), folder),
                8000);
            Q_EMIT self->copyFinished(out.copied, out.errors);
            if (!out.errors.isEmpty()) {
                // open(), not exec(): the window goes on while the list is read.
                auto *box = new QMessageBox(
                    QMessageBox::Warning, tr("Copy Photos"),
                    out.errors.size() == 1
                        ? tr("1 photo could not be copied.")
                        : tr("%L1 photos could not be copied.").arg(out.errors.size()),
                    QMessageBox::Ok, self);
                box->setDetailedText(out.errors.join(QLatin1Char('\n')));
                box->setAttribute(Qt::WA_DeleteOnClose);
                box->open();
            }
        });
    });
}

void MainWindow::openSelected() {
    withSelectedPaths([this](const QStringList &paths) {
        // Opening hundreds of viewer windows by accident helps no one: ask first.
        constexpr int kAskAbove = 10;
        if (paths.size() > kAskAbove &&
            QMessageBox::question(this, tr("Open Photos"),
                                  tr("Open %1?").arg(LibraryModel::photosText(paths.size()))) !=
                QMessageBox::Yes)
            return;
        for (const QString &path : paths)
            DetailPane::openInViewer(path);
    });
}

void MainWindow::showContextMenu(QListView *grid, const QPoint &pos) {
    const QModelIndex idx = grid->indexAt(pos);
    if (idx.isValid() && !grid->selectionModel()->isSelected(idx))
        grid->setCurrentIndex(idx);
    QMenu menu(this);
    menu.addAction(m_openAction);
    menu.addAction(m_copyPathsAction);
    menu.addAction(m_copyToAction);
    menu.addSeparator();
    menu.addAction(tr("Select All"), this, &MainWindow::selectAll);
    menu.exec(grid->viewport()->mapToGlobal(pos));
}

void MainWindow::applySettings(const AppSettings &settings) {
    m_settings = settings;
    SearchOptions options = m_controller->options();
    const bool changed =
        options.candidates != settings.candidates || options.rerankDepth != settings.rerankDepth;
    options.candidates = settings.candidates;
    options.rerankDepth = settings.rerankDepth;
    m_controller->setOptions(options);
    m_loader->setCacheBudget(qint64(settings.thumbnailCacheMiB) << 20);
    if (changed) {
        m_controller->rerun();
        updateSavedSearchCounter();
    }
}

void MainWindow::showSettings() {
    SettingsDialog dialog(m_settings, m_libraryPath, this);
    dialog.setLocationCheck(m_locationCheck);
    if (dialog.exec() != QDialog::Accepted)
        return;
    const AppSettings s = dialog.settings();
    if (s == m_settings)
        return;
    applySettings(s);
    Q_EMIT settingsChanged(s);
}

void MainWindow::runPhotoQuery(const QString &path) {
    const QImage thumb = m_loader->thumbnail(path);
    m_searchField->setPhoto(path, thumb);
}

void MainWindow::runTextQuery(const QString &text) {
    m_searchField->setText(text);
}

void MainWindow::setSavedSearches(const QList<SavedSearch> &searches) {
    m_saved->setSearches(searches);
}

void MainWindow::saveCurrentSearch() {
    // The query as the search field read it, filters included (folders as absolute paths), so that
    // running it again parses it the same way.
    const QString query = formatQuery(m_searchField->parsedQuery()).trimmed();
    if (m_controller->currentText().trimmed().isEmpty()) {
        statusBar()->showMessage(
            tr("Type a search first: a search by photo alone cannot be saved."), 5000);
        return;
    }
    const int row = m_saved->add({query, query, m_relevance->value() / 100.0});
    m_sidebar->savedSearchView()->setCurrentIndex(m_saved->index(row));
}

void MainWindow::runSavedSearch(int row) {
    const SavedSearch s = m_saved->at(row);
    if (s.query.isEmpty())
        return;
    m_relevance->setValue(qRound(s.minMatchProbability * 100));
    runTextQuery(s.query);
}

// A saved search counts what its search shows now: its query parsed as the search field parses it
// (caption, filters, exclusions), the results above its cut-off, with the window's candidate and
// rerank settings. A malformed query counts as an error (shown on the entry), never as 0.
void MainWindow::updateSavedSearchCounter() {
    std::shared_ptr<const SearchEngine> engine = m_controller->engine();
    if (!engine) {
        m_saved->setCounter({});
        return;
    }
    m_saved->setCounter(
        [engine, options = m_controller->options()](const SavedSearch &s) -> Result<qint64> {
            const ParsedQuery query = parseQuery(s.query);
            if (const auto error = query.firstError())
                return *error;
            if (query.caption.isEmpty())
                return Error(Error::Code::Unsupported,
                             tr("a saved search without words is not counted yet"));
            SearchOptions o = options;
            o.filter = query.filter;
            o.excludedPhrases = query.excludedPhrases;
            o.sort = query.sort;
            o.minMatchProbability = float(s.minMatchProbability);
            auto hits = engine->searchText(query.caption, o);
            if (!hits)
                return hits.error();
            return qint64(hits->size());
        });
}

void MainWindow::onResults(const std::vector<PhotoHit> &hits) {
    m_results->setHits(hits);
    const QModelIndex current = m_view->currentIndex();
    if (const PhotoHit *hit = current.isValid() ? m_results->hitAt(current.row()) : nullptr)
        m_detail->setPhoto(*hit); // new scores of the same photo
    updatePlaceholder();
}

void MainWindow::onCurrentChanged(const QModelIndex &current) {
    const PhotoHit *hit = current.isValid() ? m_results->hitAt(current.row()) : nullptr;
    if (!hit)
        return; // keep showing the last photo while results change
    m_selectedId = hit->photoId;
    m_detail->setPhoto(*hit);
    m_describe->setPhoto(hit->path);
    m_fillMask->setPhoto(hit->path);
}

void MainWindow::onLibraryCurrentChanged(const QModelIndex &current) {
    const PhotoRecord *photo = current.isValid() ? m_library->photoAt(current.row()) : nullptr;
    if (!photo)
        return; // a header, or its page is on the way (dataChanged brings it here again)
    PhotoHit hit;
    hit.photoId = photo->id;
    hit.path = photo->path;
    if (hit.photoId == m_selectedId && m_detail->hasPhoto() && m_detail->photo().path == hit.path)
        return;
    m_selectedId = hit.photoId;
    m_detail->setPhoto(hit);
    m_fillMask->setPhoto(hit.path);
}

void MainWindow::openCurrent() {
    if (QListView *grid = currentGrid())
        DetailPane::openInViewer(grid->currentIndex().data(ResultModel::PathRole).toString());
}

void MainWindow::previewCurrent() {
    if (m_preview) { // Space again closes it, like Quick Look
        m_preview->close();
        return;
    }
    QListView *grid = currentGrid();
    const QString path =
        grid ? grid->currentIndex().data(ResultModel::PathRole).toString() : QString();
    if (!path.isEmpty()) {
        m_preview = new PreviewDialog(path, this);
        m_preview->show();
    }
}

void MainWindow::updatePlaceholder() {
    QString message;
    const bool hasQuery = this->hasQuery();
    if (m_results->rowCount() > 0) { // results exist only for a query (cleared with it)
        m_stack->setCurrentWidget(m_view);
        return;
    }
    // No query: the library, by month (or filtered by the search field's filters).
    if (!hasQuery && m_library->rowCount() > 0) {
        m_stack->setCurrentWidget(m_libraryView);
        return;
    }
    if (!hasQuery && !m_filter.isEmpty() && !m_library->isLoading()) {
        m_placeholder->setText(tr("<p>No photos match these filters.</p>"));
        m_stack->setCurrentWidget(m_placeholder);
        return;
    }
    if (m_folders->rowCount() == 0 && !hasQuery)
        message = tr("<h2>Add your photos</h2><p>Drag a folder onto this window, or use <b>Add "
                     "Folder…</b> on the "
                     "left.<br>TowerSearch looks at every photo once; after that you can find any "
                     "of them by "
                     "describing it.</p>");
    else if (!hasQuery)
        message =
            tr("<h2>What are you looking for?</h2><p>Describe a photo in the search field above — "
               "\"a red bicycle in the snow\" — or drop a photo on this window to find similar "
               "ones.</p>");
    else if (!m_hasEngine)
        message =
            tr("<p>The model is still loading; your search will run as soon as it is ready.</p>");
    else if (!m_searchDone)
        message = tr("<p>Searching…</p>");
    else if (m_relevance->value() > 0 && !m_controller->rawHits().empty())
        message = tr("<p>No photo reaches the minimum match of %1%.<br>Move the slider left to see "
                     "weaker "
                     "matches.</p>")
                      .arg(m_relevance->value());
    else
        message = tr("<p>No photos found. Try other words, or add more folders.</p>");
    m_placeholder->setText(message);
    m_stack->setCurrentWidget(m_placeholder);
}

void MainWindow::setFolders(const QList<WatchedFolder> &folders) {
    m_folders->setFolders(folders);
    m_library->refresh(); // a folder added or forgotten changes what the library view lists
    updatePlaceholder();
    // in: resolves and completes against the folders below the watched ones: a walk of the disk,
    // so off the GUI thread; a newer folder list wins.
    QStringList roots;
    for (const WatchedFolder &f : folders)
        roots.append(f.path);
    m_folderWalk.start([roots] { return FolderNames(roots, collectSubfolders(roots)); },
                       [this](const FolderNames &names) { m_searchField->setFolderNames(names); });
}

void MainWindow::setCameras(const QStringList &cameras) {
    m_searchField->setCameras(cameras);
}

void MainWindow::setIndexProgress(const IndexProgress &progress) {
    m_folders->setIndexing(true);
    m_indexing->setProgress(progress);
    m_saved->refreshCountsIfDue(); // new photos may match; throttled, each count is a search
}

void MainWindow::setIndexingFinished() {
    m_folders->setIndexing(false);
    m_indexing->setFinished();
    m_saved->refreshCounts();
    m_library->refresh(); // the new photos join the library view
    // Newly indexed photos may match the current query.
    if (!m_controller->currentText().isEmpty() || !m_controller->currentPhoto().isEmpty())
        m_controller->rerun();
}

void MainWindow::setFailedCount(qint64 failed) {
    m_indexing->setFailedCount(failed);
}

void MainWindow::showFailures() {
    FailuresDialog dialog(m_failures ? m_failures() : QList<PhotoRecord>{}, this);
    dialog.exec();
}

bool MainWindow::canHandle(const QMimeData *mime) {
    return PhotoDrop::canHandle(mime);
}

bool MainWindow::handleDroppedData(const QMimeData *mime) {
    const PhotoDrop::Contents drop = m_drop.read(mime);
    for (const QString &folder : drop.folders)
        Q_EMIT addFolderRequested(folder);
    if (!drop.photo.isEmpty())
        runPhotoQuery(drop.photo);
    return !drop.isEmpty();
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event) {
    if (canHandle(event->mimeData()))
        event->acceptProposedAction();
}

void MainWindow::dragMoveEvent(QDragMoveEvent *event) {
    if (canHandle(event->mimeData()))
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event) {
    for (QListView *grid : {m_view, m_libraryView}) {
        if (event->source() != grid && event->source() != grid->viewport())
            continue;
        // A photo of the grid dropped back on the window: find photos like it.
        const QString path = grid->currentIndex().data(ResultModel::PathRole).toString();
        if (!path.isEmpty()) {
            runPhotoQuery(path);
            event->acceptProposedAction();
        }
        return;
    }
    if (handleDroppedData(event->mimeData()))
        event->acceptProposedAction();
    else
        statusBar()->showMessage(tr("Drop a photo to find similar ones, or a folder to add it."),
                                 5000);
}

void MainWindow::changeEvent(QEvent *event) {
    QMainWindow::changeEvent(event);
    if (event->type() == QEvent::ScreenChangeInternal)
        m_loader->setThumbnailSize(int(kTileSize * devicePixelRatioF()));
}

} // namespace ts
