// Writes the seed corpus of every fuzz target (tests/fuzz/corpus/<target>/) from the fixtures in
// tests/data and from small files made here with the project's own writers (safetensors, torch.save
// zips, vector indexes) and Qt's / libheif's image encoders. Not part of the normal build:
//   ninja -C build fuzz_make_seeds && build/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
// Seeds are kept small (a few KB each) so that fuzzing with -max_len stays fast.

#include "../model/torchsavewriter.h"
#include "core/common/safetensorsfile.h"
#include "core/index/vectorindex.h"
#include "fuzzinput.h"

#include <QBuffer>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QGuiApplication>
#include <QImage>
#include <QImageWriter>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPainter>
#include <QtEndian>

#ifdef TOWERSEARCH_HAVE_HEIF
#include <libheif/heif.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

QDir g_out;
const QString kData = QStringLiteral(TOWERSEARCH_TEST_DATA_DIR);
const QByteArray kSeparator = QByteArrayLiteral("\n--8<--\n");

void die(const QString &why) {
    std::fprintf(stderr, "make_seeds: %s\n", qPrintable(why));
    std::exit(1);
}

void put(const QString &target, const QString &name, const QByteArray &bytes) {
    g_out.mkpath(target);
    QFile f(g_out.filePath(target + QLatin1Char('/') + name));
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(bytes) != bytes.size())
        die(QStringLiteral("cannot write %1").arg(f.fileName()));
}

QByteArray readFile(const QString &path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        die(QStringLiteral("cannot read %1").arg(path));
    return f.readAll();
}

void copyFixture(const QString &target, const QString &name, const QString &relPath) {
    put(target, name, readFile(kData + QLatin1Char('/') + relPath));
}

// --- safetensors --------------------------------------------------------------------------------

void safetensorsSeeds() {
    std::vector<float> f32(24);
    for (size_t i = 0; i < f32.size(); ++i)
        f32[i] = float(i) * 0.5f - 3.0f;
    const std::vector<uint16_t> f16{0x3c00, 0xbc00, 0x7bff, 0x0001, 0x7c00, 0x7e00};
    const std::vector<uint16_t> bf16{0x3f80, 0xbf80, 0x7f80, 0x0001};
    const std::vector<int64_t> i64{0, 1, 2, 3, 4, 5, 6, 7};
    const std::vector<uint8_t> u8{0, 1, 255, 7};
    const std::vector<double> f64{1.5, -2.25};
    const std::vector<int32_t> i32{-1, 2, 3};
    auto write = [&](const QString &name, const std::vector<ts::TensorToWrite> &tensors,
                     const std::map<std::string, std::string> &metadata) {
        const QString tmp = QDir::temp().filePath(QStringLiteral("make-seeds.safetensors"));
        if (const ts::Status s = ts::writeSafetensors(tmp, tensors, metadata); !s)
            die(s.error().message);
        put(QStringLiteral("safetensors"), name, readFile(tmp));
        QFile::remove(tmp);
    };
    write(
        QStringLiteral("all-dtypes.safetensors"),
        {{"text_model.embeddings.word_embeddings.weight",
          ts::DType::F32,
          {4, 6},
          f32.data(),
          f32.size() * 4},
         {"vision_model.visual.ln_post.weight", ts::DType::F16, {6}, f16.data(), f16.size() * 2},
         {"cross_modal_text_pooler.dense.bias",
          ts::DType::BF16,
          {2, 2},
          bf16.data(),
          bf16.size() * 2},
         {"text_model.embeddings.position_ids", ts::DType::I64, {1, 8}, i64.data(), i64.size() * 8},
         {"mask", ts::DType::U8, {4}, u8.data(), u8.size()},
         {"flags", ts::DType::Bool, {2, 1}, u8.data(), 2},
         {"logit_scale", ts::DType::F64, {2}, f64.data(), f64.size() * 8},
         {"counts", ts::DType::I32, {3}, i32.data(), i32.size() * 4},
         {"scalar", ts::DType::F32, {}, f32.data(), 4},
         {"empty", ts::DType::F32, {0, 3}, nullptr, 0}},
        {{"format", "pt"}});
    write(QStringLiteral("one-tensor.safetensors"),
          {{"itc_text_head.weight", ts::DType::F32, {2, 3}, f32.data(), 24}}, {});
    // The fixture's real header (hundreds of tensor names and shapes), without its data: open()
    // refuses it (ranges past the end), mutations of it reach the rest.
    const QByteArray real = readFile(kData + QStringLiteral("/model/tiny-add/model.safetensors"));
    const quint64 headerLength = qFromLittleEndian<quint64>(real.constData());
    put(QStringLiteral("safetensors"), QStringLiteral("tiny-add-header-only.safetensors"),
        real.left(qsizetype(8 + headerLength)));
}

