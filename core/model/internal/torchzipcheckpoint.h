#pragma once

// Reading Hugging Face `pytorch_model.bin` files: the zip archive torch.save (torch >= 1.6) writes,
// holding `<archive>/data.pkl` (a pickle of the state dict) and one raw record per storage.
// Internal to tscore_model and its tests (torch-typed).

#include "core/common/result.h"

#include <ATen/core/Tensor.h>

#include <QString>

#include <string>
#include <vector>

namespace ts::internal {

struct NamedTensor {
    std::string name;
    // dtype as stored (float32, float16, bfloat16, int64, ...), with the stored sizes, strides and
    // storage offset: a view into its storage record, which it keeps alive.
    at::Tensor tensor;
};

// Reads a torch.save zip checkpoint holding a dict / OrderedDict of tensors, optionally nested
// under a "state_dict" or "model" key. Entries whose value is not a tensor are skipped. Tensors
// come back in the pickle's order.
//
// Safety: data.pkl goes through a restricted unpickler that only builds values; it accepts the
// opcodes a state dict needs (protocol 2..5 containers, ints, strings, memo, persistent ids) and
// the globals collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor /
// _rebuild_parameter and torch.<X>Storage. Any other global or opcode is refused, never executed.
// Every tensor is checked against its storage (offset + extent within the record) and every record
// read is checked against the zip's CRC-32 before anything is handed out.
//
// Memory: each storage record is read once; tensors are views into it (peak ~1x the file size).
//
// Fails with an Error naming the file (and the tensor or record where there is one): NotFound,
// Io, Format (truncated or corrupt zip, bad CRC, missing data.pkl, malformed pickle, a record too
// short for its tensors), Unsupported (legacy pre-1.6 format, big-endian records, a refused global
// or opcode, an unsupported storage type). Never throws. Thread-safe (no shared state).
Result<std::vector<NamedTensor>> readTorchZipCheckpoint(const QString &path);

} // namespace ts::internal
