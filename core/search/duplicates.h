#pragma once

// Near-duplicate photos: groups of photos whose embeddings are nearly identical (the same photo
// resized, re-encoded, slightly cropped or converted), found from the vector index.
//
// Usage:
//   auto groups = findDuplicateGroups(index, kDefaultDuplicateThreshold, progress);
//   for (const DuplicateGroup &g : *groups)  // largest first
//       show(g.ids.front() /* representative */, g.ids, g.scores);
//
// Grouping: groups form around a representative, not by chains. Of the photos not yet grouped,
// the one with the most similar photos (cosine >= threshold) not yet grouped becomes a
// representative (ties: the larger sum of their similarities, then the smaller id), and it and
// those photos form a group; repeated until no two ungrouped photos are similar. So every member
// is within the threshold of its representative, and two members are at least as similar as
// cos(2 acos(threshold)) (0.84 at the default 0.96): a chain of small edits A~B~C~D never pulls
// A and D together as union-find (single linkage) would.
//
// Cost: the range search over the index (VectorIndex::similarPairs); grouping is O(p log p) in the
// number of similar pairs. Threads: a pure function of the index, safe on any thread.

#include "core/common/result.h"
#include "core/index/vectorindex.h"

#include <vector>

namespace ts {

// Default cosine threshold for "near-duplicate": see the figures in README.md ("Find duplicates")
// and tests/search/measure_duplicates.cpp, which measured it on near-copies of the fixture photos.
inline constexpr float kDefaultDuplicateThreshold = 0.96f;

struct DuplicateGroup {
    std::vector<qint64> ids;   // the representative first, then by similarity to it, best first
    std::vector<float> scores; // each photo's cosine similarity to the representative (1 for it)
};

// Groups `pairs` (as VectorIndex::similarPairs gives them) as described above: largest group
// first, then by the best similarity within it, then by the representative's id.
std::vector<DuplicateGroup> groupSimilarPairs(const std::vector<SimilarPair> &pairs);

// Cells an IVF index scans per photo in the all-pairs scan: near-copies lie in the same or a
// neighbouring cell. Measured with bench_duplicates on 100,000 CLIP-like vectors with planted
// near-copies: nprobe 4 found 99.8% of them in 78 s; the tuned search nprobe (31) found 100% in
// 702 s, nprobe 16 100% in 206 s, nprobe 1 90.8% in 23 s. At 50,000 nprobe 4 found all.
inline constexpr int kDuplicateScanNprobe = 4;

// similarPairs(threshold, progress, kDuplicateScanNprobe) over `index`, then groupSimilarPairs.
// Errors as similarPairs.
Result<std::vector<DuplicateGroup>> findDuplicateGroups(const VectorIndex &index, float threshold,
                                                        const ScanProgress &progress = {});

} // namespace ts
