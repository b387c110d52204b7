#include "jsonoutput.h"

#include "clicommand.h"

namespace ts::cli {

std::string toJsonText(const QString &s) {
    if (!isRawPath(s))
        return s.toStdString();
    // Split at the escaped bytes: ordinary text as UTF-8, each byte as the marker + its hex.
    std::string text;
    qsizetype start = 0;
    for (qsizetype i = 0; i < s.size(); ++i) {
        const int byte = escapedByteAt(s, i);
        if (byte < 0)
            continue;
        text += QStringView(s).mid(start, i - start).toUtf8().toStdString();
        text += kRawByteMarker;
        text += QByteArray::number(byte, 16).rightJustified(2, '0').toStdString();
        start = i + 1;
    }
    text += QStringView(s).mid(start).toUtf8().toStdString();
    return text;
}

void printJson(const nlohmann::json &j) {
    // Invalid UTF-8 cannot occur (QString -> UTF-8), but never throw out of a command.
    std::string text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    // The dumped marker of a raw file name byte becomes its surrogateescape escape.
    static const std::string dumpedMarker = "\\u0001\\u001a\\u0001";
    for (size_t at = text.find(dumpedMarker); at != std::string::npos;
         at = text.find(dumpedMarker, at))
        text.replace(at, dumpedMarker.size(), "\\udc");
    out(QString::fromStdString(text) + QLatin1Char('\n'));
}

} // namespace ts::cli
