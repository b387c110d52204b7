#pragma once

// Writes EXIF for tests, independently of the reader under test: a TIFF-structured block with
// the tags we read (IFD0 Make, Model, Orientation, DateTime and the Exif IFD's DateTimeOriginal),
// and the ways each container carries it (JPEG APP1, PNG eXIf, WebP EXIF chunk, HEIF Exif item).
// Header-only: tests/image and tests/indexer both use it.

#include "core/common/crc32.h"

#include <QByteArray>
#include <QList>
#include <QtEndian>

#include <optional>

namespace ts::test {

struct ExifFields {
    std::optional<int> orientation;
    QByteArray make, model;      // empty: not written
    QByteArray dateTime;         // IFD0 0x0132, "YYYY:MM:DD HH:MM:SS"; empty: not written
    QByteArray dateTimeOriginal; // Exif IFD 0x9003; empty: no Exif IFD
    bool bigEndian = false;
};

class ByteWriter {
public:
    explicit ByteWriter(bool bigEndian) : m_big(bigEndian) {}
    void u16(QByteArray &out, quint16 v) const {
        char b[2];
        if (m_big)
            qToBigEndian(v, b);
        else
            qToLittleEndian(v, b);
        out.append(b, 2);
    }
    void u32(QByteArray &out, quint32 v) const {
        char b[4];
        if (m_big)
            qToBigEndian(v, b);
        else
            qToLittleEndian(v, b);
        out.append(b, 4);
    }

private:
    bool m_big;
};

inline void appendBe32(QByteArray &out, quint32 v) {
    char b[4];
    qToBigEndian(v, b);
    out.append(b, 4);
}
inline void appendBe16(QByteArray &out, quint16 v) {
    char b[2];
    qToBigEndian(v, b);
    out.append(b, 2);
}

// A TIFF block ("II*\0" / "MM\0*") with IFD0 at offset 8 and, when dateTimeOriginal is set, an
// Exif IFD right after it; strings longer than 4 bytes in a data area after the IFDs.
inline QByteArray exifBlock(const ExifFields &f) {
    struct Entry {
        quint16 tag, type;
        quint32 count;
        QByteArray data; // ASCII with its NUL, or the value for SHORT/LONG (patched below)
        quint32 value = 0;
    };
    auto ascii = [](quint16 tag, const QByteArray &s) {
        return Entry{tag, 2, quint32(s.size() + 1), s + '\0'};
    };
    QList<Entry> ifd0, exif;
    if (!f.make.isEmpty())
        ifd0 << ascii(0x010F, f.make);
    if (!f.model.isEmpty())
        ifd0 << ascii(0x0110, f.model);
    if (f.orientation)
        ifd0 << Entry{0x0112, 3, 1, {}, quint32(*f.orientation)};
    if (!f.dateTime.isEmpty())
        ifd0 << ascii(0x0132, f.dateTime);
    if (!f.dateTimeOriginal.isEmpty()) {
        ifd0 << Entry{0x8769, 4, 1, {}, 0};
        exif << ascii(0x9003, f.dateTimeOriginal);
    }
    const ByteWriter w(f.bigEndian);
    const quint32 ifd0At = 8;
    const quint32 exifAt = ifd0At + 2 + 12 * quint32(ifd0.size()) + 4;
    quint32 dataAt = exifAt + (exif.isEmpty() ? 0 : 2 + 12 * quint32(exif.size()) + 4);
    QByteArray data;
    auto writeIfd = [&](QByteArray &out, QList<Entry> &entries) {
        w.u16(out, quint16(entries.size()));
        for (Entry &e : entries) {
            w.u16(out, e.tag);
            w.u16(out, e.type);
            w.u32(out, e.count);
            if (e.tag == 0x8769) {
                w.u32(out, exifAt);
            } else if (e.type == 3) {
                w.u16(out, quint16(e.value));
                w.u16(out, 0);
            } else if (e.data.size() <= 4) {
                out.append(e.data.leftJustified(4, '\0'));
            } else {
                w.u32(out, dataAt + quint32(data.size()));
                data.append(e.data);
            }
        }
        w.u32(out, 0); // no next IFD
    };
    QByteArray out = f.bigEndian ? QByteArray("MM\0*", 4) : QByteArray("II*\0", 4);
    w.u32(out, ifd0At);
    writeIfd(out, ifd0);
    if (!exif.isEmpty())
        writeIfd(out, exif);
    return out + data;
}

// The JPEG with an APP1 "Exif" segment holding `block`, right after SOI.
inline QByteArray jpegWithExif(QByteArray jpeg, const QByteArray &block) {
    QByteArray app1("\xff\xe1", 2);
    appendBe16(app1, quint16(2 + 6 + block.size()));
    app1.append("Exif\0\0", 6).append(block);
    return jpeg.insert(2, app1);
}

inline quint32 pngCrc(const QByteArray &data) {
    return ts::crc32(data.constData(), size_t(data.size()));
}

// The PNG with an eXIf chunk after IHDR, or just before IEND (after the image data).
inline QByteArray pngWithExif(QByteArray png, const QByteArray &block,
                              bool afterImageData = false) {
    QByteArray chunk;
    appendBe32(chunk, quint32(block.size()));
    const QByteArray typed = QByteArray("eXIf") + block;
    chunk.append(typed);
    appendBe32(chunk, pngCrc(typed));
    return png.insert(afterImageData ? png.size() - 12 : 8 + 25, chunk);
}

// The WebP with an EXIF chunk appended (the RIFF size fixed up).
inline QByteArray webpWithExif(QByteArray webp, const QByteArray &block) {
    QByteArray chunk("EXIF");
    char le[4];
    qToLittleEndian(quint32(block.size()), le);
    chunk.append(le, 4).append(block);
    if (block.size() & 1)
        chunk.append('\0');
    webp.append(chunk);
    qToLittleEndian(quint32(webp.size() - 8), le);
    webp.replace(4, 4, QByteArray(le, 4));
    return webp;
}

inline QByteArray isoBox(const char *type, const QByteArray &payload) {
    QByteArray box;
    appendBe32(box, quint32(8 + payload.size()));
    return box.append(type, 4).append(payload);
}

// The Exif item of a HEIF file: the 4-byte offset to the TIFF header (`skip` bytes of padding
// follow it, as some writers put "Exif\0\0" there), then the block.
inline QByteArray heifExifItem(const QByteArray &block, int skip = 0) {
    QByteArray item;
    appendBe32(item, quint32(skip));
    return item.append(QByteArray(skip, 'x')).append(block);
}

// A minimal ISOBMFF file (ftyp heic, meta with iinf/iloc, mdat) whose only item is the Exif one:
// what the reader needs, not a decodable image.
inline QByteArray minimalHeifWithExif(const QByteArray &block) {
    const QByteArray ftyp = isoBox("ftyp", QByteArray("heic\0\0\0\0mif1heic", 16));
    QByteArray infe("\x02\0\0\0", 4); // version 2
    appendBe16(infe, 1);              // item_ID
    appendBe16(infe, 0);              // protection index
    infe.append("Exif").append('\0');
    QByteArray iinf("\0\0\0\0", 4);
    appendBe16(iinf, 1);
    iinf.append(isoBox("infe", infe));
    const QByteArray item = heifExifItem(block);
    auto ilocWith = [&](quint32 offset) {
        QByteArray iloc("\0\0\0\0", 4);             // version 0
        iloc.append(char(0x44)).append(char(0x00)); // offset 4, length 4, base 0
        appendBe16(iloc, 1);                        // item count
        appendBe16(iloc, 1);                        // item_ID
        appendBe16(iloc, 0);                        // data_reference_index
        appendBe16(iloc, 1);                        // extent count
        appendBe32(iloc, offset);
        appendBe32(iloc, quint32(item.size()));
        return isoBox("iloc", iloc);
    };
    auto metaWith = [&](quint32 offset) {
        return isoBox("meta", QByteArray("\0\0\0\0", 4) + isoBox("iinf", iinf) + ilocWith(offset));
    };
    const quint32 itemAt = quint32(ftyp.size() + metaWith(0).size() + 8);
    return ftyp + metaWith(itemAt) + isoBox("mdat", item);
}

// A real HEIF file with an Exif item added: a new `infe` in iinf, an entry in iloc (version 0 or
// 1, 4- or 8-byte fields, no extent index), a `cdsc` reference from it to the primary item in iref
// (how libheif finds an image's metadata), the item in an mdat appended at the end; the file
// offsets of the existing items are shifted by what meta grew, so the image still decodes.
// Returns an empty array when the file's layout is not one this handles.
inline QByteArray heifWithExif(const QByteArray &heif, const QByteArray &block) {
    auto be = [&](const QByteArray &d, qsizetype at, int n) {
        quint64 v = 0;
        for (int i = 0; i < n; ++i)
            v = v << 8 | quint8(d[at + i]);
        return v;
    };
    auto putBe = [](QByteArray &out, quint64 v, int n) {
        for (int i = n - 1; i >= 0; --i)
            out.append(char((v >> (8 * i)) & 0xff));
    };
    // Top-level boxes (32-bit sizes only).
    qsizetype metaAt = -1, metaSize = 0;
    for (qsizetype at = 0; at + 8 <= heif.size();) {
        const qsizetype size = qsizetype(be(heif, at, 4));
        if (size < 8 || at + size > heif.size())
            return {};
        if (heif.mid(at + 4, 4) == "meta") {
            metaAt = at;
            metaSize = size;
        }
        at += size;
    }
    if (metaAt < 0)
        return {};
    const QByteArray meta = heif.mid(metaAt + 12, metaSize - 12); // children, after version/flags
    QByteArray newChildren;
    QByteArray ilocPayload;
    quint32 maxId = 0;
    // First pass: the highest item id (from iinf) and the iloc payload.
    for (qsizetype at = 0; at + 8 <= meta.size();) {
        const qsizetype size = qsizetype(be(meta, at, 4));
        if (size < 8 || at + size > meta.size())
            return {};
        const QByteArray type = meta.mid(at + 4, 4);
        if (type == "iinf") {
            const QByteArray p = meta.mid(at + 8, size - 8);
            const int version = quint8(p[0]);
            for (qsizetype e = 4 + (version == 0 ? 2 : 4); e + 8 <= p.size();) {
                const qsizetype es = qsizetype(be(p, e, 4));
                if (es < 8)
                    return {};
                const int v = quint8(p[e + 8]);
                maxId = std::max<quint32>(maxId, quint32(be(p, e + 12, v == 2 ? 2 : 4)));
                e += es;
            }
        } else if (type == "iloc") {
            ilocPayload = meta.mid(at + 8, size - 8);
        }
        at += size;
    }
    if (ilocPayload.size() < 8)
        return {};
    quint32 primary = 0;
    bool hasIref = false;
    for (qsizetype at = 0; at + 8 <= meta.size();) {
        const qsizetype size = qsizetype(be(meta, at, 4));
        const QByteArray type = meta.mid(at + 4, 4);
        if (type == "pitm")
            primary = quint32(be(meta, at + 12, quint8(meta[at + 8]) == 0 ? 2 : 4));
        if (type == "iref") {
            if (quint8(meta[at + 8]) != 0)
                return {}; // 32-bit item ids: not handled
            hasIref = true;
        }
        at += size;
    }
    if (primary == 0)
        return {};
    const quint32 exifId = maxId + 1;
    QByteArray infe("\x02\0\0\0", 4);
    appendBe16(infe, quint16(exifId));
    appendBe16(infe, 0);
    infe.append("Exif").append('\0');
    const QByteArray newInfe = isoBox("infe", infe);
    // The iloc rewritten: same version and field sizes, one more item, offsets to be shifted.
    const int version = quint8(ilocPayload[0]);
    const int offsetSize = quint8(ilocPayload[4]) >> 4, lengthSize = quint8(ilocPayload[4]) & 15;
    const int baseSize = quint8(ilocPayload[5]) >> 4,
              indexSize = version >= 1 ? quint8(ilocPayload[5]) & 15 : 0;
    if (version > 1 || indexSize != 0 || offsetSize == 0 || lengthSize == 0)
        return {};
    auto rebuildIloc = [&](qint64 shift, quint64 exifOffset, quint64 exifLength) {
        QByteArray out = ilocPayload.left(6);
        const quint64 count = be(ilocPayload, 6, 2);
        putBe(out, count + 1, 2);
        qsizetype at = 8;
        for (quint64 i = 0; i < count; ++i) {
            out.append(ilocPayload.mid(at, 2)); // item_ID
            at += 2;
            int method = 0;
            if (version == 1) {
                method = int(be(ilocPayload, at, 2) & 15);
                out.append(ilocPayload.mid(at, 2));
                at += 2;
            }
            out.append(ilocPayload.mid(at, 2)); // data_reference_index
            at += 2;
            quint64 base = be(ilocPayload, at, baseSize);
            const bool shiftBase = method == 0 && baseSize > 0 && base > 0;
            putBe(out, shiftBase ? base + quint64(shift) : base, baseSize);
            at += baseSize;
            const quint64 extents = be(ilocPayload, at, 2);
            out.append(ilocPayload.mid(at, 2));
            at += 2;
            for (quint64 e = 0; e < extents; ++e) {
                const quint64 offset = be(ilocPayload, at, offsetSize);
                putBe(out, method == 0 && !shiftBase ? offset + quint64(shift) : offset,
                      offsetSize);
                at += offsetSize;
                out.append(ilocPayload.mid(at, lengthSize));
                at += lengthSize;
            }
        }
        putBe(out, exifId, 2);
        if (version == 1)
            putBe(out, 0, 2); // construction method 0: file offset
        putBe(out, 0, 2);
        putBe(out, 0, baseSize);
        putBe(out, 1, 2);
        putBe(out, exifOffset, offsetSize);
        putBe(out, exifLength, lengthSize);
        return isoBox("iloc", out);
    };
    const QByteArray item = heifExifItem(block, 6);
    QByteArray cdscPayload;
    appendBe16(cdscPayload, quint16(exifId));
    appendBe16(cdscPayload, 1);
    appendBe16(cdscPayload, quint16(primary));
    const QByteArray cdsc = isoBox("cdsc", cdscPayload);
    auto rebuildMeta = [&](qint64 shift, quint64 exifOffset) {
        QByteArray children;
        if (!hasIref)
            children.append(isoBox("iref", QByteArray("\0\0\0\0", 4) + cdsc));
        for (qsizetype at = 0; at + 8 <= meta.size();) {
            const qsizetype size = qsizetype(be(meta, at, 4));
            const QByteArray type = meta.mid(at + 4, 4);
            if (type == "iinf") {
                QByteArray p = meta.mid(at + 8, size - 8);
                const int v = quint8(p[0]);
                const int countBytes = v == 0 ? 2 : 4;
                const quint64 count = be(p, 4, countBytes);
                QByteArray n;
                putBe(n, count + 1, countBytes);
                p.replace(4, countBytes, n);
                children.append(isoBox("iinf", p + newInfe));
            } else if (type == "iloc") {
                children.append(rebuildIloc(shift, exifOffset, quint64(item.size())));
            } else if (type == "iref") {
                children.append(isoBox("iref", meta.mid(at + 8, size - 8) + cdsc));
            } else {
                children.append(meta.mid(at, size));
            }
            at += size;
        }
        return isoBox("meta", heif.mid(metaAt + 8, 4) + children);
    };
    const qint64 shift = rebuildMeta(0, 0).size() - metaSize;
    const qsizetype newSize = heif.size() + shift;
    const QByteArray newMeta = rebuildMeta(shift, quint64(newSize + 8));
    return heif.left(metaAt) + newMeta + heif.mid(metaAt + metaSize) + isoBox("mdat", item);
}

} // namespace ts::test
