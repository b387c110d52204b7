// Benchmark of the query engine on the real bridgetower-large-itm-mlm-itc architecture with random
// weights built in memory (real weights cannot be downloaded here; speed does not depend on them).
// Not a test: run it by hand (see README) and quote its table.
//
//   bench_search [--iterations N] [--image-threads 1,2] [--index-sizes 10000,100000,1000000]
//   [--skip-index] [--skip-bf16] [--only-bf16]
//                [--only-rerank]   (just the rerank and fill-mask rows, float32 and bfloat16)
#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/internal/checkpointweights.h"
#include "core/search/bridgetowerpipeline.h"
#include "core/search/searchengine.h"
#include "testdata.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QStringList>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

using namespace ts;

namespace {

// Effective values of the released checkpoint (tests/data/model/REAL_CONFIGS.md).
const char *kLargeConfig = R"({
  "model_type": "bridgetower", "contrastive_hidden_size": 512, "hidden_act": "gelu", "hidden_size": 1024,
  "layer_norm_eps": 1e-05, "link_tower_type": "add", "logit_scale_init_value": 2.6592, "num_attention_heads": 16,
  "num_hidden_layers": 6, "share_cross_modal_transformer_layers": true, "share_link_tower_layers": false,
  "text_config": {"vocab_size": 50265, "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                  "intermediate_size": 4096, "max_position_embeddings": 514},
  "vision_config": {"hidden_size": 1024, "num_hidden_layers": 24, "patch_size": 14, "image_size": 294}
})";

double rssMiB(const char *field) {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray &line : f.readAll().split('\n'))
        if (line.startsWith(field))
            return line.mid(int(strlen(field))).trimmed().split(' ').first().toDouble() / 1024.0;
    return 0;
}

