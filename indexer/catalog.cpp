#include "indexer/catalog.h"

#include "core/common/nativepath.h"
#include "core/image/exifreader.h"
#include "indexer/reconnectingdatabase.h"
#include "indexer/sqldatabase.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QSet>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ts {

namespace {

PhotoRecord recordFrom(const sql::Statement &s) {
    // Column order of kPhotoColumns.
    PhotoRecord r;
    r.id = s.int64At(0);
    r.path = s.pathAt(1);
    r.size = s.int64At(2);
    r.modified = QDateTime::fromMSecsSinceEpoch(s.int64At(3));
    r.contentHash = s.textAt(4);
    r.width = int(s.int64At(5));
    r.height = int(s.int64At(6));
    r.orientation = int(s.int64At(7));
    if (!s.isNullAt(8))
        r.taken = QDateTime::fromMSecsSinceEpoch(s.int64At(8));
    r.state = PhotoState(s.int64At(9));
    r.error = s.textAt(10);
    r.thumbnailPath = s.textAt(11);
    r.offline = s.int64At(12) != 0;
    r.fileType = s.textAt(13);
    r.cameraMake = s.textAt(14);
    r.cameraModel = s.textAt(15);
    r.takenIsFileTime = s.int64At(16) != 0;
    return r;
}

#define TS_PHOTO_COLUMNS                                                                           \
    "id, path, size, mtime_ms, content_hash, width, height, orientation, taken_ms, state, error, " \
    "thumbnail, offline, file_type, camera_make, camera_model, taken_is_file_time"

// SQL that differs between the backends, in one place; every query is otherwise one text.

// Is the path expression `path` inside the folder path expression `folder`? rtrim keeps "/"
// working as a folder. Compared as bytes: on SQLite a path that is not valid UTF-8 is a BLOB
// (Statement::bindPath); on PostgreSQL every path is BYTEA.
QByteArray underSql(sql::Backend backend, const QByteArray &path, const QByteArray &folder) {
    if (backend == sql::Backend::Postgres) {
        // Both sides cast: a parameter seen first inside substring() would be typed text.
        const QByteArray f = "rtrim(CAST(" + folder + " AS bytea), '/'::bytea)";
        return "substring(CAST(" + path + " AS bytea) from 1 for length(" + f + ") + 1) = " + f +
               " || '/'::bytea";
    }
    return "substr(CAST(" + path + " AS BLOB), 1, length(CAST(rtrim(" + folder +
           ", '/') AS BLOB)) + 1) = CAST(rtrim(" + folder + ", '/') || '/' AS BLOB)";
}

// A path expression with "/" appended (a folder as the prefix of what it contains).
QByteArray withSlashSql(sql::Backend backend, const QByteArray &path) {
    return path + (backend == sql::Backend::Postgres ? " || '/'::bytea" : " || '/'");
}

// Case-insensitive name order: SQLite's NOCASE folds ASCII only and compares bytes; lower() in
// the "C" collation does the same on PostgreSQL (the photos_name index is on that expression).
QByteArray nameOrderSql(sql::Backend backend) {
    return backend == sql::Backend::Postgres ? "lower(p.file_name COLLATE \"C\")"
                                             : "p.file_name COLLATE NOCASE";
}

// INSERT ... ON CONFLICT(key) DO UPDATE of every other column: one text for both backends
// (SQLite 3.24+ and PostgreSQL 9.5+); unlike INSERT OR REPLACE it never deletes the old row (which
// would cascade to its dependants).
QByteArray upsertSql(const char *table, const QByteArrayList &keys, const QByteArrayList &others) {
    QByteArrayList values, sets;
    for (qsizetype i = 0; i < keys.size() + others.size(); ++i)
        values << "?" + QByteArray::number(i + 1);
    for (const QByteArray &c : others)
        sets << c + " = excluded." + c;
    return "INSERT INTO " + QByteArray(table) + "(" + (keys + others).join(", ") + ") VALUES (" +
           values.join(", ") + ") ON CONFLICT(" + keys.join(", ") + ") DO UPDATE SET " +
           sets.join(", ");
}

void bindTextOrNull(sql::Statement &s, int index, const QString &text) {
    if (text.isEmpty())
        s.bindNull(index);
    else
        s.bind(index, text);
}

// The path's last component, as the migration computes it (ordering by name).
QString fileNameOf(const QString &path) {
    return path.mid(path.lastIndexOf(QLatin1Char('/')) + 1);
}

// A PhotoFilter as SQL: a WHERE clause over `photos p` and its parameters, numbered from 1 in
// the order they are added (callers number theirs after parameterCount()).
class FilterSql {
public:
    FilterSql(const PhotoFilter &f, sql::Backend backend, const RootMapper &roots)
        : m_backend(backend) {
        const bool pg = backend == sql::Backend::Postgres;
        m_where = "p.state <> 2";
        if (f.takenFromMs)
            m_where += " AND p.taken_ms >= " + param({Param::Kind::Int, *f.takenFromMs, {}});
        if (f.takenBeforeMs)
            m_where += " AND p.taken_ms < " + param({Param::Kind::Int, *f.takenBeforeMs, {}});
        if (!f.folders.isEmpty())
            m_where += " AND (" + underAnyFolder(f.folders, roots) + ")";
        QByteArrayList types;
        for (const QString &t : f.fileTypes)
            if (const QString c = fileTypeForExtension(QStringLiteral("x.") + t.trimmed());
                !c.isEmpty())
                types << param({Param::Kind::Text, 0, c});
        if (!types.isEmpty())
            m_where += " AND p.file_type IN (" + types.join(", ") + ")";
        QByteArrayList cameras;
        for (const QString &c : f.cameras)
            if (const QString needle = c.trimmed().toLower(); !needle.isEmpty())
                // SQLite's LIKE is case-insensitive for ASCII and cheaper than lower() + instr()
                // per row; PostgreSQL's is not: ILIKE there.
                cameras << "coalesce(p.camera_make, '') || ' ' || coalesce(p.camera_model, '') " +
                               QByteArray(pg ? "ILIKE " : "LIKE ") +
                               param({Param::Kind::Text, 0, likeContaining(needle)}) +
                               " ESCAPE '\\'";
        if (!cameras.isEmpty())
            m_where += " AND (" + cameras.join(" OR ") + ")";
        m_scan = !types.isEmpty() || !cameras.isEmpty() || f.shape != PhotoShape::Any ||
                 f.minLongSide > 0 || f.minShortSide > 0;
        switch (f.shape) {
        case PhotoShape::Portrait:
            m_where += " AND p.height > p.width AND p.width > 0";
            break;
        case PhotoShape::Landscape:
            m_where += " AND p.width > p.height AND p.height > 0";
            break;
        case PhotoShape::Square:
            m_where += " AND p.width = p.height AND p.width > 0";
            break;
        case PhotoShape::Any:
            break;
        }
        // SQLite's two-argument max()/min() are greatest()/least() on PostgreSQL.
        if (f.minLongSide > 0)
            m_where += QByteArray(pg ? " AND greatest" : " AND max") +
                       "(p.width, p.height) >= " + param({Param::Kind::Int, f.minLongSide, {}});
        if (f.minShortSide > 0)
            m_where += QByteArray(pg ? " AND least" : " AND min") +
                       "(p.width, p.height) >= " + param({Param::Kind::Int, f.minShortSide, {}});
    }
    // The table to read: through the indexes for no filter, dates and folders only (index walks
    // and path ranges); with a camera, type, shape or size every row in table order (NOT
    // INDEXED): the planner would otherwise walk an index and read the table row by row at
    // random, 8x slower than one sequential scan on 100,000 photos (bench_catalog_filters).
    // PostgreSQL's planner weighs that itself (and has no NOT INDEXED).
    QByteArray from() const {
        return m_scan && m_backend == sql::Backend::Sqlite ? "photos p NOT INDEXED" : "photos p";
    }
    const QByteArray &where() const { return m_where; }
    int parameterCount() const { return int(m_params.size()); }
    void bind(sql::Statement &s) const {
        for (size_t i = 0; i < m_params.size(); ++i) {
            const Param &p = m_params[i];
            const int n = int(i) + 1;
            switch (p.kind) {
            case Param::Kind::Int:
                s.bind(n, p.number);
                break;
            case Param::Kind::Text:
                s.bind(n, p.text);
                break;
            case Param::Kind::Path:
                s.bindPath(n, p.text);
                break;
            }
        }
    }

private:
    struct Param {
        enum class Kind { Int, Text, Path } kind;
        qint64 number = 0;
        QString text;
    };
    // The folders filter: photos under any of `folders` (local paths; stored ones compared).
    QByteArray underAnyFolder(const QStringList &folders, const RootMapper &roots) {
        const bool pg = m_backend == sql::Backend::Postgres;
        QByteArrayList any;
        for (const QString &folder : folders) {
            QString clean = QDir::cleanPath(folder);
            while (clean.endsWith(QLatin1Char('/')))
                clean.chop(1);
            // The ranges below compare stored paths: a folder under a root as "@name/...".
            clean = roots.toStored(clean);
            if (pg) {
                // Every path is BYTEA: the folder's byte range ["folder/", "folder0") ('0'
                // follows '/') holds exactly what is under it, a range of the path index.
                const QByteArray lo = param({Param::Kind::Path, 0, clean + QLatin1Char('/')});
                const QByteArray hi = param({Param::Kind::Path, 0, clean + QLatin1Char('0')});
                any << "(p.path >= " + lo + " AND p.path < " + hi + ")";
                continue;
            }
            const QByteArray n = param({Param::Kind::Path, 0, clean});
            // Byte prefix "folder/": /a/b keeps /a/b/x and /a/b/c/y, never /a/bc/x.
            const QByteArray under = underSql(m_backend, "p.path", n);
            if (isRawPath(clean)) { // every path under it is a BLOB too
                any << "(p.path >= x'' AND " + under + ")";
                continue;
            }
            // A UTF-8 path (TEXT) under it lies in ["folder/", "folder0") ('0' follows '/'); a
            // path that is not UTF-8 (a BLOB, after every TEXT in the path index) is compared
            // as bytes. Both are ranges of the path index: no table scan.
            const QByteArray lo = param({Param::Kind::Text, 0, clean + QLatin1Char('/')});
            const QByteArray hi = param({Param::Kind::Text, 0, clean + QLatin1Char('0')});
            any << "(p.path >= " + lo + " AND p.path < " + hi + ") OR (p.path >= x'' AND " + under +
                       ")";
        }
        return any.join(" OR ");
    }
    QByteArray param(Param p) {
        m_params.push_back(std::move(p));
        return "?" + QByteArray::number(qsizetype(m_params.size()));
    }
    static QString likeContaining(QString needle) {
        needle.replace(QLatin1Char('\\'), QLatin1String("\\\\"));
        needle.replace(QLatin1Char('%'), QLatin1String("\\%"));
        needle.replace(QLatin1Char('_'), QLatin1String("\\_"));
        return QLatin1Char('%') + needle + QLatin1Char('%');
    }
    sql::Backend m_backend;
    QByteArray m_where;
    bool m_scan = false;
    std::vector<Param> m_params;
};

// The name shown for a camera: "<make> <model>", without the make twice when the model repeats
// it ("Canon" + "Canon EOS R5" -> "Canon EOS R5").
QString cameraName(const QString &make, const QString &model) {
    if (make.isEmpty() || model.startsWith(make, Qt::CaseInsensitive))
        return model.isEmpty() ? make : model;
    return model.isEmpty() ? make : make + QLatin1Char(' ') + model;
}

// Why the database (or its folder) cannot be written, for the read-only fallback; empty if it can.
QString whyNotWritable(const QString &path) {
    const QFileInfo info(path);
    for (const QString &p : {path, info.absolutePath()}) {
        if (p == path && !info.exists())
            continue;
        if (::access(QFile::encodeName(p).constData(), W_OK) != 0)
            return errno == EROFS ? QStringLiteral("it is on a read-only filesystem")
                                  : QStringLiteral("%1 cannot be written (%2)")
                                        .arg(p, QString::fromLocal8Bit(std::strerror(errno)));
    }
    return {};
}

} // namespace

Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::open(const QString &path,
                                               const QHash<QString, QString> &rootMounts) {
    if (sql::isPostgresLocation(path)) {
        // A server's database: no folder to create, no file permissions to look at.
        auto db = sql::Database::open(path);
        if (!db)
            return db.error();
        std::unique_ptr<Catalog> catalog(new Catalog);
        // A server may restart under a long-lived catalog: one wrapper reconnects for every
        // method (Catalog::reconnect() goes through it too).
        catalog->m_db = std::make_unique<sql::ReconnectingDatabase>(std::move(*db));
        catalog->m_path = sql::redactedLocation(path); // messages never show a password
        // Set on the outermost connection: the statements the catalog prepares translate paths
        // (the wrapped connection's own statements keep them as stored, so nothing maps twice).
        catalog->m_rootMapper = RootMapper(rootMounts);
        catalog->m_db->setRootMapper(&catalog->m_rootMapper);
        if (Status s = catalog->migrate(); !s)
            return s.error();
        return catalog;
    }
    const QFileInfo info(path);
    if (!info.exists() && !QDir().mkpath(info.absolutePath()))
        return Error(Error::Code::Io,
                     QStringLiteral("cannot create the folder %1 for the library database")
                         .arg(info.absolutePath()));
    // A library that cannot be written (a read-only mount, another user's files) is opened for
    // reading: search and status work, writes fail with Failure::ReadOnly. Immutable, because a WAL
    // database needs to create its -shm file otherwise.
    const QString readOnlyReason = info.exists() ? whyNotWritable(path) : QString();
    auto db = sql::Database::open(path, readOnlyReason.isEmpty() ? sql::Database::Mode::ReadWrite
                                                                 : sql::Database::Mode::Immutable);
    if (!db)
        return db.error();
    std::unique_ptr<Catalog> catalog(new Catalog);
    catalog->m_path = path;
    catalog->m_db = std::move(*db);
    catalog->m_rootMapper = RootMapper(rootMounts);
    catalog->m_db->setRootMapper(&catalog->m_rootMapper);
    catalog->m_readOnlyReason = readOnlyReason;
    if (readOnlyReason.isEmpty() && catalog->m_db->isReadOnly())
        catalog->m_readOnlyReason = QStringLiteral("SQLite opened it read-only");
    if (Status s = catalog->migrate(); !s)
        return s.error();
    return catalog;
}

