#pragma once

// A SearchEngine over the tiny end-to-end fixture (tests/data/e2e/tiny-e2e): its checkpoint and
// its 4 photos embedded into an in-memory VectorIndex, with a map-based PhotoSource. Photo ids are
// 100 + the image's index in expected.json. Stands in for the Library in GUI tests.
#include "core/search/searchengine.h"

#include <nlohmann/json.hpp>

#include <QString>

#include <map>
#include <memory>

namespace ts::test {

struct FixtureEngine {
    QString directory;                // the checkpoint folder
    nlohmann::json expected;          // expected.json
    std::map<qint64, QString> photos; // id -> absolute path
    std::shared_ptr<const BridgeTowerPipeline> pipeline;
    std::shared_ptr<const SearchEngine> engine;
    QString error; // set when building failed

    static qint64 idOf(int imageIndex) { return 100 + imageIndex; }
    static const FixtureEngine &instance(); // built once per process
    QString text(int j) const;
    QString imagePath(int i) const { return photos.at(idOf(i)); }
};

} // namespace ts::test
