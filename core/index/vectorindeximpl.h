#pragma once

// Internal to core/index: the FAISS-backed state behind VectorIndex's pimpl, shared by
// vectorindex.cpp (add, remove, search) and vectorindexfile.cpp (save, load).

#include "core/index/vectorindex.h"

#include "core/index/indexfileformat.h"
#include "core/index/nprobetuner.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIDMap.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/DirectMap.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <numeric>
#include <random>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

namespace ts {

namespace internal {

using FaissId = faiss::Index::idx_t;

inline constexpr int kMinTrainingPointsPerCell = 39; // FAISS's k-means warns below this

inline Error invalid(const QString &message) {
    return Error(Error::Code::InvalidArgument, message);
}

// Limits FAISS's OpenMP team for the calling thread and restores it afterwards: a single-query
// search gains nothing from a team on 2 cores, and several searching threads each spinning up a
// team would oversubscribe them. The setting is per thread, so other threads are unaffected.
class OmpThreadLimit {
public:
    explicit OmpThreadLimit(int threads) : m_saved(omp_get_max_threads()) {
        omp_set_num_threads(threads);
    }
    ~OmpThreadLimit() { omp_set_num_threads(m_saved); }
    OmpThreadLimit(const OmpThreadLimit &) = delete;
    OmpThreadLimit &operator=(const OmpThreadLimit &) = delete;

private:
    int m_saved;
};

// Normalises `row` in place, or says why it cannot be (InvalidArgument; the message completes
// "the vector ...").
inline Status normaliseRow(float *row, int dim) {
    double sum = 0.0;
    for (int i = 0; i < dim; ++i) {
        if (!std::isfinite(row[i]))
            return invalid(QStringLiteral("contains NaN or infinity at element %1").arg(i));
        sum += double(row[i]) * double(row[i]);
    }
    // A norm that is finite but far below float precision cannot be normalised meaningfully.
    if (!(sum > 1e-30) || !std::isfinite(sum))
        return invalid(sum > 0 ? QStringLiteral("has a length that cannot be normalised")
                               : QStringLiteral("has zero length"));
    const float inv = float(1.0 / std::sqrt(sum));
    for (int i = 0; i < dim; ++i)
        row[i] *= inv;
    return {};
}

// The query of search()/searchWithin(): checked (given, k >= 1, finite, non-zero) and an
// L2-normalised copy of its `dim` floats, or the reason it cannot be searched.
inline Result<std::vector<float>> normalisedQuery(const float *query, int k, int dim) {
    if (!query)
        return invalid(QStringLiteral("vector search: no query vector given"));
    if (k < 1)
        return invalid(QStringLiteral("vector search: k must be at least 1 (got %1)").arg(k));
    std::vector<float> q(query, query + dim);
    if (Status row = normaliseRow(q.data(), dim); !row)
        return invalid(
            QStringLiteral("vector search: the query vector %1").arg(row.error().message));
    return q;
}

// The searchable part of the index, swapped as a whole when the index is rebuilt.
struct State {
    std::unique_ptr<faiss::Index> index;     // owns the IndexIDMap2 or IndexIVFFlat
    faiss::IndexIDMap2 *flat = nullptr;      // exact mode: IndexIDMap2 over IndexFlatIP
    faiss::IndexIVFFlat *ivf = nullptr;      // approximate mode, with a hashtable direct map
    qint64 trainedAt = 0;                    // size when the IVF cells were trained
    IndexTuning tuning;                      // the last nprobe tuning (exact: flat by choice)
    std::unordered_map<qint64, quint64> ids; // id -> owner tag
    quint64 fingerprint = 0;

    quint64 tagOf(qint64 id) const {
        const auto it = ids.find(id);
        return it == ids.end() ? 0 : it->second;
    }

