#include "core/index/vectorindeximpl.h"

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <optional>

namespace ts {

using namespace internal;

VectorIndex::VectorIndex(std::unique_ptr<Impl> impl) : d(std::move(impl)) {}
VectorIndex::VectorIndex(VectorIndex &&) noexcept = default;
VectorIndex &VectorIndex::operator=(VectorIndex &&) noexcept = default;
VectorIndex::~VectorIndex() = default;

Result<VectorIndex> VectorIndex::create(const VectorIndexOptions &options,
                                        const QString &modelKey) {
    if (options.dimension < 1 || options.dimension > 65536)
        return invalid(QStringLiteral("vector index dimension must be between 1 and 65536 (got %1)")
                           .arg(options.dimension));
    if (options.approximateThreshold < 0)
        return invalid(QStringLiteral("approximate-index threshold must not be negative (got %1)")
                           .arg(options.approximateThreshold));
    if (options.nlist < 0 || options.nprobe < 0 || options.retrainGrowthFactor < 2 ||
        options.retrainGrowthFactor > 1000 || options.retuneGrowthFactor < 2 ||
        options.retuneGrowthFactor > 1000)
        return invalid(QStringLiteral("vector index options out of range: nlist %1 and nprobe %2 "
                                      "must be >= 0, retrainGrowthFactor %3 and "
                                      "retuneGrowthFactor %4 between 2 and 1000")
                           .arg(options.nlist)
                           .arg(options.nprobe)
                           .arg(options.retrainGrowthFactor)
                           .arg(options.retuneGrowthFactor));
    if (!(options.targetRecall >= 0.0 && options.targetRecall <= 1.0) ||
        options.tuningQueries < 1 || options.tuningQueries > 100'000)
        return invalid(QStringLiteral("vector index options out of range: targetRecall %1 must be "
                                      "between 0 and 1, tuningQueries %2 between 1 and 100000")
                           .arg(options.targetRecall)
                           .arg(options.tuningQueries));
    if (modelKey.toUtf8().size() > indexfile::kMaxModelKeyBytes)
        return invalid(
            QStringLiteral("model key is longer than %1 bytes").arg(indexfile::kMaxModelKeyBytes));

    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->modelKey = modelKey;
    impl->dim = options.dimension;
    auto state = impl->build({}, {}, {}, false);
    if (!state)
        return state.error();
    impl->state = std::move(state.value());
    return VectorIndex(std::move(impl));
}

namespace {

// Checks a batch for add(): sizes agree, no id is negative or repeats. Returns the batch's ids.
Result<std::unordered_set<qint64>> checkedBatch(const std::vector<qint64> &ids,
                                                const std::vector<float> &vectors,
                                                const std::vector<quint64> &tags, int dim) {
    if (!tags.empty() && tags.size() != ids.size())
        return invalid(QStringLiteral("adding to the vector index: %1 owner tags given for %2 ids")
                           .arg(tags.size())
                           .arg(ids.size()));
    if (vectors.size() != ids.size() * size_t(dim))
        return invalid(QStringLiteral("adding to the vector index: %1 floats given for %2 ids of "
                                      "dimension %3 (expected %4)")
                           .arg(vectors.size())
                           .arg(ids.size())
                           .arg(dim)
                           .arg(ids.size() * size_t(dim)));
    std::unordered_set<qint64> batch;
    batch.reserve(ids.size());
    for (qint64 id : ids) {
        // FAISS marks "no result" with -1; catalog ids (SQLite rowids) are positive anyway.
        if (id < 0)
            return invalid(QStringLiteral("adding to the vector index: id %1 is negative; ids must "
                                          "be >= 0")
                               .arg(id));
        if (!batch.insert(id).second)
            return invalid(QStringLiteral("adding to the vector index: id %1 appears twice in one "
                                          "batch")
                               .arg(id));
    }
    return batch;
}

// The batch's vectors, each L2-normalised, or why one cannot be.
Result<std::vector<float>> normalisedRows(const std::vector<qint64> &ids,
                                          const std::vector<float> &vectors, int dim) {
    std::vector<float> normalised(vectors);
    for (size_t i = 0; i < ids.size(); ++i)
        if (Status row = normaliseRow(normalised.data() + i * size_t(dim), dim); !row)
            return invalid(QStringLiteral("adding to the vector index: the vector of id %1 %2")
                               .arg(ids[i])
                               .arg(row.error().message));
    return normalised;
}

} // namespace

Status VectorIndex::add(const std::vector<qint64> &ids, const std::vector<float> &vectors,
                        const std::vector<quint64> &tags) {
    auto batch = checkedBatch(ids, vectors, tags, d->dim);
    if (!batch)
        return batch.error();
    if (ids.empty())
        return {};
    auto normalised = normalisedRows(ids, vectors, d->dim);
    if (!normalised)
        return normalised.error();

    std::lock_guard writer(d->writeMutex);
    std::vector<FaissId> replaced;
    for (qint64 id : ids)
        if (d->state.ids.count(id))
            replaced.push_back(FaissId(id));
    const qint64 newSize = d->state.size() + qint64(ids.size()) - qint64(replaced.size());
    if (d->needsRebuild(d->state, newSize))
        return d->rebuildAdding(ids, tags, *batch, std::move(*normalised));
    return d->addInPlace(ids, tags, replaced, *normalised);
}

Status VectorIndex::Impl::rebuildAdding(const std::vector<qint64> &ids,
                                        const std::vector<quint64> &tags,
                                        const std::unordered_set<qint64> &batch,
                                        std::vector<float> normalised) {
    std::vector<qint64> allIds;
    std::vector<quint64> allTags;
    std::vector<float> allVectors;
    if (state.ids.empty()) { // a bulk load into an empty index: spare a copy
        allIds = ids;
        allVectors = std::move(normalised);
    } else {
        collect(state, dim, batch, allIds, allTags, allVectors);
        allIds.insert(allIds.end(), ids.begin(), ids.end());
        allVectors.insert(allVectors.end(), normalised.begin(), normalised.end());
        normalised = {};
    }
    allTags.resize(allIds.size() - ids.size(), 0);
    for (size_t i = 0; i < ids.size(); ++i)
        allTags.push_back(tags.empty() ? 0 : tags[i]);
    auto fresh = build(std::move(allIds), allTags, allVectors, state.ivf != nullptr);
    if (!fresh)
        return fresh.error();
    allVectors = {};
    swapIn(std::move(fresh.value()));
    return {};
}

Status VectorIndex::Impl::addInPlace(const std::vector<qint64> &ids,
                                     const std::vector<quint64> &tags,
                                     const std::vector<FaissId> &replaced,
                                     const std::vector<float> &normalised) {
    const std::vector<FaissId> faissIds(ids.begin(), ids.end());
    auto lock = exclusiveLock();
    try {
        removeFromIndex(replaced);
        state.index->add_with_ids(FaissId(ids.size()), normalised.data(), faissIds.data());
    } catch (const std::exception &e) {
        resyncIds();
        return Error(Error::Code::Internal,
                     QStringLiteral("adding %1 vectors to the index failed: %2")
                         .arg(ids.size())
                         .arg(QString::fromUtf8(e.what())));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
        const quint64 tag = tags.empty() ? 0 : tags[i];
        auto [it, inserted] = state.ids.emplace(ids[i], tag);
        if (!inserted) { // replaced: its owner may have changed
            state.fingerprint -= indexfile::mixEntry(ids[i], it->second);
            it->second = tag;
        }
        state.fingerprint += indexfile::mixEntry(ids[i], tag);
    }
    return {};
}

Status VectorIndex::remove(const std::vector<qint64> &ids) {
    std::lock_guard writer(d->writeMutex);
    std::unordered_set<qint64> present;
    for (qint64 id : ids)
        if (d->state.ids.count(id))
            present.insert(id);
    if (present.empty())
        return {};
    const qint64 newSize = d->state.size() - qint64(present.size());

    if (d->needsRebuild(d->state, newSize)) {
        std::vector<qint64> keptIds;
        std::vector<quint64> keptTags;
        std::vector<float> keptVectors;
        collect(d->state, d->dim, present, keptIds, keptTags, keptVectors);
        auto fresh = d->build(std::move(keptIds), keptTags, keptVectors, d->state.ivf != nullptr);
        if (!fresh)
            return fresh.error();
        keptVectors = {};
        d->swapIn(std::move(fresh.value()));
        return {};
    }

    const std::vector<FaissId> faissIds(present.begin(), present.end());
    auto lock = d->exclusiveLock();
    try {
        d->removeFromIndex(faissIds);
    } catch (const std::exception &e) {
        d->resyncIds();
        return Error(Error::Code::Internal,
                     QStringLiteral("removing %1 vectors from the index failed: %2")
                         .arg(faissIds.size())
                         .arg(QString::fromUtf8(e.what())));
    }
    for (qint64 id : present) {
        d->state.fingerprint -= indexfile::mixEntry(id, d->state.tagOf(id));
        d->state.ids.erase(id);
    }
    return {};
}

Result<std::vector<SearchHit>> VectorIndex::search(const float *query, int k,
                                                   const std::vector<qint64> &excludeIds) const {
    auto checked = normalisedQuery(query, k, d->dim);
    if (!checked)
        return checked.error();
    const std::vector<float> &q = *checked;
    const std::unordered_set<qint64> exclude(excludeIds.begin(), excludeIds.end());

    auto lock = d->readLock();
    const State &s = d->state;
    if (s.ids.empty())
        return std::vector<SearchHit>{};
    // Fetch enough extra hits to drop the excluded ids that are in the index.
    qint64 excludedPresent = 0;
    for (qint64 id : exclude)
        excludedPresent += s.ids.count(id) ? 1 : 0;
    const qint64 fetch = std::min<qint64>(s.size(), qint64(k) + excludedPresent);

    std::vector<float> scores(size_t(fetch), 0.0f);
    std::vector<FaissId> labels(size_t(fetch), -1);
    try {
        OmpThreadLimit singleThread(1);
        s.index->search(1, q.data(), fetch, scores.data(), labels.data());
    } catch (const std::exception &e) {
        return Error(Error::Code::Internal,
                     QStringLiteral("vector search failed: %1").arg(QString::fromUtf8(e.what())));
    }
    std::vector<SearchHit> hits;
    hits.reserve(size_t(k));
    for (qint64 i = 0; i < fetch && qint64(hits.size()) < k; ++i) {
        const qint64 id = qint64(labels[size_t(i)]);
        if (labels[size_t(i)] < 0 || exclude.count(id))
            continue;
        hits.push_back({id, scores[size_t(i)]});
    }
    return hits;
}

namespace {

// The k best of `scored` (any order), best first; ties by ascending id so results are repeatable.
std::vector<SearchHit> bestOf(std::vector<SearchHit> scored, int k) {
    auto better = [](const SearchHit &a, const SearchHit &b) {
        return a.score != b.score ? a.score > b.score : a.id < b.id;
    };
    const size_t keep = std::min(scored.size(), size_t(k));
    std::partial_sort(scored.begin(), scored.begin() + std::ptrdiff_t(keep), scored.end(), better);
    scored.resize(keep);
    return scored;
}

// Inner products of `query` with the stored vectors of `ids` (all in the index), read in place.
std::vector<SearchHit> scoreExactly(const State &s, const float *query, int dim,
                                    const std::vector<qint64> &ids) {
    std::vector<SearchHit> scored;
    scored.reserve(ids.size());
    if (s.flat) {
        const auto *storage = static_cast<const faiss::IndexFlat *>(s.flat->index);
        const float *xb = storage->get_xb();
        for (qint64 id : ids) {
            const auto row = s.flat->rev_map.find(FaissId(id));
            if (row == s.flat->rev_map.end())
                continue;
            scored.push_back({id, faiss::fvec_inner_product(
                                      query, xb + size_t(row->second) * size_t(dim), size_t(dim))});
        }
    } else if (s.ivf) {
        const faiss::InvertedLists *lists = s.ivf->invlists;
        for (qint64 id : ids) {
            const quint64 lo = quint64(s.ivf->direct_map.get(FaissId(id)));
            const size_t list = size_t(faiss::lo_listno(lo));
            faiss::InvertedLists::ScopedCodes codes(lists, list);
            const auto *row = reinterpret_cast<const float *>(
                codes.get() + size_t(faiss::lo_offset(lo)) * lists->code_size);
            scored.push_back({id, faiss::fvec_inner_product(query, row, size_t(dim))});
        }
    }
    return scored;
}

// IVF search restricted to `present` (ascending ids, all in the index), or nullopt when scanning
// the subset exactly is cheaper or the probed cells held too few of it.
//
// How many cells: an unfiltered query scans the `nprobe` cells nearest to it, C vectors, and finds
// its k best among them at the tuned recall. A filtered query walks the cells in the same order
// until it has passed kSubsetCandidates x C vectors *of the subset*, wherever the subset lies (a
// subset made of whole clusters far from the query has none in the nearest cells; a random 1% has
// 1% of each cell, so it walks about 100x further). With 1 x C, subsets made of whole clusters
// away from the query lost recall (0.92 at 50% in tst_index, where the subset's best matches are
// spread over many cells); 4 x C keeps it at the unfiltered level. That costs a membership test per
// vector walked over plus a dot product per subset vector seen; when it is more than scanning the
// subset directly (|subset| dot products), the subset is scanned instead.
constexpr size_t kSubsetCandidates = 4;

std::optional<std::vector<SearchHit>> searchIvfWithin(const State &s, const float *query, int k,
                                                      const std::vector<qint64> &present) {
    const faiss::IndexIVFFlat &ivf = *s.ivf;
    const size_t nlist = ivf.nlist;
    std::vector<float> centroidScores(nlist);
    std::vector<FaissId> cells(nlist);
    {
        OmpThreadLimit singleThread(1);
        ivf.quantizer->search(1, query, FaissId(nlist), centroidScores.data(), cells.data());
    }
    const faiss::InvertedLists *lists = ivf.invlists;
    size_t budget = 0; // C: what the unfiltered query scans
    for (size_t i = 0; i < std::min(ivf.nprobe, nlist); ++i)
        if (cells[i] >= 0)
            budget += lists->list_size(size_t(cells[i]));
    // Fewer subset vectors than the unfiltered query scans: the subset is the cheaper scan.
    if (present.size() <= kSubsetCandidates * budget + nlist)
        return std::nullopt;
    std::vector<quint32> inCell(nlist, 0);
    for (qint64 id : present)
        ++inCell[size_t(faiss::lo_listno(quint64(ivf.direct_map.get(FaissId(id)))))];
    size_t seen = 0, walked = 0, nprobe = 0;
    while (nprobe < nlist && seen < kSubsetCandidates * budget) {
        const FaissId cell = cells[nprobe++];
        if (cell < 0)
            break;
        seen += inCell[size_t(cell)];
        walked += lists->list_size(size_t(cell));
    }
    // A membership test is a bit lookup, about 1/8 of a 512-d dot product (bench_index).
    const double ivfCost = double(seen) + double(walked) / 8.0 + double(nlist);
    if (ivfCost >= double(present.size()))
        return std::nullopt;

    // One bit per id up to the largest: with dense ids (SQLite rowids) a cheaper membership test
    // in FAISS's scan loop than a hash set; sparse ids would make the bitmap huge, so they get one.
    const size_t bytes = size_t(present.back() / 8 + 1);
    std::vector<uint8_t> bitmap;
    std::unique_ptr<faiss::IDSelector> selector;
    if (bytes <= 64 * present.size() + 4096) {
        bitmap.assign(bytes, 0);
        for (qint64 id : present)
            bitmap[size_t(id / 8)] |= uint8_t(1u << (id % 8));
        selector = std::make_unique<faiss::IDSelectorBitmap>(bytes, bitmap.data());
    } else {
        const std::vector<FaissId> faissIds(present.begin(), present.end());
        selector = std::make_unique<faiss::IDSelectorBatch>(faissIds.size(), faissIds.data());
    }
    faiss::SearchParametersIVF params;
    params.nprobe = nprobe;
    params.sel = selector.get();
    std::vector<float> scores(size_t(k), 0.0f);
    std::vector<FaissId> labels(size_t(k), -1);
    {
        OmpThreadLimit singleThread(1);
        ivf.search(1, query, k, scores.data(), labels.data(), &params);
    }
    std::vector<SearchHit> hits;
    hits.reserve(size_t(k));
    for (int i = 0; i < k; ++i)
        if (labels[size_t(i)] >= 0)
            hits.push_back({qint64(labels[size_t(i)]), scores[size_t(i)]});
    if (hits.size() < std::min(present.size(), size_t(k)))
        return std::nullopt;
    return hits;
}

} // namespace

Result<std::vector<SearchHit>>
VectorIndex::searchWithin(const float *query, int k, const std::vector<qint64> &allowedIds,
                          const std::vector<qint64> &excludeIds) const {
    auto checked = normalisedQuery(query, k, d->dim);
    if (!checked)
        return checked.error();
    const std::vector<float> &q = *checked;
    if (allowedIds.empty())
        return std::vector<SearchHit>{};
    const std::unordered_set<qint64> exclude(excludeIds.begin(), excludeIds.end());

    auto lock = d->readLock();
    const State &s = d->state;
    // The subset as the index holds it: ascending, unique, present, not excluded.
    std::vector<qint64> present;
    present.reserve(allowedIds.size());
    for (qint64 id : allowedIds)
        if (s.ids.count(id) && !exclude.count(id))
            present.push_back(id);
    if (!std::is_sorted(present.begin(), present.end()))
        std::sort(present.begin(), present.end());
    present.erase(std::unique(present.begin(), present.end()), present.end());
    if (present.empty())
        return std::vector<SearchHit>{};

    try {
        if (s.ivf) {
            if (auto hits = searchIvfWithin(s, q.data(), k, present))
                return std::move(*hits);
        }
        return bestOf(scoreExactly(s, q.data(), d->dim, present), k);
    } catch (const std::exception &e) {
        return Error(
            Error::Code::Internal,
            QStringLiteral("filtered vector search failed: %1").arg(QString::fromUtf8(e.what())));
    }
}

void VectorIndex::setNprobe(int nprobe) {
    std::lock_guard writer(d->writeMutex);
    auto lock = d->exclusiveLock();
    d->options.nprobe = std::max(0, nprobe);
    if (d->state.ivf)
        d->state.ivf->nprobe = size_t(d->chooseNprobe(int(d->state.ivf->nlist), d->state.tuning));
}

IndexTuning VectorIndex::tuning() const {
    auto lock = d->readLock();
    return d->state.tuning;
}

int VectorIndex::nprobe() const {
    auto lock = d->readLock();
    return d->state.ivf ? int(d->state.ivf->nprobe) : 0;
}

qint64 VectorIndex::size() const {
    auto lock = d->readLock();
    return d->state.size();
}

bool VectorIndex::contains(qint64 id) const {
    auto lock = d->readLock();
    return d->state.ids.count(id) > 0;
}

int VectorIndex::dimension() const {
    return d->dim;
}
QString VectorIndex::modelKey() const {
    return d->modelKey;
}

bool VectorIndex::isApproximate() const {
    auto lock = d->readLock();
    return d->state.ivf != nullptr;
}

int VectorIndex::nlist() const {
    auto lock = d->readLock();
    return d->state.ivf ? int(d->state.ivf->nlist) : 0;
}

Result<std::vector<SimilarPair>>
VectorIndex::similarPairs(float minScore, const ScanProgress &progress, int nprobe) const {
    if (!std::isfinite(minScore) || minScore <= -1.0f || minScore > 1.0f)
        return invalid(QStringLiteral("similar pairs: the threshold must be above -1 and at most 1 "
                                      "(got %1)")
                           .arg(double(minScore)));
    std::vector<qint64> ids;
    {
        auto lock = d->readLock();
        ids = collectIds(d->state);
    }
    std::sort(ids.begin(), ids.end()); // the same library gives the same batches
    const qint64 total = qint64(ids.size());
    // FAISS keeps scores strictly above the radius: a radius just below the threshold keeps a pair
    // that reaches it exactly (filtered again below).
    const float radius = std::nextafter(minScore, -2.0f);
    constexpr qint64 kBatch = 1024; // one BLAS block of queries; bounds the result buffer
    std::vector<SimilarPair> pairs;
    std::vector<float> queries;
    std::vector<FaissId> queryIds;
    for (qint64 from = 0; from < total; from += kBatch) {
        if (progress && !progress(from, total))
            return Error(Error::Code::Cancelled,
                         QStringLiteral("the search for similar pairs was cancelled"));
        const qint64 end = std::min(total, from + kBatch);
        auto lock = d->readLock();
        const State &s = d->state;
        queries.resize(size_t(end - from) * size_t(d->dim));
        queryIds.clear();
        try {
            for (qint64 i = from; i < end; ++i) {
                if (!s.ids.count(ids[size_t(i)]))
                    continue; // removed since the scan began
                s.index->reconstruct(FaissId(ids[size_t(i)]),
                                     queries.data() + queryIds.size() * size_t(d->dim));
                queryIds.push_back(FaissId(ids[size_t(i)]));
            }
            if (queryIds.empty())
                continue;
            faiss::RangeSearchResult result(queryIds.size());
            faiss::SearchParametersIVF cells;
            const bool fewerCells = s.ivf && nprobe > 0;
            if (fewerCells)
                cells.nprobe = size_t(std::min<qint64>(nprobe, qint64(s.ivf->nlist)));
            s.index->range_search(FaissId(queryIds.size()), queries.data(), radius, &result,
                                  fewerCells ? &cells : nullptr);
            for (size_t q = 0; q < queryIds.size(); ++q) {
                for (size_t j = result.lims[q]; j < result.lims[q + 1]; ++j) {
                    const FaissId other = result.labels[j];
                    const float score = std::min(1.0f, result.distances[j]);
                    if (other < 0 || other == queryIds[q] || score < minScore)
                        continue;
                    pairs.push_back({qint64(std::min(other, queryIds[q])),
                                     qint64(std::max(other, queryIds[q])), score});
                }
            }
        } catch (const std::exception &e) {
            return Error(Error::Code::Internal,
                         QStringLiteral("the search for similar pairs failed: %1")
                             .arg(QString::fromUtf8(e.what())));
        }
    }
    // Each pair is found from both ends (an IVF index may find it from one only): keep one.
    std::sort(pairs.begin(), pairs.end(), [](const SimilarPair &a, const SimilarPair &b) {
        return a.first != b.first ? a.first < b.first : a.second < b.second;
    });
    pairs.erase(std::unique(pairs.begin(), pairs.end(),
                            [](const SimilarPair &a, const SimilarPair &b) {
                                return a.first == b.first && a.second == b.second;
                            }),
                pairs.end());
    // The final report: the scan is complete, so a "stop" answered here has nothing left to stop;
    // ignoring the answer returns what was found, which is right.
    if (progress)
        (void)progress(total, total);
    return pairs;
}

std::vector<float> VectorIndex::vector(qint64 id) const {
    auto lock = d->readLock();
    if (!d->state.ids.count(id))
        return {};
    std::vector<float> out(size_t(d->dim));
    try {
        d->state.index->reconstruct(FaissId(id), out.data());
    } catch (const std::exception &) {
        return {};
    }
    return out;
}

quint64 VectorIndex::idFingerprint() const {
    auto lock = d->readLock();
    return d->state.fingerprint;
}

quint64 VectorIndex::tag(qint64 id) const {
    auto lock = d->readLock();
    return d->state.tagOf(id);
}

quint64 VectorIndex::fingerprintOf(const std::vector<qint64> &ids,
                                   const std::vector<quint64> &tags) {
    // A sum of mixed (id, tag) pairs: independent of order and updatable in O(1) per add/remove.
    // Duplicates count twice, as a catalog never has duplicate ids.
    quint64 sum = 0;
    for (size_t i = 0; i < ids.size(); ++i)
        sum += indexfile::mixEntry(ids[i], i < tags.size() ? tags[i] : 0);
    return sum;
}

bool VectorIndex::isInStepWith(const std::vector<qint64> &catalogIds,
                               const std::vector<quint64> &tags) const {
    if (!tags.empty() && tags.size() != catalogIds.size())
        return false;
    auto lock = d->readLock();
    return qint64(catalogIds.size()) == d->state.size() &&
           fingerprintOf(catalogIds, tags) == d->state.fingerprint;
}

} // namespace ts
