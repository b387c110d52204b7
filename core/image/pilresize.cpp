#include "core/image/pilresize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ts {
namespace {

// Pillow: 32 bits minus 8 for the result minus 2 so that negative lobes and sums above 1 fit.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Pillow's bicubic_filter (a = -0.5), with the same operation order so that the double results, and
// therefore the rounded fixed-point coefficients, are identical.
double bicubicFilter(double x) {
    constexpr double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

// Fixed-point taps for one axis: output i reads input [bounds[2i], bounds[2i] + bounds[2i+1]).
struct Taps {
    int ksize = 0;
    std::vector<int> bounds;   // (first input index, tap count) per output index
    std::vector<int32_t> coef; // ksize per output index
};

// Port of Pillow's precompute_coeffs + normalize_coeffs_8bpc for box (0, inSize).
Taps computeTaps(int inSize, int outSize) {
    constexpr double support0 = 2.0; // bicubic
    const double scale = double(inSize) / outSize;
    const double filterScale = scale < 1.0 ? 1.0 : scale;
    const double support = support0 * filterScale;

    Taps t;
    t.ksize = int(std::ceil(support)) * 2 + 1;
    t.bounds.resize(size_t(outSize) * 2);
    t.coef.assign(size_t(outSize) * size_t(t.ksize), 0);
    std::vector<double> k(size_t(t.ksize));
    for (int xx = 0; xx < outSize; ++xx) {
        const double center = 0.0 + (xx + 0.5) * scale;
        const double ss = 1.0 / filterScale;
        int xmin = int(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > inSize)
            xmax = inSize;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            const double w = bicubicFilter((x + xmin - center + 0.5) * ss);
            k[size_t(x)] = w;
            ww += w;
        }
        int32_t *out = &t.coef[size_t(xx) * size_t(t.ksize)];
        for (int x = 0; x < xmax; ++x) {
            double v = k[size_t(x)];
            if (ww != 0.0)
                v /= ww;
            // Truncation toward zero after adding +-0.5: Pillow's rounding, kept exactly.
            out[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                           : int32_t(0.5 + v * (1 << kPrecisionBits));
        }
        t.bounds[size_t(xx) * 2] = xmin;
        t.bounds[size_t(xx) * 2 + 1] = xmax;
    }
    return t;
}

inline uint8_t clip8(int32_t acc) {
    // Arithmetic shift, then Pillow's lookup table clamps to 0..255.
    return uint8_t(std::clamp(acc >> kPrecisionBits, 0, 255));
}

constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Rows [rowFirst, rowFirst + out.height()) of `in` resampled horizontally into `out`.
void resampleHorizontal(const QImage &in, QImage &out, int rowFirst, const Taps &t) {
    const int outW = out.width();
    for (int yy = 0; yy < out.height(); ++yy) {
        const uint8_t *src = in.constScanLine(rowFirst + yy);
        uint8_t *dst = out.scanLine(yy);
        for (int xx = 0; xx < outW; ++xx) {
            const int xmin = t.bounds[size_t(xx) * 2];
            const int n = t.bounds[size_t(xx) * 2 + 1];
            const int32_t *k = &t.coef[size_t(xx) * size_t(t.ksize)];
            const uint8_t *p = src + size_t(xmin) * 3;
            int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
            for (int x = 0; x < n; ++x) {
                const int32_t c = k[x];
                s0 += int32_t(p[0]) * c;
                s1 += int32_t(p[1]) * c;
                s2 += int32_t(p[2]) * c;
                p += 3;
            }
            dst[xx * 3 + 0] = clip8(s0);
            dst[xx * 3 + 1] = clip8(s1);
            dst[xx * 3 + 2] = clip8(s2);
        }
    }
}

// `in` rows are indexed relative to `rowOffset` (the horizontal pass may have produced only the
// rows the vertical pass reads, as Pillow does).
void resampleVertical(const QImage &in, QImage &out, int rowOffset, const Taps &t) {
    const size_t rowBytes = size_t(out.width()) * 3;
    std::vector<int32_t> acc(rowBytes);
    for (int yy = 0; yy < out.height(); ++yy) {
        const int ymin = t.bounds[size_t(yy) * 2] - rowOffset;
        const int n = t.bounds[size_t(yy) * 2 + 1];
        const int32_t *k = &t.coef[size_t(yy) * size_t(t.ksize)];
        std::fill(acc.begin(), acc.end(), kHalf);
        // Row-at-a-time accumulation: same integer sums as Pillow's per-pixel loop (integer
        // addition is associative), but contiguous and vectorisable.
        for (int y = 0; y < n; ++y) {
            const uint8_t *src = in.constScanLine(ymin + y);
            const int32_t c = k[y];
            int32_t *a = acc.data();
            for (size_t i = 0; i < rowBytes; ++i)
                a[i] += int32_t(src[i]) * c;
        }
        uint8_t *dst = out.scanLine(yy);
        for (size_t i = 0; i < rowBytes; ++i)
            dst[i] = clip8(acc[i]);
    }
}

} // namespace

QImage resizeBicubicPil(const QImage &input, QSize size) {
    if (input.isNull() || size.isEmpty())
        return {};
    const QImage in = input.format() == QImage::Format_RGB888
                          ? input
                          : input.convertToFormat(QImage::Format_RGB888);
    if (in.isNull())
        return {};
    if (size == in.size())
        return in.copy();

    const int outW = size.width();
    const int outH = size.height();
    const bool needHorizontal = outW != in.width();
    const bool needVertical = outH != in.height();
    const Taps horiz = needHorizontal ? computeTaps(in.width(), outW) : Taps{};
    const Taps vert = needVertical ? computeTaps(in.height(), outH) : Taps{};

    QImage current = in;
    int rowOffset = 0;
    if (needHorizontal) {
        // Only the input rows the vertical pass reads (Pillow's ybox_first/ybox_last).
        int first = 0;
        int last = in.height();
        if (needVertical) {
            first = vert.bounds[0];
            last = vert.bounds[size_t(outH) * 2 - 2] + vert.bounds[size_t(outH) * 2 - 1];
        }
        QImage tmp(outW, last - first, QImage::Format_RGB888);
        if (tmp.isNull())
            return {};
        resampleHorizontal(in, tmp, first, horiz);
        current = std::move(tmp);
        rowOffset = first;
    }
    if (needVertical) {
        QImage out(outW, outH, QImage::Format_RGB888);
        if (out.isNull())
            return {};
        resampleVertical(current, out, rowOffset, vert);
        return out;
    }
    return current;
}

} // namespace ts
