#include "core/search/bridgetowerpipeline.h"

#include "core/model/bridgetowermodel.h"
#include "core/search/captioncache.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ts {

namespace {

// A content-based identity that is cheap for a 3.7 GB file: config.json, preprocessor config,
// vocabulary size and the weights' size plus their first and last megabyte (which hold the
// safetensors header and the tail of the data).
QString computeModelKey(const QString &directory, const QString &weightsFile) {
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const QString &name :
         {QStringLiteral("config.json"), QStringLiteral("preprocessor_config.json")}) {
        QFile f(QDir(directory).filePath(name));
        if (f.open(QIODevice::ReadOnly))
            hash.addData(f.read(1 << 20));
        hash.addData(QByteArrayView("\0", 1));
    }
    QFile weights(weightsFile);
    if (weights.open(QIODevice::ReadOnly)) {
        const qint64 size = weights.size();
        hash.addData(QByteArray::number(size));
        hash.addData(weights.read(1 << 20));
        if (size > (2 << 20) && weights.seek(size - (1 << 20)))
            hash.addData(weights.read(1 << 20));
    }
    return QString::fromLatin1(hash.result().toHex().left(16));
}

float softmaxOfPair(float a, float b) {
    // softmax([a, b])[1] in float32, stable.
    const float m = std::max(a, b);
    const float ea = std::exp(a - m), eb = std::exp(b - m);
    return eb / (ea + eb);
}

} // namespace

BridgeTowerPipeline::BridgeTowerPipeline() = default;
BridgeTowerPipeline::~BridgeTowerPipeline() = default;

void BridgeTowerPipeline::setThreadCount(int threads) {
    BridgeTowerModel::setThreadCount(threads);
}

const BridgeTowerModel &BridgeTowerPipeline::model() const {
    return *m_model;
}

CaptionCache &BridgeTowerPipeline::captionCache() const {
    return *m_options.captionCache;
}

Result<std::shared_ptr<BridgeTowerPipeline>> BridgeTowerPipeline::load(const QString &directory,
                                                                       const Options &options) {
    std::shared_ptr<BridgeTowerPipeline> p(new BridgeTowerPipeline());
    p->m_options = options;
    if (!p->m_options.captionCache)
        p->m_options.captionCache = std::make_shared<CaptionCache>();
    p->m_directory = QDir(directory).absolutePath();

    auto tokenizer = Tokenizer::load(directory);
    if (!tokenizer)
        return Error(Error::Code::Model, tokenizer.error().message);
    p->m_tokenizer = std::move(*tokenizer);

    auto imageConfig = ImageProcessorConfig::load(
        QDir(directory).filePath(QStringLiteral("preprocessor_config.json")));
    if (!imageConfig)
        return Error(Error::Code::Model, imageConfig.error().message);
    p->m_imageProcessor = ImageProcessor(*imageConfig);

    ModelLoadOptions modelOptions;
    modelOptions.requiredHeads = options.requiredHeads;
    modelOptions.precision = options.precision;
    auto model = BridgeTowerModel::load(directory, modelOptions);
    if (!model)
        return model.error();
    p->m_model = std::move(*model);

    if (p->m_tokenizer.vocabSize() > p->m_model->config().text.vocabSize)
        return Error(Error::Code::Model,
                     QStringLiteral("%1: the tokenizer has %2 tokens but the model only %3: "
                                    "vocab.json does not belong to this checkpoint")
                         .arg(directory)
                         .arg(p->m_tokenizer.vocabSize())
                         .arg(p->m_model->config().text.vocabSize));
    p->m_modelKey = computeModelKey(directory, p->m_model->info().weightsFile);
    return p;
}

TokenBatch BridgeTowerPipeline::tokenize(const QStringList &texts) const {
    EncodeOptions opts;
    opts.addSpecialTokens = true;
    opts.maxLength = std::min(m_model->maxTextTokens(), m_tokenizer.modelMaxLength());
    opts.truncate = true;
    opts.padding = EncodeOptions::Padding::Longest;
    return m_tokenizer.encodeBatch(texts, opts);
}

