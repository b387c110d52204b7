// The query language (core/search/queryparser.h): filters, exclusions and sort beside the caption,
// token spans for the search field's chips, clear errors for malformed tokens (never a silent
// drop), the formatter's round trip, and folder names resolved against the library's folders.
// Expected dates are computed here with QDateTime from the calendar dates the rows name.
#include "core/search/queryparser.h"

#include <QDateTime>
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <ctime>

using namespace ts;

Q_DECLARE_METATYPE(ts::PhotoFilter)
Q_DECLARE_METATYPE(ts::SortOrder)

namespace {

qint64 localMs(int y, int m, int d) {
    return QDateTime(QDate(y, m, d), QTime(0, 0)).toMSecsSinceEpoch();
}

PhotoFilter dates(std::optional<qint64> from, std::optional<qint64> before) {
    PhotoFilter f;
    f.takenFromMs = from;
    f.takenBeforeMs = before;
    return f;
}

const QStringList kRoots = {QStringLiteral("/photos"), QStringLiteral("/mnt/camera")};
const QStringList kFolders = {
    QStringLiteral("/photos/2019"),          QStringLiteral("/photos/2020"),
    QStringLiteral("/photos/My Trips"),      QStringLiteral("/photos/2019/Holidays"),
    QStringLiteral("/photos/2020/Holidays"), QStringLiteral("/photos/2019/Birthday"),
    QStringLiteral("/photos/My Trips/Rome"), QStringLiteral("/mnt/camera/DCIM"),
    QStringLiteral("/elsewhere/Outside"), // not under a root
};

// Sets the process's time zone (TZ) for a scope; local-time conversions follow it.
class TimeZoneGuard {
public:
    explicit TimeZoneGuard(const QByteArray &tz)
        : m_old(qgetenv("TZ")), m_had(qEnvironmentVariableIsSet("TZ")) {
        qputenv("TZ", tz);
        tzset();
    }
    ~TimeZoneGuard() {
        if (m_had)
            qputenv("TZ", m_old);
        else
            qunsetenv("TZ");
        tzset();
    }

private:
    QByteArray m_old;
    bool m_had;
};

} // namespace

class TestQueryParser : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parsesCaptionAndFilters_data();
    void parsesCaptionAndFilters();
    void dateBoundsAreTheFirstLocalInstantOfThePeriod_data();
    void dateBoundsAreTheFirstLocalInstantOfThePeriod();
    void rejectsMalformedTokens_data();
    void rejectsMalformedTokens();
    void tokensCarryTheirSourceSpan_data();
    void tokensCarryTheirSourceSpan();
    void formatRoundTrips_data();
    void formatRoundTrips();
    void folderNamesResolve_data();
    void folderNamesResolve();
    void folderCompletionsOfferUnambiguousNames();
    void inUsesTheCallersResolver();
    void collectSubfoldersWalksTheRoots();
};

