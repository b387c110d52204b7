#include "ui/settingsdialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>
#include <QVBoxLayout>

namespace ts {

namespace {
QSpinBox *spin(QWidget *parent, int lo, int hi, int value, const QString &suffix,
               const QString &name) {
    auto *s = new QSpinBox(parent);
    s->setRange(lo, hi);
    s->setValue(value);
    s->setSuffix(suffix);
    s->setAccessibleName(name);
    return s;
}
} // namespace

SettingsDialog::SettingsDialog(const AppSettings &settings, const QString &libraryPath,
                               QWidget *parent)
    : QDialog(parent), m_base(settings) {
    setWindowTitle(tr("Settings"));
    auto *layout = new QVBoxLayout(this);
    auto *form = new QFormLayout;
    addLibraryRows(form, settings, libraryPath);
    addModelRows(form, settings);
    addCacheRows(form, settings);
    layout->addLayout(form);
    addExcludedFolders(layout, settings);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

void SettingsDialog::addLibraryRows(QFormLayout *form, const AppSettings &settings,
                                    const QString &libraryPath) {
    if (!libraryPath.isEmpty()) {
        auto *library = new QLabel(QDir::toNativeSeparators(libraryPath), this);
        library->setObjectName(QStringLiteral("libraryPath"));
        library->setTextInteractionFlags(Qt::TextSelectableByMouse);
        library->setToolTip(tr("The photo library open now (catalog, vector index, thumbnails "
                               "beside it). towersearch-cli uses the same library by default."));
        form->addRow(tr("Library:"), library);
    }
    auto *row = new QHBoxLayout;
    m_location = new QLineEdit(settings.libraryLocation, this);
    m_location->setObjectName(QStringLiteral("libraryLocation"));
    m_location->setAccessibleName(tr("Library database"));
    m_location->setPlaceholderText(tr("Default library"));
    m_location->setToolTip(
        tr("A library file, or a library shared on a PostgreSQL server: "
           "postgresql://USER@HOST/DATABASE. Keep the password in ~/.pgpass rather than in the "
           "URL: the settings are stored as plain text. Changing it reopens the library."));
    m_testConnection = new QPushButton(tr("Test Connection"), this);
    m_testConnection->setObjectName(QStringLiteral("testConnection"));
    m_testConnection->setVisible(false); // until there is something to test with
    row->addWidget(m_location, 1);
    row->addWidget(m_testConnection);
    form->addRow(tr("Library &database:"), row);
    m_connectionResult = new QLabel(this);
    m_connectionResult->setObjectName(QStringLiteral("connectionResult"));
    m_connectionResult->setWordWrap(true);
    m_connectionResult->setTextFormat(Qt::PlainText);
    if (qEnvironmentVariableIsSet("TOWERSEARCH_DB"))
        m_connectionResult->setText(
            tr("TOWERSEARCH_DB is set: it chooses the library while it is, not this setting."));
    form->addRow(QString(), m_connectionResult);
    connect(m_testConnection, &QPushButton::clicked, this, &SettingsDialog::testConnection);
    connect(m_location, &QLineEdit::textEdited, this, [this] {
        m_check.supersede(); // an answer about the old text would mislead
        m_connectionResult->clear();
        m_testConnection->setEnabled(true);
    });
}

void SettingsDialog::setLocationCheck(LocationCheck check) {
    m_locationCheck = std::move(check);
    m_testConnection->setVisible(bool(m_locationCheck));
}

// Connecting may take seconds (an unreachable server waits for its timeout): off the GUI thread.
void SettingsDialog::testConnection() {
    if (!m_locationCheck)
        return;
    m_testConnection->setEnabled(false);
    m_connectionResult->setText(tr("Connecting…"));
    m_check.start([check = m_locationCheck,
                   location = m_location->text().trimmed()] { return check(location); },
                  [this](const Result<QString> &said) {
                      m_testConnection->setEnabled(true);
                      m_connectionResult->setText(said ? said.value() : said.error().message);
                  });
}

void SettingsDialog::addModelRows(QFormLayout *form, const AppSettings &settings) {
    auto *modelRow = new QHBoxLayout;
    m_model = new QLineEdit(settings.modelDirectory, this);
    m_model->setAccessibleName(tr("Model folder"));
    auto *browse = new QPushButton(tr("Browse…"), this);
    modelRow->addWidget(m_model, 1);
    modelRow->addWidget(browse);
    form->addRow(tr("&Model folder:"), modelRow);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(
            this, tr("Choose a BridgeTower Checkpoint Folder"), m_model->text());
        if (!dir.isEmpty())
            m_model->setText(dir);
    });

