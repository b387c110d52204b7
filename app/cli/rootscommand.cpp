// towersearch-cli roots: the library roots of a catalog and this machine's mapping of them
// (issue 17). The mapping is saved in RootMountsFile (<XDG config home>/towersearch/roots.json).
//   roots list                 name, this machine's path, available or why not, folders, photos
//   roots add NAME PATH        creates the root and maps it here
//   roots map NAME PATH        maps an existing root on this machine
//   roots unmap NAME           forgets this machine's mapping (the catalog keeps everything)
// --json (list): {"database": str, "roots": [{"name", "path" (null: not mapped), "available",
// "reason", "folders", "photos"}]}
#include "indexer/rootmountsfile.h"

#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

namespace ts::cli {

namespace {

int listRoots(const Library &lib, bool json) {
    const QList<LibraryRoot> roots = lib.roots();
    if (json) {
        nlohmann::json list = nlohmann::json::array();
        for (const LibraryRoot &r : roots)
            list.push_back(
                {{"name", toJson(r.name)},
                 {"path", r.localPath.isEmpty() ? nlohmann::json() : toJson(r.localPath)},
                 {"available", r.unavailableReason.isEmpty()},
                 {"reason", toJson(r.unavailableReason)},
                 {"folders", r.folderCount},
                 {"photos", r.photoCount}});
        printJson({{"database", toJson(lib.databasePath())}, {"roots", list}});
        return kExitOk;
    }
    if (roots.isEmpty())
        out(QStringLiteral("no library roots in %1\n").arg(lib.databasePath()));
    for (const LibraryRoot &r : roots)
        out(QStringLiteral("%1\t%2\t%3\t%4 folders\t%5 photos\n")
                .arg(r.name, r.localPath.isEmpty() ? QStringLiteral("-") : r.localPath,
                     r.unavailableReason.isEmpty() ? QStringLiteral("available")
                                                   : r.unavailableReason)
                .arg(r.folderCount)
                .arg(r.photoCount));
    return kExitOk;
}

// After a change: this machine's mapping goes to the roots file.
int saveMapping(const Library &lib, const QString &location, const QString &done) {
    const RootMountsFile file;
    if (Status s = file.save(location, lib.rootMounts()); !s)
        return reportError(s.error());
    out(done + QLatin1Char('\n'));
    return kExitOk;
}

} // namespace

static int runRoots(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("ACTION"),
                                 QStringLiteral("list, add NAME PATH, map NAME PATH, unmap NAME"),
                                 QStringLiteral("list|add|map|unmap [NAME [PATH]]"));
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Library roots: folders with one identity on every "
                                              "machine, mapped on each to its local path."));
        code >= 0)
        return code;
    const QStringList pos = parser.positionalArguments();
    const QString action = pos.value(0, QStringLiteral("list"));
    const int wanted = action == QLatin1String("list")                                    ? 1
                       : action == QLatin1String("unmap")                                 ? 2
                       : action == QLatin1String("add") || action == QLatin1String("map") ? 3
                                                                                          : -1;
    if (wanted < 0)
        return usageError(
            QStringLiteral("roots"),
            QStringLiteral("unknown action '%1' (list, add, map or unmap)").arg(action));
    if (pos.size() != wanted && !(action == QLatin1String("list") && pos.isEmpty()))
        return usageError(QStringLiteral("roots"),
                          QStringLiteral("%1 takes %2")
                              .arg(action, wanted == 2   ? QStringLiteral("NAME")
                                           : wanted == 3 ? QStringLiteral("NAME PATH")
                                                         : QStringLiteral("nothing")));
    int exitCode = kExitOk;
    auto lib = library.open(parser, QStringLiteral("roots"), exitCode);
    if (!lib)
        return exitCode;
    const QString location = library.databasePath(parser);
    if (action == QLatin1String("list"))
        return listRoots(*lib, parser.isSet(common.json));
    const QString name = pos.value(1);
    if (action == QLatin1String("add")) {
        if (Status s = lib->addRoot(name, pos.value(2)); !s)
            return reportError(s.error());
        return saveMapping(*lib, location,
                           QStringLiteral("added library root '%1' at %2")
                               .arg(name, lib->rootMounts().value(name)));
    }
    bool known = false;
    for (const LibraryRoot &r : lib->roots())
        known = known || r.name == name;
    if (!known)
        return reportError(
            Error(Error::Code::NotFound, QStringLiteral("the library %1 has no root named '%2'")
                                             .arg(lib->databasePath(), name)));
    if (action == QLatin1String("map")) {
        if (Status s = lib->mapRoot(name, pos.value(2)); !s)
            return reportError(s.error());
        return saveMapping(*lib, location,
                           QStringLiteral("mapped library root '%1' to %2 on this machine")
                               .arg(name, lib->rootMounts().value(name)));
    }
    if (Status s = lib->mapRoot(name, QString()); !s)
        return reportError(s.error());
    return saveMapping(*lib, location,
                       QStringLiteral("library root '%1' is not mapped on this machine any more "
                                      "(its photos stay in the library)")
                           .arg(name));
}

CliCommand rootsCommand() {
    return {QStringLiteral("roots"),
            QStringLiteral("Library roots and where this machine mounts them."), runRoots};
}

} // namespace ts::cli
