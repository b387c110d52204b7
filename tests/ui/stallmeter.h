#pragma once

// Measures how long the GUI thread's event loop goes without running a 5 ms timer: the worst gap
// is the longest time the window could not react to input or repaint.
//
// Two figures: the wall-clock gap, and the gap less the time the thread sat runnable in the
// kernel's run queue waiting for a core (Linux /proc/thread-self/schedstat). The second is what
// the app is responsible for (its own work on, or blocking of, the GUI thread); on a 2-core machine
// shared with parallel builds (load 10+), the first also contains the scheduler's waits.
#include <QElapsedTimer>
#include <QFile>
#include <QObject>
#include <QTimer>

namespace ts::test {

class StallMeter : public QObject {
public:
    StallMeter() {
        m_timer.setInterval(5);
        m_timer.setTimerType(Qt::PreciseTimer);
        QObject::connect(&m_timer, &QTimer::timeout, this, [this] { tick(); });
    }
    void start() {
        m_worstNs = m_worstOwnNs = 0;
        m_clock.start();
        m_lastNs = 0;
        m_lastWaitNs = runQueueWaitNs();
        m_timer.start();
    }
    void stop() {
        tick();
        m_timer.stop();
    }
    double worstMs() const { return double(m_worstNs) / 1e6; }       // wall clock
    double worstOwnMs() const { return double(m_worstOwnNs) / 1e6; } // less run-queue waits
    bool hasSchedStats() const { return m_hasSchedStats; }

private:
    void tick() {
        const qint64 now = m_clock.nsecsElapsed();
        const qint64 wait = runQueueWaitNs();
        const qint64 gap = now - m_lastNs;
        m_worstNs = qMax(m_worstNs, gap);
        m_worstOwnNs = qMax(m_worstOwnNs, gap - qMax<qint64>(0, wait - m_lastWaitNs));
        m_lastNs = now;
        m_lastWaitNs = wait;
    }
    qint64 runQueueWaitNs() {
        QFile f(QStringLiteral("/proc/thread-self/schedstat"));
        if (!f.open(QIODevice::ReadOnly)) {
            m_hasSchedStats = false;
            return 0;
        }
        const QList<QByteArray> fields = f.readAll().simplified().split(' ');
        m_hasSchedStats = fields.size() >= 2;
        return m_hasSchedStats ? fields[1].toLongLong() : 0;
    }

    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_lastNs = 0, m_lastWaitNs = 0;
    qint64 m_worstNs = 0, m_worstOwnNs = 0;
    bool m_hasSchedStats = true;
};

} // namespace ts::test
