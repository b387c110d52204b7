#include "core/common/jsonfields.h"

#include <cmath>

namespace ts {

const nlohmann::json *JsonFieldReader::find(const char *key) const {
    if (!m_object.is_object())
        return nullptr;
    const auto it = m_object.find(key);
    if (it == m_object.end() || it->is_null())
        return nullptr;
    return &*it;
}

void JsonFieldReader::read(const char *key, bool &out) {
    if (const nlohmann::json *v = find(key)) {
        if (v->is_boolean())
            out = v->get<bool>();
        else
            addProblem(key, QStringLiteral("must be true or false"), *v);
    }
}

void JsonFieldReader::read(const char *key, std::string &out) {
    if (const nlohmann::json *v = find(key)) {
        if (v->is_string())
            out = v->get<std::string>();
        else
            addProblem(key, QStringLiteral("must be a string"), *v);
    }
}

void JsonFieldReader::read(const char *key, int &out) {
    if (const nlohmann::json *v = find(key)) {
        if (v->is_number_integer())
            out = v->get<int>();
        else if (v->is_number_float() && v->get<double>() == double(int(v->get<double>())))
            out = int(v->get<double>());
        else
            addProblem(key, QStringLiteral("must be an integer"), *v);
    }
}

void JsonFieldReader::read(const char *key, double &out) {
    if (const nlohmann::json *v = find(key)) {
        if (v->is_number())
            out = v->get<double>();
        else
            addProblem(key, QStringLiteral("must be a number"), *v);
    }
}

void JsonFieldReader::read(const char *key, std::optional<int> &out) {
    int v = 0;
    const size_t before = m_problems.size();
    if (find(key)) {
        read(key, v);
        if (m_problems.size() == before)
            out = v;
    }
}

void JsonFieldReader::read(const char *key, std::optional<double> &out) {
    double v = 0;
    const size_t before = m_problems.size();
    if (find(key)) {
        read(key, v);
        if (m_problems.size() == before)
            out = v;
    }
}

std::optional<int> JsonFieldReader::integerIn(const nlohmann::json &value, const char *key, int lo,
                                              int hi) {
    if (!value.is_number_integer() || value.get<long long>() < lo || value.get<long long>() > hi) {
        addProblem(key, QStringLiteral("must be an integer in [%1, %2]").arg(lo).arg(hi), value);
        return std::nullopt;
    }
    return int(value.get<long long>());
}

std::optional<double> JsonFieldReader::finiteNumber(const nlohmann::json &value, const char *key) {
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
        addProblem(key, QStringLiteral("must be a finite number"), value);
        return std::nullopt;
    }
    return value.get<double>();
}

void JsonFieldReader::addProblem(const char *key, const QString &expected,
                                 const nlohmann::json &got) {
    m_problems.push_back({QString::fromLatin1(key), expected, QString::fromStdString(got.dump())});
}

} // namespace ts
