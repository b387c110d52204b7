#include "indexer/rootmapper.h"

#include <QDir>
#include <QFileInfo>

namespace ts {

namespace {

QString cleanMount(const QString &path) {
    QString clean = QDir::cleanPath(path);
    while (clean.size() > 1 && clean.endsWith(QLatin1Char('/')))
        clean.chop(1);
    return clean;
}

} // namespace

bool isPathAtOrUnder(const QString &path, const QString &dir) {
    if (dir.endsWith(QLatin1Char('/'))) // "/" itself
        return path.startsWith(dir) || path == dir.chopped(1);
    return path == dir || (path.startsWith(dir) && path.at(dir.size()) == QLatin1Char('/'));
}

RootMapper::RootMapper(const QHash<QString, QString> &mounts) {
    for (auto it = mounts.cbegin(); it != mounts.cend(); ++it)
        if (!it.value().isEmpty())
            m_mounts.insert(it.key(), cleanMount(it.value()));
}

std::optional<QString> RootMapper::rootContaining(const QString &localPath) const {
    if (!localPath.startsWith(QLatin1Char('/')))
        return std::nullopt;
    // Nested roots are refused when they are added or mapped, so at most one contains the path.
    for (auto it = m_mounts.cbegin(); it != m_mounts.cend(); ++it)
        if (isPathAtOrUnder(localPath, it.value()))
            return it.key();
    return std::nullopt;
}

QStringList RootMapper::rootsInside(const QString &localPath) const {
    QStringList out;
    const QString dir = cleanMount(localPath);
    for (auto it = m_mounts.cbegin(); it != m_mounts.cend(); ++it)
        if (it.value() != dir && isPathAtOrUnder(it.value(), dir))
            out << it.key();
    out.sort();
    return out;
}

QString RootMapper::toStored(const QString &local) const {
    if (m_mounts.isEmpty())
        return local;
    const std::optional<QString> root = rootContaining(local);
    if (!root)
        return local;
    const QString &mount = m_mounts[*root];
    const qsizetype skip = mount == QLatin1String("/") ? 0 : mount.size();
    return QLatin1Char('@') + *root + local.mid(skip);
}

QString RootMapper::toLocal(const QString &stored) const {
    const std::optional<QString> root = rootOf(stored);
    if (!root)
        return stored;
    const auto mount = m_mounts.constFind(*root);
    if (mount == m_mounts.cend())
        return stored;
    const QString rest = stored.mid(1 + root->size()); // "" or "/..."
    if (*mount == QLatin1String("/"))
        return rest.isEmpty() ? *mount : rest;
    return *mount + rest;
}

std::optional<QString> RootMapper::rootOf(const QString &storedPath) {
    if (!storedPath.startsWith(QLatin1Char('@')))
        return std::nullopt;
    const qsizetype slash = storedPath.indexOf(QLatin1Char('/'));
    return storedPath.mid(1, slash < 0 ? -1 : slash - 1);
}

bool RootMapper::isValidName(const QString &name) {
    if (name.isEmpty() || name.size() > 64 || name.startsWith(QLatin1Char('.')))
        return false;
    for (const QChar c : name)
        if (!(c.isLetterOrNumber() || c == QLatin1Char('.') || c == QLatin1Char('_') ||
              c == QLatin1Char('-')))
            return false;
    return true;
}

QString RootMapper::unavailableReason(const QString &path) const {
    std::optional<QString> root = rootOf(path);
    if (!root)
        root = rootContaining(path);
    if (!root)
        return {};
    const auto mount = m_mounts.constFind(*root);
    if (mount == m_mounts.cend())
        return QStringLiteral("library root '%1' is not mapped on this machine").arg(*root);
    const QFileInfo info(*mount);
    if (!info.isDir())
        return QStringLiteral("library root '%1' is mapped to %2 on this machine, which is not "
                              "there (a share or disk that is not mounted?)")
            .arg(*root, *mount);
    // An unmounted share leaves its mount point as an empty folder: nothing under it is taken
    // for deleted. (An empty root has nothing to lose by waiting.)
    if (QDir(*mount).isEmpty(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden | QDir::System))
        return QStringLiteral("library root '%1' is mapped to %2 on this machine, which is empty "
                              "(a share or disk that is not mounted?)")
            .arg(*root, *mount);
    return {};
}

} // namespace ts
