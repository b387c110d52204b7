// Reading torch.save zip checkpoints (pytorch_model.bin) and converting them to safetensors.
#include "core/common/safetensorsfile.h"
#include "core/model/checkpointconverter.h"
#include "core/model/internal/torchzipcheckpoint.h"
#include "testdata.h"
#include "torchsavewriter.h"

#include <ATen/ATen.h>

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <set>

using namespace ts;
using ts::internal::NamedTensor;
using ts::internal::readTorchZipCheckpoint;
using ts::test::PickleWriter;
using ts::test::Record;
using ts::test::TensorSpec;

namespace {

// TOWERSEARCH_FUZZ_SCALE=N runs N times as many random mutations (default 1; for long ASan runs).
int fuzzScale() {
    return std::max(1, qEnvironmentVariableIntValue("TOWERSEARCH_FUZZ_SCALE"));
}

QString fixtureDir() {
    return test::dataDir(QStringLiteral("model/tiny-add"));
}
QString fixtureBin() {
    return fixtureDir() + QStringLiteral("/pytorch_model.bin");
}
QString fixtureSafetensors() {
    return fixtureDir() + QStringLiteral("/model.safetensors");
}

DType toDType(at::ScalarType t) {
    switch (t) {
    case at::kFloat:
        return DType::F32;
    case at::kHalf:
        return DType::F16;
    case at::kBFloat16:
        return DType::BF16;
    case at::kLong:
        return DType::I64;
    case at::kDouble:
        return DType::F64;
    default:
        return DType::U8;
    }
}

// Compares a tensor with a safetensors view: dtype, shape and every byte.
bool sameTensor(const at::Tensor &t, const TensorView &v, QString *why) {
    if (toDType(t.scalar_type()) != v.dtype) {
        *why = QStringLiteral("dtype");
        return false;
    }
    if (std::vector<int64_t>(t.sizes().begin(), t.sizes().end()) != v.shape) {
        *why = QStringLiteral("shape");
        return false;
    }
    const at::Tensor c = t.contiguous();
    const size_t bytes = size_t(c.numel()) * size_t(c.element_size());
    if (bytes != v.byteSize || (bytes && std::memcmp(c.data_ptr(), v.data, bytes) != 0)) {
        *why = QStringLiteral("bytes");
        return false;
    }
    return true;
}

QByteArray readAll(const QString &path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool writeBytes(const QString &path, const QByteArray &bytes) {
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

// Every record of the fixture archive, by relative name (for rebuilding variants of it).
std::vector<std::pair<std::string, QByteArray>> fixtureRecords() {
    caffe2::serialize::PyTorchStreamReader reader(fixtureBin().toStdString());
    std::vector<std::pair<std::string, QByteArray>> out;
    for (const std::string &name : reader.getAllRecords()) {
        if (name == "version" || name == ".data/version")
            continue;
        auto [ptr, size] = reader.getRecord(name);
        out.emplace_back(name, QByteArray(static_cast<const char *>(ptr.get()), qsizetype(size)));
    }
    return out;
}

void writeZip(const QString &path, const std::vector<std::pair<std::string, QByteArray>> &records) {
    std::vector<Record> r;
    for (const auto &[name, bytes] : records)
        r.push_back({name, bytes.constData(), size_t(bytes.size())});
    test::writeTorchZip(path.toStdString(), r);
}

// A one-tensor checkpoint: `pickle` plus storage "0" holding `storageBytes` bytes.
void writeSmallZip(const QString &path, const QByteArray &pickle, qsizetype storageBytes = 64 * 4,
                   const std::vector<std::pair<std::string, QByteArray>> &extra = {}) {
    std::vector<std::pair<std::string, QByteArray>> records{{"data.pkl", pickle}};
    for (const auto &e : extra)
        records.push_back(e);
    if (storageBytes >= 0)
        records.emplace_back("data/0", QByteArray(storageBytes, '\x01'));
    writeZip(path, records);
}

QByteArray forbiddenCall(const std::string &module, const std::string &name) {
    PickleWriter p;
    p.global(module, name).str("echo pwned > /tmp/pwned").op(0x85).op('R').op('.');
    return p.bytes();
}

// Mutated input must give a clean result: either tensors that can be read in full, or an error
// naming the file.
void checkCleanOutcome(const QString &path, const QString &what) {
    const auto r = readTorchZipCheckpoint(path);
    if (r) {
        for (const NamedTensor &t : *r)
            (void)t.tensor.contiguous().sum();
    } else {
        QVERIFY2(r.error().message.contains(path),
                 qPrintable(what + QStringLiteral(": ") + r.error().message));
    }
}

// Resident memory of this process from /proc/self/status ("VmRSS", "VmHWM"), in bytes; -1 if
// unknown.
qint64 statusBytes(const char *field) {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : f.readAll().split('\n'))
        if (line.startsWith(field))
            return line.mid(qsizetype(std::strlen(field)) + 1)
                       .trimmed()
                       .split(' ')
                       .value(0)
                       .toLongLong() *
                   1024;
    return -1;
}

// Resets the peak (VmHWM) to the current resident size (Linux >= 4.0, /proc/self/clear_refs "5").
bool resetPeakResident() {
    QFile f(QStringLiteral("/proc/self/clear_refs"));
    return f.open(QIODevice::WriteOnly) && f.write("5") == 1 && f.flush();
}

QString mib(qint64 bytes) {
    return QString::number(double(bytes) / (1024.0 * 1024.0), 'f', 1);
}

QString positionIdsBin() {
    return test::dataDir(QStringLiteral("model/position-ids/pytorch_model.bin"));
}

} // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void readsFixtureBitIdenticalToSafetensors() {
        const auto bin = readTorchZipCheckpoint(fixtureBin());
        QVERIFY2(bin.ok(), bin.ok() ? "" : qPrintable(bin.error().message));
        const auto st = SafetensorsFile::open(fixtureSafetensors());
        QVERIFY(st.ok());
        QCOMPARE(bin->size(), st->tensors().size());
        std::set<std::string> seen;
        for (const NamedTensor &t : *bin) {
            QVERIFY2(seen.insert(t.name).second, t.name.c_str());
            const TensorView *v = st->find(t.name);
            QVERIFY2(v, t.name.c_str());
            QString why;
            QVERIFY2(sameTensor(t.tensor, *v, &why),
                     qPrintable(QString::fromStdString(t.name) + QStringLiteral(": ") + why));
        }
    }

    void tensorsAreViewsIntoTheirStorage() {
        const auto bin = readTorchZipCheckpoint(fixtureBin());
        QVERIFY(bin.ok());
        for (const NamedTensor &t : *bin)
            QCOMPARE(size_t(t.tensor.storage().nbytes()),
                     size_t(t.tensor.numel()) * size_t(t.tensor.element_size()));
    }

    void convertedFileEqualsSafetensorsFixture() {
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("model.safetensors"));
        qint64 lastDone = -1, lastTotal = -1;
        int calls = 0;
        const Status s =
            convertTorchBinToSafetensors(fixtureBin(), out, [&](qint64 done, qint64 total) {
                QVERIFY(done > lastDone);
                lastDone = done;
                lastTotal = total;
                ++calls;
            });
        QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
        QVERIFY(calls > 0);
        QCOMPARE(lastDone, lastTotal);
        const auto converted = SafetensorsFile::open(out);
        QVERIFY2(converted.ok(), converted.ok() ? "" : qPrintable(converted.error().message));
        const auto expected = SafetensorsFile::open(fixtureSafetensors());
        QVERIFY(expected.ok());
        QCOMPARE(converted->metadata().at("format"), std::string("pt"));
        QCOMPARE(converted->tensors().size(), expected->tensors().size());
        for (const TensorView &e : expected->tensors()) {
            const TensorView *c = converted->find(e.name);
            QVERIFY2(c, e.name.c_str());
            QCOMPARE(c->dtype, e.dtype);
            QCOMPARE(c->shape, e.shape);
            QCOMPARE(c->byteSize, e.byteSize);
            QVERIFY2(std::memcmp(c->data, e.data, e.byteSize) == 0, e.name.c_str());
        }
    }

    void missingFileIsNotFound() {
        const QString path = QStringLiteral("/nonexistent/dir/pytorch_model.bin");
        const auto r = readTorchZipCheckpoint(path);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, Error::Code::NotFound);
        QVERIFY(r.error().message.contains(path));
    }

    void convertFailureLeavesNoFile() {
        QTemporaryDir dir;
        const QString bad = dir.filePath(QStringLiteral("pytorch_model.bin"));
        QVERIFY(writeBytes(bad, QByteArray("not a checkpoint")));
        const QString out = dir.filePath(QStringLiteral("model.safetensors"));
        const Status s = convertTorchBinToSafetensors(bad, out);
        QVERIFY(!s.ok());
        QVERIFY(s.error().message.contains(bad));
        QVERIFY(!QFile::exists(out));
    }

    // Variants torch.save produces that the fixture does not show.
    void readsCraftedStateDicts_data() {
        QTest::addColumn<QString>("nest");
        QTest::addColumn<bool>("metadata");
        QTest::newRow("plain OrderedDict") << QString() << false;
        QTest::newRow("with _metadata (Module.state_dict)") << QString() << true;
        QTest::newRow("nested under state_dict") << QStringLiteral("state_dict") << true;
        QTest::newRow("nested under model") << QStringLiteral("model") << false;
    }
    void readsCraftedStateDicts() {
        QFETCH(QString, nest);
        QFETCH(bool, metadata);
        // storage "0": 12 floats 0..11; "a" = [3,4] contiguous, "t" = its transpose (shared
        // storage), "s" = elements 4..7 (offset view); storage "1": 3 halfs; storage "2": 2 int64.
        std::vector<float> f(12);
        for (int i = 0; i < 12; ++i)
            f[size_t(i)] = float(i);
        const uint16_t h[3] = {0x3c00, 0x4000, 0xc000}; // 1, 2, -2
        const int64_t l[2] = {-5, 1ll << 40};
        const std::vector<TensorSpec> specs = {
            {"a", "FloatStorage", "0", 12, 0, {3, 4}, {4, 1}},
            {"t", "FloatStorage", "0", 12, 0, {4, 3}, {1, 4}},
            {"s", "FloatStorage", "0", 12, 4, {4}, {1}},
            {"h", "HalfStorage", "1", 3, 0, {3}, {1}},
            {"ids", "LongStorage", "2", 2, 0, {2}, {1}},
            {"scalar", "FloatStorage", "0", 12, 11, {}, {}},
        };
        const QByteArray pickle = test::stateDictPickle(specs, nest.toStdString(), metadata);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("pytorch_model.bin"));
        test::writeTorchZip(path.toStdString(),
                            {{"data.pkl", pickle.constData(), size_t(pickle.size())},
                             {"byteorder", "little", 6},
                             {"data/0", f.data(), f.size() * 4},
                             {"data/1", h, sizeof h},
                             {"data/2", l, sizeof l}});
        const auto r = readTorchZipCheckpoint(path);
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QCOMPARE(r->size(), size_t(6));
        const auto &t = *r;
        QCOMPARE(t[0].name, std::string("a"));
        const at::Tensor expectA = at::arange(12, at::kFloat).reshape({3, 4});
        QVERIFY(at::equal(t[0].tensor, expectA));
        QVERIFY(at::equal(t[1].tensor, expectA.t()));
        QVERIFY(!t[1].tensor.is_contiguous());
        QVERIFY(t[1].tensor.data_ptr() == t[0].tensor.data_ptr()); // one storage, read once
        QVERIFY(at::equal(t[2].tensor, at::arange(4, 8, at::kFloat)));
        QCOMPARE(t[3].tensor.scalar_type(), at::kHalf);
        QVERIFY(at::equal(t[3].tensor.to(at::kFloat), at::tensor({1.0f, 2.0f, -2.0f})));
        QCOMPARE(t[4].tensor.scalar_type(), at::kLong);
        QCOMPARE(t[4].tensor[1].item<int64_t>(), int64_t(1) << 40);
        QCOMPARE(t[5].tensor.dim(), int64_t(0));
        QCOMPARE(t[5].tensor.item<float>(), 11.0f);

        // The converter writes strided tensors contiguously, in their stored dtype.
        const QString out = dir.filePath(QStringLiteral("model.safetensors"));
        const Status s = convertTorchBinToSafetensors(path, out);
        QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
        const auto st = SafetensorsFile::open(out);
        QVERIFY(st.ok());
        for (const NamedTensor &n : t) {
            QString why;
            QVERIFY2(sameTensor(n.tensor, *st->find(n.name), &why),
                     qPrintable(QString::fromStdString(n.name) + why));
        }
    }

    // Each row: how to make the file, and a piece of the message that must appear (besides the file
    // name).
    void rejectsMalformedCheckpoints_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expected");
        QTest::newRow("zero-byte file") << "empty"
                                        << "empty";
        QTest::newRow("random bytes") << "random"
                                      << "zip";
        QTest::newRow("truncated to 10%") << "trunc10"
                                          << "";
        QTest::newRow("truncated to 50%") << "trunc50"
                                          << "";
        QTest::newRow("truncated to 99%") << "trunc99"
                                          << "";
        QTest::newRow("last byte missing") << "trunc-1"
                                           << "";
        QTest::newRow("only the zip signature") << "sig"
                                                << "";
        QTest::newRow("1000 bytes cut from the middle") << "cut"
                                                        << "";
        QTest::newRow("zip directory claims a 4 GB record") << "hugesize"
                                                            << "";
        QTest::newRow("legacy (pre-1.6) format") << "legacy"
                                                 << "legacy";
        QTest::newRow("bad CRC in a storage record") << "crc"
                                                     << "CRC";
        QTest::newRow("missing data.pkl") << "nopkl"
                                          << "data.pkl";
        QTest::newRow("calls os.system") << "os.system"
                                         << "os.system";
        QTest::newRow("calls builtins.eval") << "builtins.eval"
                                             << "builtins.eval";
        QTest::newRow("calls posix.system via STACK_GLOBAL") << "stackglobal"
                                                             << "posix.system";
        QTest::newRow("forbidden opcode INST") << "inst"
                                               << "opcode 0x69";
        QTest::newRow("forbidden opcode NEWOBJ") << "newobj"
                                                 << "opcode 0x81";
        QTest::newRow("storage record shorter than declared") << "shortrecord"
                                                              << "tensor 'w'";
        QTest::newRow("tensor larger than its storage") << "bigtensor"
                                                        << "tensor 'w'";
        QTest::newRow("offset past the storage") << "offset"
                                                 << "tensor 'w'";
        QTest::newRow("negative stride") << "negstride"
                                         << "tensor 'w'";
        QTest::newRow("extent overflows int64") << "overflow"
                                                << "tensor 'w'";
        QTest::newRow("missing storage record") << "norecord"
                                                << "tensor 'w'";
        QTest::newRow("big-endian byteorder") << "bigendian"
                                              << "endian";
        QTest::newRow("stack underflow") << "underflow"
                                         << "empty stack";
        QTest::newRow("huge string length") << "hugestring"
                                            << "runs past";
        QTest::newRow("pickle ends without STOP") << "nostop"
                                                  << "ends inside";
        QTest::newRow("deep nesting (100k tuples)") << "deep"
                                                    << "not a dict";
        QTest::newRow("memo cycle (list inside itself)") << "cycle"
                                                         << "not a dict";
        QTest::newRow("unknown memo index") << "memo"
                                            << "memo";
        QTest::newRow("persistent id of the wrong shape") << "badpid"
                                                          << "persistent id";
        QTest::newRow("no tensors") << "notensors"
                                    << "no tensors";
        QTest::newRow("unsupported storage type") << "complex"
                                                  << "torch.ComplexFloatStorage";
        QTest::newRow("deflated storage record") << "deflated"
                                                 << "compressed";
        QTest::newRow("deflated data.pkl") << "deflatedpkl"
                                           << "compressed";
        QTest::newRow("two zip entries share one data range") << "shared"
                                                              << "overlap";
        QTest::newRow("stride 0 broadcasts one element to 2^24") << "broadcast"
                                                                 << "stride 0";
        QTest::newRow("stride 0 on a size-2 dimension of position_ids") << "broadcast2"
                                                                        << "stride 0";
        QTest::newRow("overlapping strides [1, 1] over 4096x4096") << "overlapstride"
                                                                   << "overlapping";
        QTest::newRow("8 names viewing one 1 MiB storage") << "aliases"
                                                           << "4 times";
    }
    void rejectsMalformedCheckpoints() {
        QFETCH(QString, kind);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("pytorch_model.bin"));
        const QByteArray fixture = readAll(fixtureBin());
        QVERIFY(!fixture.isEmpty());
        const TensorSpec w{"w", "FloatStorage", "0", 64, 0, {8, 8}, {8, 1}};
        auto withSpec = [&](TensorSpec s) { writeSmallZip(path, test::stateDictPickle({s})); };
        auto pickleOnly = [&](const QByteArray &pickle) { writeSmallZip(path, pickle); };

        if (kind == "empty") {
            QVERIFY(writeBytes(path, {}));
        } else if (kind == "random") {
            std::mt19937 rng(7);
            QByteArray b(4096, 0);
            for (auto &c : b)
                c = char(rng());
            b[0] = 'Z';
            QVERIFY(writeBytes(path, b));
        } else if (kind.startsWith("trunc")) {
            const int pct = kind.mid(5).toInt();
            QVERIFY(writeBytes(path, pct < 0 ? fixture.left(fixture.size() - 1)
                                             : fixture.left(fixture.size() * pct / 100)));
        } else if (kind == "cut") {
            QVERIFY(writeBytes(path, fixture.left(fixture.size() / 2) +
                                         fixture.mid(fixture.size() / 2 + 1000)));
        } else if (kind == "hugesize") {
            // Central directory entry 0 (data.pkl): compressed and uncompressed sizes set to
            // 0xFFFFFFF0.
            QByteArray b = fixture;
            const qsizetype cd = b.lastIndexOf(QByteArray("PK\x01\x02", 4), b.size());
            const qsizetype first = b.indexOf(QByteArray("PK\x01\x02", 4));
            QVERIFY(cd > 0 && first > 0);
            b.replace(first + 20, 8, QByteArray("\xf0\xff\xff\xff\xf0\xff\xff\xff", 8));
            QVERIFY(writeBytes(path, b));
        } else if (kind == "sig") {
            QVERIFY(writeBytes(path, QByteArray("PK\x03\x04", 4)));
        } else if (kind == "legacy") {
            // torch.save(_use_new_zipfile_serialization=False): the pickled magic number comes
            // first.
            QVERIFY(writeBytes(path, QByteArray::fromHex("80028a0a6cfc9c46f9206aa85019") +
                                         QByteArray(100, '\0')));
        } else if (kind == "crc") {
            QByteArray b = fixture;
            b[b.size() / 2] = char(b[b.size() / 2] ^ 0x10); // inside a storage record
            QVERIFY(writeBytes(path, b));
        } else if (kind == "nopkl") {
            writeZip(path, {{"data/0", QByteArray(256, 'x')}});
        } else if (kind == "os.system") {
            pickleOnly(forbiddenCall("os", "system"));
        } else if (kind == "builtins.eval") {
            pickleOnly(forbiddenCall("builtins", "eval"));
        } else if (kind == "stackglobal") {
            PickleWriter p(4);
            p.op(0x8c)
                .byte(5)
                .raw("posix")
                .op(0x8c)
                .byte(6)
                .raw("system")
                .op(0x93)
                .str("id")
                .op(0x85)
                .op('R')
                .op('.');
            pickleOnly(p.bytes());
        } else if (kind == "inst") {
            PickleWriter p;
            p.op('(').op('i').raw("os\nsystem\n").op('.');
            pickleOnly(p.bytes());
        } else if (kind == "newobj") {
            PickleWriter p;
            p.global("collections", "OrderedDict").op(')').op(0x81).op('.');
            pickleOnly(p.bytes());
        } else if (kind == "shortrecord") {
            writeSmallZip(path, test::stateDictPickle({w}), 63 * 4);
        } else if (kind == "bigtensor") {
            TensorSpec s = w;
            s.sizes = {9, 8};
            withSpec(s);
        } else if (kind == "offset") {
            TensorSpec s = w;
            s.offset = 1;
            withSpec(s);
        } else if (kind == "negstride") {
            TensorSpec s = w;
            s.strides = {8, -1};
            withSpec(s);
        } else if (kind == "overflow") {
            TensorSpec s = w;
            s.sizes = {2, 2};
            s.strides = {int64_t(1) << 62, int64_t(1) << 62};
            withSpec(s);
        } else if (kind == "norecord") {
            writeSmallZip(path, test::stateDictPickle({w}), -1);
        } else if (kind == "bigendian") {
            writeSmallZip(path, test::stateDictPickle({w}), 64 * 4,
                          {{"byteorder", QByteArray("big")}});
        } else if (kind == "underflow") {
            PickleWriter p;
            p.op('.');
            pickleOnly(p.bytes());
        } else if (kind == "hugestring") {
            PickleWriter p;
            p.op('X').le32(0xFFFFFFFFu).raw("abc");
            pickleOnly(p.bytes());
        } else if (kind == "nostop") {
            PickleWriter p;
            p.op('}').op('J').raw("ab");
            pickleOnly(p.bytes());
        } else if (kind == "deep") {
            PickleWriter p;
            p.op(')');
            for (int i = 0; i < 100000; ++i)
                p.op(0x85);
            p.op('.');
            pickleOnly(p.bytes());
        } else if (kind == "cycle") {
            PickleWriter p;
            p.op(']').op('q').byte(0).op('h').byte(0).op('a').op('.');
            pickleOnly(p.bytes());
        } else if (kind == "memo") {
            PickleWriter p;
            p.op('j').le32(12345).op('.');
            pickleOnly(p.bytes());
        } else if (kind == "badpid") {
            PickleWriter p;
            p.op('}').str("w").str("storage").op('Q').op('s').op('.');
            pickleOnly(p.bytes());
        } else if (kind == "notensors") {
            PickleWriter p;
            p.op('}').str("epoch").integer(3).op('s').op('.');
            pickleOnly(p.bytes());
        } else if (kind == "complex") {
            TensorSpec s = w;
            s.storageType = "ComplexFloatStorage";
            withSpec(s);
        } else if (kind == "deflated" || kind == "deflatedpkl") {
            const QByteArray pickle = test::stateDictPickle({w});
            const QByteArray data(64 * 4, '\x01');
            test::writeTorchZip(
                path.toStdString(),
                {{"data.pkl", pickle.constData(), size_t(pickle.size()), kind == "deflatedpkl"},
                 {"data/0", data.constData(), size_t(data.size()), kind == "deflated"}});
        } else if (kind == "shared") {
            // Two tensors, storages "0" and "1" of equal bytes; entry data/1 then points at
            // data/0's bytes.
            TensorSpec w1 = w;
            w1.name = "w1";
            w1.key = "1";
            writeSmallZip(path, test::stateDictPickle({w, w1}), 64 * 4,
                          {{"data/1", QByteArray(64 * 4, '\x01')}});
            QByteArray b = readAll(path);
            QVERIFY(test::pointEntryAt(b, "data/1", "data/0"));
            QVERIFY(writeBytes(path, b));
        } else if (kind == "broadcast") {
            writeSmallZip(
                path,
                test::stateDictPickle({{"w", "FloatStorage", "0", 1, 0, {int64_t(1) << 24}, {0}}}),
                4);
        } else if (kind == "broadcast2") {
            writeSmallZip(
                path, test::stateDictPickle({{"w", "LongStorage", "0", 40, 0, {2, 40}, {0, 1}}}),
                40 * 8);
        } else if (kind == "overlapstride") {
            writeSmallZip(
                path,
                test::stateDictPickle({{"w", "FloatStorage", "0", 8191, 0, {4096, 4096}, {1, 1}}}),
                8191 * 4);
        } else if (kind == "aliases") {
            std::vector<TensorSpec> specs;
            for (int i = 0; i < 8; ++i)
                specs.push_back(
                    {"w" + std::to_string(i), "FloatStorage", "0", 1 << 18, 0, {1 << 18}, {1}});
            writeSmallZip(path, test::stateDictPickle(specs), 1 << 20);
        } else {
            QFAIL("unknown row");
        }
        const auto r = readTorchZipCheckpoint(path);
        QVERIFY2(!r.ok(), "a malformed checkpoint was accepted");
        const QString msg = r.error().message;
        qInfo("%s", qPrintable(msg));
        QVERIFY2(msg.contains(path), qPrintable(msg));
        QVERIFY2(msg.contains(expected), qPrintable(msg));
        // The converter reports the same error and writes nothing.
        const QString out = dir.filePath(QStringLiteral("model.safetensors"));
        QVERIFY(!convertTorchBinToSafetensors(path, out).ok());
        QVERIFY(!QFile::exists(out));
    }

    // Pickles that need far more memory than their size (memoised keys copied per dict, memo
    // entries, containers) must stay within a budget proportional to data.pkl, or fail naming the
    // file.
    void unpicklerMemoryStaysWithinItsBudget_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("expected"); // empty: reading may succeed (within the budget)
        QTest::newRow("4 KB file: deflated data.pkl, a 1 MiB key memoised and used by 1000 dicts")
            << "zipbomb"
            << "compressed";
        QTest::newRow("stored data.pkl: a 16 KiB key memoised and used by 16000 dicts") << "keys"
                                                                                        << "";
        QTest::newRow("stored data.pkl: 6 million MEMOIZE opcodes") << "memoize"
                                                                    << "";
        QTest::newRow("stored data.pkl: 2 million empty dicts") << "dicts"
                                                                << "memory";
    }
    void unpicklerMemoryStaysWithinItsBudget() {
        QFETCH(QString, kind);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("pytorch_model.bin"));
        QByteArray pickle;
        if (kind == "zipbomb" || kind == "keys")
            pickle = kind == "zipbomb" ? test::memoisedKeyBombPickle(1 << 20, 1000)
                                       : test::memoisedKeyBombPickle(16 << 10, 16000);
        else if (kind == "memoize")
            pickle = test::memoizeFloodPickle(6'000'000);
        else
            pickle = test::emptyDictFloodPickle(2'000'000);
        const QByteArray data(64 * 4, '\x01');
        test::writeTorchZip(
            path.toStdString(),
            {{"data.pkl", pickle.constData(), size_t(pickle.size()), kind == "zipbomb"},
             {"data/0", data.constData(), size_t(data.size())}});
        const qint64 fileSize = QFileInfo(path).size();
        if (kind == "zipbomb")
            QVERIFY2(fileSize <= 8 * 1024, qPrintable(QString::number(fileSize)));

        if (!resetPeakResident())
            QSKIP("cannot reset the peak resident size through /proc/self/clear_refs (Linux >= 4.0 "
                  "needed)");
        const qint64 before = statusBytes("VmRSS");
        QVERIFY(before > 0);
        const auto r = readTorchZipCheckpoint(path);
        const qint64 growth = statusBytes("VmHWM") - before;
        qInfo("%s: %lld-byte file, %lld-byte data.pkl: peak resident memory grew by %s MiB; %s",
              qPrintable(kind), fileSize, qlonglong(pickle.size()), qPrintable(mib(growth)),
              r ? "read" : qPrintable(r.error().message.left(300)));
        // The budget is 16 MiB + 32 bytes per pickle byte (at most 208 MiB here, 80 MiB for the
        // 2 MB pickle); without one these pickles need 250 MiB to 1 GiB.
        QVERIFY2(growth < 160ll * 1024 * 1024, qPrintable(mib(growth)));
        if (!expected.isEmpty())
            QVERIFY2(!r.ok(), "a hostile pickle was accepted");
        if (!r) {
            QVERIFY2(r.error().message.contains(path), qPrintable(r.error().message));
            QVERIFY2(r.error().message.contains(expected), qPrintable(r.error().message));
        }
    }

    // Older transformers saved position_ids buffers as torch.arange(N).expand((1, -1)): int64 [1,
    // N] views whose size-1 dimension has stride N or 0 (file made by python3-torch, see
    // tests/data/model/position-ids/make_pytorch_model.py). They load and convert to I64.
    void readsAndConvertsPositionIdsAsTransformersSavedThem() {
        const auto r = readTorchZipCheckpoint(positionIdsBin());
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
        QCOMPARE(r->size(), size_t(3));
        struct Want {
            std::string name;
            int64_t n;
            std::vector<int64_t> strides;
        };
        const std::vector<Want> wants{
            {"bridgetower.text_model.embeddings.position_ids", 40, {40, 1}},
            {"bridgetower.vision_model.visual.embeddings.position_ids", 17, {0, 1}}};
        for (const Want &want : wants) {
            const auto it = std::find_if(r->begin(), r->end(),
                                         [&](const NamedTensor &t) { return t.name == want.name; });
            QVERIFY(it != r->end());
            QCOMPARE(it->tensor.scalar_type(), at::kLong);
            QCOMPARE(it->tensor.sizes().vec(), (std::vector<int64_t>{1, want.n}));
            QCOMPARE(it->tensor.strides().vec(), want.strides);
            QVERIFY(at::equal(it->tensor, at::arange(want.n, at::kLong).unsqueeze(0)));
        }
        QTemporaryDir dir;
        const QString out = dir.filePath(QStringLiteral("model.safetensors"));
        const Status s = convertTorchBinToSafetensors(positionIdsBin(), out);
        QVERIFY2(s.ok(), s.ok() ? "" : qPrintable(s.error().message));
        auto st = SafetensorsFile::open(out);
        QVERIFY(st.ok());
        for (const Want &want : wants) {
            const TensorView *v = st->find(want.name);
            QVERIFY(v);
            QCOMPARE(v->dtype, DType::I64);
            QCOMPARE(v->shape, (std::vector<int64_t>{1, want.n}));
            std::vector<int64_t> arange(size_t(want.n));
            std::iota(arange.begin(), arange.end(), 0);
            QCOMPARE(v->toInt64(), arange);
        }
        QCOMPARE(st->find("weight")->dtype, DType::F32);
    }

    // Deterministic mutations of the whole file (bit flips, overwritten runs, truncations).
    void fileMutationsNeverCrash() {
        const QByteArray fixture = readAll(fixtureBin());
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("pytorch_model.bin"));
        std::mt19937 rng(2024);
        int accepted = 0;
        const int rounds = 200 * fuzzScale();
        for (int i = 0; i < rounds; ++i) {
            QByteArray b = fixture;
            const int kind = i % 4;
            // Most bytes are tensor data (CRC-protected); aim half the edits at the directory and
            // data.pkl.
            auto pos = [&]() -> qsizetype {
                if (rng() % 2)
                    return qsizetype(rng() % 30000);
                if (rng() % 2)
                    return b.size() - 1 - qsizetype(rng() % std::min<qsizetype>(b.size(), 20000));
                return qsizetype(rng() % uint32_t(b.size()));
            };
            if (kind == 0 || kind == 1) {
                for (int k = 0, n = 1 + int(rng() % 8); k < n; ++k) {
                    const qsizetype p = pos();
                    b[p] = char(b[p] ^ (1 << (rng() % 8)));
                }
            } else if (kind == 2) {
                const qsizetype p = pos();
                for (qsizetype k = p; k < std::min(b.size(), p + 1 + qsizetype(rng() % 16)); ++k)
                    b[k] = char(rng() % 2 ? 0xff : rng());
            } else {
                b.truncate(qsizetype(rng() % uint32_t(b.size())));
            }
            QVERIFY(writeBytes(path, b));
            accepted += readTorchZipCheckpoint(path).ok();
            checkCleanOutcome(path, QStringLiteral("file mutation %1").arg(i));
        }
        qInfo("file mutations accepted: %d of %d", accepted, rounds);
    }

    // Mutations of data.pkl alone, repackaged with valid CRCs, so they reach the unpickler.
    void pickleMutationsNeverCrash() {
        auto records = fixtureRecords();
        size_t pklIndex = 0;
        for (size_t k = 0; k < records.size(); ++k)
            if (records[k].first == "data.pkl")
                pklIndex = k;
        const QByteArray pickle = records[pklIndex].second;
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("pytorch_model.bin"));
        std::mt19937 rng(99);
        int accepted = 0;
        const int rounds = 300 * fuzzScale();
        for (int i = 0; i < rounds; ++i) {
            QByteArray p = pickle;
            switch (i % 4) {
            case 0: // flip bits
                for (int k = 0, n = 1 + int(rng() % 4); k < n; ++k) {
                    const qsizetype at = qsizetype(rng() % uint32_t(p.size()));
                    p[at] = char(p[at] ^ (1 << (rng() % 8)));
                }
                break;
            case 1: // random byte (often a different opcode)
                p[qsizetype(rng() % uint32_t(p.size()))] = char(rng());
                break;
            case 2: // truncate
                p.truncate(qsizetype(rng() % uint32_t(p.size())));
                break;
            case 3: { // duplicate or drop a slice
                const qsizetype at = qsizetype(rng() % uint32_t(p.size()));
                const qsizetype len = 1 + qsizetype(rng() % 40);
                if (rng() % 2)
                    p.insert(at, p.mid(at, len));
                else
                    p.remove(at, len);
                break;
            }
            }
            records[pklIndex].second = p;
            writeZip(path, records);
            const auto r = readTorchZipCheckpoint(path);
            accepted += r.ok();
            checkCleanOutcome(path, QStringLiteral("pickle mutation %1").arg(i));
        }
        qInfo("pickle mutations accepted: %d of %d", accepted, rounds);
    }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
