// Benchmark of ts::VectorIndex (not a test): build time, single-query search latency (k = 10),
// recall@10 of the approximate index against the exact one, and peak resident memory, on synthetic
// clustered 512-d vectors.
//
//   bench_index [--sizes 10000,100000,1000000] [--queries 100] [--exact-queries 100]
//               [--nprobe-sweep 16,32,64,128] [--threads 2] [--spread 1.0]
//
// Prints a table and one JSON line per size. Needs ~3x the vector data in memory at the largest
// size (the vectors, the index being built and the normalised copy add() makes).
#include "core/index/vectorindex.h"
#include "syntheticvectors.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <thread>

using namespace ts;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double processCpuS() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double peakRssMb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0; // ru_maxrss is in KiB on Linux
}

double currentRssMb() {
    FILE *f = std::fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        std::fclose(f);
    }
    return double(resident) * 4096.0 / (1024.0 * 1024.0);
}

double threadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// Load average over the last minute: other processes on the machine skew wall-clock latencies.
double loadAverage() {
    double load[1] = {0};
    return getloadavg(load, 1) == 1 ? load[0] : -1.0;
}

struct Latency {
    double median = 0, p95 = 0;
};

Latency summarise(std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    if (ms.empty())
        return {};
    return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, size_t(double(ms.size()) * 0.95))]};
}

// Searches every query once, single query at a time; returns per-query latencies and the hits.
// `cpuMs` receives the calling thread's CPU time per query (less skewed by a busy machine).
std::vector<double> runQueries(const VectorIndex &index, const std::vector<float> &queries,
                               int count, std::vector<std::vector<qint64>> &found,
                               std::vector<double> *cpuMs = nullptr) {
    const int dim = index.dimension();
    std::vector<double> ms;
    found.assign(size_t(count), {});
    for (int q = 0; q < count; ++q) {
        const double cpu0 = threadCpuMs();
        const auto t0 = Clock::now();
        auto hits = index.search(queries.data() + size_t(q) * size_t(dim), 10);
        ms.push_back(msSince(t0));
        if (cpuMs)
            cpuMs->push_back(threadCpuMs() - cpu0);
        if (!hits) {
            std::fprintf(stderr, "search failed: %s\n", qPrintable(hits.error().message));
            std::exit(1);
        }
        for (const SearchHit &h : hits.value())
            found[size_t(q)].push_back(h.id);
    }
    return ms;
}

double meanRecall(const std::vector<std::vector<qint64>> &found,
                  const std::vector<std::vector<qint64>> &truth) {
    double sum = 0;
    const size_t n = std::min(found.size(), truth.size());
    for (size_t i = 0; i < n; ++i)
        sum += test::recall(found[i], truth[i]);
    return n ? sum / double(n) : 0.0;
}

// Queries per second with `threads` threads searching at once (each single queries).
double throughput(const VectorIndex &index, const std::vector<float> &queries, int count,
                  int threads) {
    std::atomic<int> next{0};
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int q; (q = next.fetch_add(1)) < count * 3;)
                (void)index.search(queries.data() + size_t(q % count) * size_t(index.dimension()),
                                   10);
        });
    for (auto &t : pool)
        t.join();
    return double(count * 3) / (msSince(t0) / 1000.0);
}

