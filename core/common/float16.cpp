#include "core/common/float16.h"

#include <cstring>

namespace ts {

float halfToFloat(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

float bfloat16ToFloat(uint16_t b) {
    const uint32_t bits = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t floatToHalf(float f) {
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t floatExponent = (x >> 23) & 0xff;
    uint32_t mantissa = x & 0x7fffff;
    if (floatExponent == 0xff) // infinity, or NaN (kept quiet so it stays a NaN)
        return uint16_t(sign | 0x7c00 | (mantissa ? 0x200 : 0));
    const int exponent = int(floatExponent) - 127 + 15;
    if (exponent <= 0) { // a half subnormal (or zero): shift the implicit bit in
        if (exponent < -10)
            return uint16_t(sign);
        mantissa |= 0x800000;
        const int shift = 14 - exponent;
        uint32_t half = mantissa >> shift;
        const uint32_t rest = mantissa & ((1u << shift) - 1), midpoint = 1u << (shift - 1);
        if (rest > midpoint || (rest == midpoint && (half & 1)))
            ++half;
        return uint16_t(sign | half);
    }
    if (exponent >= 31)
        return uint16_t(sign | 0x7c00);
    // Rounding up may carry into the exponent, up to infinity: the right result either way.
    uint32_t half = sign | (uint32_t(exponent) << 10) | (mantissa >> 13);
    const uint32_t rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        ++half;
    return uint16_t(half);
}

} // namespace ts
