#pragma once

#include "core/common/result.h"

#include <ATen/ATen.h>

#include <QString>

#include <map>
#include <memory>
#include <string>

namespace ts::internal {

// The tensors of a checkpoint folder, as stored (dtype unchanged). Safetensors tensors wrap the
// read-only file mapping (zero-copy): never write into them.
struct CheckpointWeights {
    QString file;                         // the weights file (or the shard index) that was read
    QString storedDtypes;                 // distinct dtypes, e.g. "F16"
    std::map<std::string, at::Tensor> tensors;
};

// Reads model.safetensors (or a sharded model.safetensors.index.json), else pytorch_model.bin
// (or its shard index), from `directory`. Fails with an Error naming the file and the problem.
Result<CheckpointWeights> loadCheckpointWeights(const QString &directory);

// Names of the weights files loadCheckpointWeights looks for, in order of preference.
QStringList weightFileCandidates();

} // namespace ts::internal
