#pragma once

#include <functional>
#include <string_view>

namespace ts {

// GPT-2's pre-tokenization: splits text into the pieces that Python's `regex` module finds with
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// (findall, case-sensitive), written as a linear scanner: no regex engine, no per-call setup.
// Every code point of the input lands in exactly one piece, in order.
// Stateless and thread-safe.
class PreTokenizer {
public:
    // Called for each piece in order; return false to stop the scan (nothing more is emitted).
    using PieceFn = std::function<bool(std::u32string_view piece)>;

    static void split(std::u32string_view text, const PieceFn &emit);
};

} // namespace ts
