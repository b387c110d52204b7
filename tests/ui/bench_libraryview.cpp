// The library view over 100,000 photos, without a catalog: the main window with a FakeListing
// (tests/ui/fakelisting.h) that can be given a per-query latency standing in for SQLite. Measures
// the longest GUI stall (StallMeter: wall clock, and less the kernel's run-queue waits) while the
// counts load, while scrolling top to bottom in jumps and steps, and while filters change; the time
// from a scroll to the visible page being on screen (ms per page); min and median over runs.
//
//   QT_QPA_PLATFORM=offscreen build/tests/ui/bench_libraryview [--photos 100000] [--runs 5]
//       [--latency-ms 0,5,20] [--threaded 0,1]
#include "fakelisting.h"
#include "loadaverage.h"
#include "stallmeter.h"
#include "ui/appsettings.h"
#include "ui/librarymodel.h"
#include "ui/mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFile>
#include <QListView>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTest>

#include <algorithm>
#include <cstdio>

using namespace ts;

namespace {
struct Figures {
    double loadMs = 0, loadStall = 0, loadOwn = 0;
    double scrollStall = 0, scrollOwn = 0;
    std::vector<double> pageMs;
    double filterStall = 0, filterOwn = 0;
    std::vector<double> filterMs;
};

double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}
// Waits until every photo row the grid shows is loaded; returns false after 10 s.
bool visibleLoaded(QListView *view, LibraryModel *model) {
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 10000) {
        bool all = true;
        const QRect area = view->viewport()->rect();
        for (QPoint p(8, 8); p.y() < area.height(); p.ry() += 40) {
            const QModelIndex idx = view->indexAt(p);
            if (idx.isValid() && !model->isHeader(idx.row()) &&
                !idx.data(LibraryModel::LoadedRole).toBool())
                all = false;
        }
        if (all)
            return true;
        QTest::qWait(1);
    }
    return false;
}

// Filters as the search field sets them: a folder, a year, both, none.
std::vector<PhotoFilter> benchFilters() {
    std::vector<PhotoFilter> out;
    for (int i = 0; i < 8; ++i) {
        PhotoFilter filter;
        if (i % 4 != 3)
            filter.folders << QStringLiteral("/library/%1/f%2").arg(2026 - (i % 3)).arg(i % 20);
        if (i % 2 == 1) {
            filter.takenFromMs =
                QDateTime(QDate(2026 - i % 3, 1, 1), QTime(0, 0)).toMSecsSinceEpoch();
            filter.takenBeforeMs =
                QDateTime(QDate(2027 - i % 3, 1, 1), QTime(0, 0)).toMSecsSinceEpoch();
        }
        if (i == 7)
            filter = {};
        out.push_back(filter);
    }
    return out;
}

Figures runOnce(int photos, int latencyMs, bool threaded) {
    Figures f;
    auto listing = std::make_shared<test::FakeListing>(photos, threaded, 97, 52, 20);
    // The fake's own first sort of 100,000 records is not what a catalog query costs: do it now,
    // so each query costs the latency given (what SQLite would take) and nothing else.
    const std::vector<PhotoFilter> filters = benchFilters();
    for (const PhotoFilter &filter : filters)
        (void)listing->countPhotos(filter);
    (void)listing->listPhotos({}, SortOrder::Name, 0, 1);
    listing->setLatencyMs(latencyMs);
    MainWindow w(AppSettings{});
    w.resize(1280, 800);
    w.show();
    if (!QTest::qWaitForWindowExposed(&w))
        std::fprintf(stderr, "the window was not exposed\n");
    LibraryModel *model = w.libraryModel();
    QListView *view = w.libraryView();

    test::StallMeter stalls;
    QSignalSpy loaded(model, &LibraryModel::loaded);
    QElapsedTimer clock;
    stalls.start();
    clock.start();
    w.setPhotoListing(listing);
    loaded.wait(30000);
    QScrollBar *bar = view->verticalScrollBar();
    // The batched layout grows the scroll range until every row is placed.
    int last = -1;
    for (int settled = 0; settled < 5;) {
        QTest::qWait(20);
        settled = bar->maximum() == last ? settled + 1 : 0;
        last = bar->maximum();
    }
    visibleLoaded(view, model);
    f.loadMs = double(clock.elapsed());
    stalls.stop();
    f.loadStall = stalls.worstMs();
    f.loadOwn = stalls.worstOwnMs();

    // Scrolling: 40 jumps over the whole range (dragging the scroll bar), then 200 small steps
    // (the wheel) from the middle; each waits until what is on screen is loaded.
    stalls.start();
    for (int step = 0; step <= 40; ++step) {
        clock.restart();
        bar->setValue(int(qint64(bar->maximum()) * step / 40));
        if (visibleLoaded(view, model))
            f.pageMs.push_back(double(clock.nsecsElapsed()) / 1e6);
    }
    bar->setValue(bar->maximum() / 2);
    for (int step = 0; step < 200; ++step) {
        bar->setValue(bar->value() + bar->singleStep() * 3);
        QTest::qWait(4);
    }
    visibleLoaded(view, model);
    stalls.stop();
    f.scrollStall = stalls.worstMs();
    f.scrollOwn = stalls.worstOwnMs();

    // Filters as the search field sets them: a folder, a year, both, none.
    stalls.start();
    for (const PhotoFilter &filter : filters) {
        QSignalSpy done(model, &LibraryModel::loaded);
        clock.restart();
        w.setFilter(filter);
        done.wait(30000);
        visibleLoaded(view, model);
        f.filterMs.push_back(double(clock.nsecsElapsed()) / 1e6);
        QTest::qWait(30);
    }
    stalls.stop();
    f.filterStall = stalls.worstMs();
    f.filterOwn = stalls.worstOwnMs();
    return f;
}

