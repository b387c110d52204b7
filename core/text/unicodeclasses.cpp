#include "core/text/unicodeclasses.h"

#include <QChar>

#include <algorithm>
#include <iterator>
#include <optional>

namespace ts {

namespace {

enum class Late { L, N };
struct LateRange {
    char32_t first;
    char32_t last;
    Late cls;
};

// Letters and numbers assigned after Unicode 14.0, which Qt 6.4's tables (QChar::category) report
// as unassigned (Cn). Python's `regex` module, which HF's pre-tokenizer uses, knows them: this is
// the exact difference between regex 2026.5.9 (\p{L}, \p{N}) and Qt 6.4 over all code points,
// so that new scripts (Kawi, CJK extension I, ...) are split as HF splits them.
// Consulted only for code points Qt calls unassigned; drop it when Qt's data catches up.
constexpr LateRange kLateRanges[] = {
#define L Late::L
#define N Late::N
    {0x088F, 0x088F, L},   {0x0C5C, 0x0C5C, L},   {0x0CDC, 0x0CDC, L},   {0x1C89, 0x1C8A, L},
    {0xA7CB, 0xA7CF, L},   {0xA7D2, 0xA7D2, L},   {0xA7D4, 0xA7D4, L},   {0xA7DA, 0xA7DC, L},
    {0xA7F1, 0xA7F1, L},   {0x105C0, 0x105F3, L}, {0x10940, 0x10959, L}, {0x10D40, 0x10D49, N},
    {0x10D4A, 0x10D65, L}, {0x10D6F, 0x10D85, L}, {0x10EC2, 0x10EC7, L}, {0x1123F, 0x11240, L},
    {0x11380, 0x11389, L}, {0x1138B, 0x1138B, L}, {0x1138E, 0x1138E, L}, {0x11390, 0x113B5, L},
    {0x113B7, 0x113B7, L}, {0x113D1, 0x113D1, L}, {0x113D3, 0x113D3, L}, {0x116D0, 0x116E3, N},
    {0x11BC0, 0x11BE0, L}, {0x11BF0, 0x11BF9, N}, {0x11DB0, 0x11DDB, L}, {0x11DE0, 0x11DE9, N},
    {0x11F02, 0x11F02, L}, {0x11F04, 0x11F10, L}, {0x11F12, 0x11F33, L}, {0x11F50, 0x11F59, N},
    {0x1342F, 0x1342F, L}, {0x13441, 0x13446, L}, {0x13460, 0x143FA, L}, {0x16100, 0x1611D, L},
    {0x16130, 0x16139, N}, {0x16D40, 0x16D6C, L}, {0x16D70, 0x16D79, N}, {0x16EA0, 0x16EB8, L},
    {0x16EBB, 0x16ED3, L}, {0x16FF2, 0x16FF3, L}, {0x16FF4, 0x16FF6, N}, {0x187F8, 0x187FF, L},
    {0x18CFF, 0x18CFF, L}, {0x18D09, 0x18D1E, L}, {0x18D80, 0x18DF2, L}, {0x1B132, 0x1B132, L},
    {0x1B155, 0x1B155, L}, {0x1CCF0, 0x1CCF9, N}, {0x1D2C0, 0x1D2D3, N}, {0x1DF25, 0x1DF2A, L},
    {0x1E030, 0x1E06D, L}, {0x1E4D0, 0x1E4EB, L}, {0x1E4F0, 0x1E4F9, N}, {0x1E5D0, 0x1E5ED, L},
    {0x1E5F0, 0x1E5F0, L}, {0x1E5F1, 0x1E5FA, N}, {0x1E6C0, 0x1E6DE, L}, {0x1E6E0, 0x1E6E2, L},
    {0x1E6E4, 0x1E6E5, L}, {0x1E6E7, 0x1E6ED, L}, {0x1E6F0, 0x1E6F4, L}, {0x1E6FE, 0x1E6FF, L},
    {0x2B739, 0x2B73F, L}, {0x2CEA2, 0x2CEAD, L}, {0x2EBF0, 0x2EE5D, L}, {0x31350, 0x33479, L},
#undef L
#undef N
};

std::optional<Late> lateClass(char32_t c) {
    const auto it = std::upper_bound(std::begin(kLateRanges), std::end(kLateRanges), c,
                                     [](char32_t v, const LateRange &r) { return v < r.first; });
    if (it == std::begin(kLateRanges))
        return std::nullopt;
    const LateRange &r = *std::prev(it);
    return c <= r.last ? std::optional<Late>(r.cls) : std::nullopt;
}

} // namespace

bool UnicodeClasses::isLetter(char32_t c) {
    if (c < 0x80)
        return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
    if (c > 0x10FFFF)
        return false;
    switch (QChar::category(c)) {
    case QChar::Letter_Uppercase:
    case QChar::Letter_Lowercase:
    case QChar::Letter_Titlecase:
    case QChar::Letter_Modifier:
    case QChar::Letter_Other:
        return true;
    case QChar::Other_NotAssigned:
        return lateClass(c) == Late::L;
    default:
        return false;
    }
}

bool UnicodeClasses::isNumber(char32_t c) {
    if (c < 0x80)
        return c >= U'0' && c <= U'9';
    if (c > 0x10FFFF)
        return false;
    switch (QChar::category(c)) {
    case QChar::Number_DecimalDigit:
    case QChar::Number_Letter:
    case QChar::Number_Other:
        return true;
    case QChar::Other_NotAssigned:
        return lateClass(c) == Late::N;
    default:
        return false;
    }
}

bool UnicodeClasses::isRegexSpace(char32_t c) {
    // Unicode White_Space (PropList.txt); stable since Unicode 6.3 (U+180E left it then).
    if (c <= 0x20)
        return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85)
        return false;
    switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

bool UnicodeClasses::isPythonSpace(char32_t c) {
    // str.isspace() counts the information separators FS, GS, RS, US (bidi classes B and S) too.
    return (c >= 0x1C && c <= 0x1F) || isRegexSpace(c);
}

} // namespace ts
