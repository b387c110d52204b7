// The catalog's schema: numbered migrations and how a database is brought to the current
// version (one transaction each, PRAGMA user_version), or refused when it is newer.
#include "indexer/catalog.h"
#include "indexer/sqlite.h"

namespace ts {

namespace {

// Numbered migrations: kMigrations[i] takes the schema from version i to i + 1, in one transaction.
// Never edit a released migration; append a new one and raise Catalog::kSchemaVersion.
const char *const kMigrations[] = {
    // 0 -> 1
    R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE folders (
    id        INTEGER PRIMARY KEY,
    path      TEXT NOT NULL UNIQUE,
    added_at  INTEGER NOT NULL,
    last_scan INTEGER
);
CREATE TABLE photos (
    id           INTEGER PRIMARY KEY,
    folder_id    INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path         TEXT NOT NULL UNIQUE,
    size         INTEGER NOT NULL,
    mtime_ms     INTEGER NOT NULL,
    content_hash TEXT,
    width        INTEGER NOT NULL DEFAULT 0,
    height       INTEGER NOT NULL DEFAULT 0,
    orientation  INTEGER NOT NULL DEFAULT 1,
    taken_ms     INTEGER,
    state        INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    error        TEXT,
    thumbnail    TEXT
);
CREATE INDEX photos_folder ON photos(folder_id);
CREATE INDEX photos_hash ON photos(content_hash);
CREATE TABLE embeddings (
    photo_id  INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    model_key TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    vector    BLOB NOT NULL,
    PRIMARY KEY (photo_id, model_key)
) WITHOUT ROWID;
CREATE INDEX embeddings_model ON embeddings(model_key);
)sql",
    // 1 -> 2: folders that could not be listed (offline) and the filesystem each folder
    // was on, so that an unmounted disk's empty mount point is not taken for an emptied folder.
    // A photo belongs to the innermost watched folder that contains it (so that forgetting an
    // outer folder keeps what an inner one covers): fix up rows an outer folder took over.
    R"sql(
ALTER TABLE photos ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;
CREATE TABLE directories (
    path           TEXT PRIMARY KEY,
    device         INTEGER NOT NULL,
    parent_device  INTEGER NOT NULL,
    offline_since  INTEGER,
    offline_reason TEXT
) WITHOUT ROWID;
UPDATE photos SET folder_id = (
    SELECT f.id FROM folders f
    WHERE substr(photos.path, 1, length(rtrim(f.path, '/')) + 1) = rtrim(f.path, '/') || '/'
    ORDER BY length(f.path) DESC LIMIT 1)
WHERE EXISTS (SELECT 1 FROM folders f
              WHERE substr(photos.path, 1, length(rtrim(f.path, '/')) + 1) = rtrim(f.path, '/') || '/');
)sql",
    // 2 -> 3 (content identity): full_hash is a hash of every byte of the file (the
    // quick content_hash stays as the indexed pre-filter; rows indexed before have NULL and are
    // never reused by hash). Photo ids are never reused: meta 'photos_last_id' is the highest id
    // ever given (kept by the trigger whoever inserts), and new rows take the next one. Existing
    // ids, embeddings and foreign keys are untouched (no table rebuild).
    R"sql(
ALTER TABLE photos ADD COLUMN full_hash TEXT;
INSERT OR REPLACE INTO meta(key, value) SELECT 'photos_last_id', coalesce(max(id), 0) FROM photos;
CREATE TRIGGER photos_last_id AFTER INSERT ON photos BEGIN
    UPDATE meta SET value = NEW.id WHERE key = 'photos_last_id' AND CAST(value AS INTEGER) < NEW.id;
END;
)sql",
    // 3 -> 4 (filters): what a photo is and where it came from, for filters and
    // listings. taken_ms now always has a value: EXIF DateTimeOriginal, else the file's mtime with
    // taken_is_file_time = 1. file_type is canonical (core/image/exifreader.h): by content when
    // indexed, here from the extension. file_name (the path's last component) orders by name.
    // metadata_version 0: the camera is not read yet; the next indexing run reads the EXIF of
    // these rows from the file heads (no embedding) and sets it to the current version.
    // The indexes leave failed photos out, as every listing does (its WHERE starts with
    // "p.state <> 2"): walking them in order never reads the table for rows an OFFSET skips.
    R"sql(
ALTER TABLE photos ADD COLUMN camera_make TEXT;
ALTER TABLE photos ADD COLUMN camera_model TEXT;
ALTER TABLE photos ADD COLUMN file_type TEXT;
ALTER TABLE photos ADD COLUMN file_name TEXT;
ALTER TABLE photos ADD COLUMN taken_is_file_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE photos ADD COLUMN metadata_version INTEGER NOT NULL DEFAULT 0;
UPDATE photos SET taken_ms = mtime_ms, taken_is_file_time = 1 WHERE taken_ms IS NULL;
UPDATE photos SET file_name = substr(CAST(path AS TEXT), length(rtrim(CAST(path AS TEXT), replace(CAST(path AS TEXT), '/', ''))) + 1);
UPDATE photos SET file_type = CASE lower(substr(file_name, length(rtrim(file_name, replace(file_name, '.', ''))) + 1))
    WHEN 'jpg' THEN 'jpeg' WHEN 'jpeg' THEN 'jpeg' WHEN 'jpe' THEN 'jpeg' WHEN 'heif' THEN 'heic' WHEN 'hif' THEN 'heic'
    WHEN 'tif' THEN 'tiff' ELSE lower(substr(file_name, length(rtrim(file_name, replace(file_name, '.', ''))) + 1)) END
