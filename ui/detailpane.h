#pragma once

#include "core/search/searchengine.h"
#include "ui/latestonly.h"

#include <QDateTime>
#include <QImage>
#include <QWidget>

#include <functional>
#include <optional>

class QLabel;
class QPushButton;

namespace ts {

// The selected photo: a large EXIF-oriented preview (decoded off the GUI thread), its file name,
// folder, date taken, size and both scores; open it, reveal it in the file manager, copy its path,
// or drag the preview out to another app. GUI thread only.
class DetailPane : public QWidget {
    Q_OBJECT
public:
    // Where the date a photo was taken comes from (the library's catalog, read from EXIF when
    // indexed).
    using DateTakenProvider =
        std::function<std::optional<QDateTime>(qint64 photoId, const QString &path)>;

    explicit DetailPane(QWidget *parent = nullptr);

    void setDateTakenProvider(DateTakenProvider provider) { m_dateTaken = std::move(provider); }
    void setPhoto(const PhotoHit &hit); // updates the scores only when the same photo is shown
    void clear();
    bool hasPhoto() const { return !m_hit.path.isEmpty(); }
    const PhotoHit &photo() const { return m_hit; }
    QImage preview() const { return m_preview; }

    static void openInViewer(const QString &path);
    static void revealInFileManager(const QString &path);

Q_SIGNALS:
    void previewLoaded();
    void findSimilarRequested(const QString &path);

protected:
    void resizeEvent(QResizeEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;
    void mouseMoveEvent(QMouseEvent *event) override;

private:
    void loadPreview();
    void showPreview();
    void updateScores();

    QLabel *m_image;
    QLabel *m_name, *m_folder, *m_taken, *m_size, *m_scores;
    QPushButton *m_open, *m_reveal, *m_copy, *m_similar;
    PhotoHit m_hit;
    QImage m_preview;
    QSize m_storedSize;
    LatestOnly m_previewRequest{this}; // the preview of the photo shown now only
    DateTakenProvider m_dateTaken;
    QPoint m_pressPos;
};

} // namespace ts