// --- torch.save zip checkpoints -----------------------------------------------------------------

QByteArray torchZip(const std::vector<ts::test::TensorSpec> &specs, const std::string &nest,
                    bool metadata, const std::map<std::string, QByteArray> &storages) {
    const QString tmp = QDir::temp().filePath(QStringLiteral("archive.bin"));
    const QByteArray pickle = ts::test::stateDictPickle(specs, nest, metadata);
    std::vector<ts::test::Record> records{{"data.pkl", pickle.constData(), size_t(pickle.size())}};
    static const QByteArray little = QByteArrayLiteral("little");
    records.push_back({"byteorder", little.constData(), size_t(little.size())});
    for (const auto &[key, bytes] : storages)
        records.push_back({"data/" + key, bytes.constData(), size_t(bytes.size())});
    ts::test::writeTorchZip(tmp.toStdString(), records);
    const QByteArray out = readFile(tmp);
    QFile::remove(tmp);
    return out;
}

void checkpointSeeds() {
    using ts::test::TensorSpec;
    auto floats = [](int n) {
        QByteArray b(n * 4, '\0');
        for (int i = 0; i < n; ++i) {
            const float v = float(i) / 8.0f;
            std::memcpy(b.data() + 4 * i, &v, 4);
        }
        return b;
    };
    QByteArray longs(8 * 8, '\0');
    for (int i = 0; i < 8; ++i)
        qToLittleEndian<qint64>(i, longs.data() + 8 * i);
    const std::string dir = "checkpoint";
    put(QStringLiteral("torch_checkpoint"), QStringLiteral("state-dict.bin"),
        torchZip(
            {{"text_model.embeddings.word_embeddings.weight",
              "FloatStorage",
              "0",
              12,
              0,
              {3, 4},
              {4, 1}},
             {"text_model.embeddings.LayerNorm.bias", "FloatStorage", "0", 12, 8, {4}, {1}},
             {"vision_model.visual.class_embedding", "HalfStorage", "1", 6, 0, {6}, {1}},
             // older transformers: torch.arange(N).expand((1, -1)), stride 0 in dimension 0
             {"text_model.embeddings.position_ids", "LongStorage", "2", 8, 0, {1, 8}, {0, 1}},
             {"itc_text_head.weight", "FloatStorage", "3", 6, 0, {2, 3}, {1, 2}}},
            {}, true,
            {{"0", floats(12)}, {"1", QByteArray(12, '\x3c')}, {"2", longs}, {"3", floats(6)}}));
    put(QStringLiteral("torch_checkpoint"), QStringLiteral("nested-state-dict.bin"),
        torchZip({{"logit_scale", "FloatStorage", "0", 1, 0, {}, {}},
                  {"bias", "BFloat16Storage", "1", 2, 0, {2}, {1}}},
                 "state_dict", false, {{"0", floats(1)}, {"1", QByteArray(4, '\x3f')}}));
    put(QStringLiteral("torch_checkpoint"), QStringLiteral("model-key.bin"),
        torchZip({{"w", "DoubleStorage", "0", 2, 0, {2}, {1}},
                  {"m", "ByteStorage", "1", 4, 0, {2, 2}, {2, 1}},
                  {"b", "ByteStorage", "1", 4, 1, {3}, {1}}},
                 "model", false, {{"0", QByteArray(16, '\x01')}, {"1", QByteArray(4, '\x01')}}));
    (void)dir;

    // Bare data.pkl seeds: fuzz_torch_checkpoint puts them into an archive with four 64-byte
    // storage records data/0..data/3 (16 floats, 32 halves, 8 longs, ...).
    put(QStringLiteral("torch_checkpoint"), QStringLiteral("pickle-state-dict.pkl"),
        ts::test::stateDictPickle(
            {{"text_model.encoder.layer.0.attention.self.query.weight",
              "FloatStorage",
              "0",
              16,
              0,
              {4, 4},
              {4, 1}},
             {"text_model.encoder.layer.0.attention.self.query.bias",
              "FloatStorage",
              "0",
              16,
              12,
              {4},
              {1}},
             {"vision_model.visual.positional_embedding",
              "HalfStorage",
              "1",
              32,
              0,
              {4, 8},
              {8, 1}},
             {"text_model.embeddings.position_ids", "LongStorage", "2", 8, 0, {1, 8}, {0, 1}},
             {"cross_modal_image_transform.weight", "BFloat16Storage", "3", 32, 2, {3, 5}, {1, 3}}},
            {}, true));
    put(QStringLiteral("torch_checkpoint"), QStringLiteral("pickle-nested.pkl"),
        ts::test::stateDictPickle(
            {{"logit_scale", "DoubleStorage", "0", 8, 7, {}, {}},
             {"itm_score.fc.weight", "IntStorage", "1", 16, 0, {2, 8}, {8, 1}},
             {"mask", "BoolStorage", "2", 64, 0, {64}, {1}},
             {"bytes", "ByteStorage", "3", 64, 0, {8, 8}, {1, 8}}},
            "state_dict", false));
}