WHERE instr(file_name, '.') > 0;
CREATE INDEX photos_taken ON photos(taken_ms) WHERE state <> 2;
CREATE INDEX photos_type ON photos(file_type) WHERE state <> 2;
CREATE INDEX photos_camera ON photos(camera_make, camera_model) WHERE state <> 2;
CREATE INDEX photos_name ON photos(file_name COLLATE NOCASE, path) WHERE state <> 2;
)sql",
    // 4 -> 5 (issue 17, many workers): the shared work queue and the workers that drain it.
    // index_jobs: what the last discovery found for a model, each job leased by at most one
    // worker at a time (lease_owner = workers.id until lease_expires_ms, the database's clock);
    // ids are never reused (AUTOINCREMENT), so a lease on a job that was done and discovered
    // again can never be taken for the new one's. flags: 1 its row had a vector, 2 unchanged
    // (same size and mtime), 4 the row's file vanished (delete it, claimed last). root: the
    // library root of an "@name/..." path (NULL: an absolute path, any worker). misses: workers
    // that could not see the file (dropped after 3; the next discovery decides).
    // queue_state: per model, who discovers now (a lease like a job's) and when it last did.
    R"sql(
CREATE TABLE index_jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_key        TEXT NOT NULL,
    folder_id        INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
    path             NOT NULL,
    root             TEXT,
    size             INTEGER NOT NULL,
    mtime_ms         INTEGER NOT NULL,
    existing_id      INTEGER NOT NULL DEFAULT 0,
    flags            INTEGER NOT NULL DEFAULT 0,
    misses           INTEGER NOT NULL DEFAULT 0,
    lease_owner      INTEGER,
    lease_expires_ms INTEGER NOT NULL DEFAULT 0,
    UNIQUE (model_key, path)
);
CREATE INDEX index_jobs_claim ON index_jobs(model_key, lease_expires_ms);
CREATE INDEX index_jobs_owner ON index_jobs(lease_owner);
CREATE TABLE queue_state (
    model_key             TEXT PRIMARY KEY,
    discovery_owner       INTEGER,
    discovery_expires_ms  INTEGER NOT NULL DEFAULT 0,
    last_discovery_ms     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE workers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    model_key     TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL,
    lease_ms      INTEGER NOT NULL,
    state         TEXT NOT NULL,
    embedded      INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    current_batch INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
)sql",
};
constexpr int kMigrationCount = int(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kMigrationCount == Catalog::kSchemaVersion);

} // namespace

Status Catalog::migrate() {
    // Read the version before anything that could write (journal mode, migrations): a database
    // from a newer TowerSearch must be left exactly as it is.
    auto version = m_db->prepare("PRAGMA user_version");
    if (!version.step())
        return m_db->lastError(QStringLiteral("reading the schema version"));
    const int current = int(version.int64At(0));
    version = {};
    if (current > kSchemaVersion)
        return Error(Error::Code::Unsupported,
                     QStringLiteral("the library database %1 was written by a newer TowerSearch "
                                    "(schema version %2; this "
                                    "version reads up to %3). Update TowerSearch, or pass --db to "
                                    "use another database; "
                                    "the file was not modified.")
                         .arg(m_path)
                         .arg(current)
                         .arg(kSchemaVersion));
    if (!m_readOnlyReason.isEmpty()) {
        if (current < kSchemaVersion)
            return Error(Error::Code::Io,
                         QStringLiteral("the library database %1 is read-only (%2) and was written "
                                        "by an older TowerSearch "
                                        "(schema version %3; this version needs %4): open it once "
                                        "where it can be written "
                                        "to upgrade it")
                             .arg(m_path, m_readOnlyReason)
                             .arg(current)
                             .arg(kSchemaVersion));
        m_db->execScript("PRAGMA foreign_keys = ON;");
        return {};
    }
    if (!m_db->execScript(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"))
        return m_db->lastError(QStringLiteral("configuring the library database"));
    for (int v = current; v < kSchemaVersion; ++v) {
        sql::Transaction tx(*m_db);
        if (!tx.isActive())
            return m_db->lastError(QStringLiteral("starting migration %1").arg(v + 1));
        if (!m_db->execScript(kMigrations[v]))
            return m_db->lastError(
                QStringLiteral("migrating the library database to schema version %1").arg(v + 1));
        // PRAGMA cannot take a bound parameter; the value is our own constant.
        const QByteArray setVersion = "PRAGMA user_version = " + QByteArray::number(v + 1);
        if (!m_db->execScript(setVersion.constData()) || !tx.commit())
            return m_db->lastError(
                QStringLiteral("migrating the library database to schema version %1").arg(v + 1));
    }
    return {};
}

} // namespace ts
