// BF16: the top 16 bits of a float32. Encoding rounds on the bf16 grid (RNE,
// away or stochastic) and saturates finite values at the largest finite bf16
// ("satfinite", as the FP8 codecs do); +-Inf stays +-Inf and NaN becomes the
// quiet NaN 0x7FC0. Decoding is a shift.
#pragma once
#include <cstdint>

#include "formats/float_bits.h"
#include "formats/grid_round.h"

namespace fp4train {

constexpr uint16_t kBf16NaN = 0x7FC0;

inline float bf16_decode(uint16_t c) { return f32_from_bits(uint32_t(c) << 16); }

inline uint16_t bf16_encode(float v, Rounding rounding, uint32_t k24 = 0) {
  const uint32_t u = f32_bits(v);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return kBf16NaN;
  if ((u & 0x7FFFFFFFu) == 0x7F800000u) return uint16_t(u >> 16);
  // A value on the bf16 grid has zero low 16 bits, so the code is its top half.
  return uint16_t(f32_bits(round_elem(v, ElemType::kBf16, rounding, k24)) >> 16);
}

// Round-to-nearest-even bf16 value as float (the bf16 recipe's operand rounding).
inline float bf16_round(float v) { return bf16_decode(bf16_encode(v, Rounding::kNearest)); }

}  // namespace fp4train
