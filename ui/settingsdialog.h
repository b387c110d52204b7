#pragma once

#include "ui/appsettings.h"

#include <QDialog>

class QDoubleSpinBox;
class QLineEdit;
class QListWidget;
class QSpinBox;

namespace ts {

// Model, rerank depth, relevance default, threads, excluded folders and cache budgets. Edits a
// copy; settings() returns it when the dialog was accepted. The caller stores it (QSettings) and
// applies them at once: the library's excluded folders and cache budgets, and the model's thread
// count from the next forward pass.
class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    // `libraryPath`: the library database, shown (the app and towersearch-cli share one default).
    explicit SettingsDialog(const AppSettings &settings, const QString &libraryPath = {}, QWidget *parent = nullptr);
    AppSettings settings() const;

private:
    QLineEdit *m_model;
    QSpinBox *m_candidates, *m_rerankDepth, *m_threads, *m_cacheMemory, *m_cacheDisk, *m_thumbnails;
    QDoubleSpinBox *m_relevance;
    QListWidget *m_excluded;
    AppSettings m_base;
};

} // namespace ts
