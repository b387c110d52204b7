// The PostgreSQL backend of sql::Database (indexer/sqldatabase.h), over libpq.
//
// Statements are prepared on the server once per connection and SQL text (a cache by text, so the
// catalog's prepare-per-call costs no round trip), run with int64/double/text parameters in text
// format and blobs/paths in binary, and read in binary format, decoded by column type. Rows are
// streamed in libpq's single-row mode, so a scan over 300,000 embeddings never holds them all;
// because a connection runs one query at a time, a statement still streaming when another one
// needs the connection has the rest of its rows buffered first.

#include "indexer/sqldatabase.h"

#include "core/common/nativepath.h"

#include <libpq-fe.h>

#include <QHash>
#include <QStringList>
#include <QtEndian>

#include <cmath>
#include <cstring>
#include <deque>
#include <vector>

namespace ts::sql {

namespace {

// Type OIDs of pg_type (fixed in every PostgreSQL).
constexpr Oid kBoolOid = 16, kByteaOid = 17, kNameOid = 19, kInt8Oid = 20, kInt2Oid = 21,
              kInt4Oid = 23, kTextOid = 25, kOidOid = 26, kFloat4Oid = 700, kFloat8Oid = 701,
              kUnknownOid = 705, kBpcharOid = 1042, kVarcharOid = 1043, kNumericOid = 1700;

struct ResultDeleter {
    void operator()(PGresult *r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// ?N -> $N, outside string literals ('...', E'...'), quoted identifiers, dollar quotes and
// comments. A bare ? is one more than the largest number so far, as in SQLite.
struct RewrittenSql {
    QByteArray sql;
    std::vector<bool> used; // used[n - 1]: $n appears
};

bool isIdentChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || (static_cast<unsigned char>(c) >= 0x80);
}

// The end (one past the closing quote) of a quoted run starting at `start`, where a doubled
// quote is a quote; `backslash`: E'...' escapes.
qsizetype quotedEnd(const QByteArray &in, qsizetype start, char quote, bool backslash) {
    const qsizetype n = in.size();
    qsizetype j = start + 1;
    while (j < n) {
        if (backslash && in[j] == '\\') {
            j += 2;
        } else if (in[j] == quote) {
            if (j + 1 < n && in[j + 1] == quote)
                j += 2;
            else
                return j + 1;
        } else {
            ++j;
        }
    }
    return n;
}

// When a literal, quoted identifier, dollar quote or comment starts at i: where it ends. Else i.
qsizetype skipQuoted(const QByteArray &in, qsizetype i) {
    const qsizetype n = in.size();
    const char c = in[i];
    const bool afterIdent = i > 0 && isIdentChar(in[i - 1]);
    if (c == '\'') {
        const bool escaped =
            i > 0 && (in[i - 1] == 'E' || in[i - 1] == 'e') && !(i > 1 && isIdentChar(in[i - 2]));
        return quotedEnd(in, i, '\'', escaped);
    }
    if (c == '"')
        return quotedEnd(in, i, '"', false);
    if (c == '-' && i + 1 < n && in[i + 1] == '-') {
        const qsizetype end = in.indexOf('\n', i);
        return end < 0 ? n : end;
    }
    if (c == '/' && i + 1 < n && in[i + 1] == '*') {
        qsizetype j = i + 2;
        for (int depth = 1; j < n && depth > 0;) { // PostgreSQL's comments nest
            if (in[j] == '*' && j + 1 < n && in[j + 1] == '/') {
                --depth;
                j += 2;
            } else if (in[j] == '/' && j + 1 < n && in[j + 1] == '*') {
                ++depth;
                j += 2;
            } else {
                ++j;
            }
        }
        return j;
    }
    if (c == '$' && !afterIdent && i + 1 < n && !(in[i + 1] >= '0' && in[i + 1] <= '9')) {
        qsizetype j = i + 1; // $tag$ ... $tag$, the tag possibly empty
        while (j < n && in[j] != '$' && isIdentChar(in[j]))
            ++j;
        if (j < n && in[j] == '$') {
            const QByteArray tag = in.mid(i, j - i + 1);
            const qsizetype close = in.indexOf(tag, j + 1);
            return close < 0 ? n : close + tag.size();
        }
    }
    return i;
}

RewrittenSql rewritePlaceholders(const char *text) {
    const QByteArray in(text);
    RewrittenSql out;
    out.sql.reserve(in.size() + 16);
    int largest = 0;
    const qsizetype n = in.size();
    qsizetype i = 0;
    while (i < n) {
        if (const qsizetype end = skipQuoted(in, i); end > i) {
            out.sql.append(in.constData() + i, end - i);
            i = end;
        } else if (in[i] == '?') {
            qsizetype j = i + 1;
            while (j < n && in[j] >= '0' && in[j] <= '9')
                ++j;
            const int number = j > i + 1 ? in.mid(i + 1, j - i - 1).toInt() : largest + 1;
            largest = std::max(largest, number);
            if (out.used.size() < size_t(number))
                out.used.resize(size_t(number), false);
            if (number > 0)
                out.used[size_t(number - 1)] = true;
            out.sql += '$' + QByteArray::number(number);
            i = j;
        } else {
            out.sql += in[i++];
        }
    }
    return out;
}

Failure failureOfState(const char *state) {
    if (!state || std::strlen(state) != 5)
        return Failure::Other;
    const QByteArray s(state);
    if (s.startsWith("23"))
        return Failure::Constraint;
    if (s == "53100")
        return Failure::DiskFull;
    if (s == "25006")
        return Failure::ReadOnly;
    if (s == "40001" || s == "40P01" || s == "55P03")
        return Failure::Busy;
    if (s == "28P01" || s == "28000")
        return Failure::AuthFailed;
    if (s.startsWith("08") || s == "57P01" || s == "57P02" || s == "57P03")
        return Failure::ConnectionLost;
    if (s == "XX001" || s == "XX002")
        return Failure::Corrupt;
    return Failure::Other;
}

// libpq's multi-line messages on one line, without its severity prefixes ("FATAL:  ") and its
// guess at why a connection closed (we say that ourselves).
QString oneLine(const char *message) {
    QStringList parts;
    for (QString line : QString::fromUtf8(message).split(QLatin1Char('\n'))) {
        line = line.trimmed();
        for (const char *prefix : {"FATAL:  ", "ERROR:  ", "FATAL: ", "ERROR: "})
            line.replace(QLatin1String(prefix), QString());
        if (line.startsWith(QLatin1String("This probably means")) ||
            line.startsWith(QLatin1String("before or while processing")))
            continue;
        if (!line.isEmpty())
            parts << line;
    }
    return parts.join(QLatin1String("; "));
}

// A NUMERIC in binary format (ndigits, weight, sign, dscale, then base-10000 digits), as a double.
double numericValue(const char *p, int length) {
    if (length < 8)
        return 0.0;
    const int ndigits = qFromBigEndian<qint16>(p);
    const int weight = qFromBigEndian<qint16>(p + 2);
    const quint16 sign = qFromBigEndian<quint16>(p + 4);
    if (sign == 0xC000)
        return std::nan("");
    if (length < 8 + 2 * ndigits)
        return 0.0;
    double v = 0.0;
    for (int d = 0; d < ndigits; ++d)
        v += qFromBigEndian<qint16>(p + 8 + 2 * d) * std::pow(10000.0, weight - d);
    return sign == 0x4000 ? -v : v;
}
// Its integer part, exact within the int64 range.
qint64 numericInteger(const char *p, int length) {
    if (length < 8)
        return 0;
    const int ndigits = qFromBigEndian<qint16>(p);
    const int weight = qFromBigEndian<qint16>(p + 2);
    const quint16 sign = qFromBigEndian<quint16>(p + 4);
    if (length < 8 + 2 * ndigits || sign == 0xC000)
        return 0;
    qint64 v = 0;
    for (int d = 0; d <= weight; ++d)
        v = v * 10000 + (d < ndigits ? qFromBigEndian<qint16>(p + 8 + 2 * d) : 0);
    return sign == 0x4000 ? -v : v;
}

class PostgresStatement;

class PostgresDatabase final : public Database {
public:
    PostgresDatabase(const QString &url, Mode mode) : Database(url), m_mode(mode) {}
    ~PostgresDatabase() override {
        if (m_conn)
            PQfinish(m_conn);
    }

