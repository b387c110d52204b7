// The safetensors reader and writer of core/common: round trips, float conversions, and hostile
// input.
#include "core/common/safetensorsfile.h"
#include "testdata.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <sys/resource.h>

using namespace ts;

namespace {

bool writeBytes(const QString &path, const QByteArray &bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

QByteArray le64(uint64_t v) {
    QByteArray b(8, '\0');
    for (int i = 0; i < 8; ++i)
        b[i] = char((v >> (8 * i)) & 0xff);
    return b;
}

// A safetensors file: length prefix (the real one unless overridden), header text, data.
QByteArray makeFile(const QByteArray &header, const QByteArray &data,
                    std::optional<uint64_t> lengthOverride = {}) {
    return le64(lengthOverride.value_or(uint64_t(header.size()))) + header + data;
}

// Reference half -> float by arithmetic, independent of the bit manipulation in halfToFloat.
float halfReference(uint16_t h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int exp = (h >> 10) & 0x1f;
    const int mant = h & 0x3ff;
    if (exp == 0)
        return float(sign * std::ldexp(double(mant), -24));
    if (exp == 31)
        return mant ? std::numeric_limits<float>::quiet_NaN()
                    : float(sign) * std::numeric_limits<float>::infinity();
    return float(sign * std::ldexp(double(1024 + mant), exp - 25));
}

uint32_t bitsOf(float f) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    return b;
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roundTripKeepsNamesDtypesShapesAndBytes_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<QList<qint64>>("shape");
        const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                             DType::I32, DType::I16, DType::I8,  DType::U8,   DType::Bool};
        for (DType d : all) {
            QTest::newRow(qPrintable(QStringLiteral("%1 [2,3,5]").arg(QLatin1String(dtypeName(d)))))
                << int(d) << QList<qint64>{2, 3, 5};
            QTest::newRow(qPrintable(QStringLiteral("%1 scalar").arg(QLatin1String(dtypeName(d)))))
                << int(d) << QList<qint64>{};
        }
        QTest::newRow("F32 empty [0,4]") << int(DType::F32) << QList<qint64>{0, 4};
    }
    void roundTripKeepsNamesDtypesShapesAndBytes() {
        QFETCH(int, dtype);
        QFETCH(QList<qint64>, shape);
        const DType d = DType(dtype);
        const std::vector<int64_t> dims(shape.begin(), shape.end());
        const size_t bytes = size_t(FloatTensor::elementCount(dims)) * dtypeSize(d);
        std::vector<uint8_t> a(bytes), b(7 * 4);
        std::mt19937 rng{uint32_t(dtype)};
        for (auto &x : a)
            x = uint8_t(d == DType::Bool ? rng() % 2 : rng());
        for (auto &x : b)
            x = uint8_t(rng());
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("t.safetensors"));
        const Status s = writeSafetensors(path,
                                          {{"layer.0.weight", d, dims, a.data(), a.size()},
                                           {"z.bias", DType::F32, {7}, b.data(), b.size()}},
                                          {{"format", "pt"}});
        QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
        const auto f = SafetensorsFile::open(path);
        QVERIFY2(f.ok(), f.ok() ? "" : qPrintable(f.error().message));
        QCOMPARE(f->tensors().size(), size_t(2));
        QCOMPARE(f->metadata().at("format"), std::string("pt"));
        const TensorView *v = f->find("layer.0.weight");
        QVERIFY(v);
        QCOMPARE(v->dtype, d);
        QCOMPARE(v->shape, dims);
        QCOMPARE(v->byteSize, bytes);
        QVERIFY(bytes == 0 || std::memcmp(v->data, a.data(), bytes) == 0);
        const TensorView *z = f->find("z.bias");
        QVERIFY(z && z->byteSize == b.size() && std::memcmp(z->data, b.data(), b.size()) == 0);
        QVERIFY(!f->find("missing"));
    }

    void streamingWriterReportsProgressAndMatches() {
        QTemporaryDir dir;
        const std::vector<float> a{1, 2, 3}, b{4, 5};
        const std::vector<TensorToWrite> tensors{{"a", DType::F32, {3}, nullptr, 12},
                                                 {"b", DType::F32, {2}, nullptr, 8}};
        std::vector<std::pair<qint64, qint64>> calls;
        const QString path = dir.filePath(QStringLiteral("s.safetensors"));
        const Status s = writeSafetensors(
            path, tensors, {},
            [&](size_t i, Error *) -> const void * { return i == 0 ? a.data() : b.data(); },
            [&](qint64 done, qint64 total) { calls.emplace_back(done, total); });
        QVERIFY(s.ok());
        QCOMPARE(calls.size(), size_t(2));
        QCOMPARE(calls[0], std::make_pair(qint64(12), qint64(20)));
        QCOMPARE(calls[1], std::make_pair(qint64(20), qint64(20)));
        const auto f = SafetensorsFile::open(path);
        QVERIFY(f.ok());
        QCOMPARE(f->find("b")->toFloat32(), b);

        // A source that fails aborts the write: its error comes back, no file appears.
        const QString failed = dir.filePath(QStringLiteral("failed.safetensors"));
        const Status e =
            writeSafetensors(failed, tensors, {}, [&](size_t i, Error *err) -> const void * {
                if (i == 1) {
                    *err = Error(Error::Code::Io, QStringLiteral("source broke"));
                    return nullptr;
                }
                return a.data();
            });
        QVERIFY(!e.ok());
        QCOMPARE(e.error().message, QStringLiteral("source broke"));
        QVERIFY(!QFile::exists(failed));
    }

    void halfToFloatIsExact_data() {
        QTest::addColumn<int>("bits");
        QTest::addColumn<float>("expected");
        QTest::newRow("+0") << 0x0000 << 0.0f;
        QTest::newRow("1") << 0x3c00 << 1.0f;
        QTest::newRow("-2") << 0xc000 << -2.0f;
        QTest::newRow("1/3 rounded") << 0x3555 << 0.333251953125f;
        QTest::newRow("max 65504") << 0x7bff << 65504.0f;
        QTest::newRow("smallest normal 2^-14") << 0x0400 << std::ldexp(1.0f, -14);
        QTest::newRow("smallest subnormal 2^-24") << 0x0001 << std::ldexp(1.0f, -24);
        QTest::newRow("largest subnormal") << 0x03ff << 1023.0f * std::ldexp(1.0f, -24);
        QTest::newRow("negative subnormal") << 0x8200 << -std::ldexp(1.0f, -15);
        QTest::newRow("+inf") << 0x7c00 << std::numeric_limits<float>::infinity();
        QTest::newRow("-inf") << 0xfc00 << -std::numeric_limits<float>::infinity();
    }
    void halfToFloatIsExact() {
        QFETCH(int, bits);
        QFETCH(float, expected);
        QCOMPARE(bitsOf(halfToFloat(uint16_t(bits))), bitsOf(expected));
    }

    void halfToFloatSpecialsAndAllValues() {
        QCOMPARE(bitsOf(halfToFloat(0x8000)), 0x80000000u); // -0 keeps its sign
        QVERIFY(std::isnan(halfToFloat(0x7e00)));
        QVERIFY(std::isnan(halfToFloat(0xfc01)));
        QVERIFY(std::isnan(halfToFloat(0x7c01))); // signalling NaN payload stays a NaN
        for (uint32_t h = 0; h < 65536; ++h) {
            const float got = halfToFloat(uint16_t(h));
            const float ref = halfReference(uint16_t(h));
            if (std::isnan(ref))
                QVERIFY2(std::isnan(got), qPrintable(QString::number(h, 16)));
            else
                QVERIFY2(bitsOf(got) == bitsOf(ref), qPrintable(QString::number(h, 16)));
        }
    }

    void bfloat16ToFloatIsExact() {
        QCOMPARE(bfloat16ToFloat(0x3f80), 1.0f);
        QCOMPARE(bfloat16ToFloat(0xc040), -3.0f);
        QCOMPARE(bfloat16ToFloat(0x0001), std::ldexp(1.0f, -133)); // subnormal
        QCOMPARE(bfloat16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
        QCOMPARE(bfloat16ToFloat(0xff80), -std::numeric_limits<float>::infinity());
        QVERIFY(std::isnan(bfloat16ToFloat(0x7fc0)));
        QCOMPARE(bitsOf(bfloat16ToFloat(0x8000)), 0x80000000u);
        for (uint32_t b = 0; b < 65536; ++b)
            QVERIFY(bitsOf(bfloat16ToFloat(uint16_t(b))) == b << 16);
    }

    void viewsConvertToFloat32() {
        const uint16_t half[4] = {0x3c00, 0x0001, 0xfc00, 0xc000};
        const uint16_t bf[2] = {0x3f80, 0xc040};
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("h.safetensors"));
        QVERIFY(writeSafetensors(path, {{"h", DType::F16, {2, 2}, half, sizeof half},
                                        {"b", DType::BF16, {2}, bf, sizeof bf}})
                    .ok());
        const auto f = SafetensorsFile::open(path);
        QVERIFY(f.ok());
        const std::vector<float> h = f->find("h")->toFloat32();
        QCOMPARE(h, (std::vector<float>{1.0f, std::ldexp(1.0f, -24),
                                        -std::numeric_limits<float>::infinity(), -2.0f}));
        QCOMPARE(f->find("b")->toFloat32(), (std::vector<float>{1.0f, -3.0f}));
        QCOMPARE(f->find("h")->toFloatTensor().shape, (std::vector<int64_t>{2, 2}));
    }

    // Found by fuzz_safetensors: float values outside int64's range (inf, NaN, 1e30) were cast to
    // int64 directly, which is undefined behaviour. They saturate now, and NaN gives 0.
    void viewsConvertAnyFloatToInt64Saturating() {
        constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
        constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
        const float f32[7] = {std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::quiet_NaN(),
                              1e30f,
                              -1e30f,
                              -2.75f,
                              3.5f};
        const double f64[3] = {9.3e18, -9.3e18, -0.5};
        const uint16_t f16[3] = {0x7c00, 0xfc00, 0x7e00}; // +inf, -inf, NaN
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("i.safetensors"));
        QVERIFY(writeSafetensors(path, {{"f32", DType::F32, {7}, f32, sizeof f32},
                                        {"f64", DType::F64, {3}, f64, sizeof f64},
                                        {"f16", DType::F16, {3}, f16, sizeof f16}})
                    .ok());
        const auto f = SafetensorsFile::open(path);
        QVERIFY(f.ok());
        QCOMPARE(f->find("f32")->toInt64(),
                 (std::vector<int64_t>{kMax, kMin, 0, kMax, kMin, -2, 3}));
        QCOMPARE(f->find("f64")->toInt64(), (std::vector<int64_t>{kMax, kMin, 0}));
        QCOMPARE(f->find("f16")->toInt64(), (std::vector<int64_t>{kMax, kMin, 0}));
    }

    // Each row: the file, a piece of the message, and the tensor the message must name ("" if
    // none).
    void rejectsMalformedFiles_data() {
        QTest::addColumn<QByteArray>("file");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<QString>("tensor");
        const QByteArray data16(16, '\x01');
        auto one = [](const QByteArray &entry) { return QByteArray(R"({"w":)") + entry + "}"; };
        QTest::newRow("empty file") << QByteArray() << "0 bytes"
                                    << "";
        QTest::newRow("7 bytes") << QByteArray(7, '\0') << "7 bytes"
                                 << "";
        QTest::newRow("header only, data truncated")
            << makeFile(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
                        QByteArray(8, '\0'))
            << "outside"
            << "w";
        QTest::newRow("header length larger than the file")
            << makeFile("{}", {}, 1000) << "larger than the rest"
            << "";
        QTest::newRow("header length 2^63")
            << makeFile("{}", {}, uint64_t(1) << 63) << "larger than the rest"
            << "";
        QTest::newRow("header length 2^64-1")
            << makeFile("{}", {}, ~uint64_t(0)) << "larger than the rest"
            << "";
        QTest::newRow("non-JSON header") << makeFile("{not json", data16) << "not valid JSON"
                                         << "";
        QTest::newRow("header not an object") << makeFile("[1,2,3]", data16) << "not a JSON object"
                                              << "";
        QTest::newRow("unknown dtype")
            << makeFile(one(R"({"dtype":"F8","shape":[4],"data_offsets":[0,16]})"), data16)
            << "unknown dtype"
            << "w";
        QTest::newRow("dtype not a string")
            << makeFile(one(R"({"dtype":4,"shape":[4],"data_offsets":[0,16]})"), data16)
            << "unknown dtype"
            << "w";
        QTest::newRow("negative shape")
            << makeFile(one(R"({"dtype":"F32","shape":[-4],"data_offsets":[0,16]})"), data16)
            << "invalid shape"
            << "w";
        QTest::newRow("shape not an array")
            << makeFile(one(R"({"dtype":"F32","shape":"4","data_offsets":[0,16]})"), data16)
            << "invalid shape"
            << "w";
        QTest::newRow("fractional shape")
            << makeFile(one(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,16]})"), data16)
            << "invalid shape"
            << "w";
        QTest::newRow("shape overflowing 64 bits")
            << makeFile(
                   one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]})"),
                   data16)
            << "invalid shape"
            << "w";
        QTest::newRow("offsets out of range")
            << makeFile(one(R"({"dtype":"F32","shape":[4],"data_offsets":[16,32]})"), data16)
            << "outside"
            << "w";
        QTest::newRow("offsets reversed")
            << makeFile(one(R"({"dtype":"F32","shape":[0],"data_offsets":[16,0]})"), data16)
            << "outside"
            << "w";
        QTest::newRow("negative offset")
            << makeFile(one(R"({"dtype":"F32","shape":[4],"data_offsets":[-1,15]})"), data16)
            << "invalid data_offsets"
            << "w";
        QTest::newRow("three offsets")
            << makeFile(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,8,16]})"), data16)
            << "invalid data_offsets"
            << "w";
        QTest::newRow("overlapping offsets")
            << makeFile(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   data16)
            << "overlaps"
            << "w";
        QTest::newRow("byte size not matching shape*dtype")
            << makeFile(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,16]})"), data16)
            << "need 12"
            << "w";
        QTest::newRow("F16 size mismatch")
            << makeFile(one(R"({"dtype":"F16","shape":[4],"data_offsets":[0,16]})"), data16)
            << "need 8"
            << "w";
        QTest::newRow("missing data_offsets")
            << makeFile(one(R"({"dtype":"F32","shape":[4]})"), data16) << "lacks"
            << "w";
        QTest::newRow("header nested 65 deep")
            << makeFile(one(QByteArray(65, '[') + QByteArray(65, ']')), data16)
            << "nested more than 64 levels"
            << "";
        QTest::newRow("entry not an object") << makeFile(one(R"([1])"), data16) << "lacks"
                                             << "w";
    }
    void rejectsMalformedFiles() {
        QFETCH(QByteArray, file);
        QFETCH(QString, expected);
        QFETCH(QString, tensor);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("bad.safetensors"));
        QVERIFY(writeBytes(path, file));
        const auto f = SafetensorsFile::open(path);
        QVERIFY2(!f.ok(), "a malformed file was accepted");
        const QString msg = f.error().message;
        qInfo("%s", qPrintable(msg));
        QVERIFY2(msg.contains(path), qPrintable(msg));
        QVERIFY2(msg.contains(expected), qPrintable(msg));
        if (!tensor.isEmpty())
            QVERIFY2(msg.contains(QStringLiteral("'%1'").arg(tensor)), qPrintable(msg));
        QCOMPARE(f.error().code, Error::Code::Format);
    }

    // A 10 MB header of nested arrays ("[[[[...]]]]") took this test's peak RSS to 390 MB before it
    // was refused. It is refused while parsing, before the deep levels are built: the peak RSS
    // barely moves.
    void deeplyNestedHeaderIsRefusedWithoutBuildingIt() {
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("nested.safetensors"));
        const int depth = 5 * 1000 * 1000;
        QVERIFY(writeBytes(path, makeFile(QByteArray(depth, '[') + QByteArray(depth, ']'), {})));
        rusage before{};
        QCOMPARE(getrusage(RUSAGE_SELF, &before), 0);
        const auto f = SafetensorsFile::open(path);
        rusage after{};
        QCOMPARE(getrusage(RUSAGE_SELF, &after), 0);
        QVERIFY(!f.ok());
        QVERIFY2(f.error().message.contains(path), qPrintable(f.error().message));
        QVERIFY2(f.error().message.contains(QStringLiteral("64 levels")),
                 qPrintable(f.error().message));
        // ru_maxrss is in KiB. The 10 MB mapping itself may be counted once it is read.
        const long grownKiB = after.ru_maxrss - before.ru_maxrss;
        qInfo("peak RSS grew by %ld KiB", grownKiB);
        QVERIFY2(grownKiB < 40 * 1024,
                 qPrintable(QStringLiteral("peak RSS grew by %1 KiB").arg(grownKiB)));
    }

    // Hugging Face's limit for the header is 100,000,000 bytes (safetensors/src/tensor.rs); one
    // byte more is refused by its length, before anything is parsed. A sparse file costs nothing.
    void headerLengthLimitIsHuggingFaces_data() {
        QTest::addColumn<quint64>("headerLength");
        QTest::addColumn<QString>("expected");
        QTest::newRow("100,000,000 bytes: parsed") << quint64(100'000'000) << "not valid JSON";
        QTest::newRow("100,000,001 bytes: refused")
            << quint64(100'000'001) << "100000000-byte limit";
    }
    void headerLengthLimitIsHuggingFaces() {
        QFETCH(quint64, headerLength);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("big-header.safetensors"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QCOMPARE(file.write(le64(headerLength) + "x"), qint64(9)); // "x": invalid JSON at byte 1
        QVERIFY(file.resize(qint64(8 + headerLength)));
        file.close();
        const auto f = SafetensorsFile::open(path);
        QVERIFY(!f.ok());
        QVERIFY2(f.error().message.contains(expected), qPrintable(f.error().message));
    }

    void missingFileIsNotFound() {
        const QString path = QStringLiteral("/nonexistent/dir/model.safetensors");
        const auto f = SafetensorsFile::open(path);
        QVERIFY(!f.ok());
        QCOMPARE(f.error().code, Error::Code::NotFound);
        QVERIFY(f.error().message.contains(path));
    }

    // Deterministic random mutations of a valid file: each must be read cleanly or refused cleanly.
    void mutationsNeverCrash() {
        QTemporaryDir dir;
        const QString validPath = dir.filePath(QStringLiteral("valid.safetensors"));
        const std::vector<float> a{1, 2, 3, 4, 5, 6};
        const uint16_t h[3] = {0x3c00, 0x0001, 0x7c00};
        const int64_t ids[2] = {7, -1};
        QVERIFY(writeSafetensors(validPath,
                                 {{"a", DType::F32, {2, 3}, a.data(), 24},
                                  {"h", DType::F16, {3}, h, 6},
                                  {"ids", DType::I64, {2}, ids, 16}},
                                 {{"format", "pt"}})
                    .ok());
        QFile vf(validPath);
        QVERIFY(vf.open(QIODevice::ReadOnly));
        const QByteArray valid = vf.readAll();
        const QString path = dir.filePath(QStringLiteral("mutated.safetensors"));
        std::mt19937 rng(12345);
        int accepted = 0;
        // TOWERSEARCH_FUZZ_SCALE=N runs N times as many (default 1; for long ASan runs).
        const int rounds =
            400 * std::max(1, qEnvironmentVariableIntValue("TOWERSEARCH_FUZZ_SCALE"));
        for (int i = 0; i < rounds; ++i) {
            QByteArray b = valid;
            switch (i % 5) {
            case 0: // bit flips anywhere
            case 1:
                for (int k = 0, n = 1 + int(rng() % 4); k < n; ++k) {
                    const qsizetype p = qsizetype(rng() % uint32_t(b.size()));
                    b[p] = char(b[p] ^ (1 << (rng() % 8)));
                }
                break;
            case 2: // a digit or punctuation in the header replaced
                for (int k = 0, n = 1 + int(rng() % 3); k < n; ++k) {
                    const qsizetype p = 8 + qsizetype(rng() % uint32_t(b.size() - 8 - 46));
                    static const char kChars[] = "0123456789[]{},:\"-e.";
                    b[p] = kChars[rng() % (sizeof kChars - 1)];
                }
                break;
            case 3: // truncation
                b.truncate(qsizetype(rng() % uint32_t(b.size())));
                break;
            case 4: // a random length prefix
                b.replace(0, 8,
                          le64(rng() % 2 ? uint64_t(rng()) : (uint64_t(rng()) << 32 | rng())));
                break;
            }
            QVERIFY(writeBytes(path, b));
            const auto f = SafetensorsFile::open(path);
            if (f.ok()) {
                ++accepted;
                for (const TensorView &v : f->tensors()) {
                    QCOMPARE(v.byteSize, size_t(v.numel()) * dtypeSize(v.dtype));
                    (void)v.toFloat32(); // reads every byte (ASan checks the bounds)
                }
            } else {
                QVERIFY2(f.error().message.contains(path), qPrintable(f.error().message));
            }
        }
        qInfo("mutations accepted: %d of %d", accepted, rounds);
    }
};

int runSafetensorsTests(int argc, char **argv) {
    TestSafetensors t;
    return QTest::qExec(&t, argc, argv);
}
#include "tst_safetensors.moc"
