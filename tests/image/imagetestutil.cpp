#include "imagetestutil.h"
#include "core/common/crc32.h"

#include "testdata.h"

#include "core/common/jsonfile.h"

#include <QBuffer>
#include <QFile>
#include <QImageWriter>
#include <QRandomGenerator>

#include <cmath>
#include <cstring>

namespace ts::test {

std::vector<ImageFixtureDir> imageFixtureDirs() {
    std::vector<ImageFixtureDir> out;
    for (const QString &dir : caseDirs(QStringLiteral("images"), "TOWERSEARCH_IMAGE_FIXTURES",
                                       QStringLiteral("manifest.json"))) {
        auto json = readJsonFile(dir + QStringLiteral("/manifest.json"));
        if (json)
            out.push_back({dir, *json});
        else
            qWarning("%s", qPrintable(json.error().message));
    }
    return out;
}

QImage imageFromHwc(const TensorView &t) {
    if (t.shape.size() != 3 || t.shape[2] != 3 || t.dtype != DType::U8)
        return {};
    const int h = int(t.shape[0]);
    const int w = int(t.shape[1]);
    QImage img(w, h, QImage::Format_RGB888);
    const auto *src = reinterpret_cast<const uint8_t *>(t.data);
    for (int y = 0; y < h; ++y)
        std::memcpy(img.scanLine(y), src + size_t(y) * size_t(w) * 3, size_t(w) * 3);
    return img;
}

QImage imageFromChw(const TensorView &t, int64_t b) {
    if (t.shape.size() != 4 || t.shape[1] != 3 || t.dtype != DType::U8 || b >= t.shape[0])
        return {};
    const int h = int(t.shape[2]);
    const int w = int(t.shape[3]);
    QImage img(w, h, QImage::Format_RGB888);
    const auto *src =
        reinterpret_cast<const uint8_t *>(t.data) + size_t(b) * 3 * size_t(h) * size_t(w);
    const size_t plane = size_t(h) * size_t(w);
    for (int y = 0; y < h; ++y) {
        uchar *dst = img.scanLine(y);
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                dst[3 * x + c] = src[size_t(c) * plane + size_t(y) * size_t(w) + size_t(x)];
    }
    return img;
}

DiffStats compareRgb(const QImage &a, const QImage &b) {
    DiffStats s;
    if (a.size() != b.size())
        return s;
    for (int y = 0; y < a.height(); ++y) {
        const uchar *pa = a.constScanLine(y);
        const uchar *pb = b.constScanLine(y);
        for (int i = 0; i < a.width() * 3; ++i) {
            const int d = std::abs(int(pa[i]) - int(pb[i]));
            ++s.count;
            for (int k = 0; k < 4; ++k)
                if (d > k)
                    ++s.over[k];
            s.maxDiff = std::max(s.maxDiff, d);
        }
    }
    return s;
}

QImage syntheticPhoto(int width, int height, uint32_t seed) {
    QImage img(width, height, QImage::Format_RGB888);
    QRandomGenerator rng(seed);
    // Low-frequency "scene": a few soft blobs of colour over a gradient sky/ground.
    struct Blob {
        double x, y, r;
        int cr, cg, cb;
    };
    std::vector<Blob> blobs;
    for (int i = 0; i < 24; ++i)
        blobs.push_back({rng.bounded(1.0) * width, rng.bounded(1.0) * height,
                         (0.03 + rng.bounded(0.2)) * std::min(width, height), int(rng.bounded(256)),
                         int(rng.bounded(256)), int(rng.bounded(256))});
    for (int y = 0; y < height; ++y) {
        uchar *row = img.scanLine(y);
        const double fy = double(y) / height;
        for (int x = 0; x < width; ++x) {
            const double fx = double(x) / width;
            double r = 90 + 100 * fy, g = 120 + 60 * fx, b = 200 - 120 * fy;
            for (const Blob &bl : blobs) {
                const double dx = x - bl.x, dy = y - bl.y;
                const double d2 = (dx * dx + dy * dy) / (bl.r * bl.r);
                if (d2 < 1.0) { // hard-edged disc with a soft interior: edges like object outlines
                    const double a = 0.85 * (1.0 - 0.5 * d2);
                    r = r * (1 - a) + bl.cr * a;
                    g = g * (1 - a) + bl.cg * a;
                    b = b * (1 - a) + bl.cb * a;
                }
            }
            // Fine texture (foliage/fabric-like, a few pixels per period) and sensor noise.
            const double tex =
                10.0 * std::sin(x * 0.9 + 3.0 * std::sin(y * 0.13)) * std::sin(y * 0.7);
            const double noise = (int(rng.bounded(13)) - 6);
            row[3 * x] = uchar(std::clamp(r + tex + noise, 0.0, 255.0));
            row[3 * x + 1] = uchar(std::clamp(g + tex + noise, 0.0, 255.0));
            row[3 * x + 2] = uchar(std::clamp(b + tex + noise, 0.0, 255.0));
        }
    }
    return img;
}

QByteArray encode(const QImage &image, const char *format, int quality) {
    QByteArray out;
    QBuffer buf(&out);
    buf.open(QIODevice::WriteOnly);
    QImageWriter w(&buf, format);
    if (quality >= 0)
        w.setQuality(quality);
    if (!w.write(image))
        return {};
    return out;
}

QByteArray readAll(const QString &path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

uint32_t crc32(const QByteArray &data) {
    return ts::crc32(data.constData(), size_t(data.size()));
}

} // namespace ts::test
