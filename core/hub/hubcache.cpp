#include "core/hub/hubcache.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>

#include <filesystem>
#include <system_error>

namespace ts {

namespace {

std::filesystem::path toPath(const QString &s) {
    return std::filesystem::path(s.toStdString());
}

// A name from a server, quoted for a message: control characters escaped, long ones cut.
QString printable(const QString &s) {
    QString out;
    for (const QChar c : s.left(120)) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            out += QStringLiteral("\\x%1").arg(c.unicode(), 2, 16, QLatin1Char('0'));
        else
            out += c;
    }
    return QLatin1Char('"') + out +
           (s.size() > 120 ? QStringLiteral("...\"") : QStringLiteral("\""));
}

Error unsafe(const QString &what, const QString &value, const QString &root) {
    return Error(Error::Code::Format,
                 QStringLiteral("refusing the unsafe %1 %2 for the Hub cache %3: it could name a "
                                "path outside the cache")
                     .arg(what, printable(value), root));
}

} // namespace

HubCache::HubCache(QString root) : m_root(std::move(root)) {}

QString HubCache::defaultRoot() {
    return searchRoots().constFirst();
}

QStringList HubCache::searchRoots() {
    QStringList roots;
    const QString hubCache = qEnvironmentVariable("HF_HUB_CACHE");
    if (!hubCache.isEmpty())
        roots << hubCache;
    const QString hfHome = qEnvironmentVariable("HF_HOME");
    if (!hfHome.isEmpty())
        roots << QDir(hfHome).filePath(QStringLiteral("hub"));
    const QString xdg = qEnvironmentVariable("XDG_CACHE_HOME");
    if (!xdg.isEmpty())
        roots << QDir(xdg).filePath(QStringLiteral("huggingface/hub"));
    roots << QDir::home().filePath(QStringLiteral(".cache/huggingface/hub"));
    roots.removeDuplicates();
    return roots;
}

