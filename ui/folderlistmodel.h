#pragma once

#include "indexer/libraryrecords.h"

#include <QAbstractListModel>
#include <QList>

namespace ts {

// The library's watched folders for the sidebar: name, path, photo counts and state
// ("up to date", "indexing", "12 waiting", "3 failed"). GUI thread only.
class FolderListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        PathRole = Qt::UserRole + 1,
        PhotoCountRole,
        PendingCountRole,
        FailedCountRole,
        StateTextRole,
    };
    Q_ENUM(Role)

    explicit FolderListModel(QObject *parent = nullptr);

    // Same folders in the same order: rows update in place (selection kept); otherwise a reset.
    void setFolders(const QList<WatchedFolder> &folders);
    const QList<WatchedFolder> &folders() const { return m_folders; }
    void setIndexing(bool indexing);
    QString pathAt(int row) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    QHash<int, QByteArray> roleNames() const override;

    QString stateText(const WatchedFolder &folder) const;

private:
    QList<WatchedFolder> m_folders;
    bool m_indexing = false;
};

} // namespace ts
