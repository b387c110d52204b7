#pragma once

#include "core/common/result.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <functional>

namespace ts {

// The Hugging Face Hub cache layout, shared with Python tools (huggingface_hub, transformers):
//
//   <root>/models--ORG--NAME/blobs/<etag>                  file contents, named by the Hub's etag
//                                                          (sha256 for LFS files, git blob sha1
//                                                          else)
//   <root>/models--ORG--NAME/blobs/<etag>.incomplete       a download in progress (resumable)
//   <root>/models--ORG--NAME/refs/<revision>               the commit hash a branch/tag pointed to
//   <root>/models--ORG--NAME/snapshots/<commit>/<file>     relative symlink -> ../../blobs/<etag>
//
// A model fetched by Python is found here without a copy, and what we fetch is reused by Python.
// HubCache is a value type holding the root path only; every method touches the disk and may be
// called from any thread (two processes writing the same blob are safe: every write is a rename).
// Commits, file names, etags and revisions often come from a server: every method that builds a
// path from them refuses (or, for lookups, does not find) one that could leave the cache folder.
class HubCache {
public:
    explicit HubCache(QString root);

    // $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
    // else ~/.cache/huggingface/hub (huggingface_hub's constants.py order).
    static QString defaultRoot();
    // Every folder a Hugging Face tool may have used as its cache, in that order and without
    // duplicates, existing or not: defaultRoot() first, then the ones a different environment
    // (another HF_HOME, no XDG_CACHE_HOME) would have used.
    static QStringList searchRoots();
    static HubCache fromEnvironment() { return HubCache(defaultRoot()); }

    const QString &root() const { return m_root; }

    // "BridgeTower/bridgetower-large-itm-mlm-itc" ->
    // "models--BridgeTower--bridgetower-large-itm-mlm-itc".
    static QString repoFolderName(const QString &repo);
    // The inverse (empty when `folder` is not a models-- folder).
    static QString repoFromFolderName(const QString &folder);
    // A git commit hash: exactly 40 lowercase hex digits.
    static bool isCommitHash(const QString &revision);
    // A relative path that stays where it is put: non-empty '/'-separated segments, none of them
    // "." or "..", no backslash, no control character (NUL included), not absolute.
    static bool isSafeRelativePath(const QString &path);
    // An etag usable as a blob file name: one safe path segment.
    static bool isSafeBlobName(const QString &etag);
    // Strips a weak marker and quotes: W/"abc" -> abc.
    static QString normalizeEtag(const QString &etag);
    // What a (normalised) etag says about the file's bytes: 64 hex digits are its SHA-256 (LFS
    // files), 40 its git blob SHA-1 (sha1("blob <size>\0" + content)); anything else cannot be
    // checked. Hex digits of either case.
    enum class EtagKind { Sha256, GitBlobSha1, Unverifiable };
    static EtagKind etagKind(const QString &etag);
    // "blob <size>\0": what git hashes before a file's bytes (EtagKind::GitBlobSha1).
    static QByteArray gitBlobHeader(qint64 size);

    QString repoDir(const QString &repo) const;
    QString blobPath(const QString &repo, const QString &etag) const;
    QString snapshotDir(const QString &repo, const QString &commit) const;

    // The commit a revision names in this cache: a commit hash with a snapshot folder is itself;
    // a branch or tag is read from refs/<revision>. Empty when unknown.
    QString resolveRevision(const QString &repo, const QString &revision) const;
    // snapshots/<commit>/<file> when it exists (a dangling link does not count), else empty.
    QString snapshotFile(const QString &repo, const QString &commit, const QString &file) const;

    // refs/<revision> = commit, written atomically. A commit-hash revision writes nothing. Fails,
    // writing nothing, when the revision is no safe relative path or the commit no commit hash.
    Status writeRef(const QString &repo, const QString &revision, const QString &commit) const;
    // snapshots/<commit>/<file> -> relative symlink to blobs/<etag> (replacing a link there).
    // Fails, creating nothing, for a commit that is no commit hash, an unsafe file or etag.
    Status linkSnapshotFile(const QString &repo, const QString &commit, const QString &file,
                            const QString &etag) const;

    struct Snapshot {
        QString repo;
        QString commit;
        QStringList refs; // branches/tags pointing at this commit
        QString directory;
    };
    // Every snapshot folder of every model repository in the cache, sorted by repo then commit.
    QList<Snapshot> snapshots() const;

    // Re-hashes `file` and compares with `etag`: a 64-hex etag is the file's SHA-256; a 40-hex etag
    // is its git blob SHA-1 (sha1("blob <size>\0" + content)). Any other etag cannot be checked,
    // and fails saying so (never a silent pass). `progress(done, total)` reports bytes hashed.
    // Fails naming the file and both hashes.
    static Status verifyFile(const QString &file, const QString &etag,
                             const std::function<void(qint64, qint64)> &progress = {});

private:
    QString m_root;
};

} // namespace ts
