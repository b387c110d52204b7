#include "core/model/internal/layers.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace ts::internal {

at::Tensor WeightBinder::take(const std::string &name, std::vector<int64_t> shape) {
    m_expected[name] = shape;
    const auto it = m_tensors.find(name);
    if (it == m_tensors.end()) {
        m_missing.push_back(name);
        return {};
    }
    const at::Tensor &t = it->second;
    if (t.sizes().vec() != shape) {
        std::string have = "[", want = "[";
        for (size_t i = 0; i < size_t(t.dim()); ++i)
            have += (i ? ", " : "") + std::to_string(t.size(int64_t(i)));
        for (size_t i = 0; i < shape.size(); ++i)
            want += (i ? ", " : "") + std::to_string(shape[i]);
        m_misshaped.push_back(name + " has shape " + have + "], expected " + want + "]");
        return {};
    }
    m_used.push_back(name);
    // Float checkpoints are promoted to the compute dtype (float32 unless asked otherwise);
    // integer tensors in a float slot are a broken checkpoint.
    if (!at::isFloatingType(t.scalar_type())) {
        m_misshaped.push_back(name + " has a non-floating dtype " +
                              std::string(c10::toString(t.scalar_type())));
        return {};
    }
    return t.to(m_dtype).contiguous();
}

void Linear::bind(WeightBinder &b, const std::string &prefix, int64_t in, int64_t out,
                  bool withBias, LinearRole linearRole) {
    weight = b.take(prefix + ".weight", {out, in});
    if (withBias)
        bias = b.take(prefix + ".bias", {out});
    role = linearRole;
    name = prefix;
}

Status int8EngineSupport(const std::vector<at::QEngine> &supported) {
    if (std::find(supported.begin(), supported.end(), at::kONEDNN) != supported.end())
        return Status::success();
    std::string have;
    for (const at::QEngine e : supported)
        if (e != at::kNoQEngine)
            have += (have.empty() ? "" : ", ") + c10::toString(e);
    return Error(Error::Code::Model,
                 QStringLiteral("int8 precision needs LibTorch's oneDNN quantized engine, which "
                                "this LibTorch does not have (quantized engines: %1); choose "
                                "float32 or bfloat16")
                     .arg(have.empty() ? QStringLiteral("none") : QString::fromStdString(have)));
}

namespace {

// u8 x s8 products of two neighbouring channels are summed in 16 bits without VNNI (vpmaddubsw)
// and can saturate; 7-bit activations cannot (PyTorch's reduce_range, for the same reason).
bool cpuHasVnni() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512vnni") || __builtin_cpu_supports("avxvnni");
#else
    return false;
#endif
}

c10::intrusive_ptr<LinearPackedParamsBase> packInt8(const at::Tensor &weight,
                                                    const at::Tensor &bias) {
    auto &context = at::globalContext();
    const Status engine = int8EngineSupport(context.supportedQEngines());
    TORCH_CHECK(engine.ok(), engine.error().message.toStdString()); // message built on failure only
    // quantized::linear_prepack packs for the global engine; oneDNN is the one we run.
    if (context.qEngine() != at::kONEDNN)
        context.setQEngine(at::kONEDNN);

    // Symmetric per output channel (oneDNN takes no weight zero point): scale = max|w| / 127.5,
    // as PyTorch's per-channel symmetric observer computes it.
    const at::Tensor w = weight.to(at::kFloat).contiguous();
    const at::Tensor scales = (w.abs().amax({1}).to(at::kDouble) / 127.5)
                                  .clamp_min(double(std::numeric_limits<float>::epsilon()));
    at::Tensor q =
        at::quantize_per_channel(w, scales, at::zeros({w.size(0)}, at::kLong), 0, at::kQInt8);
    // Our own float32 bias: oneDNN reads it in place, and the checkpoint's tensor may be a view of
    // the read-only file mapping that we want to let go.
    c10::optional<at::Tensor> ownBias;
    if (bias.defined())
        ownBias = bias.to(at::kFloat).clone();
    static const auto prepack = c10::Dispatcher::singleton()
                                    .findSchemaOrThrow("quantized::linear_prepack", "")
                                    .typed<c10::intrusive_ptr<LinearPackedParamsBase>(
                                        at::Tensor, c10::optional<at::Tensor>)>();
    auto packed = prepack.call(q, ownBias);
    // The packed object keeps `q` only for unpack() (serialisation), which we never call; oneDNN
    // computes from its own reordered copy. Freeing q's bytes halves the int8 weight memory.
    q.storage().unsafeGetStorageImpl()->reset();
    return packed;
}

thread_local LinearInputRanges *t_inputRanges = nullptr;

} // namespace

