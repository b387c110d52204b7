#include "app/gui/cataloglisting.h"

#include "indexer/catalog.h"

namespace ts {

Result<std::shared_ptr<CatalogListing>>
CatalogListing::open(const QString &databasePath, const QHash<QString, QString> &rootMounts) {
    auto catalog = Catalog::open(databasePath, rootMounts);
    if (!catalog.ok())
        return catalog.error();
    return std::make_shared<CatalogListing>(std::move(catalog.value()));
}

CatalogListing::CatalogListing(std::unique_ptr<Catalog> catalog) : m_catalog(std::move(catalog)) {}

CatalogListing::~CatalogListing() = default;

Result<qint64> CatalogListing::countPhotos(const PhotoFilter &filter) const {
    return m_catalog->countPhotos(filter);
}

Result<std::vector<MonthCount>> CatalogListing::monthCounts(const PhotoFilter &filter) const {
    return m_catalog->monthCounts(filter);
}

Result<std::vector<PhotoRecord>> CatalogListing::listPhotos(const PhotoFilter &filter,
                                                            SortOrder order, qint64 offset,
                                                            int limit) const {
    return m_catalog->listPhotos(filter, order, offset, limit);
}

} // namespace ts
