#include "core/common/safetensorsfile.h"

#include <QFile>
#include <QSaveFile>

#include "core/common/float16.h"
#include "core/common/jsonfile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <sys/mman.h>
#include <unistd.h>

namespace ts {

namespace {

// A header larger than this is not a checkpoint header but corruption (real ones are < 200 kB).
constexpr uint64_t kMaxHeaderBytes = uint64_t(kMaxSafetensorsHeaderBytes);

struct Mapping {
    QFile file;
    const uchar *bytes = nullptr;
    qint64 size = 0;
    ~Mapping() {
        if (bytes)
            file.unmap(const_cast<uchar *>(bytes));
    }
};

QString q(const std::string &s) {
    return QString::fromStdString(s);
}

} // namespace

size_t dtypeSize(DType dtype) {
    switch (dtype) {
    case DType::F64:
    case DType::I64:
        return 8;
    case DType::F32:
    case DType::I32:
        return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
        return 2;
    case DType::I8:
    case DType::U8:
    case DType::Bool:
        return 1;
    }
    return 0;
}

const char *dtypeName(DType dtype) {
    switch (dtype) {
    case DType::F64:
        return "F64";
    case DType::F32:
        return "F32";
    case DType::F16:
        return "F16";
    case DType::BF16:
        return "BF16";
    case DType::I64:
        return "I64";
    case DType::I32:
        return "I32";
    case DType::I16:
        return "I16";
    case DType::I8:
        return "I8";
    case DType::U8:
        return "U8";
    case DType::Bool:
        return "BOOL";
    }
    return "?";
}

std::optional<DType> dtypeFromName(const std::string &name) {
    static const std::pair<const char *, DType> kNames[] = {
        {"F64", DType::F64}, {"F32", DType::F32},  {"F16", DType::F16}, {"BF16", DType::BF16},
        {"I64", DType::I64}, {"I32", DType::I32},  {"I16", DType::I16}, {"I8", DType::I8},
        {"U8", DType::U8},   {"BOOL", DType::Bool}};
    for (const auto &[n, d] : kNames)
        if (name == n)
            return d;
    return std::nullopt;
}

void releaseMappedPages(const void *data, size_t bytes) {
    static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin =
        (uintptr_t(data) + page - 1) / page * page; // edge pages may hold neighbours
    const uintptr_t end = (uintptr_t(data) + bytes) / page * page;
    if (end > begin)
        ::madvise(reinterpret_cast<void *>(begin), end - begin,
                  MADV_DONTNEED); // advice: failure only keeps memory
}

int64_t TensorView::numel() const {
    return FloatTensor::elementCount(shape);
}

template <typename T> static T loadAt(const std::byte *p, int64_t i) {
    T v;
    std::memcpy(&v, p + i * int64_t(sizeof(T)), sizeof(T));
    return v;
}

std::vector<float> TensorView::toFloat32() const {
    const int64_t n = numel();
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        switch (dtype) {
        case DType::F64:
            out[i] = float(loadAt<double>(data, i));
            break;
        case DType::F32:
            out[i] = loadAt<float>(data, i);
            break;
        case DType::F16:
            out[i] = halfToFloat(loadAt<uint16_t>(data, i));
            break;
        case DType::BF16:
            out[i] = bfloat16ToFloat(loadAt<uint16_t>(data, i));
            break;
        case DType::I64:
            out[i] = float(loadAt<int64_t>(data, i));
            break;
        case DType::I32:
            out[i] = float(loadAt<int32_t>(data, i));
            break;
        case DType::I16:
            out[i] = float(loadAt<int16_t>(data, i));
            break;
        case DType::I8:
            out[i] = float(loadAt<int8_t>(data, i));
            break;
        case DType::U8:
        case DType::Bool:
            out[i] = float(loadAt<uint8_t>(data, i));
            break;
        }
    }
    return out;
}

FloatTensor TensorView::toFloatTensor() const {
    FloatTensor t;
    t.shape = shape;
    t.data = toFloat32();
    return t;
}

