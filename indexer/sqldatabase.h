#pragma once

// The catalog's SQL seam: one small API over two backends, SQLite (an embedded file, the default)
// and PostgreSQL (a shared server, through libpq). Internal to the indexer (SQLite and libpq are
// linked PRIVATE into towersearch_indexer); never include it from a public header. Tests may.
//
// Usage:
//   auto db = sql::Database::open(location);  // a file path, or postgresql://user@host/dbname
//   if (!db) return db.error();
//   auto s = (*db)->prepare("SELECT id, path FROM photos WHERE size > ?1");
//   s.bind(1, qint64(1000));
//   while (s.step())
//       use(s.int64At(0), s.pathAt(1));
//   if (s.failure() != sql::Failure::None)
//       return (*db)->lastError(QStringLiteral("reading the catalog"));
//
// SQL text uses numbered placeholders ?1 ?2 ... on both backends (the PostgreSQL driver rewrites
// them to $1 $2 outside quoted literals, identifiers and comments). Write `INSERT ... RETURNING id`
// rather than lastInsertId(), which only SQLite has. On PostgreSQL every path column is BYTEA.
//
// Failures are backend-neutral (Failure); each is recorded on the connection so lastError() can
// turn it into a sentence naming the database (a URL is shown with its password as ***).
// PostgreSQL differs from SQLite in one way callers must know: after any failed statement inside
// a transaction the server refuses everything until the transaction ends, so roll back.
//
// Thread-safety: one Database and its statements belong to one thread at a time (the Catalog that
// owns it serialises access with a mutex). A Statement must not outlive its Database.

#include "core/common/result.h"

#include <QByteArray>
#include <QString>

#include <cstdint>
#include <memory>

namespace ts {
class RootMapper;
}

namespace ts::sql {

enum class Backend { Sqlite, Postgres };

// What kind of failure the last operation met, whatever the backend.
enum class Failure {
    None,
    DiskFull,       // SQLITE_FULL, SQLSTATE 53100
    ReadOnly,       // a read-only file or connection, a read-only transaction (25006)
    Corrupt,        // not a database, or a damaged one
    Busy,           // locked by another connection, a serialization failure or deadlock
    Constraint,     // UNIQUE, NOT NULL, CHECK, FOREIGN KEY (SQLSTATE class 23)
    ConnectionLost, // the server went away (restart, network): reconnect() and try again
    AuthFailed,     // the server refused the user or the password
    Unreachable,    // no server at the address (refused, no socket, timeout, unknown host)
    Other,          // anything else (a syntax error: a bug); the message says what
};

struct SqlError {
    Failure failure = Failure::None;
    QString message; // the backend's own words (no password)
};

// True for a libpq connection URI (postgresql:// or postgres://); anything else is a file path.
bool isPostgresLocation(const QString &location);
// The location as it may be printed: a URL with its password (user:PASSWORD@ or ?password=)
// replaced by *** (Mask), or removed (Remove: the same catalog whatever password names it, e.g. a
// key in a settings file); a file path unchanged.
enum class Redaction { Mask, Remove };
QString redactedLocation(const QString &location, Redaction how = Redaction::Mask);
// `text` (libpq's words about `location`, which may quote pieces of it) with the location shown
// redacted and every password of it, as written, percent-decoded and each piece of it between
// '@' and '/' (libpq splits a password holding them raw), replaced by ***.
QString maskPasswords(QString text, const QString &location);

class Database;

namespace detail {
// What a backend implements for one prepared statement. Statement forwards to it.
class StatementBackend {
public:
    virtual ~StatementBackend() = default;
    virtual void bindInt64(int index, qint64 value) = 0;
    virtual void bindDouble(int index, double value) = 0;
    virtual void bindText(int index, const QString &value) = 0;
    virtual void bindBlob(int index, const void *data, int bytes) = 0;
    virtual void bindNull(int index) = 0;
    virtual void bindPath(int index, const QString &path) = 0;
    virtual bool step() = 0;
    virtual bool exec() = 0;
    virtual void reset() = 0;
    virtual qint64 int64At(int column) const = 0;
    virtual double doubleAt(int column) const = 0;
    virtual QString textAt(int column) const = 0;
    virtual QString pathAt(int column) const = 0;
    virtual QByteArray blobAt(int column) const = 0;
    virtual bool isNullAt(int column) const = 0;
    virtual Failure failure() const = 0;
};
} // namespace detail

// A prepared statement (a value type: movable, not copyable). An invalid one (prepare failed)
// ignores binds, never yields a row and reports the preparation's failure.
class Statement {
public:
    Statement() = default;
    explicit Statement(std::unique_ptr<detail::StatementBackend> backend)
        : m_backend(std::move(backend)) {}
    // An invalid statement that remembers why it could not be prepared.
    explicit Statement(Failure prepareFailure) : m_prepareFailure(prepareFailure) {}
    Statement(Statement &&other) noexcept = default;
    Statement &operator=(Statement &&other) noexcept = default;
    Statement(const Statement &) = delete;
    Statement &operator=(const Statement &) = delete;
    ~Statement() = default;

