#include "ui/indexingstatuswidget.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QStyle>
#include <QToolButton>

namespace ts {

IndexingStatusWidget::IndexingStatusWidget(QWidget *parent) : QWidget(parent) {
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_bar = new QProgressBar(this);
    m_bar->setMaximumWidth(220);
    m_bar->setTextVisible(false);
    m_bar->setAccessibleName(tr("Indexing progress"));
    m_label = new QLabel(this);
    m_label->setAccessibleName(tr("Indexing status"));
    m_pause = new QToolButton(this);
    m_pause->setAutoRaise(true);
    m_pause->setAccessibleName(tr("Pause indexing"));
    m_pause->setIcon(style()->standardIcon(QStyle::SP_MediaPause));
    m_pause->setToolTip(tr("Pause indexing"));
    m_failures = new QLabel(this);
    m_failures->setTextFormat(Qt::RichText);
    m_failures->setAccessibleName(tr("Photos that could not be indexed"));
    layout->addWidget(m_failures);
    layout->addWidget(m_label);
    layout->addWidget(m_bar);
    layout->addWidget(m_pause);
    connect(m_pause, &QToolButton::clicked, this, [this] {
        if (m_paused)
            Q_EMIT resumeRequested();
        else
            Q_EMIT pauseRequested();
    });
    connect(m_failures, &QLabel::linkActivated, this, &IndexingStatusWidget::failuresRequested);
    setFailedCount(0);
    setFinished();
}

QString IndexingStatusWidget::formatEta(qint64 s) {
    if (s < 0)
        return {};
    if (s < 60)
        return tr("less than a minute left");
    if (s < 3600)
        return (s + 30) / 60 == 1 ? tr("about a minute left")
                                  : tr("about %1 minutes left").arg((s + 30) / 60);
    return tr("about %1 h %2 min left").arg(s / 3600).arg((s % 3600) / 60);
}

void IndexingStatusWidget::setProgress(const IndexProgress &p) {
    m_paused = p.paused;
    m_bar->setVisible(true);
    m_pause->setVisible(true);
    if (p.total <= 0) {
        m_bar->setRange(0, 0); // busy: still discovering
    } else {
        // QProgressBar is int-based; scale huge libraries down.
        const qint64 scale = p.total > INT_MAX ? p.total / INT_MAX + 1 : 1;
        m_bar->setRange(0, int(p.total / scale));
        m_bar->setValue(int(qMin(p.done, p.total) / scale));
    }
    QStringList parts;
    if (p.paused)
        parts << tr("Paused");
    parts << tr("Indexing %L1 / %L2 photos").arg(p.done).arg(p.total) +
                 (p.discovering ? tr(" (finding more…)") : QString());
    if (p.photosPerSecond > 0 && !p.paused)
        parts << tr("%1/s").arg(
            QLocale().toString(p.photosPerSecond, 'f', p.photosPerSecond < 10 ? 1 : 0));
    if (!p.paused && p.etaSeconds >= 0)
        parts << formatEta(p.etaSeconds);
    m_label->setText(parts.join(QStringLiteral(" · ")));
    m_label->setToolTip(p.currentFile);
    m_pause->setIcon(
        style()->standardIcon(p.paused ? QStyle::SP_MediaPlay : QStyle::SP_MediaPause));
    m_pause->setToolTip(p.paused ? tr("Resume indexing") : tr("Pause indexing"));
    m_pause->setAccessibleName(m_pause->toolTip());
    if (p.failed > 0)
        setFailedCount(p.failed);
}

void IndexingStatusWidget::setFinished() {
    m_paused = false;
    m_bar->setVisible(false);
    m_pause->setVisible(false);
    m_label->clear();
}

void IndexingStatusWidget::setFailedCount(qint64 failed) {
    m_failures->setVisible(failed > 0);
    m_failures->setText(QStringLiteral("<a href=\"failures\">%1</a>")
                            .arg(failed == 1 ? tr("1 photo could not be indexed")
                                             : tr("%L1 photos could not be indexed").arg(failed)));
}

QString IndexingStatusWidget::text() const {
    return m_label->text();
}

} // namespace ts
