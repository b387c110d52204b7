#include "core/search/queryparser.h"

#include <QDate>
#include <QDateTime>
#include <QDir>
#include <QDirIterator>
#include <QHash>
#include <QRegularExpression>
#include <QSet>
#include <QTime>

#include <algorithm>

namespace ts {

namespace {

// Keys that name a filter. Kept in one table so that the parser, the typo check and the
// formatter agree.
struct KeyInfo {
    const char *key;
    QueryTokenKind kind;
};
constexpr KeyInfo kKeys[] = {
    {"after", QueryTokenKind::After},   {"before", QueryTokenKind::Before},
    {"in", QueryTokenKind::Folder},     {"type", QueryTokenKind::Type},
    {"camera", QueryTokenKind::Camera}, {"is", QueryTokenKind::Shape},
    {"min", QueryTokenKind::MinSize},   {"not", QueryTokenKind::Exclude},
    {"sort", QueryTokenKind::Sort},
};

// Words people try for a filter that has another name here: an error that says which key to use
// beats a filter quietly searched for as caption words.
const QHash<QString, QString> &keyAliases() {
    static const QHash<QString, QString> k = {
        {QStringLiteral("date"), QStringLiteral("after: and before:")},
        {QStringLiteral("since"), QStringLiteral("after:")},
        {QStringLiteral("until"), QStringLiteral("before:")},
        {QStringLiteral("folder"), QStringLiteral("in:")},
        {QStringLiteral("dir"), QStringLiteral("in:")},
        {QStringLiteral("ext"), QStringLiteral("type:")},
        {QStringLiteral("format"), QStringLiteral("type:")},
        {QStringLiteral("make"), QStringLiteral("camera:")},
        {QStringLiteral("model"), QStringLiteral("camera:")},
        {QStringLiteral("exclude"), QStringLiteral("not:")},
        {QStringLiteral("order"), QStringLiteral("sort:")},
        {QStringLiteral("orientation"), QStringLiteral("is:")},
    };
    return k;
}

const QHash<QString, QString> &fileTypeAliases() {
    static const QHash<QString, QString> k = {
        {QStringLiteral("jpeg"), QStringLiteral("jpeg")},
        {QStringLiteral("jpg"), QStringLiteral("jpeg")},
        {QStringLiteral("jpe"), QStringLiteral("jpeg")},
        {QStringLiteral("png"), QStringLiteral("png")},
        {QStringLiteral("heic"), QStringLiteral("heic")},
        {QStringLiteral("heif"), QStringLiteral("heic")},
        {QStringLiteral("webp"), QStringLiteral("webp")},
        {QStringLiteral("tiff"), QStringLiteral("tiff")},
        {QStringLiteral("tif"), QStringLiteral("tiff")},
        {QStringLiteral("gif"), QStringLiteral("gif")},
        {QStringLiteral("bmp"), QStringLiteral("bmp")},
        {QStringLiteral("avif"), QStringLiteral("avif")},
    };
    return k;
}

// Optimal string alignment distance (Levenshtein plus adjacent transposition), for the typo check.
int editDistance(const QString &a, const QString &b) {
    const qsizetype n = a.size(), m = b.size();
    std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
    for (qsizetype i = 0; i <= n; ++i)
        d[i][0] = int(i);
    for (qsizetype j = 0; j <= m; ++j)
        d[0][j] = int(j);
    for (qsizetype i = 1; i <= n; ++i)
        for (qsizetype j = 1; j <= m; ++j) {
            const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return d[n][m];
}

// A word as the scanner found it.
struct Word {
    qsizetype start = 0, length = 0;
    QString key; // letters before the first ':' when the word starts with them; else empty
    bool hasKey = false;
    QString value; // after the key (or the whole word), quotes removed
    QString whole; // the whole word, quotes removed
    bool startsQuoted = false;
    bool unclosedQuote = false;
};

bool isSpace(QChar c) {
    return c.isSpace();
}

// Splits at white space; a quoted stretch may hold spaces and belongs to the word around it.
QList<Word> scanWords(const QString &text) {
    QList<Word> words;
    qsizetype i = 0;
    const qsizetype n = text.size();
    while (i < n) {
        while (i < n && isSpace(text[i]))
            ++i;
        if (i >= n)
            break;
        Word w;
        w.start = i;
        w.startsQuoted = text[i] == QLatin1Char('"');
        QString unquoted;
        qsizetype keyEnd = -1; // index in `unquoted` of the first ':' outside quotes
        bool quotedSoFar = false;
        while (i < n && !isSpace(text[i])) {
            if (text[i] == QLatin1Char('"')) {
                quotedSoFar = true;
                ++i;
                bool closed = false;
                while (i < n) {
                    if (text[i] == QLatin1Char('\\') && i + 1 < n &&
                        (text[i + 1] == QLatin1Char('"') || text[i + 1] == QLatin1Char('\\'))) {
                        unquoted += text[i + 1];
                        i += 2;
                    } else if (text[i] == QLatin1Char('"')) {
                        ++i;
                        closed = true;
                        break;
                    } else {
                        unquoted += text[i++];
                    }
                }
                if (!closed)
                    w.unclosedQuote = true;
            } else {
                if (text[i] == QLatin1Char(':') && keyEnd < 0 && !quotedSoFar)
                    keyEnd = unquoted.size();
                unquoted += text[i++];
            }
        }
        w.length = i - w.start;
        if (keyEnd > 0) {
            const QString key = unquoted.left(keyEnd);
            const bool letters =
                std::all_of(key.begin(), key.end(), [](QChar c) { return c.isLetter(); });
            if (letters) {
                w.hasKey = true;
                w.key = key.toLower();
                w.value = unquoted.mid(keyEnd + 1);
            }
        }
        if (!w.hasKey)
            w.value = unquoted;
        w.whole = unquoted;
        words.append(w);
    }
    return words;
}

std::optional<QueryTokenKind> kindOfKey(const QString &key) {
    for (const KeyInfo &k : kKeys)
        if (key == QLatin1String(k.key))
            return k.kind;
    return std::nullopt;
}

QString keyOf(QueryTokenKind kind) {
    for (const KeyInfo &k : kKeys)
        if (k.kind == kind)
            return QLatin1String(k.key);
    return {};
}

// The key a mistyped key was probably meant to be: one edit away from a known key of four or
// more letters (shorter keys, in: and is:, are one edit away from too many ordinary words).
std::optional<QString> typoOf(const QString &key) {
    if (key.size() < 4)
        return std::nullopt;
    for (const KeyInfo &k : kKeys) {
        const QString known = QLatin1String(k.key);
        if (known.size() >= 4 && editDistance(key, known) == 1)
            return known + QLatin1Char(':');
    }
    return std::nullopt;
}

// YYYY, YYYY-MM or YYYY-MM-DD.
std::optional<QDate> parseDate(const QString &s) {
    static const QRegularExpression re(
        QStringLiteral("^(\\d{4})(?:-(\\d{1,2})(?:-(\\d{1,2}))?)?$"));
    const auto m = re.match(s);
    if (!m.hasMatch())
        return std::nullopt;
    const int year = m.captured(1).toInt();
    const int month = m.captured(2).isEmpty() ? 1 : m.captured(2).toInt();
    const int day = m.captured(3).isEmpty() ? 1 : m.captured(3).toInt();
    if (year < 1)
        return std::nullopt;
    const QDate d(year, month, day);
    if (!d.isValid())
        return std::nullopt;
    return d;
}

qint64 localStartMs(const QDate &d) {
    return QDateTime(d, QTime(0, 0)).toMSecsSinceEpoch();
}

QString dateText(qint64 ms) {
    const QDateTime t = QDateTime::fromMSecsSinceEpoch(ms);
    const QDate d = t.date();
    const bool midnight = t.time() == QTime(0, 0);
    if (midnight && d.month() == 1 && d.day() == 1)
        return d.toString(QStringLiteral("yyyy"));
    if (midnight && d.day() == 1)
        return d.toString(QStringLiteral("yyyy-MM"));
    return d.toString(QStringLiteral("yyyy-MM-dd"));
}

Error tokenError(const QString &message) {
    return Error(Error::Code::InvalidArgument, message);
}

constexpr int kMaxPixels = 1000000;

} // namespace

std::optional<Error> ParsedQuery::firstError() const {
    for (const QueryToken &t : tokens)
        if (t.error)
            return t.error;
    return std::nullopt;
}

QStringList queryFileTypes() {
    return {QStringLiteral("jpeg"), QStringLiteral("png"),  QStringLiteral("heic"),
            QStringLiteral("webp"), QStringLiteral("tiff"), QStringLiteral("gif"),
            QStringLiteral("bmp"),  QStringLiteral("avif")};
}

namespace {

// What a filter key needs, for the message of a key written without a value.
QString valueNeeded(QueryTokenKind kind) {
    static const QHash<QueryTokenKind, QString> kWhat = {
        {QueryTokenKind::After,
         QStringLiteral("a date (YYYY, YYYY-MM or YYYY-MM-DD), e.g. after:2019-06")},
        {QueryTokenKind::Before,
         QStringLiteral("a date (YYYY, YYYY-MM or YYYY-MM-DD), e.g. before:2020")},
        {QueryTokenKind::Folder,
         QStringLiteral("a folder, e.g. in:Holidays or in:\"/home/me/My Photos\"")},
        {QueryTokenKind::Type,
         QStringLiteral("a file type: ") + queryFileTypes().join(QStringLiteral(", "))},
        {QueryTokenKind::Camera, QStringLiteral("a camera make or model, e.g. camera:canon")},
        {QueryTokenKind::Shape, QStringLiteral("portrait, landscape or square")},
        {QueryTokenKind::MinSize, QStringLiteral("a size, e.g. min:1920x1080 or min:1920")},
        {QueryTokenKind::Exclude,
         QStringLiteral("a word or a quoted phrase, e.g. not:people or -\"red car\"")},
        {QueryTokenKind::Sort, QStringLiteral("relevance, date or name")},
    };
    return kWhat.value(kind);
}

bool isSingleValued(QueryTokenKind kind) {
    return kind == QueryTokenKind::After || kind == QueryTokenKind::Before ||
           kind == QueryTokenKind::Shape || kind == QueryTokenKind::MinSize ||
           kind == QueryTokenKind::Sort;
}

// -phrase / -"red car": an exclusion when a letter, digit or quote follows the dash, so that a
// lone "-" stays a word.
bool isDashExclusion(const Word &w, const QString &typed) {
    return !w.startsQuoted && !w.hasKey && typed.size() > 1 && typed[0] == QLatin1Char('-') &&
           (typed[1].isLetterOrNumber() || typed[1] == QLatin1Char('"'));
}

// A key people try for a filter that has another name, or a mistyped key: the error that says
// which key to use (nullopt: the word is caption text).
std::optional<Error> misnamedKeyError(const Word &w, const QString &typed) {
    if (!w.hasKey || w.startsQuoted || w.value.isEmpty())
        return std::nullopt;
    if (const auto alias = keyAliases().constFind(w.key); alias != keyAliases().cend())
        return tokenError(QStringLiteral("%1: %2: is not a filter; use %3 (or quote the word to "
                                         "search for it).")
                              .arg(typed, w.key, *alias));
    if (const auto typo = typoOf(w.key))
        return tokenError(QStringLiteral("%1: %2: is not a filter; did you mean %3? (Quote the "
                                         "word to search for it.)")
                              .arg(typed, w.key, *typo));
    return std::nullopt;
}

// Parses the words of a query one at a time into a ParsedQuery: each word becomes a token, and a
// filter token's value goes into the filter (or its error into the token).
class QueryParser {
public:
    QueryParser(const QString &text, const FolderResolver &resolver)
        : m_text(text), m_resolver(resolver) {}

