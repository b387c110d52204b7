#include "indexer/librarylocation.h"

#include "indexer/sqldatabase.h"

#include <QRegularExpression>
#include <QUrl>

#include <libpq-fe.h>

#include <memory>

namespace ts {

namespace {

const QString kPasswordMask = QStringLiteral("***");

// Where a URL's password is, to mask it where libpq's message quotes a piece of the URL. libpq
// reads the user information up to the first '/' after "://" (RFC 3986 would stop at '?' too);
// masking everything between the first ':' and the last '@' before it may mask more than libpq's
// password when the URL is odd, never less.
struct UserInfo {
    qsizetype passwordStart = -1, passwordEnd = -1; // [start, end) in the location
};

UserInfo findPassword(const QString &url) {
    const qsizetype start = url.indexOf(QLatin1String("://")) + 3;
    qsizetype end = url.indexOf(QLatin1Char('/'), start);
    if (end < 0)
        end = url.size();
    const qsizetype at = url.lastIndexOf(QLatin1Char('@'), end - 1);
    if (at < start)
        return {};
    const qsizetype colon = url.indexOf(QLatin1Char(':'), start);
    if (colon < 0 || colon > at)
        return {};
    return {colon + 1, at};
}

const QRegularExpression &passwordParameter() {
    static const QRegularExpression re(QStringLiteral("([?&]password=)([^&]*)"));
    return re;
}

// The passwords of `url` as written and as libpq decodes them, to be masked wherever libpq's
// message quotes a piece of the URL.
QStringList passwordsIn(const QString &url) {
    QStringList secrets;
    const UserInfo info = findPassword(url);
    if (info.passwordStart >= 0)
        secrets << url.mid(info.passwordStart, info.passwordEnd - info.passwordStart);
    for (auto it = passwordParameter().globalMatch(url); it.hasNext();)
        secrets << it.next().captured(2);
    QStringList all;
    for (const QString &s : std::as_const(secrets))
        if (!s.isEmpty())
            all << s << QUrl::fromPercentEncoding(s.toUtf8());
    return all;
}

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
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("%1 is not a valid PostgreSQL URL (the port \"%2\" is not a "
                                    "number from 1 to 65535)")
                         .arg(redactedLocation(location), port));
    }
    // libpq quotes the offending piece, which may be the password: mask it (and the whole URL).
    QString why =
        message ? QString::fromUtf8(message).trimmed() : QStringLiteral("libpq could not parse it");
    PQfreemem(message);
    why.replace(location, redactedLocation(location));
    for (const QString &secret : passwordsIn(location))
        why.replace(secret, kPasswordMask);
    return Error(Error::Code::InvalidArgument,
                 QStringLiteral("%1 is not a valid PostgreSQL URL (%2); write it as "
                                "postgresql://USER@HOST[:PORT]/DATABASE")
                     .arg(redactedLocation(location), why));
}

} // namespace ts
