#include "core/text/tokenizer.h"

#include "core/text/addedtokensplitter.h"
#include "core/text/bytelevelbpe.h"
#include "core/text/pretokenizer.h"
#include "core/text/tokenizerfiles.h"
#include "core/text/unicodeclasses.h"
#include "core/text/utf8.h"

#include <algorithm>
#include <climits>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace ts {

struct Tokenizer::Impl {
    std::unique_ptr<ByteLevelBpe> bpe;
    std::vector<int64_t> symbolIds; // BPE symbol -> token id (-1: not in the vocabulary, no unk)
    std::unordered_map<std::string, int64_t> vocab;
    std::unordered_map<int64_t, std::string> idToToken; // vocab, overridden by added tokens
    std::unordered_map<std::string, int64_t> addedByContent;
    AddedTokenSplitter splitter;
    std::unordered_set<int64_t> specialIds;
    std::unordered_set<int64_t> legacyAddedIds; // added but not special: decoded as separate words
    int64_t pad = -1, bos = -1, eos = -1, mask = -1, unk = -1, cls = -1, sep = -1;
    int64_t size = 0;
    int maxLength = INT_MAX;
    bool cleanUp = false;
    bool addPrefixSpace = false;

    int64_t idOf(const std::string &token) const;
    // Appends the ids (and, when `tokens` is set, the token strings) of `text`; stops once at
    // least `limit` ids exist. Every id appended is final: stopping never changes earlier ids.
    void tokenizeInto(const QString &text, size_t limit, std::vector<int64_t> &ids,
                      QStringList *tokens) const;
    Encoding encode(const QString &a, const QString *b, const EncodeOptions &opts) const;
    std::string tokenBytes(const std::string &token) const;

    // load(), step by step.
    class AddedTokens;
    void setVocabulary(const TokenizerFiles &f);
    void setSpecialTokens(const TokenizerFiles &f, AddedTokens &added);
    void setAddedTokens(const std::vector<AddedTokenSpec> &added);
    void setBpe(const TokenizerFiles &f);
};

// The added tokens: the config's list, then the named special tokens it lacks (HF adds those at
// init, with the vocabulary's id when the token is there and a new id past the end otherwise).
class Tokenizer::Impl::AddedTokens {
public:
    AddedTokens(std::vector<AddedTokenSpec> added, const Impl &d)
        : m_added(std::move(added)), m_vocab(d.vocab), m_maxId(d.size - 1) {
        for (const AddedTokenSpec &t : m_added)
            m_maxId = std::max(m_maxId, t.id);
    }

    // The id of a named special token (-1 when unnamed), added when the list lacks it.
    int64_t ensureSpecial(const NamedTokenSpec &spec, bool defaultLstrip) {
        if (spec.content.empty())
            return -1;
        for (AddedTokenSpec &t : m_added)
            if (t.content == spec.content) {
                t.special = true; // the config's flags for it win (HF swaps in its AddedToken)
                return t.id;
            }
        AddedTokenSpec t;
        t.content = spec.content;
        t.lstrip = spec.lstrip.value_or(defaultLstrip);
        t.rstrip = spec.rstrip.value_or(false);
        t.special = true;
        const auto it = m_vocab.find(spec.content);
        t.id = it != m_vocab.end() ? it->second : ++m_maxId;
        m_added.push_back(t);
        return t.id;
    }

    const std::vector<AddedTokenSpec> &all() const { return m_added; }
    int64_t maxId() const { return m_maxId; }

private:
    std::vector<AddedTokenSpec> m_added;
    const std::unordered_map<std::string, int64_t> &m_vocab;
    int64_t m_maxId;
};

namespace {

void truncateRight(std::vector<int64_t> &v, size_t remove) {
    v.resize(remove >= v.size() ? 0 : v.size() - remove);
}

} // namespace

int64_t Tokenizer::Impl::idOf(const std::string &token) const {
    if (const auto it = addedByContent.find(token); it != addedByContent.end())
        return it->second;
    if (const auto it = vocab.find(token); it != vocab.end())
        return it->second;
    return unk;
}