    ParsedQuery parse() {
        for (const Word &w : scanWords(m_text))
            m_query.tokens.append(parseWord(w));
        // One space between words, also inside quoted words ("a  b", a tab): the caption the
        // model sees and the formatter writes back are the same.
        m_query.caption = m_captionWords.join(QLatin1Char(' ')).simplified();
        return std::move(m_query);
    }

private:
    QueryToken parseWord(const Word &w) {
        QueryToken t;
        t.start = w.start;
        t.length = w.length;
        t.text = m_text.mid(w.start, w.length);
        if (w.unclosedQuote) {
            t.kind = w.hasKey ? kindOfKey(w.key).value_or(QueryTokenKind::Caption)
                              : QueryTokenKind::Caption;
            t.value = w.value;
            t.error = tokenError(
                QStringLiteral("%1: the quote is not closed; end the quoted text with \".")
                    .arg(t.text));
            return t;
        }
        const bool dashExclusion = isDashExclusion(w, t.text);
        std::optional<QueryTokenKind> kind;
        if (dashExclusion)
            kind = QueryTokenKind::Exclude;
        else if (w.hasKey && !w.startsQuoted)
            kind = kindOfKey(w.key);
        if (!kind) {
            parseCaptionWord(w, t);
            return t;
        }
        t.kind = *kind;
        t.value = dashExclusion ? w.whole.mid(1) : w.value;
        parseFilter(t);
        return t;
    }

