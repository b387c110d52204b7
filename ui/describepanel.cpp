#include "ui/describepanel.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QToolButton>
#include <QVBoxLayout>

namespace ts {

namespace {
constexpr int kChipsPerRow = 3;

// Tag scores are mean probabilities over the vocabulary of every blank: small numbers, so they get
// enough digits to tell tags apart.
QString percent(float p) {
    const double v = double(p) * 100.0;
    return QStringLiteral("%1%").arg(
        QString::number(v, 'f', v >= 10 ? 0 : (v >= 1 ? 1 : (v >= 0.1 ? 2 : 3))));
}
} // namespace

DescribePanel::DescribePanel(QWidget *parent) : QWidget(parent) {
    auto *layout = new QVBoxLayout(this);
    auto *row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("<b>Describe</b>"), this), 1);
    m_button = new QPushButton(tr("&Describe"), this);
    m_button->setToolTip(
        tr("Let the model name what it sees in the photo (Ctrl+D); click a word to search for it"));
    m_button->setAccessibleName(tr("Describe the photo"));
    row->addWidget(m_button);
    layout->addLayout(row);
    m_message = new QLabel(this);
    m_message->setWordWrap(true);
    m_message->setAccessibleName(tr("Describe status"));
    layout->addWidget(m_message);
    m_chipArea = new QWidget(this);
    m_chipLayout = new QGridLayout(m_chipArea);
    m_chipLayout->setContentsMargins(0, 0, 0, 0);
    m_chipLayout->setHorizontalSpacing(4);
    m_chipLayout->setVerticalSpacing(2);
    layout->addWidget(m_chipArea);
    layout->addStretch(1);
    connect(m_button, &QPushButton::clicked, this, &DescribePanel::describe);
    setPhoto({});
}

void DescribePanel::setEngine(std::shared_ptr<const SearchEngine> engine) {
    m_engine = std::move(engine);
    setPhoto(m_photo);
}

void DescribePanel::setPhoto(const QString &path) {
    if (path != m_photo) {
        m_request.supersede(); // tags of another photo are stale
        m_tags.clear();
        showTags();
        setBusy(false);
    }
    m_photo = path;
    setBusy(m_busy);
    if (m_photo.isEmpty())
        setMessage(tr("Select a photo and let the model describe it."));
    else if (!m_engine)
        setMessage(tr("The model is still loading."));
    else if (m_tags.empty() && !m_busy)
        setMessage({});
}

QString DescribePanel::message() const {
    return m_message->text();
}

void DescribePanel::setMessage(const QString &text) {
    m_message->setText(text);
    m_message->setVisible(!text.isEmpty());
}

void DescribePanel::setBusy(bool busy) {
    m_busy = busy;
    m_button->setEnabled(!busy && !m_photo.isEmpty() && m_engine);
}

void DescribePanel::describe() {
    if (m_photo.isEmpty() || !m_engine)
        return;
    setBusy(true);
    setMessage(tr("Looking…"));
    using Outcome = std::pair<std::vector<DescribeTag>, QString>; // tags, or an error message
    m_request.start(
        [engine = m_engine, photo = m_photo, options = m_options]() -> Outcome {
            auto r = engine->describe(photo, options);
            return r.ok() ? Outcome{r->tags, QString()} : Outcome{{}, r.error().message};
        },
        [this](const Outcome &outcome) {
            setBusy(false);
            m_tags = outcome.first;
            showTags();
            if (!outcome.second.isEmpty()) {
                setMessage(outcome.second);
                Q_EMIT failed(outcome.second);
                return;
            }
            setMessage(m_tags.empty() ? tr("The model found no words for this photo.")
                                      : tr("Click a word to search for it."));
            Q_EMIT described();
        });
}

void DescribePanel::showTags() {
    while (QLayoutItem *item = m_chipLayout->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    for (size_t i = 0; i < m_tags.size(); ++i) {
        const DescribeTag &tag = m_tags[i];
        auto *chip = new QToolButton(m_chipArea);
        chip->setObjectName(QStringLiteral("describeTag"));
        chip->setText(QStringLiteral("%1  %2").arg(tag.word, percent(tag.score)));
        chip->setToolTip(tr("Search for \"%1\"").arg(tag.word));
        chip->setAccessibleName(
            tr("Search for \"%1\", score %2").arg(tag.word, percent(tag.score)));
        chip->setProperty("word", tag.word);
        chip->setStyleSheet(
            QStringLiteral("QToolButton { border-radius: 9px; padding: 2px 8px; "
                           "border: 1px solid palette(mid); background: palette(base); }"
                           "QToolButton:hover { background: palette(highlight); color: "
                           "palette(highlighted-text); }"));
        connect(chip, &QToolButton::clicked, this,
                [this, word = tag.word] { Q_EMIT tagClicked(word); });
        m_chipLayout->addWidget(chip, int(i) / kChipsPerRow, int(i) % kChipsPerRow);
    }
    m_chipLayout->setColumnStretch(kChipsPerRow, 1);
}

} // namespace ts
