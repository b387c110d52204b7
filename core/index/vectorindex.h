#pragma once

#include "core/common/result.h"
#include "core/index/scanprogress.h"

#include <QString>
#include <QtGlobal>

#include <functional>
#include <memory>
#include <vector>

namespace ts {

// Tuning of a VectorIndex. The defaults were measured on 512-d synthetic clustered vectors on a
// 2-core x86-64 machine (see tests/index/bench_index.cpp and the numbers in its header comment).
struct VectorIndexOptions {
    // Length of every vector.
    int dimension = 512;

    // Up to this many vectors the index is exact (a flat inner-product scan, ~4.7 ms per 10k
    // vectors with FAISS's SSE-only build, so <= ~10 ms here). Above it the index switches to an
    // approximate inverted-file index (IVF-Flat, k-means trained on the stored vectors: ~1-2 s at
    // this size, 0.4-0.8 ms per query); it switches back to exact below half of this.
    qint64 approximateThreshold = 20'000;

    // IVF: number of k-means cells. 0 = automatic: about 2 * sqrt(size) rounded to a power of two,
    // with at least 39 training vectors per cell (512 at 50k-200k vectors, 2048 at 1M).
    int nlist = 0;

    // IVF: number of cells scanned per query. 0 = automatic: tuned per library (targetRecall
    // below); without tuning max(32, nlist / 64). A fixed value > 0 turns tuning off.
    int nprobe = 0;

    // Automatic nprobe: whenever the IVF index is built (crossing approximateThreshold,
    // retraining), and rebuilt for it once it has grown past retuneGrowthFactor times the size it
    // was last tuned at, recall@10 against exact search is measured on `tuningQueries` of the
    // index's own vectors (held out of k-means training, each query's own entry skipped: they stand
    // for new photos) and the smallest nprobe reaching `targetRecall` (plus two standard errors of
    // the sample's mean) is kept and saved with the index. When a flat scan costs no more than IVF
    // at that nprobe, the index stays exact instead (until it has grown by retuneGrowthFactor
    // again). The cost is one exact scan of the sample (~tuningQueries x size x dimension
    // multiply-adds, see bench_index's "tuning" figure). Isotropic clusters need a handful of
    // cells; CLIP-like cones (unrelated photos at cosine 0.5-0.8, uneven clusters) several times
    // more. 0 = no tuning.
    double targetRecall = 0.98;
    int tuningQueries = 256;
    int retuneGrowthFactor = 2;

