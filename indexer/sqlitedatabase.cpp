// The SQLite backend of sql::Database (indexer/sqldatabase.h): RAII over the sqlite3 C API.
// SQLite's result codes stay in this file; callers see sql::Failure.

#include "indexer/sqldatabase.h"

#include "core/common/nativepath.h"

#include <sqlite3.h>

#include <QFile>

namespace ts::sql {

namespace {

Failure failureOf(int code) {
    switch (code & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return Failure::None;
    case SQLITE_FULL:
        return Failure::DiskFull;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        return Failure::ReadOnly;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return Failure::Corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return Failure::Busy;
    case SQLITE_CONSTRAINT:
        return Failure::Constraint;
    default:
        return Failure::Other;
    }
}

class SqliteDatabase;

class SqliteStatement final : public detail::StatementBackend {
public:
    SqliteStatement(sqlite3_stmt *stmt, SqliteDatabase *db) : m_stmt(stmt), m_db(db) {}
    ~SqliteStatement() override { sqlite3_finalize(m_stmt); }
    SqliteStatement(const SqliteStatement &) = delete;
    SqliteStatement &operator=(const SqliteStatement &) = delete;

    void bindInt64(int index, qint64 value) override { sqlite3_bind_int64(m_stmt, index, value); }
    void bindDouble(int index, double value) override { sqlite3_bind_double(m_stmt, index, value); }
    void bindText(int index, const QString &value) override {
        const QByteArray utf8 = value.toUtf8();
        sqlite3_bind_text(m_stmt, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    }
    void bindBlob(int index, const void *data, int bytes) override {
        sqlite3_bind_blob(m_stmt, index, data, bytes, SQLITE_TRANSIENT);
    }
    void bindNull(int index) override { sqlite3_bind_null(m_stmt, index); }
    // TEXT when valid UTF-8, else a BLOB of the exact bytes: a BLOB never equals a TEXT, and UTF-8
    // text never equals invalid bytes, so UNIQUE(path) and lookups stay exact.
    void bindPath(int index, const QString &path) override {
        if (!isRawPath(path))
            return bindText(index, path);
        const QByteArray bytes = nativePath(path);
        bindBlob(index, bytes.constData(), int(bytes.size()));
    }

    bool step() override;
    bool exec() override {
        while (step()) {
        }
        const bool ok = m_lastCode == SQLITE_DONE;
        sqlite3_reset(m_stmt);
        return ok;
    }
    void reset() override {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }

    qint64 int64At(int column) const override { return sqlite3_column_int64(m_stmt, column); }
    double doubleAt(int column) const override { return sqlite3_column_double(m_stmt, column); }
    QString textAt(int column) const override {
        const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, column));
        return text ? QString::fromUtf8(text, sqlite3_column_bytes(m_stmt, column)) : QString();
    }
    QString pathAt(int column) const override {
        if (sqlite3_column_type(m_stmt, column) == SQLITE_BLOB)
            return pathFromNative(blobAt(column));
        return textAt(column);
    }
    QByteArray blobAt(int column) const override {
        const void *data = sqlite3_column_blob(m_stmt, column);
        return data ? QByteArray(static_cast<const char *>(data),
                                 sqlite3_column_bytes(m_stmt, column))
                    : QByteArray();
    }
    bool isNullAt(int column) const override {
        return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
    }
    Failure failure() const override { return failureOf(m_lastCode); }

private:
    sqlite3_stmt *m_stmt = nullptr;
    SqliteDatabase *m_db = nullptr;
    int m_lastCode = 0;
};

class SqliteDatabase final : public Database {
public:
    explicit SqliteDatabase(const QString &path) : Database(path) {}
    ~SqliteDatabase() override {
        if (m_db)
            sqlite3_close_v2(m_db);
    }

    static Result<std::unique_ptr<Database>> open(const QString &path, Mode mode);

    Backend backend() const override { return Backend::Sqlite; }

protected:
    Statement prepareStatement(const char *sql) override {
        sqlite3_stmt *stmt = nullptr;
        const int rc = sqlite3_prepare_v2(m_db, sql, -1, &stmt, nullptr);
        if (rc != SQLITE_OK) {
            noteError(rc);
            return Statement(failureOf(rc));
        }
        return Statement(std::make_unique<SqliteStatement>(stmt, this));
    }

public:
    bool execScript(const char *sql) override {
        char *message = nullptr;
        const int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, &message);
        if (message)
            sqlite3_free(message);
        if (rc != SQLITE_OK) {
            noteError(rc);
            return false;
        }
        return true;
    }

