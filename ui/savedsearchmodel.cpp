#include "ui/savedsearchmodel.h"

#include <QLocale>

#include <climits>
#include <utility>
#include <vector>

namespace ts {

QList<SavedSearch> SavedSearch::loadAll(QSettings &settings) {
    QList<SavedSearch> out;
    const int n = settings.beginReadArray(QStringLiteral("savedSearches"));
    for (int i = 0; i < n; ++i) {
        settings.setArrayIndex(i);
        SavedSearch s;
        s.query = settings.value(QStringLiteral("query")).toString();
        s.name = settings.value(QStringLiteral("name"), s.query).toString();
        s.minMatchProbability =
            qBound(0.0, settings.value(QStringLiteral("minMatch"), 0.0).toDouble(), 1.0);
        if (!s.query.trimmed().isEmpty())
            out << s;
    }
    settings.endArray();
    return out;
}

void SavedSearch::saveAll(QSettings &settings, const QList<SavedSearch> &searches) {
    settings.remove(QStringLiteral("savedSearches")); // a shorter list leaves no stale entries
    settings.beginWriteArray(QStringLiteral("savedSearches"), int(searches.size()));
    for (int i = 0; i < searches.size(); ++i) {
        settings.setArrayIndex(i);
        settings.setValue(QStringLiteral("name"), searches[i].name);
        settings.setValue(QStringLiteral("query"), searches[i].query);
        settings.setValue(QStringLiteral("minMatch"), searches[i].minMatchProbability);
    }
    settings.endArray();
}

SavedSearchModel::SavedSearchModel(QObject *parent) : QAbstractListModel(parent) {}

void SavedSearchModel::setSearches(const QList<SavedSearch> &searches) {
    beginResetModel();
    m_searches = searches;
    m_counts = QList<Count>(searches.size());
    endResetModel();
    refreshCounts();
}

int SavedSearchModel::add(const SavedSearch &search) {
    for (int row = 0; row < m_searches.size(); ++row) {
        if (m_searches[row].query != search.query)
            continue;
        m_searches[row] = search;
        Q_EMIT dataChanged(index(row), index(row));
        Q_EMIT searchesEdited(m_searches);
        refreshCounts(); // the cut-off may have changed
        return row;
    }
    const int row = int(m_searches.size());
    beginInsertRows({}, row, row);
    m_searches << search;
    m_counts << Count{};
    endInsertRows();
    Q_EMIT searchesEdited(m_searches);
    refreshCounts();
    return row;
}

void SavedSearchModel::remove(int row) {
    if (row < 0 || row >= m_searches.size())
        return;
    beginRemoveRows({}, row, row);
    m_searches.removeAt(row);
    m_counts.removeAt(row);
    endRemoveRows();
    Q_EMIT searchesEdited(m_searches);
}

bool SavedSearchModel::rename(int row, const QString &name) {
    const QString trimmed = name.trimmed();
    if (row < 0 || row >= m_searches.size() || trimmed.isEmpty())
        return false;
    if (m_searches[row].name == trimmed)
        return true;
    m_searches[row].name = trimmed;
    Q_EMIT dataChanged(index(row), index(row));
    Q_EMIT searchesEdited(m_searches);
    return true;
}

std::optional<qint64> SavedSearchModel::countAt(int row) const {
    return row >= 0 && row < m_counts.size() ? m_counts[row].photos : std::nullopt;
}

void SavedSearchModel::setCounter(Counter counter) {
    m_counter = std::move(counter);
    m_pass.supersede(); // counts of the previous counter (another model, no engine) are stale
    m_counting = false;
    m_again = false;
    refreshCounts();
}

void SavedSearchModel::refreshCounts() {
    if (!m_counter || m_searches.isEmpty())
        return;
    if (m_counting) {
        m_again = true;
        return;
    }
    startPass();
}

void SavedSearchModel::refreshCountsIfDue() {
    if (!m_sinceLastPass.isValid() || m_sinceLastPass.elapsed() >= m_minIntervalMs)
        refreshCounts();
}

void SavedSearchModel::startPass() {
    m_counting = true;
    m_again = false;
    m_sinceLastPass.start();
    using Counted = std::vector<std::pair<QString, Count>>; // by query
    m_pass.start(
        [counter = m_counter, searches = m_searches]() -> Counted {
            Counted out;
            for (const SavedSearch &s : searches) {
                auto n = counter(s);
                out.emplace_back(s.query,
                                 n.ok() ? Count{*n, {}} : Count{std::nullopt, n.error().message});
            }
            return out;
        },
        [this](const Counted &counted) {
            m_counting = false;
            for (const auto &[query, count] : counted)
                for (int row = 0; row < m_searches.size(); ++row)
                    if (m_searches[row].query == query)
                        m_counts[row] = count;
            if (!m_searches.isEmpty())
                Q_EMIT dataChanged(index(0), index(int(m_searches.size()) - 1));
            Q_EMIT countsRefreshed();
            if (m_again)
                startPass();
        });
}

int SavedSearchModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_searches.size());
}

QVariant SavedSearchModel::data(const QModelIndex &index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const SavedSearch &s = m_searches[index.row()];
    const Count &c = m_counts[index.row()];
    switch (role) {
    case Qt::DisplayRole:
        if (c.photos)
            return tr("%1  (%2)").arg(s.name, QLocale().toString(*c.photos));
        return c.error.isEmpty() ? s.name : tr("%1  (!)").arg(s.name);
    case Qt::EditRole:
        return s.name;
    case Qt::ToolTipRole: {
        QString tip = tr("Search: %1").arg(s.query);
        if (s.minMatchProbability > 0)
            tip += tr("\nMinimum match: %1%").arg(qRound(s.minMatchProbability * 100));
        if (c.photos)
            tip += tr("\n%n photo(s) match now", nullptr, int(qMin<qint64>(*c.photos, INT_MAX)));
        else if (!c.error.isEmpty())
            tip += QLatin1Char('\n') + c.error;
        return tip;
    }
    case QueryRole:
        return s.query;
    case MinMatchRole:
        return s.minMatchProbability;
    case CountRole:
        return c.photos ? QVariant::fromValue(*c.photos) : QVariant();
    default:
        return {};
    }
}

bool SavedSearchModel::setData(const QModelIndex &index, const QVariant &value, int role) {
    if (role != Qt::EditRole ||
        !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    return rename(index.row(), value.toString());
}

Qt::ItemFlags SavedSearchModel::flags(const QModelIndex &index) const {
    if (!index.isValid())
        return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsEditable | Qt::ItemNeverHasChildren;
}

QHash<int, QByteArray> SavedSearchModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names.insert(QueryRole, "query");
    names.insert(MinMatchRole, "minMatch");
    names.insert(CountRole, "count");
    return names;
}

} // namespace ts
