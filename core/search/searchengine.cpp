#include "core/search/searchengine.h"

#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"

#include <QFileInfo>

#include <algorithm>

namespace ts {

int rerankBatchFor(Precision precision) {
    return precision == Precision::Float32 ? 1 : 4;
}

SearchEngine::SearchEngine(std::shared_ptr<const BridgeTowerPipeline> pipeline,
                           std::shared_ptr<const VectorIndex> index,
                           std::shared_ptr<const PhotoSource> photos,
                           std::shared_ptr<FusionCache> cache)
    : m_pipeline(std::move(pipeline)), m_index(std::move(index)), m_photos(std::move(photos)),
      m_cache(std::move(cache)) {}

const BridgeTowerPipeline &SearchEngine::pipeline() const {
    return *m_pipeline;
}

std::vector<PhotoHit> orderForDisplay(std::vector<PhotoHit> hits, float minMatchProbability) {
    std::stable_sort(hits.begin(), hits.end(), [](const PhotoHit &a, const PhotoHit &b) {
        if (a.matchProbability.has_value() != b.matchProbability.has_value())
            return a.matchProbability.has_value();
        if (a.matchProbability && *a.matchProbability != *b.matchProbability)
            return *a.matchProbability > *b.matchProbability;
        return a.similarity > b.similarity;
    });
    if (minMatchProbability > 0)
        hits.erase(std::remove_if(hits.begin(), hits.end(),
                                  [&](const PhotoHit &h) {
                                      return !h.matchProbability ||
                                             *h.matchProbability < minMatchProbability;
                                  }),
                   hits.end());
    return hits;
}

namespace {

Error cancelled() {
    return Error(Error::Code::Cancelled, QStringLiteral("search cancelled"));
}

// q - w * mean(e): the query pushed away from the excluded phrases (see kExclusionWeight). The
// index normalises it. Phrases without an embedding (no contrastive head) cannot push.
std::vector<float> steeredAway(const float *query, int dim,
                               const std::vector<PreparedText> &excluded) {
    std::vector<float> q(query, query + dim);
    std::vector<const float *> phrases;
    for (const PreparedText &e : excluded)
        if (e.embedding().data.size() == size_t(dim))
            phrases.push_back(e.embedding().ptr());
    if (phrases.empty())
        return q;
    const float w = kExclusionWeight / float(phrases.size());
    for (const float *e : phrases)
        for (int i = 0; i < dim; ++i)
            q[size_t(i)] -= w * e[i];
    return q;
}

} // namespace

Result<std::optional<std::vector<qint64>>>
SearchEngine::allowedPhotos(const PhotoFilter &filter) const {
    if (filter.isEmpty())
        return std::optional<std::vector<qint64>>();
    auto ids = m_photos->photosMatching(filter);
    if (!ids)
        return Error(
            Error::Code::InvalidArgument,
            QStringLiteral(
                "this library cannot filter photos (by date, folder, type, camera, shape or "
                "size); search without the filter"));
    return std::optional<std::vector<qint64>>(std::move(*ids));
}

Result<std::vector<PreparedText>>
SearchEngine::prepareExclusions(const QStringList &phrases) const {
    std::vector<PreparedText> out;
    for (const QString &phrase : phrases) {
        if (phrase.trimmed().isEmpty())
            continue;
        auto prepared = m_pipeline->prepareCaption(phrase.trimmed());
        if (!prepared)
            return prepared.error();
        out.push_back(std::move(*prepared));
    }
    return out;
}

Result<std::vector<PhotoHit>>
SearchEngine::candidates(const float *query, int count, const std::vector<qint64> &exclude,
                         const std::optional<std::vector<qint64>> &allowed) const {
    auto found = allowed ? m_index->searchWithin(query, count, *allowed, exclude)
                         : m_index->search(query, count, exclude);
    if (!found)
        return found.error();
    std::vector<PhotoHit> hits;
    for (const SearchHit &h : *found) {
        PhotoHit p;
        p.photoId = h.id;
        p.path = m_photos->photoPath(h.id);
        p.similarity = h.score;
        if (!p.path.isEmpty()) // removed from the catalog since the index was written
            hits.push_back(std::move(p));
    }
    return hits;
}

std::vector<PhotoHit> SearchEngine::sorted(std::vector<PhotoHit> hits, SortOrder order,
                                           const TakenDates &dates) const {
    if (order == SortOrder::DateTaken) {
        std::vector<std::pair<std::optional<qint64>, PhotoHit>> keyed;
        keyed.reserve(hits.size());
        for (PhotoHit &h : hits) {
            const auto known = dates.find(h.photoId);
            keyed.emplace_back(known != dates.end() ? known->second
                                                    : m_photos->photoTakenMs(h.photoId),
                               std::move(h));
        }
        std::stable_sort(keyed.begin(), keyed.end(), [](const auto &a, const auto &b) {
            if (a.first.has_value() != b.first.has_value())
                return a.first.has_value(); // undated last
            return a.first && *a.first > *b.first;
        });
        for (size_t i = 0; i < hits.size(); ++i)
            hits[i] = std::move(keyed[i].second);
    } else if (order == SortOrder::Name) {
        std::stable_sort(hits.begin(), hits.end(), [](const PhotoHit &a, const PhotoHit &b) {
            const QString na = QFileInfo(a.path).fileName(), nb = QFileInfo(b.path).fileName();
            if (const int c = na.compare(nb, Qt::CaseInsensitive))
                return c < 0;
            return a.path < b.path;
        });
    }
    return hits;
}

Result<FloatTensor> SearchEngine::fusionInputs(qint64 photoId, const QString &path) const {
    const QString stamp = m_photos->photoStamp(photoId);
    if (m_cache)
        if (auto cached = m_cache->get(photoId, stamp))
            return *cached;
    if (!QFileInfo::exists(path))
        return Error(Error::Code::NotFound, QStringLiteral("%1: the photo is gone").arg(path));
    auto pixels = m_pipeline->loadPixels(path);
    if (!pixels)
        return pixels.error();
    auto fusion = m_pipeline->model().visionFusionInputs(*pixels);
    if (!fusion)
        return fusion.error();
    if (m_cache)
        m_cache->put(photoId, stamp, *fusion);
    return fusion;
}

// One rerank: the hit list, the photos dropped from it, the progress handed out, and the batches
// of photos that go through the cross-modal layers together.
class SearchEngine::RerankRun {
public:
    RerankRun(const SearchEngine &engine, std::vector<PhotoHit> hits, const PreparedText &caption,
              const std::vector<PreparedText> &excluded, const SearchOptions &options,
              const UpdateCallback &onUpdate, const CancelToken &cancel)
        : m_engine(engine), m_pipeline(*engine.m_pipeline), m_hits(std::move(hits)),
          m_caption(caption), m_excluded(excluded), m_options(options), m_onUpdate(onUpdate),
          m_cancel(cancel), m_byWords(!caption.isNull()), m_dropped(m_hits.size(), false),
          m_exclusionBar(exclusionCutOff(options)) {
        m_update.toRerank =
            int(std::min<size_t>(m_hits.size(), size_t(std::max(0, options.rerankDepth))));
        if (!m_pipeline.model().has(kHeadImageTextMatching) || (!m_byWords && excluded.empty()))
            m_update.toRerank = 0;
        // Each photo's date asked once per query, not once per update (the source may be a
        // database).
        if (options.sort == SortOrder::DateTaken)
            for (const PhotoHit &h : m_hits)
                m_dates.emplace(h.photoId, engine.m_photos->photoTakenMs(h.photoId));
    }

