#include "ui/searchbar.h"

#include "core/search/photofilter.h"
#include "ui/searchfield.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QSlider>
#include <QToolButton>
#include <QVBoxLayout>

namespace ts {

SearchBar::SearchBar(double relevanceDefault, QWidget *parent)
    : QWidget(parent), m_searchField(new SearchField(this)) {
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->addWidget(m_searchField, 1);
    layout->addWidget(buildStatus());
    m_relevanceLabel = new QLabel(this);
    m_relevanceLabel->setMinimumWidth(
        m_relevanceLabel->fontMetrics().horizontalAdvance(tr("Min. match: 100%")));
    layout->addWidget(m_relevanceLabel);
    layout->addWidget(buildRelevanceSlider(relevanceDefault));
    layout->addWidget(buildSortBox());
    auto *settingsButton = new QToolButton(this);
    settingsButton->setText(tr("Settings"));
    settingsButton->setAccessibleName(tr("Settings"));
    settingsButton->setAutoRaise(true);
    layout->addWidget(settingsButton);
    connect(settingsButton, &QToolButton::clicked, this, &SearchBar::settingsRequested);
    updateRelevanceLabel();
    m_rerankBar->setVisible(false);
}

// "Searching…" / "Refining order… 3/40" above a thin progress bar, beside the search field.
QWidget *SearchBar::buildStatus() {
    auto *box = new QWidget(this);
    auto *layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(1);
    m_statusLabel = new QLabel(box);
    m_statusLabel->setAccessibleName(tr("Search status"));
    QFont small = m_statusLabel->font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    m_statusLabel->setFont(small);
    m_rerankBar = new QProgressBar(box);
    m_rerankBar->setTextVisible(false);
    m_rerankBar->setFixedHeight(3);
    m_rerankBar->setAccessibleName(tr("Refining the order"));
    layout->addWidget(m_statusLabel);
    layout->addWidget(m_rerankBar);
    box->setFixedWidth(130);
    return box;
}

QSlider *SearchBar::buildRelevanceSlider(double relevanceDefault) {
    m_relevance = new QSlider(Qt::Horizontal, this);
    m_relevance->setRange(0, 100);
    m_relevance->setValue(qRound(relevanceDefault * 100));
    m_relevance->setFixedWidth(120);
    m_relevance->setAccessibleName(tr("Minimum match probability"));
    m_relevance->setToolTip(tr("Hide photos the model thinks do not match the words"));
    connect(m_relevance, &QSlider::valueChanged, this, &SearchBar::updateRelevanceLabel);
    return m_relevance;
}

QComboBox *SearchBar::buildSortBox() {
    m_sort = new QComboBox(this);
    m_sort->addItem(tr("Relevance"), int(SortOrder::Relevance));
    m_sort->addItem(tr("Date taken"), int(SortOrder::DateTaken));
    m_sort->addItem(tr("Name"), int(SortOrder::Name));
    m_sort->setAccessibleName(tr("Sort by"));
    m_sort->setToolTip(tr("Order of the photos: best match, newest first, or by file name"));
    return m_sort;
}

void SearchBar::setBusy(bool busy) {
    if (busy) {
        m_statusLabel->setText(tr("Searching…"));
    } else {
        m_statusLabel->clear();
        m_rerankBar->setVisible(false);
    }
}

void SearchBar::setRerankProgress(int done, int total, bool busy) {
    const bool refining = total > 0 && done < total && busy;
    m_rerankBar->setRange(0, qMax(total, 1));
    m_rerankBar->setValue(done);
    m_rerankBar->setVisible(refining);
    m_statusLabel->setText(refining ? tr("Refining order… %1/%2").arg(done).arg(total) : QString());
}

void SearchBar::updateRelevanceLabel() {
    const int v = m_relevance->value();
    m_relevanceLabel->setText(v == 0 ? tr("Show all") : tr("Min. match: %1%").arg(v));
}

} // namespace ts
