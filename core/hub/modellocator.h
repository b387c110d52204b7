#pragma once

#include "core/common/modelheads.h"
#include "core/common/result.h"
#include "core/hub/hubcache.h"

#include <QList>
#include <QString>
#include <QStringList>

namespace ts {

// The BridgeTower checkpoints TowerSearch knows, and what each is good for.
inline constexpr const char *kDefaultModelRepo = "BridgeTower/bridgetower-large-itm-mlm-itc";

// A checkpoint folder on disk and what it can do, from a cheap check (file names, config.json and,
// for model.safetensors, the tensor names in its header; no weights are read).
struct LocalModel {
    QString directory;
    QString repo;        // for a Hub cache snapshot: "ORG/NAME"; empty for a user folder
    QString commit;      // for a Hub cache snapshot
    QStringList refs;    // branches/tags of the cache pointing here ("main")
    QString weightsFile; // "model.safetensors", "pytorch_model.bin" or empty
    QStringList missingFiles;
    unsigned heads = kHeadNone; // kHead* flags; for a .bin only, guessed from the repository name
    QString problem; // why the folder is unusable (missing files, bad config), empty when usable

    bool usable() const { return problem.isEmpty(); }
    bool canSearch() const { return usable() && (heads & kHeadContrastive); }
    // "contrastive, ITM, MLM" (or "unknown").
    QString headsText() const;
    // A sentence for the user when the folder cannot search (base checkpoints), else empty.
    QString note() const;
};

// Finds a usable checkpoint without downloading: a folder given by the user, else a snapshot of
// the repository in the Hugging Face cache. All functions are stateless, touch only the disk and
// may be called from any thread.
class ModelLocator {
public:
    // The files every checkpoint folder needs besides the weights.
    static QStringList requiredFiles();
    // Weights, in order of preference.
    static QStringList weightsFiles();
    // Repositories list() looks for first, with a one-line description each.
    static QStringList knownRepos();
    static QString describeRepo(const QString &repo);

    // Checks one folder (never fails: problems are in LocalModel::problem).
    static LocalModel inspect(const QString &directory);

    // `userDirectory` when given (an error naming it when unusable), else the cache's snapshot of
    // repo@revision. NotFound (with how to download or place the files) when there is none.
    static Result<LocalModel> find(const QString &userDirectory, const HubCache &cache,
                                   const QString &repo = QString::fromLatin1(kDefaultModelRepo),
                                   const QString &revision = QStringLiteral("main"));

    // Every snapshot in the cache that holds a BridgeTower config (usable or not), known repos
    // first.
    static QList<LocalModel> listCached(const HubCache &cache);

    // What to tell a user who must place the files by hand (offline, blocked network).
    static QString manualInstallHelp(const HubCache &cache, const QString &repo,
                                     const QString &revision);
};

} // namespace ts
