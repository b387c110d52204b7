// Fuzz target: EXIF parsing (core/image/exifreader): orientation, date taken and camera from
// JPEG/PNG/WebP/TIFF/HEIF containers and raw TIFF blocks, through the reader and the decoder's
// ExifOrientation. They promise never to read outside their input and to fall back (1 / nullopt /
// empty) on anything malformed.

#include "core/image/exiforientation.h"
#include "core/image/exifreader.h"

#include <QByteArray>
#include <QImage>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // An exact-size heap copy: ASan then sees any read past the end.
    std::unique_ptr<char[]> copy(new char[size ? size : 1]);
    if (size)
        std::memcpy(copy.get(), data, size);
    const QByteArray bytes = QByteArray::fromRawData(copy.get(), qsizetype(size));

    const int encoded = ts::ExifOrientation::fromEncoded(bytes);
    const int block = ts::ExifOrientation::fromTiffBlock(copy.get(), size);
    if (encoded < 1 || encoded > 8 || block < 1 || block > 8)
        std::abort();
    for (const ts::ExifData &exif : {ts::readExif(bytes), ts::readExifBlock(bytes)}) {
        if (exif.orientation < 1 || exif.orientation > 8 ||
            (exif.dateTaken && !exif.dateTaken->isValid()) || exif.make.size() > 255 ||
            exif.model.size() > 255)
            std::abort();
    }
    (void)ts::imageFileType(bytes);

    // Every orientation on a small image keeps its pixels (apply() moves whole pixels).
    QImage image(3, 2, QImage::Format_RGB888);
    image.fill(Qt::black);
    image.setPixel(0, 0, qRgb(255, int(size % 256), 7));
    const QImage upright = ts::ExifOrientation::apply(image, block);
    const bool swaps = block >= 5;
    if (upright.width() != (swaps ? 2 : 3) || upright.height() != (swaps ? 3 : 2))
        std::abort();
    return 0;
}
