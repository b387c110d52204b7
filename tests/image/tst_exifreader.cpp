// The one EXIF reader (core/image/exifreader): orientation, date taken and camera from every
// container, written by the test (tests/common/exifwriter.h) into real encoded images, and hostile
// blocks that must give "no value" without reading outside the input.
#include "core/image/exifreader.h"
#include "core/image/imagedecoder.h"
#include "exifwriter.h"
#include "testdata.h"

#include <QBuffer>
#include <QFile>
#include <QImage>
#include <QtTest>

using namespace ts;

namespace {

QByteArray encoded(const char *format, int width = 24, int height = 16) {
    QImage image(width, height, QImage::Format_RGB888);
    image.fill(QColor(40, 90, 160));
    image.setPixelColor(1, 1, Qt::yellow);
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    return image.save(&buffer, format, 90) ? bytes : QByteArray();
}

QByteArray smallHeic() {
    QFile f(test::dataDir(QStringLiteral("../fuzz/corpus/image_decoder/small.heic")));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

test::ExifFields fullFields(bool bigEndian) {
    test::ExifFields f;
    f.orientation = 6;
    f.make = "Canon";
    f.model = "Canon EOS R5";
    f.dateTime = "2022:01:02 03:04:05";
    f.dateTimeOriginal = "2021:06:15 14:30:09";
    f.bigEndian = bigEndian;
    return f;
}

QByteArray inContainer(const QString &container, const QByteArray &block) {
    if (container == QLatin1String("jpeg"))
        return test::jpegWithExif(encoded("JPEG"), block);
    if (container == QLatin1String("png"))
        return test::pngWithExif(encoded("PNG"), block);
    if (container == QLatin1String("png-after-idat"))
        return test::pngWithExif(encoded("PNG"), block, true);
    if (container == QLatin1String("webp"))
        return test::webpWithExif(encoded("WEBP"), block);
    if (container == QLatin1String("tiff"))
        return block; // a TIFF file is the block (no image: the reader needs none)
    if (container == QLatin1String("heif-minimal"))
        return test::minimalHeifWithExif(block);
    if (container == QLatin1String("heif-real"))
        return test::heifWithExif(smallHeic(), block);
    return {};
}

// The date the test wrote, built from its numbers (not by the parser under test).
QDateTime dateOf(int y, int mo, int d, int h, int mi, int s) {
    return QDateTime(QDate(y, mo, d), QTime(h, mi, s));
}

} // namespace

class TestExifReader : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readsEveryContainer_data();
    void readsEveryContainer();
    void decoderStillReadsTheOrientation_data();
    void decoderStillReadsTheOrientation();
    void malformedInputGivesNoValue_data();
    void malformedInputGivesNoValue();
    void everyPrefixOfAFileIsSafe();
    void fileTypeByContentAndExtension_data();
    void fileTypeByContentAndExtension();
};

void TestExifReader::readsEveryContainer_data() {
    QTest::addColumn<QString>("container");
    QTest::addColumn<bool>("bigEndian");
    QTest::addColumn<bool>("withExifIfd");
    QTest::addColumn<int>("orientation");
    QTest::addColumn<QDateTime>("taken");
    QTest::addColumn<QString>("make");
    QTest::addColumn<QString>("model");
    const QDateTime original = dateOf(2021, 6, 15, 14, 30, 9);
    const QDateTime ifd0Date = dateOf(2022, 1, 2, 3, 4, 5);
    for (const char *c :
         {"jpeg", "png", "png-after-idat", "webp", "tiff", "heif-minimal", "heif-real"}) {
        for (bool big : {false, true}) {
            QTest::newRow(
                qPrintable(QStringLiteral("%1 %2").arg(QLatin1String(c), big ? "MM" : "II")))
                << QString::fromLatin1(c) << big << true << 6 << original << QStringLiteral("Canon")
                << QStringLiteral("Canon EOS R5");
        }
        QTest::newRow(qPrintable(QStringLiteral("%1 DateTime only").arg(QLatin1String(c))))
            << QString::fromLatin1(c) << false << false << 6 << ifd0Date << QStringLiteral("Canon")
            << QStringLiteral("Canon EOS R5");
    }
}

void TestExifReader::readsEveryContainer() {
    QFETCH(QString, container);
    QFETCH(bool, bigEndian);
    QFETCH(bool, withExifIfd);
    QFETCH(int, orientation);
    QFETCH(QDateTime, taken);
    QFETCH(QString, make);
    QFETCH(QString, model);
    test::ExifFields fields = fullFields(bigEndian);
    if (!withExifIfd)
        fields.dateTimeOriginal.clear();
    const QByteArray file = inContainer(container, test::exifBlock(fields));
    QVERIFY2(!file.isEmpty(), "the test could not build the file");
    const ExifData exif = readExif(file);
    QVERIFY(exif.found);
    QCOMPARE(exif.orientation, orientation);
    QVERIFY(exif.dateTaken);
    QCOMPARE(*exif.dateTaken, taken);
    QCOMPARE(exif.make, make);
    QCOMPARE(exif.model, model);
    QCOMPARE(exif.afterImageData, container == QLatin1String("png-after-idat"));
}

