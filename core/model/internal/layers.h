#pragma once

// Building blocks of BridgeTower as plain functions over weight tensors (no torch::nn modules):
// loading stays explicit (every key is bound by name and shape, see WeightBinder) and the
// model TU compiles against <ATen/ATen.h> only.

#include "core/model/bridgetowerconfig.h"
#include "core/model/precision.h"

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace ts::internal {

// Binds checkpoint tensors to the model by name and expected shape, collecting every problem
// (missing key, wrong shape) instead of failing at the first, so one error can list them all.
class WeightBinder {
public:
    explicit WeightBinder(const std::map<std::string, at::Tensor> &tensors) : m_tensors(tensors) {}

    // Returns the tensor as contiguous float32 (F16/BF16 promoted), or an undefined tensor
    // after recording the problem. `shape` empty with `scalar` true means a 0-dim tensor.
    at::Tensor take(const std::string &name, std::vector<int64_t> shape);

    bool has(const std::string &name) const { return m_tensors.count(name) != 0; }
    const std::vector<std::string> &missing() const { return m_missing; }
    const std::vector<std::string> &misshaped() const { return m_misshaped; }
    const std::vector<std::string> &used() const { return m_used; }
    // Every name asked for, with the shape expected (found or not): what a checkpoint for this
    // config must hold (tests write synthetic checkpoints of any size from it).
    const std::map<std::string, std::vector<int64_t>> &expectedShapes() const { return m_expected; }
    bool ok() const { return m_missing.empty() && m_misshaped.empty(); }
    // Forgets problems and uses recorded since `mark` (to try an optional head and roll back).
    size_t problemCount() const { return m_missing.size() + m_misshaped.size(); }

    void setPrecision(at::ScalarType t) { m_dtype = t; }

private:
    const std::map<std::string, at::Tensor> &m_tensors;
    std::vector<std::string> m_missing;
    std::vector<std::string> m_misshaped;
    std::vector<std::string> m_used;
    std::map<std::string, std::vector<int64_t>> m_expected;
    at::ScalarType m_dtype = at::kFloat;
};

struct Linear {
    at::Tensor weight, bias; // bias may be undefined
    void bind(WeightBinder &b, const std::string &prefix, int64_t in, int64_t out, bool withBias = true);
    // The one place where a precision decides how a Linear keeps its weights (called once per
    // layer, when the forward pass first needs its part; see BridgeTowerNet::materialize).
    void prepareFor(Precision precision);
    at::Tensor operator()(const at::Tensor &x) const { return at::linear(x, weight, bias); }
};

struct LayerNorm {
    at::Tensor weight, bias;
    double eps = 1e-5;
    void bind(WeightBinder &b, const std::string &prefix, int64_t dim, double epsilon);
    at::Tensor operator()(const at::Tensor &x) const {
        return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
    }
};

// Hugging Face's ACT2FN by name ("gelu" is the exact erf form).
at::Tensor activation(const std::string &name, const at::Tensor &x);

// Additive attention mask from a 0/1 mask [B,T]: (1 - m)[:, None, None, :] * float32 min.
at::Tensor extendedAttentionMask(const at::Tensor &mask01);

// BERT attention block: self- or cross-attention followed by dense + residual + post-LayerNorm.
struct BertAttention {
    Linear query, key, value, outDense;
    LayerNorm outNorm;
    int64_t heads = 1;
    void bind(WeightBinder &b, const std::string &prefix, int64_t hidden, int64_t numHeads, double eps);
    // keyValue undefined -> self-attention over x with `mask`; else cross-attention over keyValue with `mask`.
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &mask, const at::Tensor &keyValue = {}) const;
    template <typename F> void forEachLinear(F &&f) { f(query); f(key); f(value); f(outDense); }
};

// RoBERTa encoder layer (post-LN).
struct BertLayer {
    BertAttention attention;
    Linear intermediate, output;
    LayerNorm outputNorm;
    std::string act;
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerTextConfig &c);
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &mask) const;
    template <typename F> void forEachLinear(F &&f) { attention.forEachLinear(f); f(intermediate); f(output); }
};

// BridgeTowerBertCrossLayer: self-attention, cross-attention to the other modality, FFN.
struct BertCrossLayer {
    BertAttention attention, crossAttention;
    Linear intermediate, output;
    LayerNorm outputNorm;
    std::string act;
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerTextConfig &c);
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &other, const at::Tensor &selfMask,
                          const at::Tensor &otherMask) const;
    template <typename F> void forEachLinear(F &&f) {
        attention.forEachLinear(f);
        crossAttention.forEachLinear(f);
        f(intermediate);
        f(output);
    }
};

// CLIP residual attention block (pre-LN, nn.MultiheadAttention with hidden/64 heads, QuickGELU).
struct VisionBlock {
    LayerNorm ln1, ln2;
    Linear inProj, outProj, fc, proj;
    int64_t heads = 1;
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerVisionConfig &c);
    at::Tensor operator()(const at::Tensor &x) const; // x: [B, L, D] (batch first)
    template <typename F> void forEachLinear(F &&f) { f(inProj); f(outProj); f(fc); f(proj); }
};

struct LinkTower {
    LinkTowerType type = LinkTowerType::Add;
    LayerNorm norm;
    at::Tensor scaledFactor; // scaled_add
    at::Tensor beta;         // interpolate
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerConfig &c);
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &crossModal) const;
};

} // namespace ts::internal