void Tokenizer::Impl::tokenizeInto(const QString &text, size_t limit, std::vector<int64_t> &ids,
                                   QStringList *tokens) const {
    std::u32string u32 = Utf8::fromQString(text);
    if (addPrefixSpace && !u32.empty() && !UnicodeClasses::isPythonSpace(u32.front()))
        u32.insert(u32.begin(), U' ');
    std::vector<int32_t> symbols;
    std::string utf8;
    for (const AddedTokenSplitter::Chunk &chunk : splitter.split(u32)) {
        if (ids.size() >= limit)
            return;
        if (chunk.id >= 0) {
            ids.push_back(chunk.id);
            if (tokens)
                *tokens << Utf8::toQString(std::string_view(idToToken.at(chunk.id)));
            continue;
        }
        PreTokenizer::split(chunk.text, [&](std::u32string_view piece) {
            utf8.clear();
            for (const char32_t c : piece)
                Utf8::append(utf8, c);
            symbols.clear();
            bpe->encode(utf8, symbols);
            for (const int32_t s : symbols) {
                const int64_t id = symbolIds[size_t(s)];
                if (id < 0)
                    continue; // no such token and no <unk>: HF would fail; dropping is the safe
                              // choice
                ids.push_back(id);
                if (tokens)
                    *tokens << Utf8::toQString(std::string_view(bpe->symbolText(s)));
            }
            return ids.size() < limit;
        });
    }
}

Encoding Tokenizer::Impl::encode(const QString &a, const QString *b,
                                 const EncodeOptions &opts) const {
    const size_t numSpecial = opts.addSpecialTokens ? (b ? 4 : 2) : 0;
    const bool truncating = opts.maxLength.has_value() && opts.truncate;
    const size_t maxLen = size_t(std::max(0, opts.maxLength.value_or(0)));

    // Enough tokens to decide HF's truncation result (proved by exhaustive check over lengths):
    // a single text keeps its first maxLen - numSpecial ids (HF leaves it whole when that is not
    // positive, so then everything is needed); with pairs, capping each side at maxLen gives the
    // same longest_first split as the true lengths.
    size_t limit = std::numeric_limits<size_t>::max();
    if (truncating)
        limit = b ? maxLen : (maxLen > numSpecial ? maxLen - numSpecial : limit);

    std::vector<int64_t> first;
    std::vector<int64_t> second;
    tokenizeInto(a, limit, first, nullptr);
    if (b)
        tokenizeInto(*b, limit, second, nullptr);
    if (first.size() > limit)
        first.resize(limit);
    if (second.size() > limit)
        second.resize(limit);

    const size_t total = first.size() + second.size() + numSpecial;
    if (truncating && total > maxLen) {
        const size_t remove = total - maxLen;
        if (!b) {
            if (first.size() > remove) // else HF only logs an error and keeps the sequence whole
                truncateRight(first, remove);
        } else {
            // HF's longest_first: first even out the lengths, then take from both alternately.
            const size_t la = first.size();
            const size_t lb = second.size();
            const size_t firstRemove = std::min(la > lb ? la - lb : lb - la, remove);
            const size_t secondRemove = remove - firstRemove;
            size_t fromA = 0;
            size_t fromB = 0;
            if (la > lb) {
                fromA = firstRemove + secondRemove / 2;
                fromB = secondRemove - secondRemove / 2;
            } else {
                fromA = secondRemove / 2;
                fromB = firstRemove + secondRemove - secondRemove / 2;
            }
            truncateRight(first, fromA);
            truncateRight(second, fromB);
        }
    }

    Encoding e;
    auto addSpecial = [&](int64_t id) {
        if (id >= 0)
            e.inputIds.push_back(id);
    };
    if (opts.addSpecialTokens)
        addSpecial(cls);
    e.inputIds.insert(e.inputIds.end(), first.begin(), first.end());
    if (opts.addSpecialTokens)
        addSpecial(sep);
    if (b) {
        if (opts.addSpecialTokens)
            addSpecial(sep);
        e.inputIds.insert(e.inputIds.end(), second.begin(), second.end());
        if (opts.addSpecialTokens)
            addSpecial(sep);
    }
    e.attentionMask.assign(e.inputIds.size(), 1);
    if (opts.padding == EncodeOptions::Padding::MaxLength) {
        // Without maxLength and without a model limit HF does not pad (it only warns); so here.
        const size_t target =
            opts.maxLength ? maxLen : (maxLength == INT_MAX ? 0 : size_t(maxLength));
        if (e.inputIds.size() < target) {
            e.inputIds.resize(target, pad >= 0 ? pad : 0);
            e.attentionMask.resize(target, 0);
        }
    }
    return e;
}

std::string Tokenizer::Impl::tokenBytes(const std::string &token) const {
    std::string bytes;
    for (const char32_t c : Utf8::decodeLossy(token)) {
        const int b = ByteLevelBpe::unicodeToByte(c);
        if (b >= 0)
            bytes += char(b);
        else
            Utf8::append(bytes, c); // not a byte stand-in (HF raises KeyError): keep the character
    }
    return bytes;
}

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(const Tokenizer &) = default;
Tokenizer &Tokenizer::operator=(const Tokenizer &) = default;
Tokenizer::Tokenizer(Tokenizer &&) noexcept = default;
Tokenizer &Tokenizer::operator=(Tokenizer &&) noexcept = default;
Tokenizer::Tokenizer(std::shared_ptr<const Impl> d) : m_d(std::move(d)) {}

