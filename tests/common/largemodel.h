#pragma once

// What the benchmarks share about the released bridgetower-large-itm-mlm-itc architecture (real
// weights cannot be downloaded here; speed and memory do not depend on their values).

#include <QByteArray>
#include <QFile>

#include <cstring>
#include <string>

namespace ts::test {

// Effective values of the released checkpoint's config.json (tests/data/model/REAL_CONFIGS.md).
inline const char *const kLargeModelConfig = R"({
  "architectures": ["BridgeTowerForContrastiveLearning"], "model_type": "bridgetower",
  "contrastive_hidden_size": 512, "hidden_act": "gelu", "hidden_size": 1024, "initializer_factor": 1,
  "layer_norm_eps": 1e-05, "link_tower_type": "add", "logit_scale_init_value": 2.6592, "num_attention_heads": 16,
  "num_hidden_layers": 6, "share_cross_modal_transformer_layers": true, "share_link_tower_layers": false,
  "init_layernorm_from_vision_encoder": false, "tie_word_embeddings": false,
  "text_config": {"vocab_size": 50265, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                  "intermediate_size": 4096, "hidden_act": "gelu", "max_position_embeddings": 514,
                  "type_vocab_size": 1, "layer_norm_eps": 1e-05, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
  "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24, "patch_size": 14, "image_size": 294,
                    "share_layernorm": true, "remove_last_layer": false, "layer_norm_eps": 1e-05}
})";

// A freshly initialised model has its LayerNorm weights at 1 (random weights elsewhere).
inline bool isLayerNormWeight(const std::string &name) {
    const std::string suffix = ".weight";
    const bool endsWithWeight =
        name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    return endsWithWeight &&
           (name.find("LayerNorm") != std::string::npos ||
            name.find("layernorm") != std::string::npos || name.find("ln_") != std::string::npos);
}

// A field of /proc/self/status in MiB ("VmRSS:", "VmHWM:", "RssAnon:", ...); 0 where unreadable.
inline double processStatusMiB(const char *field) {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray &line : f.readAll().split('\n'))
        if (line.startsWith(field))
            return line.mid(int(std::strlen(field))).trimmed().split(' ').first().toDouble() /
                   1024.0;
    return 0;
}

} // namespace ts::test
