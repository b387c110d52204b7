#include "core/search/captioncache.h"

#include <algorithm>

namespace ts {

CaptionCache::CaptionCache(int capacity) : m_capacity(std::max(1, capacity)) {}

QString CaptionCache::keyOf(const QString &modelKey, Precision precision, const QString &text) {
    // The model key is hex and the precision a digit, so the first two separators are unambiguous
    // whatever the text holds.
    return modelKey + QLatin1Char('\n') + QString::number(int(precision)) + QLatin1Char('\n') +
           text;
}

std::optional<std::vector<float>> CaptionCache::get(const QString &modelKey, Precision precision,
                                                    const QString &text) {
    const std::lock_guard lock(m_mutex);
    const auto it = m_byKey.find(keyOf(modelKey, precision, text));
    if (it == m_byKey.end()) {
        ++m_stats.misses;
        return std::nullopt;
    }
    ++m_stats.hits;
    m_lru.splice(m_lru.begin(), m_lru, *it);
    return (*it)->embedding;
}

void CaptionCache::put(const QString &modelKey, Precision precision, const QString &text,
                       std::vector<float> embedding) {
    if (text.size() > kMaxTextLength)
        return;
    QString key = keyOf(modelKey, precision, text);
    const std::lock_guard lock(m_mutex);
    if (const auto it = m_byKey.find(key); it != m_byKey.end()) {
        (*it)->embedding = std::move(embedding);
        m_lru.splice(m_lru.begin(), m_lru, *it);
        return;
    }
    m_lru.push_front(Entry{key, std::move(embedding)});
    m_byKey.insert(key, m_lru.begin());
    while (int(m_lru.size()) > m_capacity) {
        m_byKey.remove(m_lru.back().key);
        m_lru.pop_back();
    }
}

CaptionCache::Stats CaptionCache::stats() const {
    const std::lock_guard lock(m_mutex);
    Stats s = m_stats;
    s.entries = int(m_lru.size());
    return s;
}

} // namespace ts
