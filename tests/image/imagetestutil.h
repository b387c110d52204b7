#pragma once

#include "core/common/safetensorsfile.h"

#include <QByteArray>
#include <QImage>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace ts::test {

// One directory laid out like tests/data/images: manifest.json, expected.safetensors, the images
// and preprocessor_config.json.
struct ImageFixtureDir {
    QString path;
    nlohmann::json manifest;
};

// tests/data/images, plus $TOWERSEARCH_IMAGE_FIXTURES (and its subfolders) when set.
std::vector<ImageFixtureDir> imageFixtureDirs();

// A [H, W, 3] uint8 tensor as a Format_RGB888 image.
QImage imageFromHwc(const TensorView &t);
// Channel c of a [1, 3, H, W] (or [B, 3, H, W], slice b) uint8 tensor compared to an RGB888 image.
struct DiffStats {
    qint64 count = 0;
    qint64 over[4] = {0, 0, 0, 0}; // values differing by more than 0, 1, 2, 3 levels
    int maxDiff = 0;
    double fractionWithin(int levels) const {
        return count == 0 ? 1.0 : 1.0 - double(over[std::min(levels, 3)]) / double(count);
    }
};
DiffStats compareRgb(const QImage &a, const QImage &b); // sizes must match
// Image b of a [B, 3, H, W] uint8 tensor as an RGB888 image.
QImage imageFromChw(const TensorView &t, int64_t b = 0);

// A synthetic photo-like image: smooth gradients, shapes, edges, fine texture and sensor-like noise
// (deterministic for a seed). Used for the benchmark and the JPEG fast-path measurement.
QImage syntheticPhoto(int width, int height, uint32_t seed);

QByteArray encode(const QImage &image, const char *format, int quality = -1);
QByteArray readAll(const QString &path);
uint32_t crc32(const QByteArray &data);

} // namespace ts::test
