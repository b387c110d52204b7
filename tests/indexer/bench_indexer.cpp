// Benchmark (not a test): a generated library of N small photos indexed with the tiny end-to-end
// model; reports the full index time, the unchanged rescan time, memory (RSS sampled while
// indexing, and the peak) and the database size per photo.
//
//   bench_indexer [N=100000] [--dir DIR (reused when it already holds the photos)] [--fake]
//   bench_indexer --hash-cost [RUNS=10]: what identifying a 12 MP JPEG by content costs per photo
//   (one read, the quick and the full hash) beside its decode and the embedding time.
//   bench_indexer --model DIR [--photos 20] [--threads 2] [--precision f32|bf16] [--dir DIR]
//       [--alone 8]: indexing end to end at the real size: N generated 12 MP JPEGs
//       through the real indexer with the checkpoint in DIR (e.g. the one
//       tests/model/make_large_checkpoint writes); prints photos/s, the time per stage, how much
//       of the run the model's time is, the model alone on the same photos, and peak RSS.
//   bench_indexer --make-catalog N --db PATH --model DIR: a large library for start-up timings:
//       N catalog rows with random unit vectors under DIR's model key, in a folder
//       that does not exist (offline: kept, never re-embedded), written in a few transactions.
#include "core/image/imagedecoder.h"
#include "core/model/bridgetowermodel.h"
#include "core/model/precision.h"
#include "core/search/bridgetowerpipeline.h"
#include "fakeembedder.h"
#include "indexer/catalog.h"
#include "indexer/indexworker.h"
#include "indexer/library.h"
#include "indexertestutil.h"
#include "testdata.h"

#include <QBuffer>
#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QRandomGenerator>

#include <QTemporaryDir>

#include <cmath>
#include <cstdio>

using namespace ts;

static qint64 statusKb(const char *field) {
    QFile f(QStringLiteral("/proc/self/status"));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : f.readAll().split('\n'))
        if (line.startsWith(field))
            return line.mid(qsizetype(strlen(field))).trimmed().split(' ').value(0).toLongLong();
    return -1;
}

static qint64 dirBytes(const QString &dir) {
    qint64 total = 0;
    QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        total += it.fileInfo().size();
    }
    return total;
}

// A 4000 x 3000 photo-like JPEG (smooth gradients plus noise, ~4-6 MB at quality 92), different
// for every seed.
static QByteArray twelveMegapixelJpeg(quint32 seed = 12) {
    QImage image(4000, 3000, QImage::Format_RGB888);
    QRandomGenerator rng(seed);
    for (int y = 0; y < image.height(); ++y) {
        uchar *row = image.scanLine(y);
        for (int x = 0; x < image.width(); ++x) {
            const quint32 noise = rng.generate();
            row[3 * x] = uchar((x * 255 / 4000 + (noise & 31)) & 255);
            row[3 * x + 1] = uchar((y * 255 / 3000 + ((noise >> 8) & 31)) & 255);
            row[3 * x + 2] = uchar(((x + y) * 255 / 7000 + ((noise >> 16) & 31)) & 255);
        }
    }
    QByteArray out;
    QBuffer buffer(&out);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "JPEG", 92);
    return out;
}

static int hashCost(int runs) {
    QTemporaryDir tmp;
    const QString path = tmp.filePath(QStringLiteral("12mp.jpg"));
    const QByteArray jpeg = twelveMegapixelJpeg();
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(jpeg) != jpeg.size())
        return 1;
    f.close();
    std::printf("12 MP JPEG (4000 x 3000), %.2f MB, %d runs (best of):\n", jpeg.size() / 1e6, runs);
    double read = 1e9, quick = 1e9, full = 1e9, decode = 1e9;
    for (int r = 0; r < runs; ++r) {
        QElapsedTimer t;
        t.start();
        auto bytes =
            readImageFile(path); // from the page cache: the disk read is the decoder's anyway
        read = std::min(read, t.nsecsElapsed() / 1e6);
        t.restart();
        const QString q = quickContentHash(*bytes);
        quick = std::min(quick, t.nsecsElapsed() / 1e6);
        t.restart();
        const QString h = fullContentHash(*bytes);
        full = std::min(full, t.nsecsElapsed() / 1e6);
        t.restart();
        DecodeOptions options;
        options.targetShortestEdgeHint = QSize(294, 294); // what the large model's indexing decodes
        auto decoded = decodeImageData(*bytes, path, options);
        decode = std::min(decode, t.nsecsElapsed() / 1e6);
        if (q.isEmpty() || h.isEmpty() || !decoded)
            return 1;
    }
    std::printf(
        "  read into memory  %7.2f ms\n  quick hash        %7.2f ms\n  full hash         %7.2f ms "
        "(BLAKE2b-256, %.0f MB/s)\n  reduced decode    %7.2f ms\n",
        read, quick, full, jpeg.size() / 1e3 / full, decode);
    std::printf("  identity (quick + full hash) = %.2f ms per photo: %.2f%% of the large model's "
                "1.7 s embedding "
                "(%.2f%% of 0.89 s with --bf16)\n",
                quick + full, 100.0 * (quick + full) / 1700.0, 100.0 * (quick + full) / 890.0);
    return 0;
}