// --- images ---------------------------------------------------------------------------------

QImage testImage(int w, int h, QImage::Format format) {
    QImage img(w, h, QImage::Format_ARGB32);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            img.setPixel(x, y,
                         qRgba(x * 255 / w, y * 255 / h, (x ^ y) * 16 % 256, 128 + x * 8 % 128));
    return img.convertToFormat(format);
}

QByteArray encode(const QImage &img, const char *format, int quality = -1,
                  const std::function<void(QImageWriter &)> &tweak = {}) {
    QByteArray out;
    QBuffer buffer(&out);
    buffer.open(QIODevice::WriteOnly);
    QImageWriter writer(&buffer, format);
    if (quality >= 0)
        writer.setQuality(quality);
    if (tweak)
        tweak(writer);
    if (!writer.write(img))
        die(QStringLiteral("cannot encode %1: %2")
                .arg(QLatin1String(format), writer.errorString()));
    return out;
}

// A TIFF-structured EXIF block: IFD0 with Orientation and DateTime, an Exif IFD with
// DateTimeOriginal. Offsets are from the "II"/"MM" header.
QByteArray exifBlock(bool little, int orientation) {
    QByteArray b;
    auto u16 = [&](quint16 v) {
        char t[2];
        little ? qToLittleEndian(v, t) : qToBigEndian(v, t);
        b.append(t, 2);
    };
    auto u32 = [&](quint32 v) {
        char t[4];
        little ? qToLittleEndian(v, t) : qToBigEndian(v, t);
        b.append(t, 4);
    };
    b.append(little ? "II" : "MM");
    u16(42);
    u32(8);
    // IFD0 at 8: 3 entries (12 bytes each) + next-IFD offset = 2 + 36 + 4 = 42 bytes -> ends at 50.
    u16(3);
    u16(0x0112);
    u16(3);
    u32(1);
    u16(quint16(orientation));
    u16(0); // Orientation, SHORT
    u16(0x0132);
    u16(2);
    u32(20);
    u32(50); // DateTime, ASCII at 50
    u16(0x8769);
    u16(4);
    u32(1);
    u32(70); // ExifIFD pointer -> 70
    u32(0);
    b.append("2021:06:01 10:20:30", 19).append('\0'); // 50..69
    // Exif IFD at 70: DateTimeOriginal
    u16(1);
    u16(0x9003);
    u16(2);
    u32(20);
    u32(88);
    u32(0);
    b.append("2019:12:24 18:00:00", 19).append('\0'); // 88..107
    return b;
}

QByteArray withPngExif(const QByteArray &png, const QByteArray &exif) {
    // eXIf right after IHDR (signature 8 + IHDR chunk 25 bytes).
    QByteArray chunk;
    char len[4];
    qToBigEndian<quint32>(quint32(exif.size()), len);
    const QByteArray typeAndData = QByteArrayLiteral("eXIf") + exif;
    char crc[4];
    qToBigEndian<quint32>(ts::fuzz::crc32(typeAndData), crc);
    chunk.append(len, 4).append(typeAndData).append(crc, 4);
    return png.left(33) + chunk + png.mid(33);
}

