#pragma once

// Internal to core/index: the container around FAISS's serialisation in a saved VectorIndex.
//
// Layout (little-endian):
//   0  char[8] magic "TSVINDEX"     8  u32 format version     12 u32 dimension
//   16 u32 kind (0 flat, 1 IVF)     20 u32 model key bytes    24 i64 vector count
//   32 u64 id fingerprint           40 u64 payload bytes      48 u64 payload checksum
//   56 u32 tuned nprobe (0: none)   60 u32 flags (bit 0: exact search chosen by tuning)
//   64 i64 size the IVF cells were trained at               72 i64 size at the last tuning
//   80 model key (UTF-8)            then u64 checksum of all header bytes before it
//   then the payload: faiss::write_index output, followed by the owner table (version 2):
//   u64 n, then n x (i64 id, u64 owner tag) in id order. The payload checksum covers both.

#include "core/common/result.h"

#include <QByteArray>
#include <QString>
#include <QtGlobal>

#include <cstddef>
#include <cstdint>

namespace ts::indexfile {

// 2: owner tags (what each vector belongs to) stored and covered by the fingerprint.
// 3: the tuned nprobe, the sizes at training and tuning. An older file is refused as
// Unsupported (before its checksum is read, as its layout differs), so the library rebuilds it
// from its catalog, which also tunes it.
constexpr quint32 kFormatVersion = 3;
constexpr int kMaxModelKeyBytes = 4096;
constexpr qint64 kFixedHeaderBytes = 80;
constexpr qint64 kMinHeaderBytes = kFixedHeaderBytes + 8; // plus the checksum, empty model key
constexpr quint32 kFlagExactChosen = 1;
// Sizes at training/tuning above this are refused (no library comes near; keeps size * growth
// factor far from overflow).
constexpr qint64 kMaxRecordedSize = qint64(1) << 48;

enum class Kind : quint32 { Flat = 0, Ivf = 1 };

struct Header {
    quint32 dimension = 0;
    Kind kind = Kind::Flat;
    QByteArray modelKey;
    qint64 count = 0;
    quint64 fingerprint = 0;
    quint64 payloadSize = 0;
    quint64 payloadHash = 0;
    quint32 nprobe = 0;
    quint32 flags = 0;
    qint64 trainedAt = 0;
    qint64 tunedAt = 0;
};

QByteArray encodeHeader(const Header &header);

struct DecodedHeader {
    Header header;
    qint64 bytes = 0; // the header's length in the file (the payload starts there)
};

// Parses and checks the header at the start of `data` (`size` bytes). Fails with Unsupported for
// another format version, else Format, with a sentence saying what is wrong (no file name: the
// caller adds it). Checks the tuning fields against the kind (an nprobe or a training size only
// with IVF, the exact flag only with flat, sizes within 0..kMaxRecordedSize); the nprobe's upper
// bound (nlist) is the caller's to check once the payload is read.
Result<DecodedHeader> decodeHeader(const uchar *data, qint64 size);

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
