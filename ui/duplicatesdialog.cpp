#include "ui/duplicatesdialog.h"

#include "core/common/nativepath.h"
#include "core/search/duplicates.h"
#include "ui/detailpane.h"

#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QLocale>
#include <QMessageBox>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include <climits>

namespace ts {

namespace {

constexpr int kThumbnailSide = 160;
constexpr int kIndexRole = Qt::UserRole + 1; // index of the photo within its group

QString describe(const PhotoRecord &p, float similarity, bool representative) {
    const QDateTime when = p.taken ? *p.taken : p.modified;
    const QLocale locale;
    QStringList lines;
    lines << QFileInfo(printablePath(p.path)).fileName();
    lines << QStringLiteral("%1 · %2 × %3")
                 .arg(locale.formattedDataSize(p.size))
                 .arg(p.width)
                 .arg(p.height);
    lines << (when.isValid() ? locale.toString(when, QLocale::ShortFormat)
                             : DuplicatesDialog::tr("no date"));
    lines << (representative
                  ? DuplicatesDialog::tr("compared with this one")
                  : DuplicatesDialog::tr("similarity %1").arg(double(similarity), 0, 'f', 3));
    return lines.join(QLatin1Char('\n'));
}

} // namespace

DuplicatesDialog::DuplicatesDialog(DuplicateFinder finder, TrashFunction trash, QWidget *parent)
    : QDialog(parent), m_finder(std::move(finder)), m_trash(std::move(trash)) {
    setWindowTitle(tr("Find Duplicates"));
    resize(900, 560);

    m_threshold = new QDoubleSpinBox(this);
    m_threshold->setRange(0.50, 1.00);
    m_threshold->setSingleStep(0.01);
    m_threshold->setDecimals(2);
    m_threshold->setValue(double(kDefaultDuplicateThreshold));
    m_threshold->setToolTip(
        tr("How alike two photos must be (cosine similarity of their embeddings) to count as "
           "near-duplicates. Lower finds more, and more false ones."));
    m_findButton = new QPushButton(tr("&Find"), this);
    m_progress = new QProgressBar(this);
    m_progress->setVisible(false);
    m_status = new QLabel(this);
    auto *top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("&Similarity at least:"), this));
    static_cast<QLabel *>(top->itemAt(0)->widget())->setBuddy(m_threshold);
    top->addWidget(m_threshold);
    top->addWidget(m_findButton);
    top->addWidget(m_progress, 1);
    top->addWidget(m_status, 1);

    m_groupList = new QListWidget(this);
    m_photoList = new QListWidget(this);
    m_photoList->setViewMode(QListView::IconMode);
    m_photoList->setFlow(QListView::LeftToRight);
    m_photoList->setWrapping(true);
    m_photoList->setResizeMode(QListView::Adjust);
    m_photoList->setMovement(QListView::Static);
    m_photoList->setIconSize(QSize(kThumbnailSide, kThumbnailSide));
    m_photoList->setSpacing(8);
    m_photoList->setWordWrap(true);
    m_photoList->setSelectionMode(QAbstractItemView::SingleSelection);
    auto *splitter = new QSplitter(this);
    splitter->addWidget(m_groupList);
    splitter->addWidget(m_photoList);
    splitter->setStretchFactor(1, 3);

    m_open = new QPushButton(tr("&Open"), this);
    m_reveal = new QPushButton(tr("Show in F&older"), this);
    m_trashButton = new QPushButton(tr("Move to &Trash…"), this);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    auto *actions = new QHBoxLayout;
    actions->addWidget(m_open);
    actions->addWidget(m_reveal);
    actions->addWidget(m_trashButton);
    actions->addStretch(1);
    actions->addWidget(buttons);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(splitter, 1);
    layout->addLayout(actions);

    connect(m_findButton, &QPushButton::clicked, this,
            [this] { isSearching() ? cancelSearch() : find(); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_groupList, &QListWidget::currentRowChanged, this, &DuplicatesDialog::showGroup);
    connect(m_photoList, &QListWidget::currentRowChanged, this, &DuplicatesDialog::updateButtons);
    connect(m_photoList, &QListWidget::itemActivated, this, [this] {
        if (const PhotoRecord *p = selectedPhoto())
            DetailPane::openInViewer(p->path);
    });
    connect(m_open, &QPushButton::clicked, this, [this] {
        if (const PhotoRecord *p = selectedPhoto())
            DetailPane::openInViewer(p->path);
    });
    connect(m_reveal, &QPushButton::clicked, this, [this] {
        if (const PhotoRecord *p = selectedPhoto())
            DetailPane::revealInFileManager(p->path);
    });
    connect(m_trashButton, &QPushButton::clicked, this, &DuplicatesDialog::trashSelected);
    updateButtons();
}

