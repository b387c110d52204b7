// Decoding: agreement with Pillow's decoded RGB, formats, EXIF orientation, and hostile files.
#include "imagetestutil.h"
#include "testdata.h"

#include "core/image/exiforientation.h"
#include "core/image/heifdecoder.h"
#include "core/image/imagedecoder.h"
#include "core/image/imageprocessor.h"

#include <QBuffer>
#include <QDir>
#include <QFile>
#include <QImageWriter>
#include <QLoggingCategory>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <thread>
#include <utility>

#ifdef TOWERSEARCH_HAVE_HEIF
#include <libheif/heif.h>
#endif

using namespace ts;
using namespace ts::test;

namespace {

QString fixture(const QString &name) {
    return dataDir(QStringLiteral("images/") + name);
}

bool writeFile(const QString &path, const QByteArray &data) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(data) == data.size();
}

QByteArray be32(uint32_t v) {
    QByteArray b(4, '\0');
    b[0] = char(v >> 24);
    b[1] = char(v >> 16);
    b[2] = char(v >> 8);
    b[3] = char(v);
    return b;
}
QByteArray le32(uint32_t v) {
    QByteArray b(4, '\0');
    for (int i = 0; i < 4; ++i)
        b[i] = char(v >> (8 * i));
    return b;
}

#ifdef TOWERSEARCH_HAVE_HEIF
// In a HEIF file written by libheif (one item, one-byte associations), moves the ispe property's
// association in front of the clap's, the order ISO/IEC 23008-12 requires. False if not found.
bool swapClapBeforeIspe(QByteArray &heif) {
    auto u32 = [&](qsizetype at) {
        return quint32(uchar(heif[at])) << 24 | quint32(uchar(heif[at + 1])) << 16 |
               quint32(uchar(heif[at + 2])) << 8 | quint32(uchar(heif[at + 3]));
    };
    const qsizetype ipco = heif.indexOf(QByteArray("ipco"));
    const qsizetype ipma = heif.indexOf(QByteArray("ipma"));
    if (ipco < 4 || ipma < 4)
        return false;
    // Property indices are 1-based positions in ipco.
    int clapIndex = 0, ispeIndex = 0, index = 0;
    for (qsizetype at = ipco + 4, end = ipco - 4 + qsizetype(u32(ipco - 4)); at + 8 <= end;
         at += qsizetype(u32(at))) {
        ++index;
        const QByteArray type = heif.mid(at + 4, 4);
        if (type == "clap")
            clapIndex = index;
        else if (type == "ispe")
            ispeIndex = index;
        if (u32(at) < 8)
            return false;
    }
    // ipma: version/flags, entry count, item id (u16 in version 0), association count,
    // associations.
    if (heif[ipma + 4] != 0 || (uchar(heif[ipma + 7]) & 1) != 0 || u32(ipma + 8) != 1)
        return false;
    const qsizetype first = ipma + 4 + 4 + 4 + 2 + 1;
    const int count = uchar(heif[first - 1]);
    qsizetype clapAt = -1, ispeAt = -1;
    for (int i = 0; i < count; ++i) {
        const int property = uchar(heif[first + i]) & 0x7f;
        if (property == clapIndex)
            clapAt = first + i;
        else if (property == ispeIndex)
            ispeAt = first + i;
    }
    if (clapAt < 0 || ispeAt < 0)
        return false;
    if (clapAt < ispeAt)
        std::swap(heif[clapAt], heif[ispeAt]);
    return true;
}
#endif

QByteArray pngChunk(const char *type, const QByteArray &data) {
    const QByteArray typed = QByteArray(type, 4) + data;
    return be32(uint32_t(data.size())) + typed + be32(crc32(typed));
}

// A little-endian TIFF/EXIF block holding only the orientation tag.
QByteArray exifBlock(int orientation) {
    QByteArray b("II*\0", 4);
    b += le32(8);
    b += QByteArray("\x01\x00", 2);                   // one entry
    b += QByteArray("\x12\x01\x03\x00", 4) + le32(1); // tag 0x0112, SHORT, count 1
    b += QByteArray(1, char(orientation)) + QByteArray(3, '\0');
    b += le32(0);
    return b;
}

// PNG with an eXIf chunk inserted after IHDR.
QByteArray pngWithExif(const QByteArray &png, int orientation) {
    const int ihdrEnd = 8 + 25;
    return png.left(ihdrEnd) + pngChunk("eXIf", exifBlock(orientation)) + png.mid(ihdrEnd);
}

