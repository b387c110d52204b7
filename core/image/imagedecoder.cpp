#include "core/image/imagedecoder.h"

#include "core/common/nativepath.h"

#include "core/image/exiforientation.h"
#include "core/image/heifdecoder.h"

#include <QBuffer>
#include <QFile>
#include <QFileInfo>
#include <QImageReader>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ts {
namespace {

enum class Format { Unknown, Jpeg, Png, Gif, Bmp, Tiff, Webp, Heif };

Error namedError(Error::Code code, const QString &name, const QString &what) {
    return Error(code, QStringLiteral("%1: %2").arg(name, what));
}

// Recognised by magic bytes only: the extension lies often (a PNG saved as .jpg, text renamed), and
// handing unknown data to QImageReader's auto-detection would let weak sniffers (TGA has no magic)
// claim random bytes.
Format sniff(const QByteArray &data) {
    const auto *d = reinterpret_cast<const unsigned char *>(data.constData());
    const qsizetype n = data.size();
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return Format::Jpeg;
    if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return Format::Png;
    if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0))
        return Format::Gif;
    if (n >= 14 && d[0] == 'B' && d[1] == 'M')
        return Format::Bmp;
    if (n >= 8 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0))
        return Format::Tiff;
    if (n >= 16 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
        return Format::Webp;
    if (HeifDecoder::looksLikeHeif(data))
        return Format::Heif;
    return Format::Unknown;
}

const char *qtFormatName(Format f) {
    switch (f) {
    case Format::Jpeg:
        return "jpeg";
    case Format::Png:
        return "png";
    case Format::Gif:
        return "gif";
    case Format::Bmp:
        return "bmp";
    case Format::Tiff:
        return "tiff";
    case Format::Webp:
        return "webp";
    default:
        return "";
    }
}

QString displayName(Format f) {
    switch (f) {
    case Format::Jpeg:
        return QStringLiteral("JPEG");
    case Format::Png:
        return QStringLiteral("PNG");
    case Format::Gif:
        return QStringLiteral("GIF");
    case Format::Bmp:
        return QStringLiteral("BMP");
    case Format::Tiff:
        return QStringLiteral("TIFF");
    case Format::Webp:
        return QStringLiteral("WebP");
    case Format::Heif:
        return QStringLiteral("HEIF");
    default:
        return QStringLiteral("unknown");
    }
}

// libjpeg (and so Qt) silently completes a truncated JPEG with gray and only logs a warning, where
// Pillow raises "image file is truncated". A complete file has an EOI marker after its first scan;
// entropy-coded data cannot contain FF D9 (byte stuffing), so finding it is a reliable test.
// Fails, naming the file, with what is wrong when the structure is incomplete.
Status checkJpegStructure(const QByteArray &data, const QString &name) {
    const auto *d = reinterpret_cast<const unsigned char *>(data.constData());
    const size_t n = size_t(data.size());
    size_t pos = 2;
    size_t scanStart = 0;
    while (pos + 4 <= n) {
        if (d[pos] != 0xFF)
            break; // not a marker where one should be: let the scan below decide
        const unsigned char marker = d[pos + 1];
        if (marker == 0xFF) {
            ++pos;
            continue;
        }
        if (marker == 0xD9)
            return namedError(Error::Code::Format, name,
                              QStringLiteral("the JPEG ends before its image data"));
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            pos += 2;
            continue;
        }
        const size_t len = size_t(d[pos + 2]) << 8 | d[pos + 3];
        if (len < 2 || pos + 2 + len > n)
            return namedError(
                Error::Code::Format, name,
                QStringLiteral("the JPEG is truncated (a header segment runs past the end)"));
        pos += 2 + len;
        if (marker == 0xDA) {
            scanStart = pos;
            break;
        }
    }
    if (scanStart == 0) {
        // Marker walk derailed or ran out: accept only if a scan and an end marker exist at all.
        const QByteArray sos("\xFF\xDA", 2);
        const qsizetype at = data.indexOf(sos, qsizetype(pos));
        if (at < 0)
            return namedError(
                Error::Code::Format, name,
                QStringLiteral("the JPEG is truncated or corrupt (no image data found)"));
        scanStart = size_t(at) + 2;
    }
    if (data.indexOf(QByteArray("\xFF\xD9", 2), qsizetype(scanStart)) < 0)
        return namedError(Error::Code::Format, name,
                          QStringLiteral("the JPEG is truncated (no end-of-image marker)"));
    return {};
}