    static Result<std::unique_ptr<Database>> open(const QString &url, Mode mode, Failure *failure);

    Backend backend() const override { return Backend::Postgres; }
    Statement prepareStatement(const char *sql) override;
    bool execScript(const char *sql) override { return run(sql) != nullptr; }
    bool begin() override { return run("BEGIN") != nullptr; }
    bool commit() override {
        ResultPtr r = run("COMMIT");
        if (!r)
            return false;
        // COMMIT of a transaction in which a statement failed rolls back, and says so.
        if (std::strcmp(PQcmdStatus(r.get()), "ROLLBACK") == 0) {
            if (m_lastFailure == Failure::None) {
                m_lastFailure = Failure::Other;
                m_lastMessage = QStringLiteral(
                    "the server rolled the transaction back because a statement in it failed");
            }
            return false;
        }
        return true;
    }
    void rollback() override {
        releaseConnection();
        const PGTransactionStatusType t = PQtransactionStatus(m_conn);
        if (t != PQTRANS_INTRANS && t != PQTRANS_INERROR)
            return;
        // Keep the failure that made us roll back, not the rollback's own result.
        const Failure failure = m_lastFailure;
        const QString message = m_lastMessage;
        (void)run("ROLLBACK");
        m_lastFailure = failure;
        m_lastMessage = message;
    }
    qint64 lastInsertId() const override { return 0; }
    qint64 changes() const override { return m_changes; }
    Failure lastFailure() const override { return m_lastFailure; }
    Error lastError(const QString &doing) const override;
    bool isReadOnly() const override {
        auto on = [this](const char *name) {
            const char *v = PQparameterStatus(m_conn, name);
            return v && std::strcmp(v, "on") == 0;
        };
        return m_mode != Mode::ReadWrite || on("default_transaction_read_only") ||
               on("in_hot_standby");
    }
    Status reconnect() override;

