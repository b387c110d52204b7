#pragma once

#include "core/common/result.h"

#include <nlohmann/json.hpp>

#include <QString>

namespace ts {

// Reads and parses a JSON file. Errors name the file, and for syntax errors the byte offset.
// `maxBytes` guards against a huge file being read into memory by mistake.
Result<nlohmann::json> readJsonFile(const QString &path, qint64 maxBytes = 64 * 1024 * 1024);

} // namespace ts