// Simple (VP8/VP8L) WebP rewrapped as extended WebP with an EXIF chunk.
QByteArray webpWithExif(const QByteArray &webp, QSize size, int orientation) {
    const QByteArray body = webp.mid(12); // the VP8/VP8L chunk
    QByteArray vp8x("VP8X", 4);
    vp8x += le32(10);
    QByteArray payload(10, '\0');
    payload[0] = char(0x08); // EXIF flag
    const uint32_t w1 = uint32_t(size.width() - 1), h1 = uint32_t(size.height() - 1);
    for (int i = 0; i < 3; ++i) {
        payload[4 + i] = char(w1 >> (8 * i));
        payload[7 + i] = char(h1 >> (8 * i));
    }
    vp8x += payload;
    QByteArray exif = exifBlock(orientation);
    QByteArray exifChunk = QByteArray("EXIF", 4) + le32(uint32_t(exif.size())) + exif;
    if (exif.size() & 1)
        exifChunk += '\0';
    const QByteArray riffBody = QByteArray("WEBP", 4) + vp8x + body + exifChunk;
    return QByteArray("RIFF", 4) + le32(uint32_t(riffBody.size())) + riffBody;
}

// A minimal GIF with `frames` frames of size w x h, palette of 4 colours, LZW with 9-bit literal
// codes and a clear code every 254 pixels (valid, uncompressed-style).
QByteArray makeGif(int w, int h, const std::vector<std::vector<uint8_t>> &frames,
                   int transparentIndex) {
    QByteArray g("GIF89a", 6);
    g += char(w & 255);
    g += char(w >> 8);
    g += char(h & 255);
    g += char(h >> 8);
    g += char(0xF7); // global colour table, 256 entries
    g += '\0';
    g += '\0';
    for (int i = 0; i < 256; ++i) {
        g += char((i * 40) & 255);
        g += char((i * 90) & 255);
        g += char((i * 150) & 255);
    }
    for (const auto &pixels : frames) {
        g += "\x21\xF9\x04";
        g += char(transparentIndex >= 0 ? 1 : 0);
        g += '\0';
        g += '\0';
        g += char(transparentIndex >= 0 ? transparentIndex : 0);
        g += '\0';
        g += ',';
        g += QByteArray(4, '\0');
        g += char(w & 255);
        g += char(w >> 8);
        g += char(h & 255);
        g += char(h >> 8);
        g += '\0';
        g += char(8); // LZW minimum code size
        QByteArray bits;
        uint32_t acc = 0;
        int nbits = 0;
        auto emit = [&](int code) {
            acc |= uint32_t(code) << nbits;
            nbits += 9;
            while (nbits >= 8) {
                bits += char(acc & 255);
                acc >>= 8;
                nbits -= 8;
            }
        };
        int sinceClear = 0;
        emit(256);
        for (uint8_t p : pixels) {
            if (sinceClear == 254) {
                emit(256);
                sinceClear = 0;
            }
            emit(p);
            ++sinceClear;
        }
        emit(257);
        if (nbits > 0)
            bits += char(acc & 255);
        for (int i = 0; i < bits.size(); i += 255) {
            const QByteArray block = bits.mid(i, 255);
            g += char(block.size());
            g += block;
        }
        g += '\0';
    }
    g += ';';
    return g;
}

} // namespace

