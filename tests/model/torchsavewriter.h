#pragma once

// Test helper: writes torch.save-format zip checkpoints without Python: a small pickle writer for
// the opcodes torch.save (protocol 2) emits, and the zip container via LibTorch's
// PyTorchStreamWriter. Used by tst_checkpoint (crafted and hostile files) and bench_checkpoint (a
// large synthetic file).

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

// An OrderedDict state dict the way torch.save pickles it (protocol 2, _rebuild_tensor_v2,
// persistent ids for storages). `nestUnder` wraps it in a plain dict {nestUnder: state_dict};
// `withMetadata` adds the `_metadata` state Module.state_dict() attaches (a BUILD opcode).
inline QByteArray stateDictPickle(const std::vector<TensorSpec> &tensors,
                                  const std::string &nestUnder = {}, bool withMetadata = false) {
    PickleWriter p;
    if (!nestUnder.empty())
        p.op('}').str(nestUnder);
    p.global("collections", "OrderedDict").op(')').op('R').mark();
    for (const TensorSpec &t : tensors) {
        p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark()
            .str("storage")
            .global("torch", t.storageType)
            .str(t.key)
            .str("cpu")
            .integer(t.storageNumel)
            .op('t')
            .op('Q');
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
    bool compress = false; // deflate it (torch.save never does: hostile files only)
};

// Writes `records` in order into a torch.save zip at `path` (archive folder = file's base name),
// plus the "version" record PyTorchStreamWriter always adds. Throws c10::Error on failure.
inline void writeTorchZip(const std::string &path, const std::vector<Record> &records) {
    caffe2::serialize::PyTorchStreamWriter writer(path);
    for (const Record &r : records)
        writer.writeRecord(r.name, r.data, r.size, r.compress);
    writer.writeEndOfFile();
}

// ---------------------------------------------------------------------------------------------
// Hostile pickles (tests and fuzz seeds). Each ends in the valid one-tensor state dict
// {"w": float32 [8, 8] over storage "0" of 64 elements}, so only its memory use can make it fail.

inline QByteArray withSmallStateDict(PickleWriter &prefix) {
    const QByteArray tail = stateDictPickle({{"w", "FloatStorage", "0", 64, 0, {8, 8}, {8, 1}}});
    return prefix.raw(tail.mid(2)).bytes(); // without the second PROTO
}

// A `keyBytes`-long string memoised once, then used as the key of `dicts` dicts
// ({key: None} each, 6 opcode bytes): an unpickler that copies keys needs dicts x keyBytes.
inline QByteArray memoisedKeyBombPickle(int keyBytes, int dicts) {
    PickleWriter p;
    p.str(std::string(size_t(keyBytes), 'k')).op('q').byte(0).op('0');
    for (int i = 0; i < dicts; ++i)
        p.op('}').op('h').byte(0).op('N').op('s').op('0');
    return withSmallStateDict(p);
}

// `count` MEMOIZE opcodes (one byte each), every one a new memo entry.
inline QByteArray memoizeFloodPickle(int count) {
    PickleWriter p;
    p.op('N');
    for (int i = 0; i < count; ++i)
        p.op(0x94);
    p.op('0');
    return withSmallStateDict(p);
}

// `count` EMPTY_DICT opcodes (one byte each) left on the stack: a new container per byte.
inline QByteArray emptyDictFloodPickle(int count) {
    PickleWriter p;
    for (int i = 0; i < count; ++i)
        p.op('}');
    return withSmallStateDict(p);
}

// Points the zip directory entry whose name ends in `entry` at the local header (and so the data)
// of the entry whose name ends in `target`: two entries sharing one byte range, the trick of
// overlapping-entry zip bombs. Both must have the same size and CRC to pass those checks.
// Returns false when either entry is not found (32-bit offsets only: small files).
inline bool pointEntryAt(QByteArray &zip, const std::string &entry, const std::string &target) {
    auto u16 = [&](qsizetype at) {
        return uint32_t(uint8_t(zip[at])) | (uint32_t(uint8_t(zip[at + 1])) << 8);
    };
    auto u32 = [&](qsizetype at) { return u16(at) | (u16(at + 2) << 16); };
    qsizetype entryAt = -1;
    uint32_t targetOffset = 0;
    bool found = false;
    for (qsizetype at = zip.indexOf(QByteArray("PK\x01\x02", 4)); at >= 0;
         at = zip.indexOf(QByteArray("PK\x01\x02", 4), at + 4)) {
        const std::string name(zip.constData() + at + 46, u16(at + 28));
        auto endsWith = [&](const std::string &s) {
            return name.size() >= s.size() &&
                   name.compare(name.size() - s.size(), s.size(), s) == 0;
        };
        if (endsWith("/" + entry))
            entryAt = at;
        if (endsWith("/" + target)) {
            targetOffset = u32(at + 42);
            found = true;
        }
    }
    if (entryAt < 0 || !found)
        return false;
    for (int i = 0; i < 4; ++i)
        zip[entryAt + 42 + i] = char(targetOffset >> (8 * i));
    return true;
}

} // namespace ts::test