DuplicatesDialog::~DuplicatesDialog() {
    if (m_cancel)
        m_cancel->store(true); // the worker stops within a batch; its result is dropped
}

void DuplicatesDialog::setThreshold(double threshold) {
    m_threshold->setValue(threshold);
}

void DuplicatesDialog::showEvent(QShowEvent *event) {
    QDialog::showEvent(event);
    if (!std::exchange(m_searchedOnce, true))
        find();
}

void DuplicatesDialog::reject() {
    cancelSearch();
    QDialog::reject();
}

void DuplicatesDialog::cancelSearch() {
    if (!m_cancel)
        return;
    m_cancel->store(true);
    m_cancel.reset();
    m_search.supersede(); // whatever it still delivers is dropped
    m_progress->setVisible(false);
    m_findButton->setText(tr("&Find"));
    m_status->setText(tr("Stopped."));
}

void DuplicatesDialog::find() {
    m_searchedOnce = true;
    cancelSearch();
    const LatestOnly::Ticket ticket = m_search.supersede();
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    m_cancel = cancel;
    m_findButton->setText(tr("S&top"));
    m_progress->setRange(0, 0);
    m_progress->setVisible(true);
    m_status->clear();
    m_search.run(
        ticket,
        [finder = m_finder, threshold = float(m_threshold->value()),
         progress = progressReporter(ticket, cancel)] {
            return collect(finder, threshold, progress);
        },
        [this](const Found &found) { showFound(found); });
}

// Progress crosses to the GUI thread queued and throttled (~10/s); stale ones are dropped. The
// reporter also tells the finder to stop once the search is cancelled.
ScanProgress DuplicatesDialog::progressReporter(LatestOnly::Ticket ticket,
                                                std::shared_ptr<std::atomic<bool>> cancel) {
    QPointer<DuplicatesDialog> self(this);
    auto timer = std::make_shared<QElapsedTimer>();
    timer->start();
    return [self, cancel, timer, ticket](qint64 done, qint64 total) {
        if (cancel->load())
            return false;
        if (timer->elapsed() >= 100 || done == total) {
            timer->restart();
            // The application as context (it outlives the worker); `self` is checked there, on the
            // GUI thread, where the dialog may have gone meanwhile.
            QMetaObject::invokeMethod(
                QCoreApplication::instance(),
                [self, ticket, done, total] {
                    if (!self || !self->m_search.isCurrent(ticket))
                        return;
                    self->m_progress->setRange(0, int(std::min<qint64>(total, INT_MAX)));
                    self->m_progress->setValue(int(std::min<qint64>(done, INT_MAX)));
                },
                Qt::QueuedConnection);
        }
        return true;
    };
}

// On the worker: the groups, and each photo's thumbnail scaled for the list.
DuplicatesDialog::Found DuplicatesDialog::collect(const DuplicateFinder &finder, float threshold,
                                                  const ScanProgress &progress) {
    Found found;
    auto groups = finder ? finder(threshold, progress)
                         : Result<std::vector<DuplicatePhotos>>(
                               Error(Error::Code::NotFound, tr("No library is open.")));
    if (!groups) {
        found.error = groups.error().message;
        return found;
    }
    found.groups = std::move(*groups);
    for (const DuplicatePhotos &g : found.groups) {
        std::vector<QImage> row;
        for (const PhotoRecord &p : g.photos) {
            QImage image(p.thumbnailPath); // the indexer's few-KB thumbnail
            row.push_back(image.isNull()
                              ? image
                              : image.scaled(kThumbnailSide, kThumbnailSide, Qt::KeepAspectRatio,
                                             Qt::SmoothTransformation));
        }
        found.thumbnails.push_back(std::move(row));
    }
    return found;
}

void DuplicatesDialog::showFound(const Found &found) {
    m_cancel.reset();
    m_progress->setVisible(false);
    m_findButton->setText(tr("&Find"));
    if (!found.error.isEmpty()) {
        m_status->setText(found.error);
    } else {
        m_groups = found.groups;
        m_thumbnails = found.thumbnails;
        qint64 photos = 0;
        for (const auto &g : m_groups)
            photos += qint64(g.photos.size());
        m_status->setText(
            m_groups.empty()
                ? tr("No near-duplicates at this similarity.")
                : tr("%n group(s), %1 photos.", nullptr, int(m_groups.size())).arg(photos));
        showGroups();
    }
    Q_EMIT searchFinished();
}

