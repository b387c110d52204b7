#pragma once

// The catalog's connection to a PostgreSQL server that may restart under it (an upgrade, a NAS
// rebooting): a decorator over sql::Database, so that every Catalog method gets the same rules
// without a line of its own. Internal to the indexer.
//
// - A call after a lost connection reconnects first (the first prepare or begin after it).
// - A read (a statement whose SQL starts with SELECT or WITH, outside a transaction) that finds the
//   connection lost before its first row is run once more on a new connection: nothing was
//   written, the caller sees the answer. Rows already handed out are never replayed: a loss in
//   the middle of a result is reported.
// - A write, or anything inside a transaction, that finds the connection lost is reported as
//   failed (Failure::ConnectionLost): the server rolled back the transaction, nothing is
//   half-written, the caller retries the whole of it.
// - Preparing a statement and BEGIN touch nothing: they are retried once after a reconnect.
// - A reconnect that failed (the server still down, a NAS switched off: up to the connect timeout
//   each) is not tried again by the calls of the next second, then 2, 4 ... 30 s: meanwhile they
//   fail at once. reconnect() itself always tries.
//
// Threads: as sql::Database (the Catalog's mutex serialises calls).

#include "indexer/sqldatabase.h"

#include <QDeadlineTimer>

namespace ts::sql {

class ReconnectingDatabase final : public Database {
public:
    explicit ReconnectingDatabase(std::unique_ptr<Database> inner);

    Backend backend() const override { return m_inner->backend(); }
    bool execScript(const char *sql) override;
    bool begin() override;
    bool commit() override;
    void rollback() override;
    qint64 lastInsertId() const override { return m_inner->lastInsertId(); }
    qint64 changes() const override { return m_inner->changes(); }
    Failure lastFailure() const override { return m_inner->lastFailure(); }
    Error lastError(const QString &doing) const override { return m_inner->lastError(doing); }
    bool isReadOnly() const override { return m_inner->isReadOnly(); }
    Status reconnect() override;

    // How many times the connection was made again (tests, status), and tried to be.
    int reconnects() const { return m_reconnects; }
    int reconnectAttempts() const { return m_attempts; }

protected:
    // The inner connection's statement, wrapped. The RootMapper is this decorator's (the one the
    // Catalog sets): Database::prepare() gives the wrapped statement to it, while the inner
    // connection keeps none, so a path is translated once, on the way in and out.
    Statement prepareStatement(const char *sql) override;

private:
    friend class RetryingStatement;
    // Reconnects when the last call lost the connection; false when that failed.
    bool reconnectIfLost();

    std::unique_ptr<Database> m_inner;
    bool m_inTransaction = false;
    int m_reconnects = 0;
    int m_attempts = 0;
    int m_backoffMs = 0;         // after a failed reconnect; 0 after a working one
    QDeadlineTimer m_retryAfter; // no automatic reconnect before it
};

} // namespace ts::sql
