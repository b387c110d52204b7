#pragma once

#include <QImage>
#include <QSize>

namespace ts {

// Pillow 9.4's `Image.resize(size, resample=Image.BICUBIC)` for an 8-bit RGB image, bit for bit:
// the separable convolution (horizontal pass first, then vertical), the antialiasing support that
// widens with the downscale factor, the coefficients normalised to sum 1 and quantised to 22-bit
// fixed point, and each pass rounded and clamped to 8 bits. This is what Hugging Face's image
// processors run (transformers resizes through PIL), so matching it is what makes our pixels equal
// to the reference's rather than "a few levels off".
//
// `rgb888` must be QImage::Format_RGB888 (other formats are converted first with QImage's own
// conversion). `size` must be at least 1x1. If `size` equals the input size the result is a deep
// copy, as in Pillow. Returns a Format_RGB888 image; a null QImage only if the input is null,
// `size` is empty, or the output cannot be allocated.
//
// Thread-safety: pure function, safe to call concurrently.
QImage resizeBicubicPil(const QImage &rgb888, QSize size);

} // namespace ts
