#include "core/model/internal/torchzipcheckpoint.h"

#include "core/common/crc32.h"
#include "core/model/internal/unpickler.h"
#include "core/model/internal/zipreader.h"

#include <ATen/ATen.h>
#include <c10/core/Storage.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

#include <QFile>

#include <limits>
#include <map>
#include <optional>

namespace ts::internal {

namespace {

// data.pkl of a real state dict is ~150 bytes per tensor; anything far larger is not a state dict.
constexpr uint64_t kMaxPickleBytes = 64ull * 1024 * 1024;
// Tensors may be views into storages, and several names may share a storage (tied weights), but
// all views together may not hold more than kMaxViewExpansion x the stored bytes (+ kViewSlack):
// converting writes every view out in full.
constexpr uint64_t kMaxViewExpansion = 4;
constexpr uint64_t kViewSlack = 1024 * 1024;

Error corrupt(const QString &message) {
    return Error(Error::Code::Format, message);
}

QString q(const std::string &s) {
    return QString::fromStdString(s);
}

QLatin1String kindName(const PickleValue *v) {
    return QLatin1String(pickleKindName(v->kind));
}

// The dict holding the tensors: the root, or its "state_dict" / "model" entry.
Result<const PickleValue *> findStateDict(const PickleValue *root) {
    for (int depth = 0; depth < 3; ++depth) {
        if (root->kind != PickleValue::Kind::Dict)
            return corrupt(
                QStringLiteral("data.pkl holds a %1, not a dict of tensors").arg(kindName(root)));
        bool hasTensor = false;
        const PickleValue *nested = nullptr;
        for (const auto &[k, v] : root->dict->entries) {
            hasTensor |= v->kind == PickleValue::Kind::Tensor;
            if (k->kind == PickleValue::Kind::String && (k->s == "state_dict" || k->s == "model") &&
                v->kind == PickleValue::Kind::Dict)
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

// Why the dimensions of `t` longer than 1 make distinct elements share a stored element, or
// nullopt when they do not; `reach` receives the last element's distance from the first.
//
// Stride 0 is allowed on size-1 dimensions only, where the stride is never used: older
// transformers saved position_ids as torch.arange(N).expand((1, -1)), shape [1, N], stride [0, 1]
// (or [N, 1]). Stride 0 on a longer dimension is a broadcast that repeats stored data (a [2^28]
// view of one element would convert to a 1 GiB file); it is refused, like any other overlapping
// layout. With the dimensions longer than 1 sorted by stride, each stride must step past
// everything the smaller ones reach (the layout of any contiguous, transposed or sliced tensor).
std::optional<QString> overlapProblem(const PickledTensor &t, int64_t &reach) {
    std::vector<std::pair<int64_t, int64_t>> dims; // (stride, size)
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        if (t.sizes[d] <= 1)
            continue;
        if (t.strides[d] == 0)
            return QStringLiteral(
                       "dimension %1 has %2 elements with stride 0 (sizes %3, strides %4): a "
                       "broadcast that "
                       "repeats stored data; stride 0 is only accepted on size-1 dimensions")
                .arg(d)
                .arg(t.sizes[d])
                .arg(dimsText(t.sizes), dimsText(t.strides));
        dims.emplace_back(t.strides[d], t.sizes[d]);
    }
    std::sort(dims.begin(), dims.end());
    reach = 0;
    for (const auto &[stride, size] : dims) {
        int64_t extent = 0;
        if (stride <= reach)
            return QStringLiteral("sizes %1 with strides %2 make overlapping elements (one stored "
                                  "element would be read "
                                  "several times)")
                .arg(dimsText(t.sizes), dimsText(t.strides));
        if (__builtin_mul_overflow(size - 1, stride, &extent) ||
            __builtin_add_overflow(reach, extent, &reach))
            return QStringLiteral("the tensor's extent overflows");
    }
    return std::nullopt;
}

// Checks that the tensor's elements lie inside its storage and that distinct elements are distinct
// stored elements (all arithmetic overflow-checked). Returns the tensor's size in bytes, which is
// then at most its storage's.
Result<uint64_t> checkBounds(const std::string &name, const PickledTensor &t) {
    const PickleValue &s = *t.storage;
    auto bad = [&](const QString &why) {
        return corrupt(QStringLiteral("tensor '%1' (storage '%2', %3 elements): %4")
                           .arg(q(name), q(s.s))
                           .arg(s.numel)
                           .arg(why));
    };
    if (t.offset < 0)
        return bad(QStringLiteral("negative storage offset %1").arg(t.offset));
    int64_t numel = 1, last = t.offset;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
        if (t.sizes[d] < 0 || t.strides[d] < 0)
            return bad(QStringLiteral("negative size or stride in dimension %1").arg(d));
        if (__builtin_mul_overflow(numel, t.sizes[d], &numel))
            return bad(QStringLiteral("the element count overflows"));
    }
    if (numel == 0) {
        if (t.offset > s.numel)
            return bad(QStringLiteral("storage offset %1 lies past the storage").arg(t.offset));
        return uint64_t(0);
    }
    int64_t reach = 0;
    if (const std::optional<QString> problem = overlapProblem(t, reach))
        return bad(*problem);
    if (__builtin_add_overflow(last, reach, &last))
        return bad(QStringLiteral("the tensor's extent overflows"));
    if (last >= s.numel)
        return bad(QStringLiteral("offset %1 with sizes and strides reaching element %2 needs "
                                  "more than the storage holds")
                       .arg(t.offset)
                       .arg(last));
    // numel <= s.numel, whose bytes fit (checked against the record).
    return uint64_t(numel) * c10::elementSize(s.dtype);
}

// Which tensors to build from which records, all checked before any large record is read.
struct TensorPlan {
    std::vector<std::pair<std::string, const PickledTensor *>> named; // in the pickle's order
    std::vector<const PickleValue *> storages; // each once, in order of first use
    std::vector<const ZipEntry *> records;     // storages[i]'s record
};

// Reads one checkpoint: the zip directory first (our own reader: it gives each record's size,
// checked before anything is allocated, and its CRC), then data.pkl, then the storage records
// through LibTorch's reader. Messages lack the file name; readTorchZipCheckpoint adds it.
class CheckpointReader {
public:
    explicit CheckpointReader(const QString &path) : m_path(path) {}

    Result<std::vector<NamedTensor>> read();

private:
    Status readDirectory();
    Result<at::DataPtr> readRecord(const std::string &name, const ZipEntry &e);
    Status checkByteOrder();
    Result<QByteArray> readPickle();
    Status collectTensors(const PickleValue &stateDict, TensorPlan &plan, uint64_t &viewBytes);
    Status matchStorageRecords(TensorPlan &plan, uint64_t &storedBytes);
    Result<TensorPlan> planTensors(const PickleValue &stateDict);
    Result<std::vector<NamedTensor>> buildTensors(const TensorPlan &plan);

    QString m_path;
    ZipDirectory m_zip;
    std::optional<caffe2::serialize::PyTorchStreamReader> m_reader;
    // The first tensor name using each storage, for messages about its record.
    std::map<const PickleValue *, std::string> m_firstUser;
};

// Opens the file and checks what kind of file it is before reading its zip directory.
Status CheckpointReader::readDirectory() {
    QFile file(m_path);
    if (!file.exists())
        return Error(Error::Code::NotFound, QStringLiteral("file not found"));
    if (!file.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io, QStringLiteral("cannot open: %1").arg(file.errorString()));
    if (file.size() == 0)
        return corrupt(QStringLiteral("the file is empty"));
    const QByteArray magic = file.read(4);
    if (magic.startsWith('\x80'))
        return Error(
            Error::Code::Unsupported,
            QStringLiteral(
                "legacy torch.save format (before torch 1.6) is not supported; re-save it with "
                "torch>=1.6 (torch.save(torch.load(f), f)) or convert it to model.safetensors with "
                "the safetensors Python package"));
    if (magic != QByteArrayLiteral("PK\x03\x04"))
        return corrupt(QStringLiteral("not a torch.save checkpoint (no zip signature)"));
    Result<ZipDirectory> zip = readZipDirectory(file);
    if (!zip)
        return zip.error();
    m_zip = std::move(*zip);
    const ZipEntry *pkl = m_zip.find("data.pkl");
    if (!pkl)
        return corrupt(QStringLiteral("the archive has no data.pkl record"));
    if (pkl->size > kMaxPickleBytes)
        return corrupt(QStringLiteral("data.pkl is %1 bytes, more than the %2-byte limit")
                           .arg(pkl->size)
                           .arg(kMaxPickleBytes));
    if (const ZipEntry *bo = m_zip.find("byteorder"); bo && bo->size > 16)
        return corrupt(QStringLiteral("the byteorder record is corrupt"));
    return Status::success();
}

Result<at::DataPtr> CheckpointReader::readRecord(const std::string &name, const ZipEntry &e) {
    // torch.save stores every record (miniz level 0); a deflated one can expand ~1000-fold
    // before any of our checks sees it.
    if (e.method != 0)
        return Error(
            Error::Code::Unsupported,
            QStringLiteral("record '%1' is compressed (zip method %2); torch.save stores every "
                           "record uncompressed, so this file was not written by torch.save")
                .arg(q(m_zip.prefix + name))
                .arg(e.method));
    auto [ptr, size] = m_reader->getRecord(name);
    if (size != e.size)
        return corrupt(QStringLiteral("record '%1' read as %2 bytes, the zip directory says %3")
                           .arg(q(name))
                           .arg(size)
                           .arg(e.size));
    // LibTorch's miniz is built with its CRC checks disabled
    // (MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS), so a flipped bit in a record would go unnoticed.
    if (crc32(ptr.get(), size) != e.crc)
        return corrupt(QStringLiteral("record '%1' fails its CRC-32 check (the file is corrupt)")
                           .arg(q(name)));
    return std::move(ptr);
}

Status CheckpointReader::checkByteOrder() {
    const ZipEntry *bo = m_zip.find("byteorder");
    if (!bo)
        return Status::success();
    const Result<at::DataPtr> data = readRecord("byteorder", *bo);
    if (!data)
        return data.error();
    const std::string order(static_cast<const char *>(data->get()), bo->size);
    if (order != "little")
        return Error(Error::Code::Unsupported,
                     QStringLiteral("the checkpoint was saved on a '%1'-endian machine; only "
                                    "little-endian is supported")
                         .arg(q(order)));
    return Status::success();
}

Result<QByteArray> CheckpointReader::readPickle() {
    const ZipEntry &pkl = *m_zip.find("data.pkl"); // checked by readDirectory
    const Result<at::DataPtr> data = readRecord("data.pkl", pkl);
    if (!data)
        return data.error();
    return QByteArray(static_cast<const char *>(data->get()), qsizetype(pkl.size));
}

// The tensors of the state dict, each checked against its declared storage.
Status CheckpointReader::collectTensors(const PickleValue &stateDict, TensorPlan &plan,
                                        uint64_t &viewBytes) {
    for (const auto &[k, v] : stateDict.dict->entries) {
        if (v->kind != PickleValue::Kind::Tensor)
            continue;
        if (k->kind != PickleValue::Kind::String)
            return corrupt(
                QStringLiteral("a tensor is stored under a %1 key, not a name").arg(kindName(k)));
        const PickledTensor &t = *v->tensor;
        const Result<uint64_t> bytes = checkBounds(k->s, t);
        if (!bytes)
            return bytes.error();
        // No overflow: each view is at most its storage, and the storages' sizes are those of
        // records in the file.
        viewBytes += *bytes;
        plan.named.emplace_back(k->s, &t);
        if (m_firstUser.emplace(t.storage, k->s).second)
            plan.storages.push_back(t.storage);
    }
    if (plan.named.empty())
        return corrupt(QStringLiteral("data.pkl holds no tensors"));
    return Status::success();
}

// Each storage's record must exist and hold exactly the elements data.pkl declares.
Status CheckpointReader::matchStorageRecords(TensorPlan &plan, uint64_t &storedBytes) {
    for (const PickleValue *s : plan.storages) {
        const std::string record = "data/" + s->s;
        const QString who = QStringLiteral("tensor '%1': storage record '%2'")
                                .arg(q(m_firstUser[s]), q(m_zip.prefix + record));
        const ZipEntry *e = m_zip.find(record);
        if (!e)
            return corrupt(QStringLiteral("%1 is missing").arg(who));
        const uint64_t elementSize = c10::elementSize(s->dtype);
        if (uint64_t(s->numel) > std::numeric_limits<uint64_t>::max() / elementSize ||
            e->size != uint64_t(s->numel) * elementSize)
            return corrupt(
                QStringLiteral("%1 holds %2 bytes but data.pkl declares %3 elements of %4 bytes")
                    .arg(who)
                    .arg(e->size)
                    .arg(s->numel)
                    .arg(elementSize));
        plan.records.push_back(e);
        storedBytes += e->size;
    }
    return Status::success();
}

// Validates every tensor against its declared storage before reading any large record.
Result<TensorPlan> CheckpointReader::planTensors(const PickleValue &stateDict) {
    TensorPlan plan;
    uint64_t viewBytes = 0, storedBytes = 0;
    if (const Status collected = collectTensors(stateDict, plan, viewBytes); !collected)
        return collected.error();
    if (const Status matched = matchStorageRecords(plan, storedBytes); !matched)
        return matched.error();
    // Each view is at most its storage, but many names may view one storage.
    if (viewBytes > kMaxViewExpansion * storedBytes + kViewSlack)
        return corrupt(QStringLiteral("its %1 tensors span %2 bytes, more than %3 times the %4 "
                                      "bytes their storages hold; checkpoints "
                                      "share a storage between a few tied weights at most, so "
                                      "this one would expand when converted")
                           .arg(plan.named.size())
                           .arg(viewBytes)
                           .arg(kMaxViewExpansion)
                           .arg(storedBytes));
    return plan;
}

// Reads each storage record once; the tensors are views into them.
Result<std::vector<NamedTensor>> CheckpointReader::buildTensors(const TensorPlan &plan) {
    std::map<const PickleValue *, at::Storage> storages;
    for (size_t i = 0; i < plan.storages.size(); ++i) {
        const PickleValue *s = plan.storages[i];
        Result<at::DataPtr> data = readRecord("data/" + s->s, *plan.records[i]);
        if (!data)
            return data.error();
        storages.emplace(s, c10::Storage(c10::Storage::use_byte_size_t(),
                                         size_t(plan.records[i]->size), std::move(*data), nullptr,
                                         false));
    }
    std::vector<NamedTensor> out;
    out.reserve(plan.named.size());
    for (const auto &[name, t] : plan.named) {
        at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(t->storage->dtype));
        tensor.set_(storages.at(t->storage), t->offset, t->sizes, t->strides);
        out.push_back({name, std::move(tensor)});
    }
    return out;
}

Result<std::vector<NamedTensor>> CheckpointReader::read() {
    if (const Status dir = readDirectory(); !dir)
        return dir.error();
    m_reader.emplace(m_path.toStdString());
    if (const Status order = checkByteOrder(); !order)
        return order.error();
    const Result<QByteArray> pickle = readPickle();
    if (!pickle)
        return pickle.error();
    Unpickler unpickler(*pickle); // owns the values the plan points to
    const Result<const PickleValue *> root = unpickler.run();
    if (!root)
        return root.error();
    const Result<const PickleValue *> stateDict = findStateDict(*root);
    if (!stateDict)
        return stateDict.error();
    const Result<TensorPlan> plan = planTensors(**stateDict);
    if (!plan)
        return plan.error();
    return buildTensors(*plan);
}

} // namespace

Result<std::vector<NamedTensor>> readTorchZipCheckpoint(const QString &path) {
    try {
        Result<std::vector<NamedTensor>> tensors = CheckpointReader(path).read();
        if (!tensors)
            return tensors.error().withContext(path);
        return tensors;
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
