#include "core/common/jsonfile.h"

#include <QFile>

#include <algorithm>

namespace ts {

namespace {

using Json = nlohmann::json;

// Thrown from the parser callback to stop parsing; never leaves parseJson().
struct TooDeep {};

} // namespace

Result<QByteArray> readFileBytes(const QString &path, qint64 maxBytes) {
    QFile file(path);
    if (!file.exists())
        return Error(Error::Code::NotFound, QStringLiteral("%1: file not found").arg(path));
    if (!file.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot open: %2").arg(path, file.errorString()));
    if (file.size() > maxBytes)
        return Error(Error::Code::Format,
                     QStringLiteral("%1: %2 bytes is larger than the %3-byte limit for this file")
                         .arg(path)
                         .arg(file.size())
                         .arg(maxBytes));
    // read() rather than readAll(): a file that grows after the size check still stops at the
    // limit.
    QByteArray bytes = file.read(maxBytes);
    if (file.error() != QFileDevice::NoError)
        return Error(Error::Code::Io,
                     QStringLiteral("%1: read failed: %2").arg(path, file.errorString()));
    return bytes;
}

Result<Json> parseJson(std::string_view text, const QString &source, int maxDepth,
                       std::vector<std::string> *topLevelKeys) {
    // The callback runs before each container is allocated; `depth` counts the enclosing ones.
    auto callback = [maxDepth, topLevelKeys](int depth, Json::parse_event_t event, Json &parsed) {
        if ((event == Json::parse_event_t::object_start ||
             event == Json::parse_event_t::array_start) &&
            depth >= maxDepth)
            throw TooDeep{};
        if (topLevelKeys && event == Json::parse_event_t::key && depth == 1)
            topLevelKeys->push_back(parsed.get<std::string>());
        return true;
    };
    try {
        return Json::parse(text.data(), text.data() + text.size(), callback);
    } catch (const TooDeep &) {
        return Error(
            Error::Code::Format,
            QStringLiteral("%1: JSON nested more than %2 levels deep (the limit for this file)")
                .arg(source)
                .arg(maxDepth));
    } catch (const Json::parse_error &e) {
        // nlohmann reports a 1-based byte position; people look for lines.
        const qsizetype size = qsizetype(text.size());
        const qsizetype at = qBound<qsizetype>(0, qsizetype(e.byte) - 1, size);
        const std::string_view before = text.substr(0, size_t(at));
        const size_t lastNewline = before.rfind('\n');
        const qsizetype lineStart =
            lastNewline == std::string_view::npos ? 0 : qsizetype(lastNewline) + 1;
        const qsizetype line = qsizetype(std::count(before.begin(), before.end(), '\n')) + 1;
        return Error(Error::Code::Format, QStringLiteral("%1: not valid JSON at line %2, column %3")
                                              .arg(source)
                                              .arg(line)
                                              .arg(at - lineStart + 1));
    } catch (const Json::exception &e) {
        return Error(
            Error::Code::Format,
            QStringLiteral("%1: not valid JSON: %2").arg(source, QString::fromUtf8(e.what())));
    } catch (const std::bad_alloc &) {
        return Error(Error::Code::Format,
                     QStringLiteral("%1: out of memory while parsing its JSON").arg(source));
    }
}

Result<Json> readJsonFile(const QString &path, qint64 maxBytes, int maxDepth,
                          std::vector<std::string> *topLevelKeys) {
    auto bytes = readFileBytes(path, maxBytes);
    if (!bytes)
        return bytes.error();
    return parseJson(std::string_view(bytes->constData(), size_t(bytes->size())), path, maxDepth,
                     topLevelKeys);
}

} // namespace ts