QByteArray withJpegExif(const QByteArray &jpeg, const QByteArray &exif) {
    const QByteArray payload = QByteArrayLiteral("Exif") + QByteArray(2, '\0') + exif;
    char len[2];
    qToBigEndian<quint16>(quint16(payload.size() + 2), len);
    return jpeg.left(2) + QByteArrayLiteral("\xFF\xE1") + QByteArray(len, 2) + payload +
           jpeg.mid(2);
}

#ifdef TOWERSEARCH_HAVE_HEIF
QByteArray encodeHeif(const QImage &src, heif_compression_format format) {
    if (!heif_have_encoder_for_format(format))
        return {};
    const QImage rgb = src.convertToFormat(QImage::Format_RGB888);
    heif_context *ctx = heif_context_alloc();
    heif_encoder *enc = nullptr;
    if (heif_context_get_encoder_for_format(ctx, format, &enc).code != heif_error_Ok)
        die(QStringLiteral("no libheif encoder"));
    heif_encoder_set_lossy_quality(enc, 50);
    heif_image *img = nullptr;
    heif_image_create(rgb.width(), rgb.height(), heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                      &img);
    heif_image_add_plane(img, heif_channel_interleaved, rgb.width(), rgb.height(), 8);
    int stride = 0;
    uint8_t *plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
    for (int y = 0; y < rgb.height(); ++y)
        std::memcpy(plane + y * stride, rgb.constScanLine(y), size_t(rgb.width()) * 3);
    if (heif_context_encode_image(ctx, img, enc, nullptr, nullptr).code != heif_error_Ok)
        die(QStringLiteral("libheif cannot encode"));
    const QString tmp = QDir::temp().filePath(QStringLiteral("make-seeds.heic"));
    heif_context_write_to_file(ctx, tmp.toLocal8Bit().constData());
    heif_image_release(img);
    heif_encoder_release(enc);
    heif_context_free(ctx);
    const QByteArray out = readFile(tmp);
    QFile::remove(tmp);
    return out;
}
#endif

