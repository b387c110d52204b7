#pragma once

#include <QNetworkReply>
#include <QString>
#include <QUrl>

// HTTP rules of the Hub client: which answers are failures of the network, which are worth
// resuming, which URLs may carry the token, and how a server's words appear in a message. Pure
// functions of their arguments; any thread.
namespace ts::internal {

// A response header, trimmed ("" when absent).
QString header(const QNetworkReply *reply, const char *name);
// The HTTP status, 0 when no answer arrived.
int httpStatus(const QNetworkReply *reply);
// The network itself failed (no answer from the server), as opposed to an HTTP error status.
bool isConnectionError(QNetworkReply::NetworkError e);
// Worth resuming: the transfer started, then the connection dropped or stalled.
bool isTransientError(QNetworkReply::NetworkError e);

bool isHttp(const QUrl &url);
// "localhost" or a loopback address (127.0.0.0/8, ::1).
bool isLoopbackHost(const QString &host);
// Same scheme, host and port (default ports filled in): "//host/..." is another server.
bool sameOrigin(const QUrl &a, const QUrl &b);
// Whether a redirect from `from` to `to` leaves https for plain http.
bool isDowngrade(const QUrl &from, const QUrl &to);

// A header value from the server, quoted for a message: control characters replaced, cut at 100.
QString quoted(const QString &s);
// "12.3 MiB".
QString mib(qint64 bytes);

} // namespace ts::internal