    void parseCaptionWord(const Word &w, QueryToken &t) {
        t.kind = QueryTokenKind::Caption;
        if (auto error = misnamedKeyError(w, t.text)) {
            t.value = w.value;
            t.error = std::move(error);
            return;
        }
        t.value = w.whole;
        if (!t.value.isEmpty()) // "" adds no word
            m_captionWords.append(t.value);
    }

    void parseFilter(QueryToken &t) {
        const QString key = keyOf(t.kind);
        const QString v = t.value.trimmed();
        if (v.isEmpty()) {
            // "after: needs a date", not "after:: after: needs ...".
            const QString why = QStringLiteral("needs %1.").arg(valueNeeded(t.kind));
            t.error = tokenError(t.text == key + QLatin1Char(':')
                                     ? QStringLiteral("%1 %2").arg(t.text, why)
                                     : QStringLiteral("%1: %2: %3").arg(t.text, key, why));
            return;
        }
        const bool singleValued = isSingleValued(t.kind);
        if (singleValued && m_setBy.contains(t.kind)) {
            t.error = failure(t, QStringLiteral("%1: is given twice (also %2); keep one.")
                                     .arg(key, m_setBy.value(t.kind)));
            return;
        }
        t.error = applyFilter(t, v);
        if (!t.error && singleValued)
            m_setBy.insert(t.kind, t.text);
    }

