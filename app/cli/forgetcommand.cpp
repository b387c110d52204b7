// towersearch-cli forget DIR: removes a folder and its photos from the library (catalog, vector
// index); the photo files are not touched. --json: {"database": str, "forgotten": str, "photos":
// int}
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

static int runForget(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("DIR"), QStringLiteral("Folders to forget."),
                                 QStringLiteral("DIR..."));
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "Remove folders and their photos from the library (files are not touched)."));
        code >= 0)
        return code;
    if (parser.positionalArguments().isEmpty()) {
        err(QStringLiteral("towersearch-cli forget: give at least one DIR\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    auto lib = library.open(parser, QStringLiteral("forget"), exitCode);
    if (!lib)
        return exitCode;
    // With the model, its vector index file is updated at once (else rebuilt on the next use).
    if (const auto stop = useGivenModel(parser, common, *lib, QStringLiteral("forget")))
        return *stop;
    for (const QString &dir : parser.positionalArguments()) {
        if (Status s = lib->forgetFolder(dir); !s)
            return reportError(s.error());
        if (!parser.isSet(common.json))
            out(QStringLiteral("forgot %1\n").arg(dir));
    }
    if (parser.isSet(common.json))
        printJson({{"database", toJson(lib->databasePath())},
                   {"forgotten", toJson(parser.positionalArguments())},
                   {"photos", lib->stats().photos}});
    return kExitOk;
}

CliCommand forgetCommand() {
    return {QStringLiteral("forget"),
            QStringLiteral("Remove folders and their photos from the library."), runForget};
}

} // namespace ts::cli
