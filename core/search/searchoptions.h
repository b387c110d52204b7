#pragma once

// What a query asks for (SearchOptions) and what it reports while it runs (SearchUpdate): plain
// values, so that code which builds queries or shows results (the UI) needs no model header.

#include "core/search/photofilter.h"
#include "core/search/photohit.h"

#include <QStringList>

#include <vector>

namespace ts {

struct SearchOptions {
    int candidates = 100; // nearest neighbours taken from the vector index
    int rerankDepth = 20; // how many of them the ITM head re-scores
    // Photos re-scored per cross-modal pass (one update each); 0: rerankBatchFor(the model's
    // precision) (searchengine.h).
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

} // namespace ts
