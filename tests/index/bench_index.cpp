// Benchmark of ts::VectorIndex (not a test): build time, nprobe tuning, single-query search
// latency (k = 10), recall@10 of the approximate index against the exact one, and resident memory,
// on two synthetic 512-d distributions:
//   isotropic  unit centres in random directions plus noise (where IVF looks perfect)
//   cone       CLIP-like: every vector leans towards one shared direction (mean cosine 0.62 between
//              random vectors), decaying per-dimension spectrum, Zipf cluster sizes
// Queries are new vectors from the same distribution (new photos, not in the index).
//
//   bench_index [--distributions isotropic,cone] [--sizes 10000,100000,1000000] [--queries 100]
//               [--exact-queries 100] [--nprobe-sweep 16,32,64,128,256,512] [--threads 2]
//               [--spread 1.0] [--cone-mean 0.62] [--cone-noise 0.6] [--cone-spectrum 0.25]
//               [--filtered 0.001,0.01,0.1,0.5,1]
//
// Rows per size: exact (the reference), then IVF at main's fixed nprobe (max(32, nlist / 64)),
// at the tuned nprobe, over the sweep, and scanning every cell ("all": against the exact row it
// gives the per-vector cost ratio behind the exact/IVF crossover, nprobetuner.h). Prints a table
// and one JSON line per distribution and size. Peak memory is about 3x the vector data at the
// largest size (the vectors, the index and the normalised copy add() makes).
//
// --filtered SHARES replaces those rows by filtered-search rows: a random subset keeping each
// share of the vectors, recall@10 of searchWithin() against brute force over the subset, ms per
// query (a share of 1 is the unfiltered search for comparison).
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
#include <iterator>
#include <numeric>
#include <random>
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

struct Dataset {
    std::vector<float> base, queries;
    double meanCosine = 0;
    QJsonObject clusters; // the measured spread of cluster sizes
    QString describe;
};

// Cluster sizes as shares of the vectors: the largest, the median, the smallest, and how much the
// largest tenth of the clusters holds.
QJsonObject clusterSpread(const std::vector<int> &clusterOf, int clusters) {
    std::vector<qint64> sizes(size_t(clusters), 0);
    for (int c : clusterOf)
        ++sizes[size_t(c)];
    std::sort(sizes.begin(), sizes.end(), std::greater<>());
    const double n = double(clusterOf.size());
    qint64 top = 0;
    for (int c = 0; c < std::max(1, clusters / 10); ++c)
        top += sizes[size_t(c)];
    return {{QStringLiteral("clusters"), clusters},
            {QStringLiteral("largest_share"), double(sizes.front()) / n},
            {QStringLiteral("median_share"), double(sizes[sizes.size() / 2]) / n},
            {QStringLiteral("smallest_share"), double(sizes.back()) / n},
            {QStringLiteral("top_tenth_share"), double(top) / n}};
}

