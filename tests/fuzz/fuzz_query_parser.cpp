// Fuzz target: the query language (core/search/queryparser.h) on arbitrary text, with a folder
// resolver over a fixed set of library folders. Checks what callers rely on: every token's span
// lies in the text and is its text; a query without errors formats to text that parses back to
// the same caption, filter, exclusions and sort (and formats to itself); folder completions
// resolve. Input: UTF-8 text.

#include "core/search/queryparser.h"

#include <cstdlib>

namespace {

const ts::FolderNames &folders() {
    static const ts::FolderNames names(
        {QStringLiteral("/photos"), QStringLiteral("/mnt/My Camera")},
        {QStringLiteral("/photos/2019"), QStringLiteral("/photos/2019/Holidays"),
         QStringLiteral("/photos/2020/Holidays"), QStringLiteral("/photos/a \"quoted\" name"),
         QStringLiteral("/mnt/My Camera/DCIM")});
    return names;
}

void check(bool ok) {
    if (!ok)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const QString text = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    const ts::FolderResolver resolver = folders().resolver();
    const ts::ParsedQuery q = ts::parseQuery(text, resolver);
    qsizetype end = 0;
    for (const ts::QueryToken &t : q.tokens) {
        check(t.start >= end && t.length > 0 && t.start + t.length <= text.size());
        check(text.mid(t.start, t.length) == t.text);
        check(!t.error || !t.error->message.isEmpty());
        end = t.start + t.length;
    }
    if (!q.firstError()) {
        const QString formatted = ts::formatQuery(q);
        const ts::ParsedQuery again = ts::parseQuery(formatted, resolver);
        check(!again.firstError());
        check(again.caption == q.caption);
        check(again.filter == q.filter);
        check(again.excludedPhrases == q.excludedPhrases);
        check(again.sort == q.sort);
        check(ts::formatQuery(again) == formatted);
    }
    for (const QString &c : folders().completions(text.left(16), 5))
        check(folders().resolve(c).ok());
    return 0;
}