    Result<std::vector<PhotoHit>> run() {
        // The contrastive order at once (without the cut-off, which needs ITM scores, until
        // reranked).
        m_update.hits = m_engine.sorted(m_hits, m_options.sort, m_dates);
        if (m_onUpdate)
            m_onUpdate(m_update);
        // Photos go through the cross-modal layers a few at a time: one pass per batch is faster
        // per photo than one per photo, and the list still re-sorts while the user watches.
        const size_t batchSize =
            size_t(m_options.rerankBatch > 0 ? m_options.rerankBatch
                                             : rerankBatchFor(m_pipeline.model().precision()));
        size_t next = 0;
        while (next < size_t(m_update.toRerank)) {
            auto batch = nextBatch(next, batchSize);
            if (!batch)
                return batch.error();
            if (batch->indices.empty())
                break; // every remaining photo failed
            if (m_cancel.isCancelled())
                return cancelled();
            if (Status scored = score(*batch); !scored)
                return scored.error();
            m_update.reranked += int(batch->indices.size());
            publish(false);
        }
        publish(true);
        return m_update.hits;
    }

private:
    // Photos re-scored together: their vision features stacked for one cross-modal pass.
    struct Batch {
        std::vector<size_t> indices; // into m_hits
        FloatTensor stacked;         // [indices.size(), Lc, L, H]
    };

