#pragma once

// Internal to core/index: chooses an IVF index's nprobe from the library's own vectors.
//
// The queries are stored vectors that the IVF cells were not trained on (the caller holds them out
// of k-means: a query that pulled its own centroid towards itself would overstate recall), and each
// one's own entry is skipped, so that they stand for new photos like the library's. Their exact
// top-10 comes from a scan of every inverted list (BLAS, over blocks of lists, so the vectors are
// never copied whole). IVF-Flat finds a true neighbour at nprobe p exactly when its list is among
// the query's p nearest centroids, so one ranking of the centroids per query gives recall@10 at
// every nprobe at once: the cost is that of the exact scan of the sample (~Q x n x d
// multiply-adds), never one IVF search per candidate nprobe.

#include <QtGlobal>

#include <vector>

namespace faiss {
struct IndexIVF;
}

namespace ts::internal {

struct NprobeChoice {
    int nprobe = 0;              // smallest nprobe whose sample recall@10 reaches the target
    double recall = 0.0;         // the sample's recall@10 at that nprobe
    double scannedVectors = 0.0; // mean vectors a query scans at that nprobe
    bool exactIsCheaper = false; // a flat scan costs no more than the IVF search at that nprobe
    int queries = 0;
    double seconds = 0.0;
};

// Per scanned vector, an IVF-Flat search costs this many times a flat scan's per-vector cost
// (both run FAISS's SSE inner product, the IVF adds a heap per list); its coarse quantizer scans
// nlist centroids like a flat scan. Measured with bench_index as the searching thread's CPU time
// of the "all" row (nprobe = nlist) over the exact row, same process, on a loaded 2-core machine:
// 1.03 and 1.05 (100k isotropic and cone), 1.07 (20k cone), 1.27 (200k cone).
inline constexpr double kIvfVectorCost = 1.1;

// Measures recall@10 of `queryIds.size()` queries (`queries`: their vectors, row-major, as stored
// under those ids) and picks the smallest nprobe whose recall reaches `targetRecall` plus two
// standard errors of the mean over queries. The index must be IVF-Flat with inner product; it is
// only read. May throw what FAISS throws.
NprobeChoice chooseNprobe(const faiss::IndexIVF &ivf, const float *queries,
                          const std::vector<qint64> &queryIds, double targetRecall);

} // namespace ts::internal
