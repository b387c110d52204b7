#pragma once

// Library roots (issue 17, "shared photo roots"): a folder on a shared mount or a removable disk
// has one identity for every machine. A root has a name; each machine maps it to its local mount
// path (/mnt/nas/photos here, /Volumes/photos there). The catalog stores a path under a root as
// "@<name>/<relative path>" (the root itself as "@<name>"), which never looks like an absolute
// path; a path outside every root keeps its absolute form.
//
// RootMapper is the one place that translates: the catalog's connection applies it to every path
// it binds (toStored) and reads (toLocal), so the rest of the program sees local paths only, and
// a path under a root that is not mapped on this machine stays "@name/...", which names no local
// file. The mapping is a prefix substitution, so "photo under folder" (a byte prefix) means the
// same on both sides: a stored path is under a stored folder exactly when the local ones are.
// A root's mount point is a boundary: a watched folder outside the root that contains it does not
// reach into it (its files are stored under the root, which is watched on its own).
//
// Threads: a value type; a const RootMapper may be read from any thread.

#include <QHash>
#include <QString>
#include <QStringList>

#include <optional>

namespace ts {

class RootMapper {
public:
    RootMapper() = default;
    // `mounts`: root name -> this machine's absolute path for it (cleaned here).
    explicit RootMapper(const QHash<QString, QString> &mounts);

    // "/mnt/nas/photos/2020/a.jpg" -> "@photos/2020/a.jpg" when photos is mapped to
    // /mnt/nas/photos; any other path unchanged.
    QString toStored(const QString &local) const;
    // "@photos/2020/a.jpg" -> "/mnt/nas/photos/2020/a.jpg" when photos is mapped here; unchanged
    // otherwise (an unmapped root's path stays "@photos/...").
    QString toLocal(const QString &stored) const;

    // The root a stored (or unmapped local) path is under: "photos" for "@photos/x" and "@photos".
    static std::optional<QString> rootOf(const QString &storedPath);
    // The mapped root that contains the local path (at or under its mount point).
    std::optional<QString> rootContaining(const QString &localPath) const;
    // The mapped roots whose mount point lies strictly inside `localPath`.
    QStringList rootsInside(const QString &localPath) const;

    // Is `name` usable as a root name: letters, digits, '.', '_', '-', not starting with '.'.
    static bool isValidName(const QString &name);

    const QHash<QString, QString> &mounts() const { return m_mounts; }
    QString mountOf(const QString &name) const { return m_mounts.value(name); }
    bool isMapped(const QString &name) const { return m_mounts.contains(name); }

    // Why the files under `path` (local or stored) cannot be reached here because of its root, or
    // empty: its root is not mapped on this machine, its mount point is not there, or it is an
    // empty folder (a share that is not mounted). Stats the mount point: call it off the GUI
    // thread where a share may hang.
    QString unavailableReason(const QString &path) const;

private:
    QHash<QString, QString> m_mounts; // name -> cleaned absolute path, without a trailing '/'
};

// Is `path` the folder `dir` or inside it (byte prefix on '/' boundaries)?
bool isPathAtOrUnder(const QString &path, const QString &dir);

} // namespace ts
