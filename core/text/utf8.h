#pragma once

#include <QString>

#include <string>
#include <string_view>

namespace ts {

// UTF-8 / UTF-32 conversions with the exact error behaviour the tokenizer needs.
// Pure functions, thread-safe.
class Utf8 {
public:
    // Appends the UTF-8 form of `c` (a surrogate or a value past U+10FFFF is written as U+FFFD).
    static void append(std::string &out, char32_t c);
    static std::string encode(std::u32string_view text);

    // Decodes like Python's bytes.decode("utf-8", errors="replace"): every maximal ill-formed
    // subsequence (Unicode's "maximal subpart" rule) becomes one U+FFFD.
    static std::u32string decodeLossy(std::string_view bytes);
    static bool isValid(std::string_view bytes);

    // QString (UTF-16) to code points; a lone surrogate becomes U+FFFD, so every result encodes.
    static std::u32string fromQString(const QString &text);
    // Code points to QString, keeping a leading U+FEFF (Qt's own decoders drop it).
    static QString toQString(std::u32string_view text);
    // UTF-8 to QString (decodeLossy), keeping a leading U+FEFF.
    static QString toQString(std::string_view utf8) { return toQString(decodeLossy(utf8)); }
};

} // namespace ts
