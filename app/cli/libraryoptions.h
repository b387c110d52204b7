#pragma once

// What the library commands (index, search, similar, status, forget) share: --db and opening
// the Library. The default database is Library::defaultDatabasePath()
// (~/.local/share/towersearch/library.sqlite, the app's too), or $TOWERSEARCH_DB when set. Either
// names a file or a shared library on PostgreSQL (postgresql://USER@HOST/DATABASE): a malformed URL
// is a usage error before anything connects, and no message shows its password.

#include "indexer/library.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>

namespace ts::cli {

struct ModelOptions;

// Exit code of a command stopped by Ctrl+C (128 + SIGINT, as shells report it).
inline constexpr int kExitInterrupted = 130;

struct LibraryCliOptions {
    QCommandLineOption db{
        QStringLiteral("db"),
        QStringLiteral("Library database: a file, or a shared library on PostgreSQL as "
                       "postgresql://USER@HOST[:PORT]/DATABASE (password from ~/.pgpass or "
                       "$PGPASSWORD) (default: $TOWERSEARCH_DB, else %1).")
            .arg(Library::defaultDatabasePath()),
        QStringLiteral("PATH|URL")};

    void addTo(QCommandLineParser &parser) const { parser.addOption(db); }
    // --db, else $TOWERSEARCH_DB, else empty (the default library).
    QString databasePath(const QCommandLineParser &parser) const;
    // Opens the library; on failure prints the error and sets `exitCode` (kExitUsage for a
    // malformed URL, named with where it came from: --db or $TOWERSEARCH_DB).
    std::unique_ptr<Library> open(const QCommandLineParser &parser, const QString &command,
                                  int &exitCode, LibraryOptions options = {}) const;
};

// Gives `library` the pipeline and waits until it uses its model. On failure prints the error and
// returns the exit code to stop with; nullopt means go on.
std::optional<int> attachPipeline(Library &library,
                                  const std::shared_ptr<BridgeTowerPipeline> &pipeline);

// For commands that work without a model (status, forget, duplicates): with --model or
// $TOWERSEARCH_MODEL, loads that model (no head needed) and attaches it, so the command reads that
// model's vectors; without, the library keeps the model that serves search. Returns the exit code
// to stop with (the error printed), or nullopt to go on.
std::optional<int> useGivenModel(const QCommandLineParser &parser, const ModelOptions &model,
                                 Library &library, const QString &command);

// Loads the model with the search heads, opens the library (unless `lib` is open already: a
// command may open it first to resolve in: before loading the model), attaches the model and says
// on stderr when nothing or not everything is indexed with it yet. On failure prints why, sets
// `exitCode` and returns null.
std::shared_ptr<const SearchEngine> openForQuery(const QCommandLineParser &parser,
                                                 const ModelOptions &model,
                                                 const LibraryCliOptions &library,
                                                 const QString &command,
                                                 std::unique_ptr<Library> &lib, int &exitCode);

// The photo's id, path, similarity and (when reranked) ITM match probability as JSON; with a
// library, also each photo's date taken, type, camera and size (see photoMetadataJson).
nlohmann::json hitsToJson(const std::vector<PhotoHit> &hits, const Library *library = nullptr);
// Prints hits as "rank  similarity  probability  path" lines.
void printHits(const std::vector<PhotoHit> &hits);
// Prints a listing as "rank  date taken  path" lines ("-" for no date; "~" marks a file time).
void printListing(const std::vector<PhotoRecord> &photos);

} // namespace ts::cli
