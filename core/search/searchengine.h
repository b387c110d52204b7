#pragma once

#include "core/model/precision.h"

#include "core/common/result.h"
#include "core/search/bridgetowerpipeline.h"
#include "core/search/fusioncache.h"
#include "core/search/photodescription.h"
#include "core/search/photofilter.h"
#include "core/search/photosource.h"

#include <QString>
#include <QStringList>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

namespace ts {

class VectorIndex;

// One photo in a result list.
struct PhotoHit {
    qint64 photoId = 0;
    QString path;
    float similarity = 0;                  // contrastive cosine similarity to the query (-1..1)
    std::optional<float> matchProbability; // ITM match probability, once reranked
};

// The rerank batch that is fastest in each precision, measured with bench_search on the large
// model (10 cached photos, 2 threads): float32 runs its cross-modal layers on OpenBLAS, where a
// batch of 4 took 10.3 s against 7.2 s photo by photo (text tower included), so float32 goes one
// photo at a time; bfloat16 and int8 run on oneDNN, where a batch of 4 is 1.4-2x faster.
int rerankBatchFor(Precision precision);

struct SearchOptions {
    int candidates = 100; // nearest neighbours taken from the vector index
    int rerankDepth = 20; // how many of them the ITM head re-scores
    // Photos re-scored per cross-modal pass (one update each); 0: rerankBatchFor(the model's
    // precision).
    int rerankBatch = 0;
    float minMatchProbability = 0.0f; // > 0: hide photos below it (and those never reranked)
    // Only photos the filter keeps are candidates: the nearest neighbours within them, found
    // inside the vector search (PhotoSource::photosMatching gives the set). A non-empty filter
    // with a source that cannot evaluate filters is an error (InvalidArgument), never ignored; a
    // filter that keeps no photo gives an empty result without running the model.
    PhotoFilter filter;
    // "without ...": photos matching one of these phrases (blank ones are ignored) are
    // - pushed down in the contrastive stage: the query vector becomes
    //   q - kExclusionWeight * mean(phrase embeddings), normalised (rclip's q - w.e), and
    // - removed from the reranked list when the ITM head gives a phrase a match probability
    //   above exclusionCutOff(options) (photos beyond rerankDepth are only pushed down).
    // Each phrase runs through the text tower once per query (kept in the caption cache), and a
    // photo's vision side is computed once for the caption and every phrase.
    QStringList excludedPhrases;
    // Order of the list handed out (every update and the result): Relevance as ranked;
    // DateTaken newest first (PhotoSource::photoTakenMs), photos without a date last; Name by
    // file name (case-insensitive), then full path. Ties keep the relevance order.
    SortOrder sort = SortOrder::Relevance;
};

// How far a query is pushed away from an excluded phrase's embedding. rclip subtracts at full
// weight (1); the difference q - e then ranks a photo with neither subject (both cosines low)
// as high as one with both, while at 1/2 the caption keeps the larger share and only photos that
// also match the phrase sink. Removal is the ITM stage's job; this is the push for the photos it
// does not reach. Several phrases share the weight (their mean is subtracted), so the caption
// stays dominant however many there are.
inline constexpr float kExclusionWeight = 0.5f;

// The ITM match probability above which a photo counts as showing an excluded phrase: the
// search's own relevance cut-off when one is set (the same bar a photo must pass to be shown),
// else 0.5 (the ITM head's decision boundary: "match" more likely than "no match").
inline float exclusionCutOff(const SearchOptions &options) {
    return options.minMatchProbability > 0 ? options.minMatchProbability : 0.5f;
}

// Progress of a query: the full list in its current order after each step.
struct SearchUpdate {
    std::vector<PhotoHit> hits;
    int reranked = 0; // photos re-scored so far
    int toRerank = 0; // photos that will be re-scored in all
    bool finished = false;
    QStringList skipped; // photos whose file vanished or failed to load, with the reason
};

// Set from any thread to stop a query at the next photo or batch; a new query normally cancels
// the last.
class CancelToken {
public:
    CancelToken() : m_flag(std::make_shared<std::atomic<bool>>(false)) {}
    void cancel() const { m_flag->store(true); }
    bool isCancelled() const { return m_flag->load(); }

private:
    std::shared_ptr<std::atomic<bool>> m_flag;
};

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

    const BridgeTowerPipeline &pipeline() const { return *m_pipeline; }

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

    std::shared_ptr<const BridgeTowerPipeline> m_pipeline;
    std::shared_ptr<const VectorIndex> m_index;
    std::shared_ptr<const PhotoSource> m_photos;
    std::shared_ptr<FusionCache> m_cache;
};

// Orders hits for display: reranked ones by match probability, then the rest by similarity; with a
// cut-off, drops reranked hits below it and every hit that was not reranked.
std::vector<PhotoHit> orderForDisplay(std::vector<PhotoHit> hits, float minMatchProbability);

} // namespace ts
