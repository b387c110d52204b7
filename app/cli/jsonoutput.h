#pragma once

#include "core/common/floattensor.h"

#include <nlohmann/json.hpp>

#include <QString>
#include <QStringList>

#include <vector>

namespace ts::cli {

// JSON helpers: floats are written at full precision (the shortest decimal that reads back to the
// same value), so a script gets exactly the numbers the engine computed.
inline nlohmann::json toJson(const QString &s) { return s.toStdString(); }
inline nlohmann::json toJson(const QStringList &list) {
    nlohmann::json a = nlohmann::json::array();
    for (const QString &s : list)
        a.push_back(s.toStdString());
    return a;
}
inline nlohmann::json rowToJson(const FloatTensor &t, int64_t row) {
    const int64_t cols = t.shape.back();
    return nlohmann::json(std::vector<float>(t.data.begin() + row * cols, t.data.begin() + (row + 1) * cols));
}
void printJson(const nlohmann::json &j);

} // namespace ts::cli
