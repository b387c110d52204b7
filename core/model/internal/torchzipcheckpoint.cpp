#include "core/model/internal/torchzipcheckpoint.h"

#include <ATen/ATen.h>
#include <c10/core/Storage.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

#include <QFile>
#include <QFileInfo>

#include <array>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

namespace ts::internal {

namespace {

// data.pkl of a real state dict is ~200 bytes per tensor; anything far larger is not a state dict.
constexpr uint64_t kMaxPickleBytes = 64ull * 1024 * 1024;
// Values the unpickler may create (bounds memory for hostile pickles; a state dict needs ~15 per tensor).
constexpr size_t kMaxValues = 2'000'000;
constexpr size_t kMaxDims = 64;

// A failure inside this file: becomes a ts::Error with the file name in front.
struct Failure {
    Error::Code code;
    QString message;
};

[[noreturn]] void fail(Error::Code code, const QString &message) { throw Failure{code, message}; }
[[noreturn]] void corrupt(const QString &message) { fail(Error::Code::Format, message); }

QString q(const std::string &s) { return QString::fromStdString(s); }

// ---------------------------------------------------------------------------------------------
// CRC-32 (zip polynomial), slice-by-8. LibTorch's miniz is built with its CRC checks disabled
// (MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS), so a flipped bit in a record would go unnoticed.

struct CrcTables {
    uint32_t t[8][256];
    CrcTables() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i)
            for (int s = 1; s < 8; ++s)
                t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
};

uint32_t crc32(const void *data, size_t n) {
    static const CrcTables tables;
    const auto &t = tables.t;
    const auto *p = static_cast<const uint8_t *>(data);
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t lo, hi;
        std::memcpy(&lo, p, 4);
        std::memcpy(&hi, p + 4, 4);
        lo ^= c;
        c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
            t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

// ---------------------------------------------------------------------------------------------
// The zip central directory, read by us before miniz touches the file: it gives each record's
// size (checked before anything is allocated) and CRC.

struct ZipEntry {
    uint16_t method = 0;
    uint32_t crc = 0;
    uint64_t compressedSize = 0;
    uint64_t size = 0;
};

uint16_t le16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t *p) { return uint32_t(le16(p)) | (uint32_t(le16(p + 2)) << 16); }
uint64_t le64(const uint8_t *p) { return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32); }

QByteArray readAt(QFile &file, uint64_t offset, uint64_t size) {
    if (!file.seek(qint64(offset)))
        corrupt(QStringLiteral("cannot seek to offset %1").arg(offset));
    QByteArray bytes = file.read(qint64(size));
    if (uint64_t(bytes.size()) != size)
        corrupt(QStringLiteral("the file is truncated (reading %1 bytes at offset %2)").arg(size).arg(offset));
    return bytes;
}

