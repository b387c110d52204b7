#pragma once

#include "core/search/queryparser.h"

#include <QString>
#include <QStringList>
#include <QTimer>
#include <QWidget>

class QCompleter;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QStringListModel;
class QToolButton;

namespace ts {

// The search field: words and filters (the query language of core/search/queryparser.h),
// optionally beside a photo "chip" (a dropped or chosen photo, removable with its ×).
//
// Filter tokens (after:2019-06, in:Holidays, camera:canon, -people, ...) become removable chips
// next to the caption text once typed (followed by a space, or on Enter / after the pause);
// `in:` and `camera:` complete from the folders and cameras the owner hands in (setFolderNames(),
// setCameras(); the field never queries the library itself). A malformed token stays in the text,
// its error is shown under the field (errorText()), and no query is emitted, so a search never
// runs with a filter silently dropped.
//
// queryChanged() fires a short pause after typing stops, or at once when the photo or a chip
// changes or Enter is pressed, with the whole query text (chips first, then the words);
// parsedQuery() then holds its caption, filter, exclusions and sort. Esc clears everything.
// Backspace at the start of the text removes the last chip. GUI thread only.
class SearchField : public QWidget {
    Q_OBJECT
public:
    explicit SearchField(QWidget *parent = nullptr);

    // The whole query: filter chips, then the words being typed.
    QString text() const;
    // Replaces the query; its complete filter tokens become chips. Emits queryChanged after the
    // pause.
    void setText(const QString &text);
    QString photoPath() const { return m_photo; }
    void setPhoto(const QString &path, const QImage &thumbnail = {}); // emits queryChanged at once
    void clearPhoto();
    void clear(); // words, chips and photo
    void setDebounceInterval(int ms) { m_debounce.setInterval(ms); }

    // The query of the last queryChanged(): caption, filter, exclusions, sort.
    const ParsedQuery &parsedQuery() const { return m_parsed; }
    // Why the query was not run (a malformed token), or empty.
    QString errorText() const;
    // Filter chips, in order, as their token text ("after:2019-06").
    QStringList filterChips() const { return m_filters; }
    // Completion data: the library's folders (resolves in:) and cameras ("<make> <model>").
    void setFolderNames(const FolderNames &names);
    void setCameras(const QStringList &cameras);
    // What the completion popup would offer for the token at the cursor (for tests and a11y).
    QStringList completionsAtCursor() const;

    QLineEdit *lineEdit() const { return m_edit; }
    QToolButton *chip() const { return m_chip; }
    QList<QToolButton *> filterChipButtons() const { return m_filterButtons; }
    QCompleter *completer() const { return m_completer; }

Q_SIGNALS:
    void queryChanged(const QString &text, const QString &photoPath);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void emitNow();
    // Moves complete, valid filter tokens of the text into chips (`all`: also the one at the
    // cursor).
    void takeFilterChips(bool all);
    void rebuildFilterChips();
    void removeFilterChip(int index);
    void showError(const std::optional<Error> &error);
    void updateCompletions();
    void insertCompletion(const QString &completion);
    ParsedQuery parse(const QString &text) const;
    // The span of the token the cursor is in or just after: [start, end) of the edit's text.
    std::pair<qsizetype, qsizetype> tokenAtCursor() const;

    QLineEdit *m_edit;
    QToolButton *m_chip;
    QHBoxLayout *m_chipLayout;
    QLabel *m_error;
    QCompleter *m_completer;
    QStringListModel *m_completions;
    QString m_photo;
    QStringList m_filters;
    QList<QToolButton *> m_filterButtons;
    ParsedQuery m_parsed;
    FolderNames m_folderNames;
    QStringList m_cameras;
    QTimer m_debounce;
};

} // namespace ts
