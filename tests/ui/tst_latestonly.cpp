// LatestOnly (ui/latestonly.h): background work of which only the newest request's result is
// applied, on the owner's thread, and never after the owner is gone.
#include "ui/latestonly.h"

#include <QCoreApplication>
#include <QSemaphore>
#include <QThread>
#include <QThreadPool>
#include <QtTest>

#include <atomic>
#include <memory>

using namespace ts;

namespace {

// A QObject that owns its LatestOnly, as the widgets do, and records what was applied.
class Owner : public QObject {
public:
    explicit Owner(QList<int> *applied) : m_applied(applied) {}
    LatestOnly request{this};
    void apply(int value) {
        QCOMPARE(QThread::currentThread(), thread());
        m_applied->append(value);
    }

private:
    QList<int> *m_applied;
};

// Lets all pool work finish and delivers the continuations it posted.
void settle() {
    QVERIFY(QThreadPool::globalInstance()->waitForDone(10000));
    for (int i = 0; i < 3; ++i)
        QCoreApplication::sendPostedEvents();
}

} // namespace

class TestLatestOnly : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void appliesTheResultOnTheOwnersThread() {
        QList<int> applied;
        Owner owner(&applied);
        owner.request.start([] { return 7; }, [&owner](int v) { owner.apply(v); });
        QTRY_COMPARE(applied, QList<int>{7});
    }

    void newerRequestSupersedesOlder_data() {
        QTest::addColumn<bool>("olderFinishesFirst");
        QTest::newRow("older request finishes after the newer one") << false;
        QTest::newRow("older request finishes before the newer one") << true;
    }
    void newerRequestSupersedesOlder() {
        QFETCH(bool, olderFinishesFirst);
        QList<int> applied;
        Owner owner(&applied);
        auto releaseOlder = std::make_shared<QSemaphore>();
        auto releaseNewer = std::make_shared<QSemaphore>();
        owner.request.start(
            [releaseOlder] {
                releaseOlder->acquire();
                return 1;
            },
            [&owner](int v) { owner.apply(v); });
        owner.request.start(
            [releaseNewer] {
                releaseNewer->acquire();
                return 2;
            },
            [&owner](int v) { owner.apply(v); });
        (olderFinishesFirst ? releaseOlder : releaseNewer)->release();
        (olderFinishesFirst ? releaseNewer : releaseOlder)->release();
        settle();
        QCOMPARE(applied, QList<int>{2});
    }

    void supersedeDropsARunningRequest() {
        QList<int> applied;
        Owner owner(&applied);
        auto release = std::make_shared<QSemaphore>();
        owner.request.start(
            [release] {
                release->acquire();
                return 1;
            },
            [&owner](int v) { owner.apply(v); });
        const LatestOnly::Ticket next = owner.request.supersede();
        QVERIFY(owner.request.isCurrent(next));
        release->release();
        settle();
        QVERIFY(applied.isEmpty());
    }

    void ticketTakenBeforeRunIsCurrentUntilSuperseded() {
        QList<int> applied;
        Owner owner(&applied);
        const LatestOnly::Ticket ticket = owner.request.supersede();
        owner.request.run(
            ticket, [] { return 3; }, [&owner](int v) { owner.apply(v); });
        settle();
        QCOMPARE(applied, QList<int>{3});
        QVERIFY(owner.request.isCurrent(ticket));
        owner.request.supersede();
        QVERIFY(!owner.request.isCurrent(ticket));
    }

    void resultAfterTheOwnerIsGoneIsDropped() {
        QList<int> applied;
        auto owner = std::make_unique<Owner>(&applied);
        auto release = std::make_shared<QSemaphore>();
        auto workDone = std::make_shared<std::atomic<bool>>(false);
        Owner *raw = owner.get();
        owner->request.start(
            [release, workDone] {
                release->acquire();
                workDone->store(true);
                return 1;
            },
            [raw](int v) { raw->apply(v); });
        owner.reset();
        release->release();
        settle();
        QVERIFY(workDone->load()); // the work ran to its end; only its result was dropped
        QVERIFY(applied.isEmpty());
    }
};

QTEST_GUILESS_MAIN(TestLatestOnly)
#include "tst_latestonly.moc"
