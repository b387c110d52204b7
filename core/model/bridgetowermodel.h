#pragma once

#include "core/common/floattensor.h"
#include "core/common/modelheads.h"
#include "core/common/precision.h"
#include "core/common/result.h"
#include "core/common/tokenbatch.h"
#include "core/model/bridgetowerconfig.h"

#include <QString>
#include <QStringList>

#include <memory>
#include <vector>

namespace ts {

namespace internal {
class BridgeTowerNet;
struct CheckpointWeights;
} // namespace internal

struct ModelLoadOptions {
    unsigned requiredHeads = kHeadNone; // loading fails unless every one of these heads is usable
    Precision precision = Precision::Float32;
};

struct ModelInfo {
    QString directory;
    QString weightsFile;
    QString storedDtypes;       // e.g. "F16" or "F32, I64"
    qint64 parameterCount = 0;  // of the tensors the model uses
    unsigned heads = kHeadNone; // heads usable
    QStringList
        headProblems; // why a head present in part, or unsupported by the config, is unusable
    QStringList
        unusedKeys; // tensors in the file the model never reads (buffers such as position_ids,
                    // heads of other classes or that could not be loaded), sorted; ignored
};

// A caption that has been through the text tower, ready to be matched against any number of photos
// (BridgeTowerModel::prepareText). The text tower does not depend on the photo, so a rerank runs it
// once per query instead of once per photo. Opaque (no torch types here), immutable, cheap to copy,
// usable from several threads at once; only the model that prepared it accepts it.
class PreparedText {
public:
    bool isNull() const { return !d; }
    // The caption's contrastive (search) embedding from the same pass, [1, C], L2-normalised;
    // empty when the model has no contrastive head.
    const FloatTensor &embedding() const;
    // Memory it holds (for caches that keep prepared captions), in bytes.
    qint64 byteSize() const;

private:
    friend class BridgeTowerModel;
    struct Impl;
    std::shared_ptr<const Impl> d;
};

// BridgeTower (Hugging Face's BridgeTowerModel and its contrastive, ITM and MLM heads) on LibTorch,
// loaded from a Hugging Face checkpoint folder: config.json plus model.safetensors (preferred,
// memory-mapped) or pytorch_model.bin.
//
// All inputs and outputs are plain float/int arrays; pixel values come from ImageProcessor
// ([B, 3, S, S] with S = config().vision.imageSize), token batches from the Tokenizer.
// Thread-safety: after load() the model is immutable; every const method may be called from
// several threads at once. Each call runs under inference mode with the process-wide thread count
// (setThreadCount). Errors (bad shapes, too many tokens, missing head) come back as ts::Error,
// never as exceptions.
class BridgeTowerModel {
public:
    static Result<std::unique_ptr<BridgeTowerModel>> load(const QString &directory,
                                                          const ModelLoadOptions &options = {});
    // Builds the model from tensors already in memory (benchmarks build random real-size models
    // this way); load() is config.json + the weights file + this.
    static Result<std::unique_ptr<BridgeTowerModel>>
    fromWeights(const BridgeTowerConfig &config, const internal::CheckpointWeights &weights,
                const QString &directory, const ModelLoadOptions &options = {});
    ~BridgeTowerModel();
    BridgeTowerModel(const BridgeTowerModel &) = delete;
    BridgeTowerModel &operator=(const BridgeTowerModel &) = delete;

    const BridgeTowerConfig &config() const;
    const ModelInfo &info() const;
    Precision precision() const;
    bool has(ModelHead head) const { return (info().heads & head) != 0; }
    // Longest token sequence (with <s> and </s>) the position embeddings allow.
    int maxTextTokens() const;
    int imageSize() const { return config().vision.imageSize; }
    // Dimension of the contrastive embeddings (0 without the contrastive head).
    int embeddingDimension() const;
    float logitScale() const; // the learned temperature (not exponentiated); 0 without the head

    // Two-tower embeddings, L2-normalised, [B, C]. embedText runs only the text tower;
    // embedImages only the vision tower. `fusionOut`, when given, receives the vision-side inputs
    // of the cross-modal layers for each image ([B, Lc, tokens, H]) so a later rerank can skip
    // the vision tower (see imageTextMatchingFromFusion).
    Result<FloatTensor> embedText(const TokenBatch &tokens) const;
    Result<FloatTensor> embedImages(const FloatTensor &pixelValues,
                                    FloatTensor *fusionOut = nullptr) const;
    // Only the vision-side cross-modal inputs, [B, Lc, tokens, H].
    Result<FloatTensor> visionFusionInputs(const FloatTensor &pixelValues) const;

    // ITM logits [B, 2] (index 1 = match). A batch of one text is broadcast over B images.
    Result<FloatTensor> imageTextMatching(const TokenBatch &tokens,
                                          const FloatTensor &pixelValues) const;
    Result<FloatTensor> imageTextMatchingFromFusion(const TokenBatch &tokens,
                                                    const FloatTensor &fusionInputs) const;

    // One caption ([1, T] tokens) through the text tower, once: its search embedding and the text
    // side of the cross-modal layers. Then ITM of that caption against B photos' cached vision
    // features [B, Lc, tokens, H] runs only the cross-modal layers, all B photos in one pass.
    Result<PreparedText> prepareText(const TokenBatch &tokens) const;
    Result<FloatTensor> imageTextMatchingFromFusion(const PreparedText &text,
                                                    const FloatTensor &fusionInputs) const;

    // MLM logits [B, T, V] over every position, or [B, P, V] at `positions` only (indices into the
    // caption's tokens: fill-mask needs the 50265-word decoder only at its blanks). A batch of one
    // text is broadcast over B images. FromFusion takes cached vision features instead of pixels.
    Result<FloatTensor> maskedLmLogits(const TokenBatch &tokens, const FloatTensor &pixelValues,
                                       const std::vector<int64_t> &positions = {}) const;
    Result<FloatTensor> maskedLmLogitsFromFusion(const TokenBatch &tokens,
                                                 const FloatTensor &fusionInputs,
                                                 const std::vector<int64_t> &positions = {}) const;

    struct ContrastiveOutput {
        FloatTensor textEmbeds, imageEmbeds, crossEmbeds; // [B, C] each, normalised
    };
    // BridgeTowerForContrastiveLearning on B pairs (text i with image i).
    Result<ContrastiveOutput> contrastive(const TokenBatch &tokens,
                                          const FloatTensor &pixelValues) const;

    // Sets LibTorch's intra-op thread count for the whole process (it starts at 1 here). Any
    // thread may call it at any time; it applies to the next forward pass on every thread, also
    // on threads that already ran the model. threadCount() is the calling thread's current count.
    static void setThreadCount(int threads);
    static int threadCount();
    // Which BLAS/threading LibTorch runs on, for `inspect` and bug reports.
    static QString runtimeInfo();

    // How many forward passes of each tower this model has run (each call counts once, whatever
    // its batch): lets tests and benchmarks check that work is not repeated. Thread-safe.
    struct TowerRuns {
        qint64 text = 0;
        qint64 vision = 0;
    };
    TowerRuns towerRuns() const;

    // For the parity tests only: the network itself (torch-typed, see internal/bridgetowernet.h).
    const internal::BridgeTowerNet &net() const;

private:
    BridgeTowerModel();
    struct Impl;
    std::unique_ptr<Impl> d;
};

} // namespace ts
