#pragma once

#include <cstdint>
#include <vector>

namespace ts {

// Token ids and attention mask of a batch of texts, row-major [batchSize, seqLength], right-padded.
// What the tokenizer produces and the model consumes.
struct TokenBatch {
    int64_t batchSize = 0;
    int64_t seqLength = 0;
    std::vector<int64_t> inputIds;
    std::vector<int64_t> attentionMask;
};

} // namespace ts