// `size` is set to the largest id + 1 here, and grows with the added tokens.
void Tokenizer::Impl::setVocabulary(const TokenizerFiles &f) {
    int64_t maxId = -1;
    for (const auto &[token, id] : f.vocab) {
        vocab[token] = id; // a repeated key keeps its last id, as Python's json does
        idToToken[id] = token;
        maxId = std::max(maxId, id);
    }
    size = maxId + 1;
}

void Tokenizer::Impl::setSpecialTokens(const TokenizerFiles &f, AddedTokens &added) {
    auto role = [&](const char *name) -> int64_t {
        const auto it = f.namedTokens.find(name);
        if (it == f.namedTokens.end() || !it->second)
            return -1;
        // RobertaTokenizer: "the mask token behaves like a normal word, i.e. includes the space
        // before it".
        const bool isMask = std::string_view(name) == "mask_token";
        return added.ensureSpecial(*it->second, isMask);
    };
    // HF's order of SPECIAL_TOKENS_ATTRIBUTES, so that new ids come out the same.
    bos = role("bos_token");
    eos = role("eos_token");
    unk = role("unk_token");
    sep = role("sep_token");
    pad = role("pad_token");
    cls = role("cls_token");
    mask = role("mask_token");
    // HF's all_special_ids are the named tokens and additional_special_tokens only; an added token
    // flagged "special" but not named is, for skipping and decoding, an ordinary added token.
    const int64_t encoderSize = int64_t(vocab.size());
    for (const NamedTokenSpec &spec : f.additionalSpecialTokens) {
        const int64_t id = added.ensureSpecial(spec, false);
        specialIds.insert(id);
        if (id >= encoderSize) // HF _decode: such tokens are also decoded as stand-alone words
            legacyAddedIds.insert(id);
    }
    for (const int64_t id : {bos, eos, unk, sep, pad, cls, mask})
        if (id >= 0)
            specialIds.insert(id);
}

void Tokenizer::Impl::setAddedTokens(const std::vector<AddedTokenSpec> &added) {
    std::vector<AddedTokenSplitter::Token> splitTokens;
    for (const AddedTokenSpec &t : added) {
        addedByContent[t.content] = t.id;
        idToToken[t.id] = t.content;
        if (!specialIds.contains(t.id))
            legacyAddedIds.insert(t.id);
        splitTokens.push_back({Utf8::decodeLossy(t.content), t.id, t.lstrip, t.rstrip});
    }
    splitter = AddedTokenSplitter(std::move(splitTokens));
}

// After the added tokens: a merge result that is an added token maps to the added token's id.
void Tokenizer::Impl::setBpe(const TokenizerFiles &f) {
    bpe = std::make_unique<ByteLevelBpe>(f.merges);
    symbolIds.resize(size_t(bpe->symbolCount()));
    for (int32_t s = 0; s < bpe->symbolCount(); ++s)
        symbolIds[size_t(s)] = idOf(bpe->symbolText(s));
}

Result<Tokenizer> Tokenizer::load(const QString &dir) {
    auto files = TokenizerFiles::read(dir);
    if (!files)
        return files.error().withContext(QStringLiteral("loading tokenizer"));
    const TokenizerFiles &f = *files;
    auto d = std::make_shared<Impl>();
    d->setVocabulary(f);
    Impl::AddedTokens added(f.addedTokens, *d);
    d->setSpecialTokens(f, added);
    d->setAddedTokens(added.all());
    d->size = added.maxId() + 1;
    d->setBpe(f);
    if (f.modelMaxLength && *f.modelMaxLength >= 0)
        d->maxLength = *f.modelMaxLength >= double(INT_MAX) ? INT_MAX : int(*f.modelMaxLength);
    d->cleanUp = f.cleanUpTokenizationSpaces;
    d->addPrefixSpace = f.addPrefixSpace;
    return Tokenizer(std::move(d));
}

QStringList Tokenizer::tokenize(const QString &text) const {
    QStringList tokens;
    std::vector<int64_t> ids;
    m_d->tokenizeInto(text, std::numeric_limits<size_t>::max(), ids, &tokens);
    return tokens;
}

Encoding Tokenizer::encode(const QString &text, const EncodeOptions &opts) const {
    return m_d->encode(text, nullptr, opts);
}

