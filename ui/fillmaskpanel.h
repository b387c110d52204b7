#pragma once

#include "core/search/searchengine.h"
#include "ui/latestonly.h"

#include <QList>
#include <QString>
#include <QWidget>

#include <memory>

class QLabel;
class QLineEdit;
class QPushButton;
class QVBoxLayout;

namespace ts {

// Masked captioning for the selected photo: a caption editor where "Insert blank" (Ctrl+M) puts a
// <mask>; Fill (Enter) asks the model, off the GUI thread, for the top words of every blank and
// shows them as clickable chips with their probabilities. Clicking a chip writes the word into its
// blank and fills the remaining blanks again. A caption without a blank gets a clear message.
class FillMaskPanel : public QWidget {
    Q_OBJECT
public:
    struct Candidate {
        QString word; // as decoded: a leading space starts a new word, none continues the previous
        float probability = 0;
    };

    explicit FillMaskPanel(QWidget *parent = nullptr);

    void setEngine(std::shared_ptr<const SearchEngine> engine);
    void setPhoto(const QString &path);
    QString photo() const { return m_photo; }
    void setCaption(const QString &caption);
    QString caption() const;

    void insertBlank();
    void fill();
    // Writes candidate `choice` into blank `maskIndex` and fills the remaining blanks again.
    void choose(int maskIndex, int choice);

    bool isBusy() const { return m_busy; }
    // The chips shown now: one list of candidates per blank, in caption order.
    const QList<QList<Candidate>> &candidates() const { return m_candidates; }
    QString message() const;
    QLineEdit *captionEdit() const { return m_caption; }

    static constexpr const char *kMaskToken = "<mask>";

Q_SIGNALS:
    void filled();
    void failed(const QString &message);

private:
    void showCandidates();
    void setMessage(const QString &text);
    void setBusy(bool busy);

    std::shared_ptr<const SearchEngine> m_engine;
    QString m_photo;
    QLineEdit *m_caption;
    QPushButton *m_insert, *m_fill;
    QLabel *m_message;
    QWidget *m_chipArea;
    QVBoxLayout *m_chipLayout;
    QList<QList<Candidate>> m_candidates;
    LatestOnly m_request{this}; // candidates for the photo and caption shown now only
    bool m_busy = false;
};

} // namespace ts
