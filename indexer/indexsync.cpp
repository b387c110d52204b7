#include "indexer/indexsync.h"

#include "core/common/jsonfile.h"
#include "core/index/vectorindex.h"
#include "indexer/catalog.h"

#include <QFileInfo>
#include <QSaveFile>

#include <limits>
#include <unordered_set>
#include <vector>

namespace ts {

namespace {

// Vectors added to the index per call while streaming (2 MB at 512-d): bounded memory beside
// the index, few enough calls that the index's own per-call cost does not show.
constexpr size_t kBatch = 4096;
constexpr qint64 kMaxRecordBytes = 4096;
constexpr char kRecordMagic[] = "TSSYNC 1";

struct SyncRecord {
    QString catalogId;
    qint64 throughSeq = 0;
    quint64 fingerprint = 0;
};

// nullopt when missing or not a record this version wrote (the caller then checks the index).
std::optional<SyncRecord> readRecord(const QString &indexPath) {
    const QString path = syncRecordPath(indexPath);
    if (!QFileInfo::exists(path))
        return std::nullopt;
    auto bytes = readFileBytes(path, kMaxRecordBytes);
    if (!bytes)
        return std::nullopt;
    const QList<QByteArray> lines = bytes->split('\n');
    if (lines.size() < 4 || lines[0] != kRecordMagic)
        return std::nullopt;
    bool okSeq = false, okFp = false;
    SyncRecord r;
    r.catalogId = QString::fromUtf8(lines[1]);
    r.throughSeq = lines[2].toLongLong(&okSeq);
    r.fingerprint = lines[3].toULongLong(&okFp, 16);
    if (!okSeq || !okFp || r.catalogId.isEmpty() || r.throughSeq < 0)
        return std::nullopt;
    return r;
}

// Adds vectors in batches; removals are applied at once (there are few).
class IndexFeeder {
public:
    IndexFeeder(VectorIndex &index, bool skipUnchanged)
        : m_index(index), m_skipUnchanged(skipUnchanged) {}

