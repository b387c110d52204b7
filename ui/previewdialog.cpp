#include "ui/previewdialog.h"

#include "core/image/imagedecoder.h"

#include <QFileInfo>
#include <QKeyEvent>
#include <QLabel>
#include <QPointer>
#include <QScreen>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace ts {

PreviewDialog::PreviewDialog(const QString &path, QWidget *parent)
    : QDialog(parent), m_label(new QLabel(this)) {
    setWindowTitle(QFileInfo(path).fileName());
    setAttribute(Qt::WA_DeleteOnClose);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_label->setAlignment(Qt::AlignCenter);
    m_label->setText(tr("Loading…"));
    m_label->setAccessibleName(tr("Photo preview"));
    m_label->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
    layout->addWidget(m_label);
    const QSize avail = (parent && parent->screen() ? parent->screen() : screen())->availableSize();
    resize(avail * 0.8);

    QtConcurrent::run([path] {
        DecodeOptions options;
        options.targetShortestEdgeHint = QSize(2048, 2048);
        auto decoded = decodeImageFile(path, options);
        return decoded.ok() ? decoded->rgb : QImage();
    }).then(this, [this](const QImage &image) {
        m_image = image;
        if (image.isNull())
            m_label->setText(tr("This photo could not be opened."));
        showImage();
    });
}

void PreviewDialog::showImage() {
    if (m_image.isNull())
        return;
    const qreal dpr = devicePixelRatioF();
    QPixmap pm = QPixmap::fromImage(
        m_image.scaled(m_label->size() * dpr, Qt::KeepAspectRatio, Qt::SmoothTransformation));
    pm.setDevicePixelRatio(dpr);
    m_label->setPixmap(pm);
}

void PreviewDialog::keyPressEvent(QKeyEvent *event) {
    if (event->key() == Qt::Key_Space || event->key() == Qt::Key_Escape) {
        close();
        return;
    }
    QDialog::keyPressEvent(event);
}

void PreviewDialog::mousePressEvent(QMouseEvent *) {
    close();
}

void PreviewDialog::resizeEvent(QResizeEvent *event) {
    QDialog::resizeEvent(event);
    showImage();
}

} // namespace ts
