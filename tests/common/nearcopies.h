#pragma once

// Near-copies of a photo as people end up with them: resized for sharing, re-encoded at another
// JPEG quality, cropped a little, converted between PNG and JPEG. Written with Qt (the same
// decoder the app uses). Used to measure the near-duplicate threshold
// (tests/search/measure_duplicates.cpp) and as the expected groups of the duplicate tests.

#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QPainter>
#include <QString>
#include <QStringList>

#include <vector>

namespace ts::test {

struct NearCopy {
    QString variant; // what was done, e.g. "resized 50% (JPEG q90)"
    QString path;
};

// Writes every variant of `source` into `outDir` as "<base>-<n>.<ext>"; returns them (empty when
// the source cannot be read). `variants` limits how many are written (first ones; -1: all). The
// 90% crop comes last: it is the one the tiny test model does not keep above the default
// threshold for every photo (measure_duplicates), so tests that expect exact groups take 6.
inline std::vector<NearCopy> writeNearCopies(const QString &source, const QString &outDir,
                                             int variants = -1) {
    const QImage original(source);
    if (original.isNull())
        return {};
    const QString base = QFileInfo(source).completeBaseName();
    const bool isJpeg =
        QFileInfo(source).suffix().compare(QStringLiteral("jpg"), Qt::CaseInsensitive) == 0;
    const int w = original.width(), h = original.height();
    auto scaled = [&](double f) {
        return original.scaled(std::max(1, int(w * f)), std::max(1, int(h * f)),
                               Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
    };
    auto cropped = [&](double keep) {
        const int cw = std::max(1, int(w * keep)), ch = std::max(1, int(h * keep));
        return original.copy((w - cw) / 2, (h - ch) / 2, cw, ch);
    };
    struct Spec {
        QString variant;
        QImage image;
        const char *format;
        int quality;
    };
    const std::vector<Spec> specs{
        {QStringLiteral("resized 50% (JPEG q90)"), scaled(0.5), "jpg", 90},
        {QStringLiteral("resized 25% (JPEG q90)"), scaled(0.25), "jpg", 90},
        {QStringLiteral("JPEG q50"), original, "jpg", 50},
        {QStringLiteral("JPEG q70"), original, "jpg", 70},
        {QStringLiteral("cropped to 95% (JPEG q90)"), cropped(0.95), "jpg", 90},
        isJpeg ? Spec{QStringLiteral("JPEG to PNG"), original, "png", -1}
               : Spec{QStringLiteral("PNG to JPEG q90"), original, "jpg", 90},
        {QStringLiteral("cropped to 90% (JPEG q90)"), cropped(0.90), "jpg", 90},
    };
    std::vector<NearCopy> out;
    QDir().mkpath(outDir);
    for (size_t i = 0; i < specs.size() && (variants < 0 || int(i) < variants); ++i) {
        const QString path = QDir(outDir).filePath(
            QStringLiteral("%1-%2.%3").arg(base).arg(i + 1).arg(QLatin1String(specs[i].format)));
        // JPEG has no alpha: flatten onto white as a photo editor's export does.
        QImage image = specs[i].image;
        if (qstrcmp(specs[i].format, "jpg") == 0 && image.hasAlphaChannel()) {
            QImage flat(image.size(), QImage::Format_RGB32);
            flat.fill(Qt::white);
            QPainter(&flat).drawImage(0, 0, image);
            image = flat;
        }
        if (image.save(path, specs[i].format, specs[i].quality))
            out.push_back({specs[i].variant, path});
    }
    return out;
}

} // namespace ts::test
