// make_large_checkpoint: writes a complete checkpoint folder of the released
// bridgetower-large-itm-mlm-itc architecture (919 M parameters) with random weights, for the
// benchmarks that need the real size on disk (real weights cannot be downloaded here; speed and
// memory do not depend on their values).
//
//   make_large_checkpoint OUT_DIR [--seed N] [--dtype f32|f16]
//
// OUT_DIR receives config.json, model.safetensors (every key of REAL_SHAPES.json, the released
// file's layout with the base model under "bridgetower."), preprocessor_config.json and the RoBERTa
// tokenizer files from tests/data/tokenizer. Weights are N(0, 0.02); LayerNorm weights are 1 and
// the logit scale is the config's initial value, as a freshly initialised model has them.
#include "core/common/float16.h"
#include "core/common/safetensorsfile.h"
#include "largemodel.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

using namespace ts;

namespace {

const char *kPreprocessorConfig = R"({
  "do_center_crop": true, "do_normalize": true, "do_pad": true, "do_rescale": true, "do_resize": true,
  "image_mean": [0.48145466, 0.4578275, 0.40821073],
  "image_processor_type": "BridgeTowerImageProcessor",
  "image_std": [0.26862954, 0.26130258, 0.27577711],
  "max_text_len": 50, "resample": 3, "rescale_factor": 0.00392156862745098,
  "size": {"shortest_edge": 294}, "size_divisor": 32,
  "tokenizer": "roberta-large", "vocab_size": 50265
})";

bool copyFile(const QString &from, const QString &to) {
    QFile::remove(to);
    return QFile::copy(from, to);
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = QCoreApplication::arguments();
    QString out;
    unsigned seed = 7;
    bool half = false;
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == QLatin1String("--seed") && i + 1 < args.size())
            seed = args[++i].toUInt();
        else if (args[i] == QLatin1String("--dtype") && i + 1 < args.size())
            half = args[++i] == QLatin1String("f16");
        else if (!args[i].startsWith(QLatin1String("--")))
            out = args[i];
        else {
            std::fprintf(stderr, "unknown option %s\n", qPrintable(args[i]));
            return 2;
        }
    }
    if (out.isEmpty()) {
        std::fprintf(stderr, "usage: make_large_checkpoint OUT_DIR [--seed N] [--dtype f32|f16]\n");
        return 2;
    }
    if (!QDir().mkpath(out)) {
        std::fprintf(stderr, "cannot create %s\n", qPrintable(out));
        return 1;
    }
    QFile shapesFile(test::dataDir(QStringLiteral("model/REAL_SHAPES.json")));
    if (!shapesFile.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "cannot read %s\n", qPrintable(shapesFile.fileName()));
        return 1;
    }
    const auto shapes = nlohmann::json::parse(
        shapesFile.readAll().toStdString())["bridgetower-large-itm-mlm-itc"]["shapes"];
    const auto config = nlohmann::json::parse(test::kLargeModelConfig);
    const float logitScale = config["logit_scale_init_value"].get<float>();

    std::vector<TensorToWrite> tensors;
    for (const auto &[name, shape] : shapes.items()) {
        TensorToWrite t;
        t.name = name;
        t.dtype = half ? DType::F16 : DType::F32;
        t.shape = shape.get<std::vector<int64_t>>();
        int64_t n = 1;
        for (int64_t d : t.shape)
            n *= d;
        t.byteSize = size_t(n) * (half ? 2 : 4);
        tensors.push_back(t);
    }

    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 0.02f);
    std::vector<float> values;
    std::vector<uint16_t> halves;
    const TensorBytesSource source = [&](size_t index, Error *) -> const void * {
        const TensorToWrite &t = tensors[index];
        values.resize(t.byteSize / (half ? 2 : 4));
        if (test::isLayerNormWeight(t.name))
            std::fill(values.begin(), values.end(), 1.f);
        else if (t.name.find("logit_scale") != std::string::npos)
            std::fill(values.begin(), values.end(), logitScale);
        else
            for (float &v : values)
                v = normal(rng);
        if (!half)
            return values.data();
        halves.resize(values.size());
        for (size_t k = 0; k < values.size(); ++k)
            halves[k] = floatToHalf(values[k]);
        return halves.data();
    };
    QElapsedTimer timer;
    timer.start();
    int lastPercent = -1;
    const Status written =
        writeSafetensors(QDir(out).filePath(QStringLiteral("model.safetensors")), tensors,
                         {{"format", "pt"}}, source, [&](qint64 done, qint64 total) {
                             const int percent = int(100 * done / std::max<qint64>(1, total));
                             if (percent / 10 != lastPercent / 10)
                                 std::fprintf(stderr, "model.safetensors: %d%%\n", percent);
                             lastPercent = percent;
                         });
    if (!written) {
        std::fprintf(stderr, "%s\n", qPrintable(written.error().message));
        return 1;
    }
    auto writeText = [&](const char *name, const std::string &text) {
        QFile f(QDir(out).filePath(QLatin1String(name)));
        return f.open(QIODevice::WriteOnly | QIODevice::Truncate) &&
               f.write(text.data(), qint64(text.size())) == qint64(text.size());
    };
    bool ok = writeText("config.json", config.dump(2) + "\n") &&
              writeText("preprocessor_config.json",
                        nlohmann::json::parse(kPreprocessorConfig).dump(2) + "\n");
    for (const char *file :
         {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"})
        ok = ok && copyFile(test::dataDir(QStringLiteral("tokenizer/") + QLatin1String(file)),
                            QDir(out).filePath(QLatin1String(file)));
    if (!ok) {
        std::fprintf(stderr, "cannot write the configuration or tokenizer files into %s\n",
                     qPrintable(out));
        return 1;
    }
    std::printf("%s: %zu tensors, %s, written in %.1f s\n", qPrintable(out), tensors.size(),
                half ? "F16" : "F32", double(timer.elapsed()) / 1000);
    return 0;
}