template <typename F>
double medianMs(int iterations, F &&f) {
    f(); // warm-up
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        QElapsedTimer t;
        t.start();
        f();
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

// Min and median of `iterations` timed runs after one warm-up.
struct Timing {
    double minMs = 0, medianMs = 0;
};
template <typename F> Timing timeRuns(int iterations, F &&f) {
    f();
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        QElapsedTimer t;
        t.start();
        f();
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    return {ms.front(), ms[ms.size() / 2]};
}

std::string loadAverage() {
    QFile f(QStringLiteral("/proc/loadavg"));
    return f.open(QIODevice::ReadOnly) ? f.readAll().split(' ').mid(0, 3).join(' ').toStdString()
                                       : std::string("?");
}

// Items [first, first + count) of a batch along its first axis (a copy, as the engine stacks them).
FloatTensor batchSlice(const FloatTensor &t, int64_t first, int64_t count) {
    FloatTensor out;
    out.shape = t.shape;
    out.shape[0] = count;
    const int64_t n = FloatTensor::elementCount(out.shape) / count;
    out.data.assign(t.data.begin() + first * n, t.data.begin() + (first + count) * n);
    return out;
}

// ITM rerank of the photos in `fusion` (their cached vision features) for one caption, as the
// search engine does it: the caption through the text tower once, then the photos in batches of
// SearchOptions::rerankBatch through the cross-modal layers. Next to it, the old engine's loop
// (text tower again for every photo, one photo per pass) in the same process.
void rerankRows(const char *precision, const BridgeTowerModel &m, const TokenBatch &caption,
                const FloatTensor &fusion, int iterations, nlohmann::json &report) {
    const int64_t photos = fusion.shape[0];
    const int64_t batch = SearchOptions{}.rerankBatch;
    bool ok = true;
    const Timing engine = timeRuns(iterations, [&] {
        auto text = m.prepareText(caption);
        ok = ok && text.ok();
        for (int64_t first = 0; ok && first < photos; first += batch)
            ok = m.imageTextMatchingFromFusion(
                      *text, batchSlice(fusion, first, std::min(batch, photos - first)))
                     .ok();
    });
    const Timing perPhoto = timeRuns(std::max(1, std::min(iterations, 3)), [&] {
        for (int64_t j = 0; ok && j < photos; ++j)
            ok = m.imageTextMatchingFromFusion(caption, batchSlice(fusion, j, 1)).ok();
    });
    if (!ok) {
        std::printf("ITM rerank %s: failed\n", precision);
        return;
    }
    std::printf("ITM rerank of %lld cached photos, %-8s: %6.0f ms min %6.0f median (one text pass, "
                "batches of %lld); "
                "old loop (text tower per photo): %6.0f min %6.0f median; load %s\n",
                static_cast<long long>(photos), precision, engine.minMs, engine.medianMs,
                static_cast<long long>(batch), perPhoto.minMs, perPhoto.medianMs,
                loadAverage().c_str());
    report["itm_rerank_engine"][precision] = {{"photos", photos},
                                              {"batch", batch},
                                              {"min_ms", engine.minMs},
                                              {"median_ms", engine.medianMs},
                                              {"text_tower_per_photo_min_ms", perPhoto.minMs},
                                              {"text_tower_per_photo_median_ms", perPhoto.medianMs},
                                              {"load", loadAverage()}};
}

// Fill-mask of one caption with one blank: from a cached photo (its vision features, as the engine
// keeps them for library photos) and from pixels (a photo from outside the library).
void fillMaskRows(const char *precision, const BridgeTowerModel &m, const TokenBatch &caption,
                  const FloatTensor &pixels, const FloatTensor &fusion, int iterations,
                  nlohmann::json &report) {
    const std::vector<int64_t> blank{caption.seqLength / 2};
    auto cachedRun = m.maskedLmLogitsFromFusion(caption, fusion, blank);
    auto uncachedRun = m.maskedLmLogits(caption, pixels, blank);
    if (!cachedRun || !uncachedRun) {
        std::printf("fill-mask %s: failed: %s\n", precision,
                    qPrintable((cachedRun ? uncachedRun.error() : cachedRun.error()).message));
        report["fill_mask"][precision] = {
            {"error", (cachedRun ? uncachedRun.error() : cachedRun.error()).message.toStdString()}};
        return;
    }
    const Timing cached =
        timeRuns(iterations, [&] { (void)m.maskedLmLogitsFromFusion(caption, fusion, blank); });
    const Timing uncached =
        timeRuns(iterations, [&] { (void)m.maskedLmLogits(caption, pixels, blank); });
    std::printf(
        "fill-mask (1 photo, %lld tokens, 1 blank), %-8s: cached photo %5.0f ms min %5.0f median; "
        "uncached %5.0f min %5.0f median; load %s\n",
        static_cast<long long>(caption.seqLength), precision, cached.minMs, cached.medianMs,
        uncached.minMs, uncached.medianMs, loadAverage().c_str());
    report["fill_mask"][precision] = {{"cached_min_ms", cached.minMs},
                                      {"cached_median_ms", cached.medianMs},
                                      {"uncached_min_ms", uncached.minMs},
                                      {"uncached_median_ms", uncached.medianMs},
                                      {"load", loadAverage()}};
}

FloatTensor randomTensor(std::vector<int64_t> shape, std::mt19937 &rng) {
    FloatTensor t(std::move(shape));
    std::normal_distribution<float> n(0.f, 1.f);
    for (float &v : t.data)
        v = n(rng);
    return t;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // rows appear as they are measured
    int iterations = 3;
    bool skipIndex = false, skipBf16 = false, onlyBf16 = false, onlyRerank = false;
    std::vector<qint64> indexSizes{10'000, 100'000, 1'000'000};
    std::vector<int> imageThreads{1, 2};
    const QStringList args = app.arguments();
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == QLatin1String("--iterations") && i + 1 < args.size())
            iterations = std::max(1, args[++i].toInt());
        else if (args[i] == QLatin1String("--skip-index"))
            skipIndex = true;
        else if (args[i] == QLatin1String("--image-threads") && i + 1 < args.size()) {
            imageThreads.clear();
            for (const QString &t : args[++i].split(QLatin1Char(',')))
                imageThreads.push_back(t.toInt());
        } else if (args[i] == QLatin1String("--only-bf16")) {
            onlyBf16 = true; // just the bfloat16 comparison (and the float32 caption query)
        } else if (args[i] == QLatin1String("--only-rerank")) {
            onlyRerank = true;
        } else if (args[i] == QLatin1String("--skip-bf16"))
            skipBf16 = true;
        else if (args[i] == QLatin1String("--index-sizes") && i + 1 < args.size()) {
            indexSizes.clear();
            for (const QString &s : args[++i].split(QLatin1Char(',')))
                indexSizes.push_back(s.toLongLong());
        }
    }
    nlohmann::json report;
    std::printf("TowerSearch search benchmark: bridgetower-large-itm-mlm-itc architecture, random weights\n");
    std::printf("%s\n\n", qPrintable(BridgeTowerModel::runtimeInfo()));

    // Practical float32 peak: a large matrix multiply, threads 1 and 2.
    std::map<int, double> peak;
    for (int threads : {1, 2}) {
        BridgeTowerModel::setThreadCount(threads);
        c10::InferenceMode guard;
        const at::Tensor a = at::randn({2048, 2048}), b = at::randn({2048, 2048});
        const double ms = medianMs(5, [&] { (void)at::mm(a, b); });
        peak[threads] = 2.0 * 2048 * 2048 * 2048 / (ms * 1e6);
        std::printf("matmul 2048^3 f32, %d thread(s): %.1f GFLOP/s\n", threads, peak[threads]);
        report["matmul_gflops"][std::to_string(threads)] = peak[threads];
    }

    // The model, from REAL_SHAPES.json with random values.
    auto config = BridgeTowerConfig::fromJsonText(QByteArray(kLargeConfig), QStringLiteral("large config"));
    if (!config) {
        std::fprintf(stderr, "%s\n", qPrintable(config.error().message));
        return 1;
    }
    QFile shapesFile(test::dataDir(QStringLiteral("model/REAL_SHAPES.json")));
    if (!shapesFile.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "cannot read REAL_SHAPES.json\n");
        return 1;
    }
    const auto shapes = nlohmann::json::parse(shapesFile.readAll().toStdString())["bridgetower-large-itm-mlm-itc"]["shapes"];
    internal::CheckpointWeights weights;
    weights.file = QStringLiteral("(random, in memory)");
    weights.storedDtypes = QStringLiteral("F32");
    at::manual_seed(7);
    for (const auto &[name, shape] : shapes.items()) {
        const std::vector<int64_t> dims = shape.get<std::vector<int64_t>>();
        at::Tensor t = at::randn(dims) * 0.02;
        if (name.find("LayerNorm.weight") != std::string::npos || name.find("layernorm.weight") != std::string::npos ||
            name.find("ln_") != std::string::npos) {
            if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
                t = at::ones(dims);
        }
        weights.tensors[name] = t;
    }
    QElapsedTimer loadTimer;
    loadTimer.start();
    auto model = BridgeTowerModel::fromWeights(*config, weights, QStringLiteral("large"));
    weights.tensors.clear();
    if (!model) {
        std::fprintf(stderr, "%s\n", qPrintable(model.error().message));
        return 1;
    }
    const BridgeTowerModel &m = **model;
    std::printf("model: %lld parameters, heads %u, built in %lld ms, RSS %.0f MiB\n\n", static_cast<long long>(m.info().parameterCount),
                m.info().heads, static_cast<long long>(loadTimer.elapsed()), rssMiB("VmRSS:"));
    report["parameters"] = m.info().parameterCount;

    // FLOPs of the image tower: patch conv + Lt blocks + the Lc fusion transforms.
    const double L = config->vision.numTokens(), D = config->vision.hiddenSize, H = config->hiddenSize;
    const double P = config->vision.patchSize;
    const double blockFlops = 24 * L * D * D + 4 * L * L * D;
    const double imageFlops = 2 * (L - 1) * 3 * P * P * D + config->text.numHiddenLayers * blockFlops +
                              config->numHiddenLayers * 2 * L * D * H;
    std::printf("image tower: %.1f GFLOP per photo\n\n", imageFlops / 1e9);
    report["image_gflop_per_photo"] = imageFlops / 1e9;

    std::mt19937 rng(1);
    std::printf("%-34s %8s %8s %10s %8s %10s\n", "image embedding", "threads", "batch", "ms/photo", "photo/s", "% of peak");
    for (int threads : onlyBf16 || onlyRerank ? std::vector<int>{} : imageThreads) {
        BridgeTowerModel::setThreadCount(threads);
        for (int batch : {1, 4, 8}) {
            const FloatTensor pixels = randomTensor({batch, 3, 294, 294}, rng);
            const double ms = medianMs(iterations, [&] { (void)m.embedImages(pixels); }) / batch;
            const double gflops = imageFlops / (ms * 1e6);
            std::printf("%-34s %8d %8d %10.0f %8.2f %9.0f%%\n", "float32", threads, batch, ms, 1000 / ms, 100 * gflops / peak[threads]);
            report["image_embedding"].push_back({{"threads", threads}, {"batch", batch}, {"ms_per_photo", ms},
                                                 {"photos_per_s", 1000 / ms}, {"gflops", gflops}, {"fraction_of_peak", gflops / peak[threads]}});
        }
    }
    report["rss_after_image_mib"] = rssMiB("VmRSS:");

    BridgeTowerModel::setThreadCount(2);
    // Caption query: tokenize (RoBERTa BPE of a 10-word caption) + text tower.
    const TokenBatch caption{1, 13, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 2}, std::vector<int64_t>(13, 1)};
    const double textMs = medianMs(std::max(5, iterations), [&] { (void)m.embedText(caption); });
    std::printf("\ncaption query (text tower, 13 tokens, 2 threads): %.1f ms\n", textMs);
    report["caption_query_ms"] = textMs;

    const FloatTensor onePixels = randomTensor({1, 3, 294, 294}, rng);
    // Ten candidates' cached vision features. Their values do not change the time, so they are
    // random: ten vision passes would cost more than the rows that use them.
    const FloatTensor tenPixels = randomTensor({10, 3, 294, 294}, rng);
    const FloatTensor fusion =
        randomTensor({10, config->numHiddenLayers, config->vision.numTokens(), config->hiddenSize}, rng);
    const FloatTensor oneFusion = batchSlice(fusion, 0, 1);
    if (!onlyBf16) {
        std::printf("\n");
        rerankRows("float32", m, caption, fusion, iterations, report);
        fillMaskRows("float32", m, caption, onePixels, oneFusion, iterations, report);
        if (!onlyRerank) {
            // Without the cache: every candidate's vision tower first.
            const double uncachedMs = medianMs(1, [&] {
                auto f = m.visionFusionInputs(tenPixels);
                auto text = m.prepareText(caption);
                (void)m.imageTextMatchingFromFusion(*text, *f);
            });
            std::printf("ITM rerank of 10 photos without cached vision features: %.0f ms (%.1f MiB "
                        "cached per photo)\n",
                        uncachedMs, double(fusion.numel()) * 4 / 10 / 1048576);
            report["itm_rerank_10"] = {
                {"uncached_ms", uncachedMs},
                {"cache_mib_per_photo", double(fusion.numel()) * 4 / 10 / 1048576}};
        }
        report["peak_rss_model_mib"] = rssMiB("VmHWM:");
    }

    if (onlyRerank)
        model->reset(); // free the float32 model (3.7 GB) before the bfloat16 one is built; `m` is not used again
    if (!skipBf16) {
        ModelLoadOptions bf16;
        bf16.precision = Precision::BFloat16;
        // Same weights: rebuild the float32 map from the model is not exposed, so re-seed and rebuild.
        at::manual_seed(7);
        internal::CheckpointWeights again;
        for (const auto &[name, shape] : shapes.items()) {
            const std::vector<int64_t> dims = shape.get<std::vector<int64_t>>();
            at::Tensor t = at::randn(dims) * 0.02;
            if ((name.find("LayerNorm.weight") != std::string::npos || name.find("layernorm.weight") != std::string::npos ||
                 name.find("ln_") != std::string::npos) && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0)
                t = at::ones(dims);
            again.tensors[name] = t;
        }
        auto modelBf16 = BridgeTowerModel::fromWeights(*config, again, QStringLiteral("large"), bf16);
        again.tensors.clear();
        if (modelBf16) {
            rerankRows("bfloat16", **modelBf16, caption, fusion, iterations, report);
            fillMaskRows("bfloat16", **modelBf16, caption, onePixels, oneFusion, iterations, report);
        }
        if (modelBf16 && !onlyRerank) {
            const double f32Ms = medianMs(iterations, [&] { (void)m.embedImages(onePixels); });
            const double bfMs = medianMs(iterations, [&] { (void)(*modelBf16)->embedImages(onePixels); });
            auto a = m.embedImages(onePixels);
            auto b = (*modelBf16)->embedImages(onePixels);
            double dot = 0;
            for (size_t k = 0; k < a->data.size(); ++k)
                dot += double(a->data[k]) * b->data[k];
            std::printf("bfloat16 image embedding: %.0f ms vs float32 %.0f ms (x%.2f), cosine to float32 %.5f\n", bfMs, f32Ms,
                        f32Ms / bfMs, dot);
            const double bfTextMs = medianMs(std::max(5, iterations), [&] { (void)(*modelBf16)->embedText(caption); });
            const double f32TextMs = medianMs(std::max(5, iterations), [&] { (void)m.embedText(caption); });
            std::printf("bfloat16 caption query: %.1f ms vs float32 %.1f ms\n", bfTextMs, f32TextMs);
            report["bf16"] = {{"ms", bfMs}, {"f32_ms", f32Ms}, {"speedup", f32Ms / bfMs}, {"cosine_random_weights", dot},
                              {"caption_query_ms", bfTextMs}, {"caption_query_f32_ms", f32TextMs}};
        }
    }

    if (!skipIndex && !onlyRerank) {
        std::printf("\n%-10s %-12s %10s %10s %10s\n", "vectors", "index", "build s", "search ms", "recall@10");
        for (qint64 n : indexSizes) {
            // Clustered synthetic 512-d unit vectors (photo libraries are clustered, not uniform).
            std::normal_distribution<float> g(0.f, 1.f);
            const int dim = 512, clusters = 1000;
            std::vector<float> centres(size_t(clusters) * dim);
            for (float &v : centres)
                v = g(rng);
            std::vector<float> data(size_t(n) * dim);
            std::vector<qint64> ids(static_cast<size_t>(n));
            for (qint64 i = 0; i < n; ++i) {
                const size_t c = size_t(rng() % clusters);
                double norm = 0;
                for (int k = 0; k < dim; ++k) {
                    float &v = data[size_t(i) * dim + k];
                    v = centres[c * dim + size_t(k)] + 0.5f * g(rng);
                    norm += double(v) * v;
                }
                for (int k = 0; k < dim; ++k)
                    data[size_t(i) * dim + k] = float(data[size_t(i) * dim + k] / std::sqrt(norm));
                ids[size_t(i)] = i;
            }
            std::vector<std::vector<qint64>> exact;
            std::vector<size_t> queries;
            for (int q = 0; q < 50; ++q)
                queries.push_back(size_t(rng() % size_t(n)));
            for (bool approximate : {false, true}) {
                VectorIndexOptions o;
                o.dimension = dim;
                o.approximateThreshold = approximate ? 1 : n + 1;
                auto index = VectorIndex::create(o, QStringLiteral("bench"));
                QElapsedTimer t;
                t.start();
                if (!index || !index->add(ids, data).ok())
                    return 1;
                const double buildS = double(t.elapsed()) / 1000;
                std::vector<double> times;
                int hits = 0, total = 0;
                for (int q = 0; q < 50; ++q) {
                    const float *query = data.data() + queries[size_t(q)] * dim;
                    QElapsedTimer qt;
                    qt.start();
                    auto r = index->search(query, 10);
                    times.push_back(double(qt.nsecsElapsed()) / 1e6);
                    std::vector<qint64> got;
                    for (const auto &h : *r)
                        got.push_back(h.id);
                    if (!approximate) {
                        exact.push_back(got);
                    } else {
                        for (qint64 id : got)
                            hits += std::count(exact[size_t(q)].begin(), exact[size_t(q)].end(), id) ? 1 : 0;
                        total += int(got.size());
                    }
                }
                std::sort(times.begin(), times.end());
                const double recall = approximate ? double(hits) / std::max(1, total) : 1.0;
                std::printf("%-10lld %-12s %10.1f %10.2f %10.3f\n", static_cast<long long>(n), approximate ? "approximate" : "exact", buildS,
                            times[times.size() / 2], recall);
                report["index"].push_back({{"vectors", n}, {"approximate", approximate}, {"build_s", buildS},
                                           {"search_ms_median", times[times.size() / 2]}, {"recall_at_10", recall}});
            }
        }
        report["peak_rss_mib"] = rssMiB("VmHWM:");
    }
    std::printf("\n%s\n", report.dump().c_str());
    return 0;
}
