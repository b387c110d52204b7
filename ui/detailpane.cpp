#include "ui/detailpane.h"

#include "core/common/nativepath.h"
#include "core/image/imagedecoder.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QDir>
#include <QDrag>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMimeData>
#include <QMouseEvent>
#include <QProcess>
#include <QPushButton>
#include <QUrl>
#include <QVBoxLayout>

namespace ts {

namespace {
constexpr int kPreviewDecodeEdge = 1024; // enough for a side pane on a 4K screen

QLabel *valueLabel(QWidget *parent) {
    auto *l = new QLabel(parent);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    l->setWordWrap(true);
    return l;
}
} // namespace

DetailPane::DetailPane(QWidget *parent) : QWidget(parent) {
    auto *layout = new QVBoxLayout(this);
    m_image = new QLabel(this);
    m_image->setAlignment(Qt::AlignCenter);
    m_image->setMinimumSize(160, 120);
    m_image->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Expanding);
    m_image->setAccessibleName(tr("Preview of the selected photo"));
    m_image->setToolTip(tr("Drag to copy the photo to another application"));
    layout->addWidget(m_image, 1);

    m_name = valueLabel(this);
    QFont bold = m_name->font();
    bold.setBold(true);
    m_name->setFont(bold);
    layout->addWidget(m_name);
    auto *form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    m_folder = valueLabel(this);
    m_taken = valueLabel(this);
    m_size = valueLabel(this);
    m_scores = valueLabel(this);
    form->addRow(tr("Folder:"), m_folder);
    form->addRow(tr("Taken:"), m_taken);
    form->addRow(tr("Size:"), m_size);
    form->addRow(tr("Scores:"), m_scores);
    layout->addLayout(form);

    auto *buttons = new QHBoxLayout;
    m_open = new QPushButton(tr("&Open"), this);
    m_open->setToolTip(tr("Open in the default image viewer (Enter)"));
    m_reveal = new QPushButton(tr("Show in &Folder"), this);
    m_copy = new QPushButton(tr("&Copy Path"), this);
    m_similar = new QPushButton(tr("&Similar"), this);
    m_similar->setToolTip(tr("Find photos like this one"));
    for (QPushButton *b : {m_open, m_reveal, m_copy, m_similar}) {
        b->setAccessibleName(b->text().remove(QLatin1Char('&')));
        buttons->addWidget(b);
    }
    layout->addLayout(buttons);
    connect(m_open, &QPushButton::clicked, this, [this] { openInViewer(m_hit.path); });
    connect(m_reveal, &QPushButton::clicked, this, [this] { revealInFileManager(m_hit.path); });
    connect(m_copy, &QPushButton::clicked, this,
            [this] { QApplication::clipboard()->setText(QDir::toNativeSeparators(m_hit.path)); });
    connect(m_similar, &QPushButton::clicked, this,
            [this] { Q_EMIT findSimilarRequested(m_hit.path); });
    clear();
}

void DetailPane::clear() {
    m_previewRequest.supersede();
    m_hit = PhotoHit{};
    m_preview = QImage();
    m_image->clear();
    m_image->setText(tr("Select a photo to see it here."));
    for (QLabel *l : {m_name, m_folder, m_taken, m_size, m_scores})
        l->clear();
    for (QPushButton *b : {m_open, m_reveal, m_copy, m_similar})
        b->setEnabled(false);
}

void DetailPane::setPhoto(const PhotoHit &hit) {
    const bool samePhoto = hit.path == m_hit.path && !hit.path.isEmpty();
    m_hit = hit;
    updateScores();
    if (samePhoto)
        return;
    const QFileInfo info(hit.path);
    m_name->setText(info.fileName());
    m_folder->setText(QDir::toNativeSeparators(info.absolutePath()));
    std::optional<QDateTime> taken =
        m_dateTaken ? m_dateTaken(hit.photoId, hit.path) : std::nullopt;
    m_taken->setText(taken
                         ? QLocale().toString(*taken, QLocale::ShortFormat)
                         : tr("unknown (modified %1)")
                               .arg(QLocale().toString(info.lastModified(), QLocale::ShortFormat)));
    m_size->setText(QLocale().formattedDataSize(info.size()));
    for (QPushButton *b : {m_open, m_reveal, m_copy, m_similar})
        b->setEnabled(true);
    m_preview = QImage();
    m_image->setText(tr("Loading…"));
    loadPreview();
}

void DetailPane::updateScores() {
    QStringList parts;
    if (m_hit.matchProbability)
        parts << tr("match %1%")
                     .arg(QString::number(double(*m_hit.matchProbability) * 100.0, 'f', 1));
    else
        parts << tr("match not scored yet");
    parts << tr("similarity %1").arg(QString::number(double(m_hit.similarity), 'f', 3));
    m_scores->setText(parts.join(QStringLiteral(" · ")));
}

