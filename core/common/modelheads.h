#pragma once

namespace ts {

// Which heads a BridgeTower checkpoint provides (bit flags). A light value type of its own: the
// model sets them, and the Hub client (core/hub) reports them for a folder on disk without
// linking the model.
enum ModelHead : unsigned {
    kHeadNone = 0,
    kHeadContrastive = 1, // ITC: text/image/cross embeddings and logit scale (needed for search)
    kHeadImageTextMatching = 2, // ITM: match logits (rerank)
    kHeadMaskedLm = 4,          // MLM: vocabulary logits (fill-mask)
    kHeadAll = 7,
};

} // namespace ts
