#include "core/search/searchengine.h"

#include "core/index/vectorindex.h"

#include <QFileInfo>

#include <algorithm>

namespace ts {

int rerankBatchFor(Precision precision) {
    return precision == Precision::Float32 ? 1 : 4;
}

SearchEngine::SearchEngine(std::shared_ptr<const BridgeTowerPipeline> pipeline, std::shared_ptr<const VectorIndex> index,
                           std::shared_ptr<const PhotoSource> photos, std::shared_ptr<FusionCache> cache)
    : m_pipeline(std::move(pipeline)), m_index(std::move(index)), m_photos(std::move(photos)), m_cache(std::move(cache)) {}

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
                                  [&](const PhotoHit &h) { return !h.matchProbability || *h.matchProbability < minMatchProbability; }),
                   hits.end());
    return hits;
}

Result<std::vector<PhotoHit>> SearchEngine::candidates(const float *query, int count, const std::vector<qint64> &exclude) const {
    auto found = m_index->search(query, count, exclude);
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

Result<std::vector<PhotoHit>> SearchEngine::rerank(std::vector<PhotoHit> hits,
                                                   const PreparedText &caption,
                                                   const SearchOptions &options,
                                                   const UpdateCallback &onUpdate,
                                                   const CancelToken &cancel) const {
    SearchUpdate update;
    update.toRerank = int(std::min<size_t>(hits.size(), size_t(std::max(0, options.rerankDepth))));
    if (!m_pipeline->model().has(kHeadImageTextMatching) || caption.isNull())
        update.toRerank = 0;
    auto publish = [&](bool finished) {
        update.finished = finished;
        update.hits = orderForDisplay(hits, options.minMatchProbability);
        if (onUpdate)
            onUpdate(update);
    };
    // The contrastive order at once (without the cut-off, which needs ITM scores, until reranked).
    update.hits = hits;
    if (onUpdate)
        onUpdate(update);

    // Photos go through the cross-modal layers a few at a time: one pass per batch is faster per
    // photo than one per photo, and the list still re-sorts while the user watches.
    const size_t batchSize = size_t(options.rerankBatch > 0 ? options.rerankBatch
                                                           : rerankBatchFor(m_pipeline->model().precision()));
    std::vector<size_t> failed;
    size_t next = 0;
    while (next < size_t(update.toRerank)) {
        std::vector<size_t> batch;
        FloatTensor stacked;
        for (; next < size_t(update.toRerank) && batch.size() < batchSize; ++next) {
            if (cancel.isCancelled())
                return Error(Error::Code::Cancelled, QStringLiteral("search cancelled"));
            const PhotoHit &hit = hits[next];
            auto fusion = fusionInputs(hit.photoId, hit.path);
            if (fusion && !batch.empty() &&
                !std::equal(fusion->shape.begin() + 1, fusion->shape.end(),
                            stacked.shape.begin() + 1, stacked.shape.end()))
                fusion = Error(Error::Code::InvalidArgument,
                               QStringLiteral("%1: cached vision features do not fit this model")
                                   .arg(hit.path));
            if (!fusion) {
                update.skipped << fusion.error().message;
                failed.push_back(next);
                continue;
            }
            if (batch.empty()) {
                stacked = std::move(*fusion);
            } else {
                stacked.shape[0] += fusion->shape[0];
                stacked.data.insert(stacked.data.end(), fusion->data.begin(), fusion->data.end());
            }
            batch.push_back(next);
        }
        if (batch.empty())
            break; // every remaining photo failed
        if (cancel.isCancelled())
            return Error(Error::Code::Cancelled, QStringLiteral("search cancelled"));
        auto scores = m_pipeline->matchImages(caption, stacked);
        if (!scores)
            return scores.error();
        for (size_t i = 0; i < batch.size(); ++i)
            hits[batch[i]].matchProbability = (*scores)[i].probability;
        update.reranked += int(batch.size());
        publish(false);
    }
    for (auto it = failed.rbegin(); it != failed.rend(); ++it)
        hits.erase(hits.begin() + std::ptrdiff_t(*it));
    publish(true);
    return update.hits;
}

Result<std::vector<PhotoHit>> SearchEngine::searchText(const QString &text, const SearchOptions &options,
                                                       const UpdateCallback &onUpdate, const CancelToken &cancel) const {
    if (text.trimmed().isEmpty())
        return Error(Error::Code::InvalidArgument, QStringLiteral("the search text is empty"));
    if (!m_pipeline->model().has(kHeadContrastive))
        return Error(
            Error::Code::Model,
            QStringLiteral(
                "this checkpoint has no usable contrastive head, so it cannot search by text"));
    // One text-tower pass: the search embedding and the rerank's text side.
    auto caption = m_pipeline->prepareCaption(text);
    if (!caption)
        return caption.error();
    if (cancel.isCancelled())
        return Error(Error::Code::Cancelled, QStringLiteral("search cancelled"));
    auto hits = candidates(caption->embedding().ptr(),
                           std::max(options.candidates, options.rerankDepth), {});
    if (!hits)
        return hits.error();
    return rerank(std::move(*hits), *caption, options, onUpdate, cancel);
}

Result<std::vector<PhotoHit>> SearchEngine::searchSimilar(const QString &photoPath, int count, const CancelToken &cancel) const {
    std::vector<qint64> exclude;
    if (auto self = m_photos->photoIdForPath(photoPath))
        exclude.push_back(*self);
    // A photo the library already holds (same bytes) has its vector stored: a hash (~50 ms for
    // 12 MP) instead of the vision tower (seconds at the real model's size).
    if (auto stored = m_photos->storedEmbedding(photoPath, m_pipeline->modelKey());
        stored && int(stored->size()) == m_index->dimension())
        return candidates(stored->data(), count, exclude);
    auto pixels = m_pipeline->loadPixels(photoPath);
    if (!pixels)
        return pixels.error();
    if (cancel.isCancelled())
        return Error(Error::Code::Cancelled, QStringLiteral("search cancelled"));
    auto embedding = m_pipeline->embedImages(*pixels);
    if (!embedding)
        return embedding.error();
    return candidates(embedding->ptr(), count, exclude);
}

Result<std::vector<PhotoHit>> SearchEngine::searchComposed(const QString &photoPath, const QString &text, const SearchOptions &options,
                                                           const UpdateCallback &onUpdate, const CancelToken &cancel) const {
    auto hits = searchSimilar(photoPath, std::max(options.candidates, options.rerankDepth), cancel);
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
    return rerank(std::move(*hits), caption, options, onUpdate, cancel);
}

Result<FillMaskResult> SearchEngine::fillMask(const QString &photoPath, const QString &caption, int topK) const {
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

Result<PhotoDescription> SearchEngine::describe(const QString &photoPath, const DescribeOptions &options) const {
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
