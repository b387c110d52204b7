#include "core/search/photodescription.h"

#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"

#include <QSet>

#include <algorithm>
#include <map>

namespace ts {

namespace {
const QLatin1String kMask("<mask>");
}

QStringList defaultDescribeTemplates() {
    return {QStringLiteral("a photo of a <mask>."), QStringLiteral("a <mask> in the <mask>.")};
}

bool isDescribeStopWord(const QString &lowerWord) {
    // Words that fill a blank grammatically but say nothing about a photo.
    static const QSet<QString> kStopWords = [] {
        QSet<QString> set;
        for (const char *w :
             {"a",     "an",    "the",  "this",  "that",  "these",  "those", "some",  "any",
              "each",  "every", "all",  "no",    "not",   "i",      "me",    "my",    "we",
              "our",   "you",   "your", "he",    "him",   "his",    "she",   "her",   "it",
              "its",   "they",  "them", "their", "who",   "whom",   "whose", "which", "what",
              "where", "when",  "why",  "how",   "there", "here",   "of",    "in",    "on",
              "at",    "by",    "for",  "with",  "from",  "to",     "into",  "onto",  "over",
              "under", "up",    "down", "out",   "off",   "about",  "as",    "than",  "and",
              "or",    "but",   "nor",  "so",    "yet",   "if",     "then",  "is",    "are",
              "was",   "were",  "be",   "been",  "being", "am",     "do",    "does",  "did",
              "has",   "have",  "had",  "can",   "could", "will",   "would", "shall", "should",
              "may",   "might", "must", "one",   "other", "others", "very",  "just",  "also",
              "only",  "more",  "most", "such",  "same",  "own"})
            set.insert(QString::fromLatin1(w));
        return set;
    }();
    return kStopWords.contains(lowerWord);
}

QString describeTagWord(const QString &decodedProposal) {
    if (!decodedProposal.startsWith(QLatin1Char(' ')))
        return {}; // a piece that continues the word before the blank
    const QString word = decodedProposal.mid(1);
    if (word.size() < 2)
        return {};
    for (qsizetype i = 0; i < word.size(); ++i) {
        const QChar c = word.at(i);
        if (c.isLetter())
            continue;
        const bool joiner = c == QLatin1Char('\'') || c == QLatin1Char('-');
        if (!(joiner && i > 0 && i + 1 < word.size() && word.at(i - 1).isLetter() &&
              word.at(i + 1).isLetter()))
            return {};
    }
    const QString lower = word.toLower();
    return isDescribeStopWord(lower) ? QString() : lower;
}

std::vector<DescribeTag> mergeDescribeTags(const std::vector<FillMaskResult> &fills, int maxTags) {
    std::map<QString, double> sums;
    size_t blanks = 0;
    for (const FillMaskResult &fill : fills) {
        for (const MaskPrediction &mask : fill.masks) {
            ++blanks;
            // A word proposed twice at one blank (two spellings that lower-case alike) counts once
            // per proposal: both are probability mass for that word.
            for (qsizetype k = 0; k < mask.words.size() && size_t(k) < mask.probabilities.size();
                 ++k) {
                const QString tag = describeTagWord(mask.words[k]);
                if (!tag.isEmpty())
                    sums[tag] += double(mask.probabilities[size_t(k)]);
            }
        }
    }
    std::vector<DescribeTag> tags;
    tags.reserve(sums.size());
    for (const auto &[word, sum] : sums)
        tags.push_back({word, float(sum / double(blanks))});
    std::stable_sort(tags.begin(), tags.end(), [](const DescribeTag &a, const DescribeTag &b) {
        return a.score > b.score;
    }); // map: ties by word
    if (maxTags >= 0 && tags.size() > size_t(maxTags))
        tags.resize(size_t(maxTags));
    return tags;
}

Status checkDescribeOptions(const BridgeTowerPipeline &pipeline, const DescribeOptions &options) {
    if (!pipeline.model().has(kHeadMaskedLm))
        return Error(Error::Code::Model,
                     QStringLiteral(
                         "%1: this checkpoint has no masked-LM head, so it cannot describe photos")
                         .arg(pipeline.directory()));
    if (options.templates.isEmpty())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("Describe needs at least one caption template"));
    if (options.topK < 1)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("Describe reads at least one proposal per blank (asked for %1)")
                         .arg(options.topK));
    for (const QString &caption : options.templates) {
        if (caption.trimmed().startsWith(kMask))
            return Error(
                Error::Code::InvalidArgument,
                QStringLiteral(
                    "the template \"%1\" starts with a blank: its first word cannot be told "
                    "from a piece of one, so put a word before the first <mask>")
                    .arg(caption));
        if (Status s = pipeline.checkMaskedCaption(caption); !s)
            return Error(s.error().code,
                         QStringLiteral("the template \"%1\": %2").arg(caption, s.error().message));
    }
    return Status::success();
}

Result<PhotoDescription> describeFromFusion(const BridgeTowerPipeline &pipeline,
                                            const FloatTensor &fusionInputs,
                                            const DescribeOptions &options) {
    if (Status s = checkDescribeOptions(pipeline, options); !s)
        return s.error();
    PhotoDescription out;
    out.templates = options.templates;
    for (const QString &caption : options.templates) {
        auto fill = pipeline.fillMaskFromFusion(fusionInputs, caption, options.topK);
        if (!fill)
            return fill.error();
        out.fills.push_back(std::move(*fill));
    }
    out.tags = mergeDescribeTags(out.fills, options.maxTags);
    return out;
}

Result<PhotoDescription> describePixels(const BridgeTowerPipeline &pipeline,
                                        const FloatTensor &pixels, const DescribeOptions &options) {
    if (Status s = checkDescribeOptions(pipeline, options); !s)
        return s.error(); // before spending a vision pass
    auto fusion = pipeline.model().visionFusionInputs(pixels);
    if (!fusion)
        return fusion.error();
    return describeFromFusion(pipeline, *fusion, options);
}

} // namespace ts
