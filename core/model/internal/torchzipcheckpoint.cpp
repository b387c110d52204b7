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
#include <string_view>
#include <unordered_map>

namespace ts::internal {

namespace {

// data.pkl of a real state dict is ~150 bytes per tensor; anything far larger is not a state dict.
constexpr uint64_t kMaxPickleBytes = 64ull * 1024 * 1024;
// The unpickler's memory budget: every value, container slot, dict key, memo entry and stack slot
// it allocates is counted against kBudgetFloor + kBudgetPerByte x the size of data.pkl. A real
// state dict needs ~10 bytes per pickle byte (measured on the fixtures); a pickle built to
// amplify memory (one container per opcode byte, memoised keys reused) runs into the limit.
constexpr size_t kBudgetFloor = 16u * 1024 * 1024;
constexpr size_t kBudgetPerByte = 32;
// Tensors may be views into storages, and several names may share a storage (tied weights), but
// all views together may not hold more than kMaxViewExpansion x the stored bytes (+ kViewSlack):
// converting writes every view out in full.
constexpr uint64_t kMaxViewExpansion = 4;
constexpr uint64_t kViewSlack = 1024 * 1024;
constexpr size_t kMaxDims = 64;

// A failure inside this file: becomes a ts::Error with the file name in front.
struct Failure {
    Error::Code code;
    QString message;
};

[[noreturn]] void fail(Error::Code code, const QString &message) {
    throw Failure{code, message};
}
[[noreturn]] void corrupt(const QString &message) {
    fail(Error::Code::Format, message);
}

QString q(const std::string &s) {
    return QString::fromStdString(s);
}

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
    uint64_t localHeaderOffset = 0;
    uint64_t dataOffset = 0; // where the record's bytes start (after its local header)
};

uint16_t le16(const uint8_t *p) {
    return uint16_t(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t *p) {
    return uint32_t(le16(p)) | (uint32_t(le16(p + 2)) << 16);
}
uint64_t le64(const uint8_t *p) {
    return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32);
}

QByteArray readAt(QFile &file, uint64_t offset, uint64_t size) {
    if (!file.seek(qint64(offset)))
        corrupt(QStringLiteral("cannot seek to offset %1").arg(offset));
    QByteArray bytes = file.read(qint64(size));
    if (uint64_t(bytes.size()) != size)
        corrupt(QStringLiteral("the file is truncated (reading %1 bytes at offset %2)")
                    .arg(size)
                    .arg(offset));
    return bytes;
}

// Returns the entries by full name, and the archive prefix ("<first dir>/") as LibTorch computes
// it.
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
        corrupt(QStringLiteral(
            "the zip directory is missing (the file is truncated or not a zip archive)"));
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
        corrupt(QStringLiteral("the zip directory (%1 entries, %2 bytes at offset %3) does not fit "
                               "in the %4-byte file")
                    .arg(entries)
                    .arg(cdSize)
                    .arg(cdOffset)
                    .arg(fileSize));
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
        entry.localHeaderOffset = le32(h + 42);
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
                if (entry.compressedSize == 0xFFFFFFFFu && fp + 8 <= xp + 4 + len) {
                    entry.compressedSize = le64(x + fp);
                    fp += 8;
                }
                if (entry.localHeaderOffset == 0xFFFFFFFFu && fp + 8 <= xp + 4 + len)
                    entry.localHeaderOffset = le64(x + fp);
            }
            xp += 4 + len;
        }
        if (entry.compressedSize > fileSize)
            corrupt(QStringLiteral("zip entry '%1' claims %2 bytes, more than the file holds")
                        .arg(q(name))
                        .arg(entry.compressedSize));
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

    // Each entry's local header and data must lie before the directory, and no two entries may
    // share bytes: overlapping entries are how zip bombs multiply one stored range (and torch.save
    // never writes them). miniz finds the data the same way: local header + its name and extra.
    struct Span {
        uint64_t begin, end;
        const std::string *name;
    };
    std::vector<Span> spans;
    spans.reserve(out.size());
    for (auto &[name, e] : out) {
        if (e.localHeaderOffset > cdOffset || cdOffset - e.localHeaderOffset < 30)
            corrupt(QStringLiteral("zip entry '%1' has its header outside the file's data area")
                        .arg(q(name)));
        const QByteArray local = readAt(file, e.localHeaderOffset, 30);
        const auto *l = reinterpret_cast<const uint8_t *>(local.constData());
        if (le32(l) != 0x04034b50u)
            corrupt(
                QStringLiteral("zip entry '%1' points to offset %2, where there is no local header")
                    .arg(q(name))
                    .arg(e.localHeaderOffset));
        e.dataOffset = e.localHeaderOffset + 30 + le16(l + 26) + le16(l + 28);
        if (e.dataOffset > cdOffset || e.compressedSize > cdOffset - e.dataOffset)
            corrupt(
                QStringLiteral("zip entry '%1' (%2 bytes at offset %3) runs into the zip directory")
                    .arg(q(name))
                    .arg(e.compressedSize)
                    .arg(e.dataOffset));
        spans.push_back({e.localHeaderOffset, e.dataOffset + e.compressedSize, &name});
    }
    std::sort(spans.begin(), spans.end(),
              [](const Span &a, const Span &b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans.size(); ++i)
        if (spans[i].begin < spans[i - 1].end)
            corrupt(QStringLiteral("zip entries '%1' (bytes %2-%3) and '%4' (bytes %5-%6) overlap; "
                                   "an archive whose entries "
                                   "share data is a zip bomb, not a torch.save checkpoint")
                        .arg(q(*spans[i - 1].name))
                        .arg(spans[i - 1].begin)
                        .arg(spans[i - 1].end)
                        .arg(q(*spans[i].name))
                        .arg(spans[i].begin)
                        .arg(spans[i].end));
    return out;
}

