#pragma once

#include "core/search/searchengine.h"

#include <QFuture>
#include <QHash>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace ts {

// Runs queries off the GUI thread and hands their results back progressively on it.
//
// Each search() starts a new generation and cancels the previous query (CancelToken); updates of
// older generations are dropped, so results never flicker back to an outdated query. A caption
// search delivers the contrastive ranking at once, then the re-sorted list after each ITM rerank
// step. The relevance cut-off is applied here on the GUI thread (orderForDisplay), so moving the
// slider re-filters instantly without searching again.
//
// A query made before the engine exists (model still loading) is kept and run by setEngine().
// GUI thread only. The destructor cancels and waits for the running query (one rerank step).
class SearchController : public QObject {
    Q_OBJECT
public:
    explicit SearchController(QObject *parent = nullptr);
    ~SearchController() override;

    void setEngine(std::shared_ptr<const SearchEngine> engine);
    std::shared_ptr<const SearchEngine> engine() const { return m_engine; }
    // candidates and rerankDepth; minMatchProbability is applied by setMinMatchProbability().
    void setOptions(const SearchOptions &options) { m_options = options; }
    SearchOptions options() const { return m_options; }
    void setMinMatchProbability(float probability);
    float minMatchProbability() const { return m_minMatch; }
    // The display order: Relevance (the engine's), DateTaken (newest first, unknown dates last) or
    // Name. Re-sorts the list it has at once; also passed to the engine with the next search.
    // Dates come from the provider, asked once per photo (GUI thread; a catalog lookup by id).
    using TakenProvider = std::function<std::optional<qint64>(qint64 photoId)>;
    void setSortOrder(SortOrder order);
    SortOrder sortOrder() const { return m_options.sort; }
    void setTakenProvider(TakenProvider provider);
    // `hits` in `order`, stable (equal keys keep their relevance order).
    static std::vector<PhotoHit>
    sortForDisplay(std::vector<PhotoHit> hits, SortOrder order,
                   const std::function<std::optional<qint64>(qint64)> &takenMs);

    // Text only: caption search. Photo only: similar photos. Both: "like this, but <text>".
    // Empty text and no photo: clears the results.
    void search(const QString &text, const QString &photoPath = {});
    void cancel();
    void rerun() { search(m_text, m_photo); }

    bool isBusy() const { return m_busy; }
    quint64 generation() const { return m_generation; }
    const std::vector<PhotoHit> &rawHits() const { return m_raw; }
    QString currentText() const { return m_text; }
    QString currentPhoto() const { return m_photo; }

Q_SIGNALS:
    // The results to show, filtered by the cut-off, in display order.
    void resultsChanged(const std::vector<ts::PhotoHit> &hits);
    void rerankProgress(int reranked, int toRerank);
    void busyChanged(bool busy);
    void searchFinished(int resultCount);
    void searchFailed(const QString &message);
    void photosSkipped(const QStringList &reasons);

private:
    struct Outcome {
        bool ok = false;
        std::vector<PhotoHit> hits;
        Error error;
    };
    void applyUpdate(quint64 generation, const SearchUpdate &update);
    void finish(quint64 generation, const Outcome &outcome);
    void publish();
    void setBusy(bool busy);

    std::shared_ptr<const SearchEngine> m_engine;
    SearchOptions m_options;
    float m_minMatch = 0.0f;
    CancelToken m_cancel;
    quint64 m_generation = 0;
    QFuture<Outcome> m_running;
    std::vector<PhotoHit> m_raw;
    QString m_text, m_photo;
    TakenProvider m_taken;
    QHash<qint64, std::optional<qint64>> m_takenCache;
    bool m_busy = false;
    bool m_pending = false; // a query waits for the engine
};

} // namespace ts