// Indexing end to end with a real-size checkpoint: the stages of IndexStageTimes, and the model
// alone on the same photos in the same process (the bar: the run within 5% of the model's time).
static int realSize(const QStringList &args) {
    QString modelDir, dir, precisionName = QStringLiteral("f32");
    int photoCount = 20, threads = 2, alone = 8;
    for (int i = 1; i + 1 < args.size(); ++i) {
        if (args[i] == QLatin1String("--model"))
            modelDir = args[++i];
        else if (args[i] == QLatin1String("--photos"))
            photoCount = std::max(1, args[++i].toInt());
        else if (args[i] == QLatin1String("--threads"))
            threads = std::max(1, args[++i].toInt());
        else if (args[i] == QLatin1String("--precision"))
            precisionName = args[++i];
        else if (args[i] == QLatin1String("--dir"))
            dir = args[++i];
        else if (args[i] == QLatin1String("--alone"))
            alone = std::max(0, args[++i].toInt());
    }
    QTemporaryDir tmp;
    if (dir.isEmpty())
        dir = tmp.path();
    const QString photos = dir + QStringLiteral("/photos-12mp");
    QElapsedTimer t;
    t.start();
    qint64 bytes = 0;
    QStringList paths;
    for (int i = 0; i < photoCount; ++i) {
        const QString path = photos + QStringLiteral("/%1.jpg").arg(i, 4, 10, QLatin1Char('0'));
        if (!QFileInfo::exists(path)) {
            QDir().mkpath(photos);
            const QByteArray jpeg = twelveMegapixelJpeg(quint32(1000 + i));
            QFile f(path);
            if (!f.open(QIODevice::WriteOnly) || f.write(jpeg) != jpeg.size()) {
                std::fprintf(stderr, "cannot write %s\n", qPrintable(path));
                return 1;
            }
        }
        bytes += QFileInfo(path).size();
        paths << path;
    }
    std::printf("photos: %d JPEGs of 4000 x 3000 (12 MP), %.1f MB (ready in %.1f s)\n", photoCount,
                bytes / 1e6, t.elapsed() / 1000.0);

    BridgeTowerModel::setThreadCount(threads);
    BridgeTowerPipeline::Options options;
    if (precisionName == QLatin1String("bf16"))
        options.precision = Precision::BFloat16;
    else if (precisionName == QLatin1String("int8"))
        options.precision = Precision::Int8;
    t.restart();
    auto pipeline = BridgeTowerPipeline::load(modelDir, options);
    if (!pipeline) {
        std::fprintf(stderr, "%s\n", qPrintable(pipeline.error().message));
        return 3;
    }
    std::printf("model: %s (%s, %d threads), loaded in %.2f s; RSS %lld MB\n", qPrintable(modelDir),
                qPrintable(precisionName), threads, t.elapsed() / 1000.0,
                statusKb("VmRSS:") / 1024);
    LibraryOptions libraryOptions;
    libraryOptions.databasePath =
        dir + QStringLiteral("/lib-%1/library.sqlite").arg(QDateTime::currentMSecsSinceEpoch());
    libraryOptions.watchFolders = false;
    auto lib = Library::open(libraryOptions);
    if (!lib || !(*lib)->setPipeline(*pipeline).ok() || !(*lib)->addFolder(photos).ok()) {
        std::fprintf(stderr, "cannot open the library\n");
        return 1;
    }
    QEventLoop loop;
    QObject::connect(lib->get(), &Library::indexingFinished, &loop, &QEventLoop::quit);
    (*lib)->startIndexing();
    loop.exec();
    const IndexRunSummary run = (*lib)->lastRunSummary();
    const qint64 peakKb = statusKb("VmHWM:");
    if (!run.error.isEmpty() || run.embedded != photoCount) {
        std::fprintf(stderr, "indexing: embedded %lld of %d, failed %lld %s\n", run.embedded,
                     photoCount, run.failed, qPrintable(run.error));
        return 1;
    }
    const IndexStageTimes &st = run.stages;
    std::printf("indexed %lld photos in %.2f s: %.3f photos/s, %.0f ms per photo (batch %d, %d "
                "decode threads)\n",
                run.embedded, st.total / 1000, run.embedded / (st.total / 1000),
                st.total / double(run.embedded), libraryOptions.batchSize,
                libraryOptions.decodeThreads);
    std::printf("stage            ms/photo  (decode pool stages are CPU time, overlapped with the "
                "model)\n");
    const std::pair<const char *, double> rows[] = {
        {"read + hash", st.readHash},      {"decode", st.decode}, {"resize", st.resize},
        {"thumbnail", st.thumbnail},       {"model", st.model},   {"commit", st.commit},
        {"model waited", st.waitForPhotos}};
    for (const auto &[name, ms] : rows)
        std::printf("  %-14s %8.1f\n", name, ms / double(run.embedded));
    std::printf("run / model time in the run: %.3f (the rest: discovery, waits, commits)\n",
                st.total / st.model);
    std::printf("peak RSS while indexing: %lld MB\n", peakKb / 1024);
    if (alone > 0) {
        // The model alone on the same photos (prepared beforehand), in batches as the indexer does.
        std::vector<QString> batchPaths;
        for (int i = 0; i < std::min(alone, photoCount); ++i)
            batchPaths.push_back(paths[i]);
        auto pixels = (*pipeline)->loadPixels(batchPaths);
        if (!pixels)
            return 1;
        t.restart();
        FloatTensor fusion;
        auto embedded = (*pipeline)->embedImages(*pixels, &fusion);
        if (!embedded)
            return 1;
        const double perPhoto = t.nsecsElapsed() / 1e6 / double(batchPaths.size());
        std::printf("model alone: %.0f ms per photo (%zu photos in one batch); the indexing run "
                    "took %.3fx that per photo\n",
                    perPhoto, batchPaths.size(), st.total / double(run.embedded) / perPhoto);
    }
    return 0;
}