// ---------------------------------------------------------------------------------------------
// The restricted unpickler. Values live in an arena and refer to each other by pointer, so hostile
// pickles (cycles through the memo, deep nesting) cannot leak or recurse on destruction.

enum class Callable : uint8_t {
    None,
    OrderedDict,
    RebuildTensorV2,
    RebuildTensor,
    RebuildParameter,
    StorageType
};

struct Value;

struct TensorDesc {
    const Value *storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> sizes;
    std::vector<int64_t> strides;
};

struct DictData {
    std::vector<std::pair<Value *, Value *>> entries; // in insertion order
    // String keys -> entries index. The views point into the key values' strings, which live
    // (unchanged) in the arena: a memoised key used by many dicts is never copied.
    std::unordered_map<std::string_view, size_t> keyIndex;
};

// Kept small (one per pickle value): dict and tensor parts live behind pointers.
struct Value {
    enum class Kind : uint8_t {
        None,
        Bool,
        Int,
        Float,
        String,
        Tuple,
        List,
        Dict,
        Global,
        Storage,
        Tensor
    };
    Kind kind = Kind::None;
    Callable callable = Callable::None; // Global
    at::ScalarType dtype = at::kFloat;  // Global (StorageType), Storage
    int64_t i = 0;                      // Bool, Int
    int64_t numel = 0;                  // Storage: elements declared by the pickle
    double f = 0;
    std::string s;                      // String; Storage: record key
    std::vector<Value *> items;         // Tuple, List
    std::unique_ptr<DictData> dict;     // Dict
    std::unique_ptr<TensorDesc> tensor; // Tensor
};

const char *kindName(Value::Kind k) {
    switch (k) {
    case Value::Kind::None:
        return "None";
    case Value::Kind::Bool:
        return "bool";
    case Value::Kind::Int:
        return "int";
    case Value::Kind::Float:
        return "float";
    case Value::Kind::String:
        return "str";
    case Value::Kind::Tuple:
        return "tuple";
    case Value::Kind::List:
        return "list";
    case Value::Kind::Dict:
        return "dict";
    case Value::Kind::Global:
        return "global";
    case Value::Kind::Storage:
        return "storage";
    case Value::Kind::Tensor:
        return "tensor";
    }
    return "?";
}

std::optional<at::ScalarType> storageDtype(const std::string &name) {
    static const std::pair<const char *, at::ScalarType> kTypes[] = {
        {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble},
        {"HalfStorage", at::kHalf},   {"BFloat16Storage", at::kBFloat16},
        {"LongStorage", at::kLong},   {"IntStorage", at::kInt},
        {"ShortStorage", at::kShort}, {"CharStorage", at::kChar},
        {"ByteStorage", at::kByte},   {"BoolStorage", at::kBool}};
    for (const auto &[n, t] : kTypes)
        if (name == n)
            return t;
    return std::nullopt;
}

class Unpickler {
public:
    explicit Unpickler(const QByteArray &data)
        : m_p(reinterpret_cast<const uint8_t *>(data.constData())), m_n(size_t(data.size())),
          m_budget(kBudgetFloor + kBudgetPerByte * size_t(data.size())) {}

