#include "core/image/exifreader.h"

#include <QFileInfo>

#include <cstdint>
#include <cstring>

namespace ts {
namespace {

using Bytes = const unsigned char *;

uint32_t be16(Bytes p) {
    return uint32_t(p[0]) << 8 | uint32_t(p[1]);
}
uint32_t be32(Bytes p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
uint32_t le32(Bytes p) {
    return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | uint32_t(p[0]);
}
uint64_t beN(Bytes p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
        v = v << 8 | p[i];
    return v;
}

// A TIFF-structured block: IFD0 and the Exif IFD it points to.
class TiffBlock {
public:
    TiffBlock(Bytes d, size_t n) : m_d(d), m_n(n) {}

    ExifData read() const {
        ExifData out;
        if (m_n < 8)
            return out;
        if (std::memcmp(m_d, "II*\0", 4) == 0)
            m_little = true;
        else if (std::memcmp(m_d, "MM\0*", 4) == 0)
            m_little = false;
        else
            return out;
        out.found = true;
        const size_t ifd0 = u32(4);
        if (ifd0 > m_n - 2)
            return out;
        std::optional<size_t> exifIfd;
        std::optional<QDateTime> dateTime;
        forEachEntry(ifd0, [&](quint16 tag, size_t e) {
            switch (tag) {
            case 0x0112:
                out.orientation = orientation(e);
                break;
            case 0x010F:
                out.make = ascii(e);
                break;
            case 0x0110:
                out.model = ascii(e);
                break;
            case 0x0132:
                dateTime = date(e);
                break;
            case 0x8769:
                if (u16(e + 2) == 4 || u16(e + 2) == 13) // LONG or IFD
                    exifIfd = u32(e + 8);
                break;
            default:
                break;
            }
        });
        // Only the one pointer is followed (never from the Exif IFD on): no loop is possible.
        if (exifIfd && *exifIfd <= m_n - 2)
            forEachEntry(*exifIfd, [&](quint16 tag, size_t e) {
                if (tag == 0x9003 && !out.dateTaken)
                    out.dateTaken = date(e);
            });
        if (!out.dateTaken)
            out.dateTaken = dateTime;
        return out;
    }

private:
    uint32_t u16(size_t at) const {
        return m_little ? uint32_t(m_d[at]) | uint32_t(m_d[at + 1]) << 8 : be16(m_d + at);
    }
    uint32_t u32(size_t at) const { return m_little ? le32(m_d + at) : be32(m_d + at); }

    // Calls visit(tag, entry offset) for each complete 12-byte entry of the IFD at `ifd` (which
    // the caller checked leaves room for the count). A count past the block stops at its end.
    template <typename Visit> void forEachEntry(size_t ifd, Visit visit) const {
        const size_t count = u16(ifd);
        for (size_t i = 0; i < count; ++i) {
            const size_t e = ifd + 2 + i * 12;
            if (e + 12 > m_n)
                return;
            visit(quint16(u16(e)), e);
        }
    }

    int orientation(size_t e) const {
        const uint32_t type = u16(e + 2);
        uint32_t v = 0;
        if (type == 3) // SHORT, in the first two bytes of the value field
            v = u16(e + 8);
        else if (type == 4 || type == 9) // LONG / SLONG, seen from some writers
            v = u32(e + 8);
        return v >= 1 && v <= 8 ? int(v) : 1;
    }

    // An ASCII value (type 2): inline when it fits in 4 bytes, else at its offset. Up to the first
    // NUL, at most 255 bytes (longer ones are not camera names), trimmed.
    QString ascii(size_t e) const {
        if (u16(e + 2) != 2)
            return {};
        const size_t count = u32(e + 4);
        if (count == 0 || count > 255)
            return {};
        const size_t at = count <= 4 ? e + 8 : u32(e + 8);
        if (at > m_n || count > m_n - at)
            return {};
        const char *s = reinterpret_cast<const char *>(m_d + at);
        const size_t len = strnlen(s, count);
        // Latin-1, not UTF-8: EXIF says ASCII, and Latin-1 cannot fail on stray high bytes.
        return QString::fromLatin1(s, qsizetype(len)).trimmed();
    }

    std::optional<QDateTime> date(size_t e) const {
        const size_t count = u32(e + 4);
        if (u16(e + 2) != 2 || count < 19 || count > 64)
            return std::nullopt;
        const size_t at = u32(e + 8);
        if (at > m_n || 19 > m_n - at)
            return std::nullopt;
        const QString text = QString::fromLatin1(reinterpret_cast<const char *>(m_d + at), 19);
        const QDateTime dt = QDateTime::fromString(text, QStringLiteral("yyyy:MM:dd HH:mm:ss"));
        if (!dt.isValid())
            return std::nullopt;
        return dt;
    }

    Bytes m_d;
    size_t m_n;
    mutable bool m_little = false;
};

ExifData fromJpeg(Bytes d, size_t n) {
    size_t pos = 2; // after SOI
    while (pos + 4 <= n) {
        if (d[pos] != 0xFF)
            return {};
        const unsigned char marker = d[pos + 1];
        if (marker == 0xFF) { // fill byte
            ++pos;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) // SOS / EOI: metadata is over
            return {};
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // no length field
            pos += 2;
            continue;
        }
        const size_t len = be16(d + pos + 2);
        if (len < 2)
            return {};
        const Bytes seg = d + pos + 4;
        // A head that cuts the segment still gives what it holds (every read is bounds-checked).
        const size_t segLen = std::min(len - 2, n - pos - 4);
        if (marker == 0xE1 && segLen >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0)
            return TiffBlock(seg + 6, segLen - 6).read();
        pos += 2 + len;
    }
    return {};
}

ExifData fromPng(Bytes d, size_t n) {
    size_t pos = 8;
    bool afterData = false;
    while (pos + 12 <= n) {
        const size_t len = be32(d + pos);
        if (len > n - pos - 12)
            return {};
        const Bytes type = d + pos + 4;
        if (std::memcmp(type, "eXIf", 4) == 0) {
            ExifData out = TiffBlock(d + pos + 8, len).read();
            out.afterImageData = afterData;
            return out;
        }
        if (std::memcmp(type, "IDAT", 4) == 0)
            afterData = true;
        if (std::memcmp(type, "IEND", 4) == 0)
            return {};
        pos += 12 + len;
    }
    return {};
}

ExifData fromWebp(Bytes d, size_t n) {
    size_t pos = 12;
    while (pos + 8 <= n) {
        const size_t len = le32(d + pos + 4);
        if (len > n - pos - 8)
            return {};
        if (std::memcmp(d + pos, "EXIF", 4) == 0)
            return readExifBlock(QByteArrayView(d + pos + 8, qsizetype(len)));
        pos += 8 + len + (len & 1); // chunks are padded to even sizes
    }
    return {};
}

// ISOBMFF (HEIF, AVIF): boxes of [size, type, (largesize), payload].
struct Box {
    size_t payload = 0; // offset of the payload
    size_t end = 0;     // offset past the box
    char type[4] = {};
};

// The box at `at`, inside [at, limit); nullopt when it does not fit.
std::optional<Box> boxAt(Bytes d, size_t at, size_t limit) {
    if (at > limit || limit - at < 8)
        return std::nullopt;
    uint64_t size = be32(d + at);
    size_t header = 8;
    if (size == 1) {
        if (limit - at < 16)
            return std::nullopt;
        size = beN(d + at + 8, 8);
        header = 16;
    } else if (size == 0) {
        size = limit - at;
    }
    if (size < header || size > limit - at)
        return std::nullopt;
    Box b;
    b.payload = at + header;
    b.end = at + size_t(size);
    std::memcpy(b.type, d + at + 4, 4);
    return b;
}

std::optional<Box> findChild(Bytes d, size_t from, size_t end, const char *type) {
    // Each box is at least 8 bytes, so this ends after at most (end - from) / 8 steps.
    for (size_t at = from; at < end;) {
        const auto b = boxAt(d, at, end);
        if (!b)
            return std::nullopt;
        if (std::memcmp(b->type, type, 4) == 0)
            return b;
        at = b->end;
    }
    return std::nullopt;
}

// The item id of the first `infe` of type "Exif" in `iinf`.
std::optional<uint32_t> exifItemId(Bytes d, const Box &iinf) {
    size_t at = iinf.payload;
    if (iinf.end - at < 4)
        return std::nullopt;
    const unsigned version = d[at];
    at += 4;
    const size_t countBytes = version == 0 ? 2 : 4;
    if (iinf.end - at < countBytes)
        return std::nullopt;
    at += countBytes; // entry count: the boxes themselves say where they end
    for (; at < iinf.end;) {
        const auto infe = boxAt(d, at, iinf.end);
        if (!infe)
            return std::nullopt;
        at = infe->end;
        if (std::memcmp(infe->type, "infe", 4) != 0 || infe->end - infe->payload < 4)
            continue;
        const unsigned v = d[infe->payload];
        size_t p = infe->payload + 4;
        if (v < 2)
            continue; // versions 0/1 carry no item type
        const size_t idBytes = v == 2 ? 2 : 4;
        if (infe->end - p < idBytes + 2 + 4)
            continue;
        const uint32_t id = uint32_t(beN(d + p, idBytes));
        p += idBytes + 2; // item_ID, item_protection_index
        if (std::memcmp(d + p, "Exif", 4) == 0)
            return id;
    }
    return std::nullopt;
}

// Where `iloc` puts item `id` in the file: (offset, length) of its single extent, file-relative
// (construction method 0). Items split in several extents or stored elsewhere are not read.
std::optional<std::pair<uint64_t, uint64_t>> itemExtent(Bytes d, const Box &iloc, uint32_t id) {
    size_t at = iloc.payload;
    const size_t end = iloc.end;
    auto need = [&](size_t n) { return end - at >= n; };
    if (!need(6))
        return std::nullopt;
    const unsigned version = d[at];
    at += 4;
    const size_t offsetSize = d[at] >> 4, lengthSize = d[at] & 15, baseSize = d[at + 1] >> 4;
    const size_t indexSize = (version == 1 || version == 2) ? (d[at + 1] & 15) : 0;
    at += 2;
    auto validSize = [](size_t s) { return s == 0 || s == 4 || s == 8; };
    if (version > 2 || !validSize(offsetSize) || !validSize(lengthSize) || !validSize(baseSize) ||
        !validSize(indexSize))
        return std::nullopt;
    const size_t countBytes = version < 2 ? 2 : 4;
    if (!need(countBytes))
        return std::nullopt;
    const uint64_t items = beN(d + at, countBytes);
    at += countBytes;
    // Each item takes at least 6 bytes, so a huge count ends at the box's end.
    for (uint64_t i = 0; i < items; ++i) {
        const size_t idBytes = version < 2 ? 2 : 4;
        if (!need(idBytes))
            return std::nullopt;
        const uint32_t itemId = uint32_t(beN(d + at, idBytes));
        at += idBytes;
        unsigned method = 0;
        if (version == 1 || version == 2) {
            if (!need(2))
                return std::nullopt;
            method = be16(d + at) & 15;
            at += 2;
        }
        if (!need(2 + baseSize + 2))
            return std::nullopt;
        at += 2; // data_reference_index
        const uint64_t base = beN(d + at, baseSize);
        at += baseSize;
        const size_t extents = be16(d + at);
        at += 2;
        const size_t extentBytes = indexSize + offsetSize + lengthSize;
        if (extentBytes && extents > (end - at) / extentBytes)
            return std::nullopt;
        if (itemId == id) {
            if (extents != 1 || method != 0)
                return std::nullopt;
            at += indexSize;
            const uint64_t offset = beN(d + at, offsetSize);
            const uint64_t length = beN(d + at + offsetSize, lengthSize);
            if (offset > UINT64_MAX - base)
                return std::nullopt;
            return std::make_pair(base + offset, length);
        }
        at += extents * extentBytes;
    }
    return std::nullopt;
}

ExifData fromHeif(Bytes d, size_t n) {
    const auto meta = findChild(d, 0, n, "meta");
    if (!meta || meta->end - meta->payload < 4)
        return {};
    const size_t children = meta->payload + 4; // a full box: version and flags first
    const auto iinf = findChild(d, children, meta->end, "iinf");
    const auto iloc = findChild(d, children, meta->end, "iloc");
    if (!iinf || !iloc)
        return {};
    const auto id = exifItemId(d, *iinf);
    if (!id)
        return {};
    const auto extent = itemExtent(d, *iloc, *id);
    if (!extent || extent->first > n || extent->second > n - extent->first || extent->second < 4)
        return {};
    // The item starts with the offset of the TIFF header within the rest of it.
    const Bytes item = d + extent->first;
    const uint64_t skip = be32(item);
    if (skip > extent->second - 4)
        return {};
    return readExifBlock(QByteArrayView(item + 4 + skip, qsizetype(extent->second - 4 - skip)));
}

bool isHeifBrand(QByteArrayView brand) {
    for (const char *b : {"heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "mif2"})
        if (brand == QByteArrayView(b, 4))
            return true;
    return false;
}

} // namespace

ExifData readExifBlock(QByteArrayView block) {
    auto d = reinterpret_cast<Bytes>(block.data());
    size_t n = size_t(block.size());
    if (n >= 6 && std::memcmp(d, "Exif\0\0", 6) == 0) {
        d += 6;
        n -= 6;
    }
    return TiffBlock(d, n).read();
}

ExifData readExif(QByteArrayView file) {
    const auto d = reinterpret_cast<Bytes>(file.data());
    const size_t n = size_t(file.size());
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8)
        return fromJpeg(d, n);
    if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return fromPng(d, n);
    if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
        return fromWebp(d, n);
    if (n >= 8 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0))
        return TiffBlock(d, n).read();
    if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0)
        return fromHeif(d, n);
    return {};
}

