// Benchmark of the query engine on the real bridgetower-large-itm-mlm-itc architecture with random
// weights built in memory (real weights cannot be downloaded here; speed does not depend on them).
// Not a test: run it by hand (see README) and quote its table.
//
//   bench_search [--iterations N] [--precision f32,bf16,int8] [--rows image,caption,...]
//                [--image-threads 1,2] [--batches 1,4,8] [--index-sizes 10000,100000,1000000]
//                [--skip-index]
//
// Every timing is the minimum and the median of N runs (default 5) after one warm-up run: the
// machine is shared, and the minimum is the figure least disturbed by others. Each image-embedding
// row re-measures the float32 matmul peak right before it, at its thread count, and states its % of
// that peak (the peak drifts with the machine's load as much as the model does). Precisions run one
// after another with one model in memory at a time; a precision the build cannot load (int8 before
// it is implemented) prints why and is skipped. Rows of later precisions report the cosine of their
// embeddings to float32's.
//
// Adding a precision is one line in kPrecisions; adding a row is one function and one line in
// kModelRows.
#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/internal/checkpointweights.h"
#include "core/search/bridgetowerpipeline.h"
#include "core/search/captioncache.h"
#include "core/search/searchengine.h"
#include "largemodel.h"
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
#include <optional>
#include <random>

using namespace ts;

namespace {

// The precisions the benchmark knows, by the names --precision takes.
struct PrecisionChoice {
    const char *name;
    Precision precision;
};
const PrecisionChoice kPrecisions[] = {
    {"f32", Precision::Float32},
    {"bf16", Precision::BFloat16},
    {"int8", Precision::Int8},
};

template <typename T> Status statusOf(const Result<T> &r) {
    return r ? Status::success() : Status(r.error());
}

// Min and median of repeated runs of one operation, or why it failed.
struct Timing {
    double minMs = 0, medianMs = 0;
    QString error;
    bool ok() const { return error.isEmpty(); }
    nlohmann::json json() const {
        if (!ok())
            return {{"error", error.toStdString()}};
        return {{"min_ms", minMs}, {"median_ms", medianMs}};
    }
};

// One warm-up run, then `iterations` timed runs of `run` (which returns a Status).
template <typename F> Timing timeRuns(int iterations, F &&run) {
    if (Status s = run(); !s)
        return Timing{0, 0, s.error().message};
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        QElapsedTimer t;
        t.start();
        const Status s = run();
        const double elapsed = double(t.nsecsElapsed()) / 1e6;
        if (!s)
            return Timing{0, 0, s.error().message};
        ms.push_back(elapsed);
    }
    std::sort(ms.begin(), ms.end());
    return Timing{ms.front(), ms[ms.size() / 2], {}};
}

FloatTensor randomTensor(std::vector<int64_t> shape, std::mt19937 &rng) {
    FloatTensor t(std::move(shape));
    std::normal_distribution<float> n(0.f, 1.f);
    for (float &v : t.data)
        v = n(rng);
    return t;
}

// Cosine of each row of `a` with the same row of `b` (embeddings are unit vectors), the smallest.
double minRowCosine(const FloatTensor &a, const FloatTensor &b) {
    const int64_t rows = a.dim(0), cols = a.dim(1);
    double worst = 1;
    for (int64_t r = 0; r < rows; ++r) {
        double dot = 0, na = 0, nb = 0;
        for (int64_t k = 0; k < cols; ++k) {
            const double x = a.data[size_t(r * cols + k)], y = b.data[size_t(r * cols + k)];
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        worst = std::min(worst, dot / std::sqrt(na * nb));
    }
    return worst;
}

struct Bench {
    int iterations = 5;
    int threads = 2; // for every row but image embedding, which has its own list
    std::vector<int> imageThreads{2};
    std::vector<int> batches{1};
    std::optional<BridgeTowerConfig> config;
    nlohmann::json shapes;
    double imageFlops = 0;
    std::mt19937 rng{1};
    // The same inputs for every precision, so that outputs can be compared.
    TokenBatch caption{
        1, 13, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 2}, std::vector<int64_t>(13, 1)};
    FloatTensor onePixels;
    // float32's outputs, when float32 ran first.
    std::optional<FloatTensor> f32Image, f32Text;
    nlohmann::json report;
    nlohmann::json *current = nullptr; // report["precisions"][name] of the precision running
};

