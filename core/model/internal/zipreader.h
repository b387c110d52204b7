#pragma once

// The central directory of a zip archive (zip64 included), read and checked before anything else
// touches the file: torch.save checkpoints are zip archives, and LibTorch's miniz trusts the
// sizes it finds there. Internal to tscore_model and its tests. Torch-free.

#include "core/common/result.h"

#include <QFile>

#include <cstdint>
#include <map>
#include <string>

namespace ts::internal {

struct ZipEntry {
    uint16_t method = 0; // 0: stored, 8: deflated
    uint32_t crc = 0;
    uint64_t compressedSize = 0;
    uint64_t size = 0;
    uint64_t localHeaderOffset = 0;
    uint64_t dataOffset = 0; // where the record's bytes start (after its local header)
};

struct ZipDirectory {
    std::map<std::string, ZipEntry> entries; // by full name
    // The archive folder ("<first entry's first dir>/", or empty) as LibTorch computes it: records
    // are named relative to it.
    std::string prefix;

    // The entry of record `name` (relative to the prefix), or nullptr.
    const ZipEntry *find(const std::string &name) const;
};

// Reads the directory of `file` (open for reading), checking that it and every entry lie inside the
// file, that each entry's local header is where the directory says, that sizes are consistent
// (stored entries: equal sizes; deflated: at most ~1032:1) and that no two entries share bytes
// (the overlapping-entry zip bomb). Reads only the directory and the 30-byte local headers.
//
// Fails with a Format Error whose message (without the file name: the caller adds it) names the
// entry or the offset at fault. Never throws.
Result<ZipDirectory> readZipDirectory(QFile &file);

} // namespace ts::internal