Dataset makeDataset(const QString &distribution, qint64 n, int dim, int queryCount, float spread,
                    const test::ConeShape &shape) {
    Dataset data;
    std::vector<int> clusterOf;
    clusterOf.reserve(size_t(n));
    const int clusters = std::max(100, int(std::sqrt(double(n))));
    if (distribution == QLatin1String("cone")) {
        test::ConeVectors gen(dim, clusters, quint64(n), shape);
        data.base = gen.sample(n, &clusterOf);
        data.queries = gen.sample(queryCount);
        data.describe = QStringLiteral("cone: axis weight %1, centre spread %2, noise %3, "
                                       "spectrum 1/(j+1)^%4, Zipf %5")
                            .arg(gen.axisWeight, 0, 'f', 3)
                            .arg(shape.centreSpread)
                            .arg(shape.noise)
                            .arg(shape.spectrum)
                            .arg(shape.zipf);
    } else {
        test::ClusteredVectors gen(dim, clusters, quint64(n), spread);
        data.base = gen.sample(n, &clusterOf);
        data.queries = gen.sample(queryCount);
        data.describe = QStringLiteral("isotropic: unit centres, noise %1").arg(double(spread));
    }
    data.meanCosine = test::meanPairwiseCosine(data.base, dim, 20'000, 99);
    data.clusters = clusterSpread(clusterOf, clusters);
    return data;
}

struct Row {
    QString name;
    int nprobe = 0;
    Latency lat, cpu;
    double recall = 0, qps1 = 0, qpsN = 0;
};

Row measure(const VectorIndex &index, const QString &name, const std::vector<float> &queries,
            int count, const std::vector<std::vector<qint64>> &truth, int threads) {
    Row row;
    row.name = name;
    row.nprobe = index.nprobe();
    std::vector<std::vector<qint64>> found;
    std::vector<double> cpu;
    row.lat = summarise(runQueries(index, queries, count, found, &cpu));
    row.cpu = summarise(cpu);
    row.recall = meanRecall(found, truth);
    row.qps1 = throughput(index, queries, std::min(count, 20), 1);
    row.qpsN = throughput(index, queries, std::min(count, 20), threads);
    return row;
}

void printRow(const char *distribution, qint64 n, const VectorIndex &index, const Row &r,
              double buildS) {
    std::printf("%-9s %9lld %-8s %6d %6d %9.2f %8.3f %8.3f %8.3f %8.4f %9.1f %9.1f %9.0f %6.2f\n",
                distribution, (long long)n, qPrintable(r.name), index.nlist(), r.nprobe, buildS,
                r.lat.median, r.lat.p95, r.cpu.median, r.recall, r.qps1, r.qpsN, currentRssMb(),
                loadAverage());
    std::fflush(stdout);
}

QJsonObject toJson(const Row &r) {
    return {{QStringLiteral("row"), r.name},
            {QStringLiteral("nprobe"), r.nprobe},
            {QStringLiteral("p50_ms"), r.lat.median},
            {QStringLiteral("p95_ms"), r.lat.p95},
            {QStringLiteral("cpu_p50_ms"), r.cpu.median},
            {QStringLiteral("recall_at_10"), r.recall},
            {QStringLiteral("qps_1_thread"), r.qps1},
            {QStringLiteral("qps_threads"), r.qpsN}};
}

void fail(const Status &status) {
    std::fprintf(stderr, "%s\n", qPrintable(status.error().message));
    std::exit(1);
}

// Filtered search (--filtered SHARES): a filter keeps a random share of the photos; recall@10 of
// VectorIndex::searchWithin against brute force over that subset, and ms per query. The index is
// built as for the approximate rows (threshold 0, nprobe tuned), so it is IVF unless tuning found
// a flat scan cheaper. The unfiltered row is search() against brute force over everything.
QJsonArray filteredRows(const char *dist, qint64 n, int dim, const Dataset &data,
                        const std::vector<qint64> &ids, const std::vector<double> &shares,
                        int queryCount) {
    VectorIndexOptions options;
    options.approximateThreshold = 0;
    auto index = VectorIndex::create(options, QStringLiteral("bench")).value();
    const auto t0 = Clock::now();
    if (auto st = index.add(ids, data.base); !st)
        fail(st);
    std::printf("%-9s %9lld index built in %.1f s: %s, nlist %d, nprobe %d\n", dist, (long long)n,
                msSince(t0) / 1000.0, index.isApproximate() ? "IVF" : "exact", index.nlist(),
                index.nprobe());
    std::printf("%-9s %9s %8s %9s %8s %8s %8s %8s %6s\n", "data", "vectors", "share", "subset",
                "p50_ms", "p95_ms", "cpu_p50", "recall", "load");
    QJsonArray rows;
    std::mt19937_64 rng(quint64(n) + 17);
    for (double share : shares) {
        const bool all = share >= 1.0;
        std::vector<qint64> subset, rowsOf;
        std::vector<float> subsetBase;
        if (!all) {
            // Row indices of a random subset, ascending (as a catalog query returns ids).
            std::vector<qint64> order(static_cast<size_t>(n));
            std::iota(order.begin(), order.end(), qint64(0));
            std::sample(order.begin(), order.end(), std::back_inserter(rowsOf),
                        std::max<qint64>(1, qint64(share * double(n))), rng);
            for (qint64 r : rowsOf) {
                subset.push_back(ids[size_t(r)]);
                subsetBase.insert(subsetBase.end(), data.base.begin() + r * dim,
                                  data.base.begin() + (r + 1) * dim);
            }
        }
        std::vector<double> ms, cpuMs;
        double recallSum = 0;
        for (int q = 0; q < queryCount; ++q) {
            const float *query = data.queries.data() + size_t(q) * size_t(dim);
            const double cpu0 = threadCpuMs();
            const auto q0 = Clock::now();
            auto hits = all ? index.search(query, 10) : index.searchWithin(query, 10, subset);
            ms.push_back(msSince(q0));
            cpuMs.push_back(threadCpuMs() - cpu0);
            if (!hits)
                fail(hits.error());
            std::vector<qint64> found, truth;
            for (const SearchHit &h : *hits)
                found.push_back(h.id);
            for (qint64 r : test::bruteForceTopK(all ? data.base : subsetBase, dim, query, 10))
                truth.push_back(all ? ids[size_t(r)] : subset[size_t(r)]);
            recallSum += test::recall(found, truth);
        }
        const Latency lat = summarise(ms), cpu = summarise(cpuMs);
        const double recall = recallSum / queryCount;
        const qint64 kept = all ? n : qint64(subset.size());
        std::printf("%-9s %9lld %7.1f%% %9lld %8.3f %8.3f %8.3f %8.4f %6.2f\n", dist, (long long)n,
                    share * 100, (long long)kept, lat.median, lat.p95, cpu.median, recall,
                    loadAverage());
        std::fflush(stdout);
        rows.append(QJsonObject{{QStringLiteral("share"), share},
                                {QStringLiteral("subset"), kept},
                                {QStringLiteral("p50_ms"), lat.median},
                                {QStringLiteral("p95_ms"), lat.p95},
                                {QStringLiteral("cpu_p50_ms"), cpu.median},
                                {QStringLiteral("recall_at_10"), recall},
                                {QStringLiteral("mode"), index.isApproximate() ? "ivf" : "exact"},
                                {QStringLiteral("nprobe"), index.nprobe()}});
    }
    return rows;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    std::vector<qint64> sizes{10'000, 100'000, 1'000'000};
    std::vector<qint64> sweep{16, 32, 64, 128, 256, 512};
    QStringList distributions{QStringLiteral("isotropic"), QStringLiteral("cone")};
    int queryCount = 100, exactQueries = 100, threads = 2;
    std::vector<double> filterShares;
    float spread = 1.0f;
    test::ConeShape cone;
    const QStringList args = app.arguments();
    for (int i = 1; i + 1 < args.size(); i += 2) {
        const QString &key = args[i], &value = args[i + 1];
        if (key == QLatin1String("--sizes"))
            sizes = parseList(value);
        else if (key == QLatin1String("--distributions"))
            distributions = value.split(QLatin1Char(','), Qt::SkipEmptyParts);
        else if (key == QLatin1String("--queries"))
            queryCount = value.toInt();
        else if (key == QLatin1String("--exact-queries"))
            exactQueries = value.toInt();
        else if (key == QLatin1String("--nprobe-sweep"))
            sweep = parseList(value);
        else if (key == QLatin1String("--spread"))
            spread = value.toFloat();
        else if (key == QLatin1String("--cone-mean"))
            cone.meanCosine = value.toDouble();
        else if (key == QLatin1String("--cone-noise"))
            cone.noise = value.toDouble();
        else if (key == QLatin1String("--cone-spectrum"))
            cone.spectrum = value.toDouble();
        else if (key == QLatin1String("--threads"))
            threads = value.toInt();
        else if (key == QLatin1String("--filtered"))
            for (const QString &part : value.split(QLatin1Char(','), Qt::SkipEmptyParts))
                filterShares.push_back(part.toDouble());
    }
    constexpr int dim = 512;
    std::printf("load average at start %.2f (wall-clock latencies are skewed when it exceeds the "
                "cores; cpu_p50 is the searching thread's CPU time)\n",
                loadAverage());

    for (const QString &distribution : distributions) {
        const QByteArray dist = distribution.toUtf8();
        for (qint64 n : sizes) {
            Dataset data = makeDataset(distribution, n, dim, queryCount, spread, cone);
            std::vector<qint64> ids(static_cast<size_t>(n));
            std::iota(ids.begin(), ids.end(), qint64(1'000'000'000'000));
            std::printf("\n%s, %lld vectors: %s\n  measured mean cosine of 20000 random pairs "
                        "%.3f; cluster sizes (share of vectors): largest %.4f, median %.6f, "
                        "smallest %.6f, largest tenth of %d clusters %.3f\n",
                        dist.constData(), (long long)n, qPrintable(data.describe), data.meanCosine,
                        data.clusters[QStringLiteral("largest_share")].toDouble(),
                        data.clusters[QStringLiteral("median_share")].toDouble(),
                        data.clusters[QStringLiteral("smallest_share")].toDouble(),
                        data.clusters[QStringLiteral("clusters")].toInt(),
                        data.clusters[QStringLiteral("top_tenth_share")].toDouble());
            if (!filterShares.empty()) {
                const QJsonObject filtered{
                    {QStringLiteral("distribution"), distribution},
                    {QStringLiteral("vectors"), n},
                    {QStringLiteral("filtered"),
                     filteredRows(dist.constData(), n, dim, data, ids, filterShares, queryCount)}};
                std::printf("JSON %s\n",
                            QJsonDocument(filtered).toJson(QJsonDocument::Compact).constData());
                continue;
            }
            std::printf("%-9s %9s %-8s %6s %6s %9s %8s %8s %8s %8s %9s %9s %9s %6s\n", "data",
                        "vectors", "row", "nlist", "nprobe", "build_s", "p50_ms", "p95_ms",
                        "cpu_p50", "recall", "qps_1thr", "qps_Nthr", "rss_mb", "load");
            QJsonObject json{{QStringLiteral("distribution"), distribution},
                             {QStringLiteral("vectors"), n},
                             {QStringLiteral("dimension"), dim},
                             {QStringLiteral("mean_cosine"), data.meanCosine},
                             {QStringLiteral("cluster_sizes"), data.clusters}};

            // Exact: its results are the reference for recall. Added in batches (a flat index
            // needs no training), so only one batch is copied at a time.
            std::vector<std::vector<qint64>> truth;
            {
                VectorIndexOptions options;
                options.approximateThreshold = n + 1;
                auto index = VectorIndex::create(options, QStringLiteral("bench")).value();
                const auto t0 = Clock::now();
                constexpr qint64 kBatch = 65'536;
                for (qint64 from = 0; from < n; from += kBatch) {
                    const qint64 to = std::min(n, from + kBatch);
                    const std::vector<qint64> batchIds(ids.begin() + from, ids.begin() + to);
                    const std::vector<float> batch(data.base.begin() + from * dim,
                                                   data.base.begin() + to * dim);
                    if (auto st = index.add(batchIds, batch); !st)
                        fail(st);
                }
                const double buildS = msSince(t0) / 1000.0;
                const int nq = std::min(queryCount, exactQueries);
                std::vector<std::vector<qint64>> found;
                std::vector<double> cpu;
                Row row;
                row.name = QStringLiteral("exact");
                row.lat = summarise(runQueries(index, data.queries, nq, truth, &cpu));
                row.cpu = summarise(cpu);
                row.recall = 1.0;
                row.qps1 = throughput(index, data.queries, std::min(nq, 20), 1);
                row.qpsN = throughput(index, data.queries, std::min(nq, 20), threads);
                printRow(dist.constData(), n, index, row, buildS);
                QJsonObject exact = toJson(row);
                exact.insert(QStringLiteral("build_s"), buildS);
                json.insert(QStringLiteral("exact"), exact);
            }

            // Approximate: threshold 0 forces IVF at any size; tuning runs inside add().
            {
                VectorIndexOptions options;
                options.approximateThreshold = 0;
                auto index = VectorIndex::create(options, QStringLiteral("bench")).value();
                auto t0 = Clock::now();
                const double cpu0 = processCpuS();
                if (auto st = index.add(ids, data.base); !st)
                    fail(st);
                const double buildS = msSince(t0) / 1000.0;
                const double buildCpuS = processCpuS() - cpu0;
                const IndexTuning tuning = index.tuning();
                std::printf("%-9s %9lld ivf build %.1f s wall, %.1f s CPU (all threads), of which "
                            "tuning %.2f s: nprobe %d, held-out sample recall@10 %.4f, a query "
                            "scans %.4f of the vectors%s\n",
                            dist.constData(), (long long)n, buildS, buildCpuS, tuning.seconds,
                            tuning.nprobe, tuning.sampleRecall, tuning.scannedFraction,
                            tuning.exact ? "; exact search is cheaper: the index stays exact" : "");
                std::fflush(stdout);
                QJsonObject ivfJson{{QStringLiteral("build_s"), buildS},
                                    {QStringLiteral("build_cpu_s"), buildCpuS},
                                    {QStringLiteral("tuning_s"), tuning.seconds},
                                    {QStringLiteral("tuned_nprobe"), tuning.nprobe},
                                    {QStringLiteral("tuned_exact"), tuning.exact},
                                    {QStringLiteral("sample_recall"), tuning.sampleRecall},
                                    {QStringLiteral("scanned_fraction"), tuning.scannedFraction}};
                QJsonArray rows;
                if (tuning.exact) {
                    const Row r = measure(index, QStringLiteral("tuned"), data.queries, queryCount,
                                          truth, threads);
                    printRow(dist.constData(), n, index, r, buildS);
                    rows.append(toJson(r));
                    // The sweep needs an IVF index: build one without tuning.
                    options.targetRecall = 0;
                    index = VectorIndex::create(options, QStringLiteral("bench")).value();
                    if (auto st = index.add(ids, data.base); !st)
                        fail(st);
                }
                data.base = {}; // keep one copy: the index holds the vectors now
                const int nlist = index.nlist();
                std::vector<std::pair<QString, int>> probes{
                    {QStringLiteral("fixed"), std::clamp(std::max(32, nlist / 64), 1, nlist)}};
                if (!tuning.exact)
                    probes.push_back({QStringLiteral("tuned"), 0});
                for (qint64 p : sweep)
                    if (p < nlist)
                        probes.push_back({QStringLiteral("sweep"), int(p)});
                probes.push_back({QStringLiteral("all"), nlist});
                for (const auto &[name, p] : probes) {
                    index.setNprobe(p);
                    const Row r = measure(index, name, data.queries, queryCount, truth, threads);
                    printRow(dist.constData(), n, index, r, buildS);
                    rows.append(toJson(r));
                }
                ivfJson.insert(QStringLiteral("nlist"), nlist);
                ivfJson.insert(QStringLiteral("rows"), rows);
                json.insert(QStringLiteral("ivf"), ivfJson);
            }
            json.insert(QStringLiteral("peak_rss_mb"), peakRssMb());
            json.insert(QStringLiteral("threads"), threads);
            json.insert(QStringLiteral("load_average"), loadAverage());
            std::printf("JSON %s\n",
                        QJsonDocument(json).toJson(QJsonDocument::Compact).constData());
            std::fflush(stdout);
        }
    }
    std::printf("peak RSS %.0f MB\n", peakRssMb());
    return 0;
}