// Returns the entries by full name, and the archive prefix ("<first dir>/") as LibTorch computes it.
std::map<std::string, ZipEntry> readZipDirectory(QFile &file, std::string &prefix) {
    const uint64_t fileSize = uint64_t(file.size());
    const uint64_t tailSize = std::min<uint64_t>(fileSize, 22 + 65535);
    const QByteArray tail = readAt(file, fileSize - tailSize, tailSize);
    const auto *t = reinterpret_cast<const uint8_t *>(tail.constData());
    int64_t eocd = -1;
    for (int64_t i = int64_t(tailSize) - 22; i >= 0; --i)
        if (le32(t + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd < 0)
        corrupt(QStringLiteral("the zip directory is missing (the file is truncated or not a zip archive)"));
    uint64_t entries = le16(t + eocd + 10);
    uint64_t cdSize = le32(t + eocd + 12);
    uint64_t cdOffset = le32(t + eocd + 16);
    const uint64_t eocdPos = fileSize - tailSize + uint64_t(eocd);
    if (eocdPos >= 20) { // a zip64 locator sits right before the end record
        const QByteArray loc = readAt(file, eocdPos - 20, 20);
        const auto *l = reinterpret_cast<const uint8_t *>(loc.constData());
        if (le32(l) == 0x07064b50u) {
            const uint64_t z64 = le64(l + 8);
            if (z64 > fileSize || fileSize - z64 < 56)
                corrupt(QStringLiteral("the zip64 directory record lies outside the file"));
            const QByteArray rec = readAt(file, z64, 56);
            const auto *r = reinterpret_cast<const uint8_t *>(rec.constData());
            if (le32(r) != 0x06064b50u)
                corrupt(QStringLiteral("the zip64 directory record is corrupt"));
            entries = le64(r + 32);
            cdSize = le64(r + 40);
            cdOffset = le64(r + 48);
        }
    }
    if (cdOffset > fileSize || cdSize > fileSize - cdOffset || entries > cdSize / 46)
        corrupt(QStringLiteral("the zip directory (%1 entries, %2 bytes at offset %3) does not fit in the %4-byte file")
                    .arg(entries).arg(cdSize).arg(cdOffset).arg(fileSize));
    const QByteArray cd = readAt(file, cdOffset, cdSize);
    const auto *p = reinterpret_cast<const uint8_t *>(cd.constData());
    const uint64_t n = uint64_t(cd.size());
    std::map<std::string, ZipEntry> out;
    uint64_t pos = 0;
    for (uint64_t e = 0; e < entries; ++e) {
        if (n - pos < 46 || le32(p + pos) != 0x02014b50u)
            corrupt(QStringLiteral("zip directory entry %1 is corrupt").arg(e));
        const uint8_t *h = p + pos;
        ZipEntry entry;
        entry.method = le16(h + 10);
        entry.crc = le32(h + 16);
        entry.compressedSize = le32(h + 20);
        entry.size = le32(h + 24);
        const uint64_t nameLen = le16(h + 28), extraLen = le16(h + 30), commentLen = le16(h + 32);
        if (n - pos - 46 < nameLen + extraLen + commentLen)
            corrupt(QStringLiteral("zip directory entry %1 is corrupt").arg(e));
        std::string name(reinterpret_cast<const char *>(h + 46), nameLen);
        // zip64: the 0xFFFFFFFF sizes are in the extra field 0x0001, uncompressed size first.
        const uint8_t *x = h + 46 + nameLen;
        for (uint64_t xp = 0; xp + 4 <= extraLen;) {
            const uint16_t id = le16(x + xp), len = le16(x + xp + 2);
            if (xp + 4 + len > extraLen)
                break;
            if (id == 0x0001) {
                uint64_t fp = xp + 4;
                if (entry.size == 0xFFFFFFFFu && fp + 8 <= xp + 4 + len) {
                    entry.size = le64(x + fp);
                    fp += 8;
                }
                if (entry.compressedSize == 0xFFFFFFFFu && fp + 8 <= xp + 4 + len)
                    entry.compressedSize = le64(x + fp);
            }
            xp += 4 + len;
        }
        if (entry.compressedSize > fileSize)
            corrupt(QStringLiteral("zip entry '%1' claims %2 bytes, more than the file holds").arg(q(name)).arg(entry.compressedSize));
        // Deflate cannot expand more than ~1032:1; a larger claim is corruption, not data.
        if ((entry.method == 0 && entry.size != entry.compressedSize) ||
            (entry.method != 0 && entry.size / 1032 > entry.compressedSize + 1))
            corrupt(QStringLiteral("zip entry '%1' has inconsistent sizes").arg(q(name)));
        if (e == 0) {
            const auto slash = name.find('/');
            prefix = slash == std::string::npos ? std::string() : name.substr(0, slash + 1);
        }
        out.emplace(std::move(name), entry);
        pos += 46 + nameLen + extraLen + commentLen;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The restricted unpickler. Values live in an arena and refer to each other by pointer, so hostile
// pickles (cycles through the memo, deep nesting) cannot leak or recurse on destruction.

enum class Callable { None, OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, StorageType };

struct Value;

struct TensorDesc {
    const Value *storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
};

struct Value {
    enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };
    Kind kind = Kind::None;
    int64_t i = 0;
    double f = 0;
    std::string s; // String; Storage: record key
    std::vector<Value *> items;                      // Tuple, List
    std::vector<std::pair<Value *, Value *>> entries; // Dict, in insertion order
    std::unordered_map<std::string, size_t> keyIndex; // Dict: string keys -> entries index
    Callable callable = Callable::None;              // Global
    at::ScalarType dtype = at::kFloat;               // Global (StorageType), Storage
    int64_t numel = 0;                               // Storage: elements declared by the pickle
    TensorDesc tensor;                               // Tensor
};

const char *kindName(Value::Kind k) {
    switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
    }
    return "?";
}

std::optional<at::ScalarType> storageDtype(const std::string &name) {
    static const std::pair<const char *, at::ScalarType> kTypes[] = {
        {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
        {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
        {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
        {"BoolStorage", at::kBool}};
    for (const auto &[n, t] : kTypes)
        if (name == n)
            return t;
    return std::nullopt;
}

class Unpickler {
public:
    explicit Unpickler(const QByteArray &data)
        : m_p(reinterpret_cast<const uint8_t *>(data.constData())), m_n(size_t(data.size())) {}

    const Value *run();

private:
    Value *make(Value::Kind kind) {
        if (m_arena.size() >= kMaxValues)
            corrupt(QStringLiteral("data.pkl creates more than %1 values").arg(kMaxValues));
        m_arena.emplace_back();
        m_arena.back().kind = kind;
        return &m_arena.back();
    }
    Value *makeInt(int64_t v) {
        Value *r = make(Value::Kind::Int);
        r->i = v;
        return r;
    }
    const uint8_t *take(size_t n) {
        if (n > m_n - m_pos)
            corrupt(QStringLiteral("data.pkl ends inside an opcode at offset %1").arg(m_opStart));
        const uint8_t *r = m_p + m_pos;
        m_pos += n;
        return r;
    }
    std::string takeLine() {
        std::string line;
        for (;;) {
            const char c = char(*take(1));
            if (c == '\n')
                return line;
            if (line.size() > 256)
                corrupt(QStringLiteral("data.pkl has an over-long name at offset %1").arg(m_opStart));
            line.push_back(c);
        }
    }
    size_t floor() const { return m_marks.empty() ? 0 : m_marks.back(); }
    Value *pop() {
        if (m_stack.size() <= floor())
            corrupt(QStringLiteral("data.pkl pops an empty stack at offset %1").arg(m_opStart));
        Value *v = m_stack.back();
        m_stack.pop_back();
        return v;
    }
    Value *top() {
        if (m_stack.size() <= floor())
            corrupt(QStringLiteral("data.pkl reads an empty stack at offset %1").arg(m_opStart));
        return m_stack.back();
    }
    // Pops everything above the top mark, and the mark.
    std::vector<Value *> popMark() {
        if (m_marks.empty())
            corrupt(QStringLiteral("data.pkl uses a missing MARK at offset %1").arg(m_opStart));
        const size_t m = m_marks.back();
        m_marks.pop_back();
        std::vector<Value *> items(m_stack.begin() + std::ptrdiff_t(m), m_stack.end());
        m_stack.resize(m);
        return items;
    }
    Value *tuple(std::vector<Value *> items) {
        Value *t = make(Value::Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    void setItem(Value *dict, Value *key, Value *value) {
        if (dict->kind != Value::Kind::Dict)
            corrupt(QStringLiteral("data.pkl sets an item on a %1 at offset %2").arg(QLatin1String(kindName(dict->kind))).arg(m_opStart));
        if (key->kind == Value::Kind::String) {
            const auto [it, inserted] = dict->keyIndex.emplace(key->s, dict->entries.size());
            if (!inserted) {
                dict->entries[it->second].second = value;
                return;
            }
        }
        dict->entries.emplace_back(key, value);
    }
    void append(Value *list, Value *item) {
        if (list->kind != Value::Kind::List)
            corrupt(QStringLiteral("data.pkl appends to a %1 at offset %2").arg(QLatin1String(kindName(list->kind))).arg(m_opStart));
        list->items.push_back(item);
    }
    void memoPut(uint64_t index) {
        if (index > std::numeric_limits<uint32_t>::max())
            corrupt(QStringLiteral("data.pkl uses memo index %1 at offset %2").arg(index).arg(m_opStart));
        m_memo[uint32_t(index)] = top();
    }
    void memoGet(uint64_t index) {
        const auto it = index <= std::numeric_limits<uint32_t>::max() ? m_memo.find(uint32_t(index)) : m_memo.end();
        if (it == m_memo.end())
            corrupt(QStringLiteral("data.pkl reads memo entry %1, which was never stored (offset %2)").arg(index).arg(m_opStart));
        m_stack.push_back(it->second);
    }
    void pushString(size_t len) {
        if (len > m_n - m_pos)
            corrupt(QStringLiteral("data.pkl has a %1-byte string at offset %2 that runs past its end").arg(len).arg(m_opStart));
        Value *v = make(Value::Kind::String);
        v->s.assign(reinterpret_cast<const char *>(take(len)), len);
        m_stack.push_back(v);
    }
    Value *global(const std::string &module, const std::string &name);
    Value *reduce(Value *callable, Value *args);
    Value *persistentLoad(Value *pid);

    const uint8_t *m_p;
    size_t m_n;
    size_t m_pos = 0;
    size_t m_opStart = 0;
    std::deque<Value> m_arena;
    std::vector<Value *> m_stack;
    std::vector<size_t> m_marks;
    std::unordered_map<uint32_t, Value *> m_memo;
    std::map<std::string, Value *> m_storages;
};

Value *Unpickler::global(const std::string &module, const std::string &name) {
    Value *g = make(Value::Kind::Global);
    if (module == "collections" && name == "OrderedDict")
        g->callable = Callable::OrderedDict;
    else if (module == "torch._utils" && name == "_rebuild_tensor_v2")
        g->callable = Callable::RebuildTensorV2;
    else if (module == "torch._utils" && name == "_rebuild_tensor")
        g->callable = Callable::RebuildTensor;
    else if (module == "torch._utils" && name == "_rebuild_parameter")
        g->callable = Callable::RebuildParameter;
    else if (module == "torch" && storageDtype(name)) {
        g->callable = Callable::StorageType;
        g->dtype = *storageDtype(name);
    } else {
        fail(Error::Code::Unsupported,
             QStringLiteral("data.pkl refers to the Python global '%1.%2' (offset %3), which a state dict "
                            "never needs; refusing to load it (it is not executed)")
                 .arg(q(module), q(name)).arg(m_opStart));
    }
    return g;
}

int64_t asInt(const Value *v, const char *what) {
    if (v->kind != Value::Kind::Int)
        corrupt(QStringLiteral("data.pkl: %1 is a %2, expected an int").arg(QLatin1String(what), QLatin1String(kindName(v->kind))));
    return v->i;
}

std::vector<int64_t> asIntTuple(const Value *v, const char *what) {
    if (v->kind != Value::Kind::Tuple || v->items.size() > kMaxDims)
        corrupt(QStringLiteral("data.pkl: %1 is not a tuple of at most %2 ints").arg(QLatin1String(what)).arg(kMaxDims));
    std::vector<int64_t> out;
    for (const Value *item : v->items)
        out.push_back(asInt(item, what));
    return out;
}

Value *Unpickler::reduce(Value *callable, Value *args) {
    if (callable->kind != Value::Kind::Global || args->kind != Value::Kind::Tuple)
        fail(Error::Code::Unsupported, QStringLiteral("data.pkl calls a %1 (offset %2); only the allowed torch globals may be called")
                                           .arg(QLatin1String(kindName(callable->kind))).arg(m_opStart));
    const auto &a = args->items;
    switch (callable->callable) {
    case Callable::OrderedDict:
        if (!a.empty())
            corrupt(QStringLiteral("data.pkl builds an OrderedDict with arguments (offset %1)").arg(m_opStart));
        return make(Value::Kind::Dict);
    case Callable::RebuildTensorV2:
    case Callable::RebuildTensor: {
        const bool v2 = callable->callable == Callable::RebuildTensorV2;
        // v2: (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (v2 ? (a.size() < 6 || a.size() > 7) : a.size() != 4)
            corrupt(QStringLiteral("data.pkl rebuilds a tensor with %1 arguments (offset %2)").arg(a.size()).arg(m_opStart));
        if (a[0]->kind != Value::Kind::Storage)
            corrupt(QStringLiteral("data.pkl rebuilds a tensor from a %1, not a storage (offset %2)").arg(QLatin1String(kindName(a[0]->kind))).arg(m_opStart));
        Value *t = make(Value::Kind::Tensor);
        t->tensor.storage = a[0];
        t->tensor.offset = asInt(a[1], "a storage offset");
        t->tensor.sizes = asIntTuple(a[2], "a tensor size");
        t->tensor.strides = asIntTuple(a[3], "a tensor stride");
        if (t->tensor.sizes.size() != t->tensor.strides.size())
            corrupt(QStringLiteral("data.pkl rebuilds a tensor with %1 sizes but %2 strides (offset %3)")
                        .arg(t->tensor.sizes.size()).arg(t->tensor.strides.size()).arg(m_opStart));
        return t;
    }
    case Callable::RebuildParameter: // (data, requires_grad, backward_hooks)
        if (a.size() != 3 || a[0]->kind != Value::Kind::Tensor)
            corrupt(QStringLiteral("data.pkl rebuilds a parameter from unexpected arguments (offset %1)").arg(m_opStart));
        return a[0];
    case Callable::StorageType:
    case Callable::None:
        break;
    }
    fail(Error::Code::Unsupported, QStringLiteral("data.pkl calls a storage type (offset %1); not allowed").arg(m_opStart));
}

// ('storage', torch.<X>Storage, key, location, numel): a storage record, read later.
Value *Unpickler::persistentLoad(Value *pid) {
    const auto &a = pid->items;
    if (pid->kind != Value::Kind::Tuple || a.size() != 5 || a[0]->kind != Value::Kind::String || a[0]->s != "storage" ||
        a[1]->kind != Value::Kind::Global || a[1]->callable != Callable::StorageType || a[2]->kind != Value::Kind::String ||
        a[2]->s.empty() || a[2]->s.size() > 64)
        corrupt(QStringLiteral("data.pkl has a persistent id that is not ('storage', type, key, location, numel) (offset %1)").arg(m_opStart));
    const int64_t numel = asInt(a[4], "a storage size");
    if (numel < 0)
        corrupt(QStringLiteral("data.pkl declares storage '%1' with %2 elements").arg(q(a[2]->s)).arg(numel));
    auto it = m_storages.find(a[2]->s);
    if (it != m_storages.end()) {
        if (it->second->dtype != a[1]->dtype || it->second->numel != numel)
            corrupt(QStringLiteral("data.pkl declares storage '%1' twice with different types or sizes").arg(q(a[2]->s)));
        return it->second;
    }
    Value *s = make(Value::Kind::Storage);
    s->s = a[2]->s;
    s->dtype = a[1]->dtype;
    s->numel = numel;
    m_storages.emplace(s->s, s);
    return s;
}

const Value *Unpickler::run() {
    while (true) {
        m_opStart = m_pos;
        const uint8_t op = *take(1);
        switch (op) {
        case 0x80: // PROTO
            if (*take(1) > 5)
                fail(Error::Code::Unsupported, QStringLiteral("data.pkl uses pickle protocol %1").arg(m_p[m_pos - 1]));
            break;
        case 0x95: take(8); break; // FRAME: framing is only a read-ahead hint
        case '.': return pop();    // STOP
        case '(': m_marks.push_back(m_stack.size()); break;
        case '0': pop(); break;
        case '1': popMark(); break;
        case '2': m_stack.push_back(top()); break;
        case 'N': m_stack.push_back(make(Value::Kind::None)); break;
        case 0x88: case 0x89: {
            Value *b = make(Value::Kind::Bool);
            b->i = op == 0x88;
            m_stack.push_back(b);
            break;
        }
        case 'J': m_stack.push_back(makeInt(int32_t(le32(take(4))))); break;
        case 'K': m_stack.push_back(makeInt(*take(1))); break;
        case 'M': m_stack.push_back(makeInt(le16(take(2)))); break;
        case 0x8a: { // LONG1: little-endian two's complement
            const size_t n = *take(1);
            if (n > 8)
                corrupt(QStringLiteral("data.pkl has a %1-byte integer at offset %2").arg(n).arg(m_opStart));
            const uint8_t *b = take(n);
            uint64_t v = 0;
            for (size_t k = 0; k < n; ++k)
                v |= uint64_t(b[k]) << (8 * k);
            if (n > 0 && n < 8 && (b[n - 1] & 0x80))
                v |= ~uint64_t(0) << (8 * n);
            m_stack.push_back(makeInt(int64_t(v)));
            break;
        }
        case 'G': { // BINFLOAT, big-endian
            const uint8_t *b = take(8);
            uint64_t bits = 0;
            for (int k = 0; k < 8; ++k)
                bits = (bits << 8) | b[k];
            Value *f = make(Value::Kind::Float);
            std::memcpy(&f->f, &bits, sizeof bits);
            m_stack.push_back(f);
            break;
        }
        case 'X': pushString(le32(take(4))); break;       // BINUNICODE
        case 0x8c: pushString(*take(1)); break;           // SHORT_BINUNICODE
        case 0x8d: {                                      // BINUNICODE8
            const uint64_t len = le64(take(8));
            if (len > m_n)
                corrupt(QStringLiteral("data.pkl has a %1-byte string at offset %2").arg(len).arg(m_opStart));
            pushString(size_t(len));
            break;
        }
        case ')': m_stack.push_back(tuple({})); break;
        case 't': m_stack.push_back(tuple(popMark())); break;
        case 0x85: { Value *a = pop(); m_stack.push_back(tuple({a})); break; }
        case 0x86: { Value *b = pop(); Value *a = pop(); m_stack.push_back(tuple({a, b})); break; }
        case 0x87: { Value *c = pop(); Value *b = pop(); Value *a = pop(); m_stack.push_back(tuple({a, b, c})); break; }
        case ']': m_stack.push_back(make(Value::Kind::List)); break;
        case 'l': {
            Value *l = make(Value::Kind::List);
            l->items = popMark();
            m_stack.push_back(l);
            break;
        }
        case 'a': { Value *item = pop(); append(top(), item); break; }
        case 'e': {
            std::vector<Value *> items = popMark();
            Value *l = top();
            for (Value *item : items)
                append(l, item);
            break;
        }
        case '}': m_stack.push_back(make(Value::Kind::Dict)); break;
        case 'd': case 'u': {
            std::vector<Value *> items = popMark();
            if (items.size() % 2)
                corrupt(QStringLiteral("data.pkl has an odd number of dict items at offset %1").arg(m_opStart));
            Value *d = op == 'd' ? make(Value::Kind::Dict) : top();
            for (size_t k = 0; k < items.size(); k += 2)
                setItem(d, items[k], items[k + 1]);
            if (op == 'd')
                m_stack.push_back(d);
            break;
        }
        case 's': { Value *v = pop(); Value *k = pop(); setItem(top(), k, v); break; }
        case 'q': memoPut(*take(1)); break;
        case 'r': memoPut(le32(take(4))); break;
        case 0x94: memoPut(m_memo.size()); break; // MEMOIZE
        case 'h': memoGet(*take(1)); break;
        case 'j': memoGet(le32(take(4))); break;
        case 'c': { // GLOBAL "module\nname\n"
            const std::string module = takeLine();
            const std::string name = takeLine();
            m_stack.push_back(global(module, name));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            Value *name = pop();
            Value *module = pop();
            if (module->kind != Value::Kind::String || name->kind != Value::Kind::String)
                corrupt(QStringLiteral("data.pkl has a STACK_GLOBAL without strings at offset %1").arg(m_opStart));
            m_stack.push_back(global(module->s, name->s));
            break;
        }
        case 'R': { Value *args = pop(); Value *callable = pop(); m_stack.push_back(reduce(callable, args)); break; }
        case 'b': { // BUILD: only an OrderedDict's state (its `_metadata`), which we do not need
            pop();
            if (top()->kind != Value::Kind::Dict)
                fail(Error::Code::Unsupported, QStringLiteral("data.pkl sets the state of a %1 (offset %2); only dicts are allowed")
                                                   .arg(QLatin1String(kindName(top()->kind))).arg(m_opStart));
            break;
        }
        case 'Q': { Value *pid = pop(); m_stack.push_back(persistentLoad(pid)); break; }
        default:
            fail(Error::Code::Unsupported,
                 QStringLiteral("data.pkl uses pickle opcode 0x%1 at offset %2, which a state dict does not need; refusing it")
                     .arg(op, 2, 16, QLatin1Char('0')).arg(m_opStart));
        }
    }
}

// ---------------------------------------------------------------------------------------------

// The dict holding the tensors: the root, or its "state_dict" / "model" entry.
const Value *findStateDict(const Value *root) {
    for (int depth = 0; depth < 3; ++depth) {
        if (root->kind != Value::Kind::Dict)
            corrupt(QStringLiteral("data.pkl holds a %1, not a dict of tensors").arg(QLatin1String(kindName(root->kind))));
        bool hasTensor = false;
        const Value *nested = nullptr;
        for (const auto &[k, v] : root->entries) {
            hasTensor |= v->kind == Value::Kind::Tensor;
            if (k->kind == Value::Kind::String && (k->s == "state_dict" || k->s == "model") && v->kind == Value::Kind::Dict)
                nested = v;
        }
        if (hasTensor || !nested)
            return root;
        root = nested;
    }
    return root;
}

// Checks that the tensor's elements lie inside its storage (all arithmetic overflow-checked).
void checkBounds(const std::string &name, const TensorDesc &t) {
    const Value &s = *t.storage;
    auto bad = [&](const QString &why) {
        corrupt(QStringLiteral("tensor '%1' (storage '%2', %3 elements): %4").arg(q(name), q(s.s)).arg(s.numel).arg(why));
    };
    if (t.offset < 0)
        bad(QStringLiteral("negative storage offset %1").arg(t.offset));
    int64_t numel = 1, last = t.offset;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        if (t.sizes[d] < 0 || t.strides[d] < 0)
            bad(QStringLiteral("negative size or stride in dimension %1").arg(d));
        if (__builtin_mul_overflow(numel, t.sizes[d], &numel))
            bad(QStringLiteral("the element count overflows"));
    }
    if (numel == 0) {
        if (t.offset > s.numel)
            bad(QStringLiteral("storage offset %1 lies past the storage").arg(t.offset));
        return;
    }
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        int64_t extent = 0;
        if (__builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &extent) || __builtin_add_overflow(last, extent, &last))
            bad(QStringLiteral("the tensor's extent overflows"));
    }
    if (last >= s.numel)
        bad(QStringLiteral("offset %1 with sizes and strides reaching element %2 needs more than the storage holds")
                .arg(t.offset).arg(last));
}

std::vector<NamedTensor> read(const QString &path) {
    QFile file(path);
    if (!file.exists())
        fail(Error::Code::NotFound, QStringLiteral("file not found"));
    if (!file.open(QIODevice::ReadOnly))
        fail(Error::Code::Io, QStringLiteral("cannot open: %1").arg(file.errorString()));
    if (file.size() == 0)
        corrupt(QStringLiteral("the file is empty"));
    const QByteArray magic = file.read(4);
    if (magic.startsWith('\x80'))
        fail(Error::Code::Unsupported,
             QStringLiteral("legacy torch.save format (before torch 1.6) is not supported; re-save it with "
                            "torch>=1.6 (torch.save(torch.load(f), f)) or convert it to model.safetensors with "
                            "the safetensors Python package"));
    if (magic != QByteArrayLiteral("PK\x03\x04"))
        corrupt(QStringLiteral("not a torch.save checkpoint (no zip signature)"));

    std::string prefix;
    const std::map<std::string, ZipEntry> entries = readZipDirectory(file, prefix);
    auto entry = [&](const std::string &name) -> const ZipEntry * {
        const auto it = entries.find(prefix + name);
        return it == entries.end() ? nullptr : &it->second;
    };
    const ZipEntry *pkl = entry("data.pkl");
    if (!pkl)
        corrupt(QStringLiteral("the archive has no data.pkl record"));
    if (pkl->size > kMaxPickleBytes)
        corrupt(QStringLiteral("data.pkl is %1 bytes, more than the %2-byte limit").arg(pkl->size).arg(kMaxPickleBytes));
    if (const ZipEntry *bo = entry("byteorder"); bo && bo->size > 16)
        corrupt(QStringLiteral("the byteorder record is corrupt"));
    file.close();

    caffe2::serialize::PyTorchStreamReader reader(path.toStdString());
    auto readRecord = [&](const std::string &name, const ZipEntry &e) {
        auto [ptr, size] = reader.getRecord(name);
        if (size != e.size)
            corrupt(QStringLiteral("record '%1' read as %2 bytes, the zip directory says %3").arg(q(name)).arg(size).arg(e.size));
        if (crc32(ptr.get(), size) != e.crc)
            corrupt(QStringLiteral("record '%1' fails its CRC-32 check (the file is corrupt)").arg(q(name)));
        return std::move(ptr);
    };

    if (const ZipEntry *bo = entry("byteorder")) {
        const at::DataPtr data = readRecord("byteorder", *bo);
        const std::string order(static_cast<const char *>(data.get()), bo->size);
        if (order != "little")
            fail(Error::Code::Unsupported, QStringLiteral("the checkpoint was saved on a '%1'-endian machine; only little-endian is supported").arg(q(order)));
    }

    QByteArray pickle;
    {
        const at::DataPtr data = readRecord("data.pkl", *pkl);
        pickle = QByteArray(static_cast<const char *>(data.get()), qsizetype(pkl->size));
    }
    Unpickler unpickler(pickle);
    const Value *stateDict = findStateDict(unpickler.run());

    // Validate every tensor against its declared storage before reading any large record.
    std::vector<std::pair<std::string, const TensorDesc *>> named;
    std::vector<const Value *> storageOrder;
    std::map<const Value *, std::string> firstUser;
    for (const auto &[k, v] : stateDict->entries) {
        if (v->kind != Value::Kind::Tensor)
            continue;
        if (k->kind != Value::Kind::String)
            corrupt(QStringLiteral("a tensor is stored under a %1 key, not a name").arg(QLatin1String(kindName(k->kind))));
        checkBounds(k->s, v->tensor);
        named.emplace_back(k->s, &v->tensor);
        if (firstUser.emplace(v->tensor.storage, k->s).second)
            storageOrder.push_back(v->tensor.storage);
    }
    if (named.empty())
        corrupt(QStringLiteral("data.pkl holds no tensors"));

    std::map<const Value *, at::Storage> storages;
    for (const Value *s : storageOrder) {
        const std::string record = "data/" + s->s;
        const QString who = QStringLiteral("tensor '%1': storage record '%2'").arg(q(firstUser[s]), q(prefix + record));
        const ZipEntry *e = entry(record);
        if (!e)
            corrupt(QStringLiteral("%1 is missing").arg(who));
        const uint64_t elementSize = c10::elementSize(s->dtype);
        if (uint64_t(s->numel) > std::numeric_limits<uint64_t>::max() / elementSize || e->size != uint64_t(s->numel) * elementSize)
            corrupt(QStringLiteral("%1 holds %2 bytes but data.pkl declares %3 elements of %4 bytes")
                        .arg(who).arg(e->size).arg(s->numel).arg(elementSize));
        at::DataPtr data = readRecord(record, *e);
        storages.emplace(s, c10::Storage(c10::Storage::use_byte_size_t(), size_t(e->size), std::move(data), nullptr, false));
    }

    std::vector<NamedTensor> out;
    out.reserve(named.size());
    for (const auto &[name, t] : named) {
        at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(t->storage->dtype));
        tensor.set_(storages.at(t->storage), t->offset, t->sizes, t->strides);
        out.push_back({name, std::move(tensor)});
    }
    return out;
}

} // namespace

Result<std::vector<NamedTensor>> readTorchZipCheckpoint(const QString &path) {
    try {
        return read(path);
    } catch (const Failure &f) {
        return Error(f.code, QStringLiteral("%1: %2").arg(path, f.message));
    } catch (const c10::Error &e) {
        return Error(Error::Code::Format, QStringLiteral("%1: not a readable torch.save checkpoint: %2")
                                              .arg(path, QString::fromUtf8(e.what_without_backtrace())));
    } catch (const std::bad_alloc &) {
        return Error(Error::Code::Io, QStringLiteral("%1: out of memory while reading the checkpoint").arg(path));
    } catch (const std::exception &e) {
        return Error(Error::Code::Format, QStringLiteral("%1: not a readable torch.save checkpoint: %2").arg(path, QString::fromUtf8(e.what())));
    }
}

} // namespace ts::internal
