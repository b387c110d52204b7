#pragma once

#include "core/common/result.h"
#include "core/common/tokenbatch.h"

#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace ts {

// How encode() shapes its output. The defaults equal Hugging Face's `tokenizer(text)`.
struct EncodeOptions {
    enum class Padding {
        None,    // no padding (a batch is still padded to its longest row: it must be rectangular)
        Longest, // pad to the longest sequence of the batch (HF padding=True / "longest")
        MaxLength, // pad to maxLength, or to modelMaxLength() when maxLength is unset (no padding
                   // when that is unlimited, as in HF); the caller keeps maxLength sensible
    };

    bool addSpecialTokens = true; // <s> X </s>, or <s> A </s></s> B </s> for pairs
    // Truncate to this many ids, specials included (HF truncation=True, "longest_first", right
    // side). Unset: no truncation. Pass modelMaxLength() to fit the model.
    std::optional<int> maxLength;
    // false: maxLength only sets the padding target (HF truncation=False with max_length).
    bool truncate = true;
    Padding padding = Padding::None;
};

// One encoded sequence; attentionMask is 1 for real tokens, 0 for padding.
struct Encoding {
    std::vector<int64_t> inputIds;
    std::vector<int64_t> attentionMask;
};

// RoBERTa's byte-level BPE tokenizer, a port of Hugging Face's slow `RobertaTokenizer`
// (transformers 4.47): same tokens, ids, masks and decoded strings (tests/data/tokenizer/NOTES.md
// lists the algorithm). No torch, no ICU, no regex engine.
//
// Usage:
//   auto tok = ts::Tokenizer::load(checkpointDir);
//   if (!tok) { report(tok.error()); return; }
//   ts::EncodeOptions opts;
//   opts.maxLength = tok->modelMaxLength();          // what the model accepts
//   ts::Encoding e = tok->encode(QStringLiteral("a cat"), opts);
//
// Ownership and threads: a Tokenizer is a cheap, copyable handle to immutable shared data. Every
// const function may be called from any number of threads at once (the internal BPE cache is
// locked). A default-constructed Tokenizer is empty: only isValid() may be called on it.
//
// Input: any QString is accepted. Lone UTF-16 surrogates become U+FFFD (HF would raise); decode
// UTF-8 before calling (QString::fromUtf8 replaces invalid bytes with U+FFFD).
// Cost (the bounded-time rule): no input is quadratic. Pre-tokenization is one linear scan; BPE
// of a piece longer than 64 bytes uses an O(n log n) algorithm with exactly HF's result, so a
// 1 MB word takes about a second instead of HF's hours; pieces are never cut, so output
// equals HF's for every input. With truncation, encoding stops early and exactly: a single text
// stops after maxLength - 2 ids (- 0 without specials), each text of a pair after maxLength ids
// (enough to decide HF's longest_first split). A 1 MB text truncated to 512 costs about what
// its first few KB cost, unless its first piece is itself huge.
class Tokenizer {
public:
    Tokenizer();
    ~Tokenizer();
    Tokenizer(const Tokenizer &);
    Tokenizer &operator=(const Tokenizer &);
    Tokenizer(Tokenizer &&) noexcept;
    Tokenizer &operator=(Tokenizer &&) noexcept;

    // Reads a checkpoint folder: vocab.json + merges.txt, or else tokenizer.json; plus
    // tokenizer_config.json and special_tokens_map.json when present (special tokens, their
    // lstrip/rstrip flags, model_max_length, clean_up_tokenization_spaces, add_prefix_space).
    // Fails with NotFound (files missing) or Format/Unsupported (malformed content); the message
    // names the file and, for line-oriented content, the line.
    static Result<Tokenizer> load(const QString &dir);

    bool isValid() const { return m_d != nullptr; }

    // HF tokenize(text): byte-level token strings ("Ġcat"), no <s>/</s>, no truncation; added
    // tokens written in the text (e.g. "<mask>") appear as themselves.
    QStringList tokenize(const QString &text) const;

    Encoding encode(const QString &text, const EncodeOptions &opts = {}) const;
    Encoding encodePair(const QString &text, const QString &pair,
                        const EncodeOptions &opts = {}) const;
    // Every text encoded with `opts`, then right-padded with padTokenId() to one length (see
    // EncodeOptions::Padding): row-major [batchSize, seqLength], what the model eats.
    TokenBatch encodeBatch(const QStringList &texts, const EncodeOptions &opts = {}) const;

    // Ids back to text: tokens joined, byte stand-ins mapped back, UTF-8 decoded with U+FFFD for
    // broken sequences (Python errors="replace"). Special tokens are rendered inline unless
    // skipped. cleanUpTokenizationSpaces unset: the config's value (default false). Ids outside the
    // vocabulary are rendered as the unknown token.
    QString decode(const std::vector<int64_t> &ids, bool skipSpecialTokens = false,
                   std::optional<bool> cleanUpTokenizationSpaces = std::nullopt) const;

    // The token string of an id ("Ġcat", "<s>"); empty when the id is unknown.
    QString idToToken(int64_t id) const;
    std::optional<int64_t> tokenToId(const QString &token) const;

    // Special token ids; -1 when the tokenizer has no such token.
    int64_t padTokenId() const;
    int64_t bosTokenId() const;
    int64_t eosTokenId() const;
    int64_t maskTokenId() const;
    int64_t unkTokenId() const;
    int64_t clsTokenId() const;
    int64_t sepTokenId() const;
    // HF's all_special_ids: the named special tokens (bos, eos, unk, sep, pad, cls, mask) and
    // additional_special_tokens; these are what decode(..., skipSpecialTokens=true) drops.
    bool isSpecial(int64_t id) const;

    // One past the largest id (vocabulary plus added tokens): the embedding rows the model needs.
    int64_t vocabSize() const;
    // model_max_length of tokenizer_config.json; INT_MAX ("no limit", HF's huge default) when
    // absent.
    int modelMaxLength() const;

private:
    struct Impl;
    explicit Tokenizer(std::shared_ptr<const Impl> d);
    std::shared_ptr<const Impl> m_d;
};

} // namespace ts
