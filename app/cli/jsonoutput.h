#pragma once

#include "core/common/floattensor.h"
#include "core/common/nativepath.h"

#include <nlohmann/json.hpp>

#include <QString>
#include <QStringList>

#include <vector>

namespace ts::cli {

// JSON helpers: floats are written at full precision (the shortest decimal that reads back to the
// same value), so a script gets exactly the numbers the engine computed.
//
// Strings carry file names exactly: a byte 0xXY of a name that is not valid UTF-8 (held as U+DCXY,
// see core/common/nativepath.h) is written as the escape \udcXY, Python's surrogateescape
// convention (json.loads, then os.fsencode, gives back the bytes). nlohmann::json holds only valid
// UTF-8, so such a byte travels as a marker (kRawByteMarker + two hex digits) that printJson()
// turns into the escape; no text we print contains the marker's control characters.
inline constexpr char kRawByteMarker[] = "\x01\x1a\x01";
std::string toJsonText(const QString &s);
inline nlohmann::json toJson(const QString &s) {
    return toJsonText(s);
}
inline nlohmann::json toJson(const QStringList &list) {
    nlohmann::json a = nlohmann::json::array();
    for (const QString &s : list)
        a.push_back(toJsonText(s));
    return a;
}
inline nlohmann::json rowToJson(const FloatTensor &t, int64_t row) {
    const int64_t cols = t.shape.back();
    return nlohmann::json(
        std::vector<float>(t.data.begin() + row * cols, t.data.begin() + (row + 1) * cols));
}
void printJson(const nlohmann::json &j);

} // namespace ts::cli