    // For statements.
    PGconn *connection() const { return m_conn; }
    quint64 generation() const { return m_generation; }
    // Lets another statement use the connection: a statement still streaming rows buffers the
    // rest of them first.
    void releaseConnection();
    void setStreaming(PostgresStatement *s) { m_streaming = s; }
    void clearStreaming(const PostgresStatement *s) {
        if (m_streaming == s)
            m_streaming = nullptr;
    }
    // The server-side name of `sql` prepared on this connection (prepared now if new); empty on
    // failure (recorded).
    QByteArray preparedName(const RewrittenSql &sql);
    // Records a failed result (or a failure of the connection when `r` is null).
    Failure noteFailure(const PGresult *r);
    // Counts the rows an INSERT/UPDATE/DELETE/MERGE changed.
    void noteCommand(const PGresult *r) {
        const char *status = PQcmdStatus(const_cast<PGresult *>(r));
        for (const char *dml : {"INSERT", "UPDATE", "DELETE", "MERGE"}) {
            if (std::strncmp(status, dml, std::strlen(dml)) == 0) {
                m_changes = QByteArray(PQcmdTuples(const_cast<PGresult *>(r))).toLongLong();
                return;
            }
        }
    }

private:
    // Runs SQL without parameters; the result when it succeeded, else null (failure recorded).
    ResultPtr run(const char *sql) {
        releaseConnection();
        ResultPtr r(PQexec(m_conn, sql));
        const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            noteFailure(r.get());
            return nullptr;
        }
        noteCommand(r.get());
        return r;
    }
    // What a connection needs after (re)connecting; false when it fails (recorded).
    bool configureSession() {
        PQsetNoticeProcessor(
            m_conn, [](void *, const char *) {}, nullptr); // no stderr chatter
        return m_mode == Mode::ReadWrite ||
               run("SET default_transaction_read_only = on") != nullptr;
    }
    static Error connectError(PGconn *conn, const QString &url, Failure *failure);