QList<int> intList(const QString &s) {
    QList<int> out;
    for (const QString &p : s.split(QLatin1Char(','), Qt::SkipEmptyParts))
        out << p.toInt();
    return out;
}
} // namespace

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    app.setOrganizationName(QStringLiteral("TowerSearchBench"));
    QCommandLineParser parser;
    parser.addHelpOption();
    const QCommandLineOption photosOpt(QStringLiteral("photos"),
                                       QStringLiteral("Photos in the library."),
                                       QStringLiteral("N"), QStringLiteral("100000"));
    const QCommandLineOption runsOpt(QStringLiteral("runs"), QStringLiteral("Runs per setting."),
                                     QStringLiteral("N"), QStringLiteral("5"));
    const QCommandLineOption latencyOpt(QStringLiteral("latency-ms"),
                                        QStringLiteral("Latency of each listing query."),
                                        QStringLiteral("LIST"), QStringLiteral("0,5,20"));
    const QCommandLineOption threadedOpt(
        QStringLiteral("threaded"),
        QStringLiteral("0: queries on the GUI thread (the app's Library), 1: on workers."),
        QStringLiteral("LIST"), QStringLiteral("0,1"));
    parser.addOptions({photosOpt, runsOpt, latencyOpt, threadedOpt});
    parser.process(app);
    const int photos = parser.value(photosOpt).toInt();
    const int runs = qMax(1, parser.value(runsOpt).toInt());

    std::printf("library view, %d photos, %d runs per row; load average at start %s\n", photos,
                runs, qPrintable(ts::test::loadAverage()));
    std::printf("%-22s | %-24s | %-24s | %-24s | %-18s | %-18s\n", "queries",
                "load: ms / stall (own)", "scroll: stall (own) ms", "ms per page min/median",
                "filter stall (own)", "filter ms min/med");
    for (int threaded : intList(parser.value(threadedOpt))) {
        for (int latency : intList(parser.value(latencyOpt))) {
            std::vector<double> load, loadStall, loadOwn, scroll, scrollOwn, page, filterStall,
                filterOwn, filterMs;
            for (int r = 0; r < runs; ++r) {
                const Figures f = runOnce(photos, latency, threaded != 0);
                load.push_back(f.loadMs);
                loadStall.push_back(f.loadStall);
                loadOwn.push_back(f.loadOwn);
                scroll.push_back(f.scrollStall);
                scrollOwn.push_back(f.scrollOwn);
                page.insert(page.end(), f.pageMs.begin(), f.pageMs.end());
                filterStall.push_back(f.filterStall);
                filterOwn.push_back(f.filterOwn);
                filterMs.insert(filterMs.end(), f.filterMs.begin(), f.filterMs.end());
            }
            const QString setting =
                QStringLiteral("%1, %2 ms")
                    .arg(threaded ? QStringLiteral("worker") : QStringLiteral("GUI thread"))
                    .arg(latency);
            auto mm = [](const std::vector<double> &v) {
                return QStringLiteral("%1/%2")
                    .arg(*std::min_element(v.begin(), v.end()), 0, 'f', 1)
                    .arg(median(v), 0, 'f', 1);
            };
            std::printf(
                "%-22s | %-24s | %-24s | %-24s | %-18s | %-18s\n", qPrintable(setting),
                qPrintable(QStringLiteral("%1 / %2 (%3)")
                               .arg(median(load), 0, 'f', 0)
                               .arg(median(loadStall), 0, 'f', 1)
                               .arg(median(loadOwn), 0, 'f', 1)),
                qPrintable(
                    QStringLiteral("%1 (%2) min %3 (%4)")
                        .arg(median(scroll), 0, 'f', 1)
                        .arg(median(scrollOwn), 0, 'f', 1)
                        .arg(*std::min_element(scroll.begin(), scroll.end()), 0, 'f', 1)
                        .arg(*std::min_element(scrollOwn.begin(), scrollOwn.end()), 0, 'f', 1)),
                qPrintable(page.empty() ? QStringLiteral("-") : mm(page)),
                qPrintable(QStringLiteral("%1 (%2)")
                               .arg(median(filterStall), 0, 'f', 1)
                               .arg(median(filterOwn), 0, 'f', 1)),
                qPrintable(mm(filterMs)));
            std::fflush(stdout);
        }
    }
    std::printf(
        "load average at end %s; stall figures are medians over runs (worst gap of a 5 ms timer)\n",
        qPrintable(ts::test::loadAverage()));
    return 0;
}