HubCache::EtagKind HubCache::etagKind(const QString &etag) {
    if (etag.size() != 64 && etag.size() != 40)
        return EtagKind::Unverifiable;
    for (const QChar c : etag)
        if (!((c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F')))
            return EtagKind::Unverifiable;
    return etag.size() == 64 ? EtagKind::Sha256 : EtagKind::GitBlobSha1;
}

QByteArray HubCache::gitBlobHeader(qint64 size) {
    return QByteArray("blob ") + QByteArray::number(size) + QByteArray(1, '\0');
}

QString HubCache::repoFolderName(const QString &repo) {
    return QStringLiteral("models--") +
           QString(repo).replace(QLatin1Char('/'), QStringLiteral("--"));
}

QString HubCache::repoFromFolderName(const QString &folder) {
    if (!folder.startsWith(QLatin1String("models--")))
        return {};
    return folder.mid(8).replace(QStringLiteral("--"), QStringLiteral("/"));
}

bool HubCache::isCommitHash(const QString &revision) {
    if (revision.size() != 40)
        return false;
    for (const QChar c : revision)
        if (!((c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f')))
            return false;
    return true;
}

bool HubCache::isSafeRelativePath(const QString &path) {
    if (path.isEmpty() || path.size() > 1024)
        return false;
    for (const QChar c : path)
        if (c.unicode() < 0x20 || c.unicode() == 0x7f || c == u'\\')
            return false;
    for (const QStringView segment : QStringView(path).split(u'/'))
        if (segment.isEmpty() || segment == u"." || segment == u"..")
            return false; // also catches a leading '/' (an empty first segment)
    return true;
}

bool HubCache::isSafeBlobName(const QString &etag) {
    return isSafeRelativePath(etag) && !etag.contains(u'/') && etag.size() <= 200;
}

QString HubCache::normalizeEtag(const QString &etag) {
    QString e = etag.trimmed();
    if (e.startsWith(QLatin1String("W/")))
        e = e.mid(2);
    if (e.size() >= 2 && e.startsWith(QLatin1Char('"')) && e.endsWith(QLatin1Char('"')))
        e = e.mid(1, e.size() - 2);
    return e;
}

QString HubCache::repoDir(const QString &repo) const {
    return QDir(m_root).filePath(repoFolderName(repo));
}

QString HubCache::blobPath(const QString &repo, const QString &etag) const {
    return repoDir(repo) + QStringLiteral("/blobs/") + etag;
}

QString HubCache::snapshotDir(const QString &repo, const QString &commit) const {
    return repoDir(repo) + QStringLiteral("/snapshots/") + commit;
}

QString HubCache::resolveRevision(const QString &repo, const QString &revision) const {
    if (isCommitHash(revision) && QFileInfo(snapshotDir(repo, revision)).isDir())
        return revision;
    if (!isSafeRelativePath(revision))
        return {};
    QFile ref(repoDir(repo) + QStringLiteral("/refs/") + revision);
    if (!ref.open(QIODevice::ReadOnly))
        return {};
    // A ref edited by hand or by a hostile download is not followed out of snapshots/.
    const QString commit = QString::fromLatin1(ref.read(256)).trimmed();
    return isCommitHash(commit) ? commit : QString();
}

QString HubCache::snapshotFile(const QString &repo, const QString &commit,
                               const QString &file) const {
    if (!isCommitHash(commit) || !isSafeRelativePath(file))
        return {};
    const QString path = snapshotDir(repo, commit) + QLatin1Char('/') + file;
    // QFileInfo::exists follows the link: a link to a missing blob is not a file.
    return QFileInfo(path).isFile() ? path : QString();
}

Status HubCache::writeRef(const QString &repo, const QString &revision,
                          const QString &commit) const {
    if (!isCommitHash(commit))
        return unsafe(QStringLiteral("commit"), commit, m_root);
    if (!isSafeRelativePath(revision))
        return unsafe(QStringLiteral("revision"), revision, m_root);
    if (revision == commit)
        return {};
    const QString path = repoDir(repo) + QStringLiteral("/refs/") + revision;
    if (!QDir().mkpath(QFileInfo(path).absolutePath()))
        return Error(
            Error::Code::Io,
            QStringLiteral("%1: cannot create the folder").arg(QFileInfo(path).absolutePath()));
    QSaveFile out(path);
    if (!out.open(QIODevice::WriteOnly) || out.write(commit.toLatin1()) != commit.size() ||
        !out.commit())
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot write: %2").arg(path, out.errorString()));
    return {};
}

Status HubCache::linkSnapshotFile(const QString &repo, const QString &commit, const QString &file,
                                  const QString &etag) const {
    if (!isCommitHash(commit))
        return unsafe(QStringLiteral("commit"), commit, m_root);
    if (!isSafeRelativePath(file))
        return unsafe(QStringLiteral("file name"), file, m_root);
    if (!isSafeBlobName(etag))
        return unsafe(QStringLiteral("etag"), etag, m_root);
    const QString link = snapshotDir(repo, commit) + QLatin1Char('/') + file;
    const QString linkDir = QFileInfo(link).absolutePath();
    if (!QDir().mkpath(linkDir))
        return Error(Error::Code::Io, QStringLiteral("%1: cannot create the folder").arg(linkDir));
    // Relative, like huggingface_hub: the cache can be moved or mounted elsewhere.
    const QString target = QDir(linkDir).relativeFilePath(blobPath(repo, etag));
    std::error_code ec;
    const auto linkPath = toPath(link);
    std::filesystem::remove(linkPath, ec);
    // A link made under a temporary name and renamed over: readers never see a missing file.
    const auto tmp = toPath(link + QStringLiteral(".tmp-link"));
    std::filesystem::remove(tmp, ec);
    std::filesystem::create_symlink(toPath(target), tmp, ec);
    if (!ec)
        std::filesystem::rename(tmp, linkPath, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        // No symlinks (some file systems): a copy still gives a usable snapshot.
        if (!QFile::copy(blobPath(repo, etag), link))
            return Error(
                Error::Code::Io,
                QStringLiteral("%1: cannot link or copy to %2").arg(blobPath(repo, etag), link));
    }
    return {};
}

QList<HubCache::Snapshot> HubCache::snapshots() const {
    QList<Snapshot> out;
    const QDir root(m_root);
    for (const QString &folder : root.entryList({QStringLiteral("models--*")},
                                                QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        const QString repo = repoFromFolderName(folder);
        const QDir snapshotsDir(root.filePath(folder + QStringLiteral("/snapshots")));
        for (const QString &commit :
             snapshotsDir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
            Snapshot s{repo, commit, {}, snapshotsDir.filePath(commit)};
            const QDir refsDir(root.filePath(folder + QStringLiteral("/refs")));
            QDirIterator it(refsDir.path(), QDir::Files, QDirIterator::Subdirectories);
            while (it.hasNext()) {
                const QString refPath = it.next();
                QFile f(refPath);
                if (f.open(QIODevice::ReadOnly) &&
                    QString::fromLatin1(f.read(256)).trimmed() == commit)
                    s.refs << refsDir.relativeFilePath(refPath);
            }
            out << s;
        }
    }
    return out;
}

Status HubCache::verifyFile(const QString &path, const QString &etag,
                            const std::function<void(qint64, qint64)> &progress) {
    const EtagKind kind = etagKind(etag);
    const bool sha256 = kind == EtagKind::Sha256;
    const bool gitSha1 = kind == EtagKind::GitBlobSha1;
    if (!sha256 && !gitSha1)
        return Error(
            Error::Code::Format,
            QStringLiteral("%1 cannot be verified: its etag %2 is neither a SHA-256 (64 hex "
                           "digits) nor a git blob SHA-1 (40)")
                .arg(path, printable(etag)));
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return Error(Error::Code::Io,
                     QStringLiteral("%1: cannot open: %2").arg(path, f.errorString()));
    const qint64 total = f.size();
    QCryptographicHash hash(sha256 ? QCryptographicHash::Sha256 : QCryptographicHash::Sha1);
    if (gitSha1)
        hash.addData(gitBlobHeader(total));
    qint64 done = 0;
    QByteArray buffer(1 << 20, Qt::Uninitialized);
    while (true) {
        const qint64 n = f.read(buffer.data(), buffer.size());
        if (n < 0)
            return Error(Error::Code::Io,
                         QStringLiteral("%1: read failed: %2").arg(path, f.errorString()));
        if (n == 0)
            break;
        hash.addData(QByteArrayView(buffer.constData(), n));
        done += n;
        if (progress)
            progress(done, total);
    }
    const QString actual = QString::fromLatin1(hash.result().toHex());
    if (actual.compare(etag, Qt::CaseInsensitive) != 0)
        return Error(Error::Code::Format,
                     QStringLiteral("%1: %2 mismatch: expected %3, got %4")
                         .arg(path,
                              sha256 ? QStringLiteral("SHA-256") : QStringLiteral("git blob SHA-1"),
                              etag, actual));
    return {};
}

} // namespace ts