class TestImageDecoder : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        m_dirs = imageFixtureDirs();
        QVERIFY(!m_dirs.empty());
    }

    // Our decoder vs Pillow's `Image.open(f).convert("RGB")`: exact for PNG, within 2 levels
    // on 99.9% of values for JPEG (different libjpeg builds and CMYK conversions differ slightly).
    void matchesPillowDecodedRgb_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("tensorDir");
        QTest::addColumn<QString>("image");
        for (const auto &dir : m_dirs)
            for (const auto &image : dir.manifest["images"])
                if (image.contains("decoded_rgb"))
                    QTest::newRow(
                        qPrintable(QString::fromStdString(image["file"].get<std::string>())))
                        << dir.path + QLatin1Char('/') +
                               QString::fromStdString(image["file"].get<std::string>())
                        << dir.path << QString::fromStdString(image["name"].get<std::string>());
    }
    void matchesPillowDecodedRgb() {
        QFETCH(QString, file);
        QFETCH(QString, tensorDir);
        QFETCH(QString, image);
        auto st = SafetensorsFile::open(tensorDir + QStringLiteral("/expected.safetensors"));
        QVERIFY(st.ok());
        const TensorView *t = st->find(image.toStdString() + ".decoded_rgb");
        QVERIFY(t);
        const QImage expected = imageFromHwc(*t);
        DecodeOptions opt;
        opt.applyExifOrientation = false; // decoded_rgb is before exif_transpose
        auto d = decodeImageFile(file, opt);
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->rgb.format(), QImage::Format_RGB888);
        QCOMPARE(d->rgb.size(), expected.size());
        const DiffStats s = compareRgb(d->rgb, expected);
        qInfo("decoder vs Pillow, %s: max diff %d levels; %.4f%% of values identical, %.4f%% "
              "within 1, "
              "%.4f%% within 2 levels",
              qPrintable(QFileInfo(file).fileName()), s.maxDiff, 100.0 * s.fractionWithin(0),
              100.0 * s.fractionWithin(1), 100.0 * s.fractionWithin(2));
        if (file.endsWith(QLatin1String(".png")))
            QCOMPARE(s.maxDiff, 0);
        else
            QVERIFY2(s.fractionWithin(2) >= 0.999,
                     "JPEG decode differs by more than 2 levels on >0.1%");
    }

    void exifOrientationAppliedToJpeg() {
        auto upright = decodeImageFile(fixture(QStringLiteral("syn_exif6_240x40.jpg")));
        QVERIFY(upright.ok());
        QCOMPARE(upright->exifOrientation, 6);
        QCOMPARE(upright->storedSize, QSize(240, 40));
        QCOMPARE(upright->rgb.size(), QSize(40, 240));
        DecodeOptions raw;
        raw.applyExifOrientation = false;
        auto stored = decodeImageFile(fixture(QStringLiteral("syn_exif6_240x40.jpg")), raw);
        QVERIFY(stored.ok());
        QCOMPARE(stored->rgb.size(), QSize(240, 40));
        QCOMPARE(ExifOrientation::apply(stored->rgb, 6), upright->rgb);
    }

    void exifOrientationTransforms_data() {
        QTest::addColumn<int>("orientation");
        QTest::addColumn<QPoint>("whereTopLeftGoes");
        // A 3x2 image; where does stored pixel (0,0) end up after making it upright?
        QTest::newRow("1 upright") << 1 << QPoint(0, 0);
        QTest::newRow("2 mirrored") << 2 << QPoint(2, 0);
        QTest::newRow("3 rotated 180") << 3 << QPoint(2, 1);
        QTest::newRow("4 flipped") << 4 << QPoint(0, 1);
        QTest::newRow("5 transposed") << 5 << QPoint(0, 0);
        QTest::newRow("6 rotate 90 cw") << 6 << QPoint(1, 0);
        QTest::newRow("7 transverse") << 7 << QPoint(1, 2);
        QTest::newRow("8 rotate 90 ccw") << 8 << QPoint(0, 2);
    }
    void exifOrientationTransforms() {
        QFETCH(int, orientation);
        QFETCH(QPoint, whereTopLeftGoes);
        QImage img(3, 2, QImage::Format_RGB888);
        img.fill(Qt::black);
        img.setPixelColor(0, 0, Qt::white);
        const QImage out = ExifOrientation::apply(img, orientation);
        QCOMPARE(out.size(), orientation >= 5 ? QSize(2, 3) : QSize(3, 2));
        QCOMPARE(out.pixelColor(whereTopLeftGoes), QColor(Qt::white));
    }

    // Orientation is read from PNG eXIf, WebP EXIF and TIFF tags too (Qt 6.4 only knows JPEG/TIFF).
    void exifOrientationInOtherFormats_data() {
        QTest::addColumn<QByteArray>("data");
        QImage img(30, 20, QImage::Format_RGB888);
        img.fill(Qt::red);
        QTest::newRow("PNG eXIf 6") << pngWithExif(encode(img, "png"), 6);
        QTest::newRow("WebP EXIF 6") << webpWithExif(encode(img, "webp", 100), img.size(), 6);
        QByteArray tiff;
        {
            QBuffer b(&tiff);
            b.open(QIODevice::WriteOnly);
            QImageWriter w(&b, "tiff");
            w.setTransformation(QImageIOHandler::TransformationRotate90);
            QVERIFY(w.write(img));
        }
        QTest::newRow("TIFF orientation 6") << tiff;
    }
    void exifOrientationInOtherFormats() {
        QFETCH(QByteArray, data);
        auto d = decodeImageData(data, QStringLiteral("oriented"));
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->exifOrientation, 6);
        QCOMPARE(d->storedSize, QSize(30, 20));
        QCOMPARE(d->rgb.size(), QSize(20, 30));
    }

    // Lossless formats must round-trip the pixels exactly; lossy ones stay close.
    void formats_data() {
        QTest::addColumn<QByteArray>("data");
        QTest::addColumn<int>("maxDiff");
        const QImage src = decodeImageFile(fixture(QStringLiteral("photo_chelsea.png")))->rgb;
        m_chelsea = src;
        QTest::newRow("PNG") << encode(src, "png") << 0;
        QTest::newRow("BMP") << encode(src, "bmp") << 0;
        QTest::newRow("TIFF") << encode(src, "tiff") << 0;
        QTest::newRow("WebP lossless") << encode(src, "webp", 100) << 0;
        QTest::newRow("WebP lossy") << encode(src, "webp", 90) << 80;
        QTest::newRow("JPEG q95") << encode(src, "jpeg", 95) << 80;
        QImage rgba = src.convertToFormat(QImage::Format_ARGB32);
        for (int y = 0; y < rgba.height(); ++y)
            for (int x = 0; x < rgba.width(); ++x) {
                QRgb &p = reinterpret_cast<QRgb *>(rgba.scanLine(y))[x];
                p = qRgba(qRed(p), qGreen(p), qBlue(p), x % 3 == 0 ? 0 : 128);
            }
        QTest::newRow("PNG with alpha keeps stored colour") << encode(rgba, "png") << 0;
        QImage rgb16 = src.convertToFormat(QImage::Format_RGBX64);
        QTest::newRow("PNG 16-bit RGB keeps the high byte") << encode(rgb16, "png") << 0;
    }
    void formats() {
        QFETCH(QByteArray, data);
        QFETCH(int, maxDiff);
        QVERIFY(!data.isEmpty());
        auto d = decodeImageData(data, QStringLiteral("memory"));
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->rgb.size(), m_chelsea.size());
        const DiffStats s = compareRgb(d->rgb, m_chelsea);
        QVERIFY2(s.maxDiff <= maxDiff, qPrintable(QString::number(s.maxDiff)));
    }

    // GIF: first frame only, palette looked up, transparency index ignored where Qt keeps it.
    void gifFirstFrame() {
        const int w = 20, h = 10;
        std::vector<uint8_t> f1(size_t(w * h)), f2(size_t(w * h), 7);
        for (int i = 0; i < w * h; ++i)
            f1[size_t(i)] = uint8_t(i % 5 + 1);
        auto d = decodeImageData(makeGif(w, h, {f1, f2}, -1), QStringLiteral("anim.gif"));
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->rgb.size(), QSize(w, h));
        for (int i = 0; i < w * h; ++i) {
            const int idx = f1[size_t(i)];
            QCOMPARE(d->rgb.pixelColor(i % w, i / w),
                     QColor((idx * 40) & 255, (idx * 90) & 255, (idx * 150) & 255));
        }
    }

    // PIL's P->RGB ignores the transparent index and shows the palette colour.
    void gifTransparentIndexShowsPaletteColour() {
        const int w = 8, h = 4;
        std::vector<uint8_t> f(size_t(w * h), 3);
        f[0] = 1; // the transparent index
        auto d = decodeImageData(makeGif(w, h, {f}, 1), QStringLiteral("transparent.gif"));
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->rgb.pixelColor(1, 0), QColor(120, 14, 194)); // index 3
        const QColor pil(40, 90, 150);                           // index 1, as PIL shows it
        QCOMPARE(d->rgb.pixelColor(0, 0), pil);
    }

    void heic() {
#ifdef TOWERSEARCH_HAVE_HEIF
        QVERIFY(HeifDecoder::isAvailable());
        if (!heif_have_encoder_for_format(heif_compression_HEVC))
            QSKIP("libheif has no HEVC encoder here to make a test file");
        // Encode the cat with libheif/x265 and decode it back.
        const QImage src = decodeImageFile(fixture(QStringLiteral("photo_chelsea.png")))->rgb;
        heif_context *ctx = heif_context_alloc();
        heif_encoder *enc = nullptr;
        QCOMPARE(heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc).code,
                 heif_error_Ok);
        heif_encoder_set_lossy_quality(enc, 90);
        heif_image *img = nullptr;
        QCOMPARE(heif_image_create(src.width(), src.height(), heif_colorspace_RGB,
                                   heif_chroma_interleaved_RGB, &img)
                     .code,
                 heif_error_Ok);
        heif_image_add_plane(img, heif_channel_interleaved, src.width(), src.height(), 8);
        int stride = 0;
        uint8_t *plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
        for (int y = 0; y < src.height(); ++y)
            std::memcpy(plane + y * stride, src.constScanLine(y), size_t(src.width()) * 3);
        QCOMPARE(heif_context_encode_image(ctx, img, enc, nullptr, nullptr).code, heif_error_Ok);
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("cat.heic"));
        QCOMPARE(heif_context_write_to_file(ctx, path.toLocal8Bit().constData()).code,
                 heif_error_Ok);
        heif_image_release(img);
        heif_encoder_release(enc);
        heif_context_free(ctx);

        auto d = decodeImageFile(path);
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        QCOMPARE(d->rgb.size(), src.size());
        const DiffStats s = compareRgb(d->rgb, src);
        qInfo("HEIC round trip (x265 q90): max diff %d, %.2f%% within 8 levels", s.maxDiff,
              100.0 * (1.0 - double(s.over[3]) / double(s.count)));
        QVERIFY(s.fractionWithin(3) > 0.5);

        auto truncated = decodeImageData(readAll(path).left(200), path);
        QVERIFY(!truncated.ok());
        QVERIFY(truncated.error().message.contains(path));
