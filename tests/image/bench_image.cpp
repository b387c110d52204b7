// Benchmark (not a test): milliseconds per photo for decode + preprocess of a generated 12 MP JPEG,
// full decode vs the reduced-scale fast path, and the fast path's effect on the preprocessed
// pixels.
//   ninja -C build-image bench_image && QT_QPA_PLATFORM=offscreen
//   build-image/tests/image/bench_image
#include "imagetestutil.h"

#include "core/image/imagedecoder.h"
#include "core/image/imageprocessor.h"

#include <QElapsedTimer>
#include <QGuiApplication>

#include <algorithm>
#include <cstdio>

using namespace ts;

int main(int argc, char **argv) {
    QGuiApplication app(argc, argv);
    const int runs = argc > 1 ? std::max(1, atoi(argv[1])) : 5;
    const ImageProcessor processor{ImageProcessorConfig{}};
    std::printf("generating a 4000 x 3000 synthetic photo...\n");
    const QImage photo = test::syntheticPhoto(4000, 3000, 42);
    for (int quality : {85, 95}) {
        const QByteArray jpeg = test::encode(photo, "jpeg", quality);
        std::printf("\n12 MP JPEG, quality %d, %.1f MB\n", quality, jpeg.size() / 1e6);
        ProcessedImage reference;
        for (int mode = 0; mode < 2; ++mode) {
            DecodeOptions opt;
            if (mode == 1)
                opt.targetShortestEdgeHint = QSize(288, 288);
            double best = 1e9, total = 0, bestDecode = 1e9;
            ProcessedImage last;
            QSize decodedSize;
            for (int r = 0; r < runs; ++r) {
                QElapsedTimer t;
                t.start();
                auto d = decodeImageData(jpeg, QStringLiteral("bench.jpg"), opt);
                const double decodeMs = t.nsecsElapsed() / 1e6;
                auto p = processor.process(d->rgb, true);
                const double ms = t.nsecsElapsed() / 1e6;
                best = std::min(best, ms);
                bestDecode = std::min(bestDecode, decodeMs);
                total += ms;
                decodedSize = d->rgb.size();
                last = std::move(p).value();
            }
            std::printf("  %-22s decoded %4dx%-4d  decode+preprocess: best %.1f ms, mean %.1f ms "
                        "(decode alone best %.1f ms)\n",
                        mode == 0 ? "full decode:" : "reduced-scale decode:", decodedSize.width(),
                        decodedSize.height(), best, total / runs, bestDecode);
            if (mode == 0) {
                reference = last;
            } else {
                const test::DiffStats s = test::compareRgb(reference.rgb, last.rgb);
                std::printf("  fast path vs full decode after preprocessing: max %d levels, %.3f%% "
                            "identical, "
                            "%.3f%% within 1, %.3f%% within 2 levels\n",
                            s.maxDiff, 100 * s.fractionWithin(0), 100 * s.fractionWithin(1),
                            100 * s.fractionWithin(2));
            }
        }
    }
    return 0;
}
