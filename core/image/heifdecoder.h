#pragma once

#include "core/common/result.h"
#include "core/image/imagedecoder.h"

#include <QByteArray>
#include <QString>

namespace ts {

// HEIC/HEIF/AVIF decoding through libheif, which Qt 6.4 lacks. Compiled to a stub that reports
// "unsupported" when CMake did not find libheif (TOWERSEARCH_HAVE_HEIF undefined).
// Used by decodeImageData(); thread-safe (one heif_context per call).
class HeifDecoder {
public:
    // True when this build can decode HEIF files at all.
    static bool isAvailable();

    // True for an ISO-BMFF file whose `ftyp` brand is a HEIF/AVIF image brand.
    static bool looksLikeHeif(const QByteArray &data);

    // Decodes the primary image to RGB888. libheif applies the container's rotation/mirroring
    // (irot/imir), which is authoritative for HEIF; the EXIF orientation is reported in the result
    // but never applied on top. Refuses images above `maxPixels` or `maxSide` before decoding.
    // Errors name the file.
    static Result<DecodedImage> decode(const QByteArray &data, const QString &nameForErrors,
                                       qint64 maxPixels, int maxSide);
};

} // namespace ts
