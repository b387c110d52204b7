#include "core/model/internal/checkpointweights.h"

#include "core/common/jsonfile.h"
#include "core/common/safetensorsfile.h"
#include "core/model/internal/torchzipcheckpoint.h"

#include <QDir>
#include <QFileInfo>

#include <set>

namespace ts::internal {

namespace {

at::ScalarType toScalarType(DType d) {
    switch (d) {
    case DType::F64:
        return at::kDouble;
    case DType::F32:
        return at::kFloat;
    case DType::F16:
        return at::kHalf;
    case DType::BF16:
        return at::kBFloat16;
    case DType::I64:
        return at::kLong;
    case DType::I32:
        return at::kInt;
    case DType::I16:
        return at::kShort;
    case DType::I8:
        return at::kChar;
    case DType::U8:
        return at::kByte;
    case DType::Bool:
        return at::kBool;
    }
    return at::kFloat;
}

Status addSafetensors(const QString &path, CheckpointWeights &out, std::set<std::string> &dtypes) {
    auto file = SafetensorsFile::open(path);
    if (!file)
        return file.error();
    const std::shared_ptr<const void> keepAlive = file->keepAlive();
    out.mappedRanges.push_back({file->mappedBytes(), file->mappedSize(), keepAlive});
    for (const TensorView &view : file->tensors()) {
        // Zero-copy: the tensor keeps the mapping alive through its deleter.
        auto holder = new std::shared_ptr<const void>(keepAlive);
        at::Tensor t = at::from_blob(
            const_cast<std::byte *>(view.data), view.shape, [holder](void *) { delete holder; },
            at::TensorOptions().dtype(toScalarType(view.dtype)));
        dtypes.insert(dtypeName(view.dtype));
        if (!out.tensors.emplace(view.name, std::move(t)).second)
            return Error(Error::Code::Model,
                         QStringLiteral("%1: tensor '%2' appears in more than one shard")
                             .arg(path, QString::fromStdString(view.name)));
    }
    return Status::success();
}

Status addTorchBin(const QString &path, CheckpointWeights &out, std::set<std::string> &dtypes) {
    auto tensors = readTorchZipCheckpoint(path);
    if (!tensors)
        return tensors.error();
    for (NamedTensor &nt : *tensors) {
        dtypes.insert(c10::toString(nt.tensor.scalar_type()));
        if (!out.tensors.emplace(nt.name, std::move(nt.tensor)).second)
            return Error(Error::Code::Model,
                         QStringLiteral("%1: tensor '%2' appears more than once")
                             .arg(path, QString::fromStdString(nt.name)));
    }
    return Status::success();
}

// A Hugging Face shard index: {"weight_map": {"tensor name": "shard file", ...}}.
Result<QStringList> shardFiles(const QString &indexPath) {
    auto json = readJsonFile(indexPath);
    if (!json)
        return json.error();
    const auto it = json->find("weight_map");
    if (it == json->end() || !it->is_object())
        return Error(Error::Code::Format,
                     QStringLiteral("%1: no \"weight_map\" object").arg(indexPath));
    QStringList files;
    for (const auto &[name, file] : it->items()) {
        if (!file.is_string())
            return Error(Error::Code::Format, QStringLiteral("%1: shard of '%2' is not a file name")
                                                  .arg(indexPath, QString::fromStdString(name)));
        const QString f = QString::fromStdString(file.get<std::string>());
        if (f.contains(QLatin1Char('/')) || f.contains(QLatin1Char('\\')) ||
            f.startsWith(QLatin1Char('.')))
            return Error(
                Error::Code::Format,
                QStringLiteral("%1: shard name '%2' is not a plain file name").arg(indexPath, f));
        if (!files.contains(f))
            files << f;
    }
    return files;
}

} // namespace

QStringList weightFileCandidates() {
    return {QStringLiteral("model.safetensors"), QStringLiteral("model.safetensors.index.json"),
            QStringLiteral("pytorch_model.bin"), QStringLiteral("pytorch_model.bin.index.json")};
}

Result<CheckpointWeights> loadCheckpointWeights(const QString &directory) {
    const QDir dir(directory);
    CheckpointWeights out;
    std::set<std::string> dtypes;
    for (const QString &name : weightFileCandidates()) {
        const QString path = dir.filePath(name);
        if (!QFileInfo::exists(path))
            continue;
        out.file = path;
        const bool safetensors = name.startsWith(QLatin1String("model.safetensors"));
        QStringList files{path};
        if (name.endsWith(QLatin1String(".index.json"))) {
            auto shards = shardFiles(path);
            if (!shards)
                return shards.error();
            files.clear();
            for (const QString &s : *shards)
                files << dir.filePath(s);
        }
        for (const QString &f : files) {
            const Status s =
                safetensors ? addSafetensors(f, out, dtypes) : addTorchBin(f, out, dtypes);
            if (!s)
                return s.error();
        }
        QStringList names;
        for (const std::string &d : dtypes)
            names << QString::fromStdString(d);
        out.storedDtypes = names.join(QStringLiteral(", "));
        return out;
    }
    return Error(Error::Code::Model,
                 QStringLiteral("%1: no weights found (looked for %2)")
                     .arg(directory, weightFileCandidates().join(QStringLiteral(", "))));
}

} // namespace ts::internal