struct PngInfo {
    int bitDepth = 0;
    int colorType = -1;
};

// Walks the chunk list: every chunk must lie inside the data and IEND must be reached, so a cut-off
// download is reported as truncated instead of decoded with missing rows.
Result<PngInfo> checkPngStructure(const QByteArray &data, const QString &name) {
    PngInfo info;
    const auto *d = reinterpret_cast<const unsigned char *>(data.constData());
    const size_t n = size_t(data.size());
    auto be32 = [&](size_t p) {
        return size_t(d[p]) << 24 | size_t(d[p + 1]) << 16 | size_t(d[p + 2]) << 8 |
               size_t(d[p + 3]);
    };
    size_t pos = 8;
    bool first = true;
    while (true) {
        if (pos + 12 > n)
            return namedError(
                Error::Code::Format, name,
                QStringLiteral("the PNG is truncated (it ends before its IEND chunk)"));
        const size_t len = be32(pos);
        if (len > n - pos - 12)
            return namedError(
                Error::Code::Format, name,
                QStringLiteral("the PNG is truncated (a chunk runs past the end of the file)"));
        const unsigned char *type = d + pos + 4;
        if (first) {
            if (std::memcmp(type, "IHDR", 4) != 0 || len != 13)
                return namedError(
                    Error::Code::Format, name,
                    QStringLiteral("the PNG is corrupt (it does not start with an IHDR chunk)"));
            info.bitDepth = d[pos + 16];
            info.colorType = d[pos + 17];
            first = false;
        }
        if (std::memcmp(type, "IEND", 4) == 0)
            return info;
        pos += 12 + len;
    }
}

int allocationLimitMiB(qint64 maxPixels) {
    // Qt's largest decode format is 8 bytes per pixel (RGBA64); +1 MiB of slack for row padding.
    const double mib = std::ceil(double(maxPixels) * 8.0 / (1024.0 * 1024.0)) + 1.0;
    return int(std::min(mib, 1024.0 * 1024.0));
}

QString megapixels(qint64 pixels) {
    return QString::number(double(pixels) / 1e6, 'f', 1);
}

// The JPEG fast path. libjpeg can decode at M/8 of the stored size (Qt picks M from setScaledSize);
// we ask for the smallest reduction whose shortest edge still keeps kReducedDecodeMargin x the
// target, and only power-of-two reductions whose size divides exactly, so that Qt never resamples
// afterwards (a non-exact request makes Qt smooth-scale the remainder, which blurs).
QSize reducedJpegSize(QSize stored, QSize hint) {
    if (hint.isEmpty() || stored.isEmpty())
        return {};
    const qint64 target = qint64(std::min(hint.width(), hint.height())) * kReducedDecodeMargin;
    const int shortSide = std::min(stored.width(), stored.height());
    for (int denom : {8, 4, 2}) {
        if (stored.width() % denom != 0 || stored.height() % denom != 0)
            continue;
        if (shortSide / denom >= target)
            return QSize(stored.width() / denom, stored.height() / denom);
    }
    return {};
}

// An RGB888 image of `image`'s size whose rows `writeRow(y, dst)` fills; null when out of memory.
template <typename WriteRow> QImage rgb888Rows(const QImage &image, WriteRow writeRow) {
    QImage out(image.width(), image.height(), QImage::Format_RGB888);
    if (out.isNull())
        return {};
    for (int y = 0; y < image.height(); ++y)
        writeRow(y, out.scanLine(y));
    return out;
}

