#pragma once

// "Find Duplicates": groups of near-duplicate photos, largest first; within a group the
// photos side by side with size, resolution and date. Actions: open, show in the file manager,
// move to the trash after a confirmation (never a permanent delete).
//
// The dialog does not own the library: it gets a DuplicateFinder (runs on a worker thread, with
// progress and cancel) and a callable that moves a photo to the trash and drops it from the
// library (Library::moveToTrash, run on the GUI thread where the Library lives). Thumbnails are
// the small files the indexer stored, read on the worker with the groups.

#include "indexer/libraryrecords.h"
#include "ui/latestonly.h"

#include <QDialog>
#include <QImage>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class QDoubleSpinBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;

namespace ts {

class DuplicatesDialog : public QDialog {
    Q_OBJECT
public:
    using TrashFunction = std::function<Result<QString>(qint64 photoId)>;

    DuplicatesDialog(DuplicateFinder finder, TrashFunction trash, QWidget *parent = nullptr);
    ~DuplicatesDialog() override;

    // Starts a search at the threshold shown (also done once when the dialog is first shown).
    void find();
    void setThreshold(double threshold);
    bool isSearching() const { return m_cancel != nullptr; }

    // For tests: the groups shown.
    const std::vector<DuplicatePhotos> &groups() const { return m_groups; }
    QListWidget *groupList() const { return m_groupList; }
    QListWidget *photoList() const { return m_photoList; }
    // Moves the selected photo to the trash (after the confirmation) and takes it off the list.
    void trashSelected();

Q_SIGNALS:
    void searchFinished(); // groups() are up to date (or an error is shown)
    void photoTrashed(qint64 photoId, const QString &trashPath);

protected:
    void showEvent(QShowEvent *event) override;
    void reject() override; // Esc/Close cancels a running search first

private:
    struct Found {
        std::vector<DuplicatePhotos> groups;
        std::vector<std::vector<QImage>> thumbnails;
        QString error;
    };
    ScanProgress progressReporter(LatestOnly::Ticket ticket,
                                  std::shared_ptr<std::atomic<bool>> cancel);
    static Found collect(const DuplicateFinder &finder, float threshold,
                         const ScanProgress &progress);
    void showFound(const Found &found);
    void showGroups();
    void showGroup(int row);
    void updateButtons();
    void cancelSearch();
    const PhotoRecord *selectedPhoto() const;

    DuplicateFinder m_finder;
    TrashFunction m_trash;
    std::vector<DuplicatePhotos> m_groups;
    std::vector<std::vector<QImage>> m_thumbnails;
    std::shared_ptr<std::atomic<bool>> m_cancel; // non-null while a search runs
    LatestOnly m_search{this};                   // progress and groups of the running search only
    bool m_searchedOnce = false;

    QDoubleSpinBox *m_threshold = nullptr;
    QPushButton *m_findButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QListWidget *m_groupList = nullptr;
    QListWidget *m_photoList = nullptr;
    QPushButton *m_open = nullptr;
    QPushButton *m_reveal = nullptr;
    QPushButton *m_trashButton = nullptr;
};

} // namespace ts
