#include "core/text/pretokenizer.h"

#include "core/text/unicodeclasses.h"

namespace ts {

namespace {

enum class CharClass { Letter, Number, Space, Other };

CharClass classOf(char32_t c) {
    if (UnicodeClasses::isLetter(c))
        return CharClass::Letter;
    if (UnicodeClasses::isNumber(c))
        return CharClass::Number;
    if (UnicodeClasses::isRegexSpace(c))
        return CharClass::Space;
    return CharClass::Other;
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) starting at `i`, or 0. The pattern's
// alternatives are tried in order and none is a prefix of another, so order does not matter here.
size_t contractionAt(std::u32string_view t, size_t i) {
    if (t[i] != U'\'' || i + 1 >= t.size())
        return 0;
    const char32_t a = t[i + 1];
    if (a == U's' || a == U't' || a == U'm' || a == U'd')
        return 2;
    if (i + 2 < t.size()) {
        const char32_t b = t[i + 2];
        if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l'))
            return 3;
    }
    return 0;
}

size_t runOf(std::u32string_view t, size_t i, CharClass cls) {
    while (i < t.size() && classOf(t[i]) == cls)
        ++i;
    return i;
}

} // namespace

void PreTokenizer::split(std::u32string_view t, const PieceFn &emit) {
    size_t i = 0;
    const size_t n = t.size();
    while (i < n) {
        size_t end = 0;
        if (const size_t c = contractionAt(t, i); c > 0) {
            end = i + c;
        } else {
            const CharClass cls = classOf(t[i]);
            // " ?X+": only U+0020 may lead a letter/number/other run, never another space char.
            if (t[i] == U' ' && i + 1 < n && classOf(t[i + 1]) != CharClass::Space) {
                end = runOf(t, i + 1, classOf(t[i + 1]));
            } else if (cls != CharClass::Space) {
                end = runOf(t, i, cls);
            } else {
                // \s+(?!\S) backtracks one character when the run is followed by a non-space, so
                // that last space can lead the next word; a single space there falls to \s+.
                const size_t runEnd = runOf(t, i, CharClass::Space);
                end = (runEnd < n && runEnd - i > 1) ? runEnd - 1 : runEnd;
            }
        }
        if (!emit(t.substr(i, end - i)))
            return;
        i = end;
    }
}

} // namespace ts
