#include "core/index/faisspayload.h"

#include <QtEndian>

#include <cstring>
#include <optional>

namespace ts::indexfile {

namespace {

constexpr qint32 kMetricInnerProduct = 0; // faiss::METRIC_INNER_PRODUCT
constexpr quint8 kDirectMapHashtable = 2; // faiss::DirectMap::Hashtable

// A bounds-checked cursor over the payload. Each read fails (and records why) rather than run past
// the end; once failed, every later read fails too, so a parse can check once at the end of a step.
class Cursor {
public:
    Cursor(const uchar *data, quint64 size) : m_data(data), m_size(size) {}

    bool ok() const { return m_error.isEmpty(); }
    const QString &error() const { return m_error; }
    quint64 pos() const { return m_pos; }
    quint64 remaining() const { return m_size - m_pos; }

    bool fail(const QString &why) {
        if (m_error.isEmpty())
            m_error = QStringLiteral("%1 (at byte %2 of the FAISS payload)").arg(why).arg(m_pos);
        return false;
    }

    template <typename T> T read(const char *what) {
        T value{};
        if (!ok())
            return value;
        if (remaining() < sizeof(T)) {
            fail(QStringLiteral("the payload ends inside %1").arg(QLatin1String(what)));
            return value;
        }
        value = qFromLittleEndian<T>(m_data + m_pos);
        m_pos += sizeof(T);
        return value;
    }

    // Skips `items` items of `itemBytes` each, refusing counts the remaining bytes cannot hold
    // (checked by division, so a huge count cannot overflow the product).
    bool skip(quint64 items, quint64 itemBytes, const char *what) {
        if (!ok() || !fits(items, itemBytes, what))
            return false;
        m_pos += items * itemBytes;
        return true;
    }

    // Whether `items` items of `itemBytes` each fit in the remaining bytes (without moving).
    bool fits(quint64 items, quint64 itemBytes, const char *what) {
        if (itemBytes != 0 && items > remaining() / itemBytes)
            return fail(QStringLiteral("%1 claims %2 items of %3 bytes but only %4 bytes remain")
                            .arg(QLatin1String(what))
                            .arg(items)
                            .arg(itemBytes)
                            .arg(remaining()));
        return true;
    }

    // Consumes `code` if it comes next; otherwise leaves the cursor as it was, without failing.
    bool acceptFourcc(const char (&code)[5]) {
        if (!ok() || remaining() < 4 || std::memcmp(m_data + m_pos, code, 4) != 0)
            return false;
        m_pos += 4;
        return true;
    }

