#include "indexer/library.h"

#include "core/common/nativepath.h"
#include "core/image/imagedecoder.h"
#include "core/index/vectorindex.h"
#include "core/search/duplicates.h"
#include "core/search/fusioncache.h"
#include "indexer/catalog.h"
#include "indexer/imageembedder.h"
#include "indexer/indexsync.h"
#include "indexer/indexworker.h"
#include "indexer/librarylocation.h"
#include "indexer/sqldatabase.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QEventLoop>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QFutureWatcher>
#include <QPointer>
#include <QSaveFile>
#include <QStandardPaths>
#include <QThread>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include <mutex>
#include <unordered_set>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ts {

namespace {

// Search reads photo paths and stamps from the catalog (any thread: the Catalog serialises).
class CatalogPhotoSource final : public PhotoSource {
public:
    explicit CatalogPhotoSource(std::shared_ptr<Catalog> catalog) : m_catalog(std::move(catalog)) {}
    QString photoPath(qint64 photoId) const override {
        const auto p = m_catalog->photo(photoId);
        return p ? p->path : QString();
    }
    // The same stamp the indexer files rerank features under.
    QString photoStamp(qint64 photoId) const override {
        const auto p = m_catalog->photo(photoId);
        return p ? Catalog::photoStamp(p->size, p->modified.toMSecsSinceEpoch()) : QString();
    }
    std::optional<qint64> photoIdForPath(const QString &path) const override {
        if (auto id = m_catalog->idForPath(QFileInfo(path).absoluteFilePath()))
            return id;
        const QString canonical = canonicalNativePath(path);
        return canonical.isEmpty() ? std::nullopt : m_catalog->idForPath(canonical);
    }
    // By content, as the indexer reuses vectors: the same bytes (wherever they are) have the same
    // vector; a file edited since it was indexed has other bytes and is embedded anew.
    std::optional<std::vector<float>> storedEmbedding(const QString &path,
                                                      const QString &modelKey) const override {
        const auto contents = readImageFile(path);
        if (!contents)
            return std::nullopt;
        std::vector<float> v = m_catalog->embeddingOfContent(quickContentHash(*contents),
                                                             fullContentHash(*contents), modelKey);
        if (v.empty())
            return std::nullopt;
        return v;
    }
    // nullopt on a catalog error: the engine then refuses the filter rather than ignore it.
    std::optional<std::vector<qint64>> photosMatching(const PhotoFilter &filter) const override {
        auto ids = m_catalog->photosMatching(filter);
        if (!ids)
            return std::nullopt;
        return std::move(*ids);
    }
    std::optional<qint64> photoTakenMs(qint64 photoId) const override {
        return m_catalog->takenMs(photoId);
    }

private:
    std::shared_ptr<Catalog> m_catalog;
};

QString keyTag(const QString &modelKey) {
    return QString::fromLatin1(
        QCryptographicHash::hash(modelKey.toUtf8(), QCryptographicHash::Sha1).toHex().left(12));
}

bool cacheOptionsHaveDisk(const LibraryOptions &options) {
    return options.rerankCacheDiskBytes > 0;
}

QString normalizedFolder(const QString &path) {
    return QDir::cleanPath(QFileInfo(path).absoluteFilePath());
}

// The stored thumbnail provider's catalog connections: loader threads fill the local cache from
// the catalog's thumbnails on a miss (a shared catalog: another machine indexed the photo), on
// connections of their own, never the Library's (the GUI reads it meanwhile). A few are kept.
class ThumbnailFetcher {
public:
    ThumbnailFetcher(QString databasePath, QString thumbnailDirectory,
                     QHash<QString, QString> mounts)
        : m_databasePath(std::move(databasePath)),
          m_thumbnailDirectory(std::move(thumbnailDirectory)), m_mounts(std::move(mounts)) {}

    void setRootMounts(const QHash<QString, QString> &mounts) {
        std::lock_guard lock(m_mutex);
        m_mounts = mounts;
    }

    // The thumbnail file for a photo path (empty: none), as Library::storedThumbnailProvider.
    QString thumbnailFor(const QString &photoPath) {
        std::unique_ptr<Catalog> catalog = acquire();
        if (!catalog)
            return {};
        QString file;
        const std::optional<qint64> id = catalog->idForPath(photoPath);
        if (const std::optional<PhotoRecord> record = id ? catalog->photo(*id) : std::nullopt;
            record && !record->thumbnailPath.isEmpty())
            file = localCopy(*catalog, record->thumbnailPath);
        release(std::move(catalog));
        return file;
    }

private:
    // The row names the file where the machine that indexed the photo wrote it; here it is the
    // same name in this library's cache, written from the catalog's bytes when missing.
    // A thumbnail written before the catalog kept their bytes (schema 6) is only the file.
    QString localCopy(const Catalog &catalog, const QString &recorded) const {
        const QString name = QFileInfo(recorded).fileName();
        const QString local = m_thumbnailDirectory + QLatin1Char('/') + name;
        if (QFileInfo::exists(local))
            return local;
        const std::optional<QByteArray> bytes = catalog.thumbnailData(name);
        if (!bytes || bytes->isEmpty() || !QDir().mkpath(m_thumbnailDirectory))
            return QFileInfo::exists(recorded) ? recorded : QString();
        QSaveFile out(local); // atomic: two loader threads may write the same name
        if (out.open(QIODevice::WriteOnly) && out.write(*bytes) == bytes->size() && out.commit())
            return local;
        return {};
    }

    std::unique_ptr<Catalog> acquire() {
        QHash<QString, QString> mounts;
        {
            std::lock_guard lock(m_mutex);
            mounts = m_mounts;
            if (!m_idle.empty()) {
                std::unique_ptr<Catalog> c = std::move(m_idle.back());
                m_idle.pop_back();
                c->setRootMounts(mounts);
                return c;
            }
        }
        auto opened = Catalog::open(m_databasePath, mounts);
        if (!opened) {
            qWarning("%s", qPrintable(opened.error().message));
            return {};
        }
        return std::move(*opened);
    }

