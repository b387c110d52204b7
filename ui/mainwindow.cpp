#include "ui/mainwindow.h"

#include "ui/failuresdialog.h"
#include "ui/fillmaskpanel.h"
#include "ui/folderlistmodel.h"
#include "ui/indexingstatuswidget.h"
#include "ui/previewdialog.h"
#include "ui/resultdelegate.h"
#include "ui/resultmodel.h"
#include "ui/searchcontroller.h"
#include "ui/searchfield.h"
#include "ui/settingsdialog.h"
#include "ui/sidebar.h"
#include "ui/thumbnailloader.h"

#include <QApplication>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QMimeDatabase>
#include <QProgressBar>
#include <QShortcut>
#include <QSlider>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QToolButton>
#include <QUrl>
#include <QVBoxLayout>

namespace ts {

namespace {
constexpr int kTileSize = 160;

bool isImageFile(const QString &path) {
    static const QMimeDatabase db;
    return db.mimeTypeForFile(path).name().startsWith(QLatin1String("image/"));
}
} // namespace

MainWindow::MainWindow(const AppSettings &settings, QWidget *parent)
    : QMainWindow(parent), m_settings(settings), m_loader(new ThumbnailLoader(this)),
      m_results(new ResultModel(m_loader, this)), m_controller(new SearchController(this)),
      m_folders(new FolderListModel(this)) {
    setWindowTitle(tr("TowerSearch"));
    setAcceptDrops(true);
    resize(1280, 800);

    // Top bar: search field, rerank indicator, relevance slider, settings.
    auto *top = new QWidget(this);
    auto *topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(8, 6, 8, 6);
    m_searchField = new SearchField(top);
    topLayout->addWidget(m_searchField, 1);
    auto *rerankBox = new QWidget(top);
    auto *rerankLayout = new QVBoxLayout(rerankBox);
    rerankLayout->setContentsMargins(0, 0, 0, 0);
    rerankLayout->setSpacing(1);
    m_rerankLabel = new QLabel(rerankBox);
    m_rerankLabel->setAccessibleName(tr("Search status"));
    QFont small = m_rerankLabel->font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    m_rerankLabel->setFont(small);
    m_rerankBar = new QProgressBar(rerankBox);
    m_rerankBar->setTextVisible(false);
    m_rerankBar->setFixedHeight(3);
    m_rerankBar->setAccessibleName(tr("Refining the order"));
    rerankLayout->addWidget(m_rerankLabel);
    rerankLayout->addWidget(m_rerankBar);
    rerankBox->setFixedWidth(130);
    topLayout->addWidget(rerankBox);
    m_relevanceLabel = new QLabel(top);
    m_relevanceLabel->setMinimumWidth(m_relevanceLabel->fontMetrics().horizontalAdvance(tr("Min. match: 100%")));
    m_relevance = new QSlider(Qt::Horizontal, top);
    m_relevance->setRange(0, 100);
    m_relevance->setValue(qRound(settings.relevanceDefault * 100));
    m_relevance->setFixedWidth(120);
    m_relevance->setAccessibleName(tr("Minimum match probability"));
    m_relevance->setToolTip(tr("Hide photos the model thinks do not match the words"));
    topLayout->addWidget(m_relevanceLabel);
    topLayout->addWidget(m_relevance);
    auto *settingsButton = new QToolButton(top);
    settingsButton->setText(tr("Settings"));
    settingsButton->setAccessibleName(tr("Settings"));
    settingsButton->setAutoRaise(true);
    topLayout->addWidget(settingsButton);
    connect(settingsButton, &QToolButton::clicked, this, &MainWindow::showSettings);

    // Results grid.
    m_view = new QListView(this);
    m_view->setViewMode(QListView::IconMode);
    m_view->setResizeMode(QListView::Adjust);
    m_view->setMovement(QListView::Static);
    m_view->setUniformItemSizes(true);
    m_view->setLayoutMode(QListView::Batched);
    m_view->setBatchSize(500);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setDragEnabled(true);
    m_view->setDragDropMode(QAbstractItemView::DragOnly);
    m_view->setDefaultDropAction(Qt::CopyAction);
    m_view->setMouseTracking(true);
    m_view->viewport()->setAttribute(Qt::WA_Hover);
    m_view->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_view->setAccessibleName(tr("Search results"));
    m_delegate = new ResultDelegate(m_view);
    m_delegate->setTileSize(kTileSize);
    m_view->setItemDelegate(m_delegate);
    m_view->setModel(m_results);
    m_loader->setThumbnailSize(int(kTileSize * devicePixelRatioF()));
    m_loader->setCacheBudget(qint64(settings.thumbnailCacheMiB) << 20);

    m_placeholder = new QLabel(this);
    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setAccessibleName(tr("Results status"));
    m_placeholder->setForegroundRole(QPalette::PlaceholderText);
    m_stack = new QStackedWidget(this);
    m_stack->addWidget(m_placeholder);
    m_stack->addWidget(m_view);

    m_sidebar = new Sidebar(m_folders, this);
    m_detail = new DetailPane(this);
    m_fillMask = new FillMaskPanel(this);
    auto *right = new QSplitter(Qt::Vertical, this);
    right->addWidget(m_detail);
    right->addWidget(m_fillMask);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 1);
    right->setSizes({520, 240});
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

