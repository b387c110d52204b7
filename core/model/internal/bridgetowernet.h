#pragma once

#include "core/model/bridgetowerconfig.h"
#include "core/model/internal/checkpointweights.h"
#include "core/model/internal/layers.h"

#include <ATen/ATen.h>

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ts::internal {

// The whole BridgeTower network as Hugging Face computes it (see tests/data/model/NOTES.md).
//
// The forward pass is factored around one observation: the text tower and the vision tower are
// independent of each other; only the cross-modal layers mix them. So each tower produces its
// "fusion inputs" (one per cross-modal layer), and the cross-modal part consumes them. This gives
// the two-tower embeddings without running anything else, and lets a caller cache the vision
// side of a photo and rerank it against many queries running only text + cross-modal layers.
//
// Parts are materialized on first use: bind() only checks names and shapes and keeps the stored
// tensors (zero-copy views of the mapped file); the first forward pass that needs a part prepares
// its Linear layers for the precision (Linear::prepareFor), once, under a lock, and gives the
// float32 pages it converted from back to the kernel. A process holds only the parts its work runs
// (indexing never touches the text tower or the cross-modal layers).
class BridgeTowerNet {
public:
    enum class Part { TextTower, VisionTower, CrossModal, ContrastiveHead, ItmHead, MlmHead };
    static constexpr size_t kPartCount = 6;

    // Binds every weight the base model needs, plus the heads found in the checkpoint.
    // `prefix` is "bridgetower." for the heads' union file (the released layout) or "" for a bare
    // model.
    void bind(WeightBinder &binder, const BridgeTowerConfig &config, const std::string &prefix);
    // Heads are bound separately so that a broken or absent head does not stop the others.
    void bindContrastiveHead(WeightBinder &binder);
    void bindItmHead(WeightBinder &binder);
    void bindMlmHead(WeightBinder &binder);
    void setHeads(bool contrastive, bool itm, bool mlm) {
        m_hasContrastive = contrastive;
        m_hasItm = itm;
        m_hasMlm = mlm;
    }

    bool hasContrastive() const { return m_hasContrastive; }
    bool hasItm() const { return m_hasItm; }
    bool hasMlm() const { return m_hasMlm; }
    const BridgeTowerConfig &config() const { return m_config; }

    // Hidden states as Hugging Face's output_hidden_states returns them (for parity tests).
    struct Trace {
        std::vector<at::Tensor> text;     // embeddings, then after each text layer (B,T,Ht)
        std::vector<at::Tensor> imageLND; // after ln_pre, then after each vision block run (L,B,Hv)
        std::vector<at::Tensor> crossText; // after each cross-modal layer (B,T,H)
        std::vector<at::Tensor> crossImage;
    };

    struct TextTower {
        at::Tensor lastHidden; // output of the last text layer (B,T,Ht)
        std::vector<at::Tensor>
            fusionInputs; // text_transform(t_i) + token_type[0], one per cross-modal layer
        at::Tensor extendedMask;
    };
    struct VisionTower {
        std::vector<at::Tensor> fusionInputs; // image_transform(ln_post(v_i)) + token_type[1], one
                                              // per cross-modal layer
    };
    struct CrossModal {
        // (B,T,H), (B,L,H), (B,2H) with CrossOutputs::All. Pooled: (B,1,H) each (the CLS rows) and
        // the pooler. TextSide: textFeatures only.
        at::Tensor textFeatures, imageFeatures, pooler;
    };
    // What the caller's heads read of the last cross-modal layer; the rest of that layer is not
    // computed (every earlier layer is needed whole: each row attends to all rows of both sides).
    enum class CrossOutputs {
        All,      // every row of both sides (parity tests, traces)
        Pooled,   // only the CLS rows the poolers read (ITM, the contrastive cross embedding)
        TextSide, // only the text side (MLM): the image side of the last layer is skipped
    };

    TextTower textTower(const at::Tensor &inputIds, const at::Tensor &attentionMask, bool fusion,
                        Trace *trace = nullptr) const;
    // Runs only the first Lt vision blocks (the rest are never used by BridgeTower).
    VisionTower visionTower(const at::Tensor &pixelValues, Trace *trace = nullptr) const;
    CrossModal crossModal(const TextTower &text, const VisionTower &vision, Trace *trace = nullptr,
                          CrossOutputs outputs = CrossOutputs::All) const;

    // Heads. Embeddings are L2-normalised.
    at::Tensor textEmbeds(const TextTower &text) const;
    at::Tensor imageEmbeds(const VisionTower &vision) const;
    at::Tensor crossEmbeds(const CrossModal &cross) const;
    at::Tensor itmLogits(const CrossModal &cross) const;
    // Vocabulary logits (B,T,V), or (B,P,V) at `positions` only (a long tensor of token indices):
    // the decoder is the costliest part of the head (H x 50265), so fill-mask runs it at the
    // blanks.
    at::Tensor mlmLogits(const CrossModal &cross, const at::Tensor &positions = {}) const;
    const at::Tensor &logitScale() const { return m_logitScale; }

    // The precision parts are materialized in, and the file mappings the bound tensors may point
    // into (a converted tensor's pages there are given back). Call after binding, before any
    // forward.
    void setPrecision(Precision precision, std::vector<MappedRange> mapped = {});
    Precision precision() const { return m_precision; }
    // Prepares `part`'s weights for the precision if no forward pass did yet. Thread-safe; forward
    // passes call it themselves. Throws (c10::Error) if the precision cannot be prepared.
    void materialize(Part part) const;
    bool isMaterialized(Part part) const {
        return m_materialized[size_t(part)].load(std::memory_order_acquire);
    }
    // Every part at once (benchmarks that want load-time conversion out of their timings).
    void materializeAll() const;
    // Every Linear layer (towers, cross-modal part, heads), for tests and reports.
    std::vector<const Linear *> linears() const;

    // Stacks/unstacks fusion inputs as one (B, Lc, L, H) tensor for caching.
    static at::Tensor stackFusion(const VisionTower &vision);
    static VisionTower unstackFusion(const at::Tensor &stacked);

private:
    std::vector<Linear *> allLinears();
    template <typename F> void forEachLinearOf(Part part, F &&f);
    void convert(Part part); // under m_materializeMutex

    Precision m_precision = Precision::Float32;
    std::vector<MappedRange> m_mapped;
    mutable std::mutex m_materializeMutex;
    mutable std::array<std::atomic<bool>, kPartCount> m_materialized{};

    BridgeTowerConfig m_config;
    bool m_hasContrastive = false, m_hasItm = false, m_hasMlm = false;

    // Text tower (RoBERTa).
    at::Tensor m_wordEmbeddings, m_positionEmbeddings, m_tokenTypeEmbeddingsText;
    LayerNorm m_textEmbeddingsNorm;
    std::vector<BertLayer> m_textLayers;

    // Vision tower (CLIP ViT).
    at::Tensor m_patchEmbedding, m_classEmbedding, m_visionPositionEmbedding;
    LayerNorm m_lnPre, m_lnPost;
    std::vector<VisionBlock> m_visionBlocks;

    // Cross-modal part.
    Linear m_crossTextTransform, m_crossImageTransform;
    at::Tensor m_tokenTypeEmbeddings; // (2, H): 0 text, 1 image
    LayerNorm m_crossTextNorm, m_crossImageNorm;
    std::vector<BertCrossLayer> m_crossTextLayers, m_crossImageLayers;
    std::vector<LinkTower> m_textLinkTowers, m_imageLinkTowers;
    Linear m_textPooler, m_imagePooler;

    // Heads.
    Linear m_itcText, m_itcImage, m_itcCross;
    at::Tensor m_logitScale;
    Linear m_itm;
    Linear m_mlmDense;
    LayerNorm m_mlmNorm;
    Linear m_mlmDecoder;
};

} // namespace ts::internal
