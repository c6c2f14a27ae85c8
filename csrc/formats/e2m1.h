// E2M1 (FP4): 1 sign, 2 exponent (bias 1), 1 mantissa bit; no Inf, no NaN.
// Code = sign << 3 | index, index 0..7 for 0, 0.5, 1, 1.5, 2, 3, 4, 6.
// Two codes per byte, the lower element index in the low nibble.
//
// The doubled-integer trick: 2 * value is an integer in [-12, 12], so a dot
// product of two E2M1 vectors is (exact integer) / 4 (used by qgemm).
#pragma once
#include <cstdint>

#include "formats/float_bits.h"
#include "formats/grid_round.h"

namespace fp4train {

constexpr int kE2M1Bits = 4;
constexpr float kE2M1Max = 6.0f;
constexpr float kE2M1Values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                   -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
// 2 * value as an integer: the exact operand of the integer block dot product.
constexpr int8_t kE2M1Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
static_assert(sizeof(kE2M1Values) == 16 * sizeof(float), "one entry per code");

inline float e2m1_decode(uint8_t code) { return kE2M1Values[code & 0xF]; }

// Code of a value already on the E2M1 grid (|g| in {0, .5, 1, 1.5, 2, 3, 4, 6}).
inline uint8_t e2m1_code_of_grid_value(float g) {
  // index of 2|g| in {0,1,2,3,4,6,8,12}
  static constexpr uint8_t kIndexOfDoubled[13] = {0, 1, 2, 3, 4, 0, 5, 0, 6, 0, 0, 0, 7};
  const uint32_t sign = f32_bits(g) >> 31;
  const int twice = int(f32_from_bits(f32_bits(g) & 0x7FFFFFFFu) * 2.0f);
  return uint8_t(sign << 3 | kIndexOfDoubled[twice]);
}

// Encodes a finite float (NaN/Inf are handled at block level and must not
// reach here). Rounds on the E2M1 grid and saturates at +-6.
inline uint8_t e2m1_encode(float v, Rounding rounding, uint32_t k24 = 0) {
  return e2m1_code_of_grid_value(round_elem(v, ElemType::kE2M1, rounding, k24));
}

// Packed row access: element i of a row of E2M1 codes.
inline uint8_t e2m1_get(const uint8_t* row, int64_t i) {
  return (row[i >> 1] >> ((i & 1) * 4)) & 0xF;
}

}  // namespace fp4train