void Linear::prepareFor(Precision precision) {
    switch (precision) {
    case Precision::Float32:
        return;
    case Precision::BFloat16:
        // Half the bytes to stream per token, and no per-call weight casts under autocast.
        if (weight.defined())
            weight = weight.to(at::kBFloat16);
        if (bias.defined())
            bias = bias.to(at::kBFloat16);
        return;
    case Precision::Int8:
        if (role == LinearRole::Head || !weight.defined() || int8)
            return;
        int8 = packInt8(weight, bias);
        int8ReduceRange = !cpuHasVnni();
        // No float copy stays: the packed object holds the int8 weights and its own bias.
        weight = at::Tensor();
        bias = at::Tensor();
        return;
    }
}

at::Tensor Linear::operator()(const at::Tensor &x) const {
    if (t_inputRanges)
        t_inputRanges->record(name, x);
    if (int8)
        return int8->apply_dynamic(x.scalar_type() == at::kFloat ? x : x.to(at::kFloat),
                                   int8ReduceRange);
    return at::linear(x, weight, bias);
}

LinearInputRanges::LinearInputRanges() : m_outer(t_inputRanges) {
    t_inputRanges = this;
}
LinearInputRanges::~LinearInputRanges() {
    t_inputRanges = m_outer;
}

void LinearInputRanges::record(const std::string &linearName, const at::Tensor &x) {
    const double m = x.numel() ? x.abs().max().item<double>() : 0.0;
    double &slot = m_maxAbs[linearName];
    slot = std::max(slot, m);
}

void LayerNorm::bind(WeightBinder &b, const std::string &prefix, int64_t dim, double epsilon) {
    weight = b.take(prefix + ".weight", {dim});
    bias = b.take(prefix + ".bias", {dim});
    eps = epsilon;
}

at::Tensor activation(const std::string &name, const at::Tensor &x) {
    if (name == "gelu")
        return at::gelu(x);
    if (name == "gelu_new" || name == "gelu_pytorch_tanh")
        return at::gelu(x, "tanh");
    if (name == "relu")
        return at::relu(x);
    if (name == "quick_gelu")
        return x * at::sigmoid(x * 1.702);
    if (name == "tanh")
        return at::tanh(x);
    if (name == "silu" || name == "swish")
        return at::silu(x);
    TORCH_CHECK(false, "unsupported activation ",
                name); // validated in BridgeTowerConfig::validate()
}

at::Tensor extendedAttentionMask(const at::Tensor &mask01) {
    const at::Tensor m = mask01.to(at::kFloat).unsqueeze(1).unsqueeze(2);
    return (1.0 - m) * std::numeric_limits<float>::lowest();
}

void BertAttention::bind(WeightBinder &b, const std::string &prefix, int64_t hidden,
                         int64_t numHeads, double eps) {
    query.bind(b, prefix + ".self.query", hidden, hidden);
    key.bind(b, prefix + ".self.key", hidden, hidden);
    value.bind(b, prefix + ".self.value", hidden, hidden);
    outDense.bind(b, prefix + ".output.dense", hidden, hidden);
    outNorm.bind(b, prefix + ".output.LayerNorm", hidden, eps);
    heads = numHeads;
}

at::Tensor BertAttention::operator()(const at::Tensor &x, const at::Tensor &mask,
                                     const at::Tensor &keyValue) const {
    const at::Tensor &kvSource = keyValue.defined() ? keyValue : x;
    const int64_t B = x.size(0), T = x.size(1), S = kvSource.size(1), H = x.size(2);
    const int64_t d = H / heads;
    auto split = [&](const at::Tensor &t, int64_t len) {
        return t.view({B, len, heads, d}).permute({0, 2, 1, 3});
    };
    const at::Tensor q = split(query(x), T);
    const at::Tensor k = split(key(kvSource), S);
    const at::Tensor v = split(value(kvSource), S);
    at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(d));
    if (mask.defined())
        scores = scores + mask;
    const at::Tensor probs = at::softmax(scores, -1);
    const at::Tensor context =
        at::matmul(probs, v).permute({0, 2, 1, 3}).contiguous().view({B, T, H});
    return outNorm(outDense(context) + x);
}

void BertLayer::bind(WeightBinder &b, const std::string &prefix, const BridgeTowerTextConfig &c) {
    attention.bind(b, prefix + ".attention", c.hiddenSize, c.numAttentionHeads, c.layerNormEps);
    intermediate.bind(b, prefix + ".intermediate.dense", c.hiddenSize, c.intermediateSize);
    output.bind(b, prefix + ".output.dense", c.intermediateSize, c.hiddenSize);
    outputNorm.bind(b, prefix + ".output.LayerNorm", c.hiddenSize, c.layerNormEps);
    act = c.hiddenAct;
}

