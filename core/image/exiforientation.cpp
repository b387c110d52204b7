#include "core/image/exiforientation.h"

#include "core/image/exifreader.h"

#include <cstdint>
#include <cstring>

namespace ts {

// The parsing is core/image/exifreader's; this keeps the decoder's rules on top of it.

int ExifOrientation::fromTiffBlock(const char *data, size_t size) {
    return readExifBlock(QByteArrayView(data, qsizetype(size))).orientation;
}

int ExifOrientation::fromEncoded(const QByteArray &bytes) {
    const QByteArrayView view(bytes);
    // HEIF orientation comes from libheif (heifdecoder.cpp), which applies the container's own
    // transforms; a PNG eXIf chunk after the image data is ignored, as Pillow 9.4's open() does.
    if (view.size() >= 8 && view.sliced(4, 4) == "ftyp")
        return 1;
    const ExifData exif = readExif(view);
    return exif.afterImageData ? 1 : exif.orientation;
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
            case 2:
                sx = w - 1 - x;
                sy = y;
                break;
            case 3:
                sx = w - 1 - x;
                sy = h - 1 - y;
                break;
            case 4:
                sx = x;
                sy = h - 1 - y;
                break;
            case 5:
                sx = y;
                sy = x;
                break; // transpose
            case 6:
                sx = y;
                sy = h - 1 - x;
                break; // rotate 90 clockwise
            case 7:
                sx = w - 1 - y;
                sy = h - 1 - x;
                break; // transverse
            default:
                sx = w - 1 - y;
                sy = x;
                break; // 8: rotate 90 counter-clockwise
            }
            std::memcpy(dst + size_t(x) * size_t(bpp),
                        image.constScanLine(sy) + size_t(sx) * size_t(bpp), size_t(bpp));
        }
    }
    return out;
}

} // namespace ts