Result<FloatTensor> BridgeTowerPipeline::embedTexts(const QStringList &texts) const {
    if (texts.size() == 1) {
        auto prepared = prepareCaption(texts.front());
        if (!prepared)
            return prepared.error();
        if (prepared->embedding().data.empty())
            return Error(Error::Code::Model,
                         QStringLiteral("this checkpoint has no usable contrastive head, so it "
                                        "cannot embed text for search"));
        return prepared->embedding();
    }
    const int64_t dim = m_model->embeddingDimension();
    FloatTensor out({int64_t(texts.size()), dim});
    CaptionCache &cache = *m_options.captionCache;
    QStringList missing;
    std::vector<qsizetype> missingRows;
    for (qsizetype i = 0; i < texts.size(); ++i) {
        const auto cached = cache.get(m_modelKey, m_options.precision, texts[i]);
        if (cached && int64_t(cached->embedding().data.size()) == dim) {
            std::copy(cached->embedding().data.begin(), cached->embedding().data.end(),
                      out.data.begin() + i * dim);
        } else {
            missing << texts[i];
            missingRows.push_back(i);
        }
    }
    if (missing.isEmpty())
        return out;
    auto embedded = m_model->embedText(tokenize(missing));
    if (!embedded)
        return embedded.error();
    for (qsizetype k = 0; k < missing.size(); ++k) {
        const auto row = embedded->data.begin() + k * dim;
        std::copy(row, row + dim, out.data.begin() + missingRows[size_t(k)] * dim);
    }
    return out;
}

Result<FloatTensor> BridgeTowerPipeline::loadPixels(const QString &path) const {
    return loadPixels(std::vector<QString>{path});
}

Result<FloatTensor> BridgeTowerPipeline::loadPixels(const std::vector<QString> &paths) const {
    const int64_t s = m_model->imageSize();
    FloatTensor batch({int64_t(paths.size()), 3, s, s});
    for (size_t i = 0; i < paths.size(); ++i) {
        auto processed = m_imageProcessor.processFile(paths[i]);
        if (!processed)
            return processed.error();
        const FloatTensor &pv = processed->pixelValues;
        if (pv.shape != std::vector<int64_t>{3, s, s})
            return Error(
                Error::Code::Model,
                QStringLiteral(
                    "%1: preprocessor_config.json makes %2x%3 inputs but the model takes %4x%4; "
                    "the preprocessor config does not belong to this checkpoint")
                    .arg(paths[i])
                    .arg(pv.shape.size() == 3 ? pv.shape[2] : 0)
                    .arg(pv.shape.size() == 3 ? pv.shape[1] : 0)
                    .arg(s));
        std::copy(pv.data.begin(), pv.data.end(), batch.data.begin() + int64_t(i) * pv.numel());
    }
    return batch;
}

Result<FloatTensor> BridgeTowerPipeline::embedImages(const FloatTensor &pixels,
                                                     FloatTensor *fusionOut) const {
    return m_model->embedImages(pixels, fusionOut);
}

std::vector<MatchScore> BridgeTowerPipeline::scoresFromLogits(const FloatTensor &logits) {
    std::vector<MatchScore> out;
    for (int64_t i = 0; i + 1 < logits.numel(); i += 2) {
        const float a = logits.data[size_t(i)], b = logits.data[size_t(i + 1)];
        out.push_back({a, b, softmaxOfPair(a, b)});
    }
    return out;
}

Result<std::vector<MatchScore>> BridgeTowerPipeline::matchTexts(const FloatTensor &pixels,
                                                                const QStringList &texts) const {
    if (texts.isEmpty())
        return std::vector<MatchScore>{};
    auto fusion = m_model->visionFusionInputs(pixels);
    if (!fusion)
        return fusion.error();
    // One image against N texts: repeat the cached vision side N times (cheap next to the vision
    // tower).
    FloatTensor repeated = *fusion;
    repeated.shape[0] = texts.size();
    repeated.data.resize(size_t(fusion->numel()) * size_t(texts.size()));
    for (qsizetype i = 1; i < texts.size(); ++i)
        std::copy(fusion->data.begin(), fusion->data.end(),
                  repeated.data.begin() + i * fusion->numel());
    auto logits = m_model->imageTextMatchingFromFusion(tokenize(texts), repeated);
    if (!logits)
        return logits.error();
    return scoresFromLogits(*logits);
}

Result<PreparedText> BridgeTowerPipeline::prepareCaption(const QString &text) const {
    CaptionCache &cache = *m_options.captionCache;
    if (auto cached = cache.get(m_modelKey, m_options.precision, text))
        return *cached;
    auto prepared = m_model->prepareText(tokenize({text}));
    if (prepared)
        cache.put(m_modelKey, m_options.precision, text, *prepared);
    return prepared;
}

