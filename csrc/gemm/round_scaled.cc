#include "gemm/round_scaled.h"

#include "formats/float_bits.h"

namespace fp4train {

namespace {

int bit_length(uint128_t m) {
  const uint64_t hi = uint64_t(m >> 64), lo = uint64_t(m);
  if (hi) return 128 - __builtin_clzll(hi);
  return lo ? 64 - __builtin_clzll(lo) : 0;
}

// 2^e as a double for e in [-1022, 1023] (exact).
double exp2_double(int e) {
  const uint64_t u = uint64_t(e + 1023) << 52;
  double d;
  __builtin_memcpy(&d, &u, 8);
  return d;
}

}  // namespace

float round_scaled(int128_t s, int exp2) {
  if (s == 0) return 0.0f;
  const bool neg = s < 0;
  const uint128_t m = neg ? uint128_t(0) - uint128_t(s) : uint128_t(s);
  // Beyond these bounds the result is 0 or Inf whatever m is (m < 2^128);
  // clamping keeps the exponent arithmetic below in int range.
  if (exp2 < -1000) exp2 = -1000;
  if (exp2 > 1000) exp2 = 1000;
  const int nb = bit_length(m);
  const int top = nb - 1 + exp2;                   // exponent of m's leading bit
  const int q = top - 23 > -149 ? top - 23 : -149;  // exponent of the result's last bit
  const int sh = q - exp2;                          // low bits of m below that quantum
  uint64_t kept;                                    // the rounded significand, <= 2^24
  if (sh <= 0) {
    kept = uint64_t(m) << -sh;  // exact: nb - sh <= 24 bits
  } else if (sh > nb) {
    kept = 0;  // m < 2^nb <= half a quantum: rounds to zero
  } else if (sh == nb) {
    // m in [half, 2 * half): a tie rounds to the even 0, above it to 1.
    kept = m > (uint128_t(1) << (nb - 1)) ? 1 : 0;
  } else {
    kept = uint64_t(m >> sh);
    const uint128_t rem = m & ((uint128_t(1) << sh) - 1);
    const uint128_t half = uint128_t(1) << (sh - 1);
    if (rem > half || (rem == half && (kept & 1))) ++kept;
  }
  float r;
  if (kept == 0) {
    r = 0.0f;
  } else if (q + (64 - __builtin_clzll(kept)) - 1 >= 128) {
    r = __builtin_inff();  // rounds to 2^128 or more
  } else {
    // kept < 2^25 converts exactly, and kept * 2^q is a float32: exact product.
    r = float(kept) * exp2_int(q);
  }
  return neg ? -r : r;
}

float round_scaled(int64_t s, int exp2) {
  const uint64_t a = s < 0 ? uint64_t(0) - uint64_t(s) : uint64_t(s);
  if (a < (uint64_t(1) << 53) && exp2 >= -900 && exp2 <= 900) {
    // double(s) * 2^exp2 is exact (53-bit integer, exponent far inside the
    // double range), so the cast to float is the one rounding.
    return float(double(s) * exp2_double(exp2));
  }
  return round_scaled(int128_t(s), exp2);
}

}  // namespace fp4train
