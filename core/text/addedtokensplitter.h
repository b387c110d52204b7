#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ts {

// Splits raw text on added/special tokens before pre-tokenization, as HF's slow tokenizer does
// with its trie: scanning left to right, the longest token starting at the earliest position wins;
// then each match's lstrip/rstrip removes all whitespace (Python str.isspace) of the neighbouring
// text chunk, and empty text chunks are dropped.
// Immutable after construction; thread-safe.
class AddedTokenSplitter {
public:
    struct Token {
        std::u32string content;
        int64_t id = -1;
        bool lstrip = false;
        bool rstrip = false;
    };
    struct Chunk {
        std::u32string_view text; // a view into the input; meaningful when id < 0
        int64_t id = -1;          // the added token's id, or -1 for plain text
    };

    explicit AddedTokenSplitter(std::vector<Token> tokens = {});

    // The chunks of `text`, in order; views point into `text`.
    std::vector<Chunk> split(std::u32string_view text) const;

private:
    std::vector<Token> m_tokens;
    // First code point -> indices into m_tokens, longest content first.
    std::unordered_map<char32_t, std::vector<size_t>> m_byFirstChar;
};

} // namespace ts
