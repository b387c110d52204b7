#pragma once

// The query language of the search field and the CLI: a caption with filters, exclusions and a
// sort order written beside it.
//
//   two dogs on a beach after:2019-06 before:2020 in:Holidays type:heic camera:canon -people
//   not:"red car" is:portrait min:1920x1080 sort:date
//
// Basic usage:
//   const ParsedQuery q = parseQuery(text, resolver);
//   if (const auto e = q.firstError()) { show e->message; do not search; }
//   options.filter = q.filter; options.excludedPhrases = q.excludedPhrases; options.sort = q.sort;
//   engine.searchText(q.caption, options) (or list the library when q.caption is empty).
//
// Grammar: the text is split at white space into words; a double-quoted stretch ("red car") is one
// word or value, with \" and \\ inside quotes for a literal quote and backslash. A word `key:value`
// with one of the keys below is a filter; `-phrase` (a dash, then a letter, digit or quote) is the
// same as `not:phrase`; every other word is caption text (those words, white space collapsed to
// one space).
//   after:D      taken on or after the start of D; D is YYYY, YYYY-MM or YYYY-MM-DD, local time
//   before:D     taken before the start of D (so before:2020 keeps 2019 and earlier)
//   in:FOLDER    in that folder or below: the name of a folder under a watched folder ("Holidays",
//                or a tail of its path, "2019/Holidays"), or an absolute path. Resolved by the
//                caller's FolderResolver; unknown or ambiguous names are errors listing candidates
//   type:T       file type: jpeg (jpg), png, heic (heif), webp, tiff (tif), gif, bmp, avif;
//                several as type:jpeg,png
//   camera:TEXT  the camera's "<make> <model>" contains TEXT (case-insensitive)
//   is:SHAPE     portrait, landscape or square
//   min:WxH      at least W x H pixels either way round (min:1920x1080 keeps a 1080x1920 portrait);
//   min:N        the longer side at least N pixels
//   not:PHRASE   leave out photos that match PHRASE (also -PHRASE, -"red car")
//   sort:ORDER   relevance (the default), date (newest first) or name
// in:, type: and camera: may be repeated (any of them matches); after:, before:, is:, min: and
// sort: may be given once. Keys are case-insensitive.
//
// Unknown keys: `foo:bar` is caption text, so captions with colons ("a sign saying open: 24h",
// "10:30") stay searchable; but a word whose key is one letter away from a known key of four or
// more letters (`afer:2019`, `camra:nikon`) is an error ("did you mean after:?"), not a filter
// silently turned into words. Quote a whole word ("\"after:dark\"") to search for it literally.
//
// Errors never drop a filter: each malformed token carries an error (a sentence naming the token
// and what is valid) and the query has at least one error; callers must not search then. Pure:
// no I/O, callable from any thread.

#include "core/common/error.h"
#include "core/common/result.h"
#include "core/search/photofilter.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>

namespace ts {

enum class QueryTokenKind {
    Caption, // a word of the caption
    After,
    Before,
    Folder, // in:
    Type,
    Camera,
    Shape,   // is:
    MinSize, // min:
    Exclude, // not: or -
    Sort,
};

// One word of the query as typed, for chips and inline errors.
struct QueryToken {
    QueryTokenKind kind = QueryTokenKind::Caption;
    QString text;  // exactly as typed: source.mid(start, length)
    QString value; // the value without key and quotes ("2019-06", "red car", the caption word)
    qsizetype start = 0;
    qsizetype length = 0;
    std::optional<Error> error; // set when this token is malformed
};

struct ParsedQuery {
    QString caption;
    PhotoFilter filter;
    QStringList excludedPhrases;
    SortOrder sort = SortOrder::Relevance;
    QList<QueryToken> tokens;

    // The first malformed token's error (Error::Code::InvalidArgument), if any.
    std::optional<Error> firstError() const;
    bool hasFilters() const { return !filter.isEmpty() || !excludedPhrases.isEmpty(); }
};

// Maps what follows `in:` to the absolute, cleaned folder it names, or an error listing the
// candidates (see FolderNames). Called once per in: token, on the parsing thread.
using FolderResolver = std::function<Result<QString>(const QString &typed)>;

// Parses `text`. Without a resolver, in: takes only absolute paths (cleaned).
ParsedQuery parseQuery(const QString &text, const FolderResolver &resolver = {});

// The query text of a caption with filters: parseQuery(formatQuery(...)) gives them back (folders
// are written as absolute paths; dates as the shortest of YYYY, YYYY-MM, YYYY-MM-DD that holds the
// bound, which is exact for bounds parseQuery made).
QString formatQuery(const QString &caption, const PhotoFilter &filter,
                    const QStringList &excludedPhrases = {}, SortOrder sort = SortOrder::Relevance);
QString formatQuery(const ParsedQuery &query);

// A value as the query language writes it: quoted (with \" and \\) when it holds white space,
// quotes or backslashes, or is empty.
QString quoteQueryValue(const QString &value);

// The canonical file type names `type:` accepts (PhotoFilter::fileTypes).
QStringList queryFileTypes();

// Resolves folder names typed after `in:` against the library's folders: the watched folders and
// the folders below them that hold photos (the caller collects them; see collectSubfolders). Pure.
class FolderNames {
public:
    FolderNames() = default;
    FolderNames(QStringList watchedRoots, QStringList folders);

    // An absolute path: itself (cleaned) when it is a watched folder or lies under one. A name or
    // a relative tail ("2019/Holidays"): the one folder whose path ends with it (case-insensitive,
    // whole path components). None or several: an error naming the token and the candidates.
    Result<QString> resolve(const QString &typed) const;
    // Names to offer after `in:` for what was typed so far: folder names starting with `prefix`
    // (case-insensitive), then those containing it, each once, sorted; names shared by several
    // folders are offered as the shortest unambiguous tail.
    QStringList completions(const QString &prefix, int limit = 20) const;
    FolderResolver resolver() const;
    const QStringList &folders() const { return m_folders; }

private:
    QStringList m_roots;
    QStringList m_folders; // roots and folders below them, cleaned, sorted, unique
    QStringList m_tails;   // per folder: the shortest tail of its path no other folder ends with
};

// The folders below `roots` (the roots included), walking the disk up to `limit` folders; hidden
// folders are skipped. Does I/O: call it off the GUI thread.
QStringList collectSubfolders(const QStringList &roots, int limit = 20000);

} // namespace ts
