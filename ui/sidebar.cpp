#include "ui/sidebar.h"

#include "ui/folderlistmodel.h"
#include "ui/savedsearchmodel.h"

#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QListView>
#include <QMessageBox>
#include <QStandardPaths>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace ts {

namespace {
// A text button of the sidebar; the accessible name is what a screen reader says.
QToolButton *textButton(QWidget *parent, const QString &text, const QString &accessibleName,
                        const QString &toolTip = {}) {
    auto *button = new QToolButton(parent);
    button->setText(text);
    button->setAccessibleName(accessibleName);
    if (!toolTip.isEmpty())
        button->setToolTip(toolTip);
    return button;
}
} // namespace

Sidebar::Sidebar(FolderListModel *model, QWidget *parent)
    : QWidget(parent), m_model(model), m_view(new QListView(this)) {
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 0, 6);
    buildFolders(layout);
    layout->addSpacing(8);
    buildSavedSearches(layout);
    wireFolders();
}

// "Folders": the list, then Add Folder… / Remove / Rescan.
void Sidebar::buildFolders(QVBoxLayout *layout) {
    auto *title = new QLabel(tr("<b>Folders</b>"), this);
    layout->addWidget(title);
    m_view->setModel(m_model);
    m_view->setAccessibleName(tr("Watched folders"));
    m_view->setUniformItemSizes(true);
    m_view->setWordWrap(true);
    m_view->setTextElideMode(Qt::ElideMiddle);
    m_view->setFrameShape(QFrame::NoFrame);
    m_view->setIconSize(QSize(22, 22));
    m_view->setSpacing(2);
    layout->addWidget(m_view, 1);

    auto *buttons = new QHBoxLayout;
    m_add = textButton(this, tr("Add Folder…"), tr("Add folder"),
                       tr("Add a folder of photos (or drag one onto the window)"));
    m_add->setToolButtonStyle(Qt::ToolButtonTextOnly);
    m_remove =
        textButton(this, tr("Remove"), tr("Remove folder"),
                   tr("Stop watching the selected folder (the photos themselves are not touched)"));
    m_rescan = textButton(this, tr("Rescan"), tr("Rescan folders"),
                          tr("Look for new, changed and removed photos now"));
    buttons->addWidget(m_add);
    buttons->addWidget(m_remove);
    buttons->addWidget(m_rescan);
    buttons->addStretch(1);
    layout->addLayout(buttons);
}

// "Saved searches": the list (the model comes with setSavedSearchModel), then Save Search / Rename
// / Remove.
void Sidebar::buildSavedSearches(QVBoxLayout *layout) {
    layout->addWidget(new QLabel(tr("<b>Saved searches</b>"), this));
    m_savedView = new QListView(this);
    m_savedView->setAccessibleName(tr("Saved searches"));
    m_savedView->setFrameShape(QFrame::NoFrame);
    m_savedView->setTextElideMode(Qt::ElideRight);
    m_savedView->setEditTriggers(QAbstractItemView::DoubleClicked |
                                 QAbstractItemView::EditKeyPressed);
    layout->addWidget(m_savedView, 1);
    auto *savedButtons = new QHBoxLayout;
    m_saveSearch = textButton(
        this, tr("Save Search"), tr("Save the current search"),
        tr("Keep the current search here; it shows how many photos match as the library grows"));
    m_renameSearch = textButton(this, tr("Rename"), tr("Rename saved search"));
    m_removeSearch = textButton(this, tr("Remove"), tr("Remove saved search"),
                                tr("Forget this saved search (no photo is touched)"));
    savedButtons->addWidget(m_saveSearch);
    savedButtons->addWidget(m_renameSearch);
    savedButtons->addWidget(m_removeSearch);
    savedButtons->addStretch(1);
    layout->addLayout(savedButtons);
    connect(m_saveSearch, &QToolButton::clicked, this, &Sidebar::saveSearchRequested);
    connect(m_renameSearch, &QToolButton::clicked, this, [this] {
        if (m_saved && selectedSavedSearch() >= 0)
            m_savedView->edit(m_saved->index(selectedSavedSearch()));
    });
    connect(m_removeSearch, &QToolButton::clicked, this, [this] {
        if (m_saved && selectedSavedSearch() >= 0)
            m_saved->remove(selectedSavedSearch());
    });
    // A click runs it, and so does Enter.
    for (auto signal : {&QListView::clicked, &QListView::activated})
        connect(m_savedView, signal, this, [this](const QModelIndex &index) {
            if (index.isValid())
                Q_EMIT savedSearchActivated(index.row());
        });
    m_saveSearch->setEnabled(false);
    updateSavedButtons();
}

void Sidebar::wireFolders() {
    connect(m_add, &QToolButton::clicked, this, &Sidebar::chooseFolderToAdd);
    connect(m_rescan, &QToolButton::clicked, this, &Sidebar::rescanRequested);
    connect(m_remove, &QToolButton::clicked, this, &Sidebar::confirmRemoveFolder);
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &Sidebar::updateButtons);
    connect(m_model, &QAbstractItemModel::modelReset, this, &Sidebar::updateButtons);
    connect(m_model, &QAbstractItemModel::modelReset, this,
            [this] { m_rescan->setEnabled(m_model->rowCount() > 0); });
    updateButtons();
    m_rescan->setEnabled(false);
}

void Sidebar::confirmRemoveFolder() {
    const QString path = selectedFolder();
    if (path.isEmpty())
        return;
    const auto answer = QMessageBox::question(this, tr("Remove Folder"),
                                              tr("Stop watching %1?\nIts photos leave the "
                                                 "library; the files on disk are not touched.")
                                                  .arg(QDir::toNativeSeparators(path)));
    if (answer == QMessageBox::Yes)
        Q_EMIT removeFolderRequested(path);
}

QString Sidebar::selectedFolder() const {
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : m_model->pathAt(rows.first().row());
}

void Sidebar::chooseFolderToAdd() {
    const QString start = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Add a Folder of Photos"), start);
    if (!dir.isEmpty())
        Q_EMIT addFolderRequested(dir);
}

void Sidebar::updateButtons() {
    m_remove->setEnabled(!selectedFolder().isEmpty());
}

void Sidebar::setSavedSearchModel(SavedSearchModel *model) {
    m_saved = model;
    m_savedView->setModel(model);
    connect(m_savedView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &Sidebar::updateSavedButtons);
    connect(model, &QAbstractItemModel::rowsRemoved, this, &Sidebar::updateSavedButtons);
    connect(model, &QAbstractItemModel::modelReset, this, &Sidebar::updateSavedButtons);
    updateSavedButtons();
}

int Sidebar::selectedSavedSearch() const {
    if (!m_saved)
        return -1;
    const QModelIndexList rows = m_savedView->selectionModel()->selectedRows();
    return rows.isEmpty() ? -1 : rows.first().row();
}

void Sidebar::setCanSaveSearch(bool can) {
    m_saveSearch->setEnabled(can);
}

void Sidebar::updateSavedButtons() {
    const bool selected = selectedSavedSearch() >= 0;
    m_renameSearch->setEnabled(selected);
    m_removeSearch->setEnabled(selected);
}

} // namespace ts
