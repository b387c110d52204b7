#pragma once

#include "core/common/result.h"

#include <ATen/ATen.h>

#include <QString>

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ts::internal {

// A read-only file mapping that checkpoint tensors point into, kept mapped by `keepAlive` (so an
// address inside it can never belong to anything else while a holder lives).
struct MappedRange {
    const std::byte *begin = nullptr;
    size_t size = 0;
    std::shared_ptr<const void> keepAlive;
    bool contains(const void *p, size_t bytes) const {
        const auto *b = static_cast<const std::byte *>(p);
        return b >= begin && bytes <= size && b - begin <= std::ptrdiff_t(size - bytes);
    }
};

// The tensors of a checkpoint folder, as stored (dtype unchanged). Safetensors tensors wrap the
// read-only file mapping (zero-copy): never write into them.
struct CheckpointWeights {
    QString file;         // the weights file (or the shard index) that was read
    QString storedDtypes; // distinct dtypes, e.g. "F16"
    std::map<std::string, at::Tensor> tensors;
    // The file mappings tensors point into: a model that made its own converted copy of a tensor
    // there may give the tensor's pages back (releaseMappedPages).
    std::vector<MappedRange> mappedRanges;
};

// Reads model.safetensors (or a sharded model.safetensors.index.json), else pytorch_model.bin
// (or its shard index), from `directory`. Fails with an Error naming the file and the problem.
Result<CheckpointWeights> loadCheckpointWeights(const QString &directory);

// Names of the weights files loadCheckpointWeights looks for, in order of preference.
QStringList weightFileCandidates();

} // namespace ts::internal