void imageSeeds() {
    const QString t = QStringLiteral("image_decoder");
    const QImage base = testImage(24, 16, QImage::Format_ARGB32);
    put(t, QStringLiteral("rgb.png"), encode(base.convertToFormat(QImage::Format_RGB32), "png"));
    put(t, QStringLiteral("rgba.png"), encode(base, "png"));
    put(t, QStringLiteral("gray.png"),
        encode(base.convertToFormat(QImage::Format_Grayscale8), "png"));
    put(t, QStringLiteral("gray16.png"),
        encode(base.convertToFormat(QImage::Format_Grayscale16), "png"));
    put(t, QStringLiteral("rgba64.png"),
        encode(base.convertToFormat(QImage::Format_RGBA64), "png"));
    put(t, QStringLiteral("palette.png"),
        encode(base.convertToFormat(QImage::Format_Indexed8), "png"));
    put(t, QStringLiteral("mono.png"), encode(base.convertToFormat(QImage::Format_Mono), "png"));
    put(t, QStringLiteral("exif8.png"), withPngExif(encode(base, "png"), exifBlock(false, 8)));
    const QImage rgb = base.convertToFormat(QImage::Format_RGB888);
    put(t, QStringLiteral("rgb.jpg"), encode(rgb, "jpeg", 60));
    put(t, QStringLiteral("gray.jpg"),
        encode(base.convertToFormat(QImage::Format_Grayscale8), "jpeg", 60));
    put(t, QStringLiteral("progressive.jpg"),
        encode(rgb, "jpeg", 60, [](QImageWriter &w) { w.setProgressiveScanWrite(true); }));
    put(t, QStringLiteral("exif6.jpg"), withJpegExif(encode(rgb, "jpeg", 60), exifBlock(true, 6)));
    // Large enough (in header) for the reduced-scale JPEG path; small in bytes.
    put(t, QStringLiteral("large-flat.jpg"),
        encode(QImage(800, 600, QImage::Format_RGB888), "jpeg", 10));
    put(t, QStringLiteral("lossy.webp"), encode(rgb, "webp", 50));
    put(t, QStringLiteral("lossless.webp"), encode(base, "webp", 100));
    put(t, QStringLiteral("rgb.tiff"), encode(rgb, "tiff"));
    put(t, QStringLiteral("rgba-lzw.tiff"),
        encode(base, "tiff", -1, [](QImageWriter &w) { w.setCompression(1); }));
    put(t, QStringLiteral("gray.tiff"),
        encode(base.convertToFormat(QImage::Format_Grayscale8), "tiff"));
    put(t, QStringLiteral("rgb.bmp"), encode(rgb, "bmp"));
    put(t, QStringLiteral("palette.bmp"),
        encode(base.convertToFormat(QImage::Format_Indexed8), "bmp"));
    // The classic smallest GIF89a: 1x1, 2-colour global palette, one LZW-coded frame.
    put(t, QStringLiteral("tiny.gif"),
        QByteArray::fromHex(
            "47494638396101000100800000000000ffffff21f90401000000002c000000000100010000"
            "02024401003b"));
    copyFixture(t, QStringLiteral("fixture-cmyk.jpg"),
                QStringLiteral("images/syn_cmyk_240x40.jpg"));
    copyFixture(t, QStringLiteral("fixture-exif6.jpg"),
                QStringLiteral("images/syn_exif6_240x40.jpg"));
    copyFixture(t, QStringLiteral("fixture-palette.png"),
                QStringLiteral("images/syn_palette_240x40.png"));
    copyFixture(t, QStringLiteral("fixture-1x1.png"), QStringLiteral("images/syn_1x1.png"));
    copyFixture(t, QStringLiteral("fixture-h3.png"), QStringLiteral("images/syn_h3_200x3.png"));
#ifdef TOWERSEARCH_HAVE_HEIF
    const QImage small = testImage(32, 16, QImage::Format_RGB888);
    if (const QByteArray heic = encodeHeif(small, heif_compression_HEVC); !heic.isEmpty())
        put(t, QStringLiteral("small.heic"), heic);
    else
        std::fprintf(stderr, "make_seeds: no HEVC encoder, no HEIC seed\n");
    if (const QByteArray avif = encodeHeif(small, heif_compression_AV1); !avif.isEmpty())
        put(t, QStringLiteral("small.avif"), avif);
#endif

    // EXIF: the containers above that carry EXIF, plus bare blocks.
    const QString e = QStringLiteral("exif");
    put(e, QStringLiteral("block-le.tiff"), exifBlock(true, 6));
    put(e, QStringLiteral("block-be.tiff"), exifBlock(false, 3));
    put(e, QStringLiteral("block-exif-prefix.bin"),
        QByteArrayLiteral("Exif") + QByteArray(2, '\0') + exifBlock(true, 5));
    put(e, QStringLiteral("exif8.png"), withPngExif(encode(base, "png"), exifBlock(false, 8)));
    put(e, QStringLiteral("exif6.jpg"),
        withJpegExif(encode(QImage(8, 8, QImage::Format_RGB888), "jpeg", 10), exifBlock(true, 6)));
    copyFixture(e, QStringLiteral("fixture-exif6.jpg"),
                QStringLiteral("images/syn_exif6_240x40.jpg"));
    // WebP with an EXIF chunk: VP8X (flag 0x08: EXIF present) + the lossless bitstream + EXIF.
    const QByteArray webp = encode(QImage(4, 4, QImage::Format_RGB888), "webp", 100);
    const QByteArray bitstream = webp.mid(12);
    QByteArray vp8x = QByteArrayLiteral("VP8X") + QByteArray::fromHex("0a000000") +
                      QByteArray::fromHex("08000000") + QByteArray::fromHex("030000030000");
    QByteArray exif = exifBlock(true, 7);
    QByteArray exifChunk = QByteArrayLiteral("EXIF");
    char len[4];
    qToLittleEndian<quint32>(quint32(exif.size()), len);
    exifChunk.append(len, 4).append(exif);
    if (exif.size() % 2)
        exifChunk.append('\0');
    const QByteArray body = QByteArrayLiteral("WEBP") + vp8x + bitstream + exifChunk;
    qToLittleEndian<quint32>(quint32(body.size()), len);
    put(e, QStringLiteral("exif7.webp"), QByteArrayLiteral("RIFF") + QByteArray(len, 4) + body);
}

// --- tokenizer ------------------------------------------------------------------------------

