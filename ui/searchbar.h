#pragma once

#include <QWidget>

class QComboBox;
class QLabel;
class QProgressBar;
class QSlider;

namespace ts {

class SearchField;

// The main window's top bar: the search field; the search status ("Searching…", "Refining order…
// 3/40" over a thin progress bar); the minimum-match slider with its label ("Min. match: 40%",
// "Show all" at 0); the sort box (items carry int(SortOrder)); Settings. It shows what it is told;
// the window wires it to the search controller. GUI thread.
class SearchBar : public QWidget {
    Q_OBJECT
public:
    // relevanceDefault: the slider's start, a probability in [0, 1].
    explicit SearchBar(double relevanceDefault, QWidget *parent = nullptr);

    SearchField *searchField() const { return m_searchField; }
    QSlider *relevanceSlider() const { return m_relevance; }
    QComboBox *sortBox() const { return m_sort; }

    // A search started ("Searching…") or ended (status and progress hidden).
    void setBusy(bool busy);
    // The rerank's progress, shown while it refines (done < total and the search still busy).
    void setRerankProgress(int done, int total, bool busy);

Q_SIGNALS:
    void settingsRequested();

private:
    QWidget *buildStatus();
    QSlider *buildRelevanceSlider(double relevanceDefault);
    QComboBox *buildSortBox();
    void updateRelevanceLabel();

    SearchField *m_searchField;
    QLabel *m_statusLabel = nullptr;
    QProgressBar *m_rerankBar = nullptr;
    QLabel *m_relevanceLabel = nullptr;
    QSlider *m_relevance = nullptr;
    QComboBox *m_sort = nullptr;
};

} // namespace ts
