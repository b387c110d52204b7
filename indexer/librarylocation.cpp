#include "indexer/librarylocation.h"

#include "indexer/sqldatabase.h"

#include <QStringList>

#include <libpq-fe.h>

#include <memory>

namespace ts {

namespace {

// libpq checks the port only when it connects (a list, one per host): the first that is not a
// TCP port number, or a null string.
QString badPort(const PQconninfoOption *options) {
    for (const PQconninfoOption *o = options; o->keyword; ++o) {
        if (qstrcmp(o->keyword, "port") != 0 || !o->val)
            continue;
        for (const QString &port : QString::fromUtf8(o->val).split(QLatin1Char(','))) {
            bool ok = false;
            const int n = port.toInt(&ok);
            if (!port.isEmpty() && (!ok || n < 1 || n > 65535))
                return port;
        }
    }
    return {};
}

} // namespace

// One copy of each: the driver's (indexer/sqldatabase.h), which front ends may not include.
bool isDatabaseUrl(const QString &location) {
    return sql::isPostgresLocation(location);
}

QString redactedLocation(const QString &location) {
    return sql::redactedLocation(location);
}

Status checkLocationSyntax(const QString &location) {
    if (!isDatabaseUrl(location))
        return Status::success();
    char *message = nullptr;
    const std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
        PQconninfoParse(location.toUtf8().constData(), &message), &PQconninfoFree);
    if (options) {
        const QString port = badPort(options.get());
        if (port.isNull())
            return Status::success();
        // The "port" may be a password holding a raw '/' (libpq then reads no user name).
        return Error(Error::Code::InvalidArgument,
                     sql::maskPasswords(
                         QStringLiteral("%1 is not a valid PostgreSQL URL (the port \"%2\" is not "
                                        "a number from 1 to 65535)")
                             .arg(location, port),
                         location));
    }
    // libpq quotes the offending piece, which may be the password: mask it (and the whole URL).
    QString why =
        message ? QString::fromUtf8(message).trimmed() : QStringLiteral("libpq could not parse it");
    PQfreemem(message);
    why = sql::maskPasswords(why, location);
    return Error(Error::Code::InvalidArgument,
                 QStringLiteral("%1 is not a valid PostgreSQL URL (%2); write it as "
                                "postgresql://USER@HOST[:PORT]/DATABASE")
                     .arg(redactedLocation(location), why));
}

} // namespace ts
