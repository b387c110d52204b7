#include "indexer/sqldatabase.h"

#include "indexer/rootmapper.h"

#include <QRegularExpression>
#include <QStringList>
#include <QUrl>

#include <algorithm>

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

namespace {

qsizetype firstOf(const QString &text, const QString &chars, qsizetype from) {
    qsizetype first = text.size();
    for (const QChar c : chars)
        if (const qsizetype i = text.indexOf(c, from); i >= 0 && i < first)
            first = i;
    return first;
}

// Where the user information of a URL ends: its '@', or -1. libpq reads user[:password] up to an
// '@' before the first '/', whatever the password holds ('?' and '#' included); the last such '@'
// masks the most when a raw '@' is in it. A raw '/' in the password (an invalid URL: libpq then
// reads no user information and takes the password for a port or a database name) still ends at
// the last '@' before the query when a ':' comes before the '/': masking more than the password
// of an odd URL, never less.
qsizetype userInfoEnd(const QString &location, qsizetype hostStart) {
    const qsizetype slash = firstOf(location, QStringLiteral("/"), hostStart);
    const qsizetype at = location.lastIndexOf(QLatin1Char('@'), slash - 1);
    if (at >= hostStart || slash == location.size())
        return at;
    const qsizetype colon = location.indexOf(QLatin1Char(':'), hostStart);
    if (colon < 0 || colon > slash)
        return -1;
    const qsizetype later =
        location.lastIndexOf(QLatin1Char('@'), firstOf(location, QStringLiteral("?#"), slash) - 1);
    return later > slash ? later : -1;
}

bool isPasswordParameter(const QString &parameter) {
    const QString key = parameter.section(QLatin1Char('='), 0, 0);
    return key.compare(QLatin1String("password"), Qt::CaseInsensitive) == 0 ||
           key.compare(QLatin1String("sslpassword"), Qt::CaseInsensitive) == 0;
}

} // namespace

QString maskPasswords(QString text, const QString &location) {
    if (!isPostgresLocation(location))
        return text;
    const QString mask = QStringLiteral("***");
    text.replace(location, redactedLocation(location));
    QStringList secrets;
    const qsizetype hostStart = location.indexOf(QLatin1String("://")) + 3;
    if (const qsizetype at = userInfoEnd(location, hostStart); at >= 0) {
        const qsizetype colon = location.indexOf(QLatin1Char(':'), hostStart);
        if (colon >= 0 && colon < at)
            secrets << location.mid(colon + 1, at - colon - 1);
    }
    const qsizetype query = location.indexOf(QLatin1Char('?'), hostStart);
    if (query >= 0)
        for (const QString &p :
             location.mid(query + 1).split(QRegularExpression(QStringLiteral("[&#]"))))
            if (isPasswordParameter(p))
                secrets << p.section(QLatin1Char('='), 1);
    QStringList pieces;
    for (const QString &s : std::as_const(secrets)) {
        pieces << s << QUrl::fromPercentEncoding(s.toUtf8());
        for (const QString &piece : s.split(QRegularExpression(QStringLiteral("[@/]"))))
            if (piece.size() >= 2 && piece != s)
                pieces << piece;
    }
    // Longest first: a piece must not break up a longer secret before it is masked whole.
    std::sort(pieces.begin(), pieces.end(),
              [](const QString &a, const QString &b) { return a.size() > b.size(); });
    for (const QString &piece : std::as_const(pieces))
        if (!piece.isEmpty())
            text.replace(piece, mask);
    return text;
}

QString redactedLocation(const QString &location, Redaction how) {
    if (!isPostgresLocation(location))
        return location;
    const qsizetype hostStart = location.indexOf(QLatin1String("://")) + 3;
    const qsizetype at = userInfoEnd(location, hostStart);
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
        if (!isPasswordParameter(p))
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
