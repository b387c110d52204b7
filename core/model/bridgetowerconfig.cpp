#include "core/model/bridgetowerconfig.h"

#include "core/common/jsonfields.h"
#include "core/common/jsonfile.h"

#include <QFile>

namespace ts {

namespace {

// Hugging Face fails later, in some obscure place, on a key of the wrong type: name it here.
// Problems read "text_config."vocab_size" must be an integer, not "x"".
QStringList describeProblems(const JsonFieldReader &r, const QString &where) {
    QStringList out;
    for (const JsonFieldReader::Problem &p : r.problems())
        out << QStringLiteral("%1\"%2\" %3, not %4").arg(where, p.key, p.expected, p.got);
    return out;
}

// The parsed JSON object, refused when it is not a BridgeTower config.
Result<nlohmann::json> parseConfigObject(const QByteArray &json, const QString &sourceName) {
    auto parsed = parseJson(std::string_view(json.constData(), size_t(json.size())), sourceName);
    if (!parsed)
        return parsed.error();
    if (!parsed->is_object())
        return Error(Error::Code::Format,
                     QStringLiteral("%1: the top level is not a JSON object").arg(sourceName));
    if (auto it = parsed->find("model_type");
        it != parsed->end() && it->is_string() && it->get<std::string>() != "bridgetower")
        return Error(Error::Code::Unsupported,
                     QStringLiteral("%1: model_type is \"%2\", not \"bridgetower\"; TowerSearch "
                                    "needs a BridgeTower checkpoint")
                         .arg(sourceName, QString::fromStdString(it->get<std::string>())));
    return parsed;
}

void readTopLevel(const nlohmann::json &root, BridgeTowerConfig &c, QStringList &problems) {
    JsonFieldReader r(root);
    r.read("share_cross_modal_transformer_layers", c.shareCrossModalTransformerLayers);
    r.read("hidden_act", c.hiddenAct);
    r.read("hidden_size", c.hiddenSize);
    r.read("initializer_factor", c.initializerFactor);
    r.read("layer_norm_eps", c.layerNormEps);
    r.read("share_link_tower_layers", c.shareLinkTowerLayers);
    std::string linkType = "add";
    r.read("link_tower_type", linkType);
    r.read("num_attention_heads", c.numAttentionHeads);
    r.read("num_hidden_layers", c.numHiddenLayers);
    r.read("tie_word_embeddings", c.tieWordEmbeddings);
    r.read("init_layernorm_from_vision_encoder", c.initLayernormFromVisionEncoder);
    r.read("contrastive_hidden_size", c.contrastiveHiddenSize);
    r.read("logit_scale_init_value", c.logitScaleInitValue);
    problems << describeProblems(r, QString());

    if (linkType == "add")
        c.linkTowerType = LinkTowerType::Add;
    else if (linkType == "scaled_add")
        c.linkTowerType = LinkTowerType::ScaledAdd;
    else if (linkType == "interpolate")
        c.linkTowerType = LinkTowerType::Interpolate;
    else
        problems << QStringLiteral(
                        "\"link_tower_type\" is \"%1\"; supported: add, scaled_add, interpolate")
                        .arg(QString::fromStdString(linkType));
}

// Hugging Face reads text_config/vision_config; the released configs also carry *_config_dict:
// null.
const nlohmann::json *subConfig(const nlohmann::json &root, const char *key, const char *legacyKey,
                                QStringList &problems) {
    for (const char *k : {key, legacyKey}) {
        auto it = root.find(k);
        if (it != root.end() && it->is_object())
            return &*it;
        if (it != root.end() && !it->is_null())
            problems << QStringLiteral("\"%1\" must be an object").arg(QString::fromLatin1(k));
    }
    return nullptr;
}

void readTextConfig(const nlohmann::json &json, BridgeTowerTextConfig &t, QStringList &problems) {
    JsonFieldReader r(json);
    r.read("vocab_size", t.vocabSize);
    r.read("hidden_size", t.hiddenSize);
    r.read("num_hidden_layers", t.numHiddenLayers);
    r.read("num_attention_heads", t.numAttentionHeads);
    r.read("intermediate_size", t.intermediateSize);
    r.read("hidden_act", t.hiddenAct);
    r.read("max_position_embeddings", t.maxPositionEmbeddings);
    r.read("type_vocab_size", t.typeVocabSize);
    r.read("layer_norm_eps", t.layerNormEps);
    r.read("pad_token_id", t.padTokenId);
    r.read("bos_token_id", t.bosTokenId);
    r.read("eos_token_id", t.eosTokenId);
    r.read("position_embedding_type", t.positionEmbeddingType);
    problems << describeProblems(r, QStringLiteral("text_config."));
}

void readVisionConfig(const nlohmann::json &json, BridgeTowerVisionConfig &v,
                      QStringList &problems) {
    JsonFieldReader r(json);
    r.read("hidden_size", v.hiddenSize);
    r.read("num_hidden_layers", v.numHiddenLayers);
    r.read("num_channels", v.numChannels);
    r.read("patch_size", v.patchSize);
    r.read("image_size", v.imageSize);
    r.read("layer_norm_eps", v.layerNormEps);
    r.read("stop_gradient", v.stopGradient);
    r.read("share_layernorm", v.shareLayernorm);
    r.read("remove_last_layer", v.removeLastLayer);
    problems << describeProblems(r, QStringLiteral("vision_config."));
}

// Sizes and counts that must be positive before anything else can be checked.
QStringList nonPositiveSettings(const BridgeTowerConfig &c) {
    QStringList problems;
    auto positive = [&](const QString &key, int v) {
        if (v <= 0)
            problems << QStringLiteral("%1 is %2; it must be positive").arg(key).arg(v);
    };
    positive(QStringLiteral("hidden_size"), c.hiddenSize);
    positive(QStringLiteral("num_hidden_layers"), c.numHiddenLayers);
    positive(QStringLiteral("text_config.vocab_size"), c.text.vocabSize);
    positive(QStringLiteral("text_config.hidden_size"), c.text.hiddenSize);
    positive(QStringLiteral("text_config.num_hidden_layers"), c.text.numHiddenLayers);
    positive(QStringLiteral("text_config.num_attention_heads"), c.text.numAttentionHeads);
    positive(QStringLiteral("text_config.intermediate_size"), c.text.intermediateSize);
    positive(QStringLiteral("text_config.max_position_embeddings"), c.text.maxPositionEmbeddings);
    positive(QStringLiteral("text_config.type_vocab_size"), c.text.typeVocabSize);
    positive(QStringLiteral("vision_config.hidden_size"), c.vision.hiddenSize);
    positive(QStringLiteral("vision_config.num_hidden_layers"), c.vision.numHiddenLayers);
    positive(QStringLiteral("vision_config.patch_size"), c.vision.patchSize);
    positive(QStringLiteral("vision_config.image_size"), c.vision.imageSize);
    return problems;
}

// Configurations Hugging Face accepts but cannot build or run (see fixtures/model/error-cases).
QStringList unsupportedLayouts(const BridgeTowerConfig &c) {
    QStringList problems;
    if (!c.shareCrossModalTransformerLayers)
        problems << QStringLiteral("share_cross_modal_transformer_layers=false (separate "
                                   "cross-modal transforms per layer) "
                                   "is not supported: Hugging Face cannot run it either");
    if (c.shareLinkTowerLayers)
        problems << QStringLiteral(
            "share_link_tower_layers=true (one shared link tower) is not supported: "
            "Hugging Face cannot run it either");
    if (c.vision.removeLastLayer)
        problems << QStringLiteral(
            "vision_config.remove_last_layer=true is not supported: the vision tower then has "
            "fewer blocks than the text tower needs");
    if (c.initLayernormFromVisionEncoder && !c.vision.shareLayernorm)
        problems << QStringLiteral(
            "init_layernorm_from_vision_encoder=true with vision_config.share_layernorm=false "
            "is not supported: Hugging Face cannot build it either");
    return problems;
}

// Sizes that must fit each other: hidden sizes, attention heads, layer counts, patches.
QStringList inconsistentSizes(const BridgeTowerConfig &c) {
    QStringList problems;
    const BridgeTowerTextConfig &text = c.text;
    const BridgeTowerVisionConfig &vision = c.vision;
    if (c.hiddenSize != text.hiddenSize)
        problems << QStringLiteral("hidden_size (%1) must equal text_config.hidden_size (%2)")
                        .arg(c.hiddenSize)
                        .arg(text.hiddenSize);
    if (text.hiddenSize % text.numAttentionHeads != 0)
        problems << QStringLiteral("text_config.hidden_size (%1) is not a multiple of "
                                   "text_config.num_attention_heads (%2)")
                        .arg(text.hiddenSize)
                        .arg(text.numAttentionHeads);
    if (vision.numAttentionHeads() < 1)
        problems << QStringLiteral("vision_config.hidden_size (%1) must be at least 64 (the vision "
                                   "attention has hidden/64 heads)")
                        .arg(vision.hiddenSize);
    else if (vision.hiddenSize % vision.numAttentionHeads() != 0)
        problems << QStringLiteral(
                        "vision_config.hidden_size (%1) is not divisible by its %2 attention heads")
                        .arg(vision.hiddenSize)
                        .arg(vision.numAttentionHeads());
    if (c.numHiddenLayers > text.numHiddenLayers)
        problems << QStringLiteral("num_hidden_layers (%1 cross-modal layers) exceeds "
                                   "text_config.num_hidden_layers (%2)")
                        .arg(c.numHiddenLayers)
                        .arg(text.numHiddenLayers);
    if (vision.numHiddenLayers < text.numHiddenLayers)
        problems << QStringLiteral("vision_config.num_hidden_layers (%1) is smaller than "
                                   "text_config.num_hidden_layers (%2)")
                        .arg(vision.numHiddenLayers)
                        .arg(text.numHiddenLayers);
    if (vision.patchSize > 0 && vision.imageSize % vision.patchSize != 0)
        problems << QStringLiteral("vision_config.image_size (%1) is not a multiple of "
                                   "vision_config.patch_size (%2)")
                        .arg(vision.imageSize)
                        .arg(vision.patchSize);
    return problems;
}

// Text-side choices the port does not implement: position embeddings, activations.
QStringList unsupportedChoices(const BridgeTowerConfig &c) {
    QStringList problems;
    if (c.text.positionEmbeddingType != "absolute")
        problems << QStringLiteral("text_config.position_embedding_type \"%1\" is not supported "
                                   "(only \"absolute\")")
                        .arg(QString::fromStdString(c.text.positionEmbeddingType));
    if (c.text.maxPositionEmbeddings <= c.text.padTokenId + 1)
        problems << QStringLiteral("text_config.max_position_embeddings (%1) leaves no room for "
                                   "tokens after the padding offset")
                        .arg(c.text.maxPositionEmbeddings);
    for (const auto &[key, act] :
         {std::pair{QStringLiteral("hidden_act"), c.hiddenAct},
          std::pair{QStringLiteral("text_config.hidden_act"), c.text.hiddenAct}})
        if (act != "gelu" && act != "relu" && act != "gelu_new" && act != "quick_gelu" &&
            act != "tanh" && act != "silu")
            problems << QStringLiteral("%1 \"%2\" is not supported")
                            .arg(key, QString::fromStdString(act));
    return problems;
}

Status unsupportedConfig(const QStringList &problems) {
    if (problems.isEmpty())
        return Status::success();
    return Error(Error::Code::Model,
                 QStringLiteral("unsupported config: ") + problems.join(QStringLiteral("; ")));
}

} // namespace

Result<BridgeTowerConfig> BridgeTowerConfig::load(const QString &configJsonPath) {
    auto text = readFileBytes(configJsonPath, kMaxConfigJsonBytes);
    if (!text)
        return text.error();
    return fromJsonText(*text, configJsonPath);
}

Result<BridgeTowerConfig> BridgeTowerConfig::fromJsonText(const QByteArray &json,
                                                          const QString &sourceName) {
    const Result<nlohmann::json> root = parseConfigObject(json, sourceName);
    if (!root)
        return root.error();
    BridgeTowerConfig c;
    QStringList problems;
    readTopLevel(*root, c, problems);
    if (const nlohmann::json *t = subConfig(*root, "text_config", "text_config_dict", problems))
        readTextConfig(*t, c.text, problems);
    if (const nlohmann::json *v = subConfig(*root, "vision_config", "vision_config_dict", problems))
        readVisionConfig(*v, c.vision, problems);
    if (!problems.isEmpty())
        return Error(Error::Code::Model,
                     QStringLiteral("%1: %2").arg(sourceName, problems.join(QStringLiteral("; "))));
    return c;
}

Status BridgeTowerConfig::validate() const {
    // Sizes first: the checks after them divide by some.
    if (const Status sizes = unsupportedConfig(nonPositiveSettings(*this)); !sizes)
        return sizes;
    return unsupportedConfig(unsupportedLayouts(*this) + inconsistentSizes(*this) +
                             unsupportedChoices(*this));
}

Status BridgeTowerConfig::contrastiveHeadSupport() const {
    auto unsupported = [](const QString &why) { return Error(Error::Code::Model, why); };
    if (!contrastiveHiddenSize)
        return unsupported(QStringLiteral("config.json has no contrastive_hidden_size"));
    if (*contrastiveHiddenSize <= 0)
        return unsupported(QStringLiteral("contrastive_hidden_size must be positive"));
    if (vision.hiddenSize != hiddenSize)
        return unsupported(
            QStringLiteral("vision_config.hidden_size (%1) differs from hidden_size (%2); the "
                           "contrastive head "
                           "needs them equal (Hugging Face fails the same way)")
                .arg(vision.hiddenSize)
                .arg(hiddenSize));
    return Status::success();
}

QString BridgeTowerConfig::linkTowerTypeName() const {
    switch (linkTowerType) {
    case LinkTowerType::Add:
        return QStringLiteral("add");
    case LinkTowerType::ScaledAdd:
        return QStringLiteral("scaled_add");
    case LinkTowerType::Interpolate:
        return QStringLiteral("interpolate");
    }
    return {};
}

QString BridgeTowerConfig::describe() const {
    return QStringLiteral(
               "text: RoBERTa %1 layers x %2 hidden, %3 heads, FFN %4, vocabulary %5, max "
               "positions %6\n"
               "vision: CLIP ViT %7 layers x %8 hidden, %9 heads, patch %10, image %11x%11 (%12 "
               "tokens)\n"
               "cross-modal: %13 layers x %14 hidden, link tower \"%15\", bridges from layer %16\n"
               "contrastive embedding: %17")
        .arg(text.numHiddenLayers)
        .arg(text.hiddenSize)
        .arg(text.numAttentionHeads)
        .arg(text.intermediateSize)
        .arg(text.vocabSize)
        .arg(text.maxPositionEmbeddings)
        .arg(vision.numHiddenLayers)
        .arg(vision.hiddenSize)
        .arg(vision.numAttentionHeads())
        .arg(vision.patchSize)
        .arg(vision.imageSize)
        .arg(vision.numTokens())
        .arg(numHiddenLayers)
        .arg(hiddenSize)
        .arg(linkTowerTypeName())
        .arg(splitIndex())
        .arg(contrastiveHiddenSize ? QString::number(*contrastiveHiddenSize)
                                   : QStringLiteral("none"));
}

} // namespace ts
