#pragma once

#include <QStyledItemDelegate>

namespace ts {

// Paints one result tile: the thumbnail (aspect-fit), the file name, and the match score as a
// badge while the mouse is over the tile. Paints only: never loads (the model hands it a cached
// thumbnail or a placeholder). Colours come from the palette, so light and dark themes both work.
class ResultDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    explicit ResultDelegate(QObject *parent = nullptr);

    void setTileSize(int logicalPixels);

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;

private:
    int m_tile = 160;
};

} // namespace ts
