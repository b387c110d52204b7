#include "core/model/internal/bridgetowernet.h"

#include "core/common/safetensorsfile.h"

#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>

namespace ts::internal {

namespace {
at::Tensor l2normalize(const at::Tensor &input) {
    // torch.nn.functional.normalize: x / max(||x||, 1e-12), in float32 even under bfloat16 autocast
    // so that stored embeddings are unit vectors.
    const at::Tensor x = input.to(at::kFloat);
    return x / x.norm(2, -1, true).clamp_min(1e-12);
}
} // namespace

void BridgeTowerNet::bind(WeightBinder &b, const BridgeTowerConfig &c, const std::string &prefix) {
    m_config = c;
    const auto &tc = c.text;
    const auto &vc = c.vision;
    const int64_t H = c.hiddenSize;
    const std::string tp = prefix + "text_model.";
    m_wordEmbeddings =
        b.take(tp + "embeddings.word_embeddings.weight", {tc.vocabSize, tc.hiddenSize});
    m_positionEmbeddings = b.take(tp + "embeddings.position_embeddings.weight",
                                  {tc.maxPositionEmbeddings, tc.hiddenSize});
    m_tokenTypeEmbeddingsText =
        b.take(tp + "embeddings.token_type_embeddings.weight", {tc.typeVocabSize, tc.hiddenSize});
    m_textEmbeddingsNorm.bind(b, tp + "embeddings.LayerNorm", tc.hiddenSize, tc.layerNormEps);
    m_textLayers.resize(size_t(tc.numHiddenLayers));
    for (int i = 0; i < tc.numHiddenLayers; ++i)
        m_textLayers[size_t(i)].bind(b, tp + "encoder.layer." + std::to_string(i), tc);

    const std::string vp = prefix + "vision_model.visual.";
    m_patchEmbedding = b.take(vp + "embeddings.patch_embedding.weight",
                              {vc.hiddenSize, vc.numChannels, vc.patchSize, vc.patchSize});
    m_classEmbedding = b.take(vp + "embeddings.class_embedding", {vc.hiddenSize});
    m_visionPositionEmbedding =
        b.take(vp + "embeddings.position_embedding.weight", {vc.numTokens(), vc.hiddenSize});
    m_lnPre.bind(b, vp + "ln_pre", vc.hiddenSize, vc.layerNormEps);
    m_lnPost.bind(b, vp + "ln_post", vc.hiddenSize, vc.layerNormEps);
    // Only the first Lt blocks ever run; deeper blocks are legitimately unused.
    m_visionBlocks.resize(size_t(tc.numHiddenLayers));
    for (int i = 0; i < tc.numHiddenLayers; ++i)
        m_visionBlocks[size_t(i)].bind(b, vp + "transformer.resblocks." + std::to_string(i), vc);

    m_crossTextTransform.bind(b, prefix + "cross_modal_text_transform", tc.hiddenSize, H);
    m_crossImageTransform.bind(b, prefix + "cross_modal_image_transform", vc.hiddenSize, H);
    m_tokenTypeEmbeddings = b.take(prefix + "token_type_embeddings.weight", {2, H});
    m_crossTextNorm.bind(b, prefix + "cross_modal_text_layernorm", H, c.layerNormEps);
    m_crossImageNorm.bind(b, prefix + "cross_modal_image_layernorm", H, c.layerNormEps);
    m_crossTextLayers.resize(size_t(c.numHiddenLayers));
    m_crossImageLayers.resize(size_t(c.numHiddenLayers));
    for (int i = 0; i < c.numHiddenLayers; ++i) {
        m_crossTextLayers[size_t(i)].bind(
            b, prefix + "cross_modal_text_layers." + std::to_string(i), tc);
        m_crossImageLayers[size_t(i)].bind(
            b, prefix + "cross_modal_image_layers." + std::to_string(i), tc);
    }
    m_textLinkTowers.resize(size_t(c.numHiddenLayers - 1));
    m_imageLinkTowers.resize(size_t(c.numHiddenLayers - 1));
    for (int i = 0; i + 1 < c.numHiddenLayers; ++i) {
        m_textLinkTowers[size_t(i)].bind(
            b, prefix + "cross_modal_text_link_tower." + std::to_string(i), c);
        m_imageLinkTowers[size_t(i)].bind(
            b, prefix + "cross_modal_image_link_tower." + std::to_string(i), c);
    }
    m_textPooler.bind(b, prefix + "cross_modal_text_pooler.dense", H, H, true, LinearRole::Head);
    m_imagePooler.bind(b, prefix + "cross_modal_image_pooler.dense", H, H, true, LinearRole::Head);
}

void BridgeTowerNet::bindContrastiveHead(WeightBinder &b) {
    const int64_t C = m_config.contrastiveHiddenSize.value_or(0);
    const int64_t H = m_config.hiddenSize;
    m_itcText.bind(b, "itc_text_head.fc", H, C, true, LinearRole::Head);
    m_itcImage.bind(b, "itc_image_head.fc", H, C, true, LinearRole::Head);
    m_itcCross.bind(b, "itc_cross_modal_head.fc", 2 * H, C, true, LinearRole::Head);
    m_logitScale = b.take("logit_scale", {});
}

void BridgeTowerNet::bindItmHead(WeightBinder &b) {
    m_itm.bind(b, "itm_score.fc", 2 * m_config.hiddenSize, 2, true, LinearRole::Head);
}

void BridgeTowerNet::bindMlmHead(WeightBinder &b) {
    const int64_t H = m_config.hiddenSize;
    m_mlmDense.bind(b, "mlm_score.transform.dense", H, H, true, LinearRole::Head);
    m_mlmNorm.bind(b, "mlm_score.transform.LayerNorm", H, m_config.layerNormEps);
    m_mlmDecoder.bind(b, "mlm_score.decoder", H, m_config.text.vocabSize, /*withBias=*/false,
                      LinearRole::Head);
    m_mlmDecoder.bias = b.take("mlm_score.bias", {m_config.text.vocabSize});
}

BridgeTowerNet::TextTower BridgeTowerNet::textTower(const at::Tensor &inputIds,
                                                    const at::Tensor &attentionMask, bool fusion,
                                                    Trace *trace) const {
    materialize(Part::TextTower);
    const int64_t pad = m_config.text.padTokenId;
    // RoBERTa positions: padding keeps pad_token_id, real tokens count up from pad_token_id + 1.
    const at::Tensor notPad = inputIds.ne(pad).to(at::kLong);
    const at::Tensor positions = at::cumsum(notPad, 1) * notPad + pad;
    at::Tensor x = at::embedding(m_wordEmbeddings, inputIds) + m_tokenTypeEmbeddingsText[0] +
                   at::embedding(m_positionEmbeddings, positions);
    x = m_textEmbeddingsNorm(x);
    if (trace)
        trace->text.push_back(x);

    TextTower out;
    out.extendedMask = extendedAttentionMask(attentionMask);
    const int split = m_config.splitIndex();
    const int layers = m_config.text.numHiddenLayers;
    for (int i = 0; i < layers; ++i) {
        x = m_textLayers[size_t(i)](x, out.extendedMask);
        if (trace)
            trace->text.push_back(x);
        if (fusion && i >= split - 1)
            out.fusionInputs.push_back(m_crossTextTransform(x) + m_tokenTypeEmbeddings[0]);
    }
    out.lastHidden = x;
    return out;
}

BridgeTowerNet::VisionTower BridgeTowerNet::visionTower(const at::Tensor &pixelValues,
                                                        Trace *trace) const {
    materialize(Part::VisionTower);
    const int64_t B = pixelValues.size(0);
    const int64_t D = m_config.vision.hiddenSize;
    const at::Tensor patches =
        at::conv2d(pixelValues, m_patchEmbedding, {}, m_config.vision.patchSize)
            .flatten(2)
            .transpose(1, 2);
    at::Tensor x = at::cat({m_classEmbedding.view({1, 1, D}).expand({B, 1, D}), patches}, 1) +
                   m_visionPositionEmbedding.unsqueeze(0);
    x = m_lnPre(x);
    if (trace)
        trace->imageLND.push_back(x.permute({1, 0, 2}));

    VisionTower out;
    const int split = m_config.splitIndex();
    const at::Tensor imageType = m_tokenTypeEmbeddings[1];
    for (int i = 0; i < m_config.text.numHiddenLayers; ++i) {
        x = m_visionBlocks[size_t(i)](x);
        if (trace)
            trace->imageLND.push_back(x.permute({1, 0, 2}));
        if (i >= split - 1)
            out.fusionInputs.push_back(m_crossImageTransform(m_lnPost(x)) + imageType);
    }
    return out;
}

BridgeTowerNet::CrossModal BridgeTowerNet::crossModal(const TextTower &text,
                                                      const VisionTower &vision, Trace *trace,
                                                      CrossOutputs outputs) const {
    materialize(Part::CrossModal);
    // Every image token is attended to: Hugging Face's image mask is all zeros, and adding zeros
    // to each attention score changes nothing, so there is no image mask at all.
    const at::Tensor imageMask;
    const at::Tensor &textMask = text.extendedMask;
    const size_t last = m_crossTextLayers.size() - 1;

    // Runs cross-modal layer k on its inputs (t, v): each side reads the OTHER side's value from
    // before this step. Only the last layer is trimmed to what the heads read.
    at::Tensor crossText, crossImage;
    auto layer = [&](size_t k, const at::Tensor &t, const at::Tensor &v) {
        const bool trimmed = k == last && outputs != CrossOutputs::All;
        const bool pooledOnly = trimmed && outputs == CrossOutputs::Pooled;
        crossText = m_crossTextLayers[k](t, v, textMask, imageMask,
                                         pooledOnly ? t.narrow(1, 0, 1) : at::Tensor());
        if (!trimmed)
            crossImage = m_crossImageLayers[k](v, t, imageMask, textMask);
        else if (pooledOnly)
            crossImage = m_crossImageLayers[k](v, t, imageMask, textMask, v.narrow(1, 0, 1));
        else
            crossImage = at::Tensor(); // TextSide: nothing reads the image side of the last layer
        if (trace) {
            trace->crossText.push_back(crossText);
            trace->crossImage.push_back(crossImage);
        }
    };
    // Entry: both sides are LayerNormed.
    const at::Tensor t0 = m_crossTextNorm(text.fusionInputs[0]);
    const at::Tensor v0 = m_crossImageNorm(vision.fusionInputs[0]);
    layer(0, t0, v0);
    for (size_t k = 0; k < m_textLinkTowers.size(); ++k) {
        // Bridge layers: no LayerNorm on the fusion inputs here, only inside the link tower.
        const at::Tensor t = m_textLinkTowers[k](text.fusionInputs[k + 1], crossText);
        const at::Tensor v = m_imageLinkTowers[k](vision.fusionInputs[k + 1], crossImage);
        layer(k + 1, t, v);
    }
    CrossModal out;
    out.textFeatures = crossText;
    out.imageFeatures = crossImage;
    if (outputs != CrossOutputs::TextSide)
        out.pooler = at::cat({at::tanh(m_textPooler(crossText.select(1, 0))),
                              at::tanh(m_imagePooler(crossImage.select(1, 0)))},
                             -1);
    return out;
}

at::Tensor BridgeTowerNet::textEmbeds(const TextTower &text) const {
    materialize(Part::ContrastiveHead);
    return l2normalize(m_itcText(text.lastHidden.select(1, 0)));
}

at::Tensor BridgeTowerNet::imageEmbeds(const VisionTower &vision) const {
    materialize(Part::ContrastiveHead);
    return l2normalize(m_itcImage(vision.fusionInputs.back().select(1, 0)));
}

at::Tensor BridgeTowerNet::crossEmbeds(const CrossModal &cross) const {
    materialize(Part::ContrastiveHead);
    return l2normalize(m_itcCross(cross.pooler));
}

at::Tensor BridgeTowerNet::itmLogits(const CrossModal &cross) const {
    materialize(Part::ItmHead);
    return m_itm(cross.pooler);
}

at::Tensor BridgeTowerNet::mlmLogits(const CrossModal &cross, const at::Tensor &positions) const {
    materialize(Part::MlmHead);
    // The head works row by row, so selecting the rows first gives the same numbers.
    const at::Tensor rows =
        positions.defined() ? cross.textFeatures.index_select(1, positions) : cross.textFeatures;
    return m_mlmDecoder(m_mlmNorm(activation(m_config.hiddenAct, m_mlmDense(rows))));
}

std::vector<Linear *> BridgeTowerNet::allLinears() {
    std::vector<Linear *> out;
    auto add = [&out](Linear &l) { out.push_back(&l); };
    for (BertLayer &l : m_textLayers)
        l.forEachLinear(add);
    for (VisionBlock &b : m_visionBlocks)
        b.forEachLinear(add);
    for (BertCrossLayer &l : m_crossTextLayers)
        l.forEachLinear(add);
    for (BertCrossLayer &l : m_crossImageLayers)
        l.forEachLinear(add);
    for (Linear *l : {&m_crossTextTransform, &m_crossImageTransform, &m_textPooler, &m_imagePooler,
                      &m_itcText, &m_itcImage, &m_itcCross, &m_itm, &m_mlmDense, &m_mlmDecoder})
        out.push_back(l);
    return out;
}

std::vector<const Linear *> BridgeTowerNet::linears() const {
    const std::vector<Linear *> all = const_cast<BridgeTowerNet *>(this)->allLinears();
    return {all.begin(), all.end()};
}

template <typename F> void BridgeTowerNet::forEachLinearOf(Part part, F &&f) {
    switch (part) {
    case Part::TextTower:
        for (BertLayer &l : m_textLayers)
            l.forEachLinear(f);
        f(m_crossTextTransform); // makes the text side's fusion inputs
        return;
    case Part::VisionTower:
        for (VisionBlock &b : m_visionBlocks)
            b.forEachLinear(f);
        f(m_crossImageTransform);
        return;
    case Part::CrossModal:
        for (BertCrossLayer &l : m_crossTextLayers)
            l.forEachLinear(f);
        for (BertCrossLayer &l : m_crossImageLayers)
            l.forEachLinear(f);
        f(m_textPooler);
        f(m_imagePooler);
        return;
    case Part::ContrastiveHead:
        f(m_itcText);
        f(m_itcImage);
        f(m_itcCross);
        return;
    case Part::ItmHead:
        f(m_itm);
        return;
    case Part::MlmHead:
        f(m_mlmDense);
        f(m_mlmDecoder);
        return;
    }
}

void BridgeTowerNet::setPrecision(Precision precision, std::vector<MappedRange> mapped) {
    m_precision = precision;
    m_mapped = std::move(mapped);
}

void BridgeTowerNet::materialize(Part part) const {
    if (isMaterialized(part))
        return;
    const std::lock_guard lock(m_materializeMutex);
    if (isMaterialized(part))
        return;
    // The net is never created const (BridgeTowerModel owns it); a forward pass is const to its
    // callers, and this one-time preparation is invisible to them.
    const_cast<BridgeTowerNet *>(this)->convert(part);
    m_materialized[size_t(part)].store(true, std::memory_order_release);
}

void BridgeTowerNet::materializeAll() const {
    for (size_t p = 0; p < kPartCount; ++p)
        materialize(Part(p));
}

void BridgeTowerNet::convert(Part part) {
    // Plain tensors, whatever mode the forward pass that got here runs in: weights outlive it.
    c10::InferenceMode notInference(false);
    const bool autocast = at::autocast::is_cpu_enabled();
    at::autocast::set_cpu_enabled(false);
    struct Restore {
        bool was;
        ~Restore() { at::autocast::set_cpu_enabled(was); }
    } restore{autocast};

    // Pages are given back every 64 MB of converted weights, so converting a part never holds
    // much more than its converted copy; not after every tensor, because reading the next tensor
    // would let the kernel map the just-released neighbouring pages again (fault-around).
    std::vector<at::Tensor> replaced;
    size_t replacedBytes = 0;
    auto giveBack = [&] {
        for (const at::Tensor &t : replaced) {
            const size_t bytes = size_t(t.nbytes());
            for (const MappedRange &m : m_mapped)
                if (m.contains(t.data_ptr(), bytes)) {
                    releaseMappedPages(t.data_ptr(), bytes);
                    break;
                }
        }
        replaced.clear();
        replacedBytes = 0;
    };
    forEachLinearOf(part, [&](Linear &l) {
        const at::Tensor weight = l.weight, bias = l.bias;
        l.prepareFor(m_precision);
        // A tensor whose bytes the layer no longer points at was converted into a copy.
        auto converted = [&](const at::Tensor &before, const at::Tensor &after) {
            if (before.defined() && !(after.defined() && after.has_storage() &&
                                      after.data_ptr() == before.data_ptr())) {
                replaced.push_back(before);
                replacedBytes += size_t(before.nbytes());
            }
        };
        converted(weight, l.weight);
        converted(bias, l.bias);
        if (replacedBytes >= (size_t(64) << 20))
            giveBack();
    });
    giveBack();
}

at::Tensor BridgeTowerNet::stackFusion(const VisionTower &vision) {
    return at::stack(vision.fusionInputs, 1);
}

BridgeTowerNet::VisionTower BridgeTowerNet::unstackFusion(const at::Tensor &stacked) {
    VisionTower v;
    for (const at::Tensor &t : stacked.unbind(1))
        v.fusionInputs.push_back(t);
    return v;
}

} // namespace ts::internal
