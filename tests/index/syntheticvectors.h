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
    std::vector<float> sample(qint64 n) {
        const int clusters = int(centres.size() / size_t(dimension));
        std::vector<float> out(size_t(n) * size_t(dimension));
        std::normal_distribution<float> normal(0.0f, spread / std::sqrt(float(dimension)));
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        for (qint64 i = 0; i < n; ++i) {
            // Skewed cluster sizes: real libraries have a few big themes and many small ones.
            const int c = std::min(clusters - 1, int(clusters * std::pow(uniform(rng), 1.5)));
            float *row = out.data() + size_t(i) * size_t(dimension);
            const float *centre = centres.data() + size_t(c) * size_t(dimension);
            for (int j = 0; j < dimension; ++j)
                row[j] = centre[j] + normal(rng);
            normalise(row, dimension);
        }
        return out;
    }
};

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

} // namespace ts::test