    void release(std::unique_ptr<Catalog> catalog) {
        std::lock_guard lock(m_mutex);
        if (m_idle.size() < kKept)
            m_idle.push_back(std::move(catalog));
    }

    static constexpr size_t kKept = 2; // the loader's pool is small
    const QString m_databasePath;
    const QString m_thumbnailDirectory;
    std::mutex m_mutex;
    QHash<QString, QString> m_mounts;
    std::vector<std::unique_ptr<Catalog>> m_idle;
};

// The library roots a worker here may claim jobs under: the ones mapped on this machine (the
// root mounts), and any the options name.
QStringList rootsMappedHere(const LibraryOptions &options) {
    QStringList roots = options.worker.roots;
    for (auto it = options.rootMounts.begin(); it != options.rootMounts.end(); ++it)
        if (!roots.contains(it.key()))
            roots << it.key();
    roots.sort();
    return roots;
}

} // namespace

struct Library::Impl {
    LibraryOptions options;
    QString location;     // as given (a URL with its password): what connections open
    QString databasePath; // the file, or the URL without its password: what messages show
    QString cacheDirectory;
    std::shared_ptr<Catalog> catalog;
    std::shared_ptr<PhotoSource> photoSource;
    std::shared_ptr<ThumbnailFetcher> thumbnails;

    // The model new photos are embedded with.
    std::shared_ptr<ImageEmbedder> embedder;
    std::shared_ptr<VectorIndex> index;
    std::shared_ptr<FusionCache> cache;
    // What indexing fills: the same disk tier, no memory tier (memory stays flat while indexing).
    std::shared_ptr<FusionCache> fillCache;
    // The model that serves search: the same one, or the previous model while the new one is
    // still incomplete.
    std::shared_ptr<ImageEmbedder> servingEmbedder;
    std::shared_ptr<VectorIndex> servingIndex;
    std::shared_ptr<FusionCache> servingCache;
    std::shared_ptr<const SearchEngine> engine;

    // A model being set up off this thread (setEmbedder on a large library).
    std::shared_ptr<ImageEmbedder> loadingEmbedder;
    QFuture<Result<SyncedIndex>> modelLoad;
    quint64 modelGeneration = 0;
    Status modelStatus;
    bool startWhenReady = false;
    bool restartAfterCancel = false;

    QThread thread;
    IndexWorker *worker = nullptr;
    bool rescanRequested = false;
    IndexRunSummary lastRun;

    QFileSystemWatcher *watcher = nullptr;
    QTimer *debounce = nullptr;
    QTimer *periodic = nullptr;

    // Keeping the local vector indexes in step with the catalog's change sequence (other
    // writers: workers, other machines). Shared with the syncs running on the worker thread.
    struct SyncState {
        std::mutex mutex;            // one sync at a time (timer or syncIndex())
        QHash<QString, qint64> seqs; // model key -> change number its index includes
        QString catalogId;
    };
    std::shared_ptr<SyncState> sync = std::make_shared<SyncState>();
    QTimer *syncTimer = nullptr;
    QObject *syncContext = nullptr; // lives on `thread`: where the periodic syncs run
    bool syncRunning = false;
    IndexSyncSummary lastSync; // of the model's load, then of each sync that changed something
};

Library::Library() : d(std::make_unique<Impl>()) {}

Library::~Library() {
    if (d->worker) {
        d->worker->cancel(); // takes effect within one batch
        d->worker->resume();
    }
    d->thread.quit();
    d->thread.wait(); // the run returns within one batch of the cancel
    delete d->worker;
    delete d->syncContext;
}

QString Library::defaultDatabasePath() {
    // Not AppLocalDataLocation: it depends on the application and organisation names, which the
    // app and the CLI set differently (they used to open two different libraries).
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) +
           QStringLiteral("/towersearch/library.sqlite");
}

QString Library::legacyDatabasePath() {
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) +
           QStringLiteral("/TowerSearch/TowerSearch/library.sqlite");
}

namespace {

// The folders a run skips: the user's excluded folders and the app's own (its cache of
// thumbnails and rerank features, its data folder), each also by its canonical path.
QStringList foldersToSkip(const QStringList &excluded, const QString &cacheDirectory) {
    QStringList out;
    for (const QString &f : excluded)
        out << normalizedFolder(f);
    out << cacheDirectory;
    const QString appData = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation);
    if (!appData.isEmpty())
        out << normalizedFolder(appData);
    for (int i = 0, n = int(out.size()); i < n; ++i) {
        const QString canonical = QFileInfo(out[i]).canonicalFilePath();
        if (!canonical.isEmpty())
            out << canonical;
    }
    return out;
}

// Which model serves search, so the next start loads its index. A read-only library cannot
// record it (and says so when indexing is asked for); elsewhere a failure is logged: the next
// start then serves the model recorded before, until a run completes.
void recordServingModel(Catalog &catalog, const QString &key) {
    if (catalog.isReadOnly())
        return;
    if (Status s = catalog.setMeta(QStringLiteral("serving_model"), key); !s)
        qWarning("%s", qPrintable(s.error().message));
}

// Moves `from` to `to`: a rename, or (across filesystems) a copy to `to`.part renamed into place
// and then the original removed, so `to` is never half there.
bool moveEntry(const QString &from, const QString &to) {
    if (::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) == 0)
        return true;
    if (errno != EXDEV)
        return false;
    const QString part = to + QStringLiteral(".part");
    if (QFileInfo(from).isDir()) {
        QDir(part).removeRecursively();
        QDirIterator it(from, QDir::Files | QDir::Dirs | QDir::NoDotAndDotDot | QDir::Hidden,
                        QDirIterator::Subdirectories);
        QDir().mkpath(part);
        while (it.hasNext()) {
            const QString source = it.next();
            const QString target = part + source.mid(from.size());
            if (it.fileInfo().isDir() ? !QDir().mkpath(target) : !QFile::copy(source, target))
                return false;
        }
        return ::rename(QFile::encodeName(part).constData(), QFile::encodeName(to).constData()) ==
                   0 &&
               QDir(from).removeRecursively();
    }
    QFile::remove(part);
    return QFile::copy(from, part) &&
           ::rename(QFile::encodeName(part).constData(), QFile::encodeName(to).constData()) == 0 &&
           QFile::remove(from);
}

