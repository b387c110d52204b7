#include "ui/searchfield.h"

#include <QAbstractItemView>
#include <QCompleter>
#include <QEvent>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QStringListModel>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace ts {

namespace {

const char *const kChipStyle = "QToolButton { border-radius: 10px; padding: 1px 8px; "
                               "background: palette(midlight); border: 1px solid palette(mid); }";

QString describeFilter(const QueryToken &t) {
    switch (t.kind) {
    case QueryTokenKind::After:
        return SearchField::tr("Taken on or after %1").arg(t.value);
    case QueryTokenKind::Before:
        return SearchField::tr("Taken before %1").arg(t.value);
    case QueryTokenKind::Folder:
        return SearchField::tr("In the folder %1 or below").arg(t.value);
    case QueryTokenKind::Type:
        return SearchField::tr("File type %1").arg(t.value);
    case QueryTokenKind::Camera:
        return SearchField::tr("Taken with a camera matching \"%1\"").arg(t.value);
    case QueryTokenKind::Shape:
        return SearchField::tr("Shape: %1").arg(t.value);
    case QueryTokenKind::MinSize:
        return SearchField::tr("At least %1 pixels").arg(t.value);
    case QueryTokenKind::Exclude:
        return SearchField::tr("Without \"%1\"").arg(t.value);
    case QueryTokenKind::Sort:
        return SearchField::tr("Sorted by %1").arg(t.value);
    case QueryTokenKind::Caption:
        break;
    }
    return t.text;
}

} // namespace

SearchField::SearchField(QWidget *parent)
    : QWidget(parent), m_edit(new QLineEdit(this)), m_chip(new QToolButton(this)),
      m_chipLayout(new QHBoxLayout), m_error(new QLabel(this)), m_completer(new QCompleter(this)),
      m_completions(new QStringListModel(this)) {
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->setSpacing(2);
    auto *row = new QHBoxLayout;
    row->setContentsMargins(0, 0, 0, 0);
    row->setSpacing(4);
    m_chipLayout->setContentsMargins(0, 0, 0, 0);
    m_chipLayout->setSpacing(4);

    m_chip->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_chip->setAutoRaise(false);
    m_chip->setVisible(false);
    m_chip->setAccessibleName(tr("Photo in the query; activate to remove it"));
    m_chip->setStyleSheet(QLatin1String(kChipStyle));
    connect(m_chip, &QToolButton::clicked, this, &SearchField::clearPhoto);

    m_edit->setPlaceholderText(tr("Describe a photo, e.g. \"a dog on a beach at sunset after:2019 "
                                  "-people\" — or drop a photo here"));
    m_edit->setClearButtonEnabled(true);
    m_edit->setAccessibleName(tr("Search photos"));
    m_edit->setAcceptDrops(false); // the window takes dropped photos and folders
    m_edit->installEventFilter(this);
    m_edit->addAction(style()->standardIcon(QStyle::SP_FileDialogContentsView),
                      QLineEdit::LeadingPosition);

    m_error->setVisible(false);
    m_error->setWordWrap(true);
    m_error->setTextFormat(Qt::PlainText);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #c0392b; }"));
    m_error->setAccessibleName(tr("Problem with the search"));

    // The completer works on the token at the cursor, not on the whole text, so it is driven by
    // hand (setWidget, not QLineEdit::setCompleter) with the candidates computed here.
    m_completer->setModel(m_completions);
    m_completer->setWidget(m_edit);
    m_completer->setCompletionMode(QCompleter::UnfilteredPopupCompletion);
    m_completer->setCaseSensitivity(Qt::CaseInsensitive);
    connect(m_completer, qOverload<const QString &>(&QCompleter::activated), this,
            &SearchField::insertCompletion);

    row->addWidget(m_chip);
    row->addLayout(m_chipLayout);
    row->addWidget(m_edit, 1);
    outer->addLayout(row);
    outer->addWidget(m_error);
    setFocusProxy(m_edit);

    m_debounce.setSingleShot(true);
    m_debounce.setInterval(250);
    connect(&m_debounce, &QTimer::timeout, this, &SearchField::emitNow);
    connect(m_edit, &QLineEdit::textEdited, this, [this](const QString &t) {
        // A space after a filter token completes it: it becomes a chip at once.
        const int c = m_edit->cursorPosition();
        if (c > 0 && c <= t.size() && t[c - 1].isSpace())
            takeFilterChips(false);
        updateCompletions();
        m_debounce.start();
    });
    connect(m_edit, &QLineEdit::returnPressed, this, [this] {
        if (!m_completer->popup()->isVisible())
            emitNow();
    });
    // The clear button (×) empties the text without textEdited.
    connect(m_edit, &QLineEdit::textChanged, this, [this](const QString &t) {
        if (t.isEmpty())
            m_debounce.start();
    });
}