Encoding Tokenizer::encodePair(const QString &text, const QString &pair,
                               const EncodeOptions &opts) const {
    return m_d->encode(text, &pair, opts);
}

TokenBatch Tokenizer::encodeBatch(const QStringList &texts, const EncodeOptions &opts) const {
    std::vector<Encoding> rows;
    rows.reserve(size_t(texts.size()));
    size_t longest = 0;
    EncodeOptions rowOpts = opts;
    rowOpts.padding = EncodeOptions::Padding::None;
    for (const QString &t : texts) {
        rows.push_back(m_d->encode(t, nullptr, rowOpts));
        longest = std::max(longest, rows.back().inputIds.size());
    }
    size_t target = longest;
    if (opts.padding == EncodeOptions::Padding::MaxLength && !rows.empty() &&
        (opts.maxLength || m_d->maxLength != INT_MAX))
        target = std::max(longest, opts.maxLength ? size_t(std::max(0, *opts.maxLength))
                                                  : size_t(m_d->maxLength));
    TokenBatch batch;
    batch.batchSize = int64_t(rows.size());
    batch.seqLength = int64_t(target);
    batch.inputIds.assign(rows.size() * target, m_d->pad >= 0 ? m_d->pad : 0);
    batch.attentionMask.assign(rows.size() * target, 0);
    for (size_t r = 0; r < rows.size(); ++r) {
        std::copy(rows[r].inputIds.begin(), rows[r].inputIds.end(),
                  batch.inputIds.begin() + ptrdiff_t(r * target));
        std::fill_n(batch.attentionMask.begin() + ptrdiff_t(r * target), rows[r].inputIds.size(),
                    1);
    }
    return batch;
}

QString Tokenizer::decode(const std::vector<int64_t> &ids, bool skipSpecialTokens,
                          std::optional<bool> cleanUpTokenizationSpaces) const {
    // HF's _decode: each run of ordinary tokens is decoded on its own (so a broken byte sequence
    // never spans a part); non-special added tokens stand alone, as written; the parts are joined
    // with spaces (spaces_between_special_tokens=True).
    QStringList parts;
    std::string run;
    auto flush = [&] {
        if (!run.empty())
            parts << Utf8::toQString(std::string_view(m_d->tokenBytes(run)));
        run.clear();
    };
    for (const int64_t id : ids) {
        if (skipSpecialTokens && m_d->specialIds.contains(id))
            continue;
        auto it = m_d->idToToken.find(id);
        if (it == m_d->idToToken.end()) {
            it = m_d->idToToken.find(m_d->unk);
            if (it == m_d->idToToken.end())
                continue;
        }
        if (m_d->legacyAddedIds.contains(id)) {
            flush();
            parts << Utf8::toQString(std::string_view(it->second));
        } else {
            run += it->second;
        }
    }
    flush();
    QString out = parts.join(QLatin1Char(' '));
    if (cleanUpTokenizationSpaces.value_or(m_d->cleanUp)) {
        static const char *const kCleanUps[][2] = {
            {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
            {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
        };
        for (const auto &[from, to] : kCleanUps)
            out.replace(QLatin1String(from), QLatin1String(to));
    }
    return out;
}

QString Tokenizer::idToToken(int64_t id) const {
    const auto it = m_d->idToToken.find(id);
    return it == m_d->idToToken.end() ? QString() : Utf8::toQString(std::string_view(it->second));
}

std::optional<int64_t> Tokenizer::tokenToId(const QString &token) const {
    const std::string key = token.toStdString();
    if (const auto it = m_d->addedByContent.find(key); it != m_d->addedByContent.end())
        return it->second;
    if (const auto it = m_d->vocab.find(key); it != m_d->vocab.end())
        return it->second;
    return std::nullopt;
}

int64_t Tokenizer::padTokenId() const {
    return m_d->pad;
}
int64_t Tokenizer::bosTokenId() const {
    return m_d->bos;
}
int64_t Tokenizer::eosTokenId() const {
    return m_d->eos;
}
int64_t Tokenizer::maskTokenId() const {
    return m_d->mask;
}
int64_t Tokenizer::unkTokenId() const {
    return m_d->unk;
}
int64_t Tokenizer::clsTokenId() const {
    return m_d->cls;
}
int64_t Tokenizer::sepTokenId() const {
    return m_d->sep;
}
bool Tokenizer::isSpecial(int64_t id) const {
    return m_d->specialIds.contains(id);
}
int64_t Tokenizer::vocabSize() const {
    return m_d->size;
}
int Tokenizer::modelMaxLength() const {
    return m_d->maxLength;
}

} // namespace ts
