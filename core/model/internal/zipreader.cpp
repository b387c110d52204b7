#include "core/model/internal/zipreader.h"

#include <algorithm>
#include <vector>

namespace ts::internal {

namespace {

constexpr uint32_t kEndOfDirectorySignature = 0x06054b50u;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50u;
constexpr uint32_t kZip64EndOfDirectorySignature = 0x06064b50u;
constexpr uint32_t kDirectoryEntrySignature = 0x02014b50u;
constexpr uint32_t kLocalHeaderSignature = 0x04034b50u;
constexpr uint64_t kEndOfDirectorySize = 22;
constexpr uint64_t kMaxCommentSize = 65535;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndOfDirectorySize = 56;
constexpr uint64_t kDirectoryEntrySize = 46;
constexpr uint64_t kLocalHeaderSize = 30;

Error corrupt(const QString &message) {
    return Error(Error::Code::Format, message);
}

QString q(const std::string &s) {
    return QString::fromStdString(s);
}

uint16_t le16(const uint8_t *p) {
    return uint16_t(p[0] | (p[1] << 8));
}
uint32_t le32(const uint8_t *p) {
    return uint32_t(le16(p)) | (uint32_t(le16(p + 2)) << 16);
}
uint64_t le64(const uint8_t *p) {
    return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32);
}
const uint8_t *bytesOf(const QByteArray &b) {
    return reinterpret_cast<const uint8_t *>(b.constData());
}

Result<QByteArray> readAt(QFile &file, uint64_t offset, uint64_t size) {
    if (!file.seek(qint64(offset)))
        return corrupt(QStringLiteral("cannot seek to offset %1").arg(offset));
    QByteArray bytes = file.read(qint64(size));
    if (uint64_t(bytes.size()) != size)
        return corrupt(QStringLiteral("the file is truncated (reading %1 bytes at offset %2)")
                           .arg(size)
                           .arg(offset));
    return bytes;
}

// Where the central directory is, as the end record (or its zip64 counterpart) says.
struct DirectoryLocation {
    uint64_t entries = 0;
    uint64_t size = 0;
    uint64_t offset = 0;
};

// A zip64 locator right before the end record points to the zip64 end record, whose 64-bit
// fields replace the classic ones; without a locator, `classic` stands.
Result<DirectoryLocation> applyZip64EndRecord(QFile &file, uint64_t endRecordPos, uint64_t fileSize,
                                              DirectoryLocation classic) {
    if (endRecordPos < kZip64LocatorSize)
        return classic;
    const Result<QByteArray> locator =
        readAt(file, endRecordPos - kZip64LocatorSize, kZip64LocatorSize);
    if (!locator)
        return locator.error();
    if (le32(bytesOf(*locator)) != kZip64LocatorSignature)
        return classic;
    const uint64_t z64 = le64(bytesOf(*locator) + 8);
    if (z64 > fileSize || fileSize - z64 < kZip64EndOfDirectorySize)
        return corrupt(QStringLiteral("the zip64 directory record lies outside the file"));
    const Result<QByteArray> record = readAt(file, z64, kZip64EndOfDirectorySize);
    if (!record)
        return record.error();
    const uint8_t *r = bytesOf(*record);
    if (le32(r) != kZip64EndOfDirectorySignature)
        return corrupt(QStringLiteral("the zip64 directory record is corrupt"));
    return DirectoryLocation{le64(r + 32), le64(r + 40), le64(r + 48)};
}

// The end record sits in the last 22 bytes plus a comment of up to 64 KiB: scan back for it.
Result<DirectoryLocation> locateDirectory(QFile &file, uint64_t fileSize) {
    const uint64_t tailSize = std::min<uint64_t>(fileSize, kEndOfDirectorySize + kMaxCommentSize);
    const Result<QByteArray> tail = readAt(file, fileSize - tailSize, tailSize);
    if (!tail)
        return tail.error();
    const uint8_t *t = bytesOf(*tail);
    int64_t eocd = -1;
    for (int64_t i = int64_t(tailSize) - int64_t(kEndOfDirectorySize); i >= 0; --i)
        if (le32(t + i) == kEndOfDirectorySignature) {
            eocd = i;
            break;
        }
    if (eocd < 0)
        return corrupt(QStringLiteral(
            "the zip directory is missing (the file is truncated or not a zip archive)"));
    const DirectoryLocation classic{le16(t + eocd + 10), le32(t + eocd + 12), le32(t + eocd + 16)};
    Result<DirectoryLocation> location =
        applyZip64EndRecord(file, fileSize - tailSize + uint64_t(eocd), fileSize, classic);
    if (!location)
        return location;
    const DirectoryLocation &d = *location;
    if (d.offset > fileSize || d.size > fileSize - d.offset || d.entries > d.size / 46)
        return corrupt(QStringLiteral("the zip directory (%1 entries, %2 bytes at offset %3) does "
                                      "not fit in the %4-byte file")
                           .arg(d.entries)
                           .arg(d.size)
                           .arg(d.offset)
                           .arg(fileSize));
    return location;
}

// zip64: the 0xFFFFFFFF sizes and offset are in the extra field 0x0001, uncompressed size first.
void applyZip64Extra(const uint8_t *extra, uint64_t extraLen, ZipEntry &entry) {
    for (uint64_t xp = 0; xp + 4 <= extraLen;) {
        const uint16_t id = le16(extra + xp), len = le16(extra + xp + 2);
        if (xp + 4 + len > extraLen)
            break;
        if (id == 0x0001) {
            const uint64_t end = xp + 4 + len;
            uint64_t fp = xp + 4;
            if (entry.size == 0xFFFFFFFFu && fp + 8 <= end) {
                entry.size = le64(extra + fp);
                fp += 8;
            }
            if (entry.compressedSize == 0xFFFFFFFFu && fp + 8 <= end) {
                entry.compressedSize = le64(extra + fp);
                fp += 8;
            }
            if (entry.localHeaderOffset == 0xFFFFFFFFu && fp + 8 <= end)
                entry.localHeaderOffset = le64(extra + fp);
        }
        xp += 4 + len;
    }
}

Status checkEntrySizes(const std::string &name, const ZipEntry &entry, uint64_t fileSize) {
    if (entry.compressedSize > fileSize)
        return corrupt(QStringLiteral("zip entry '%1' claims %2 bytes, more than the file holds")
                           .arg(q(name))
                           .arg(entry.compressedSize));
    // Deflate cannot expand more than ~1032:1; a larger claim is corruption, not data.
    if ((entry.method == 0 && entry.size != entry.compressedSize) ||
        (entry.method != 0 && entry.size / 1032 > entry.compressedSize + 1))
        return corrupt(QStringLiteral("zip entry '%1' has inconsistent sizes").arg(q(name)));
    return Status::success();
}

// The entries of the directory bytes `cd`, with the prefix taken from the first one.
Result<ZipDirectory> parseDirectory(const QByteArray &cd, uint64_t entries, uint64_t fileSize) {
    const uint8_t *p = bytesOf(cd);
    const uint64_t n = uint64_t(cd.size());
    ZipDirectory dir;
    uint64_t pos = 0;
    for (uint64_t e = 0; e < entries; ++e) {
        if (n - pos < kDirectoryEntrySize || le32(p + pos) != kDirectoryEntrySignature)
            return corrupt(QStringLiteral("zip directory entry %1 is corrupt").arg(e));
        const uint8_t *h = p + pos;
        ZipEntry entry;
        entry.method = le16(h + 10);
        entry.crc = le32(h + 16);
        entry.compressedSize = le32(h + 20);
        entry.size = le32(h + 24);
        entry.localHeaderOffset = le32(h + 42);
        const uint64_t nameLen = le16(h + 28), extraLen = le16(h + 30), commentLen = le16(h + 32);
        if (n - pos - kDirectoryEntrySize < nameLen + extraLen + commentLen)
            return corrupt(QStringLiteral("zip directory entry %1 is corrupt").arg(e));
        std::string name(reinterpret_cast<const char *>(h + kDirectoryEntrySize), nameLen);
        applyZip64Extra(h + kDirectoryEntrySize + nameLen, extraLen, entry);
        if (const Status sizes = checkEntrySizes(name, entry, fileSize); !sizes)
            return sizes.error();
        if (e == 0) {
            const auto slash = name.find('/');
            dir.prefix = slash == std::string::npos ? std::string() : name.substr(0, slash + 1);
        }
        dir.entries.emplace(std::move(name), entry);
        pos += kDirectoryEntrySize + nameLen + extraLen + commentLen;
    }
    return dir;
}

// Each entry's local header and data must lie before the directory. miniz finds the data the same
// way: local header + its name and extra field.
Status locateEntryData(QFile &file, uint64_t directoryOffset, ZipDirectory &dir) {
    for (auto &[name, e] : dir.entries) {
        if (e.localHeaderOffset > directoryOffset ||
            directoryOffset - e.localHeaderOffset < kLocalHeaderSize)
            return corrupt(
                QStringLiteral("zip entry '%1' has its header outside the file's data area")
                    .arg(q(name)));
        const Result<QByteArray> local = readAt(file, e.localHeaderOffset, kLocalHeaderSize);
        if (!local)
            return local.error();
        const uint8_t *l = bytesOf(*local);
        if (le32(l) != kLocalHeaderSignature)
            return corrupt(
                QStringLiteral("zip entry '%1' points to offset %2, where there is no local header")
                    .arg(q(name))
                    .arg(e.localHeaderOffset));
        e.dataOffset = e.localHeaderOffset + kLocalHeaderSize + le16(l + 26) + le16(l + 28);
        if (e.dataOffset > directoryOffset || e.compressedSize > directoryOffset - e.dataOffset)
            return corrupt(
                QStringLiteral("zip entry '%1' (%2 bytes at offset %3) runs into the zip directory")
                    .arg(q(name))
                    .arg(e.compressedSize)
                    .arg(e.dataOffset));
    }
    return Status::success();
}

// No two entries may share bytes: overlapping entries are how zip bombs multiply one stored range
// (and torch.save never writes them).
Status checkNoOverlap(const ZipDirectory &dir) {
    struct Span {
        uint64_t begin, end;
        const std::string *name;
    };
    std::vector<Span> spans;
    spans.reserve(dir.entries.size());
    for (const auto &[name, e] : dir.entries)
        spans.push_back({e.localHeaderOffset, e.dataOffset + e.compressedSize, &name});
    std::sort(spans.begin(), spans.end(),
              [](const Span &a, const Span &b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans.size(); ++i)
        if (spans[i].begin < spans[i - 1].end)
            return corrupt(
                QStringLiteral("zip entries '%1' (bytes %2-%3) and '%4' (bytes %5-%6) overlap; "
                               "an archive whose entries "
                               "share data is a zip bomb, not a torch.save checkpoint")
                    .arg(q(*spans[i - 1].name))
                    .arg(spans[i - 1].begin)
                    .arg(spans[i - 1].end)
                    .arg(q(*spans[i].name))
                    .arg(spans[i].begin)
                    .arg(spans[i].end));
    return Status::success();
}

} // namespace

const ZipEntry *ZipDirectory::find(const std::string &name) const {
    const auto it = entries.find(prefix + name);
    return it == entries.end() ? nullptr : &it->second;
}

Result<ZipDirectory> readZipDirectory(QFile &file) {
    const uint64_t fileSize = uint64_t(file.size());
    const Result<DirectoryLocation> location = locateDirectory(file, fileSize);
    if (!location)
        return location.error();
    const Result<QByteArray> cd = readAt(file, location->offset, location->size);
    if (!cd)
        return cd.error();
    Result<ZipDirectory> dir = parseDirectory(*cd, location->entries, fileSize);
    if (!dir)
        return dir;
    if (const Status located = locateEntryData(file, location->offset, *dir); !located)
        return located.error();
    if (const Status separate = checkNoOverlap(*dir); !separate)
        return separate.error();
    return dir;
}

} // namespace ts::internal
