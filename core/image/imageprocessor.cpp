#include "core/image/imageprocessor.h"

#include "core/image/pilresize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ts {

ImageProcessor::ImageProcessor(ImageProcessorConfig config) : m_config(std::move(config)) {}

QSize ImageProcessor::resizeOutputSize(QSize in, int shortestEdge, int sizeDivisor,
                                       bool *adjusted) {
    if (adjusted)
        *adjusted = false;
    if (in.isEmpty() || shortestEdge <= 0 || sizeDivisor <= 0)
        return {};
    // Python's arithmetic, in doubles and in the same order, so the rounding matches exactly.
    const int shorter = shortestEdge;
    const int longer = int(1333.0 / 800.0 * shorter);
    const int inH = in.height();
    const int inW = in.width();
    double scale = double(shorter) / double(std::min(inH, inW));
    double newH = 0;
    double newW = 0;
    if (inH < inW) {
        newH = shorter;
        newW = scale * inW;
    } else {
        newH = scale * inH;
        newW = shorter;
    }
    if (std::max(newH, newW) > longer) {
        scale = longer / std::max(newH, newW);
        newH = scale * newH;
        newW = scale * newW;
    }
    // int(v + 0.5) truncates toward zero; v >= 0 here.
    int h = int(newH + 0.5);
    int w = int(newW + 0.5);
    h = h / sizeDivisor * sizeDivisor;
    w = w / sizeDivisor * sizeDivisor;
    // HF raises "height and width must be > 0" here; we keep the strip (documented rule).
    const int minSide = sizeDivisor <= shorter ? sizeDivisor : 1;
    if (h <= 0 || w <= 0) {
        if (adjusted)
            *adjusted = true;
        h = std::max(h, minSide);
        w = std::max(w, minSide);
    }
    return QSize(w, h);
}

QImage ImageProcessor::centerCrop(const QImage &rgb888, QSize cropSize) {
    const int origH = rgb888.height();
    const int origW = rgb888.width();
    const int cropH = cropSize.height();
    const int cropW = cropSize.width();
    // Python's floor division of a possibly negative difference.
    auto floorDiv2 = [](int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
    int top = floorDiv2(origH - cropH);
    int left = floorDiv2(origW - cropW);
    if (top >= 0 && top + cropH <= origH && left >= 0 && left + cropW <= origW)
        return rgb888.copy(left, top, cropW, cropH);

    const int newH = std::max(cropH, origH);
    const int newW = std::max(cropW, origW);
    const int topPad = (newH - origH + 1) / 2; // ceil of a non-negative half
    const int leftPad = (newW - origW + 1) / 2;
    top += topPad;
    left += leftPad;
    const int y0 = std::max(0, top);
    const int y1 = std::min(newH, top + cropH);
    const int x0 = std::max(0, left);
    const int x1 = std::min(newW, left + cropW);

    // The output is the window [y0, y1) x [x0, x1) of the zero-padded canvas; only the image's part
    // of that window is copied, the rest stays 0.
    QImage out(x1 - x0, y1 - y0, QImage::Format_RGB888);
    if (out.isNull())
        return {};
    out.fill(Qt::black);
    for (int y = y0; y < y1; ++y) {
        const int srcY = y - topPad;
        if (srcY < 0 || srcY >= origH)
            continue;
        const int xa = std::max(x0, leftPad);
        const int xb = std::min(x1, leftPad + origW);
        if (xb <= xa)
            continue;
        std::memcpy(out.scanLine(y - y0) + size_t(xa - x0) * 3,
                    rgb888.constScanLine(srcY) + size_t(xa - leftPad) * 3, size_t(xb - xa) * 3);
    }
    return out;
}

FloatTensor ImageProcessor::normalize(const QImage &rgb888) const {
    const int h = rgb888.height();
    const int w = rgb888.width();
    FloatTensor t({3, h, w});
    // HF: rescale multiplies in float64 and casts to float32; normalize then works in float32 with
    // mean/std converted to float32. Each step is reproduced separately so the rounding is
    // identical.
    float lut[3][256];
    for (int c = 0; c < 3; ++c) {
        const float mean = float(m_config.imageMean[size_t(c)]);
        const float stdv = float(m_config.imageStd[size_t(c)]);
        for (int v = 0; v < 256; ++v) {
            float x = m_config.doRescale ? float(double(v) * m_config.rescaleFactor) : float(v);
            if (m_config.doNormalize)
                x = (x - mean) / stdv;
            lut[c][v] = x;
        }
    }
    const size_t plane = size_t(h) * size_t(w);
    float *out = t.ptr();
    for (int y = 0; y < h; ++y) {
        const uint8_t *row = rgb888.constScanLine(y);
        for (int x = 0; x < w; ++x) {
            const size_t i = size_t(y) * size_t(w) + size_t(x);
            out[i] = lut[0][row[x * 3]];
            out[plane + i] = lut[1][row[x * 3 + 1]];
            out[2 * plane + i] = lut[2][row[x * 3 + 2]];
        }
    }
    return t;
}

Result<ProcessedImage> ImageProcessor::process(const QImage &input, bool crop) const {
    if (input.isNull() || input.width() <= 0 || input.height() <= 0)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("cannot preprocess an empty image"));
    if (std::max(input.width(), input.height()) > kMaxInputSide)
        return Error(
            Error::Code::Unsupported,
            QStringLiteral("cannot preprocess a %1 x %2 image: a side is longer than %3 pixels")
                .arg(input.width())
                .arg(input.height())
                .arg(kMaxInputSide));
    QImage img = input.format() == QImage::Format_RGB888
                     ? input
                     : input.convertToFormat(QImage::Format_RGB888);
    if (m_config.doResize) {
        const QSize target =
            resizeOutputSize(img.size(), m_config.shortestEdge, m_config.sizeDivisor);
        img = resizeBicubicPil(img, target);
    }
    if (!img.isNull() && crop)
        img = centerCrop(img, QSize(m_config.cropWidth, m_config.cropHeight));
    if (img.isNull())
        return Error(Error::Code::Internal,
                     QStringLiteral("out of memory while preprocessing a %1 x %2 image")
                         .arg(input.width())
                         .arg(input.height()));
    ProcessedImage out;
    out.pixelValues = normalize(img);
    out.rgb = std::move(img);
    return out;
}

