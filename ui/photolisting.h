#pragma once

#include "core/common/result.h"
#include "core/search/photofilter.h"
#include "indexer/libraryrecords.h"

#include <vector>

namespace ts {

// What the library view reads: how many photos a filter keeps, how many per month, and one page
// of them in an order. The app implements it over Library (count/monthCounts/listPhotos); the
// offscreen tests and the benchmark implement it over 100,000 photos in memory.
//
// Threads: LibraryModel calls it only from deferred work, never from data(): on a worker thread
// when isThreadSafe() is true, else on the GUI thread one small page per event-loop turn.
// Each call is one bounded query; errors are returned, never thrown.
class PhotoListing {
public:
    virtual ~PhotoListing() = default;

    virtual bool isThreadSafe() const { return false; }
    virtual Result<qint64> countPhotos(const PhotoFilter &filter) const = 0;
    // Newest month first; photos without any date are not counted.
    virtual Result<std::vector<MonthCount>> monthCounts(const PhotoFilter &filter) const = 0;
    // Photos [offset, offset + limit) of the filter's photos in `order` (Library::listPhotos).
    virtual Result<std::vector<PhotoRecord>> listPhotos(const PhotoFilter &filter, SortOrder order,
                                                        qint64 offset, int limit) const = 0;
};

} // namespace ts
