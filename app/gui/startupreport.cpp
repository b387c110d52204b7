#include "app/gui/startupreport.h"

#include <QByteArray>
#include <QFile>
#include <QList>
#include <QSet>
#include <QtGlobal>

#include <cstdio>

#include <unistd.h>

namespace ts {

namespace {

// Milliseconds since the kernel started this process (/proc/self/stat's start time against
// /proc/uptime, 10 ms resolution): a timer started in main() would miss the dynamic loading of
// LibTorch and Qt, which the user waits for too. -1 where /proc cannot tell.
double msSinceProcessStart() {
    QFile stat(QStringLiteral("/proc/self/stat")), uptime(QStringLiteral("/proc/uptime"));
    if (!stat.open(QIODevice::ReadOnly) || !uptime.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray line = stat.readAll();
    // Fields after the command name (which may hold spaces): field 22 is the start time in ticks.
    const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
    if (fields.size() < 20)
        return -1;
    const double startSeconds = fields[19].toDouble() / double(sysconf(_SC_CLK_TCK));
    return (uptime.readAll().split(' ').value(0).toDouble() - startSeconds) * 1000.0;
}

} // namespace

void startupMilestone(const char *what) {
    static const bool enabled = qEnvironmentVariableIntValue("TOWERSEARCH_STARTUP_REPORT") != 0;
    static QSet<QByteArray> seen;
    if (!enabled || seen.contains(what))
        return;
    seen.insert(what);
    std::fprintf(stderr, "startup: %s after %.0f ms\n", what, msSinceProcessStart());
}

} // namespace ts