    // Wiring.
    SearchOptions options;
    options.candidates = settings.candidates;
    options.rerankDepth = settings.rerankDepth;
    m_controller->setOptions(options);
    m_controller->setMinMatchProbability(float(settings.relevanceDefault));
    connect(m_searchField, &SearchField::queryChanged, m_controller,
            [this](const QString &text, const QString &photo) {
                m_searchDone = false;
                m_controller->search(text, photo);
                updatePlaceholder();
            });
    connect(m_controller, &SearchController::resultsChanged, this, &MainWindow::onResults);
    connect(m_controller, &SearchController::rerankProgress, this, [this](int done, int total) {
        const bool refining = total > 0 && done < total && m_controller->isBusy();
        m_rerankBar->setRange(0, qMax(total, 1));
        m_rerankBar->setValue(done);
        m_rerankBar->setVisible(refining);
        m_rerankLabel->setText(refining ? tr("Refining order… %1/%2").arg(done).arg(total) : QString());
    });
    connect(m_controller, &SearchController::busyChanged, this, [this](bool busy) {
        if (busy) {
            m_rerankLabel->setText(tr("Searching…"));
        } else {
            m_rerankLabel->clear();
            m_rerankBar->setVisible(false);
        }
    });
    connect(m_controller, &SearchController::searchFinished, this, [this] {
        m_searchDone = true;
        updatePlaceholder();
    });
    connect(m_controller, &SearchController::searchFailed, this, [this](const QString &message) {
        m_searchDone = true;
        statusBar()->showMessage(tr("Search failed: %1").arg(message), 10000);
        updatePlaceholder();
    });
    connect(m_controller, &SearchController::photosSkipped, this, [this](const QStringList &reasons) {
        statusBar()->showMessage(tr("Skipped %1").arg(reasons.join(QStringLiteral("; "))), 8000);
    });
    connect(m_relevance, &QSlider::valueChanged, this, [this](int v) {
        m_controller->setMinMatchProbability(float(v) / 100.0f);
        updateRelevanceLabel();
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            [this](const QModelIndex &current) { onCurrentChanged(current); });
    connect(m_results, &QAbstractItemModel::modelReset, this, [this] {
        // A new result set: keep the photo selected if it is still there.
        const int row = m_results->rowOfPhoto(m_selectedId);
        if (row >= 0)
            m_view->setCurrentIndex(m_results->index(row));
    });
    connect(m_results, &QAbstractItemModel::modelReset, this, &MainWindow::updatePlaceholder);
    connect(m_view, &QListView::doubleClicked, this, &MainWindow::openCurrent);
    connect(m_detail, &DetailPane::findSimilarRequested, this, &MainWindow::runPhotoQuery);

    connect(m_sidebar, &Sidebar::addFolderRequested, this, &MainWindow::addFolderRequested);
    connect(m_sidebar, &Sidebar::removeFolderRequested, this, &MainWindow::removeFolderRequested);
    connect(m_sidebar, &Sidebar::rescanRequested, this, &MainWindow::rescanRequested);
    connect(m_indexing, &IndexingStatusWidget::pauseRequested, this, &MainWindow::pauseIndexingRequested);
    connect(m_indexing, &IndexingStatusWidget::resumeRequested, this, &MainWindow::resumeIndexingRequested);
    connect(m_indexing, &IndexingStatusWidget::failuresRequested, this, &MainWindow::showFailures);

    // Keyboard: arrows (the view), Enter opens, Space previews, Ctrl+F focuses search, Esc clears.
    auto *open = new QShortcut(QKeySequence(Qt::Key_Return), m_view, nullptr, nullptr, Qt::WidgetShortcut);
    connect(open, &QShortcut::activated, this, &MainWindow::openCurrent);
    auto *openEnter = new QShortcut(QKeySequence(Qt::Key_Enter), m_view, nullptr, nullptr, Qt::WidgetShortcut);
    connect(openEnter, &QShortcut::activated, this, &MainWindow::openCurrent);
    auto *preview = new QShortcut(QKeySequence(Qt::Key_Space), m_view, nullptr, nullptr, Qt::WidgetShortcut);
    connect(preview, &QShortcut::activated, this, &MainWindow::previewCurrent);
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
    connect(m_searchField, &SearchField::escapePressedWhenEmpty, this, [] {});

    buildMenus();
    updateRelevanceLabel();
    setModelStatus(tr("Loading the model…"));
    m_rerankBar->setVisible(false);
    updatePlaceholder();
    m_searchField->setFocus();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Add Folder…"), QKeySequence(Qt::CTRL | Qt::Key_O), m_sidebar, &Sidebar::chooseFolderToAdd);
    file->addAction(tr("&Rescan Folders"), QKeySequence(Qt::Key_F5), this, &MainWindow::rescanRequested);
    file->addSeparator();
    file->addAction(tr("Set Up &Model…"), this, &MainWindow::modelSetupRequested);
    file->addAction(tr("&Settings…"), QKeySequence::Preferences, this, &MainWindow::showSettings);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    QMenu *edit = menuBar()->addMenu(tr("&Search"));
    edit->addAction(tr("&Find"), this, [this] { m_searchField->lineEdit()->setFocus(); });
    edit->addAction(tr("Find &Similar Photos"), this, [this] {
        if (m_detail->hasPhoto())
            runPhotoQuery(m_detail->photo().path);
    });
    edit->addAction(tr("&Clear"), this, [this] { m_searchField->clear(); });
    edit->addSeparator();
    edit->addAction(tr("Find &Duplicates…"), this, &MainWindow::duplicatesRequested);
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About TowerSearch"), this, [this] {
        QMessageBox::about(this, tr("About TowerSearch"),
                           tr("<h3>TowerSearch %1</h3><p>Finds photos by what is in them, with the BridgeTower "
                              "vision-language model, entirely on this computer.</p>")
                               .arg(QApplication::applicationVersion()));
    });
}

