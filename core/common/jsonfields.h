#pragma once

#include <nlohmann/json.hpp>

#include <QString>

#include <optional>
#include <string>
#include <vector>

namespace ts {

// Typed fields of one JSON object of a config file (config.json, preprocessor_config.json), with
// Hugging Face's conventions: an absent key and `null` both mean "not set" and leave the
// destination as it was; a value of another type is a problem, recorded with the key, what was
// expected and what was found, and also leaves the destination as it was. Reading goes on after a
// problem, so a caller may report all of them (config.json) or the first
// (preprocessor_config.json), worded its own way.
//
//   JsonFieldReader r(json);
//   r.read("hidden_size", config.hiddenSize);
//   if (!r.ok()) report(r.problems().front().key + " " + r.problems().front().expected);
//
// The object must outlive the reader. Not thread-safe (one reader per object); never throws.
class JsonFieldReader {
public:
    struct Problem {
        QString key;      // as given: "hidden_size", "size.shortest_edge"
        QString expected; // "must be an integer", "must not contain 0"
        QString got;      // the value found, as JSON text
    };

    explicit JsonFieldReader(const nlohmann::json &object) : m_object(object) {}

    // The value at `key`, or nullptr when it is absent or null (or the JSON is not an object).
    const nlohmann::json *find(const char *key) const;

    // Reads `key` when it is set (see above).
    void read(const char *key, bool &out);        // true or false
    void read(const char *key, std::string &out); // a string
    void read(const char *key, int &out);    // an integer; an integral float (768.0) counts too
    void read(const char *key, double &out); // any number
    void read(const char *key, std::optional<int> &out);
    void read(const char *key, std::optional<double> &out);

    // Checks a value the caller found (a nested one such as size.shortest_edge, named `key` in
    // problems): strictly an integer in [lo, hi], or a finite number. nullopt (and a problem) when
    // it is not.
    std::optional<int> integerIn(const nlohmann::json &value, const char *key, int lo, int hi);
    std::optional<double> finiteNumber(const nlohmann::json &value, const char *key);

    // Records a problem the typed reads cannot see (a rule between values, a value out of range).
    void addProblem(const char *key, const QString &expected, const nlohmann::json &got);

    bool ok() const { return m_problems.empty(); }
    const std::vector<Problem> &problems() const { return m_problems; }

private:
    const nlohmann::json &m_object;
    std::vector<Problem> m_problems;
};

} // namespace ts
