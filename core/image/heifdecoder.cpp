#include "core/image/heifdecoder.h"

#include "core/image/exiforientation.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#ifdef TOWERSEARCH_HAVE_HEIF
#include <libheif/heif.h>
#endif

namespace ts {

bool HeifDecoder::looksLikeHeif(const QByteArray &data) {
    if (data.size() < 12 || std::memcmp(data.constData() + 4, "ftyp", 4) != 0)
        return false;
    static const char *const kBrands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                          "heis", "mif1", "msf1", "avif", "avis"};
    for (const char *brand : kBrands)
        if (std::memcmp(data.constData() + 8, brand, 4) == 0)
            return true;
    return false;
}

#ifdef TOWERSEARCH_HAVE_HEIF

namespace {

QString heifMessage(const heif_error &e) {
    return QString::fromUtf8(e.message ? e.message : "unknown libheif error");
}

// libheif's C handles, released on every path out of decode().
struct ContextDeleter {
    void operator()(heif_context *c) const { heif_context_free(c); }
};
struct HandleDeleter {
    void operator()(heif_image_handle *h) const { heif_image_handle_release(h); }
};
struct ImageDeleter {
    void operator()(heif_image *i) const { heif_image_release(i); }
};

int exifOrientationOf(heif_image_handle *handle) {
    heif_item_id id = 0;
    if (heif_image_handle_get_list_of_metadata_block_IDs(handle, "Exif", &id, 1) < 1)
        return 1;
    const size_t size = heif_image_handle_get_metadata_size(handle, id);
    if (size < 4 || size > 16 * 1024 * 1024)
        return 1;
    std::vector<char> buf(size);
    if (heif_image_handle_get_metadata(handle, id, buf.data()).code != heif_error_Ok)
        return 1;
    // The block starts with a 4-byte big-endian offset to the TIFF header.
    const auto *u = reinterpret_cast<const unsigned char *>(buf.data());
    const size_t skip = 4 + (size_t(u[0]) << 24 | size_t(u[1]) << 16 | size_t(u[2]) << 8 | u[3]);
    if (skip >= size)
        return 1;
    return ExifOrientation::fromTiffBlock(buf.data() + skip, size - skip);
}

Error heifError(Error::Code code, const QString &name, const QString &what) {
    return Error(code, QStringLiteral("%1: %2").arg(name, what));
}

// libheif registers its codecs in heif_init(), reference counted; a component that pairs
// heif_init/heif_deinit would otherwise unregister them under us ("Unsupported codec"). One
// reference is taken for the life of the process (a function-local static: initialised once,
// thread-safe). Empty when it succeeded, else libheif's reason, which a failed decode reports.
const QString &initProblem() {
    static const QString problem = [] {
        const heif_error e = heif_init(nullptr);
        return e.code == heif_error_Ok ? QString() : heifMessage(e);
    }();
    return problem;
}

// The stored size (ispe), checked against the limits. The handle's size is after the crop (clap)
// and rotation, but libheif decodes the whole stored image before it crops: a 12000 x 12000 image
// cropped to 100 x 100 must be refused as what it costs to decode. Every HEIF image item has an
// ispe (ISO/IEC 23008-12).
Result<QSize> storedSizeWithinLimits(heif_image_handle *handle, const QString &name,
                                     qint64 maxPixels, int maxSide) {
    const int w = heif_image_handle_get_width(handle);
    const int h = heif_image_handle_get_height(handle);
    const int storedW = heif_image_handle_get_ispe_width(handle);
    const int storedH = heif_image_handle_get_ispe_height(handle);
    if (w <= 0 || h <= 0 || storedW <= 0 || storedH <= 0)
        return heifError(Error::Code::Format, name,
                         QStringLiteral("HEIF image has no size (no ispe property)"));
    const auto overLimit = [&](int width, int height) {
        return qint64(width) * height > maxPixels || std::max(width, height) > maxSide;
    };
    const QString limit = QStringLiteral("the limit of %1 megapixels or %2 pixels a side")
                              .arg(double(maxPixels) / 1e6)
                              .arg(maxSide);
    if (overLimit(storedW, storedH))
        return heifError(
            Error::Code::Unsupported, name,
            QStringLiteral("the image is stored as %1 x %2 pixels (shown as %3 x %4), above %5")
                .arg(storedW)
                .arg(storedH)
                .arg(w)
                .arg(h)
                .arg(limit));
    if (overLimit(w, h))
        return heifError(
            Error::Code::Unsupported, name,
            QStringLiteral("the image is %1 x %2 pixels, above %3").arg(w).arg(h).arg(limit));
    return QSize(storedW, storedH);
}

// Decodes the primary image to interleaved 8-bit RGB, the container's crop and rotation applied.
Result<QImage> decodeRgb(heif_image_handle *handle, const QString &name) {
    heif_image *rawImage = nullptr;
    const heif_error err = heif_decode_image(handle, &rawImage, heif_colorspace_RGB,
                                             heif_chroma_interleaved_RGB, nullptr);
    std::unique_ptr<heif_image, ImageDeleter> image(rawImage);
    if (err.code != heif_error_Ok || !image) {
        QString why = heifMessage(err);
        if (!initProblem().isEmpty())
            why += QStringLiteral("; libheif did not initialise: %1").arg(initProblem());
        return heifError(Error::Code::Format, name,
                         QStringLiteral("cannot decode HEIF image (%1)").arg(why));
    }
    int stride = 0;
    const uint8_t *plane =
        heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
    const int outW = heif_image_get_width(image.get(), heif_channel_interleaved);
    const int outH = heif_image_get_height(image.get(), heif_channel_interleaved);
    if (!plane || outW <= 0 || outH <= 0 || stride < outW * 3)
        return heifError(Error::Code::Format, name,
                         QStringLiteral("HEIF decoder returned no pixels"));
    QImage rgb(outW, outH, QImage::Format_RGB888);
    if (rgb.isNull())
        return heifError(Error::Code::Internal, name,
                         QStringLiteral("out of memory for %1 x %2 pixels").arg(outW).arg(outH));
    for (int y = 0; y < outH; ++y)
        std::memcpy(rgb.scanLine(y), plane + size_t(y) * size_t(stride), size_t(outW) * 3);
    return rgb;
}

} // namespace

