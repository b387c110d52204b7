#include "ui/searchfield.h"

#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLineEdit>
#include <QStyle>
#include <QToolButton>

namespace ts {

SearchField::SearchField(QWidget *parent) : QWidget(parent), m_edit(new QLineEdit(this)), m_chip(new QToolButton(this)) {
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);

    m_chip->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_chip->setAutoRaise(false);
    m_chip->setVisible(false);
    m_chip->setAccessibleName(tr("Photo in the query; activate to remove it"));
    m_chip->setStyleSheet(QStringLiteral("QToolButton { border-radius: 10px; padding: 1px 8px; "
                                         "background: palette(midlight); border: 1px solid palette(mid); }"));
    connect(m_chip, &QToolButton::clicked, this, &SearchField::clearPhoto);

    m_edit->setPlaceholderText(tr("Describe a photo, e.g. \"a dog on a beach at sunset\" — or drop a photo here"));
    m_edit->setClearButtonEnabled(true);
    m_edit->setAccessibleName(tr("Search photos"));
    m_edit->setAcceptDrops(false); // the window takes dropped photos and folders
    m_edit->installEventFilter(this);
    m_edit->addAction(style()->standardIcon(QStyle::SP_FileDialogContentsView), QLineEdit::LeadingPosition);

    layout->addWidget(m_chip);
    layout->addWidget(m_edit, 1);
    setFocusProxy(m_edit);

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(250);
    connect(&m_debounce, &QTimer::timeout, this, &SearchField::emitNow);
    connect(m_edit, &QLineEdit::textEdited, this, [this] { m_debounce.start(); });
    connect(m_edit, &QLineEdit::returnPressed, this, &SearchField::emitNow);
    // The clear button (×) empties the text without textEdited.
    connect(m_edit, &QLineEdit::textChanged, this, [this](const QString &t) {
        if (t.isEmpty())
            m_debounce.start();
    });
}

QString SearchField::text() const { return m_edit->text(); }

void SearchField::setText(const QString &text) {
    m_edit->setText(text);
    m_debounce.start();
}

void SearchField::setPhoto(const QString &path, const QImage &thumbnail) {
    m_photo = path;
    const QString name = QFileInfo(path).fileName();
    m_chip->setText(tr("%1  ✕").arg(name));
    m_chip->setToolTip(tr("Searching for photos like %1. Click to remove.").arg(path));
    if (!thumbnail.isNull())
        m_chip->setIcon(QIcon(QPixmap::fromImage(thumbnail)));
    else
        m_chip->setIcon(style()->standardIcon(QStyle::SP_FileIcon));
    m_chip->setVisible(true);
    m_edit->setPlaceholderText(tr("Add words to refine, e.g. \"at night\""));
    emitNow();
}

void SearchField::clearPhoto() {
    if (m_photo.isEmpty())
        return;
    m_photo.clear();
    m_chip->setVisible(false);
    m_edit->setPlaceholderText(tr("Describe a photo, e.g. \"a dog on a beach at sunset\" — or drop a photo here"));
    emitNow();
}

void SearchField::clear() {
    m_debounce.stop();
    m_photo.clear();
    m_chip->setVisible(false);
    m_edit->clear();
    m_debounce.stop();
    emitNow();
}

void SearchField::emitNow() {
    m_debounce.stop();
    Q_EMIT queryChanged(m_edit->text().trimmed(), m_photo);
}

bool SearchField::eventFilter(QObject *watched, QEvent *event) {
    if (watched == m_edit && event->type() == QEvent::KeyPress) {
        auto *key = static_cast<QKeyEvent *>(event);
        if (key->key() == Qt::Key_Escape) {
            if (!m_edit->text().isEmpty() || !m_photo.isEmpty())
                clear();
            else
                Q_EMIT escapePressedWhenEmpty();
            return true;
        }
        if (key->key() == Qt::Key_Backspace && m_edit->cursorPosition() == 0 && !m_edit->hasSelectedText() &&
            !m_photo.isEmpty()) {
            clearPhoto(); // as in tag fields: backspace at the start removes the chip
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace ts
