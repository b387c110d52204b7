#pragma once

#include "core/common/result.h"

#include <QByteArray>
#include <QImage>
#include <QSize>
#include <QString>

namespace ts {

// How decodeImageFile()/decodeImageData() treat a file.
struct DecodeOptions {
    // Images whose header claims more pixels than this are refused before any pixel is decoded
    // (100 MP: a 108 MP phone sensor is the largest common camera; a 100000 x 100000 bomb is
    // refused). Decoding may transiently need up to 8 bytes per pixel (16-bit RGBA), so this also
    // bounds memory: 100 MP costs at most ~0.8 GB + the 0.3 GB RGB result.
    qint64 maxPixels = 100'000'000;
    // Images with a side longer than this are refused too (the JPEG format's own maximum is 65535).
    // Resampling keeps ~16 bytes of filter taps per input column or row, so this bounds that memory
    // for strips that pass maxPixels (a 100'000'000 x 1 image).
    int maxSide = 100'000;
    // Files larger than this are refused before being read (no photo format needs 512 MiB).
    qint64 maxFileBytes = 512LL * 1024 * 1024;
    // Show the image upright according to its EXIF orientation, as HF's load_image() does for
    // paths.
    bool applyExifOrientation = true;
    // Optional fast path: when set (non-empty), the caller will downscale the result so that its
    // shortest edge is min(width, height) of this size. A JPEG may then be decoded at a reduced
    // scale by libjpeg's DCT scaling, keeping its shortest edge at least kReducedDecodeMargin times
    // that target, which measured at most 2 levels of difference on 99% of preprocessed pixels (see
    // core/image/README.md). Other formats ignore it. Leave empty for a full-resolution decode.
    QSize targetShortestEdgeHint = {};
};

// How much larger than the target the shortest edge of a reduced-scale JPEG decode must stay.
inline constexpr int kReducedDecodeMargin = 2;

struct DecodedImage {
    QImage rgb;                // Format_RGB888, upright when applyExifOrientation was set
    QSize storedSize;          // width x height as stored in the file (before orientation/scaling)
    int exifOrientation = 1;   // 1..8 as found in the file (1 when absent), applied or not
    bool reducedScale = false; // true when the JPEG fast path decoded at a reduced scale
};

// Decodes a photo file to 8-bit RGB the way Pillow's `Image.open(path).convert("RGB")` does,
// followed by `ImageOps.exif_transpose` when options.applyExifOrientation is set (HF's
// load_image()).
//
// Formats, recognised by content (never by extension): JPEG, PNG, WebP (first frame), GIF (first
// frame), BMP, TIFF (first page), and HEIC/HEIF/AVIF when built with libheif
// (TOWERSEARCH_HAVE_HEIF). Colour handling follows PIL: grayscale is replicated, palettes looked up
// (transparency ignored), alpha dropped without compositing (transparent pixels keep their stored
// colour), 16-bit gray clipped to 0..255 (PIL mode "I"), other 16-bit data reduced to its high
// byte, CMYK converted.
//
// Fails with an Error whose message starts with the file name: NotFound (missing file), Io (cannot
// read, a folder), Format (empty, truncated, corrupt, not an image), Unsupported (a format we
// cannot decode, or dimensions above options.maxPixels / maxSide, checked from the header before
// decoding). Never crashes on hostile input; allocations are bounded by maxFileBytes and maxPixels.
//
// Thread-safety: reentrant; call it from any number of threads at once (each call has its own
// QImageReader; Qt's image plugins are loaded once, thread-safely).
Result<DecodedImage> decodeImageFile(const QString &path, const DecodeOptions &options = {});

// Reads a whole photo file into memory, as decodeImageFile() does before decoding: refused before
// reading when larger than options.maxFileBytes (and a file that grows meanwhile is cut one byte
// past the limit, so decodeImageData refuses it). For callers that also need the bytes (the
// indexer hashes them), so a file is read once. Errors as decodeImageFile's: NotFound, Io,
// Unsupported (too large), with a message that starts with the file name.
// Thread-safety: reentrant.
Result<QByteArray> readImageFile(const QString &path, const DecodeOptions &options = {});

// Same, from bytes already in memory (drag and drop from a browser, a network reply).
// `nameForErrors` is used in messages in place of a path.
Result<DecodedImage> decodeImageData(const QByteArray &data, const QString &nameForErrors,
                                     const DecodeOptions &options = {});

// Converts a decoded QImage of any format to Format_RGB888 with PIL's `.convert("RGB")` semantics
// (see decodeImageFile). `gray16Clips` selects PIL's mode-"I" behaviour for Format_Grayscale16 (a
// 16-bit grayscale PNG): values above 255 become 255. Returns a null image on allocation failure.
// Thread-safety: pure.
QImage toRgb888LikePil(const QImage &image, bool gray16Clips = true);

} // namespace ts
