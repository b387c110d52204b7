#pragma once

// A small RAII layer over the sqlite3 C API: a connection, prepared statements with bound
// parameters, and a transaction that rolls back unless committed. Internal to the indexer (SQLite
// is linked PRIVATE into towersearch_indexer); never include it from a public header.
//
// Errors carry SQLite's primary result code so callers can tell a full disk (SQLITE_FULL), a
// read-only database (SQLITE_READONLY) or corruption apart, and a message naming the database file.
//
// Thread-safety: one Database and its statements belong to one thread at a time (the Catalog that
// owns it serialises access with a mutex).

#include "core/common/result.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <optional>

struct sqlite3;
struct sqlite3_stmt;

namespace ts {
class RootMapper;
}

namespace ts::sql {

struct SqlError {
    int code = 0; // SQLite primary result code (SQLITE_FULL, ...)
    QString message;
};

class Database;

class Statement {
public:
    Statement() = default;
    Statement(Statement &&other) noexcept;
    Statement &operator=(Statement &&other) noexcept;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;
    ~Statement();

    bool isValid() const { return m_stmt != nullptr; }
    // Parameters are 1-based, as in SQL.
    Statement &bind(int index, qint64 value);
    Statement &bind(int index, int value) { return bind(index, qint64(value)); }
    Statement &bind(int index, double value);
    Statement &bind(int index, const QString &value);
    Statement &bindBlob(int index, const void *data, int bytes);
    Statement &bindNull(int index);
    // A file path: TEXT when it is valid UTF-8, else a BLOB of its exact bytes (a name that Qt
    // cannot decode, core/common/nativepath.h). A BLOB never equals a TEXT, and UTF-8 text never
    // equals invalid bytes, so UNIQUE(path) and lookups stay exact. A path under a library root
    // is stored as "@name/..." (the connection's RootMapper, Database::setRootMapper).
    Statement &bindPath(int index, const QString &path);

    // Steps once: true when a row is available, false when done. Errors are kept in lastError().
    bool step();
    // Runs to completion (for statements without rows); returns the result code (SQLITE_DONE ok).
    bool exec();
    void reset(); // resets and clears bindings, ready for reuse

    qint64 int64At(int column) const;
    QString textAt(int column) const;
    QString pathAt(int column) const; // reads what bindPath() wrote (local where mapped)
    QByteArray blobAt(int column) const;
    bool isNullAt(int column) const;

    int lastCode() const { return m_lastCode; }

private:
    friend class Database;
    Statement(sqlite3_stmt *stmt, Database *db) : m_stmt(stmt), m_db(db) {}
    sqlite3_stmt *m_stmt = nullptr;
    Database *m_db = nullptr;
    int m_lastCode = 0;
};

class Database {
public:
    // Immutable: read-only, and SQLite is told nobody changes the file (no -shm/-wal needed): how a
    // WAL database on a read-only mount, or in a folder we cannot write, can still be read.
    enum class Mode { ReadWrite, ReadOnly, Immutable };
    static Result<std::unique_ptr<Database>> open(const QString &path, Mode mode = Mode::ReadWrite);
    ~Database();
    Database(const Database &) = delete;
    Database &operator=(const Database &) = delete;

    // Prepares SQL; on failure returns an invalid statement and records the error.
    Statement prepare(const char *sql);
    // Runs one or more statements without parameters (schema, pragmas).
    bool execScript(const char *sql);
    bool
    begin(); // BEGIN IMMEDIATE: takes the write lock now, so a batch never fails half-way on BUSY
    bool commit();
    void rollback();
    qint64 lastInsertId() const;
    int changes() const;

    // The last failure on this connection, as an Error naming the database file.
    Error lastError(const QString &doing) const;
    const QString &path() const { return m_path; }
    // The connection cannot write (opened read-only, or SQLite fell back to read-only).
    bool isReadOnly() const;

    void noteError(int code);

    // Library roots: every bindPath()/pathAt() of this connection translates through `mapper`
    // (owned by the caller, outliving the connection; null: paths as they are). Set it while no
    // statement runs.
    void setRootMapper(const RootMapper *mapper) { m_rootMapper = mapper; }
    const RootMapper *rootMapper() const { return m_rootMapper; }

private:
    Database() = default;
    const RootMapper *m_rootMapper = nullptr;
    sqlite3 *m_db = nullptr;
    QString m_path;
    int m_lastCode = 0;
    QString m_lastMessage;
};

// Rolls back on destruction unless commit() succeeded.
class Transaction {
public:
    explicit Transaction(Database &db) : m_db(db) { m_active = m_db.begin(); }
    ~Transaction() {
        if (m_active)
            m_db.rollback();
    }
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;
    bool isActive() const { return m_active; }
    bool commit() {
        if (!m_active)
            return false;
        if (!m_db.commit())
            return false; // still active: the destructor rolls back
        m_active = false;
        return true;
    }

private:
    Database &m_db;
    bool m_active = false;
};

} // namespace ts::sql