int Catalog::schemaVersion() const {
    std::lock_guard lock(m_mutex);
    const auto version = readSchemaVersion();
    return version ? *version : -1;
}

bool Catalog::isPostgres() const {
    return m_db->backend() == sql::Backend::Postgres;
}

Result<qint64> Catalog::addFolder(const QString &path) {
    std::lock_guard lock(m_mutex);
    auto find = m_db->prepare("SELECT id FROM folders WHERE path = ?1");
    find.bindPath(1, path);
    if (find.step())
        return find.int64At(0);
    find = {};
    const QString doing = QStringLiteral("adding the folder %1").arg(path);
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    auto insert = m_db->prepare("INSERT INTO folders(path, added_at) VALUES (?1, ?2) RETURNING id");
    insert.bindPath(1, path).bind(2, nowMs());
    if (!insert.step())
        return m_db->lastError(doing);
    const qint64 id = insert.int64At(0);
    insert = {};
    // A photo belongs to the innermost watched folder that contains it: the new folder takes over
    // its photos from the folders around it (not from watched folders inside it).
    const sql::Backend b = m_db->backend();
    auto adopt =
        m_db->prepare("UPDATE photos SET folder_id = ?1 WHERE " + underSql(b, "photos.path", "?2") +
                      " AND folder_id IN (SELECT o.id FROM folders o WHERE o.id <> ?1 "
                      "AND " +
                      underSql(b, "?2", "o.path") + ")");
    adopt.bind(1, id).bindPath(2, path);
    if (!adopt.exec() || !tx.commit())
        return m_db->lastError(doing);
    return id;
}