QString SearchField::text() const {
    QStringList parts = m_filters;
    const QString words = m_edit->text().trimmed();
    if (!words.isEmpty())
        parts.append(words);
    return parts.join(QLatin1Char(' '));
}

void SearchField::setText(const QString &text) {
    m_filters.clear();
    m_edit->setText(text);
    takeFilterChips(true);
    m_edit->setText(m_edit->text().trimmed());
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
    m_edit->setPlaceholderText(tr("Describe a photo, e.g. \"a dog on a beach at sunset after:2019 "
                                  "-people\" — or drop a photo here"));
    emitNow();
}

void SearchField::clear() {
    m_debounce.stop();
    m_photo.clear();
    m_chip->setVisible(false);
    m_filters.clear();
    rebuildFilterChips();
    m_edit->clear();
    m_debounce.stop();
    emitNow();
}

QString SearchField::errorText() const {
    return m_error->isHidden() ? QString() : m_error->text();
}

void SearchField::setFolderNames(const FolderNames &names) {
    m_folderNames = names;
}

void SearchField::setCameras(const QStringList &cameras) {
    m_cameras = cameras;
}

ParsedQuery SearchField::parse(const QString &text) const {
    return parseQuery(text, m_folderNames.resolver());
}

void SearchField::emitNow() {
    m_debounce.stop();
    takeFilterChips(true);
    const ParsedQuery q = parse(text());
    showError(q.firstError());
    if (q.firstError())
        return; // the search does not run with a filter it cannot read
    m_parsed = q;
    Q_EMIT queryChanged(text(), m_photo);
}

void SearchField::takeFilterChips(bool all) {
    const QString prefix = m_filters.join(QLatin1Char(' '));
    const qsizetype offset = prefix.isEmpty() ? 0 : prefix.size() + 1;
    const QString words = m_edit->text();
    const ParsedQuery q = parse(prefix.isEmpty() ? words : prefix + QLatin1Char(' ') + words);
    const int cursor = m_edit->cursorPosition();
    QList<std::pair<qsizetype, qsizetype>> taken; // spans in `words`
    QStringList newChips;
    for (const QueryToken &t : q.tokens) {
        if (t.start < offset || t.kind == QueryTokenKind::Caption || t.error)
            continue;
        const qsizetype start = t.start - offset, end = start + t.length;
        // The token being typed (the cursor at its end, nothing after it) stays text until done.
        if (!all && end >= cursor)
            continue;
        taken.append({start, end});
        newChips.append(t.text);
    }
    if (taken.isEmpty())
        return;
    QString rest = words;
    int newCursor = cursor;
    for (auto it = taken.crbegin(); it != taken.crend(); ++it) {
        qsizetype start = it->first, end = it->second;
        while (end < rest.size() && rest[end].isSpace()) // the space that followed the token
            ++end;
        rest.remove(start, end - start);
        if (cursor >= end)
            newCursor -= int(end - start);
        else if (cursor > start)
            newCursor = int(start);
    }
    m_filters.append(newChips);
    rebuildFilterChips();
    m_edit->setText(rest);
    m_edit->setCursorPosition(std::clamp(newCursor, 0, int(rest.size())));
}

void SearchField::rebuildFilterChips() {
    qDeleteAll(m_filterButtons);
    m_filterButtons.clear();
    const ParsedQuery q = parseQuery(m_filters.join(QLatin1Char(' ')));
    for (int i = 0; i < m_filters.size(); ++i) {
        auto *b = new QToolButton(this);
        b->setText(tr("%1  ✕").arg(m_filters[i]));
        b->setStyleSheet(QLatin1String(kChipStyle));
        const QString what = i < q.tokens.size() ? describeFilter(q.tokens[i]) : m_filters[i];
        b->setToolTip(tr("%1. Click to remove.").arg(what));
        b->setAccessibleName(tr("Filter %1; activate to remove it").arg(m_filters[i]));
        connect(b, &QToolButton::clicked, this,
                [this, b] { removeFilterChip(int(m_filterButtons.indexOf(b))); });
        m_chipLayout->addWidget(b);
        b->show(); // the layout would show it only from the event loop
        m_filterButtons.append(b);
    }
}