// Truncates toward zero, saturating at int64's range (NaN gives 0): a plain cast of inf, NaN or
// 1e30 is undefined behaviour, and the values come from a file.
static int64_t saturatingInt64(double v) {
    if (std::isnan(v))
        return 0;
    if (v >= 9223372036854775808.0) // 2^63
        return std::numeric_limits<int64_t>::max();
    if (v <= -9223372036854775808.0)
        return std::numeric_limits<int64_t>::min();
    return int64_t(v);
}

std::vector<int64_t> TensorView::toInt64() const {
    const int64_t n = numel();
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        switch (dtype) {
        case DType::I64:
            out[i] = loadAt<int64_t>(data, i);
            break;
        case DType::I32:
            out[i] = loadAt<int32_t>(data, i);
            break;
        case DType::I16:
            out[i] = loadAt<int16_t>(data, i);
            break;
        case DType::I8:
            out[i] = loadAt<int8_t>(data, i);
            break;
        case DType::U8:
        case DType::Bool:
            out[i] = loadAt<uint8_t>(data, i);
            break;
        case DType::F64:
            out[i] = saturatingInt64(loadAt<double>(data, i));
            break;
        case DType::F32:
            out[i] = saturatingInt64(loadAt<float>(data, i));
            break;
        case DType::F16:
            out[i] = saturatingInt64(halfToFloat(loadAt<uint16_t>(data, i)));
            break;
        case DType::BF16:
            out[i] = saturatingInt64(bfloat16ToFloat(loadAt<uint16_t>(data, i)));
            break;
        }
    }
    return out;
}

const TensorView *SafetensorsFile::find(const std::string &name) const {
    const auto it = m_index.find(name);
    return it == m_index.end() ? nullptr : &m_tensors[it->second];
}

namespace {

Error invalidFile(const QString &path, const QString &why) {
    return Error(Error::Code::Format,
                 QStringLiteral("%1: not a valid safetensors file: %2").arg(path, why));
}

Result<std::shared_ptr<Mapping>> mapFile(const QString &path) {
    auto mapping = std::make_shared<Mapping>();
    mapping->file.setFileName(path);
    if (!mapping->file.exists())
        return Error(Error::Code::NotFound, QStringLiteral("%1: file not found").arg(path));
    if (!mapping->file.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot open: %2").arg(path, mapping->file.errorString()));
    mapping->size = mapping->file.size();
    if (mapping->size < 8)
        return invalidFile(
            path, QStringLiteral("the file is %1 bytes, shorter than the 8-byte header length")
                      .arg(mapping->size));
    mapping->bytes = mapping->file.map(0, mapping->size);
    if (!mapping->bytes)
        return Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot map the file: %2").arg(path, mapping->file.errorString()));
    return mapping;
}

// The JSON header and the data block behind it.
struct HeaderAndData {
    nlohmann::json header;
    const std::byte *data = nullptr;
    uint64_t dataSize = 0;
};

Result<HeaderAndData> parseHeader(const Mapping &mapping, const QString &path) {
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | mapping.bytes[i];
    const uint64_t fileSize = uint64_t(mapping.size);
    if (headerLen > fileSize - 8)
        return invalidFile(
            path,
            QStringLiteral("the header length %1 is larger than the rest of the file (%2 bytes); "
                           "the file is truncated or corrupt")
                .arg(headerLen)
                .arg(fileSize - 8));
    if (headerLen > kMaxHeaderBytes)
        return invalidFile(path, QStringLiteral("the header length %1 exceeds the %2-byte limit")
                                     .arg(headerLen)
                                     .arg(kMaxHeaderBytes));
    const char *headerBegin = reinterpret_cast<const char *>(mapping.bytes + 8);
    auto parsed =
        parseJson(std::string_view(headerBegin, size_t(headerLen)),
                  QStringLiteral("%1: not a valid safetensors file: the header").arg(path));
    if (!parsed)
        return parsed.error();
    if (!parsed->is_object())
        return invalidFile(path, QStringLiteral("the header is not a JSON object"));
    return HeaderAndData{std::move(parsed).value(),
                         reinterpret_cast<const std::byte *>(mapping.bytes + 8 + headerLen),
                         fileSize - 8 - headerLen};
}

// The dimensions of a JSON shape, or nullopt when it is not an array of non-negative integers
// whose product (times the largest element size) fits in 64 bits.
std::optional<std::vector<int64_t>> parseShape(const nlohmann::json &shape, uint64_t &numel) {
    if (!shape.is_array())
        return std::nullopt;
    std::vector<int64_t> dims;
    numel = 1;
    for (const auto &d : shape) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
            return std::nullopt;
        const uint64_t dim = d.get<uint64_t>();
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / dim)
            return std::nullopt;
        numel *= dim;
        dims.push_back(int64_t(dim));
    }
    return dims;
}