void MainWindow::setSearchEngine(std::shared_ptr<const SearchEngine> engine) {
    m_hasEngine = bool(engine);
    m_fillMask->setEngine(engine);
    m_controller->setEngine(std::move(engine));
    updatePlaceholder();
}

void MainWindow::setModelStatus(const QString &text) { m_modelStatus->setText(text); }

void MainWindow::setDateTakenProvider(DetailPane::DateTakenProvider provider) {
    m_detail->setDateTakenProvider(std::move(provider));
}

void MainWindow::applySettings(const AppSettings &settings) {
    m_settings = settings;
    SearchOptions options = m_controller->options();
    const bool changed = options.candidates != settings.candidates || options.rerankDepth != settings.rerankDepth;
    options.candidates = settings.candidates;
    options.rerankDepth = settings.rerankDepth;
    m_controller->setOptions(options);
    m_loader->setCacheBudget(qint64(settings.thumbnailCacheMiB) << 20);
    if (changed)
        m_controller->rerun();
}

void MainWindow::showSettings() {
    SettingsDialog dialog(m_settings, m_libraryPath, this);
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
    m_fillMask->setPhoto(hit->path);
}

void MainWindow::openCurrent() {
    if (const PhotoHit *hit = m_results->hitAt(m_view->currentIndex().row()))
        DetailPane::openInViewer(hit->path);
}

void MainWindow::previewCurrent() {
    if (m_preview) { // Space again closes it, like Quick Look
        m_preview->close();
        return;
    }
    if (const PhotoHit *hit = m_results->hitAt(m_view->currentIndex().row())) {
        m_preview = new PreviewDialog(hit->path, this);
        m_preview->show();
    }
}

void MainWindow::updateRelevanceLabel() {
    const int v = m_relevance->value();
    m_relevanceLabel->setText(v == 0 ? tr("Show all") : tr("Min. match: %1%").arg(v));
}

