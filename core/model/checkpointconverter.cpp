#include "core/model/checkpointconverter.h"

#include "core/common/safetensorsfile.h"
#include "core/model/internal/torchzipcheckpoint.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <optional>

namespace ts {

namespace {

std::optional<DType> toDType(at::ScalarType t) {
    switch (t) {
    case at::kDouble:
        return DType::F64;
    case at::kFloat:
        return DType::F32;
    case at::kHalf:
        return DType::F16;
    case at::kBFloat16:
        return DType::BF16;
    case at::kLong:
        return DType::I64;
    case at::kInt:
        return DType::I32;
    case at::kShort:
        return DType::I16;
    case at::kChar:
        return DType::I8;
    case at::kByte:
        return DType::U8;
    case at::kBool:
        return DType::Bool;
    default:
        return std::nullopt;
    }
}

Status convert(const QString &binPath, const QString &safetensorsPath,
               const std::function<void(qint64, qint64)> &progress) {
    auto read = internal::readTorchZipCheckpoint(binPath);
    if (!read)
        return read.error();
    std::vector<internal::NamedTensor> &tensors = read.value();
    std::stable_sort(tensors.begin(), tensors.end(), [](const auto &a, const auto &b) {
        const auto sa = a.tensor.element_size(), sb = b.tensor.element_size();
        return sa != sb ? sa > sb : a.name < b.name;
    });
    for (size_t i = 1; i < tensors.size(); ++i)
        if (tensors[i].name == tensors[i - 1].name)
            return Error(Error::Code::Format,
                         QStringLiteral("%1: tensor '%2' appears twice")
                             .arg(binPath, QString::fromStdString(tensors[i].name)));

    std::vector<TensorToWrite> headers;
    headers.reserve(tensors.size());
    for (const auto &[name, t] : tensors) {
        const auto dtype = toDType(t.scalar_type());
        if (!dtype)
            return Error(
                Error::Code::Unsupported,
                QStringLiteral(
                    "%1: tensor '%2' has dtype %3, which safetensors conversion does not support")
                    .arg(binPath, QString::fromStdString(name),
                         QString::fromLatin1(c10::toString(t.scalar_type()))));
        TensorToWrite h;
        h.name = name;
        h.dtype = *dtype;
        h.shape.assign(t.sizes().begin(), t.sizes().end());
        h.byteSize = size_t(t.numel()) * size_t(t.element_size());
        headers.push_back(std::move(h));
    }

    // One contiguous copy at a time, only for tensors stored strided (views of contiguous tensors
    // are written straight from their storage).
    at::Tensor current;
    auto source = [&](size_t i, Error *failure) -> const void * {
        try {
            current = tensors[i].tensor.contiguous();
            // The storage is no longer needed once written; dropping our reference lets a storage
            // used by this tensor alone be freed early.
            tensors[i].tensor = at::Tensor();
            return current.data_ptr();
        } catch (const std::exception &e) {
            *failure = Error(Error::Code::Internal,
                             QStringLiteral("%1: tensor '%2': %3")
                                 .arg(binPath, QString::fromStdString(tensors[i].name),
                                      QString::fromUtf8(e.what())));
            return nullptr;
        }
    };
    return writeSafetensors(safetensorsPath, headers, {{"format", "pt"}}, source, progress);
}

} // namespace

Status convertTorchBinToSafetensors(const QString &binPath, const QString &safetensorsPath,
                                    std::function<void(qint64 done, qint64 total)> progress) {
    try {
        return convert(binPath, safetensorsPath, progress);
    } catch (const c10::Error &e) {
        return Error(
            Error::Code::Internal,
            QStringLiteral("%1: converting to %2 failed: %3")
                .arg(binPath, safetensorsPath, QString::fromUtf8(e.what_without_backtrace())));
    } catch (const std::exception &e) {
        return Error(Error::Code::Internal,
                     QStringLiteral("%1: converting to %2 failed: %3")
                         .arg(binPath, safetensorsPath, QString::fromUtf8(e.what())));
    }
}

} // namespace ts