void TestExifReader::decoderStillReadsTheOrientation_data() {
    // The decoder's orientation now comes from the reader: the same rules as before (PNG eXIf
    // after IDAT ignored as Pillow 9.4 does; HEIF's from libheif, which reads the item itself).
    QTest::addColumn<QString>("container");
    QTest::addColumn<int>("expected");
    QTest::newRow("jpeg") << QStringLiteral("jpeg") << 6;
    QTest::newRow("png") << QStringLiteral("png") << 6;
    QTest::newRow("png after IDAT") << QStringLiteral("png-after-idat") << 1;
    QTest::newRow("webp") << QStringLiteral("webp") << 6;
    QTest::newRow("heif (libheif reads the added item)") << QStringLiteral("heif-real") << 6;
}

void TestExifReader::decoderStillReadsTheOrientation() {
    QFETCH(QString, container);
    QFETCH(int, expected);
#ifndef TOWERSEARCH_HAVE_HEIF
    if (container.startsWith(QLatin1String("heif")))
        QSKIP("built without libheif: HEIF files cannot be decoded here");
#endif
    const QByteArray file = inContainer(container, test::exifBlock(fullFields(false)));
    const auto decoded = decodeImageData(file, container);
    QVERIFY2(decoded, decoded ? "" : qPrintable(decoded.error().message));
    QCOMPARE(decoded->exifOrientation, expected);
}

void TestExifReader::malformedInputGivesNoValue_data() {
    QTest::addColumn<QByteArray>("bytes");
    auto le16 = [](QByteArray &b, quint16 v) { b.append(char(v & 0xff)).append(char(v >> 8)); };
    auto le32 = [](QByteArray &b, quint32 v) {
        for (int i = 0; i < 4; ++i)
            b.append(char((v >> (8 * i)) & 0xff));
    };
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("garbage") << QByteArray("not an image at all, just some text", 35);
    QTest::newRow("tiff header only") << QByteArray("II*\0", 4);
    {
        QByteArray b("II*\0", 4);
        le32(b, 0xFFFFFFF0u); // IFD0 far past the end
        QTest::newRow("IFD0 offset past the end") << b;
    }
    {
        QByteArray b("II*\0", 4);
        le32(b, 8);
        le16(b, 0xFFFF); // 65535 entries claimed, one present
        le16(b, 0x010F);
        le16(b, 2);
        le32(b, 0xFFFFFFFFu); // ASCII count 4 G
        le32(b, 8);
        QTest::newRow("huge entry count and ASCII count") << b;
    }
    {
        // The Exif IFD pointer points back at IFD0 (a loop), whose only date entry is broken.
        QByteArray b("II*\0", 4);
        le32(b, 8);
        le16(b, 2);
        le16(b, 0x8769);
        le16(b, 4);
        le32(b, 1);
        le32(b, 8);
        le16(b, 0x9003);
        le16(b, 2);
        le32(b, 20);
        le32(b, 0x7FFFFFFFu);
        le32(b, 0);
        QTest::newRow("Exif IFD loops to IFD0") << b;
    }
    {
        QByteArray b("II*\0", 4);
        le32(b, 8);
        le16(b, 1);
        le16(b, 0x0132);
        le16(b, 2);
        le32(b, 20);
        le32(b, 26);
        le32(b, 0);
        b.append("9999:99:99 99:99:99", 20);
        QTest::newRow("impossible date") << b;
    }
    {
        QByteArray jpeg("\xff\xd8\xff\xe1\xff\xff"
                        "Exif\0\0"
                        "MM\0*",
                        16);
        QTest::newRow("jpeg APP1 longer than the file") << jpeg;
    }
    {
        QByteArray png("\x89PNG\r\n\x1a\n", 8);
        png.append("\x7f\xff\xff\xff"
                   "eXIf",
                   8);
        QTest::newRow("png chunk length huge") << png;
    }
    {
        QByteArray webp("RIFF\0\0\0\0WEBPEXIF\xff\xff\xff\xff"
                        "II*\0",
                        24);
        QTest::newRow("webp chunk length huge") << webp;
    }
    const QByteArray ftyp = test::isoBox("ftyp", QByteArray("heic\0\0\0\0mif1", 12));
    QTest::newRow("heif without meta") << ftyp + test::isoBox("mdat", "xxxx");
    {
        // A box whose 64-bit size claims exabytes.
        QByteArray huge("\0\0\0\x01meta\x7f\xff\xff\xff\xff\xff\xff\xff", 16);
        QTest::newRow("heif largesize huge") << ftyp + huge;
    }
    {
        // The Exif item's extent lies past the end of the file.
        QByteArray file = test::minimalHeifWithExif(test::exifBlock(fullFields(false)));
        const qsizetype iloc = file.indexOf("iloc");
        file[iloc + 4 + 14] = char(0x7f); // extent offset's high byte
        QTest::newRow("heif extent past the end") << file;
    }
    {
        // The item's header offset points past the item.
        QByteArray file = test::minimalHeifWithExif(test::exifBlock(fullFields(false)));
        const qsizetype mdat = file.indexOf("mdat");
        file[mdat + 4] = char(0x7f);
        QTest::newRow("heif item header offset past the item") << file;
    }
    {
        // iloc claims 65534 items, none of them the Exif item.
        QByteArray file = test::minimalHeifWithExif(test::exifBlock(fullFields(false)));
        const qsizetype iloc = file.indexOf("iloc");
        file[iloc + 4 + 6] = char(0xff);
        file[iloc + 4 + 7] = char(0xfe);
        file[iloc + 4 + 8] = char(0x7f); // item_ID
        QTest::newRow("heif iloc huge item count") << file;
    }
}