Result<std::vector<MatchScore>>
BridgeTowerPipeline::matchImages(const PreparedText &caption,
                                 const FloatTensor &fusionInputs) const {
    auto logits = m_model->imageTextMatchingFromFusion(caption, fusionInputs);
    if (!logits)
        return logits.error();
    return scoresFromLogits(*logits);
}

Result<BridgeTowerPipeline::MaskedCaption>
BridgeTowerPipeline::encodeMaskedCaption(const QString &caption) const {
    EncodeOptions opts; // exactly the processor's call: <s> ... </s>, no truncation
    const Encoding enc = m_tokenizer.encode(caption, opts);
    const int64_t maskId = m_tokenizer.maskTokenId();
    MaskedCaption out;
    for (size_t i = 0; i < enc.inputIds.size(); ++i)
        if (enc.inputIds[i] == maskId)
            out.positions.push_back(int64_t(i));
    if (out.positions.empty())
        return Error(
            Error::Code::InvalidArgument,
            QStringLiteral(
                "the caption has no blank: write <mask> where a word should be filled in"));
    if (int(out.positions.size()) > m_options.maxMasks)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the caption has %1 blanks; at most %2 are allowed")
                         .arg(out.positions.size())
                         .arg(m_options.maxMasks));
    if (int64_t(enc.inputIds.size()) > m_model->maxTextTokens())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("the caption has %1 tokens; this model accepts at most %2")
                         .arg(enc.inputIds.size())
                         .arg(m_model->maxTextTokens()));
    out.tokens = TokenBatch{1, int64_t(enc.inputIds.size()), enc.inputIds, enc.attentionMask};
    return out;
}

Status BridgeTowerPipeline::checkMaskedCaption(const QString &caption) const {
    auto encoded = encodeMaskedCaption(caption);
    if (!encoded)
        return encoded.error();
    return Status::success();
}

Result<FillMaskResult> BridgeTowerPipeline::fillMask(const FloatTensor &pixels,
                                                     const QString &caption, int topK) const {
    auto encoded = encodeMaskedCaption(caption);
    if (!encoded)
        return encoded.error();
    auto logits = m_model->maskedLmLogits(encoded->tokens, pixels, encoded->positions);
    if (!logits)
        return logits.error();
    return decodeMasks(*encoded, *logits, topK);
}

Result<FillMaskResult> BridgeTowerPipeline::fillMaskFromFusion(const FloatTensor &fusionInputs,
                                                               const QString &caption,
                                                               int topK) const {
    auto encoded = encodeMaskedCaption(caption);
    if (!encoded)
        return encoded.error();
    auto logits =
        m_model->maskedLmLogitsFromFusion(encoded->tokens, fusionInputs, encoded->positions);
    if (!logits)
        return logits.error();
    return decodeMasks(*encoded, *logits, topK);
}

// `logits` [1, P, V]: one row per blank, in the order of caption.positions.
FillMaskResult BridgeTowerPipeline::decodeMasks(const MaskedCaption &caption,
                                                const FloatTensor &logits, int topK) const {
    FillMaskResult result;
    result.inputIds = caption.tokens.inputIds;
    result.filledIds = caption.tokens.inputIds;
    const int64_t vocab = logits.dim(2);
    const int k = int(std::clamp<int64_t>(topK, 1, vocab));
    for (size_t m = 0; m < caption.positions.size(); ++m) {
        const float *row = logits.ptr() + int64_t(m) * vocab;
        // Softmax over the whole vocabulary in float32, as the reference does.
        const float maxLogit = *std::max_element(row, row + vocab);
        double sum = 0;
        for (int64_t v = 0; v < vocab; ++v)
            sum += std::exp(double(row[v] - maxLogit));
        std::vector<int64_t> order(static_cast<size_t>(vocab));
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
            return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        MaskPrediction p;
        p.position = int(caption.positions[m]);
        for (int i = 0; i < k; ++i) {
            const int64_t id = order[size_t(i)];
            p.ids.push_back(id);
            p.tokens << m_tokenizer.idToToken(id);
            p.words << m_tokenizer.decode({id});
            p.logits.push_back(row[id]);
            p.probabilities.push_back(float(std::exp(double(row[id] - maxLogit)) / sum));
        }
        result.filledIds[size_t(p.position)] = p.ids.front();
        result.masks.push_back(std::move(p));
    }
    result.filledText = m_tokenizer.decode(result.filledIds, /*skipSpecialTokens=*/true);
    return result;
}

} // namespace ts
