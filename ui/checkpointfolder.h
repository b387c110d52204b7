#pragma once

#include <QString>
#include <QStringList>

namespace ts {

// Quick, file-level checks on a folder that should hold a BridgeTower checkpoint, and the places
// where Hugging Face tools leave downloaded checkpoints. Cheap (a few stat calls and one small JSON
// read): safe on the GUI thread. Loading the weights is the real test and runs elsewhere.
class CheckpointFolder {
public:
    // Empty when the folder looks usable; otherwise a sentence naming the folder and what is
    // missing or wrong (e.g. "…/foo has no config.json: this is not a Hugging Face checkpoint
    // folder").
    static QString problem(const QString &directory);

    // Snapshot folders of BridgeTower checkpoints in the Hugging Face hub caches
    // (HubCache::searchRoots(): $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
    // ~/.cache/huggingface/hub), newest first, each passing problem().
    static QStringList findInHuggingFaceCache();
    // The cache folders searched by findInHuggingFaceCache(), existing or not.
    static QStringList huggingFaceCacheRoots();
};

} // namespace ts
