#pragma once

// What `search` and `similar` share for filters: the flags --after --before --in --type --camera
// --shape --min-size --not --sort, turned into query-language tokens (core/search/queryparser.h)
// and parsed together with any filters written in the caption itself, so both spellings give the
// same filter and the same error sentences. Also the per-photo metadata written in --json output.

#include "core/search/queryparser.h"
#include "indexer/library.h"

#include <QCommandLineOption>
#include <QCommandLineParser>

#include <nlohmann/json.hpp>

namespace ts::cli {

struct FilterCliOptions {
    QCommandLineOption after{
        QStringLiteral("after"),
        QStringLiteral("Photos taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD, local time)."),
        QStringLiteral("DATE")};
    QCommandLineOption before{
        QStringLiteral("before"),
        QStringLiteral("Photos taken before DATE (before:2020 keeps 2019 and earlier)."),
        QStringLiteral("DATE")};
    QCommandLineOption in{
        QStringLiteral("in"),
        QStringLiteral("Photos in FOLDER or below: a folder's name under a watched folder, "
                       "or an absolute path (repeatable)."),
        QStringLiteral("FOLDER")};
    QCommandLineOption type{
        QStringLiteral("type"),
        QStringLiteral("File type: jpeg, png, heic, webp, tiff, gif, bmp, avif (repeatable)."),
        QStringLiteral("TYPE")};
    QCommandLineOption camera{QStringLiteral("camera"),
                              QStringLiteral("Camera make or model contains TEXT (repeatable)."),
                              QStringLiteral("TEXT")};
    QCommandLineOption shape{QStringLiteral("shape"),
                             QStringLiteral("portrait, landscape or square."),
                             QStringLiteral("SHAPE")};
    QCommandLineOption minSize{
        QStringLiteral("min-size"),
        QStringLiteral("At least WxH pixels either way round, or N on the longer side."),
        QStringLiteral("SIZE")};
    QCommandLineOption exclude{QStringLiteral("not"),
                               QStringLiteral("Leave out photos that show PHRASE (repeatable)."),
                               QStringLiteral("PHRASE")};
    QCommandLineOption sort{QStringLiteral("sort"),
                            QStringLiteral("relevance (default), date (newest first) or name."),
                            QStringLiteral("ORDER")};

    void addTo(QCommandLineParser &parser) const;
    // The flags as query-language tokens, in a fixed order.
    QString flagTokens(const QCommandLineParser &parser) const;
};

// The library's folder names (watched folders and the folders below them on disk) for in:.
FolderNames libraryFolderNames(const Library &library);

// Parses `caption` plus the flags; on a malformed filter prints the error (naming the token and
// what is valid) and returns nullopt with `exitCode` = kExitUsage.
std::optional<ParsedQuery> parseFilters(const QCommandLineParser &parser,
                                        const FilterCliOptions &options, const QString &caption,
                                        const Library &library, const QString &command,
                                        int &exitCode);

// The filter as JSON: {"after", "before" (ISO 8601 or null), "in", "type", "camera", "shape",
// "min_long_side", "min_short_side", "not", "sort"}.
nlohmann::json filterToJson(const ParsedQuery &query);
// A photo's metadata: {"taken": ISO 8601 with offset or null, "taken_source": "exif" | "file" |
// null, "type", "camera" ("<make> <model>" or null), "width", "height"}.
nlohmann::json photoMetadataJson(const PhotoRecord &photo);

} // namespace ts::cli
