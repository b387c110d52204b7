#pragma once

#include <cstdint>

namespace ts {

// IEEE 754 half precision and bfloat16 <-> float32, bit exact, for files that store 16-bit floats
// (safetensors F16/BF16, converted checkpoints). Pure functions; thread-safe.

// Exact (every half is a float): subnormals normalised, infinities and NaNs kept (with sign).
float halfToFloat(uint16_t h);
// Exact: bfloat16 is the top half of a float32.
float bfloat16ToFloat(uint16_t b);
// Rounds to nearest, ties to even; beyond the largest half (65504) rounds to infinity, below the
// smallest subnormal to (signed) zero; a NaN stays a (quiet) NaN.
uint16_t floatToHalf(float f);

} // namespace ts
