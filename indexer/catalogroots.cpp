// The catalog's library roots (issue 17) and stored thumbnails: a root is a name in
// library_roots; this machine's mount paths live in the RootMapper the connection applies to every
// path it binds and reads (Statement::bindPath/pathAt).
#include "indexer/catalog.h"

#include "core/common/nativepath.h"
#include "indexer/sqldatabase.h"

#include <QDateTime>
#include <QDir>

namespace ts {

namespace {

// SQL: is `column` the path ?N (bound with bindPath) or under it (byte prefix "path/")? What lies
// under it is the byte range ["path/", "path0") ('0' follows '/'), a range of the path index.
// PostgreSQL: every path is BYTEA, so that range is all. SQLite: the UTF-8 paths (TEXT) lie in
// that range; a path that is not UTF-8 is a BLOB and is compared as bytes.
QByteArray atOrUnder(sql::Backend backend, const char *column, int n) {
    const QByteArray c(column);
    const QByteArray p = "?" + QByteArray::number(n);
    if (backend == sql::Backend::Postgres)
        return "(" + c + " = " + p + " OR (" + c + " >= CAST(" + p +
               " AS bytea) || '/'::bytea AND " + c + " < CAST(" + p + " AS bytea) || '0'::bytea))";
    return "(" + c + " = " + p + " OR (" + c + " >= " + p + " || '/' AND " + c + " < " + p +
           " || '0') OR (" + c + " >= x'' AND substr(" + c + ", 1, length(CAST(" + p +
           " AS BLOB)) + 1) = CAST(" + p + " || '/' AS BLOB)))";
}

QString rootPath(const QString &name) {
    return QLatin1Char('@') + name;
}

} // namespace

void Catalog::setRootMounts(const QHash<QString, QString> &mounts) {
    std::lock_guard lock(m_mutex);
    m_rootMapper = RootMapper(mounts);
}

RootMapper Catalog::rootMapper() const {
    std::lock_guard lock(m_mutex);
    return m_rootMapper;
}

QList<LibraryRoot> Catalog::roots() const {
    std::lock_guard lock(m_mutex);
    QList<LibraryRoot> out;
    auto s = m_db->prepare("SELECT name FROM library_roots ORDER BY name");
    // "@name" is bound with bindPath(): the mapper leaves a stored path as it is.
    auto folders = m_db->prepare(
        QByteArray("SELECT count(*) FROM folders WHERE " + atOrUnder(m_db->backend(), "path", 1)));
    auto photos = m_db->prepare(
        QByteArray("SELECT count(*) FROM photos WHERE " + atOrUnder(m_db->backend(), "path", 1)));
    while (s.step()) {
        LibraryRoot r;
        r.name = s.textAt(0);
        r.localPath = m_rootMapper.mountOf(r.name);
        r.unavailableReason = m_rootMapper.unavailableReason(rootPath(r.name));
        folders.bindPath(1, rootPath(r.name));
        r.folderCount = folders.step() ? folders.int64At(0) : 0;
        folders.reset();
        photos.bindPath(1, rootPath(r.name));
        r.photoCount = photos.step() ? photos.int64At(0) : 0;
        photos.reset();
        out << r;
    }
    return out;
}

Status Catalog::checkNotNested(const QString &name, const QString &localPath) const {
    for (auto it = m_rootMapper.mounts().cbegin(); it != m_rootMapper.mounts().cend(); ++it) {
        if (it.key() == name)
            continue;
        if (isPathAtOrUnder(localPath, it.value()) || isPathAtOrUnder(it.value(), localPath))
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("%1 cannot be library root '%2': library root '%3' is "
                                        "mapped to %4 on this machine, and roots cannot be nested")
                             .arg(localPath, name, it.key(), it.value()));
    }
    return {};
}

Status Catalog::addRoot(const QString &name, const QString &localPath) {
    std::lock_guard lock(m_mutex);
    if (!RootMapper::isValidName(name))
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("'%1' is not a valid library root name (letters, digits, '.', "
                                    "'_' and '-', at most 64, not starting with '.')")
                         .arg(name));
    if (!localPath.startsWith(QLatin1Char('/')) || localPath == QLatin1String("/") ||
        isRawPath(localPath))
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("%1 cannot be a library root: it must be an absolute folder "
                                    "path below / in UTF-8")
                         .arg(localPath));
    if (Status s = checkNotNested(name, localPath); !s)
        return s;
    const QString doing = QStringLiteral("adding library root '%1' (%2)").arg(name, localPath);
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    auto exists = m_db->prepare("SELECT 1 FROM library_roots WHERE name = ?1");
    if (exists.bind(1, name).step())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the library already has a root named '%1' (map it on this "
                                    "machine instead)")
                         .arg(name));
    exists = {};
    auto insert = m_db->prepare("INSERT INTO library_roots(name, created_ms) VALUES (?1, ?2)");
    insert.bind(1, name).bind(2, nowMs());
    if (!insert.exec())
        return m_db->lastError(doing);
    if (Status s = storeUnderRoot(name, localPath); !s)
        return s;
    if (!tx.commit())
        return m_db->lastError(doing);
    QHash<QString, QString> mounts = m_rootMapper.mounts();
    mounts.insert(name, localPath);
    m_rootMapper = RootMapper(mounts);
    return {};
}