#else
        QVERIFY(!HeifDecoder::isAvailable());
        QSKIP("built without libheif");
#endif
    }

    // The pixel limit applies to the stored image (ispe), which libheif decodes in full, not to the
    // crop (clap) it shows afterwards: a 1001 x 1001 HEIC cropped to 100 x 100 is refused by a
    // 0.25 MP limit before decoding. (libheif writes a clap for an odd size; the test narrows it.)
    void heicCropDoesNotHideTheStoredSize() {
#ifdef TOWERSEARCH_HAVE_HEIF
        if (!heif_have_encoder_for_format(heif_compression_HEVC))
            QSKIP("libheif has no HEVC encoder here to make a test file");
        const int side = 1001;
        heif_context *ctx = heif_context_alloc();
        heif_encoder *enc = nullptr;
        QCOMPARE(heif_context_get_encoder_for_format(ctx, heif_compression_HEVC, &enc).code,
                 heif_error_Ok);
        heif_encoder_set_lossy_quality(enc, 50);
        heif_image *img = nullptr;
        QCOMPARE(
            heif_image_create(side, side, heif_colorspace_RGB, heif_chroma_interleaved_RGB, &img)
                .code,
            heif_error_Ok);
        heif_image_add_plane(img, heif_channel_interleaved, side, side, 8);
        int stride = 0;
        uint8_t *plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
        for (int y = 0; y < side; ++y)
            for (int x = 0; x < side * 3; ++x)
                plane[y * stride + x] = uint8_t((x / 3 + y) & 255);
        heif_encoding_options *options = heif_encoding_options_alloc();
        options->macOS_compatibility_workaround = 0; // crop the coded padding with a clap box
        QCOMPARE(heif_context_encode_image(ctx, img, enc, options, nullptr).code, heif_error_Ok);
        heif_encoding_options_free(options);
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("cropped.heic"));
        QCOMPARE(heif_context_write_to_file(ctx, path.toLocal8Bit().constData()).code,
                 heif_error_Ok);
        heif_image_release(img);
        heif_encoder_release(enc);
        heif_context_free(ctx);

        // clap: width, height, horizontal and vertical offset, each a big-endian fraction.
        QByteArray data = readAll(path);
        const qsizetype clap = data.indexOf(QByteArray("clap"));
        QVERIFY2(clap > 0, "libheif wrote no clap box");
        const QByteArray crop =
            be32(100) + be32(1) + be32(100) + be32(1) + be32(0) + be32(1) + be32(0) + be32(1);
        data.replace(clap + 4, crop.size(), crop);
        // libheif 1.15 lists the clap before the ispe in the item's property associations (ipma),
        // and then reports the ispe size; the standard order (ispe first, as other encoders write)
        // makes it report the crop. Swap the two one-byte associations into that order.
        QVERIFY(swapClapBeforeIspe(data));
        heif_context *check = heif_context_alloc();
        QCOMPARE(heif_context_read_from_memory_without_copy(check, data.constData(),
                                                            size_t(data.size()), nullptr)
                     .code,
                 heif_error_Ok);
        heif_image_handle *handle = nullptr;
        QCOMPARE(heif_context_get_primary_image_handle(check, &handle).code, heif_error_Ok);
        const QSize shown(heif_image_handle_get_width(handle),
                          heif_image_handle_get_height(handle));
        heif_image_handle_release(handle);
        heif_context_free(check);
        QCOMPARE(shown, QSize(100, 100)); // what the old check compared with the limit

        // The crop is real: with room for the stored image it decodes to 100 x 100.
        auto roomy = HeifDecoder::decode(data, path, qint64(side) * side, side);
        QVERIFY2(roomy.ok(), roomy.ok() ? "" : qPrintable(roomy.error().message));
        QCOMPARE(roomy->rgb.size(), QSize(100, 100));
        QCOMPARE(roomy->storedSize, QSize(side, side));

        auto refused = HeifDecoder::decode(data, path, 500 * 500, 600);
        QVERIFY2(!refused.ok(), "the crop hid a stored image above the limit");
        QCOMPARE(refused.error().code, Error::Code::Unsupported);
        QVERIFY2(refused.error().message.contains(path), qPrintable(refused.error().message));
        QVERIFY2(refused.error().message.contains(QStringLiteral("1001 x 1001")),
                 qPrintable(refused.error().message));
