// E4M3 ("fn": bias 7, max 448, no Inf, NaN = S.1111.111) and E5M2 (bias 15,
// max 57344, IEEE-style Inf and NaN). Encoding rounds on the format's grid
// and saturates finite values at the largest finite value. NaN encodes to
// 0x7F; +-Inf encodes to +-Inf in E5M2 and to NaN (0x7F) in E4M3, which has
// no infinity, so an overflow never silently becomes 448 (docs/NUMERICS.md §1).
#pragma once
#include <cstdint>

#include "formats/float_bits.h"
#include "formats/grid_round.h"

namespace fp4train {

constexpr float kE4M3Max = 448.0f;
constexpr float kE5M2Max = 57344.0f;
constexpr uint8_t kFp8NaN = 0x7F;

// Bits of a non-negative value on the grid of a format with `mbits`
// mantissa bits and exponent bias `bias` (subnormals included).
inline uint8_t fp8_bits_of_grid_value(float g, int mbits, int bias) {
  if (g == 0.0f) return 0;
  const int e = f32_exponent(g);
  const int emin = 1 - bias;
  if (e < emin) {  // subnormal: g = m * 2^(emin - mbits)
    return uint8_t(g * exp2_int(mbits - emin));
  }
  const uint32_t mant = (f32_bits(g) >> (23 - mbits)) & ((1u << mbits) - 1u);
  return uint8_t(uint32_t(e + bias) << mbits | mant);
}

inline float fp8_decode_bits(uint8_t c, int mbits, int bias) {
  const int ebits = 7 - mbits;
  const int exp_field = (c >> mbits) & ((1 << ebits) - 1);
  const int mant = c & ((1 << mbits) - 1);
  float mag;
  if (exp_field == 0) mag = float(mant) * exp2_int(1 - bias - mbits);
  else mag = float((1 << mbits) | mant) * exp2_int(exp_field - bias - mbits);
  return (c & 0x80) ? -mag : mag;
}

inline float e4m3_decode(uint8_t c) {
  if ((c & 0x7F) == 0x7F) return f32_from_bits(0x7FC00000u);
  return fp8_decode_bits(c, 3, 7);
}

inline float e5m2_decode(uint8_t c) {
  if ((c & 0x7C) == 0x7C) {
    if ((c & 0x03) == 0) return (c & 0x80) ? -__builtin_inff() : __builtin_inff();
    return f32_from_bits(0x7FC00000u);
  }
  return fp8_decode_bits(c, 2, 15);
}

inline uint8_t e4m3_encode(float v, Rounding rounding, uint32_t k24 = 0) {
  if (!f32_is_finite(v)) return kFp8NaN;
  const float r = round_elem(v, ElemType::kE4M3, rounding, k24);
  const uint8_t sign = uint8_t((f32_bits(r) >> 31) << 7);
  return sign | fp8_bits_of_grid_value(r < 0 ? -r : r, 3, 7);
}

inline uint8_t e5m2_encode(float v, Rounding rounding, uint32_t k24 = 0) {
  const uint32_t u = f32_bits(v);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return kFp8NaN;
  if ((u & 0x7FFFFFFFu) == 0x7F800000u) return uint8_t((u >> 31) << 7 | 0x7C);
  const float r = round_elem(v, ElemType::kE5M2, rounding, k24);
  const uint8_t sign = uint8_t((f32_bits(r) >> 31) << 7);
  return sign | fp8_bits_of_grid_value(r < 0 ? -r : r, 2, 15);
}

}  // namespace fp4train