// One tensor entry of the header, checked against the data block; the error is the problem
// (naming the tensor), to be listed with the others'.
Result<TensorView> parseEntry(const std::string &name, const nlohmann::json &entry,
                              const HeaderAndData &file) {
    auto problem = [](const QString &why) { return Error(Error::Code::Format, why); };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
        return problem(
            QStringLiteral("'%1': entry lacks dtype, shape or data_offsets").arg(q(name)));
    const auto &jd = entry["dtype"];
    const auto dtype = jd.is_string() ? dtypeFromName(jd.get<std::string>()) : std::nullopt;
    if (!dtype)
        return problem(QStringLiteral("'%1': unknown dtype %2").arg(q(name), q(jd.dump())));
    uint64_t numel = 0;
    std::optional<std::vector<int64_t>> shape = parseShape(entry["shape"], numel);
    if (!shape)
        return problem(
            QStringLiteral("'%1': invalid shape %2").arg(q(name), q(entry["shape"].dump())));
    const auto &off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned())
        return problem(QStringLiteral("'%1': invalid data_offsets %2").arg(q(name), q(off.dump())));
    const uint64_t begin = off[0].get<uint64_t>();
    const uint64_t end = off[1].get<uint64_t>();
    if (begin > end || end > file.dataSize)
        return problem(
            QStringLiteral("'%1': data_offsets [%2, %3] lie outside the %4-byte data block")
                .arg(q(name))
                .arg(begin)
                .arg(end)
                .arg(file.dataSize));
    const uint64_t expected = numel * dtypeSize(*dtype);
    if (end - begin != expected)
        return problem(QStringLiteral("'%1': holds %2 bytes but dtype %3 and shape %4 need %5")
                           .arg(q(name))
                           .arg(end - begin)
                           .arg(QString::fromLatin1(dtypeName(*dtype)))
                           .arg(q(entry["shape"].dump()))
                           .arg(expected));
    TensorView view;
    view.name = name;
    view.dtype = *dtype;
    view.shape = std::move(*shape);
    view.data = file.data + begin;
    view.byteSize = size_t(end - begin);
    return view;
}

// Two tensors sharing bytes (both non-empty) are refused: a writer never lays them out so.
QStringList overlapProblems(const std::vector<TensorView> &tensors, const std::byte *data) {
    struct Range {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<Range> ranges;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const uint64_t begin = uint64_t(tensors[i].data - data);
        ranges.push_back({begin, begin + tensors[i].byteSize, i});
    }
    std::sort(ranges.begin(), ranges.end(),
              [](const Range &a, const Range &b) { return a.begin < b.begin; });
    QStringList problems;
    for (size_t i = 1; i < ranges.size(); ++i) {
        const Range &prev = ranges[i - 1];
        const Range &cur = ranges[i];
        if (cur.begin < prev.end && cur.end > cur.begin && prev.end > prev.begin)
            problems << QStringLiteral("'%1' [%2, %3] overlaps '%4' [%5, %6]")
                            .arg(q(tensors[cur.index].name))
                            .arg(cur.begin)
                            .arg(cur.end)
                            .arg(q(tensors[prev.index].name))
                            .arg(prev.begin)
                            .arg(prev.end);
    }
    return problems;
}

} // namespace

