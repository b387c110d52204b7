// Int8 precision: speed and quality report (not a test; run it by hand, see README's Benchmarks).
//
//   bench_int8 [--large DIR|random|none] [--photos N] [--fixture-photos N] [--captions N]
//              [--iterations N] [--threads N] [--ranges-top N]
//
// Per fixture model (tests/data/model/*): cosine of int8 to float32 embeddings on the fixture's
// own inputs, the top-10 overlap of int8 and float32 result lists over a library of generated
// photos searched with random captions (bfloat16 beside it as a yardstick), and the largest input
// of each Linear in float32. For the real-size architecture (a checkpoint folder, or random weights
// built in memory): image embedding and caption query times in float32 and int8 (min and median,
// the load average, and the matmul peak measured next to each row), the same quality figures over
// as many photos as --photos says, and the per-layer activation ranges. One model of real size is
// alive at a time (int8 first, so its memory figures are those of a fresh process).
#include "core/common/safetensorsfile.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/internal/bridgetowernet.h"
#include "core/model/internal/checkpointweights.h"
#include "largemodel.h"
#include "loadaverage.h"
#include "testdata.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <nlohmann/json.hpp>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <functional>

using namespace ts;

namespace {

struct Timing {
    double minMs = 0, medianMs = 0;
    double cpuMinMs = 0; // CPU time of the whole process: with --threads 1 on a busy machine, the
                         // compute time the wall clock cannot show
};

double processCpuMs() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

Timing measure(int runs, const std::function<void()> &f) {
    f(); // warm-up (oneDNN builds its kernels on the first call of a shape)
    std::vector<double> ms, cpu;
    for (int i = 0; i < runs; ++i) {
        QElapsedTimer t;
        const double cpu0 = processCpuMs();
        t.start();
        f();
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
        cpu.push_back(processCpuMs() - cpu0);
    }
    std::sort(ms.begin(), ms.end());
    return {ms.front(), ms[ms.size() / 2], *std::min_element(cpu.begin(), cpu.end())};
}

// Practical float32 peak on the current thread count: a 2048^3 matrix multiply.
double matmulPeakGflops() {
    c10::InferenceMode guard;
    const at::Tensor a = at::randn({2048, 2048}), b = at::randn({2048, 2048});
    const Timing t = measure(3, [&] { (void)at::mm(a, b); });
    return 2.0 * 2048 * 2048 * 2048 / (t.minMs * 1e6);
}

// A generated photo, already preprocessed: smooth random colour fields plus fine noise, in the
// range CLIP's normalisation gives. Photo i is the same in every run and every model.
FloatTensor photos(int64_t first, int64_t count, int size) {
    FloatTensor out({count, 3, size, size});
    for (int64_t i = 0; i < count; ++i) {
        at::manual_seed(uint64_t(1000 + first + i));
        const at::Tensor coarse = at::randn({1, 3, 5, 5});
        const at::Tensor img = (at::upsample_bilinear2d(coarse, {size, size}, false) * 0.9 +
                                at::randn({1, 3, size, size}) * 0.25)
                                   .clamp(-1.8, 2.1)
                                   .contiguous();
        std::copy(img.data_ptr<float>(), img.data_ptr<float>() + img.numel(),
                  out.data.begin() + i * 3 * size * size);
    }
    return out;
}

// Caption c: <s>, 5-19 random tokens, </s>.
TokenBatch caption(int c, int64_t vocab) {
    at::manual_seed(uint64_t(50000 + c));
    const int64_t n = at::randint(5, 20, {1}).item<int64_t>();
    TokenBatch t{1, n + 2, {0}, std::vector<int64_t>(size_t(n + 2), 1)};
    const at::Tensor ids = at::randint(4, vocab, {n}, at::kLong);
    t.inputIds.insert(t.inputIds.end(), ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n);
    t.inputIds.push_back(2);
    return t;
}

at::Tensor toTensor(const FloatTensor &f) {
    return at::tensor(f.data, at::kFloat).view(f.shape).clone();
}

// What one model gives for a library and its queries.
struct Library {
    at::Tensor images;   // [N, C]
    at::Tensor captions; // [Q, C]
};

Library embedLibrary(const BridgeTowerModel &m, int64_t photoCount, int captionCount, int batch,
                     std::map<std::string, double> *ranges = nullptr) {
    std::optional<internal::LinearInputRanges> recorder;
    if (ranges)
        recorder.emplace();
    std::vector<at::Tensor> images, captions;
    for (int64_t first = 0; first < photoCount; first += batch) {
        auto e = m.embedImages(
            photos(first, std::min<int64_t>(batch, photoCount - first), m.imageSize()));
        if (!e) {
            std::fprintf(stderr, "%s\n", qPrintable(e.error().message));
            std::exit(1);
        }
        images.push_back(toTensor(*e));
    }
    for (int c = 0; c < captionCount; ++c)
        captions.push_back(toTensor(*m.embedText(caption(c, m.config().text.vocabSize))));
    if (ranges)
        *ranges = recorder->maxAbs();
    return {at::cat(images), at::cat(captions)};
}

// Mean over captions of |top-10(a) & top-10(b)| / 10, and the worst caption's.
std::pair<double, double> top10Overlap(const Library &a, const Library &b) {
    const int64_t k = std::min<int64_t>(10, a.images.size(0));
    const at::Tensor ta = std::get<1>(at::matmul(a.captions, a.images.t()).topk(k, -1));
    const at::Tensor tb = std::get<1>(at::matmul(b.captions, b.images.t()).topk(k, -1));
    double sum = 0, worst = 1;
    for (int64_t q = 0; q < ta.size(0); ++q) {
        int64_t hits = 0;
        for (int64_t i = 0; i < k; ++i)
            hits += tb[q].eq(ta[q][i]).any().item<bool>() ? 1 : 0;
        sum += double(hits) / double(k);
        worst = std::min(worst, double(hits) / double(k));
    }
    return {sum / double(ta.size(0)), worst};
}

// Row-wise cosine of two sets of unit vectors: min and mean.
std::pair<double, double> cosine(const at::Tensor &a, const at::Tensor &b) {
    const at::Tensor c = (a * b).sum(-1);
    return {c.min().item<double>(), c.mean().item<double>()};
}

void printRanges(const std::map<std::string, double> &ranges, int top, nlohmann::json &out) {
    std::vector<std::pair<double, std::string>> sorted;
    for (const auto &[name, v] : ranges) {
        sorted.push_back({v, name});
        out[name] = v;
    }
    std::sort(sorted.rbegin(), sorted.rend());
    double sum = 0;
    for (const auto &s : sorted)
        sum += s.first;
    std::printf("  activation range (max |input| of each Linear, float32): %zu layers, median "
                "%.2f, largest:\n",
                sorted.size(), sorted.empty() ? 0.0 : sorted[sorted.size() / 2].first);
    for (int i = 0; i < top && i < int(sorted.size()); ++i)
        std::printf("    %8.2f  %s\n", sorted[size_t(i)].first, sorted[size_t(i)].second.c_str());
}

std::unique_ptr<BridgeTowerModel> loadOrDie(const QString &dir, Precision p) {
    ModelLoadOptions o;
    o.precision = p;
    auto m = BridgeTowerModel::load(dir, o);
    if (!m) {
        std::fprintf(stderr, "%s\n", qPrintable(m.error().message));
        std::exit(1);
    }
    return std::move(*m);
}

void fixtureReport(const QString &dir, int64_t photoCount, int captionCount, int rangesTop,
                   nlohmann::json &report) {
    const QString name = QDir(dir).dirName();
    auto f32 = loadOrDie(dir, Precision::Float32);
    if (!f32->has(kHeadContrastive)) {
        std::printf("%s: no contrastive head (its config cannot embed), skipped\n",
                    qPrintable(name));
        return;
    }
    auto int8 = loadOrDie(dir, Precision::Int8);
    auto bf16 = loadOrDie(dir, Precision::BFloat16);
    nlohmann::json &r = report["fixtures"][name.toStdString()];

    // The fixture's own inputs.
    auto expected =
        SafetensorsFile::open(QDir(dir).filePath(QStringLiteral("expected.safetensors")));
    const FloatTensor pixels = expected->find("pixel_values")->toFloatTensor();
    const auto ids = expected->find("input_ids"), mask = expected->find("attention_mask");
    const TokenBatch tokens{ids->shape[0], ids->shape[1], ids->toInt64(), mask->toInt64()};
    const auto [imgMin, imgMean] =
        cosine(toTensor(*f32->embedImages(pixels)), toTensor(*int8->embedImages(pixels)));
    const auto [txtMin, txtMean] =
        cosine(toTensor(*f32->embedText(tokens)), toTensor(*int8->embedText(tokens)));

    std::map<std::string, double> ranges;
    QElapsedTimer t;
    t.start();
    const Library a = embedLibrary(*f32, photoCount, captionCount, 16, &ranges);
    const Library b = embedLibrary(*int8, photoCount, captionCount, 16);
    const Library c = embedLibrary(*bf16, photoCount, captionCount, 16);
    const auto [libImgMin, libImgMean] = cosine(a.images, b.images);
    const auto [libTxtMin, libTxtMean] = cosine(a.captions, b.captions);
    const auto [overlap, worst] = top10Overlap(a, b);
    const auto [bfOverlap, bfWorst] = top10Overlap(a, c);
    const double spread = at::matmul(a.images, a.images.t()).mean().item<double>();
    std::printf("%s (%lld parameters)\n", qPrintable(name),
                static_cast<long long>(f32->info().parameterCount));
    std::printf("  cosine int8 vs float32, fixture inputs: image min %.5f mean %.5f, text min %.5f "
                "mean %.5f\n",
                imgMin, imgMean, txtMin, txtMean);
    std::printf("  library of %lld generated photos (mean pairwise cosine %.3f), %d captions: "
                "cosine image min %.5f mean %.5f, "
                "caption min %.5f mean %.5f\n",
                static_cast<long long>(photoCount), spread, captionCount, libImgMin, libImgMean,
                libTxtMin, libTxtMean);
    std::printf("  top-10 overlap with float32: int8 mean %.3f (worst caption %.1f); bfloat16 mean "
                "%.3f (worst %.1f)  [%.1f s]\n",
                overlap, worst, bfOverlap, bfWorst, double(t.elapsed()) / 1000);
    printRanges(ranges, rangesTop, r["activation_max_abs"]);
    r["cosine_fixture_inputs"] = {{"image_min", imgMin},
                                  {"image_mean", imgMean},
                                  {"text_min", txtMin},
                                  {"text_mean", txtMean}};
    r["library"] = {{"photos", photoCount},
                    {"captions", captionCount},
                    {"image_cosine_min", libImgMin},
                    {"image_cosine_mean", libImgMean},
                    {"caption_cosine_min", libTxtMin},
                    {"top10_overlap_int8", overlap},
                    {"top10_overlap_int8_worst", worst},
                    {"top10_overlap_bf16", bfOverlap},
                    {"mean_pairwise_cosine", spread}};
}

// The real-size model: from a checkpoint folder, or random weights (REAL_SHAPES.json) in memory.
std::unique_ptr<BridgeTowerModel> largeModel(const QString &large, Precision p) {
    if (large != QLatin1String("random"))
        return loadOrDie(large, p);
    auto config = BridgeTowerConfig::fromJsonText(QByteArray(test::kLargeModelConfig),
                                                  QStringLiteral("large config"));
    QFile shapesFile(test::dataDir(QStringLiteral("model/REAL_SHAPES.json")));
    if (!config || !shapesFile.open(QIODevice::ReadOnly)) {
        std::fprintf(stderr, "cannot build the random large model\n");
        std::exit(1);
    }
    const auto shapes = nlohmann::json::parse(
        shapesFile.readAll().toStdString())["bridgetower-large-itm-mlm-itc"]["shapes"];
    internal::CheckpointWeights weights;
    weights.file = QStringLiteral("(random, in memory)");
    at::manual_seed(7);
    for (const auto &[name, shape] : shapes.items()) {
        const std::vector<int64_t> dims = shape.get<std::vector<int64_t>>();
        weights.tensors[name] =
            test::isLayerNormWeight(name) ? at::ones(dims) : at::randn(dims) * 0.02;
    }
    ModelLoadOptions o;
    o.precision = p;
    auto m = BridgeTowerModel::fromWeights(*config, weights, QStringLiteral("large (random)"), o);
    if (!m) {
        std::fprintf(stderr, "%s\n", qPrintable(m.error().message));
        std::exit(1);
    }
    return std::move(*m);
}

struct LargeRun {
    Timing image, caption;
    double imagePeak = 0, captionPeak = 0;
    QString imageLoad, captionLoad;
    Library library;
    std::map<std::string, double> ranges;
    double rssMiB = 0, anonMiB = 0, anonTrimmedMiB = 0, fileMiB = 0, loadS = 0;
};

LargeRun runLarge(const QString &large, Precision p, int iterations, int64_t photoCount,
                  int captionCount) {
    LargeRun r;
    QElapsedTimer load;
    load.start();
    auto m = largeModel(large, p);
    r.loadS = double(load.elapsed()) / 1000;
    r.rssMiB = test::processStatusMiB("VmRSS:");
    r.anonMiB = test::processStatusMiB("RssAnon:");
    r.fileMiB = test::processStatusMiB("RssFile:");
    malloc_trim(0); // freed heap the allocator keeps is not the model's
    r.anonTrimmedMiB = test::processStatusMiB("RssAnon:");
    const FloatTensor one = photos(100000, 1, m->imageSize());
    const TokenBatch query{
        1, 13, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 2}, std::vector<int64_t>(13, 1)};
    r.imagePeak = matmulPeakGflops();
    r.imageLoad = ts::test::loadAverage();
    r.image = measure(iterations, [&] { (void)m->embedImages(one); });
    r.captionPeak = matmulPeakGflops();
    r.captionLoad = ts::test::loadAverage();
    r.caption = measure(std::max(10, iterations), [&] { (void)m->embedText(query); });
    std::printf(
        "%s: loaded in %.1f s; image embedding min %.1f median %.1f ms, process CPU min %.1f ms "
        "(load average %s); caption query min %.1f median %.1f ms, process CPU min %.1f ms (load "
        "average %s)\n",
        p == Precision::Int8 ? "int8" : "float32", r.loadS, r.image.minMs, r.image.medianMs,
        r.image.cpuMinMs, qPrintable(r.imageLoad), r.caption.minMs, r.caption.medianMs,
        r.caption.cpuMinMs, qPrintable(r.captionLoad));
    if (photoCount > 0)
        r.library = embedLibrary(*m, photoCount, captionCount, 4,
                                 p == Precision::Float32 ? &r.ranges : nullptr);
    return r;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    QString large = QStringLiteral("/work/large-model");
    int64_t photoCount = 100, fixturePhotos = 1000;
    int captionCount = 50, iterations = 5, threads = 2, rangesTop = 8;
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); ++i) {
        if (args[i] == QLatin1String("--large"))
            large = args[++i];
        else if (args[i] == QLatin1String("--photos"))
            photoCount = args[++i].toLongLong();
        else if (args[i] == QLatin1String("--fixture-photos"))
            fixturePhotos = args[++i].toLongLong();
        else if (args[i] == QLatin1String("--captions"))
            captionCount = std::max(1, args[++i].toInt());
        else if (args[i] == QLatin1String("--iterations"))
            iterations = std::max(5, args[++i].toInt());
        else if (args[i] == QLatin1String("--threads"))
            threads = std::max(1, args[++i].toInt());
        else if (args[i] == QLatin1String("--ranges-top"))
            rangesTop = args[++i].toInt();
    }
    if (large != QLatin1String("random") && large != QLatin1String("none") &&
        !QFile::exists(QDir(large).filePath(QStringLiteral("config.json"))))
        large = QStringLiteral("random");
    BridgeTowerModel::setThreadCount(threads);
    nlohmann::json report;
    std::printf("TowerSearch int8 report: %s\n\n", qPrintable(BridgeTowerModel::runtimeInfo()));

    if (fixturePhotos > 0) {
        std::printf("== fixture models (random weights, Hugging Face reference checkpoints) ==\n");
        for (const QString &dir :
             test::caseDirs(QStringLiteral("model"), "TOWERSEARCH_MODEL_FIXTURES",
                            QStringLiteral("expected.safetensors")))
            fixtureReport(dir, fixturePhotos, captionCount, rangesTop, report);
    }

    if (large != QLatin1String("none")) {
        std::printf(
            "\n== real-size bridgetower-large-itm-mlm-itc architecture: %s, %d threads ==\n",
            qPrintable(large), threads);
        const LargeRun q = runLarge(large, Precision::Int8, iterations, photoCount, captionCount);
        std::printf(
            "int8 model loaded in %.1f s: RSS %.0f MiB (anonymous %.0f, %.0f after malloc_trim; "
            "file-backed %.0f)\n",
            q.loadS, q.rssMiB, q.anonMiB, q.anonTrimmedMiB, q.fileMiB);
        const LargeRun f =
            runLarge(large, Precision::Float32, iterations, photoCount, captionCount);
        const double imageFlop = [&] {
            auto config =
                BridgeTowerConfig::fromJsonText(QByteArray(test::kLargeModelConfig), QString());
            const double L = config->vision.numTokens(), D = config->vision.hiddenSize,
                         H = config->hiddenSize, P = config->vision.patchSize;
            return 2 * (L - 1) * 3 * P * P * D +
                   config->text.numHiddenLayers * (24 * L * D * D + 4 * L * L * D) +
                   config->numHiddenLayers * 2 * L * D * H;
        }();
        std::printf("%-26s %10s %10s %12s %16s %s\n", "", "min ms", "median ms", "goal",
                    "f32 peak GF/s", "load average");
        auto row = [&](const char *what, const Timing &t, const char *goal, double peak,
                       const QString &loadAvg) {
            std::printf("%-26s %10.1f %10.1f %12s %16.1f %s\n", what, t.minMs, t.medianMs, goal,
                        peak, qPrintable(loadAvg));
        };
        row("image embedding, float32", f.image, "", f.imagePeak, f.imageLoad);
        row("image embedding, int8", q.image, "<= 600", q.imagePeak, q.imageLoad);
        row("caption query, float32", f.caption, "", f.captionPeak, f.captionLoad);
        row("caption query, int8", q.caption, "<= 40", q.captionPeak, q.captionLoad);
        std::printf("image tower: float32 at %.0f%% of the matmul peak measured before it; int8 "
                    "%.2fx float32 (min), %.2fx (median)\n",
                    100 * imageFlop / (f.image.minMs * 1e6) / f.imagePeak,
                    f.image.minMs / q.image.minMs, f.image.medianMs / q.image.medianMs);
        report["large"] = {{"weights", large.toStdString()},
                           {"threads", threads},
                           {"int8_load_s", q.loadS},
                           {"int8_rss_mib", q.rssMiB},
                           {"int8_rss_anon_mib", q.anonMiB},
                           {"int8_rss_anon_trimmed_mib", q.anonTrimmedMiB},
                           {"int8_rss_file_mib", q.fileMiB},
                           {"image_ms",
                            {{"f32_min", f.image.minMs},
                             {"f32_median", f.image.medianMs},
                             {"int8_min", q.image.minMs},
                             {"int8_median", q.image.medianMs}}},
                           {"caption_ms",
                            {{"f32_min", f.caption.minMs},
                             {"f32_median", f.caption.medianMs},
                             {"int8_min", q.caption.minMs},
                             {"int8_median", q.caption.medianMs}}},
                           {"matmul_peak_gflops", f.imagePeak},
                           {"load_average", f.imageLoad.toStdString()}};
        if (photoCount > 0) {
            const auto [imgMin, imgMean] = cosine(f.library.images, q.library.images);
            const auto [txtMin, txtMean] = cosine(f.library.captions, q.library.captions);
            const auto [overlap, worst] = top10Overlap(f.library, q.library);
            const double spread =
                at::matmul(f.library.images, f.library.images.t()).mean().item<double>();
            std::printf("quality over %lld generated photos (mean pairwise cosine %.3f) and %d "
                        "captions: cosine int8 vs float32 image "
                        "min %.5f mean %.5f, caption min %.5f mean %.5f; top-10 overlap %.3f "
                        "(worst caption %.1f)\n",
                        static_cast<long long>(photoCount), spread, captionCount, imgMin, imgMean,
                        txtMin, txtMean, overlap, worst);
            printRanges(f.ranges, rangesTop, report["large"]["activation_max_abs"]);
            report["large"]["library"] = {
                {"photos", photoCount},          {"captions", captionCount},
                {"image_cosine_min", imgMin},    {"image_cosine_mean", imgMean},
                {"caption_cosine_min", txtMin},  {"caption_cosine_mean", txtMean},
                {"top10_overlap_int8", overlap}, {"top10_overlap_int8_worst", worst},
                {"mean_pairwise_cosine", spread}};
        }
    }
    report["peak_rss_mib"] = test::processStatusMiB("VmHWM:");
    std::printf("\npeak RSS %.0f MiB\n%s\n", test::processStatusMiB("VmHWM:"),
                report.dump().c_str());
    return 0;
}
