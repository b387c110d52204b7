// Fuzz target: EXIF parsing: the orientation tag from JPEG/PNG/WebP/TIFF containers and raw TIFF
// blocks (core/image/exiforientation), and the date taken (indexer/exifdate). Both promise never
// to read outside their input and to fall back (1 / nullopt) on anything malformed.

#include "core/image/exiforientation.h"
#include "indexer/exifdate.h"

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
    const std::optional<QDateTime> taken = ts::exifDateTaken(bytes);
    if (taken && !taken->isValid())
        std::abort();

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
