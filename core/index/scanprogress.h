#pragma once

#include <QtGlobal>

#include <functional>

namespace ts {

// Progress of a long scan: (vectors done, total). Return false to stop it (Error::Code::Cancelled).
using ScanProgress = std::function<bool(qint64 done, qint64 total)>;

} // namespace ts
