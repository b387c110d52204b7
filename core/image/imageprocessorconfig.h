#pragma once

#include "core/common/result.h"

#include <nlohmann/json_fwd.hpp>

#include <QString>

#include <array>

namespace ts {

// A checkpoint's `preprocessor_config.json` for BridgeTowerImageProcessor, with Hugging Face's
// defaults (transformers 4.47) for every key that is absent: shortest_edge 288, size_divisor 32,
// resample 3 (bicubic), rescale 1/255, CLIP mean/std, do_center_crop/do_pad true.
//
// Accepted shapes: `size` as {"shortest_edge": n} or a bare integer (HF's get_size_dict);
// `crop_size` null (falls back to `size`, as HF does), {"shortest_edge": n} or {"height", "width"};
// `image_mean`/`image_std` as one number or three. Only resample 3 (bicubic) is implemented: it is
// the value of every BridgeTower checkpoint; anything else is refused rather than silently resized
// with another filter. Unknown keys are ignored, as HF does.
struct ImageProcessorConfig {
    bool doResize = true;
    int shortestEdge = 288;
    int sizeDivisor = 32;
    int resample = 3;
    bool doRescale = true;
    double rescaleFactor = 1.0 / 255.0;
    bool doNormalize = true;
    std::array<double, 3> imageMean{0.48145466, 0.4578275, 0.40821073};
    std::array<double, 3> imageStd{0.26862954, 0.26130258, 0.27577711};
    // Parsed for completeness; BridgeTowerProcessor always crops whatever this says, so
    // ImageProcessor::process() takes the decision as an argument instead.
    bool doCenterCrop = true;
    int cropHeight = 288; // = shortestEdge unless crop_size says otherwise
    int cropWidth = 288;
    bool doPad = true;

    // Reads and validates the file. Errors name the file and the offending key
    // ("preprocessor_config.json: key 'size_divisor' must be a positive integer, got -1").
    // Thread-safety: reentrant.
    static Result<ImageProcessorConfig> load(const QString &path);

    // Same, from parsed JSON; `nameForErrors` is put in front of every message.
    static Result<ImageProcessorConfig> fromJson(const nlohmann::json &json,
                                                 const QString &nameForErrors);
};

} // namespace ts
