#pragma once

#include "core/search/searchengine.h"

#include <QAbstractListModel>
#include <QHash>

#include <vector>

namespace ts {

class ThumbnailLoader;

// The results of the current query, in display order, for the results grid.
//
// Progressive: setHits() with the same photos in a new order (an ITM rerank step) moves rows with
// a layout change, so selection and current item follow their photos; a different set of photos
// resets the model. Thumbnails: data(ThumbnailRole) returns the cached thumbnail, or the
// placeholder while asking the loader (views ask only for the rows they paint, so only visible
// rows are loaded); a delivered thumbnail emits dataChanged(idx, idx, {ThumbnailRole,
// DecorationRole}). GUI thread only.
class ResultModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        PathRole = Qt::UserRole + 1,
        PhotoIdRole,
        SimilarityRole,       // float, contrastive cosine similarity
        MatchProbabilityRole, // float, or invalid QVariant before the rerank
        ScoreRole,            // match probability when reranked, else similarity
        ScoreTextRole,        // "27% match" / "similarity 0.26"
        ThumbnailRole,        // QImage (placeholder until loaded)
    };
    Q_ENUM(Role)

    explicit ResultModel(ThumbnailLoader *loader = nullptr, QObject *parent = nullptr);

    void setHits(std::vector<PhotoHit> hits);
    void clear();
    const std::vector<PhotoHit> &hits() const { return m_hits; }
    const PhotoHit *hitAt(int row) const;
    int rowOfPhoto(qint64 photoId) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    QHash<int, QByteArray> roleNames() const override;
    QStringList mimeTypes() const override;
    QMimeData *mimeData(const QModelIndexList &indexes) const override;
    Qt::DropActions supportedDragActions() const override { return Qt::CopyAction; }

    static QString scoreText(const PhotoHit &hit);

private:
    void onThumbnailReady(const QString &path);
    void rebuildLookup();

    ThumbnailLoader *m_loader;
    std::vector<PhotoHit> m_hits;
    QHash<qint64, int> m_rowOfId;
    QMultiHash<QString, int> m_rowsOfPath;
};

} // namespace ts
