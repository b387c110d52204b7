#pragma once

#include <QByteArray>
#include <QImage>

#include <cstddef>

namespace ts {

// The EXIF orientation tag (TIFF tag 0x0112, values 1..8) and the transform that shows an image
// upright, as Pillow's ImageOps.exif_transpose does (which Hugging Face's load_image() calls for
// paths). Parsing is done here rather than by QImageReader::setAutoTransform because Qt 6.4 reads
// the tag only for JPEG and TIFF, while phones and browsers also write it into PNG (eXIf) and WebP
// (EXIF).
//
// All functions are pure and thread-safe; malformed or hostile input yields 1 ("upright"), never a
// read outside `data`.
class ExifOrientation {
public:
    // Orientation stored in an encoded JPEG (first APP1 "Exif"), PNG (eXIf chunk), WebP (EXIF
    // chunk) or TIFF (IFD0) file; 1 when absent, out of range or unreadable.
    static int fromEncoded(const QByteArray &data);

    // Orientation from a TIFF-structured EXIF block (starting with "II*\0" or "MM\0*"; an
    // "Exif\0\0" prefix is skipped).
    static int fromTiffBlock(const char *data, size_t size);

    // Returns `image` transformed so that it displays upright for `orientation` (2 mirror, 3 rotate
    // 180, 4 flip, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
    // counter-clockwise); orientation 1 or out of range returns the image unchanged. Works on any
    // 24- or 32-bit format by moving whole pixels, so values are never resampled.
    static QImage apply(const QImage &image, int orientation);
};

} // namespace ts
