// measure_duplicates [MODEL_DIR...]: how similar near-copies of a photo are to it, against how
// similar distinct photos are, with the fixture models; the figures behind the default
// near-duplicate threshold (kDefaultDuplicateThreshold, README "Find duplicates").
//
// Photos: the four fixture photos of tests/data/images (the e2e images are the same files) and,
// as more distinct photos, each photo's four quarters. Near-copies: tests/common/nearcopies.h
// (resized to 50%/25%, JPEG q50/q70, cropped to 95%/90%, PNG<->JPEG). Pairs: every near-copy with
// its original and with the other copies of it; distinct: every other pair except a quarter with
// its own photo (part of it, neither a copy nor unrelated).
// Models: tests/data/e2e/tiny-e2e by default, the only fixture checkpoint with its own tokenizer
// (the others under tests/data/model have vocabularies of 80-200 tokens and no vocab.json; a
// folder given without tokenizer files borrows the e2e model's). The fixture models have random
// weights: their figures show the method, not what the released model does.
#include "core/search/bridgetowerpipeline.h"
#include "nearcopies.h"
#include "testdata.h"

#include <QCoreApplication>
#include <QFile>
#include <QGuiApplication>
#include <QTemporaryDir>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

using namespace ts;

namespace {

struct Photo {
    QString path;
    int origin;      // index of the photo it comes from
    QString variant; // "original", "quarter", or the near-copy variant
};

double quantile(std::vector<double> v, double q) {
    if (v.empty())
        return std::nan("");
    std::sort(v.begin(), v.end());
    return v[size_t(std::lround(q * double(v.size() - 1)))];
}

// A checkpoint folder with the e2e model's tokenizer and preprocessor files beside its weights.
QString completed(const QString &dir, QTemporaryDir &tmp) {
    if (QFile::exists(dir + QStringLiteral("/vocab.json")))
        return dir;
    const QString out = tmp.filePath(QFileInfo(dir).fileName());
    QDir().mkpath(out);
    const QString e2e = test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    for (const char *name : {"vocab.json", "merges.txt", "preprocessor_config.json",
                             "tokenizer_config.json", "special_tokens_map.json"})
        QFile::link(e2e + QLatin1Char('/') + QLatin1String(name),
                    out + QLatin1Char('/') + QLatin1String(name));
    for (const char *name : {"config.json", "model.safetensors"})
        QFile::link(dir + QLatin1Char('/') + QLatin1String(name),
                    out + QLatin1Char('/') + QLatin1String(name));
    return out;
}

} // namespace