void TestExifReader::malformedInputGivesNoValue() {
    QFETCH(QByteArray, bytes);
    // An exact-size heap copy, so a sanitizer build sees any read past the end.
    const std::unique_ptr<char[]> copy(new char[size_t(bytes.size()) + 1]);
    std::memcpy(copy.get(), bytes.constData(), size_t(bytes.size()));
    const QByteArrayView view(copy.get(), bytes.size());
    for (const ExifData &exif : {readExif(view), readExifBlock(view)}) {
        QCOMPARE(exif.orientation, 1);
        QVERIFY(!exif.dateTaken);
        QVERIFY(exif.make.isEmpty());
        QVERIFY(exif.model.isEmpty());
    }
}

void TestExifReader::everyPrefixOfAFileIsSafe() {
    // A file cut anywhere (a head read, a truncated download): never a crash; what is read is
    // either absent or right.
    // A cut between the two dates leaves IFD0's DateTime: either date written is right.
    const test::ExifFields fields = fullFields(false);
    const QDateTime original = dateOf(2021, 6, 15, 14, 30, 9);
    const QDateTime ifd0Date = dateOf(2022, 1, 2, 3, 4, 5);
    for (const char *c : {"jpeg", "png", "webp", "heif-minimal"}) {
        const QByteArray file = inContainer(QString::fromLatin1(c), test::exifBlock(fields));
        for (qsizetype n = 0; n <= file.size(); ++n) {
            const std::unique_ptr<char[]> copy(new char[size_t(n) + 1]);
            std::memcpy(copy.get(), file.constData(), size_t(n));
            const ExifData exif = readExif(QByteArrayView(copy.get(), n));
            QVERIFY(exif.orientation == 1 || exif.orientation == 6);
            QVERIFY(!exif.dateTaken || *exif.dateTaken == original || *exif.dateTaken == ifd0Date);
            QVERIFY(exif.make.isEmpty() || exif.make == QLatin1String("Canon"));
        }
    }
}

void TestExifReader::fileTypeByContentAndExtension_data() {
    QTest::addColumn<QByteArray>("head");
    QTest::addColumn<QString>("byContent");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("byExtension");
    QTest::newRow("jpeg") << encoded("JPEG") << "jpeg"
                          << "IMG_1.JPG"
                          << "jpeg";
    QTest::newRow("png") << encoded("PNG") << "png"
                         << "a.png"
                         << "png";
    QTest::newRow("webp") << encoded("WEBP") << "webp"
                          << "a.webp"
                          << "webp";
    // Qt writes no GIF: a GIF89a header (1x1) is enough for recognition.
    QTest::newRow("gif") << QByteArray("GIF89a\x01\0\x01\0\0\0\0", 13) << "gif"
                         << "a.gif"
                         << "gif";
    QTest::newRow("bmp") << encoded("BMP") << "bmp"
                         << "a.bmp"
                         << "bmp";
    QTest::newRow("tiff") << encoded("TIFF") << "tiff"
                          << "scan.tif"
                          << "tiff";
    QTest::newRow("heic (real file)") << smallHeic() << "heic"
                                      << "IMG_2.HEIF"
                                      << "heic";
    QTest::newRow("jpe") << QByteArray() << ""
                         << "old.jpe"
                         << "jpeg";
    QTest::newRow("unknown content, no extension") << QByteArray("hello") << ""
                                                   << "README"
                                                   << "";
    {
        QFile f(test::dataDir(QStringLiteral("../fuzz/corpus/image_decoder/small.avif")));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QTest::newRow("avif") << f.readAll() << "avif"
                              << "x.avif"
                              << "avif";
    }
}

void TestExifReader::fileTypeByContentAndExtension() {
    QFETCH(QByteArray, head);
    QFETCH(QString, byContent);
    QFETCH(QString, name);
    QFETCH(QString, byExtension);
    QCOMPARE(imageFileType(head.left(32)), byContent);
    QCOMPARE(fileTypeForExtension(name), byExtension);
}

int runExifReaderTests(int argc, char **argv) {
    TestExifReader t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_exifreader.moc"