Result<RemovedPhotos> Catalog::removeFolder(const QString &path) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("forgetting the folder %1").arg(path);
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    auto find = m_db->prepare("SELECT id FROM folders WHERE path = ?1");
    find.bindPath(1, path);
    if (!find.step())
        return Error(Error::Code::NotFound,
                     QStringLiteral("the folder %1 is not in the library").arg(path));
    const qint64 folderId = find.int64At(0);
    find = {};
    RemovedPhotos removed;
    // The innermost other watched folder around this one keeps its photos; without one they go.
    const sql::Backend b = m_db->backend();
    auto outer =
        m_db->prepare("SELECT o.id FROM folders o WHERE o.id <> ?1 AND " +
                      underSql(b, "?2", "o.path") + " ORDER BY length(o.path) DESC LIMIT 1");
    outer.bind(1, folderId).bindPath(2, path);
    if (outer.step()) {
        auto move = m_db->prepare("UPDATE photos SET folder_id = ?2 WHERE folder_id = ?1");
        move.bind(1, folderId).bind(2, outer.int64At(0));
        if (!move.exec())
            return m_db->lastError(doing);
    } else {
        auto photos = m_db->prepare("SELECT id, thumbnail FROM photos WHERE folder_id = ?1");
        photos.bind(1, folderId);
        QSet<QString> thumbnails;
        while (photos.step()) {
            removed.ids.push_back(photos.int64At(0));
            if (!photos.isNullAt(1))
                thumbnails.insert(photos.textAt(1));
        }
        photos = {};
        auto del = m_db->prepare("DELETE FROM photos WHERE folder_id = ?1"); // embeddings cascade
        del.bind(1, folderId);
        if (!del.exec())
            return m_db->lastError(doing);
        // Duplicates share a thumbnail: only those no remaining photo uses go. By name: on a
        // shared catalog another machine's row names the same file in its own cache.
        QSet<QString> usedNames;
        auto used = m_db->prepare("SELECT DISTINCT thumbnail FROM photos WHERE thumbnail IS NOT "
                                  "NULL");
        while (used.step())
            usedNames.insert(fileNameOf(used.textAt(0)));
        used = {};
        auto dropStored = m_db->prepare("DELETE FROM thumbnails WHERE name = ?1");
        for (const QString &t : thumbnails) {
            if (usedNames.contains(fileNameOf(t)))
                continue;
            removed.thumbnails << t;
            if (!dropStored.bind(1, fileNameOf(t)).exec())
                return m_db->lastError(doing);
        }
        const QByteArray dir = withSlashSql(b, "directories.path");
        auto dirs = m_db->prepare("DELETE FROM directories WHERE " + underSql(b, dir, "?1") +
                                  " AND NOT EXISTS (SELECT 1 FROM folders o WHERE o.id <> ?2 AND " +
                                  underSql(b, dir, "o.path") + ")");
        dirs.bindPath(1, path).bind(2, folderId);
        if (!dirs.exec())
            return m_db->lastError(doing);
    }
    outer = {};
    auto del = m_db->prepare("DELETE FROM folders WHERE id = ?1");
    del.bind(1, folderId);
    if (!del.exec() || !tx.commit())
        return m_db->lastError(doing);
    return removed;
}

QList<WatchedFolder> Catalog::folders(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    QList<WatchedFolder> out;
    // A photo counts in every watched folder that contains it. One scan of photos per folder for
    // the non-failed, failed and offline counts; the embedded count through the covering index
    // embeddings_model. Pending = non-failed - embedded (at most one vector per photo and model):
    // a NOT EXISTS per photo read every vector's page (2.5 s for 100,000 photos before the app's
    // window could show; 0.3 s now).
    // GROUP BY d.offline_reason too: PostgreSQL wants every selected column grouped or dependent
    // on the key (d has at most one row per folder).
    const QByteArray under = underSql(m_db->backend(), "p.path", "f.path");
    auto s = m_db->prepare(
        "SELECT f.id, f.path, f.last_scan,"
        " (SELECT count(*) FROM photos p JOIN embeddings e ON e.photo_id = p.id AND e.model_key = "
        "?1 WHERE " +
        under +
        " AND p.state <> 2),"
        " count(p.id) FILTER (WHERE p.state <> 2), count(p.id) FILTER (WHERE p.state = 2),"
        " count(p.id) FILTER (WHERE p.offline <> 0), d.offline_reason"
        " FROM folders f LEFT JOIN directories d ON d.path = f.path AND d.offline_since IS NOT NULL"
        " LEFT JOIN photos p ON " +
        under + " GROUP BY f.id, d.offline_reason ORDER BY f.path");
    s.bind(1, modelKey);
    while (s.step()) {
        WatchedFolder f;
        f.id = s.int64At(0);
        f.path = s.pathAt(1);
        if (!s.isNullAt(2))
            f.lastScan = QDateTime::fromMSecsSinceEpoch(s.int64At(2));
        f.photoCount = s.int64At(3);
        f.pendingCount = std::max<qint64>(0, s.int64At(4) - f.photoCount);
        f.failedCount = s.int64At(5);
        f.offlineCount = s.int64At(6);
        f.offline = !s.isNullAt(7);
        f.offlineReason = s.textAt(7);
        // A root not reachable here is not scanned at all (discovery): say why, whatever the
        // last scan on another machine found.
        if (const QString why = m_rootMapper.unavailableReason(f.path); !why.isEmpty()) {
            f.offline = true;
            f.offlineReason = why;
        }
        out << f;
    }
    return out;
}

