// Fuzz target: a saved vector index file (core/index): our header, then FAISS's serialisation.
// The header's checksums would stop almost every mutation before FAISS, so inputs that carry the
// current format version get their payload size and both checksums recomputed here (the fields a
// user's damaged or hostile file controls all stay as the fuzzer wrote them); other inputs are
// loaded as they are. A loaded index must answer a search.

#include "core/index/indexfileformat.h"
#include "core/index/vectorindex.h"
#include "fuzzinput.h"

#include <QtEndian>

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace {
constexpr qint64 kFixedBytes = ts::indexfile::kFixedHeaderBytes;
constexpr int kMaxFuzzDimension = 4096;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    QByteArray file(reinterpret_cast<const char *>(data), qsizetype(size));
    int dimension = 8;
    QString modelKey = QStringLiteral("fuzz-model");
    if (qint64(size) >= ts::indexfile::kMinHeaderBytes && file.startsWith("TSVINDEX") &&
        qFromLittleEndian<quint32>(data + 8) == ts::indexfile::kFormatVersion) {
        ts::indexfile::Header h;
        h.dimension = qFromLittleEndian<quint32>(data + 12);
        h.kind = ts::indexfile::Kind(qFromLittleEndian<quint32>(data + 16) & 1);
        const qint64 keyBytes =
            std::min<qint64>({qFromLittleEndian<quint32>(data + 20),
                              ts::indexfile::kMaxModelKeyBytes, qint64(size) - kFixedBytes - 8});
        h.count = qFromLittleEndian<qint64>(data + 24);
        h.fingerprint = qFromLittleEndian<quint64>(data + 32);
        h.nprobe = qFromLittleEndian<quint32>(data + 56);
        h.flags = qFromLittleEndian<quint32>(data + 60);
        h.trainedAt = qFromLittleEndian<qint64>(data + 64);
        h.tunedAt = qFromLittleEndian<qint64>(data + 72);
        h.modelKey = file.mid(kFixedBytes, keyBytes);
        const QByteArray payload = file.mid(kFixedBytes + keyBytes + 8);
        h.payloadSize = quint64(payload.size());
        ts::indexfile::StreamHash hash;
        hash.update(payload.constData(), size_t(payload.size()));
        h.payloadHash = hash.finish();
        file = ts::indexfile::encodeHeader(h) + payload;
        modelKey = QString::fromUtf8(h.modelKey);
        if (h.dimension >= 1 && h.dimension <= quint32(kMaxFuzzDimension))
            dimension = int(h.dimension);
    }

    const ts::fuzz::MemoryFile memory(reinterpret_cast<const uint8_t *>(file.constData()),
                                      size_t(file.size()));
    ts::VectorIndexOptions options;
    options.dimension = dimension;
    auto index = ts::VectorIndex::load(memory.path(), modelKey, options);
    if (!index) {
        if (index.error().message.isEmpty())
            std::abort();
        return 0;
    }
    if (index->dimension() != dimension || index->size() < 0)
        std::abort();
    if (index->isApproximate() && (index->nprobe() < 1 || index->nprobe() > index->nlist()))
        std::abort(); // a stored nprobe must be refused or fit the cells
    std::vector<float> query(size_t(dimension), 0.0f);
    query[0] = 1.0f;
    const auto hits = index->search(query.data(), 5);
    if (!hits)
        std::abort();
    for (const ts::SearchHit &hit : *hits)
        if (!index->contains(hit.id))
            std::abort();
    return 0;
}
