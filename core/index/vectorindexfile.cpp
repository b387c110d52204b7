#include "core/index/faisspayload.h"
#include "core/index/vectorindeximpl.h"

#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QtEndian>

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace ts {

using namespace internal;

namespace {

// Streams FAISS's serialisation into the save file, hashing it on the way.
struct SaveFileWriter : faiss::IOWriter {
    QSaveFile *file = nullptr;
    indexfile::StreamHash hash;
    quint64 bytes = 0;

    size_t operator()(const void *ptr, size_t size, size_t nitems) override {
        const qint64 total = qint64(size * nitems);
        if (total > 0 && file->write(static_cast<const char *>(ptr), total) != total)
            return 0;
        hash.update(ptr, size_t(total));
        bytes += quint64(total);
        return nitems;
    }
};

// Lets FAISS read from the memory-mapped file (already verified by checksum).
struct MemoryReader : faiss::IOReader {
    const uchar *data = nullptr;
    size_t size = 0;
    size_t pos = 0;

    size_t operator()(void *ptr, size_t itemSize, size_t nitems) override {
        if (itemSize == 0)
            return 0;
        nitems = std::min(nitems, (size - pos) / itemSize);
        if (nitems == 0) // FAISS asks for 0 items of an empty vector with ptr == nullptr
            return 0;
        std::memcpy(ptr, data + pos, itemSize * nitems);
        pos += itemSize * nitems;
        return nitems;
    }
};

} // namespace

Status VectorIndex::save(const QString &path) const {
    const QString where = QStringLiteral("saving vector index %1").arg(path);
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot open for writing: %2").arg(where, file.errorString()));

    auto lock = d->readLock();
    indexfile::Header header;
    header.dimension = quint32(d->dim);
    header.kind = d->state.ivf ? indexfile::Kind::Ivf : indexfile::Kind::Flat;
    header.modelKey = d->modelKey.toUtf8();
    header.count = d->state.size();
    header.fingerprint = d->state.fingerprint;
    header.nprobe = d->state.ivf ? quint32(std::max(0, d->state.tuning.nprobe)) : 0;
    header.flags = !d->state.ivf && d->state.tuning.exact ? indexfile::kFlagExactChosen : 0;
    header.trainedAt = d->state.ivf ? std::max<qint64>(1, d->state.trainedAt) : 0;
    header.tunedAt = d->state.tuning.atSize;
    const QByteArray placeholder = indexfile::encodeHeader(header);
    if (file.write(placeholder) != placeholder.size())
        return Error(Error::Code::Io, QStringLiteral("%1: %2").arg(where, file.errorString()));

    SaveFileWriter writer;
    writer.file = &file;
    try {
        faiss::write_index(d->state.index.get(), &writer);
    } catch (const std::exception &e) {
        file.cancelWriting();
        const QString reason =
            file.error() != QFileDevice::NoError ? file.errorString() : QString::fromUtf8(e.what());
        return Error(Error::Code::Io, QStringLiteral("%1: writing failed: %2").arg(where, reason));
    }
    // The owner table, in id order (a file's bytes depend only on its contents).
    std::vector<std::pair<qint64, quint64>> owners(d->state.ids.begin(), d->state.ids.end());
    lock.unlock();
    std::sort(owners.begin(), owners.end());
    QByteArray table;
    table.reserve(qsizetype(8 + owners.size() * 16));
    auto put64 = [&table](quint64 v) {
        char b[8];
        qToLittleEndian(v, b);
        table.append(b, 8);
    };
    put64(quint64(owners.size()));
    for (const auto &[id, tag] : owners) {
        put64(quint64(id));
        put64(tag);
    }
    if (writer(table.constData(), 1, size_t(table.size())) != size_t(table.size())) {
        file.cancelWriting();
        return Error(Error::Code::Io,
                     QStringLiteral("%1: writing failed: %2").arg(where, file.errorString()));
    }

    header.payloadSize = writer.bytes;
    header.payloadHash = writer.hash.finish();
    const QByteArray final = indexfile::encodeHeader(header);
    if (!file.seek(0) || file.write(final) != final.size() || !file.commit())
        return Error(Error::Code::Io,
                     QStringLiteral("%1: writing failed: %2").arg(where, file.errorString()));
    return {};
}

namespace {

Error loadError(const QString &path, Error::Code code, const QString &why) {
    return Error(code, QStringLiteral("loading vector index %1: %2").arg(path, why));
}

// A saved index file, mapped, whose header and checksums were verified; what it holds is not read
// yet.
struct VerifiedFile {
    const uchar *mapped = nullptr;
    indexfile::Header header;
    qint64 headerBytes = 0;
    quint64 payloadBytes = 0; // FAISS's bytes and the owner table
    quint64 faissBytes = 0;   // at most this many are FAISS's (the owner table follows)
};

// Maps `file` and checks its header (model, dimension), its payload checksum and the shape of
// FAISS's bytes. The checksum only catches damage, not a crafted file: FAISS's reader recurses
// and allocates as the file says, so it gets only what has exactly the shape we write.
Result<VerifiedFile> mapAndVerify(QFile &file, const QString &path, const QString &expectedModelKey,
                                  int dimension) {
    auto fail = [&](Error::Code code, const QString &why) { return loadError(path, code, why); };
    const qint64 fileSize = file.size();
    if (fileSize < indexfile::kMinHeaderBytes)
        return fail(Error::Code::Format,
                    QStringLiteral("the file is truncated (%1 bytes; a header alone is %2)")
                        .arg(fileSize)
                        .arg(indexfile::kMinHeaderBytes));
    VerifiedFile v;
    v.mapped = file.map(0, fileSize);
    if (!v.mapped)
        return fail(Error::Code::Io, QStringLiteral("cannot map it: %1").arg(file.errorString()));
    auto decoded = indexfile::decodeHeader(v.mapped, fileSize);
    if (!decoded)
        return fail(decoded.error().code, decoded.error().message);
    v.header = decoded->header;
    v.headerBytes = decoded->bytes;
    const indexfile::Header &header = v.header;
    const QString storedKey = QString::fromUtf8(header.modelKey);
    if (storedKey != expectedModelKey)
        return fail(Error::Code::Unsupported,
                    QStringLiteral("it was built for model \"%1\", not \"%2\"")
                        .arg(storedKey, expectedModelKey));
    if (int(header.dimension) != dimension)
        return fail(Error::Code::Unsupported, QStringLiteral("it holds %1-dimensional vectors, "
                                                             "expected %2")
                                                  .arg(header.dimension)
                                                  .arg(dimension));
    v.payloadBytes = quint64(fileSize - v.headerBytes);
    if (header.payloadSize != v.payloadBytes)
        return fail(Error::Code::Format,
                    QStringLiteral("the file is truncated or has trailing data (%1 payload bytes, "
                                   "the header says %2)")
                        .arg(v.payloadBytes)
                        .arg(header.payloadSize));
    indexfile::StreamHash hash;
    hash.update(v.mapped + v.headerBytes, size_t(v.payloadBytes));
    if (hash.finish() != header.payloadHash)
        return fail(Error::Code::Format, QStringLiteral("the file is corrupt (payload checksum "
                                                        "mismatch)"));
    // The payload is FAISS's bytes, then the owner table of `count` entries (u64 n, n x 16 bytes).
    if (header.count < 0 ||
        quint64(header.count) > (v.payloadBytes - std::min<quint64>(v.payloadBytes, 8)) / 16)
        return fail(Error::Code::Format, QStringLiteral("its owner table is missing or truncated"));
    v.faissBytes = v.payloadBytes - (8 + quint64(header.count) * 16);
    if (Status shape = indexfile::checkFaissPayload(v.mapped + v.headerBytes, v.faissBytes,
                                                    header.kind, header.dimension, header.count);
        !shape)
        return fail(Error::Code::Format, shape.error().message);
    return v;
}

// The owner table at `table` (`left` bytes up to the end of the file): u64 n, n x (i64 id, u64
// tag). nullopt when it does not fill the bytes exactly.
std::optional<std::unordered_map<qint64, quint64>> readOwnerTable(const uchar *table,
                                                                  quint64 left) {
    const quint64 n = left >= 8 ? qFromLittleEndian<quint64>(table) : 0;
    if (left < 8 || n > (left - 8) / 16 || left != 8 + n * 16)
        return std::nullopt;
    std::unordered_map<qint64, quint64> owners;
    owners.reserve(size_t(n));
    for (quint64 i = 0; i < n; ++i)
        owners.emplace(qFromLittleEndian<qint64>(table + 8 + i * 16),
                       qFromLittleEndian<quint64>(table + 16 + i * 16));
    return owners;
}

// Whether the FAISS index read from a file has the shape its header announces (Format when not).
Status checkShape(const State &s, const indexfile::Header &header, int dimension) {
    const bool flatOk = s.flat && dynamic_cast<const faiss::IndexFlatIP *>(s.flat->index) &&
                        header.kind == indexfile::Kind::Flat;
    const bool ivfOk = s.ivf && s.ivf->direct_map.type == faiss::DirectMap::Hashtable &&
                       header.kind == indexfile::Kind::Ivf;
    if ((!flatOk && !ivfOk) || s.index->metric_type != faiss::METRIC_INNER_PRODUCT ||
        s.index->d != dimension || s.index->ntotal != header.count)
        return Error(Error::Code::Format,
                     QStringLiteral("its FAISS index does not match its header (type, metric, "
                                    "dimension or count)"));
    // The stored tuning: an nprobe above the cells there are is a damaged or crafted file.
    if (s.ivf && header.nprobe > s.ivf->nlist)
        return Error(Error::Code::Format,
                     QStringLiteral("its tuned nprobe %1 exceeds its %2 IVF cells")
                         .arg(header.nprobe)
                         .arg(s.ivf->nlist));
    return {};
}

// Gives every id of the FAISS index its owner tag from the file's table, and checks the ids
// against the header's count and fingerprint (Format when they do not match).
Status restoreOwners(State &s, const std::unordered_map<qint64, quint64> &owners,
                     const indexfile::Header &header) {
    const std::vector<qint64> ids = collectIds(s);
    std::vector<quint64> tags;
    tags.reserve(ids.size());
    for (qint64 id : ids) {
        const auto it = owners.find(id);
        if (it == owners.end())
            return Error(Error::Code::Format,
                         QStringLiteral("its owner table lacks id %1").arg(id));
        tags.push_back(it->second);
        s.ids.emplace(id, it->second);
    }
    s.fingerprint = VectorIndex::fingerprintOf(ids, tags);
    if (s.size() != header.count || qint64(owners.size()) != header.count ||
        s.fingerprint != header.fingerprint)
        return Error(Error::Code::Format,
                     QStringLiteral("its ids do not match its header (duplicates or a wrong "
                                    "fingerprint)"));
    return {};
}

} // namespace

Result<VectorIndex> VectorIndex::load(const QString &path, const QString &expectedModelKey,
                                      const VectorIndexOptions &options) {
    auto fail = [&](Error::Code code, const QString &why) { return loadError(path, code, why); };
    QFileInfo info(path);
    if (!info.exists())
        return fail(Error::Code::NotFound, QStringLiteral("the file does not exist"));
    QFile file(path);
    if (!info.isFile() || !file.open(QIODevice::ReadOnly))
        return fail(Error::Code::Io, QStringLiteral("cannot open it: %1").arg(file.errorString()));
    auto verified = mapAndVerify(file, path, expectedModelKey, options.dimension);
    if (!verified)
        return verified.error();
    const VerifiedFile &v = *verified;

    auto created = create(options, expectedModelKey);
    if (!created)
        return created.error().withContext(QStringLiteral("loading vector index %1").arg(path));
    VectorIndex index = std::move(created.value());
    State &s = index.d->state;
    size_t faissBytes = 0;
    try {
        MemoryReader reader;
        reader.data = v.mapped + v.headerBytes;
        reader.size = size_t(v.faissBytes);
        s.index.reset(faiss::read_index(&reader));
        faissBytes = reader.pos;
    } catch (const std::exception &e) {
        return fail(Error::Code::Format,
                    QStringLiteral("FAISS cannot read it: %1").arg(QString::fromUtf8(e.what())));
    }
    const auto owners =
        readOwnerTable(v.mapped + v.headerBytes + faissBytes, v.payloadBytes - quint64(faissBytes));
    file.unmap(const_cast<uchar *>(v.mapped));
    if (!owners)
        return fail(Error::Code::Format, QStringLiteral("its owner table is missing or truncated"));
    s.flat = dynamic_cast<faiss::IndexIDMap2 *>(s.index.get());
    s.ivf = dynamic_cast<faiss::IndexIVFFlat *>(s.index.get());
    if (Status shape = checkShape(s, v.header, options.dimension); !shape)
        return fail(Error::Code::Format, shape.error().message);
    s.tuning.atSize = v.header.tunedAt;
    s.tuning.nprobe = int(v.header.nprobe);
    s.tuning.exact = (v.header.flags & indexfile::kFlagExactChosen) != 0;
    if (s.ivf) {
        s.trainedAt = v.header.trainedAt;
        s.ivf->nprobe = size_t(index.d->chooseNprobe(int(s.ivf->nlist), s.tuning));
    }
    if (Status owned = restoreOwners(s, *owners, v.header); !owned)
        return fail(Error::Code::Format, owned.error().message);
    return index;
}

} // namespace ts
