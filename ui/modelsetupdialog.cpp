#include "ui/modelsetupdialog.h"

#include "ui/checkpointfolder.h"

#include "core/hub/hubdownloader.h"

#include <QApplication>
#include <QButtonGroup>
#include <QClipboard>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace ts {

QString ModelSetupDialog::downloadCommand() {
    return QStringLiteral("towersearch-cli model download");
}

bool ModelSetupDialog::canDownload() {
    return true; // the Hub client (core/hub) is part of every build
}

ModelSetupDialog::ModelSetupDialog(const QString &initialDirectory, const QString &initialError,
                                   QWidget *parent)
    : QDialog(parent) {
    setWindowTitle(tr("Set Up the Model"));
    auto *layout = new QVBoxLayout(this);
    auto *intro = new QLabel(
        tr("<h3>Welcome to TowerSearch</h3>"
           "<p>TowerSearch finds photos by what is in them, using the BridgeTower model. "
           "It needs a copy of the model on this computer (about 3.5 GB for the base model). "
           "Where should it come from?</p>"),
        this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto *grid = new QGridLayout;
    addFolderChoice(grid, initialDirectory);
    const bool cached = addCacheChoice(grid);
    addDownloadChoice(grid);
    layout->addLayout(grid);
    auto *group = new QButtonGroup(this);
    for (QRadioButton *b : {m_useFolder, m_useCache, m_download})
        group->addButton(b);
    (!cached || !initialDirectory.isEmpty() ? m_useFolder : m_useCache)->setChecked(true);

    m_error = new QLabel(this);
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setAccessibleName(tr("Problem with the chosen model"));
    layout->addWidget(m_error);
    m_busy = new QProgressBar(this);
    m_busy->setRange(0, 0);
    m_busy->setTextVisible(false);
    m_busy->setMaximumHeight(6);
    m_busy->setVisible(false);
    layout->addWidget(m_busy);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Use This Model"));
    layout->addWidget(m_buttons);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &ModelSetupDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_download, &QRadioButton::toggled, this, [this](bool on) {
        m_buttons->button(QDialogButtonBox::Ok)
            ->setText(on ? tr("Download") : tr("Use This Model"));
        m_buttons->button(QDialogButtonBox::Ok)->setEnabled(!on || canDownload());
    });
    showError(initialError);
    resize(620, sizeHint().height());
}

void ModelSetupDialog::addFolderChoice(QGridLayout *grid, const QString &initialDirectory) {
    m_useFolder = new QRadioButton(tr("A checkpoint &folder on disk:"), this);
    m_folderEdit = new QLineEdit(initialDirectory, this);
    m_folderEdit->setAccessibleName(tr("Checkpoint folder"));
    m_folderEdit->setPlaceholderText(
        tr("A folder with config.json, model.safetensors, vocab.json…"));
    auto *browse = new QPushButton(tr("&Browse…"), this);
    browse->setAccessibleName(tr("Browse for a checkpoint folder"));
    grid->addWidget(m_useFolder, 0, 0, 1, 2);
    grid->addWidget(m_folderEdit, 1, 0);
    grid->addWidget(browse, 1, 1);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(
            this, tr("Choose a BridgeTower Checkpoint Folder"), m_folderEdit->text());
        if (!dir.isEmpty()) {
            m_folderEdit->setText(dir);
            m_useFolder->setChecked(true);
        }
    });
    connect(m_folderEdit, &QLineEdit::textEdited, this, [this] { m_useFolder->setChecked(true); });
}

bool ModelSetupDialog::addCacheChoice(QGridLayout *grid) {
    m_useCache = new QRadioButton(tr("One found in the &Hugging Face cache:"), this);
    m_cacheCombo = new QComboBox(this);
    m_cacheCombo->setAccessibleName(tr("Checkpoints in the Hugging Face cache"));
    const QStringList cached = CheckpointFolder::findInHuggingFaceCache();
    for (const QString &dir : cached)
        m_cacheCombo->addItem(QDir::toNativeSeparators(dir), dir);
    if (cached.isEmpty()) {
        m_cacheCombo->addItem(
            tr("None found in %1")
                .arg(QDir::toNativeSeparators(
                    CheckpointFolder::huggingFaceCacheRoots().join(QStringLiteral(", ")))));
        m_useCache->setEnabled(false);
        m_cacheCombo->setEnabled(false);
    }
    grid->addWidget(m_useCache, 2, 0, 1, 2);
    grid->addWidget(m_cacheCombo, 3, 0, 1, 2);
    return !cached.isEmpty();
}

void ModelSetupDialog::addDownloadChoice(QGridLayout *grid) {
    m_download = new QRadioButton(tr("&Download it"), this);
    m_downloadText = new QLabel(
        tr("Fetches %1 from the Hugging Face Hub into %2, where Python tools find it too. "
           "An interrupted download resumes. Or, in a terminal: <code>%3</code>")
            .arg(QString::fromLatin1(kDefaultModelRepo),
                 QDir::toNativeSeparators(HubCache::defaultRoot()), downloadCommand()),
        this);
    m_downloadText->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_downloadText->setWordWrap(true);
    auto *copyCommand = new QPushButton(tr("Copy Command"), this);
    grid->addWidget(m_download, 4, 0, 1, 2);
    grid->addWidget(m_downloadText, 5, 0);
    grid->addWidget(copyCommand, 5, 1);
    connect(copyCommand, &QPushButton::clicked, this,
            [] { QApplication::clipboard()->setText(downloadCommand()); });
}

