#pragma once

#include "core/search/photofilter.h"

#include <QString>
#include <QtGlobal>

#include <optional>
#include <vector>

namespace ts {

// Where the search engine finds a photo's file, given the id the vector index returned. The
// catalog (indexer) implements it over SQLite; tests over a map. Keeps core free of SQL.
// Must be safe to call from worker threads.
class PhotoSource {
public:
    virtual ~PhotoSource() = default;
    // The photo's path, or an empty string when the id is unknown (e.g. removed meanwhile).
    virtual QString photoPath(qint64 photoId) const = 0;
    // Changes whenever the file's content may have changed (e.g. "size-mtime"): keys cached
    // features.
    virtual QString photoStamp(qint64 photoId) const = 0;
    // The id of the photo at `path` when it is in the library (to exclude it from "similar"
    // results).
    virtual std::optional<qint64> photoIdForPath(const QString &path) const = 0;
    // The vector stored for `modelKey` of a library photo with exactly the content of the file at
    // `path` (every byte; any path), so that a photo dropped on the window is not run through the
    // model again. nullopt when there is none (an edited file is embedded anew) or the file cannot
    // be read (the caller's own read then reports why). May read and hash the whole file.
    virtual std::optional<std::vector<float>>
    storedEmbedding([[maybe_unused]] const QString &path,
                    [[maybe_unused]] const QString &modelKey) const {
        return std::nullopt;
    }
    // The ids of the photos `filter` keeps, ascending; nullopt when this source cannot evaluate
    // filters (the engine then refuses a non-empty filter rather than ignore it).
    virtual std::optional<std::vector<qint64>>
    photosMatching([[maybe_unused]] const PhotoFilter &filter) const {
        return std::nullopt;
    }
    // When the photo was taken (EXIF, else file time), ms since the epoch, for sorting by date.
    virtual std::optional<qint64> photoTakenMs([[maybe_unused]] qint64 photoId) const {
        return std::nullopt;
    }
};

} // namespace ts
