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

// Opens the library (unless `lib` is open) with the model for a query command; prints why when
// that fails.
std::shared_ptr<const SearchEngine> openForQuery(const QCommandLineParser &parser,
                                                 const ModelOptions &common,
                                                 const LibraryCliOptions &library,
                                                 const QString &command,
                                                 std::unique_ptr<Library> &lib, int &exitCode) {
    auto pipeline =
        common.load(parser, command, kHeadContrastive | kHeadImageTextMatching, exitCode);
    if (!pipeline)
        return {};
    if (!lib) // a command may have opened it already (to resolve in: before loading the model)
        lib = library.open(parser, command, exitCode);
    if (!lib)
        return {};
    if (Status s = lib->setPipeline(pipeline); !s || !(s = lib->waitForModel())) {
        exitCode = reportError(s.error());
        return {};
    }
    const LibraryStats stats = lib->stats();
    if (stats.indexed == 0)
        err(QStringLiteral("towersearch-cli %1: no photo of %2 is indexed with this model yet; run "
                           "'towersearch-cli index'\n")
                .arg(command, stats.databasePath));
    else if (stats.pending > 0)
        err(QStringLiteral(
                "towersearch-cli %1: note: %2 photos are not indexed with this model yet\n")
                .arg(command)
                .arg(stats.pending));
    return lib->searchEngine();
}

static int runSearch(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption limit(QStringLiteral("limit"),
                                   QStringLiteral("Results to print (default 20)."),
                                   QStringLiteral("N"));
    const QCommandLineOption rerank(
        QStringLiteral("rerank"),
        QStringLiteral("How many of them the ITM head re-scores (default 20)."),
        QStringLiteral("N"));
    const QCommandLineOption minProbability(
        QStringLiteral("min-probability"),
        QStringLiteral("Hide photos whose match probability is below P (0..1)."),
        QStringLiteral("P"));
    parser.addOptions({limit, rerank, minProbability});
    FilterCliOptions filters;
    filters.addTo(parser);
    parser.addPositionalArgument(
        QStringLiteral("TEXT"),
        QStringLiteral("What to look for, with filters if you like (after:2019 -people)."),
        QStringLiteral("[TEXT...]"));
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Find photos of the library by a description."));
        code >= 0)
        return code;
    const QString text = parser.positionalArguments().join(QLatin1Char(' '));
    if (text.trimmed().isEmpty() && filters.flagTokens(parser).isEmpty()) {
        err(QStringLiteral("towersearch-cli search: give the TEXT to look for, or a filter "
                           "(--after, --in, ...)\n"));
        return kExitUsage;
    }
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
    if (!ok || options.candidates < 1 || options.rerankDepth < 0) {
        err(QStringLiteral(
            "towersearch-cli search: --limit, --rerank and --min-probability need numbers\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    // The library first: in: names resolve against its folders, and a listing needs no model.
    std::unique_ptr<Library> lib = library.open(parser, QStringLiteral("search"), exitCode);
    if (!lib)
        return exitCode;
    const auto query =
        parseFilters(parser, filters, text, *lib, QStringLiteral("search"), exitCode);
    if (!query)
        return exitCode;
    const bool json = parser.isSet(common.json);
    if (query->caption.isEmpty()) {
        if (!query->excludedPhrases.isEmpty()) {
            err(QStringLiteral("towersearch-cli search: an exclusion (--not, -word) needs a "
                               "caption to rank against\n"));
            return kExitUsage;
        }
        // A listing: the photos the filter keeps, by date (or name), from the catalog.
        const SortOrder order =
            query->sort == SortOrder::Relevance ? SortOrder::DateTaken : query->sort;
        auto photos = lib->listPhotos(query->filter, order, 0, options.candidates);
        if (!photos)
            return reportError(photos.error());
        if (json) {
            nlohmann::json results = nlohmann::json::array();
            int rank = 1;
            for (const PhotoRecord &p : *photos) {
                nlohmann::json r{{"rank", rank++}, {"id", p.id}, {"path", toJson(p.path)}};
                r["similarity"] = nullptr;
                r["match_probability"] = nullptr;
                r.update(photoMetadataJson(p));
                results.push_back(std::move(r));
            }
            printJson({{"query", toJson(text)},
                       {"caption", toJson(query->caption)},
                       {"filter", filterToJson(*query)},
                       {"model", nullptr},
                       {"database", toJson(lib->databasePath())},
                       {"results", results},
                       {"skipped", nlohmann::json::array()}});
        } else {
            printListing(*photos);
        }
        return kExitOk;
    }
    options.filter = query->filter;
    options.excludedPhrases = query->excludedPhrases;
    options.sort = query->sort;
    auto engine = openForQuery(parser, common, library, QStringLiteral("search"), lib, exitCode);
    if (!engine)
        return exitCode == kExitOk ? kExitFailure : exitCode;
    QStringList skipped;
    auto hits = engine->searchText(query->caption, options, [&](const SearchUpdate &u) {
        if (u.finished)
            skipped = u.skipped;
    });
    if (!hits)
        return reportError(hits.error());
    if (json) {
        printJson({{"query", toJson(text)},
                   {"caption", toJson(query->caption)},
                   {"filter", filterToJson(*query)},
                   {"model", toJson(lib->stats().modelKey)},
                   {"database", toJson(lib->databasePath())},
                   {"results", hitsToJson(*hits, lib.get())},
                   {"skipped", toJson(skipped)}});
    } else {
        printHits(*hits);
        for (const QString &s : skipped)
            err(QStringLiteral("skipped: %1\n").arg(s));
    }
    return kExitOk;
}

CliCommand searchCommand() {
    return {QStringLiteral("search"),
            QStringLiteral("Find photos of the library by a description."), runSearch};
}

} // namespace ts::cli
