// Fuzz target: photo decoding by content (core/image/imagedecoder): our JPEG/PNG structure checks
// and size limits in front of Qt's image plugins (JPEG, PNG, WebP, GIF, TIFF, BMP) and libheif
// (HEIF/AVIF), then the PIL-style RGB conversion and the EXIF orientation.

#include "core/image/imagedecoder.h"

#include <QByteArray>
#include <QGuiApplication>

#include <cstdlib>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
    // Some image plugins expect an application object; the offscreen platform needs no display.
    qputenv("QT_QPA_PLATFORM", "offscreen");
    static QGuiApplication app(*argc, *argv);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const QByteArray bytes =
        QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    ts::DecodeOptions options;
    // Smaller than the app's limits (100 MP, 100000 px a side) so that each run stays fast; the
    // checks are the same code. The last byte picks the JPEG reduced-scale path or a full decode.
    options.maxPixels = 4'000'000;
    options.maxSide = 20'000;
    if (size > 0 && (data[size - 1] & 1))
        options.targetShortestEdgeHint = QSize(64, 64);
    const auto decoded = ts::decodeImageData(bytes, QStringLiteral("fuzz-input"), options);
    if (!decoded) {
        if (!decoded.error().message.startsWith(QLatin1String("fuzz-input")))
            std::abort(); // every error names the file
        return 0;
    }
    const QImage &rgb = decoded->rgb;
    if (rgb.isNull() || rgb.format() != QImage::Format_RGB888 ||
        qint64(rgb.width()) * rgb.height() > options.maxPixels || rgb.width() > options.maxSide ||
        rgb.height() > options.maxSide)
        std::abort();
    if (decoded->exifOrientation < 1 || decoded->exifOrientation > 8)
        std::abort();
    return 0;
}