int main(int argc, char **argv) {
    QGuiApplication app(argc, argv);
    QStringList models = app.arguments().mid(1);
    if (models.isEmpty())
        models << test::dataDir(QStringLiteral("e2e/tiny-e2e"));
    QTemporaryDir tmp;
    std::vector<Photo> photos;
    const QDir images(test::dataDir(QStringLiteral("images")));
    int origins = 0;
    // The photos (photo_*), not the synthetic format cases (syn_*: one pattern in many formats).
    for (const QString &name :
         images.entryList({QStringLiteral("photo_*")}, QDir::Files, QDir::Name)) {
        const QImage image(images.filePath(name));
        if (image.isNull())
            continue;
        const int origin = origins++;
        photos.push_back({images.filePath(name), origin, QStringLiteral("original")});
        for (const auto &copy :
             test::writeNearCopies(images.filePath(name), tmp.filePath(QStringLiteral("copies"))))
            photos.push_back({copy.path, origin, copy.variant});
        const int w = image.width() / 2, h = image.height() / 2;
        for (int q = 0; q < 4; ++q) {
            const QString path =
                tmp.filePath(QStringLiteral("quarter-%1-%2.png").arg(origin).arg(q));
            if (image.copy((q % 2) * w, (q / 2) * h, w, h).save(path))
                photos.push_back({path, origin, QStringLiteral("quarter")});
        }
    }
    std::printf("%d photos, %zu files (near-copies and quarters included)\n", origins,
                photos.size());

    for (const QString &modelDir : models) {
        auto pipeline = BridgeTowerPipeline::load(completed(modelDir, tmp));
        if (!pipeline) {
            std::printf("\n%s: skipped: %s\n", qPrintable(modelDir),
                        qPrintable(pipeline.error().message));
            continue;
        }
        std::vector<std::vector<float>> vectors;
        bool ok = true;
        for (const Photo &p : photos) {
            auto pixels = (*pipeline)->loadPixels(p.path);
            auto embedded =
                pixels ? (*pipeline)->embedImages(*pixels) : Result<FloatTensor>(pixels.error());
            if (!embedded) {
                std::printf("\n%s: skipped: %s: %s\n", qPrintable(modelDir), qPrintable(p.path),
                            qPrintable(embedded.error().message));
                ok = false;
                break;
            }
            std::vector<float> v = embedded->data;
            double norm = 0;
            for (float x : v)
                norm += double(x) * x;
            for (float &x : v)
                x = float(x / std::sqrt(norm));
            vectors.push_back(std::move(v));
        }
        if (!ok)
            continue;
        auto cosine = [&](size_t a, size_t b) {
            double dot = 0;
            for (size_t j = 0; j < vectors[a].size(); ++j)
                dot += double(vectors[a][j]) * vectors[b][j];
            return dot;
        };
        std::map<QString, std::vector<double>> copyToOriginal;
        std::vector<double> copies, distinct, distinctWhole;
        for (size_t a = 0; a < photos.size(); ++a)
            for (size_t b = a + 1; b < photos.size(); ++b) {
                const Photo &pa = photos[a], &pb = photos[b];
                const bool quarterA = pa.variant == QLatin1String("quarter"),
                           quarterB = pb.variant == QLatin1String("quarter");
                if (pa.origin == pb.origin) {
                    if (quarterA || quarterB)
                        continue; // part of the photo: neither a copy nor unrelated
                    copies.push_back(cosine(a, b));
                    if (pa.variant == QLatin1String("original"))
                        copyToOriginal[pb.variant].push_back(copies.back());
                } else {
                    distinct.push_back(cosine(a, b));
                    if (!quarterA && !quarterB)
                        distinctWhole.push_back(distinct.back());
                }
            }
        std::printf("\n%s (random weights)\n", qPrintable(QFileInfo(modelDir).fileName()));
        std::printf("  %-28s %5s %8s %8s\n", "near-copy vs original", "n", "min", "median");
        for (const auto &[variant, v] : copyToOriginal)
            std::printf("  %-28s %5zu %8.4f %8.4f\n", qPrintable(variant), v.size(), quantile(v, 0),
                        quantile(v, 0.5));
        std::map<int, double> worstCopyOf;
        for (size_t a = 0; a < photos.size(); ++a)
            for (size_t b = 0; b < photos.size(); ++b)
                if (photos[a].variant == QLatin1String("original") && b != a &&
                    photos[b].origin == photos[a].origin &&
                    photos[b].variant != QLatin1String("quarter"))
                    worstCopyOf[photos[a].origin] = std::min(
                        worstCopyOf.count(photos[a].origin) ? worstCopyOf[photos[a].origin] : 1.0,
                        cosine(a, b));
        for (const auto &[origin, worst] : worstCopyOf)
            for (const Photo &p : photos)
                if (p.origin == origin && p.variant == QLatin1String("original"))
                    std::printf("  %-28s least similar copy %.4f\n",
                                qPrintable(QFileInfo(p.path).fileName()), worst);
        std::printf("  copies of one photo (all pairs): n %zu, min %.4f, 5%% %.4f, median %.4f\n",
                    copies.size(), quantile(copies, 0), quantile(copies, 0.05),
                    quantile(copies, 0.5));
        std::printf("  distinct photos:                n %zu, max %.4f, 99%% %.4f, median %.4f\n",
                    distinct.size(), quantile(distinct, 1), quantile(distinct, 0.99),
                    quantile(distinct, 0.5));
        std::printf("  distinct whole photos (and their copies): n %zu, max %.4f, median %.4f\n",
                    distinctWhole.size(), quantile(distinctWhole, 1), quantile(distinctWhole, 0.5));
        auto share = [](const std::vector<double> &v, double t) {
            return 100.0 *
                   double(std::count_if(v.begin(), v.end(), [t](double c) { return c >= t; })) /
                   double(std::max<size_t>(1, v.size()));
        };
        for (double t : {0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98})
            std::printf(
                "  threshold %.2f: copies found %5.1f%%; taken for copies: distinct pairs %5.2f%%, "
                "distinct whole photos %5.2f%%\n",
                t, share(copies, t), share(distinct, t), share(distinctWhole, t));
    }
    return 0;
}
