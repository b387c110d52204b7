#pragma once

// Internal to core/index: the container around FAISS's serialisation in a saved VectorIndex.
//
// Layout (little-endian):
//   0  char[8] magic "TSVINDEX"     8  u32 format version     12 u32 dimension
//   16 u32 kind (0 flat, 1 IVF)     20 u32 model key bytes    24 i64 vector count
//   32 u64 id fingerprint           40 u64 payload bytes      48 u64 payload checksum
//   56 model key (UTF-8)            then u64 checksum of all header bytes before it
//   then the payload: faiss::write_index output, followed by the owner table (version 2):
//   u64 n, then n x (i64 id, u64 owner tag) in id order. The payload checksum covers both.

#include <QByteArray>
#include <QString>
#include <QtGlobal>

#include <cstddef>
#include <cstdint>

namespace ts::indexfile {

// 2: owner tags (what each vector belongs to) stored and covered by the fingerprint. A version 1
// file is refused as Unsupported, so the library rebuilds it from its catalog.
constexpr quint32 kFormatVersion = 2;
constexpr int kMaxModelKeyBytes = 4096;
constexpr qint64 kMinHeaderBytes = 64; // fixed fields plus the header checksum, empty model key

enum class Kind : quint32 { Flat = 0, Ivf = 1 };

struct Header {
    quint32 dimension = 0;
    Kind kind = Kind::Flat;
    QByteArray modelKey;
    qint64 count = 0;
    quint64 fingerprint = 0;
    quint64 payloadSize = 0;
    quint64 payloadHash = 0;
};

QByteArray encodeHeader(const Header &header);

// Parses and checks the header at the start of `data`. Returns an empty string on success (and
// sets `headerBytes`), else why it is unusable; an unknown version yields a message starting
// with "format version".
QString decodeHeader(const uchar *data, qint64 size, Header &header, qint64 &headerBytes);

// Mixes a photo id into 64 well-spread bits (splitmix64's finaliser); summed for fingerprints.
inline quint64 mixId(qint64 id) {
    quint64 z = quint64(id) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// One fingerprint term: the id bound to its owner tag (a swap of tags between two ids changes the
// sum). Tag 0 (no owner given) is the id alone.
inline quint64 mixEntry(qint64 id, quint64 tag) {
    return tag == 0 ? mixId(id) : mixId(qint64(quint64(id) ^ mixId(qint64(tag))));
}

// A fast streaming 64-bit checksum (four independent multiply-rotate lanes over 32-byte stripes,
// in the style of xxHash64) to detect truncated or damaged files; not a cryptographic hash.
// The result does not depend on how the input is split across update() calls.
class StreamHash {
public:
    void update(const void *data, size_t size);
    quint64 finish() const;

private:
    quint64 m_lanes[4] = {0x9E3779B185EBCA87ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                          0x85EBCA77C2B2AE63ull};
    unsigned char m_pending[32] = {};
    size_t m_pendingSize = 0;
    quint64 m_total = 0;
};

} // namespace ts::indexfile
