#pragma once

// A saved vector index rewritten in an older layout, for the tests that an older file is refused
// and rebuilt (tests/index, tests/indexer).

#include "core/index/indexfileformat.h"

#include <QByteArray>
#include <QtEndian>

namespace ts::test {

// The file format version 2 wrote for the same header and payload: the fields up to the payload
// checksum, then the model key at byte 56 and the header checksum (no tuning fields).
inline QByteArray versionTwoFile(const indexfile::Header &h, const QByteArray &payload) {
    QByteArray out("TSVINDEX", 8);
    auto put = [&out](auto value) {
        char bytes[sizeof value];
        qToLittleEndian(value, bytes);
        out.append(bytes, sizeof value);
    };
    put(quint32(2));
    put(quint32(h.dimension));
    put(quint32(h.kind));
    put(quint32(h.modelKey.size()));
    put(qint64(h.count));
    put(quint64(h.fingerprint));
    put(quint64(h.payloadSize));
    put(quint64(h.payloadHash));
    out.append(h.modelKey);
    indexfile::StreamHash hash;
    hash.update(out.constData(), size_t(out.size()));
    put(quint64(hash.finish()));
    return out + payload;
}

} // namespace ts::test
