#pragma once

// Measuring the local index sync over a catalog (reusable: bench_librarysync calls it, and so can
// the library benchmark): generates `photos` rows with random unit vectors of `dimension` floats
// in the catalog at `location` (a SQLite file or a postgresql:// URL), then times what a new
// client does to get its index (built from the catalog's vectors, saved with its record), and
// what an existing client does for `changes` rows written by another writer (a live sync of its
// in-memory index, and a reopen that loads the saved index and applies the changes).
#include "core/index/vectorindex.h"
#include "indexer/catalog.h"
#include "indexer/indexsync.h"

#include <QElapsedTimer>
#include <QRandomGenerator>

#include <cmath>
#include <ctime>
#include <vector>

namespace ts::bench {

// Wall seconds, and CPU seconds of this process (all threads; on a busy machine the wall time
// also holds waits for a core).
struct SyncTimes {
    double generateSeconds = 0;   // writing the rows (not what a client pays)
    double newClientSeconds = 0;  // build from every vector + save
    double liveSyncSeconds = 0;   // apply `changes` to the live index + save
    double reopenSyncSeconds = 0; // load the saved index + apply `changes` + save
    qint64 rowsRead = 0;          // by the live sync
    double newClientCpuSeconds = 0, reopenSyncCpuSeconds = 0, liveSyncCpuSeconds = 0;
};

// Writes `count` photos with random unit vectors in batches of 1,000 (one transaction each).
inline Status generatePhotos(Catalog &catalog, qint64 folderId, const QString &modelKey,
                             int dimension, qint64 firstIndex, qint64 count,
                             QRandomGenerator &rng) {
    std::vector<PhotoWrite> batch;
    for (qint64 i = 0; i < count; ++i) {
        PhotoWrite p;
        p.folderId = folderId;
        p.path = QStringLiteral("/bench/photos/%1.jpg").arg(firstIndex + i);
        p.size = 100000 + i;
        p.mtimeMs = 1700000000000 + i;
        p.contentHash = QString::number(quint64(rng.generate64()), 16);
        p.fullHash = p.contentHash;
        p.state = PhotoState::Indexed;
        p.vector.resize(size_t(dimension));
        double norm = 0;
        for (float &x : p.vector) {
            x = float(rng.generateDouble() * 2 - 1);
            norm += double(x) * x;
        }
        for (float &x : p.vector)
            x = float(x / std::sqrt(norm));
        batch.push_back(std::move(p));
        if (batch.size() == 1000 || i + 1 == count) {
            auto r = catalog.commitBatch(batch, modelKey, {});
            if (!r)
                return r.error();
            batch.clear();
        }
    }
    return {};
}

inline double processCpuSeconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

inline Result<SyncTimes> measureIndexSync(const QString &location, const QString &cacheDirectory,
                                          qint64 photos, int dimension, qint64 changes) {
    SyncTimes t;
    const QString key = QStringLiteral("bench-sync-model");
    auto opened = Catalog::open(location);
    if (!opened)
        return opened.error();
    Catalog &catalog = **opened;
    auto folder = catalog.addFolder(QStringLiteral("/bench/photos"));
    if (!folder)
        return folder.error();
    QRandomGenerator rng(17);
    QElapsedTimer timer;
    timer.start();
    if (Status s = generatePhotos(catalog, *folder, key, dimension, 0, photos, rng); !s)
        return s.error();
    t.generateSeconds = double(timer.nsecsElapsed()) / 1e9;

    const QString path = cacheDirectory + QStringLiteral("/bench.tsvi");
    timer.restart();
    double cpu = processCpuSeconds();
    auto client = openSyncedIndex(catalog, path, key, dimension);
    if (!client)
        return client.error();
    t.newClientSeconds = double(timer.nsecsElapsed()) / 1e9;
    t.newClientCpuSeconds = processCpuSeconds() - cpu;
    if (client->summary.added != photos)
        return Error(Error::Code::Internal, QStringLiteral("the new client's index holds %1 of %2")
                                                .arg(client->summary.added)
                                                .arg(photos));

    // Another writer: half new photos, half removals.
    if (Status s =
            generatePhotos(catalog, *folder, key, dimension, photos, changes - changes / 2, rng);
        !s)
        return s.error();
    std::vector<qint64> gone;
    for (qint64 id = 1; id <= changes / 2; ++id)
        gone.push_back(id);
    if (Status s = catalog.deletePhotos(gone); !s)
        return s.error();

    // Reopen first (the file still holds the state before the changes), then the live sync.
    timer.restart();
    cpu = processCpuSeconds();
    auto again = openSyncedIndex(catalog, path, key, dimension);
    if (!again)
        return again.error();
    t.reopenSyncSeconds = double(timer.nsecsElapsed()) / 1e9;
    t.reopenSyncCpuSeconds = processCpuSeconds() - cpu;
    if (again->summary.rebuilt || again->summary.rowsRead != changes)
        return Error(Error::Code::Internal,
                     QStringLiteral("the reopened client read %1 rows for %2 changes (rebuilt: %3)")
                         .arg(again->summary.rowsRead)
                         .arg(changes)
                         .arg(again->summary.rebuilt));

    timer.restart();
    cpu = processCpuSeconds();
    auto live = applyCatalogChanges(catalog, *client->index, client->summary.throughSeq);
    if (!live)
        return live.error();
    if (Status s = saveSyncedIndex(*client->index, path, client->catalogId, live->throughSeq, true);
        !s)
        return s.error();
    t.liveSyncSeconds = double(timer.nsecsElapsed()) / 1e9;
    t.liveSyncCpuSeconds = processCpuSeconds() - cpu;
    t.rowsRead = live->rowsRead;
    return t;
}

} // namespace ts::bench
