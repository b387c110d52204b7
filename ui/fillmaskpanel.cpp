#include "ui/fillmaskpanel.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QShortcut>
#include <QToolButton>
#include <QVBoxLayout>

namespace ts {

namespace {
constexpr int kTopK = 5; // candidates shown per blank

QString percent(float p) {
    const double v = double(p) * 100.0;
    return QStringLiteral("%1%").arg(QString::number(v, 'f', v >= 10 ? 0 : (v >= 1 ? 1 : 2)));
}
} // namespace

FillMaskPanel::FillMaskPanel(QWidget *parent) : QWidget(parent) {
    auto *layout = new QVBoxLayout(this);
    auto *title = new QLabel(tr("<b>Fill in the blanks</b>"), this);
    layout->addWidget(title);
    auto *row = new QHBoxLayout;
    m_caption = new QLineEdit(this);
    m_caption->setPlaceholderText(tr("a <mask> sitting on a couch"));
    m_caption->setAccessibleName(tr("Caption with blanks"));
    m_caption->setToolTip(tr("Write a caption; put <mask> where the model should guess a word."));
    m_insert = new QPushButton(tr("Insert &Blank"), this);
    m_insert->setToolTip(tr("Insert <mask> at the cursor (Ctrl+M)"));
    m_insert->setAccessibleName(tr("Insert blank"));
    m_fill = new QPushButton(tr("F&ill"), this);
    m_fill->setToolTip(tr("Ask the model for the most likely words (Enter)"));
    m_fill->setAccessibleName(tr("Fill the blanks"));
    row->addWidget(m_caption, 1);
    row->addWidget(m_insert);
    row->addWidget(m_fill);
    layout->addLayout(row);
    m_message = new QLabel(this);
    m_message->setWordWrap(true);
    m_message->setAccessibleName(tr("Fill-in status"));
    layout->addWidget(m_message);
    // Chips wrap onto rows of three under their blank's label.
    m_chipArea = new QWidget(this);
    m_chipLayout = new QVBoxLayout(m_chipArea);
    m_chipLayout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_chipArea);
    layout->addStretch(1);

    connect(m_insert, &QPushButton::clicked, this, &FillMaskPanel::insertBlank);
    connect(m_fill, &QPushButton::clicked, this, &FillMaskPanel::fill);
    connect(m_caption, &QLineEdit::returnPressed, this, &FillMaskPanel::fill);
    auto *shortcut = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_M), this);
    shortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(shortcut, &QShortcut::activated, this, &FillMaskPanel::insertBlank);
    setPhoto({});
}

void FillMaskPanel::setEngine(std::shared_ptr<const SearchEngine> engine) {
    m_engine = std::move(engine);
    setPhoto(m_photo);
}

void FillMaskPanel::setPhoto(const QString &path) {
    if (path != m_photo) {
        m_request.supersede(); // candidates of another photo are stale
        m_candidates.clear();
        showCandidates();
        setBusy(false);
    }
    m_photo = path;
    const bool usable = !m_photo.isEmpty() && m_engine;
    m_fill->setEnabled(usable && !m_busy);
    if (m_photo.isEmpty())
        setMessage(
            tr("Select a photo, write a caption with a blank, and let the model fill it in."));
    else if (!m_engine)
        setMessage(tr("The model is still loading."));
    else if (m_candidates.isEmpty())
        setMessage({});
}

void FillMaskPanel::setCaption(const QString &caption) {
    m_caption->setText(caption);
}

QString FillMaskPanel::caption() const {
    return m_caption->text();
}

QString FillMaskPanel::message() const {
    return m_message->text();
}

void FillMaskPanel::setMessage(const QString &text) {
    m_message->setText(text);
    m_message->setVisible(!text.isEmpty());
}

void FillMaskPanel::setBusy(bool busy) {
    m_busy = busy;
    m_fill->setEnabled(!busy && !m_photo.isEmpty() && m_engine);
}

void FillMaskPanel::insertBlank() {
    const QString text = m_caption->text();
    const int pos = m_caption->cursorPosition();
    QString insert = QLatin1String(kMaskToken);
    if (pos > 0 && !text.at(pos - 1).isSpace())
        insert.prepend(QLatin1Char(' '));
    if (pos < text.size() && !text.at(pos).isSpace())
        insert.append(QLatin1Char(' '));
    m_caption->insert(insert);
    m_caption->setFocus();
}

