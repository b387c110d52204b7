#pragma once

#include "core/search/bridgetowerpipeline.h"

#include <QDialog>

#include <memory>

class QButtonGroup;
class QComboBox;
class QDialogButtonBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QRadioButton;

namespace ts {

class HubDownloader;

// First run without a usable model: choose a checkpoint folder on disk, one found in the Hugging
// Face cache, or download one. "Use This Model" checks the folder's files at once (a sentence
// naming what is wrong), then loads the model off the GUI thread; the dialog is accepted only with
// a loaded pipeline, which pipeline() hands over so the app does not load it twice.
class ModelSetupDialog : public QDialog {
    Q_OBJECT
public:
    explicit ModelSetupDialog(const QString &initialDirectory = {},
                              const QString &initialError = {}, QWidget *parent = nullptr);

    QString directory() const { return m_directory; }
    std::shared_ptr<const BridgeTowerPipeline> pipeline() const { return m_pipeline; }
    QString errorText() const;
    // The precision the model is loaded in (the app's setting, resolved); float32 until set.
    void setPrecision(Precision precision) { m_precision = precision; }

    // For tests and the first-run flow: choose a folder and start checking it.
    void useFolder(const QString &directory);
    // Chooses "Download it" and starts (canDownload() only).
    void downloadDefaultModel();
    QLineEdit *folderEdit() const { return m_folderEdit; }

    static QString downloadCommand();
    // Whether "Download it" fetches the model itself: always, the Hub client is part of every
    // build (kept for the tests that ask).
    static bool canDownload();

Q_SIGNALS:
    void checkFinished(bool ok);

private:
    // The three sources, each a radio button with its widgets in `grid`.
    void addFolderChoice(QGridLayout *grid, const QString &initialDirectory);
    // Whether a usable checkpoint was found in the cache.
    bool addCacheChoice(QGridLayout *grid);
    void addDownloadChoice(QGridLayout *grid);
    void accept() override;
    void reject() override;
    void startDownload();
    QString chosenDirectory() const;
    void setChecking(bool checking);
    void showError(const QString &message);

    QRadioButton *m_useFolder, *m_useCache, *m_download;
    QLineEdit *m_folderEdit;
    QComboBox *m_cacheCombo;
    QLabel *m_downloadText;
    QLabel *m_error;
    QProgressBar *m_busy;
    QDialogButtonBox *m_buttons;
    QString m_directory;
    std::shared_ptr<const BridgeTowerPipeline> m_pipeline;
    quint64 m_generation = 0;
    Precision m_precision = Precision::Float32;
    HubDownloader *m_downloader = nullptr;
};

} // namespace ts
