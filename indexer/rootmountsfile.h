#pragma once

// This machine's mapping of library roots (issue 17): which local folder each root of a catalog
// is here. Kept outside the catalog, in <XDG config home>/towersearch/roots.json, because another
// machine sharing the catalog mounts the same root elsewhere. One file for every catalog, keyed by
// its location: the absolute file path of a SQLite library, or a PostgreSQL URL with any password
// removed (a password is never written here).
//
//   {"version": 1, "catalogs": {"/home/me/.local/share/towersearch/library.sqlite":
//                               {"photos": "/mnt/nas/photos"}}}
//
// The app and the CLI read it into LibraryOptions::rootMounts and write it when the user adds,
// maps or unmaps a root. Threads: any (no shared state); two processes saving at once: the last
// write wins (each writes the whole file atomically).

#include "core/common/result.h"

#include <QHash>
#include <QString>

namespace ts {

class RootMountsFile {
public:
    // <XDG config home>/towersearch/roots.json (~/.config/towersearch/roots.json).
    static QString defaultPath();
    explicit RootMountsFile(QString path = defaultPath()) : m_path(std::move(path)) {}

    // The key of a catalog location: a URL (postgres:// or postgresql://) without its password,
    // else the file's absolute path (empty: the default library, Library::defaultDatabasePath()).
    static QString keyFor(const QString &catalogLocation);

    // The mapping of one catalog (empty when the file or the catalog's entry is missing). A file
    // that cannot be read or is malformed is an error naming it (nothing is guessed).
    Result<QHash<QString, QString>> load(const QString &catalogLocation) const;
    // Replaces one catalog's mapping, keeping the others'; written atomically (temp + rename).
    Status save(const QString &catalogLocation, const QHash<QString, QString> &mounts) const;

    const QString &path() const { return m_path; }

private:
    QString m_path;
};

} // namespace ts
