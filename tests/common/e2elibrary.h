#pragma once

#include "core/common/result.h"
#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"
#include "mapphotosource.h"
#include "testdata.h"

#include <nlohmann/json.hpp>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QString>

#include <memory>
#include <string>

namespace ts::test {

// The tiny end-to-end fixture (tests/data/e2e/tiny-e2e) as a search library: its reference
// outputs (expected.json), its pipeline, a vector index of its embedding dimension and a
// MapPhotoSource. Photos are added as copies (so a test may delete one without touching the
// fixtures) with id 100 + the image's index in expected.json.
struct E2eLibrary {
    QString dir;
    nlohmann::json expected;
    std::shared_ptr<BridgeTowerPipeline> pipeline;
    std::shared_ptr<VectorIndex> index;
    std::shared_ptr<MapPhotoSource> photos;

    static qint64 idOf(int imageIndex) { return 100 + imageIndex; }
    int imageCount() const { return int(expected["images"].size()); }
    // The fixture's file name of image i.
    QString imageFile(int i) const {
        return QString::fromStdString(expected["images"][size_t(i)]["file"].get<std::string>());
    }

    // Reads expected.json, loads the pipeline and makes an empty index and photo source.
    Status load() {
        dir = dataDir(QStringLiteral("e2e/tiny-e2e"));
        QFile f(dir + QStringLiteral("/expected.json"));
        if (!f.open(QIODevice::ReadOnly))
            return Error(Error::Code::Io, f.fileName() + QStringLiteral(": cannot open it"));
        expected = nlohmann::json::parse(f.readAll().toStdString());
        auto loaded = BridgeTowerPipeline::load(dir);
        if (!loaded)
            return loaded.error();
        pipeline = *loaded;
        VectorIndexOptions options;
        options.dimension = pipeline->model().embeddingDimension();
        auto created = VectorIndex::create(options, pipeline->modelKey());
        if (!created)
            return created.error();
        index = std::make_shared<VectorIndex>(std::move(*created));
        photos = std::make_shared<MapPhotoSource>();
        return {};
    }

    // Copies image i to `copy` and gives the copy id idOf(i); `embed`: its embedding goes into
    // the index too.
    Status addPhoto(int i, const QString &copy, bool embed = true) {
        if (!QFile::copy(QDir(dir).filePath(imageFile(i)), copy))
            return Error(Error::Code::Io, copy + QStringLiteral(": cannot copy the fixture here"));
        photos->paths[idOf(i)] = copy;
        if (!embed)
            return {};
        auto pixels = pipeline->loadPixels(copy);
        if (!pixels)
            return pixels.error();
        auto embedding = pipeline->embedImages(*pixels);
        if (!embedding)
            return embedding.error();
        return index->add({idOf(i)}, embedding->data);
    }
};

} // namespace ts::test
