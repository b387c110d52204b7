#pragma once

#include "core/common/result.h"
#include "ui/appsettings.h"
#include "ui/latestonly.h"

#include <QDialog>

#include <functional>

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QListWidget;
class QPushButton;
class QSpinBox;
class QVBoxLayout;

namespace ts {

// Library database, model, rerank depth, relevance default, threads, precision, excluded folders
// and cache budgets. Edits a copy; settings() returns it when the dialog was accepted. The caller
// stores it (QSettings) and applies them at once: another library database by reopening the
// library, the library's excluded folders and cache budgets, the model's thread count from the
// next forward pass, a changed precision by reloading the model (the library's vectors stay: every
// precision of one model is searched together).
class SettingsDialog : public QDialog {
    Q_OBJECT
public:
    // `libraryPath`: the library database, shown (the app and towersearch-cli share one default).
    explicit SettingsDialog(const AppSettings &settings, const QString &libraryPath = {},
                            QWidget *parent = nullptr);
    AppSettings settings() const;

    // Checks a library location (a file path, a PostgreSQL URL, empty for the default library)
    // and says in one sentence what is there; called on a worker thread, so it may block while it
    // connects (the app passes Library::checkLocation). Without one, "Test Connection" is hidden.
    using LocationCheck = std::function<Result<QString>(const QString &location)>;
    void setLocationCheck(LocationCheck check);

private:
    // The library database: its location, "Test Connection" and what the test said.
    void addLibraryRows(QFormLayout *form, const AppSettings &settings, const QString &libraryPath);
    void testConnection();
    // Model folder, search depth, threads and precision.
    void addModelRows(QFormLayout *form, const AppSettings &settings);
    void addCacheRows(QFormLayout *form, const AppSettings &settings);
    void addExcludedFolders(QVBoxLayout *layout, const AppSettings &settings);

    QLineEdit *m_location;
    QPushButton *m_testConnection;
    QLabel *m_connectionResult;
    LocationCheck m_locationCheck;
    LatestOnly m_check{this}; // a newer test drops an older one's answer
    QLineEdit *m_model;
    QSpinBox *m_candidates, *m_rerankDepth, *m_threads, *m_cacheMemory, *m_cacheDisk, *m_thumbnails;
    QDoubleSpinBox *m_relevance;
    QComboBox *m_precision;
    QListWidget *m_excluded;
    AppSettings m_base;
};

} // namespace ts
