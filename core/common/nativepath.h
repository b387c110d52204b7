#pragma once

// File names as the kernel has them: bytes, not text. Qt 6 decodes them as UTF-8 and replaces
// bytes that are not valid UTF-8 (names from old FAT drives, archives made on other systems), so
// two such names collapse into one string that opens neither file. TowerSearch keeps every path
// losslessly in a QString with Python's "surrogateescape": each byte 0xXY that is not part of a
// valid UTF-8 sequence becomes the lone surrogate U+DCXY. Valid UTF-8 never decodes to a lone
// surrogate, so the mapping is one to one and nativePath() gives back the exact bytes.
//
// Usage:
//   const QString path = pathFromNative(direntName);   // lossless, whatever the bytes
//   QFile file;
//   if (openNativeFile(file, path, QIODevice::ReadOnly, &why)) ... // also when QFile(path) cannot
//   out << printablePath(path);                         // one line of text, invalid bytes as \xff
//
// A path without escaped bytes (isRawPath() false) is an ordinary QString; Qt's own file classes
// work on it as before. Threads: every function is pure or reentrant.

#include <QByteArray>
#include <QFile>
#include <QString>
#include <QUrl>

namespace ts {

// Decodes native path bytes: valid UTF-8 as usual, every other byte 0xXY as U+DCXY.
QString pathFromNative(const QByteArray &bytes);
// The exact bytes of a path decoded by pathFromNative() (UTF-8 for ordinary text).
QByteArray nativePath(const QString &path);
// True when `path` holds escaped bytes: QFile, QFileInfo and QDir cannot reach it (use the
// functions below).
bool isRawPath(const QString &path);

// The byte that code unit i of `path` escapes (0x80..0xFF), or -1 when it is ordinary text.
int escapedByteAt(const QString &path, qsizetype i);

// The path for plain-text output on one line: control characters (a newline in a name) and
// escaped bytes are written as \xNN, a backslash as \\; everything else unchanged.
QString printablePath(const QString &path);

// What stat() says about a path (following symlinks), for any path.
struct NativeFileInfo {
    bool exists = false;
    bool isDir = false;
    bool isFile = false;
    qint64 size = 0;
    qint64 mtimeMs = 0;
};
NativeFileInfo statNative(const QString &path);

// Opens `file` (not yet open) on `path` in `mode`, through the native bytes when Qt cannot
// encode them (then file.fileName() is empty). Returns false on failure, with the reason (the
// system's words, without the path) in `error` when given.
bool openNativeFile(QFile &file, const QString &path, QIODevice::OpenMode mode,
                    QString *error = nullptr);

// A file:// URL of `path` for other programs (opening in a viewer, drag and drop): its exact bytes
// percent-encoded, where QUrl::fromLocalFile() would write U+FFFD for an escaped byte.
QUrl fileUrl(const QString &path);

// The realpath() of a folder or file, "" when it does not exist (QFileInfo::canonicalFilePath
// for any path).
QString canonicalNativePath(const QString &path);

} // namespace ts
