#include "ui/searchcontroller.h"

#include <QMetaObject>
#include <QtConcurrent/QtConcurrentRun>

namespace ts {

SearchController::SearchController(QObject *parent) : QObject(parent) {}

SearchController::~SearchController() {
    m_cancel.cancel();
    // The worker posts its updates to this object: it must be done before we go.
    m_running.waitForFinished();
}

void SearchController::setEngine(std::shared_ptr<const SearchEngine> engine) {
    m_engine = std::move(engine);
    if (m_engine && m_pending)
        rerun();
}

void SearchController::setMinMatchProbability(float probability) {
    if (probability == m_minMatch)
        return;
    m_minMatch = probability;
    publish();
}

void SearchController::cancel() {
    m_cancel.cancel();
    ++m_generation;
    m_pending = false;
    setBusy(false);
}

void SearchController::search(const QString &text, const QString &photoPath) {
    m_cancel.cancel();
    m_cancel = CancelToken();
    const quint64 generation = ++m_generation;
    m_text = text.trimmed();
    m_photo = photoPath;
    m_pending = false;
    if (m_text.isEmpty() && m_photo.isEmpty()) {
        m_raw.clear();
        setBusy(false);
        publish();
        return;
    }
    if (!m_engine) {
        m_pending = true; // run by setEngine() once the model is loaded
        setBusy(true);
        return;
    }
    setBusy(true);
    Q_EMIT rerankProgress(0, 0);

    // Everything the worker needs is captured by value; it never touches this object's members.
    auto engine = m_engine;
    SearchOptions options = m_options;
    options.minMatchProbability = 0.0f; // filtered on display
    const CancelToken cancel = m_cancel;
    const QString text_ = m_text, photo = m_photo;
    auto onUpdate = [this, generation](const SearchUpdate &update) {
        QMetaObject::invokeMethod(this, [this, generation, update] { applyUpdate(generation, update); },
                                  Qt::QueuedConnection);
    };
    m_running = QtConcurrent::run([engine, options, cancel, text_, photo, onUpdate]() -> Outcome {
        Result<std::vector<PhotoHit>> result = Error(Error::Code::Internal, QString());
        if (photo.isEmpty())
            result = engine->searchText(text_, options, onUpdate, cancel);
        else if (text_.isEmpty())
            result = engine->searchSimilar(photo, options.candidates, cancel);
        else
            result = engine->searchComposed(photo, text_, options, onUpdate, cancel);
        if (!result.ok())
            return {false, {}, result.error()};
        return {true, std::move(result.value()), {}};
    });
    m_running.then(this, [this, generation](const Outcome &outcome) { finish(generation, outcome); });
}

void SearchController::applyUpdate(quint64 generation, const SearchUpdate &update) {
    if (generation != m_generation)
        return; // an older query: the user has typed since
    m_raw = update.hits;
    publish();
    Q_EMIT rerankProgress(update.reranked, update.toRerank);
    if (!update.skipped.isEmpty())
        Q_EMIT photosSkipped(update.skipped);
}

void SearchController::finish(quint64 generation, const Outcome &outcome) {
    if (generation != m_generation)
        return;
    setBusy(false);
    if (!outcome.ok) {
        if (outcome.error.code != Error::Code::Cancelled)
            Q_EMIT searchFailed(outcome.error.message);
        return;
    }
    m_raw = outcome.hits;
    publish();
    Q_EMIT searchFinished(int(m_raw.size()));
}

void SearchController::publish() {
    Q_EMIT resultsChanged(m_minMatch > 0 ? orderForDisplay(m_raw, m_minMatch) : m_raw);
}

void SearchController::setBusy(bool busy) {
    if (busy == m_busy)
        return;
    m_busy = busy;
    Q_EMIT busyChanged(busy);
}

} // namespace ts