    PGconn *m_conn = nullptr;
    Mode m_mode;
    quint64 m_generation = 1;
    QHash<QByteArray, QByteArray> m_prepared; // rewritten SQL -> server-side name
    quint64 m_nextName = 0;
    PostgresStatement *m_streaming = nullptr;
    Failure m_lastFailure = Failure::None;
    QString m_lastMessage;
    qint64 m_changes = 0;
};

class PostgresStatement final : public detail::StatementBackend {
public:
    PostgresStatement(PostgresDatabase *db, RewrittenSql sql, QByteArray name)
        : m_db(db), m_sql(std::move(sql)), m_name(std::move(name)), m_generation(db->generation()),
          m_values(m_sql.used.size()), m_isNull(m_sql.used.size(), true),
          m_formats(m_sql.used.size(), 0) {}
    ~PostgresStatement() override { finish(); }
    PostgresStatement(const PostgresStatement &) = delete;
    PostgresStatement &operator=(const PostgresStatement &) = delete;

    void bindInt64(int index, qint64 value) override {
        setParam(index, QByteArray::number(value), 0);
    }
    void bindDouble(int index, double value) override {
        if (std::isnan(value))
            setParam(index, "NaN", 0);
        else if (std::isinf(value))
            setParam(index, value > 0 ? "Infinity" : "-Infinity", 0);
        else
            setParam(index, QByteArray::number(value, 'g', 17), 0);
    }
    void bindText(int index, const QString &value) override { setParam(index, value.toUtf8(), 0); }
    void bindBlob(int index, const void *data, int bytes) override {
        if (!data) { // as sqlite3_bind_blob: no data is NULL
            bindNull(index);
            return;
        }
        setParam(index, QByteArray(static_cast<const char *>(data), bytes), 1);
    }
    void bindNull(int index) override {
        if (index >= 1 && size_t(index) <= m_isNull.size()) {
            m_isNull[size_t(index - 1)] = true;
            m_values[size_t(index - 1)].clear();
        }
    }
    // Path columns are BYTEA: the exact bytes.
    void bindPath(int index, const QString &path) override { setParam(index, nativePath(path), 1); }

    bool step() override;
    bool exec() override;
    void reset() override {
        finish();
        for (size_t i = 0; i < m_isNull.size(); ++i) {
            m_isNull[i] = true;
            m_values[i].clear();
        }
    }

    qint64 int64At(int column) const override;
    double doubleAt(int column) const override;
    QString textAt(int column) const override;
    QString pathAt(int column) const override {
        return isNullAt(column) ? QString() : pathFromNative(bytesAt(column));
    }
    QByteArray blobAt(int column) const override {
        if (isNullAt(column))
            return {};
        const Oid type = PQftype(m_result.get(), column);
        if (type == kByteaOid || isTextType(type))
            return bytesAt(column);
        return textAt(column).toUtf8();
    }
    bool isNullAt(int column) const override {
        return !m_result || column < 0 || column >= PQnfields(m_result.get()) ||
               PQgetisnull(m_result.get(), m_row, column);
    }
    Failure failure() const override { return m_failure; }

