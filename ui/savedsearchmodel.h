#pragma once

#include "core/common/result.h"
#include "ui/latestonly.h"

#include <QAbstractListModel>
#include <QElapsedTimer>
#include <QList>
#include <QSettings>
#include <QString>

#include <functional>
#include <optional>

namespace ts {

// A search the user keeps in the sidebar: a name, the query as typed (caption and filters, kept as
// text so the query syntax parses it the same way each time it runs) and the relevance cut-off it
// was saved with. Stored with the app's settings (QSettings), so it survives a restart.
struct SavedSearch {
    QString name;
    QString query;
    double minMatchProbability = 0.0;

    friend bool operator==(const SavedSearch &, const SavedSearch &) = default;

    // The "savedSearches" array of `settings`; entries without a query are skipped.
    static QList<SavedSearch> loadAll(QSettings &settings);
    static void saveAll(QSettings &settings, const QList<SavedSearch> &searches);
};

// The saved searches for the sidebar, each with how many photos its search shows now.
//
// Counting runs a search per saved search, so it runs off the GUI thread, all of them one after the
// other in one task, through the counter the window sets (it must be thread-safe). refreshCounts()
// starts a pass (or, while one runs, one more after it); refreshCountsIfDue() does so only when the
// last pass started at least minRefreshInterval ago, for the indexer's frequent progress ticks.
// Counts of a list that changed meanwhile are matched by query, so a renamed or removed entry
// never gets another's count. GUI thread only.
class SavedSearchModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        QueryRole = Qt::UserRole + 1,
        MinMatchRole,
        CountRole, // qint64, or invalid while not counted yet
    };
    Q_ENUM(Role)

    using Counter = std::function<Result<qint64>(const SavedSearch &search)>;

    explicit SavedSearchModel(QObject *parent = nullptr);

    void setSearches(const QList<SavedSearch> &searches); // a reset; counts are refreshed
    const QList<SavedSearch> &searches() const { return m_searches; }
    // Appends (or, for a query already saved, renames and updates that entry); returns its row.
    int add(const SavedSearch &search);
    void remove(int row);
    bool rename(int row, const QString &name);
    SavedSearch at(int row) const { return m_searches.value(row); }
    std::optional<qint64> countAt(int row) const;

    void setCounter(Counter counter);
    void setMinRefreshInterval(int ms) { m_minIntervalMs = ms; }
    void refreshCounts();
    void refreshCountsIfDue();
    bool isCounting() const { return m_counting; }

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    QHash<int, QByteArray> roleNames() const override;

Q_SIGNALS:
    // The list itself changed (added, renamed, removed): the window stores it.
    void searchesEdited(const QList<ts::SavedSearch> &searches);
    // A counting pass delivered its counts.
    void countsRefreshed();

private:
    struct Count {
        std::optional<qint64> photos;
        QString error;
    };
    void startPass();

    QList<SavedSearch> m_searches;
    QList<Count> m_counts; // parallel to m_searches
    Counter m_counter;
    QElapsedTimer m_sinceLastPass;
    int m_minIntervalMs = 30000;
    LatestOnly m_pass{this}; // counts of the current counter only
    bool m_counting = false;
    bool m_again = false;
};

} // namespace ts
