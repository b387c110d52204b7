#include "core/common/safetensorsfile.h"

#include <QFile>
#include <QSaveFile>

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

float halfToFloat(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

float bfloat16ToFloat(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
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

Result<SafetensorsFile> SafetensorsFile::open(const QString &path) {
    auto fail = [&](const QString &why) {
        return Error(Error::Code::Format,
                     QStringLiteral("%1: not a valid safetensors file: %2").arg(path, why));
    };

    auto mapping = std::make_shared<Mapping>();
    mapping->file.setFileName(path);
    if (!mapping->file.exists())
        return Error(Error::Code::NotFound, QStringLiteral("%1: file not found").arg(path));
    if (!mapping->file.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot open: %2").arg(path, mapping->file.errorString()));
    mapping->size = mapping->file.size();
    if (mapping->size < 8)
        return fail(QStringLiteral("the file is %1 bytes, shorter than the 8-byte header length")
                        .arg(mapping->size));
    mapping->bytes = mapping->file.map(0, mapping->size);
    if (!mapping->bytes)
        return Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot map the file: %2").arg(path, mapping->file.errorString()));

    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | mapping->bytes[i];
    const uint64_t fileSize = uint64_t(mapping->size);
    if (headerLen > fileSize - 8)
        return fail(
            QStringLiteral("the header length %1 is larger than the rest of the file (%2 bytes); "
                           "the file is truncated or corrupt")
                .arg(headerLen)
                .arg(fileSize - 8));
    if (headerLen > kMaxHeaderBytes)
        return fail(QStringLiteral("the header length %1 exceeds the %2-byte limit")
                        .arg(headerLen)
                        .arg(kMaxHeaderBytes));

    const char *headerBegin = reinterpret_cast<const char *>(mapping->bytes + 8);
    auto parsed =
        parseJson(std::string_view(headerBegin, size_t(headerLen)),
                  QStringLiteral("%1: not a valid safetensors file: the header").arg(path));
    if (!parsed)
        return parsed.error();
    const nlohmann::json header = std::move(parsed).value();
    if (!header.is_object())
        return fail(QStringLiteral("the header is not a JSON object"));

    const std::byte *dataBegin =
        reinterpret_cast<const std::byte *>(mapping->bytes + 8 + headerLen);
    const uint64_t dataSize = fileSize - 8 - headerLen;

    SafetensorsFile file;
    file.m_path = path;
    QStringList problems;
    struct Range {
        uint64_t begin, end;
        size_t index;
    };
    std::vector<Range> ranges;

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string &name = it.key();
        const nlohmann::json &entry = it.value();
        if (name == "__metadata__") {
            if (entry.is_object())
                for (auto m = entry.begin(); m != entry.end(); ++m)
                    if (m.value().is_string())
                        file.m_metadata[m.key()] = m.value().get<std::string>();
            continue;
        }
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
            !entry.contains("data_offsets")) {
            problems
                << QStringLiteral("'%1': entry lacks dtype, shape or data_offsets").arg(q(name));
            continue;
        }
        const auto &jd = entry["dtype"];
        const auto dtype = jd.is_string() ? dtypeFromName(jd.get<std::string>()) : std::nullopt;
        if (!dtype) {
            problems << QStringLiteral("'%1': unknown dtype %2").arg(q(name), q(jd.dump()));
            continue;
        }
        TensorView view;
        view.name = name;
        view.dtype = *dtype;
        bool shapeOk = entry["shape"].is_array();
        uint64_t numel = 1;
        if (shapeOk) {
            for (const auto &d : entry["shape"]) {
                if (!d.is_number_integer() || d.get<int64_t>() < 0) {
                    shapeOk = false;
                    break;
                }
                const uint64_t dim = d.get<uint64_t>();
                if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / dim) {
                    shapeOk = false;
                    break;
                }
                numel *= dim;
                view.shape.push_back(int64_t(dim));
            }
        }
        if (!shapeOk) {
            problems
                << QStringLiteral("'%1': invalid shape %2").arg(q(name), q(entry["shape"].dump()));
            continue;
        }
        const auto &off = entry["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned()) {
            problems << QStringLiteral("'%1': invalid data_offsets %2").arg(q(name), q(off.dump()));
            continue;
        }
        const uint64_t begin = off[0].get<uint64_t>();
        const uint64_t end = off[1].get<uint64_t>();
        if (begin > end || end > dataSize) {
            problems << QStringLiteral(
                            "'%1': data_offsets [%2, %3] lie outside the %4-byte data block")
                            .arg(q(name))
                            .arg(begin)
                            .arg(end)
                            .arg(dataSize);
            continue;
        }
        const uint64_t expected = numel * dtypeSize(*dtype);
        if (end - begin != expected) {
            problems << QStringLiteral("'%1': holds %2 bytes but dtype %3 and shape %4 need %5")
                            .arg(q(name))
                            .arg(end - begin)
                            .arg(QString::fromLatin1(dtypeName(*dtype)))
                            .arg(q(entry["shape"].dump()))
                            .arg(expected);
            continue;
        }
        view.data = dataBegin + begin;
        view.byteSize = size_t(end - begin);
        ranges.push_back({begin, end, file.m_tensors.size()});
        file.m_tensors.push_back(std::move(view));
    }

    std::sort(ranges.begin(), ranges.end(),
              [](const Range &a, const Range &b) { return a.begin < b.begin; });
    for (size_t i = 1; i < ranges.size(); ++i) {
        const Range &prev = ranges[i - 1];
        const Range &cur = ranges[i];
        if (cur.begin < prev.end && cur.end > cur.begin && prev.end > prev.begin)
            problems << QStringLiteral("'%1' [%2, %3] overlaps '%4' [%5, %6]")
                            .arg(q(file.m_tensors[cur.index].name))
                            .arg(cur.begin)
                            .arg(cur.end)
                            .arg(q(file.m_tensors[prev.index].name))
                            .arg(prev.begin)
                            .arg(prev.end);
    }
    if (!problems.isEmpty())
        return fail(problems.join(QStringLiteral("; ")));

    std::sort(file.m_tensors.begin(), file.m_tensors.end(),
              [](const TensorView &a, const TensorView &b) { return a.name < b.name; });
    for (size_t i = 0; i < file.m_tensors.size(); ++i)
        file.m_index[file.m_tensors[i].name] = i;
    file.m_mappedBytes = reinterpret_cast<const std::byte *>(mapping->bytes);
    file.m_mappedSize = size_t(mapping->size);
    file.m_mapping = std::move(mapping);
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
