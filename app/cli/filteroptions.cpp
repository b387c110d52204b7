#include "filteroptions.h"

#include "clicommand.h"
#include "jsonoutput.h"

#include <QDateTime>

namespace ts::cli {

namespace {

nlohmann::json isoOrNull(const std::optional<qint64> &ms) {
    if (!ms)
        return nullptr;
    const QDateTime local = QDateTime::fromMSecsSinceEpoch(*ms);
    return toJson(local.toOffsetFromUtc(local.offsetFromUtc()).toString(Qt::ISODate));
}

const char *shapeName(PhotoShape shape) {
    switch (shape) {
    case PhotoShape::Portrait:
        return "portrait";
    case PhotoShape::Landscape:
        return "landscape";
    case PhotoShape::Square:
        return "square";
    case PhotoShape::Any:
        break;
    }
    return nullptr;
}

const char *sortName(SortOrder sort) {
    switch (sort) {
    case SortOrder::DateTaken:
        return "date";
    case SortOrder::Name:
        return "name";
    case SortOrder::Relevance:
        break;
    }
    return "relevance";
}

} // namespace

void FilterCliOptions::addTo(QCommandLineParser &parser) const {
    parser.addOptions({after, before, in, type, camera, shape, minSize, exclude, sort});
}

QString FilterCliOptions::flagTokens(const QCommandLineParser &parser) const {
    QStringList tokens;
    auto add = [&](const QCommandLineOption &option, const QString &key) {
        for (const QString &value : parser.values(option))
            tokens.append(key + QLatin1Char(':') + quoteQueryValue(value));
    };
    add(after, QStringLiteral("after"));
    add(before, QStringLiteral("before"));
    add(in, QStringLiteral("in"));
    add(type, QStringLiteral("type"));
    add(camera, QStringLiteral("camera"));
    add(shape, QStringLiteral("is"));
    add(minSize, QStringLiteral("min"));
    add(exclude, QStringLiteral("not"));
    add(sort, QStringLiteral("sort"));
    return tokens.join(QLatin1Char(' '));
}

FolderNames libraryFolderNames(const Library &library) {
    QStringList roots;
    for (const WatchedFolder &f : library.folders())
        roots.append(f.path);
    return FolderNames(roots, collectSubfolders(roots));
}

std::optional<ParsedQuery> parseFilters(const QCommandLineParser &parser,
                                        const FilterCliOptions &options, const QString &caption,
                                        const Library &library, const QString &command,
                                        int &exitCode) {
    const QString flags = options.flagTokens(parser);
    const QString text = flags.isEmpty() ? caption : caption + QLatin1Char(' ') + flags;
    // Folders are walked only when a query names one.
    const bool needsFolders = text.contains(QLatin1String("in:"), Qt::CaseInsensitive);
    const FolderNames folders = needsFolders ? libraryFolderNames(library) : FolderNames();
    ParsedQuery query = parseQuery(text, folders.resolver());
    if (const auto error = query.firstError()) {
        err(QStringLiteral("towersearch-cli %1: %2\n").arg(command, error->message));
        exitCode = kExitUsage;
        return std::nullopt;
    }
    return query;
}

nlohmann::json filterToJson(const ParsedQuery &query) {
    const PhotoFilter &f = query.filter;
    nlohmann::json j{{"after", isoOrNull(f.takenFromMs)}, {"before", isoOrNull(f.takenBeforeMs)},
                     {"in", toJson(f.folders)},           {"type", toJson(f.fileTypes)},
                     {"camera", toJson(f.cameras)},       {"min_long_side", f.minLongSide},
                     {"min_short_side", f.minShortSide},  {"not", toJson(query.excludedPhrases)},
                     {"sort", sortName(query.sort)}};
    const char *shape = shapeName(f.shape);
    j["shape"] = shape ? nlohmann::json(shape) : nlohmann::json(nullptr);
    return j;
}

nlohmann::json photoMetadataJson(const PhotoRecord &photo) {
    nlohmann::json j;
    if (photo.taken && photo.taken->isValid()) {
        j["taken"] = isoOrNull(photo.taken->toMSecsSinceEpoch());
        j["taken_source"] = photo.takenIsFileTime ? "file" : "exif";
    } else {
        j["taken"] = nullptr;
        j["taken_source"] = nullptr;
    }
    j["type"] = photo.fileType.isEmpty() ? nlohmann::json(nullptr) : toJson(photo.fileType);
    const QString camera = (photo.cameraMake + QLatin1Char(' ') + photo.cameraModel).trimmed();
    j["camera"] = camera.isEmpty() ? nlohmann::json(nullptr) : toJson(camera);
    j["width"] = photo.width;
    j["height"] = photo.height;
    return j;
}

} // namespace ts::cli