// Moves the library at `from` (database, vector index files, <name>-cache folder) to `to` once.
// Never overwrites: with a library already at `to`, nothing happens. The database moves last, so
// an interrupted move is simply done again at the next start. Fails (and leaves `from` as it is)
// when the old library is in use by another program.
Status adoptLegacyLibrary(const QString &from, const QString &to) {
    if (!QFileInfo::exists(from) || QFileInfo::exists(to))
        return {};
    const QString why = QStringLiteral("moving the library %1 to %2").arg(from, to);
    {
        // Fold the write-ahead log into the database: the file then holds everything.
        auto db = sql::Database::open(from);
        if (!db)
            return db.error().withContext(why);
        if (!(*db)->execScript("PRAGMA wal_checkpoint(TRUNCATE)"))
            return (*db)->lastError(why);
    }
    if (QFileInfo::exists(from + QStringLiteral("-wal")) ||
        QFileInfo::exists(from + QStringLiteral("-shm")))
        return Error(
            Error::Code::Io,
            QStringLiteral("%1: it is in use by another program; close it (an older TowerSearch?) "
                           "and start again")
                .arg(why));
    const QFileInfo source(from), target(to);
    if (!QDir().mkpath(target.absolutePath()))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot create %2").arg(why, target.absolutePath()));
    const QString fromBase = source.absolutePath() + QLatin1Char('/') + source.completeBaseName();
    const QString toBase = target.absolutePath() + QLatin1Char('/') + target.completeBaseName();
    const QString fromCache = fromBase + QStringLiteral("-cache"),
                  toCache = toBase + QStringLiteral("-cache");
    if (QFileInfo::exists(fromCache) && !QFileInfo::exists(toCache) &&
        !moveEntry(fromCache, toCache))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot move %2 (%3)")
                         .arg(why, fromCache, QString::fromLocal8Bit(std::strerror(errno))));
    const QString prefix = source.completeBaseName() + QStringLiteral(".vectors-");
    for (const QString &name :
         QDir(source.absolutePath()).entryList({prefix + QStringLiteral("*.tsvi")}, QDir::Files)) {
        const QString dest = target.absolutePath() + QLatin1Char('/') + target.completeBaseName() +
                             name.mid(source.completeBaseName().size());
        if (!QFileInfo::exists(dest))
            (void)moveEntry(source.absolutePath() + QLatin1Char('/') + name,
                            dest); // a cache: rebuilt if lost
    }
    // The database last, through a copy that already points at the moved thumbnails.
    const QString part = to + QStringLiteral(".moving");
    QFile::remove(part);
    if (!QFile::copy(from, part))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot copy the database to %2").arg(why, part));
    {
        auto db = sql::Database::open(part);
        if (!db)
            return db.error().withContext(why);
        auto s =
            (*db)->prepare("UPDATE photos SET thumbnail = ?2 || substr(thumbnail, length(?1) + 1)"
                           " WHERE substr(thumbnail, 1, length(?1)) = ?1");
        s.bind(1, fromCache + QLatin1Char('/')).bind(2, toCache + QLatin1Char('/'));
        if (!s.exec() || !(*db)->execScript("PRAGMA wal_checkpoint(TRUNCATE)"))
            return (*db)->lastError(why);
    }
    if (::rename(QFile::encodeName(part).constData(), QFile::encodeName(to).constData()) != 0)
        return Error(Error::Code::Io, QStringLiteral("%1: %2").arg(
                                          why, QString::fromLocal8Bit(std::strerror(errno))));
    QFile::remove(from);
    return {};
}

} // namespace

Result<std::unique_ptr<Library>> Library::open(const LibraryOptions &options) {
    qRegisterMetaType<ts::IndexProgress>();
    qRegisterMetaType<ts::IndexRunResult>();
    if (Status syntax = checkLocationSyntax(options.databasePath); !syntax)
        return syntax.error();
    std::unique_ptr<Library> lib(new Library);
    lib->d->options = options;
    for (auto it = lib->d->options.rootMounts.begin(); it != lib->d->options.rootMounts.end(); ++it)
        it.value() = normalizedFolder(it.value());
    if (sql::isPostgresLocation(options.databasePath))
        return openShared(std::move(lib));
    lib->d->databasePath =
        QFileInfo(options.databasePath.isEmpty() ? defaultDatabasePath() : options.databasePath)
            .absoluteFilePath();
    if (options.databasePath.isEmpty()) {
        // The app kept its library elsewhere before: move it to the one default, once.
        if (Status moved = adoptLegacyLibrary(legacyDatabasePath(), lib->d->databasePath); !moved) {
            qWarning("%s; using it where it is", qPrintable(moved.error().message));
            lib->d->databasePath = legacyDatabasePath();
        }
    }
    lib->d->location = lib->d->databasePath;
    auto catalog = Catalog::open(lib->d->location, lib->d->options.rootMounts);
    if (!catalog)
        return catalog.error();
    lib->d->catalog = std::shared_ptr<Catalog>(std::move(*catalog));
    const QFileInfo db(lib->d->databasePath);
    lib->d->cacheDirectory = options.cacheDirectory.isEmpty()
                                 ? db.absolutePath() + QLatin1Char('/') + db.completeBaseName() +
                                       QStringLiteral("-cache")
                                 : QFileInfo(options.cacheDirectory).absoluteFilePath();
    if (!options.cacheDirectory.isEmpty())
        QDir().mkpath(lib->d->cacheDirectory); // the vector index is saved there
    return start(std::move(lib));
}

