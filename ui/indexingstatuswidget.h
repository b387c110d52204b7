#pragma once

#include "indexer/libraryrecords.h"

#include <QWidget>

class QLabel;
class QProgressBar;
class QToolButton;

namespace ts {

// The status bar's indexing part: a progress bar with "photos done / total", rate and ETA, a
// pause/resume button, and an "N photos could not be indexed" link. Fed by the library's
// (throttled) progress signal; asks for pause/resume and the failure list by signals.
class IndexingStatusWidget : public QWidget {
    Q_OBJECT
public:
    explicit IndexingStatusWidget(QWidget *parent = nullptr);

    void setProgress(const IndexProgress &progress);
    void setFinished();
    void setFailedCount(qint64 failed);
    bool isPaused() const { return m_paused; }
    QProgressBar *progressBar() const { return m_bar; }
    QString text() const;
    static QString formatEta(qint64 seconds);

Q_SIGNALS:
    void pauseRequested();
    void resumeRequested();
    void failuresRequested();

private:
    QProgressBar *m_bar;
    QLabel *m_label;
    QToolButton *m_pause;
    QLabel *m_failures;
    bool m_paused = false;
};

} // namespace ts
