// towersearch-cli similar FILE: the library's photos nearest to a photo (itself excluded).
// --json schema (stable): {"photo": str, "model": str, "database": str, "results": [as `search`,
// "match_probability" always null]}
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

std::shared_ptr<const SearchEngine> openForQuery(const QCommandLineParser &parser, const ModelOptions &common,
                                                 const LibraryCliOptions &library, const QString &command,
                                                 std::unique_ptr<Library> &lib, int &exitCode);

static int runSimilar(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption limit(QStringLiteral("limit"), QStringLiteral("Results to print (default 20)."), QStringLiteral("N"));
    parser.addOption(limit);
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("A photo (in the library or not)."));
    if (int code = parseOrExit(parser, args, QStringLiteral("Find the library's photos that look like a photo.")); code >= 0)
        return code;
    if (parser.positionalArguments().size() != 1) {
        err(QStringLiteral("towersearch-cli similar: give one FILE\n"));
        return kExitUsage;
    }
    int count = 20;
    bool ok = true;
    if (parser.isSet(limit))
        count = parser.value(limit).toInt(&ok);
    if (!ok || count < 1) {
        err(QStringLiteral("towersearch-cli similar: --limit needs a positive number\n"));
        return kExitUsage;
    }
    const QString file = parser.positionalArguments().first();
    int exitCode = kExitOk;
    std::unique_ptr<Library> lib;
    auto engine = openForQuery(parser, common, library, QStringLiteral("similar"), lib, exitCode);
    if (!engine)
        return exitCode == kExitOk ? kExitFailure : exitCode;
    auto hits = engine->searchSimilar(file, count);
    if (!hits)
        return reportError(hits.error());
    if (parser.isSet(common.json))
        printJson({{"photo", toJson(file)}, {"model", toJson(lib->stats().modelKey)},
                   {"database", toJson(lib->databasePath())}, {"results", hitsToJson(*hits)}});
    else
        printHits(*hits);
    return kExitOk;
}

CliCommand similarCommand() {
    return {QStringLiteral("similar"), QStringLiteral("Find the library's photos that look like a photo."), runSimilar};
}

} // namespace ts::cli
