#pragma once

// Synthetic embeddings for the vector index tests and benchmark: L2-normalised vectors around
// random cluster centres, plus brute-force exact top-k as the reference.

#include <QtGlobal>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace ts::test {

struct ClusteredVectors {
    int dimension = 0;
    std::vector<float> centres; // [clusters, dim]
    std::mt19937_64 rng;
    float spread = 1.0f; // noise length relative to the unit centre

    ClusteredVectors(int dim, int clusters, quint64 seed, float noise = 1.0f)
        : dimension(dim), rng(seed), spread(noise) {
        centres.resize(size_t(clusters) * size_t(dim));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float &x : centres)
            x = normal(rng);
        for (int c = 0; c < clusters; ++c)
            normalise(centres.data() + size_t(c) * size_t(dim), dim);
    }

    static void normalise(float *v, int dim) {
        double s = 0;
        for (int i = 0; i < dim; ++i)
            s += double(v[i]) * v[i];
        const float inv = float(1.0 / std::sqrt(s));
        for (int i = 0; i < dim; ++i)
            v[i] *= inv;
    }

    // n vectors: a random (Zipf-ish skewed) centre plus Gaussian noise of length ~spread,
    // normalised.
    std::vector<float> sample(qint64 n, std::vector<int> *clusterOf = nullptr) {
        const int clusters = int(centres.size() / size_t(dimension));
        std::vector<float> out(size_t(n) * size_t(dimension));
        std::normal_distribution<float> normal(0.0f, spread / std::sqrt(float(dimension)));
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        for (qint64 i = 0; i < n; ++i) {
            // Skewed cluster sizes: real libraries have a few big themes and many small ones.
            const int c = std::min(clusters - 1, int(clusters * std::pow(uniform(rng), 1.5)));
            if (clusterOf)
                clusterOf->push_back(c);
            float *row = out.data() + size_t(i) * size_t(dimension);
            const float *centre = centres.data() + size_t(c) * size_t(dimension);
            for (int j = 0; j < dimension; ++j)
                row[j] = centre[j] + normal(rng);
            normalise(row, dimension);
        }
        return out;
    }
};

// CLIP-like embeddings, where an IVF index is hard to tune: every vector leans towards one shared
// direction (a cone: unrelated photos sit at cosine 0.5-0.8 instead of ~0), cluster centres and the
// spread around them have a decaying per-dimension spectrum (a few directions carry most of the
// variance, as in trained towers), and cluster sizes follow Zipf's law (cluster r holds a share
// proportional to 1 / r^zipf: a few huge themes, a long tail of small ones).
struct ConeShape {
    double meanCosine = 0.62;  // mean cosine between two random vectors (sets the cone's width)
    double centreSpread = 0.5; // length of a centre's offset from the cone axis
    double noise = 0.6;        // length of a vector's offset from its centre
    double spectrum = 0.25;    // variance of dimension j ~ 1 / (j+1)^spectrum
    double zipf = 1.0;
};

struct ConeVectors {
    int dimension = 0;
    ConeShape shape;
    double axisWeight = 1.0;        // length of the shared direction in each raw vector
    std::vector<float> axis;        // [dim], unit
    std::vector<float> scale;       // [dim], per-dimension standard deviation, sum of squares 1
    std::vector<float> centres;     // [clusters, dim]: axis * axisWeight + offset
    std::vector<double> cumulative; // Zipf: P(cluster <= c)
    std::mt19937_64 rng;

    ConeVectors(int dim, int clusters, quint64 seed, ConeShape s = {})
        : dimension(dim), shape(s), rng(seed) {
        std::normal_distribution<float> normal(0.0f, 1.0f);
        scale.resize(size_t(dim));
        double sum = 0;
        for (int j = 0; j < dim; ++j)
            sum += std::pow(double(j + 1), -shape.spectrum);
        for (int j = 0; j < dim; ++j)
            scale[size_t(j)] = float(std::sqrt(std::pow(double(j + 1), -shape.spectrum) / sum));
        axis.resize(size_t(dim));
        for (float &x : axis)
            x = normal(rng);
        ClusteredVectors::normalise(axis.data(), dim);

        double total = 0, squares = 0;
        cumulative.resize(size_t(clusters));
        for (int c = 0; c < clusters; ++c) {
            total += std::pow(double(c + 1), -shape.zipf);
            cumulative[size_t(c)] = total;
        }
        for (int c = 0; c < clusters; ++c) {
            const double p = std::pow(double(c + 1), -shape.zipf) / total;
            squares += p * p;
            cumulative[size_t(c)] /= total;
        }
        // Two random vectors share a cluster with probability `squares`; then their offsets from
        // the axis share the centre's. Solve mean cosine = (a^2 + squares * c^2) / (a^2 + c^2 +
        // n^2) for the axis weight a (norms concentrate in 512 dimensions).
        const double c2 = shape.centreSpread * shape.centreSpread, n2 = shape.noise * shape.noise;
        const double m = std::clamp(shape.meanCosine, 0.0, 0.99);
        axisWeight = std::sqrt(std::max(0.0, (m * (c2 + n2) - squares * c2) / (1.0 - m)));

        centres.resize(size_t(clusters) * size_t(dim));
        for (int c = 0; c < clusters; ++c)
            for (int j = 0; j < dim; ++j)
                centres[size_t(c) * size_t(dim) + size_t(j)] =
                    float(axisWeight) * axis[size_t(j)] +
                    float(shape.centreSpread) * scale[size_t(j)] * normal(rng);
    }