QHash<QString, DirectoryRecord> Catalog::directories() const {
    std::lock_guard lock(m_mutex);
    QHash<QString, DirectoryRecord> out;
    auto s = m_db->prepare(
        "SELECT path, device, parent_device, offline_since, offline_reason FROM directories");
    while (s.step()) {
        DirectoryRecord d;
        d.path = s.pathAt(0);
        d.device = s.int64At(1);
        d.parentDevice = s.int64At(2);
        if (!s.isNullAt(3))
            d.offlineSinceMs = s.int64At(3);
        d.offlineReason = s.textAt(4);
        out.insert(d.path, d);
    }
    return out;
}

QList<OfflineDirectory> Catalog::offlineDirectories() const {
    std::lock_guard lock(m_mutex);
    QList<OfflineDirectory> out;
    auto s = m_db->prepare("SELECT path, offline_reason, offline_since FROM directories WHERE "
                           "offline_since IS NOT NULL ORDER BY path");
    while (s.step())
        out << OfflineDirectory{s.pathAt(0), s.textAt(1),
                                QDateTime::fromMSecsSinceEpoch(s.int64At(2))};
    s = m_db->prepare("SELECT path FROM folders ORDER BY path");
    while (s.step()) {
        const QString folder = s.pathAt(0);
        if (const QString why = m_rootMapper.unavailableReason(folder); !why.isEmpty())
            out << OfflineDirectory{folder, why, QDateTime::currentDateTime()};
    }
    return out;
}

Status Catalog::recordDiscovery(const QStringList &roots,
                                const std::vector<DirectoryRecord> &directories,
                                const std::vector<qint64> &folderIds,
                                const std::vector<qint64> &offlinePhotos) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("recording the folders found");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    // What this scan found replaces what the last one found under the same roots: folders that
    // are gone for good are forgotten with their device.
    auto clear = m_db->prepare("DELETE FROM directories WHERE path = ?1 OR " +
                               underSql(m_db->backend(), "directories.path", "?1"));
    for (const QString &root : roots) {
        clear.bindPath(1, root);
        if (!clear.exec())
            return m_db->lastError(doing);
    }
    auto put = m_db->prepare(upsertSql(
        "directories", {"path"}, {"device", "parent_device", "offline_since", "offline_reason"}));
    for (const DirectoryRecord &d : directories) {
        put.bindPath(1, d.path).bind(2, d.device).bind(3, d.parentDevice);
        if (d.offlineSinceMs)
            put.bind(4, *d.offlineSinceMs).bind(5, d.offlineReason);
        else
            put.bindNull(4).bindNull(5);
        if (!put.exec())
            return m_db->lastError(doing);
    }
    auto online =
        m_db->prepare("UPDATE photos SET offline = 0 WHERE folder_id = ?1 AND offline <> 0");
    for (qint64 id : folderIds) {
        online.bind(1, id);
        if (!online.exec())
            return m_db->lastError(doing);
    }
    auto offline = m_db->prepare("UPDATE photos SET offline = 1 WHERE id = ?1");
    for (qint64 id : offlinePhotos) {
        offline.bind(1, id);
        if (!offline.exec())
            return m_db->lastError(doing);
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

QSet<QString> Catalog::thumbnailFiles() const {
    std::lock_guard lock(m_mutex);
    QSet<QString> out;
    auto s = m_db->prepare("SELECT DISTINCT thumbnail FROM photos WHERE thumbnail IS NOT NULL");
    while (s.step())
        out.insert(s.textAt(0));
    return out;
}

QHash<qint64, QString> Catalog::photoStamps() const {
    std::lock_guard lock(m_mutex);
    QHash<qint64, QString> out;
    auto s = m_db->prepare("SELECT id, size, mtime_ms FROM photos");
    while (s.step())
        out.insert(s.int64At(0), photoStamp(s.int64At(1), s.int64At(2)));
    return out;
}

QString Catalog::photoStamp(qint64 size, qint64 mtimeMs) {
    return QStringLiteral("%1-%2").arg(size).arg(mtimeMs);
}

Status Catalog::setFolderScanned(qint64 folderId) {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("UPDATE folders SET last_scan = ?2 WHERE id = ?1");
    s.bind(1, folderId).bind(2, nowMs());
    if (!s.exec())
        return m_db->lastError(QStringLiteral("recording a folder scan"));
    return {};
}

Result<QHash<QString, KnownFile>> Catalog::filesOf(qint64 folderId, const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    QHash<QString, KnownFile> out;
    auto s = m_db->prepare("SELECT p.id, p.path, p.size, p.mtime_ms, p.state, p.content_hash,"
                           " CASE WHEN EXISTS (SELECT 1 FROM embeddings e WHERE e.photo_id = p.id"
                           " AND e.model_key = ?2) THEN 1 ELSE 0 END, p.full_hash"
                           " FROM photos p WHERE p.folder_id = ?1");
    s.bind(1, folderId).bind(2, modelKey);
    while (s.step()) {
        KnownFile k;
        k.id = s.int64At(0);
        k.size = s.int64At(2);
        k.mtimeMs = s.int64At(3);
        k.state = PhotoState(s.int64At(4));
        k.contentHash = s.textAt(5);
        k.hasEmbedding = s.int64At(6) != 0;
        k.fullHash = s.textAt(7);
        out.insert(s.pathAt(1), k);
    }
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("reading the catalog"));
    return out;
}

Result<QMultiHash<QString, EmbeddedContent>>
Catalog::embeddedByQuickHash(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    QMultiHash<QString, EmbeddedContent> out;
    auto s = m_db->prepare(
        "SELECT p.content_hash, p.id, p.full_hash FROM photos p JOIN embeddings e ON e.photo_id = "
        "p.id"
        " WHERE e.model_key = ?1 AND p.content_hash IS NOT NULL AND p.full_hash IS NOT NULL");
    s.bind(1, modelKey);
    while (s.step())
        out.insert(s.textAt(0), EmbeddedContent{s.int64At(1), s.textAt(2)});
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("reading the catalog"));
    return out;
}

