#pragma once

// Describe: BridgeTower's own words for a photo. Short caption templates with <mask> blanks
// ("a photo of a <mask>.") are filled by the masked-LM head for the photo, and the proposals of
// every blank of every template are merged into a few tags.
//
// Basic usage (a worker thread; the pipeline is thread-safe):
//
//     auto described = describePixels(pipeline, *pipeline.loadPixels(path), DescribeOptions{});
//     for (const DescribeTag &tag : described->tags) ... tag.word, tag.score
//
// SearchEngine::describe does the same for a library photo from its cached vision features.
//
// The merge rule (mergeDescribeTags):
// - Every blank of every template contributes its top-k proposals (DescribeOptions::topK), all
//   read from one forward pass per template, as Hugging Face's fill-mask pipeline reads every
//   mask of a caption.
// - A proposal is a tag candidate only when it is a whole word: decoded with a leading space (the
//   byte-level BPE's "Ġ"; a piece without it continues the word before the blank, which is why a
//   template never starts with a blank), at least two characters, every one a letter except an
//   apostrophe or hyphen between letters (no digits, punctuation or symbols), and not a stop word
//   (articles, pronouns, prepositions, conjunctions, auxiliaries: isDescribeStopWord).
// - Candidates are merged by their lower-cased form; a tag's score is the mean of its probability
//   over all blanks of all templates, a blank where it is not among the top-k counting 0 (so a word
//   proposed everywhere beats one proposed once with the same probability). Tags are sorted by
//   score (ties by word) and the first maxTags kept.

#include "core/common/floattensor.h"
#include "core/common/result.h"
#include "core/search/fillmaskresult.h"

#include <QString>
#include <QStringList>

#include <vector>

namespace ts {

class BridgeTowerPipeline;

// "a photo of a <mask>." asks for the main subject; "a <mask> in the <mask>." for a subject and
// its place, two blanks read from one pass.
QStringList defaultDescribeTemplates();

struct DescribeOptions {
    QStringList templates = defaultDescribeTemplates(); // each with 1..maxMasks blanks, none first
    int topK = 20;                                      // proposals read at each blank
    int maxTags = 10;                                   // tags kept after the merge
};

struct DescribeTag {
    QString word; // lower case, without spaces
    float score = 0;
    friend bool operator==(const DescribeTag &, const DescribeTag &) = default;
};

struct PhotoDescription {
    QStringList templates;
    std::vector<FillMaskResult> fills; // one per template, in the same order
    std::vector<DescribeTag> tags;     // best first
};

// True for the stop words the merge drops (lower-case input).
bool isDescribeStopWord(const QString &lowerWord);
// The tag a decoded proposal stands for ("" when it is not a whole word; see the rule above).
QString describeTagWord(const QString &decodedProposal);
// The merge rule above over the fill-mask results of the templates.
std::vector<DescribeTag> mergeDescribeTags(const std::vector<FillMaskResult> &fills, int maxTags);

// Refuses options the model cannot run (a template without a blank, too many blanks, too long, a
// template that starts with a blank, no template) with an error naming the template.
Status checkDescribeOptions(const BridgeTowerPipeline &pipeline, const DescribeOptions &options);
// Fills every template from a photo's vision fusion inputs [1, Lc, L, H] (no vision tower).
Result<PhotoDescription> describeFromFusion(const BridgeTowerPipeline &pipeline,
                                            const FloatTensor &fusionInputs,
                                            const DescribeOptions &options);
// The same from preprocessed pixels [1, 3, S, S]: the vision tower runs once for all templates.
Result<PhotoDescription> describePixels(const BridgeTowerPipeline &pipeline,
                                        const FloatTensor &pixels, const DescribeOptions &options);

} // namespace ts
