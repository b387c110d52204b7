#include "ui/photoactions.h"

#include "core/common/nativepath.h"

#include <QDir>
#include <QFile>
#include <QMimeData>
#include <QUrl>

#include <unistd.h>

namespace ts {

QMimeData *photoMimeData(const QStringList &paths) {
    if (paths.isEmpty())
        return nullptr;
    QList<QUrl> urls;
    urls.reserve(paths.size());
    for (const QString &path : paths)
        urls << fileUrl(path); // exact bytes, also for names that are not UTF-8
    auto *mime = new QMimeData;
    mime->setUrls(urls); // file managers, mail and chat apps accept text/uri-list
    mime->setText(paths.join(QLatin1Char('\n')));
    return mime;
}

QString pathsForClipboard(const QStringList &paths) {
    QStringList out;
    out.reserve(paths.size());
    for (const QString &path : paths)
        out << QDir::toNativeSeparators(path);
    return out.join(QLatin1Char('\n'));
}

namespace {
QString fileNameOf(const QString &path) {
    return path.mid(path.lastIndexOf(QLatin1Char('/')) + 1);
}

QString joined(const QString &folder, const QString &name) {
    return folder.endsWith(QLatin1Char('/')) ? folder + name : folder + QLatin1Char('/') + name;
}

// "IMG_1.jpg" -> "IMG_1 (n).jpg"; a leading dot is part of the name, not an extension.
QString numbered(const QString &fileName, int n) {
    const qsizetype dot = fileName.lastIndexOf(QLatin1Char('.'));
    const QString suffix = QStringLiteral(" (%1)").arg(n);
    if (dot <= 0)
        return fileName + suffix;
    return fileName.left(dot) + suffix + fileName.mid(dot);
}

// Copies through the native bytes; the target is created exclusively (O_EXCL), so a file that
// appeared since freeFileName() looked is never overwritten.
bool copyOne(const QString &source, const QString &target, QString *why) {
    QFile in;
    if (!openNativeFile(in, source, QIODevice::ReadOnly, why))
        return false;
    QFile out;
    if (!openNativeFile(out, target, QIODevice::WriteOnly | QIODevice::NewOnly, why))
        return false;
    QByteArray buffer(1 << 20, Qt::Uninitialized);
    bool ok = true;
    for (;;) {
        const qint64 n = in.read(buffer.data(), buffer.size());
        if (n < 0) {
            *why = in.errorString();
            ok = false;
            break;
        }
        if (n == 0)
            break;
        if (out.write(buffer.constData(), n) != n) {
            *why = out.errorString();
            ok = false;
            break;
        }
    }
    if (ok && !out.flush()) {
        *why = out.errorString();
        ok = false;
    }
    if (ok) {
        const NativeFileInfo info = statNative(source);
        out.setFileTime(QDateTime::fromMSecsSinceEpoch(info.mtimeMs),
                        QFileDevice::FileModificationTime);
    }
    out.close();
    if (ok && out.error() != QFileDevice::NoError) { // close() writes what flush() could not
        *why = out.errorString();
        ok = false;
    }
    if (!ok)
        ::unlink(
            nativePath(target).constData()); // never leave half a photo (only ours: created above)
    return ok;
}
} // namespace

QString freeFileName(const QString &folder, const QString &fileName) {
    if (!statNative(joined(folder, fileName)).exists)
        return fileName;
    for (int n = 2;; ++n) {
        const QString candidate = numbered(fileName, n);
        if (!statNative(joined(folder, candidate)).exists)
            return candidate;
    }
}

CopyOutcome copyPhotosToFolder(const QStringList &paths, const QString &folder) {
    CopyOutcome outcome;
    const NativeFileInfo target = statNative(folder);
    if (!target.isDir) {
        for (const QString &path : paths)
            outcome.errors << QObject::tr("Could not copy %1: the folder %2 does not exist.")
                                  .arg(printablePath(path), printablePath(folder));
        return outcome;
    }
    for (const QString &path : paths) {
        QString why;
        bool done = false;
        // A name taken between the check and the exclusive create: try the next free one.
        for (int attempt = 0; attempt < 100 && !done; ++attempt) {
            const QString dest = joined(folder, freeFileName(folder, fileNameOf(path)));
            if (copyOne(path, dest, &why)) {
                outcome.copied << dest;
                done = true;
            } else if (!statNative(dest).exists || !statNative(path).exists) {
                break; // a real failure, not a race for the name
            }
        }
        if (!done)
            outcome.errors << QObject::tr("Could not copy %1 to %2: %3.")
                                  .arg(printablePath(path), printablePath(folder), why);
    }
    return outcome;
}

} // namespace ts
