#include "indexer/sqldatabase.h"

#include "indexer/rootmapper.h"

#include <QStringList>

namespace ts::sql {

Statement &Statement::bindPath(int index, const QString &path) {
    if (!m_backend)
        return *this;
    const RootMapper *mapper = m_db ? m_db->rootMapper() : nullptr;
    m_backend->bindPath(index, mapper ? mapper->toStored(path) : path);
    return *this;
}

QString Statement::pathAt(int column) const {
    if (!m_backend)
        return QString();
    const RootMapper *mapper = m_db ? m_db->rootMapper() : nullptr;
    const QString stored = m_backend->pathAt(column);
    return mapper ? mapper->toLocal(stored) : stored;
}

namespace detail {
// In sqlitedatabase.cpp and postgresdatabase.cpp.
Result<std::unique_ptr<Database>> openSqlite(const QString &path, Database::Mode mode);
Result<std::unique_ptr<Database>> openPostgres(const QString &url, Database::Mode mode,
                                               Failure *failure);
} // namespace detail

bool isPostgresLocation(const QString &location) {
    // libpq's own test for a URI (conninfo_uri_parse): the prefix, case-sensitive.
    return location.startsWith(QLatin1String("postgresql://")) ||
           location.startsWith(QLatin1String("postgres://"));
}

QString redactedLocation(const QString &location, Redaction how) {
    if (!isPostgresLocation(location))
        return location;
    const qsizetype hostStart = location.indexOf(QLatin1String("://")) + 3;
    // libpq reads user[:password] up to an '@' before the first '/', whatever the password holds
    // ('?' and '#' included); the last such '@' masks the most when a raw '@' is in it.
    qsizetype slash = location.indexOf(QLatin1Char('/'), hostStart);
    if (slash < 0)
        slash = location.size();
    const qsizetype at = location.lastIndexOf(QLatin1Char('@'), slash - 1);
    QString out = location.left(hostStart);
    qsizetype hostBegin = hostStart;
    if (at >= hostStart) {
        const QString userInfo = location.mid(hostStart, at - hostStart);
        const qsizetype colon = userInfo.indexOf(QLatin1Char(':'));
        if (colon < 0)
            out += userInfo;
        else // Remove: the user name alone, so any password names the same catalog
            out += how == Redaction::Mask ? userInfo.left(colon + 1) + QStringLiteral("***")
                                          : userInfo.left(colon);
        out += QLatin1Char('@');
        hostBegin = at + 1;
    }
    qsizetype hostEnd = location.size();
    for (const QChar c : {QLatin1Char('/'), QLatin1Char('?'), QLatin1Char('#')}) {
        const qsizetype i = location.indexOf(c, hostBegin);
        if (i >= 0 && i < hostEnd)
            hostEnd = i;
    }
    out += location.mid(hostBegin, hostEnd - hostBegin);
    QString rest = location.mid(hostEnd);
    const qsizetype query = rest.indexOf(QLatin1Char('?'));
    if (query < 0)
        return out + rest;
    out += rest.left(query + 1);
    rest = rest.mid(query + 1);
    QString fragment;
    if (const qsizetype hash = rest.indexOf(QLatin1Char('#')); hash >= 0) {
        fragment = rest.mid(hash);
        rest.truncate(hash);
    }
    QStringList params;
    for (const QString &p : rest.split(QLatin1Char('&'))) {
        if (p.section(QLatin1Char('='), 0, 0)
                .compare(QLatin1String("password"), Qt::CaseInsensitive) != 0)
            params << p;
        else if (how == Redaction::Mask)
            params << p.section(QLatin1Char('='), 0, 0) + QStringLiteral("=***");
    }
    if (params.isEmpty())
        out.chop(1); // the '?' of a query that held only the password
    return out + params.join(QLatin1Char('&')) + fragment;
}

Result<std::unique_ptr<Database>> Database::open(const QString &location, Mode mode,
                                                 Failure *failure) {
    if (isPostgresLocation(location))
        return detail::openPostgres(location, mode, failure);
    auto db = detail::openSqlite(location, mode);
    if (!db && failure)
        *failure = Failure::Other;
    return db;
}

} // namespace ts::sql