    qint64 size() const { return qint64(ids.size()); }
};

// All (id, tag, vector) triples of `state`, skipping ids in `skip`.
inline void collect(const State &state, int dim, const std::unordered_set<qint64> &skip,
                    std::vector<qint64> &ids, std::vector<quint64> &tags,
                    std::vector<float> &vectors) {
    const size_t rowBytes = size_t(dim) * sizeof(float);
    auto take = [&](FaissId id, const void *row) {
        if (skip.count(qint64(id)))
            return;
        ids.push_back(qint64(id));
        tags.push_back(state.tagOf(qint64(id)));
        const size_t at = vectors.size();
        vectors.resize(at + size_t(dim));
        std::memcpy(vectors.data() + at, row, rowBytes);
    };
    ids.reserve(state.ids.size());
    tags.reserve(state.ids.size());
    vectors.reserve(state.ids.size() * size_t(dim));
    if (state.flat) {
        const auto *storage = static_cast<const faiss::IndexFlat *>(state.flat->index);
        const float *xb = storage->get_xb();
        for (size_t i = 0; i < state.flat->id_map.size(); ++i)
            take(state.flat->id_map[i], xb + i * size_t(dim));
    } else if (state.ivf) {
        const faiss::InvertedLists *lists = state.ivf->invlists;
        for (size_t list = 0; list < lists->nlist; ++list) {
            const size_t n = lists->list_size(list);
            faiss::InvertedLists::ScopedCodes codes(lists, list);
            faiss::InvertedLists::ScopedIds listIds(lists, list);
            for (size_t j = 0; j < n; ++j)
                take(listIds[j], codes.get() + j * rowBytes);
        }
    }
}

// All ids of `state`, in storage order.
inline std::vector<qint64> collectIds(const State &state) {
    std::vector<qint64> ids;
    if (state.flat) {
        ids.assign(state.flat->id_map.begin(), state.flat->id_map.end());
    } else if (state.ivf) {
        const faiss::InvertedLists *lists = state.ivf->invlists;
        ids.reserve(size_t(state.ivf->ntotal));
        for (size_t list = 0; list < lists->nlist; ++list) {
            faiss::InvertedLists::ScopedIds listIds(lists, list);
            ids.insert(ids.end(), listIds.get(), listIds.get() + lists->list_size(list));
        }
    }
    return ids;
}

} // namespace internal

struct VectorIndex::Impl {
    VectorIndexOptions options;
    QString modelKey;
    int dim = 0;

    // Readers (search, save, getters) hold `mutex` shared; a writer holds `writeMutex` throughout
    // and `mutex` exclusively only while it changes `state`. Since only writers change the state
    // and they are serialised, a writer may read the state without `mutex` (to rebuild beside it).
    mutable std::shared_mutex mutex;
    std::mutex writeMutex;
    // glibc's rwlock prefers readers: with searches arriving back to back a writer would starve.
    // Readers pass this gate before taking `mutex`; a writer holds it while it waits for `mutex`.
    mutable std::mutex gate;

    std::shared_lock<std::shared_mutex> readLock() const {
        std::lock_guard turn(gate);
        return std::shared_lock(mutex);
    }
    std::unique_lock<std::shared_mutex> exclusiveLock() {
        std::lock_guard turn(gate);
        return std::unique_lock(mutex);
    }
    internal::State state;

    int chooseNlist(qint64 n) const {
        qint64 nlist = options.nlist;
        if (nlist <= 0) {
            // ~2 sqrt(n), rounded to the nearest power of two. Fewer, larger cells than FAISS's
            // usual 4-16 sqrt(n): with nprobe 32 a query scans about the same number of vectors,
            // while k-means training (cost ~ nlist^2) is 4x cheaper on 2 cores.
            const double target = 2.0 * std::sqrt(double(n));
            nlist = qint64(1) << qint64(std::lround(std::log2(std::max(1.0, target))));
        }
        return int(std::clamp<qint64>(
            nlist, 1, std::max<qint64>(1, n / internal::kMinTrainingPointsPerCell)));
    }

    // A fixed nprobe from the options wins; then the tuned one; else the rule for untuned indexes.
    int chooseNprobe(int nlist, const IndexTuning &tuning) const {
        const int nprobe = options.nprobe > 0  ? options.nprobe
                           : tuning.nprobe > 0 ? tuning.nprobe
                                               : std::max(32, nlist / 64);
        return std::clamp(nprobe, 1, std::max(1, nlist));
    }

    bool tunes() const { return options.targetRecall > 0 && options.nprobe == 0; }