void SearchField::removeFilterChip(int index) {
    if (index < 0 || index >= m_filters.size())
        return;
    m_filters.removeAt(index);
    // Deleting the clicked button inside its own clicked() is unsafe: hide it now, rebuild later.
    QToolButton *b = m_filterButtons.takeAt(index);
    b->hide();
    b->deleteLater();
    m_edit->setFocus();
    emitNow();
}

void SearchField::showError(const std::optional<Error> &error) {
    m_error->setVisible(error.has_value());
    m_error->setText(error ? error->message : QString());
    m_edit->setStyleSheet(error ? QStringLiteral("QLineEdit { border: 1px solid #c0392b; }")
                                : QString());
    m_edit->setToolTip(error ? error->message : QString());
}

std::pair<qsizetype, qsizetype> SearchField::tokenAtCursor() const {
    const QString t = m_edit->text();
    const int cursor = m_edit->cursorPosition();
    for (const QueryToken &tok : parseQuery(t).tokens)
        if (tok.start < cursor && cursor <= tok.start + tok.length)
            return {tok.start, tok.start + tok.length};
    return {cursor, cursor};
}

QStringList SearchField::completionsAtCursor() const {
    const auto [start, end] = tokenAtCursor();
    const QString typed = m_edit->text().mid(start, m_edit->cursorPosition() - start);
    auto valueAfter = [&](const QString &key) {
        QString v = typed.mid(key.size());
        if (v.startsWith(QLatin1Char('"')))
            v.remove(0, 1);
        return v;
    };
    QStringList out;
    if (typed.startsWith(QLatin1String("in:"), Qt::CaseInsensitive)) {
        for (const QString &name : m_folderNames.completions(valueAfter(QStringLiteral("in:"))))
            out.append(QStringLiteral("in:") + quoteQueryValue(name));
    } else if (typed.startsWith(QLatin1String("camera:"), Qt::CaseInsensitive)) {
        const QString v = valueAfter(QStringLiteral("camera:"));
        QStringList starting, containing;
        for (const QString &c : m_cameras) {
            if (c.startsWith(v, Qt::CaseInsensitive))
                starting.append(QStringLiteral("camera:") + quoteQueryValue(c));
            else if (c.contains(v, Qt::CaseInsensitive))
                containing.append(QStringLiteral("camera:") + quoteQueryValue(c));
        }
        out = starting + containing; // the cameras arrive most used first: keep that order
    }
    return out;
}

void SearchField::updateCompletions() {
    const QStringList candidates = completionsAtCursor();
    m_completions->setStringList(candidates);
    if (candidates.isEmpty()) {
        m_completer->popup()->hide();
        return;
    }
    m_completer->complete();
}

void SearchField::insertCompletion(const QString &completion) {
    const auto [start, end] = tokenAtCursor();
    QString t = m_edit->text();
    t.replace(start, end - start, completion + QLatin1Char(' '));
    m_edit->setText(t);
    m_edit->setCursorPosition(int(start + completion.size() + 1));
    takeFilterChips(false);
    m_debounce.start();
}

bool SearchField::eventFilter(QObject *watched, QEvent *event) {
    if (watched == m_edit && event->type() == QEvent::KeyPress) {
        auto *key = static_cast<QKeyEvent *>(event);
        if (key->key() == Qt::Key_Escape) {
            if (!m_edit->text().isEmpty() || !m_photo.isEmpty() || !m_filters.isEmpty())
                clear();
            return true;
        }
        if (key->key() == Qt::Key_Backspace && m_edit->cursorPosition() == 0 &&
            !m_edit->hasSelectedText()) {
            // As in tag fields: backspace at the start removes the last chip.
            if (!m_filters.isEmpty()) {
                removeFilterChip(int(m_filters.size()) - 1);
                return true;
            }
            if (!m_photo.isEmpty()) {
                clearPhoto();
                return true;
            }
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace ts