// ARGB32 is not premultiplied: the stored colour is read as is, alpha ignored (PIL's RGBA->RGB).
QImage rgbFromArgb32(const QImage &image) {
    const int w = image.width();
    return rgb888Rows(image, [&](int y, uchar *dst) {
        const auto *src = reinterpret_cast<const QRgb *>(image.constScanLine(y));
        for (int x = 0; x < w; ++x) {
            dst[3 * x] = uchar(qRed(src[x]));
            dst[3 * x + 1] = uchar(qGreen(src[x]));
            dst[3 * x + 2] = uchar(qBlue(src[x]));
        }
    });
}

QImage rgbFromGray(const QImage &image, bool gray16Clips) {
    const int w = image.width();
    const bool wide = image.format() == QImage::Format_Grayscale16;
    return rgb888Rows(image, [&](int y, uchar *dst) {
        for (int x = 0; x < w; ++x) {
            uchar v = 0;
            if (wide) {
                const quint16 g = reinterpret_cast<const quint16 *>(image.constScanLine(y))[x];
                // PIL opens 16-bit gray as mode "I" and convert("RGB") clips; others keep the
                // high byte.
                v = gray16Clips ? uchar(std::min<quint16>(g, 255)) : uchar(g >> 8);
            } else {
                v = image.constScanLine(y)[x];
            }
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = v;
        }
    });
}

// Palette lookup; palette alpha (tRNS) is ignored as PIL's P->RGB does. A pixel index outside the
// palette (corrupt files) reads as black, as in PIL's zero-filled palette.
QImage rgbFromPalette(const QImage &image) {
    const QList<QRgb> table = image.colorTable();
    const QImage idx = image.format() == QImage::Format_Indexed8
                           ? image
                           : image.convertToFormat(QImage::Format_Indexed8, table);
    if (idx.isNull())
        return {};
    const int w = image.width();
    return rgb888Rows(image, [&](int y, uchar *dst) {
        const uchar *src = idx.constScanLine(y);
        for (int x = 0; x < w; ++x) {
            const QRgb c = src[x] < table.size() ? table[src[x]] : 0;
            dst[3 * x] = uchar(qRed(c));
            dst[3 * x + 1] = uchar(qGreen(c));
            dst[3 * x + 2] = uchar(qBlue(c));
        }
    });
}

// 16-bit RGB(A): PIL unpacks "RGB;16B"/"RGBA;16B" by keeping the high byte (no rounding).
QImage rgbFromRgba64(const QImage &image) {
    const int w = image.width();
    return rgb888Rows(image, [&](int y, uchar *dst) {
        const auto *src = reinterpret_cast<const quint16 *>(image.constScanLine(y));
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                dst[3 * x + c] = uchar(src[4 * x + c] >> 8);
    });
}

// Refuses what must not reach a decoder: an empty or too large file, content of no known format.
Result<Format> recognise(const QByteArray &data, const QString &name,
                         const DecodeOptions &options) {
    if (data.isEmpty())
        return namedError(Error::Code::Format, name, QStringLiteral("the file is empty (0 bytes)"));
    if (data.size() > options.maxFileBytes)
        return namedError(Error::Code::Unsupported, name,
                          QStringLiteral("the file is %1 bytes, above the limit of %2 bytes")
                              .arg(data.size())
                              .arg(options.maxFileBytes));
    const Format format = sniff(data);
    if (format == Format::Unknown)
        return namedError(
            Error::Code::Format, name,
            QStringLiteral("not a recognised image (expected JPEG, PNG, WebP, GIF, BMP, "
                           "TIFF or HEIC content; the file name's extension is not used)"));
    return format;
}