#else
        QSKIP("built without libheif");
#endif
    }

    // Bad files: a clear error naming the file, never a crash or a huge allocation.
    void rejectsBadFiles_data() {
        QTest::addColumn<QByteArray>("data");
        QTest::addColumn<QString>("fileName");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("mentions");
        const QByteArray jpeg = readAll(fixture(QStringLiteral("photo_coffee.jpg")));
        const QByteArray png = readAll(fixture(QStringLiteral("photo_chelsea.png")));
        QTest::newRow("zero bytes")
            << QByteArray() << "empty.jpg" << int(Error::Code::Format) << "empty";
        QTest::newRow("truncated JPEG (half)")
            << jpeg.left(jpeg.size() / 2) << "half.jpg" << int(Error::Code::Format) << "truncated";
        QTest::newRow("truncated JPEG (header only)")
            << jpeg.left(300) << "head.jpg" << int(Error::Code::Format) << "truncated";
        QTest::newRow("JPEG missing only its EOI")
            << jpeg.left(jpeg.size() - 2) << "noeoi.jpg" << int(Error::Code::Format) << "truncated";
        QTest::newRow("truncated PNG (half)")
            << png.left(png.size() / 2) << "half.png" << int(Error::Code::Format) << "truncated";
        QTest::newRow("PNG signature only")
            << png.left(8) << "sig.png" << int(Error::Code::Format) << "truncated";
        QTest::newRow("text renamed to .jpg")
            << QByteArray("Dear diary, today I renamed a text file.\n") << "notes.jpg"
            << int(Error::Code::Format) << "not a recognised image";
        QTest::newRow("JPEG magic then garbage")
            << QByteArray("\xFF\xD8\xFF\xE0garbage garbage garbage garbage", 32) << "junk.jpg"
            << int(Error::Code::Format) << "";

        // 100000 x 100000 in a valid PNG header: refused from the header, before any allocation.
        QByteArray ihdr;
        ihdr += be32(100000) + be32(100000);
        ihdr += QByteArray("\x08\x02\x00\x00\x00", 5);
        QByteArray bomb = QByteArray("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", ihdr) +
                          pngChunk("IDAT", QByteArray("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
                          pngChunk("IEND", {});
        QTest::newRow("PNG header claims 100000 x 100000")
            << bomb << "bomb.png" << int(Error::Code::Unsupported) << "100000 x 100000";
        // JPEG's SOF holds 16-bit sizes: 65000 x 65000 = 4.2 GP.
        QByteArray bigJpeg = jpeg;
        const int sof = bigJpeg.indexOf(QByteArray("\xFF\xC0", 2));
        QVERIFY(sof > 0);
        bigJpeg[sof + 5] = char(0xFD);
        bigJpeg[sof + 6] = char(0xE8);
        bigJpeg[sof + 7] = char(0xFD);
        bigJpeg[sof + 8] = char(0xE8);
        QTest::newRow("JPEG header claims 65000 x 65000")
            << bigJpeg << "big.jpg" << int(Error::Code::Unsupported) << "65000 x 65000";
        QByteArray bmp = encode(QImage(4, 4, QImage::Format_RGB888), "bmp");
        const QByteArray bmpBig = bmp.left(18) + le32(60000) + le32(60000) + bmp.mid(26);
        // Qt's BMP reader refuses this header itself (before our limit is consulted): still a named
        // error.
        QTest::newRow("BMP header claims 60000 x 60000")
            << bmpBig << "big.bmp" << int(Error::Code::Format) << "BMP header";
    }
    void rejectsBadFiles() {
        QFETCH(QByteArray, data);
        QFETCH(QString, fileName);
        QFETCH(int, code);
        QFETCH(QString, mentions);
        QTemporaryDir tmp;
        const QString path = tmp.filePath(fileName);
        QVERIFY(writeFile(path, data));
        auto d = decodeImageFile(path);
        QVERIFY2(!d.ok(), "a bad file was accepted");
        QVERIFY2(d.error().message.startsWith(path), qPrintable(d.error().message));
        QVERIFY2(d.error().message.contains(mentions), qPrintable(d.error().message));
        QCOMPARE(int(d.error().code), code);
        // The same through the in-memory entry point, named as given.
        auto m = decodeImageData(data, QStringLiteral("dropped ") + fileName);
        QVERIFY(!m.ok());
        QVERIFY(m.error().message.startsWith(QStringLiteral("dropped ") + fileName));
        qInfo("%s", qPrintable(d.error().message));
    }

    void rejectsUnreadablePaths() {
        QTemporaryDir tmp;
        auto missing = decodeImageFile(tmp.filePath(QStringLiteral("gone.jpg")));
        QVERIFY(!missing.ok());
        QCOMPARE(missing.error().code, Error::Code::NotFound);
        QVERIFY(missing.error().message.contains(tmp.filePath(QStringLiteral("gone.jpg"))));

        const QString folder = tmp.filePath(QStringLiteral("folder.jpg"));
        QVERIFY(QDir().mkpath(folder));
        auto dir = decodeImageFile(folder);
        QVERIFY(!dir.ok());
        QCOMPARE(dir.error().code, Error::Code::Io);
        QVERIFY(dir.error().message.contains(folder));

        const QString locked = tmp.filePath(QStringLiteral("locked.jpg"));
        QVERIFY(QFile::copy(fixture(QStringLiteral("photo_coffee.jpg")), locked));
        QFile::setPermissions(locked, QFileDevice::Permissions());
        QFile probe(locked);
        if (probe.open(QIODevice::ReadOnly))
            QSKIP("running with permission to read a mode-000 file (root); cannot test EACCES");
        auto denied = decodeImageFile(locked);
        QVERIFY(!denied.ok());
        QCOMPARE(denied.error().code, Error::Code::Io);
        QVERIFY(denied.error().message.contains(locked));
    }

    // A strip under the pixel limit but absurdly long is refused from its header (side limit).
    void rejectsOverlongStrip() {
        QByteArray ihdr = be32(200000) + be32(1) + QByteArray("\x08\x02\x00\x00\x00", 5);
        const QByteArray strip =
            QByteArray("\x89PNG\r\n\x1a\n", 8) + pngChunk("IHDR", ihdr) +
            pngChunk("IDAT", QByteArray("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
            pngChunk("IEND", {});
        auto d = decodeImageData(strip, QStringLiteral("strip.png"));
        QVERIFY(!d.ok());
        QCOMPARE(d.error().code, Error::Code::Unsupported);
        QVERIFY2(d.error().message.contains(QLatin1String("200000 x 1")),
                 qPrintable(d.error().message));
    }

    // A GIF whose logical screen is wider than the side limit while its one frame is 1 x 1: Qt
    // reports the frame's size before decoding but returns an image of the screen's size, so the
    // limit must also hold for what was decoded (found by fuzz_image_decoder).
    void rejectsGifWiderThanItsFrame() {
        QByteArray gif("GIF89a", 6);
        gif += QByteArray("\x01\x94\x01\x00", 4); // logical screen 37889 x 1
        gif += QByteArray("\x80\x00\x00", 3);     // global colour table of 2 entries
        gif += QByteArray("\x00\x00\x00\xff\xff\xff", 6);
        gif += QByteArray("\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00", 10); // frame 1 x 1
        gif += QByteArray("\x02\x02\x44\x01\x00\x3b", 6);
        DecodeOptions options;
        options.maxSide = 20000;
        auto d = decodeImageData(gif, QStringLiteral("wide.gif"), options);
        if (d.ok())
            QVERIFY2(std::max(d->rgb.width(), d->rgb.height()) <= options.maxSide,
                     qPrintable(QStringLiteral("decoded %1 x %2 past the side limit")
                                    .arg(d->rgb.width())
                                    .arg(d->rgb.height())));
        else
            QVERIFY2(d.error().message.startsWith(QLatin1String("wide.gif")),
                     qPrintable(d.error().message));
    }

    // A real thin strip within the limits decodes and preprocesses (HF fails on it).
    void longStripIsIndexed() {
        QImage strip(30000, 2, QImage::Format_RGB888);
        strip.fill(QColor(200, 100, 50));
        auto d = decodeImageData(encode(strip, "png"), QStringLiteral("strip.png"));
        QVERIFY2(d.ok(), d.ok() ? "" : qPrintable(d.error().message));
        const ImageProcessor processor{ImageProcessorConfig{}};
        auto p = processor.process(d->rgb, false);
        QVERIFY(p.ok());
        QCOMPARE(p->rgb.size(), QSize(448, 32));
        QCOMPARE(p->rgb.pixelColor(100, 10), QColor(200, 100, 50));
    }

    void pixelLimitIsAnOption() {
        DecodeOptions small;
        small.maxPixels = 1000;
        auto d = decodeImageFile(fixture(QStringLiteral("photo_coffee.jpg")), small);
        QVERIFY(!d.ok());
        QCOMPARE(d.error().code, Error::Code::Unsupported);
        QVERIFY(d.error().message.contains(QLatin1String("240 x 240")));
    }

    // A few hundred mutated copies of the fixture files (deterministic): each must either decode to
    // a usable image or fail with an error naming it. Run under ASan/UBSan via
    // TOWERSEARCH_SANITIZE=ON.
    void survivesMutatedFiles() {
        const QStringList sources = {
            QStringLiteral("photo_coffee.jpg"),       QStringLiteral("syn_cmyk_240x40.jpg"),
            QStringLiteral("syn_exif6_240x40.jpg"),   QStringLiteral("photo_astronaut.png"),
            QStringLiteral("syn_palette_240x40.png"), QStringLiteral("syn_gray16_240x40.png"),
            QStringLiteral("syn_rgba_240x40.png")};
        // libjpeg/libpng complain loudly about every mutant; the outcome is what is checked here.
        QLoggingCategory::setFilterRules(QStringLiteral("qt.gui.imageio*=false"));
        QRandomGenerator rng(20261127);
        const ImageProcessor processor{ImageProcessorConfig{}};
        int decoded = 0, rejected = 0;
        const int perSource = 50;
        for (const QString &src : sources) {
            const QByteArray original = readAll(fixture(src));
            QVERIFY(!original.isEmpty());
            for (int i = 0; i < perSource; ++i) {
                QByteArray m = original;
                switch (rng.bounded(5)) {
                case 0: // flip a few bits anywhere
                    for (int k = 0, n = 1 + int(rng.bounded(8)); k < n; ++k)
                        m[int(rng.bounded(quint32(m.size())))] ^= char(1 << rng.bounded(8));
                    break;
                case 1: // overwrite bytes in the header region (sizes, tables, markers)
                    for (int k = 0, n = 1 + int(rng.bounded(6)); k < n; ++k)
                        m[int(rng.bounded(quint32(std::min<qsizetype>(m.size(), 400))))] =
                            char(rng.bounded(256));
                    break;
                case 2: // truncate
                    m.truncate(int(rng.bounded(quint32(m.size()))));
                    break;
                case 3: { // duplicate or delete a slice
                    const int at = int(rng.bounded(quint32(m.size())));
                    const int len =
                        int(rng.bounded(quint32(std::min<qsizetype>(m.size() - at, 64)) + 1));
                    if (rng.bounded(2))
                        m.insert(at, m.mid(at, len));
                    else
                        m.remove(at, len);
                    break;
                }
                default: // 0xFF / 0x00 runs (marker-like bytes)
                    for (int k = 0, at = int(rng.bounded(quint32(m.size())));
                         k < 16 && at + k < m.size(); ++k)
                        m[at + k] = rng.bounded(2) ? char(0xFF) : char(0);
                    break;
                }
                const QString name = QStringLiteral("mutant-%1-%2").arg(src).arg(i);
                auto d = decodeImageData(m, name);
                if (d.ok()) {
                    ++decoded;
                    QVERIFY(!d->rgb.isNull());
                    QCOMPARE(d->rgb.format(), QImage::Format_RGB888);
                    auto p = processor.process(d->rgb, true);
                    QVERIFY(p.ok());
                } else {
                    ++rejected;
                    QVERIFY2(d.error().message.startsWith(name), qPrintable(d.error().message));
                }
            }
        }
        QLoggingCategory::setFilterRules(QString());
        qInfo("mutated files: %d decoded, %d rejected with a named error", decoded, rejected);
        QCOMPARE(decoded + rejected, perSource * int(sources.size()));
    }

    // The JPEG reduced-scale fast path: measured against a full decode of the same file after
    // preprocessing, it must stay within 2 levels on 99% of pixels (the acceptance criterion).
    void reducedScaleJpegStaysClose() {
        const QImage photo = syntheticPhoto(3200, 2400, 7);
        const QByteArray jpeg = encode(photo, "jpeg", 92);
        DecodeOptions full;
        DecodeOptions fast;
        fast.targetShortestEdgeHint = QSize(288, 288);
        auto a = decodeImageData(jpeg, QStringLiteral("full"), full);
        auto b = decodeImageData(jpeg, QStringLiteral("fast"), fast);
        QVERIFY(a.ok() && b.ok());
        QVERIFY(!a->reducedScale);
        QVERIFY(b->reducedScale);
        QCOMPARE(b->storedSize, QSize(3200, 2400));
        QVERIFY(b->rgb.height() >= 288 * kReducedDecodeMargin);
        const ImageProcessor processor{ImageProcessorConfig{}};
        auto pa = processor.process(a->rgb, true);
        auto pb = processor.process(b->rgb, true);
        QVERIFY(pa.ok() && pb.ok());
        const DiffStats s = compareRgb(pa->rgb, pb->rgb);
        qInfo("JPEG fast path (decoded at %dx%d of 3200x2400): preprocessed max diff %d, %.3f%% "
              "within 1, "
              "%.4f%% within 2 levels (%lld of %lld values differ by more than 2)",
              b->rgb.width(), b->rgb.height(), s.maxDiff, 100 * s.fractionWithin(1),
              100 * s.fractionWithin(2), static_cast<long long>(s.over[2]),
              static_cast<long long>(s.count));
        QVERIFY(s.fractionWithin(2) >= 0.99);
    }

    void concurrentDecodes() {
        const QStringList files = {fixture(QStringLiteral("photo_coffee.jpg")),
                                   fixture(QStringLiteral("photo_chelsea.png")),
                                   fixture(QStringLiteral("syn_cmyk_240x40.jpg")),
                                   fixture(QStringLiteral("syn_palette_240x40.png"))};
        std::vector<QImage> reference;
        for (const QString &f : files)
            reference.push_back(decodeImageFile(f)->rgb);
        std::vector<int> good(4, 0);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 8; ++i) {
                    const int k = (t + i) % int(files.size());
                    auto d = decodeImageFile(files[k]);
                    good[size_t(t)] += d.ok() && d->rgb == reference[size_t(k)];
                }
            });
        for (auto &t : threads)
            t.join();
        for (int g : good)
            QCOMPARE(g, 8);
    }

private:
    std::vector<ImageFixtureDir> m_dirs;
    QImage m_chelsea;
};

int runImageDecoderTests(int argc, char **argv) {
    TestImageDecoder t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_imagedecoder.moc"