// A catalog on a server: the local files (vector index files, thumbnails, rerank cache) live in
// the cache directory, by default one per catalog URL under the user's cache folder. No legacy
// library to move, no folder to create for the database.
Result<std::unique_ptr<Library>> Library::openShared(std::unique_ptr<Library> lib) {
    lib->d->location = lib->d->options.databasePath;
    auto catalog = Catalog::open(lib->d->location, lib->d->options.rootMounts);
    if (!catalog)
        return catalog.error();
    lib->d->catalog = std::shared_ptr<Catalog>(std::move(*catalog));
    lib->d->databasePath = lib->d->catalog->path(); // without the password
    // Named as roots.json names the catalog: by the URL without its password, so every password
    // (or none, from ~/.pgpass) finds the same folder.
    const QString key = sql::redactedLocation(lib->d->options.databasePath, sql::Redaction::Remove);
    lib->d->cacheDirectory =
        lib->d->options.cacheDirectory.isEmpty()
            ? QStandardPaths::writableLocation(QStandardPaths::GenericCacheLocation) +
                  QStringLiteral("/towersearch/shared/") +
                  QString::fromLatin1(
                      QCryptographicHash::hash(key.toUtf8(), QCryptographicHash::Sha1).toHex())
            : QFileInfo(lib->d->options.cacheDirectory).absoluteFilePath();
    if (!QDir().mkpath(lib->d->cacheDirectory))
        return Error(Error::Code::Io,
                     QStringLiteral("cannot create the cache folder %1 for the library %2")
                         .arg(lib->d->cacheDirectory, lib->d->databasePath));
    return start(std::move(lib));
}

Result<std::unique_ptr<Library>> Library::start(std::unique_ptr<Library> lib) {
    lib->d->photoSource = std::make_shared<CatalogPhotoSource>(lib->d->catalog);
    // The location as given (a URL's password is in it, not in databasePath()).
    lib->d->thumbnails = std::make_shared<ThumbnailFetcher>(
        lib->d->location, lib->d->cacheDirectory + QStringLiteral("/thumbnails"),
        lib->d->options.rootMounts);
    lib->d->thread.setObjectName(QStringLiteral("TowerSearch indexer"));
    lib->d->thread.start(QThread::LowPriority);

    Library *self = lib.get();
    lib->d->debounce = new QTimer(self);
    lib->d->debounce->setSingleShot(true);
    lib->d->debounce->setInterval(2000);
    connect(lib->d->debounce, &QTimer::timeout, self, &Library::startIndexing);
    lib->d->periodic = new QTimer(self);
    connect(lib->d->periodic, &QTimer::timeout, self, &Library::startIndexing);
    lib->d->sync->catalogId = lib->d->catalog->catalogId();
    lib->d->syncContext = new QObject;
    lib->d->syncContext->moveToThread(&lib->d->thread);
    lib->d->syncTimer = new QTimer(self);
    connect(lib->d->syncTimer, &QTimer::timeout, self, &Library::syncIndexInBackground);
    if (lib->d->options.syncIntervalSeconds > 0)
        lib->d->syncTimer->start(lib->d->options.syncIntervalSeconds * 1000);
    return lib;
}

Result<QString> Library::checkLocation(const QString &location) {
    if (location.trimmed().isEmpty())
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("no library location given: write a file path or a "
                                    "postgresql:// URL"));
    if (Status syntax = checkLocationSyntax(location); !syntax)
        return syntax.error();
    const QString shown = redactedLocation(location);
    if (!isDatabaseUrl(location) && !QFileInfo::exists(location)) {
        // Opening would create it: say so rather than leave an empty library behind.
        return QStringLiteral("There is no library at %1 yet; it will be created there.")
            .arg(QDir::toNativeSeparators(QFileInfo(location).absoluteFilePath()));
    }
    auto catalog = Catalog::open(location);
    if (!catalog)
        return catalog.error();
    const Result<qint64> photos = (*catalog)->countPhotos(PhotoFilter{});
    if (!photos)
        return photos.error();
    return QStringLiteral("Connected: the library at %1 holds %2 photos.")
        .arg(isDatabaseUrl(location) ? shown : QDir::toNativeSeparators(location))
        .arg(*photos);
}

QString Library::databasePath() const {
    return d->databasePath;
}

QString Library::catalogLocation() const {
    return d->location;
}

QString Library::vectorIndexPath(const QString &modelKey) const {
    // The index is this client's cache: in its own cache folder when it has one (several
    // clients of one catalog each keep theirs), else beside the database as it always was.
    if (d->catalog->isPostgres())
        return d->cacheDirectory + QStringLiteral("/library.vectors-") + keyTag(modelKey) +
               QStringLiteral(".tsvi");
    const QFileInfo db(d->databasePath);
    const QString folder =
        d->options.cacheDirectory.isEmpty() ? db.absolutePath() : d->cacheDirectory;
    return folder + QLatin1Char('/') + db.completeBaseName() + QStringLiteral(".vectors-") +
           keyTag(modelKey) + QStringLiteral(".tsvi");
}

IndexRunSummary Library::lastRunSummary() const {
    return d->lastRun;
}

Status Library::setPipeline(std::shared_ptr<const BridgeTowerPipeline> pipeline) {
    if (!pipeline)
        return Error(Error::Code::InvalidArgument, QStringLiteral("no model given to the library"));
    return setEmbedder(makeBridgeTowerEmbedder(std::move(pipeline)));
}

// Cancels a run in progress and returns once its worker has finished (the caller is about to change
// what the worker reads).
void Library::stopIndexingAndWait() {
    if (!d->worker)
        return;
    cancelIndexing();
    QEventLoop loop;
    connect(this, &Library::indexingFinished, &loop, &QEventLoop::quit);
    if (d->worker)
        loop.exec();
}

Status Library::setEmbedder(std::shared_ptr<ImageEmbedder> embedder) {
    if (!embedder)
        return Error(Error::Code::InvalidArgument, QStringLiteral("no model given to the library"));
    stopIndexingAndWait();
    const QString key = embedder->modelKey();
    const quint64 generation = ++d->modelGeneration;
    d->loadingEmbedder = std::move(embedder);
    d->modelStatus = {};
    const QString indexPath = vectorIndexPath(key);
    const int dimension = d->loadingEmbedder->dimension();
    if (d->catalog->embeddingCount(key) <= kSynchronousIndexLimit) {
        finishModel(openSyncedIndex(*d->catalog, indexPath, key, dimension));
        return d->modelStatus;
    }
    // A large index: read or rebuild it on a worker thread with its own connection (the GUI's
    // catalog reads must not wait behind a scan of every embedding).
    d->modelLoad = QtConcurrent::run([dbPath = d->location, mounts = d->options.rootMounts,
                                      indexPath, key, dimension]() -> Result<SyncedIndex> {
        auto catalog = Catalog::open(dbPath, mounts);
        if (!catalog)
            return catalog.error();
        return openSyncedIndex(**catalog, indexPath, key, dimension);
    });
    auto *watcher = new QFutureWatcher<Result<SyncedIndex>>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation == d->modelGeneration && d->loadingEmbedder)
            finishModel(watcher->result());
    });
    watcher->setFuture(d->modelLoad);
    return {};
}

