// E8M0: the MX block scale, 2^(code - 127) for code 0..254; 0xFF is NaN; no
// zero, no sign. Encoding (of an arbitrary float) rounds half to even on the
// exponent (1.5 * 2^e is a tie between 2^e and 2^(e+1); the even code wins)
// and clamps to [2^-127, 2^127]; zero, negative values and values below
// 2^-127 give code 0.
#pragma once
#include <cstdint>

#include "formats/float_bits.h"

namespace fp4train {

constexpr uint8_t kE8M0NaN = 0xFF;
constexpr int kE8M0Bias = 127;
constexpr int kE8M0MinExp = -127;
constexpr int kE8M0MaxExp = 127;

inline float e8m0_decode(uint8_t c) {
  if (c == kE8M0NaN) return f32_from_bits(0x7FC00000u);
  return exp2_int(int(c) - kE8M0Bias);
}

inline uint8_t e8m0_from_exponent(int e) {
  e = e < kE8M0MinExp ? kE8M0MinExp : (e > kE8M0MaxExp ? kE8M0MaxExp : e);
  return uint8_t(e + kE8M0Bias);
}

inline uint8_t e8m0_encode(float v) {
  if (!f32_is_finite(v)) return kE8M0NaN;
  if (!(v > 0.0f)) return 0;  // zero and negative values: below 2^-127 (no sign)
  const float a = v;
  int e = f32_exponent(a);
  // Fraction bits of the significand in [1, 2), normalized for subnormals;
  // 0x400000 is exactly 1.5, the tie, which goes to the even code.
  const uint32_t frac = f32_fraction_bits(a);
  if (frac > 0x400000u || (frac == 0x400000u && ((e + kE8M0Bias) & 1))) ++e;
  return e8m0_from_exponent(e);
}

}  // namespace fp4train
