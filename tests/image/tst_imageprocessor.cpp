// Parity of the BridgeTower preprocessing with Hugging Face (transformers 4.47 + Pillow 9.4), entry
// by entry of tests/data/images/manifest.json (and $TOWERSEARCH_IMAGE_FIXTURES).
#include "imagetestutil.h"
#include "testdata.h"

#include "core/image/exiforientation.h"
#include "core/image/imagedecoder.h"
#include "core/image/imageprocessor.h"
#include "core/image/pilresize.h"

#include <QDir>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

using namespace ts;
using namespace ts::test;

namespace {

struct Variant {
    QString processor; // "" = default config, "se294" = shortest edge 294, ...
    bool crop = false;
    bool loadImage = false; // EXIF orientation applied (HF's load_image)
    bool channelsLast = false;
};

Variant parseVariant(const QString &key) {
    Variant v;
    const QStringList parts = key.split(QLatin1Char('.'));
    v.crop = parts.last() == QLatin1String("crop");
    for (int i = 0; i + 1 < parts.size(); ++i) {
        if (parts[i] == QLatin1String("load_image"))
            v.loadImage = true;
        else if (parts[i] == QLatin1String("channels_last"))
            v.channelsLast = true;
        else if (parts[i].startsWith(QLatin1String("se")))
            v.processor = parts[i];
    }
    return v;
}

ImageProcessorConfig configFor(const QString &dir, const QString &processor) {
    auto base = ImageProcessorConfig::load(dir + QStringLiteral("/preprocessor_config.json"));
    ImageProcessorConfig c = base ? *base : ImageProcessorConfig{};
    if (processor.startsWith(QLatin1String("se"))) {
        bool ok = false;
        const int se = processor.mid(2).toInt(&ok);
        if (ok) {
            c.shortestEdge = se;
            c.cropHeight = c.cropWidth = se;
        }
    }
    return c;
}

// The reference's decoded RGB for an image: decoded_rgb where stored, else our own PNG decode
// (exact for PNG, checked in tst_imagedecoder), before any EXIF orientation.
QImage referenceInput(const QString &dir, const SafetensorsFile &st, const nlohmann::json &image) {
    const std::string name = image["name"].get<std::string>();
    if (const TensorView *t = st.find(name + ".decoded_rgb"))
        return imageFromHwc(*t);
    DecodeOptions opt;
    opt.applyExifOrientation = false;
    auto d = decodeImageFile(
        dir + QLatin1Char('/') + QString::fromStdString(image["file"].get<std::string>()), opt);
    return d ? d->rgb : QImage();
}

bool isVariantKey(const std::string &key, const nlohmann::json &value) {
    return value.is_object() && value.contains("ok") && key.rfind("as_opened", 0) != 0;
}

// float32 comparison in ulps (both finite).
int64_t ulpDistance(float a, float b) {
    int32_t ia, ib;
    std::memcpy(&ia, &a, 4);
    std::memcpy(&ib, &b, 4);
    if (ia < 0)
        ia = int32_t(0x80000000u - uint32_t(ia));
    if (ib < 0)
        ib = int32_t(0x80000000u - uint32_t(ib));
    return std::llabs(int64_t(ia) - int64_t(ib));
}

// The NOTES' exact encoding of HF's float output from its uint8 image.
float hfFloat(uint8_t v, int c) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    const float x = float(double(v) * (1.0 / 255.0));
    return (x - mean[c]) / stdv[c];
}

} // namespace

