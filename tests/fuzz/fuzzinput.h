#pragma once

// Helpers for the fuzz targets (tests/fuzz/fuzz_*.cpp): most readers under test take a path, so the
// fuzzer's bytes are handed to them as a file that lives in memory (memfd) or in a private folder.

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QString>
#include <QTemporaryDir>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace ts::fuzz {

// The input as a file: a memfd, opened through /proc/self/fd/N so that path-based readers
// (QFile, std::ifstream, mmap) see an ordinary regular file. Closed (and gone) on destruction.
class MemoryFile {
public:
    MemoryFile(const uint8_t *data, size_t size) {
        m_fd = memfd_create("fuzz-input", MFD_CLOEXEC);
        if (m_fd < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        for (size_t done = 0; done < size;) {
            const ssize_t n = ::write(m_fd, data + done, size - done);
            if (n <= 0) {
                std::perror("write to memfd");
                std::abort();
            }
            done += size_t(n);
        }
        m_path = QStringLiteral("/proc/self/fd/%1").arg(m_fd);
    }
    ~MemoryFile() { ::close(m_fd); }
    MemoryFile(const MemoryFile &) = delete;
    MemoryFile &operator=(const MemoryFile &) = delete;

    const QString &path() const { return m_path; }

private:
    int m_fd = -1;
    QString m_path;
};

// One private folder per process (the fuzzer runs inputs one after another), for readers that take
// a folder of several files (the tokenizer).
inline QDir scratchDir() {
    static QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/towersearch-fuzz-XXXXXX"));
    if (!dir.isValid())
        std::abort();
    return QDir(dir.path());
}

// Writes (or, for a null `bytes`, removes) `name` in `dir`.
inline void putFile(const QDir &dir, const QString &name, const QByteArray &bytes, bool present) {
    const QString path = dir.filePath(name);
    if (!present) {
        QFile::remove(path);
        return;
    }
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(bytes) != bytes.size())
        std::abort();
}

// Splits the input at `separator` into at most `maxParts` parts (the last one takes the rest), so
// that one input can hold several files; the seed corpus writes files joined the same way.
inline QList<QByteArray> splitInput(const uint8_t *data, size_t size, const QByteArray &separator,
                                    int maxParts) {
    const QByteArray all =
        QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    QList<QByteArray> parts;
    qsizetype from = 0;
    while (parts.size() < maxParts - 1) {
        const qsizetype at = all.indexOf(separator, from);
        if (at < 0)
            break;
        parts << all.mid(from, at - from);
        from = at + separator.size();
    }
    parts << all.mid(from);
    return parts;
}

// CRC-32 (zip polynomial), bitwise: for making small zip files, not for speed.
inline uint32_t crc32(const QByteArray &data) {
    uint32_t c = 0xFFFFFFFFu;
    for (const char ch : data) {
        c ^= uint8_t(ch);
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    }
    return c ^ 0xFFFFFFFFu;
}

} // namespace ts::fuzz
