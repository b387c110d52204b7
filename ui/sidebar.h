#pragma once

#include <QWidget>

class QListView;
class QToolButton;
class QVBoxLayout;

namespace ts {

class FolderListModel;
class SavedSearchModel;

// The watched folders: the list (photo count and state per folder) and add / remove / rescan; and
// the saved searches (how many photos each shows now): save the current search, run one (click),
// rename (F2, double-click or Rename), remove. It only asks (signals); the composition root tells
// the library, the window runs and stores the searches.
class Sidebar : public QWidget {
    Q_OBJECT
public:
    explicit Sidebar(FolderListModel *model, QWidget *parent = nullptr);

    QListView *view() const { return m_view; }
    QString selectedFolder() const;
    void setSavedSearchModel(SavedSearchModel *model);
    QListView *savedSearchView() const { return m_savedView; }
    QToolButton *saveSearchButton() const { return m_saveSearch; }
    int selectedSavedSearch() const; // -1 when none
    void setCanSaveSearch(bool can);

public Q_SLOTS:
    void chooseFolderToAdd();

Q_SIGNALS:
    void addFolderRequested(const QString &path);
    void removeFolderRequested(const QString &path);
    void rescanRequested();
    void saveSearchRequested();
    void savedSearchActivated(int row);

private:
    void buildFolders(QVBoxLayout *layout);
    void buildSavedSearches(QVBoxLayout *layout);
    void wireFolders();
    // Asks before it emits removeFolderRequested for the selected folder.
    void confirmRemoveFolder();
    void updateButtons();
    void updateSavedButtons();
    FolderListModel *m_model;
    QListView *m_view;
    QToolButton *m_add, *m_remove, *m_rescan;
    SavedSearchModel *m_saved = nullptr;
    QListView *m_savedView;
    QToolButton *m_saveSearch, *m_renameSearch, *m_removeSearch;
};

} // namespace ts
