#include "core/index/indexfileformat.h"

#include <QtEndian>

#include <cstring>

namespace ts::indexfile {

namespace {

constexpr char kMagic[8] = {'T', 'S', 'V', 'I', 'N', 'D', 'E', 'X'};
constexpr quint64 kPrime1 = 0x9E3779B185EBCA87ull;
constexpr quint64 kPrime2 = 0xC2B2AE3D27D4EB4Full;

quint64 rotl(quint64 x, int r) {
    return (x << r) | (x >> (64 - r));
}

quint64 round(quint64 acc, quint64 input) {
    return rotl(acc + input * kPrime2, 31) * kPrime1;
}

quint64 load64(const unsigned char *p) {
    return qFromLittleEndian<quint64>(p);
}

template <typename T> void put(QByteArray &out, T value) {
    unsigned char buf[sizeof(T)];
    qToLittleEndian(value, buf);
    out.append(reinterpret_cast<const char *>(buf), sizeof(T));
}

quint64 hashBytes(const void *data, size_t size) {
    StreamHash h;
    h.update(data, size);
    return h.finish();
}

} // namespace

void StreamHash::update(const void *data, size_t size) {
    const auto *p = static_cast<const unsigned char *>(data);
    m_total += size;
    if (m_pendingSize > 0) {
        const size_t take = std::min(size, sizeof(m_pending) - m_pendingSize);
        std::memcpy(m_pending + m_pendingSize, p, take);
        m_pendingSize += take;
        p += take;
        size -= take;
        if (m_pendingSize < sizeof(m_pending))
            return;
        for (int i = 0; i < 4; ++i)
            m_lanes[i] = round(m_lanes[i], load64(m_pending + 8 * i));
        m_pendingSize = 0;
    }
    quint64 l0 = m_lanes[0], l1 = m_lanes[1], l2 = m_lanes[2], l3 = m_lanes[3];
    for (; size >= 32; p += 32, size -= 32) {
        l0 = round(l0, load64(p));
        l1 = round(l1, load64(p + 8));
        l2 = round(l2, load64(p + 16));
        l3 = round(l3, load64(p + 24));
    }
    m_lanes[0] = l0, m_lanes[1] = l1, m_lanes[2] = l2, m_lanes[3] = l3;
    std::memcpy(m_pending, p, size);
    m_pendingSize = size;
}

quint64 StreamHash::finish() const {
    quint64 h =
        rotl(m_lanes[0], 1) + rotl(m_lanes[1], 7) + rotl(m_lanes[2], 12) + rotl(m_lanes[3], 18);
    h ^= m_total * kPrime1;
    for (size_t i = 0; i < m_pendingSize; ++i)
        h = rotl(h ^ (m_pending[i] * kPrime2), 11) * kPrime1;
    h ^= h >> 33;
    h *= kPrime2;
    h ^= h >> 29;
    return h;
}

QByteArray encodeHeader(const Header &header) {
    QByteArray out;
    out.reserve(int(kFixedHeaderBytes + header.modelKey.size() + 8));
    out.append(kMagic, sizeof(kMagic));
    put<quint32>(out, kFormatVersion);
    put<quint32>(out, header.dimension);
    put<quint32>(out, quint32(header.kind));
    put<quint32>(out, quint32(header.modelKey.size()));
    put<qint64>(out, header.count);
    put<quint64>(out, header.fingerprint);
    put<quint64>(out, header.payloadSize);
    put<quint64>(out, header.payloadHash);
    put<quint32>(out, header.nprobe);
    put<quint32>(out, header.flags);
    put<qint64>(out, header.trainedAt);
    put<qint64>(out, header.tunedAt);
    out.append(header.modelKey);
    put<quint64>(out, hashBytes(out.constData(), size_t(out.size())));
    return out;
}

Result<DecodedHeader> decodeHeader(const uchar *data, qint64 size) {
    auto corrupt = [](const QString &why) { return Error(Error::Code::Format, why); };
    DecodedHeader decoded;
    Header &header = decoded.header;
    qint64 &headerBytes = decoded.bytes;
    if (size < kMinHeaderBytes)
        return corrupt(QStringLiteral("the file is truncated (%1 bytes; a header alone is %2)")
                           .arg(size)
                           .arg(kMinHeaderBytes));
    if (std::memcmp(data, kMagic, sizeof(kMagic)) != 0)
        return corrupt(QStringLiteral("it is not a TowerSearch vector index (wrong magic bytes)"));
    // Every version starts with the magic and the version; what follows may be laid out otherwise.
    const quint32 version = qFromLittleEndian<quint32>(data + 8);
    if (version != kFormatVersion)
        return Error(
            Error::Code::Unsupported,
            QStringLiteral("format version %1 is not supported (this program reads version %2)")
                .arg(version)
                .arg(kFormatVersion));
    const quint32 keyBytes = qFromLittleEndian<quint32>(data + 20);
    if (keyBytes > quint32(kMaxModelKeyBytes))
        return corrupt(
            QStringLiteral("the header is corrupt (a model key of %1 bytes)").arg(keyBytes));
    headerBytes = kFixedHeaderBytes + qint64(keyBytes) + 8;
    if (size < headerBytes)
        return corrupt(QStringLiteral("the file is truncated (%1 bytes; its header alone is %2)")
                           .arg(size)
                           .arg(headerBytes));
    if (hashBytes(data, size_t(headerBytes - 8)) !=
        qFromLittleEndian<quint64>(data + headerBytes - 8))
        return corrupt(QStringLiteral("the header is corrupt (checksum mismatch)"));
    header.dimension = qFromLittleEndian<quint32>(data + 12);
    const quint32 kind = qFromLittleEndian<quint32>(data + 16);
    if (kind > quint32(Kind::Ivf))
        return corrupt(QStringLiteral("the header names an unknown index kind %1").arg(kind));
    header.kind = Kind(kind);
    header.count = qFromLittleEndian<qint64>(data + 24);
    header.fingerprint = qFromLittleEndian<quint64>(data + 32);
    header.payloadSize = qFromLittleEndian<quint64>(data + 40);
    header.payloadHash = qFromLittleEndian<quint64>(data + 48);
    header.nprobe = qFromLittleEndian<quint32>(data + 56);
    header.flags = qFromLittleEndian<quint32>(data + 60);
    header.trainedAt = qFromLittleEndian<qint64>(data + 64);
    header.tunedAt = qFromLittleEndian<qint64>(data + 72);
    if (header.flags & ~kFlagExactChosen)
        return corrupt(
            QStringLiteral("the header has unknown flags 0x%1").arg(header.flags, 0, 16));
    for (const qint64 recorded : {header.trainedAt, header.tunedAt})
        if (recorded < 0 || recorded > kMaxRecordedSize)
            return corrupt(
                QStringLiteral("the header records an index size of %1 at training or tuning "
                               "(must be 0 to %2)")
                    .arg(recorded)
                    .arg(kMaxRecordedSize));
    const bool ivf = header.kind == Kind::Ivf;
    if (ivf ? (header.flags & kFlagExactChosen) || header.trainedAt < 1
            : header.nprobe != 0 || header.trainedAt != 0)
        return corrupt(
            QStringLiteral("the header's tuning does not fit a %1 index (nprobe %2, flags %3, "
                           "trained at %4 vectors)")
                .arg(ivf ? QStringLiteral("IVF") : QStringLiteral("flat"))
                .arg(header.nprobe)
                .arg(header.flags)
                .arg(header.trainedAt));
    header.modelKey =
        QByteArray(reinterpret_cast<const char *>(data + kFixedHeaderBytes), int(keyBytes));
    return decoded;
}

} // namespace ts::indexfile
