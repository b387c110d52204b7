#pragma once

#include <QDialog>
#include <QImage>

class QLabel;

namespace ts {

// Quick look (Space on a result): the photo as large as the screen allows, EXIF-oriented, decoded
// off the GUI thread. Space, Esc or a click closes it.
class PreviewDialog : public QDialog {
    Q_OBJECT
public:
    explicit PreviewDialog(const QString &path, QWidget *parent = nullptr);

protected:
    void keyPressEvent(QKeyEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    void showImage();
    QLabel *m_label;
    QImage m_image;
};

} // namespace ts