    const Value *run();

private:
    // Counts `bytes` of memory against the budget (never given back: the arena only grows, and
    // counting transient buffers too keeps this an upper bound of what was allocated).
    void charge(size_t bytes) {
        m_used += bytes;
        if (m_used > m_budget)
            corrupt(QStringLiteral("data.pkl needs more than %1 MiB of memory to unpickle, the "
                                   "limit for a %2-byte pickle "
                                   "(%3 MiB + %4 bytes per pickle byte; a state dict needs far "
                                   "less), so it is not a plain state dict "
                                   "(stopped at offset %5)")
                        .arg(m_budget >> 20)
                        .arg(m_n)
                        .arg(kBudgetFloor >> 20)
                        .arg(kBudgetPerByte)
                        .arg(m_opStart));
    }
    Value *make(Value::Kind kind) {
        charge(sizeof(Value) + 16); // + the arena's bookkeeping
        m_arena.emplace_back();
        m_arena.back().kind = kind;
        return &m_arena.back();
    }
    // None, booleans, the ints of one-byte BININT1 and the empty tuple are immutable and frequent:
    // one shared value each, so a run of one-byte opcodes costs a stack slot, not a value.
    Value *shared(Value *&slot, Value::Kind kind, int64_t i = 0) {
        if (!slot) {
            slot = make(kind);
            slot->i = i;
        }
        return slot;
    }
    Value *makeInt(int64_t v) {
        if (v >= 0 && v < int64_t(m_smallInts.size()))
            return shared(m_smallInts[size_t(v)], Value::Kind::Int, v);
        Value *r = make(Value::Kind::Int);
        r->i = v;
        return r;
    }
    void push(Value *v) {
        charge(sizeof(Value *));
        m_stack.push_back(v);
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
                corrupt(
                    QStringLiteral("data.pkl has an over-long name at offset %1").arg(m_opStart));
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
    void mark() {
        charge(sizeof(size_t));
        m_marks.push_back(m_stack.size());
    }
    // Pops everything above the top mark, and the mark.
    std::vector<Value *> popMark() {
        if (m_marks.empty())
            corrupt(QStringLiteral("data.pkl uses a missing MARK at offset %1").arg(m_opStart));
        const size_t m = m_marks.back();
        m_marks.pop_back();
        charge((m_stack.size() - m) * sizeof(Value *));
        std::vector<Value *> items(m_stack.begin() + std::ptrdiff_t(m), m_stack.end());
        m_stack.resize(m);
        return items;
    }
    Value *tuple(std::vector<Value *> items) {
        if (items.empty())
            return shared(m_emptyTuple, Value::Kind::Tuple);
        charge(items.size() * sizeof(Value *));
        Value *t = make(Value::Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    Value *dict() {
        Value *d = make(Value::Kind::Dict);
        charge(sizeof(DictData));
        d->dict = std::make_unique<DictData>();
        return d;
    }
    void setItem(Value *dict, Value *key, Value *value) {
        if (dict->kind != Value::Kind::Dict)
            corrupt(QStringLiteral("data.pkl sets an item on a %1 at offset %2")
                        .arg(QLatin1String(kindName(dict->kind)))
                        .arg(m_opStart));
        DictData &d = *dict->dict;
        if (key->kind == Value::Kind::String) {
            if (const auto it = d.keyIndex.find(key->s); it != d.keyIndex.end()) {
                d.entries[it->second].second = value;
                return;
            }
            charge(64); // a hash node and its bucket (the key itself is not copied)
            d.keyIndex.emplace(key->s, d.entries.size());
        }
        charge(2 * sizeof(std::pair<Value *, Value *>)); // the slot, with the vector's growth
        d.entries.emplace_back(key, value);
    }
    void append(Value *list, Value *item) {
        if (list->kind != Value::Kind::List)
            corrupt(QStringLiteral("data.pkl appends to a %1 at offset %2")
                        .arg(QLatin1String(kindName(list->kind)))
                        .arg(m_opStart));
        charge(2 * sizeof(Value *));
        list->items.push_back(item);
    }
    // Pickles number memo entries 0, 1, 2, ... (MEMOIZE always, BINPUT in practice): those go to a
    // vector; any other index to a map. Both are counted.
    void memoPut(uint64_t index) {
        if (index > std::numeric_limits<uint32_t>::max())
            corrupt(QStringLiteral("data.pkl uses memo index %1 at offset %2")
                        .arg(index)
                        .arg(m_opStart));
        Value *v = top();
        if (index < m_memo.size()) {
            m_memo[size_t(index)] = v;
        } else if (index == m_memo.size()) {
            charge(2 * sizeof(Value *));
            m_memo.push_back(v);
        } else {
            const auto [it, inserted] = m_sparseMemo.insert_or_assign(uint32_t(index), v);
            if (inserted)
                charge(64);
        }
    }
    void memoGet(uint64_t index) {
        if (index < m_memo.size())
            return push(m_memo[size_t(index)]);
        const auto it = index <= std::numeric_limits<uint32_t>::max()
                            ? m_sparseMemo.find(uint32_t(index))
                            : m_sparseMemo.end();
        if (it == m_sparseMemo.end())
            corrupt(
                QStringLiteral("data.pkl reads memo entry %1, which was never stored (offset %2)")
                    .arg(index)
                    .arg(m_opStart));
        push(it->second);
    }
    void pushString(size_t len) {
        if (len > m_n - m_pos)
            corrupt(
                QStringLiteral("data.pkl has a %1-byte string at offset %2 that runs past its end")
                    .arg(len)
                    .arg(m_opStart));
        charge(len);
        Value *v = make(Value::Kind::String);
        v->s.assign(reinterpret_cast<const char *>(take(len)), len);
        push(v);
    }
    Value *global(const std::string &module, const std::string &name);
    Value *reduce(Value *callable, Value *args);
    Value *persistentLoad(Value *pid);

    const uint8_t *m_p;
    size_t m_n;
    size_t m_pos = 0;
    size_t m_opStart = 0;
    size_t m_budget;
    size_t m_used = 0;
    std::deque<Value> m_arena;
    std::vector<Value *> m_stack;
    std::vector<size_t> m_marks;
    std::vector<Value *> m_memo;
    std::unordered_map<uint32_t, Value *> m_sparseMemo;
    std::map<std::string, Value *> m_storages;
    std::array<Value *, 256> m_smallInts{};
    Value *m_none = nullptr;
    Value *m_true = nullptr;
    Value *m_false = nullptr;
    Value *m_emptyTuple = nullptr;
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
             QStringLiteral(
                 "data.pkl refers to the Python global '%1.%2' (offset %3), which a state dict "
                 "never needs; refusing to load it (it is not executed)")
                 .arg(q(module), q(name))
                 .arg(m_opStart));
    }
    return g;
}

int64_t asInt(const Value *v, const char *what) {
    if (v->kind != Value::Kind::Int)
        corrupt(QStringLiteral("data.pkl: %1 is a %2, expected an int")
                    .arg(QLatin1String(what), QLatin1String(kindName(v->kind))));
    return v->i;
}

std::vector<int64_t> asIntTuple(const Value *v, const char *what) {
    if (v->kind != Value::Kind::Tuple || v->items.size() > kMaxDims)
        corrupt(QStringLiteral("data.pkl: %1 is not a tuple of at most %2 ints")
                    .arg(QLatin1String(what))
                    .arg(kMaxDims));
    std::vector<int64_t> out;
    for (const Value *item : v->items)
        out.push_back(asInt(item, what));
    return out;
}

Value *Unpickler::reduce(Value *callable, Value *args) {
    if (callable->kind != Value::Kind::Global || args->kind != Value::Kind::Tuple)
        fail(Error::Code::Unsupported,
             QStringLiteral(
                 "data.pkl calls a %1 (offset %2); only the allowed torch globals may be called")
                 .arg(QLatin1String(kindName(callable->kind)))
                 .arg(m_opStart));
    const auto &a = args->items;
    switch (callable->callable) {
    case Callable::OrderedDict:
        if (!a.empty())
            corrupt(QStringLiteral("data.pkl builds an OrderedDict with arguments (offset %1)")
                        .arg(m_opStart));
        return dict();
    case Callable::RebuildTensorV2:
    case Callable::RebuildTensor: {
        const bool v2 = callable->callable == Callable::RebuildTensorV2;
        // v2: (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (v2 ? (a.size() < 6 || a.size() > 7) : a.size() != 4)
            corrupt(QStringLiteral("data.pkl rebuilds a tensor with %1 arguments (offset %2)")
                        .arg(a.size())
                        .arg(m_opStart));
        if (a[0]->kind != Value::Kind::Storage)
            corrupt(
                QStringLiteral("data.pkl rebuilds a tensor from a %1, not a storage (offset %2)")
                    .arg(QLatin1String(kindName(a[0]->kind)))
                    .arg(m_opStart));
        Value *t = make(Value::Kind::Tensor);
        auto desc = std::make_unique<TensorDesc>();
        desc->storage = a[0];
        desc->offset = asInt(a[1], "a storage offset");
        desc->sizes = asIntTuple(a[2], "a tensor size");
        desc->strides = asIntTuple(a[3], "a tensor stride");
        if (desc->sizes.size() != desc->strides.size())
            corrupt(QStringLiteral(
                        "data.pkl rebuilds a tensor with %1 sizes but %2 strides (offset %3)")
                        .arg(desc->sizes.size())
                        .arg(desc->strides.size())
                        .arg(m_opStart));
        charge(sizeof(TensorDesc) + 2 * desc->sizes.size() * sizeof(int64_t));
        t->tensor = std::move(desc);
        return t;
    }
    case Callable::RebuildParameter: // (data, requires_grad, backward_hooks)
        if (a.size() != 3 || a[0]->kind != Value::Kind::Tensor)
            corrupt(QStringLiteral(
                        "data.pkl rebuilds a parameter from unexpected arguments (offset %1)")
                        .arg(m_opStart));
        return a[0];
    case Callable::StorageType:
    case Callable::None:
        break;
    }
    fail(Error::Code::Unsupported,
         QStringLiteral("data.pkl calls a storage type (offset %1); not allowed").arg(m_opStart));
}

// ('storage', torch.<X>Storage, key, location, numel): a storage record, read later.
Value *Unpickler::persistentLoad(Value *pid) {
    const auto &a = pid->items;
    if (pid->kind != Value::Kind::Tuple || a.size() != 5 || a[0]->kind != Value::Kind::String ||
        a[0]->s != "storage" || a[1]->kind != Value::Kind::Global ||
        a[1]->callable != Callable::StorageType || a[2]->kind != Value::Kind::String ||
        a[2]->s.empty() || a[2]->s.size() > 64)
        corrupt(QStringLiteral("data.pkl has a persistent id that is not ('storage', type, key, "
                               "location, numel) (offset %1)")
                    .arg(m_opStart));
    const int64_t numel = asInt(a[4], "a storage size");
    if (numel < 0)
        corrupt(QStringLiteral("data.pkl declares storage '%1' with %2 elements")
                    .arg(q(a[2]->s))
                    .arg(numel));
    auto it = m_storages.find(a[2]->s);
    if (it != m_storages.end()) {
        if (it->second->dtype != a[1]->dtype || it->second->numel != numel)
            corrupt(
                QStringLiteral("data.pkl declares storage '%1' twice with different types or sizes")
                    .arg(q(a[2]->s)));
        return it->second;
    }
    charge(64 + a[2]->s.size()); // the map node and its key
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
                fail(Error::Code::Unsupported,
                     QStringLiteral("data.pkl uses pickle protocol %1").arg(m_p[m_pos - 1]));
            break;
        case 0x95:
            take(8);
            break; // FRAME: framing is only a read-ahead hint
        case '.':
            return pop(); // STOP
        case '(':
            mark();
            break;
        case '0':
            pop();
            break;
        case '1':
            popMark();
            break;
        case '2':
            push(top());
            break;
        case 'N':
            push(shared(m_none, Value::Kind::None));
            break;
        case 0x88:
            push(shared(m_true, Value::Kind::Bool, 1));
            break;
        case 0x89:
            push(shared(m_false, Value::Kind::Bool, 0));
            break;
        case 'J':
            push(makeInt(int32_t(le32(take(4)))));
            break;
        case 'K':
            push(makeInt(*take(1)));
            break;
        case 'M':
            push(makeInt(le16(take(2))));
            break;
        case 0x8a: { // LONG1: little-endian two's complement
            const size_t n = *take(1);
            if (n > 8)
                corrupt(QStringLiteral("data.pkl has a %1-byte integer at offset %2")
                            .arg(n)
                            .arg(m_opStart));
            const uint8_t *b = take(n);
            uint64_t v = 0;
            for (size_t k = 0; k < n; ++k)
                v |= uint64_t(b[k]) << (8 * k);
            if (n > 0 && n < 8 && (b[n - 1] & 0x80))
                v |= ~uint64_t(0) << (8 * n);
            push(makeInt(int64_t(v)));
            break;
        }
        case 'G': { // BINFLOAT, big-endian
            const uint8_t *b = take(8);
            uint64_t bits = 0;
            for (int k = 0; k < 8; ++k)
                bits = (bits << 8) | b[k];
            Value *f = make(Value::Kind::Float);
            std::memcpy(&f->f, &bits, sizeof bits);
            push(f);
            break;
        }
        case 'X':
            pushString(le32(take(4)));
            break; // BINUNICODE
        case 0x8c:
            pushString(*take(1));
            break;   // SHORT_BINUNICODE
        case 0x8d: { // BINUNICODE8
            const uint64_t len = le64(take(8));
            if (len > m_n)
                corrupt(QStringLiteral("data.pkl has a %1-byte string at offset %2")
                            .arg(len)
                            .arg(m_opStart));
            pushString(size_t(len));
            break;
        }
        case ')':
            push(tuple({}));
            break;
        case 't':
            push(tuple(popMark()));
            break;
        case 0x85: {
            Value *a = pop();
            push(tuple({a}));
            break;
        }
        case 0x86: {
            Value *b = pop();
            Value *a = pop();
            push(tuple({a, b}));
            break;
        }
        case 0x87: {
            Value *c = pop();
            Value *b = pop();
            Value *a = pop();
            push(tuple({a, b, c}));
            break;
        }
        case ']':
            push(make(Value::Kind::List));
            break;
        case 'l': {
            Value *l = make(Value::Kind::List);
            l->items = popMark();
            push(l);
            break;
        }
        case 'a': {
            Value *item = pop();
            append(top(), item);
            break;
        }
        case 'e': {
            std::vector<Value *> items = popMark();
            Value *l = top();
            for (Value *item : items)
                append(l, item);
            break;
        }
        case '}':
            push(dict());
            break;
        case 'd':
        case 'u': {
            std::vector<Value *> items = popMark();
            if (items.size() % 2)
                corrupt(QStringLiteral("data.pkl has an odd number of dict items at offset %1")
                            .arg(m_opStart));
            Value *d = op == 'd' ? dict() : top();
            for (size_t k = 0; k < items.size(); k += 2)
                setItem(d, items[k], items[k + 1]);
            if (op == 'd')
                push(d);
            break;
        }
        case 's': {
            Value *v = pop();
            Value *k = pop();
            setItem(top(), k, v);
            break;
        }
        case 'q':
            memoPut(*take(1));
            break;
        case 'r':
            memoPut(le32(take(4)));
            break;
        case 0x94:
            memoPut(m_memo.size() + m_sparseMemo.size());
            break; // MEMOIZE: index = len(memo)
        case 'h':
            memoGet(*take(1));
            break;
        case 'j':
            memoGet(le32(take(4)));
            break;
        case 'c': { // GLOBAL "module\nname\n"
            const std::string module = takeLine();
            const std::string name = takeLine();
            push(global(module, name));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            Value *name = pop();
            Value *module = pop();
            if (module->kind != Value::Kind::String || name->kind != Value::Kind::String)
                corrupt(QStringLiteral("data.pkl has a STACK_GLOBAL without strings at offset %1")
                            .arg(m_opStart));
            push(global(module->s, name->s));
            break;
        }
        case 'R': {
            Value *args = pop();
            Value *callable = pop();
            push(reduce(callable, args));
            break;
        }
        case 'b': { // BUILD: only an OrderedDict's state (its `_metadata`), which we do not need
            pop();
            if (top()->kind != Value::Kind::Dict)
                fail(Error::Code::Unsupported,
                     QStringLiteral(
                         "data.pkl sets the state of a %1 (offset %2); only dicts are allowed")
                         .arg(QLatin1String(kindName(top()->kind)))
                         .arg(m_opStart));
            break;
        }
        case 'Q': {
            Value *pid = pop();
            push(persistentLoad(pid));
            break;
        }
        default:
            fail(Error::Code::Unsupported,
                 QStringLiteral("data.pkl uses pickle opcode 0x%1 at offset %2, which a state dict "
                                "does not need; refusing it")
                     .arg(op, 2, 16, QLatin1Char('0'))
                     .arg(m_opStart));
        }
    }
}