    void put(qint64 id, quint64 tag, const float *v, int n) {
        if (!m_status)
            return;
        if (n != m_index.dimension())
            return; // a model with the same key but another shape: never served
        // The local indexer put it there already (or an earlier sync): the same content has the
        // same vector, so only the read was needed.
        if (m_skipUnchanged && tag != 0 && m_index.contains(id) && m_index.tag(id) == tag)
            return;
        if (m_ids.empty() && added == 0)
            firstId = id;
        m_ids.push_back(id);
        m_tags.push_back(tag);
        m_vectors.insert(m_vectors.end(), v, v + n);
        if (m_ids.size() >= kBatch)
            flush();
    }
    void remove(qint64 id) {
        if (m_index.contains(id))
            m_removals.push_back(id);
    }
    Status finish() {
        flush();
        if (m_status && !m_removals.empty()) {
            m_status = m_index.remove(m_removals);
            if (m_status)
                removed += qint64(m_removals.size());
        }
        return m_status;
    }
    qint64 added = 0, removed = 0;
    qint64 firstId = 0; // the first id put (building: the vector written again to train)

private:
    void flush() {
        if (m_ids.empty() || !m_status)
            return;
        m_status = m_index.add(m_ids, m_vectors, m_tags);
        if (m_status)
            added += qint64(m_ids.size());
        m_ids.clear();
        m_tags.clear();
        m_vectors.clear();
    }
    VectorIndex &m_index;
    bool m_skipUnchanged;
    std::vector<qint64> m_ids;
    std::vector<quint64> m_tags;
    std::vector<float> m_vectors;
    std::vector<qint64> m_removals;
    Status m_status;
};

} // namespace

QString syncRecordPath(const QString &indexPath) {
    return indexPath + QStringLiteral(".sync");
}

Result<SyncedIndex> buildIndexFromCatalog(const Catalog &catalog, const QString &indexPath,
                                          const QString &modelKey, int dimension) {
    VectorIndexOptions options;
    options.dimension = dimension;
    // Fed in batches, an index with the usual options would train its IVF cells at every step
    // up (20,000, 40,000, 80,000, ...: k-means, nprobe tuning and a copy of every vector each
    // time). Built flat (appends only), it is trained once below, on every vector.
    VectorIndexOptions flat = options;
    flat.approximateThreshold = std::numeric_limits<qint64>::max() / 4;
    auto created = VectorIndex::create(flat, modelKey);
    if (!created)
        return created.error();
    SyncedIndex out;
    out.index = std::make_shared<VectorIndex>(std::move(*created));
    out.catalogId = catalog.catalogId();
    out.summary.rebuilt = true;
    // Read before the vectors: every change up to it is in what the scan sees; later ones may be
    // too, and applying them again is harmless.
    auto seq = catalog.currentChangeSeq();
    if (!seq)
        return seq.error();
    out.summary.throughSeq = *seq;
    IndexFeeder feeder(*out.index, false);
    Status read =
        catalog.forEachEmbedding(modelKey, [&](qint64 id, quint64 tag, const float *v, int n) {
            ++out.summary.rowsRead;
            feeder.put(id, tag, v, n);
        });
    if (!read)
        return read.error();
    if (Status fed = feeder.finish(); !fed)
        return fed.error().withContext(
            QStringLiteral("building the vector index from %1").arg(catalog.path()));
    out.summary.added = feeder.added;
    if (out.index->size() <= options.approximateThreshold)
        return out; // exact at this size with the usual options too
    // The options live with the object: saved and loaded with the usual ones, the index turns
    // approximate (one training, one tuning) at its next change; the first vector written again
    // is that change. Any failure here leaves the flat index, which serves exact answers.
    if (Status saved = out.index->save(indexPath); !saved) {
        qWarning("%s", qPrintable(saved.error().message));
        return out;
    }
    auto loaded = VectorIndex::load(indexPath, modelKey, options);
    if (!loaded) {
        qWarning("%s", qPrintable(loaded.error().message));
        return out;
    }
    auto index = std::make_shared<VectorIndex>(std::move(*loaded));
    const qint64 first = feeder.firstId;
    if (Status trained = index->add({first}, index->vector(first), {index->tag(first)}); !trained) {
        qWarning("%s", qPrintable(trained.error().message));
        return out;
    }
    out.index = std::move(index);
    return out;
}

Result<IndexSyncSummary> applyCatalogChanges(const Catalog &catalog, VectorIndex &index,
                                             qint64 since) {
    IndexSyncSummary summary;
    IndexFeeder feeder(index, true);
    // Removals wait until every upsert is in: the stream names each photo once, so the order
    // between them does not matter, and removing last keeps the batches whole.
    auto through = catalog.changesSince(
        since, index.modelKey(),
        [&](qint64 id, quint64 tag, const float *v, int n) {
            if (v)
                feeder.put(id, tag, v, n);
            else
                feeder.remove(id);
        },
        &summary.rowsRead);
    if (!through)
        return through.error();
    if (Status fed = feeder.finish(); !fed)
        return fed.error().withContext(
            QStringLiteral("applying the changes of %1 to the vector index").arg(catalog.path()));
    summary.throughSeq = *through;
    summary.added = feeder.added;
    summary.removed = feeder.removed;
    return summary;
}

Status saveSyncedIndex(const VectorIndex &index, const QString &indexPath, const QString &catalogId,
                       qint64 throughSeq, bool indexChanged) {
    if (indexChanged)
        if (Status saved = index.save(indexPath); !saved)
            return saved;
    // After the index: a record is never ahead of the file it describes (its fingerprint ties
    // it to that file's content).
    QSaveFile record(syncRecordPath(indexPath));
    const QByteArray text = QByteArray(kRecordMagic) + '\n' + catalogId.toUtf8() + '\n' +
                            QByteArray::number(throughSeq) + '\n' +
                            QByteArray::number(index.idFingerprint(), 16) + '\n';
    if (!record.open(QIODevice::WriteOnly) || record.write(text) != text.size() || !record.commit())
        return Error(
            Error::Code::Io,
            QStringLiteral("cannot write %1: %2").arg(record.fileName(), record.errorString()));
    return {};
}

Result<SyncedIndex> openSyncedIndex(const Catalog &catalog, const QString &indexPath,
                                    const QString &modelKey, int dimension) {
    const QString catalogId = catalog.catalogId();
    VectorIndexOptions options;
    options.dimension = dimension;
    auto loaded = VectorIndex::load(indexPath, modelKey, options);
    if (loaded && loaded->dimension() == dimension) {
        auto index = std::make_shared<VectorIndex>(std::move(*loaded));
        const std::optional<SyncRecord> record = readRecord(indexPath);
        std::optional<qint64> since;
        if (record && record->catalogId == catalogId &&
            record->fingerprint == index->idFingerprint())
            since = record->throughSeq;
        else if (!record || record->catalogId == catalogId) {
            // No record of its own (written by the indexer since, or by an older version): as
            // good as the catalog it matches. Read the number first: the ids read after hold
            // every change up to it.
            auto seq = catalog.currentChangeSeq();
            if (!seq)
                return seq.error();
            const EmbeddedOwners owners = catalog.embeddedOwners(modelKey);
            if (index->isInStepWith(owners.ids, owners.tags))
                since = *seq;
        }
        // A record of another catalog: this file is another library's, whatever it holds.
        if (since) {
            auto applied = applyCatalogChanges(catalog, *index, *since);
            if (!applied)
                return applied.error();
            const bool changed = applied->added + applied->removed > 0;
            if (changed || !record || record->throughSeq != applied->throughSeq)
                if (Status s =
                        saveSyncedIndex(*index, indexPath, catalogId, applied->throughSeq, changed);
                    !s)
                    qWarning("%s", qPrintable(s.error().message));
            return SyncedIndex{index, catalogId, *applied};
        }
    }
    auto built = buildIndexFromCatalog(catalog, indexPath, modelKey, dimension);
    if (!built)
        return built.error();
    if (Status s =
            saveSyncedIndex(*built->index, indexPath, catalogId, built->summary.throughSeq, true);
        !s)
        qWarning("%s", qPrintable(s.error().message));
    return built;
}

} // namespace ts
