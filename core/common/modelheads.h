#pragma once

namespace ts {

// Which heads a checkpoint provides (bit flags, combined in an `unsigned`: ModelInfo::heads,
// ModelLoadOptions::requiredHeads). Light, so that code describing checkpoints (core/hub, the UI)
// needs no core/model header.
enum ModelHead : unsigned {
    kHeadNone = 0,
    kHeadContrastive = 1, // ITC: text/image/cross embeddings and logit scale (needed for search)
    kHeadImageTextMatching = 2, // ITM: match logits (rerank)
    kHeadMaskedLm = 4,          // MLM: vocabulary logits (fill-mask)
};

} // namespace ts
