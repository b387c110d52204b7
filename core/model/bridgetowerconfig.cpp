#include "core/model/bridgetowerconfig.h"

#include "core/common/jsonfile.h"

#include <QFile>

namespace ts {

namespace {

// Reads `key` into `out` when present. A present key of the wrong type is an error (Hugging Face
// would fail later in some obscure place); `null` counts as absent, as in the released configs.
class Reader {
public:
    Reader(const nlohmann::json &obj, QString where) : m_obj(obj), m_where(std::move(where)) {}

    void get(const char *key, int &out) {
        if (auto v = find(key)) {
            if (v->is_number_integer())
                out = v->get<int>();
            else if (v->is_number_float() && v->get<double>() == double(int(v->get<double>())))
                out = int(v->get<double>());
            else
                bad(key, "an integer");
        }
    }
    void get(const char *key, double &out) {
        if (auto v = find(key)) {
            if (v->is_number())
                out = v->get<double>();
            else
                bad(key, "a number");
        }
    }
    void get(const char *key, bool &out) {
        if (auto v = find(key)) {
            if (v->is_boolean())
                out = v->get<bool>();
            else
                bad(key, "true or false");
        }
    }
    void get(const char *key, std::string &out) {
        if (auto v = find(key)) {
            if (v->is_string())
                out = v->get<std::string>();
            else
                bad(key, "a string");
        }
    }
    void get(const char *key, std::optional<int> &out) {
        int v = 0;
        if (find(key)) {
            get(key, v);
            out = v;
        }
    }
    void get(const char *key, std::optional<double> &out) {
        double v = 0;
        if (find(key)) {
            get(key, v);
            out = v;
        }
    }

