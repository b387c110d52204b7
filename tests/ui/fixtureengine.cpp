#include "fixtureengine.h"

#include "core/index/vectorindex.h"
#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"
#include "mapphotosource.h"
#include "testdata.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

namespace ts::test {

namespace {

FixtureEngine build() {
    FixtureEngine f;
    f.directory = dataDir(QStringLiteral("e2e/tiny-e2e"));
    QFile file(f.directory + QStringLiteral("/expected.json"));
    if (!file.open(QIODevice::ReadOnly)) {
        f.error = QStringLiteral("cannot read expected.json");
        return f;
    }
    f.expected = nlohmann::json::parse(file.readAll().toStdString());
    auto pipeline = BridgeTowerPipeline::load(f.directory);
    if (!pipeline.ok()) {
        f.error = pipeline.error().message;
        return f;
    }
    f.pipeline = *pipeline;
    VectorIndexOptions options;
    options.dimension = f.pipeline->model().embeddingDimension();
    auto index = VectorIndex::create(options, f.pipeline->modelKey());
    if (!index.ok()) {
        f.error = index.error().message;
        return f;
    }
    auto shared = std::make_shared<VectorIndex>(std::move(*index));
    auto source = std::make_shared<MapPhotoSource>();
    for (size_t i = 0; i < f.expected["images"].size(); ++i) {
        const QString name =
            QString::fromStdString(f.expected["images"][i]["file"].get<std::string>());
        const QString path = QDir(f.directory).absoluteFilePath(name);
        const qint64 id = FixtureEngine::idOf(int(i));
        f.photos[id] = path;
        source->paths[id] = path;
        auto pixels = f.pipeline->loadPixels(path);
        if (!pixels.ok()) {
            f.error = pixels.error().message;
            return f;
        }
        auto embedding = f.pipeline->embedImages(*pixels);
        if (!embedding.ok() || !shared->add({id}, embedding->data).ok()) {
            f.error = QStringLiteral("cannot embed %1").arg(path);
            return f;
        }
    }
    f.engine = std::make_shared<SearchEngine>(f.pipeline, shared, source, nullptr);
    return f;
}
} // namespace

const FixtureEngine &FixtureEngine::instance() {
    static const FixtureEngine f = build();
    return f;
}

QString FixtureEngine::text(int j) const {
    return QString::fromStdString(expected["texts"][size_t(j)]["text"].get<std::string>());
}

} // namespace ts::test
