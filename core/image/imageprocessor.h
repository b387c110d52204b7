#pragma once

#include "core/common/floattensor.h"
#include "core/common/result.h"
#include "core/image/imagedecoder.h"
#include "core/image/imageprocessorconfig.h"

#include <QImage>
#include <QSize>
#include <QString>

#include <cstdint>
#include <vector>

namespace ts {

// One image after preprocessing.
struct ProcessedImage {
    QImage rgb;              // uint8 image after resize (and crop), Format_RGB888, H x W
    FloatTensor pixelValues; // [3, H, W] float32, rescaled and normalised, channels first
};

// Images of one call padded to a common size, as BridgeTowerImageProcessor returns them.
struct ProcessedBatch {
    FloatTensor pixelValues;        // [B, 3, Hmax, Wmax]; padding is 0.0 (in normalised space)
    std::vector<uint8_t> pixelMask; // [B, Hmax, Wmax]; 1 on the image, 0 on the padding
};

// BridgeTowerImageProcessor.preprocess (transformers 4.47) as BridgeTowerProcessor calls it, bit
// for bit: resize (shortest edge, the 1333/800 cap, round, floor to size_divisor) with Pillow's
// bicubic, centre crop with zero padding in 8-bit space, rescale, normalise, channels first; pad()
// adds the batch padding and pixel_mask.
//
// Where the reference fails we do not (see resizeOutputSize()): a panorama or a one-pixel strip
// still yields an input.
//
// Thread-safety: immutable after construction; every const method may be called concurrently.
class ImageProcessor {
public:
    static constexpr int kMaxInputSide = 1'000'000;

    explicit ImageProcessor(ImageProcessorConfig config);

    const ImageProcessorConfig &config() const { return m_config; }

    // Preprocesses one RGB image. `rgb` should be Format_RGB888 as decodeImageFile() returns it;
    // other formats are converted with QImage's conversion (which composites nothing: alpha is
    // dropped, but premultiplied formats have already lost the colour of transparent pixels).
    // `centerCrop` true gives what the model is fed ([3, S, S]); false gives HF's direct
    // `processor(images=...)` result of v4.25-v4.51, which never crops.
    // Fails with InvalidArgument for a null image, Unsupported for a side longer than
    // kMaxInputSide (the resampler's filter taps take ~16 bytes per input column/row), Internal
    // when memory runs out.
    Result<ProcessedImage> process(const QImage &rgb, bool centerCrop = true) const;

    // decodeImageFile() (EXIF orientation applied, as HF's load_image does for paths) + process()
    // with the crop: exactly the [3, S, S] tensor the model is fed. Errors name the file.
    // `options.targetShortestEdgeHint` is filled in (enabling the JPEG reduced-scale fast path)
    // unless `allowReducedDecode` is false.
    Result<ProcessedImage> processFile(const QString &path, DecodeOptions options = {},
                                       bool allowReducedDecode = true) const;

    // Pads processed images bottom/right to the largest height and width among them (HF's pad with
    // do_pad). An empty input gives an empty batch (shape [0, 3, 0, 0]).
    static ProcessedBatch pad(const std::vector<ProcessedImage> &images);

    // The output size of the resize step for an input of `in` (w x h), HF's rule:
    // shorter = shortest_edge, longer = int(1333 / 800 * shorter); scale the short side to
    // `shorter`; if the long side then exceeds `longer`, scale both down to fit; round (int(v +
    // 0.5)); floor to a multiple of `sizeDivisor`. Our rule where HF produces 0 (aspect ratios
    // beyond about 15:1 for 288, or a 1- or 2-pixel side): a side that would become 0 becomes
    // `sizeDivisor` instead (1 when sizeDivisor > shortestEdge), so the strip is stretched across
    // its thin side to one divisor block; the other side is unchanged from HF's value. `adjusted`,
    // when given, says whether that rule fired.
    static QSize resizeOutputSize(QSize in, int shortestEdge, int sizeDivisor,
                                  bool *adjusted = nullptr);

    // Centre crop to `cropSize` (w x h) exactly as HF's image_transforms.center_crop: floor
    // offsets, and where the image is smaller, zero padding (black in 8-bit space) placed at
    // ceil((S - size) / 2), so an odd extra row/column goes to the top/left.
    static QImage centerCrop(const QImage &rgb888, QSize cropSize);

    // Rescale + normalise an RGB888 image into [3, H, W] float32 with the config's factors, in HF's
    // precision: float32(float64(u8) * rescale), then (x - mean) / std in float32.
    FloatTensor normalize(const QImage &rgb888) const;

private:
    ImageProcessorConfig m_config;
};

} // namespace ts
