#include "ui/resultmodel.h"

#include "ui/photoactions.h"
#include "ui/thumbnailloader.h"

#include <QFileInfo>

namespace ts {

ResultModel::ResultModel(ThumbnailLoader *loader, QObject *parent)
    : QAbstractListModel(parent), m_loader(loader) {
    if (m_loader)
        connect(m_loader, &ThumbnailLoader::thumbnailReady, this, &ResultModel::onThumbnailReady);
}

void ResultModel::setHits(std::vector<PhotoHit> hits) {
    bool sameSet = hits.size() == m_hits.size() && !hits.empty();
    if (sameSet) {
        for (const PhotoHit &h : hits) {
            if (!m_rowOfId.contains(h.photoId)) {
                sameSet = false;
                break;
            }
        }
    }
    if (!sameSet) {
        beginResetModel();
        m_hits = std::move(hits);
        rebuildLookup();
        endResetModel();
        return;
    }
    // A re-sort of the same photos: move rows, keep selection and the current item on their photos.
    Q_EMIT layoutAboutToBeChanged({}, QAbstractItemModel::VerticalSortHint);
    QHash<qint64, int> newRow;
    for (int r = 0; r < int(hits.size()); ++r)
        newRow.insert(hits[size_t(r)].photoId, r);
    const QModelIndexList persistent = persistentIndexList();
    QModelIndexList moved;
    moved.reserve(persistent.size());
    for (const QModelIndex &idx : persistent)
        moved << index(newRow.value(m_hits[size_t(idx.row())].photoId), idx.column());
    m_hits = std::move(hits);
    rebuildLookup();
    changePersistentIndexList(persistent, moved);
    Q_EMIT layoutChanged({}, QAbstractItemModel::VerticalSortHint);
    Q_EMIT dataChanged(
        index(0), index(int(m_hits.size()) - 1),
        {MatchProbabilityRole, ScoreRole, ScoreTextRole, SimilarityRole, Qt::ToolTipRole});
}

void ResultModel::clear() {
    setHits({});
}

const PhotoHit *ResultModel::hitAt(int row) const {
    return row >= 0 && row < int(m_hits.size()) ? &m_hits[size_t(row)] : nullptr;
}

int ResultModel::rowOfPhoto(qint64 photoId) const {
    return m_rowOfId.value(photoId, -1);
}

void ResultModel::rebuildLookup() {
    m_rowOfId.clear();
    m_rowsOfPath.clear();
    m_rowOfId.reserve(qsizetype(m_hits.size()));
    for (int r = 0; r < int(m_hits.size()); ++r) {
        m_rowOfId.insert(m_hits[size_t(r)].photoId, r);
        m_rowsOfPath.insert(m_hits[size_t(r)].path, r);
    }
}

int ResultModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_hits.size());
}

QString ResultModel::scoreText(const PhotoHit &hit) {
    if (hit.matchProbability)
        return tr("%1% match").arg(QString::number(double(*hit.matchProbability) * 100.0, 'f', 1));
    return tr("similarity %1").arg(QString::number(double(hit.similarity), 'f', 3));
}

QVariant ResultModel::data(const QModelIndex &index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const PhotoHit &hit = m_hits[size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        return QFileInfo(hit.path).fileName();
    case Qt::ToolTipRole:
        return QStringLiteral("%1\n%2").arg(hit.path, scoreText(hit));
    case Qt::AccessibleTextRole:
        return tr("%1, %2").arg(QFileInfo(hit.path).fileName(), scoreText(hit));
    case PathRole:
        return hit.path;
    case PhotoIdRole:
        return hit.photoId;
    case SimilarityRole:
        return hit.similarity;
    case MatchProbabilityRole:
        return hit.matchProbability ? QVariant(*hit.matchProbability) : QVariant();
    case ScoreRole:
        return hit.matchProbability ? *hit.matchProbability : hit.similarity;
    case ScoreTextRole:
        return scoreText(hit);
    case ThumbnailRole:
    case Qt::DecorationRole: {
        if (m_loader) {
            const QImage img = m_loader->thumbnail(hit.path);
            if (!img.isNull())
                return img;
            m_loader->request(hit.path);
        }
        return ThumbnailLoader::placeholder();
    }
    default:
        return {};
    }
}

Qt::ItemFlags ResultModel::flags(const QModelIndex &index) const {
    if (!index.isValid())
        return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled |
           Qt::ItemNeverHasChildren;
}

QHash<int, QByteArray> ResultModel::roleNames() const {
    QHash<int, QByteArray> names = QAbstractListModel::roleNames();
    names.insert(PathRole, "path");
    names.insert(PhotoIdRole, "photoId");
    names.insert(SimilarityRole, "similarity");
    names.insert(MatchProbabilityRole, "matchProbability");
    names.insert(ScoreRole, "score");
    names.insert(ScoreTextRole, "scoreText");
    names.insert(ThumbnailRole, "thumbnail");
    return names;
}

QStringList ResultModel::mimeTypes() const {
    return {QStringLiteral("text/uri-list")};
}

QMimeData *ResultModel::mimeData(const QModelIndexList &indexes) const {
    QStringList paths;
    for (const QModelIndex &idx : indexes)
        if (const PhotoHit *hit = hitAt(idx.row()))
            paths << hit->path;
    return photoMimeData(paths);
}

void ResultModel::onThumbnailReady(const QString &path) {
    const auto range = m_rowsOfPath.equal_range(path);
    for (auto it = range.first; it != range.second; ++it) {
        const QModelIndex idx = index(*it);
        Q_EMIT dataChanged(idx, idx, {ThumbnailRole, Qt::DecorationRole});
    }
}

} // namespace ts
