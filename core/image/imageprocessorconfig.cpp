#include "core/image/imageprocessorconfig.h"

#include "core/common/jsonfields.h"
#include "core/common/jsonfile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>

namespace ts {
namespace {

// Upper bound on sizes read from a config: far above any real checkpoint (288/294/384), low enough
// that a typo cannot make us allocate gigabytes per photo.
constexpr int kMaxEdge = 4096;

// The first problem the reader recorded, as the error of the whole file.
Error firstProblem(const JsonFieldReader &r, const QString &name) {
    const JsonFieldReader::Problem &p = r.problems().front();
    return Error(Error::Code::Format,
                 QStringLiteral("%1: key '%2' %3, got %4").arg(name, p.key, p.expected, p.got));
}

// One number for all three channels, or a list of three.
void readTriple(JsonFieldReader &r, const char *key, std::array<double, 3> &out, bool nonZero) {
    const nlohmann::json *v = r.find(key);
    if (!v)
        return;
    std::array<double, 3> values{};
    if (v->is_number()) {
        const std::optional<double> x = r.finiteNumber(*v, key);
        if (!x)
            return;
        values = {*x, *x, *x};
    } else if (v->is_array() && v->size() == 3) {
        for (size_t i = 0; i < 3; ++i) {
            const std::optional<double> x = r.finiteNumber((*v)[i], key);
            if (!x)
                return;
            values[i] = *x;
        }
    } else {
        r.addProblem(key, QStringLiteral("must be a number or a list of 3 numbers"), *v);
        return;
    }
    if (nonZero && std::find(values.begin(), values.end(), 0.0) != values.end()) {
        r.addProblem(key, QStringLiteral("must not contain 0"), *v);
        return;
    }
    out = values;
}

void readSize(JsonFieldReader &r, ImageProcessorConfig &c) {
    const nlohmann::json *v = r.find("size");
    if (!v)
        return;
    std::optional<int> edge;
    if (v->is_number_integer())
        edge = r.integerIn(*v, "size", 1, kMaxEdge);
    else if (v->is_object() && v->contains("shortest_edge"))
        edge = r.integerIn((*v)["shortest_edge"], "size.shortest_edge", 1, kMaxEdge);
    else // HF's resize raises on {"height", "width"} too: the BridgeTower rule needs a shortest
         // edge
        r.addProblem("size", QStringLiteral("must be {\"shortest_edge\": n} or an integer"), *v);
    if (edge)
        c.shortestEdge = *edge;
}

// crop_size falls back to the shortest edge when absent or null.
void readCropSize(JsonFieldReader &r, ImageProcessorConfig &c) {
    c.cropHeight = c.cropWidth = c.shortestEdge;
    const nlohmann::json *v = r.find("crop_size");
    if (!v)
        return;
    std::optional<int> height, width;
    if (v->is_number_integer()) {
        height = width = r.integerIn(*v, "crop_size", 1, kMaxEdge);
    } else if (v->is_object() && v->contains("shortest_edge")) {
        height = width = r.integerIn((*v)["shortest_edge"], "crop_size.shortest_edge", 1, kMaxEdge);
    } else if (v->is_object() && v->contains("height") && v->contains("width")) {
        height = r.integerIn((*v)["height"], "crop_size.height", 1, kMaxEdge);
        width = height ? r.integerIn((*v)["width"], "crop_size.width", 1, kMaxEdge) : std::nullopt;
    } else {
        r.addProblem("crop_size",
                     QStringLiteral("must be null, an integer, {\"shortest_edge\": n} or "
                                    "{\"height\": h, \"width\": w}"),
                     *v);
    }
    if (height && width) {
        c.cropHeight = *height;
        c.cropWidth = *width;
    }
}

// Only bicubic is implemented: anything else is refused rather than resized with another filter.
Status readResample(JsonFieldReader &r, ImageProcessorConfig &c, const QString &name) {
    const nlohmann::json *v = r.find("resample");
    if (!v)
        return Status::success();
    const std::optional<int> resample = r.integerIn(*v, "resample", 0, 5);
    if (!resample)
        return firstProblem(r, name);
    c.resample = *resample;
    if (c.resample != 3)
        return Error(Error::Code::Unsupported,
                     QStringLiteral("%1: key 'resample' is %2, but only 3 (bicubic, the value of "
                                    "every BridgeTower checkpoint) is implemented")
                         .arg(name)
                         .arg(c.resample));
    return Status::success();
}

} // namespace

// Keys are read in file-format order and the first problem is the error, as a user fixes them.
Result<ImageProcessorConfig> ImageProcessorConfig::fromJson(const nlohmann::json &json,
                                                            const QString &nameForErrors) {
    if (!json.is_object())
        return Error(
            Error::Code::Format,
            QStringLiteral("%1: expected a JSON object at the top level").arg(nameForErrors));
    ImageProcessorConfig c;
    JsonFieldReader r(json);
    for (const auto &[key, flag] : {std::pair{"do_resize", &c.doResize},
                                    {"do_rescale", &c.doRescale},
                                    {"do_normalize", &c.doNormalize},
                                    {"do_center_crop", &c.doCenterCrop},
                                    {"do_pad", &c.doPad}})
        r.read(key, *flag);
    if (!r.ok())
        return firstProblem(r, nameForErrors);
    // Deprecated alias HF still honours: it turns padding on.
    if (auto it = json.find("pad_and_return_pixel_mask");
        it != json.end() && it->is_boolean() && it->get<bool>())
        c.doPad = true;

    readSize(r, c);
    if (const nlohmann::json *v = r.ok() ? r.find("size_divisor") : nullptr)
        if (const std::optional<int> divisor = r.integerIn(*v, "size_divisor", 1, kMaxEdge))
            c.sizeDivisor = *divisor;
    if (!r.ok())
        return firstProblem(r, nameForErrors);
    if (const Status resample = readResample(r, c, nameForErrors); !resample)
        return resample.error();
    if (const nlohmann::json *v = r.find("rescale_factor"))
        if (const std::optional<double> factor = r.finiteNumber(*v, "rescale_factor"))
            c.rescaleFactor = *factor;
    if (r.ok())
        readTriple(r, "image_mean", c.imageMean, false);
    if (r.ok())
        readTriple(r, "image_std", c.imageStd, true);
    if (r.ok())
        readCropSize(r, c);
    if (!r.ok())
        return firstProblem(r, nameForErrors);
    return c;
}

Result<ImageProcessorConfig> ImageProcessorConfig::load(const QString &path) {
    auto json = readJsonFile(path);
    if (!json)
        return json.error();
    return fromJson(*json, path);
}

} // namespace ts