    bool isValid() const { return m_backend != nullptr; }
    // Parameters are 1-based, as in SQL (?1 is index 1).
    Statement &bind(int index, qint64 value) {
        if (m_backend)
            m_backend->bindInt64(index, value);
        return *this;
    }
    Statement &bind(int index, int value) { return bind(index, qint64(value)); }
    Statement &bind(int index, double value) {
        if (m_backend)
            m_backend->bindDouble(index, value);
        return *this;
    }
    Statement &bind(int index, const QString &value) {
        if (m_backend)
            m_backend->bindText(index, value);
        return *this;
    }
    // Binary bytes (zero bytes included): a BLOB on SQLite, BYTEA on PostgreSQL.
    Statement &bindBlob(int index, const void *data, int bytes) {
        if (m_backend)
            m_backend->bindBlob(index, data, bytes);
        return *this;
    }
    Statement &bindNull(int index) {
        if (m_backend)
            m_backend->bindNull(index);
        return *this;
    }
    // A file path, losslessly (core/common/nativepath.h). SQLite: TEXT when it is valid UTF-8,
    // else a BLOB of its exact bytes (a BLOB never equals a TEXT, so UNIQUE(path) stays exact).
    // PostgreSQL: always the exact bytes, for a BYTEA column. Read it back with pathAt(). A path
    // under a library root is stored as "@name/..." (the connection's RootMapper,
    // Database::setRootMapper).
    Statement &bindPath(int index, const QString &path);

    // Steps once: true when a row is available; false when done (failure() None) or on a failure
    // (recorded on the connection too). Stepping again after the end runs the statement again.
    bool step() { return m_backend && m_backend->step(); }
    // Runs to completion, ignoring rows; true on success. Bindings are kept for another run.
    bool exec() { return m_backend && m_backend->exec(); }
    // Ready for reuse: stops a run in progress and clears the bindings (all NULL).
    void reset() {
        if (m_backend)
            m_backend->reset();
    }

    // Columns are 0-based. A NULL reads as 0, an empty QString/QByteArray.
    qint64 int64At(int column) const { return m_backend ? m_backend->int64At(column) : 0; }
    double doubleAt(int column) const { return m_backend ? m_backend->doubleAt(column) : 0.0; }
    QString textAt(int column) const { return m_backend ? m_backend->textAt(column) : QString(); }
    // Reads what bindPath() wrote (local where the connection's RootMapper maps its root).
    QString pathAt(int column) const;
    QByteArray blobAt(int column) const {
        return m_backend ? m_backend->blobAt(column) : QByteArray();
    }
    bool isNullAt(int column) const { return !m_backend || m_backend->isNullAt(column); }

