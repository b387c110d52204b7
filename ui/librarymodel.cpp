#include "ui/librarymodel.h"

#include "ui/photoactions.h"
#include "ui/resultmodel.h"
#include "ui/thumbnailloader.h"

#include <QFileInfo>
#include <QLocale>
#include <QMimeData>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

namespace ts {

// The delegate and the window read both models through the same roles.
static_assert(int(LibraryModel::PathRole) == int(ResultModel::PathRole));
static_assert(int(LibraryModel::PhotoIdRole) == int(ResultModel::PhotoIdRole));
static_assert(int(LibraryModel::ScoreTextRole) == int(ResultModel::ScoreTextRole));
static_assert(int(LibraryModel::ThumbnailRole) == int(ResultModel::ThumbnailRole));

LibraryModel::LibraryModel(ThumbnailLoader *loader, QObject *parent)
    : QAbstractListModel(parent), m_loader(loader) {
    if (m_loader)
        connect(m_loader, &ThumbnailLoader::thumbnailReady, this, &LibraryModel::onThumbnailReady);
}

LibraryModel::~LibraryModel() = default;

void LibraryModel::setListing(std::shared_ptr<const PhotoListing> listing) {
    m_listing = std::move(listing);
    reload();
}

void LibraryModel::setFilter(const PhotoFilter &filter) {
    if (filter == m_filter && m_listing)
        return;
    m_filter = filter;
    reload();
}

void LibraryModel::setSortOrder(SortOrder order) {
    if (order == SortOrder::Relevance)
        order = SortOrder::DateTaken; // a listing has no relevance
    if (order == m_order)
        return;
    m_order = order;
    reload();
}

void LibraryModel::refresh() {
    reload();
}

QString LibraryModel::photosText(qint64 count) {
    return count == 1 ? tr("1 photo") : tr("%L1 photos").arg(count);
}

QString LibraryModel::monthTitle(int year, int month, qint64 count) {
    const QString when = year > 0 ? QStringLiteral("%1 %2").arg(
                                        QLocale().standaloneMonthName(month), QString::number(year))
                                  : tr("No date");
    return tr("%1 · %2").arg(when, photosText(count));
}

// Counts first, rows later: the old rows stay visible until the new counts arrive, so typing a
// filter never blanks the grid for a frame.
void LibraryModel::reload() {
    const quint64 generation = ++m_generation;
    m_wanted.clear();
    m_wantedSet.clear();
    if (!m_listing) {
        QTimer::singleShot(0, this, [this, generation] { applyCounts(generation, Counts{}); });
        return;
    }
    m_countsPending = true;
    auto listing = m_listing;
    const PhotoFilter filter = m_filter;
    const bool grouped = m_order == SortOrder::DateTaken;
    auto work = [listing, filter, grouped]() -> Counts {
        Counts c;
        c.total = listing->countPhotos(filter);
        if (grouped && c.total.ok())
            c.months = listing->monthCounts(filter);
        return c;
    };
    if (listing->isThreadSafe()) {
        QtConcurrent::run(work).then(this, [this, generation](const Counts &c) {
            // Qt runs a continuation at once when the work finished before .then(): post it, so
            // the model never resets inside setFilter() and its callers see one behaviour.
            QTimer::singleShot(0, this, [this, generation, c] { applyCounts(generation, c); });
        });
    } else {
        // On this thread: the count and the month counts in separate event-loop turns, so the
        // window answers input between the two queries.
        QTimer::singleShot(0, this, [this, generation, listing, filter, grouped] {
            if (generation != m_generation)
                return;
            Result<qint64> total = listing->countPhotos(filter);
            if (!grouped || !total.ok()) {
                applyCounts(generation, Counts{total, std::vector<MonthCount>{}});
                return;
            }
            QTimer::singleShot(0, this, [this, generation, listing, filter, total] {
                if (generation == m_generation)
                    applyCounts(generation, Counts{total, listing->monthCounts(filter)});
            });
        });
    }
}

void LibraryModel::applyCounts(quint64 generation, const Counts &counts) {
    if (generation != m_generation)
        return; // the filter or order changed since
    m_countsPending = false;
    QString error;
    if (!counts.total.ok())
        error = counts.total.error().message;
    else if (!counts.months.ok())
        error = counts.months.error().message;

    beginResetModel();
    m_pages.clear();
    m_pageUse.clear();
    m_inFlight.clear(); // their answers carry the old generation and are dropped
    m_rowsOfPath.clear();
    m_jobs.clear();
    m_jobPages.clear();
    m_sections.clear();
    m_headerRows.clear();
    m_total = error.isEmpty() ? counts.total.value() : 0;
    m_grouped = m_order == SortOrder::DateTaken && m_total > 0;
    if (m_grouped) {
        qint64 first = 0;
        for (const MonthCount &m : counts.months.value()) {
            if (m.count <= 0 || first + m.count > m_total)
                continue; // a month the listing cannot hold: the library changed between queries
            m_sections.push_back({monthTitle(m.year, m.month, m.count), first, m.count});
            first += m.count;
        }
        if (first < m_total) // photos without any date come last
            m_sections.push_back({monthTitle(0, 0, m_total - first), first, m_total - first});
        for (size_t i = 0; i < m_sections.size(); ++i)
            m_headerRows.push_back(int(m_sections[i].firstPhoto + qint64(i)));
    }
    endResetModel();
    if (!error.isEmpty())
        Q_EMIT errorOccurred(error);
    Q_EMIT loaded(m_total);
}

int LibraryModel::rowCount(const QModelIndex &parent) const {
    if (parent.isValid())
        return 0;
    return int(qMin<qint64>(m_total + qint64(m_headerRows.size()), INT_MAX));
}

int LibraryModel::sectionOfRow(int row) const {
    // The last header at or before the row.
    auto it = std::upper_bound(m_headerRows.begin(), m_headerRows.end(), row);
    return int(it - m_headerRows.begin()) - 1;
}

bool LibraryModel::isHeader(int row) const {
    return std::binary_search(m_headerRows.begin(), m_headerRows.end(), row);
}

qint64 LibraryModel::photoOffsetOfRow(int row) const {
    if (row < 0 || row >= rowCount())
        return -1;
    if (m_headerRows.empty())
        return row;
    if (isHeader(row))
        return -1;
    return row - (sectionOfRow(row) + 1);
}

int LibraryModel::rowOfPhotoOffset(qint64 offset) const {
    if (offset < 0 || offset >= m_total)
        return -1;
    if (m_headerRows.empty())
        return int(offset);
    // Headers before it: the sections that start at or before the offset.
    auto it = std::upper_bound(m_sections.begin(), m_sections.end(), offset,
                               [](qint64 o, const Section &s) { return o < s.firstPhoto; });
    return int(offset + (it - m_sections.begin()));
}

void LibraryModel::touch(qint64 page) const {
    m_pageUse[page] = ++m_useClock;
}

const PhotoRecord *LibraryModel::photoAt(int row) const {
    const qint64 offset = photoOffsetOfRow(row);
    if (offset < 0)
        return nullptr;
    auto it = m_pages.constFind(offset / kPageSize);
    if (it == m_pages.constEnd())
        return nullptr;
    const size_t i = size_t(offset % kPageSize);
    return i < it->size() ? &(*it)[i] : nullptr;
}

void LibraryModel::wantPage(qint64 page) const {
    if (m_inFlight.contains(page))
        return;
    if (m_wantedSet.contains(page)) {
        // Move it to the front: what was painted last is what the user looks at.
        m_wanted.erase(std::find(m_wanted.begin(), m_wanted.end(), page));
    }
    m_wanted.push_front(page);
    m_wantedSet.insert(page);
    // Scrolled past: drop the oldest wishes (never the pages a path job waits for).
    while (int(m_wanted.size()) > kMaxWantedPages) {
        auto victim = std::find_if(m_wanted.rbegin(), m_wanted.rend(),
                                   [this](qint64 p) { return !m_jobPages.contains(p); });
        if (victim == m_wanted.rend())
            break;
        m_wantedSet.remove(*victim);
        m_wanted.erase(std::next(victim).base());
    }
    schedulePump();
}

void LibraryModel::schedulePump() const {
    if (m_pumpScheduled)
        return;
    m_pumpScheduled = true;
    QTimer::singleShot(0, const_cast<LibraryModel *>(this), &LibraryModel::pump);
}

// One page per event-loop turn when the listing runs on this thread (input and painting get
// their turn in between); up to two at a time on workers otherwise.
void LibraryModel::pump() {
    m_pumpScheduled = false;
    if (!m_listing || m_countsPending)
        return; // reload() brings new counts; the pages are wanted again when painted
    const bool threaded = m_listing->isThreadSafe();
    const int maxInFlight = threaded ? 2 : 1;
    while (!m_wanted.empty() && m_inFlight.size() < maxInFlight) {
        const qint64 page = m_wanted.front();
        m_wanted.pop_front();
        m_wantedSet.remove(page);
        if (m_pages.contains(page))
            continue;
        m_inFlight.insert(page);
        auto listing = m_listing;
        const PhotoFilter filter = m_filter;
        const SortOrder order = m_order;
        const quint64 generation = m_generation;
        auto work = [listing, filter, order, page] {
            return listing->listPhotos(filter, order, page * kPageSize, kPageSize);
        };
        if (threaded) {
            // Wrapped: a future's value type must be default-constructible, a Result is not.
            struct Answer {
                Result<std::vector<PhotoRecord>> records = std::vector<PhotoRecord>{};
            };
            QtConcurrent::run([work] {
                return Answer{work()};
            }).then(this, [this, generation, page](const Answer &a) {
                QTimer::singleShot(0, this, [this, generation, page, a] {
                    applyPage(generation, page, a.records);
                });
            });
        } else {
            applyPage(generation, page, work());
            break;
        }
    }
    if (!m_wanted.empty())
        schedulePump();
}

void LibraryModel::applyPage(quint64 generation, qint64 page,
                             const Result<std::vector<PhotoRecord>> &records) {
    if (generation != m_generation)
        return;
    m_inFlight.remove(page);
    if (!records.ok()) {
        Q_EMIT errorOccurred(records.error().message);
        finishJobs(page, &records.error());
        schedulePump();
        return;
    }
    // Keep the cache bounded: drop the least recently used pages no job waits for.
    while (m_pages.size() >= kMaxCachedPages) {
        qint64 oldest = -1;
        quint64 oldestUse = ~quint64(0);
        for (auto it = m_pageUse.cbegin(); it != m_pageUse.cend(); ++it) {
            if (it.value() < oldestUse && !m_jobPages.contains(it.key())) {
                oldest = it.key();
                oldestUse = it.value();
            }
        }
        if (oldest < 0)
            break;
        for (const PhotoRecord &r : m_pages.value(oldest))
            m_rowsOfPath.remove(r.path);
        m_pages.remove(oldest);
        m_pageUse.remove(oldest);
    }
    m_pages.insert(page, records.value());
    touch(page);
    const qint64 first = page * kPageSize;
    const qint64 count = qint64(records.value().size());
    for (qint64 i = 0; i < count; ++i)
        m_rowsOfPath.insert(records.value()[size_t(i)].path, rowOfPhotoOffset(first + i));
    if (count > 0) {
        const int top = rowOfPhotoOffset(first);
        const int bottom = rowOfPhotoOffset(first + count - 1);
        if (top >= 0 && bottom >= 0)
            Q_EMIT dataChanged(index(top), index(bottom));
    }
    finishJobs(page, nullptr);
    Q_EMIT pageLoaded(page);
    schedulePump();
}

void LibraryModel::collectPaths(QList<int> rows, PathsCallback done) {
    std::sort(rows.begin(), rows.end());
    PathJob job{std::move(rows), {}, std::move(done)};
    for (int row : std::as_const(job.rows)) {
        const qint64 offset = photoOffsetOfRow(row);
        if (offset >= 0 && !m_pages.contains(offset / kPageSize))
            job.missing.insert(offset / kPageSize);
    }
    if (job.missing.isEmpty()) {
        QStringList paths;
        for (int row : std::as_const(job.rows))
            if (const PhotoRecord *r = photoAt(row))
                paths << r->path;
        job.done(paths);
        return;
    }
    for (qint64 page : std::as_const(job.missing)) {
        m_jobPages.insert(page);
        if (!m_inFlight.contains(page) && !m_wantedSet.contains(page)) {
            m_wanted.push_back(page);
            m_wantedSet.insert(page);
        }
    }
    m_jobs.push_back(std::move(job));
    schedulePump();
}

void LibraryModel::finishJobs(qint64 page, const Error *error) {
    std::vector<PathJob> ready;
    for (auto it = m_jobs.begin(); it != m_jobs.end();) {
        if (it->missing.remove(page) && (error || it->missing.isEmpty())) {
            ready.push_back(std::move(*it));
            it = m_jobs.erase(it);
        } else {
            ++it;
        }
    }
    m_jobPages.clear();
    for (const PathJob &job : m_jobs)
        m_jobPages.unite(job.missing);
    for (PathJob &job : ready) {
        if (error) {
            job.done(*error);
            continue;
        }
        QStringList paths;
        for (int row : std::as_const(job.rows))
            if (const PhotoRecord *r = photoAt(row))
                paths << r->path;
        job.done(paths);
    }
}

QVariant LibraryModel::data(const QModelIndex &index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const int row = index.row();
    if (isHeader(row)) {
        switch (role) {
        case Qt::DisplayRole:
        case Qt::AccessibleTextRole:
            return m_sections[size_t(sectionOfRow(row))].title;
        case HeaderRole:
            return true;
        default:
            return {};
        }
    }
    switch (role) {
    case HeaderRole:
        return false;
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
    case Qt::AccessibleTextRole:
    case PathRole:
    case PhotoIdRole:
    case ScoreTextRole:
    case DateTakenRole:
    case LoadedRole:
    case ThumbnailRole:
    case Qt::DecorationRole:
        break;
    default:
        return {}; // layout and style roles: no page is needed for them
    }
    const qint64 offset = photoOffsetOfRow(row);
    const qint64 page = offset / kPageSize;
    const PhotoRecord *photo = photoAt(row);
    if (!photo) {
        // Never a query here: note the page, the pump fetches it after this paint.
        if (offset >= 0 && role != LoadedRole)
            wantPage(page);
        if (role == ThumbnailRole || role == Qt::DecorationRole)
            return ThumbnailLoader::placeholder();
        if (role == LoadedRole)
            return false;
        return {};
    }
    touch(page);
    switch (role) {
    case Qt::DisplayRole:
        return QFileInfo(photo->path).fileName();
    case Qt::ToolTipRole:
    case Qt::AccessibleTextRole: {
        const QString date =
            photo->taken ? QLocale().toString(*photo->taken, QLocale::ShortFormat) : tr("no date");
        return QStringLiteral("%1\n%2").arg(photo->path, date);
    }
    case PathRole:
        return photo->path;
    case PhotoIdRole:
        return photo->id;
    case ScoreTextRole: // the tile's badge: when it was taken
        return photo->taken ? QLocale().toString(photo->taken->date(), QLocale::ShortFormat)
                            : QString();
    case DateTakenRole:
        return photo->taken ? QVariant(*photo->taken) : QVariant();
    case LoadedRole:
        return true;
    case ThumbnailRole:
    case Qt::DecorationRole:
        if (m_loader) {
            const QImage img = m_loader->thumbnail(photo->path);
            if (!img.isNull())
                return img;
            m_loader->request(photo->path);
        }
        return ThumbnailLoader::placeholder();
    default:
        return {};
    }
}

Qt::ItemFlags LibraryModel::flags(const QModelIndex &index) const {
    if (!index.isValid())
        return Qt::NoItemFlags;
    if (isHeader(index.row()))
        return Qt::ItemIsEnabled | Qt::ItemNeverHasChildren;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled |
           Qt::ItemNeverHasChildren;
}

QHash<int, QByteArray> LibraryModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names.insert(PathRole, "path");
    names.insert(PhotoIdRole, "photoId");
    names.insert(ScoreTextRole, "scoreText");
    names.insert(ThumbnailRole, "thumbnail");
    names.insert(HeaderRole, "isHeader");
    names.insert(DateTakenRole, "dateTaken");
    names.insert(LoadedRole, "loaded");
    return names;
}

QStringList LibraryModel::mimeTypes() const {
    return {QStringLiteral("text/uri-list")};
}

// A drag needs its data now: the rows being dragged were just painted, so their pages are cached;
// a row whose page is not (a "select all" over 100,000 photos) is left out rather than queried
// here.
QMimeData *LibraryModel::mimeData(const QModelIndexList &indexes) const {
    QStringList paths;
    for (const QModelIndex &idx : indexes)
        if (const PhotoRecord *r = photoAt(idx.row()))
            paths << r->path;
    return photoMimeData(paths);
}

void LibraryModel::onThumbnailReady(const QString &path) {
    const auto range = m_rowsOfPath.equal_range(path);
    for (auto it = range.first; it != range.second; ++it) {
        const QModelIndex idx = index(*it);
        Q_EMIT dataChanged(idx, idx, {ThumbnailRole, Qt::DecorationRole});
    }
}

} // namespace ts
