#include "indexer/rootmountsfile.h"

#include "core/common/jsonfile.h"
#include "indexer/library.h"
#include "indexer/sqldatabase.h"

#include <QDir>
#include <QFileInfo>
#include <QSaveFile>
#include <QStandardPaths>

#include <nlohmann/json.hpp>

namespace ts {

namespace {

constexpr qint64 kMaxBytes = 4LL << 20; // a few hundred bytes per catalog

// The whole file as JSON: {} when it does not exist.
Result<nlohmann::json> readAll(const QString &path) {
    if (!QFileInfo::exists(path))
        return nlohmann::json::object();
    auto json = readJsonFile(path, kMaxBytes);
    if (!json)
        return json.error();
    if (!json->is_object() || (json->contains("catalogs") && !(*json)["catalogs"].is_object()))
        return Error(
            Error::Code::Format,
            QStringLiteral("%1: not a roots file (an object with \"catalogs\")").arg(path));
    return json;
}

} // namespace

QString RootMountsFile::defaultPath() {
    return QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation) +
           QStringLiteral("/towersearch/roots.json");
}

QString RootMountsFile::keyFor(const QString &catalogLocation) {
    // A URL without its password: the file never holds one, and every password names one entry.
    if (sql::isPostgresLocation(catalogLocation))
        return sql::redactedLocation(catalogLocation, sql::Redaction::Remove);
    const QString file =
        catalogLocation.isEmpty() ? Library::defaultDatabasePath() : catalogLocation;
    return QDir::cleanPath(QFileInfo(file).absoluteFilePath());
}

Result<QHash<QString, QString>> RootMountsFile::load(const QString &catalogLocation) const {
    auto json = readAll(m_path);
    if (!json)
        return json.error();
    QHash<QString, QString> out;
    const std::string key = keyFor(catalogLocation).toStdString();
    if (!json->contains("catalogs") || !(*json)["catalogs"].contains(key))
        return out;
    const nlohmann::json &entry = (*json)["catalogs"][key];
    if (!entry.is_object())
        return Error(Error::Code::Format, QStringLiteral("%1: the roots of %2 are not an object")
                                              .arg(m_path, keyFor(catalogLocation)));
    for (auto it = entry.begin(); it != entry.end(); ++it) {
        if (!it.value().is_string())
            return Error(Error::Code::Format,
                         QStringLiteral("%1: the path of root '%2' is not a string")
                             .arg(m_path, QString::fromStdString(it.key())));
        out.insert(QString::fromStdString(it.key()),
                   QString::fromStdString(it.value().get<std::string>()));
    }
    return out;
}

Status RootMountsFile::save(const QString &catalogLocation,
                            const QHash<QString, QString> &mounts) const {
    // A file (or this catalog's entry) that cannot be read is left as it is, never overwritten.
    if (auto current = load(catalogLocation); !current)
        return current.error();
    auto json = readAll(m_path);
    if (!json)
        return json.error();
    nlohmann::json entry = nlohmann::json::object();
    for (auto it = mounts.cbegin(); it != mounts.cend(); ++it)
        entry[it.key().toStdString()] = it.value().toStdString();
    (*json)["version"] = 1;
    nlohmann::json &catalogs = (*json)["catalogs"];
    if (!catalogs.is_object())
        catalogs = nlohmann::json::object();
    const std::string key = keyFor(catalogLocation).toStdString();
    if (mounts.isEmpty())
        catalogs.erase(key);
    else
        catalogs[key] = entry;
    const QByteArray text = QByteArray::fromStdString(json->dump(2)) + '\n';
    QDir().mkpath(QFileInfo(m_path).absolutePath());
    QSaveFile out(m_path);
    if (!out.open(QIODevice::WriteOnly) || out.write(text) != text.size() || !out.commit())
        return Error(Error::Code::Io,
                     QStringLiteral("cannot write %1: %2").arg(m_path, out.errorString()));
    return {};
}

} // namespace ts
