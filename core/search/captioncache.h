#pragma once

#include "core/model/precision.h"

#include <QHash>
#include <QString>

#include <list>
#include <mutex>
#include <optional>
#include <vector>

namespace ts {

// The embeddings of recent captions, so that a repeated query (the user going back to an earlier
// search, the same words typed again) is answered without running the text tower.
//
// Entries are keyed by model key, precision and the exact text: embeddings of another model, or
// of the same model in another precision, are never handed out (they differ in their last digits,
// and a search must give the same answer as the first time). Bounded by an entry count, least
// recently used first out; texts longer than kMaxTextLength are not kept (a pasted page is not a
// query worth keeping). Thread-safe: any thread may call any method.
class CaptionCache {
public:
    static constexpr int kDefaultCapacity = 64; // 64 x 512 floats: 128 KiB for the large model
    static constexpr int kMaxTextLength = 1000;

    explicit CaptionCache(int capacity = kDefaultCapacity);

    std::optional<std::vector<float>> get(const QString &modelKey, Precision precision,
                                          const QString &text);
    void put(const QString &modelKey, Precision precision, const QString &text,
             std::vector<float> embedding);

    struct Stats {
        qint64 hits = 0, misses = 0;
        int entries = 0;
    };
    Stats stats() const;
    int capacity() const { return m_capacity; }

private:
    struct Entry {
        QString key;
        std::vector<float> embedding;
    };
    static QString keyOf(const QString &modelKey, Precision precision, const QString &text);

    const int m_capacity;
    mutable std::mutex m_mutex;
    std::list<Entry> m_lru; // most recent first
    QHash<QString, std::list<Entry>::iterator> m_byKey;
    Stats m_stats;
};

} // namespace ts
