#include "libraryoptions.h"

#include "core/common/nativepath.h"
#include "indexer/librarylocation.h"
#include "indexer/rootmountsfile.h"

#include "clicommand.h"
#include "filteroptions.h"
#include "jsonoutput.h"
#include "modeloptions.h"

namespace ts::cli {

QString LibraryCliOptions::databasePath(const QCommandLineParser &parser) const {
    if (parser.isSet(db))
        return parser.value(db);
    // Empty: the Library opens the default (shared with the app) and moves the app's old one there.
    return qEnvironmentVariable("TOWERSEARCH_DB");
}

std::unique_ptr<Library> LibraryCliOptions::open(const QCommandLineParser &parser,
                                                 const QString &command, int &exitCode,
                                                 LibraryOptions options) const {
    options.databasePath = databasePath(parser);
    if (Status syntax = checkLocationSyntax(options.databasePath); !syntax) {
        const QString source =
            parser.isSet(db) ? QStringLiteral("--db") : QStringLiteral("$TOWERSEARCH_DB");
        exitCode = usageError(command, source + QStringLiteral(": ") + syntax.error().message);
        return {};
    }
    options.watchFolders = false; // a command runs once; the app follows changes
    // This machine's mount paths of the library's roots (roots.json; `roots map` writes it).
    auto mounts = RootMountsFile().load(options.databasePath);
    if (!mounts) {
        err(QStringLiteral("towersearch-cli %1: %2\n").arg(command, mounts.error().message));
        exitCode = kExitFailure;
        return {};
    }
    options.rootMounts = *mounts;
    auto lib = Library::open(options);
    if (!lib) {
        err(QStringLiteral("towersearch-cli %1: %2\n").arg(command, lib.error().message));
        exitCode = lib.error().code == Error::Code::Unsupported ? kExitInput : kExitFailure;
        return {};
    }
    return std::move(*lib);
}

std::optional<int> attachPipeline(Library &library,
                                  const std::shared_ptr<BridgeTowerPipeline> &pipeline) {
    if (Status s = library.setPipeline(pipeline); !s || !(s = library.waitForModel()))
        return reportError(s.error());
    return std::nullopt;
}

std::optional<int> useGivenModel(const QCommandLineParser &parser, const ModelOptions &model,
                                 Library &library, const QString &command) {
    if (!parser.isSet(model.model) && qEnvironmentVariable("TOWERSEARCH_MODEL").isEmpty())
        return std::nullopt;
    int exitCode = kExitOk;
    auto pipeline = model.load(parser, command, kHeadNone, exitCode);
    if (!pipeline)
        return exitCode;
    return attachPipeline(library, pipeline);
}

std::shared_ptr<const SearchEngine> openForQuery(const QCommandLineParser &parser,
                                                 const ModelOptions &model,
                                                 const LibraryCliOptions &library,
                                                 const QString &command,
                                                 std::unique_ptr<Library> &lib, int &exitCode) {
    auto pipeline =
        model.load(parser, command, kHeadContrastive | kHeadImageTextMatching, exitCode);
    if (!pipeline)
        return {};
    if (!lib)
        lib = library.open(parser, command, exitCode);
    if (!lib)
        return {};
    if (const auto stop = attachPipeline(*lib, pipeline)) {
        exitCode = *stop;
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

nlohmann::json hitsToJson(const std::vector<PhotoHit> &hits, const Library *library) {
    nlohmann::json a = nlohmann::json::array();
    int rank = 1;
    for (const PhotoHit &h : hits) {
        nlohmann::json j{{"rank", rank++},
                         {"id", h.photoId},
                         {"path", toJson(h.path)},
                         {"similarity", h.similarity}};
        j["match_probability"] =
            h.matchProbability ? nlohmann::json(*h.matchProbability) : nlohmann::json(nullptr);
        if (library)
            if (const std::optional<PhotoRecord> photo = library->photo(h.photoId))
                j.update(photoMetadataJson(*photo));
        a.push_back(std::move(j));
    }
    return a;
}

void printListing(const std::vector<PhotoRecord> &photos) {
    int rank = 1;
    for (const PhotoRecord &p : photos) {
        const QString date = p.taken && p.taken->isValid()
                                 ? (p.takenIsFileTime ? QStringLiteral("~") : QString()) +
                                       p.taken->toString(QStringLiteral("yyyy-MM-dd HH:mm"))
                                 : QStringLiteral("-");
        out(QStringLiteral("%1\t%2\t%3\n").arg(rank++).arg(date, printablePath(p.path)));
    }
}

void printHits(const std::vector<PhotoHit> &hits) {
    int rank = 1;
    for (const PhotoHit &h : hits)
        out(QStringLiteral("%1\t%2\t%3\t%4\n")
                .arg(rank++)
                .arg(h.similarity, 0, 'f', 4)
                .arg(h.matchProbability ? QString::number(*h.matchProbability, 'f', 4)
                                        : QStringLiteral("-"))
                .arg(printablePath(h.path))); // one line per photo, whatever its name holds
}

} // namespace ts::cli