Result<ProcessedImage> ImageProcessor::processFile(const QString &path, DecodeOptions options,
                                                   bool allowReducedDecode) const {
    if (allowReducedDecode && m_config.doResize)
        options.targetShortestEdgeHint = QSize(m_config.shortestEdge, m_config.shortestEdge);
    auto decoded = decodeImageFile(path, options);
    if (!decoded)
        return decoded.error();
    auto processed = process(decoded->rgb, true);
    if (!processed)
        return processed.error().withContext(path);
    return processed;
}

ProcessedBatch ImageProcessor::pad(const std::vector<ProcessedImage> &images) {
    int64_t maxH = 0;
    int64_t maxW = 0;
    for (const auto &im : images) {
        maxH = std::max(maxH, im.pixelValues.shape.size() == 3 ? im.pixelValues.shape[1] : 0);
        maxW = std::max(maxW, im.pixelValues.shape.size() == 3 ? im.pixelValues.shape[2] : 0);
    }
    const int64_t b = int64_t(images.size());
    ProcessedBatch batch;
    batch.pixelValues = FloatTensor({b, 3, maxH, maxW}, 0.0f);
    batch.pixelMask.assign(size_t(b * maxH * maxW), 0);
    for (int64_t i = 0; i < b; ++i) {
        const FloatTensor &src = images[size_t(i)].pixelValues;
        if (src.shape.size() != 3)
            continue;
        const int64_t h = src.shape[1];
        const int64_t w = src.shape[2];
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < h; ++y)
                std::memcpy(batch.pixelValues.ptr() + ((i * 3 + c) * maxH + y) * maxW,
                            src.ptr() + (c * h + y) * w, size_t(w) * sizeof(float));
        for (int64_t y = 0; y < h; ++y)
            std::fill_n(batch.pixelMask.begin() + (i * maxH + y) * maxW, w, uint8_t(1));
    }
    return batch;
}

} // namespace ts