void MainWindow::updatePlaceholder() {
    QString message;
    const bool hasQuery = !m_controller->currentText().isEmpty() || !m_controller->currentPhoto().isEmpty();
    if (m_results->rowCount() > 0) {
        m_stack->setCurrentWidget(m_view);
        return;
    }
    if (m_folders->rowCount() == 0 && !hasQuery)
        message = tr("<h2>Add your photos</h2><p>Drag a folder onto this window, or use <b>Add Folder…</b> on the "
                     "left.<br>TowerSearch looks at every photo once; after that you can find any of them by "
                     "describing it.</p>");
    else if (!hasQuery)
        message = tr("<h2>What are you looking for?</h2><p>Describe a photo in the search field above — "
                     "\"a red bicycle in the snow\" — or drop a photo on this window to find similar ones.</p>");
    else if (!m_hasEngine)
        message = tr("<p>The model is still loading; your search will run as soon as it is ready.</p>");
    else if (!m_searchDone)
        message = tr("<p>Searching…</p>");
    else if (m_relevance->value() > 0 && !m_controller->rawHits().empty())
        message = tr("<p>No photo reaches the minimum match of %1%.<br>Move the slider left to see weaker "
                     "matches.</p>").arg(m_relevance->value());
    else
        message = tr("<p>No photos found. Try other words, or add more folders.</p>");
    m_placeholder->setText(message);
    m_stack->setCurrentWidget(m_placeholder);
}

void MainWindow::setFolders(const QList<WatchedFolder> &folders) {
    m_folders->setFolders(folders);
    updatePlaceholder();
}

void MainWindow::setIndexProgress(const IndexProgress &progress) {
    m_folders->setIndexing(true);
    m_indexing->setProgress(progress);
}

void MainWindow::setIndexingFinished() {
    m_folders->setIndexing(false);
    m_indexing->setFinished();
    // Newly indexed photos may match the current query.
    if (!m_controller->currentText().isEmpty() || !m_controller->currentPhoto().isEmpty())
        m_controller->rerun();
}

void MainWindow::setFailedCount(qint64 failed) { m_indexing->setFailedCount(failed); }

void MainWindow::showFailures() {
    FailuresDialog dialog(m_failures ? m_failures() : QList<PhotoRecord>{}, this);
    dialog.exec();
}

bool MainWindow::canHandle(const QMimeData *mime) {
    if (!mime)
        return false;
    if (mime->hasImage())
        return true;
    for (const QUrl &url : mime->urls()) {
        if (!url.isLocalFile())
            continue;
        const QFileInfo info(url.toLocalFile());
        if (info.isDir() || (info.isFile() && isImageFile(info.filePath())))
            return true;
    }
    for (const QString &format : mime->formats())
        if (format.startsWith(QLatin1String("image/")))
            return true;
    return false;
}

bool MainWindow::handleDroppedData(const QMimeData *mime) {
    if (!mime)
        return false;
    bool used = false;
    QString photo;
    for (const QUrl &url : mime->urls()) {
        if (!url.isLocalFile())
            continue;
        const QFileInfo info(url.toLocalFile());
        if (info.isDir()) {
            Q_EMIT addFolderRequested(info.absoluteFilePath());
            used = true;
        } else if (photo.isEmpty() && info.isFile() && isImageFile(info.filePath())) {
            photo = info.absoluteFilePath();
        }
    }
    if (photo.isEmpty() && !used) {
        // Image data from a browser or an image editor: keep it in a file the engine can read.
        QImage image = qvariant_cast<QImage>(mime->imageData());
        if (image.isNull()) {
            for (const QString &format : mime->formats()) {
                if (format.startsWith(QLatin1String("image/")) && image.loadFromData(mime->data(format)))
                    break;
            }
        }
        if (!image.isNull() && m_dropDir.isValid()) {
            const QString path = m_dropDir.filePath(QStringLiteral("dropped-%1.png").arg(++m_droppedCount));
            if (image.save(path, "PNG"))
                photo = path;
        }
    }
    if (!photo.isEmpty()) {
        runPhotoQuery(photo);
        used = true;
    }
    return used;
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
    if (event->source() == m_view || event->source() == m_view->viewport()) {
        // A result dropped back on the window: find photos like it.
        if (const PhotoHit *hit = m_results->hitAt(m_view->currentIndex().row())) {
            runPhotoQuery(hit->path);
            event->acceptProposedAction();
        }
        return;
    }
    if (handleDroppedData(event->mimeData()))
        event->acceptProposedAction();
    else
        statusBar()->showMessage(tr("Drop a photo to find similar ones, or a folder to add it."), 5000);
}

void MainWindow::changeEvent(QEvent *event) {
    QMainWindow::changeEvent(event);
    if (event->type() == QEvent::ScreenChangeInternal)
        m_loader->setThumbnailSize(int(kTileSize * devicePixelRatioF()));
}

} // namespace ts