    m_candidates = spin(this, 1, 10000, settings.candidates, {}, tr("Candidates per query"));
    m_candidates->setToolTip(tr("How many photos the fast first pass returns."));
    form->addRow(tr("&Candidates per query:"), m_candidates);
    m_rerankDepth = spin(this, 0, 1000, settings.rerankDepth, {}, tr("Rerank depth"));
    m_rerankDepth->setToolTip(
        tr("How many of the top candidates the slower, more accurate match scoring re-orders."));
    form->addRow(tr("&Rerank depth:"), m_rerankDepth);
    m_relevance = new QDoubleSpinBox(this);
    m_relevance->setRange(0, 100);
    m_relevance->setDecimals(0);
    m_relevance->setSuffix(QStringLiteral(" %"));
    m_relevance->setValue(settings.relevanceDefault * 100.0);
    m_relevance->setAccessibleName(tr("Default minimum match"));
    form->addRow(tr("Default minimum &match:"), m_relevance);
    m_threads = spin(this, 0, 256, settings.threads, {}, tr("Model threads"));
    m_threads->setSpecialValueText(tr("All cores (%1)").arg(QThread::idealThreadCount()));
    form->addRow(tr("Model &threads:"), m_threads);
    m_precision = new QComboBox(this);
    m_precision->setObjectName(QStringLiteral("precision"));
    m_precision->setAccessibleName(tr("Model precision"));
    m_precision->addItem(tr("Automatic: %1").arg(resolvePrecision(PrecisionSetting::Auto).reason),
                         int(PrecisionSetting::Auto));
    m_precision->addItem(tr("float32 (exact, slowest)"), int(PrecisionSetting::Float32));
    m_precision->addItem(tr("bfloat16 (about twice as fast where the CPU supports it)"),
                         int(PrecisionSetting::BFloat16));
    m_precision->addItem(tr("int8 (fastest, experimental)"), int(PrecisionSetting::Int8));
    m_precision->setCurrentIndex(m_precision->findData(int(settings.precision)));
    m_precision->setToolTip(tr("Changing it reloads the model; photos already indexed are kept."));
    form->addRow(tr("Model &precision:"), m_precision);
}

void SettingsDialog::addCacheRows(QFormLayout *form, const AppSettings &settings) {
    m_cacheMemory = spin(this, 0, 65536, settings.rerankCacheMemoryMiB, tr(" MiB"),
                         tr("Rerank cache in memory"));
    form->addRow(tr("Rerank cache in memory:"), m_cacheMemory);
    m_cacheDisk =
        spin(this, 0, 1 << 20, settings.rerankCacheDiskMiB, tr(" MiB"), tr("Rerank cache on disk"));
    form->addRow(tr("Rerank cache on disk:"), m_cacheDisk);
    m_thumbnails = spin(this, 8, 65536, settings.thumbnailCacheMiB, tr(" MiB"),
                        tr("Thumbnail cache in memory"));
    form->addRow(tr("Thumbnail cache in memory:"), m_thumbnails);
}

void SettingsDialog::addExcludedFolders(QVBoxLayout *layout, const AppSettings &settings) {
    layout->addWidget(new QLabel(tr("Never index these folders:"), this));
    m_excluded = new QListWidget(this);
    m_excluded->setAccessibleName(tr("Excluded folders"));
    for (const QString &f : settings.excludedFolders)
        m_excluded->addItem(QDir::toNativeSeparators(f));
    layout->addWidget(m_excluded);
    auto *exRow = new QHBoxLayout;
    auto *addEx = new QPushButton(tr("Exclude a Folder…"), this);
    auto *removeEx = new QPushButton(tr("Remove"), this);
    exRow->addWidget(addEx);
    exRow->addWidget(removeEx);
    exRow->addStretch(1);
    layout->addLayout(exRow);
    connect(addEx, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Exclude a Folder"));
        if (!dir.isEmpty())
            m_excluded->addItem(QDir::toNativeSeparators(dir));
    });
    connect(removeEx, &QPushButton::clicked, this, [this] { delete m_excluded->currentItem(); });
}

AppSettings SettingsDialog::settings() const {
    AppSettings s = m_base;
    s.libraryLocation = m_location->text().trimmed();
    s.modelDirectory = m_model->text().trimmed();
    s.candidates = m_candidates->value();
    s.rerankDepth = m_rerankDepth->value();
    s.relevanceDefault = m_relevance->value() / 100.0;
    s.threads = m_threads->value();
    s.precision = PrecisionSetting(m_precision->currentData().toInt());
    s.rerankCacheMemoryMiB = m_cacheMemory->value();
    s.rerankCacheDiskMiB = m_cacheDisk->value();
    s.thumbnailCacheMiB = m_thumbnails->value();
    s.excludedFolders.clear();
    for (int i = 0; i < m_excluded->count(); ++i)
        s.excludedFolders << QDir::fromNativeSeparators(m_excluded->item(i)->text());
    return s;
}

} // namespace ts
