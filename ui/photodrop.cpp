#include "ui/photodrop.h"

#include <QFileInfo>
#include <QImage>
#include <QMimeData>
#include <QMimeDatabase>
#include <QUrl>

namespace ts {

namespace {
bool isImageFile(const QString &path) {
    static const QMimeDatabase db;
    return db.mimeTypeForFile(path).name().startsWith(QLatin1String("image/"));
}
} // namespace

bool PhotoDrop::canHandle(const QMimeData *mime) {
    if (!mime)
        return false;
    if (mime->hasImage())
        return true;
    for (const QUrl &url : mime->urls()) {
        if (!url.isLocalFile())
            continue;
        const QFileInfo info(url.toLocalFile());
        if (info.isDir() || (info.isFile() && isImageFile(info.filePath())))
            return true;
    }
    for (const QString &format : mime->formats())
        if (format.startsWith(QLatin1String("image/")))
            return true;
    return false;
}

PhotoDrop::Contents PhotoDrop::read(const QMimeData *mime) {
    Contents contents;
    if (!mime)
        return contents;
    for (const QUrl &url : mime->urls()) {
        if (!url.isLocalFile())
            continue;
        const QFileInfo info(url.toLocalFile());
        if (info.isDir())
            contents.folders.append(info.absoluteFilePath());
        else if (contents.photo.isEmpty() && info.isFile() && isImageFile(info.filePath()))
            contents.photo = info.absoluteFilePath();
    }
    if (!contents.isEmpty())
        return contents;
    // Image data from a browser or an image editor: keep it in a file the engine can read.
    QImage image = qvariant_cast<QImage>(mime->imageData());
    if (image.isNull()) {
        for (const QString &format : mime->formats()) {
            if (format.startsWith(QLatin1String("image/")) &&
                image.loadFromData(mime->data(format)))
                break;
        }
    }
    if (!image.isNull() && m_dir.isValid()) {
        const QString path = m_dir.filePath(QStringLiteral("dropped-%1.png").arg(++m_saved));
        if (image.save(path, "PNG"))
            contents.photo = path;
    }
    return contents;
}

} // namespace ts