// The stored size against the limits, before a pixel is decoded.
Status checkStoredSize(QSize stored, const QString &name, const DecodeOptions &options) {
    const qint64 pixels = qint64(stored.width()) * stored.height();
    if (std::max(stored.width(), stored.height()) > options.maxSide)
        return namedError(
            Error::Code::Unsupported, name,
            QStringLiteral("the image is %1 x %2 pixels, a side is above the limit of "
                           "%3 pixels")
                .arg(stored.width())
                .arg(stored.height())
                .arg(options.maxSide));
    if (pixels > options.maxPixels)
        return namedError(Error::Code::Unsupported, name,
                          QStringLiteral("the image is %1 x %2 pixels (%3 megapixels), above the "
                                         "limit of %4 megapixels")
                              .arg(stored.width())
                              .arg(stored.height())
                              .arg(megapixels(pixels), megapixels(options.maxPixels)));
    return {};
}

// Decodes with Qt's plugin for `format` (a JPEG at a reduced scale when the hint allows it) and
// converts to RGB the way PIL does; orientation is not applied here.
Result<DecodedImage> decodeWithQt(const QByteArray &data, Format format, const PngInfo &png,
                                  const QString &name, const DecodeOptions &options) {
    const char *qtName = qtFormatName(format);
    if (!QImageReader::supportedImageFormats().contains(QByteArray(qtName)))
        return namedError(
            Error::Code::Unsupported, name,
            QStringLiteral("%1 images need Qt's %2 image plugin, which is not installed "
                           "(Debian: qt6-image-formats-plugins)")
                .arg(displayName(format), QLatin1String(qtName)));

    QBuffer buffer;
    buffer.setData(data);
    buffer.open(QIODevice::ReadOnly);
    QImageReader reader(&buffer, qtName);
    reader.setDecideFormatFromContent(false);
    reader.setAutoTransform(false); // orientation is ours to apply, the same way for every format
    reader.setAllocationLimit(allocationLimitMiB(options.maxPixels));

    const QSize stored = reader.size();
    if (!stored.isValid() || stored.isEmpty())
        return namedError(Error::Code::Format, name,
                          QStringLiteral("cannot read the %1 header (%2)")
                              .arg(displayName(format), reader.errorString()));
    if (const Status s = checkStoredSize(stored, name, options); !s)
        return s.error();

    DecodedImage out;
    out.storedSize = stored;
    if (format == Format::Jpeg) {
        if (const QSize reduced = reducedJpegSize(stored, options.targetShortestEdgeHint);
            reduced.isValid()) {
            reader.setScaledSize(reduced);
            out.reducedScale = true;
        }
    }

    QImage decoded;
    if (!reader.read(&decoded) || decoded.isNull())
        return namedError(Error::Code::Format, name,
                          QStringLiteral("cannot decode the %1 image (%2)")
                              .arg(displayName(format), reader.errorString()));
    // What was decoded can be larger than the size reported before: a GIF frame is decoded onto
    // its logical screen, which reader.size() does not report.
    if (const Status s = checkStoredSize(decoded.size(), name, options); !s)
        return s.error();

    const bool gray16 = png.colorType == 0 && png.bitDepth == 16;
    if (gray16 &&
        (decoded.format() == QImage::Format_RGBA64 || decoded.format() == QImage::Format_RGBX64)) {
        // A 16-bit gray PNG with tRNS arrives as RGBA64: PIL still sees mode "I" and clips.
        decoded = decoded.convertToFormat(QImage::Format_Grayscale16);
    }
    out.rgb = toRgb888LikePil(decoded, true);
    if (out.rgb.isNull())
        return namedError(Error::Code::Internal, name,
                          QStringLiteral("out of memory converting %1 x %2 pixels to RGB")
                              .arg(decoded.width())
                              .arg(decoded.height()));
    return out;
}

} // namespace

