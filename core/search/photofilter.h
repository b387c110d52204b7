#pragma once

// What narrows a search or a library listing besides the caption: when a photo was taken, where it
// lies, what kind of file it is, which camera took it, its shape and size. A value type shared by
// the query parser, the search engine, the catalog (which evaluates it) and the app.
//
// Semantics (every set field must match; an empty filter matches every photo):
// - takenFrom/takenBefore: the photo's date taken (EXIF DateTimeOriginal, else the file's
//   modification time) in [takenFrom, takenBefore), local time, as milliseconds since the epoch.
// - folders: the photo lies in one of these folders or below (absolute, cleaned paths).
// - fileTypes: the photo's type is one of these (lower-case canonical names: "jpeg", "png",
//   "heic", "webp", "tiff", "gif", "bmp", ...; "heic" covers .heic and .heif).
// - cameras: one of these (case-insensitive) is contained in the photo's "<make> <model>".
// - shape: portrait (taller than wide), landscape (wider than tall) or square, as displayed.
// - minLongSide/minShortSide: the displayed size's longer/shorter side in pixels at least this.

#include <QString>
#include <QStringList>
#include <QtGlobal>

#include <optional>

namespace ts {

enum class PhotoShape { Any, Portrait, Landscape, Square };

// How a result list or a listing is ordered. Relevance applies to searches with a caption or a
// photo; a listing without one orders by date taken, newest first.
enum class SortOrder { Relevance, DateTaken, Name };

struct PhotoFilter {
    std::optional<qint64> takenFromMs;   // inclusive
    std::optional<qint64> takenBeforeMs; // exclusive
    QStringList folders;
    QStringList fileTypes;
    QStringList cameras;
    PhotoShape shape = PhotoShape::Any;
    int minLongSide = 0;
    int minShortSide = 0;

    bool isEmpty() const {
        return !takenFromMs && !takenBeforeMs && folders.isEmpty() && fileTypes.isEmpty() &&
               cameras.isEmpty() && shape == PhotoShape::Any && minLongSide <= 0 &&
               minShortSide <= 0;
    }
    friend bool operator==(const PhotoFilter &, const PhotoFilter &) = default;
};

} // namespace ts
