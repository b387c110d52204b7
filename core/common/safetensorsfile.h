#pragma once

#include "core/common/float16.h" // halfToFloat, bfloat16ToFloat (declared here before)
#include "core/common/floattensor.h"
#include "core/common/result.h"

#include <QString>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ts {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

// Bytes per element; the safetensors name ("F32", ...) and back.
size_t dtypeSize(DType dtype);
const char *dtypeName(DType dtype);
std::optional<DType> dtypeFromName(const std::string &name);

// One tensor inside a mapped safetensors file. `data` points into the read-only mapping and
// stays valid as long as the SafetensorsFile (or a copy of keepAlive()) lives.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const std::byte *data = nullptr;
    size_t byteSize = 0;

    int64_t numel() const;
    // Converts any float or integer dtype to float32 (F16/BF16 exactly, F64 rounded).
    std::vector<float> toFloat32() const;
    FloatTensor toFloatTensor() const;
    // Integer dtypes (and Bool/U8) widened to int64. Float dtypes are truncated toward zero,
    // saturating at int64's range; NaN gives 0.
    std::vector<int64_t> toInt64() const;
};

// A safetensors file (https://github.com/huggingface/safetensors), memory-mapped and validated:
// 8-byte little-endian header length, JSON header, raw little-endian data.
//
// open() checks everything before any tensor is handed out: the header length against the file
// size, the JSON, every dtype, shape and data range (inside the file, size = numel * element size,
// no two tensors overlapping). It fails with one Error that names every offending tensor.
// Thread-safety: immutable after open(); concurrent reads are safe.
class SafetensorsFile {
public:
    static Result<SafetensorsFile> open(const QString &path);

    const QString &path() const { return m_path; }
    const std::vector<TensorView> &tensors() const { return m_tensors; }
    const TensorView *find(const std::string &name) const;
    const std::map<std::string, std::string> &metadata() const { return m_metadata; }
    // Holds the mapping alive for zero-copy users (e.g. tensors wrapping TensorView::data).
    std::shared_ptr<const void> keepAlive() const { return m_mapping; }
    // The whole read-only mapping (header included): ranges inside it may be given back with
    // releaseMappedPages once a user holds its own copy of them.
    const std::byte *mappedBytes() const { return m_mappedBytes; }
    size_t mappedSize() const { return m_mappedSize; }

private:
    QString m_path;
    std::shared_ptr<const void> m_mapping;
    const std::byte *m_mappedBytes = nullptr;
    size_t m_mappedSize = 0;
    std::vector<TensorView> m_tensors;
    std::map<std::string, size_t> m_index;
    std::map<std::string, std::string> m_metadata;
};

// A tensor to write: raw little-endian bytes of `dtype` with `shape`.
struct TensorToWrite {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    const void *data = nullptr;
    size_t byteSize = 0;
};

// Writes a safetensors file atomically (temporary file + rename): either the complete file
// appears at `path` or nothing changes there. Tensors are laid out in the order given.
Status writeSafetensors(const QString &path, const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata = {});

// Streaming variant, for writers that cannot hold every tensor's bytes at once (checkpoint
// conversion): the header is built from `tensors` (their `data` is ignored), then `source(i)` is
// called once per tensor, in order, and returns that tensor's byteSize bytes, valid until the next
// call (or nullptr to abort with the Error it stored in `*failure`). `progress(doneBytes,
// totalBytes)` is called after each tensor. Atomic like the overload above.
using TensorBytesSource = std::function<const void *(size_t index, Error *failure)>;
Status writeSafetensors(const QString &path, const std::vector<TensorToWrite> &tensors,
                        const std::map<std::string, std::string> &metadata,
                        const TensorBytesSource &source,
                        const std::function<void(qint64 done, qint64 total)> &progress = {});

// Gives back the pages wholly inside [data, data + bytes) of a read-only file mapping (such as
// SafetensorsFile's), so they no longer count in this process's memory; a later read faults them in
// again from the file, so the bytes never change. Never call it on anything but a file mapping.
void releaseMappedPages(const void *data, size_t bytes);

} // namespace ts
