#include "core/index/nprobetuner.h"

#include <faiss/IndexIVF.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

namespace ts::internal {

namespace {

using FaissId = faiss::Index::idx_t;
constexpr int kRecallAt = 10;

struct Neighbour {
    float score;
    FaissId id;
    int list;
};

// The exact top-`fetch` stored vectors of every query, by a scan of every inverted list over
// blocks of whole lists copied together: a few large BLAS products rather than one per list (each
// starts an OpenMP team, slow on a busy machine).
class ExactNeighbours {
public:
    ExactNeighbours(const faiss::IndexIVF &ivf, const float *queries, int queryCount, int fetch)
        : m_ivf(ivf), m_queries(queries), m_q(queryCount), m_fetch(fetch), m_dim(size_t(ivf.d)),
          m_best(size_t(queryCount)) {}

    // Per query, best first.
    std::vector<std::vector<Neighbour>> scan() {
        const faiss::InvertedLists &lists = *m_ivf.invlists;
        m_block.reserve((kBlockVectors + 1024) * m_dim);
        for (int l = 0; l < int(m_ivf.nlist); ++l) {
            const size_t size = lists.list_size(size_t(l));
            if (size == 0)
                continue;
            faiss::InvertedLists::ScopedCodes codes(&lists, size_t(l));
            faiss::InvertedLists::ScopedIds ids(&lists, size_t(l));
            const auto *floats = reinterpret_cast<const float *>(codes.get());
            m_block.insert(m_block.end(), floats, floats + size * m_dim);
            m_blockIds.insert(m_blockIds.end(), ids.get(), ids.get() + size);
            m_blockLists.insert(m_blockLists.end(), size, l);
            if (m_blockIds.size() >= kBlockVectors)
                scanBlock();
        }
        scanBlock();
        return std::move(m_best);
    }

private:
    static constexpr size_t kBlockVectors = 8192;

    void scanBlock() {
        const size_t size = m_blockIds.size();
        if (size == 0)
            return;
        const size_t kk = std::min<size_t>(size, size_t(m_fetch));
        m_scores.assign(size_t(m_q) * kk, 0.0f);
        m_rows.assign(size_t(m_q) * kk, -1);
        faiss::knn_inner_product(m_queries, m_block.data(), m_dim, size_t(m_q), size, kk,
                                 m_scores.data(), m_rows.data());
        for (int i = 0; i < m_q; ++i)
            mergeInto(m_best[size_t(i)], size_t(i) * kk, kk, size);
        m_block.clear();
        m_blockIds.clear();
        m_blockLists.clear();
    }

    // The block's top `kk` of one query (at `offset` in the results) into its running top.
    void mergeInto(std::vector<Neighbour> &top, size_t offset, size_t kk, size_t size) const {
        for (size_t j = 0; j < kk; ++j) {
            const FaissId row = m_rows[offset + j];
            if (row < 0 || size_t(row) >= size)
                continue;
            const float s = m_scores[offset + j];
            if (int(top.size()) == m_fetch && s <= top.back().score)
                break; // sorted best first: the rest of this block cannot enter
            const Neighbour entry{s, m_blockIds[size_t(row)], m_blockLists[size_t(row)]};
            top.insert(std::upper_bound(top.begin(), top.end(), entry,
                                        [](const Neighbour &a, const Neighbour &b) {
                                            return a.score > b.score;
                                        }),
                       entry);
            if (int(top.size()) > m_fetch)
                top.pop_back();
        }
    }

