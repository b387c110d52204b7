#pragma once

#include "core/common/result.h"

#include <nlohmann/json.hpp>

#include <QByteArray>
#include <QString>

#include <string>
#include <string_view>
#include <vector>

namespace ts {

// Limits for every JSON file the app reads (checkpoint folders come from anyone on the Hub).
// nlohmann's DOM took 37 bytes of peak RSS per byte of a 10 MB "[[[[...]]]]" and 16 per byte of a
// flat "[0,0,...]" (nlohmann 3.11.2), so a file is refused by size before it is read and by depth
// while it is parsed, before the deeper value is built. Within the size caps below a flat file
// can still cost ~16x its size for a moment. Real files are far inside these limits:
//   depth: every JSON fixture in tests/data nests at most 6 levels; serde_json (what Hugging
//          Face's safetensors and tokenizers parse with) stops at 128.
inline constexpr int kMaxJsonDepth = 64;
//   config.json, preprocessor_config.json, tokenizer_config.json, special_tokens_map.json,
//   *.index.json: a few KB each for BridgeTower.
inline constexpr qint64 kMaxConfigJsonBytes = 16LL * 1024 * 1024;
//   vocab.json, merges.txt, tokenizer.json: RoBERTa's vocab.json is 1.0 MB (tests/data); the cap
//   leaves room for vocabularies many times larger.
inline constexpr qint64 kMaxTokenizerFileBytes = 64LL * 1024 * 1024;
//   The safetensors header: Hugging Face's safetensors refuses more than 100,000,000 bytes
//   (MAX_HEADER_SIZE in safetensors/src/tensor.rs); a real one takes ~125 bytes per tensor (the
//   tiny-add fixture: 25,816 bytes for 207 tensors), well under 1 MB for BridgeTower.
inline constexpr qint64 kMaxSafetensorsHeaderBytes = 100'000'000;

// Reads a whole file of at most `maxBytes`. Errors name the file (and the limit when exceeded).
// Thread-safe.
Result<QByteArray> readFileBytes(const QString &path, qint64 maxBytes);

// Parses JSON text. `source` names the text in errors ("<source>: not valid JSON at line 3,
// column 7"); nesting deeper than `maxDepth` arrays/objects is refused while parsing, before the
// deeper levels are allocated. `topLevelKeys`, when set, receives the root object's keys in file
// order (nlohmann::json sorts them; ordered_json keeps the order but inserts in linear time).
// Thread-safe; never throws.
Result<nlohmann::json> parseJson(std::string_view text, const QString &source,
                                 int maxDepth = kMaxJsonDepth,
                                 std::vector<std::string> *topLevelKeys = nullptr);

// readFileBytes() then parseJson(), the file path naming both.
Result<nlohmann::json> readJsonFile(const QString &path, qint64 maxBytes = kMaxConfigJsonBytes,
                                    int maxDepth = kMaxJsonDepth,
                                    std::vector<std::string> *topLevelKeys = nullptr);

} // namespace ts
