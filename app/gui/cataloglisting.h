#pragma once

#include "ui/photolisting.h"

#include <QHash>
#include <QString>

#include <memory>

namespace ts {

class Catalog;

// The library view's listing over the catalog, with a read connection of its own (a second
// Catalog on the same file; WAL lets it read while the indexer writes). Its queries run on worker
// threads: a filtered page or the month counts of 100,000 photos take 30-140 ms
// (bench_catalog_filters), too long for the GUI thread, and they never wait for the Library's
// connection, which the window uses for other lookups.
//
// Threads: any (Catalog serialises calls on its connection).
class CatalogListing : public PhotoListing {
public:
    // Fails with the catalog's message (naming the file) when it cannot be opened.
    // `rootMounts`: this machine's library root mapping (Library::rootMounts()).
    static Result<std::shared_ptr<CatalogListing>> open(const QString &databasePath,
                                                        const QHash<QString, QString> &rootMounts);
    explicit CatalogListing(std::unique_ptr<Catalog> catalog);
    ~CatalogListing() override;

    bool isThreadSafe() const override { return true; }
    Result<qint64> countPhotos(const PhotoFilter &filter) const override;
    Result<std::vector<MonthCount>> monthCounts(const PhotoFilter &filter) const override;
    Result<std::vector<PhotoRecord>> listPhotos(const PhotoFilter &filter, SortOrder order,
                                                qint64 offset, int limit) const override;

private:
    std::unique_ptr<Catalog> m_catalog;
};

} // namespace ts
