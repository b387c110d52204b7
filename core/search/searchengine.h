#pragma once

// The search engine: caption, photo and composed queries over the vector index, reranked by the
// model's image-text matching head. The value types a caller builds and reads (SearchOptions,
// SearchUpdate, PhotoHit, CancelToken, PhotoFilter, FillMaskResult, PhotoDescription) live in
// their own light headers, included here; no model, FAISS or torch header is, so the UI can hold
// an engine without recompiling when the model changes.

#include "core/common/floattensor.h"
#include "core/common/precision.h"
#include "core/common/result.h"
#include "core/search/canceltoken.h"
#include "core/search/fillmaskresult.h"
#include "core/search/fusioncache.h"
#include "core/search/photodescription.h"
#include "core/search/photofilter.h"
#include "core/search/photohit.h"
#include "core/search/photosource.h"
#include "core/search/searchoptions.h"

#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace ts {

class BridgeTowerPipeline;
class PreparedText;
class VectorIndex;

// The rerank batch that is fastest in each precision, measured with bench_search on the large
// model (10 cached photos, 2 threads): float32 runs its cross-modal layers on OpenBLAS, where a
// batch of 4 took 10.3 s against 7.2 s photo by photo (text tower included), so float32 goes one
// photo at a time; bfloat16 and int8 run on oneDNN, where a batch of 4 is 1.4-2x faster.
int rerankBatchFor(Precision precision);

// Queries over an indexed library: caption search (contrastive retrieval, then ITM rerank),
// photo similarity, composed photo+words queries, and masked captioning.
//
// Progressive: `onUpdate` receives the contrastive ranking at once, then the re-sorted list after
// every batch of reranked photos (SearchOptions::rerankBatch), then a final update. A caption runs
// through the text tower once per query: the same pass gives the search embedding and the text side
// of every rerank. Everything runs on the calling thread (call it from a worker); a cancelled query
// returns Error::Code::Cancelled. Photos that vanished or cannot be decoded are skipped and
// reported, never fatal. Thread-safety: const methods may run concurrently.
class SearchEngine {
public:
    using UpdateCallback = std::function<void(const SearchUpdate &)>;

    SearchEngine(std::shared_ptr<const BridgeTowerPipeline> pipeline,
                 std::shared_ptr<const VectorIndex> index,
                 std::shared_ptr<const PhotoSource> photos, std::shared_ptr<FusionCache> cache);

    Result<std::vector<PhotoHit>> searchText(const QString &text, const SearchOptions &options,
                                             const UpdateCallback &onUpdate = {},
                                             const CancelToken &cancel = {}) const;
    // Nearest photos to a photo file (itself excluded when it is in the library).
    Result<std::vector<PhotoHit>> searchSimilar(const QString &photoPath, int count,
                                                const CancelToken &cancel = {}) const;
    // The same with options: options.candidates photos, within options.filter, pushed away from
    // options.excludedPhrases (and, with an ITM head, the first rerankDepth judged against them
    // and removed when they match), ordered by options.sort. No caption, so no match
    // probability and no cut-off on the photos themselves.
    Result<std::vector<PhotoHit>> searchSimilar(const QString &photoPath,
                                                const SearchOptions &options,
                                                const UpdateCallback &onUpdate = {},
                                                const CancelToken &cancel = {}) const;
    // "Like this photo, but <words>": candidates from the photo's neighbours, reranked by ITM with
    // the words.
    Result<std::vector<PhotoHit>> searchComposed(const QString &photoPath, const QString &text,
                                                 const SearchOptions &options,
                                                 const UpdateCallback &onUpdate = {},
                                                 const CancelToken &cancel = {}) const;
    // A photo of the library uses (and fills) the rerank cache, so it skips the vision tower.
    Result<FillMaskResult> fillMask(const QString &photoPath, const QString &caption,
                                    int topK = 5) const;
    // Describe (photodescription.h): the masked-LM head's tags for a photo. A library photo takes
    // its vision side from the rerank cache (and fills it), so describing it again runs no vision
    // tower; any other photo runs the vision tower once for all templates. Fails before any vision
    // work on unusable options, and with the file named when the photo cannot be read.
    Result<PhotoDescription> describe(const QString &photoPath,
                                      const DescribeOptions &options = {}) const;

    // The vision features of a photo for reranking: from the cache, else computed (and cached).
    Result<FloatTensor> fusionInputs(qint64 photoId, const QString &path) const;

    const BridgeTowerPipeline &pipeline() const;

private:
    // The ids options.filter keeps (nullopt: no filter), or why it cannot be applied.
    Result<std::optional<std::vector<qint64>>> allowedPhotos(const PhotoFilter &filter) const;
    // The excluded phrases through the text tower (blank ones dropped).
    Result<std::vector<PreparedText>> prepareExclusions(const QStringList &phrases) const;
    // `allowed` set: only those ids are candidates (the nearest within them).
    Result<std::vector<PhotoHit>>
    candidates(const float *query, int count, const std::vector<qint64> &exclude,
               const std::optional<std::vector<qint64>> &allowed = std::nullopt) const;
    // The query photo's neighbours for searchSimilar/searchComposed (filter and exclusions
    // applied).
    Result<std::vector<PhotoHit>>
    similarCandidates(const QString &photoPath, int count,
                      const std::optional<std::vector<qint64>> &allowed,
                      const std::vector<PreparedText> &excluded, const CancelToken &cancel) const;
    // `caption` null: no rerank by words (no ITM head, or no words), the contrastive order stays;
    // photos are still judged against `excluded` when there is an ITM head.
    Result<std::vector<PhotoHit>> rerank(std::vector<PhotoHit> hits, const PreparedText &caption,
                                         const std::vector<PreparedText> &excluded,
                                         const SearchOptions &options,
                                         const UpdateCallback &onUpdate,
                                         const CancelToken &cancel) const;
    // Applies options.sort to a list in relevance order.
    // `dates`: photoTakenMs of photos already asked (others are asked).
    using TakenDates = std::unordered_map<qint64, std::optional<qint64>>;
    std::vector<PhotoHit> sorted(std::vector<PhotoHit> hits, SortOrder order,
                                 const TakenDates &dates) const;

    class RerankRun; // one rerank(): its hits, batches and updates (searchengine.cpp)

    std::shared_ptr<const BridgeTowerPipeline> m_pipeline;
    std::shared_ptr<const VectorIndex> m_index;
    std::shared_ptr<const PhotoSource> m_photos;
    std::shared_ptr<FusionCache> m_cache;
};

} // namespace ts
