#pragma once

#include "core/common/result.h"

#include <QString>
#include <QtGlobal>

#include <functional>

namespace ts {

// One-time conversion of a Hugging Face `pytorch_model.bin` (torch.save zip format) into
// `model.safetensors`, the format the app loads (memory-mapped, no pickle).
//
// Every tensor of the state dict is written in its stored dtype, made contiguous, under its own
// name (keys are never renamed), with metadata {"format": "pt"}; tensors are laid out by element
// size (largest first) then name, as the safetensors Python package does. The write is atomic:
// either the complete file appears at `safetensorsPath` (replacing any file there) or nothing
// changes. Memory: the checkpoint's storages (~1x the .bin) plus one tensor at a time.
//
// `progress(done, total)` reports bytes written, on the calling thread, once per tensor.
// Fails with the reader's Error (naming the .bin) or an Io error naming the output. Never throws;
// callable from any thread.
Status convertTorchBinToSafetensors(const QString &binPath, const QString &safetensorsPath,
                                    std::function<void(qint64 done, qint64 total)> progress = {});

} // namespace ts
