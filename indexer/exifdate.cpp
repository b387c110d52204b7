#include "indexer/exifdate.h"

#include <QtEndian>

#include <cstring>

namespace ts {

namespace {

struct Tiff {
    const uchar *data;
    qsizetype size;
    bool little;
    bool ok(qsizetype at, qsizetype n) const { return at >= 0 && n >= 0 && at <= size && n <= size - at; }
    quint16 u16(qsizetype at) const { return little ? qFromLittleEndian<quint16>(data + at) : qFromBigEndian<quint16>(data + at); }
    quint32 u32(qsizetype at) const { return little ? qFromLittleEndian<quint32>(data + at) : qFromBigEndian<quint32>(data + at); }
};

// Looks `tag` up in the IFD at `ifd`; returns the entry's offset.
std::optional<qsizetype> findTag(const Tiff &t, qsizetype ifd, quint16 tag) {
    if (!t.ok(ifd, 2))
        return std::nullopt;
    const int count = t.u16(ifd);
    for (int i = 0; i < count && i < 512; ++i) {
        const qsizetype e = ifd + 2 + qsizetype(i) * 12;
        if (!t.ok(e, 12))
            return std::nullopt;
        if (t.u16(e) == tag)
            return e;
    }
    return std::nullopt;
}

std::optional<QDateTime> asciiDate(const Tiff &t, qsizetype entry) {
    const quint32 n = t.u32(entry + 4);
    if (t.u16(entry + 2) != 2 || n < 19 || n > 64)
        return std::nullopt;
    const qsizetype at = t.u32(entry + 8);
    if (!t.ok(at, 19))
        return std::nullopt;
    const QString text = QString::fromLatin1(reinterpret_cast<const char *>(t.data + at), 19);
    const QDateTime dt = QDateTime::fromString(text, QStringLiteral("yyyy:MM:dd HH:mm:ss"));
    if (!dt.isValid())
        return std::nullopt;
    return dt;
}

std::optional<QDateTime> fromTiff(const uchar *data, qsizetype size) {
    if (size < 8)
        return std::nullopt;
    Tiff t{data, size, data[0] == 'I'};
    if (!((data[0] == 'I' && data[1] == 'I') || (data[0] == 'M' && data[1] == 'M')) || t.u16(2) != 42)
        return std::nullopt;
    const qsizetype ifd0 = t.u32(4);
    if (auto exifPtr = findTag(t, ifd0, 0x8769)) {
        if (auto e = findTag(t, qsizetype(t.u32(*exifPtr + 8)), 0x9003))
            if (auto dt = asciiDate(t, *e))
                return dt;
    }
    if (auto e = findTag(t, ifd0, 0x0132))
        return asciiDate(t, *e);
    return std::nullopt;
}

} // namespace

std::optional<QDateTime> exifDateTaken(const QByteArray &head) {
    const auto *d = reinterpret_cast<const uchar *>(head.constData());
    const qsizetype n = head.size();
    if (n >= 4 && ((d[0] == 'I' && d[1] == 'I') || (d[0] == 'M' && d[1] == 'M')))
        return fromTiff(d, n);
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8)
        return std::nullopt;
    qsizetype at = 2;
    while (at + 4 <= n && d[at] == 0xFF) {
        const uchar marker = d[at + 1];
        if (marker == 0xDA || marker == 0xD9)
            break; // image data: no metadata after this
        const qsizetype len = qFromBigEndian<quint16>(d + at + 2);
        if (len < 2)
            break;
        if (marker == 0xE1 && at + 4 + 6 <= n && std::memcmp(d + at + 4, "Exif\0\0", 6) == 0) {
            const qsizetype start = at + 10;
            const qsizetype end = std::min(n, at + 2 + len);
            if (end > start)
                return fromTiff(d + start, end - start);
        }
        at += 2 + len;
    }
    return std::nullopt;
}

} // namespace ts
