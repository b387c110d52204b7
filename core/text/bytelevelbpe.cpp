#include "core/text/bytelevelbpe.h"

#include <array>
#include <functional>
#include <mutex>
#include <queue>

namespace ts {

namespace {

// Pieces up to this many bytes use the direct algorithm and the cache: almost every word of real
// text. Longer ones (URLs, base64, a 1 MB run without spaces) go to the O(n log n) path.
constexpr size_t kDirectMaxBytes = 64;
constexpr size_t kCacheMaxEntries = 1 << 17;

std::array<char32_t, 256> makeByteTable() {
    std::array<char32_t, 256> table{};
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b)
        printable[size_t(b)] = true;
    for (int b = 0xA1; b <= 0xAC; ++b)
        printable[size_t(b)] = true;
    for (int b = 0xAE; b <= 0xFF; ++b)
        printable[size_t(b)] = true;
    char32_t next = 256;
    for (size_t b = 0; b < 256; ++b)
        table[b] = printable[b] ? char32_t(b) : next++;
    return table;
}

const std::array<char32_t, 256> &byteTable() {
    static const std::array<char32_t, 256> table = makeByteTable();
    return table;
}

void appendUtf8(std::string &out, char32_t c) {
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
}

} // namespace

std::string ByteLevelBpe::byteToUnicode(uint8_t byte) {
    std::string s;
    appendUtf8(s, byteTable()[byte]); // all stand-ins are below U+0800
    return s;
}

int ByteLevelBpe::unicodeToByte(char32_t c) {
    if (c < 256)
        return byteTable()[c] == c ? int(c) : -1;
    if (c < 256 + 68) {
        static const std::array<int, 68> inverse = [] {
            std::array<int, 68> inv{};
            for (size_t b = 0; b < 256; ++b)
                if (byteTable()[b] >= 256)
                    inv[byteTable()[b] - 256] = int(b);
            return inv;
        }();
        return inverse[c - 256];
    }
    return -1;
}

ByteLevelBpe::ByteLevelBpe(const std::vector<std::pair<std::string, std::string>> &merges) {
    for (int b = 0; b < 256; ++b)
        intern(byteToUnicode(uint8_t(b))); // symbol b is byte b
    int32_t rank = 0;
    for (const auto &[left, right] : merges) {
        const int32_t a = intern(left);
        const int32_t b = intern(right);
        const int32_t result = intern(left + right);
        m_merges[pairKey(a, b)] = Merge{rank++, result};
    }
}

int32_t ByteLevelBpe::intern(const std::string &text) {
    auto [it, inserted] = m_symbolIds.try_emplace(text, int32_t(m_symbolText.size()));
    if (inserted)
        m_symbolText.push_back(text);
    return it->second;
}

const ByteLevelBpe::Merge *ByteLevelBpe::findMerge(int32_t a, int32_t b) const {
    const auto it = m_merges.find(pairKey(a, b));
    return it == m_merges.end() ? nullptr : &it->second;
}

void ByteLevelBpe::encode(std::string_view utf8, std::vector<int32_t> &symbols) const {
    if (utf8.empty())
        return;
    std::vector<int32_t> start(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i)
        start[i] = int32_t(uint8_t(utf8[i]));
    if (utf8.size() > kDirectMaxBytes) {
        const std::vector<int32_t> merged = mergeLinked(std::move(start));
        symbols.insert(symbols.end(), merged.begin(), merged.end());
        return;
    }
    const std::string key(utf8);
    {
        std::shared_lock lock(m_cacheMutex);
        if (const auto it = m_cache.find(key); it != m_cache.end()) {
            symbols.insert(symbols.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> merged = mergeDirect(std::move(start));
    symbols.insert(symbols.end(), merged.begin(), merged.end());
    std::unique_lock lock(m_cacheMutex);
    if (m_cache.size() >= kCacheMaxEntries)
        m_cache.clear(); // crude but bounded; a full cache only means recomputing short pieces
    m_cache.emplace(key, std::move(merged));
}

std::vector<int32_t> ByteLevelBpe::mergeDirect(std::vector<int32_t> word) const {
    std::vector<int32_t> next;
    while (word.size() > 1) {
        const Merge *best = nullptr;
        int32_t first = 0;
        int32_t second = 0;
        for (size_t i = 0; i + 1 < word.size(); ++i) {
            const Merge *m = findMerge(word[i], word[i + 1]);
            if (m && (!best || m->rank < best->rank)) {
                best = m;
                first = word[i];
                second = word[i + 1];
            }
        }
        if (!best)
            break;
        next.clear();
        for (size_t i = 0; i < word.size();) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                next.push_back(best->result);
                i += 2;
            } else {
                next.push_back(word[i]);
                ++i;
            }
        }
        word.swap(next);
    }
    return word;
}

std::vector<int32_t> ByteLevelBpe::mergeLinked(std::vector<int32_t> sym) const {
    const int32_t n = int32_t(sym.size());
    std::vector<int32_t> prev(static_cast<size_t>(n));
    std::vector<int32_t> nextOf(static_cast<size_t>(n));
    std::vector<char> alive(size_t(n), 1);
    for (int32_t i = 0; i < n; ++i) {
        prev[size_t(i)] = i - 1;
        nextOf[size_t(i)] = i + 1 < n ? i + 1 : -1;
    }
    // (rank, position): equal ranks pop in position order, which is the left-to-right order of
    // HF's round. Entries go stale when a neighbour merges; they are re-checked when popped.
    using Entry = std::pair<int32_t, int32_t>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap;
    auto pushPair = [&](int32_t i) {
        const int32_t j = nextOf[size_t(i)];
        if (j >= 0)
            if (const Merge *m = findMerge(sym[size_t(i)], sym[size_t(j)]))
                heap.emplace(m->rank, i);
    };
    for (int32_t i = 0; i + 1 < n; ++i)
        pushPair(i);

    std::vector<int32_t> round;
    while (!heap.empty()) {
        // One HF round: every occurrence of the lowest-ranked pair, left to right. Collect the
        // whole round first: a merge may create a pair of lower rank (possible with hand-made merge
        // tables), which HF only considers in the next round.
        const int32_t rank = heap.top().first;
        round.clear();
        while (!heap.empty() && heap.top().first == rank) {
            round.push_back(heap.top().second);
            heap.pop();
        }
        for (const int32_t i : round) {
            if (!alive[size_t(i)])
                continue;
            const int32_t j = nextOf[size_t(i)];
            if (j < 0)
                continue;
            const Merge *m = findMerge(sym[size_t(i)], sym[size_t(j)]);
            if (!m || m->rank != rank)
                continue; // stale: this position's pair changed since it was queued
            sym[size_t(i)] = m->result;
            alive[size_t(j)] = 0;
            nextOf[size_t(i)] = nextOf[size_t(j)];
            if (nextOf[size_t(j)] >= 0)
                prev[size_t(nextOf[size_t(j)])] = i;
            if (prev[size_t(i)] >= 0)
                pushPair(prev[size_t(i)]);
            pushPair(i);
        }
    }
    std::vector<int32_t> out;
    for (int32_t i = 0; i >= 0 && i < n; i = nextOf[size_t(i)])
        out.push_back(sym[size_t(i)]);
    return out;
}

} // namespace ts