void DetailPane::loadPreview() {
    const QString path = m_hit.path;
    struct Loaded {
        QImage image;
        QSize stored;
        QString error;
    };
    m_previewRequest.start(
        [path] {
            DecodeOptions options;
            options.targetShortestEdgeHint = QSize(kPreviewDecodeEdge, kPreviewDecodeEdge);
            auto decoded = decodeImageFile(path, options);
            if (!decoded.ok())
                return Loaded{{}, {}, decoded.error().message};
            QImage img = decoded->rgb;
            if (img.width() > 2 * kPreviewDecodeEdge || img.height() > 2 * kPreviewDecodeEdge)
                img = img.scaled(2 * kPreviewDecodeEdge, 2 * kPreviewDecodeEdge,
                                 Qt::KeepAspectRatio, Qt::SmoothTransformation);
            return Loaded{img.convertToFormat(QImage::Format_RGB32), decoded->storedSize, {}};
        },
        [this](const Loaded &loaded) {
            if (loaded.image.isNull()) {
                m_image->setText(loaded.error);
                return;
            }
            m_preview = loaded.image;
            m_size->setText(tr("%1 × %2 pixels, %3")
                                .arg(loaded.image.width() >= loaded.image.height()
                                         ? qMax(loaded.stored.width(), loaded.stored.height())
                                         : qMin(loaded.stored.width(), loaded.stored.height()))
                                .arg(loaded.image.width() >= loaded.image.height()
                                         ? qMin(loaded.stored.width(), loaded.stored.height())
                                         : qMax(loaded.stored.width(), loaded.stored.height()))
                                .arg(QLocale().formattedDataSize(QFileInfo(m_hit.path).size())));
            showPreview();
            Q_EMIT previewLoaded();
        });
}

void DetailPane::showPreview() {
    if (m_preview.isNull())
        return;
    // Scaled for the label's size in device pixels: sharp on HiDPI screens.
    const qreal dpr = devicePixelRatioF();
    QPixmap pm = QPixmap::fromImage(
        m_preview.scaled(m_image->size() * dpr, Qt::KeepAspectRatio, Qt::SmoothTransformation));
    pm.setDevicePixelRatio(dpr);
    m_image->setPixmap(pm);
}

void DetailPane::resizeEvent(QResizeEvent *event) {
    QWidget::resizeEvent(event);
    showPreview();
}

void DetailPane::mousePressEvent(QMouseEvent *event) {
    if (event->button() == Qt::LeftButton &&
        m_image->geometry().contains(event->position().toPoint()))
        m_pressPos = event->position().toPoint();
    QWidget::mousePressEvent(event);
}

void DetailPane::mouseMoveEvent(QMouseEvent *event) {
    if (!(event->buttons() & Qt::LeftButton) || m_pressPos.isNull() || !hasPhoto() ||
        (event->position().toPoint() - m_pressPos).manhattanLength() <
            QApplication::startDragDistance())
        return;
    m_pressPos = {};
    auto *drag = new QDrag(this);
    auto *mime = new QMimeData;
    mime->setUrls({fileUrl(m_hit.path)});
    drag->setMimeData(mime);
    if (!m_preview.isNull())
        drag->setPixmap(QPixmap::fromImage(
            m_preview.scaled(128, 128, Qt::KeepAspectRatio, Qt::SmoothTransformation)));
    drag->exec(Qt::CopyAction);
}

void DetailPane::openInViewer(const QString &path) {
    if (!path.isEmpty())
        QDesktopServices::openUrl(fileUrl(path)); // exact bytes, also for names that are not UTF-8
}

void DetailPane::revealInFileManager(const QString &path) {
    if (path.isEmpty())
        return;
    // The freedesktop FileManager1 interface selects the file (Nautilus, Dolphin, Nemo, Thunar...);
    // without it, open the folder.
    const bool started = QProcess::startDetached(
        QStringLiteral("dbus-send"),
        {QStringLiteral("--session"), QStringLiteral("--dest=org.freedesktop.FileManager1"),
         QStringLiteral("--type=method_call"), QStringLiteral("/org/freedesktop/FileManager1"),
         QStringLiteral("org.freedesktop.FileManager1.ShowItems"),
         QStringLiteral("array:string:%1").arg(QString::fromLatin1(fileUrl(path).toEncoded())),
         QStringLiteral("string:")});
    if (!started)
        QDesktopServices::openUrl(fileUrl(QFileInfo(path).absolutePath()));
}

} // namespace ts
