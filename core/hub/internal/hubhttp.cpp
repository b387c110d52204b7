#include "core/hub/internal/hubhttp.h"

#include <QHostAddress>
#include <QNetworkRequest>

namespace ts::internal {

QString header(const QNetworkReply *reply, const char *name) {
    return QString::fromLatin1(reply->rawHeader(name)).trimmed();
}

int httpStatus(const QNetworkReply *reply) {
    return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

bool isConnectionError(QNetworkReply::NetworkError e) {
    switch (e) {
    case QNetworkReply::ConnectionRefusedError:
    case QNetworkReply::HostNotFoundError:
    case QNetworkReply::TimeoutError:
    case QNetworkReply::TemporaryNetworkFailureError:
    case QNetworkReply::NetworkSessionFailedError:
    case QNetworkReply::UnknownNetworkError:
    case QNetworkReply::ProxyConnectionRefusedError:
    case QNetworkReply::ProxyNotFoundError:
    case QNetworkReply::ProxyTimeoutError:
    case QNetworkReply::SslHandshakeFailedError:
        return true;
    default:
        return false;
    }
}

bool isTransientError(QNetworkReply::NetworkError e) {
    return e == QNetworkReply::RemoteHostClosedError || e == QNetworkReply::TimeoutError ||
           e == QNetworkReply::TemporaryNetworkFailureError ||
           e == QNetworkReply::UnknownNetworkError || e == QNetworkReply::ProtocolFailure ||
           e == QNetworkReply::ServiceUnavailableError || e == QNetworkReply::InternalServerError ||
           e == QNetworkReply::UnknownServerError;
}

bool isHttp(const QUrl &url) {
    const QString scheme = url.scheme().toLower();
    return scheme == QLatin1String("http") || scheme == QLatin1String("https");
}

bool isLoopbackHost(const QString &host) {
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0)
        return true;
    QHostAddress address;
    return address.setAddress(host) && address.isLoopback();
}

bool sameOrigin(const QUrl &a, const QUrl &b) {
    const QString scheme = a.scheme().toLower();
    const int defaultPort = scheme == QLatin1String("https") ? 443 : 80;
    return scheme == b.scheme().toLower() && !a.host().isEmpty() &&
           a.host().compare(b.host(), Qt::CaseInsensitive) == 0 &&
           a.port(defaultPort) == b.port(defaultPort);
}

bool isDowngrade(const QUrl &from, const QUrl &to) {
    return from.scheme().toLower() == QLatin1String("https") &&
           to.scheme().toLower() == QLatin1String("http");
}

QString quoted(const QString &s) {
    QString out = s.left(100);
    for (QChar &c : out)
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            c = u'?';
    return QLatin1Char('"') + out +
           (s.size() > 100 ? QStringLiteral("...\"") : QStringLiteral("\""));
}

QString mib(qint64 bytes) {
    return QString::number(double(bytes) / (1024.0 * 1024.0), 'f', 1) + QStringLiteral(" MiB");
}

} // namespace ts::internal