// Practical float32 peak at the current thread count: a large matrix multiply.
Timing matmulPeak(const Bench &b) {
    c10::InferenceMode guard;
    const at::Tensor x = at::randn({2048, 2048}), y = at::randn({2048, 2048});
    return timeRuns(b.iterations, [&] {
        (void)at::mm(x, y);
        return Status::success();
    });
}
double matmulGflops(double ms) {
    return 2.0 * 2048 * 2048 * 2048 / (ms * 1e6);
}

// The model, from REAL_SHAPES.json with random values (the same values for every precision).
Result<std::unique_ptr<BridgeTowerModel>> buildModel(const Bench &b, Precision precision) {
    internal::CheckpointWeights weights;
    weights.file = QStringLiteral("(random, in memory)");
    weights.storedDtypes = QStringLiteral("F32");
    at::manual_seed(7);
    for (const auto &[name, shape] : b.shapes.items()) {
        const std::vector<int64_t> dims = shape.get<std::vector<int64_t>>();
        at::Tensor t =
            at::randn(dims) * 0.02; // drawn for every tensor: the same values in every precision
        weights.tensors[name] = test::isLayerNormWeight(name) ? at::ones(dims) : t;
    }
    ModelLoadOptions options;
    options.precision = precision;
    return BridgeTowerModel::fromWeights(*b.config, weights, QStringLiteral("large"), options);
}

void printTimingRow(const char *what, const char *precision, const Timing &t,
                    const char *unit = "ms") {
    if (!t.ok())
        std::printf("%-44s %-5s FAILED: %s\n", what, precision, qPrintable(t.error));
    else
        std::printf("%-44s %-5s min %10.3f %s   median %10.3f %s\n", what, precision, t.minMs, unit,
                    t.medianMs, unit);
}

// ---- Rows: each measures one thing for the model of one precision. ----

void imageEmbeddingRows(Bench &b, const BridgeTowerModel &m, const PrecisionChoice &p) {
    for (int threads : b.imageThreads) {
        BridgeTowerModel::setThreadCount(threads);
        for (int batch : b.batches) {
            const FloatTensor pixels = randomTensor({batch, 3, 294, 294}, b.rng);
            const Timing peak = matmulPeak(b);
            Timing t = timeRuns(b.iterations, [&] { return statusOf(m.embedImages(pixels)); });
            t.minMs /= batch;
            t.medianMs /= batch;
            char what[64];
            std::snprintf(what, sizeof what, "image embedding, %d thread(s), batch %d", threads,
                          batch);
            if (!t.ok()) {
                printTimingRow(what, p.name, t);
                continue;
            }
            // % of peak: best run against the best matmul, and median against median.
            const double ofPeakMin =
                100 * b.imageFlops / (t.minMs * 1e6) / matmulGflops(peak.minMs);
            const double ofPeakMedian =
                100 * b.imageFlops / (t.medianMs * 1e6) / matmulGflops(peak.medianMs);
            std::printf("%-44s %-5s min %9.1f ms   median %9.1f ms   peak %5.1f GFLOP/s   %3.0f%% "
                        "of peak (min), "
                        "%3.0f%% (median)\n",
                        what, p.name, t.minMs, t.medianMs, matmulGflops(peak.minMs), ofPeakMin,
                        ofPeakMedian);
            (*b.current)["image_embedding"].push_back(
                {{"threads", threads},
                 {"batch", batch},
                 {"ms_per_photo", t.json()},
                 {"matmul_peak_gflops",
                  {{"best", matmulGflops(peak.minMs)}, {"median", matmulGflops(peak.medianMs)}}},
                 {"percent_of_peak", {{"min", ofPeakMin}, {"median", ofPeakMedian}}}});
        }
    }
    BridgeTowerModel::setThreadCount(b.threads);
    // Quality: the cosine of this precision's embedding to float32's.
    auto embedding = m.embedImages(b.onePixels);
    if (!embedding)
        return;
    if (p.precision == Precision::Float32) {
        b.f32Image = *embedding;
    } else if (b.f32Image) {
        const double cosine = minRowCosine(*embedding, *b.f32Image);
        std::printf("%-44s %-5s %.6f\n", "image embedding cosine to f32", p.name, cosine);
        (*b.current)["image_cosine_to_f32"] = cosine;
    }
}

