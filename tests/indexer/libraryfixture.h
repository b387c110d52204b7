#pragma once

// What the library tests share: a temporary library with the fake embedder, a bounded indexing
// run, a tmpfs mount that is always unmounted, and running a helper process as `nobody`.
#include "clirun.h"
#include "fakeembedder.h"
#include "indexer/library.h"
#include "testcatalog.h"

#include <QDebug>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace ts::test {

struct LibraryFixture {
    QTemporaryDir tmp;
    QString photos() const { return tmp.filePath(QStringLiteral("photos")); }
    // The catalog: lib/library.sqlite, or a PostgreSQL database on the PostgreSQL run.
    QString db() const {
        return catalogLocation(tmp.filePath(QStringLiteral("lib/library.sqlite")));
    }
    std::shared_ptr<FakeEmbedder> embedder = std::make_shared<FakeEmbedder>();

    // The library at `databasePath` with the fixture's embedder.
    std::unique_ptr<Library> openAt(const QString &databasePath) {
        LibraryOptions options;
        options.databasePath = databasePath;
        return open(options);
    }

    std::unique_ptr<Library> open(LibraryOptions options = {}) {
        return openWith(std::move(options),
                        [this](Library &lib) { return lib.setEmbedder(embedder); });
    }

    // The library at db() serving `pipeline` (the real model, not the fixture's embedder).
    std::unique_ptr<Library> openWithPipeline(std::shared_ptr<const BridgeTowerPipeline> pipeline) {
        return openWith({}, [&](Library &lib) { return lib.setPipeline(pipeline); });
    }

    // The library (not watching; at db() unless `options` name a database) with its model set by
    // `setModel`; null, with the reason logged, when either fails.
    std::unique_ptr<Library> openWith(LibraryOptions options,
                                      const std::function<Status(Library &)> &setModel) {
        if (options.databasePath.isEmpty())
            options.databasePath = db();
        options.watchFolders = false;
        auto lib = Library::open(options);
        if (!lib) {
            qWarning() << lib.error().message;
            return {};
        }
        if (Status s = setModel(**lib); !s) {
            qWarning() << s.error().message;
            return {};
        }
        return std::move(*lib);
    }

    // Copies every file of `dir` into photos(); false when one could not be copied.
    bool copyPhotosFrom(const QString &dir) const {
        QDir().mkpath(photos());
        for (const QString &name : QDir(dir).entryList(QDir::Files))
            if (!QFile::copy(dir + QLatin1Char('/') + name, photos() + QLatin1Char('/') + name))
                return false;
        return true;
    }
};

// Runs one indexing pass to its end (bounded wait); returns false when it did not finish.
inline bool runIndex(Library &lib, int timeoutMs = 30000) {
    QSignalSpy finished(&lib, &Library::indexingFinished);
    lib.startIndexing();
    return finished.wait(timeoutMs);
}

// A tmpfs mounted for the length of a test (unmounted, lazily if busy, when it goes out of scope).
// mount() returns an empty string, or why the kernel refused (not root, no CAP_SYS_ADMIN): the
// test then skips with that reason.
class TmpfsMount {
public:
    explicit TmpfsMount(QString path) : m_path(std::move(path)) {}
    ~TmpfsMount() { unmount(); }
    TmpfsMount(const TmpfsMount &) = delete;
    TmpfsMount &operator=(const TmpfsMount &) = delete;

    QString mount(const QByteArray &options = "size=4m,mode=0755") {
        QDir().mkpath(m_path);
        if (::mount("tmpfs", QFile::encodeName(m_path).constData(), "tmpfs", 0,
                    options.constData()) != 0)
            return QStringLiteral("cannot mount a tmpfs on %1: %2")
                .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
        m_mounted = true;
        return {};
    }
    // Remounts with new options (e.g. "ro" or "size=8m"), keeping the content.
    QString remount(unsigned long flags, const QByteArray &options = {}) {
        if (::mount(nullptr, QFile::encodeName(m_path).constData(), nullptr, MS_REMOUNT | flags,
                    options.isEmpty() ? nullptr : options.constData()) != 0)
            return QStringLiteral("cannot remount %1: %2")
                .arg(m_path, QString::fromLocal8Bit(std::strerror(errno)));
        return {};
    }
    void unmount() {
        if (m_mounted)
            ::umount2(QFile::encodeName(m_path).constData(), MNT_DETACH);
        m_mounted = false;
    }
    const QString &path() const { return m_path; }

private:
    QString m_path;
    bool m_mounted = false;
};

// Why a helper cannot be run as `nobody` here (empty: it can): needs root and setpriv.
inline QString cannotDropPrivileges() {
    if (::geteuid() != 0)
        return QStringLiteral("dropping privileges to nobody needs root (running as uid %1)")
            .arg(::geteuid());
    if (QStandardPaths::findExecutable(QStringLiteral("setpriv")).isEmpty())
        return QStringLiteral("setpriv (util-linux) is not installed");
    return {};
}

// Runs `program args` as nobody:nogroup with no supplementary groups (bounded wait).
inline CliRun runAsNobody(const QString &program, const QStringList &args, int timeoutMs = 60000) {
    return runCli(QStringLiteral("setpriv"),
                  QStringList{QStringLiteral("--reuid=nobody"), QStringLiteral("--regid=nogroup"),
                              QStringLiteral("--clear-groups"), QStringLiteral("--"), program} +
                      args,
                  timeoutMs);
}

// chown -R nobody:nogroup (the helper running as nobody writes there).
inline bool giveToNobody(const QString &path) {
    return QProcess::execute(QStringLiteral("chown"),
                             {QStringLiteral("-R"), QStringLiteral("nobody:nogroup"), path}) == 0;
}

} // namespace ts::test
