// towersearch-cli search TEXT: photos of the library ranked for a caption (contrastive retrieval,
// then the ITM head reranks the best ones), within filters given as flags (--after, --before, --in,
// --type, --camera, --shape, --min-size, --not, --sort) or in the text itself (after:2019 -people,
// see core/search/queryparser.h). Filters without a caption list the matching photos (newest
// first, or --sort name) without loading the model.
//
// --json schema (stable): {"query": str, "caption": str, "filter": {see filterToJson},
//   "model": str (null for a listing), "database": str,
//   "results": [{"rank": int, "id": int, "path": str, "similarity": float (cosine, -1..1) or null
//                in a listing, "match_probability": float 0..1 or null when not reranked,
//                "taken", "taken_source", "type", "camera", "width", "height"}], "skipped": [str]}
#include "clicommand.h"
#include "filteroptions.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

namespace {

// --limit, --rerank and --min-probability.
struct RankingCliOptions {
    QCommandLineOption limit{QStringLiteral("limit"),
                             QStringLiteral("Results to print (default 20)."), QStringLiteral("N")};
    QCommandLineOption rerank{
        QStringLiteral("rerank"),
        QStringLiteral("How many of them the ITM head re-scores (default 20)."),
        QStringLiteral("N")};
    QCommandLineOption minProbability{
        QStringLiteral("min-probability"),
        QStringLiteral("Hide photos whose match probability is below P (0..1)."),
        QStringLiteral("P")};

    void addTo(QCommandLineParser &parser) const {
        parser.addOptions({limit, rerank, minProbability});
    }

    // The search options these flags ask for (filters not yet set).
    Result<SearchOptions> read(const QCommandLineParser &parser) const {
        SearchOptions options;
        bool ok = true;
        if (parser.isSet(limit))
            options.candidates = parser.value(limit).toInt(&ok);
        else
            options.candidates = 20;
        if (ok && parser.isSet(rerank))
            options.rerankDepth = parser.value(rerank).toInt(&ok);
        if (ok && parser.isSet(minProbability))
            options.minMatchProbability = parser.value(minProbability).toFloat(&ok);
        if (!ok || options.candidates < 1 || options.rerankDepth < 0)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("--limit, --rerank and --min-probability need numbers"));
        return options;
    }
};

// What the JSON output of a search or a listing starts with.
nlohmann::json queryJson(const QString &text, const ParsedQuery &query, const Library &lib) {
    return {{"query", toJson(text)},
            {"caption", toJson(query.caption)},
            {"filter", filterToJson(query)},
            {"database", toJson(lib.databasePath())}};
}

// Filters without a caption: the photos the filter keeps, by date (or name), from the catalog;
// no model is loaded.
int listFilteredPhotos(const Library &lib, const QString &text, const ParsedQuery &query, int count,
                       bool json) {
    if (!query.excludedPhrases.isEmpty())
        return usageError(QStringLiteral("search"),
                          QStringLiteral("an exclusion (--not, -word) needs a caption to rank "
                                         "against"));
    const SortOrder order = query.sort == SortOrder::Relevance ? SortOrder::DateTaken : query.sort;
    auto photos = lib.listPhotos(query.filter, order, 0, count);
    if (!photos)
        return reportError(photos.error());
    if (!json) {
        printListing(*photos);
        return kExitOk;
    }
    nlohmann::json results = nlohmann::json::array();
    int rank = 1;
    for (const PhotoRecord &p : *photos) {
        nlohmann::json r{{"rank", rank++}, {"id", p.id}, {"path", toJson(p.path)}};
        r["similarity"] = nullptr;
        r["match_probability"] = nullptr;
        r.update(photoMetadataJson(p));
        results.push_back(std::move(r));
    }
    nlohmann::json j = queryJson(text, query, lib);
    j["model"] = nullptr;
    j["results"] = results;
    j["skipped"] = nlohmann::json::array();
    printJson(j);
    return kExitOk;
}

// Ranks the library for the caption within the filter, ITM rerank included.
int searchCaption(const SearchEngine &engine, const Library &lib, const QString &text,
                  const ParsedQuery &query, SearchOptions options, bool json) {
    options.filter = query.filter;
    options.excludedPhrases = query.excludedPhrases;
    options.sort = query.sort;
    QStringList skipped;
    auto hits = engine.searchText(query.caption, options, [&](const SearchUpdate &u) {
        if (u.finished)
            skipped = u.skipped;
    });
    if (!hits)
        return reportError(hits.error());
    if (json) {
        nlohmann::json j = queryJson(text, query, lib);
        j["model"] = toJson(lib.stats().modelKey);
        j["results"] = hitsToJson(*hits, &lib);
        j["skipped"] = toJson(skipped);
        printJson(j);
    } else {
        printHits(*hits);
        for (const QString &s : skipped)
            err(QStringLiteral("skipped: %1\n").arg(s));
    }
    return kExitOk;
}

} // namespace

static int runSearch(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    RankingCliOptions ranking;
    FilterCliOptions filters;
    common.addTo(parser);
    library.addTo(parser);
    ranking.addTo(parser);
    filters.addTo(parser);
    parser.addPositionalArgument(
        QStringLiteral("TEXT"),
        QStringLiteral("What to look for, with filters if you like (after:2019 -people)."),
        QStringLiteral("[TEXT...]"));
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Find photos of the library by a description."));
        code >= 0)
        return code;
    const QString command = QStringLiteral("search");
    const QString text = parser.positionalArguments().join(QLatin1Char(' '));
    if (text.trimmed().isEmpty() && filters.flagTokens(parser).isEmpty())
        return usageError(command, QStringLiteral("give the TEXT to look for, or a filter "
                                                  "(--after, --in, ...)"));
    const Result<SearchOptions> options = ranking.read(parser);
    if (!options)
        return usageError(command, options.error().message);
    int exitCode = kExitOk;
    // The library first: in: names resolve against its folders, and a listing needs no model.
    std::unique_ptr<Library> lib = library.open(parser, command, exitCode);
    if (!lib)
        return exitCode;
    const auto query = parseFilters(parser, filters, text, *lib, command, exitCode);
    if (!query)
        return exitCode;
    const bool json = parser.isSet(common.json);
    if (query->caption.isEmpty())
        return listFilteredPhotos(*lib, text, *query, options->candidates, json);
    auto engine = openForQuery(parser, common, library, command, lib, exitCode);
    if (!engine)
        return exitCode == kExitOk ? kExitFailure : exitCode;
    return searchCaption(*engine, *lib, text, *query, *options, json);
}

CliCommand searchCommand() {
    return {QStringLiteral("search"),
            QStringLiteral("Find photos of the library by a description."), runSearch};
}

} // namespace ts::cli