void TestQueryParser::parsesCaptionAndFilters_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("caption");
    QTest::addColumn<PhotoFilter>("filter");
    QTest::addColumn<QStringList>("excluded");
    QTest::addColumn<SortOrder>("sort");

    const QStringList none;
    QTest::newRow("caption only") << "two cats  asleep on a couch"
                                  << "two cats asleep on a couch" << PhotoFilter{} << none
                                  << SortOrder::Relevance;
    QTest::newRow("empty") << "   "
                           << "" << PhotoFilter{} << none << SortOrder::Relevance;
    QTest::newRow("after year is inclusive from Jan 1")
        << "beach after:2019"
        << "beach" << dates(localMs(2019, 1, 1), std::nullopt) << none << SortOrder::Relevance;
    QTest::newRow("after month") << "after:2019-06 beach"
                                 << "beach" << dates(localMs(2019, 6, 1), std::nullopt) << none
                                 << SortOrder::Relevance;
    QTest::newRow("after day, one-digit month")
        << "after:2019-6-5"
        << "" << dates(localMs(2019, 6, 5), std::nullopt) << none << SortOrder::Relevance;
    QTest::newRow("before year excludes that year")
        << "before:2020"
        << "" << dates(std::nullopt, localMs(2020, 1, 1)) << none << SortOrder::Relevance;
    QTest::newRow("after and before")
        << "a dog after:2019-06 before:2020 in the snow"
        << "a dog in the snow" << dates(localMs(2019, 6, 1), localMs(2020, 1, 1)) << none
        << SortOrder::Relevance;
    QTest::newRow("leap day") << "before:2024-02-29"
                              << "" << dates(std::nullopt, localMs(2024, 2, 29)) << none
                              << SortOrder::Relevance;
    {
        PhotoFilter f;
        f.fileTypes = {QStringLiteral("heic"), QStringLiteral("jpeg"), QStringLiteral("png")};
        QTest::newRow("types with aliases, repeated and listed")
            << "type:HEIF type:jpg,png type:jpeg"
            << "" << f << none << SortOrder::Relevance;
    }
    {
        PhotoFilter f;
        f.cameras = {QStringLiteral("canon"), QStringLiteral("Pixel 7")};
        QTest::newRow("cameras, quoted value") << "camera:canon Camera:\"Pixel 7\" sunset"
                                               << "sunset" << f << none << SortOrder::Relevance;
    }
    {
        PhotoFilter f;
        f.shape = PhotoShape::Portrait;
        f.minLongSide = 1920;
        f.minShortSide = 1080;
        QTest::newRow("shape and size either way round") << "is:portrait min:1080x1920"
                                                         << "" << f << none << SortOrder::Relevance;
    }
    {
        PhotoFilter f;
        f.minLongSide = 4000;
        QTest::newRow("min long side") << "min:4000 big"
                                       << "big" << f << none << SortOrder::Relevance;
    }
    {
        PhotoFilter f;
        f.shape = PhotoShape::Square;
        QTest::newRow("square, upper case") << "IS:Square"
                                            << "" << f << none << SortOrder::Relevance;
    }
    QTest::newRow("exclusions in three spellings")
        << "a beach -people not:\"red car\" -\"blue sky\" not:dogs"
        << "a beach" << PhotoFilter{}
        << QStringList{QStringLiteral("people"), QStringLiteral("red car"),
                       QStringLiteral("blue sky"), QStringLiteral("dogs")}
        << SortOrder::Relevance;
    QTest::newRow("lone dash and hyphenated words are caption")
        << "t-shirt - 10-4 -"
        << "t-shirt - 10-4 -" << PhotoFilter{} << none << SortOrder::Relevance;
    QTest::newRow("sort date") << "cats sort:date"
                               << "cats" << PhotoFilter{} << none << SortOrder::DateTaken;
    QTest::newRow("sort name") << "sort:NAME"
                               << "" << PhotoFilter{} << none << SortOrder::Name;
    QTest::newRow("sort relevance") << "sort:relevance x"
                                    << "x" << PhotoFilter{} << none << SortOrder::Relevance;
    QTest::newRow("unknown key is caption text") << "a sign saying open: 24h foo:bar 10:30 re:zero"
                                                 << "a sign saying open: 24h foo:bar 10:30 re:zero"
                                                 << PhotoFilter{} << none << SortOrder::Relevance;
    QTest::newRow("quoted word with a key is caption text")
        << "\"after:dark\" \"in the rain\""
        << "after:dark in the rain" << PhotoFilter{} << none << SortOrder::Relevance;
    QTest::newRow("escaped quote in a value")
        << R"(not:"the \"big\" one" x)"
        << "x" << PhotoFilter{} << QStringList{QStringLiteral("the \"big\" one")}
        << SortOrder::Relevance;
    {
        PhotoFilter f;
        f.folders = {QStringLiteral("/home/me/My Photos")};
        QTest::newRow("absolute folder, quoted, cleaned")
            << "in:\"/home/me/My Photos/\" cat"
            << "cat" << f << none << SortOrder::Relevance;
    }
}

