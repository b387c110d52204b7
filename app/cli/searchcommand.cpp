// towersearch-cli search TEXT: photos of the library ranked for a caption (contrastive retrieval,
// then the ITM head reranks the best ones).
//
// --json schema (stable): {"query": str, "model": str, "database": str,
//   "results": [{"rank": int, "id": int, "path": str, "similarity": float (cosine, -1..1),
//                "match_probability": float 0..1 or null when not reranked}], "skipped": [str]}
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

// Opens the library with the model for a query command; prints why when that fails.
std::shared_ptr<const SearchEngine> openForQuery(const QCommandLineParser &parser, const ModelOptions &common,
                                                 const LibraryCliOptions &library, const QString &command,
                                                 std::unique_ptr<Library> &lib, int &exitCode) {
    auto pipeline = common.load(parser, command, kHeadContrastive | kHeadImageTextMatching, exitCode);
    if (!pipeline)
        return {};
    lib = library.open(parser, command, exitCode);
    if (!lib)
        return {};
    if (Status s = lib->setPipeline(pipeline); !s || !(s = lib->waitForModel())) {
        exitCode = reportError(s.error());
        return {};
    }
    const LibraryStats stats = lib->stats();
    if (stats.indexed == 0)
        err(QStringLiteral("towersearch-cli %1: no photo of %2 is indexed with this model yet; run 'towersearch-cli index'\n")
                .arg(command, stats.databasePath));
    else if (stats.pending > 0)
        err(QStringLiteral("towersearch-cli %1: note: %2 photos are not indexed with this model yet\n").arg(command).arg(stats.pending));
    return lib->searchEngine();
}

static int runSearch(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption limit(QStringLiteral("limit"), QStringLiteral("Results to print (default 20)."), QStringLiteral("N"));
    const QCommandLineOption rerank(QStringLiteral("rerank"), QStringLiteral("How many of them the ITM head re-scores (default 20)."),
                                    QStringLiteral("N"));
    const QCommandLineOption minProbability(QStringLiteral("min-probability"),
                                            QStringLiteral("Hide photos whose match probability is below P (0..1)."), QStringLiteral("P"));
    parser.addOptions({limit, rerank, minProbability});
    parser.addPositionalArgument(QStringLiteral("TEXT"), QStringLiteral("What to look for."), QStringLiteral("TEXT..."));
    if (int code = parseOrExit(parser, args, QStringLiteral("Find photos of the library by a description.")); code >= 0)
        return code;
    const QString text = parser.positionalArguments().join(QLatin1Char(' '));
    if (text.trimmed().isEmpty()) {
        err(QStringLiteral("towersearch-cli search: give the TEXT to look for\n"));
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
        err(QStringLiteral("towersearch-cli search: --limit, --rerank and --min-probability need numbers\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    std::unique_ptr<Library> lib;
    auto engine = openForQuery(parser, common, library, QStringLiteral("search"), lib, exitCode);
    if (!engine)
        return exitCode == kExitOk ? kExitFailure : exitCode;
    QStringList skipped;
    auto hits = engine->searchText(text, options, [&](const SearchUpdate &u) {
        if (u.finished)
            skipped = u.skipped;
    });
    if (!hits)
        return reportError(hits.error());
    if (parser.isSet(common.json)) {
        printJson({{"query", toJson(text)}, {"model", toJson(lib->stats().modelKey)},
                   {"database", toJson(lib->databasePath())}, {"results", hitsToJson(*hits)}, {"skipped", toJson(skipped)}});
    } else {
        printHits(*hits);
        for (const QString &s : skipped)
            err(QStringLiteral("skipped: %1\n").arg(s));
    }
    return kExitOk;
}

CliCommand searchCommand() {
    return {QStringLiteral("search"), QStringLiteral("Find photos of the library by a description."), runSearch};
}

} // namespace ts::cli
