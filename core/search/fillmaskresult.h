#pragma once

// What fill-mask gives back (BridgeTowerPipeline::fillMask, SearchEngine::fillMask): plain values.

#include <QString>
#include <QStringList>

#include <cstdint>
#include <vector>

namespace ts {

// Proposals for one <mask> of a caption.
struct MaskPrediction {
    int position = 0; // index into the caption's token ids
    std::vector<int64_t> ids;
    QStringList tokens; // byte-level BPE strings, e.g. "Ġwine"
    QStringList words;  // decoded, e.g. " wine"
    std::vector<float> probabilities;
    std::vector<float> logits;
};

struct FillMaskResult {
    std::vector<int64_t> inputIds;
    std::vector<MaskPrediction> masks;
    std::vector<int64_t> filledIds; // every mask replaced by its most probable token
    QString filledText;             // decoded without special tokens
};

} // namespace ts