    // The IVF cells are retrained (the whole index rebuilt) once the index has grown to this many
    // times the size it was trained at, so cells stay balanced as a library grows.
    int retrainGrowthFactor = 4;
};

// What the last nprobe tuning measured (see VectorIndexOptions::targetRecall).
struct IndexTuning {
    qint64 atSize = 0;           // index size when it was tuned; 0 = never tuned
    int nprobe = 0;              // chosen nprobe; 0 when exact search was chosen or never tuned
    bool exact = false;          // a flat scan was cheaper than IVF at the needed nprobe
    double sampleRecall = -1;    // recall@10 of the held-out sample (-1: tuned in another process)
    double scannedFraction = -1; // share of vectors one query scans at nprobe (-1: as above)
    double seconds = 0;          // time the measurement took (0: as above)
};

// One search result: a catalog photo id and its inner product with the query (cosine similarity,
// since stored vectors and queries are L2-normalised).
struct SearchHit {
    qint64 id = 0;
    float score = 0.0f;
};

// Two stored vectors whose cosine similarity reached a threshold (see VectorIndex::similarPairs).
struct SimilarPair {
    qint64 first = 0;  // the smaller id
    qint64 second = 0; // the larger id
    float score = 0.0f;
};

// A vector index keyed by the catalog's 64-bit photo ids, for top-k inner-product search over
// L2-normalised embeddings. Backed by FAISS (never visible in this header).
//
// Usage:
//   auto index = VectorIndex::load(path, modelKey, options);
//   if (!index || !index->isInStepWith(catalogIds, tags))  // missing, corrupt, other model, stale
//       index = rebuildFromCatalog(...);                  // create() + add() the stored embeddings
//   auto hits = index->search(queryVector.data(), 20);
//
// Vectors: every vector passed to add() or search() is L2-normalised here (so callers need not, and
// scores are cosine similarities); vectors that contain NaN/inf or have zero length are rejected
// with Error::Code::InvalidArgument. Ids are qint64 values >= 0 (FAISS reserves -1 for "no hit").
//
// Modes: exact (flat scan) up to VectorIndexOptions::approximateThreshold vectors, approximate
// (IVF-Flat) above; the switch, and retraining as the index grows, happen inside add()/remove().
// Both modes keep the full vectors, so the index can always be rebuilt or converted. A rebuild
// holds the old and the new index at once (about 2 x 2 GB at 1M 512-d vectors) and takes minutes
// at 1M on 2 cores (k-means); add a large library in one call to an empty index to train once.
// A loaded index keeps the mode it was saved in until the next add()/remove(). The IVF nprobe is
// tuned per library when the IVF index is built (VectorIndexOptions::targetRecall); an index may
// stay exact above the threshold when tuning found a flat scan the cheaper one.
//
// Thread safety: any number of threads may call the const functions (search, contains, size, save,
// ...) concurrently, also while one thread calls add() or remove(); writers are serialised.
// search() blocks only while a writer modifies the index in place (a batch add/remove); the long
// rebuilds (training when crossing the threshold or retraining) happen beside the live index and
// only the final swap blocks searches. Writers are preferred: while a writer waits (e.g. for a
// save() of a large index to finish), new searches wait behind it. A single search runs on the
// calling thread only (FAISS's OpenMP threads are limited to 1 for it), so concurrent searches do
// not oversubscribe the cores.
//
// Errors: functions return an Error with a sentence naming the file or the limit involved; FAISS
// exceptions never escape (only std::bad_alloc from copying the input can).
class VectorIndex {
public:
    // An empty index for embeddings of `modelKey` (any string naming the model and its version;
    // it is stored with the index so load() can refuse an index made by another model).
    // Fails (InvalidArgument) when options are unusable (dimension < 1, threshold < 0, ...).
    static Result<VectorIndex> create(const VectorIndexOptions &options, const QString &modelKey);

    // Loads an index saved by save(). Fails, so that the caller rebuilds it, when the file is
    // missing (NotFound), truncated or corrupt (Format: checksums over header and payload), or was
    // built for another model key or dimension, or by another format version (Unsupported: an
    // older file is rebuilt by the caller), or when its stored tuning is out of range (an nprobe
    // above its nlist: Format). Every message names the file. The nprobe is the file's tuned one
    // unless `options.nprobe` fixes it.
    static Result<VectorIndex> load(const QString &path, const QString &expectedModelKey,
                                    const VectorIndexOptions &options);

    VectorIndex(VectorIndex &&) noexcept;
    VectorIndex &operator=(VectorIndex &&) noexcept;
    ~VectorIndex();

    // Writes the index to `path` atomically: to a temporary file beside it, then renamed over it,
    // so a failure (disk full, permissions) leaves any previous file intact. Stores the model key,
    // dimension, size, every id's owner tag and idFingerprint() with checksums. Safe to call while
    // searches run; a concurrent add()/remove() waits for it.
    Status save(const QString &path) const;

    // Adds vectors (row-major [ids.size(), dimension()]); an id already in the index has its vector
    // replaced (upsert). `tags` (empty, or one per id) say what each vector belongs to, e.g. a hash
    // of the photo's content: they are kept, saved and covered by the fingerprint, so an index
    // whose id holds the vector of other content is seen as out of step. Empty: tag 0 for all.
    // Fails without changing anything when sizes disagree, an id is negative or repeats within
    // the batch, or a vector is not finite or has zero length.
    Status add(const std::vector<qint64> &ids, const std::vector<float> &vectors,
               const std::vector<quint64> &tags = {});

    // Changes the IVF cells scanned per query (0 = automatic, see VectorIndexOptions::nprobe); kept
    // across rebuilds. Takes effect for searches that start afterwards.
    void setNprobe(int nprobe);
    int nprobe() const; // 0 while exact