Status Library::waitForModel() {
    if (d->loadingEmbedder) {
        d->modelLoad.waitForFinished();
        finishModel(d->modelLoad.result());
    }
    return d->modelStatus;
}

bool Library::isLoadingModel() const {
    return d->loadingEmbedder != nullptr;
}

void Library::finishModel(const Result<SyncedIndex> &index) {
    std::shared_ptr<ImageEmbedder> embedder = std::exchange(d->loadingEmbedder, nullptr);
    d->modelLoad = {};
    if (!index) {
        d->modelStatus = index.error();
        d->startWhenReady = false;
        Q_EMIT modelReady(index.error().message);
        return;
    }
    const QString key = embedder->modelKey();
    {
        std::lock_guard lock(d->sync->mutex);
        d->sync->seqs[key] = index->summary.throughSeq;
    }
    d->lastSync = index->summary;
    const QString previousKey = d->servingEmbedder ? d->servingEmbedder->modelKey() : QString();
    d->embedder = std::move(embedder);
    d->index = index->index;
    makeCaches(false);
    // Keep the previous model serving search until the new one has embedded every photo.
    const bool keepPrevious =
        !previousKey.isEmpty() && previousKey != key && d->catalog->pendingCount(key) > 0;
    if (!keepPrevious) {
        d->servingEmbedder = d->embedder;
        d->servingIndex = d->index;
        d->servingCache = d->cache;
        recordServingModel(*d->catalog, key);
    }
    if (auto pipeline = d->servingEmbedder->pipeline())
        d->engine = std::make_shared<const SearchEngine>(pipeline, d->servingIndex, d->photoSource,
                                                         d->servingCache);
    else
        d->engine.reset();
    Q_EMIT modelReady(QString());
    if (std::exchange(d->startWhenReady, false))
        startIndexing();
}

void Library::makeCaches(bool keepServing) {
    const QString key = d->embedder->modelKey();
    FusionCache::Options cacheOptions;
    cacheOptions.memoryBudgetBytes = d->options.rerankCacheMemoryBytes;
    cacheOptions.diskBudgetBytes = d->options.rerankCacheDiskBytes;
    cacheOptions.diskDirectory = d->cacheDirectory + QStringLiteral("/rerank");
    const bool serving = keepServing && d->servingCache && d->servingCache == d->cache;
    d->cache = std::make_shared<FusionCache>(key, cacheOptions);
    FusionCache::Options fillOptions = cacheOptions;
    fillOptions.memoryBudgetBytes = 0;
    d->fillCache = std::make_shared<FusionCache>(key, fillOptions);
    if (serving)
        d->servingCache = d->cache;
}

void Library::setExcludedFolders(const QStringList &folders) {
    if (d->options.excludedFolders == folders)
        return;
    d->options.excludedFolders = folders;
    if (d->worker) {
        // The run in progress was configured with the old list: start again with the new one.
        cancelIndexing();
        d->restartAfterCancel = true;
    }
}

void Library::setRerankCacheBudgets(qint64 memoryBytes, qint64 diskBytes) {
    if (d->options.rerankCacheMemoryBytes == memoryBytes &&
        d->options.rerankCacheDiskBytes == diskBytes)
        return;
    d->options.rerankCacheMemoryBytes = memoryBytes;
    d->options.rerankCacheDiskBytes = diskBytes;
    if (!d->embedder)
        return;
    makeCaches(true); // the disk tier is read back and trimmed to the new budget
    if (d->servingEmbedder == d->embedder) {
        if (auto pipeline = d->servingEmbedder->pipeline())
            d->engine = std::make_shared<const SearchEngine>(pipeline, d->servingIndex,
                                                             d->photoSource, d->servingCache);
    }
}

QList<LibraryRoot> Library::roots() const {
    return d->catalog->roots();
}

QHash<QString, QString> Library::rootMounts() const {
    return d->options.rootMounts;
}

Status Library::addRoot(const QString &name, const QString &path) {
    const QString folder = normalizedFolder(path);
    if (!statNative(folder).isDir)
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1 is not a folder: a library root must be one").arg(path));
    stopIndexingAndWait(); // the run's connection maps paths with the old roots
    if (Status s = d->catalog->addRoot(name, folder); !s)
        return s;
    d->options.rootMounts.insert(name, folder);
    d->thumbnails->setRootMounts(d->options.rootMounts);
    Q_EMIT foldersChanged();
    return {};
}

Status Library::mapRoot(const QString &name, const QString &path) {
    QHash<QString, QString> mounts = d->options.rootMounts;
    if (path.isEmpty()) {
        mounts.remove(name);
    } else {
        const QString folder = normalizedFolder(path);
        if (!statNative(folder).isDir)
            return Error(Error::Code::NotFound,
                         QStringLiteral("%1 is not a folder: library root '%2' cannot be mapped "
                                        "to it")
                             .arg(path, name));
        mounts.insert(name, folder);
    }
    stopIndexingAndWait();
    if (path.isEmpty())
        d->catalog->setRootMounts(mounts);
    else if (Status s = d->catalog->mapRoot(name, mounts.value(name)); !s)
        return s;
    d->options.rootMounts = mounts;
    d->thumbnails->setRootMounts(mounts);
    Q_EMIT foldersChanged();
    return {};
}

QList<WatchedFolder> Library::folders() const {
    return d->catalog->folders(d->embedder ? d->embedder->modelKey()
                                           : d->catalog->meta(QStringLiteral("serving_model")));
}