    int clusterCount() const { return int(cumulative.size()); }

    // n new vectors, normalised; `clusterOf` (optional) receives each one's cluster.
    std::vector<float> sample(qint64 n, std::vector<int> *clusterOf = nullptr) {
        std::vector<float> out(size_t(n) * size_t(dimension));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        const float noise = float(shape.noise);
        for (qint64 i = 0; i < n; ++i) {
            const double u = uniform(rng);
            const int c = std::min(clusterCount() - 1,
                                   int(std::lower_bound(cumulative.begin(), cumulative.end(), u) -
                                       cumulative.begin()));
            if (clusterOf)
                clusterOf->push_back(c);
            float *row = out.data() + size_t(i) * size_t(dimension);
            const float *centre = centres.data() + size_t(c) * size_t(dimension);
            for (int j = 0; j < dimension; ++j)
                row[j] = centre[j] + noise * scale[size_t(j)] * normal(rng);
            ClusteredVectors::normalise(row, dimension);
        }
        return out;
    }
};

// Mean cosine between `pairs` random pairs of distinct rows of normalised `vectors`.
inline double meanPairwiseCosine(const std::vector<float> &vectors, int dim, int pairs,
                                 quint64 seed) {
    const qint64 n = qint64(vectors.size() / size_t(dim));
    if (n < 2)
        return 0.0;
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<qint64> pick(0, n - 1);
    double sum = 0;
    for (int p = 0; p < pairs; ++p) {
        const qint64 a = pick(rng);
        qint64 b = pick(rng);
        while (b == a)
            b = pick(rng);
        double dot = 0;
        for (int j = 0; j < dim; ++j)
            dot += double(vectors[size_t(a) * size_t(dim) + size_t(j)]) *
                   vectors[size_t(b) * size_t(dim) + size_t(j)];
        sum += dot;
    }
    return sum / pairs;
}

// Exact top-k ids by inner product (ties broken by lower row), as row indices into `base`.
inline std::vector<qint64> bruteForceTopK(const std::vector<float> &base, int dim,
                                          const float *query, int k) {
    const qint64 n = qint64(base.size() / size_t(dim));
    std::vector<std::pair<float, qint64>> scored(static_cast<size_t>(n));
    for (qint64 i = 0; i < n; ++i) {
        const float *row = base.data() + size_t(i) * size_t(dim);
        float s = 0.0f;
        for (int j = 0; j < dim; ++j)
            s += row[j] * query[j];
        scored[size_t(i)] = {s, i};
    }
    const size_t kk = std::min<size_t>(size_t(k), scored.size());
    std::partial_sort(scored.begin(), scored.begin() + kk, scored.end(), [](auto &a, auto &b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<qint64> out;
    for (size_t i = 0; i < kk; ++i)
        out.push_back(scored[i].second);
    return out;
}

// |found ∩ truth| / |truth|.
inline double recall(const std::vector<qint64> &found, const std::vector<qint64> &truth) {
    if (truth.empty())
        return 1.0;
    int hit = 0;
    for (qint64 t : truth)
        hit += std::find(found.begin(), found.end(), t) != found.end() ? 1 : 0;
    return double(hit) / double(truth.size());
}

// Appends to `vectors` (normalised rows of `dim`) a near-copy of each row listed in `originals`:
// the row plus Gaussian noise of length `noise`, normalised (cosine to the row ~1/sqrt(1+noise^2)),
// as a resized or re-encoded photo lies near its original. Returns the new rows' indices.
inline std::vector<qint64> appendNearCopies(std::vector<float> &vectors, int dim,
                                            const std::vector<qint64> &originals, float noise,
                                            quint64 seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, noise / std::sqrt(float(dim)));
    std::vector<qint64> rows;
    for (qint64 original : originals) {
        const qint64 row = qint64(vectors.size() / size_t(dim));
        vectors.resize(vectors.size() + size_t(dim));
        float *out = vectors.data() + size_t(row) * size_t(dim);
        const float *in = vectors.data() + size_t(original) * size_t(dim);
        for (int j = 0; j < dim; ++j)
            out[j] = in[j] + normal(rng);
        ClusteredVectors::normalise(out, dim);
        rows.push_back(row);
    }
    return rows;
}

// Exact cosine of rows a and b of normalised `vectors` (double accumulation: the reference).
inline double cosineOf(const std::vector<float> &vectors, int dim, qint64 a, qint64 b) {
    double dot = 0;
    for (int j = 0; j < dim; ++j)
        dot += double(vectors[size_t(a) * size_t(dim) + size_t(j)]) *
               vectors[size_t(b) * size_t(dim) + size_t(j)];
    return dot;
}

// Every pair of rows (a < b) with cosine >= threshold, by brute force, with its cosine.
inline std::vector<std::pair<std::pair<qint64, qint64>, double>>
bruteForcePairs(const std::vector<float> &vectors, int dim, double threshold) {
    const qint64 n = qint64(vectors.size() / size_t(dim));
    std::vector<std::pair<std::pair<qint64, qint64>, double>> out;
    for (qint64 a = 0; a < n; ++a)
        for (qint64 b = a + 1; b < n; ++b) {
            const double c = cosineOf(vectors, dim, a, b);
            if (c >= threshold)
                out.push_back({{a, b}, c});
        }
    return out;
}

} // namespace ts::test