void tokenizerSeeds() {
    // A small vocabulary: the specials, every single-symbol token (the byte alphabet) and the
    // tokens the first 300 merges make; those merges.
    const QJsonObject vocab =
        QJsonDocument::fromJson(readFile(kData + QStringLiteral("/tokenizer/vocab.json"))).object();
    const QList<QByteArray> mergeLines =
        readFile(kData + QStringLiteral("/tokenizer/merges.txt")).split('\n');
    QJsonObject small;
    for (auto it = vocab.begin(); it != vocab.end(); ++it)
        if (it.key().size() == 1 || it.value().toInt() < 4)
            small.insert(it.key(), it.value());
    QByteArray merges = "#version: 0.2\n";
    QJsonArray mergeArray;
    for (int i = 1; i < mergeLines.size() && mergeArray.size() < 300; ++i) {
        const QList<QByteArray> pair = mergeLines[i].split(' ');
        if (pair.size() != 2)
            continue;
        const QString merged = QString::fromUtf8(pair[0] + pair[1]);
        if (!vocab.contains(merged))
            continue;
        small.insert(merged, vocab.value(merged));
        merges += mergeLines[i] + '\n';
        mergeArray.append(QString::fromUtf8(mergeLines[i]));
    }
    const QByteArray vocabJson = QJsonDocument(small).toJson(QJsonDocument::Compact);
    const QByteArray config = readFile(kData + QStringLiteral("/tokenizer/tokenizer_config.json"));
    const QByteArray map = readFile(kData + QStringLiteral("/tokenizer/special_tokens_map.json"));
    const QString t = QStringLiteral("tokenizer_files");
    // Layout byte: bit 0 tokenizer.json, bit 1 tokenizer_config.json, bit 2
    // special_tokens_map.json.
    put(t, QStringLiteral("vocab-merges-config-map"),
        QByteArray(1, char(6)) + vocabJson + kSeparator + merges + kSeparator + config +
            kSeparator + map);
    put(t, QStringLiteral("vocab-merges-only"),
        QByteArray(1, char(0)) + vocabJson + kSeparator + merges);
    QJsonObject model{{QStringLiteral("type"), QStringLiteral("BPE")},
                      {QStringLiteral("vocab"), small},
                      {QStringLiteral("merges"), mergeArray}};
    QJsonArray added;
    for (const char *s : {"<s>", "<pad>", "</s>", "<unk>"})
        added.append(QJsonObject{{QStringLiteral("id"), vocab.value(QLatin1String(s))},
                                 {QStringLiteral("content"), QLatin1String(s)},
                                 {QStringLiteral("special"), true}});
    added.append(QJsonObject{{QStringLiteral("id"), 50264},
                             {QStringLiteral("content"), QStringLiteral("<mask>")},
                             {QStringLiteral("lstrip"), true},
                             {QStringLiteral("special"), true}});
    const QByteArray tokenizerJson =
        QJsonDocument(
            QJsonObject{{QStringLiteral("model"), model}, {QStringLiteral("added_tokens"), added}})
            .toJson(QJsonDocument::Compact);
    put(t, QStringLiteral("tokenizer-json-map"),
        QByteArray(1, char(5)) + tokenizerJson + kSeparator + kSeparator + kSeparator + map);
    put(t, QStringLiteral("tokenizer-json-config"),
        QByteArray(1, char(3)) + tokenizerJson + kSeparator + kSeparator + config);

    // Text: a spread of the golden cases (ASCII, accents, CJK, emoji, added tokens, whitespace).
    const QList<QByteArray> lines =
        readFile(kData + QStringLiteral("/tokenizer/cases.jsonl")).split('\n');
    int n = 0;
    for (int i = 0; i < lines.size(); i += 7) {
        const QJsonObject c = QJsonDocument::fromJson(lines[i]).object();
        if (!c.contains(QStringLiteral("text")))
            continue;
        QByteArray text = c.value(QStringLiteral("text")).toString().toUtf8();
        if (c.contains(QStringLiteral("pair")) && c.value(QStringLiteral("pair")).isString())
            text += kSeparator + c.value(QStringLiteral("pair")).toString().toUtf8();
        put(QStringLiteral("tokenizer_text"),
            QStringLiteral("case-%1").arg(n++, 3, 10, QLatin1Char('0')), text);
    }
    put(QStringLiteral("tokenizer_text"), QStringLiteral("mixed"),
        QByteArrayLiteral("  a <mask> looking out of the window</s>\t\xe7\x8c\xab \xf0\x9f\x90\x88 "
                          "caf\xc3\xa9\r\n"
                          "'s 've 123456 \xe2\x80\x8b") +
            kSeparator + "second text of the pair");
}

