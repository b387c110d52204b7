#pragma once

#include <QString>
#include <QTimer>
#include <QWidget>

class QLineEdit;
class QToolButton;

namespace ts {

// The search field: words, optionally beside a photo "chip" (a dropped or chosen photo, removable
// with its ×). queryChanged() fires a short pause after typing stops, or at once when the photo
// changes or Enter is pressed. Esc clears the words, then the photo.
class SearchField : public QWidget {
    Q_OBJECT
public:
    explicit SearchField(QWidget *parent = nullptr);

    QString text() const;
    void setText(const QString &text); // emits queryChanged after the pause
    QString photoPath() const { return m_photo; }
    void setPhoto(const QString &path, const QImage &thumbnail = {}); // emits queryChanged at once
    void clearPhoto();
    void clear();                   // words and photo
    void setDebounceInterval(int ms) { m_debounce.setInterval(ms); }
    QLineEdit *lineEdit() const { return m_edit; }
    QToolButton *chip() const { return m_chip; }

Q_SIGNALS:
    void queryChanged(const QString &text, const QString &photoPath);
    void escapePressedWhenEmpty();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void emitNow();

    QLineEdit *m_edit;
    QToolButton *m_chip;
    QString m_photo;
    QTimer m_debounce;
};

} // namespace ts