quint64 Catalog::contentTag(const QString &fullHash, const QString &quickHash) {
    // The first 64 bits of the hash: enough to tell contents apart in a fingerprint.
    const QString &hash = fullHash.isEmpty() ? quickHash : fullHash;
    bool ok = false;
    const quint64 tag = hash.left(16).toULongLong(&ok, 16);
    return ok ? tag : 0;
}

std::vector<float> Catalog::embedding(qint64 photoId, const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT vector FROM embeddings WHERE photo_id = ?1 AND model_key = ?2");
    s.bind(1, photoId).bind(2, modelKey);
    std::vector<float> v;
    if (s.step()) {
        const QByteArray blob = s.blobAt(0);
        v.resize(size_t(blob.size()) / sizeof(float));
        std::memcpy(v.data(), blob.constData(), v.size() * sizeof(float));
    }
    return v;
}

std::vector<float> Catalog::embeddingOfContent(const QString &quickHash, const QString &fullHash,
                                               const QString &modelKey) const {
    std::vector<float> v;
    if (quickHash.isEmpty() || fullHash.isEmpty())
        return v; // rows before version 3 have no full hash: never a source of reuse
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare(
        "SELECT e.vector FROM photos p JOIN embeddings e ON e.photo_id = p.id "
        "WHERE p.content_hash = ?1 AND p.full_hash = ?2 AND e.model_key = ?3 LIMIT 1");
    s.bind(1, quickHash).bind(2, fullHash).bind(3, modelKey);
    if (s.step()) {
        const QByteArray blob = s.blobAt(0);
        v.resize(size_t(blob.size()) / sizeof(float));
        std::memcpy(v.data(), blob.constData(), v.size() * sizeof(float));
    }
    return v;
}

namespace {

// The statements of one batch transaction (commitBatch), prepared once and reused for each photo.
class PhotoBatchWriter {
public:
    PhotoBatchWriter(sql::Database &db, const QString &modelKey)
        : m_modelKey(modelKey), m_delete(db.prepare("DELETE FROM photos WHERE id = ?1")),
          m_clearPath(db.prepare("DELETE FROM photos WHERE path = ?1 AND id <> ?2")),
          m_insert(db.prepare(insertPhotoSql(db.backend()))),
          m_update(db.prepare(
              "UPDATE photos SET folder_id = ?1, path = ?2, size = ?3, mtime_ms = ?4,"
              " content_hash = ?5, width = ?6, height = ?7, orientation = ?8, taken_ms = ?9,"
              " state = ?10, error = ?11, thumbnail = ?12, full_hash = ?13, file_type = ?14,"
              " camera_make = ?15, camera_model = ?16, taken_is_file_time = ?17,"
              " file_name = ?18, metadata_version = ?19 WHERE id = ?20")),
          m_dropEmbeddings(db.prepare("DELETE FROM embeddings WHERE photo_id = ?1")),
          m_putEmbedding(db.prepare(
              upsertSql("embeddings", {"photo_id", "model_key"}, {"dimension", "vector"}))),
          m_putThumbnail(db.prepare(
              "INSERT INTO thumbnails(name, data) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING")) {}

    bool deletePhoto(qint64 id) { return m_delete.bind(1, id).exec(); }

    // Inserts or updates the photo's row and its embeddings; returns its id (0 on failure, with
    // the error on the connection).
    qint64 write(const PhotoWrite &p) {
        if (p.id) {
            // A moved file takes the place of whatever row had its new path.
            if (!m_clearPath.bindPath(1, p.path).bind(2, p.id).exec())
                return 0;
        }
        sql::Statement &s = p.id ? m_update : m_insert;
        bindRow(s, p);
        qint64 id = p.id;
        if (p.id) {
            if (!s.bind(20, p.id).exec())
                return 0;
        } else {
            // RETURNING: the id of the row inserted, or of the row with this path updated.
            id = s.step() ? s.int64At(0) : 0;
            s.reset();
        }
        return id && writeEmbeddings(id, p) && writeThumbnail(p) ? id : 0;
    }

    // A new row takes the id after the highest ever given, never a deleted one's: a stale index
    // file or cache entry keyed by that id must not describe the new photo. On SQLite that is
    // meta photos_last_id + 1 (its trigger keeps it); on PostgreSQL the identity sequence.
    static QByteArray insertPhotoSql(sql::Backend backend) {
        const bool pg = backend == sql::Backend::Postgres;
        return QByteArray("INSERT INTO photos(") + (pg ? "" : "id, ") +
               "folder_id, path, size, mtime_ms, content_hash, width, height, orientation, "
               "taken_ms, state, error, thumbnail, full_hash, file_type, camera_make, "
               "camera_model, taken_is_file_time, file_name, metadata_version) VALUES (" +
               (pg ? ""
                   : "(SELECT CAST(value AS INTEGER) + 1 FROM meta WHERE key = "
                     "'photos_last_id'), ") +
               "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
               "?19)"
               " ON CONFLICT(path) DO UPDATE SET folder_id = excluded.folder_id,"
               " size = excluded.size, mtime_ms = excluded.mtime_ms,"
               " content_hash = excluded.content_hash, width = excluded.width,"
               " height = excluded.height, orientation = excluded.orientation,"
               " taken_ms = excluded.taken_ms, state = excluded.state, error = excluded.error,"
               " thumbnail = excluded.thumbnail, full_hash = excluded.full_hash,"
               " file_type = excluded.file_type, camera_make = excluded.camera_make,"
               " camera_model = excluded.camera_model,"
               " taken_is_file_time = excluded.taken_is_file_time, file_name = excluded.file_name,"
               " metadata_version = excluded.metadata_version RETURNING id";
    }

private:
    static void bindRow(sql::Statement &s, const PhotoWrite &p) {
        s.bind(1, p.folderId).bindPath(2, p.path).bind(3, p.size).bind(4, p.mtimeMs);
        bindTextOrNull(s, 5, p.contentHash);
        s.bind(6, p.width).bind(7, p.height).bind(8, p.orientation);
        if (p.takenMs)
            s.bind(9, *p.takenMs);
        else
            s.bindNull(9);
        s.bind(10, int(p.state));
        bindTextOrNull(s, 11, p.error);
        bindTextOrNull(s, 12, p.thumbnail);
        bindTextOrNull(s, 13, p.fullHash);
        bindTextOrNull(s, 14, p.fileType);
        bindTextOrNull(s, 15, p.cameraMake);
        bindTextOrNull(s, 16, p.cameraModel);
        s.bind(17, p.takenIsFileTime ? 1 : 0);
        s.bind(18, fileNameOf(p.path)).bind(19, Catalog::kMetadataVersion);
    }