    // Puts the value `v` of filter token `t` into the query; the token's error when it is
    // malformed.
    std::optional<Error> applyFilter(const QueryToken &t, const QString &v) {
        switch (t.kind) {
        case QueryTokenKind::After:
        case QueryTokenKind::Before:
            return applyDate(t, v);
        case QueryTokenKind::Folder:
            return applyFolder(t, v);
        case QueryTokenKind::Type:
            return applyTypes(t, v);
        case QueryTokenKind::Camera:
            if (!m_query.filter.cameras.contains(v, Qt::CaseInsensitive))
                m_query.filter.cameras.append(v);
            return std::nullopt;
        case QueryTokenKind::Shape:
            return applyShape(t, v);
        case QueryTokenKind::MinSize:
            return applyMinSize(t, v);
        case QueryTokenKind::Exclude:
            if (!m_query.excludedPhrases.contains(v))
                m_query.excludedPhrases.append(v);
            return std::nullopt;
        case QueryTokenKind::Sort:
            return applySort(t, v);
        case QueryTokenKind::Caption:
            break;
        }
        return std::nullopt;
    }

    static Error failure(const QueryToken &t, const QString &why) {
        return tokenError(QStringLiteral("%1: %2").arg(t.text, why));
    }

    std::optional<Error> applyDate(const QueryToken &t, const QString &v) {
        const auto date = parseDate(v);
        if (!date)
            return failure(t, QStringLiteral("\"%1\" is not a date; write YYYY, YYYY-MM or "
                                             "YYYY-MM-DD (e.g. %2:2019-06).")
                                  .arg(v, keyOf(t.kind)));
        const qint64 ms = localStartMs(*date);
        PhotoFilter &f = m_query.filter;
        if (t.kind == QueryTokenKind::After) {
            if (f.takenBeforeMs && ms >= *f.takenBeforeMs)
                return failure(t, QStringLiteral("it is not earlier than %1, so no photo can match "
                                                 "both.")
                                      .arg(m_setBy.value(QueryTokenKind::Before)));
            f.takenFromMs = ms;
        } else {
            if (f.takenFromMs && ms <= *f.takenFromMs)
                return failure(t, QStringLiteral("it is not later than %1, so no photo can match "
                                                 "both.")
                                      .arg(m_setBy.value(QueryTokenKind::After)));
            f.takenBeforeMs = ms;
        }
        return std::nullopt;
    }