at::Tensor BertLayer::operator()(const at::Tensor &x, const at::Tensor &mask) const {
    const at::Tensor a = attention(x, mask);
    return outputNorm(output(activation(act, intermediate(a))) + a);
}

void BertCrossLayer::bind(WeightBinder &b, const std::string &prefix,
                          const BridgeTowerTextConfig &c) {
    attention.bind(b, prefix + ".attention", c.hiddenSize, c.numAttentionHeads, c.layerNormEps);
    crossAttention.bind(b, prefix + ".crossattention", c.hiddenSize, c.numAttentionHeads,
                        c.layerNormEps);
    intermediate.bind(b, prefix + ".intermediate.dense", c.hiddenSize, c.intermediateSize);
    output.bind(b, prefix + ".output.dense", c.intermediateSize, c.hiddenSize);
    outputNorm.bind(b, prefix + ".output.LayerNorm", c.hiddenSize, c.layerNormEps);
    act = c.hiddenAct;
}

at::Tensor BertCrossLayer::operator()(const at::Tensor &x, const at::Tensor &other,
                                      const at::Tensor &selfMask, const at::Tensor &otherMask,
                                      const at::Tensor &queries) const {
    // Self-attention of a subset of rows is attention of those rows over all of x (keys, values and
    // mask are unchanged); the residual is the subset itself.
    const at::Tensor a =
        queries.defined() ? attention(queries, selfMask, x) : attention(x, selfMask);
    const at::Tensor c = crossAttention(a, otherMask, other);
    return outputNorm(output(activation(act, intermediate(c))) + c);
}

void VisionBlock::bind(WeightBinder &b, const std::string &prefix,
                       const BridgeTowerVisionConfig &c) {
    const int64_t D = c.hiddenSize;
    ln1.bind(b, prefix + ".ln_1", D, c.layerNormEps);
    ln2.bind(b, prefix + ".ln_2", D, c.layerNormEps);
    inProj.weight = b.take(prefix + ".attn.in_proj_weight", {3 * D, D});
    inProj.bias = b.take(prefix + ".attn.in_proj_bias", {3 * D});
    inProj.name = prefix + ".attn.in_proj";
    outProj.bind(b, prefix + ".attn.out_proj", D, D);
    fc.bind(b, prefix + ".mlp.c_fc", D, 4 * D);
    proj.bind(b, prefix + ".mlp.c_proj", 4 * D, D);
    heads = c.numAttentionHeads();
}

at::Tensor VisionBlock::operator()(const at::Tensor &x) const {
    const int64_t B = x.size(0), L = x.size(1), D = x.size(2);
    const int64_t d = D / heads;
    // nn.MultiheadAttention: packed q/k/v projection, q scaled by 1/sqrt(head_dim), no mask.
    const std::vector<at::Tensor> qkv = inProj(ln1(x)).chunk(3, -1);
    auto split = [&](const at::Tensor &t) {
        return t.reshape({B, L, heads, d}).permute({0, 2, 1, 3});
    };
    const at::Tensor q = split(qkv[0]) / std::sqrt(double(d));
    const at::Tensor probs = at::softmax(at::matmul(q, split(qkv[1]).transpose(-1, -2)), -1);
    const at::Tensor context =
        at::matmul(probs, split(qkv[2])).permute({0, 2, 1, 3}).reshape({B, L, D});
    const at::Tensor residual = x + outProj(context);
    const at::Tensor h = fc(ln2(residual));
    return residual + proj(h * at::sigmoid(h * 1.702));
}

void LinkTower::bind(WeightBinder &b, const std::string &prefix, const BridgeTowerConfig &c) {
    type = c.linkTowerType;
    norm.bind(b, prefix + ".LayerNorm", c.hiddenSize, c.layerNormEps);
    // The key is "beta" in the file; never renamed to "bias" (transformers <= 4.47 did, and lost
    // it).
    if (type == LinkTowerType::ScaledAdd)
        scaledFactor = b.take(prefix + ".scaled_factor", {});
    else if (type == LinkTowerType::Interpolate)
        beta = b.take(prefix + ".beta", {});
}

at::Tensor LinkTower::operator()(const at::Tensor &x, const at::Tensor &crossModal) const {
    switch (type) {
    case LinkTowerType::Add:
        return norm(x + crossModal);
    case LinkTowerType::ScaledAdd:
        return norm(x * scaledFactor + crossModal);
    case LinkTowerType::Interpolate:
        return norm(x * (1 - beta) + crossModal * beta);
    }
    return {};
}

} // namespace ts::internal
