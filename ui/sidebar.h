#pragma once

#include <QWidget>

class QListView;
class QToolButton;

namespace ts {

class FolderListModel;

// The watched folders: the list (photo count and state per folder) and add / remove / rescan.
// It only asks (signals); the composition root tells the library.
class Sidebar : public QWidget {
    Q_OBJECT
public:
    explicit Sidebar(FolderListModel *model, QWidget *parent = nullptr);

    QListView *view() const { return m_view; }
    QString selectedFolder() const;

public Q_SLOTS:
    void chooseFolderToAdd();

Q_SIGNALS:
    void addFolderRequested(const QString &path);
    void removeFolderRequested(const QString &path);
    void rescanRequested();

private:
    void updateButtons();
    FolderListModel *m_model;
    QListView *m_view;
    QToolButton *m_add, *m_remove, *m_rescan;
};

} // namespace ts
