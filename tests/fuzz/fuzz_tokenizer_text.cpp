// Fuzz target: text through the real RoBERTa tokenizer of the fixtures (tests/data/tokenizer):
// tokenize, encode (single, pair, truncated, padded batch) and decode of the fuzzer's ids.
// Input: UTF-8 text; the first "\n--8<--\n" (if any) separates the pair's second text.

#include "core/text/tokenizer.h"
#include "fuzzinput.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
const ts::Tokenizer &tokenizer() {
    static const ts::Tokenizer t = [] {
        auto loaded = ts::Tokenizer::load(QStringLiteral(TOWERSEARCH_TEST_DATA_DIR "/tokenizer"));
        if (!loaded) {
            std::fprintf(stderr, "%s\n", qPrintable(loaded.error().message));
            std::abort();
        }
        return *loaded;
    }();
    return t;
}

void checkEncoding(const ts::Encoding &e, size_t maxLength) {
    if (e.inputIds.size() != e.attentionMask.size() || e.inputIds.size() > maxLength)
        std::abort();
    for (const int64_t id : e.inputIds)
        if (id < 0 || id >= tokenizer().vocabSize())
            std::abort();
}
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    (void)tokenizer(); // load once, outside the measured runs
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const QList<QByteArray> parts =
        ts::fuzz::splitInput(data, size, QByteArrayLiteral("\n--8<--\n"), 2);
    const QString text = QString::fromUtf8(parts[0]);
    const ts::Tokenizer &tok = tokenizer();

    const QStringList tokens = tok.tokenize(text);
    ts::EncodeOptions full; // no truncation: every id
    const ts::Encoding e = tok.encode(text, full);
    checkEncoding(e, size_t(-1));
    // Decoding what was encoded gives back a string; decoding arbitrary ids must not fail either.
    (void)tok.decode(e.inputIds, false);
    std::vector<int64_t> ids;
    for (size_t k = 0; k + 4 <= size && ids.size() < 256; k += 4) {
        int32_t v;
        std::memcpy(&v, data + k, 4);
        ids.push_back(v);
    }
    (void)tok.decode(ids, true, true);

    ts::EncodeOptions truncated;
    truncated.maxLength = 16;
    truncated.padding = ts::EncodeOptions::Padding::MaxLength;
    checkEncoding(tok.encode(text, truncated), 16);
    if (parts.size() > 1) {
        const QString pair = QString::fromUtf8(parts[1]);
        checkEncoding(tok.encodePair(text, pair, truncated), 16);
        const ts::TokenBatch b = tok.encodeBatch({text, pair}, truncated);
        if (b.batchSize != 2 || b.inputIds.size() != size_t(b.batchSize * b.seqLength))
            std::abort();
    }
    return 0;
}
