// Block-scale rules (DESIGN §2, docs/NUMERICS.md §2.1-2.3).
//
// amax arguments use NaN to mean "the block (or tensor) holds a NaN or Inf".
#pragma once
#include <cstdint>

#include "formats/bf16.h"
#include "formats/e8m0.h"
#include "formats/float_bits.h"
#include "formats/formats.h"
#include "formats/fp8.h"

namespace fp4train {

// E8M0 scale code of an MX block with largest magnitude `amax`.
inline uint8_t mx_scale_code(float amax, ElemType elem, ScaleRule rule) {
  if (!(amax == amax)) return kE8M0NaN;
  if (amax == 0.0f) return 0;  // all-zero block: 2^-127
  const ElemTraits& t = elem_traits(elem);
  if (rule == ScaleRule::kEven) {
    // Round amax's bit pattern to the element's mantissa width, half up.
    uint32_t u = f32_bits(amax);
    u += 1u << (22 - t.mbits);
    u &= ~((1u << (23 - t.mbits)) - 1u);
    amax = f32_from_bits(u);  // may carry into the next binade, up to 2^128 (exponent 128)
    // A subnormal amax may round to 0: it gets the smallest scale, as every
    // subnormal amax does after the clamp.
    if (amax == 0.0f) return e8m0_from_exponent(kE8M0MinExp);
  }
  const int e_amax = f32_exponent(amax);
  int e = e_amax - t.emax;
  const uint32_t frac = f32_fraction_bits(amax);
  if (rule == ScaleRule::kCeil) {
    if (frac != 0) ++e;  // not a power of two: ceil(log2 amax) = floor + 1
  } else if (rule == ScaleRule::kRceil) {
    // significand of amax against m / 2^emax (1.5 for E2M1, 1.75 for FP8)
    const uint32_t limit = f32_fraction_bits(t.max);
    if (frac > limit) ++e;
  }
  return e8m0_from_exponent(e);
}

// Per-tensor encode scale of NVFP4 (s_enc) and per-tensor FP8 (s):
// RN(m / amax), or 1 when amax is 0 or the quotient is not finite.
inline float tensor_encode_scale(float amax, float m) {
  const float s = m / amax;
  return (amax == 0.0f || !f32_is_finite(s)) ? 1.0f : s;
}

constexpr float kNvfp4TensorMax = 6.0f * 448.0f;  // 2688: E2M1 max * E4M3 max

// E4M3 scale byte of an NVFP4 block: E4M3_RNE(min(RN(amax * RN(s_enc * RN(1/6))), 448)).
inline uint8_t nvfp4_scale_code(float amax_block, float s_enc) {
  if (!(amax_block == amax_block)) return kFp8NaN;
  const float one_sixth = 1.0f / 6.0f;
  float v = amax_block * (s_enc * one_sixth);
  if (v > 448.0f) v = 448.0f;
  return e4m3_encode(v, Rounding::kNearest);
}

}  // namespace fp4train