void TestQueryParser::parsesCaptionAndFilters() {
    QFETCH(QString, text);
    QFETCH(QString, caption);
    QFETCH(PhotoFilter, filter);
    QFETCH(QStringList, excluded);
    QFETCH(SortOrder, sort);
    const ParsedQuery q = parseQuery(text);
    const auto error = q.firstError();
    QVERIFY2(!error, error ? qPrintable(error->message) : "");
    QCOMPARE(q.caption, caption);
    QCOMPARE(q.filter.takenFromMs, filter.takenFromMs);
    QCOMPARE(q.filter.takenBeforeMs, filter.takenBeforeMs);
    QCOMPARE(q.filter.folders, filter.folders);
    QCOMPARE(q.filter.fileTypes, filter.fileTypes);
    QCOMPARE(q.filter.cameras, filter.cameras);
    QCOMPARE(q.filter.shape, filter.shape);
    QCOMPARE(q.filter.minLongSide, filter.minLongSide);
    QCOMPARE(q.filter.minShortSide, filter.minShortSide);
    QVERIFY(q.filter == filter);
    QCOMPARE(q.excludedPhrases, excluded);
    QCOMPARE(q.sort, sort);
    QCOMPARE(q.hasFilters(), !filter.isEmpty() || !excluded.isEmpty());
}

void TestQueryParser::dateBoundsAreTheFirstLocalInstantOfThePeriod_data() {
    QTest::addColumn<QByteArray>("tz");
    QTest::addColumn<QString>("date");
    QTest::addColumn<QDate>("first"); // the first local day of the period
    // Sao Paulo's clocks went from 00:00 to 01:00 on 2018-11-04: that day starts at 01:00.
    QTest::newRow("Sao Paulo, day starting at 01:00")
        << QByteArray("America/Sao_Paulo") << "2018-11-04" << QDate(2018, 11, 4);
    QTest::newRow("Sao Paulo, month")
        << QByteArray("America/Sao_Paulo") << "2018-11" << QDate(2018, 11, 1);
    QTest::newRow("Kathmandu year") << QByteArray("Asia/Kathmandu") << "2020" << QDate(2020, 1, 1);
    QTest::newRow("UTC day") << QByteArray("UTC") << "1999-12-31" << QDate(1999, 12, 31);
}

void TestQueryParser::dateBoundsAreTheFirstLocalInstantOfThePeriod() {
    QFETCH(QByteArray, tz);
    QFETCH(QString, date);
    QFETCH(QDate, first);
    const TimeZoneGuard guard(tz);
    const ParsedQuery after = parseQuery(QStringLiteral("after:") + date);
    const ParsedQuery before = parseQuery(QStringLiteral("before:") + date);
    QVERIFY(!after.firstError() && !before.firstError());
    // The bound is on the first day of the period; a millisecond earlier is the day before.
    const qint64 ms = *after.filter.takenFromMs;
    QCOMPARE(QDateTime::fromMSecsSinceEpoch(ms).date(), first);
    QCOMPARE(QDateTime::fromMSecsSinceEpoch(ms - 1).date(), first.addDays(-1));
    QCOMPARE(*before.filter.takenBeforeMs, ms); // before:D leaves out exactly what after:D keeps
}

