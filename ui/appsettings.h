#pragma once

#include "core/common/precisionpolicy.h"

#include <QSettings>
#include <QString>
#include <QStringList>

namespace ts {

// What the user can set in the Settings dialog, stored with QSettings (GUI thread only).
struct AppSettings {
    QString modelDirectory;        // empty: not set up yet (the first-run dialog asks)
    int candidates = 100;          // nearest neighbours per query
    int rerankDepth = 20;          // how many of them the ITM head re-scores
    double relevanceDefault = 0.0; // initial minimum match probability (0: show everything)
    int threads = 0;               // LibTorch intra-op threads; 0: all cores
    PrecisionSetting precision =
        PrecisionSetting::Auto; // model precision (auto: bf16 where native)
    QStringList excludedFolders;
    // The library: a file path or a PostgreSQL URL (indexer/librarylocation.h); empty: the default
    // library. $TOWERSEARCH_DB and --database override it.
    QString libraryLocation;
    int rerankCacheMemoryMiB = 256;
    int rerankCacheDiskMiB = 2048;
    int thumbnailCacheMiB = 128;

    // Missing keys keep their defaults; out-of-range values are clamped.
    static AppSettings load(QSettings &settings);
    void save(QSettings &settings) const;

    friend bool operator==(const AppSettings &, const AppSettings &) = default;
};

} // namespace ts
