#include "ui/sidebar.h"

#include "ui/folderlistmodel.h"

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

Sidebar::Sidebar(FolderListModel *model, QWidget *parent) : QWidget(parent), m_model(model), m_view(new QListView(this)) {
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 0, 6);
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
    m_add = new QToolButton(this);
    m_add->setText(tr("Add Folder…"));
    m_add->setToolButtonStyle(Qt::ToolButtonTextOnly);
    m_add->setToolTip(tr("Add a folder of photos (or drag one onto the window)"));
    m_add->setAccessibleName(tr("Add folder"));
    m_remove = new QToolButton(this);
    m_remove->setText(tr("Remove"));
    m_remove->setAccessibleName(tr("Remove folder"));
    m_remove->setToolTip(tr("Stop watching the selected folder (the photos themselves are not touched)"));
    m_rescan = new QToolButton(this);
    m_rescan->setText(tr("Rescan"));
    m_rescan->setAccessibleName(tr("Rescan folders"));
    m_rescan->setToolTip(tr("Look for new, changed and removed photos now"));
    buttons->addWidget(m_add);
    buttons->addWidget(m_remove);
    buttons->addWidget(m_rescan);
    buttons->addStretch(1);
    layout->addLayout(buttons);

    connect(m_add, &QToolButton::clicked, this, &Sidebar::chooseFolderToAdd);
    connect(m_rescan, &QToolButton::clicked, this, &Sidebar::rescanRequested);
    connect(m_remove, &QToolButton::clicked, this, [this] {
        const QString path = selectedFolder();
        if (path.isEmpty())
            return;
        const auto answer = QMessageBox::question(
            this, tr("Remove Folder"),
            tr("Stop watching %1?\nIts photos leave the library; the files on disk are not touched.")
                .arg(QDir::toNativeSeparators(path)));
        if (answer == QMessageBox::Yes)
            Q_EMIT removeFolderRequested(path);
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, &Sidebar::updateButtons);
    connect(m_model, &QAbstractItemModel::modelReset, this, &Sidebar::updateButtons);
    connect(m_model, &QAbstractItemModel::modelReset, this, [this] { m_rescan->setEnabled(m_model->rowCount() > 0); });
    updateButtons();
    m_rescan->setEnabled(false);
}

QString Sidebar::selectedFolder() const {
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : m_model->pathAt(rows.first().row());
}

void Sidebar::chooseFolderToAdd() {
    const QString start = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Add a Folder of Photos"), start);
    if (!dir.isEmpty())
        Q_EMIT addFolderRequested(dir);
}

void Sidebar::updateButtons() { m_remove->setEnabled(!selectedFolder().isEmpty()); }

} // namespace ts