void TestQueryParser::rejectsMalformedTokens_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("badToken"); // the token the error names (and the span it marks)
    QTest::addColumn<QString>("mentions"); // what the message says is valid

    QTest::newRow("day-month-year date") << "cats after:13-2020"
                                         << "after:13-2020"
                                         << "YYYY-MM-DD";
    QTest::newRow("month 13") << "before:2020-13"
                              << "before:2020-13"
                              << "YYYY-MM";
    QTest::newRow("February 30") << "after:2021-02-30"
                                 << "after:2021-02-30"
                                 << "YYYY-MM-DD";
    QTest::newRow("two-digit year") << "after:19"
                                    << "after:19"
                                    << "YYYY";
    QTest::newRow("year zero") << "after:0000"
                               << "after:0000"
                               << "YYYY";
    QTest::newRow("words for a date") << "before:yesterday"
                                      << "before:yesterday"
                                      << "YYYY";
    QTest::newRow("empty after") << "beach after:"
                                 << "after:"
                                 << "YYYY";
    QTest::newRow("empty quoted not") << "not:\"\""
                                      << "not:\"\""
                                      << "phrase";
    QTest::newRow("empty in") << "in: x"
                              << "in:"
                              << "folder";
    QTest::newRow("before earlier than after") << "after:2020 before:2019-06"
                                               << "before:2019-06"
                                               << "after:2020";
    QTest::newRow("before equal to after") << "before:2020 after:2020-01-01"
                                           << "after:2020-01-01"
                                           << "before:2020";
    QTest::newRow("after twice") << "after:2019 after:2020"
                                 << "after:2020"
                                 << "twice";
    QTest::newRow("unknown type") << "type:raw"
                                  << "type:raw"
                                  << "heic";
    QTest::newRow("unknown type in a list") << "type:jpeg,docx"
                                            << "type:jpeg,docx"
                                            << "docx";
    QTest::newRow("bad shape") << "is:round"
                               << "is:round"
                               << "portrait";
    QTest::newRow("bad size") << "min:big"
                              << "min:big"
                              << "1920x1080";
    QTest::newRow("zero size") << "min:0x100"
                               << "min:0x100"
                               << "1920x1080";
    QTest::newRow("huge size") << "min:99999999"
                               << "min:99999999"
                               << "1920x1080";
    QTest::newRow("bad sort") << "sort:size"
                              << "sort:size"
                              << "relevance, date or name";
    QTest::newRow("typo of a key") << "afer:2019 dog"
                                   << "afer:2019"
                                   << "after:";
    QTest::newRow("transposed key") << "camrea:nikon"
                                    << "camrea:nikon"
                                    << "camera:";
    QTest::newRow("alias of a key") << "date:2019"
                                    << "date:2019"
                                    << "after: and before:";
    QTest::newRow("folder alias") << "folder:Holidays"
                                  << "folder:Holidays"
                                  << "in:";
    QTest::newRow("unclosed quote") << "dog not:\"red car"
                                    << "not:\"red car"
                                    << "quote";
    QTest::newRow("relative folder without resolver") << "in:Holidays"
                                                      << "in:Holidays"
                                                      << "absolute path";
}

void TestQueryParser::rejectsMalformedTokens() {
    QFETCH(QString, text);
    QFETCH(QString, badToken);
    QFETCH(QString, mentions);
    const ParsedQuery q = parseQuery(text);
    const auto error = q.firstError();
    QVERIFY2(error, "a malformed token must be an error, not dropped");
    QCOMPARE(error->code, Error::Code::InvalidArgument);
    QVERIFY2(error->message.startsWith(badToken), qPrintable(error->message));
    QVERIFY2(error->message.contains(mentions), qPrintable(error->message));
    // The error sits on the token that caused it, at its place in the text.
    const auto bad =
        std::find_if(q.tokens.begin(), q.tokens.end(), [](const QueryToken &t) { return t.error; });
    QVERIFY(bad != q.tokens.end());
    QCOMPARE(bad->text, badToken);
    QCOMPARE(text.mid(bad->start, bad->length), badToken);
    QCOMPARE(bad->start, text.lastIndexOf(badToken));
    // The malformed token is not read as caption words either.
    QVERIFY2(!q.caption.contains(badToken), qPrintable(q.caption));
}

void TestQueryParser::tokensCarryTheirSourceSpan_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QList<int>>("kinds");
    QTest::addColumn<QStringList>("values");
    QTest::newRow("mixed") << "  sunset  after:2019 camera:\"EOS 5D\" -people   x"
                           << QList<int>{int(QueryTokenKind::Caption), int(QueryTokenKind::After),
                                         int(QueryTokenKind::Camera), int(QueryTokenKind::Exclude),
                                         int(QueryTokenKind::Caption)}
                           << QStringList{"sunset", "2019", "EOS 5D", "people", "x"};
    QTest::newRow("every key") << "in:/a type:png is:square min:10 sort:name not:x before:2001"
                               << QList<int>{int(QueryTokenKind::Folder),
                                             int(QueryTokenKind::Type),
                                             int(QueryTokenKind::Shape),
                                             int(QueryTokenKind::MinSize),
                                             int(QueryTokenKind::Sort),
                                             int(QueryTokenKind::Exclude),
                                             int(QueryTokenKind::Before)}
                               << QStringList{"/a", "png", "square", "10", "name", "x", "2001"};
}

