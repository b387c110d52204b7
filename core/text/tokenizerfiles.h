#pragma once

#include "core/common/result.h"

#include <QString>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ts {

// A token that is matched in raw text before pre-tokenization (HF's AddedToken).
struct AddedTokenSpec {
    std::string content; // UTF-8
    int64_t id = -1;     // -1: not known yet (a named special token missing from the vocabulary)
    bool lstrip = false; // strip all whitespace on the left of a match
    bool rstrip = false; // ... on the right
    bool special = false;
};

// A named special token (`bos_token`, `mask_token`, ...) as the config files give it; flags are
// unset when the file gives only the string.
struct NamedTokenSpec {
    std::string content;
    std::optional<bool> lstrip;
    std::optional<bool> rstrip;
};

// The raw content of a tokenizer folder, read and validated, before the tokenizer is built:
// vocab.json + merges.txt (or tokenizer.json), tokenizer_config.json, special_tokens_map.json.
// Plain data; `read` is thread-safe (it only reads files).
struct TokenizerFiles {
    std::vector<std::pair<std::string, int64_t>> vocab;      // file order
    std::vector<std::pair<std::string, std::string>> merges; // rank order
    std::vector<AddedTokenSpec> addedTokens;                 // from added_tokens_decoder
    std::map<std::string, std::optional<NamedTokenSpec>>
        namedTokens; // role -> token; nullopt: none
    std::vector<NamedTokenSpec> additionalSpecialTokens;
    std::optional<double> modelMaxLength;
    bool cleanUpTokenizationSpaces = false;
    bool addPrefixSpace = false;

    // Reads `dir`. Fails with NotFound when neither vocab.json + merges.txt nor tokenizer.json
    // exists, and with Format for malformed content; messages name the file and, where there is
    // one, the line.
    static Result<TokenizerFiles> read(const QString &dir);
};

} // namespace ts
