#pragma once

#include "ui/appsettings.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLineEdit;
class QListWidget;
class QSpinBox;
class QVBoxLayout;

namespace ts {

// Model, rerank depth, relevance default, threads, precision, excluded folders and cache budgets.
// Edits a copy; settings() returns it when the dialog was accepted. The caller stores it
// (QSettings) and applies them at once: the library's excluded folders and cache budgets, the
// model's thread count from the next forward pass, a changed precision by reloading the model
// (the library's vectors stay: every precision of one model is searched together).
class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    // `libraryPath`: the library database, shown (the app and towersearch-cli share one default).
    explicit SettingsDialog(const AppSettings &settings, const QString &libraryPath = {},
                            QWidget *parent = nullptr);
    AppSettings settings() const;

private:
    // Model folder, search depth, threads and precision.
    void addModelRows(QFormLayout *form, const AppSettings &settings);
    void addCacheRows(QFormLayout *form, const AppSettings &settings);
    void addExcludedFolders(QVBoxLayout *layout, const AppSettings &settings);

    QLineEdit *m_model;
    QSpinBox *m_candidates, *m_rerankDepth, *m_threads, *m_cacheMemory, *m_cacheDisk, *m_thumbnails;
    QDoubleSpinBox *m_relevance;
    QComboBox *m_precision;
    QListWidget *m_excluded;
    AppSettings m_base;
};

} // namespace ts