static int makeCatalog(const QStringList &args) {
    const qsizetype at = args.indexOf(QLatin1String("--make-catalog"));
    const int n = args.value(at + 1).toInt();
    const qsizetype dbAt = args.indexOf(QLatin1String("--db")),
                    modelAt = args.indexOf(QLatin1String("--model"));
    if (n <= 0 || dbAt < 0 || modelAt < 0) {
        std::fprintf(stderr, "usage: bench_indexer --make-catalog N --db PATH --model DIR\n");
        return 2;
    }
    auto pipeline = BridgeTowerPipeline::load(args.value(modelAt + 1));
    if (!pipeline) {
        std::fprintf(stderr, "%s\n", qPrintable(pipeline.error().message));
        return 3;
    }
    const QString key = (*pipeline)->modelKey();
    const int dim = (*pipeline)->model().embeddingDimension();
    pipeline.value().reset(); // only its key and dimension were needed
    auto catalog = Catalog::open(args.value(dbAt + 1));
    if (!catalog) {
        std::fprintf(stderr, "%s\n", qPrintable(catalog.error().message));
        return 1;
    }
    const QString folder =
        QFileInfo(args.value(dbAt + 1)).absolutePath() + QStringLiteral("/offline-photos");
    auto folderId = (*catalog)->addFolder(folder);
    if (!folderId)
        return 1;
    QElapsedTimer t;
    t.start();
    QRandomGenerator rng(14);
    constexpr int kPerTransaction = 5000;
    for (int from = 0; from < n; from += kPerTransaction) {
        std::vector<PhotoWrite> writes;
        for (int i = from; i < std::min(n, from + kPerTransaction); ++i) {
            PhotoWrite w;
            w.folderId = *folderId;
            w.path =
                folder + QStringLiteral("/%1/%2.jpg").arg(i / 1000, 3, 10, QLatin1Char('0')).arg(i);
            w.size = 5'000'000 + i;
            w.mtimeMs = 1'700'000'000'000LL + i;
            const QByteArray id = QByteArray::number(i);
            w.contentHash =
                QString::fromLatin1(QCryptographicHash::hash(id, QCryptographicHash::Sha1).toHex());
            w.fullHash = QString::fromLatin1(
                QCryptographicHash::hash(id, QCryptographicHash::Blake2b_256).toHex());
            w.width = 4000;
            w.height = 3000;
            w.state = PhotoState::Indexed;
            w.vector.resize(size_t(dim));
            double norm = 0;
            for (float &x : w.vector) {
                x = float(rng.generateDouble() * 2 - 1);
                norm += double(x) * x;
            }
            for (float &x : w.vector)
                x = float(x / std::sqrt(norm));
            writes.push_back(std::move(w));
        }
        if (auto done = (*catalog)->commitBatch(writes, key, {}); !done) {
            std::fprintf(stderr, "%s\n", qPrintable(done.error().message));
            return 1;
        }
    }
    (void)(*catalog)->setMeta(QStringLiteral("serving_model"), key);
    std::printf("catalog: %d photos with %d-dim vectors of model %s in %.1f s (%s)\n", n, dim,
                qPrintable(key), t.elapsed() / 1000.0, qPrintable(args.value(dbAt + 1)));
    return 0;
}

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() > 1 && args[1] == QLatin1String("--hash-cost"))
        return hashCost(args.size() > 2 ? std::max(1, args[2].toInt()) : 10);
    if (args.contains(QLatin1String("--make-catalog")))
        return makeCatalog(args);
    if (args.contains(QLatin1String("--model")))
        return realSize(args);
    int n = 100000;
    QString dir;
    bool fake = false;
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == QLatin1String("--dir") && i + 1 < args.size())
            dir = args[++i];
        else if (args[i] == QLatin1String("--fake"))
            fake = true;
        else
            n = args[i].toInt();
    }
    QTemporaryDir tmp;
    if (dir.isEmpty())
        dir = tmp.path();
    const QString photos = dir + QStringLiteral("/photos");
    const QString db =
        dir + QStringLiteral("/lib-%1/library.sqlite").arg(QDateTime::currentMSecsSinceEpoch());

    QElapsedTimer t;
    t.start();
    int generated = 0;
    for (int i = 0; i < n; ++i) {
        const QString path =
            photos + QStringLiteral("/%1/%2.jpg").arg(i / 1000, 3, 10, QLatin1Char('0')).arg(i);
        if (!QFileInfo::exists(path)) {
            test::writePhoto(path, quint32(i), 64, 48);
            ++generated;
        }
    }
    std::printf("photos: %d (%d generated in %.1f s), %.1f MB on disk\n", n, generated,
                t.elapsed() / 1000.0, dirBytes(photos) / 1e6);

    BridgeTowerModel::setThreadCount(1);
    LibraryOptions options;
    options.databasePath = db;
    options.watchFolders = false;
    options.batchSize = 32;
    auto lib = Library::open(options);
    if (!lib) {
        std::fprintf(stderr, "%s\n", qPrintable(lib.error().message));
        return 1;
    }
    if (fake) {
        if (!(*lib)
                 ->setEmbedder(std::make_shared<test::FakeEmbedder>(QStringLiteral("fake"), 32))
                 .ok())
            return 1;
    } else {
        auto pipeline = BridgeTowerPipeline::load(test::dataDir(QStringLiteral("e2e/tiny-e2e")));
        if (!pipeline || !(*lib)->setPipeline(*pipeline).ok()) {
            std::fprintf(stderr, "cannot load the tiny model\n");
            return 1;
        }
    }
    (void)(*lib)->addFolder(photos);
    auto run = [&](const char *what) {
        QEventLoop loop;
        qint64 nextReport = n / 10;
        auto c1 = QObject::connect(
            lib->get(), &Library::progressChanged, &loop, [&](const IndexProgress &p) {
                if (p.done >= nextReport && nextReport > 0) {
                    std::printf("  %s: %lld/%lld  %.0f photos/s  RSS %lld MB\n", what, p.done,
                                p.total, p.photosPerSecond, statusKb("VmRSS:") / 1024);
                    std::fflush(stdout);
                    nextReport += n / 10;
                }
            });
        auto c2 =
            QObject::connect(lib->get(), &Library::indexingFinished, &loop, &QEventLoop::quit);
        QElapsedTimer timer;
        timer.start();
        (*lib)->startIndexing();
        loop.exec();
        QObject::disconnect(c1);
        QObject::disconnect(c2);
        return timer.elapsed() / 1000.0;
    };
    const double full = run("index");
    const auto s1 = (*lib)->lastRunSummary();
    std::printf("full index: %.1f s (%.0f photos/s), embedded %lld, failed %lld\n", full, n / full,
                s1.embedded, s1.failed);
    const double rescan = run("rescan");
    const auto s2 = (*lib)->lastRunSummary();
    std::printf("unchanged rescan: %.2f s, skipped %lld, embedded %lld\n", rescan, s2.skipped,
                s2.embedded);
    const auto stats = (*lib)->stats();
    const qint64 dbBytes = QFileInfo(db).size() + QFileInfo(db + QStringLiteral("-wal")).size();
    std::printf("database file %.1f MB + WAL %.1f MB\n", QFileInfo(db).size() / 1e6,
                QFileInfo(db + QStringLiteral("-wal")).size() / 1e6);
    std::printf(
        "database: %.1f MB (%.0f bytes/photo); vector index file %.1f MB; thumbnails %.1f MB\n",
        dbBytes / 1e6, double(dbBytes) / n,
        QFileInfo((*lib)->vectorIndexPath(stats.modelKey)).size() / 1e6,
        dirBytes(QFileInfo(db).absolutePath() + QStringLiteral("/library-cache/thumbnails")) / 1e6);
    std::printf("peak RSS: %lld MB\n", statusKb("VmHWM:") / 1024);
    return 0;
}