Result<SafetensorsFile> SafetensorsFile::open(const QString &path) {
    Result<std::shared_ptr<Mapping>> mapping = mapFile(path);
    if (!mapping)
        return mapping.error();
    const Result<HeaderAndData> parsed = parseHeader(**mapping, path);
    if (!parsed)
        return parsed.error();

    SafetensorsFile file;
    file.m_path = path;
    QStringList problems;
    for (auto it = parsed->header.begin(); it != parsed->header.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (it.value().is_object())
                for (auto m = it.value().begin(); m != it.value().end(); ++m)
                    if (m.value().is_string())
                        file.m_metadata[m.key()] = m.value().get<std::string>();
            continue;
        }
        Result<TensorView> view = parseEntry(it.key(), it.value(), *parsed);
        if (view)
            file.m_tensors.push_back(std::move(view).value());
        else
            problems << view.error().message;
    }
    problems << overlapProblems(file.m_tensors, parsed->data);
    if (!problems.isEmpty())
        return invalidFile(path, problems.join(QStringLiteral("; ")));

    std::sort(file.m_tensors.begin(), file.m_tensors.end(),
              [](const TensorView &a, const TensorView &b) { return a.name < b.name; });
    for (size_t i = 0; i < file.m_tensors.size(); ++i)
        file.m_index[file.m_tensors[i].name] = i;
    file.m_mappedBytes = reinterpret_cast<const std::byte *>((*mapping)->bytes);
    file.m_mappedSize = size_t((*mapping)->size);
    file.m_mapping = std::move(mapping).value();
    return file;
}

Status writeSafetensors(const QString &path, const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata) {
    return writeSafetensors(path, tensors, metadata,
                            [&tensors](size_t i, Error *) { return tensors[i].data; });
}

Status writeSafetensors(const QString &path, const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata,
                        const TensorBytesSource &source,
                        const std::function<void(qint64, qint64)> &progress) {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto &t : tensors) {
        const uint64_t expected = uint64_t(FloatTensor::elementCount(t.shape)) * dtypeSize(t.dtype);
        if (expected != t.byteSize)
            return Error(Error::Code::InvalidArgument,
                         QStringLiteral("%1: tensor '%2' has %3 bytes, its shape needs %4")
                             .arg(path, q(t.name))
                             .arg(t.byteSize)
                             .arg(expected));
        header[t.name] = {{"dtype", dtypeName(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.byteSize}}};
        offset += t.byteSize;
    }
    std::string text = header.dump();
    while ((text.size() % 8) != 0)
        text.push_back(' ');

    QSaveFile out(path);
    if (!out.open(QIODevice::WriteOnly))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot write: %2").arg(path, out.errorString()));
    char len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i, n >>= 8)
        len[i] = char(n & 0xff);
    bool ok = out.write(len, 8) == 8 &&
              out.write(text.data(), qint64(text.size())) == qint64(text.size());
    qint64 done = 0;
    for (size_t i = 0; ok && i < tensors.size(); ++i) {
        const TensorToWrite &t = tensors[i];
        Error failure(Error::Code::Internal,
                      QStringLiteral("%1: no data for tensor '%2'").arg(path, q(t.name)));
        const void *data = source(i, &failure);
        if (!data && t.byteSize > 0) {
            out.cancelWriting();
            return failure;
        }
        ok = out.write(static_cast<const char *>(data), qint64(t.byteSize)) == qint64(t.byteSize);
        done += qint64(t.byteSize);
        if (ok && progress)
            progress(done, qint64(offset));
    }
    if (!ok || !out.commit())
        return Error(Error::Code::Io,
                     QStringLiteral("%1: writing failed: %2").arg(path, out.errorString()));
    return Status::success();
}

} // namespace ts