void captionQueryRow(Bench &b, const BridgeTowerModel &m, const PrecisionChoice &p) {
    BridgeTowerModel::setThreadCount(b.threads);
    const Timing t = timeRuns(b.iterations, [&] { return statusOf(m.embedText(b.caption)); });
    char what[64];
    std::snprintf(what, sizeof what, "caption query (text tower, 13 tokens, %d thr)", b.threads);
    printTimingRow(what, p.name, t);
    (*b.current)["caption_query_ms"] = t.json();
    auto embedding = m.embedText(b.caption);
    if (!embedding)
        return;
    // The same caption again: BridgeTowerPipeline answers it from its caption cache.
    auto prepared = m.prepareText(b.caption);
    if (!prepared)
        return;
    CaptionCache cache;
    cache.put(QStringLiteral("bench"), p.precision, QStringLiteral("a caption"), *prepared);
    const Timing repeated = timeRuns(b.iterations, [&] {
        return cache.get(QStringLiteral("bench"), p.precision, QStringLiteral("a caption"))
                   ? Status::success()
                   : Status(Error(Error::Code::Internal, QStringLiteral("caption cache miss")));
    });
    printTimingRow("caption query repeated (caption cache)", p.name, repeated);
    (*b.current)["caption_query_repeated_ms"] = repeated.json();
    if (p.precision == Precision::Float32) {
        b.f32Text = *embedding;
    } else if (b.f32Text) {
        const double cosine = minRowCosine(*embedding, *b.f32Text);
        std::printf("%-44s %-5s %.6f\n", "caption embedding cosine to f32", p.name, cosine);
        (*b.current)["text_cosine_to_f32"] = cosine;
    }
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

// Ten candidates' cached vision features. Their values do not change the time, so they are random:
// ten vision passes would cost more than the rows that use them.
FloatTensor randomFusion(Bench &b, int64_t photos) {
    return randomTensor(
        {photos, b.config->numHiddenLayers, b.config->vision.numTokens(), b.config->hiddenSize},
        b.rng);
}

void rerankRow(Bench &b, const BridgeTowerModel &m, const PrecisionChoice &p) {
    BridgeTowerModel::setThreadCount(b.threads);
    // The vision side of one photo (what a rerank computes for a photo not in the feature cache).
    const Timing vision =
        timeRuns(b.iterations, [&] { return statusOf(m.visionFusionInputs(b.onePixels)); });
    printTimingRow("vision fusion inputs, 1 photo", p.name, vision);
    (*b.current)["vision_fusion_ms"] = vision.json();
    // ITM rerank of 10 candidates with their vision features cached, as the search engine runs it:
    // the caption through the text tower once, then the photos in batches of
    // SearchOptions::rerankBatch through the cross-modal layers.
    const FloatTensor fusion = randomFusion(b, 10);
    const int64_t photos = fusion.shape[0], batch = rerankBatchFor(p.precision);
    const Timing engine = timeRuns(b.iterations, [&]() -> Status {
        auto text = m.prepareText(b.caption);
        if (!text)
            return text.error();
        for (int64_t first = 0; first < photos; first += batch)
            if (auto r = m.imageTextMatchingFromFusion(
                    *text, batchSlice(fusion, first, std::min(batch, photos - first)));
                !r)
                return r.error();
        return Status::success();
    });
    printTimingRow("ITM rerank of 10 photos, cached features", p.name, engine);
    (*b.current)["itm_rerank_10_cached_ms"] = engine.json();
    (*b.current)["itm_rerank_batch"] = batch;
    // The engine before: the text tower again for every photo, one photo per pass.
    const Timing perPhoto = timeRuns(b.iterations, [&]() -> Status {
        for (int64_t j = 0; j < photos; ++j)
            if (auto r = m.imageTextMatchingFromFusion(b.caption, batchSlice(fusion, j, 1)); !r)
                return r.error();
        return Status::success();
    });
    printTimingRow("  same, text tower per photo (old engine)", p.name, perPhoto);
    (*b.current)["itm_rerank_10_cached_text_per_photo_ms"] = perPhoto.json();
    (*b.current)["fusion_cache_mib_per_photo"] = double(fusion.numel()) * 4 / 10 / 1048576;
}

void fillMaskRow(Bench &b, const BridgeTowerModel &m, const PrecisionChoice &p) {
    BridgeTowerModel::setThreadCount(b.threads);
    // One caption with one blank: from a cached photo (its vision features, as the engine keeps
    // them for library photos) and from pixels (a photo from outside the library).
    const std::vector<int64_t> blank{b.caption.seqLength / 2};
    const FloatTensor fusion = randomFusion(b, 1);
    const Timing cached = timeRuns(b.iterations, [&] {
        return statusOf(m.maskedLmLogitsFromFusion(b.caption, fusion, blank));
    });
    printTimingRow("fill-mask (13 tokens, 1 blank), cached photo", p.name, cached);
    (*b.current)["fill_mask_cached_ms"] = cached.json();
    const Timing uncached = timeRuns(
        b.iterations, [&] { return statusOf(m.maskedLmLogits(b.caption, b.onePixels, blank)); });
    printTimingRow("fill-mask (13 tokens, 1 blank), new photo", p.name, uncached);
    (*b.current)["fill_mask_ms"] = uncached.json();
}

using ModelRow = void (*)(Bench &, const BridgeTowerModel &, const PrecisionChoice &);
const std::pair<const char *, ModelRow> kModelRows[] = {
    {"image", imageEmbeddingRows},
    {"caption", captionQueryRow},
    {"rerank", rerankRow},
    {"fillmask", fillMaskRow},
};

// ---- The vector index (no model). ----

void indexRows(Bench &b, const std::vector<qint64> &sizes) {
    std::printf("\n%-10s %-12s %10s %12s %12s %10s\n", "vectors", "index", "build s", "min ms",
                "median ms", "recall@10");
    for (qint64 n : sizes) {
        // Clustered synthetic 512-d unit vectors (photo libraries are clustered, not uniform).
        std::normal_distribution<float> g(0.f, 1.f);
        const int dim = 512, clusters = 1000;
        std::vector<float> centres(size_t(clusters) * dim);
        for (float &v : centres)
            v = g(b.rng);
        std::vector<float> data(size_t(n) * dim);
        std::vector<qint64> ids(static_cast<size_t>(n));
        for (qint64 i = 0; i < n; ++i) {
            const size_t c = size_t(b.rng() % clusters);
            double norm = 0;
            for (int k = 0; k < dim; ++k) {
                float &v = data[size_t(i) * dim + k];
                v = centres[c * dim + size_t(k)] + 0.5f * g(b.rng);
                norm += double(v) * v;
            }
            for (int k = 0; k < dim; ++k)
                data[size_t(i) * dim + k] = float(data[size_t(i) * dim + k] / std::sqrt(norm));
            ids[size_t(i)] = i;
        }
        std::vector<std::vector<qint64>> exact;
        std::vector<size_t> queries;
        for (int q = 0; q < 50; ++q)
            queries.push_back(size_t(b.rng() % size_t(n)));
        for (bool approximate : {false, true}) {
            VectorIndexOptions o;
            o.dimension = dim;
            o.approximateThreshold = approximate ? 1 : n + 1;
            auto index = VectorIndex::create(o, QStringLiteral("bench"));
            QElapsedTimer t;
            t.start();
            if (!index || !index->add(ids, data).ok()) {
                std::printf("%-10lld index build failed\n", static_cast<long long>(n));
                return;
            }
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
                        hits += std::count(exact[size_t(q)].begin(), exact[size_t(q)].end(), id)
                                    ? 1
                                    : 0;
                    total += int(got.size());
                }
            }
            std::sort(times.begin(), times.end());
            const double recall = approximate ? double(hits) / std::max(1, total) : 1.0;
            std::printf("%-10lld %-12s %10.1f %12.2f %12.2f %10.3f\n", static_cast<long long>(n),
                        approximate ? "approximate" : "exact", buildS, times.front(),
                        times[times.size() / 2], recall);
            b.report["index"].push_back(
                {{"vectors", n},
                 {"approximate", approximate},
                 {"build_s", buildS},
                 {"search_ms", {{"min_ms", times.front()}, {"median_ms", times[times.size() / 2]}}},
                 {"recall_at_10", recall}});
        }
    }
}