    // A move keeps every model's vector; any other write replaces them with its own (or none).
    bool writeEmbeddings(qint64 id, const PhotoWrite &p) {
        if (!p.keepEmbeddings && !m_dropEmbeddings.bind(1, id).exec())
            return false;
        if (p.vector.empty())
            return true;
        m_putEmbedding.bind(1, id).bind(2, m_modelKey).bind(3, qint64(p.vector.size()));
        m_putEmbedding.bindBlob(4, p.vector.data(), int(p.vector.size() * sizeof(float)));
        return m_putEmbedding.exec();
    }

    // The thumbnail's bytes go with the row (by file name, <content hash>.jpg: one per content),
    // so a machine sharing the catalog fills its own cache from them.
    bool writeThumbnail(const PhotoWrite &p) {
        if (p.thumbnail.isEmpty() || p.thumbnailData.isEmpty())
            return true;
        m_putThumbnail.bind(1, fileNameOf(p.thumbnail));
        m_putThumbnail.bindBlob(2, p.thumbnailData.constData(), int(p.thumbnailData.size()));
        return m_putThumbnail.exec();
    }

    const QString &m_modelKey;
    sql::Statement m_delete, m_clearPath, m_insert, m_update, m_dropEmbeddings, m_putEmbedding,
        m_putThumbnail;
};

} // namespace

Result<std::vector<qint64>> Catalog::commitBatch(const std::vector<PhotoWrite> &photos,
                                                 const QString &modelKey,
                                                 const std::vector<qint64> &deleteIds,
                                                 JobLease *lease) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("saving indexed photos");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    // The catalog outlives this process's open: a newer TowerSearch (another machine's, on a
    // shared catalog) may have upgraded it meanwhile, and rows written the old way would not be
    // what it expects. (One small read per batch.)
    if (auto version = readSchemaVersion(); !version)
        return version.error();
    else if (*version > kSchemaVersion)
        return newerSchemaError(*version);
    if (lease) {
        // First, so that a batch whose lease another worker took over writes nothing: that
        // worker embeds these photos, and a photo is embedded (and stored) once.
        if (Status s = deleteLeasedJobs(*lease); !s)
            return s.error();
        if (lease->lost) {
            tx.rollback();
            // The jobs of the batch nobody took over are still this worker's, and its heartbeat
            // would keep them so for as long as it runs: given back, free at once (the worker
            // holds nothing else while it commits).
            if (Status s = giveBackLeases(lease->owner); !s)
                qWarning("%s", qPrintable(s.error().message)); // they are free once it stops
            return Error(Error::Code::Cancelled,
                         QStringLiteral("the lease on the batch was lost to another worker; "
                                        "nothing of it was saved"));
        }
    }
    PhotoBatchWriter writer(*m_db, modelKey);
    for (qint64 id : deleteIds)
        if (!writer.deletePhoto(id))
            return m_db->lastError(doing);
    std::vector<qint64> ids;
    ids.reserve(photos.size());
    for (const PhotoWrite &p : photos) {
        const qint64 id = writer.write(p);
        if (!id)
            return m_db->lastError(doing);
        ids.push_back(id);
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return ids;
}

Status Catalog::deletePhotos(const std::vector<qint64> &ids) {
    auto r = commitBatch({}, QString(), ids, nullptr);
    if (!r)
        return r.error();
    return {};
}

Status Catalog::forEachEmbedding(
    const QString &modelKey,
    const std::function<void(qint64, quint64, const float *, int)> &visit) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare(
        "SELECT e.photo_id, e.vector, p.full_hash, p.content_hash FROM embeddings e"
        " JOIN photos p ON p.id = e.photo_id WHERE e.model_key = ?1 ORDER BY e.photo_id");
    s.bind(1, modelKey);
    std::vector<float> v;
    while (s.step()) {
        const QByteArray blob = s.blobAt(1);
        v.resize(size_t(blob.size()) / sizeof(float));
        std::memcpy(v.data(), blob.constData(), v.size() * sizeof(float));
        visit(s.int64At(0), contentTag(s.textAt(2), s.textAt(3)), v.data(), int(v.size()));
    }
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("reading embeddings"));
    return {};
}

QString Catalog::catalogId() const {
    return meta(QStringLiteral("catalog_id"));
}

Result<qint64> Catalog::currentChangeSeq() const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT seq FROM change_counter WHERE id = 1");
    if (!s.step())
        return m_db->lastError(QStringLiteral("reading the change sequence"));
    return s.int64At(0);
}

Result<qint64>
Catalog::changesSince(qint64 since, const QString &modelKey,
                      const std::function<void(qint64, quint64, const float *, int)> &visit,
                      qint64 *rowsRead) const {
    std::lock_guard lock(m_mutex);
    // Every change up to the counter read first is visible to the statement after it (commit
    // order is number order), so the caller includes at least that much even when the last
    // changes were to other models.
    qint64 through = since;
    {
        auto counter = m_db->prepare("SELECT seq FROM change_counter WHERE id = 1");
        if (!counter.step())
            return m_db->lastError(QStringLiteral("reading the change sequence"));
        through = std::max(through, counter.int64At(0));
    }
    // A tombstone exists only while its row does not (the insert trigger deletes it), so the two
    // halves never name one photo twice; one statement reads both from one snapshot.
    auto s = m_db->prepare(
        "SELECT e.photo_id, e.change_seq, e.vector, p.full_hash, p.content_hash FROM embeddings e"
        " JOIN photos p ON p.id = e.photo_id WHERE e.model_key = ?1 AND e.change_seq > ?2"
        " UNION ALL SELECT r.photo_id, r.change_seq, NULL, NULL, NULL FROM embedding_removals r"
        " WHERE r.model_key = ?1 AND r.change_seq > ?2");
    s.bind(1, modelKey).bind(2, since);
    qint64 rows = 0;
    std::vector<float> v;
    while (s.step()) {
        ++rows;
        through = std::max(through, s.int64At(1));
        if (s.isNullAt(2)) {
            visit(s.int64At(0), 0, nullptr, 0);
            continue;
        }
        const QByteArray blob = s.blobAt(2);
        v.resize(size_t(blob.size()) / sizeof(float));
        std::memcpy(v.data(), blob.constData(), v.size() * sizeof(float));
        visit(s.int64At(0), contentTag(s.textAt(3), s.textAt(4)), v.data(), int(v.size()));
    }
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("reading the changes since %1").arg(since));
    if (rowsRead)
        *rowsRead = rows;
    return through;
}

std::vector<qint64> Catalog::embeddedIds(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    std::vector<qint64> ids;
    auto s = m_db->prepare("SELECT photo_id FROM embeddings WHERE model_key = ?1");
    s.bind(1, modelKey);
    while (s.step())
        ids.push_back(s.int64At(0));
    return ids;
}

EmbeddedOwners Catalog::embeddedOwners(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    EmbeddedOwners out;
    auto s = m_db->prepare("SELECT e.photo_id, p.full_hash, p.content_hash FROM embeddings e"
                           " JOIN photos p ON p.id = e.photo_id WHERE e.model_key = ?1");
    s.bind(1, modelKey);
    while (s.step()) {
        out.ids.push_back(s.int64At(0));
        out.tags.push_back(contentTag(s.textAt(1), s.textAt(2)));
    }
    return out;
}