Status Library::addFolder(const QString &path) {
    const QString folder = normalizedFolder(path);
    if (!statNative(folder).isDir)
        return Error(Error::Code::NotFound, QStringLiteral("%1 is not a folder").arg(path));
    auto id = d->catalog->addFolder(folder);
    if (!id)
        return id.error();
    Q_EMIT foldersChanged();
    return {};
}

void Library::dropFromIndexesAndCaches(const std::vector<qint64> &ids,
                                       const QStringList &thumbnails) {
    for (const auto &index : {d->index, d->servingIndex}) {
        if (!index || ids.empty())
            continue;
        // The catalog no longer has the photos: an index that still holds one is out of step
        // and is rebuilt when it is next loaded, so a failure here is logged, not returned.
        Status s = index->remove(ids);
        if (s)
            s = index->save(vectorIndexPath(index->modelKey()));
        if (!s)
            qWarning("%s", qPrintable(s.error().message));
    }
    // Nothing of the removed photos stays behind: thumbnails no other photo shares, and every
    // model's cached rerank features (<rerank>/<model key>/<id>-<stamp>.tsfc).
    // By name in this library's cache: a row may name the path where another machine sharing
    // the catalog keeps the same file.
    for (const QString &thumbnail : thumbnails)
        QFile::remove(d->cacheDirectory + QStringLiteral("/thumbnails/") +
                      QFileInfo(thumbnail).fileName());
    for (const auto &cache : {d->cache, d->servingCache, d->fillCache})
        if (cache)
            for (qint64 id : ids)
                cache->remove(id);
    if (!ids.empty()) {
        const std::unordered_set<qint64> gone(ids.begin(), ids.end());
        QDirIterator it(d->cacheDirectory + QStringLiteral("/rerank"), {QStringLiteral("*.tsfc")},
                        QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            const QFileInfo fi(it.next());
            if (gone.count(fi.completeBaseName().section(QLatin1Char('-'), 0, 0).toLongLong()))
                QFile::remove(fi.absoluteFilePath());
        }
    }
}

Status Library::forgetFolder(const QString &path) {
    // The index it updates. (void): a model that failed to load was reported (modelReady); the
    // folder is forgotten in the catalog either way, and the index is rebuilt from it.
    (void)waitForModel();
    stopIndexingAndWait();
    // A folder under a library root not mapped here is named as listed: "@name/...".
    auto removed = d->catalog->removeFolder(RootMapper::rootOf(path) ? QDir::cleanPath(path)
                                                                     : normalizedFolder(path));
    if (!removed)
        return removed.error();
    dropFromIndexesAndCaches(removed->ids, removed->thumbnails);
    Q_EMIT foldersChanged();
    return {};
}

QList<PhotoRecord> Library::failedPhotos() const {
    return d->catalog->failedPhotos();
}

QList<OfflineDirectory> Library::offlineDirectories() const {
    return d->catalog->offlineDirectories();
}

std::optional<PhotoRecord> Library::photo(qint64 id) const {
    return d->catalog->photo(id);
}

Result<std::vector<qint64>> Library::photosMatching(const PhotoFilter &filter) const {
    return d->catalog->photosMatching(filter);
}

Result<qint64> Library::countPhotos(const PhotoFilter &filter) const {
    return d->catalog->countPhotos(filter);
}

Result<std::vector<PhotoRecord>> Library::listPhotos(const PhotoFilter &filter, SortOrder order,
                                                     qint64 offset, int limit) const {
    return d->catalog->listPhotos(filter, order, offset, limit);
}

Result<std::vector<MonthCount>> Library::monthCounts(const PhotoFilter &filter) const {
    return d->catalog->monthCounts(filter);
}

QList<QPair<QString, qint64>> Library::cameras() const {
    return d->catalog->cameras();
}

std::function<QString(const QString &)> Library::storedThumbnailProvider() const {
    // The fetcher is shared, not the Library: the grid may outlive it by a queued decode.
    return [fetcher = d->thumbnails](const QString &photoPath) -> QString {
        return fetcher->thumbnailFor(photoPath);
    };
}

LibraryStats Library::stats() const {
    const QString serving = d->servingEmbedder ? d->servingEmbedder->modelKey()
                                               : d->catalog->meta(QStringLiteral("serving_model"));
    LibraryStats s = d->catalog->stats(d->embedder ? d->embedder->modelKey() : serving);
    s.modelKey = serving;
    s.indexingModelKey = d->embedder ? d->embedder->modelKey() : QString();
    s.modelEmbeddings = d->catalog->embeddingModels();
    return s;
}

Result<WorkQueueStatus> Library::workQueue() const {
    const QString key =
        d->embedder ? d->embedder->modelKey() : d->catalog->meta(QStringLiteral("serving_model"));
    return d->catalog->workQueue(key, std::nullopt); // the whole queue, whoever can take it
}

DuplicateFinder Library::duplicateFinder() const {
    // Taken here, on the Library's thread: the serving index, or what it takes to load it.
    std::shared_ptr<VectorIndex> serving = d->servingIndex;
    std::shared_ptr<Catalog> catalog = d->catalog;
    QString key = serving ? serving->modelKey() : catalog->meta(QStringLiteral("serving_model"));
    if (key.isEmpty() && d->embedder)
        key = d->embedder->modelKey();
    const QString indexPath = vectorIndexPath(key);
    return [serving, catalog, key,
            indexPath](float threshold,
                       const ScanProgress &progress) -> Result<std::vector<DuplicatePhotos>> {
        std::shared_ptr<VectorIndex> index = serving;
        if (!index) {
            const int dimension = key.isEmpty() ? 0 : catalog->dimensionOf(key);
            if (dimension <= 0)
                return std::vector<DuplicatePhotos>{}; // nothing embedded yet
            auto loaded = openSyncedIndex(*catalog, indexPath, key, dimension);
            if (!loaded)
                return loaded.error();
            index = loaded->index;
        }
        auto groups = findDuplicateGroups(*index, threshold, progress);
        if (!groups)
            return groups.error();
        std::vector<DuplicatePhotos> out;
        out.reserve(groups->size());
        for (const DuplicateGroup &g : *groups) {
            DuplicatePhotos photos;
            for (size_t i = 0; i < g.ids.size(); ++i) {
                std::optional<PhotoRecord> record = catalog->photo(g.ids[i]);
                if (!record)
                    continue; // removed since the scan
                photos.photos.push_back(std::move(*record));
                photos.similarity.push_back(g.scores[i]);
            }
            // A group whose representative went is no longer a group around it.
            if (photos.photos.size() >= 2 && photos.photos.front().id == g.ids.front())
                out.push_back(std::move(photos));
        }
        return out;
    };
}