void FillMaskPanel::fill() {
    const QString caption = m_caption->text().trimmed();
    if (m_photo.isEmpty() || !m_engine)
        return;
    if (!caption.contains(QLatin1String(kMaskToken))) {
        m_candidates.clear();
        showCandidates();
        setMessage(tr(
            "The caption has no blank. Click \"Insert Blank\" (Ctrl+M) where a word should go."));
        return;
    }
    setBusy(true);
    setMessage(tr("Thinking…"));
    auto engine = m_engine;
    const QString photo = m_photo;
    m_request.start(
        [engine, photo, caption] {
            auto r = engine->fillMask(photo, caption, kTopK);
            return r.ok() ? std::make_pair(r.value(), QString())
                          : std::make_pair(FillMaskResult{}, r.error().message);
        },
        [this](const std::pair<FillMaskResult, QString> &outcome) {
            setBusy(false);
            if (!outcome.second.isEmpty()) {
                m_candidates.clear();
                showCandidates();
                setMessage(outcome.second);
                Q_EMIT failed(outcome.second);
                return;
            }
            m_candidates.clear();
            for (const MaskPrediction &mask : outcome.first.masks) {
                QList<Candidate> list;
                for (int i = 0; i < mask.words.size() && i < int(mask.probabilities.size()); ++i)
                    list << Candidate{mask.words[i], mask.probabilities[size_t(i)]};
                m_candidates << list;
            }
            setMessage(m_candidates.size() == 1
                           ? tr("Click a word to fill the blank.")
                           : tr("Click a word to fill its blank; the others update."));
            showCandidates();
            Q_EMIT filled();
        });
}

void FillMaskPanel::choose(int maskIndex, int choice) {
    if (maskIndex < 0 || maskIndex >= m_candidates.size() || choice < 0 ||
        choice >= m_candidates[maskIndex].size())
        return;
    QString text = m_caption->text();
    const QLatin1String mask(kMaskToken);
    int pos = -1;
    for (int i = 0; i <= maskIndex; ++i) {
        pos = int(text.indexOf(mask, pos + 1));
        if (pos < 0)
            return;
    }
    // The tokenizer's <mask> absorbs the space before it, and a word's own leading space says
    // whether it starts a new word: replace " <mask>" by the word as decoded.
    const QString word = m_candidates[maskIndex][choice].word;
    int start = pos;
    if (start > 0 && text.at(start - 1) == QLatin1Char(' '))
        --start;
    const QString replacement = start == 0 ? word.trimmed() : word;
    text.replace(start, pos + mask.size() - start, replacement);
    m_caption->setText(text);
    if (text.contains(mask)) {
        fill();
    } else {
        m_candidates.clear();
        showCandidates();
        setMessage(tr("All blanks are filled."));
    }
}

void FillMaskPanel::showCandidates() {
    while (QLayoutItem *item = m_chipLayout->takeAt(0)) {
        if (QLayout *l = item->layout()) {
            while (QLayoutItem *inner = l->takeAt(0)) {
                delete inner->widget();
                delete inner;
            }
        }
        delete item->widget();
        delete item;
    }
    constexpr int kChipsPerRow = 3;
    for (int m = 0; m < m_candidates.size(); ++m) {
        auto *row = new QGridLayout;
        row->setHorizontalSpacing(4);
        row->setVerticalSpacing(2);
        auto *label = new QLabel(
            m_candidates.size() == 1 ? tr("Blank:") : tr("Blank %1:").arg(m + 1), m_chipArea);
        row->addWidget(label, 0, 0, 1, kChipsPerRow);
        for (int c = 0; c < m_candidates[m].size(); ++c) {
            const Candidate &cand = m_candidates[m][c];
            // A word without a leading space continues the previous one: show it as "…suffix".
            const QString shown = cand.word.startsWith(QLatin1Char(' '))
                                      ? cand.word.trimmed()
                                      : QStringLiteral("…") + cand.word.trimmed();
            auto *chip = new QToolButton(m_chipArea);
            chip->setText(QStringLiteral("%1  %2").arg(shown, percent(cand.probability)));
            chip->setAccessibleName(tr("Fill blank %1 with \"%2\", probability %3")
                                        .arg(m + 1)
                                        .arg(shown, percent(cand.probability)));
            chip->setProperty("maskIndex", m);
            chip->setProperty("choice", c);
            chip->setProperty("word", cand.word);
            chip->setProperty("probability", double(cand.probability));
            chip->setObjectName(QStringLiteral("fillMaskChip"));
            chip->setStyleSheet(
                QStringLiteral("QToolButton { border-radius: 9px; padding: 2px 8px; "
                               "border: 1px solid palette(mid); background: palette(base); }"
                               "QToolButton:hover { background: palette(highlight); color: "
                               "palette(highlighted-text); }"));
            connect(chip, &QToolButton::clicked, this, [this, m, c] { choose(m, c); });
            row->addWidget(chip, 1 + c / kChipsPerRow, c % kChipsPerRow);
        }
        row->setColumnStretch(kChipsPerRow, 1);
        m_chipLayout->addLayout(row);
    }
}

} // namespace ts
