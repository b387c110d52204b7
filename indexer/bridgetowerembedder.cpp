#include "indexer/imageembedder.h"

#include "core/image/imagedecoder.h"
#include "core/model/bridgetowermodel.h"
#include "core/search/bridgetowerpipeline.h"

#include <QElapsedTimer>

#include <cstring>

namespace ts {

Result<QImage> decodeForIndexing(const QString &path, const QByteArray &contents,
                                 int targetShortestEdge, PreparedImage &out) {
    DecodeOptions options;
    if (targetShortestEdge > 0)
        options.targetShortestEdgeHint = QSize(targetShortestEdge, targetShortestEdge);
    QElapsedTimer clock;
    clock.start();
    auto decoded = decodeImageData(contents, path, options);
    out.decodeMs = clock.nsecsElapsed() / 1e6;
    if (!decoded)
        return decoded.error();
    clock.restart();
    out.orientation = decoded->exifOrientation;
    const bool swapped = decoded->exifOrientation >= 5 && decoded->exifOrientation <= 8;
    out.width = swapped ? decoded->storedSize.height() : decoded->storedSize.width();
    out.height = swapped ? decoded->storedSize.width() : decoded->storedSize.height();
    // Never enlarged: a photo smaller than a thumbnail is its own thumbnail.
    const QImage &rgb = decoded->rgb;
    out.thumbnail = rgb.width() > kThumbnailSize || rgb.height() > kThumbnailSize
                        ? rgb.scaled(kThumbnailSize, kThumbnailSize, Qt::KeepAspectRatio,
                                     Qt::SmoothTransformation)
                        : rgb;
    out.thumbnailMs = clock.nsecsElapsed() / 1e6;
    return std::move(decoded->rgb);
}

namespace {

class BridgeTowerEmbedder final : public ImageEmbedder {
public:
    explicit BridgeTowerEmbedder(std::shared_ptr<const BridgeTowerPipeline> pipeline)
        : m_pipeline(std::move(pipeline)) {}

    QString modelKey() const override { return m_pipeline->modelKey(); }
    int dimension() const override { return m_pipeline->model().embeddingDimension(); }
    std::shared_ptr<const BridgeTowerPipeline> pipeline() const override { return m_pipeline; }

    Result<PreparedImage> prepare(const QString &path, const QByteArray &contents) const override {
        PreparedImage out;
        const auto &config = m_pipeline->imageProcessor().config();
        // The same reduced-scale JPEG decode as ImageProcessor::processFile (what search uses for
        // "similar" queries), so a photo's stored vector equals the one computed from its path.
        auto rgb =
            decodeForIndexing(path, contents, config.doResize ? config.shortestEdge : 0, out);
        if (!rgb)
            return rgb.error();
        QElapsedTimer clock;
        clock.start();
        auto processed = m_pipeline->imageProcessor().process(*rgb, true);
        out.resizeMs = clock.nsecsElapsed() / 1e6;
        if (!processed)
            return processed.error().withContext(path);
        const int64_t s = m_pipeline->model().imageSize();
        if (processed->pixelValues.shape != std::vector<int64_t>{3, s, s})
            return Error(
                Error::Code::Model,
                QStringLiteral("%1: the preprocessor config does not match the model's image size")
                    .arg(path));
        out.pixels = std::move(processed->pixelValues);
        return out;
    }

    Result<EmbeddedBatch> embed(const std::vector<const FloatTensor *> &pixels) override {
        EmbeddedBatch out;
        if (pixels.empty())
            return out;
        const int64_t per = pixels.front()->numel();
        std::vector<int64_t> shape{int64_t(pixels.size())};
        shape.insert(shape.end(), pixels.front()->shape.begin(), pixels.front()->shape.end());
        FloatTensor batch(shape);
        for (size_t i = 0; i < pixels.size(); ++i)
            std::memcpy(batch.data.data() + int64_t(i) * per, pixels[i]->data.data(),
                        size_t(per) * sizeof(float));
        FloatTensor fusion;
        auto embeds = m_pipeline->embedImages(batch, &fusion);
        if (!embeds)
            return embeds.error();
        const int64_t dim = embeds->shape.back();
        const int64_t fusionPer = fusion.numel() / std::max<int64_t>(1, int64_t(pixels.size()));
        for (size_t i = 0; i < pixels.size(); ++i) {
            out.vectors.emplace_back(embeds->data.begin() + int64_t(i) * dim,
                                     embeds->data.begin() + int64_t(i + 1) * dim);
            if (fusion.numel() > 0 && fusion.shape.size() >= 2) {
                std::vector<int64_t> one = fusion.shape;
                one[0] = 1;
                FloatTensor f(one);
                std::memcpy(f.data.data(), fusion.data.data() + int64_t(i) * fusionPer,
                            size_t(fusionPer) * sizeof(float));
                out.fusion.push_back(std::move(f));
            }
        }
        return out;
    }

private:
    std::shared_ptr<const BridgeTowerPipeline> m_pipeline;
};

} // namespace

std::shared_ptr<ImageEmbedder>
makeBridgeTowerEmbedder(std::shared_ptr<const BridgeTowerPipeline> pipeline) {
    return std::make_shared<BridgeTowerEmbedder>(std::move(pipeline));
}

} // namespace ts
