// towersearch-cli similar FILE: the library's photos nearest to a photo (itself excluded), within
// the same filters as `search` (--after, --before, --in, --type, --camera, --shape, --min-size,
// --not, --sort).
// --json schema (stable): {"photo": str, "filter": {as `search`}, "model": str, "database": str,
// "results": [as `search`, "match_probability" always null]}
#include "clicommand.h"
#include "filteroptions.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

static int runSimilar(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption limit(QStringLiteral("limit"),
                                   QStringLiteral("Results to print (default 20)."),
                                   QStringLiteral("N"));
    parser.addOption(limit);
    FilterCliOptions filters;
    filters.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("FILE"),
                                 QStringLiteral("A photo (in the library or not)."));
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Find the library's photos that look like a photo."));
        code >= 0)
        return code;
    if (parser.positionalArguments().size() != 1) {
        err(QStringLiteral("towersearch-cli similar: give one FILE\n"));
        return kExitUsage;
    }
    const Result<int> count = positiveIntOption(parser, limit, 20);
    if (!count)
        return usageError(QStringLiteral("similar"), count.error().message);
    const QString file = parser.positionalArguments().first();
    int exitCode = kExitOk;
    std::unique_ptr<Library> lib = library.open(parser, QStringLiteral("similar"), exitCode);
    if (!lib)
        return exitCode;
    const auto query =
        parseFilters(parser, filters, QString(), *lib, QStringLiteral("similar"), exitCode);
    if (!query)
        return exitCode;
    auto engine = openForQuery(parser, common, library, QStringLiteral("similar"), lib, exitCode);
    if (!engine)
        return exitCode == kExitOk ? kExitFailure : exitCode;
    SearchOptions options;
    options.candidates = *count;
    options.filter = query->filter;
    options.excludedPhrases = query->excludedPhrases;
    options.sort = query->sort;
    auto hits = engine->searchSimilar(file, options);
    if (!hits)
        return reportError(hits.error());
    if (parser.isSet(common.json))
        printJson({{"photo", toJson(file)},
                   {"filter", filterToJson(*query)},
                   {"model", toJson(lib->stats().modelKey)},
                   {"database", toJson(lib->databasePath())},
                   {"results", hitsToJson(*hits, lib.get())}});
    else
        printHits(*hits);
    return kExitOk;
}

CliCommand similarCommand() {
    return {QStringLiteral("similar"),
            QStringLiteral("Find the library's photos that look like a photo."), runSimilar};
}

} // namespace ts::cli