    const faiss::IndexIVF &m_ivf;
    const float *m_queries;
    const int m_q;
    const int m_fetch;
    const size_t m_dim;
    std::vector<std::vector<Neighbour>> m_best;
    std::vector<float> m_block;
    std::vector<FaissId> m_blockIds;
    std::vector<int> m_blockLists;
    std::vector<float> m_scores;
    std::vector<FaissId> m_rows;
};

// Where each query's true neighbours lie in its ranking of the centroids.
struct NeighbourRanks {
    // Per rank r, the queries that have a true neighbour in their r-th nearest cell (so it is
    // found from nprobe r + 1 on).
    std::vector<std::vector<int>> enters;
    std::vector<double> scannedUpTo; // vectors scanned at nprobe r + 1, summed over queries
    std::vector<int> truthsOf;       // true neighbours per query (its own entry skipped)
};

// Each query's centroids, nearest first: a neighbour in the list ranked r is found from nprobe
// r + 1 on.
NeighbourRanks rankNeighbours(const faiss::IndexIVF &ivf, const float *queries,
                              const std::vector<qint64> &self,
                              const std::vector<std::vector<Neighbour>> &best, int k) {
    const int q = int(self.size());
    const int nlist = int(ivf.nlist);
    const faiss::InvertedLists &lists = *ivf.invlists;
    std::vector<float> centroidScores(size_t(q) * size_t(nlist));
    std::vector<FaissId> order(size_t(q) * size_t(nlist));
    ivf.quantizer->search(FaissId(q), queries, FaissId(nlist), centroidScores.data(), order.data());
    NeighbourRanks ranks;
    ranks.enters.resize(static_cast<size_t>(nlist) + 1);
    ranks.scannedUpTo.assign(size_t(nlist), 0.0);
    ranks.truthsOf.assign(static_cast<size_t>(q), 0);
    std::vector<int> rankOf(static_cast<size_t>(nlist));
    for (int i = 0; i < q; ++i) {
        std::fill(rankOf.begin(), rankOf.end(), nlist);
        double scanned = 0;
        for (int r = 0; r < nlist; ++r) {
            const FaissId l = order[size_t(i) * size_t(nlist) + size_t(r)];
            if (l >= 0 && l < nlist) {
                rankOf[size_t(l)] = r;
                scanned += double(lists.list_size(size_t(l)));
            }
            ranks.scannedUpTo[size_t(r)] += scanned;
        }
        for (const Neighbour &nb : best[size_t(i)]) {
            if (nb.id == self[size_t(i)] || ranks.truthsOf[size_t(i)] == k)
                continue;
            ++ranks.truthsOf[size_t(i)];
            ranks.enters[size_t(rankOf[size_t(nb.list)])].push_back(i);
        }
    }
    return ranks;
}

// The smallest nprobe whose recall clears the target (nlist when none does) and its recall.
// Recall@10 at nprobe p is the mean over queries of found/truths. Queries differ a lot (a query in
// a split cluster misses many neighbours at once), so the margin is the standard error of that
// mean over queries: aim two standard errors above the target, so that the library's new photos
// reach it with ~97.5% confidence rather than only the sample.
std::pair<int, double> smallestNprobeReaching(const NeighbourRanks &ranks, int nlist,
                                              double targetRecall) {
    const int q = int(ranks.truthsOf.size());
    std::vector<int> found(static_cast<size_t>(q), 0);
    double sum = 0, sumSquares = 0; // of per-query recall
    for (int r = 0; r < nlist; ++r) {
        for (int i : ranks.enters[size_t(r)]) {
            const double t = double(ranks.truthsOf[size_t(i)]);
            const double before = double(found[size_t(i)]) / t;
            const double after = double(++found[size_t(i)]) / t;
            sum += after - before;
            sumSquares += after * after - before * before;
        }
        const double mean = sum / q;
        const double variance = q > 1 ? std::max(0.0, (sumSquares - q * mean * mean) / (q - 1)) : 0;
        if (mean >= std::min(1.0, targetRecall + 2.0 * std::sqrt(variance / q)))
            return {r + 1, mean};
    }
    return {nlist, 1.0};
}

} // namespace

NprobeChoice chooseNprobe(const faiss::IndexIVF &ivf, const float *queries,
                          const std::vector<qint64> &queryIds, double targetRecall) {
    const auto started = std::chrono::steady_clock::now();
    NprobeChoice choice;
    const qint64 n = qint64(ivf.ntotal);
    const int nlist = int(ivf.nlist);
    const int q = int(queryIds.size());
    if (q < 1 || n < 2 || nlist < 1) {
        choice.nprobe = std::max(1, nlist);
        return choice;
    }
    // One more than k: the query's own entry is among its neighbours and is skipped.
    const int k = int(std::min<qint64>(kRecallAt, n - 1));
    const auto best = ExactNeighbours(ivf, queries, q, k + 1).scan();
    const NeighbourRanks ranks = rankNeighbours(ivf, queries, queryIds, best, k);
    std::tie(choice.nprobe, choice.recall) = smallestNprobeReaching(ranks, nlist, targetRecall);
    choice.scannedVectors = ranks.scannedUpTo[size_t(choice.nprobe - 1)] / double(q);
    choice.exactIsCheaper = double(nlist) + kIvfVectorCost * choice.scannedVectors >= double(n);
    choice.queries = q;
    choice.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return choice;
}

} // namespace ts::internal
