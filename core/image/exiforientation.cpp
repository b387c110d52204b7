#include "core/image/exiforientation.h"

#include <cstdint>
#include <cstring>

namespace ts {
namespace {

uint32_t be32(const unsigned char *p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}
uint32_t le32(const unsigned char *p) {
    return uint32_t(p[3]) << 24 | uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | uint32_t(p[0]);
}

int fromJpeg(const unsigned char *d, size_t n) {
    size_t pos = 2; // after SOI
    while (pos + 4 <= n) {
        if (d[pos] != 0xFF)
            return 1;
        const unsigned char marker = d[pos + 1];
        if (marker == 0xFF) { // fill byte
            ++pos;
            continue;
        }
        if (marker == 0xDA || marker == 0xD9) // SOS / EOI: metadata is over
            return 1;
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // no length field
            pos += 2;
            continue;
        }
        const size_t len = size_t(d[pos + 2]) << 8 | d[pos + 3];
        if (len < 2 || pos + 2 + len > n)
            return 1;
        const unsigned char *seg = d + pos + 4;
        const size_t segLen = len - 2;
        if (marker == 0xE1 && segLen >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0)
            return ExifOrientation::fromTiffBlock(reinterpret_cast<const char *>(seg + 6), segLen - 6);
        pos += 2 + len;
    }
    return 1;
}

int fromPng(const unsigned char *d, size_t n) {
    size_t pos = 8;
    while (pos + 12 <= n) {
        const size_t len = be32(d + pos);
        if (len > n - pos - 12)
            return 1;
        const unsigned char *type = d + pos + 4;
        if (std::memcmp(type, "eXIf", 4) == 0)
            return ExifOrientation::fromTiffBlock(reinterpret_cast<const char *>(d + pos + 8), len);
        if (std::memcmp(type, "IDAT", 4) == 0 || std::memcmp(type, "IEND", 4) == 0)
            return 1; // eXIf must precede IDAT; Pillow does not look after it either
        pos += 12 + len;
    }
    return 1;
}

int fromWebp(const unsigned char *d, size_t n) {
    size_t pos = 12;
    while (pos + 8 <= n) {
        const size_t len = le32(d + pos + 4);
        if (len > n - pos - 8)
            return 1;
        if (std::memcmp(d + pos, "EXIF", 4) == 0)
            return ExifOrientation::fromTiffBlock(reinterpret_cast<const char *>(d + pos + 8), len);
        pos += 8 + len + (len & 1); // chunks are padded to even sizes
    }
    return 1;
}

} // namespace

int ExifOrientation::fromTiffBlock(const char *data, size_t size) {
    auto d = reinterpret_cast<const unsigned char *>(data);
    if (size >= 6 && std::memcmp(d, "Exif\0\0", 6) == 0) {
        d += 6;
        size -= 6;
    }
    if (size < 8)
        return 1;
    bool little = false;
    if (d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0)
        little = true;
    else if (!(d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42))
        return 1;
    auto u16 = [&](size_t off) -> uint32_t {
        return little ? uint32_t(d[off]) | uint32_t(d[off + 1]) << 8
                      : uint32_t(d[off]) << 8 | uint32_t(d[off + 1]);
    };
    auto u32 = [&](size_t off) -> uint32_t { return little ? le32(d + off) : be32(d + off); };
    const size_t ifd = u32(4);
    if (ifd > size - 2)
        return 1;
    const size_t count = u16(ifd);
    for (size_t i = 0; i < count; ++i) {
        const size_t e = ifd + 2 + i * 12;
        if (e + 12 > size)
            return 1;
        if (u16(e) != 0x0112)
            continue;
        const uint32_t type = u16(e + 2);
        uint32_t v = 0;
        if (type == 3) // SHORT, stored in the first two bytes of the value field
            v = u16(e + 8);
        else if (type == 4 || type == 9) // LONG / SLONG, seen from some writers
            v = u32(e + 8);
        else
            return 1;
        return v >= 1 && v <= 8 ? int(v) : 1;
    }
    return 1;
}

int ExifOrientation::fromEncoded(const QByteArray &bytes) {
    auto d = reinterpret_cast<const unsigned char *>(bytes.constData());
    const size_t n = size_t(bytes.size());
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8)
        return fromJpeg(d, n);
    if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return fromPng(d, n);
    if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
        return fromWebp(d, n);
    if (n >= 8 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0))
        return fromTiffBlock(bytes.constData(), n);
    return 1;
}

QImage ExifOrientation::apply(const QImage &image, int orientation) {
    if (orientation < 2 || orientation > 8 || image.isNull())
        return image;
    const int bpp = image.depth() / 8;
    if (bpp != 3 && bpp != 4)
        return apply(image.convertToFormat(QImage::Format_RGB888), orientation);
    const int w = image.width();
    const int h = image.height();
    const bool swap = orientation >= 5;
    QImage out(swap ? h : w, swap ? w : h, image.format());
    if (out.isNull())
        return {};
    const int ow = out.width();
    const int oh = out.height();
    for (int y = 0; y < oh; ++y) {
        uchar *dst = out.scanLine(y);
        for (int x = 0; x < ow; ++x) {
            int sx = 0;
            int sy = 0;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;                 // transpose
            case 6: sx = y; sy = h - 1 - x; break;         // rotate 90 clockwise
            case 7: sx = w - 1 - y; sy = h - 1 - x; break; // transverse
            default: sx = w - 1 - y; sy = x; break;        // 8: rotate 90 counter-clockwise
            }
            std::memcpy(dst + size_t(x) * size_t(bpp), image.constScanLine(sy) + size_t(sx) * size_t(bpp),
                        size_t(bpp));
        }
    }
    return out;
}

} // namespace ts
