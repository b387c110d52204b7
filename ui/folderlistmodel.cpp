#include "ui/folderlistmodel.h"

#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QLocale>
#include <QStyle>

namespace ts {

FolderListModel::FolderListModel(QObject *parent) : QAbstractListModel(parent) {}

void FolderListModel::setFolders(const QList<WatchedFolder> &folders) {
    bool samePaths = folders.size() == m_folders.size();
    for (int i = 0; samePaths && i < folders.size(); ++i)
        samePaths = folders[i].path == m_folders[i].path;
    if (!samePaths) {
        beginResetModel();
        m_folders = folders;
        endResetModel();
        return;
    }
    m_folders = folders;
    if (!m_folders.isEmpty())
        Q_EMIT dataChanged(index(0), index(int(m_folders.size()) - 1));
}

void FolderListModel::setIndexing(bool indexing) {
    if (indexing == m_indexing)
        return;
    m_indexing = indexing;
    if (!m_folders.isEmpty())
        Q_EMIT dataChanged(index(0), index(int(m_folders.size()) - 1),
                           {Qt::DisplayRole, StateTextRole, Qt::ToolTipRole});
}

QString FolderListModel::pathAt(int row) const {
    return row >= 0 && row < m_folders.size() ? m_folders[row].path : QString();
}

int FolderListModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_folders.size());
}

QString FolderListModel::stateText(const WatchedFolder &f) const {
    QStringList parts;
    parts << (f.photoCount == 1 ? tr("1 photo") : tr("%L1 photos").arg(f.photoCount));
    if (f.pendingCount > 0)
        parts << (m_indexing ? tr("indexing %L1").arg(f.pendingCount)
                             : tr("%L1 waiting").arg(f.pendingCount));
    if (f.failedCount > 0)
        parts << tr("%L1 failed").arg(f.failedCount);
    // Offline photos are kept and still found; they come back without re-indexing.
    if (f.offline)
        parts << tr("offline");
    else if (f.offlineCount > 0)
        parts << tr("%L1 offline").arg(f.offlineCount);
    if (f.pendingCount == 0 && f.failedCount == 0 && !f.offline && f.offlineCount == 0)
        parts << (f.lastScan.isValid() ? tr("up to date")
                                       : (m_indexing ? tr("scanning") : tr("not scanned yet")));
    return parts.join(QStringLiteral(" · "));
}

QVariant FolderListModel::data(const QModelIndex &index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const WatchedFolder &f = m_folders[index.row()];
    const QString name =
        QFileInfo(f.path).fileName().isEmpty() ? f.path : QFileInfo(f.path).fileName();
    switch (role) {
    case Qt::DisplayRole:
        return QStringLiteral("%1\n%2").arg(name, stateText(f));
    case Qt::ToolTipRole: {
        QString tip = QStringLiteral("%1\n%2").arg(QDir::toNativeSeparators(f.path), stateText(f));
        if (f.offline)
            tip += QLatin1Char('\n') +
                   tr("Offline: %1. Its photos are kept and still found; they come back without "
                      "re-indexing when the folder is there again.")
                       .arg(f.offlineReason);
        else if (f.offlineCount > 0)
            tip += QLatin1Char('\n') +
                   tr("%L1 photos are in subfolders that could not be read (a disk not mounted, no "
                      "permission); they are kept and still found.")
                       .arg(f.offlineCount);
        tip += QLatin1Char('\n') +
               tr("A photo belongs to every watched folder that contains it: removing this folder "
                  "keeps the photos another watched folder covers.");
        return tip;
    }
    case Qt::AccessibleTextRole:
        return tr("%1, %2").arg(name, stateText(f));
    case Qt::DecorationRole:
        return QApplication::style()->standardIcon(f.offline ? QStyle::SP_DriveNetIcon
                                                             : QStyle::SP_DirIcon);
    case PathRole:
        return f.path;
    case PhotoCountRole:
        return f.photoCount;
    case PendingCountRole:
        return f.pendingCount;
    case FailedCountRole:
        return f.failedCount;
    case StateTextRole:
        return stateText(f);
    default:
        return {};
    }
}

Qt::ItemFlags FolderListModel::flags(const QModelIndex &index) const {
    return index.isValid() ? Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren
                           : Qt::NoItemFlags;
}

QHash<int, QByteArray> FolderListModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names.insert(PathRole, "path");
    names.insert(PhotoCountRole, "photoCount");
    names.insert(PendingCountRole, "pendingCount");
    names.insert(FailedCountRole, "failedCount");
    names.insert(StateTextRole, "stateText");
    return names;
}

} // namespace ts
