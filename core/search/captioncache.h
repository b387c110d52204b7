#pragma once

#include "core/common/precision.h"
#include "core/model/bridgetowermodel.h"

#include <QHash>
#include <QString>

#include <list>
#include <mutex>
#include <optional>
#include <vector>

namespace ts {

// Recent captions as the text tower left them (PreparedText: the search embedding and the text side
// of the rerank), so that a repeated query (the user going back to an earlier search, the same
// words typed again) runs neither the text tower for its search nor again for its rerank.
//
// Entries are keyed by model key, precision and the exact text: embeddings of another model, or
// of the same model in another precision, are never handed out (they differ in their last digits,
// and a search must give the same answer as the first time). Bounded by an entry count, least
// recently used first out, and by bytes (a prepared caption holds one row per token and cross-modal
// layer: ~0.4 MiB for a 13-token caption of the large model); texts longer than kMaxTextLength are
// not kept (a pasted page is not a query worth keeping). Thread-safe: any thread may call any
// method.
class CaptionCache {
public:
    static constexpr int kDefaultCapacity = 64;
    static constexpr qint64 kDefaultBudgetBytes = 32LL << 20;
    static constexpr int kMaxTextLength = 1000;

    explicit CaptionCache(int capacity = kDefaultCapacity,
                          qint64 budgetBytes = kDefaultBudgetBytes);

    std::optional<PreparedText> get(const QString &modelKey, Precision precision,
                                    const QString &text);
    void put(const QString &modelKey, Precision precision, const QString &text,
             PreparedText prepared);

    struct Stats {
        qint64 hits = 0, misses = 0;
        int entries = 0;
        qint64 bytes = 0;
    };
    Stats stats() const;
    int capacity() const { return m_capacity; }

private:
    struct Entry {
        QString key;
        PreparedText prepared;
        qint64 bytes = 0;
    };
    static QString keyOf(const QString &modelKey, Precision precision, const QString &text);

    const int m_capacity;
    const qint64 m_budgetBytes;
    qint64 m_bytes = 0;
    mutable std::mutex m_mutex;
    std::list<Entry> m_lru; // most recent first
    QHash<QString, std::list<Entry>::iterator> m_byKey;
    Stats m_stats;
};

} // namespace ts
