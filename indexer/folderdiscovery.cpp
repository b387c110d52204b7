#include "indexer/folderdiscovery.h"

#include "core/common/nativepath.h"
#include "indexer/catalog.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QSet>

#include <deque>

#ifdef Q_OS_UNIX
#include <dirent.h>
#include <sys/stat.h>
#endif
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace ts::internal {

namespace {

// Extensions discovery considers (decoding itself recognises formats by content). Other files in a
// photo folder (sidecars, videos, documents) are not photos and are not reported as failures.
bool looksLikePhoto(const QString &name) {
    static const QSet<QString> kExtensions = {
        QStringLiteral("jpg"),  QStringLiteral("jpeg"), QStringLiteral("jpe"),
        QStringLiteral("png"),  QStringLiteral("webp"), QStringLiteral("gif"),
        QStringLiteral("bmp"),  QStringLiteral("tif"),  QStringLiteral("tiff"),
        QStringLiteral("heic"), QStringLiteral("heif"), QStringLiteral("avif")};
    const qsizetype dot = name.lastIndexOf(QLatin1Char('.'));
    return dot > 0 && kExtensions.contains(name.mid(dot + 1).toLower());
}

// One entry of a folder listing, with what stat() says of it (following symlinks, as QFileInfo).
struct DirEntry {
    QString name;
    QString path;
    NativeFileInfo info;
    QString linkTarget; // not null: a symlink whose target is not there
};

// Lists `dir` with readdir(), so that names which are not valid UTF-8 (old FAT drives, archives)
// are listed losslessly (core/common/nativepath.h) where QDir would mangle them. Hidden entries
// are left out; sorted by name. nullopt when the folder cannot be listed (errno says why).
std::optional<std::vector<DirEntry>> listDirectory(const QString &dir) {
    std::vector<DirEntry> out;
#ifdef Q_OS_UNIX
    DIR *d = ::opendir(nativePath(dir).constData());
    if (!d)
        return std::nullopt;
    const QString prefix = dir.endsWith(QLatin1Char('/')) ? dir : dir + QLatin1Char('/');
    while (const dirent *e = ::readdir(d)) {
        if (e->d_name[0] == '.') // hidden, and "." and ".."
            continue;
        DirEntry entry;
        entry.name = pathFromNative(QByteArray(e->d_name));
        entry.path = prefix + entry.name;
        entry.info = statNative(entry.path);
        if (!entry.info.exists) {
            // A dangling symlink is kept (its target may be an unmounted disk); a file gone
            // since readdir is not.
            struct stat link {};
            if (::lstat(nativePath(entry.path).constData(), &link) != 0 || !S_ISLNK(link.st_mode))
                continue;
            entry.linkTarget = QFileInfo(entry.path).symLinkTarget();
            if (entry.linkTarget.isNull())
                entry.linkTarget = QStringLiteral("");
        }
        out.push_back(std::move(entry));
    }
    ::closedir(d);
#else
    const QDir qdir(dir);
    if (!qdir.exists())
        return std::nullopt;
    for (const QFileInfo &fi : qdir.entryInfoList(QDir::Dirs | QDir::Files | QDir::NoDotAndDotDot))
        if (!fi.fileName().startsWith(QLatin1Char('.')))
            out.push_back({fi.fileName(), fi.filePath(), statNative(fi.filePath())});
#endif
    std::sort(out.begin(), out.end(),
              [](const DirEntry &x, const DirEntry &y) { return x.name < y.name; });
    return out;
}

struct DirectoryProbe {
    qint64 device = 0, parentDevice = 0;
    QString offlineReason; // non-empty: the folder cannot be listed, or its disk is not mounted
};

// Can `path` be listed, and is it still the filesystem it was when last listed (`last`)? A mount
// point whose disk is gone is an empty folder on its parent's filesystem again: offline, not
// emptied. So is a folder that is empty now and on another filesystem than before.
DirectoryProbe probeDirectory(const QString &path, const DirectoryRecord *last) {
    DirectoryProbe probe;
#ifdef Q_OS_UNIX
    const QByteArray native = nativePath(path);
    struct stat st {};
    if (::stat(native.constData(), &st) != 0) {
        const int error = errno;
        struct stat link {};
        if (::lstat(native.constData(), &link) == 0 && S_ISLNK(link.st_mode))
            probe.offlineReason = QStringLiteral("it is a link to %1, which is not there")
                                      .arg(QFileInfo(path).symLinkTarget());
        else if (error == ENOENT)
            probe.offlineReason = QStringLiteral(
                "the folder is missing (a disk that is not mounted, or a folder renamed)");
        else
            probe.offlineReason = QStringLiteral("it cannot be read: %1")
                                      .arg(QString::fromLocal8Bit(std::strerror(error)));
        return probe;
    }
    probe.device = qint64(st.st_dev);
    struct stat parent {};
    probe.parentDevice =
        ::stat((native + "/..").constData(), &parent) == 0 ? qint64(parent.st_dev) : probe.device;
    DIR *d = ::opendir(native.constData());
    if (!d) {
        probe.offlineReason = QStringLiteral("it cannot be listed: %1")
                                  .arg(QString::fromLocal8Bit(std::strerror(errno)));
        return probe;
    }
    bool empty = true;
    while (const dirent *e = ::readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    }
    ::closedir(d);
    if (last && last->device != 0) {
        const bool wasMountPoint = last->device != last->parentDevice;
        if (wasMountPoint && probe.device == probe.parentDevice)
            probe.offlineReason =
                QStringLiteral("the disk is not mounted (the folder is an empty mount point)");
        else if (empty && probe.device != last->device)
            probe.offlineReason = QStringLiteral("the disk is not mounted (the folder is empty and "
                                                 "on another filesystem than before)");
    }
#else
    if (!QFileInfo(path).isDir())
        probe.offlineReason = QStringLiteral("the folder is missing");
#endif
    return probe;
}

// The walk of every watched folder: what it found so far, and what it must remember across
// folders (visited canonical folders, so symlink loops end; the roots, which are never walked as
// another root's subfolder).
class FolderWalker {
public:
    FolderWalker(Catalog &catalog, const DiscoveryOptions &options,
                 const std::atomic<bool> &cancelled, const std::function<void(qint64)> &onJobFound)
        : m_catalog(catalog), m_options(options), m_cancelled(cancelled), m_onJobFound(onJobFound) {
    }

    Result<Discovery> run() {
        for (const QString &e : m_options.excludedFolders)
            m_excluded.insert(QDir::cleanPath(e));
        m_out.folders = m_catalog.folders(m_options.modelKey);
        m_recorded = m_catalog.directories();
        const RootMapper roots = m_catalog.rootMapper();
        // A library root's mount point is a boundary: a watched folder around it never walks
        // into it (its files are stored under the root, walked as the root's own folders).
        for (const QString &mount : roots.mounts())
            m_roots.insert(mount);
        // Watched folders inside another one are walked as their own roots (a photo belongs to
        // the innermost watched folder that contains it), never as a subfolder of the outer one.
        for (const WatchedFolder &folder : m_out.folders) {
            m_roots.insert(folder.path);
            if (const QString canonical = QFileInfo(folder.path).canonicalFilePath();
                !canonical.isEmpty())
                m_roots.insert(canonical);
        }
        for (const WatchedFolder &folder : m_out.folders) {
            if (m_cancelled)
                return std::move(m_out);
            // Under a library root that is not mapped here, or not mounted: nothing is walked,
            // recorded, marked or deleted; Catalog::folders() says why it is unavailable.
            if (!roots.unavailableReason(folder.path).isEmpty())
                continue;
            if (Status s = walkRoot(folder); !s)
                return s.error();
        }
        if (m_cancelled)
            return std::move(m_out);
        if (Status s = m_catalog.recordDiscovery(m_scannedRoots, m_directoryRecords,
                                                 m_scannedFolders, m_offlinePhotos);
            !s)
            return s.error();
        return std::move(m_out);
    }

private:
    // One watched folder's walk: its catalog rows not found yet, and the paths found offline.
    struct RootWalk {
        const WatchedFolder &folder;
        QHash<QString, KnownFile> known;
        QStringList offlinePaths;
        std::deque<QString> stack;
    };

    Status walkRoot(const WatchedFolder &folder) {
        auto known = m_catalog.filesOf(folder.id, m_options.modelKey);
        if (!known)
            return known.error();
        RootWalk walk{folder, std::move(*known), {}, {folder.path}};
        while (!walk.stack.empty() && !m_cancelled) {
            const QString dirPath = walk.stack.back();
            walk.stack.pop_back();
            walkDirectory(walk, dirPath);
        }
        if (m_cancelled)
            return {};
        sortUnfound(walk);
        m_scannedRoots << folder.path;
        m_scannedFolders.push_back(folder.id);
        return {};
    }

    void walkDirectory(RootWalk &walk, const QString &dirPath) {
        if (m_excluded.contains(QDir::cleanPath(dirPath)))
            return;
        const auto last = m_recorded.constFind(dirPath);
        const DirectoryProbe probe =
            probeDirectory(dirPath, last == m_recorded.cend() ? nullptr : &*last);
        if (!probe.offlineReason.isEmpty()) {
            goOffline(walk, dirPath, probe.offlineReason);
            return;
        }
        const QString canonical = canonicalNativePath(dirPath);
        if (canonical.isEmpty() || m_visited.contains(canonical) || m_excluded.contains(canonical))
            return;
        m_visited.insert(canonical);
        m_directoryRecords.push_back(
            {dirPath, probe.device, probe.parentDevice, std::nullopt, QString()});
        if (m_out.directories.size() < m_options.maxWatchedDirectories)
            m_out.directories << dirPath;
        else
            m_out.directoriesTruncated = true;
        const std::optional<std::vector<DirEntry>> listed = listDirectory(dirPath);
        if (!listed) {
            // Listable a moment ago (probeDirectory): unmounted or made unreadable since.
            goOffline(walk, dirPath,
                      QStringLiteral("it cannot be listed: %1")
                          .arg(QString::fromLocal8Bit(std::strerror(errno))));
            return;
        }
        for (const DirEntry &entry : *listed)
            visitEntry(walk, entry);
    }

    void visitEntry(RootWalk &walk, const DirEntry &entry) {
        if (!entry.linkTarget.isNull()) {
            // A dangling link: a folder (or photo) on a share or disk that is not there.
            walk.offlinePaths << entry.path;
            const QString prefix = entry.path + QLatin1Char('/');
            for (auto k = walk.known.cbegin(); k != walk.known.cend(); ++k) {
                if (k.key().startsWith(prefix)) {
                    goOffline(walk, entry.path,
                              QStringLiteral("it is a link to %1, which is not there")
                                  .arg(entry.linkTarget));
                    break;
                }
            }
            return;
        }
        if (entry.info.isDir) {
            if (!m_roots.contains(entry.path) && !m_roots.contains(canonicalNativePath(entry.path)))
                walk.stack.push_back(entry.path);
            return;
        }
        if (looksLikePhoto(entry.name) && entry.info.isFile)
            considerFile(walk, entry);
    }

    // A photo file: skipped when its catalog row says it is done, else a job.
    void considerFile(RootWalk &walk, const DirEntry &entry) {
        PhotoJob job;
        job.folderId = walk.folder.id;
        job.path = entry.path;
        job.size = entry.info.size;
        job.mtimeMs = entry.info.mtimeMs;
        if (auto it = walk.known.find(job.path); it != walk.known.end()) {
            const KnownFile k = *it;
            walk.known.erase(it);
            const bool same = k.size == job.size && k.mtimeMs == job.mtimeMs;
            if (same && (k.hasEmbedding || k.state == PhotoState::Failed)) {
                ++m_out.skipped;
                return; // unchanged: not even opened
            }
            job.existingId = k.id;
            job.existingHadEmbedding = k.hasEmbedding;
            job.unchanged = same;
        }
        m_out.jobs.push_back(std::move(job));
        if (m_onJobFound)
            m_onJobFound(qint64(m_out.jobs.size()));
    }

    void goOffline(RootWalk &walk, const QString &path, const QString &reason) {
        walk.offlinePaths << path;
        DirectoryRecord d = m_recorded.value(path); // keeps the device it was last listed on
        d.path = path;
        if (!d.offlineSinceMs)
            d.offlineSinceMs = m_options.scanStartMs;
        d.offlineReason = reason;
        m_directoryRecords.push_back(d);
    }

    // Catalog rows whose file was not found: kept (offline) under a folder that could not be
    // listed; else moved (matched by content later) or deleted.
    void sortUnfound(const RootWalk &walk) {
        for (auto it = walk.known.cbegin(); it != walk.known.cend(); ++it) {
            const bool offline =
                std::any_of(walk.offlinePaths.cbegin(), walk.offlinePaths.cend(),
                            [&](const QString &o) { return isPathAtOrUnder(it.key(), o); });
            if (offline)
                m_offlinePhotos.push_back(it->id);
            else
                m_out.vanished.push_back({it->id, it->fullHash, it->hasEmbedding, it.key()});
        }
    }

    Catalog &m_catalog;
    const DiscoveryOptions &m_options;
    const std::atomic<bool> &m_cancelled;
    const std::function<void(qint64)> &m_onJobFound;
    QSet<QString> m_excluded;
    QSet<QString> m_visited; // canonical folders: symlink loops end here
    QSet<QString> m_roots;
    QHash<QString, DirectoryRecord> m_recorded;
    Discovery m_out;
    std::vector<DirectoryRecord> m_directoryRecords;
    std::vector<qint64> m_offlinePhotos;
    QStringList m_scannedRoots;
    std::vector<qint64> m_scannedFolders;
};

} // namespace

Result<Discovery> discoverPhotos(Catalog &catalog, const DiscoveryOptions &options,
                                 const std::atomic<bool> &cancelled,
                                 const std::function<void(qint64 jobsFound)> &onJobFound) {
    return FolderWalker(catalog, options, cancelled, onJobFound).run();
}

} // namespace ts::internal
