#pragma once

// Test helper: writes torch.save-format zip checkpoints without Python: a small pickle writer for
// the opcodes torch.save (protocol 2) emits, and the zip container via LibTorch's PyTorchStreamWriter.
// Used by tst_checkpoint (crafted and hostile files) and bench_checkpoint (a large synthetic file).

#include <caffe2/serialize/inline_container.h>

#include <QByteArray>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ts::test {

class PickleWriter {
public:
    explicit PickleWriter(int protocol = 2) { op(0x80).byte(uint8_t(protocol)); }

    PickleWriter &op(uint8_t b) { return byte(b); }
    PickleWriter &byte(uint8_t b) {
        m_bytes.append(char(b));
        return *this;
    }
    PickleWriter &raw(const QByteArray &b) {
        m_bytes.append(b);
        return *this;
    }
    PickleWriter &le32(uint32_t v) {
        for (int i = 0; i < 4; ++i)
            byte(uint8_t(v >> (8 * i)));
        return *this;
    }
    PickleWriter &mark() { return op('('); }
    PickleWriter &global(const std::string &module, const std::string &name) {
        op('c');
        m_bytes.append(module.c_str()).append('\n').append(name.c_str()).append('\n');
        return *this;
    }
    PickleWriter &str(const std::string &s) {
        op('X').le32(uint32_t(s.size()));
        m_bytes.append(s.data(), qsizetype(s.size()));
        return *this;
    }
    PickleWriter &integer(int64_t v) {
        if (v >= 0 && v < 256)
            return op('K').byte(uint8_t(v));
        if (v >= 0 && v < 65536)
            return op('M').byte(uint8_t(v)).byte(uint8_t(v >> 8));
        if (v >= INT32_MIN && v <= INT32_MAX)
            return op('J').le32(uint32_t(int32_t(v)));
        op(0x8a).byte(8);
        for (int i = 0; i < 8; ++i)
            byte(uint8_t(uint64_t(v) >> (8 * i)));
        return *this;
    }
    PickleWriter &intTuple(const std::vector<int64_t> &v) {
        mark();
        for (int64_t x : v)
            integer(x);
        return op('t');
    }
    const QByteArray &bytes() const { return m_bytes; }

private:
    QByteArray m_bytes;
};

struct TensorSpec {
    std::string name;
    std::string storageType = "FloatStorage";
    std::string key;
    int64_t storageNumel = 0;
    int64_t offset = 0;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
};

// An OrderedDict state dict the way torch.save pickles it (protocol 2, _rebuild_tensor_v2, persistent
// ids for storages). `nestUnder` wraps it in a plain dict {nestUnder: state_dict}; `withMetadata`
// adds the `_metadata` state Module.state_dict() attaches (a BUILD opcode).
inline QByteArray stateDictPickle(const std::vector<TensorSpec> &tensors, const std::string &nestUnder = {},
                                  bool withMetadata = false) {
    PickleWriter p;
    if (!nestUnder.empty())
        p.op('}').str(nestUnder);
    p.global("collections", "OrderedDict").op(')').op('R').mark();
    for (const TensorSpec &t : tensors) {
        p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark().str("storage").global("torch", t.storageType).str(t.key).str("cpu").integer(t.storageNumel).op('t').op('Q');
        p.integer(t.offset).intTuple(t.sizes).intTuple(t.strides).op(0x89);
        p.global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    }
    p.op('u');
    if (withMetadata) {
        p.mark().str("_metadata").global("collections", "OrderedDict").op(')').op('R');
        p.mark().str("").op('}').str("version").integer(1).op('s').op('u').op('d').op('b');
    }
    if (!nestUnder.empty())
        p.op('s');
    p.op('.');
    return p.bytes();
}

struct Record {
    std::string name; // relative to the archive folder: "data.pkl", "data/0", "byteorder"
    const void *data = nullptr;
    size_t size = 0;
};

// Writes `records` in order into a torch.save zip at `path` (archive folder = file's base name), plus
// the "version" record PyTorchStreamWriter always adds. Throws c10::Error on failure.
inline void writeTorchZip(const std::string &path, const std::vector<Record> &records) {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    for (const Record &r : records)
        writer.writeRecord(r.name, r.data, r.size);
    writer.writeEndOfFile();
}

} // namespace ts::test