// ---------------------------------------------------------------------------------------------

// The dict holding the tensors: the root, or its "state_dict" / "model" entry.
const Value *findStateDict(const Value *root) {
    for (int depth = 0; depth < 3; ++depth) {
        if (root->kind != Value::Kind::Dict)
            corrupt(QStringLiteral("data.pkl holds a %1, not a dict of tensors")
                        .arg(QLatin1String(kindName(root->kind))));
        bool hasTensor = false;
        const Value *nested = nullptr;
        for (const auto &[k, v] : root->dict->entries) {
            hasTensor |= v->kind == Value::Kind::Tensor;
            if (k->kind == Value::Kind::String && (k->s == "state_dict" || k->s == "model") &&
                v->kind == Value::Kind::Dict)
                nested = v;
        }
        if (hasTensor || !nested)
            return root;
        root = nested;
    }
    return root;
}

QString dimsText(const std::vector<int64_t> &v) {
    QStringList parts;
    for (int64_t x : v)
        parts << QString::number(x);
    return QLatin1Char('[') + parts.join(QStringLiteral(", ")) + QLatin1Char(']');
}

// Checks that the tensor's elements lie inside its storage and that distinct elements are distinct
// stored elements (all arithmetic overflow-checked). Returns the tensor's size in bytes, which is
// then at most its storage's.
//
// Stride 0 is allowed on size-1 dimensions only, where the stride is never used: older transformers
// saved position_ids as torch.arange(N).expand((1, -1)), shape [1, N], stride [0, 1] (or [N, 1]).
// Stride 0 on a longer dimension is a broadcast that repeats stored data (a [2^28] view of one
// element would convert to a 1 GiB file); it is refused, like any other overlapping layout.
uint64_t checkBounds(const std::string &name, const TensorDesc &t) {
    const Value &s = *t.storage;
    auto bad = [&](const QString &why) {
        corrupt(QStringLiteral("tensor '%1' (storage '%2', %3 elements): %4")
                    .arg(q(name), q(s.s))
                    .arg(s.numel)
                    .arg(why));
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
        return 0;
    }
    // No overlap: with the dimensions longer than 1 sorted by stride, each stride must step past
    // everything the smaller ones reach (the layout of any contiguous, transposed or sliced
    // tensor).
    std::vector<std::pair<int64_t, int64_t>> dims; // (stride, size)
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        if (t.sizes[d] <= 1)
            continue;
        if (t.strides[d] == 0)
            bad(QStringLiteral(
                    "dimension %1 has %2 elements with stride 0 (sizes %3, strides %4): a "
                    "broadcast that "
                    "repeats stored data; stride 0 is only accepted on size-1 dimensions")
                    .arg(d)
                    .arg(t.sizes[d])
                    .arg(dimsText(t.sizes), dimsText(t.strides)));
        dims.emplace_back(t.strides[d], t.sizes[d]);
    }
    std::sort(dims.begin(), dims.end());
    int64_t reach = 0;
    for (const auto &[stride, size] : dims) {
        int64_t extent = 0;
        if (stride <= reach)
            bad(QStringLiteral("sizes %1 with strides %2 make overlapping elements (one stored "
                               "element would be read "
                               "several times)")
                    .arg(dimsText(t.sizes), dimsText(t.strides)));
        if (__builtin_mul_overflow(size - 1, stride, &extent) ||
            __builtin_add_overflow(reach, extent, &reach))
            bad(QStringLiteral("the tensor's extent overflows"));
    }
    if (__builtin_add_overflow(last, reach, &last))
        bad(QStringLiteral("the tensor's extent overflows"));
    if (last >= s.numel)
        bad(QStringLiteral("offset %1 with sizes and strides reaching element %2 needs more than "
                           "the storage holds")
                .arg(t.offset)
                .arg(last));
    return uint64_t(numel) *
           c10::elementSize(
               s.dtype); // numel <= s.numel, whose bytes fit (checked against the record)
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
        fail(
            Error::Code::Unsupported,
            QStringLiteral(
                "legacy torch.save format (before torch 1.6) is not supported; re-save it with "
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
        corrupt(QStringLiteral("data.pkl is %1 bytes, more than the %2-byte limit")
                    .arg(pkl->size)
                    .arg(kMaxPickleBytes));
    if (const ZipEntry *bo = entry("byteorder"); bo && bo->size > 16)
        corrupt(QStringLiteral("the byteorder record is corrupt"));
    file.close();

    caffe2::serialize::PyTorchStreamReader reader(path.toStdString());
    auto readRecord = [&](const std::string &name, const ZipEntry &e) {
        // torch.save stores every record (miniz level 0); a deflated one can expand ~1000-fold
        // before any of our checks sees it.
        if (e.method != 0)
            fail(
                Error::Code::Unsupported,
                QStringLiteral("record '%1' is compressed (zip method %2); torch.save stores every "
                               "record uncompressed, so this file was not written by torch.save")
                    .arg(q(prefix + name))
                    .arg(e.method));
        auto [ptr, size] = reader.getRecord(name);
        if (size != e.size)
            corrupt(QStringLiteral("record '%1' read as %2 bytes, the zip directory says %3")
                        .arg(q(name))
                        .arg(size)
                        .arg(e.size));
        if (crc32(ptr.get(), size) != e.crc)
            corrupt(QStringLiteral("record '%1' fails its CRC-32 check (the file is corrupt)")
                        .arg(q(name)));
        return std::move(ptr);
    };

    if (const ZipEntry *bo = entry("byteorder")) {
        const at::DataPtr data = readRecord("byteorder", *bo);
        const std::string order(static_cast<const char *>(data.get()), bo->size);
        if (order != "little")
            fail(Error::Code::Unsupported,
                 QStringLiteral("the checkpoint was saved on a '%1'-endian machine; only "
                                "little-endian is supported")
                     .arg(q(order)));
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
    // No overflow: each view is at most its storage, and the storages' sizes are those of records
    // in the file.
    uint64_t viewBytes = 0, storedBytes = 0;
    for (const auto &[k, v] : stateDict->dict->entries) {
        if (v->kind != Value::Kind::Tensor)
            continue;
        if (k->kind != Value::Kind::String)
            corrupt(QStringLiteral("a tensor is stored under a %1 key, not a name")
                        .arg(QLatin1String(kindName(k->kind))));
        const TensorDesc &t = *v->tensor;
        viewBytes += checkBounds(k->s, t);
        named.emplace_back(k->s, &t);
        if (firstUser.emplace(t.storage, k->s).second)
            storageOrder.push_back(t.storage);
    }
    if (named.empty())
        corrupt(QStringLiteral("data.pkl holds no tensors"));

    std::vector<const ZipEntry *> records;
    for (const Value *s : storageOrder) {
        const std::string record = "data/" + s->s;
        const QString who = QStringLiteral("tensor '%1': storage record '%2'")
                                .arg(q(firstUser[s]), q(prefix + record));
        const ZipEntry *e = entry(record);
        if (!e)
            corrupt(QStringLiteral("%1 is missing").arg(who));
        const uint64_t elementSize = c10::elementSize(s->dtype);
        if (uint64_t(s->numel) > std::numeric_limits<uint64_t>::max() / elementSize ||
            e->size != uint64_t(s->numel) * elementSize)
            corrupt(
                QStringLiteral("%1 holds %2 bytes but data.pkl declares %3 elements of %4 bytes")
                    .arg(who)
                    .arg(e->size)
                    .arg(s->numel)
                    .arg(elementSize));
        records.push_back(e);
        storedBytes += e->size;
    }
    // Each view is at most its storage, but many names may view one storage.
    if (viewBytes > kMaxViewExpansion * storedBytes + kViewSlack)
        corrupt(QStringLiteral("its %1 tensors span %2 bytes, more than %3 times the %4 bytes "
                               "their storages hold; checkpoints "
                               "share a storage between a few tied weights at most, so this one "
                               "would expand when converted")
                    .arg(named.size())
                    .arg(viewBytes)
                    .arg(kMaxViewExpansion)
                    .arg(storedBytes));

    std::map<const Value *, at::Storage> storages;
    for (size_t i = 0; i < storageOrder.size(); ++i) {
        const Value *s = storageOrder[i];
        at::DataPtr data = readRecord("data/" + s->s, *records[i]);
        storages.emplace(s, c10::Storage(c10::Storage::use_byte_size_t(), size_t(records[i]->size),
                                         std::move(data), nullptr, false));
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
        return Error(Error::Code::Format,
                     QStringLiteral("%1: not a readable torch.save checkpoint: %2")
                         .arg(path, QString::fromUtf8(e.what_without_backtrace())));
    } catch (const std::bad_alloc &) {
        return Error(Error::Code::Io,
                     QStringLiteral("%1: out of memory while reading the checkpoint").arg(path));
    } catch (const std::exception &e) {
        return Error(Error::Code::Format,
                     QStringLiteral("%1: not a readable torch.save checkpoint: %2")
                         .arg(path, QString::fromUtf8(e.what())));
    }
}

} // namespace ts::internal
