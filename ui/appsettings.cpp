#include "ui/appsettings.h"

#include <QtGlobal>

namespace ts {

namespace {
int clampedInt(const QSettings &s, const char *key, int fallback, int lo, int hi) {
    bool ok = false;
    const int v = s.value(QLatin1String(key), fallback).toInt(&ok);
    return ok ? qBound(lo, v, hi) : fallback;
}
} // namespace

AppSettings AppSettings::load(QSettings &s) {
    AppSettings a;
    a.modelDirectory = s.value(QStringLiteral("model/directory")).toString();
    a.candidates = clampedInt(s, "search/candidates", a.candidates, 1, 10000);
    a.rerankDepth = clampedInt(s, "search/rerankDepth", a.rerankDepth, 0, 1000);
    a.relevanceDefault = qBound(
        0.0, s.value(QStringLiteral("search/relevanceDefault"), a.relevanceDefault).toDouble(),
        1.0);
    a.threads = clampedInt(s, "model/threads", a.threads, 0, 256);
    a.precision = parsePrecisionSetting(s.value(QStringLiteral("model/precision")).toString())
                      .value_or(a.precision);
    a.excludedFolders = s.value(QStringLiteral("library/excludedFolders")).toStringList();
    a.libraryLocation = s.value(QStringLiteral("library/location")).toString().trimmed();
    a.rerankCacheMemoryMiB =
        clampedInt(s, "cache/rerankMemoryMiB", a.rerankCacheMemoryMiB, 0, 65536);
    a.rerankCacheDiskMiB = clampedInt(s, "cache/rerankDiskMiB", a.rerankCacheDiskMiB, 0, 1 << 20);
    a.thumbnailCacheMiB = clampedInt(s, "cache/thumbnailMiB", a.thumbnailCacheMiB, 8, 65536);
    return a;
}

void AppSettings::save(QSettings &s) const {
    s.setValue(QStringLiteral("model/directory"), modelDirectory);
    s.setValue(QStringLiteral("search/candidates"), candidates);
    s.setValue(QStringLiteral("search/rerankDepth"), rerankDepth);
    s.setValue(QStringLiteral("search/relevanceDefault"), relevanceDefault);
    s.setValue(QStringLiteral("model/threads"), threads);
    s.setValue(QStringLiteral("model/precision"), precisionSettingName(precision));
    s.setValue(QStringLiteral("library/excludedFolders"), excludedFolders);
    s.setValue(QStringLiteral("library/location"), libraryLocation);
    s.setValue(QStringLiteral("cache/rerankMemoryMiB"), rerankCacheMemoryMiB);
    s.setValue(QStringLiteral("cache/rerankDiskMiB"), rerankCacheDiskMiB);
    s.setValue(QStringLiteral("cache/thumbnailMiB"), thumbnailCacheMiB);
}

} // namespace ts
