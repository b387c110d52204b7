#pragma once

#include "core/common/floattensor.h"

#include <QString>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace ts {

// Caches each photo's vision-side inputs to the cross-modal layers (BridgeTowerModel's "fusion
// inputs", [1, Lc, tokens, H]). They do not depend on the query, and computing them is the whole
// vision tower, so a rerank that finds them here runs only the text side and the cross-modal
// layers.
//
// Two tiers: an in-memory LRU bounded in bytes (float32, exact), and an optional disk tier bounded
// in bytes (float16, half the size; written atomically, evicted oldest-first) that the indexer may
// fill ahead of time. Entries are keyed by photo id and a `stamp` the caller derives from the file
// (size and mtime), so a changed photo never reuses stale features; everything lives under one
// model key. Thread-safe.
class FusionCache {
public:
    struct Options {
        qint64 memoryBudgetBytes = 256LL << 20;
        qint64 diskBudgetBytes = 0; // 0: no disk tier
        QString diskDirectory;      // required when diskBudgetBytes > 0
    };
    struct Stats {
        qint64 memoryHits = 0, diskHits = 0, misses = 0;
        qint64 memoryBytes = 0, diskBytes = 0;
    };

    FusionCache(QString modelKey, Options options);
    ~FusionCache();

    std::optional<FloatTensor> get(qint64 photoId, const QString &stamp);
    // Stores in memory, and on disk when there is a disk tier. Disk failures are not fatal: the
    // cache is an optimisation (they are counted in stats and the entry stays in memory).
    void put(qint64 photoId, const QString &stamp, const FloatTensor &features);
    void remove(qint64 photoId);
    Stats stats() const;
    const QString &modelKey() const { return m_modelKey; }

private:
    struct Entry {
        qint64 id;
        QString stamp;
        FloatTensor features;
    };
    QString diskPath(qint64 photoId, const QString &stamp) const;
    std::optional<FloatTensor> readDisk(const QString &path) const;
    void writeDisk(const QString &path, const FloatTensor &features);
    void insertMemory(qint64 photoId, const QString &stamp, FloatTensor features);
    void enforceDiskBudget();

    QString m_modelKey;
    Options m_options;
    mutable std::mutex m_mutex;
    std::list<Entry> m_lru; // most recent first
    std::unordered_map<qint64, std::list<Entry>::iterator> m_byId;
    qint64 m_memoryBytes = 0;
    qint64 m_diskBytes = 0;
    Stats m_stats;
};

} // namespace ts
