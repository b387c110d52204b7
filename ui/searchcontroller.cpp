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
        QMetaObject::invokeMethod(
            this, [this, generation, update] { applyUpdate(generation, update); },
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
    m_running.then(this,
                   [this, generation](const Outcome &outcome) { finish(generation, outcome); });
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

void SearchController::setSortOrder(SortOrder order) {
    if (order == m_options.sort)
        return;
    m_options.sort = order;
    publish();
}

void SearchController::setTakenProvider(TakenProvider provider) {
    m_taken = std::move(provider);
    m_takenCache.clear();
    if (m_options.sort == SortOrder::DateTaken)
        publish();
}

std::vector<PhotoHit>
SearchController::sortForDisplay(std::vector<PhotoHit> hits, SortOrder order,
                                 const std::function<std::optional<qint64>(qint64)> &takenMs) {
    if (order == SortOrder::Name) {
        auto name = [](const QString &path) {
            return QStringView(path).mid(path.lastIndexOf(QLatin1Char('/')) + 1);
        };
        std::stable_sort(hits.begin(), hits.end(), [&](const PhotoHit &a, const PhotoHit &b) {
            const int c = name(a.path).compare(name(b.path), Qt::CaseInsensitive);
            return c != 0 ? c < 0 : a.path < b.path;
        });
    } else if (order == SortOrder::DateTaken && takenMs) {
        std::vector<std::pair<std::optional<qint64>, PhotoHit>> keyed;
        keyed.reserve(hits.size());
        for (PhotoHit &h : hits)
            keyed.emplace_back(takenMs(h.photoId), std::move(h));
        std::stable_sort(keyed.begin(), keyed.end(), [](const auto &a, const auto &b) {
            if (a.first.has_value() != b.first.has_value())
                return a.first.has_value();
            return a.first && *a.first > *b.first;
        });
        hits.clear();
        for (auto &k : keyed)
            hits.push_back(std::move(k.second));
    }
    return hits;
}

void SearchController::publish() {
    std::vector<PhotoHit> hits = m_minMatch > 0 ? orderForDisplay(m_raw, m_minMatch) : m_raw;
    if (m_options.sort != SortOrder::Relevance) {
        hits = sortForDisplay(
            std::move(hits), m_options.sort, [this](qint64 id) -> std::optional<qint64> {
                auto it = m_takenCache.constFind(id);
                if (it != m_takenCache.constEnd())
                    return *it;
                const std::optional<qint64> t = m_taken ? m_taken(id) : std::nullopt;
                m_takenCache.insert(id, t);
                return t;
            });
    }
    Q_EMIT resultsChanged(hits);
}

void SearchController::setBusy(bool busy) {
    if (busy == m_busy)
        return;
    m_busy = busy;
    Q_EMIT busyChanged(busy);
}

} // namespace ts