class TestImageProcessor : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        m_dirs = imageFixtureDirs();
        QVERIFY2(!m_dirs.empty(), "no image fixtures found");
        for (const auto &d : m_dirs) {
            auto st = SafetensorsFile::open(d.path + QStringLiteral("/expected.safetensors"));
            QVERIFY2(st.ok(), st.ok() ? "" : qPrintable(st.error().message));
            m_tensors.push_back(std::make_shared<SafetensorsFile>(std::move(st).value()));
        }
    }

    void resizeOutputSize_data() {
        QTest::addColumn<QSize>("in");
        QTest::addColumn<int>("shortestEdge");
        QTest::addColumn<QSize>("expected");
        QTest::addColumn<bool>("adjusted");
        QTest::newRow("landscape 400x266 -> 416x288")
            << QSize(400, 266) << 288 << QSize(416, 288) << false;
        QTest::newRow("square 256 upscaled") << QSize(256, 256) << 288 << QSize(288, 288) << false;
        QTest::newRow("wide 600x40 hits the long-side cap")
            << QSize(600, 40) << 288 << QSize(448, 32) << false;
        QTest::newRow("tall 40x600") << QSize(40, 600) << 288 << QSize(32, 448) << false;
        QTest::newRow("se294 floors back to 288")
            << QSize(256, 256) << 294 << QSize(288, 288) << false;
        QTest::newRow("se294 wide cap 489 -> 480")
            << QSize(600, 40) << 294 << QSize(480, 32) << false;
        QTest::newRow("12 MP photo 4000x3000")
            << QSize(4000, 3000) << 288 << QSize(384, 288) << false;
        QTest::newRow("portrait phone 3024x4032")
            << QSize(3024, 4032) << 288 << QSize(288, 384) << false;
        // HF raises "height and width must be > 0" for these; our rule gives the divisor instead.
        QTest::newRow("thin 30x700 (HF fails)") << QSize(30, 700) << 288 << QSize(32, 448) << true;
        QTest::newRow("3-pixel strip 200x3 (HF fails)")
            << QSize(200, 3) << 288 << QSize(448, 32) << true;
        QTest::newRow("1-pixel column 1x150 (HF fails)")
            << QSize(1, 150) << 288 << QSize(32, 448) << true;
        QTest::newRow("panorama 20000x600 (HF fails)")
            << QSize(20000, 600) << 288 << QSize(448, 32) << true;
        QTest::newRow("1x1") << QSize(1, 1) << 288 << QSize(288, 288) << false;
    }
    void resizeOutputSize() {
        QFETCH(QSize, in);
        QFETCH(int, shortestEdge);
        QFETCH(QSize, expected);
        QFETCH(bool, adjusted);
        bool wasAdjusted = false;
        QCOMPARE(ImageProcessor::resizeOutputSize(in, shortestEdge, 32, &wasAdjusted), expected);
        QCOMPARE(wasAdjusted, adjusted);
    }

    // Every stored entry: resampling fed with the reference's decoded RGB must reproduce
    // pixel_values_u8 exactly (0 levels), the float tensor bit for bit, and the all-ones mask.
    void manifestEntry_data() {
        QTest::addColumn<int>("dirIndex");
        QTest::addColumn<QString>("image");
        QTest::addColumn<QString>("variant");
        for (size_t i = 0; i < m_dirs.size(); ++i)
            for (const auto &image : m_dirs[i].manifest["images"])
                for (const auto &[key, value] : image.items())
                    if (isVariantKey(key, value) && value["ok"].get<bool>() &&
                        value.contains("stored_as")) {
                        const QString name =
                            QString::fromStdString(image["name"].get<std::string>());
                        const QString variant = QString::fromStdString(key);
                        QTest::newRow(
                            qPrintable(QStringLiteral("%1 %2 [%3]").arg(name, variant).arg(i)))
                            << int(i) << name << variant;
                    }
    }
    void manifestEntry() {
        QFETCH(int, dirIndex);
        QFETCH(QString, image);
        QFETCH(QString, variant);
        const ImageFixtureDir &dir = m_dirs[size_t(dirIndex)];
        const SafetensorsFile &st = *m_tensors[size_t(dirIndex)];
        const nlohmann::json *entry = findImage(dir, image);
        QVERIFY(entry);
        const Variant v = parseVariant(variant);

        QImage input = referenceInput(dir.path, st, *entry);
        QVERIFY(!input.isNull());
        if (v.loadImage) {
            const auto &o = (*entry)["exif_orientation"];
            input = ExifOrientation::apply(input, o.is_number_integer() ? o.get<int>() : 1);
        }
        const ImageProcessor processor(configFor(dir.path, v.processor));
        auto out = processor.process(input, v.crop);
        QVERIFY2(out.ok(), out.ok() ? "" : qPrintable(out.error().message));
        checkAgainstExpected(st, (*entry)[variant.toStdString()],
                             image + QLatin1Char('.') + variant, *out);
    }

    // Our decoder + processor end to end, against the same tensors: exact for PNG inputs. JPEG
    // entries are measured (decoders differ slightly) and reported.
    void endToEnd_data() { manifestEntry_data(); }
    void endToEnd() {
        QFETCH(int, dirIndex);
        QFETCH(QString, image);
        QFETCH(QString, variant);
        const ImageFixtureDir &dir = m_dirs[size_t(dirIndex)];
        const SafetensorsFile &st = *m_tensors[size_t(dirIndex)];
        const nlohmann::json *entry = findImage(dir, image);
        QVERIFY(entry);
        const Variant v = parseVariant(variant);
        const QString file = dir.path + QLatin1Char('/') +
                             QString::fromStdString((*entry)["file"].get<std::string>());
        DecodeOptions opt;
        opt.applyExifOrientation = v.loadImage;
        auto decoded = decodeImageFile(file, opt);
        QVERIFY2(decoded.ok(), decoded.ok() ? "" : qPrintable(decoded.error().message));
        const ImageProcessor processor(configFor(dir.path, v.processor));
        auto out = processor.process(decoded->rgb, v.crop);
        QVERIFY(out.ok());
        const std::string prefix = (image + QLatin1Char('.') + variant).toStdString();
        const bool jpeg = file.endsWith(QLatin1String(".jpg"), Qt::CaseInsensitive) ||
                          file.endsWith(QLatin1String(".jpeg"), Qt::CaseInsensitive);
        const TensorView *u8 = st.find(prefix + ".pixel_values_u8");
        if (!u8) {
            // Only the float tensor is stored: a lossless input must reproduce it bit for bit.
            if (jpeg)
                QSKIP("float-only JPEG entry: decoder tolerance cannot be expressed in float ulps");
            checkAgainstExpected(st, (*entry)[variant.toStdString()],
                                 image + QLatin1Char('.') + variant, *out);
            return;
        }
        const QImage expected = imageFromChw(*u8);
        QCOMPARE(out->rgb.size(), expected.size());
        const DiffStats s = compareRgb(out->rgb, expected);
        qInfo("end to end %s: max diff %d levels, %.4f%% of values differ, %.4f%% within 2 levels",
              prefix.c_str(), s.maxDiff, 100.0 * (1.0 - s.fractionWithin(0)),
              100.0 * s.fractionWithin(2));
        if (jpeg)
            QVERIFY2(s.fractionWithin(2) >= 0.999,
                     "JPEG pipeline differs by more than 2 levels on 0.1% of values");
        else
            QCOMPARE(s.maxDiff, 0);
    }

    // Entries where HF raised: we must produce a sensible input instead (documented rule in
    // ImageProcessor::resizeOutputSize). Where HF succeeded with channels_last for the same image,
    // we must equal that output exactly.
    void referenceFailure_data() {
        QTest::addColumn<int>("dirIndex");
        QTest::addColumn<QString>("image");
        QTest::addColumn<QString>("variant");
        for (size_t i = 0; i < m_dirs.size(); ++i)
            for (const auto &image : m_dirs[i].manifest["images"])
                for (const auto &[key, value] : image.items())
                    if (isVariantKey(key, value) && !value["ok"].get<bool>()) {
                        const QString name =
                            QString::fromStdString(image["name"].get<std::string>());
                        const QString variant = QString::fromStdString(key);
                        QTest::newRow(qPrintable(
                            QStringLiteral("%1 %2 (HF: %3) [%4]")
                                .arg(name, variant,
                                     QString::fromStdString(value.value("error", std::string()))
                                         .left(40))
                                .arg(i)))
                            << int(i) << name << variant;
                    }
    }
    void referenceFailure() {
        QFETCH(int, dirIndex);
        QFETCH(QString, image);
        QFETCH(QString, variant);
        const ImageFixtureDir &dir = m_dirs[size_t(dirIndex)];
        const SafetensorsFile &st = *m_tensors[size_t(dirIndex)];
        const nlohmann::json *entry = findImage(dir, image);
        QVERIFY(entry);
        const Variant v = parseVariant(variant);
        QImage input = referenceInput(dir.path, st, *entry);
        QVERIFY(!input.isNull());
        const ImageProcessorConfig config = configFor(dir.path, v.processor);
        const ImageProcessor processor(config);
        auto out = processor.process(input, v.crop);
        QVERIFY2(out.ok(), out.ok() ? "" : qPrintable(out.error().message));

        const QSize resized =
            ImageProcessor::resizeOutputSize(input.size(), config.shortestEdge, config.sizeDivisor);
        const QSize expectedSize = v.crop ? QSize(config.cropWidth, config.cropHeight) : resized;
        QCOMPARE(out->rgb.size(), expectedSize);
        QCOMPARE(out->pixelValues.shape,
                 (std::vector<int64_t>{3, expectedSize.height(), expectedSize.width()}));
        for (float f : out->pixelValues.data)
            QVERIFY(std::isfinite(f));

        // Where HF produced this image with channels_last, that is the answer.
        const QString twin =
            QStringLiteral("channels_last.") + variant.split(QLatin1Char('.')).last();
        const auto &twinEntry = (*entry)[twin.toStdString()];
        if (!v.channelsLast && twinEntry.is_object() && twinEntry.value("ok", false) &&
            twinEntry.contains("stored_as")) {
            checkAgainstExpected(st, twinEntry, image + QLatin1Char('.') + twin, *out);
            return;
        }
        // Otherwise: the resized image keeps the content (mean colour within 3 levels of the
        // input's), and the crop is the centre of it.
        auto resizedOnly = processor.process(input, false);
        QVERIFY(resizedOnly.ok());
        for (int c = 0; c < 3; ++c) {
            const double a = meanChannel(input, c);
            const double b = meanChannel(resizedOnly->rgb, c);
            QVERIFY2(std::abs(a - b) < 3.0,
                     qPrintable(QStringLiteral("channel %1 mean %2 -> %3").arg(c).arg(a).arg(b)));
        }
        if (v.crop)
            QCOMPARE(out->rgb, ImageProcessor::centerCrop(resizedOnly->rgb, expectedSize));
    }

    void batchPadding_data() {
        QTest::addColumn<int>("dirIndex");
        for (size_t i = 0; i < m_dirs.size(); ++i)
            if (m_dirs[i].manifest.contains("batch.nocrop"))
                QTest::newRow(qPrintable(QStringLiteral("batch.nocrop [%1]").arg(i))) << int(i);
    }
    void batchPadding() {
        QFETCH(int, dirIndex);
        const ImageFixtureDir &dir = m_dirs[size_t(dirIndex)];
        const SafetensorsFile &st = *m_tensors[size_t(dirIndex)];
        const auto &batch = dir.manifest["batch.nocrop"];
        const ImageProcessor processor(configFor(dir.path, {}));
        std::vector<ProcessedImage> images;
        for (const auto &n : batch["images_in_order"]) {
            const nlohmann::json *entry =
                findImage(dir, QString::fromStdString(n.get<std::string>()));
            QVERIFY(entry);
            auto p = processor.process(referenceInput(dir.path, st, *entry), false);
            QVERIFY(p.ok());
            images.push_back(std::move(p).value());
        }
        const ProcessedBatch b = ImageProcessor::pad(images);
        const TensorView *u8 = st.find("batch.nocrop.pixel_values_u8");
        const TensorView *mask = st.find("batch.nocrop.pixel_mask");
        QVERIFY(u8 && mask);
        QCOMPARE(b.pixelValues.shape, u8->shape);
        const std::vector<int64_t> maskValues = mask->toInt64();
        QCOMPARE(b.pixelMask.size(), maskValues.size());
        for (size_t i = 0; i < maskValues.size(); ++i)
            QCOMPARE(int(b.pixelMask[i]), int(maskValues[i]));
        const auto *ref = reinterpret_cast<const uint8_t *>(u8->data);
        const int64_t plane = u8->shape[2] * u8->shape[3];
        for (int64_t i = 0; i < b.pixelValues.numel(); ++i) {
            const int64_t img = i / (3 * plane);
            const int c = int((i / plane) % 3);
            const bool valid = b.pixelMask[size_t(img * plane + i % plane)] != 0;
            const float expected = valid ? hfFloat(ref[i], c) : 0.0f;
            if (b.pixelValues.data[size_t(i)] != expected)
                QFAIL(qPrintable(QStringLiteral("value %1 differs: %2 vs %3")
                                     .arg(i)
                                     .arg(b.pixelValues.data[size_t(i)])
                                     .arg(expected)));
        }
    }

    void centerCropPadsOddRowsTopLeft() {
        QImage img(3, 2, QImage::Format_RGB888);
        img.fill(QColor(10, 20, 30));
        const QImage out = ImageProcessor::centerCrop(img, QSize(6, 5));
        QCOMPARE(out.size(), QSize(6, 5));
        // ceil((5-2)/2) = 2 rows on top, ceil((6-3)/2) = 2 columns on the left.
        QCOMPARE(out.pixelColor(1, 1), QColor(0, 0, 0));
        QCOMPARE(out.pixelColor(2, 2), QColor(10, 20, 30));
        QCOMPARE(out.pixelColor(4, 3), QColor(10, 20, 30));
        QCOMPARE(out.pixelColor(5, 4), QColor(0, 0, 0));
        QCOMPARE(out.pixelColor(2, 4), QColor(0, 0, 0));
    }

    void resamplerKeepsSizeAsCopy() {
        QImage img(5, 4, QImage::Format_RGB888);
        img.fill(QColor(1, 2, 3));
        const QImage out = resizeBicubicPil(img, QSize(5, 4));
        QCOMPARE(out, img);
        QVERIFY(resizeBicubicPil(img, QSize(0, 4)).isNull());
        QVERIFY(resizeBicubicPil(QImage(), QSize(4, 4)).isNull());
    }

    void processRejectsNullImage() {
        const ImageProcessor processor{ImageProcessorConfig{}};
        auto out = processor.process(QImage());
        QVERIFY(!out.ok());
        QCOMPARE(out.error().code, Error::Code::InvalidArgument);
    }

    void processFileGivesModelInput() {
        const ImageProcessor processor{ImageProcessorConfig{}};
        auto out = processor.processFile(dataDir(QStringLiteral("images/syn_exif6_240x40.jpg")));
        QVERIFY2(out.ok(), out.ok() ? "" : qPrintable(out.error().message));
        QCOMPARE(out->pixelValues.shape, (std::vector<int64_t>{3, 288, 288}));
        auto missing = processor.processFile(QStringLiteral("/nonexistent/photo.jpg"));
        QVERIFY(!missing.ok());
        QVERIFY(missing.error().message.contains(QLatin1String("/nonexistent/photo.jpg")));
    }

    void concurrentUseGivesSameResult() {
        const ImageProcessor processor{ImageProcessorConfig{}};
        const QString file = dataDir(QStringLiteral("images/photo_chelsea.png"));
        auto reference = processor.processFile(file);
        QVERIFY(reference.ok());
        std::vector<std::thread> threads;
        std::vector<int> same(4, 0);
        for (size_t t = 0; t < same.size(); ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 3; ++i) {
                    auto r = processor.processFile(file);
                    same[t] += r.ok() && r->pixelValues.data == reference->pixelValues.data;
                }
            });
        for (auto &t : threads)
            t.join();
        for (int s : same)
            QCOMPARE(s, 3);
    }

    void config_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<int>("shortestEdge");
        QTest::addColumn<int>("cropWidth");
        QTest::newRow("empty object: HF defaults") << QByteArray("{}") << 288 << 288;
        QTest::newRow("bridgetower-large size")
            << QByteArray(R"({"size": {"shortest_edge": 294}})") << 294 << 294;
        QTest::newRow("size as integer") << QByteArray(R"({"size": 384})") << 384 << 384;
        QTest::newRow("crop_size height/width")
            << QByteArray(R"({"crop_size": {"height": 200, "width": 300}})") << 288 << 300;
        QTest::newRow("crop_size null falls back to size")
            << QByteArray(R"({"size": {"shortest_edge": 294}, "crop_size": null})") << 294 << 294;
    }
    void config() {
        QFETCH(QByteArray, json);
        QFETCH(int, shortestEdge);
        QFETCH(int, cropWidth);
        auto c = ImageProcessorConfig::fromJson(nlohmann::json::parse(json.toStdString()),
                                                QStringLiteral("cfg.json"));
        QVERIFY2(c.ok(), c.ok() ? "" : qPrintable(c.error().message));
        QCOMPARE(c->shortestEdge, shortestEdge);
        QCOMPARE(c->cropWidth, cropWidth);
        QCOMPARE(c->sizeDivisor, 32);
        QCOMPARE(c->resample, 3);
    }

    void loadsFixtureConfig() {
        auto c =
            ImageProcessorConfig::load(dataDir(QStringLiteral("images/preprocessor_config.json")));
        QVERIFY(c.ok());
        QCOMPARE(c->shortestEdge, 288);
        QCOMPARE(c->rescaleFactor, 1.0 / 255.0);
        QCOMPARE(c->imageStd[2], 0.27577711);
        QVERIFY(c->doPad);
    }

    void badConfig_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("key");
        QTest::newRow("negative divisor")
            << QByteArray(R"({"size_divisor": -1})") << "size_divisor";
        QTest::newRow("size height/width")
            << QByteArray(R"({"size": {"height": 1, "width": 2}})") << "size";
        QTest::newRow("lanczos") << QByteArray(R"({"resample": 1})") << "resample";
        QTest::newRow("std with a zero")
            << QByteArray(R"({"image_std": [0.2, 0, 0.3]})") << "image_std";
        QTest::newRow("mean of 2") << QByteArray(R"({"image_mean": [0.2, 0.3]})") << "image_mean";
        QTest::newRow("do_pad as string") << QByteArray(R"({"do_pad": "yes"})") << "do_pad";
        QTest::newRow("huge edge")
            << QByteArray(R"({"size": {"shortest_edge": 100000}})") << "size.shortest_edge";
        QTest::newRow("not an object") << QByteArray(R"([1, 2])") << "";
    }
    void badConfig() {
        QFETCH(QByteArray, json);
        QFETCH(QString, key);
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("preprocessor_config.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(json);
        f.close();
        auto c = ImageProcessorConfig::load(path);
        QVERIFY(!c.ok());
        QVERIFY2(c.error().message.contains(path), qPrintable(c.error().message));
        QVERIFY2(c.error().message.contains(QLatin1Char('\'') + key + QLatin1Char('\'')) ||
                     key.isEmpty(),
                 qPrintable(c.error().message));
        auto missing = ImageProcessorConfig::load(tmp.filePath(QStringLiteral("nope.json")));
        QVERIFY(!missing.ok());
        QVERIFY(missing.error().message.contains(QLatin1String("nope.json")));
    }

    // JSON nested deeper than the 64-level limit is refused while parsing, before it is built.
    void refusesDeeplyNestedConfig() {
        QTemporaryDir tmp;
        const QString path = tmp.filePath(QStringLiteral("preprocessor_config.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("{\"do_pad\": true, \"x\": " + QByteArray(65, '[') + QByteArray(65, ']') + "}");
        f.close();
        auto c = ImageProcessorConfig::load(path);
        QVERIFY(!c.ok());
        QVERIFY2(c.error().message.contains(path), qPrintable(c.error().message));
        QVERIFY2(c.error().message.contains(QStringLiteral("64 levels")),
                 qPrintable(c.error().message));
    }

private:
    const nlohmann::json *findImage(const ImageFixtureDir &dir, const QString &name) const {
        for (const auto &image : dir.manifest["images"])
            if (QString::fromStdString(image["name"].get<std::string>()) == name)
                return &image;
        return nullptr;
    }

    static double meanChannel(const QImage &img, int c) {
        double sum = 0;
        for (int y = 0; y < img.height(); ++y)
            for (int x = 0; x < img.width(); ++x)
                sum += img.constScanLine(y)[3 * x + c];
        return sum / (double(img.width()) * img.height());
    }

    void checkAgainstExpected(const SafetensorsFile &st, const nlohmann::json &entry,
                              const QString &prefix, const ProcessedImage &out) {
        const std::string p = prefix.toStdString();
        const auto &shape = entry["pixel_values_shape"];
        QCOMPARE(out.pixelValues.shape,
                 (std::vector<int64_t>{shape[1].get<int64_t>(), shape[2].get<int64_t>(),
                                       shape[3].get<int64_t>()}));
        if (const TensorView *mask = st.find(p + ".pixel_mask")) {
            const ProcessedBatch b = ImageProcessor::pad({out});
            const std::vector<int64_t> m = mask->toInt64();
            QCOMPARE(b.pixelMask.size(), m.size());
            for (size_t i = 0; i < m.size(); ++i)
                QCOMPARE(int(b.pixelMask[i]), int(m[i]));
        }
        if (const TensorView *u8 = st.find(p + ".pixel_values_u8")) {
            const QImage expected = imageFromChw(*u8);
            QCOMPARE(out.rgb.size(), expected.size());
            const DiffStats s = compareRgb(out.rgb, expected);
            QVERIFY2(s.maxDiff == 0,
                     qPrintable(QStringLiteral("%1: max diff %2 levels, %3 values differ")
                                    .arg(prefix)
                                    .arg(s.maxDiff)
                                    .arg(s.over[0])));
            // The float tensor is HF's exact encoding of those bytes.
            const auto *ref = reinterpret_cast<const uint8_t *>(u8->data);
            const int64_t plane = u8->shape[2] * u8->shape[3];
            for (int64_t i = 0; i < out.pixelValues.numel(); ++i)
                if (out.pixelValues.data[size_t(i)] != hfFloat(ref[i], int(i / plane)))
                    QFAIL(qPrintable(
                        QStringLiteral("%1: float value %2 is not HF's").arg(prefix).arg(i)));
        }
        if (const TensorView *f = st.find(p + ".pixel_values")) {
            const std::vector<float> expected = f->toFloat32();
            QCOMPARE(size_t(out.pixelValues.numel()), expected.size());
            int64_t worst = 0;
            for (size_t i = 0; i < expected.size(); ++i)
                worst = std::max(worst, ulpDistance(out.pixelValues.data[i], expected[i]));
            qInfo("%s: float32 max distance %lld ulp", p.c_str(), static_cast<long long>(worst));
            QVERIFY2(worst <= 1, "float pixel_values differ by more than 1 ulp");
        }
    }

    std::vector<ImageFixtureDir> m_dirs;
    std::vector<std::shared_ptr<SafetensorsFile>> m_tensors;
};

int runImageProcessorTests(int argc, char **argv) {
    TestImageProcessor t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_imageprocessor.moc"
