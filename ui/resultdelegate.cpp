#include "ui/resultdelegate.h"

#include "ui/librarymodel.h"
#include "ui/resultmodel.h"

#include <QAbstractItemView>

#include <QApplication>
#include <QPainter>
#include <QPainterPath>

namespace ts {

namespace {
constexpr int kMargin = 4;
constexpr int kPadding = 6;
constexpr int kHeaderInset = 12; // QListView's spacing and frame on each side, with room to spare
} // namespace

ResultDelegate::ResultDelegate(QObject *parent) : QStyledItemDelegate(parent) {}

void ResultDelegate::setTileSize(int logicalPixels) {
    m_tile = qBound(64, logicalPixels, 512);
}

QSize ResultDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const {
    if (index.data(LibraryModel::HeaderRole).toBool()) {
        // A month header takes a whole line of the grid: as wide as the viewport (less the
        // view's spacing on both sides), so the flow puts it, and the photos after it, on a new
        // row.
        int width = 4 * m_tile;
        if (const auto *view = qobject_cast<const QAbstractItemView *>(option.widget))
            width = qMax(m_tile, view->viewport()->width() - 2 * kHeaderInset);
        return {width, option.fontMetrics.height() * 2 + kPadding};
    }
    return {m_tile + 2 * kMargin, m_tile + option.fontMetrics.height() + 2 * kMargin + kPadding};
}

void ResultDelegate::paint(QPainter *p, const QStyleOptionViewItem &option,
                           const QModelIndex &index) const {
    const QPalette &pal = option.palette;
    if (index.data(LibraryModel::HeaderRole).toBool()) {
        p->save();
        QFont f = option.font;
        f.setBold(true);
        f.setPointSizeF(f.pointSizeF() * 1.1);
        p->setFont(f);
        p->setPen(pal.color(QPalette::Text));
        const QRect text = option.rect.adjusted(kMargin + kPadding, 0, -kMargin, 0);
        p->drawText(text, Qt::AlignLeft | Qt::AlignBottom,
                    QFontMetrics(f).elidedText(index.data(Qt::DisplayRole).toString(),
                                               Qt::ElideRight, text.width()));
        p->restore();
        return;
    }
    const bool selected = option.state & QStyle::State_Selected;
    const bool hovered = option.state & QStyle::State_MouseOver;
    const QRect tile = option.rect.adjusted(kMargin, kMargin, -kMargin, -kMargin);

    p->save();
    p->setRenderHint(QPainter::Antialiasing);
    p->setRenderHint(QPainter::SmoothPixmapTransform);
    if (selected || hovered) {
        QColor bg = pal.color(QPalette::Highlight);
        bg.setAlphaF(selected ? 0.35f : 0.12f);
        QPainterPath path;
        path.addRoundedRect(QRectF(tile), 6, 6);
        p->fillPath(path, bg);
    }

    const int textHeight = option.fontMetrics.height();
    const QRect imageArea = tile.adjusted(kPadding, kPadding, -kPadding, -kPadding - textHeight);
    const QImage image = index.data(ResultModel::ThumbnailRole).value<QImage>();
    if (!image.isNull()) {
        const QSizeF fitted =
            QSizeF(image.size()).scaled(QSizeF(imageArea.size()), Qt::KeepAspectRatio);
        const QRectF target(imageArea.left() + (imageArea.width() - fitted.width()) / 2,
                            imageArea.top() + (imageArea.height() - fitted.height()) / 2,
                            fitted.width(), fitted.height());
        p->drawImage(target, image);
    }

    const QRect textRect(tile.left() + kPadding, imageArea.bottom() + 2,
                         tile.width() - 2 * kPadding, textHeight);
    const QString name = option.fontMetrics.elidedText(index.data(Qt::DisplayRole).toString(),
                                                       Qt::ElideMiddle, textRect.width());
    p->setPen(
        pal.color(option.state & QStyle::State_Enabled ? QPalette::Active : QPalette::Disabled,
                  QPalette::Text));
    p->drawText(textRect, Qt::AlignHCenter | Qt::AlignVCenter, name);

    if ((hovered || selected) && !index.data(ResultModel::ScoreTextRole).toString().isEmpty()) {
        // The score as a small badge in the image's corner; legible on any photo.
        const QString score = index.data(ResultModel::ScoreTextRole).toString();
        QFont f = option.font;
        f.setPointSizeF(f.pointSizeF() * 0.85);
        const QFontMetrics fm(f);
        const QRect badge(imageArea.right() - fm.horizontalAdvance(score) - 12, imageArea.top() + 2,
                          fm.horizontalAdvance(score) + 10, fm.height() + 4);
        QPainterPath path;
        path.addRoundedRect(QRectF(badge), 4, 4);
        p->fillPath(path, QColor(0, 0, 0, 170));
        p->setFont(f);
        p->setPen(Qt::white);
        p->drawText(badge, Qt::AlignCenter, score);
    }

    if (option.state & QStyle::State_HasFocus) {
        QPen pen(pal.color(QPalette::Highlight), 1.5);
        p->setPen(pen);
        p->setBrush(Qt::NoBrush);
        p->drawRoundedRect(QRectF(tile).adjusted(0.75, 0.75, -0.75, -0.75), 6, 6);
    }
    p->restore();
}

} // namespace ts