// --- configs ----------------------------------------------------------------------------------

void configSeeds() {
    const QString t = QStringLiteral("config");
    for (const char *dir :
         {"tiny-add", "tiny-interpolate-eps", "tiny-scaled-add", "tiny-vision-wide", "base-ratios"})
        copyFixture(t, QStringLiteral("config-%1.json").arg(QLatin1String(dir)),
                    QStringLiteral("model/%1/config.json").arg(QLatin1String(dir)));
    for (const QString &dir : QDir(kData + QStringLiteral("/model/error-cases"))
                                  .entryList(QDir::Dirs | QDir::NoDotAndDotDot))
        copyFixture(t, QStringLiteral("config-error-%1.json").arg(dir),
                    QStringLiteral("model/error-cases/%1/config.json").arg(dir));
    copyFixture(t, QStringLiteral("preprocessor-images.json"),
                QStringLiteral("images/preprocessor_config.json"));
    copyFixture(t, QStringLiteral("preprocessor-e2e.json"),
                QStringLiteral("e2e/tiny-e2e/preprocessor_config.json"));
    put(t, QStringLiteral("preprocessor-shapes.json"),
        R"({"size": 384, "crop_size": {"height": 300, "width": 320}, "image_mean": 0.5, "image_std": [0.2, 0.3, 0.4], "size_divisor": 16, "resample": 3, "do_pad": false})");
}

// --- vector index ------------------------------------------------------------------------------

void indexSeeds() {
    const QString t = QStringLiteral("vector_index");
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    auto save = [&](const QString &name, ts::VectorIndexOptions options, int count) {
        auto index = ts::VectorIndex::create(options, QStringLiteral("fuzz-model"));
        if (!index)
            die(index.error().message);
        if (count > 0) {
            std::vector<qint64> ids;
            std::vector<float> vectors;
            for (int i = 0; i < count; ++i) {
                ids.push_back(i * 3 + 1);
                for (int d = 0; d < options.dimension; ++d)
                    vectors.push_back(normal(rng) + (i % 4 == d % 4 ? 2.0f : 0.0f));
            }
            if (const ts::Status s = index->add(ids, vectors); !s)
                die(s.error().message);
        }
        const QString tmp = QDir::temp().filePath(QStringLiteral("make-seeds.index"));
        if (const ts::Status s = index->save(tmp); !s)
            die(s.error().message);
        put(t, name, readFile(tmp));
        QFile::remove(tmp);
    };
    ts::VectorIndexOptions flat;
    flat.dimension = 8;
    save(QStringLiteral("flat-empty.tsvindex"), flat, 0);
    save(QStringLiteral("flat-5.tsvindex"), flat, 5);
    ts::VectorIndexOptions ivf;
    ivf.dimension = 4;
    ivf.approximateThreshold = 16;
    ivf.nlist = 2;
    // 100 vectors: 2 cells (at least 39 vectors each). A recall target one cell reaches keeps
    // the index IVF with a stored nprobe of 1; 0.98 needs both cells, where a flat scan is cheaper.
    ts::VectorIndexOptions tuned = ivf;
    tuned.targetRecall = 0.5;
    save(QStringLiteral("ivf-100.tsvindex"), tuned, 100);
    ts::VectorIndexOptions exact = ivf;
    save(QStringLiteral("exact-by-tuning-100.tsvindex"), exact, 100);
}

} // namespace

int main(int argc, char **argv) {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    if (argc != 2)
        die(QStringLiteral("usage: fuzz_make_seeds OUTDIR (tests/fuzz/corpus)"));
    g_out = QDir(QString::fromLocal8Bit(argv[1]));
    g_out.mkpath(QStringLiteral("."));
    safetensorsSeeds();
    checkpointSeeds();
    imageSeeds();
    tokenizerSeeds();
    configSeeds();
    indexSeeds();
    std::fprintf(stderr, "make_seeds: wrote seeds under %s\n", argv[1]);
    return 0;
}
