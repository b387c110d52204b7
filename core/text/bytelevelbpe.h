#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ts {

// GPT-2 byte-level BPE over a merge table: UTF-8 bytes -> byte symbols (bytes_to_unicode) ->
// merges by rank, exactly as Hugging Face's slow `bpe()` does it (each round merges every
// occurrence of the lowest-ranked adjacent pair, left to right).
//
// Symbols are small integers: 0..255 are the single bytes, the others are the strings that the
// merge table can build. Two implementations give identical results: a direct one for short
// pieces, and an O(n log n) one (linked list + heap) for long ones, so a 1 MB word takes
// about a second instead of HF's quadratic hours. Results of short pieces are cached.
//
// Thread-safety: after construction every const function may be called from any thread
// concurrently (the cache is internally locked).
class ByteLevelBpe {
public:
    // `merges` in file order; a pair listed twice keeps its last rank (Python dict semantics).
    explicit ByteLevelBpe(const std::vector<std::pair<std::string, std::string>> &merges);

    // GPT-2's bytes_to_unicode(): the printable stand-in for `byte`, as UTF-8.
    static std::string byteToUnicode(uint8_t byte);
    // The inverse: the byte a code point stands for, or -1 when it is not a stand-in.
    static int unicodeToByte(char32_t c);

    // BPE of one pre-token given as raw UTF-8 bytes; appends the resulting symbols.
    void encode(std::string_view utf8, std::vector<int32_t> &symbols) const;

    // Reference and fast algorithms, public so that tests can check them against each other.
    std::vector<int32_t> mergeDirect(std::vector<int32_t> symbols) const;
    std::vector<int32_t> mergeLinked(std::vector<int32_t> symbols) const;

    // The byte-level string of a symbol ("Ġthe"); symbol ids are < symbolCount().
    const std::string &symbolText(int32_t symbol) const { return m_symbolText[size_t(symbol)]; }
    int32_t symbolCount() const { return int32_t(m_symbolText.size()); }

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    static uint64_t pairKey(int32_t a, int32_t b) {
        return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
    }
    const Merge *findMerge(int32_t a, int32_t b) const;
    int32_t intern(const std::string &text);

    std::vector<std::string> m_symbolText;
    std::unordered_map<std::string, int32_t> m_symbolIds;
    std::unordered_map<uint64_t, Merge> m_merges;

    // Cache of short pieces (key: raw UTF-8). Bounded: cleared when full.
    mutable std::shared_mutex m_cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> m_cache;
};

} // namespace ts