    // Reads the rest of the rows now (another statement needs the connection).
    void bufferRest() {
        while (PGresult *r = PQgetResult(m_db->connection()))
            m_buffered.emplace_back(r);
        m_streaming = false;
        m_db->clearStreaming(this);
    }

private:
    static bool isTextType(Oid type) {
        return type == kTextOid || type == kVarcharOid || type == kBpcharOid || type == kNameOid ||
               type == kUnknownOid;
    }
    void setParam(int index, QByteArray value, int format) {
        if (index < 1 || size_t(index) > m_values.size())
            return; // as SQLite: out of range is ignored (SQLITE_RANGE)
        m_values[size_t(index - 1)] = std::move(value);
        m_isNull[size_t(index - 1)] = false;
        m_formats[size_t(index - 1)] = format;
    }
    QByteArray bytesAt(int column) const {
        return QByteArray(PQgetvalue(m_result.get(), m_row, column),
                          PQgetlength(m_result.get(), m_row, column));
    }
    // Prepared on the current connection (again after reconnect()); false with the failure set.
    bool ensurePrepared() {
        if (m_generation == m_db->generation() && !m_name.isEmpty())
            return true;
        m_name = m_db->preparedName(m_sql);
        if (m_name.isEmpty()) {
            m_failure = m_db->lastFailure();
            return false;
        }
        m_generation = m_db->generation();
        return true;
    }
    // The parameter arrays libpq wants.
    struct Params {
        std::vector<const char *> values;
        std::vector<int> lengths;
    };
    Params params() const {
        Params p;
        p.values.resize(m_values.size());
        p.lengths.resize(m_values.size());
        for (size_t i = 0; i < m_values.size(); ++i) {
            p.values[i] = m_isNull[i] ? nullptr : m_values[i].constData();
            p.lengths[i] = int(m_values[i].size());
        }
        return p;
    }
    // The next result of the run: buffered ones first, then from the connection.
    ResultPtr nextResult() {
        if (!m_buffered.empty()) {
            ResultPtr r = std::move(m_buffered.front());
            m_buffered.pop_front();
            return r;
        }
        if (!m_streaming)
            return nullptr;
        ResultPtr r(PQgetResult(m_db->connection()));
        if (!r) {
            m_streaming = false;
            m_db->clearStreaming(this);
        }
        return r;
    }
    // Ends the current run, discarding what is left of it.
    void finish() {
        if (m_streaming) {
            while (PGresult *r = PQgetResult(m_db->connection()))
                PQclear(r);
            m_streaming = false;
            m_db->clearStreaming(this);
        }
        m_buffered.clear();
        m_result.reset();
        m_running = false;
    }
    // Turns a failed result into the statement's failure (and the connection's).
    void fail(const PGresult *r) { m_failure = m_db->noteFailure(r); }

    PostgresDatabase *m_db;
    RewrittenSql m_sql;
    QByteArray m_name;
    quint64 m_generation;
    std::vector<QByteArray> m_values;
    std::vector<bool> m_isNull;
    std::vector<int> m_formats;

