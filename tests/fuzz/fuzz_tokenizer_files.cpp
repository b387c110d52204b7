// Fuzz target: a tokenizer folder (core/text/tokenizerfiles + the tokenizer built from it):
// vocab.json + merges.txt or tokenizer.json, tokenizer_config.json, special_tokens_map.json.
// A tokenizer that loads must then encode and decode a fixed text without failing.
//
// Input layout (see README.md): byte 0 says which files exist (bit 0: tokenizer.json instead of
// vocab.json + merges.txt; bit 1: tokenizer_config.json; bit 2: special_tokens_map.json); the rest
// is split at "\n--8<--\n" into: vocab.json or tokenizer.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json.

#include "core/text/tokenizer.h"
#include "fuzzinput.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    const uint8_t layout = data[0];
    const QList<QByteArray> parts =
        ts::fuzz::splitInput(data + 1, size - 1, QByteArrayLiteral("\n--8<--\n"), 4);
    auto part = [&](int i) { return i < parts.size() ? parts[i] : QByteArray(); };
    const bool fast = layout & 1;
    const QDir dir = ts::fuzz::scratchDir();
    ts::fuzz::putFile(dir, QStringLiteral("tokenizer.json"), part(0), fast);
    ts::fuzz::putFile(dir, QStringLiteral("vocab.json"), part(0), !fast);
    ts::fuzz::putFile(dir, QStringLiteral("merges.txt"), part(1), !fast);
    ts::fuzz::putFile(dir, QStringLiteral("tokenizer_config.json"), part(2), layout & 2);
    ts::fuzz::putFile(dir, QStringLiteral("special_tokens_map.json"), part(3), layout & 4);

    const auto tokenizer = ts::Tokenizer::load(dir.path());
    if (!tokenizer) {
        if (tokenizer.error().message.isEmpty())
            std::abort();
        return 0;
    }
    ts::EncodeOptions options;
    options.maxLength = 64;
    const ts::Encoding e =
        tokenizer->encode(QStringLiteral("a <mask> cat, lowered: naïve 猫 🐈!"), options);
    if (e.inputIds.size() != e.attentionMask.size() || e.inputIds.size() > 64)
        std::abort();
    for (const int64_t id : e.inputIds)
        if (id < 0 || id >= tokenizer->vocabSize())
            std::abort();
    (void)tokenizer->decode(e.inputIds, true);
    (void)tokenizer->tokenize(QStringLiteral(" Hello  world\n\t<s>"));
    return 0;
}
