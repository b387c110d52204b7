#include "core/image/imageprocessorconfig.h"

#include "core/common/jsonfile.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace ts {
namespace {

// Upper bound on sizes read from a config: far above any real checkpoint (288/294/384), low enough
// that a typo cannot make us allocate gigabytes per photo.
constexpr int kMaxEdge = 4096;

QString jsonText(const nlohmann::json &v) {
    return QString::fromStdString(v.dump());
}

class Reader {
public:
    Reader(const nlohmann::json &json, QString name) : m_json(json), m_name(std::move(name)) {}

    Error bad(const char *key, const QString &what, const nlohmann::json &got) const {
        return Error(Error::Code::Format,
                     QStringLiteral("%1: key '%2' %3, got %4")
                         .arg(m_name, QLatin1String(key), what, jsonText(got)));
    }

    // Returns false with `error` set when the key is present but of the wrong type.
    bool boolean(const char *key, bool &out, Error &error) const {
        const auto it = m_json.find(key);
        if (it == m_json.end() || it->is_null())
            return true;
        if (!it->is_boolean()) {
            error = bad(key, QStringLiteral("must be true or false"), *it);
            return false;
        }
        out = it->get<bool>();
        return true;
    }

    bool integer(const nlohmann::json &v, const char *key, int lo, int hi, int &out,
                 Error &error) const {
        if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi) {
            error = bad(key, QStringLiteral("must be an integer in [%1, %2]").arg(lo).arg(hi), v);
            return false;
        }
        out = int(v.get<long long>());
        return true;
    }

    bool number(const nlohmann::json &v, const char *key, double &out, Error &error) const {
        if (!v.is_number() || !std::isfinite(v.get<double>())) {
            error = bad(key, QStringLiteral("must be a finite number"), v);
            return false;
        }
        out = v.get<double>();
        return true;
    }

    bool triple(const char *key, std::array<double, 3> &out, bool nonZero, Error &error) const {
        const auto it = m_json.find(key);
        if (it == m_json.end() || it->is_null())
            return true;
        std::array<double, 3> values{};
        if (it->is_number()) {
            double v = 0;
            if (!number(*it, key, v, error))
                return false;
            values = {v, v, v};
        } else if (it->is_array() && it->size() == 3) {
            for (size_t i = 0; i < 3; ++i)
                if (!number((*it)[i], key, values[i], error))
                    return false;
        } else {
            error = bad(key, QStringLiteral("must be a number or a list of 3 numbers"), *it);
            return false;
        }
        if (nonZero)
            for (double v : values)
                if (v == 0.0) {
                    error = bad(key, QStringLiteral("must not contain 0"), *it);
                    return false;
                }
        out = values;
        return true;
    }

    const nlohmann::json &json() const { return m_json; }

private:
    const nlohmann::json &m_json;
    QString m_name;
};

} // namespace

Result<ImageProcessorConfig> ImageProcessorConfig::fromJson(const nlohmann::json &json,
                                                            const QString &nameForErrors) {
    if (!json.is_object())
        return Error(
            Error::Code::Format,
            QStringLiteral("%1: expected a JSON object at the top level").arg(nameForErrors));
    ImageProcessorConfig c;
    Reader r(json, nameForErrors);
    Error error;

    if (!r.boolean("do_resize", c.doResize, error) ||
        !r.boolean("do_rescale", c.doRescale, error) ||
        !r.boolean("do_normalize", c.doNormalize, error) ||
        !r.boolean("do_center_crop", c.doCenterCrop, error) || !r.boolean("do_pad", c.doPad, error))
        return error;
    // Deprecated alias HF still honours: it turns padding on.
    if (auto it = json.find("pad_and_return_pixel_mask");
        it != json.end() && it->is_boolean() && it->get<bool>())
        c.doPad = true;

    if (auto it = json.find("size"); it != json.end() && !it->is_null()) {
        if (it->is_number_integer()) {
            if (!r.integer(*it, "size", 1, kMaxEdge, c.shortestEdge, error))
                return error;
        } else if (it->is_object() && it->contains("shortest_edge")) {
            if (!r.integer((*it)["shortest_edge"], "size.shortest_edge", 1, kMaxEdge,
                           c.shortestEdge, error))
                return error;
        } else {
            // HF's resize raises on {"height", "width"} too: the BridgeTower rule needs a shortest
            // edge.
            return r.bad("size", QStringLiteral("must be {\"shortest_edge\": n} or an integer"),
                         *it);
        }
    }
    if (auto it = json.find("size_divisor"); it != json.end() && !it->is_null())
        if (!r.integer(*it, "size_divisor", 1, kMaxEdge, c.sizeDivisor, error))
            return error;
    if (auto it = json.find("resample"); it != json.end() && !it->is_null()) {
        if (!r.integer(*it, "resample", 0, 5, c.resample, error))
            return error;
        if (c.resample != 3)
            return Error(
                Error::Code::Unsupported,
                QStringLiteral("%1: key 'resample' is %2, but only 3 (bicubic, the value of "
                               "every BridgeTower checkpoint) is implemented")
                    .arg(nameForErrors)
                    .arg(c.resample));
    }
    if (auto it = json.find("rescale_factor"); it != json.end() && !it->is_null())
        if (!r.number(*it, "rescale_factor", c.rescaleFactor, error))
            return error;
    if (!r.triple("image_mean", c.imageMean, false, error) ||
        !r.triple("image_std", c.imageStd, true, error))
        return error;

    c.cropHeight = c.cropWidth = c.shortestEdge;
    if (auto it = json.find("crop_size"); it != json.end() && !it->is_null()) {
        if (it->is_number_integer()) {
            if (!r.integer(*it, "crop_size", 1, kMaxEdge, c.cropHeight, error))
                return error;
            c.cropWidth = c.cropHeight;
        } else if (it->is_object() && it->contains("shortest_edge")) {
            if (!r.integer((*it)["shortest_edge"], "crop_size.shortest_edge", 1, kMaxEdge,
                           c.cropHeight, error))
                return error;
            c.cropWidth = c.cropHeight;
        } else if (it->is_object() && it->contains("height") && it->contains("width")) {
            if (!r.integer((*it)["height"], "crop_size.height", 1, kMaxEdge, c.cropHeight, error) ||
                !r.integer((*it)["width"], "crop_size.width", 1, kMaxEdge, c.cropWidth, error))
                return error;
        } else {
            return r.bad("crop_size",
                         QStringLiteral("must be null, an integer, {\"shortest_edge\": n} or "
                                        "{\"height\": h, \"width\": w}"),
                         *it);
        }
    }
    return c;
}

Result<ImageProcessorConfig> ImageProcessorConfig::load(const QString &path) {
    auto json = readJsonFile(path);
    if (!json)
        return json.error();
    return fromJson(*json, path);
}

} // namespace ts