    bool m_running = false;   // a run started and step() has not returned false yet
    bool m_streaming = false; // the connection still has results of this run to give
    std::deque<ResultPtr> m_buffered;
    ResultPtr m_result; // holds the current row
    int m_row = 0;
    Failure m_failure = Failure::None;
};

bool PostgresStatement::step() {
    if (m_result && m_row + 1 < PQntuples(m_result.get())) {
        ++m_row;
        return true;
    }
    m_result.reset();
    if (!m_running) {
        // A new run (also after the end of the previous one, as sqlite3_step does).
        finish();
        m_failure = Failure::None;
        m_db->releaseConnection();
        if (!ensurePrepared())
            return false;
        const Params p = params();
        PGconn *conn = m_db->connection();
        if (!PQsendQueryPrepared(conn, m_name.constData(), int(p.values.size()), p.values.data(),
                                 p.lengths.data(), m_formats.data(), 1)) {
            fail(nullptr);
            return false;
        }
        PQsetSingleRowMode(conn); // rows one by one: a large result is never held whole
        m_running = true;
        m_streaming = true;
        m_db->setStreaming(this);
    }
    while (ResultPtr r = nextResult()) {
        switch (PQresultStatus(r.get())) {
        case PGRES_SINGLE_TUPLE:
        case PGRES_TUPLES_OK:
            if (PQntuples(r.get()) > 0) {
                m_result = std::move(r);
                m_row = 0;
                return true;
            }
            m_db->noteCommand(r.get()); // the end of the rows: INSERT ... RETURNING counts
            break;
        case PGRES_COMMAND_OK:
            m_db->noteCommand(r.get());
            break;
        default:
            fail(r.get());
            break;
        }
    }
    m_running = false;
    return false;
}

bool PostgresStatement::exec() {
    finish();
    m_failure = Failure::None;
    m_db->releaseConnection();
    if (!ensurePrepared())
        return false;
    const Params p = params();
    ResultPtr r(PQexecPrepared(m_db->connection(), m_name.constData(), int(p.values.size()),
                               p.values.data(), p.lengths.data(), m_formats.data(), 1));
    const ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail(r.get());
        return false;
    }
    m_db->noteCommand(r.get());
    return true;
}

qint64 PostgresStatement::int64At(int column) const {
    if (isNullAt(column))
        return 0;
    const char *v = PQgetvalue(m_result.get(), m_row, column);
    const int length = PQgetlength(m_result.get(), m_row, column);
    switch (PQftype(m_result.get(), column)) {
    case kInt8Oid:
        return length == 8 ? qFromBigEndian<qint64>(v) : 0;
    case kInt4Oid:
        return length == 4 ? qFromBigEndian<qint32>(v) : 0;
    case kOidOid:
        return length == 4 ? qFromBigEndian<quint32>(v) : 0;
    case kInt2Oid:
        return length == 2 ? qFromBigEndian<qint16>(v) : 0;
    case kBoolOid:
        return length == 1 && v[0] != 0 ? 1 : 0;
    case kNumericOid:
        return numericInteger(v, length);
    case kFloat4Oid:
    case kFloat8Oid:
        return qint64(doubleAt(column));
    default: // text and bytea: the number they spell, as SQLite reads a TEXT
        return bytesAt(column).trimmed().toLongLong();
    }
}

double PostgresStatement::doubleAt(int column) const {
    if (isNullAt(column))
        return 0.0;
    const char *v = PQgetvalue(m_result.get(), m_row, column);
    const int length = PQgetlength(m_result.get(), m_row, column);
    switch (PQftype(m_result.get(), column)) {
    case kFloat8Oid: {
        if (length != 8)
            return 0.0;
        const quint64 bits = qFromBigEndian<quint64>(v);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
    }
    case kFloat4Oid: {
        if (length != 4)
            return 0.0;
        const quint32 bits = qFromBigEndian<quint32>(v);
        float f;
        std::memcpy(&f, &bits, sizeof f);
        return f;
    }
    case kNumericOid:
        return numericValue(v, length);
    case kInt8Oid:
    case kInt4Oid:
    case kInt2Oid:
    case kOidOid:
    case kBoolOid:
        return double(int64At(column));
    default:
        return bytesAt(column).trimmed().toDouble();
    }
}

QString PostgresStatement::textAt(int column) const {
    if (isNullAt(column))
        return {};
    const Oid type = PQftype(m_result.get(), column);
    if (isTextType(type) || type == kByteaOid)
        return QString::fromUtf8(bytesAt(column));
    if (type == kFloat4Oid || type == kFloat8Oid || type == kNumericOid)
        return QString::number(doubleAt(column), 'g', 15);
    // Integers and booleans as numbers, as SQLite stores them; other types raw (text-like).
    if (type == kInt8Oid || type == kInt4Oid || type == kInt2Oid || type == kOidOid ||
        type == kBoolOid)
        return QString::number(int64At(column));
    return QString::fromUtf8(bytesAt(column));
}

void PostgresDatabase::releaseConnection() {
    if (m_streaming)
        m_streaming->bufferRest();
}

QByteArray PostgresDatabase::preparedName(const RewrittenSql &sql) {
    if (auto it = m_prepared.constFind(sql.sql); it != m_prepared.constEnd())
        return *it;
    releaseConnection();
    // Statements the program no longer uses stay prepared on the server; a program that builds
    // many distinct SQL texts (filters) drops them all now and then. Live statements prepare
    // theirs again on their next run (the generation changes).
    if (m_prepared.size() >= 2000 && run("DEALLOCATE ALL")) {
        m_prepared.clear();
        ++m_generation;
    }
    // A parameter the SQL never mentions has no type to infer: say text (SQLite accepts it).
    std::vector<Oid> types(sql.used.size(), 0);
    for (size_t i = 0; i < types.size(); ++i)
        types[i] = sql.used[i] ? 0 : kTextOid;
    const QByteArray name = "ts" + QByteArray::number(++m_nextName);
    ResultPtr r(
        PQprepare(m_conn, name.constData(), sql.sql.constData(), int(types.size()), types.data()));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        noteFailure(r.get());
        return {};
    }
    m_prepared.insert(sql.sql, name);
    return name;
}