    bool expectFourcc(const char (&code)[5], const char *what) {
        if (!ok())
            return false;
        if (remaining() < 4)
            return fail(QStringLiteral("the payload ends where %1 (\"%2\") should start")
                            .arg(QLatin1String(what), QLatin1String(code)));
        if (std::memcmp(m_data + m_pos, code, 4) != 0) {
            QString found;
            for (int i = 0; i < 4; ++i) {
                const uchar c = m_data[m_pos + quint64(i)];
                found += c >= 0x20 && c < 0x7f ? QChar(c) : QChar(u'?');
            }
            return fail(QStringLiteral("expected %1 (\"%2\"), found \"%3\"")
                            .arg(QLatin1String(what), QLatin1String(code), found));
        }
        m_pos += 4;
        return true;
    }

private:
    const uchar *m_data;
    quint64 m_size;
    quint64 m_pos = 0;
    QString m_error;
};

// faiss::Index's header: d, ntotal, two unused words, is_trained, metric type (and a metric
// argument only for metrics above 1, which we refuse first).
bool indexHeader(Cursor &c, const char *what, quint32 dimension, qint64 ntotal) {
    const qint32 d = c.read<qint32>("an index header");
    const qint64 n = c.read<qint64>("an index header");
    c.read<qint64>("an index header");
    c.read<qint64>("an index header");
    c.read<quint8>("an index header");
    const qint32 metric = c.read<qint32>("an index header");
    if (!c.ok())
        return false;
    if (d != qint32(dimension))
        return c.fail(QStringLiteral("%1 has dimension %2, expected %3")
                          .arg(QLatin1String(what))
                          .arg(d)
                          .arg(dimension));
    if (n != ntotal)
        return c.fail(QStringLiteral("%1 holds %2 vectors, expected %3")
                          .arg(QLatin1String(what))
                          .arg(n)
                          .arg(ntotal));
    if (metric != kMetricInnerProduct)
        return c.fail(QStringLiteral("%1 uses metric %2, not inner product")
                          .arg(QLatin1String(what))
                          .arg(metric));
    return true;
}

// IndexFlatIP: header, then its vectors as a count of floats and the floats.
bool flatIp(Cursor &c, const char *what, quint32 dimension, qint64 ntotal) {
    if (!c.expectFourcc("IxFI", what) || !indexHeader(c, what, dimension, ntotal))
        return false;
    const quint64 floats = c.read<quint64>("the flat storage size");
    if (!c.skip(floats, 4, "the flat storage"))
        return false;
    if (floats != quint64(ntotal) * dimension) // ntotal * dimension fits: the floats did
        return c.fail(QStringLiteral("%1 stores %2 floats, expected %3 x %4")
                          .arg(QLatin1String(what))
                          .arg(floats)
                          .arg(ntotal)
                          .arg(dimension));
    return true;
}

bool flatShape(Cursor &c, quint32 dimension, qint64 count) {
    if (!c.expectFourcc("IxM2", "IndexIDMap2") ||
        !indexHeader(c, "IndexIDMap2", dimension, count) ||
        !flatIp(c, "IndexFlatIP", dimension, count))
        return false;
    const quint64 ids = c.read<quint64>("the id map size");
    if (!c.skip(ids, 8, "the id map"))
        return false;
    if (ids != quint64(count))
        return c.fail(QStringLiteral("the id map holds %1 ids, expected %2").arg(ids).arg(count));
    return true;
}

// IndexIVFFlat's header, nlist and nprobe, and its quantizer: the number of cells (nullopt when
// the cursor failed).
std::optional<quint64> ivfCells(Cursor &c, quint32 dimension, qint64 count) {
    if (!c.expectFourcc("IwFl", "IndexIVFFlat") ||
        !indexHeader(c, "IndexIVFFlat", dimension, count))
        return std::nullopt;
    const quint64 nlist = c.read<quint64>("nlist");
    c.read<quint64>("nprobe"); // replaced after loading
    if (!c.ok())
        return std::nullopt;
    // Each list has a centroid of `dimension` floats in the quantizer: that bounds nlist.
    if (nlist == 0 || nlist > c.remaining() / (quint64(dimension) * 4)) {
        c.fail(QStringLiteral("nlist %1 cannot fit in the file").arg(nlist));
        return std::nullopt;
    }
    if (!flatIp(c, "the IVF quantizer (IndexFlatIP)", dimension, qint64(nlist)))
        return std::nullopt;
    return nlist;
}

// The direct map: a hashtable of `count` (id, position) pairs, as set_direct_map_type makes it.
bool hashtableDirectMap(Cursor &c, qint64 count) {
    const quint8 mapType = c.read<quint8>("the direct map");
    const quint64 arrayEntries = c.read<quint64>("the direct map");
    if (c.ok() && (mapType != kDirectMapHashtable || arrayEntries != 0))
        return c.fail(
            QStringLiteral(
                "the direct map is of type %1 with %2 array entries, expected a hashtable")
                .arg(mapType)
                .arg(arrayEntries));
    const quint64 hashed = c.read<quint64>("the direct map");
    if (!c.skip(hashed, 16, "the direct map"))
        return false;
    if (hashed != quint64(count))
        return c.fail(
            QStringLiteral("the direct map holds %1 ids, expected %2").arg(hashed).arg(count));
    return true;
}

// List sizes, either for every list ("full") or as (list number, size) pairs of the non-empty
// ones ("sprs"); FAISS resizes lists by these numbers without checking them. They must add up to
// `count`.
bool listSizeTable(Cursor &c, quint64 nlist, qint64 count) {
    const bool full = c.acceptFourcc("full");
    if (!full && !c.expectFourcc("sprs", "a list size table (\"full\" or \"sprs\")"))
        return false;
    const quint64 entries = c.read<quint64>("the list size table");
    if (!c.ok() || !c.fits(entries, 8, "the list size table"))
        return false;
    if (full ? entries != nlist : (entries % 2 != 0 || entries / 2 > nlist))
        return c.fail(QStringLiteral("the list size table has %1 entries for %2 lists")
                          .arg(entries)
                          .arg(nlist));
    quint64 total = 0;
    qint64 previousList = -1;
    for (quint64 i = 0; i < (full ? entries : entries / 2); ++i) {
        if (!full) {
            const quint64 list = c.read<quint64>("the list size table");
            if (list >= nlist || qint64(list) <= previousList)
                return c.fail(
                    QStringLiteral("list number %1 is out of range or out of order (%2 lists)")
                        .arg(list)
                        .arg(nlist));
            previousList = qint64(list);
        }
        const quint64 n = c.read<quint64>("the list size table");
        if (n > quint64(count) - total)
            return c.fail(
                QStringLiteral("the inverted lists hold more than the %1 vectors of the header")
                    .arg(count));
        total += n;
    }
    if (total != quint64(count))
        return c.fail(QStringLiteral("the inverted lists hold %1 vectors, expected %2")
                          .arg(total)
                          .arg(count));
    return true;
}

// The inverted lists: nlist lists of float codes, their size table, then the codes and ids.
bool invertedLists(Cursor &c, quint32 dimension, quint64 nlist, qint64 count) {
    if (!c.expectFourcc("ilar", "the inverted lists"))
        return false;
    const quint64 lists = c.read<quint64>("the inverted lists");
    const quint64 codeSize = c.read<quint64>("the inverted lists");
    if (c.ok() && (lists != nlist || codeSize != quint64(dimension) * 4))
        return c.fail(
            QStringLiteral("the inverted lists have %1 lists of %2-byte codes, expected %3 of %4")
                .arg(lists)
                .arg(codeSize)
                .arg(nlist)
                .arg(quint64(dimension) * 4));
    if (!c.ok() || !listSizeTable(c, nlist, count))
        return false;
    // Each list's codes and ids, contiguous; their total is all that may remain.
    return c.skip(quint64(count), codeSize + 8, "the inverted lists");
}

bool ivfShape(Cursor &c, quint32 dimension, qint64 count) {
    const std::optional<quint64> nlist = ivfCells(c, dimension, count);
    return nlist && hashtableDirectMap(c, count) && invertedLists(c, dimension, *nlist, count);
}

} // namespace

Status checkFaissPayload(const uchar *payload, quint64 size, Kind kind, quint32 dimension,
                         qint64 count) {
    if (dimension == 0 || count < 0)
        return Error(Error::Code::Format,
                     QStringLiteral("the header names %1 vectors of dimension %2")
                         .arg(count)
                         .arg(dimension));
    Cursor c(payload, size);
    if (kind == Kind::Flat)
        flatShape(c, dimension, count);
    else
        ivfShape(c, dimension, count);
    if (c.ok() && c.remaining() != 0)
        c.fail(QStringLiteral("%1 trailing bytes follow the index").arg(c.remaining()));
    if (!c.ok())
        return Error(Error::Code::Format,
                     QStringLiteral("its FAISS payload is malformed: %1").arg(c.error()));
    return Status::success();
}

} // namespace ts::indexfile
