// Benchmark of VectorIndex::similarPairs (not a test): the range search behind "Find duplicates",
// on CLIP-like 512-d cone vectors (syntheticvectors.h; unrelated vectors at cosine ~0.62) with
// planted near-copies (1 vector in 50 gets a copy at cosine ~0.98, 1 in 500 a second one).
// Rows: the exact (flat) index (--exact), then the IVF index at its tuned nprobe and at fixed
// ones; time of the whole scan (wall and process CPU), pairs found and their recall.
//
//   bench_duplicates [--size 100000] [--threshold 0.96] [--nprobes 1,4,16] [--runs 1] [--exact]
// "recall": of the exact index's pairs (with --exact); "planted": of the planted near-copies.
#include "core/index/vectorindex.h"
#include "syntheticvectors.h"

#include <QCoreApplication>
#include <QStringList>
#include <QThread>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <numeric>
#include <set>

using namespace ts;
using Clock = std::chrono::steady_clock;

namespace {

double processCpuS() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double loadAverage() {
    double load[1] = {0};
    return getloadavg(load, 1) == 1 ? load[0] : -1;
}

struct Timed {
    std::vector<SimilarPair> pairs;
    std::vector<double> wall, cpu;
};

Timed run(const VectorIndex &index, float threshold, int runs) {
    Timed t;
    for (int r = 0; r < runs; ++r) {
        const double cpu0 = processCpuS();
        const auto t0 = Clock::now();
        auto pairs = index.similarPairs(threshold);
        t.wall.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        t.cpu.push_back(processCpuS() - cpu0);
        if (!pairs)
            qFatal("%s", qPrintable(pairs.error().message));
        t.pairs = std::move(*pairs);
    }
    std::sort(t.wall.begin(), t.wall.end());
    std::sort(t.cpu.begin(), t.cpu.end());
    return t;
}

double recallOf(const std::vector<SimilarPair> &found, const std::vector<SimilarPair> &truth) {
    std::set<std::pair<qint64, qint64>> got;
    for (const SimilarPair &p : found)
        got.insert({p.first, p.second});
    qint64 hit = 0;
    for (const SimilarPair &p : truth)
        hit += got.count({p.first, p.second}) ? 1 : 0;
    return truth.empty() ? 1.0 : double(hit) / double(truth.size());
}

// Recall of the exact index's pairs (when it ran) and of the planted near-copies.
void print(const char *what, const Timed &t, const std::vector<SimilarPair> *exact,
           const std::vector<SimilarPair> &planted) {
    std::printf("%-26s %8zu %8s %8.4f %9.2f %9.2f %9.2f %6.2f\n", what, t.pairs.size(),
                exact ? qPrintable(QString::number(recallOf(t.pairs, *exact), 'f', 4)) : "-",
                recallOf(t.pairs, planted), t.wall.front(), t.wall[t.wall.size() / 2],
                t.cpu[t.cpu.size() / 2], loadAverage());
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    auto value = [&](const char *name, const QString &fallback) {
        const qsizetype i = args.indexOf(QLatin1String(name));
        return i >= 0 && i + 1 < args.size() ? args[i + 1] : fallback;
    };
    const qint64 size = value("--size", QStringLiteral("100000")).toLongLong();
    const float threshold = value("--threshold", QStringLiteral("0.96")).toFloat();
    const int runs = std::max(1, value("--runs", QStringLiteral("1")).toInt());
    std::vector<int> nprobes;
    for (const QString &s : value("--nprobes", QStringLiteral("1,4,16")).split(QLatin1Char(',')))
        nprobes.push_back(s.toInt());

    constexpr int kDim = 512;
    test::ConeVectors cone(kDim, 200, 42);
    const qint64 originals = size - size / 50 - size / 500;
    std::vector<float> vectors = cone.sample(originals);
    std::vector<qint64> copyOf;
    for (qint64 i = 0; i < size / 50; ++i)
        copyOf.push_back(i * 37 % originals);
    for (qint64 i = 0; i < size / 500; ++i)
        copyOf.push_back(i * 37 % originals);
    const std::vector<qint64> copyRows = test::appendNearCopies(vectors, kDim, copyOf, 0.2f, 7);
    const qint64 n = qint64(vectors.size() / kDim);
    std::vector<qint64> ids(static_cast<size_t>(n));
    std::iota(ids.begin(), ids.end(), qint64(1));
    std::vector<SimilarPair> planted; // each copy with its original (ids are rows + 1)
    for (size_t i = 0; i < copyRows.size(); ++i)
        planted.push_back({copyOf[i] + 1, copyRows[i] + 1, 0.0f});
    std::printf("%lld vectors (%lld near-copies), threshold %.3f, %d run(s), cores %d\n",
                static_cast<long long>(n), static_cast<long long>(copyOf.size()), double(threshold),
                runs, QThread::idealThreadCount());
    std::printf("%-26s %8s %8s %8s %9s %9s %9s %6s\n", "index", "pairs", "recall", "planted",
                "min s", "median s", "cpu s", "load");

    // The exact scan is all pairs through BLAS (size^2 x 512 multiply-adds): minutes at 100,000
    // on 2 cores, so it runs only with --exact.
    std::vector<SimilarPair> exactPairs;
    const bool withExact = args.contains(QStringLiteral("--exact"));
    if (withExact) {
        VectorIndexOptions exactOptions;
        exactOptions.approximateThreshold = n + 1;
        auto exact = VectorIndex::create(exactOptions, QStringLiteral("bench"));
        if (!exact || !exact->add(ids, vectors))
            qFatal("exact index failed");
        const Timed truth = run(*exact, threshold, runs);
        exactPairs = truth.pairs;
        print("exact (flat, BLAS)", truth, &exactPairs, planted);
    }

    VectorIndexOptions ivfOptions;
    ivfOptions.approximateThreshold = 20'000;
    auto ivf = VectorIndex::create(ivfOptions, QStringLiteral("bench"));
    const auto b0 = Clock::now();
    if (!ivf || !ivf->add(ids, vectors))
        qFatal("IVF index failed");
    std::printf("IVF build %.1f s: nlist %d, tuned nprobe %d (approximate: %d)\n",
                std::chrono::duration<double>(Clock::now() - b0).count(), ivf->nlist(),
                ivf->nprobe(), int(ivf->isApproximate()));
    if (ivf->isApproximate()) {
        const QByteArray tuned =
            QStringLiteral("IVF nprobe %1 (tuned)").arg(ivf->nprobe()).toUtf8();
        print(tuned.constData(), run(*ivf, threshold, runs), withExact ? &exactPairs : nullptr,
              planted);
        for (int nprobe : nprobes) {
            ivf->setNprobe(nprobe);
            const QByteArray what = QStringLiteral("IVF nprobe %1").arg(nprobe).toUtf8();
            print(what.constData(), run(*ivf, threshold, runs), withExact ? &exactPairs : nullptr,
                  planted);
        }
    }
    return 0;
}
