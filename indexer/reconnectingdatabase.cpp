#include "indexer/reconnectingdatabase.h"

#include <QByteArray>

#include <algorithm>

namespace ts::sql {

namespace {

bool isRead(const char *sql) {
    const QByteArray head = QByteArray(sql).trimmed().left(6).toUpper();
    return head.startsWith("SELECT") || head.startsWith("WITH");
}

} // namespace

// A statement of the inner connection that runs a read once more after a lost connection.
class RetryingStatement final : public detail::StatementBackend {
public:
    RetryingStatement(ReconnectingDatabase &db, Statement inner, bool read)
        : m_db(db), m_inner(std::move(inner)), m_read(read) {}

    void bindInt64(int index, qint64 value) override { m_inner.bind(index, value); }
    void bindDouble(int index, double value) override { m_inner.bind(index, value); }
    void bindText(int index, const QString &value) override { m_inner.bind(index, value); }
    void bindBlob(int index, const void *data, int bytes) override {
        m_inner.bindBlob(index, data, bytes);
    }
    void bindNull(int index) override { m_inner.bindNull(index); }
    void bindPath(int index, const QString &path) override { m_inner.bindPath(index, path); }

    bool step() override {
        bool row = m_inner.step();
        // Before the first row of a read outside a transaction: run it again on a new
        // connection (the statement prepares itself there; its bindings are kept).
        if (!row && m_rows == 0 && retryable() && m_db.reconnectIfLost())
            row = m_inner.step();
        m_rows = row ? m_rows + 1 : 0;
        return row;
    }
    bool exec() override {
        bool ok = m_inner.exec();
        if (!ok && retryable() && m_db.reconnectIfLost())
            ok = m_inner.exec();
        return ok;
    }
    void reset() override {
        m_inner.reset();
        m_rows = 0;
    }
    qint64 int64At(int column) const override { return m_inner.int64At(column); }
    double doubleAt(int column) const override { return m_inner.doubleAt(column); }
    QString textAt(int column) const override { return m_inner.textAt(column); }
    QString pathAt(int column) const override { return m_inner.pathAt(column); }
    QByteArray blobAt(int column) const override { return m_inner.blobAt(column); }
    bool isNullAt(int column) const override { return m_inner.isNullAt(column); }
    Failure failure() const override { return m_inner.failure(); }

private:
    bool retryable() const {
        return m_read && !m_db.m_inTransaction && m_inner.failure() == Failure::ConnectionLost;
    }
    ReconnectingDatabase &m_db;
    Statement m_inner;
    bool m_read;
    qint64 m_rows = 0;
};

ReconnectingDatabase::ReconnectingDatabase(std::unique_ptr<Database> inner)
    : Database(inner->location()), m_inner(std::move(inner)) {}

bool ReconnectingDatabase::reconnectIfLost() {
    if (m_inner->lastFailure() != Failure::ConnectionLost || m_inTransaction)
        return false;
    if (m_backoffMs > 0 && !m_retryAfter.hasExpired())
        return false;
    return bool(reconnect());
}

Status ReconnectingDatabase::reconnect() {
    ++m_attempts;
    Status s = m_inner->reconnect();
    if (s) {
        ++m_reconnects;
        m_backoffMs = 0;
    } else {
        m_backoffMs = m_backoffMs == 0 ? 1000 : std::min(2 * m_backoffMs, 30000);
        m_retryAfter.setRemainingTime(m_backoffMs);
    }
    return s;
}

Statement ReconnectingDatabase::prepareStatement(const char *sql) {
    (void)reconnectIfLost(); // the call after a loss starts on a new connection
    Statement inner = m_inner->prepare(sql);
    if (!inner.isValid() && reconnectIfLost())
        inner = m_inner->prepare(sql);
    if (!inner.isValid())
        return inner;
    return Statement(std::make_unique<RetryingStatement>(*this, std::move(inner), isRead(sql)));
}

bool ReconnectingDatabase::execScript(const char *sql) {
    (void)reconnectIfLost();
    return m_inner->execScript(sql);
}

bool ReconnectingDatabase::begin() {
    (void)reconnectIfLost();
    bool ok = m_inner->begin();
    if (!ok && reconnectIfLost())
        ok = m_inner->begin();
    m_inTransaction = ok;
    return ok;
}

bool ReconnectingDatabase::commit() {
    const bool ok = m_inner->commit();
    if (ok || m_inner->lastFailure() == Failure::ConnectionLost)
        m_inTransaction = false; // the server ended it either way
    return ok;
}

void ReconnectingDatabase::rollback() {
    m_inTransaction = false;
    if (m_inner->lastFailure() != Failure::ConnectionLost)
        m_inner->rollback();
}

} // namespace ts::sql