QImage toRgb888LikePil(const QImage &image, bool gray16Clips) {
    if (image.isNull())
        return {};
    switch (image.format()) {
    case QImage::Format_RGB888:
        return image;
    case QImage::Format_RGB32:
        // Opaque by definition, so Qt's (vectorised) conversion is an exact byte shuffle. Not used
        // for ARGB32, where Qt may premultiply on the way.
        return image.convertToFormat(QImage::Format_RGB888);
    case QImage::Format_ARGB32:
        return rgbFromArgb32(image);
    case QImage::Format_Grayscale8:
    case QImage::Format_Grayscale16:
        return rgbFromGray(image, gray16Clips);
    case QImage::Format_Indexed8:
    case QImage::Format_Mono:
    case QImage::Format_MonoLSB:
        return rgbFromPalette(image);
    case QImage::Format_RGBX64:
    case QImage::Format_RGBA64:
        return rgbFromRgba64(image);
    default: {
        // Anything else (premultiplied formats from some plugins, 16-bit 5-6-5 BMPs, ...): go
        // through non-premultiplied ARGB32 so that alpha is dropped rather than composited.
        const QImage argb = image.convertToFormat(QImage::Format_ARGB32);
        return argb.isNull() ? QImage() : rgbFromArgb32(argb);
    }
    }
}

Result<DecodedImage> decodeImageData(const QByteArray &data, const QString &name,
                                     const DecodeOptions &options) {
    const Result<Format> format = recognise(data, name, options);
    if (!format)
        return format.error();
    if (*format == Format::Heif) // libheif applies the container's rotation itself (HeifDecoder)
        return HeifDecoder::decode(data, name, options.maxPixels, options.maxSide);

    PngInfo png;
    if (*format == Format::Jpeg) {
        if (const Status s = checkJpegStructure(data, name); !s)
            return s.error();
    } else if (*format == Format::Png) {
        Result<PngInfo> info = checkPngStructure(data, name);
        if (!info)
            return info.error();
        png = *info;
    }
    Result<DecodedImage> out = decodeWithQt(data, *format, png, name, options);
    if (!out)
        return out;
    out->exifOrientation = ExifOrientation::fromEncoded(data);
    if (options.applyExifOrientation && out->exifOrientation != 1) {
        out->rgb = ExifOrientation::apply(out->rgb, out->exifOrientation);
        if (out->rgb.isNull())
            return namedError(Error::Code::Internal, name,
                              QStringLiteral("out of memory applying the EXIF orientation"));
    }
    return out;
}

Result<QByteArray> readImageFile(const QString &path, const DecodeOptions &options) {
    // Any path, also a name that is not valid UTF-8 (core/common/nativepath.h).
    const NativeFileInfo info = statNative(path);
    if (!info.exists)
        return namedError(Error::Code::NotFound, path, QStringLiteral("no such file"));
    if (info.isDir)
        return namedError(Error::Code::Io, path, QStringLiteral("is a folder, not an image file"));
    if (info.size > options.maxFileBytes)
        return namedError(Error::Code::Unsupported, path,
                          QStringLiteral("the file is %1 bytes, above the limit of %2 bytes")
                              .arg(info.size)
                              .arg(options.maxFileBytes));
    QFile file;
    QString why;
    if (!openNativeFile(file, path, QIODevice::ReadOnly, &why))
        return namedError(Error::Code::Io, path,
                          QStringLiteral("cannot open the file (%1)").arg(why));
    // Read at most one byte past the limit: a file that grew since stat() cannot make us read more.
    QByteArray data = file.read(options.maxFileBytes + 1);
    if (file.error() != QFileDevice::NoError)
        return namedError(Error::Code::Io, path,
                          QStringLiteral("cannot read the file (%1)").arg(file.errorString()));
    return data;
}

Result<DecodedImage> decodeImageFile(const QString &path, const DecodeOptions &options) {
    auto data = readImageFile(path, options);
    if (!data)
        return data.error();
    return decodeImageData(*data, path, options);
}

} // namespace ts
