#pragma once

// What the library commands (index, search, similar, status, forget) share: --db PATH and opening
// the Library. The default database is Library::defaultDatabasePath()
// (~/.local/share/towersearch/library.sqlite, the app's too), or $TOWERSEARCH_DB when set.

#include "indexer/library.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <nlohmann/json.hpp>

#include <memory>

namespace ts::cli {

// Exit code of a command stopped by Ctrl+C (128 + SIGINT, as shells report it).
inline constexpr int kExitInterrupted = 130;

struct LibraryCliOptions {
    QCommandLineOption db{QStringLiteral("db"),
                          QStringLiteral("Library database (default: $TOWERSEARCH_DB, else %1).")
                              .arg(Library::defaultDatabasePath()),
                          QStringLiteral("PATH")};

    void addTo(QCommandLineParser &parser) const { parser.addOption(db); }
    // --db, else $TOWERSEARCH_DB, else empty (the default library).
    QString databasePath(const QCommandLineParser &parser) const;
    // Opens the library; on failure prints the error and sets `exitCode`.
    std::unique_ptr<Library> open(const QCommandLineParser &parser, const QString &command,
                                  int &exitCode, LibraryOptions options = {}) const;
};

// The photo's id, path, similarity and (when reranked) ITM match probability as JSON; with a
// library, also each photo's date taken, type, camera and size (see photoMetadataJson).
nlohmann::json hitsToJson(const std::vector<PhotoHit> &hits, const Library *library = nullptr);
// Prints hits as "rank  similarity  probability  path" lines.
void printHits(const std::vector<PhotoHit> &hits);
// Prints a listing as "rank  date taken  path" lines ("-" for no date; "~" marks a file time).
void printListing(const std::vector<PhotoRecord> &photos);

} // namespace ts::cli
