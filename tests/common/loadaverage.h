// The machine's load average for benchmark output: figures measured on a busy machine are only
// comparable with the load they were measured at.
#pragma once

#include <QFile>
#include <QString>

namespace ts::test {

// The 1, 5 and 15 minute load averages as /proc/loadavg gives them ("7.12 6.80 5.02"); empty
// "?" where there is no /proc.
inline QString loadAverage() {
    QFile f(QStringLiteral("/proc/loadavg"));
    return f.open(QIODevice::ReadOnly)
               ? QString::fromLatin1(f.readAll()).section(QLatin1Char(' '), 0, 2)
               : QStringLiteral("?");
}

} // namespace ts::test