Failure PostgresDatabase::noteFailure(const PGresult *r) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    // Once the connection is gone every call says "no connection to the server": keep the words
    // of the moment it was lost (the server's shutdown, a network error) until reconnect().
    if (m_lastFailure == Failure::ConnectionLost && PQstatus(m_conn) == CONNECTION_BAD && !state)
        return m_lastFailure;
    m_lastFailure =
        PQstatus(m_conn) == CONNECTION_BAD ? Failure::ConnectionLost : failureOfState(state);
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : nullptr;
    if (primary) {
        m_lastMessage = QString::fromUtf8(primary);
        if (detail)
            m_lastMessage += QStringLiteral(" (%1)").arg(QString::fromUtf8(detail));
    } else {
        m_lastMessage = oneLine(PQerrorMessage(m_conn));
    }
    return m_lastFailure;
}

Statement PostgresDatabase::prepareStatement(const char *sql) {
    RewrittenSql rewritten = rewritePlaceholders(sql);
    QByteArray name = preparedName(rewritten);
    if (name.isEmpty())
        return Statement(m_lastFailure);
    return Statement(std::make_unique<PostgresStatement>(this, std::move(rewritten), name));
}

Error PostgresDatabase::lastError(const QString &doing) const {
    QString why;
    Error::Code code = Error::Code::Io;
    switch (m_lastFailure) {
    case Failure::DiskFull:
        why = QStringLiteral("the database server's disk is full; free some space there and run "
                             "indexing again (nothing was half-written) (%1)")
                  .arg(m_lastMessage);
        break;
    case Failure::ReadOnly:
        why = QStringLiteral("the database cannot be written on this connection (%1)")
                  .arg(m_lastMessage);
        break;
    case Failure::Busy:
        why = QStringLiteral("another client held a conflicting lock or changed the same rows "
                             "(%1); try again")
                  .arg(m_lastMessage);
        break;
    case Failure::ConnectionLost:
        why = QStringLiteral("the connection to the PostgreSQL server was lost (%1); what was not "
                             "committed was not kept")
                  .arg(m_lastMessage);
        break;
    case Failure::AuthFailed:
        why = QStringLiteral("PostgreSQL refused access (%1)").arg(m_lastMessage);
        break;
    case Failure::Corrupt:
        why = QStringLiteral("the server reports damaged data (%1)").arg(m_lastMessage);
        code = Error::Code::Format;
        break;
    default:
        why = m_lastMessage.isEmpty() ? QStringLiteral("unknown PostgreSQL error") : m_lastMessage;
        code = Error::Code::Internal;
        break;
    }
    return Error(code,
                 QStringLiteral("%1 in %2: %3").arg(doing, redactedLocation(location()), why));
}