Result<std::vector<DuplicatePhotos>> Library::findDuplicates(float threshold,
                                                             const ScanProgress &progress) const {
    return duplicateFinder()(threshold, progress);
}

Status Library::removePhotos(const std::vector<qint64> &ids) {
    std::vector<qint64> present;
    QSet<QString> thumbnails;
    for (qint64 id : ids)
        if (auto record = d->catalog->photo(id)) {
            present.push_back(id);
            if (!record->thumbnailPath.isEmpty())
                thumbnails.insert(record->thumbnailPath);
        }
    if (present.empty())
        return {};
    if (Status deleted = d->catalog->deletePhotos(present); !deleted)
        return deleted;
    // Copies of one content share a thumbnail: only those no remaining photo uses go. Compared
    // by name: another machine sharing the catalog recorded its own cache's path to it.
    QSet<QString> usedNames;
    for (const QString &t : d->catalog->thumbnailFiles())
        usedNames.insert(QFileInfo(t).fileName());
    QStringList unused;
    for (const QString &t : thumbnails)
        if (!usedNames.contains(QFileInfo(t).fileName()))
            unused << t;
    if (auto dropped = d->catalog->dropUnusedThumbnails(); !dropped)
        qWarning("%s", qPrintable(dropped.error().message));
    dropFromIndexesAndCaches(present, unused);
    Q_EMIT foldersChanged(); // the counts changed
    return {};
}

Result<QString> Library::moveToTrash(qint64 id) {
    const std::optional<PhotoRecord> record = d->catalog->photo(id);
    if (!record)
        return Error(
            Error::Code::NotFound,
            QStringLiteral("photo %1 is not in the library %2").arg(id).arg(d->databasePath));
    // QFile takes names as text: a name whose bytes are not UTF-8 would reach another file.
    if (isRawPath(record->path))
        return Error(Error::Code::Unsupported,
                     QStringLiteral("%1 cannot be moved to the trash: its name is not valid UTF-8")
                         .arg(printablePath(record->path)));
    QFile file(record->path);
    if (!file.moveToTrash())
        return Error(Error::Code::Io, QStringLiteral("could not move %1 to the trash: %2")
                                          .arg(printablePath(record->path), file.errorString()));
    const QString trashed = file.fileName();
    if (Status removed = removePhotos({id}); !removed)
        return removed.error().withContext(
            QStringLiteral("%1 went to the trash (%2) but stays listed in the library")
                .arg(printablePath(record->path), trashed));
    return trashed;
}

QString Library::checkConsistency() const {
    QStringList problems;
    const QString integrity = d->catalog->integrityCheck();
    if (integrity != QLatin1String("ok"))
        problems << QStringLiteral("integrity_check: %1").arg(integrity);
    if (const qint64 dup = d->catalog->duplicatePaths(); dup != 0)
        problems << QStringLiteral("%1 duplicate paths").arg(dup);
    if (d->index && !d->worker) {
        const EmbeddedOwners owners = d->catalog->embeddedOwners(d->index->modelKey());
        if (!d->index->isInStepWith(owners.ids, owners.tags))
            problems << QStringLiteral("the vector index is not in step with the catalog");
    }
    return problems.isEmpty() ? QStringLiteral("ok") : problems.join(QStringLiteral("; "));
}

void Library::startIndexing() {
    if (d->loadingEmbedder) {
        d->startWhenReady = true; // runs once the model's index is in place
        return;
    }
    if (d->worker) {
        d->rescanRequested = true; // a change arrived during the run: go again after it
        return;
    }
    if (!d->embedder) {
        Q_EMIT errorOccurred(
            QStringLiteral("cannot index %1: no model is loaded").arg(d->databasePath));
        Q_EMIT indexingFinished(false);
        return;
    }
    d->rescanRequested = false;
    IndexWorkerConfig config;
    config.databasePath = d->location;
    config.thumbnailDirectory = d->cacheDirectory + QStringLiteral("/thumbnails");
    config.rerankDirectory = d->cacheDirectory + QStringLiteral("/rerank");
    config.excludedFolders = foldersToSkip(d->options.excludedFolders, d->cacheDirectory);
    config.rootMounts = d->options.rootMounts;
    config.batchSize = d->options.batchSize;
    config.decodeThreads = d->options.decodeThreads;
    config.maxWatchedDirectories = d->options.maxWatchedDirectories;
    config.maxDatabasePages = d->options.maxDatabasePages;
    config.simulateReadOnly = d->options.simulateReadOnlyDatabase;
    config.embedder = d->embedder;
    config.index = d->index;
    config.indexPath = vectorIndexPath(d->embedder->modelKey());
    config.fusionCache =
        d->embedder->pipeline() && cacheOptionsHaveDisk(d->options) ? d->fillCache : nullptr;
    config.fusionDiskBudget = d->options.rerankCacheDiskBytes;
    config.queue = d->options.worker;
    config.queue.roots = rootsMappedHere(d->options);

    d->worker = new IndexWorker(std::move(config));
    d->worker->moveToThread(&d->thread);
    connect(d->worker, &IndexWorker::progressChanged, this, &Library::progressChanged);
    connect(d->worker, &IndexWorker::finished, this, [this](const IndexRunResult &result) {
        IndexWorker *worker = d->worker;
        d->worker = nullptr;
        if (worker)
            worker->deleteLater(); // its thread's event loop deletes it
        const QString error = result.error ? result.error->message : QString();
        d->lastRun = {result.embedded, result.moved,   result.copied, result.removed,
                      result.failed,   result.skipped, error,         result.stages};
        if (d->options.watchFolders && !result.error)
            updateWatches(result.directories, result.directoriesTruncated);
        // The new model is complete: it takes over search from the previous one.
        if (!result.cancelled && !result.error && d->servingEmbedder != d->embedder &&
            d->catalog->pendingCount(d->embedder->modelKey()) == 0) {
            d->servingEmbedder = d->embedder;
            d->servingIndex = d->index;
            d->servingCache = d->cache;
            recordServingModel(*d->catalog, d->embedder->modelKey());
            if (auto pipeline = d->servingEmbedder->pipeline())
                d->engine = std::make_shared<const SearchEngine>(pipeline, d->servingIndex,
                                                                 d->photoSource, d->servingCache);
            else
                d->engine.reset();
        }
        if (result.error)
            Q_EMIT errorOccurred(error);
        Q_EMIT foldersChanged();
        Q_EMIT indexingFinished(result.cancelled || result.error);
        if ((d->rescanRequested && !result.error && !result.cancelled) ||
            std::exchange(d->restartAfterCancel, false))
            QTimer::singleShot(0, this, &Library::startIndexing);
    });
    QMetaObject::invokeMethod(d->worker, &IndexWorker::run, Qt::QueuedConnection);
}

