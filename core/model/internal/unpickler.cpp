#include "core/model/internal/unpickler.h"

#include <QtEndian>

#include <array>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <optional>

namespace ts::internal {

namespace {

// The memory budget (see the header): kBudgetFloor + kBudgetPerByte x the size of data.pkl.
constexpr size_t kBudgetFloor = 16u * 1024 * 1024;
constexpr size_t kBudgetPerByte = 32;
constexpr size_t kMaxDims = 64;

// A failure deep inside an opcode: unwinds to Unpickler::run, which turns it into an Error.
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

int64_t asInt(const PickleValue *v, const char *what) {
    if (v->kind != PickleValue::Kind::Int)
        corrupt(QStringLiteral("data.pkl: %1 is a %2, expected an int")
                    .arg(QLatin1String(what), QLatin1String(pickleKindName(v->kind))));
    return v->i;
}

std::vector<int64_t> asIntTuple(const PickleValue *v, const char *what) {
    if (v->kind != PickleValue::Kind::Tuple || v->items.size() > kMaxDims)
        corrupt(QStringLiteral("data.pkl: %1 is not a tuple of at most %2 ints")
                    .arg(QLatin1String(what))
                    .arg(kMaxDims));
    std::vector<int64_t> out;
    for (const PickleValue *item : v->items)
        out.push_back(asInt(item, what));
    return out;
}

} // namespace

const char *pickleKindName(PickleValue::Kind k) {
    switch (k) {
    case PickleValue::Kind::None:
        return "None";
    case PickleValue::Kind::Bool:
        return "bool";
    case PickleValue::Kind::Int:
        return "int";
    case PickleValue::Kind::Float:
        return "float";
    case PickleValue::Kind::String:
        return "str";
    case PickleValue::Kind::Tuple:
        return "tuple";
    case PickleValue::Kind::List:
        return "list";
    case PickleValue::Kind::Dict:
        return "dict";
    case PickleValue::Kind::Global:
        return "global";
    case PickleValue::Kind::Storage:
        return "storage";
    case PickleValue::Kind::Tensor:
        return "tensor";
    }
    return "?";
}

// The unpickling state machine: stack, marks, memo and the arena, one opcode at a time.
class Unpickler::Machine {
public:
    explicit Machine(const QByteArray &data)
        : m_p(reinterpret_cast<const uint8_t *>(data.constData())), m_n(size_t(data.size())),
          m_budget(kBudgetFloor + kBudgetPerByte * size_t(data.size())) {}

