#pragma once

#include <cstddef>
#include <cstdint>

namespace ts {

// CRC-32 with the zip / PNG / zlib polynomial (reflected 0xEDB88320, initial and final value
// 0xFFFFFFFF): crc32("123456789") == 0xCBF43926. Slice-by-8 (eight bytes per step), as checkpoint
// records of several GB are checked with it. Thread-safe (the tables are built once).
uint32_t crc32(const void *data, size_t size);

} // namespace ts