void Library::updateWatches(const QStringList &directories, bool truncated) {
    if (!d->watcher) {
        d->watcher = new QFileSystemWatcher(this);
        connect(d->watcher, &QFileSystemWatcher::directoryChanged, d->debounce,
                qOverload<>(&QTimer::start));
    }
    const QStringList old = d->watcher->directories();
    if (!old.isEmpty())
        d->watcher->removePaths(old);
    if (!directories.isEmpty())
        d->watcher->addPaths(directories); // paths it cannot watch (limits) are left to the rescan
    // File contents changed in place do not always reach a directory watch, and folders beyond the
    // watch cap are not watched at all: a cheap periodic rescan (size + mtime) covers both.
    const int interval = d->options.rescanIntervalSeconds;
    if (interval > 0)
        d->periodic->start((truncated ? std::max(60, interval / 4) : interval) * 1000);
}

void Library::pauseIndexing() {
    if (d->worker)
        d->worker->pause();
}

void Library::resumeIndexing() {
    if (d->worker)
        d->worker->resume();
}

void Library::cancelIndexing() {
    d->rescanRequested = false;
    if (d->worker) {
        d->worker->cancel();
        d->worker->resume();
    }
}

bool Library::isIndexing() const {
    return d->worker != nullptr;
}

namespace {

// Brings each of `indexes` (distinct) up to date with the catalog and saves what changed; the
// summary adds them up. Runs on any thread; one sync at a time (state.mutex). A template only
// because State (Library::Impl::SyncState) is private to the Library.
template <typename State>
Result<IndexSyncSummary>
syncIndexes(const Catalog &catalog, State &state,
            const std::vector<std::pair<std::shared_ptr<VectorIndex>, QString>> &indexes) {
    std::lock_guard lock(state.mutex);
    IndexSyncSummary total;
    for (const auto &[index, path] : indexes) {
        const QString key = index->modelKey();
        const qint64 since = state.seqs.value(key, 0);
        auto applied = applyCatalogChanges(catalog, *index, since);
        if (!applied)
            return applied.error();
        const bool changed = applied->added + applied->removed > 0;
        if (changed || applied->throughSeq != since) {
            state.seqs[key] = applied->throughSeq;
            // A cache: failing to save costs a longer sync at the next start.
            if (Status s =
                    saveSyncedIndex(*index, path, state.catalogId, applied->throughSeq, changed);
                !s)
                qWarning("%s", qPrintable(s.error().message));
        }
        total.throughSeq = std::max(total.throughSeq, applied->throughSeq);
        total.rowsRead += applied->rowsRead;
        total.added += applied->added;
        total.removed += applied->removed;
    }
    return total;
}

} // namespace

std::vector<std::pair<std::shared_ptr<VectorIndex>, QString>> Library::indexesToSync() const {
    std::vector<std::pair<std::shared_ptr<VectorIndex>, QString>> out;
    for (const auto &index : {d->index, d->servingIndex})
        if (index && (out.empty() || out.front().first != index))
            out.emplace_back(index, vectorIndexPath(index->modelKey()));
    return out;
}

Result<IndexSyncSummary> Library::syncIndex() {
    auto result = syncIndexes(*d->catalog, *d->sync, indexesToSync());
    if (result && result->added + result->removed > 0) {
        d->lastSync = *result;
        Q_EMIT indexSynced(result->added, result->removed);
        Q_EMIT foldersChanged(); // the counts changed too
    }
    return result;
}

void Library::syncIndexInBackground() {
    // The local indexer keeps the index in step while it runs (the next sync reads its changes
    // and finds them in place); a model still loading is synced when it is in place.
    if (d->worker || d->loadingEmbedder || d->syncRunning)
        return;
    auto indexes = indexesToSync();
    if (indexes.empty())
        return;
    d->syncRunning = true;
    QPointer<Library> self(this);
    QMetaObject::invokeMethod(
        d->syncContext,
        [self, catalog = d->catalog, state = d->sync, indexes = std::move(indexes)] {
            auto result = syncIndexes(*catalog, *state, indexes);
            if (!self)
                return;
            QMetaObject::invokeMethod(
                self.data(),
                [self, result] {
                    if (!self)
                        return;
                    self->d->syncRunning = false;
                    if (!result) {
                        // Transient (a server restarting): the next tick tries again.
                        qWarning("%s", qPrintable(result.error().message));
                        return;
                    }
                    if (result->added + result->removed > 0) {
                        self->d->lastSync = *result;
                        Q_EMIT self->indexSynced(result->added, result->removed);
                        Q_EMIT self->foldersChanged(); // the counts changed too
                    }
                },
                Qt::QueuedConnection);
        },
        Qt::QueuedConnection);
}

IndexSyncSummary Library::lastSync() const {
    return d->lastSync;
}

std::shared_ptr<const SearchEngine> Library::searchEngine() const {
    return d->engine;
}

} // namespace ts