Error PostgresDatabase::connectError(PGconn *conn, const QString &url, Failure *failure) {
    const QString where = redactedLocation(url);
    // libpq may quote the host it could not find, which holds a piece of a password with a raw '@'.
    const QString why =
        conn ? maskPasswords(oneLine(PQerrorMessage(conn)), url) : QStringLiteral("out of memory");
    const QString user = conn && PQuser(conn) ? QString::fromUtf8(PQuser(conn)) : QString();
    Failure kind = Failure::Unreachable;
    QString message;
    Error::Code code = Error::Code::Io;
    // libpq gives no SQLSTATE for a failed connection: tell the cases apart by what it knows
    // (a password was wanted) and by the server's words (English: the server's lc_messages).
    if (conn && PQconnectionNeedsPassword(conn)) {
        kind = Failure::AuthFailed;
        message = QStringLiteral("PostgreSQL needs a password for user %1 at %2: give it in the "
                                 "URL, in PGPASSWORD or in ~/.pgpass")
                      .arg(user, where);
    } else if (why.contains(QLatin1String("password authentication failed")) ||
               why.contains(QLatin1String("authentication failed"))) {
        kind = Failure::AuthFailed;
        message = QStringLiteral("PostgreSQL refused the password of user %1 at %2: %3")
                      .arg(user, where, why);
    } else if (why.contains(QLatin1String("pg_hba.conf")) ||
               (why.contains(QLatin1String("role \"")) &&
                why.contains(QLatin1String("does not exist")))) {
        kind = Failure::AuthFailed;
        message = QStringLiteral("PostgreSQL does not let user %1 connect at %2: %3")
                      .arg(user, where, why);
    } else if (why.contains(QLatin1String("database \"")) &&
               why.contains(QLatin1String("does not exist"))) {
        kind = Failure::Other;
        code = Error::Code::NotFound;
        message = QStringLiteral("the database of %1 does not exist on the server (create it "
                                 "first, e.g. with createdb): %2")
                      .arg(where, why);
    } else {
        message = QStringLiteral("cannot reach the PostgreSQL server at %1: %2").arg(where, why);
    }
    if (failure)
        *failure = kind;
    return Error(code, message);
}

Result<std::unique_ptr<Database>> PostgresDatabase::open(const QString &url, Mode mode,
                                                         Failure *failure) {
    const QByteArray dbname = url.toUtf8();
    // Later keywords override earlier ones: the URL may set its own connect_timeout, but the
    // client encoding is ours (text is decoded as UTF-8).
    // A server that vanished from the network (a NAS switched off) fails a query in about 90 s,
    // not the system's 2 hours: TCP keepalives while we wait for a reply (60 s idle, 3 probes
    // 10 s apart), tcp_user_timeout while what we sent goes unacknowledged. (TCP only.)
    const char *keys[] = {"connect_timeout",  "keepalives_idle",  "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "fallback_application_name",
                          "dbname",           "client_encoding",  nullptr};
    const char *values[] = {"10",   "60",   "10", "3", "90000", "towersearch", dbname.constData(),
                            "UTF8", nullptr};
    std::unique_ptr<PostgresDatabase> db(new PostgresDatabase(url, mode));
    db->m_conn = PQconnectdbParams(keys, values, 1);
    if (!db->m_conn || PQstatus(db->m_conn) != CONNECTION_OK)
        return connectError(db->m_conn, url, failure);
    if (!db->configureSession()) {
        if (failure)
            *failure = db->m_lastFailure;
        return db->lastError(QStringLiteral("configuring the connection"));
    }
    if (failure)
        *failure = Failure::None;
    return std::unique_ptr<Database>(std::move(db));
}

Status PostgresDatabase::reconnect() {
    releaseConnection();
    PQreset(m_conn);
    // Prepared statements died with the old session: statements prepare theirs again.
    m_prepared.clear();
    ++m_generation;
    if (PQstatus(m_conn) != CONNECTION_OK) {
        Error e = connectError(m_conn, location(), &m_lastFailure);
        m_lastMessage = maskPasswords(oneLine(PQerrorMessage(m_conn)), location());
        return e;
    }
    if (!configureSession())
        return lastError(QStringLiteral("configuring the connection"));
    // The loss is over: a failure kept from before would make the next error of any kind look
    // like a lost connection (and every call reconnect).
    m_lastFailure = Failure::None;
    m_lastMessage.clear();
    return {};
}

} // namespace

namespace detail {
Result<std::unique_ptr<Database>> openPostgres(const QString &url, Database::Mode mode,
                                               Failure *failure) {
    return PostgresDatabase::open(url, mode, failure);
}
} // namespace detail

} // namespace ts::sql