    static IndexTuning tuningOf(const internal::NprobeChoice &choice, qint64 n) {
        IndexTuning t;
        t.atSize = n;
        t.exact = choice.exactIsCheaper;
        t.nprobe = choice.exactIsCheaper ? 0 : choice.nprobe;
        t.sampleRecall = choice.exactIsCheaper ? 1.0 : choice.recall;
        t.scannedFraction = n > 0 ? choice.scannedVectors / double(n) : 0.0;
        t.seconds = choice.seconds;
        return t;
    }

    bool wantsApproximate(qint64 n, bool currentlyApproximate) const {
        if (n <= 0)
            return false;
        // Hysteresis: an index hovering around the threshold must not be rebuilt on every call.
        return currentlyApproximate ? n >= options.approximateThreshold / 2
                                    : n > options.approximateThreshold;
    }

    bool needsRebuild(const internal::State &s, qint64 newSize) const {
        const bool approximate = s.ivf != nullptr;
        const bool wanted = wantsApproximate(newSize, approximate);
        // Exact because tuning found it cheaper: measured again once grown enough.
        if (!approximate && wanted && s.tuning.exact)
            return newSize > s.tuning.atSize * qint64(options.retuneGrowthFactor);
        if (wanted != approximate)
            return true;
        // Tuned again (with the cells retrained: the measurement needs vectors they were not
        // trained on) once grown enough since the last tuning.
        if (approximate && tunes() &&
            newSize > s.tuning.atSize * qint64(options.retuneGrowthFactor))
            return true;
        return approximate && newSize > s.trainedAt * qint64(options.retrainGrowthFactor);
    }

    // Builds a fresh state (exact or approximate by size) holding exactly these vectors, which
    // are already validated and normalised. Trains the IVF cells when approximate.
    // `tags` is parallel to `ids`.
    // `exactByTuning` (optional): build a flat index whatever the size, recording this tuning.
    Result<internal::State> build(std::vector<qint64> ids, const std::vector<quint64> &tags,
                                  const std::vector<float> &vectors, bool currentlyApproximate,
                                  const IndexTuning *exactByTuning = nullptr) const {
        internal::State s;
        const qint64 n = qint64(ids.size());
        const std::vector<internal::FaissId> faissIds(ids.begin(), ids.end());
        if (exactByTuning)
            s.tuning = *exactByTuning;
        try {
            if (!exactByTuning && wantsApproximate(n, currentlyApproximate))
                buildIvf(s, ids, faissIds, vectors);
            if (!s.ivf) {
                auto flat = std::make_unique<faiss::IndexIDMap2>(new faiss::IndexFlatIP(dim));
                flat->own_fields = true;
                if (n > 0)
                    flat->add_with_ids(n, vectors.data(), faissIds.data());
                s.flat = flat.get();
                s.index = std::move(flat);
            }
        } catch (const std::exception &e) {
            return Error(Error::Code::Internal,
                         QStringLiteral("building the vector index over %1 vectors failed: %2")
                             .arg(n)
                             .arg(QString::fromUtf8(e.what())));
        }
        s.ids.reserve(ids.size());
        for (size_t i = 0; i < ids.size(); ++i) {
            const quint64 tag = i < tags.size() ? tags[i] : 0;
            s.ids.emplace(ids[i], tag);
            s.fingerprint += indexfile::mixEntry(ids[i], tag);
        }
        return s;
    }

