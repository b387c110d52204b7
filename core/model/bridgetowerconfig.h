#pragma once

#include "core/common/result.h"

#include <QString>

#include <optional>
#include <string>

namespace ts {

// BridgeTower's config.json, with Hugging Face's defaults for absent keys (BridgeTowerConfig,
// BridgeTowerTextConfig, BridgeTowerVisionConfig in transformers 4.47). Torch-free, so the CLI and
// the UI can show a checkpoint's architecture without loading weights.
struct BridgeTowerTextConfig {
    int vocabSize = 50265;
    int hiddenSize = 768;
    int numHiddenLayers = 12;
    int numAttentionHeads = 12;
    int intermediateSize = 3072;
    std::string hiddenAct = "gelu";
    int maxPositionEmbeddings = 514;
    int typeVocabSize = 1;
    double layerNormEps = 1e-5;
    int padTokenId = 1;
    int bosTokenId = 0;
    int eosTokenId = 2;
    std::string positionEmbeddingType = "absolute";
};

struct BridgeTowerVisionConfig {
    int hiddenSize = 768;
    int numHiddenLayers = 12;
    int numChannels = 3;
    int patchSize = 16;
    int imageSize = 288;
    double layerNormEps = 1e-5;
    bool stopGradient = false;
    bool shareLayernorm = true;
    bool removeLastLayer = false;

    // nn.MultiheadAttention(hidden, hidden // 64): not a config field in Hugging Face.
    int numAttentionHeads() const { return hiddenSize / 64; }
    int patchesPerSide() const { return patchSize > 0 ? imageSize / patchSize : 0; }
    int numTokens() const { return patchesPerSide() * patchesPerSide() + 1; }
};

enum class LinkTowerType { Add, ScaledAdd, Interpolate };

struct BridgeTowerConfig {
    bool shareCrossModalTransformerLayers = true;
    std::string hiddenAct = "gelu";
    int hiddenSize = 768;
    double initializerFactor = 1.0;
    double layerNormEps = 1e-5;
    bool shareLinkTowerLayers = false;
    LinkTowerType linkTowerType = LinkTowerType::Add;
    int numAttentionHeads = 12; // unused by the forward pass
    int numHiddenLayers = 6;    // cross-modal layers
    bool tieWordEmbeddings = false;
    bool initLayernormFromVisionEncoder = false;
    std::optional<int> contrastiveHiddenSize;  // no default: required for the contrastive head
    std::optional<double> logitScaleInitValue; // no default
    BridgeTowerTextConfig text;
    BridgeTowerVisionConfig vision;

    // First text/vision layer index that feeds a bridge (link tower): Lt - Lc + 1.
    int splitIndex() const { return text.numHiddenLayers - numHiddenLayers + 1; }

    // Parses config.json. Fails with the file name on unreadable/invalid JSON or a key of the wrong
    // type.
    static Result<BridgeTowerConfig> load(const QString &configJsonPath);
    static Result<BridgeTowerConfig> fromJsonText(const QByteArray &json,
                                                  const QString &sourceName);

    // Checks that the model can be built and run; names the offending setting when not
    // (configs that Hugging Face accepts but cannot run are rejected here, never crash later).
    Status validate() const;

    // Whether the contrastive head can run with this config; the Error (Code::Model) says why not.
    Status contrastiveHeadSupport() const;

    QString linkTowerTypeName() const;
    // One-paragraph human description for `inspect`.
    QString describe() const;
};

} // namespace ts