    std::optional<Error> applyFolder(const QueryToken &t, const QString &v) {
        Result<QString> folder = Error(Error::Code::InvalidArgument, QString());
        if (m_resolver)
            folder = m_resolver(v);
        else if (QDir::isAbsolutePath(v))
            folder = QDir::cleanPath(v);
        else
            folder = Error(Error::Code::InvalidArgument,
                           QStringLiteral("only an absolute path can name a folder here, e.g. "
                                          "in:/home/me/Photos."));
        if (!folder) {
            // The resolver's sentence names the folder; prefix the token once.
            const QString msg = folder.error().message;
            return tokenError(msg.startsWith(t.text) ? msg
                                                     : QStringLiteral("%1: %2").arg(t.text, msg));
        }
        if (!m_query.filter.folders.contains(*folder))
            m_query.filter.folders.append(*folder);
        return std::nullopt;
    }

    std::optional<Error> applyTypes(const QueryToken &t, const QString &v) {
        QStringList types;
        for (const QString &part : v.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            const QString p = part.trimmed().toLower();
            const auto canonical =
                fileTypeAliases().constFind(p.startsWith(QLatin1Char('.')) ? p.mid(1) : p);
            if (canonical == fileTypeAliases().cend())
                return failure(
                    t, QStringLiteral("\"%1\" is not a file type; use one of %2.")
                           .arg(part.trimmed(), queryFileTypes().join(QStringLiteral(", "))));
            types.append(*canonical);
        }
        if (types.isEmpty())
            return failure(t, QStringLiteral("type: needs a file type: %1.")
                                  .arg(queryFileTypes().join(QStringLiteral(", "))));
        for (const QString &type : types)
            if (!m_query.filter.fileTypes.contains(type))
                m_query.filter.fileTypes.append(type);
        return std::nullopt;
    }

    std::optional<Error> applyShape(const QueryToken &t, const QString &v) {
        const QString s = v.toLower();
        if (s == QLatin1String("portrait"))
            m_query.filter.shape = PhotoShape::Portrait;
        else if (s == QLatin1String("landscape"))
            m_query.filter.shape = PhotoShape::Landscape;
        else if (s == QLatin1String("square"))
            m_query.filter.shape = PhotoShape::Square;
        else
            return failure(
                t,
                QStringLiteral("\"%1\" is not a shape; use portrait, landscape or square.").arg(v));
        return std::nullopt;
    }

    std::optional<Error> applyMinSize(const QueryToken &t, const QString &v) {
        static const QRegularExpression re(
            QStringLiteral("^(\\d{1,7})(?:\\s*[xX\\x{00D7}]\\s*(\\d{1,7}))?$"));
        const auto m = re.match(v);
        const int a = m.hasMatch() ? m.captured(1).toInt() : 0;
        const int b = m.hasMatch() && !m.captured(2).isEmpty() ? m.captured(2).toInt() : -1;
        if (!m.hasMatch() || a < 1 || b == 0 || a > kMaxPixels || b > kMaxPixels)
            return failure(t, QStringLiteral("\"%1\" is not a size; write WIDTHxHEIGHT or the "
                                             "longer side in pixels (1 to %2), e.g. "
                                             "min:1920x1080 or min:1920.")
                                  .arg(v)
                                  .arg(kMaxPixels));
        m_query.filter.minLongSide = b < 0 ? a : std::max(a, b);
        m_query.filter.minShortSide = b < 0 ? 0 : std::min(a, b);
        return std::nullopt;
    }

    std::optional<Error> applySort(const QueryToken &t, const QString &v) {
        const QString s = v.toLower();
        if (s == QLatin1String("relevance"))
            m_query.sort = SortOrder::Relevance;
        else if (s == QLatin1String("date"))
            m_query.sort = SortOrder::DateTaken;
        else if (s == QLatin1String("name"))
            m_query.sort = SortOrder::Name;
        else
            return failure(
                t,
                QStringLiteral("\"%1\" is not a sort order; use relevance, date or name.").arg(v));
        return std::nullopt;
    }

