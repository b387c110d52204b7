#include "core/common/nativepath.h"

#include <QFileInfo>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#ifdef Q_OS_UNIX
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace ts {

namespace {

constexpr char16_t kEscapeBase = 0xDC00; // U+DC80..U+DCFF hold the bytes 0x80..0xFF

bool isContinuation(uchar b) {
    return (b & 0xC0) == 0x80;
}

// Length of the valid UTF-8 sequence at data[i], 0 when the byte there starts none (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
int validSequenceLength(const uchar *data, qsizetype size, qsizetype i) {
    const uchar b = data[i];
    if (b < 0x80)
        return 1;
    int length = 0;
    uchar low = 0x80, high = 0xBF; // allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
        length = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        length = 3;
        if (b == 0xE0)
            low = 0xA0;
        else if (b == 0xED)
            high = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        length = 4;
        if (b == 0xF0)
            low = 0x90;
        else if (b == 0xF4)
            high = 0x8F;
    } else {
        return 0;
    }
    if (i + length > size || data[i + 1] < low || data[i + 1] > high)
        return 0;
    for (int k = 2; k < length; ++k)
        if (!isContinuation(data[i + k]))
            return 0;
    return length;
}

} // namespace

int escapedByteAt(const QString &path, qsizetype i) {
    const char16_t c = path.at(i).unicode();
    if (c < 0xDC80 || c > 0xDCFF)
        return -1;
    if (i > 0 && QChar::isHighSurrogate(path.at(i - 1).unicode()))
        return -1;
    return int(c - kEscapeBase);
}

QString pathFromNative(const QByteArray &bytes) {
    const auto *data = reinterpret_cast<const uchar *>(bytes.constData());
    const qsizetype size = bytes.size();
    QString out;
    out.reserve(size);
    qsizetype i = 0;
    while (i < size) {
        // Decode the longest valid run with Qt, escape the byte that ends it.
        qsizetype run = i;
        while (run < size) {
            const int n = validSequenceLength(data, size, run);
            if (n == 0)
                break;
            run += n;
        }
        if (run > i)
            out += QString::fromUtf8(bytes.constData() + i, run - i);
        if (run < size)
            out += QChar(char16_t(kEscapeBase + data[run]));
        i = run + 1;
    }
    return out;
}

QByteArray nativePath(const QString &path) {
    if (!isRawPath(path))
        return path.toUtf8();
    QByteArray out;
    out.reserve(path.size() * 2);
    qsizetype start = 0; // start of the ordinary text not yet encoded
    for (qsizetype i = 0; i < path.size(); ++i) {
        const int byte = escapedByteAt(path, i);
        if (byte < 0)
            continue;
        out += QStringView(path).mid(start, i - start).toUtf8();
        out += char(byte);
        start = i + 1;
    }
    out += QStringView(path).mid(start).toUtf8();
    return out;
}

bool isRawPath(const QString &path) {
    for (qsizetype i = 0; i < path.size(); ++i)
        if (escapedByteAt(path, i) >= 0)
            return true;
    return false;
}

QString printablePath(const QString &path) {
    QString out;
    out.reserve(path.size());
    for (qsizetype i = 0; i < path.size(); ++i) {
        const char16_t c = path.at(i).unicode();
        if (const int byte = escapedByteAt(path, i); byte >= 0)
            out += QStringLiteral("\\x%1").arg(byte, 2, 16, QLatin1Char('0'));
        else if (c < 0x20 || c == 0x7F)
            out += QStringLiteral("\\x%1").arg(int(c), 2, 16, QLatin1Char('0'));
        else if ((c >= 0x80 && c < 0xA0) || c == 0x2028 ||
                 c == 0x2029) // C1 controls, line separators
            out += QStringLiteral("\\u%1").arg(int(c), 4, 16, QLatin1Char('0'));
        else if (c == u'\\')
            out += QStringLiteral("\\\\");
        else
            out += QChar(c);
    }
    return out;
}

NativeFileInfo statNative(const QString &path) {
    NativeFileInfo info;
#ifdef Q_OS_UNIX
    struct stat st {};
    if (::stat(nativePath(path).constData(), &st) != 0)
        return info;
    info.exists = true;
    info.isDir = S_ISDIR(st.st_mode);
    info.isFile = S_ISREG(st.st_mode);
    info.size = qint64(st.st_size);
    // Milliseconds truncated, as QFileInfo::lastModified() gives them (catalog rows compare equal).
    info.mtimeMs = qint64(st.st_mtim.tv_sec) * 1000 + qint64(st.st_mtim.tv_nsec) / 1000000;
#else
    const QFileInfo fi(path);
    info.exists = fi.exists();
    info.isDir = fi.isDir();
    info.isFile = fi.isFile();
    info.size = fi.size();
    info.mtimeMs = fi.lastModified().toMSecsSinceEpoch();
#endif
    return info;
}

bool openNativeFile(QFile &file, const QString &path, QIODevice::OpenMode mode, QString *error) {
    if (!isRawPath(path)) {
        file.setFileName(path);
        const bool ok = file.open(mode);
        if (!ok && error)
            *error = file.errorString();
        return ok;
    }
#ifdef Q_OS_UNIX
    int flags = O_CLOEXEC;
    if ((mode & QIODevice::ReadWrite) == QIODevice::ReadWrite)
        flags |= O_RDWR | O_CREAT;
    else if (mode & QIODevice::WriteOnly)
        flags |= O_WRONLY | O_CREAT | ((mode & QIODevice::Append) ? O_APPEND : O_TRUNC);
    else
        flags |= O_RDONLY;
    const int fd = ::open(nativePath(path).constData(), flags, 0666);
    if (fd < 0) {
        if (error)
            *error = QString::fromLocal8Bit(std::strerror(errno));
        return false;
    }
    if (!file.open(fd, mode, QFileDevice::AutoCloseHandle)) {
        if (error)
            *error = file.errorString();
        ::close(fd);
        return false;
    }
    return true;
#else
    file.setFileName(path);
    const bool ok = file.open(mode);
    if (!ok && error)
        *error = file.errorString();
    return ok;
#endif
}

QUrl fileUrl(const QString &path) {
    if (!isRawPath(path))
        return QUrl::fromLocalFile(path);
    return QUrl::fromEncoded("file://" + nativePath(path).toPercentEncoding("/"), QUrl::StrictMode);
}

QString canonicalNativePath(const QString &path) {
#ifdef Q_OS_UNIX
    char resolved[PATH_MAX];
    if (!::realpath(nativePath(path).constData(), resolved))
        return {};
    return pathFromNative(QByteArray(resolved));
#else
    return QFileInfo(path).canonicalFilePath();
#endif
}

} // namespace ts
