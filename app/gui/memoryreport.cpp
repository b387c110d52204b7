#include "app/gui/memoryreport.h"

#include "app/gui/app.h"
#include "ui/searchcontroller.h"

#include <QApplication>
#include <QFile>
#include <QTimer>

#include <cstdio>

namespace ts {

namespace {

// This process's resident and peak memory, from /proc/self/status ("VmRSS: 123 kB").
qint64 statusKiB(const QByteArray &key) {
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n'))
        if (line.startsWith(key + ':'))
            return line.mid(key.size() + 1).trimmed().split(' ').value(0).toLongLong();
    return -1;
}

void searchThenReport(MainWindow &w, const QString &caption) {
    QObject::connect(w.searchController(), &SearchController::searchFinished, &w, [](int results) {
        QTimer::singleShot(3000, qApp, [results] {
            std::printf("memory report: %d results; idle after search: VmRSS "
                        "%lld KiB, VmHWM %lld KiB\n",
                        results, statusKiB("VmRSS"), statusKiB("VmHWM"));
            std::fflush(stdout);
            QApplication::exit(0);
        });
    });
    QObject::connect(w.searchController(), &SearchController::searchFailed, &w,
                     [](const QString &message) {
                         qWarning("memory report: search failed: %s", qPrintable(message));
                         QApplication::exit(1);
                     });
    w.runTextQuery(caption);
}

} // namespace

int runMemoryReport(App &app, const QString &caption) {
    MainWindow &w = app.window();
    w.show();
    QTimer::singleShot(600000, qApp, [] {
        qWarning("memory report: timed out");
        QApplication::exit(1);
    });
    // Searches once the model is in use.
    auto *poll = new QTimer(&w);
    QObject::connect(poll, &QTimer::timeout, &w, [&app, &w, poll, caption] {
        if (!app.hasPipeline())
            return;
        poll->stop();
        searchThenReport(w, caption);
    });
    poll->start(200);
    return QApplication::exec();
}

} // namespace ts
