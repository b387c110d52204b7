#pragma once

// Building blocks of BridgeTower as plain functions over weight tensors (no torch::nn modules):
// loading stays explicit (every key is bound by name and shape, see WeightBinder) and the
// model TU compiles against <ATen/ATen.h> only.

#include "core/common/precision.h"
#include "core/model/bridgetowerconfig.h"

#include <ATen/ATen.h>
#include <ATen/native/quantized/PackedParams.h>

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

    void setPrecision(at::ScalarType t) { m_dtype = t; }

private:
    const std::map<std::string, at::Tensor> &m_tensors;
    std::vector<std::string> m_missing;
    std::vector<std::string> m_misshaped;
    std::vector<std::string> m_used;
    std::map<std::string, std::vector<int64_t>> m_expected;
    at::ScalarType m_dtype = at::kFloat;
};

// What a Linear is for. Tower layers run in the chosen precision; heads (the ITC/ITM/MLM
// projections and the poolers) stay float32 under int8: they are a small part of the work and
// their outputs are the results, so they are not worth an error there.
enum class LinearRole { Tower, Head };

struct Linear {
    // Float32 (bfloat16 after prepareFor); bias may be undefined; both undefined once packed.
    at::Tensor weight, bias;
    // After prepareFor(Int8): the weights in int8 per output channel, packed for oneDNN, with
    // the float32 bias.
    c10::intrusive_ptr<LinearPackedParamsBase> int8;
    // Quantize activations to 7 bits: CPUs without VNNI saturate 8-bit u8 x s8 products.
    bool int8ReduceRange = false;
    LinearRole role = LinearRole::Tower;
    std::string name; // the checkpoint key prefix, for reports (LinearInputRanges)

    void bind(WeightBinder &b, const std::string &prefix, int64_t in, int64_t out,
              bool withBias = true, LinearRole linearRole = LinearRole::Tower);
    // The one place where a precision decides how a Linear keeps its weights (called once per
    // layer, when the forward pass first needs its part; see BridgeTowerNet::materialize). Int8
    // quantizes a tower layer's weights per output channel and drops every float copy; it throws a
    // c10::Error saying why when this LibTorch or CPU cannot run int8 (the model load checks
    // int8EngineSupport first, so that surfaces as a load Error).
    void prepareFor(Precision precision);
    // Float32 input for int8 layers (activations are quantized per call, per tensor).
    at::Tensor operator()(const at::Tensor &x) const;
};

// Whether int8 layers can run with these LibTorch quantized engines: they need oneDNN's engine
// (Debian's LibTorch has it; fbgemm is not built there). The Error (Code::Model) names the engines
// there are and what to choose instead.
Status int8EngineSupport(const std::vector<at::QEngine> &supported);

// While alive, records the largest |x| every Linear receives on the calling thread (float32
// models: the quality report compares outlier activations of trained and random weights). One
// per thread at a time; nests by hiding the outer one. Costs one reduction per Linear call.
class LinearInputRanges {
public:
    LinearInputRanges();
    ~LinearInputRanges();
    LinearInputRanges(const LinearInputRanges &) = delete;
    LinearInputRanges &operator=(const LinearInputRanges &) = delete;
    // Linear name -> max |input| over every call seen.
    const std::map<std::string, double> &maxAbs() const { return m_maxAbs; }

private:
    friend struct Linear;
    void record(const std::string &name, const at::Tensor &x);
    std::map<std::string, double> m_maxAbs;
    LinearInputRanges *m_outer = nullptr;
};

struct LayerNorm {
    at::Tensor weight, bias;
    double eps = 1e-5;
    void bind(WeightBinder &b, const std::string &prefix, int64_t dim, double epsilon);
    // Normalises in the weights' dtype (float32): CPU autocast in LibTorch 1.13 leaves layer_norm
    // alone, so a bfloat16 activation (the output of a bfloat16 Linear with nothing float32 added,
    // as in the MLM head) would meet float32 weights and fail. Statistics in float32 are also what
    // autocast does elsewhere. A no-op in float32.
    at::Tensor operator()(const at::Tensor &x) const {
        return at::layer_norm(x.to(weight.scalar_type()), {weight.size(0)}, weight, bias, eps);
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
    void bind(WeightBinder &b, const std::string &prefix, int64_t hidden, int64_t numHeads,
              double eps);
    // keyValue undefined -> self-attention over x with `mask`; else cross-attention over keyValue
    // with `mask`.
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &mask,
                          const at::Tensor &keyValue = {}) const;
    template <typename F> void forEachLinear(F &&f) {
        f(query);
        f(key);
        f(value);
        f(outDense);
    }
};

// RoBERTa encoder layer (post-LN).
struct BertLayer {
    BertAttention attention;
    Linear intermediate, output;
    LayerNorm outputNorm;
    std::string act;
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerTextConfig &c);
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &mask) const;
    template <typename F> void forEachLinear(F &&f) {
        attention.forEachLinear(f);
        f(intermediate);
        f(output);
    }
};

// BridgeTowerBertCrossLayer: self-attention, cross-attention to the other modality, FFN.
struct BertCrossLayer {
    BertAttention attention, crossAttention;
    Linear intermediate, output;
    LayerNorm outputNorm;
    std::string act;
    void bind(WeightBinder &b, const std::string &prefix, const BridgeTowerTextConfig &c);
    // `queries`, when given, is a subset of x's rows (e.g. only the CLS row a pooler reads): the
    // layer's output is computed for those rows only, attending over all of x and `other`.
    at::Tensor operator()(const at::Tensor &x, const at::Tensor &other, const at::Tensor &selfMask,
                          const at::Tensor &otherMask, const at::Tensor &queries = {}) const;
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
    template <typename F> void forEachLinear(F &&f) {
        f(inProj);
        f(outProj);
        f(fc);
        f(proj);
    }
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
