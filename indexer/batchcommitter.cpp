#include "indexer/batchcommitter.h"

#include "core/index/vectorindex.h"
#include "core/search/fusioncache.h"
#include "indexer/catalog.h"
#include "indexer/imageembedder.h"

#include <QFileInfo>
#include <QThread>

namespace ts::internal {

namespace {

// A batch rolled back by a deadlock or a serialization conflict (PostgreSQL) is written again
// this many times, after short waits, before the run reports it.
constexpr int kConflictRetries = 5;

// The filter metadata of a photo row: the type by content (else by extension), the camera, and
// the EXIF date, else the file's modification time marked as such.
void setMetadata(PhotoWrite &w, const ExifData &exif, const QString &typeByContent) {
    w.fileType = typeByContent.isEmpty() ? fileTypeForExtension(w.path) : typeByContent;
    w.cameraMake = exif.make;
    w.cameraModel = exif.model;
    w.takenIsFileTime = !exif.dateTaken;
    w.takenMs = exif.dateTaken ? exif.dateTaken->toMSecsSinceEpoch() : w.mtimeMs;
}

// The row of a prepared (not vanished) photo, before its state and vector are known.
PhotoWrite rowOf(const PreparedPhoto &p) {
    PhotoWrite w;
    w.id = p.job.existingId;
    w.folderId = p.job.folderId;
    w.path = p.job.path;
    w.size = p.job.size;
    w.mtimeMs = p.job.mtimeMs;
    w.contentHash = p.quickHash;
    w.fullHash = p.fullHash;
    w.thumbnail = p.thumbnail;
    w.thumbnailData = p.thumbnailData;
    w.keepEmbeddings = p.job.unchanged;
    setMetadata(w, p.exif, p.fileType);
    return w;
}

} // namespace

// One batch's rows and what must happen to them besides the catalog write.
struct BatchCommitter::Plan {
    std::vector<PhotoWrite> writes;
    std::vector<qint64> deletes;       // rows whose file vanished before its turn
    std::vector<qint64> dropFromIndex; // ids whose vector the index must lose
    std::vector<const FloatTensor *> toEmbed;
    std::vector<size_t> embedWrite; // writes index for each toEmbed
    // Same content twice in this batch: the later write takes the first one's vector.
    QHash<QString, size_t> embeddingInBatch;       // full hash -> writes index embedded
    std::vector<std::pair<size_t, size_t>> copyOf; // (writes index, writes index it copies)
    std::vector<FloatTensor> fusion;               // per write: rerank features, or empty
};

BatchCommitter::BatchCommitter(Catalog &catalog, const IndexWorkerConfig &config,
                               const std::vector<VanishedPhoto> &vanished, IndexRunResult &result,
                               IndexProgress &progress)
    : m_catalog(catalog), m_config(config), m_modelKey(config.embedder->modelKey()),
      m_result(result), m_progress(progress) {
    for (const VanishedPhoto &v : vanished) {
        m_vanishedIds.push_back(v.id);
        if (v.hadEmbedding && !v.fullHash.isEmpty())
            m_movable.insert(v.fullHash, v.id);
    }
    m_sinceSave.start();
}

Status BatchCommitter::commit(const QList<PreparedPhoto> &batch, JobLease *lease) {
    Plan p = plan(batch);
    embed(p);
    resolveCopies(p);
    QElapsedTimer clock;
    clock.start();
    auto committed = m_catalog.commitBatch(p.writes, m_modelKey, p.deletes, lease);
    for (int conflicts = 0; !committed;) {
        if (lease && lease->lost) // another worker has the batch: nothing to write again
            return committed.error();
        // Rolled back whole either way: the same batch is written again, not embedded again.
        if (m_catalog.rolledBackByConflict() && ++conflicts <= kConflictRetries)
            QThread::msleep(ulong(20 * conflicts));
        else if (!m_reconnect || !m_catalog.connectionLost() || !m_reconnect())
            return committed.error();
        committed = m_catalog.commitBatch(p.writes, m_modelKey, p.deletes, lease);
    }
    // The catalog now holds the batch; the index follows (rebuilt from the catalog if we die
    // before it is saved).
    updateIndex(p, *committed);
    fillFusionCache(p, *committed);
    m_result.stages.commit += clock.nsecsElapsed() / 1e6;
    return {};
}

BatchCommitter::Plan BatchCommitter::plan(const QList<PreparedPhoto> &batch) {
    Plan plan;
    IndexStageTimes &stages = m_result.stages;
    for (const PreparedPhoto &p : batch) {
        m_progress.currentFile = p.job.path;
        stages.readHash += p.readHashMs;
        stages.thumbnail += p.thumbnailWriteMs;
        if (p.image && p.image->ok()) {
            stages.decode += (*p.image)->decodeMs;
            stages.resize += (*p.image)->resizeMs;
            stages.thumbnail += (*p.image)->thumbnailMs;
        }
        if (p.vanished) {
            if (p.job.existingId) {
                plan.deletes.push_back(p.job.existingId);
                plan.dropFromIndex.push_back(p.job.existingId);
                ++m_result.removed;
            }
        } else if (p.reuseFrom) {
            planReuse(plan, p, rowOf(p));
        } else {
            planDecoded(plan, p, rowOf(p));
        }
    }
    return plan;
}

// The same content as a photo with a vector: a move when that photo's file vanished (the row
// follows the file), else a copy of its vector. Nothing is embedded.
void BatchCommitter::planReuse(Plan &plan, const PreparedPhoto &p, PhotoWrite w) {
    if (const auto source = m_catalog.photo(p.reuseFrom)) {
        w.width = source->width;
        w.height = source->height;
        w.orientation = source->orientation;
        if (w.thumbnail.isEmpty())
            w.thumbnail = source->thumbnailPath;
    }
    w.state = PhotoState::Indexed;
    auto mv = m_movable.constFind(p.fullHash);
    if (mv != m_movable.cend() && !m_claimed.count(*mv)) {
        // A move: the vanished row follows the file, with its id and every vector.
        m_claimed.insert(*mv);
        if (p.job.existingId && p.job.existingId != *mv)
            plan.dropFromIndex.push_back(p.job.existingId); // its row is replaced by the move
        w.id = *mv;
        w.keepEmbeddings = true;
        ++m_result.moved;
    } else {
        // A copy (or a move whose source row another file took): reuse the vector.
        w.vector = m_catalog.embedding(p.reuseFrom, m_modelKey);
        w.keepEmbeddings = false;
        if (w.vector.empty()) {
            // The source lost its vector meanwhile: recorded as failed, retried when the file
            // changes.
            w.state = PhotoState::Failed;
            w.error = QStringLiteral("%1: could not be embedded (the photo with the same content "
                                     "lost its vector during indexing)")
                          .arg(p.job.path);
            if (p.job.existingHadEmbedding)
                plan.dropFromIndex.push_back(p.job.existingId);
            ++m_result.failed;
        } else {
            ++m_result.copied;
        }
    }
    plan.writes.push_back(std::move(w));
}

// A decoded photo (or one that failed to read or decode): embedded, unless the same content was
// embedded earlier in this run or in this batch.
void BatchCommitter::planDecoded(Plan &plan, const PreparedPhoto &p, PhotoWrite w) {
    const Result<PreparedImage> &image = *p.image;
    if (!image) {
        recordFailure(w, image.error().message);
        if (p.job.existingHadEmbedding)
            plan.dropFromIndex.push_back(p.job.existingId);
        plan.writes.push_back(std::move(w));
        return;
    }
    w.width = image->width;
    w.height = image->height;
    w.orientation = image->orientation;
    w.state = PhotoState::Indexed;
    // Same content as a photo embedded earlier in this run: its vector, no second embedding.
    if (auto earlier = m_embeddedThisRun.constFind(p.fullHash);
        earlier != m_embeddedThisRun.cend()) {
        w.vector = m_catalog.embedding(*earlier, m_modelKey);
        if (!w.vector.empty()) {
            ++m_result.copied;
            plan.writes.push_back(std::move(w));
            return;
        }
    }
    if (auto first = plan.embeddingInBatch.constFind(p.fullHash);
        first != plan.embeddingInBatch.cend()) {
        plan.copyOf.emplace_back(plan.writes.size(), *first);
        plan.writes.push_back(std::move(w));
        return;
    }
    plan.embeddingInBatch.insert(p.fullHash, plan.writes.size());
    plan.embedWrite.push_back(plan.writes.size());
    plan.toEmbed.push_back(&image->pixels);
    plan.writes.push_back(std::move(w));
}

void BatchCommitter::recordFailure(PhotoWrite &w, const QString &error) {
    w.state = PhotoState::Failed;
    w.error = error;
    w.keepEmbeddings = false;
    ++m_result.failed;
    ++m_progress.failed;
}

void BatchCommitter::embed(Plan &plan) {
    plan.fusion.resize(plan.writes.size());
    if (plan.toEmbed.empty())
        return;
    QElapsedTimer clock;
    clock.start();
    auto embedded = m_config.embedder->embed(plan.toEmbed);
    m_result.stages.model += clock.nsecsElapsed() / 1e6;
    for (size_t i = 0; i < plan.toEmbed.size(); ++i) {
        PhotoWrite &w = plan.writes[plan.embedWrite[i]];
        if (!embedded || i >= embedded->vectors.size()) {
            recordFailure(w, embedded
                                 ? QStringLiteral("%1: the model returned no embedding").arg(w.path)
                                 : QStringLiteral("%1: %2").arg(w.path, embedded.error().message));
            continue;
        }
        w.vector = std::move(embedded->vectors[i]);
        if (i < embedded->fusion.size())
            plan.fusion[plan.embedWrite[i]] = std::move(embedded->fusion[i]);
        ++m_result.embedded;
    }
}

// A repeat within the batch takes the vector its first occurrence got (or its failure).
void BatchCommitter::resolveCopies(Plan &plan) {
    for (const auto &[copy, source] : plan.copyOf) {
        PhotoWrite &w = plan.writes[copy];
        if (plan.writes[source].state == PhotoState::Failed) {
            recordFailure(w, QStringLiteral("%1: %2").arg(w.path, plan.writes[source].error));
        } else {
            w.vector = plan.writes[source].vector;
            ++m_result.copied;
        }
    }
}

void BatchCommitter::updateIndex(Plan &plan, const std::vector<qint64> &ids) {
    VectorIndex &index = *m_config.index;
    std::vector<qint64> addIds;
    std::vector<quint64> addTags;
    std::vector<float> addVectors;
    for (size_t i = 0; i < plan.writes.size(); ++i) {
        const PhotoWrite &w = plan.writes[i];
        if (!w.vector.empty()) {
            addIds.push_back(ids[i]);
            addTags.push_back(Catalog::contentTag(w.fullHash, w.contentHash));
            addVectors.insert(addVectors.end(), w.vector.begin(), w.vector.end());
            if (!w.fullHash.isEmpty() && !m_embeddedThisRun.contains(w.fullHash))
                m_embeddedThisRun.insert(w.fullHash, ids[i]);
        } else if (w.state == PhotoState::Failed) {
            plan.dropFromIndex.push_back(ids[i]);
        }
    }
    if (!plan.dropFromIndex.empty())
        removeFromIndex(plan.dropFromIndex);
    if (addIds.empty())
        return;
    m_indexDirty = true;
    if (index.add(addIds, addVectors, addTags).ok())
        return;
    // One unusable vector refuses the batch; add them one by one so the rest are served. The
    // catalog keeps every vector, so one the index refuses is only missing from search until the
    // index is rebuilt: said in the log, not an error of the run.
    const size_t dim = addVectors.size() / addIds.size();
    for (size_t i = 0; i < addIds.size(); ++i) {
        const auto from = addVectors.begin() + qsizetype(i * dim);
        if (Status s = index.add({addIds[i]}, std::vector<float>(from, from + qsizetype(dim)),
                                 {addTags[i]});
            !s)
            qWarning("%s", qPrintable(s.error()
                                          .withContext(QStringLiteral("photo %1 is left out of "
                                                                      "the vector index")
                                                           .arg(addIds[i]))
                                          .message));
    }
}

void BatchCommitter::fillFusionCache(const Plan &plan, const std::vector<qint64> &ids) {
    FusionCache *cache = m_config.fusionCache.get();
    if (!cache)
        return;
    for (size_t i = 0; i < plan.writes.size(); ++i) {
        if (plan.fusion[i].numel() == 0)
            continue;
        const qint64 bytes = plan.fusion[i].numel() * 2; // the disk tier stores float16
        if (cache->stats().diskBytes + bytes > m_config.fusionDiskBudget)
            break; // within budget only: never evict what earlier photos cached
        cache->put(ids[i], Catalog::photoStamp(plan.writes[i].size, plan.writes[i].mtimeMs),
                   plan.fusion[i]);
    }
}

std::vector<qint64> BatchCommitter::unclaimedVanished() const {
    std::vector<qint64> gone;
    for (qint64 id : m_vanishedIds)
        if (!m_claimed.count(id))
            gone.push_back(id);
    return gone;
}

void BatchCommitter::removeFromIndex(const std::vector<qint64> &ids) {
    // The catalog is the truth: an index that kept a vector is out of step with it and is rebuilt
    // when the library opens it next.
    if (Status s = m_config.index->remove(ids); s)
        m_indexDirty = true;
    else
        qWarning("%s", qPrintable(s.error().message));
}

void BatchCommitter::saveIndexIfDue() {
    if (m_sinceSave.elapsed() > 30'000)
        saveIndex();
}

void BatchCommitter::saveIndex(bool evenIfUnchanged) {
    if (evenIfUnchanged && !m_indexDirty && !QFileInfo::exists(m_config.indexPath))
        m_indexDirty = true;
    if (!m_indexDirty)
        return;
    // The catalog is the truth; a failed save only means a rebuild on the next start.
    if (Status s = m_config.index->save(m_config.indexPath); !s)
        qWarning("%s", qPrintable(s.error().message));
    m_indexDirty = false;
    m_sinceSave.restart();
}

} // namespace ts::internal