void TestQueryParser::tokensCarryTheirSourceSpan() {
    QFETCH(QString, text);
    QFETCH(QList<int>, kinds);
    QFETCH(QStringList, values);
    const ParsedQuery q = parseQuery(text);
    QVERIFY(!q.firstError());
    QCOMPARE(q.tokens.size(), kinds.size());
    qsizetype from = 0;
    for (int i = 0; i < kinds.size(); ++i) {
        const QueryToken &t = q.tokens[i];
        QCOMPARE(int(t.kind), kinds[i]);
        QCOMPARE(t.value, values[i]);
        QCOMPARE(t.text, text.mid(t.start, t.length));
        // Spans are in order, do not overlap, and hold no white space at their ends.
        QVERIFY(t.start >= from);
        QVERIFY(!t.text.isEmpty() && !t.text.front().isSpace() && !t.text.back().isSpace());
        from = t.start + t.length;
    }
    // Removing a chip = removing its span: the rest parses to the query without that filter.
    const QueryToken &second = q.tokens[1];
    const QString without = text.left(second.start) + text.mid(second.start + second.length);
    const ParsedQuery rest = parseQuery(without);
    QCOMPARE(rest.tokens.size(), q.tokens.size() - 1);
}

void TestQueryParser::formatRoundTrips_data() {
    QTest::addColumn<QString>("text");
    QTest::newRow("caption") << "two cats on a couch";
    QTest::newRow("everything")
        << "dog after:2019-06 before:2020-02-03 in:\"/home/me/My Photos\" in:/x type:heic,jpeg "
           "camera:canon camera:\"Pixel 7\" is:landscape min:1920x1080 -people not:\"red car\" "
           "sort:date";
    QTest::newRow("caption words that look like filters")
        << "\"after:dark\" \"-people\" \"a\\\"b\" sort:name";
    QTest::newRow("long side only") << "min:1000 is:portrait sort:relevance";
    // Found by fuzz_query_parser: white space inside a quoted caption word.
    QTest::newRow("quoted caption words with spaces and tabs") << "\"a  b \" \"c\td\" \"\" e";
    QTest::newRow("exclusion with quote and backslash") << R"(not:"say \"hi\" \\ there")";
}

void TestQueryParser::formatRoundTrips() {
    QFETCH(QString, text);
    const ParsedQuery q = parseQuery(text);
    QVERIFY(!q.firstError());
    const QString formatted = formatQuery(q);
    const ParsedQuery again = parseQuery(formatted);
    QVERIFY2(!again.firstError(), qPrintable(formatted));
    QCOMPARE(again.caption, q.caption);
    QVERIFY2(again.filter == q.filter, qPrintable(formatted));
    QCOMPARE(again.excludedPhrases, q.excludedPhrases);
    QCOMPARE(again.sort, q.sort);
    QCOMPARE(formatQuery(again), formatted); // a fixed point
}

void TestQueryParser::folderNamesResolve_data() {
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("folder");    // empty: an error
    QTest::addColumn<QStringList>("named"); // what the error lists
    QTest::newRow("unique name") << "Birthday"
                                 << "/photos/2019/Birthday" << QStringList{};
    QTest::newRow("case-insensitive") << "dcim"
                                      << "/mnt/camera/DCIM" << QStringList{};
    QTest::newRow("name with a space") << "My Trips"
                                       << "/photos/My Trips" << QStringList{};
    QTest::newRow("tail of the path") << "2020/Holidays"
                                      << "/photos/2020/Holidays" << QStringList{};
    QTest::newRow("a watched folder by name") << "camera"
                                              << "/mnt/camera" << QStringList{};
    QTest::newRow("absolute under a root") << "/photos/2019/"
                                           << "/photos/2019" << QStringList{};
    QTest::newRow("ambiguous name lists both")
        << "Holidays"
        << "" << QStringList{"in:2019/Holidays", "in:2020/Holidays"};
    QTest::newRow("unknown name suggests close ones") << "Holi"
                                                      << "" << QStringList{"2019/Holidays"};
    QTest::newRow("unknown name lists the roots") << "Zanzibar"
                                                  << "" << QStringList{"/photos", "/mnt/camera"};
    QTest::newRow("absolute outside the library") << "/elsewhere/Outside"
                                                  << "" << QStringList{"/photos"};
    QTest::newRow("partial component is not a match") << "days"
                                                      << "" << QStringList{"2019/Holidays"};
}