std::vector<int> intList(const QString &s) {
    std::vector<int> out;
    for (const QString &part : s.split(QLatin1Char(','), Qt::SkipEmptyParts))
        out.push_back(std::max(1, part.toInt()));
    return out;
}

int usage(const char *why) {
    std::fprintf(stderr, "bench_search: %s\n", why);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0); // rows appear as they are measured
    Bench b;
    bool skipIndex = false;
    std::vector<qint64> indexSizes{10'000, 100'000, 1'000'000};
    QStringList precisions{QStringLiteral("f32"), QStringLiteral("bf16"), QStringLiteral("int8")};
    QStringList rows;
    for (const auto &row : kModelRows)
        rows << QLatin1String(row.first);
    const QStringList args = app.arguments();
    for (int i = 1; i < args.size(); ++i) {
        const QString &a = args[i];
        const bool hasValue = i + 1 < args.size();
        if (a == QLatin1String("--iterations") && hasValue)
            b.iterations = std::max(5, args[++i].toInt()); // min and median need at least 5 runs
        else if (a == QLatin1String("--precision") && hasValue)
            precisions = args[++i].split(QLatin1Char(','), Qt::SkipEmptyParts);
        else if (a == QLatin1String("--rows") && hasValue)
            rows = args[++i].split(QLatin1Char(','), Qt::SkipEmptyParts);
        else if (a == QLatin1String("--image-threads") && hasValue)
            b.imageThreads = intList(args[++i]);
        else if (a == QLatin1String("--batches") && hasValue)
            b.batches = intList(args[++i]);
        else if (a == QLatin1String("--skip-index"))
            skipIndex = true;
        else if (a == QLatin1String("--index-sizes") && hasValue) {
            indexSizes.clear();
            for (const QString &s : args[++i].split(QLatin1Char(','), Qt::SkipEmptyParts))
                indexSizes.push_back(s.toLongLong());
        } else {
            return usage(qPrintable(
                QStringLiteral("unknown option %1 (see the comment at the top of bench_search.cpp)")
                    .arg(a)));
        }
    }
    std::vector<PrecisionChoice> chosen;
    for (const QString &name : precisions) {
        const auto it =
            std::find_if(std::begin(kPrecisions), std::end(kPrecisions),
                         [&](const PrecisionChoice &p) { return name == QLatin1String(p.name); });
        if (it == std::end(kPrecisions))
            return usage(qPrintable(QStringLiteral("unknown precision %1").arg(name)));
        chosen.push_back(*it);
    }
    for (const QString &row : rows)
        if (std::none_of(std::begin(kModelRows), std::end(kModelRows),
                         [&](const auto &r) { return row == QLatin1String(r.first); }))
            return usage(qPrintable(QStringLiteral("unknown row %1").arg(row)));

    std::printf("TowerSearch search benchmark: bridgetower-large-itm-mlm-itc architecture, random "
                "weights\n");
    std::printf("%s; min and median of %d runs after a warm-up\n\n",
                qPrintable(BridgeTowerModel::runtimeInfo()), b.iterations);
    b.report["iterations"] = b.iterations;

    auto config = BridgeTowerConfig::fromJsonText(QByteArray(test::kLargeModelConfig),
                                                  QStringLiteral("large config"));
    if (!config) {
        std::fprintf(stderr, "%s\n", qPrintable(config.error().message));
        return 1;
    }
    b.config = *config;
    QFile shapesFile(test::dataDir(QStringLiteral("model/REAL_SHAPES.json")));
    if (!shapesFile.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "cannot read REAL_SHAPES.json\n");
        return 1;
    }
    b.shapes = nlohmann::json::parse(
        shapesFile.readAll().toStdString())["bridgetower-large-itm-mlm-itc"]["shapes"];

    // FLOPs of the image tower: patch conv + Lt blocks + the Lc fusion transforms.
    const double L = config->vision.numTokens(), D = config->vision.hiddenSize,
                 H = config->hiddenSize;
    const double P = config->vision.patchSize;
    const double blockFlops = 24 * L * D * D + 4 * L * L * D;
    b.imageFlops = 2 * (L - 1) * 3 * P * P * D + config->text.numHiddenLayers * blockFlops +
                   config->numHiddenLayers * 2 * L * D * H;
    std::printf("image tower: %.1f GFLOP per photo\n", b.imageFlops / 1e9);
    b.report["image_gflop_per_photo"] = b.imageFlops / 1e9;
    b.onePixels = randomTensor({1, 3, 294, 294}, b.rng);

    for (const PrecisionChoice &p : chosen) {
        BridgeTowerModel::setThreadCount(b.threads);
        QElapsedTimer loadTimer;
        loadTimer.start();
        auto model = buildModel(b, p.precision);
        b.current = &b.report["precisions"][p.name];
        if (!model) {
            std::printf("\n%s: not available: %s\n", p.name, qPrintable(model.error().message));
            (*b.current)["error"] = model.error().message.toStdString();
            continue;
        }
        std::printf("\n%s: %lld parameters, built in %lld ms, RSS %.0f MiB\n", p.name,
                    static_cast<long long>((*model)->info().parameterCount),
                    static_cast<long long>(loadTimer.elapsed()), test::processStatusMiB("VmRSS:"));
        (*b.current)["rss_after_build_mib"] = test::processStatusMiB("VmRSS:");
        for (const auto &[name, row] : kModelRows)
            if (rows.contains(QLatin1String(name)))
                row(b, **model, p);
        (*b.current)["rss_mib"] = test::processStatusMiB("VmRSS:");
    }
    b.report["models_peak_rss_mib"] = test::processStatusMiB("VmHWM:");

    if (!skipIndex)
        indexRows(b, indexSizes);
    b.report["peak_rss_mib"] = test::processStatusMiB("VmHWM:");
    std::printf("\n%s\n", b.report.dump().c_str());
    return 0;
}
