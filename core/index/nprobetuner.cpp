#include "core/index/nprobetuner.h"

#include <faiss/IndexIVF.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

namespace ts::detail {

namespace {

using FaissId = faiss::Index::idx_t;
constexpr int kRecallAt = 10;

struct Neighbour {
    float score;
    FaissId id;
    int list;
};

} // namespace

NprobeChoice chooseNprobe(const faiss::IndexIVF &ivf, const float *queries,
                          const std::vector<qint64> &queryIds, double targetRecall) {
    const auto started = std::chrono::steady_clock::now();
    NprobeChoice choice;
    const qint64 n = qint64(ivf.ntotal);
    const int nlist = int(ivf.nlist);
    const size_t dim = size_t(ivf.d);
    const faiss::InvertedLists &lists = *ivf.invlists;
    const int q = int(queryIds.size());
    if (q < 1 || n < 2 || nlist < 1) {
        choice.nprobe = std::max(1, nlist);
        return choice;
    }
    // One more than k: the query's own entry is among its neighbours and is skipped.
    const int k = int(std::min<qint64>(kRecallAt, n - 1));
    const int fetch = k + 1;
    const float *x = queries;
    const std::vector<qint64> &self = queryIds;

    // Exact top-(k+1) of every query, over blocks of whole lists copied together: a few large
    // BLAS products rather than one per list (each starts an OpenMP team, slow on a busy machine).
    std::vector<std::vector<Neighbour>> best(static_cast<size_t>(q));
    constexpr size_t kBlockVectors = 8192;
    std::vector<float> block;
    std::vector<FaissId> blockIds;
    std::vector<int> blockLists;
    std::vector<float> scores;
    std::vector<FaissId> rows;
    auto scanBlock = [&]() {
        const size_t size = blockIds.size();
        if (size == 0)
            return;
        const size_t kk = std::min<size_t>(size, size_t(fetch));
        scores.assign(size_t(q) * kk, 0.0f);
        rows.assign(size_t(q) * kk, -1);
        faiss::knn_inner_product(x, block.data(), dim, size_t(q), size, kk, scores.data(),
                                 rows.data());
        for (int i = 0; i < q; ++i) {
            auto &top = best[size_t(i)];
            for (size_t j = 0; j < kk; ++j) {
                const FaissId row = rows[size_t(i) * kk + j];
                if (row < 0 || size_t(row) >= size)
                    continue;
                const float s = scores[size_t(i) * kk + j];
                if (int(top.size()) == fetch && s <= top.back().score)
                    break; // sorted best first: the rest of this block cannot enter
                const Neighbour entry{s, blockIds[size_t(row)], blockLists[size_t(row)]};
                top.insert(std::upper_bound(top.begin(), top.end(), entry,
                                            [](const Neighbour &a, const Neighbour &b) {
                                                return a.score > b.score;
                                            }),
                           entry);
                if (int(top.size()) > fetch)
                    top.pop_back();
            }
        }
        block.clear();
        blockIds.clear();
        blockLists.clear();
    };
    block.reserve((kBlockVectors + 1024) * dim);
    for (int l = 0; l < nlist; ++l) {
        const size_t size = lists.list_size(size_t(l));
        if (size == 0)
            continue;
        faiss::InvertedLists::ScopedCodes codes(&lists, size_t(l));
        faiss::InvertedLists::ScopedIds ids(&lists, size_t(l));
        const auto *floats = reinterpret_cast<const float *>(codes.get());
        block.insert(block.end(), floats, floats + size * dim);
        blockIds.insert(blockIds.end(), ids.get(), ids.get() + size);
        blockLists.insert(blockLists.end(), size, l);
        if (blockIds.size() >= kBlockVectors)
            scanBlock();
    }
    scanBlock();

    // Each query's centroids, nearest first: a neighbour in the list ranked r is found from
    // nprobe r + 1 on.
    std::vector<float> centroidScores(size_t(q) * size_t(nlist));
    std::vector<FaissId> order(size_t(q) * size_t(nlist));
    ivf.quantizer->search(FaissId(q), x, FaissId(nlist), centroidScores.data(), order.data());
    // Per rank r, the queries that have a true neighbour in their r-th nearest cell (so it is
    // found from nprobe r + 1 on).
    std::vector<std::vector<int>> enters(static_cast<size_t>(nlist) + 1);
    std::vector<double> scannedUpTo(size_t(nlist), 0.0); // vectors scanned at nprobe r + 1
    std::vector<int> rankOf(static_cast<size_t>(nlist));
    std::vector<int> truthsOf(static_cast<size_t>(q), 0);
    for (int i = 0; i < q; ++i) {
        std::fill(rankOf.begin(), rankOf.end(), nlist);
        double scanned = 0;
        for (int r = 0; r < nlist; ++r) {
            const FaissId l = order[size_t(i) * size_t(nlist) + size_t(r)];
            if (l >= 0 && l < nlist) {
                rankOf[size_t(l)] = r;
                scanned += double(lists.list_size(size_t(l)));
            }
            scannedUpTo[size_t(r)] += scanned;
        }
        for (const Neighbour &nb : best[size_t(i)]) {
            if (nb.id == self[size_t(i)] || truthsOf[size_t(i)] == k)
                continue;
            ++truthsOf[size_t(i)];
            enters[size_t(rankOf[size_t(nb.list)])].push_back(i);
        }
    }
    // Recall@10 at nprobe p is the mean over queries of found/truths. Queries differ a lot (a
    // query in a split cluster misses many neighbours at once), so the margin is the standard
    // error of that mean over queries: aim two standard errors above the target, so that the
    // library's new photos reach it with ~97.5% confidence rather than only the sample.
    std::vector<int> found(static_cast<size_t>(q), 0);
    double sum = 0, sumSquares = 0; // of per-query recall
    choice.nprobe = nlist;
    choice.recall = 1.0;
    for (int r = 0; r < nlist; ++r) {
        for (int i : enters[size_t(r)]) {
            const double t = double(truthsOf[size_t(i)]);
            const double before = double(found[size_t(i)]) / t;
            const double after = double(++found[size_t(i)]) / t;
            sum += after - before;
            sumSquares += after * after - before * before;
        }
        const double mean = sum / q;
        const double variance = q > 1 ? std::max(0.0, (sumSquares - q * mean * mean) / (q - 1)) : 0;
        if (mean >= std::min(1.0, targetRecall + 2.0 * std::sqrt(variance / q))) {
            choice.nprobe = r + 1;
            choice.recall = mean;
            break;
        }
    }
    choice.scannedVectors = scannedUpTo[size_t(choice.nprobe - 1)] / double(q);
    choice.exactIsCheaper = double(nlist) + kIvfVectorCost * choice.scannedVectors >= double(n);
    choice.queries = q;
    choice.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return choice;
}

} // namespace ts::detail
