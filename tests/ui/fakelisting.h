#pragma once

// A library of N made-up photos in memory behind the ui's PhotoListing, for the library view's
// offscreen tests and its benchmark (100,000 photos without a catalog). Dates, folders and names
// are generated deterministically; every query can be given a latency (what a SQLite page costs)
// and is counted, with the thread it ran on.
#include "ui/photolisting.h"

#include <QDateTime>
#include <QMutex>
#include <QThread>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <vector>

namespace ts::test {

class FakeListing : public PhotoListing {
public:
    // Photo i (id i + 1) lies in <root>/<year>/f<i % folders>/, is named IMG_<(i * 7919) % n>.jpg
    // and was taken `i * stepMinutes` minutes before `newest`; every `undatedEvery`-th has no date.
    FakeListing(int n, bool threadSafe, int undatedEvery = 0, int stepMinutes = 37, int folders = 5,
                const QString &root = QStringLiteral("/library"))
        : m_threadSafe(threadSafe) {
        const QDateTime newest(QDate(2026, 11, 30), QTime(18, 0));
        m_photos.reserve(size_t(n));
        for (int i = 0; i < n; ++i) {
            PhotoRecord r;
            r.id = i + 1;
            if (!(undatedEvery > 0 && i % undatedEvery == undatedEvery - 1))
                r.taken = newest.addSecs(-qint64(i) * stepMinutes * 60);
            const int year = r.taken ? r.taken->date().year() : 0;
            r.path = QStringLiteral("%1/%2/f%3/IMG_%4.jpg")
                         .arg(root)
                         .arg(year)
                         .arg(i % folders)
                         .arg((qint64(i) * 7919) % n);
            r.width = 4000;
            r.height = 3000;
            r.fileType = QStringLiteral("jpeg");
            m_photos.push_back(r);
        }
    }

    const std::vector<PhotoRecord> &photos() const { return m_photos; }
    bool keeps(const PhotoFilter &f, const PhotoRecord &r) const {
        if (f.takenFromMs && (!r.taken || r.taken->toMSecsSinceEpoch() < *f.takenFromMs))
            return false;
        if (f.takenBeforeMs && (!r.taken || r.taken->toMSecsSinceEpoch() >= *f.takenBeforeMs))
            return false;
        if (!f.folders.isEmpty() &&
            std::none_of(f.folders.begin(), f.folders.end(),
                         [&](const QString &d) { return r.path.startsWith(d + QLatin1Char('/')); }))
            return false;
        return true;
    }
    // The reference order of Library::listPhotos: newest first (undated last), or by file name.
    std::vector<PhotoRecord> ordered(const PhotoFilter &f, SortOrder order) const {
        std::vector<PhotoRecord> out;
        for (const PhotoRecord &r : m_photos)
            if (keeps(f, r))
                out.push_back(r);
        if (order == SortOrder::Name) {
            std::stable_sort(
                out.begin(), out.end(), [](const PhotoRecord &a, const PhotoRecord &b) {
                    const QString na = a.path.section(QLatin1Char('/'), -1),
                                  nb = b.path.section(QLatin1Char('/'), -1);
                    return na != nb ? na < nb : (a.path != b.path ? a.path < b.path : a.id < b.id);
                });
        } else {
            std::stable_sort(out.begin(), out.end(),
                             [](const PhotoRecord &a, const PhotoRecord &b) {
                                 if (a.taken.has_value() != b.taken.has_value())
                                     return a.taken.has_value();
                                 if (a.taken && *a.taken != *b.taken)
                                     return *a.taken > *b.taken;
                                 return a.id < b.id;
                             });
        }
        return out;
    }

    void setLatencyMs(int ms) { m_latencyMs = ms; }
    void setFailure(const QString &message) { m_failure = message; }
    int listCalls() const { return m_listCalls; }
    int countCalls() const { return m_countCalls; }
    bool ranOffThread() const { return m_offThread; }
    Qt::HANDLE lastThread() const { return m_lastThread; }

    bool isThreadSafe() const override { return m_threadSafe; }
    Result<qint64> countPhotos(const PhotoFilter &filter) const override {
        enter();
        ++m_countCalls;
        if (!m_failure.isEmpty())
            return Error(Error::Code::Io, m_failure);
        return qint64(cached(filter, SortOrder::DateTaken)->size());
    }
    Result<std::vector<MonthCount>> monthCounts(const PhotoFilter &filter) const override {
        enter();
        if (!m_failure.isEmpty())
            return Error(Error::Code::Io, m_failure);
        std::vector<MonthCount> out;
        const Ordered all = cached(filter, SortOrder::DateTaken);
        for (const PhotoRecord &r : *all) {
            if (!r.taken)
                continue;
            const QDate d = r.taken->date();
            if (out.empty() || out.back().year != d.year() || out.back().month != d.month())
                out.push_back({d.year(), d.month(), 0});
            ++out.back().count;
        }
        return out;
    }
    Result<std::vector<PhotoRecord>> listPhotos(const PhotoFilter &filter, SortOrder order,
                                                qint64 offset, int limit) const override {
        enter();
        ++m_listCalls;
        if (!m_failure.isEmpty())
            return Error(Error::Code::Io, m_failure);
        const Ordered all = cached(filter, order);
        std::vector<PhotoRecord> page;
        for (qint64 i = offset; i < qint64(all->size()) && i < offset + limit; ++i)
            page.push_back((*all)[size_t(i)]);
        return page;
    }

private:
    void enter() const {
        if (m_latencyMs > 0)
            QThread::msleep(ulong(m_latencyMs));
        m_lastThread = QThread::currentThreadId();
        if (QThread::currentThread() != m_creator)
            m_offThread = true;
    }
    using Ordered = std::shared_ptr<const std::vector<PhotoRecord>>;
    Ordered cached(const PhotoFilter &filter, SortOrder order) const {
        if (order != SortOrder::Name)
            order = SortOrder::DateTaken;
        QMutexLocker lock(&m_mutex);
        for (auto &entry : m_cache)
            if (entry.first.first == filter && entry.first.second == order)
                return entry.second;
        if (m_cache.size() > 16)
            m_cache.erase(m_cache.begin());
        m_cache.push_back(
            {{filter, order},
             std::make_shared<const std::vector<PhotoRecord>>(ordered(filter, order))});
        return m_cache.back().second;
    }

    std::vector<PhotoRecord> m_photos;
    bool m_threadSafe;
    QThread *m_creator = QThread::currentThread();
    int m_latencyMs = 0;
    QString m_failure;
    mutable std::atomic<int> m_listCalls{0}, m_countCalls{0};
    mutable std::atomic<bool> m_offThread{false};
    mutable std::atomic<Qt::HANDLE> m_lastThread{nullptr};
    mutable QMutex m_mutex;
    mutable std::vector<std::pair<std::pair<PhotoFilter, SortOrder>, Ordered>> m_cache;
};

} // namespace ts::test
