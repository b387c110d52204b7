#pragma once

#include <QDir>
#include <QString>
#include <QStringList>
#include <QtGlobal>

namespace ts::test {

// tests/data inside the source tree (fixtures copied from shared/fixtures so a clone is
// self-contained).
inline QString dataDir(const QString &sub = {}) {
    const QString base = QStringLiteral(TOWERSEARCH_TEST_DATA_DIR);
    return sub.isEmpty() ? base : base + QLatin1Char('/') + sub;
}

// Folders of fixture cases: every subfolder of tests/data/<sub> plus every subfolder of the
// directory named by the environment variable `envVar`, when set (the same checks on other data of
// that shape).
inline QStringList caseDirs(const QString &sub, const char *envVar, const QString &mustContain) {
    QStringList roots{dataDir(sub)};
    const QString extra = qEnvironmentVariable(envVar);
    if (!extra.isEmpty())
        roots << extra;
    QStringList out;
    for (const QString &root : roots) {
        QDir dir(root);
        if (QFile::exists(dir.filePath(mustContain)))
            out << dir.absolutePath();
        for (const QString &name : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
            if (QFile::exists(dir.filePath(name + QLatin1Char('/') + mustContain)))
                out << dir.absoluteFilePath(name);
    }
    return out;
}

} // namespace ts::test
