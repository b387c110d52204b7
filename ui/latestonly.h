#pragma once

#include <QObject>
#include <QtConcurrent/QtConcurrentRun>

#include <type_traits>
#include <utility>

namespace ts {

// Background work of which only the newest request counts: run() starts work on Qt's global
// thread pool and, when it finishes, hands the result to apply on the owner's thread only if no
// newer request was started (and supersede() was not called) meanwhile. So a slow answer to an
// old question (the tags of the photo selected before, the folders of the previous folder list)
// never overwrites the answer to the new one. A result that arrives after the owner is gone is
// dropped: Qt drops a continuation whose context object was destroyed.
//
// A LatestOnly is a member of the QObject it delivers to (so it lives exactly as long as the
// owner), created and used on the owner's thread. work runs on a worker thread and must not touch
// the owner; apply runs on the owner's thread. Several requests may run at once; starting one does
// not cancel the others' work (pass a cancel flag in work for that), it only drops their results.
class LatestOnly {
public:
    // Identifies one request; compare with isCurrent().
    using Ticket = quint64;

    explicit LatestOnly(QObject *owner) : m_owner(owner) {}
    LatestOnly(const LatestOnly &) = delete;
    LatestOnly &operator=(const LatestOnly &) = delete;

    // Makes the results of every request started so far stale; returns the ticket of the next
    // request, for run() (use it first where work needs it, e.g. for progress reports).
    Ticket supersede() { return ++m_latest; }
    // Whether a request's results still count (no newer request, no supersede() since).
    bool isCurrent(Ticket ticket) const { return ticket == m_latest; }

    // The usual case: a new request that supersedes all earlier ones.
    template <typename Work, typename Apply> void start(Work &&work, Apply &&apply) {
        run(supersede(), std::forward<Work>(work), std::forward<Apply>(apply));
    }

    // Runs work() on the thread pool; then apply(result) on the owner's thread if ticket is still
    // current. Where work finished before the continuation is attached, Qt calls apply before
    // run() returns: do what must come first before calling run().
    template <typename Work, typename Apply> void run(Ticket ticket, Work &&work, Apply &&apply) {
        using Value = std::invoke_result_t<std::decay_t<Work>>;
        static_assert(!std::is_void_v<Value>, "work returns the result that apply receives");
        QtConcurrent::run(std::forward<Work>(work))
            .then(m_owner, [this, ticket, apply = std::forward<Apply>(apply)](const Value &value) {
                if (isCurrent(ticket))
                    apply(value);
            });
    }

private:
    QObject *m_owner;
    Ticket m_latest = 0;
};

} // namespace ts
