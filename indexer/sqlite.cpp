#include "indexer/sqlite.h"

#include "core/common/nativepath.h"
#include "indexer/rootmapper.h"

#include <sqlite3.h>

#include <QFile>

namespace ts::sql {

Statement::Statement(Statement &&other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)), m_db(other.m_db), m_lastCode(other.m_lastCode) {
}

Statement &Statement::operator=(Statement &&other) noexcept {
    if (this != &other) {
        if (m_stmt)
            sqlite3_finalize(m_stmt);
        m_stmt = std::exchange(other.m_stmt, nullptr);
        m_db = other.m_db;
        m_lastCode = other.m_lastCode;
    }
    return *this;
}

Statement::~Statement() {
    if (m_stmt)
        sqlite3_finalize(m_stmt);
}

Statement &Statement::bind(int index, qint64 value) {
    sqlite3_bind_int64(m_stmt, index, value);
    return *this;
}
Statement &Statement::bind(int index, double value) {
    sqlite3_bind_double(m_stmt, index, value);
    return *this;
}
Statement &Statement::bind(int index, const QString &value) {
    const QByteArray utf8 = value.toUtf8();
    sqlite3_bind_text(m_stmt, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    return *this;
}
Statement &Statement::bindPath(int index, const QString &local) {
    const RootMapper *mapper = m_db ? m_db->rootMapper() : nullptr;
    const QString path = mapper ? mapper->toStored(local) : local;
    if (!isRawPath(path))
        return bind(index, path);
    const QByteArray bytes = nativePath(path);
    return bindBlob(index, bytes.constData(), int(bytes.size()));
}
Statement &Statement::bindBlob(int index, const void *data, int bytes) {
    sqlite3_bind_blob(m_stmt, index, data, bytes, SQLITE_TRANSIENT);
    return *this;
}
Statement &Statement::bindNull(int index) {
    sqlite3_bind_null(m_stmt, index);
    return *this;
}

bool Statement::step() {
    if (!m_stmt)
        return false;
    m_lastCode = sqlite3_step(m_stmt);
    if (m_lastCode == SQLITE_ROW)
        return true;
    if (m_lastCode != SQLITE_DONE && m_db)
        m_db->noteError(m_lastCode);
    return false;
}

bool Statement::exec() {
    if (!m_stmt)
        return false;
    while (step()) {
    }
    const bool ok = m_lastCode == SQLITE_DONE;
    sqlite3_reset(m_stmt);
    return ok;
}

void Statement::reset() {
    if (!m_stmt)
        return;
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
}

qint64 Statement::int64At(int column) const {
    return sqlite3_column_int64(m_stmt, column);
}
QString Statement::textAt(int column) const {
    const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, column));
    return text ? QString::fromUtf8(text, sqlite3_column_bytes(m_stmt, column)) : QString();
}
QString Statement::pathAt(int column) const {
    const QString stored = sqlite3_column_type(m_stmt, column) == SQLITE_BLOB
                               ? pathFromNative(blobAt(column))
                               : textAt(column);
    const RootMapper *mapper = m_db ? m_db->rootMapper() : nullptr;
    return mapper ? mapper->toLocal(stored) : stored;
}
QByteArray Statement::blobAt(int column) const {
    const void *data = sqlite3_column_blob(m_stmt, column);
    return data ? QByteArray(static_cast<const char *>(data), sqlite3_column_bytes(m_stmt, column))
                : QByteArray();
}
bool Statement::isNullAt(int column) const {
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

Result<std::unique_ptr<Database>> Database::open(const QString &path, Mode mode) {
    std::unique_ptr<Database> db(new Database);
    db->m_path = path;
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
    return db;
}

Database::~Database() {
    if (m_db)
        sqlite3_close_v2(m_db);
}

Statement Database::prepare(const char *sql) {
    sqlite3_stmt *stmt = nullptr;
    const int rc = sqlite3_prepare_v2(m_db, sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        noteError(rc);
        return {};
    }
    return Statement(stmt, this);
}

bool Database::execScript(const char *sql) {
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

bool Database::begin() {
    return execScript("BEGIN IMMEDIATE");
}
bool Database::commit() {
    return execScript("COMMIT");
}
void Database::rollback() {
    if (!sqlite3_get_autocommit(m_db)) {
        // Keep the error that made us roll back, not the rollback's own result.
        const int code = m_lastCode;
        const QString message = m_lastMessage;
        sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
        m_lastCode = code;
        m_lastMessage = message;
    }
}

bool Database::isReadOnly() const {
    return sqlite3_db_readonly(m_db, "main") == 1;
}

qint64 Database::lastInsertId() const {
    return sqlite3_last_insert_rowid(m_db);
}
int Database::changes() const {
    return sqlite3_changes(m_db);
}

void Database::noteError(int code) {
    m_lastCode = code & 0xff;
    m_lastMessage = QString::fromUtf8(sqlite3_errmsg(m_db));
}

Error Database::lastError(const QString &doing) const {
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
    return Error(code, QStringLiteral("%1 in %2: %3").arg(doing, m_path, why));
}

} // namespace ts::sql
