#pragma once

#include "ui/photolisting.h"

#include <QAbstractListModel>
#include <QDate>
#include <QHash>
#include <QSet>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace ts {

class ThumbnailLoader;

// The library without a query: every photo the filter keeps, in pages fetched on demand.
//
// Sorted by date taken (the default), rows are grouped by month, newest first: each month starts
// with a header row (HeaderRole true, not selectable) and photos without a date come last under
// "No date". Sorted by name there are no headers.
//
// Lazy: a reset asks the listing for the count and the month counts only (off data(), deferred);
// data() of a photo row returns the cached page's record, or an empty placeholder while it queues
// that page; pages arrive as dataChanged. At most kMaxCachedPages pages are kept (least recently
// used go first); the queue of wanted pages keeps only the newest few, so scrolling fast through
// 100,000 photos never builds a backlog. Stale answers (a newer filter or order) are dropped by a
// generation counter.
//
// GUI thread only. The listing is shared with the worker threads it may run on.
class LibraryModel : public QAbstractListModel {
    Q_OBJECT
public:
    // Roles shared with ResultModel (the delegate and the window read both the same way).
    enum Role {
        PathRole = Qt::UserRole + 1, // == ResultModel::PathRole
        PhotoIdRole,                 // == ResultModel::PhotoIdRole
        ScoreTextRole = Qt::UserRole + 6,
        ThumbnailRole = Qt::UserRole + 7,
        HeaderRole = Qt::UserRole + 20, // bool: a month header row
        DateTakenRole,                  // QDateTime, invalid when unknown or not loaded yet
        LoadedRole,                     // bool: the row's photo is in the cache
    };
    Q_ENUM(Role)

    static constexpr int kPageSize = 200;
    static constexpr int kMaxCachedPages = 64;
    static constexpr int kMaxWantedPages = 6;

    explicit LibraryModel(ThumbnailLoader *loader = nullptr, QObject *parent = nullptr);
    ~LibraryModel() override;

    // Null: an empty model. Resets (deferred: the new rows appear when the counts arrive).
    void setListing(std::shared_ptr<const PhotoListing> listing);
    void setFilter(const PhotoFilter &filter);
    // DateTaken (with month headers) or Name; Relevance lists as DateTaken.
    void setSortOrder(SortOrder order);
    // Fetches the counts again (photos were indexed or removed), keeping the filter and order.
    void refresh();
    const PhotoFilter &filter() const { return m_filter; }
    SortOrder sortOrder() const { return m_order; }
    bool isLoading() const { return m_countsPending; }
    qint64 photoCount() const { return m_total; }
    int headerCount() const { return int(m_sections.size()) * (m_grouped ? 1 : 0); }

    bool isHeader(int row) const;
    // The photo's position in the listing (0-based), or -1 for a header or a row out of range.
    qint64 photoOffsetOfRow(int row) const;
    int rowOfPhotoOffset(qint64 offset) const;
    // The cached record of a row, or null (header, or its page is not loaded yet).
    const PhotoRecord *photoAt(int row) const;

    // Gives the paths of `rows` (headers skipped, in row order) to `done` once every page they
    // lie on is loaded: at once when cached, else after the pages arrive (deferred work, never a
    // blocking query). `done` receives the error instead when a page cannot be read; it is called
    // at most once, on the GUI thread, and not at all when the model is reset first.
    using PathsCallback = std::function<void(const Result<QStringList> &paths)>;
    void collectPaths(QList<int> rows, PathsCallback done);

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    QHash<int, QByteArray> roleNames() const override;
    QStringList mimeTypes() const override;
    QMimeData *mimeData(const QModelIndexList &indexes) const override;
    Qt::DropActions supportedDragActions() const override { return Qt::CopyAction; }

    // "March 2024 · 12 photos" (year 0: "No date · ...").
    static QString monthTitle(int year, int month, qint64 count);
    // "1 photo", "1,234 photos".
    static QString photosText(qint64 count);

Q_SIGNALS:
    // The counts arrived and the rows are in place (also after an empty result).
    void loaded(qint64 photoCount);
    void pageLoaded(qint64 page);
    void errorOccurred(const QString &message);

private:
    struct Section {
        QString title;
        qint64 firstPhoto = 0; // offset of its first photo in the listing
        qint64 count = 0;
    };
    struct Counts {
        Result<qint64> total = qint64(0);
        Result<std::vector<MonthCount>> months = std::vector<MonthCount>{};
    };
    struct PathJob {
        QList<int> rows;
        QSet<qint64> missing; // pages not loaded yet
        PathsCallback done;
    };

    void reload();
    void applyCounts(quint64 generation, const Counts &counts);
    void wantPage(qint64 page) const;
    void schedulePump() const;
    void pump();
    void applyPage(quint64 generation, qint64 page,
                   const Result<std::vector<PhotoRecord>> &records);
    void finishJobs(qint64 page, const Error *error);
    void touch(qint64 page) const;
    void onThumbnailReady(const QString &path);
    int sectionOfRow(int row) const;

    ThumbnailLoader *m_loader;
    std::shared_ptr<const PhotoListing> m_listing;
    PhotoFilter m_filter;
    SortOrder m_order = SortOrder::DateTaken;
    quint64 m_generation = 0;
    bool m_countsPending = false;

    qint64 m_total = 0;
    bool m_grouped = false;
    std::vector<Section> m_sections; // grouped: one per month (+ "No date"); else none
    std::vector<int> m_headerRows;   // row of each section's header, ascending

    // mutable: data() only notes what it needs; the fetch runs later.
    mutable QHash<qint64, std::vector<PhotoRecord>> m_pages;
    mutable QHash<qint64, quint64> m_pageUse; // LRU stamp
    mutable quint64 m_useClock = 0;
    mutable std::deque<qint64> m_wanted; // front: newest
    mutable QSet<qint64> m_wantedSet;
    mutable bool m_pumpScheduled = false;
    QSet<qint64> m_inFlight;
    std::vector<PathJob> m_jobs;
    QSet<qint64> m_jobPages; // pages a job waits for (never dropped from the queue)
    QMultiHash<QString, int> m_rowsOfPath;
};

} // namespace ts
