// Fuzz target: the safetensors container (core/common/safetensorsfile): header length, JSON header,
// dtypes, shapes and data ranges. Every tensor open() hands out must lie inside the file, not
// overlap another, and convert without reading past its bytes.

#include "core/common/safetensorsfile.h"
#include "fuzzinput.h"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const ts::fuzz::MemoryFile file(data, size);
    const auto opened = ts::SafetensorsFile::open(file.path());
    if (!opened) {
        if (opened.error().message.isEmpty())
            std::abort(); // every refusal must say why
        return 0;
    }
    std::vector<std::pair<const std::byte *, size_t>> ranges;
    for (const ts::TensorView &t : opened->tensors()) {
        if (t.numel() < 0 || size_t(t.numel()) * ts::dtypeSize(t.dtype) != t.byteSize)
            std::abort();
        if (opened->find(t.name) != &t)
            std::abort();
        if (t.byteSize > 0)
            ranges.emplace_back(t.data, t.byteSize);
        // Convert small tensors: reads every element through the view.
        if (t.numel() <= (1 << 20)) {
            const std::vector<float> f = t.toFloat32();
            const std::vector<int64_t> i = t.toInt64();
            if (f.size() != size_t(t.numel()) || i.size() != size_t(t.numel()))
                std::abort();
        }
    }
    // The data of all tensors fits in the file's bytes and no two tensors share bytes.
    std::sort(ranges.begin(), ranges.end());
    size_t total = 0;
    for (size_t k = 0; k < ranges.size(); ++k) {
        total += ranges[k].second;
        if (k + 1 < ranges.size() && ranges[k].first + ranges[k].second > ranges[k + 1].first)
            std::abort();
    }
    if (total > size || (!ranges.empty() && size_t(ranges.back().first + ranges.back().second -
                                                   ranges.front().first) > size))
        std::abort();
    return 0;
}