void DuplicatesDialog::showGroups() {
    const QSignalBlocker block(m_groupList);
    m_groupList->clear();
    for (size_t i = 0; i < m_groups.size(); ++i) {
        const DuplicatePhotos &g = m_groups[i];
        auto *item = new QListWidgetItem(
            tr("%1 photos: %2")
                .arg(g.photos.size())
                .arg(QFileInfo(printablePath(g.photos.front().path)).fileName()),
            m_groupList);
        if (!m_thumbnails[i].empty() && !m_thumbnails[i].front().isNull())
            item->setIcon(QIcon(QPixmap::fromImage(m_thumbnails[i].front())));
    }
    m_groupList->setCurrentRow(m_groups.empty() ? -1 : 0);
    showGroup(m_groupList->currentRow());
}

void DuplicatesDialog::showGroup(int row) {
    m_photoList->clear();
    if (row >= 0 && size_t(row) < m_groups.size()) {
        const DuplicatePhotos &g = m_groups[size_t(row)];
        for (size_t i = 0; i < g.photos.size(); ++i) {
            auto *item =
                new QListWidgetItem(describe(g.photos[i], g.similarity[i], i == 0), m_photoList);
            const QImage &thumb = m_thumbnails[size_t(row)][i];
            if (!thumb.isNull())
                item->setIcon(QIcon(QPixmap::fromImage(thumb)));
            item->setData(kIndexRole, int(i));
            item->setToolTip(printablePath(g.photos[i].path));
            item->setSizeHint(QSize(kThumbnailSide + 60, kThumbnailSide + 90));
        }
        m_photoList->setCurrentRow(0);
    }
    updateButtons();
}

const PhotoRecord *DuplicatesDialog::selectedPhoto() const {
    const int group = m_groupList->currentRow();
    const QListWidgetItem *item = m_photoList->currentItem();
    if (group < 0 || size_t(group) >= m_groups.size() || !item)
        return nullptr;
    const int index = item->data(kIndexRole).toInt();
    const auto &photos = m_groups[size_t(group)].photos;
    return index >= 0 && size_t(index) < photos.size() ? &photos[size_t(index)] : nullptr;
}

void DuplicatesDialog::updateButtons() {
    const bool any = selectedPhoto() != nullptr;
    m_open->setEnabled(any);
    m_reveal->setEnabled(any);
    m_trashButton->setEnabled(any && bool(m_trash));
}

void DuplicatesDialog::trashSelected() {
    const PhotoRecord *photo = selectedPhoto();
    if (!photo || !m_trash)
        return;
    const QString name = printablePath(photo->path);
    if (QMessageBox::question(
            this, tr("Move to Trash"),
            tr("Move %1 to the trash?\n\nIt leaves the library; you can restore it from the trash.")
                .arg(name),
            QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel) != QMessageBox::Yes)
        return;
    const qint64 id = photo->id;
    const int group = m_groupList->currentRow();
    const int index = m_photoList->currentItem()->data(kIndexRole).toInt();
    auto trashed = m_trash(id);
    if (!trashed) {
        QMessageBox::warning(this, tr("Move to Trash"), trashed.error().message);
        return;
    }
    // Off the list.
    auto &g = m_groups[size_t(group)];
    g.photos.erase(g.photos.begin() + index);
    g.similarity.erase(g.similarity.begin() + index);
    m_thumbnails[size_t(group)].erase(m_thumbnails[size_t(group)].begin() + index);
    // Similarities stay those to the group's first photo, also when that one went (the others
    // were all close to it); a group left with one photo is no longer a group of duplicates.
    if (g.photos.size() < 2) {
        m_groups.erase(m_groups.begin() + group);
        m_thumbnails.erase(m_thumbnails.begin() + group);
        showGroups();
        m_groupList->setCurrentRow(std::min(group, int(m_groups.size()) - 1));
    } else {
        m_groupList->item(group)->setText(
            tr("%1 photos: %2")
                .arg(g.photos.size())
                .arg(QFileInfo(printablePath(g.photos.front().path)).fileName()));
        showGroup(group);
    }
    m_status->setText(tr("Moved %1 to the trash.").arg(name));
    Q_EMIT photoTrashed(id, *trashed);
}

} // namespace ts