    const QString &m_text;
    const FolderResolver &m_resolver;
    ParsedQuery m_query;
    QStringList m_captionWords;
    // The token that set each single-valued filter, for "given twice" and after/before messages.
    QHash<QueryTokenKind, QString> m_setBy;
};

} // namespace

ParsedQuery parseQuery(const QString &text, const FolderResolver &resolver) {
    return QueryParser(text, resolver).parse();
}

namespace {
QString quoted(const QString &value) {
    QString out = QStringLiteral("\"");
    for (const QChar c : value) {
        if (c == QLatin1Char('"') || c == QLatin1Char('\\'))
            out += QLatin1Char('\\');
        out += c;
    }
    return out + QLatin1Char('"');
}
} // namespace

QString quoteQueryValue(const QString &value) {
    const bool plain = !value.isEmpty() && std::none_of(value.begin(), value.end(), [](QChar c) {
        return c.isSpace() || c == QLatin1Char('"') || c == QLatin1Char('\\');
    });
    return plain ? value : quoted(value);
}

QString formatQuery(const QString &caption, const PhotoFilter &filter,
                    const QStringList &excludedPhrases, SortOrder sort) {
    QStringList parts;
    // Caption words that the parser would read as something else are quoted.
    for (const QString &word : caption.simplified().split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        const ParsedQuery alone = parseQuery(word);
        const bool plain = alone.tokens.size() == 1 &&
                           alone.tokens[0].kind == QueryTokenKind::Caption &&
                           !alone.tokens[0].error && alone.caption == word;
        parts.append(plain ? word : quoted(word));
    }
    if (filter.takenFromMs)
        parts.append(QStringLiteral("after:") + dateText(*filter.takenFromMs));
    if (filter.takenBeforeMs)
        parts.append(QStringLiteral("before:") + dateText(*filter.takenBeforeMs));
    for (const QString &f : filter.folders)
        parts.append(QStringLiteral("in:") + quoteQueryValue(f));
    if (!filter.fileTypes.isEmpty())
        parts.append(QStringLiteral("type:") + filter.fileTypes.join(QLatin1Char(',')));
    for (const QString &c : filter.cameras)
        parts.append(QStringLiteral("camera:") + quoteQueryValue(c));
    switch (filter.shape) {
    case PhotoShape::Portrait:
        parts.append(QStringLiteral("is:portrait"));
        break;
    case PhotoShape::Landscape:
        parts.append(QStringLiteral("is:landscape"));
        break;
    case PhotoShape::Square:
        parts.append(QStringLiteral("is:square"));
        break;
    case PhotoShape::Any:
        break;
    }
    if (filter.minShortSide > 0)
        parts.append(QStringLiteral("min:%1x%2")
                         .arg(std::max(filter.minLongSide, filter.minShortSide))
                         .arg(filter.minShortSide));
    else if (filter.minLongSide > 0)
        parts.append(QStringLiteral("min:%1").arg(filter.minLongSide));
    for (const QString &p : excludedPhrases)
        parts.append(QStringLiteral("not:") + quoteQueryValue(p));
    if (sort == SortOrder::DateTaken)
        parts.append(QStringLiteral("sort:date"));
    else if (sort == SortOrder::Name)
        parts.append(QStringLiteral("sort:name"));
    return parts.join(QLatin1Char(' '));
}

QString formatQuery(const ParsedQuery &query) {
    return formatQuery(query.caption, query.filter, query.excludedPhrases, query.sort);
}

// ---- folder names ----

namespace {

QString cleanFolder(const QString &path) {
    QString p = QDir::cleanPath(path);
    while (p.size() > 1 && p.endsWith(QLatin1Char('/')))
        p.chop(1);
    return p;
}

bool isUnder(const QString &path, const QString &root) {
    return path == root || root == QLatin1String("/") ||
           (path.startsWith(root) && path.size() > root.size() &&
            path[root.size()] == QLatin1Char('/'));
}

// The last `n` components of `path` ("2019/Holidays" for n = 2).
QString tailOf(const QString &path, qsizetype n) {
    const QStringList parts = path.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    return parts.mid(std::max<qsizetype>(0, parts.size() - n)).join(QLatin1Char('/'));
}

} // namespace

FolderNames::FolderNames(QStringList watchedRoots, QStringList folders) {
    for (const QString &r : watchedRoots)
        m_roots.append(cleanFolder(r));
    QSet<QString> seen;
    for (const QString &f : m_roots + folders) {
        const QString c = cleanFolder(f);
        const bool inside = std::any_of(m_roots.begin(), m_roots.end(),
                                        [&](const QString &r) { return isUnder(c, r); });
        if (inside && !seen.contains(c)) {
            seen.insert(c);
            m_folders.append(c);
        }
    }
    m_folders.sort();
    // Shortest unique tails: only folders with the same last name compete, so each group of
    // namesakes grows its tails until they differ (linear in the folders for distinct names).
    QHash<QString, QList<qsizetype>> byName;
    for (qsizetype i = 0; i < m_folders.size(); ++i)
        byName[m_folders[i].section(QLatin1Char('/'), -1).toLower()].append(i);
    m_tails.resize(m_folders.size());
    for (const QList<qsizetype> &group : std::as_const(byName)) {
        for (const qsizetype i : group) {
            const QString &f = m_folders[i];
            m_tails[i] = f; // no tail is unique (one folder's path ends another's): the whole path
            for (qsizetype n = 1; n <= f.count(QLatin1Char('/')); ++n) {
                const QString tail = tailOf(f, n);
                const QString suffix = QLatin1Char('/') + tail;
                const bool shared = std::any_of(group.begin(), group.end(), [&](qsizetype k) {
                    return k != i && m_folders[k].endsWith(suffix, Qt::CaseInsensitive);
                });
                if (!shared && !tail.isEmpty()) {
                    m_tails[i] = tail;
                    break;
                }
            }
        }
    }
}

Result<QString> FolderNames::resolve(const QString &typed) const {
    const QString token = QStringLiteral("in:") + quoteQueryValue(typed);
    if (QDir::isAbsolutePath(typed)) {
        const QString c = cleanFolder(typed);
        if (std::any_of(m_roots.begin(), m_roots.end(),
                        [&](const QString &r) { return isUnder(c, r); }))
            return c;
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("%1: %2 is not in a folder of the library (%3).")
                         .arg(token, c,
                              m_roots.isEmpty() ? QStringLiteral("it has none yet")
                                                : m_roots.join(QStringLiteral(", "))));
    }
    const QString tail = cleanFolder(typed);
    const QString suffix = QLatin1Char('/') + tail;
    QStringList matches;
    for (const QString &f : m_folders)
        if (f.endsWith(suffix, Qt::CaseInsensitive))
            matches.append(f);
    if (matches.size() == 1)
        return matches.first();
    if (matches.size() > 1) {
        QStringList tails;
        for (const QString &m : matches)
            tails.append(QStringLiteral("in:") + quoteQueryValue(m_tails[m_folders.indexOf(m)]));
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("%1: %2 folders are named \"%3\": %4; write one of these.")
                         .arg(token)
                         .arg(matches.size())
                         .arg(tail, tails.join(QStringLiteral(", "))));
    }
    const QStringList near = completions(tail.section(QLatin1Char('/'), -1), 5);
    return Error(
        Error::Code::InvalidArgument,
        near.isEmpty()
            ? QStringLiteral(
                  "%1: no folder of the library is named \"%2\" (the library's folders: %3).")
                  .arg(token, tail,
                       m_roots.isEmpty() ? QStringLiteral("none yet")
                                         : m_roots.join(QStringLiteral(", ")))
            : QStringLiteral("%1: no folder of the library is named \"%2\"; did you mean %3?")
                  .arg(token, tail, near.join(QStringLiteral(", "))));
}

