// Benchmark (not a test): the catalog's filter and listing queries on generated rows, as the
// library view calls them on the GUI thread (a count, a page, the month counts) and as the search
// engine calls photosMatching. Prints min / median milliseconds per call over several runs.
//
//   bench_catalog_filters [ROWS=100000] [RUNS=9] [LOCATION]
// LOCATION: an empty database to fill, e.g. a postgresql:// URL (default: a temporary SQLite file).
#include "indexer/catalog.h"
#include "loadaverage.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QRandomGenerator>
#include <QTemporaryDir>

#include <algorithm>
#include <cstdio>
#include <functional>

using namespace ts;

namespace {

void measure(const char *what, int runs, const std::function<qint64()> &call) {
    std::vector<double> ms;
    qint64 n = 0;
    for (int i = 0; i < runs; ++i) {
        QElapsedTimer t;
        t.start();
        n = call();
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-58s %8.2f %8.2f  (%lld rows)\n", what, ms.front(), ms[ms.size() / 2],
                static_cast<long long>(n));
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const qint64 rows = argc > 1 ? QString::fromLocal8Bit(argv[1]).toLongLong() : 100000;
    const int runs = argc > 2 ? QString::fromLocal8Bit(argv[2]).toInt() : 9;
    QTemporaryDir tmp;
    const QString location =
        argc > 3 ? QString::fromLocal8Bit(argv[3]) : tmp.filePath(QStringLiteral("library.sqlite"));
    auto opened = Catalog::open(location);
    if (!opened) {
        std::fprintf(stderr, "%s\n", qPrintable(opened.error().message));
        return 1;
    }
    Catalog &catalog = **opened;
    const QString root = QStringLiteral("/bench/photos");
    auto folder = catalog.addFolder(root);
    if (!folder)
        return 1;

    // 100 folders (f1 and f10..f19 share a name prefix), 20 years, 10 cameras, 4 types.
    const char *makes[] = {"Canon", "NIKON CORPORATION", "Apple", "SONY", "FUJIFILM"};
    const char *models[] = {"Canon EOS 5D", "NIKON D750", "iPhone 12", "ILCE-7M3", "X-T3"};
    const char *types[] = {"jpeg", "jpeg", "heic", "png"};
    QRandomGenerator rng(42);
    const qint64 from = QDateTime(QDate(2005, 1, 1), QTime(0, 0)).toMSecsSinceEpoch();
    const qint64 span = QDateTime(QDate(2025, 1, 1), QTime(0, 0)).toMSecsSinceEpoch() - from;
    QElapsedTimer fill;
    fill.start();
    for (qint64 done = 0; done < rows;) {
        std::vector<PhotoWrite> batch;
        for (; done < rows && batch.size() < 5000; ++done) {
            PhotoWrite w;
            w.folderId = *folder;
            const int type = int(rng.bounded(4));
            w.path = QStringLiteral("%1/f%2/IMG_%3.%4")
                         .arg(root)
                         .arg(rng.bounded(100))
                         .arg(done)
                         .arg(QLatin1String(types[type]));
            w.size = 1000 + done;
            w.mtimeMs = from + qint64(rng.bounded(quint64(span)));
            w.width = 2000 + int(rng.bounded(3000));
            w.height = 2000 + int(rng.bounded(3000));
            w.takenMs = from + qint64(rng.bounded(quint64(span)));
            w.takenIsFileTime = rng.bounded(10) == 0;
            w.fileType = QString::fromLatin1(types[type]);
            if (rng.bounded(10) < 8) {
                const int c = int(rng.bounded(5));
                w.cameraMake = QString::fromLatin1(makes[c]);
                w.cameraModel = QString::fromLatin1(models[c]) +
                                (rng.bounded(2) ? QStringLiteral(" II") : QString());
            }
            w.state = PhotoState::Indexed;
            batch.push_back(std::move(w));
        }
        if (auto r = catalog.commitBatch(batch, QStringLiteral("bench"), {}); !r) {
            std::fprintf(stderr, "%s\n", qPrintable(r.error().message));
            return 1;
        }
    }
    std::printf(
        "%lld catalog rows written in %.1f s; load average %s; min / median ms over %d runs\n",
        static_cast<long long>(rows), fill.elapsed() / 1000.0, qPrintable(ts::test::loadAverage()),
        runs);

    PhotoFilter none;
    PhotoFilter year;
    year.takenFromMs = QDateTime(QDate(2019, 1, 1), QTime(0, 0)).toMSecsSinceEpoch();
    year.takenBeforeMs = QDateTime(QDate(2020, 1, 1), QTime(0, 0)).toMSecsSinceEpoch();
    PhotoFilter camera;
    camera.cameras = {QStringLiteral("nikon")};
    PhotoFilter inFolder;
    inFolder.folders = {root + QStringLiteral("/f1")};
    PhotoFilter onePercent; // ~1%: a folder, one type, one camera
    onePercent.folders = {root + QStringLiteral("/f7"), root + QStringLiteral("/f8"),
                          root + QStringLiteral("/f9")};
    onePercent.fileTypes = {QStringLiteral("heic")};
    onePercent.cameras = {QStringLiteral("canon")};
    PhotoFilter heicPortrait;
    heicPortrait.fileTypes = {QStringLiteral("heic")};
    heicPortrait.shape = PhotoShape::Portrait;

    // -1 rows: the query failed.
    auto count = [&](const PhotoFilter &f) {
        return [&catalog, f] {
            const auto r = catalog.countPhotos(f);
            return r ? *r : -1;
        };
    };
    auto page = [&](const PhotoFilter &f, SortOrder o, qint64 offset) {
        return [&catalog, f, o, offset] {
            const auto r = catalog.listPhotos(f, o, offset, 200);
            return r ? qint64(r->size()) : -1;
        };
    };
    auto months = [&](const PhotoFilter &f) {
        return [&catalog, f] {
            const auto r = catalog.monthCounts(f);
            return r ? qint64(r->size()) : -1;
        };
    };
    auto matching = [&](const PhotoFilter &f) {
        return [&catalog, f] {
            const auto r = catalog.photosMatching(f);
            return r ? qint64(r->size()) : -1;
        };
    };
    measure("countPhotos, no filter", runs, count(none));
    measure("countPhotos, one year", runs, count(year));
    measure("countPhotos, camera 'nikon'", runs, count(camera));
    measure("countPhotos, folder f1 (not f10..f19)", runs, count(inFolder));
    measure("listPhotos 200, date taken, first page", runs, page(none, SortOrder::DateTaken, 0));
    measure("listPhotos 200, date taken, offset 50,000", runs,
            page(none, SortOrder::DateTaken, 50000));
    measure("listPhotos 200, name, first page", runs, page(none, SortOrder::Name, 0));
    measure("listPhotos 200, name, offset 50,000", runs, page(none, SortOrder::Name, 50000));
    measure("listPhotos 200, date taken, camera 'nikon', offset 5,000", runs,
            page(camera, SortOrder::DateTaken, 5000));
    measure("listPhotos 200, date taken, heic portrait, first page", runs,
            page(heicPortrait, SortOrder::DateTaken, 0));
    measure("monthCounts, no filter", runs, months(none));
    measure("monthCounts, camera 'nikon'", runs, months(camera));
    measure("photosMatching, one year", runs, matching(year));
    measure("photosMatching, ~1% (3 folders, heic, canon)", runs, matching(onePercent));
    measure("cameras()", runs, [&catalog] { return qint64(catalog.cameras().size()); });
    return 0;
}