bool HeifDecoder::isAvailable() {
    return true;
}

Result<DecodedImage> HeifDecoder::decode(const QByteArray &data, const QString &name,
                                         qint64 maxPixels, int maxSide) {
    initProblem();
    std::unique_ptr<heif_context, ContextDeleter> ctx(heif_context_alloc());
    if (!ctx)
        return heifError(Error::Code::Internal, name,
                         QStringLiteral("cannot create a libheif context"));
    heif_error err = heif_context_read_from_memory_without_copy(ctx.get(), data.constData(),
                                                                size_t(data.size()), nullptr);
    if (err.code != heif_error_Ok)
        return heifError(Error::Code::Format, name,
                         QStringLiteral("not a readable HEIF file (%1)").arg(heifMessage(err)));
    heif_image_handle *rawHandle = nullptr;
    err = heif_context_get_primary_image_handle(ctx.get(), &rawHandle);
    std::unique_ptr<heif_image_handle, HandleDeleter> handle(rawHandle);
    if (err.code != heif_error_Ok || !handle)
        return heifError(
            Error::Code::Format, name,
            QStringLiteral("HEIF file has no primary image (%1)").arg(heifMessage(err)));
    const Result<QSize> stored = storedSizeWithinLimits(handle.get(), name, maxPixels, maxSide);
    if (!stored)
        return stored.error();
    Result<QImage> rgb = decodeRgb(handle.get(), name);
    if (!rgb)
        return rgb.error();
    DecodedImage out;
    out.rgb = std::move(*rgb);
    // "Stored" is the coded size and orientation, before the container's crop and rotation.
    out.storedSize = *stored;
    out.exifOrientation = exifOrientationOf(handle.get());
    return out;
}

#else // no libheif

bool HeifDecoder::isAvailable() {
    return false;
}

Result<DecodedImage> HeifDecoder::decode(const QByteArray &, const QString &name, qint64, int) {
    return Error(Error::Code::Unsupported,
                 QStringLiteral("%1: HEIC/HEIF images are not supported by this build (it was "
                                "compiled without libheif; install libheif-dev and rebuild)")
                     .arg(name));
}

#endif

} // namespace ts