    // None after a successful step/exec (also when step() returned false at the end of the rows).
    Failure failure() const { return m_backend ? m_backend->failure() : m_prepareFailure; }

private:
    friend class Database;
    std::unique_ptr<detail::StatementBackend> m_backend;
    Failure m_prepareFailure = Failure::Other;
    const Database *m_db = nullptr; // for its RootMapper (set by Database::prepare)
};

class Database {
public:
    // ReadOnly: writes fail with Failure::ReadOnly. Immutable (SQLite): read-only, and SQLite is
    // told nobody changes the file (no -shm/-wal needed): how a WAL database on a read-only mount
    // can still be read. On PostgreSQL Immutable is ReadOnly (default_transaction_read_only).
    enum class Mode { ReadWrite, ReadOnly, Immutable };

    // Opens `location`: a PostgreSQL URL (isPostgresLocation) connects with libpq (password from
    // the URL, PGPASSWORD or ~/.pgpass; connect_timeout 10 s unless the URL says otherwise), else
    // a SQLite file is opened (created in ReadWrite mode). Fails with a sentence naming the
    // location: the server unreachable, the password refused, the file not openable; `failure`
    // (when given) then says which (Unreachable, AuthFailed, ...), e.g. to decide on a retry.
    static Result<std::unique_ptr<Database>>
    open(const QString &location, Mode mode = Mode::ReadWrite, Failure *failure = nullptr);
    virtual ~Database() = default;
    Database(const Database &) = delete;
    Database &operator=(const Database &) = delete;

    virtual Backend backend() const = 0;
    // Prepares SQL; on failure returns an invalid statement and records the error. The statement
    // translates paths through this connection's RootMapper.
    Statement prepare(const char *sql) {
        Statement s = prepareStatement(sql);
        s.m_db = this;
        return s;
    }
    // Runs one or more statements without parameters (schema, settings).
    virtual bool execScript(const char *sql) = 0;
    // SQLite: BEGIN IMMEDIATE (takes the write lock now, so a batch never fails half-way on
    // BUSY). PostgreSQL: BEGIN.
    virtual bool begin() = 0;
    // False when the transaction did not commit (on PostgreSQL also when an earlier statement in
    // it failed, so the server rolled it back).
    virtual bool commit() = 0;
    // Rolls back an open transaction; keeps the failure that led to it as lastError().
    virtual void rollback() = 0;
    // SQLite only (0 on PostgreSQL): write INSERT ... RETURNING id instead.
    virtual qint64 lastInsertId() const = 0;
    // Rows changed by the last INSERT, UPDATE or DELETE.
    virtual qint64 changes() const = 0;

    virtual Failure lastFailure() const = 0;
    // The last failure on this connection as an Error: "<doing> in <location>: <why>".
    virtual Error lastError(const QString &doing) const = 0;
    // The file path, or the URL as given (it may hold a password: print redactedLocation()).
    const QString &location() const { return m_location; }
    const QString &path() const { return m_location; }
    // The connection cannot write (opened read-only, SQLite fell back to read-only, a PostgreSQL
    // hot standby or default_transaction_read_only).
    virtual bool isReadOnly() const = 0;
    // After Failure::ConnectionLost: connects again (PostgreSQL; statements prepared before are
    // prepared again on their next use). SQLite: nothing to do, success. An open transaction is
    // lost with the connection: redo it.
    virtual Status reconnect() = 0;

    // Library roots: every bindPath()/pathAt() of this connection's statements translates through
    // `mapper` (owned by the caller, outliving the connection; null: paths as they are). Set it
    // while no statement runs.
    void setRootMapper(const RootMapper *mapper) { m_rootMapper = mapper; }
    const RootMapper *rootMapper() const { return m_rootMapper; }

protected:
    explicit Database(QString location) : m_location(std::move(location)) {}
    // The backend's prepare (prepare() wraps it).
    virtual Statement prepareStatement(const char *sql) = 0;

private:
    QString m_location;
    const RootMapper *m_rootMapper = nullptr;
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
    // Now, instead of at the end of the scope: what follows runs outside the transaction.
    void rollback() {
        if (m_active)
            m_db.rollback();
        m_active = false;
    }

private:
    Database &m_db;
    bool m_active = false;
};

} // namespace ts::sql
