// The PostgreSQL backend of sql::Database (indexer/sqldatabase.h), over libpq.

#include "indexer/sqldatabase.h"

namespace ts::sql::detail {

Result<std::unique_ptr<Database>> openPostgres(const QString &url, Database::Mode,
                                               Failure *failure) {
    if (failure)
        *failure = Failure::Other;
    return Error(Error::Code::Unsupported,
                 QStringLiteral("cannot open %1: this build has no PostgreSQL driver yet")
                     .arg(redactedLocation(url)));
}

} // namespace ts::sql::detail