void TestQueryParser::folderNamesResolve() {
    QFETCH(QString, typed);
    QFETCH(QString, folder);
    QFETCH(QStringList, named);
    const FolderNames names(kRoots, kFolders);
    const Result<QString> r = names.resolve(typed);
    if (!folder.isEmpty()) {
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QCOMPARE(*r, folder);
        return;
    }
    QVERIFY(!r.ok());
    QVERIFY2(r.error().message.startsWith(QStringLiteral("in:") + quoteQueryValue(typed) +
                                          QLatin1Char(':')),
             qPrintable(r.error().message));
    for (const QString &n : named)
        QVERIFY2(r.error().message.contains(n), qPrintable(r.error().message));
}

void TestQueryParser::folderCompletionsOfferUnambiguousNames() {
    const FolderNames names(kRoots, kFolders);
    QCOMPARE(names.completions(QStringLiteral("ho")),
             (QStringList{QStringLiteral("2019/Holidays"), QStringLiteral("2020/Holidays"),
                          QStringLiteral("photos")}));
    QCOMPARE(names.completions(QStringLiteral("b")), (QStringList{QStringLiteral("Birthday")}));
    QCOMPARE(names.completions(QStringLiteral("rom")), (QStringList{QStringLiteral("Rome")}));
    // Those starting with the prefix come before those containing it.
    QCOMPARE(names.completions(QStringLiteral("r")),
             (QStringList{QStringLiteral("Rome"), QStringLiteral("Birthday"),
                          QStringLiteral("camera"), QStringLiteral("My Trips")}));
    QCOMPARE(names.completions(QStringLiteral("day")),
             (QStringList{QStringLiteral("2019/Holidays"), QStringLiteral("2020/Holidays"),
                          QStringLiteral("Birthday")}));
    // Every completion resolves to one folder.
    for (const QString &c : names.completions(QString(), 100))
        QVERIFY2(names.resolve(c).ok(), qPrintable(c));
    QVERIFY(!names.folders().contains(QStringLiteral("/elsewhere/Outside")));
}

void TestQueryParser::inUsesTheCallersResolver() {
    const FolderNames names(kRoots, kFolders);
    const ParsedQuery ok =
        parseQuery(QStringLiteral("cake in:birthday in:2020/Holidays"), names.resolver());
    QVERIFY(!ok.firstError());
    QCOMPARE(ok.filter.folders, (QStringList{QStringLiteral("/photos/2019/Birthday"),
                                             QStringLiteral("/photos/2020/Holidays")}));
    const ParsedQuery ambiguous = parseQuery(QStringLiteral("cake in:Holidays"), names.resolver());
    const auto error = ambiguous.firstError();
    QVERIFY(error);
    QVERIFY2(error->message.startsWith(QStringLiteral("in:Holidays: ")),
             qPrintable(error->message));
    QVERIFY2(!error->message.startsWith(QStringLiteral("in:Holidays: in:Holidays")),
             qPrintable(error->message));
    QVERIFY(ambiguous.filter.folders.isEmpty());
}

void TestQueryParser::collectSubfoldersWalksTheRoots() {
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QDir root(tmp.path());
    QVERIFY(root.mkpath(QStringLiteral("a/b")));
    QVERIFY(root.mkpath(QStringLiteral("c")));
    QVERIFY(root.mkpath(QStringLiteral(".hidden/d")));
    QStringList got = collectSubfolders({tmp.path()});
    got.sort();
    const QString base = QDir::cleanPath(tmp.path());
    QCOMPARE(got, (QStringList{base, base + QStringLiteral("/a"), base + QStringLiteral("/a/b"),
                               base + QStringLiteral("/c")}));
    QCOMPARE(collectSubfolders({tmp.path()}, 2).size(), 2);
}

QTEST_GUILESS_MAIN(TestQueryParser)
#include "tst_queryparser.moc"
