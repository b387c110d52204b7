#pragma once

#include "core/search/searchengine.h"
#include "ui/latestonly.h"

#include <QString>
#include <QWidget>

#include <memory>
#include <vector>

class QGridLayout;
class QLabel;
class QPushButton;

namespace ts {

// Describe for the selected photo: "Describe" (Ctrl+D in the window's menu) asks the model, off
// the GUI thread, for the masked-LM head's tags (SearchEngine::describe) and shows them as chips
// with their scores; clicking a chip emits tagClicked, which the window turns into a search for the
// word. Tags of another photo never show: each request has a generation, and choosing another
// photo starts a new one. A library photo's vision features come from the rerank cache, so a
// second Describe of it is quick. GUI thread only.
class DescribePanel : public QWidget {
    Q_OBJECT
public:
    explicit DescribePanel(QWidget *parent = nullptr);

    void setEngine(std::shared_ptr<const SearchEngine> engine);
    void setPhoto(const QString &path);
    QString photo() const { return m_photo; }
    void setOptions(const DescribeOptions &options) { m_options = options; }

    // Describes the current photo (nothing without a photo or an engine).
    void describe();

    bool isBusy() const { return m_busy; }
    const std::vector<DescribeTag> &tags() const { return m_tags; }
    QString message() const;
    QPushButton *describeButton() const { return m_button; }

Q_SIGNALS:
    void described();
    void failed(const QString &message);
    void tagClicked(const QString &word);

private:
    void showTags();
    void setMessage(const QString &text);
    void setBusy(bool busy);

    std::shared_ptr<const SearchEngine> m_engine;
    DescribeOptions m_options;
    QString m_photo;
    QPushButton *m_button;
    QLabel *m_message;
    QWidget *m_chipArea;
    QGridLayout *m_chipLayout;
    std::vector<DescribeTag> m_tags;
    LatestOnly m_request{this}; // tags of the photo shown now only
    bool m_busy = false;
};

} // namespace ts