    // Up to `size` photos from `next` on (moved past them) whose vision features could be had;
    // the others are reported as skipped and dropped.
    Result<Batch> nextBatch(size_t &next, size_t size) {
        Batch batch;
        for (; next < size_t(m_update.toRerank) && batch.indices.size() < size; ++next) {
            if (m_cancel.isCancelled())
                return cancelled();
            const PhotoHit &hit = m_hits[next];
            auto fusion = m_engine.fusionInputs(hit.photoId, hit.path);
            if (fusion && !batch.indices.empty() &&
                !std::equal(fusion->shape.begin() + 1, fusion->shape.end(),
                            batch.stacked.shape.begin() + 1, batch.stacked.shape.end()))
                fusion = Error(Error::Code::InvalidArgument,
                               QStringLiteral("%1: cached vision features do not fit this model")
                                   .arg(hit.path));
            if (!fusion) {
                m_update.skipped << fusion.error().message;
                m_dropped[next] = true;
                continue;
            }
            if (batch.indices.empty()) {
                batch.stacked = std::move(*fusion);
            } else {
                batch.stacked.shape[0] += fusion->shape[0];
                batch.stacked.data.insert(batch.stacked.data.end(), fusion->data.begin(),
                                          fusion->data.end());
            }
            batch.indices.push_back(next);
        }
        return batch;
    }

    // The batch's match probability for the caption, and a drop for every photo that shows an
    // excluded phrase.
    Status score(const Batch &batch) {
        if (m_byWords) {
            auto scores = m_pipeline.matchImages(m_caption, batch.stacked);
            if (!scores)
                return scores.error();
            for (size_t i = 0; i < batch.indices.size(); ++i)
                m_hits[batch.indices[i]].matchProbability = (*scores)[i].probability;
        }
        // The same vision features against each excluded phrase (its text side is prepared once).
        for (const PreparedText &phrase : m_excluded) {
            if (m_cancel.isCancelled())
                return cancelled();
            auto scores = m_pipeline.matchImages(phrase, batch.stacked);
            if (!scores)
                return scores.error();
            for (size_t i = 0; i < batch.indices.size(); ++i)
                if ((*scores)[i].probability > m_exclusionBar)
                    m_dropped[batch.indices[i]] = true;
        }
        return {};
    }

    // The list handed out: photos judged to show an excluded phrase, and photos that failed to
    // load, left out (they are erased at the end).
    void publish(bool finished) {
        std::vector<PhotoHit> kept;
        kept.reserve(m_hits.size());
        for (size_t i = 0; i < m_hits.size(); ++i)
            if (!m_dropped[i])
                kept.push_back(m_hits[i]);
        // Without a caption there is no match probability to cut at.
        m_update.finished = finished;
        m_update.hits = m_engine.sorted(
            orderForDisplay(std::move(kept), m_byWords ? m_options.minMatchProbability : 0.0f),
            m_options.sort, m_dates);
        if (m_onUpdate)
            m_onUpdate(m_update);
    }