qint64 Catalog::embeddingCount(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT count(*) FROM embeddings WHERE model_key = ?1");
    s.bind(1, modelKey);
    return s.step() ? s.int64At(0) : 0;
}

int Catalog::dimensionOf(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT dimension FROM embeddings WHERE model_key = ?1 LIMIT 1");
    s.bind(1, modelKey);
    return s.step() ? int(s.int64At(0)) : 0;
}

qint64 Catalog::pendingCount(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    auto s =
        m_db->prepare("SELECT count(*) FROM photos p WHERE p.state <> 2 AND NOT EXISTS"
                      " (SELECT 1 FROM embeddings e WHERE e.photo_id = p.id AND e.model_key = ?1)");
    s.bind(1, modelKey);
    return s.step() ? s.int64At(0) : 0;
}

QList<PhotoRecord> Catalog::failedPhotos() const {
    std::lock_guard lock(m_mutex);
    QList<PhotoRecord> out;
    auto s = m_db->prepare("SELECT " TS_PHOTO_COLUMNS " FROM photos WHERE state = 2 ORDER BY path");
    while (s.step())
        out << recordFrom(s);
    return out;
}

std::optional<PhotoRecord> Catalog::photo(qint64 id) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT " TS_PHOTO_COLUMNS " FROM photos WHERE id = ?1");
    s.bind(1, id);
    if (s.step())
        return recordFrom(s);
    return std::nullopt;
}

Result<std::vector<qint64>> Catalog::photosMatching(const PhotoFilter &filter) const {
    std::lock_guard lock(m_mutex);
    const FilterSql f(filter, m_db->backend(), m_rootMapper);
    const QByteArray sql =
        "SELECT p.id FROM " + f.from() + " WHERE " + f.where() + " ORDER BY p.id";
    auto s = m_db->prepare(sql.constData());
    f.bind(s);
    std::vector<qint64> ids;
    while (s.step())
        ids.push_back(s.int64At(0));
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("filtering photos"));
    return ids;
}

Result<qint64> Catalog::countPhotos(const PhotoFilter &filter) const {
    std::lock_guard lock(m_mutex);
    const FilterSql f(filter, m_db->backend(), m_rootMapper);
    const QByteArray sql = "SELECT count(*) FROM " + f.from() + " WHERE " + f.where();
    auto s = m_db->prepare(sql.constData());
    f.bind(s);
    if (!s.step())
        return m_db->lastError(QStringLiteral("counting photos"));
    return s.int64At(0);
}

Result<std::vector<PhotoRecord>> Catalog::listPhotos(const PhotoFilter &filter, SortOrder order,
                                                     qint64 offset, int limit) const {
    std::lock_guard lock(m_mutex);
    const FilterSql f(filter, m_db->backend(), m_rootMapper);
    // Both orders have an index (photos_taken, photos_name), so a page is an index walk. Equal
    // keys follow the id (taken_ms's index holds the id: newest first means id descending too).
    const QByteArray orderBy = order == SortOrder::Name
                                   ? " ORDER BY " + nameOrderSql(m_db->backend()) + ", p.path, p.id"
                                   : " ORDER BY p.taken_ms DESC, p.id DESC";
    const int limitParam = f.parameterCount() + 1;
    const QByteArray sql = "SELECT " TS_PHOTO_COLUMNS " FROM " + f.from() + " WHERE " + f.where() +
                           orderBy + " LIMIT ?" + QByteArray::number(limitParam) + " OFFSET ?" +
                           QByteArray::number(limitParam + 1);
    auto s = m_db->prepare(sql.constData());
    f.bind(s);
    s.bind(limitParam, qint64(std::max(0, limit)))
        .bind(limitParam + 1, std::max<qint64>(0, offset));
    std::vector<PhotoRecord> out;
    while (s.step())
        out.push_back(recordFrom(s));
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("listing photos"));
    return out;
}

Result<std::vector<MonthCount>> Catalog::monthCounts(const PhotoFilter &filter) const {
    std::lock_guard lock(m_mutex);
    const FilterSql f(filter, m_db->backend(), m_rootMapper);
    // The dates in order (an index walk without a filter), bucketed here by local month
    // boundaries: SQLite's strftime(..., 'localtime') per row cost 8x more (bench_catalog_filters).
    const QByteArray sql = "SELECT p.taken_ms FROM " + f.from() + " WHERE " + f.where() +
                           " AND p.taken_ms IS NOT NULL ORDER BY p.taken_ms DESC";
    auto s = m_db->prepare(sql.constData());
    f.bind(s);
    std::vector<MonthCount> out;
    qint64 monthStart = 0; // of out.back(), local time
    while (s.step()) {
        const qint64 t = s.int64At(0);
        if (out.empty() || t < monthStart) {
            const QDate d = QDateTime::fromMSecsSinceEpoch(t).date();
            out.push_back({d.year(), d.month(), 0});
            monthStart = QDateTime(QDate(d.year(), d.month(), 1), QTime(0, 0)).toMSecsSinceEpoch();
        }
        ++out.back().count;
    }
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("counting photos by month"));
    return out;
}

QList<QPair<QString, qint64>> Catalog::cameras() const {
    std::lock_guard lock(m_mutex);
    QHash<QString, qint64> counts; // by lower-case name: "Canon" and "CANON" are one camera
    QHash<QString, QString> shown;
    auto s = m_db->prepare(
        "SELECT coalesce(camera_make, ''), coalesce(camera_model, ''), count(*) FROM photos"
        " WHERE state <> 2 AND (camera_make IS NOT NULL OR camera_model IS NOT NULL)"
        " GROUP BY camera_make, camera_model");
    while (s.step()) {
        const QString name = cameraName(s.textAt(0), s.textAt(1));
        const QString key = name.toLower();
        counts[key] += s.int64At(2);
        if (!shown.contains(key))
            shown.insert(key, name);
    }
    QList<QPair<QString, qint64>> out;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it)
        out.append({shown.value(it.key()), it.value()});
    std::sort(out.begin(), out.end(), [](const auto &a, const auto &b) {
        return a.second != b.second ? a.second > b.second
                                    : a.first.compare(b.first, Qt::CaseInsensitive) < 0;
    });
    return out;
}

std::optional<qint64> Catalog::takenMs(qint64 photoId) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT taken_ms FROM photos WHERE id = ?1");
    s.bind(1, photoId);
    if (s.step() && !s.isNullAt(0))
        return s.int64At(0);
    return std::nullopt;
}

Result<std::vector<StaleMetadata>> Catalog::staleMetadata(qint64 afterId, int limit) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare(
        "SELECT id, path, mtime_ms FROM photos WHERE metadata_version < ?1 AND id > ?2"
        " ORDER BY id LIMIT ?3");
    s.bind(1, kMetadataVersion).bind(2, afterId).bind(3, limit);
    std::vector<StaleMetadata> out;
    while (s.step())
        out.push_back({s.int64At(0), s.pathAt(1), s.int64At(2)});
    if (s.failure() != sql::Failure::None)
        return m_db->lastError(QStringLiteral("reading the catalog"));
    return out;
}