QString imageFileType(QByteArrayView head) {
    const auto d = reinterpret_cast<Bytes>(head.data());
    const size_t n = size_t(head.size());
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return QStringLiteral("jpeg");
    if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return QStringLiteral("png");
    if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
        return QStringLiteral("webp");
    if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0))
        return QStringLiteral("gif");
    if (n >= 2 && d[0] == 'B' && d[1] == 'M')
        return QStringLiteral("bmp");
    if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0))
        return QStringLiteral("tiff");
    if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) {
        // The major brand, then the compatible brands that fit in the head.
        const size_t boxEnd = std::min<size_t>(n, be32(d));
        const QByteArrayView major(d + 8, 4);
        if (major == "avif" || major == "avis")
            return QStringLiteral("avif");
        if (isHeifBrand(major))
            return QStringLiteral("heic");
        for (size_t at = 16; at + 4 <= boxEnd; at += 4) {
            const QByteArrayView brand(d + at, 4);
            if (brand == "avif")
                return QStringLiteral("avif");
            if (isHeifBrand(brand))
                return QStringLiteral("heic");
        }
    }
    return {};
}

QString fileTypeForExtension(const QString &fileName) {
    const QString suffix = QFileInfo(fileName).suffix().toLower();
    if (suffix == QLatin1String("jpg") || suffix == QLatin1String("jpe") ||
        suffix == QLatin1String("jpeg"))
        return QStringLiteral("jpeg");
    if (suffix == QLatin1String("heif") || suffix == QLatin1String("hif"))
        return QStringLiteral("heic");
    if (suffix == QLatin1String("tif"))
        return QStringLiteral("tiff");
    return suffix;
}

} // namespace ts