    const QStringList &problems() const { return m_problems; }

private:
    const nlohmann::json *find(const char *key) const {
        auto it = m_obj.find(key);
        if (it == m_obj.end() || it->is_null())
            return nullptr;
        return &*it;
    }
    void bad(const char *key, const char *what) {
        m_problems << QStringLiteral("%1\"%2\" must be %3, not %4")
                          .arg(m_where, QString::fromLatin1(key), QString::fromLatin1(what),
                               QString::fromStdString(m_obj.at(key).dump()));
    }
    const nlohmann::json &m_obj;
    QString m_where;
    QStringList m_problems;
};

} // namespace

Result<BridgeTowerConfig> BridgeTowerConfig::load(const QString &configJsonPath) {
    auto text = readFileBytes(configJsonPath, kMaxConfigJsonBytes);
    if (!text)
        return text.error();
    return fromJsonText(*text, configJsonPath);
}

Result<BridgeTowerConfig> BridgeTowerConfig::fromJsonText(const QByteArray &json,
                                                          const QString &sourceName) {
    auto parsed = parseJson(std::string_view(json.constData(), size_t(json.size())), sourceName);
    if (!parsed)
        return parsed.error();
    const nlohmann::json root = std::move(parsed).value();
    if (!root.is_object())
        return Error(Error::Code::Format,
                     QStringLiteral("%1: the top level is not a JSON object").arg(sourceName));
    if (auto it = root.find("model_type");
        it != root.end() && it->is_string() && it->get<std::string>() != "bridgetower")
        return Error(Error::Code::Unsupported,
                     QStringLiteral("%1: model_type is \"%2\", not \"bridgetower\"; TowerSearch "
                                    "needs a BridgeTower checkpoint")
                         .arg(sourceName, QString::fromStdString(it->get<std::string>())));

    BridgeTowerConfig c;
    QStringList problems;
    Reader top(root, QString());
    top.get("share_cross_modal_transformer_layers", c.shareCrossModalTransformerLayers);
    top.get("hidden_act", c.hiddenAct);
    top.get("hidden_size", c.hiddenSize);
    top.get("initializer_factor", c.initializerFactor);
    top.get("layer_norm_eps", c.layerNormEps);
    top.get("share_link_tower_layers", c.shareLinkTowerLayers);
    std::string linkType = "add";
    top.get("link_tower_type", linkType);
    top.get("num_attention_heads", c.numAttentionHeads);
    top.get("num_hidden_layers", c.numHiddenLayers);
    top.get("tie_word_embeddings", c.tieWordEmbeddings);
    top.get("init_layernorm_from_vision_encoder", c.initLayernormFromVisionEncoder);
    top.get("contrastive_hidden_size", c.contrastiveHiddenSize);
    top.get("logit_scale_init_value", c.logitScaleInitValue);
    problems << top.problems();

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

    // Hugging Face reads text_config/vision_config; the released configs also carry *_config_dict:
    // null.
    auto sub = [&](const char *key, const char *legacyKey) -> const nlohmann::json * {
        for (const char *k : {key, legacyKey}) {
            auto it = root.find(k);
            if (it != root.end() && it->is_object())
                return &*it;
            if (it != root.end() && !it->is_null())
                problems << QStringLiteral("\"%1\" must be an object").arg(QString::fromLatin1(k));
        }
        return nullptr;
    };
    if (const nlohmann::json *t = sub("text_config", "text_config_dict")) {
        Reader r(*t, QStringLiteral("text_config."));
        r.get("vocab_size", c.text.vocabSize);
        r.get("hidden_size", c.text.hiddenSize);
        r.get("num_hidden_layers", c.text.numHiddenLayers);
        r.get("num_attention_heads", c.text.numAttentionHeads);
        r.get("intermediate_size", c.text.intermediateSize);
        r.get("hidden_act", c.text.hiddenAct);
        r.get("max_position_embeddings", c.text.maxPositionEmbeddings);
        r.get("type_vocab_size", c.text.typeVocabSize);
        r.get("layer_norm_eps", c.text.layerNormEps);
        r.get("pad_token_id", c.text.padTokenId);
        r.get("bos_token_id", c.text.bosTokenId);
        r.get("eos_token_id", c.text.eosTokenId);
        r.get("position_embedding_type", c.text.positionEmbeddingType);
        problems << r.problems();
    }
    if (const nlohmann::json *v = sub("vision_config", "vision_config_dict")) {
        Reader r(*v, QStringLiteral("vision_config."));
        r.get("hidden_size", c.vision.hiddenSize);
        r.get("num_hidden_layers", c.vision.numHiddenLayers);
        r.get("num_channels", c.vision.numChannels);
        r.get("patch_size", c.vision.patchSize);
        r.get("image_size", c.vision.imageSize);
        r.get("layer_norm_eps", c.vision.layerNormEps);
        r.get("stop_gradient", c.vision.stopGradient);
        r.get("share_layernorm", c.vision.shareLayernorm);
        r.get("remove_last_layer", c.vision.removeLastLayer);
        problems << r.problems();
    }
    if (!problems.isEmpty())
        return Error(Error::Code::Model,
                     QStringLiteral("%1: %2").arg(sourceName, problems.join(QStringLiteral("; "))));
    return c;
}

Status BridgeTowerConfig::validate() const {
    QStringList problems;
    auto positive = [&](const QString &key, int v) {
        if (v <= 0)
            problems << QStringLiteral("%1 is %2; it must be positive").arg(key).arg(v);
    };
    positive(QStringLiteral("hidden_size"), hiddenSize);
    positive(QStringLiteral("num_hidden_layers"), numHiddenLayers);
    positive(QStringLiteral("text_config.vocab_size"), text.vocabSize);
    positive(QStringLiteral("text_config.hidden_size"), text.hiddenSize);
    positive(QStringLiteral("text_config.num_hidden_layers"), text.numHiddenLayers);
    positive(QStringLiteral("text_config.num_attention_heads"), text.numAttentionHeads);
    positive(QStringLiteral("text_config.intermediate_size"), text.intermediateSize);
    positive(QStringLiteral("text_config.max_position_embeddings"), text.maxPositionEmbeddings);
    positive(QStringLiteral("text_config.type_vocab_size"), text.typeVocabSize);
    positive(QStringLiteral("vision_config.hidden_size"), vision.hiddenSize);
    positive(QStringLiteral("vision_config.num_hidden_layers"), vision.numHiddenLayers);
    positive(QStringLiteral("vision_config.patch_size"), vision.patchSize);
    positive(QStringLiteral("vision_config.image_size"), vision.imageSize);
    if (!problems.isEmpty())
        return Error(Error::Code::Model,
                     QStringLiteral("unsupported config: ") + problems.join(QStringLiteral("; ")));

    // Configurations Hugging Face accepts but cannot build or run (see fixtures/model/error-cases).
    if (!shareCrossModalTransformerLayers)
        problems << QStringLiteral("share_cross_modal_transformer_layers=false (separate "
                                   "cross-modal transforms per layer) "
                                   "is not supported: Hugging Face cannot run it either");
    if (shareLinkTowerLayers)
        problems << QStringLiteral(
            "share_link_tower_layers=true (one shared link tower) is not supported: "
            "Hugging Face cannot run it either");
    if (vision.removeLastLayer)
        problems << QStringLiteral(
            "vision_config.remove_last_layer=true is not supported: the vision tower then has "
            "fewer blocks than the text tower needs");
    if (initLayernormFromVisionEncoder && !vision.shareLayernorm)
        problems << QStringLiteral(
            "init_layernorm_from_vision_encoder=true with vision_config.share_layernorm=false "
            "is not supported: Hugging Face cannot build it either");
    if (hiddenSize != text.hiddenSize)
        problems << QStringLiteral("hidden_size (%1) must equal text_config.hidden_size (%2)")
                        .arg(hiddenSize)
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
    if (numHiddenLayers > text.numHiddenLayers)
        problems << QStringLiteral("num_hidden_layers (%1 cross-modal layers) exceeds "
                                   "text_config.num_hidden_layers (%2)")
                        .arg(numHiddenLayers)
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
    if (text.positionEmbeddingType != "absolute")
        problems << QStringLiteral("text_config.position_embedding_type \"%1\" is not supported "
                                   "(only \"absolute\")")
                        .arg(QString::fromStdString(text.positionEmbeddingType));
    if (text.maxPositionEmbeddings <= text.padTokenId + 1)
        problems << QStringLiteral("text_config.max_position_embeddings (%1) leaves no room for "
                                   "tokens after the padding offset")
                        .arg(text.maxPositionEmbeddings);
    for (const auto &[key, act] :
         {std::pair{QStringLiteral("hidden_act"), hiddenAct},
          std::pair{QStringLiteral("text_config.hidden_act"), text.hiddenAct}})
        if (act != "gelu" && act != "relu" && act != "gelu_new" && act != "quick_gelu" &&
            act != "tanh" && act != "silu")
            problems << QStringLiteral("%1 \"%2\" is not supported")
                            .arg(key, QString::fromStdString(act));
    if (!problems.isEmpty())
        return Error(Error::Code::Model,
                     QStringLiteral("unsupported config: ") + problems.join(QStringLiteral("; ")));
    return Status::success();
}

QString BridgeTowerConfig::contrastiveUnsupportedReason() const {
    if (!contrastiveHiddenSize)
        return QStringLiteral("config.json has no contrastive_hidden_size");
    if (*contrastiveHiddenSize <= 0)
        return QStringLiteral("contrastive_hidden_size must be positive");
    if (vision.hiddenSize != hiddenSize)
        return QStringLiteral("vision_config.hidden_size (%1) differs from hidden_size (%2); the "
                              "contrastive head "
                              "needs them equal (Hugging Face fails the same way)")
            .arg(vision.hiddenSize)
            .arg(hiddenSize);
    return {};
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