// Rewrites what the catalog holds at or under `localPath` as "@name/..." (called in addRoot's
// transaction, before the connection maps the root, so bindPath/pathAt still see it as local).
Status Catalog::storeUnderRoot(const QString &name, const QString &localPath) {
    const QString doing = QStringLiteral("storing %1 under library root '%2'").arg(localPath, name);
    const auto rewrite = [&](const char *table, const char *key) -> Status {
        const QByteArray select = QByteArray("SELECT ") + key + ", path FROM " + table + " WHERE " +
                                  atOrUnder(m_db->backend(), "path", 1);
        auto rows = m_db->prepare(select.constData());
        rows.bindPath(1, localPath);                    // not mapped yet: bound as it is
        const bool byPath = QByteArray(key) == "path";  // directories are keyed by their path
        std::vector<std::pair<QString, QString>> found; // key (id or old path), new stored path
        while (rows.step())
            found.emplace_back(byPath ? rows.pathAt(0) : QString::number(rows.int64At(0)),
                               rootPath(name) + rows.pathAt(1).mid(localPath.size()));
        rows = {};
        const QByteArray update =
            QByteArray("UPDATE ") + table + " SET path = ?2 WHERE " + key + " = ?1";
        auto put = m_db->prepare(update.constData());
        for (const auto &[id, path] : found) {
            if (byPath)
                put.bindPath(1, id);
            else
                put.bind(1, id.toLongLong());
            if (!put.bindPath(2, path).exec())
                return m_db->lastError(doing);
        }
        return {};
    };
    if (Status s = rewrite("photos", "id"); !s)
        return s;
    if (Status s = rewrite("folders", "id"); !s)
        return s;
    if (Status s = rewrite("directories", "path"); !s)
        return s;
    // A root is a boundary: photos whose watched folder lies outside it now belong to the root's
    // own folder (created when needed), which discovery walks.
    auto strays = m_db->prepare(
        QByteArray("SELECT count(*) FROM photos p JOIN folders f ON f.id = p.folder_id WHERE " +
                   atOrUnder(m_db->backend(), "p.path", 1) + " AND NOT " +
                   atOrUnder(m_db->backend(), "f.path", 1))
            .constData());
    strays.bindPath(1, rootPath(name));
    if (!strays.step())
        return m_db->lastError(doing);
    const bool adopt = strays.int64At(0) > 0;
    strays = {};
    if (!adopt)
        return {};
    auto folder = m_db->prepare("INSERT INTO folders(path, added_at) VALUES (?1, ?2) ON "
                                "CONFLICT(path) DO NOTHING");
    folder.bindPath(1, rootPath(name)).bind(2, nowMs());
    if (!folder.exec())
        return m_db->lastError(doing);
    folder = {};
    auto move = m_db->prepare(
        QByteArray("UPDATE photos SET folder_id = (SELECT id FROM folders WHERE path = ?1) WHERE " +
                   atOrUnder(m_db->backend(), "path", 1) +
                   " AND folder_id NOT IN (SELECT id FROM folders WHERE " +
                   atOrUnder(m_db->backend(), "path", 1) + ")")
            .constData());
    move.bindPath(1, rootPath(name));
    if (!move.exec())
        return m_db->lastError(doing);
    return {};
}

Status Catalog::mapRoot(const QString &name, const QString &localPath) {
    std::lock_guard lock(m_mutex);
    auto exists = m_db->prepare("SELECT 1 FROM library_roots WHERE name = ?1");
    if (!exists.bind(1, name).step())
        return Error(Error::Code::NotFound,
                     QStringLiteral("the library %1 has no root named '%2'").arg(m_path, name));
    exists = {};
    if (Status s = checkNotNested(name, localPath); !s)
        return s;
    // Photos this machine indexed by their own path before mapping the root: once mapped they
    // would be a second copy of the root's photos, walked as the same files (and the two copies
    // taken for vanished in turn). Refused; forgetting that folder first keeps the root's photos.
    auto local = m_db->prepare(
        QByteArray("SELECT count(*) FROM photos WHERE " + atOrUnder(m_db->backend(), "path", 1))
            .constData());
    local.bindPath(1, localPath); // not mapped yet: bound as it is
    if (!local.step())
        return m_db->lastError(QStringLiteral("mapping library root '%1'").arg(name));
    if (const qint64 n = local.int64At(0); n > 0)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the library already holds %1 photo(s) under %2 by this "
                                    "machine's path, indexed before library root '%3' was mapped "
                                    "here; they would be a second copy of the root's photos. "
                                    "Forget that folder first ('towersearch-cli forget %2'), then "
                                    "map the root")
                         .arg(n)
                         .arg(localPath, name));
    local = {};
    QHash<QString, QString> mounts = m_rootMapper.mounts();
    mounts.insert(name, localPath);
    m_rootMapper = RootMapper(mounts);
    return {};
}

std::optional<QByteArray> Catalog::thumbnailData(const QString &name) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT data FROM thumbnails WHERE name = ?1");
    if (s.bind(1, name).step())
        return s.blobAt(0);
    return std::nullopt;
}

Result<qint64> Catalog::dropUnusedThumbnails() {
    std::lock_guard lock(m_mutex);
    // A photo's thumbnail column is a local file path; the stored name is its last component.
    auto s = m_db->prepare(
        "DELETE FROM thumbnails WHERE name NOT IN (SELECT substr(thumbnail, "
        "length(rtrim(thumbnail, replace(thumbnail, '/', ''))) + 1) FROM photos WHERE thumbnail "
        "IS NOT NULL)");
    if (!s.exec())
        return m_db->lastError(QStringLiteral("dropping unused thumbnails"));
    return qint64(m_db->changes());
}

} // namespace ts