std::vector<qint64> parseList(const QString &text) {
    std::vector<qint64> out;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts))
        out.push_back(part.trimmed().toLongLong());
    return out;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    std::vector<qint64> sizes{10'000, 100'000, 1'000'000};
    std::vector<qint64> sweep{16, 32, 64, 128};
    int queryCount = 100, exactQueries = 100, threads = 2;
    float spread = 1.0f;
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); i += 2) {
        const QString &key = args[i], &value = args[i + 1];
        if (key == QLatin1String("--sizes"))
            sizes = parseList(value);
        else if (key == QLatin1String("--queries"))
            queryCount = value.toInt();
        else if (key == QLatin1String("--exact-queries"))
            exactQueries = value.toInt();
        else if (key == QLatin1String("--nprobe-sweep"))
            sweep = parseList(value);
        else if (key == QLatin1String("--spread"))
            spread = value.toFloat();
        else if (key == QLatin1String("--threads"))
            threads = value.toInt();
    }
    constexpr int dim = 512;
    std::printf("load average at start %.2f (wall-clock latencies are skewed when it exceeds the "
                "cores; cpu_p50 is the searching thread's CPU time)\n",
                loadAverage());
    std::printf("%9s %-7s %6s %6s %9s %8s %8s %8s %8s %9s %9s %9s\n", "vectors", "mode", "nlist",
                "nprobe", "build_s", "p50_ms", "p95_ms", "cpu_p50", "recall", "qps_1thr",
                "qps_Nthr", "rss_mb");

    for (qint64 n : sizes) {
        const int clusters = std::max(100, int(std::sqrt(double(n))));
        test::ClusteredVectors gen(dim, clusters, quint64(n), spread);
        std::vector<qint64> ids(static_cast<size_t>(n));
        std::iota(ids.begin(), ids.end(), qint64(1'000'000'000'000));
        std::vector<float> base = gen.sample(n);
        const std::vector<float> queries = gen.sample(queryCount);
        QJsonObject json{{QStringLiteral("vectors"), n},
                         {QStringLiteral("clusters"), clusters},
                         {QStringLiteral("dimension"), dim},
                         {QStringLiteral("spread"), double(spread)}};

        // Exact: its results are the reference for recall.
        std::vector<std::vector<qint64>> truth;
        {
            VectorIndexOptions options;
            options.approximateThreshold = n + 1;
            auto index = VectorIndex::create(options, QStringLiteral("bench")).value();
            auto t0 = Clock::now();
            if (auto st = index.add(ids, base); !st) {
                std::fprintf(stderr, "%s\n", qPrintable(st.error().message));
                return 1;
            }
            const double buildS = msSince(t0) / 1000.0;
            const int nq = std::min(queryCount, exactQueries);
            std::vector<double> cpu;
            const Latency lat = summarise(runQueries(index, queries, nq, truth, &cpu));
            const Latency cpuLat = summarise(cpu);
            const double qps1 = throughput(index, queries, std::min(nq, 10), 1);
            const double qpsN = throughput(index, queries, std::min(nq, 10), threads);
            std::printf("%9lld %-7s %6s %6s %9.2f %8.2f %8.2f %8.2f %8s %9.1f %9.1f %9.0f\n",
                        (long long)n, "exact", "-", "-", buildS, lat.median, lat.p95, cpuLat.median,
                        "1", qps1, qpsN, currentRssMb());
            std::fflush(stdout);
            json.insert(QStringLiteral("exact"),
                        QJsonObject{{QStringLiteral("build_s"), buildS},
                                    {QStringLiteral("p50_ms"), lat.median},
                                    {QStringLiteral("p95_ms"), lat.p95},
                                    {QStringLiteral("cpu_p50_ms"), cpuLat.median},
                                    {QStringLiteral("queries"), nq},
                                    {QStringLiteral("qps_1_thread"), qps1},
                                    {QStringLiteral("qps_threads"), qpsN},
                                    {QStringLiteral("rss_mb"), currentRssMb()}});
        }

        // Approximate: threshold 0 forces IVF at any size.
        {
            VectorIndexOptions options;
            options.approximateThreshold = 0;
            auto index = VectorIndex::create(options, QStringLiteral("bench")).value();
            auto t0 = Clock::now();
            const double cpu0 = processCpuS();
            if (auto st = index.add(ids, base); !st) {
                std::fprintf(stderr, "%s\n", qPrintable(st.error().message));
                return 1;
            }
            const double buildS = msSince(t0) / 1000.0;
            const double buildCpuS = processCpuS() - cpu0;
            std::printf("%9lld ivf build: %.1f s wall, %.1f s CPU (all threads)\n", (long long)n,
                        buildS, buildCpuS);
            std::fflush(stdout);
            const double rss = currentRssMb();
            QJsonArray rows;
            std::vector<qint64> probes = sweep;
            probes.push_back(0); // the automatic default
            for (qint64 p : probes) {
                index.setNprobe(int(p));
                std::vector<std::vector<qint64>> found;
                std::vector<double> cpu;
                const Latency lat = summarise(runQueries(index, queries, queryCount, found, &cpu));
                const Latency cpuLat = summarise(cpu);
                const double r = meanRecall(found, truth);
                const double qps1 = throughput(index, queries, queryCount, 1);
                const double qpsN = throughput(index, queries, queryCount, threads);
                std::printf(
                    "%9lld %-7s %6d %6d %9.2f %8.3f %8.3f %8.3f %8.4f %9.1f %9.1f %9.0f%s\n",
                    (long long)n, "ivf", index.nlist(), index.nprobe(), buildS, lat.median, lat.p95,
                    cpuLat.median, r, qps1, qpsN, rss, p == 0 ? "  (default)" : "");
                rows.append(QJsonObject{{QStringLiteral("nprobe"), index.nprobe()},
                                        {QStringLiteral("default"), p == 0},
                                        {QStringLiteral("p50_ms"), lat.median},
                                        {QStringLiteral("p95_ms"), lat.p95},
                                        {QStringLiteral("cpu_p50_ms"), cpuLat.median},
                                        {QStringLiteral("recall_at_10"), r},
                                        {QStringLiteral("qps_1_thread"), qps1},
                                        {QStringLiteral("qps_threads"), qpsN}});
            }
            json.insert(QStringLiteral("ivf"),
                        QJsonObject{{QStringLiteral("build_s"), buildS},
                                    {QStringLiteral("build_cpu_s"), buildCpuS},
                                    {QStringLiteral("nlist"), index.nlist()},
                                    {QStringLiteral("rss_mb"), rss},
                                    {QStringLiteral("sweep"), rows}});
        }
        json.insert(QStringLiteral("peak_rss_mb"), peakRssMb());
        json.insert(QStringLiteral("threads"), threads);
        json.insert(QStringLiteral("load_average"), loadAverage());
        std::fflush(stdout);
        std::printf("JSON %s\n", QJsonDocument(json).toJson(QJsonDocument::Compact).constData());
        std::fflush(stdout);
    }
    std::printf("peak RSS %.0f MB\n", peakRssMb());
    return 0;
}