QStringList FolderNames::completions(const QString &prefix, int limit) const {
    QStringList starting, containing;
    const QString p = prefix.trimmed();
    for (qsizetype i = 0; i < m_folders.size(); ++i) {
        const QString &name = m_tails[i];
        const QString last = m_folders[i].section(QLatin1Char('/'), -1);
        if (name.startsWith(p, Qt::CaseInsensitive) || last.startsWith(p, Qt::CaseInsensitive))
            starting.append(name);
        else if (name.contains(p, Qt::CaseInsensitive))
            containing.append(name);
    }
    auto ci = [](const QString &a, const QString &b) {
        return a.compare(b, Qt::CaseInsensitive) < 0;
    };
    std::sort(starting.begin(), starting.end(), ci);
    std::sort(containing.begin(), containing.end(), ci);
    QStringList out = starting + containing;
    out.removeDuplicates();
    if (out.size() > limit)
        out.resize(limit);
    return out;
}

FolderResolver FolderNames::resolver() const {
    return [names = *this](const QString &typed) { return names.resolve(typed); };
}

QStringList collectSubfolders(const QStringList &roots, int limit) {
    QStringList out;
    for (const QString &root : roots) {
        out.append(cleanFolder(root));
        QDirIterator it(root, QDir::Dirs | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
        while (it.hasNext() && out.size() < limit)
            out.append(cleanFolder(it.next()));
        if (out.size() >= limit)
            break;
    }
    return out;
}

} // namespace ts
