#pragma once

// The one EXIF reader: orientation, date taken and camera from a photo file's bytes, for the
// decoder (orientation) and the indexer (date taken, camera, for filters).
//
//     const ExifData exif = readExif(bytes);   // the whole file, or its head
//     if (exif.dateTaken) ...                  // DateTimeOriginal, else DateTime, local time
//
// Containers, recognised by content: JPEG (first APP1 "Exif" segment), TIFF (the file is the
// block), HEIC/HEIF/AVIF (ISOBMFF: the `Exif` item listed in `meta`/`iinf`, its bytes where
// `iloc` says, after the item's 4-byte header offset), WebP (RIFF `EXIF` chunk) and PNG (`eXIf`
// chunk). In PNG and WebP the block may follow the image data, and a HEIF item may lie anywhere
// in the file: a head that does not reach it gives "no value" (see indexer/README.md for how much
// the indexer reads).
//
// Tags: Orientation 0x0112, Make 0x010F, Model 0x0110, DateTime 0x0132 (IFD0) and
// DateTimeOriginal 0x9003 (Exif IFD, through 0x8769).
//
// Pure, reentrant and bounded: every read is checked against the input, no pointer is followed
// twice (no loops), strings are capped, nothing is allocated in proportion to a count in the
// file. Malformed or hostile input gives "no value" for what could not be read, never a crash.

#include <QByteArray>
#include <QByteArrayView>
#include <QDateTime>
#include <QString>

#include <cstddef>
#include <optional>

namespace ts {

struct ExifData {
    int orientation = 1;                // 1..8; 1 when absent or out of range
    std::optional<QDateTime> dateTaken; // DateTimeOriginal, else DateTime of IFD0 (local time)
    QString make;                       // trimmed; empty when absent
    QString model;                      // trimmed; empty when absent
    bool found = false;                 // a TIFF-structured EXIF block was found
    // PNG only: the eXIf chunk came after the image data (IDAT). The PNG specification requires
    // it before; the decoder ignores the orientation of such a chunk as Pillow 9.4's open() does.
    bool afterImageData = false;
};

// EXIF of an encoded file (any container above, by content).
ExifData readExif(QByteArrayView file);

// EXIF of a bare TIFF-structured block ("II*\0" or "MM\0*"; an "Exif\0\0" prefix is skipped).
ExifData readExifBlock(QByteArrayView block);

// The canonical file type of photo bytes, recognised by content (see core/search/photofilter.h):
// "jpeg", "png", "webp", "gif", "bmp", "tiff", "heic" (HEIC and HEIF brands) or "avif"; empty when
// not recognised. `head` needs only the first 32 bytes.
QString imageFileType(QByteArrayView head);

// The canonical file type for a file name's extension ("IMG_1.JPG" -> "jpeg", "x.heif" -> "heic",
// "x.tif" -> "tiff"); the lower-case extension itself when unknown; empty without one.
QString fileTypeForExtension(const QString &fileName);

} // namespace ts
