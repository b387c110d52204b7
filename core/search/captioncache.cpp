#include "core/search/captioncache.h"

#include <algorithm>

namespace ts {

CaptionCache::CaptionCache(int capacity, qint64 budgetBytes)
    : m_capacity(std::max(1, capacity)), m_budgetBytes(std::max<qint64>(0, budgetBytes)) {}

QString CaptionCache::keyOf(const QString &modelKey, Precision precision, const QString &text) {
    // The model key is hex and the precision a digit, so the first two separators are unambiguous
    // whatever the text holds.
    return modelKey + QLatin1Char('\n') + QString::number(int(precision)) + QLatin1Char('\n') +
           text;
}

std::optional<PreparedText> CaptionCache::get(const QString &modelKey, Precision precision,
                                              const QString &text) {
    const std::lock_guard lock(m_mutex);
    const auto it = m_byKey.find(keyOf(modelKey, precision, text));
    if (it == m_byKey.end()) {
        ++m_stats.misses;
        return std::nullopt;
    }
    ++m_stats.hits;
    m_lru.splice(m_lru.begin(), m_lru, *it);
    return (*it)->prepared;
}

void CaptionCache::put(const QString &modelKey, Precision precision, const QString &text,
                       PreparedText prepared) {
    const qint64 bytes = prepared.byteSize();
    if (text.size() > kMaxTextLength || prepared.isNull() || bytes > m_budgetBytes)
        return;
    QString key = keyOf(modelKey, precision, text);
    const std::lock_guard lock(m_mutex);
    if (const auto it = m_byKey.find(key); it != m_byKey.end()) {
        m_bytes -= (*it)->bytes;
        m_lru.erase(*it);
        m_byKey.erase(it);
    }
    m_lru.push_front(Entry{key, std::move(prepared), bytes});
    m_byKey.insert(key, m_lru.begin());
    m_bytes += bytes;
    while (int(m_lru.size()) > m_capacity || m_bytes > m_budgetBytes) {
        m_bytes -= m_lru.back().bytes;
        m_byKey.remove(m_lru.back().key);
        m_lru.pop_back();
    }
}

CaptionCache::Stats CaptionCache::stats() const {
    const std::lock_guard lock(m_mutex);
    Stats s = m_stats;
    s.entries = int(m_lru.size());
    s.bytes = m_bytes;
    return s;
}

} // namespace ts