    // The last nprobe tuning (saved with the index; see VectorIndexOptions::targetRecall).
    IndexTuning tuning() const;

    // Removes the given ids; ids not in the index are ignored.
    Status remove(const std::vector<qint64> &ids);

    // The k most similar stored vectors to `query` (dimension() floats), best first, skipping
    // `excludeIds`. Returns fewer than k hits when the index holds fewer (none when empty).
    // Fails (InvalidArgument) when k < 1 or the query is not finite or has zero length.
    Result<std::vector<SearchHit>> search(const float *query, int k,
                                          const std::vector<qint64> &excludeIds = {}) const;

    // The k most similar stored vectors to `query` among `allowedIds` only (a filter's result,
    // e.g. PhotoSource::photosMatching: ascending is cheapest, any order is accepted; ids not in
    // the index are ignored), best first, skipping `excludeIds`. Fewer than k hits only when fewer
    // allowed ids are in the index; none for an empty `allowedIds`.
    //
    // How: in exact mode, and whenever it is the cheaper way, the subset's stored vectors are
    // scanned directly (~|subset| x dimension multiply-adds): the true best matches within it.
    // In approximate mode with a large subset, FAISS's IVF search runs with an IDSelector over
    // the subset, probing the cells nearest the query until they hold four times as many subset
    // vectors as an unfiltered query scans (so a subset far from the query, or a sparse one, is
    // probed further); recall against exact search on the subset is then like an unfiltered query's
    // (bench_index --filtered). If the probed cells hold fewer than k, the subset is scanned.
    // Errors and thread safety as search().
    Result<std::vector<SearchHit>> searchWithin(const float *query, int k,
                                                const std::vector<qint64> &allowedIds,
                                                const std::vector<qint64> &excludeIds = {}) const;
    // Every pair of stored vectors with cosine similarity >= `minScore` (near-duplicates), each
    // pair once, ordered by (first, second). A range search of every stored vector against the
    // index, in batches of 1,024 queries: exact (BLAS over the flat index) while the index is
    // exact; on an IVF index each query scans its `nprobe()` nearest cells, so a pair whose two
    // vectors fall in cells far apart can be missed (near-duplicates share a cell or a neighbour;
    // recall and time at 100,000 x 512: tests/index/bench_duplicates, README). Uses FAISS's
    // OpenMP threads. Holds the read lock only per batch, so writers and searches interleave; a
    // vector added meanwhile may be missed, one removed meanwhile is skipped.
    // `progress` is called before each batch and at the end. `nprobe` > 0 scans that many cells
    // per query on an IVF index instead of nprobe() (near-duplicates sit in the same or the next
    // cell, so the all-pairs scan can afford fewer cells than a search; see findDuplicateGroups).
    // Fails with InvalidArgument for a `minScore` outside (-1, 1] or not finite, Cancelled when
    // `progress` returned false.
    Result<std::vector<SimilarPair>> similarPairs(float minScore, const ScanProgress &progress = {},
                                                  int nprobe = 0) const;

    qint64 size() const;
    bool contains(qint64 id) const;
    int dimension() const;
    QString modelKey() const;
    // True while the index is an approximate (IVF) one.
    bool isApproximate() const;
    // IVF cells in use (0 while exact).
    int nlist() const;

    // The stored vector of `id` (normalised), or an empty vector when the id is not in the index.
    std::vector<float> vector(qint64 id) const;

    // The owner tag stored with `id` (0 when none was given or the id is absent).
    quint64 tag(qint64 id) const;

    // Order-independent hash of the set of (id, owner tag) pairs (equal to fingerprintOf() over
    // the same pairs).
    quint64 idFingerprint() const;
    // `tags`: empty (all 0) or one per id.
    static quint64 fingerprintOf(const std::vector<qint64> &ids,
                                 const std::vector<quint64> &tags = {});
    // True when the index holds exactly the ids of `catalogIds`, each with the owner tag given in
    // `tags` (empty: all 0), by count and fingerprint.
    bool isInStepWith(const std::vector<qint64> &catalogIds,
                      const std::vector<quint64> &tags = {}) const;

private:
    struct Impl;
    explicit VectorIndex(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> d;
};

} // namespace ts
