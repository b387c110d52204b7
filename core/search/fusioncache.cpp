#include "core/search/fusioncache.h"

#include "core/common/float16.h"

#include <QDataStream>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>

#include <algorithm>
#include <cstring>
#include <vector>

namespace ts {

namespace {

constexpr quint32 kMagic = 0x54534643; // "TSFC"
constexpr quint32 kVersion = 1;
constexpr int kMaxDims = 8;

qint64 bytesOf(const FloatTensor &t) {
    return qint64(t.data.size() * sizeof(float));
}

QString safeStamp(const QString &stamp) {
    QString s = stamp;
    for (QChar &c : s)
        if (!c.isLetterOrNumber() && c != QLatin1Char('-'))
            c = QLatin1Char('_');
    return s;
}

} // namespace

FusionCache::FusionCache(QString modelKey, Options options)
    : m_modelKey(std::move(modelKey)), m_options(std::move(options)) {
    if (m_options.diskBudgetBytes > 0 && !m_options.diskDirectory.isEmpty()) {
        const QString dir = QDir(m_options.diskDirectory).filePath(m_modelKey);
        QDir().mkpath(dir);
        for (const QFileInfo &fi : QDir(dir).entryInfoList({QStringLiteral("*.tsfc")}, QDir::Files))
            m_diskBytes += fi.size();
        enforceDiskBudget();
    }
}

FusionCache::~FusionCache() = default;

QString FusionCache::diskPath(qint64 photoId, const QString &stamp) const {
    return QDir(m_options.diskDirectory)
        .filePath(
            QStringLiteral("%1/%2-%3.tsfc").arg(m_modelKey).arg(photoId).arg(safeStamp(stamp)));
}

std::optional<FloatTensor> FusionCache::readDisk(const QString &path) const {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return std::nullopt;
    QDataStream in(&f);
    in.setByteOrder(QDataStream::LittleEndian);
    quint32 magic = 0, version = 0, dims = 0;
    in >> magic >> version >> dims;
    if (magic != kMagic || version != kVersion || dims == 0 || dims > kMaxDims)
        return std::nullopt;
    FloatTensor t;
    qint64 count = 1;
    for (quint32 i = 0; i < dims; ++i) {
        qint64 d = 0;
        in >> d;
        if (d <= 0 || d > (1 << 24))
            return std::nullopt;
        t.shape.push_back(d);
        count *= d;
    }
    if (in.status() != QDataStream::Ok || count > (qint64(1) << 32) ||
        f.size() - f.pos() != count * 2)
        return std::nullopt; // truncated or foreign: treat as a miss
    const QByteArray raw = f.read(count * 2);
    t.data.resize(size_t(count));
    const auto *h = reinterpret_cast<const uchar *>(raw.constData());
    for (qint64 i = 0; i < count; ++i)
        t.data[size_t(i)] = halfToFloat(uint16_t(h[2 * i] | (h[2 * i + 1] << 8)));
    return t;
}

void FusionCache::writeDisk(const QString &path, const FloatTensor &t) {
    QByteArray bytes;
    {
        QDataStream out(&bytes, QIODevice::WriteOnly);
        out.setByteOrder(QDataStream::LittleEndian);
        out << kMagic << kVersion << quint32(t.shape.size());
        for (int64_t d : t.shape)
            out << qint64(d);
    }
    const qsizetype header = bytes.size();
    bytes.resize(header + qsizetype(t.data.size()) * 2);
    auto *h = reinterpret_cast<uchar *>(bytes.data() + header);
    for (size_t i = 0; i < t.data.size(); ++i) {
        const uint16_t v = floatToHalf(t.data[i]);
        h[2 * i] = uchar(v & 0xff);
        h[2 * i + 1] = uchar(v >> 8);
    }
    QSaveFile f(path);
    if (f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size() && f.commit())
        m_diskBytes += bytes.size();
}

void FusionCache::enforceDiskBudget() {
    if (m_diskBytes <= m_options.diskBudgetBytes)
        return;
    QFileInfoList files =
        QDir(QDir(m_options.diskDirectory).filePath(m_modelKey))
            .entryInfoList({QStringLiteral("*.tsfc")}, QDir::Files, QDir::Time | QDir::Reversed);
    for (const QFileInfo &fi : files) { // oldest first
        if (m_diskBytes <= m_options.diskBudgetBytes)
            break;
        const qint64 size =
            fi.size(); // read before removing: QFileInfo re-stats a vanished file as 0
        if (QFile::remove(fi.absoluteFilePath()))
            m_diskBytes -= size;
    }
}

void FusionCache::insertMemory(qint64 photoId, const QString &stamp, FloatTensor features) {
    if (auto it = m_byId.find(photoId); it != m_byId.end()) {
        m_memoryBytes -= bytesOf(it->second->features);
        m_lru.erase(it->second);
        m_byId.erase(it);
    }
    const qint64 size = bytesOf(features);
    if (size > m_options.memoryBudgetBytes)
        return;
    m_lru.push_front(Entry{photoId, stamp, std::move(features)});
    m_byId[photoId] = m_lru.begin();
    m_memoryBytes += size;
    while (m_memoryBytes > m_options.memoryBudgetBytes && !m_lru.empty()) {
        m_memoryBytes -= bytesOf(m_lru.back().features);
        m_byId.erase(m_lru.back().id);
        m_lru.pop_back();
    }
}

std::optional<FloatTensor> FusionCache::get(qint64 photoId, const QString &stamp) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_byId.find(photoId); it != m_byId.end() && it->second->stamp == stamp) {
        m_lru.splice(m_lru.begin(), m_lru, it->second);
        ++m_stats.memoryHits;
        return m_lru.front().features;
    }
    if (m_options.diskBudgetBytes > 0) {
        if (auto t = readDisk(diskPath(photoId, stamp))) {
            ++m_stats.diskHits;
            insertMemory(photoId, stamp, *t);
            return t;
        }
    }
    ++m_stats.misses;
    return std::nullopt;
}

void FusionCache::put(qint64 photoId, const QString &stamp, const FloatTensor &features) {
    std::lock_guard lock(m_mutex);
    insertMemory(photoId, stamp, features);
    if (m_options.diskBudgetBytes > 0 && !m_options.diskDirectory.isEmpty()) {
        const QString path = diskPath(photoId, stamp);
        if (!QFileInfo::exists(path)) {
            writeDisk(path, features);
            enforceDiskBudget();
        }
    }
}

void FusionCache::remove(qint64 photoId) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_byId.find(photoId); it != m_byId.end()) {
        m_memoryBytes -= bytesOf(it->second->features);
        m_lru.erase(it->second);
        m_byId.erase(it);
    }
    if (m_options.diskBudgetBytes > 0) {
        const QString dir = QDir(m_options.diskDirectory).filePath(m_modelKey);
        for (const QFileInfo &fi :
             QDir(dir).entryInfoList({QStringLiteral("%1-*.tsfc").arg(photoId)}, QDir::Files)) {
            const qint64 size = fi.size();
            if (QFile::remove(fi.absoluteFilePath()))
                m_diskBytes -= size;
        }
    }
}

FusionCache::Stats FusionCache::stats() const {
    std::lock_guard lock(m_mutex);
    Stats s = m_stats;
    s.memoryBytes = m_memoryBytes;
    s.diskBytes = m_diskBytes;
    return s;
}

} // namespace ts
