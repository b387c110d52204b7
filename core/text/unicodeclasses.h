#pragma once

namespace ts {

// The character classes of the GPT-2 pre-tokenization pattern, for all of Unicode, without ICU.
// Letter/number classes come from Qt's Unicode tables (QChar::category), plus a small table of
// letters/numbers assigned after Qt 6.4's Unicode 14 data (see the .cpp); whitespace lists are
// fixed by the Unicode standard and by Python, so they are spelled out.
// All functions are pure and thread-safe; any char32_t is accepted (out-of-range values are
// classified as "other").
class UnicodeClasses {
public:
    // \p{L}: general categories Lu, Ll, Lt, Lm, Lo.
    static bool isLetter(char32_t c);
    // \p{N}: general categories Nd, Nl, No.
    static bool isNumber(char32_t c);
    // \s of Python's `regex` module on str patterns: exactly the Unicode White_Space property
    // (unlike `re` and str.isspace, it does NOT include U+001C..U+001F).
    static bool isRegexSpace(char32_t c);
    // Python's str.isspace(), which str.strip()/rstrip() use: White_Space plus U+001C..U+001F.
    static bool isPythonSpace(char32_t c);
};

} // namespace ts