Status Catalog::updateMetadata(const std::vector<MetadataUpdate> &updates) {
    std::lock_guard lock(m_mutex);
    const QString doing = QStringLiteral("saving photo metadata");
    sql::Transaction tx(*m_db);
    if (!tx.isActive())
        return m_db->lastError(doing);
    // An EXIF date replaces the file time; without one, what is stored stays.
    auto s = m_db->prepare(
        "UPDATE photos SET file_type = coalesce(?2, file_type), camera_make = ?3, camera_model = "
        "?4,"
        " taken_ms = coalesce(?5, taken_ms), taken_is_file_time = CASE WHEN ?7 = 0"
        " THEN taken_is_file_time ELSE 0 END, metadata_version = ?6 WHERE id = ?1");
    for (const MetadataUpdate &u : updates) {
        s.bind(1, u.id);
        bindTextOrNull(s, 2, u.fileType);
        bindTextOrNull(s, 3, u.cameraMake);
        bindTextOrNull(s, 4, u.cameraModel);
        if (u.exifTakenMs)
            s.bind(5, *u.exifTakenMs);
        else
            s.bindNull(5);
        // ?7 says whether ?5 holds a date (PostgreSQL cannot type a parameter seen only in IS
        // NULL).
        s.bind(6, kMetadataVersion).bind(7, u.exifTakenMs ? 1 : 0);
        if (!s.exec())
            return m_db->lastError(doing);
        s.reset();
    }
    if (!tx.commit())
        return m_db->lastError(doing);
    return {};
}

std::optional<qint64> Catalog::idForPath(const QString &path) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT id FROM photos WHERE path = ?1");
    s.bindPath(1, path);
    if (s.step())
        return s.int64At(0);
    return std::nullopt;
}

LibraryStats Catalog::stats(const QString &modelKey) const {
    std::lock_guard lock(m_mutex);
    LibraryStats st;
    st.databasePath = m_path;
    st.modelKey = modelKey;
    auto s = m_db->prepare("SELECT (SELECT count(*) FROM folders), (SELECT count(*) FROM photos),"
                           " (SELECT count(*) FROM embeddings WHERE model_key = ?1),"
                           " (SELECT count(*) FROM photos WHERE state = 2), (SELECT count(*) FROM "
                           "photos WHERE offline <> 0)");
    s.bind(1, modelKey);
    if (s.step()) {
        st.folders = s.int64At(0);
        st.photos = s.int64At(1);
        st.indexed = s.int64At(2);
        st.failed = s.int64At(3);
        st.offline = s.int64At(4);
        st.pending = std::max<qint64>(0, st.photos - st.failed - st.indexed);
    }
    st.readOnly = !m_readOnlyReason.isEmpty();
    if (isPostgres()) {
        s = m_db->prepare("SELECT pg_database_size(current_database())");
        st.databaseBytes = s.step() ? s.int64At(0) : 0;
    } else {
        st.databaseBytes =
            QFileInfo(m_path).size() + QFileInfo(m_path + QStringLiteral("-wal")).size();
    }
    return st;
}

qint64 Catalog::nowMs() const {
    if (!isPostgres())
        return QDateTime::currentMSecsSinceEpoch();
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT CAST(extract(epoch from clock_timestamp()) * 1000 AS BIGINT)");
    return s.step() ? s.int64At(0) : 0;
}

QString Catalog::meta(const QString &key) const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare("SELECT value FROM meta WHERE key = ?1");
    s.bind(1, key);
    return s.step() ? s.textAt(0) : QString();
}

Status Catalog::setMeta(const QString &key, const QString &value) {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare(upsertSql("meta", {"key"}, {"value"}));
    s.bind(1, key).bind(2, value);
    if (!s.exec())
        return m_db->lastError(QStringLiteral("writing library metadata"));
    return {};
}

void Catalog::setMaxPageCount(qint64 pages) {
    std::lock_guard lock(m_mutex);
    if (isPostgres())
        return; // a server's disk is not ours to limit
    const QByteArray pragma = "PRAGMA max_page_count = " + QByteArray::number(pages);
    auto s = m_db->prepare(pragma.constData());
    while (s.step()) {
    }
}

void Catalog::setQueryOnly(bool on) {
    std::lock_guard lock(m_mutex);
    if (isPostgres())
        m_db->execScript(on ? "SET default_transaction_read_only = on"
                            : "SET default_transaction_read_only = off");
    else
        m_db->execScript(on ? "PRAGMA query_only = ON" : "PRAGMA query_only = OFF");
}

QList<QPair<QString, qint64>> Catalog::embeddingModels() const {
    std::lock_guard lock(m_mutex);
    QList<QPair<QString, qint64>> out;
    auto s = m_db->prepare(
        "SELECT model_key, count(*) FROM embeddings GROUP BY model_key ORDER BY model_key");
    while (s.step())
        out.append({s.textAt(0), s.int64At(1)});
    return out;
}

QString Catalog::integrityCheck() const {
    std::lock_guard lock(m_mutex);
    if (isPostgres()) {
        // The server checks its own pages; what the schema's constraints promise is checked here.
        auto s = m_db->prepare("SELECT (SELECT count(*) FROM (SELECT path FROM photos GROUP BY path"
                               " HAVING count(*) > 1) AS d),"
                               " (SELECT count(*) FROM embeddings e WHERE NOT EXISTS"
                               " (SELECT 1 FROM photos p WHERE p.id = e.photo_id)),"
                               " (SELECT count(*) FROM photos p WHERE NOT EXISTS"
                               " (SELECT 1 FROM folders f WHERE f.id = p.folder_id))");
        if (!s.step())
            return m_db->lastError(QStringLiteral("checking the catalog")).message;
        QStringList problems;
        if (s.int64At(0))
            problems << QStringLiteral("%1 paths are recorded more than once").arg(s.int64At(0));
        if (s.int64At(1))
            problems << QStringLiteral("%1 embeddings belong to no photo").arg(s.int64At(1));
        if (s.int64At(2))
            problems << QStringLiteral("%1 photos belong to no folder").arg(s.int64At(2));
        return problems.isEmpty() ? QStringLiteral("ok") : problems.join(QLatin1Char('\n'));
    }
    auto s = m_db->prepare("PRAGMA integrity_check");
    QStringList lines;
    while (s.step())
        lines << s.textAt(0);
    return lines.join(QLatin1Char('\n'));
}

qint64 Catalog::duplicatePaths() const {
    std::lock_guard lock(m_mutex);
    auto s = m_db->prepare(
        "SELECT count(*) FROM (SELECT path FROM photos GROUP BY path HAVING count(*) > 1) AS d");
    return s.step() ? s.int64At(0) : -1;
}

} // namespace ts
