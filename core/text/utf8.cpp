#include "core/text/utf8.h"

namespace ts {

void Utf8::append(std::string &out, char32_t c) {
    if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
        c = 0xFFFD;
    if (c < 0x80) {
        out += char(c);
    } else if (c < 0x800) {
        out += char(0xC0 | (c >> 6));
        out += char(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += char(0xE0 | (c >> 12));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    } else {
        out += char(0xF0 | (c >> 18));
        out += char(0x80 | ((c >> 12) & 0x3F));
        out += char(0x80 | ((c >> 6) & 0x3F));
        out += char(0x80 | (c & 0x3F));
    }
}

std::string Utf8::encode(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char32_t c : text)
        append(out, c);
    return out;
}

namespace {

// Decodes one sequence at `i`. Returns the number of bytes consumed and sets `ok`; when !ok the
// consumed bytes are the maximal ill-formed subpart (at least one byte).
size_t decodeOne(std::string_view s, size_t i, char32_t &cp, bool &ok) {
    const auto b0 = uint8_t(s[i]);
    ok = false;
    if (b0 < 0x80) {
        cp = b0;
        ok = true;
        return 1;
    }
    size_t need = 0;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0; // no overlongs
        if (b0 == 0xED)
            hi = 0x9F; // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        if (b0 == 0xF4)
            hi = 0x8F; // nothing past U+10FFFF
    } else {
        return 1; // a continuation byte or an impossible lead byte
    }
    size_t k = 1;
    for (; k <= need; ++k) {
        if (i + k >= s.size())
            return k;
        const auto b = uint8_t(s[i + k]);
        if (b < lo || b > hi)
            return k;
        lo = 0x80; // only the second byte has a narrowed range
        hi = 0xBF;
        cp = (cp << 6) | (b & 0x3F);
    }
    ok = true;
    return k;
}

} // namespace

std::u32string Utf8::decodeLossy(std::string_view bytes) {
    std::u32string out;
    out.reserve(bytes.size());
    for (size_t i = 0; i < bytes.size();) {
        char32_t cp = 0;
        bool ok = false;
        i += decodeOne(bytes, i, cp, ok);
        out += ok ? cp : char32_t(0xFFFD);
    }
    return out;
}

bool Utf8::isValid(std::string_view bytes) {
    for (size_t i = 0; i < bytes.size();) {
        char32_t cp = 0;
        bool ok = false;
        i += decodeOne(bytes, i, cp, ok);
        if (!ok)
            return false;
    }
    return true;
}

std::u32string Utf8::fromQString(const QString &text) {
    std::u32string out;
    out.reserve(size_t(text.size()));
    const qsizetype n = text.size();
    for (qsizetype i = 0; i < n; ++i) {
        const char16_t u = text[i].unicode();
        if (QChar::isHighSurrogate(u) && i + 1 < n &&
            QChar::isLowSurrogate(text[i + 1].unicode())) {
            out += QChar::surrogateToUcs4(u, text[i + 1].unicode());
            ++i;
        } else if (QChar::isSurrogate(u)) {
            out += char32_t(0xFFFD);
        } else {
            out += char32_t(u);
        }
    }
    return out;
}

QString Utf8::toQString(std::u32string_view text) {
    // Not QString::fromUcs4: Qt's UTF-32 decoder drops a leading U+FEFF, which is text here.
    QString out;
    out.reserve(qsizetype(text.size()));
    for (char32_t c : text) {
        if ((c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF)
            c = 0xFFFD;
        if (QChar::requiresSurrogates(c)) {
            out += QChar(QChar::highSurrogate(c));
            out += QChar(QChar::lowSurrogate(c));
        } else {
            out += QChar(char16_t(c));
        }
    }
    return out;
}

} // namespace ts
