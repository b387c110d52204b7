#include "core/common/jsonfile.h"

#include <QFile>

namespace ts {

Result<nlohmann::json> readJsonFile(const QString &path, qint64 maxBytes) {
    QFile file(path);
    if (!file.exists())
        return Error(Error::Code::NotFound, QStringLiteral("%1: file not found").arg(path));
    if (!file.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io, QStringLiteral("%1: cannot open: %2").arg(path, file.errorString()));
    if (file.size() > maxBytes)
        return Error(Error::Code::Format,
                     QStringLiteral("%1: %2 bytes is larger than the %3-byte limit for this file")
                         .arg(path).arg(file.size()).arg(maxBytes));
    const QByteArray bytes = file.readAll();
    try {
        return nlohmann::json::parse(bytes.constData(), bytes.constData() + bytes.size());
    } catch (const nlohmann::json::parse_error &e) {
        return Error(Error::Code::Format,
                     QStringLiteral("%1: not valid JSON at byte %2").arg(path).arg(qulonglong(e.byte)));
    }
}

} // namespace ts