    const PickleValue *run();

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
    PickleValue *make(PickleValue::Kind kind) {
        charge(sizeof(PickleValue) + 16); // + the arena's bookkeeping
        m_arena.emplace_back();
        m_arena.back().kind = kind;
        return &m_arena.back();
    }
    // None, booleans, the ints of one-byte BININT1 and the empty tuple are immutable and frequent:
    // one shared value each, so a run of one-byte opcodes costs a stack slot, not a value.
    PickleValue *shared(PickleValue *&slot, PickleValue::Kind kind, int64_t i = 0) {
        if (!slot) {
            slot = make(kind);
            slot->i = i;
        }
        return slot;
    }
    PickleValue *makeInt(int64_t v) {
        if (v >= 0 && v < int64_t(m_smallInts.size()))
            return shared(m_smallInts[size_t(v)], PickleValue::Kind::Int, v);
        PickleValue *r = make(PickleValue::Kind::Int);
        r->i = v;
        return r;
    }
    void push(PickleValue *v) {
        charge(sizeof(PickleValue *));
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
    PickleValue *pop() {
        if (m_stack.size() <= floor())
            corrupt(QStringLiteral("data.pkl pops an empty stack at offset %1").arg(m_opStart));
        PickleValue *v = m_stack.back();
        m_stack.pop_back();
        return v;
    }
    PickleValue *top() {
        if (m_stack.size() <= floor())
            corrupt(QStringLiteral("data.pkl reads an empty stack at offset %1").arg(m_opStart));
        return m_stack.back();
    }
    void mark() {
        charge(sizeof(size_t));
        m_marks.push_back(m_stack.size());
    }
    // Pops everything above the top mark, and the mark.
    std::vector<PickleValue *> popMark() {
        if (m_marks.empty())
            corrupt(QStringLiteral("data.pkl uses a missing MARK at offset %1").arg(m_opStart));
        const size_t m = m_marks.back();
        m_marks.pop_back();
        charge((m_stack.size() - m) * sizeof(PickleValue *));
        std::vector<PickleValue *> items(m_stack.begin() + std::ptrdiff_t(m), m_stack.end());
        m_stack.resize(m);
        return items;
    }
    PickleValue *tuple(std::vector<PickleValue *> items) {
        if (items.empty())
            return shared(m_emptyTuple, PickleValue::Kind::Tuple);
        charge(items.size() * sizeof(PickleValue *));
        PickleValue *t = make(PickleValue::Kind::Tuple);
        t->items = std::move(items);
        return t;
    }
    PickleValue *dict() {
        PickleValue *d = make(PickleValue::Kind::Dict);
        charge(sizeof(PickleDict));
        d->dict = std::make_unique<PickleDict>();
        return d;
    }
    void setItem(PickleValue *dict, PickleValue *key, PickleValue *value) {
        if (dict->kind != PickleValue::Kind::Dict)
            corrupt(QStringLiteral("data.pkl sets an item on a %1 at offset %2")
                        .arg(QLatin1String(pickleKindName(dict->kind)))
                        .arg(m_opStart));
        PickleDict &d = *dict->dict;
        if (key->kind == PickleValue::Kind::String) {
            if (const auto it = d.keyIndex.find(key->s); it != d.keyIndex.end()) {
                d.entries[it->second].second = value;
                return;
            }
            charge(64); // a hash node and its bucket (the key itself is not copied)
            d.keyIndex.emplace(key->s, d.entries.size());
        }
        charge(
            2 *
            sizeof(std::pair<PickleValue *, PickleValue *>)); // the slot, with the vector's growth
        d.entries.emplace_back(key, value);
    }
    void append(PickleValue *list, PickleValue *item) {
        if (list->kind != PickleValue::Kind::List)
            corrupt(QStringLiteral("data.pkl appends to a %1 at offset %2")
                        .arg(QLatin1String(pickleKindName(list->kind)))
                        .arg(m_opStart));
        charge(2 * sizeof(PickleValue *));
        list->items.push_back(item);
    }
    // Pickles number memo entries 0, 1, 2, ... (MEMOIZE always, BINPUT in practice): those go to a
    // vector; any other index to a map. Both are counted.
    void memoPut(uint64_t index) {
        if (index > std::numeric_limits<uint32_t>::max())
            corrupt(QStringLiteral("data.pkl uses memo index %1 at offset %2")
                        .arg(index)
                        .arg(m_opStart));
        PickleValue *v = top();
        if (index < m_memo.size()) {
            m_memo[size_t(index)] = v;
        } else if (index == m_memo.size()) {
            charge(2 * sizeof(PickleValue *));
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
        PickleValue *v = make(PickleValue::Kind::String);
        v->s.assign(reinterpret_cast<const char *>(take(len)), len);
        push(v);
    }
    PickleValue *global(const std::string &module, const std::string &name);
    PickleValue *reduce(PickleValue *callable, PickleValue *args);
    PickleValue *persistentLoad(PickleValue *pid);

    const uint8_t *m_p;
    size_t m_n;
    size_t m_pos = 0;
    size_t m_opStart = 0;
    size_t m_budget;
    size_t m_used = 0;
    std::deque<PickleValue> m_arena;
    std::vector<PickleValue *> m_stack;
    std::vector<size_t> m_marks;
    std::vector<PickleValue *> m_memo;
    std::unordered_map<uint32_t, PickleValue *> m_sparseMemo;
    std::map<std::string, PickleValue *> m_storages;
    std::array<PickleValue *, 256> m_smallInts{};
    PickleValue *m_none = nullptr;
    PickleValue *m_true = nullptr;
    PickleValue *m_false = nullptr;
    PickleValue *m_emptyTuple = nullptr;
};

PickleValue *Unpickler::Machine::global(const std::string &module, const std::string &name) {
    PickleValue *g = make(PickleValue::Kind::Global);
    if (module == "collections" && name == "OrderedDict")
        g->callable = PickleCallable::OrderedDict;
    else if (module == "torch._utils" && name == "_rebuild_tensor_v2")
        g->callable = PickleCallable::RebuildTensorV2;
    else if (module == "torch._utils" && name == "_rebuild_tensor")
        g->callable = PickleCallable::RebuildTensor;
    else if (module == "torch._utils" && name == "_rebuild_parameter")
        g->callable = PickleCallable::RebuildParameter;
    else if (module == "torch" && storageDtype(name)) {
        g->callable = PickleCallable::StorageType;
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

PickleValue *Unpickler::Machine::reduce(PickleValue *callable, PickleValue *args) {
    if (callable->kind != PickleValue::Kind::Global || args->kind != PickleValue::Kind::Tuple)
        fail(Error::Code::Unsupported,
             QStringLiteral(
                 "data.pkl calls a %1 (offset %2); only the allowed torch globals may be called")
                 .arg(QLatin1String(pickleKindName(callable->kind)))
                 .arg(m_opStart));
    const auto &a = args->items;
    switch (callable->callable) {
    case PickleCallable::OrderedDict:
        if (!a.empty())
            corrupt(QStringLiteral("data.pkl builds an OrderedDict with arguments (offset %1)")
                        .arg(m_opStart));
        return dict();
    case PickleCallable::RebuildTensorV2:
    case PickleCallable::RebuildTensor: {
        const bool v2 = callable->callable == PickleCallable::RebuildTensorV2;
        // v2: (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (v2 ? (a.size() < 6 || a.size() > 7) : a.size() != 4)
            corrupt(QStringLiteral("data.pkl rebuilds a tensor with %1 arguments (offset %2)")
                        .arg(a.size())
                        .arg(m_opStart));
        if (a[0]->kind != PickleValue::Kind::Storage)
            corrupt(
                QStringLiteral("data.pkl rebuilds a tensor from a %1, not a storage (offset %2)")
                    .arg(QLatin1String(pickleKindName(a[0]->kind)))
                    .arg(m_opStart));
        PickleValue *t = make(PickleValue::Kind::Tensor);
        auto desc = std::make_unique<PickledTensor>();
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
        charge(sizeof(PickledTensor) + 2 * desc->sizes.size() * sizeof(int64_t));
        t->tensor = std::move(desc);
        return t;
    }
    case PickleCallable::RebuildParameter: // (data, requires_grad, backward_hooks)
        if (a.size() != 3 || a[0]->kind != PickleValue::Kind::Tensor)
            corrupt(QStringLiteral(
                        "data.pkl rebuilds a parameter from unexpected arguments (offset %1)")
                        .arg(m_opStart));
        return a[0];
    case PickleCallable::StorageType:
    case PickleCallable::None:
        break;
    }
    fail(Error::Code::Unsupported,
         QStringLiteral("data.pkl calls a storage type (offset %1); not allowed").arg(m_opStart));
}

// ('storage', torch.<X>Storage, key, location, numel): a storage record, read later.
PickleValue *Unpickler::Machine::persistentLoad(PickleValue *pid) {
    const auto &a = pid->items;
    if (pid->kind != PickleValue::Kind::Tuple || a.size() != 5 ||
        a[0]->kind != PickleValue::Kind::String || a[0]->s != "storage" ||
        a[1]->kind != PickleValue::Kind::Global || a[1]->callable != PickleCallable::StorageType ||
        a[2]->kind != PickleValue::Kind::String || a[2]->s.empty() || a[2]->s.size() > 64)
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
    PickleValue *s = make(PickleValue::Kind::Storage);
    s->s = a[2]->s;
    s->dtype = a[1]->dtype;
    s->numel = numel;
    m_storages.emplace(s->s, s);
    return s;
}

// One case per opcode, each a few lines: long, but read one case at a time (kept as one switch on
// purpose, like CPython's own unpickler).
const PickleValue *Unpickler::Machine::run() {
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
            push(shared(m_none, PickleValue::Kind::None));
            break;
        case 0x88:
            push(shared(m_true, PickleValue::Kind::Bool, 1));
            break;
        case 0x89:
            push(shared(m_false, PickleValue::Kind::Bool, 0));
            break;
        case 'J':
            push(makeInt(int32_t(qFromLittleEndian<quint32>(take(4)))));
            break;
        case 'K':
            push(makeInt(*take(1)));
            break;
        case 'M':
            push(makeInt(qFromLittleEndian<quint16>(take(2))));
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
            PickleValue *f = make(PickleValue::Kind::Float);
            std::memcpy(&f->f, &bits, sizeof bits);
            push(f);
            break;
        }
        case 'X':
            pushString(qFromLittleEndian<quint32>(take(4)));
            break; // BINUNICODE
        case 0x8c:
            pushString(*take(1));
            break;   // SHORT_BINUNICODE
        case 0x8d: { // BINUNICODE8
            const uint64_t len = qFromLittleEndian<quint64>(take(8));
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
            PickleValue *a = pop();
            push(tuple({a}));
            break;
        }
        case 0x86: {
            PickleValue *b = pop();
            PickleValue *a = pop();
            push(tuple({a, b}));
            break;
        }
        case 0x87: {
            PickleValue *c = pop();
            PickleValue *b = pop();
            PickleValue *a = pop();
            push(tuple({a, b, c}));
            break;
        }
        case ']':
            push(make(PickleValue::Kind::List));
            break;
        case 'l': {
            PickleValue *l = make(PickleValue::Kind::List);
            l->items = popMark();
            push(l);
            break;
        }
        case 'a': {
            PickleValue *item = pop();
            append(top(), item);
            break;
        }
        case 'e': {
            std::vector<PickleValue *> items = popMark();
            PickleValue *l = top();
            for (PickleValue *item : items)
                append(l, item);
            break;
        }
        case '}':
            push(dict());
            break;
        case 'd':
        case 'u': {
            std::vector<PickleValue *> items = popMark();
            if (items.size() % 2)
                corrupt(QStringLiteral("data.pkl has an odd number of dict items at offset %1")
                            .arg(m_opStart));
            PickleValue *d = op == 'd' ? dict() : top();
            for (size_t k = 0; k < items.size(); k += 2)
                setItem(d, items[k], items[k + 1]);
            if (op == 'd')
                push(d);
            break;
        }
        case 's': {
            PickleValue *v = pop();
            PickleValue *k = pop();
            setItem(top(), k, v);
            break;
        }
        case 'q':
            memoPut(*take(1));
            break;
        case 'r':
            memoPut(qFromLittleEndian<quint32>(take(4)));
            break;
        case 0x94:
            memoPut(m_memo.size() + m_sparseMemo.size());
            break; // MEMOIZE: index = len(memo)
        case 'h':
            memoGet(*take(1));
            break;
        case 'j':
            memoGet(qFromLittleEndian<quint32>(take(4)));
            break;
        case 'c': { // GLOBAL "module\nname\n"
            const std::string module = takeLine();
            const std::string name = takeLine();
            push(global(module, name));
            break;
        }
        case 0x93: { // STACK_GLOBAL
            PickleValue *name = pop();
            PickleValue *module = pop();
            if (module->kind != PickleValue::Kind::String ||
                name->kind != PickleValue::Kind::String)
                corrupt(QStringLiteral("data.pkl has a STACK_GLOBAL without strings at offset %1")
                            .arg(m_opStart));
            push(global(module->s, name->s));
            break;
        }
        case 'R': {
            PickleValue *args = pop();
            PickleValue *callable = pop();
            push(reduce(callable, args));
            break;
        }
        case 'b': { // BUILD: only an OrderedDict's state (its `_metadata`), which we do not need
            pop();
            if (top()->kind != PickleValue::Kind::Dict)
                fail(Error::Code::Unsupported,
                     QStringLiteral(
                         "data.pkl sets the state of a %1 (offset %2); only dicts are allowed")
                         .arg(QLatin1String(pickleKindName(top()->kind)))
                         .arg(m_opStart));
            break;
        }
        case 'Q': {
            PickleValue *pid = pop();
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

Unpickler::Unpickler(const QByteArray &pickle) : m_machine(std::make_unique<Machine>(pickle)) {}

Unpickler::~Unpickler() = default;

Result<const PickleValue *> Unpickler::run() {
    try {
        return m_machine->run();
    } catch (const Failure &f) {
        return Error(f.code, f.message);
    }
}

} // namespace ts::internal