    // The IVF part of build(): trains the cells, adds the vectors and tunes nprobe on rows held
    // out of training. `s` gets the IVF index, unless tuning found a flat scan the cheaper one
    // (s.tuning.exact; build() then makes a flat index). May throw what FAISS throws.
    void buildIvf(internal::State &s, const std::vector<qint64> &ids,
                  const std::vector<internal::FaissId> &faissIds,
                  const std::vector<float> &vectors) const {
        const qint64 n = qint64(ids.size());
        const int nlist = chooseNlist(n);
        auto quantizer = std::make_unique<faiss::IndexFlatIP>(dim);
        auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim, nlist,
                                                         faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        quantizer.release();
        // k-means on up to 64 vectors per cell for 10 iterations: recall@10 on clustered data was
        // the same as FAISS's defaults (256 per cell, 25 iterations) at a fraction of the training
        // time (see bench_index). The rows set aside to tune nprobe are left out of training
        // (they stand for new photos).
        ivf->cp.niter = 10;
        constexpr qint64 kPointsPerCell = 64;
        ivf->cp.max_points_per_centroid = int(kPointsPerCell);
        const qint64 queries = tunes() ? std::min<qint64>(options.tuningQueries, n / 4) : 0;
        const qint64 trainRows = std::min<qint64>(n - queries, kPointsPerCell * nlist);
        // A seeded partial shuffle (the same vectors give the same choice): the first `queries`
        // rows are the queries, the next `trainRows` the training set.
        std::vector<qint64> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), qint64(0));
        std::mt19937_64 rng(quint64(n) * 0x9E3779B97F4A7C15ull);
        for (qint64 i = 0; i < std::min(queries + trainRows, n - 1); ++i)
            std::swap(order[size_t(i)],
                      order[size_t(std::uniform_int_distribution<qint64>(i, n - 1)(rng))]);
        auto rows = [&](qint64 from, qint64 count) {
            std::vector<float> out(size_t(count) * size_t(dim));
            for (qint64 i = 0; i < count; ++i)
                std::memcpy(out.data() + size_t(i) * size_t(dim),
                            vectors.data() + size_t(order[size_t(from + i)]) * size_t(dim),
                            size_t(dim) * sizeof(float));
            return out;
        };
        ivf->train(trainRows, rows(queries, trainRows).data());
        // A hashtable direct map makes remove_ids and reconstruct work with arbitrary ids.
        ivf->set_direct_map_type(faiss::DirectMap::Hashtable);
        ivf->add_with_ids(n, vectors.data(), faissIds.data());
        if (queries > 0) {
            std::vector<qint64> queryIds(static_cast<size_t>(queries));
            for (qint64 i = 0; i < queries; ++i)
                queryIds[size_t(i)] = ids[size_t(order[size_t(i)])];
            s.tuning = tuningOf(internal::chooseNprobe(*ivf, rows(0, queries).data(), queryIds,
                                                       std::min(1.0, options.targetRecall)),
                                n);
        }
        if (!s.tuning.exact) {
            ivf->nprobe = size_t(chooseNprobe(nlist, s.tuning));
            s.ivf = ivf.get();
            s.index = std::move(ivf);
            s.trainedAt = n;
        }
    }

    // add() when the index must be rebuilt (crossing the threshold, retraining): every stored
    // vector but the batch's ids, then the batch (`normalised`). The caller holds writeMutex.
    Status rebuildAdding(const std::vector<qint64> &ids, const std::vector<quint64> &tags,
                         const std::unordered_set<qint64> &batch, std::vector<float> normalised);
    // add() in place: replaces the vectors of `replaced` ids and adds the rest. The caller holds
    // writeMutex.
    Status addInPlace(const std::vector<qint64> &ids, const std::vector<quint64> &tags,
                      const std::vector<internal::FaissId> &replaced,
                      const std::vector<float> &normalised);

    // Replaces the state; the old one is freed after the lock is released.
    void swapIn(internal::State &&fresh) {
        internal::State old;
        {
            auto lock = exclusiveLock();
            old = std::move(state);
            state = std::move(fresh);
        }
    }

    // Recomputes ids and fingerprint from the FAISS index, after a FAISS call failed half-way
    // (tags of ids that survived are kept; ids that appeared get tag 0).
    void resyncIds() {
        const std::vector<qint64> ids = internal::collectIds(state);
        std::unordered_map<qint64, quint64> fresh;
        std::vector<quint64> tags;
        fresh.reserve(ids.size());
        tags.reserve(ids.size());
        for (qint64 id : ids) {
            tags.push_back(state.tagOf(id));
            fresh.emplace(id, tags.back());
        }
        state.ids = std::move(fresh);
        state.fingerprint = VectorIndex::fingerprintOf(ids, tags);
    }

    // In-place removal (caller holds `mutex` exclusively).
    void removeFromIndex(const std::vector<internal::FaissId> &ids) {
        if (ids.empty())
            return;
        if (state.ivf) {
            // The hashtable direct map only supports an IDSelectorArray.
            faiss::IDSelectorArray selector(ids.size(), ids.data());
            state.ivf->remove_ids(selector);
        } else {
            faiss::IDSelectorBatch selector(ids.size(), ids.data());
            state.flat->remove_ids(selector);
        }
    }
};

} // namespace ts