QString ModelSetupDialog::errorText() const {
    return m_error->text();
}

QString ModelSetupDialog::chosenDirectory() const {
    if (m_useCache->isChecked())
        return m_cacheCombo->currentData().toString();
    return m_folderEdit->text().trimmed();
}

void ModelSetupDialog::useFolder(const QString &directory) {
    m_useFolder->setChecked(true);
    m_folderEdit->setText(directory);
    accept();
}

void ModelSetupDialog::downloadDefaultModel() {
    m_download->setChecked(true);
    accept();
}

void ModelSetupDialog::showError(const QString &message) {
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}

void ModelSetupDialog::setChecking(bool checking) {
    m_busy->setVisible(checking);
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(!checking);
    for (QWidget *w : std::initializer_list<QWidget *>{m_useFolder, m_useCache, m_download,
                                                       m_folderEdit, m_cacheCombo})
        w->setEnabled(
            !checking &&
            (w != m_useCache && w != m_cacheCombo ? true : m_cacheCombo->currentData().isValid()));
}

void ModelSetupDialog::reject() {
    if (m_downloader && m_downloader->isRunning()) {
        m_downloader->cancel(); // the partial file stays: the next download resumes
        return;                 // finished(false) re-enables the dialog; Cancel again closes it
    }
    QDialog::reject();
}

void ModelSetupDialog::startDownload() {
    if (m_downloader)
        return;
    m_downloader = new HubDownloader(HubCache::fromEnvironment(), this);
    HubDownloader *dl = m_downloader;
    setChecking(true);
    m_buttons->button(QDialogButtonBox::Cancel)->setEnabled(true);
    showError(tr("Connecting to the Hugging Face Hub…"));
    connect(dl, &HubDownloader::progressChanged, this, [this](const HubProgress &p) {
        const QLocale locale;
        if (p.total > 0) {
            m_busy->setRange(0, 1000);
            m_busy->setValue(int(1000.0 * double(p.done) / double(p.total)));
        }
        QString text =
            tr("Downloading %1 (file %2 of %3)").arg(p.file).arg(p.fileIndex + 1).arg(p.fileCount);
        if (p.total > 0)
            text += tr(": %1 of %2")
                        .arg(locale.formattedDataSize(p.done), locale.formattedDataSize(p.total));
        if (p.bytesPerSecond > 0)
            text += tr(", %1/s").arg(locale.formattedDataSize(qint64(p.bytesPerSecond)));
        if (p.etaSeconds >= 0)
            text += tr(", about %1 min left").arg(qMax<qint64>(1, (p.etaSeconds + 30) / 60));
        if (p.phase == HubProgress::Phase::Verifying)
            text = tr("Verifying %1…").arg(p.file);
        else if (p.phase == HubProgress::Phase::Converting)
            text = tr("Converting the weights to safetensors…");
        showError(text);
    });
    connect(dl, &HubDownloader::finished, this, [this, dl](bool ok) {
        m_downloader = nullptr;
        dl->deleteLater();
        m_busy->setRange(0, 0);
        setChecking(false);
        if (!ok) {
            showError(dl->result().ok()
                          ? tr("The download stopped.")
                          : tr("The download failed: %1").arg(dl->result().error().message));
            return;
        }
        useFolder(dl->model().directory); // checks and loads it like a chosen folder
    });
    HubDownloadOptions options;
    dl->start(options);
}

void ModelSetupDialog::accept() {
    if (m_download->isChecked()) {
        startDownload();
        return;
    }
    const QString dir = chosenDirectory();
    const QString problem = CheckpointFolder::problem(dir);
    if (!problem.isEmpty()) {
        showError(problem);
        Q_EMIT checkFinished(false);
        return;
    }
    showError(tr("Loading the model to check it…"));
    setChecking(true);
    const quint64 generation = ++m_generation;
    BridgeTowerPipeline::Options options;
    options.precision = m_precision;
    QtConcurrent::run([dir, options] {
        auto loaded = BridgeTowerPipeline::load(dir, options);
        return loaded.ok()
                   ? std::make_pair(std::shared_ptr<const BridgeTowerPipeline>(loaded.value()),
                                    QString())
                   : std::make_pair(std::shared_ptr<const BridgeTowerPipeline>(),
                                    loaded.error().message);
    })
        .then(this, [this, dir, generation](
                        const std::pair<std::shared_ptr<const BridgeTowerPipeline>, QString> &r) {
            if (generation != m_generation)
                return;
            setChecking(false);
            if (!r.first) {
                showError(tr("This folder cannot be used: %1").arg(r.second));
                Q_EMIT checkFinished(false);
                return;
            }
            m_directory = dir;
            m_pipeline = r.first;
            showError({});
            Q_EMIT checkFinished(true);
            QDialog::accept();
        });
}

} // namespace ts