    const SearchEngine &m_engine;
    const BridgeTowerPipeline &m_pipeline;
    std::vector<PhotoHit> m_hits;
    const PreparedText &m_caption;
    const std::vector<PreparedText> &m_excluded;
    const SearchOptions &m_options;
    const UpdateCallback &m_onUpdate;
    const CancelToken &m_cancel;
    const bool m_byWords;
    std::vector<bool> m_dropped;
    const float m_exclusionBar;
    TakenDates m_dates;
    SearchUpdate m_update;
};

Result<std::vector<PhotoHit>>
SearchEngine::rerank(std::vector<PhotoHit> hits, const PreparedText &caption,
                     const std::vector<PreparedText> &excluded, const SearchOptions &options,
                     const UpdateCallback &onUpdate, const CancelToken &cancel) const {
    return RerankRun(*this, std::move(hits), caption, excluded, options, onUpdate, cancel).run();
}

Result<std::vector<PhotoHit>> SearchEngine::searchText(const QString &text,
                                                       const SearchOptions &options,
                                                       const UpdateCallback &onUpdate,
                                                       const CancelToken &cancel) const {
    if (text.trimmed().isEmpty())
        return Error(Error::Code::InvalidArgument, QStringLiteral("the search text is empty"));
    if (!m_pipeline->model().has(kHeadContrastive))
        return Error(
            Error::Code::Model,
            QStringLiteral(
                "this checkpoint has no usable contrastive head, so it cannot search by text"));
    // The filter first: a filter that keeps nothing needs no model at all.
    auto allowed = allowedPhotos(options.filter);
    if (!allowed)
        return allowed.error();
    if (*allowed && (*allowed)->empty())
        return rerank({}, {}, {}, options, onUpdate, cancel);
    // One text-tower pass: the search embedding and the rerank's text side.
    auto caption = m_pipeline->prepareCaption(text);
    if (!caption)
        return caption.error();
    auto excluded = prepareExclusions(options.excludedPhrases);
    if (!excluded)
        return excluded.error();
    if (cancel.isCancelled())
        return cancelled();
    const std::vector<float> query =
        steeredAway(caption->embedding().ptr(), m_index->dimension(), *excluded);
    auto hits =
        candidates(query.data(), std::max(options.candidates, options.rerankDepth), {}, *allowed);
    if (!hits)
        return hits.error();
    return rerank(std::move(*hits), *caption, *excluded, options, onUpdate, cancel);
}

Result<std::vector<PhotoHit>> SearchEngine::similarCandidates(
    const QString &photoPath, int count, const std::optional<std::vector<qint64>> &allowed,
    const std::vector<PreparedText> &excluded, const CancelToken &cancel) const {
    std::vector<qint64> exclude;
    if (auto self = m_photos->photoIdForPath(photoPath))
        exclude.push_back(*self);
    // A photo the library already holds (same bytes) has its vector stored: a hash (~50 ms for
    // 12 MP) instead of the vision tower (seconds at the real model's size).
    if (auto stored = m_photos->storedEmbedding(photoPath, m_pipeline->modelKey());
        stored && int(stored->size()) == m_index->dimension())
        return candidates(steeredAway(stored->data(), m_index->dimension(), excluded).data(), count,
                          exclude, allowed);
    auto pixels = m_pipeline->loadPixels(photoPath);
    if (!pixels)
        return pixels.error();
    if (cancel.isCancelled())
        return cancelled();
    auto embedding = m_pipeline->embedImages(*pixels);
    if (!embedding)
        return embedding.error();
    return candidates(steeredAway(embedding->ptr(), m_index->dimension(), excluded).data(), count,
                      exclude, allowed);
}

Result<std::vector<PhotoHit>> SearchEngine::searchSimilar(const QString &photoPath, int count,
                                                          const CancelToken &cancel) const {
    return similarCandidates(photoPath, count, std::nullopt, {}, cancel);
}

Result<std::vector<PhotoHit>> SearchEngine::searchSimilar(const QString &photoPath,
                                                          const SearchOptions &options,
                                                          const UpdateCallback &onUpdate,
                                                          const CancelToken &cancel) const {
    auto allowed = allowedPhotos(options.filter);
    if (!allowed)
        return allowed.error();
    if (*allowed && (*allowed)->empty())
        return rerank({}, {}, {}, options, onUpdate, cancel);
    auto excluded = prepareExclusions(options.excludedPhrases);
    if (!excluded)
        return excluded.error();
    auto hits = similarCandidates(photoPath, options.candidates, *allowed, *excluded, cancel);
    if (!hits)
        return hits.error();
    return rerank(std::move(*hits), {}, *excluded, options, onUpdate, cancel);
}

Result<std::vector<PhotoHit>> SearchEngine::searchComposed(const QString &photoPath,
                                                           const QString &text,
                                                           const SearchOptions &options,
                                                           const UpdateCallback &onUpdate,
                                                           const CancelToken &cancel) const {
    auto allowed = allowedPhotos(options.filter);
    if (!allowed)
        return allowed.error();
    if (*allowed && (*allowed)->empty())
        return rerank({}, {}, {}, options, onUpdate, cancel);
    auto excluded = prepareExclusions(options.excludedPhrases);
    if (!excluded)
        return excluded.error();
    auto hits = similarCandidates(photoPath, std::max(options.candidates, options.rerankDepth),
                                  *allowed, *excluded, cancel);
    if (!hits)
        return hits.error();
    PreparedText caption;
    if (m_pipeline->model().has(kHeadImageTextMatching) && !text.trimmed().isEmpty() &&
        options.rerankDepth > 0) {
        auto prepared = m_pipeline->prepareCaption(text);
        if (!prepared)
            return prepared.error();
        caption = std::move(*prepared);
    }
    return rerank(std::move(*hits), caption, *excluded, options, onUpdate, cancel);
}

Result<FillMaskResult> SearchEngine::fillMask(const QString &photoPath, const QString &caption,
                                              int topK) const {
    // A library photo's vision side is what the rerank caches: reuse it (and keep it for later).
    if (const auto id = m_photos->photoIdForPath(photoPath)) {
        if (Status s = m_pipeline->checkMaskedCaption(caption); !s)
            return s.error(); // before spending a vision pass
        auto fusion = fusionInputs(*id, photoPath);
        if (!fusion)
            return fusion.error();
        return m_pipeline->fillMaskFromFusion(*fusion, caption, topK);
    }
    auto pixels = m_pipeline->loadPixels(photoPath);
    if (!pixels)
        return pixels.error();
    return m_pipeline->fillMask(*pixels, caption, topK);
}

Result<PhotoDescription> SearchEngine::describe(const QString &photoPath,
                                                const DescribeOptions &options) const {
    if (Status s = checkDescribeOptions(*m_pipeline, options); !s)
        return s.error(); // before spending a vision pass
    if (const auto id = m_photos->photoIdForPath(photoPath)) {
        auto fusion = fusionInputs(*id, photoPath);
        if (!fusion)
            return fusion.error();
        return describeFromFusion(*m_pipeline, *fusion, options);
    }
    auto pixels = m_pipeline->loadPixels(photoPath);
    if (!pixels)
        return pixels.error();
    return describePixels(*m_pipeline, *pixels, options);
}

} // namespace ts