    bool begin() override { return execScript("BEGIN IMMEDIATE"); }
    bool commit() override { return execScript("COMMIT"); }
    void rollback() override {
        if (!sqlite3_get_autocommit(m_db)) {
            // Keep the error that made us roll back, not the rollback's own result.
            const int code = m_lastCode;
            const QString message = m_lastMessage;
            sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
            m_lastCode = code;
            m_lastMessage = message;
        }
    }
    qint64 lastInsertId() const override { return sqlite3_last_insert_rowid(m_db); }
    qint64 changes() const override { return sqlite3_changes(m_db); }
    Failure lastFailure() const override { return failureOf(m_lastCode); }
    Error lastError(const QString &doing) const override;
    bool isReadOnly() const override { return sqlite3_db_readonly(m_db, "main") == 1; }
    Status reconnect() override { return {}; }

    void noteError(int code) {
        m_lastCode = code & 0xff;
        m_lastMessage = QString::fromUtf8(sqlite3_errmsg(m_db));
    }

private:
    sqlite3 *m_db = nullptr;
    int m_lastCode = 0;
    QString m_lastMessage;
};

bool SqliteStatement::step() {
    m_lastCode = sqlite3_step(m_stmt);
    if (m_lastCode == SQLITE_ROW)
        return true;
    if (m_lastCode != SQLITE_DONE)
        m_db->noteError(m_lastCode);
    return false;
}

Result<std::unique_ptr<Database>> SqliteDatabase::open(const QString &path, Mode mode) {
    std::unique_ptr<SqliteDatabase> db(new SqliteDatabase(path));
    int flags = (mode == Mode::ReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                         : SQLITE_OPEN_READONLY) |
                SQLITE_OPEN_NOMUTEX;
    QByteArray name = QFile::encodeName(path);
    if (mode == Mode::Immutable) {
        // A URI: percent-encode what URIs reserve in the path.
        name = "file:" + name.toPercentEncoding("/") + "?immutable=1";
        flags |= SQLITE_OPEN_URI;
    }
    const int rc = sqlite3_open_v2(name.constData(), &db->m_db, flags, nullptr);
    if (rc != SQLITE_OK) {
        const QString why = db->m_db ? QString::fromUtf8(sqlite3_errmsg(db->m_db))
                                     : QString::fromUtf8(sqlite3_errstr(rc));
        return Error(rc == SQLITE_CANTOPEN ? Error::Code::Io : Error::Code::Format,
                     QStringLiteral("cannot open the library database %1: %2").arg(path, why));
    }
    sqlite3_extended_result_codes(db->m_db, 0);
    // Another connection (the app's reader, a second process) may hold the write lock briefly.
    sqlite3_busy_timeout(db->m_db, 10000);
    return std::unique_ptr<Database>(std::move(db));
}

Error SqliteDatabase::lastError(const QString &doing) const {
    QString why;
    Error::Code code = Error::Code::Io;
    switch (m_lastCode) {
    case SQLITE_FULL:
        why = QStringLiteral(
            "the disk is full; free some space and run indexing again (nothing was half-written)");
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        why = QStringLiteral("the database is read-only or cannot be written (check the file's and "
                             "folder's permissions)");
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        why = QStringLiteral("the database file is corrupt or is not a TowerSearch library (%1)")
                  .arg(m_lastMessage);
        code = Error::Code::Format;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        why = QStringLiteral(
            "the database is locked by another program (is another TowerSearch indexing it?)");
        break;
    case SQLITE_IOERR:
        why = QStringLiteral("an input/output error occurred (%1)").arg(m_lastMessage);
        break;
    default:
        why = m_lastMessage.isEmpty() ? QStringLiteral("SQLite error %1").arg(m_lastCode)
                                      : m_lastMessage;
        code = Error::Code::Internal;
        break;
    }
    return Error(code, QStringLiteral("%1 in %2: %3").arg(doing, path(), why));
}

} // namespace

namespace detail {
Result<std::unique_ptr<Database>> openSqlite(const QString &path, Database::Mode mode) {
    return SqliteDatabase::open(path, mode);
}
} // namespace detail

} // namespace ts::sql
