// round_scaled: the one rounding of a quantized GEMM block (NUMERICS §5).
//
// A block's scaled dot product is an exact integer times a power of two,
// S * 2^exp2. round_scaled returns RN(S * 2^exp2) in float32, computed from
// the integer alone (no intermediate float rounding):
//   - round half to even on the float32 grid, with gradual underflow: a
//     result below 2^-126 rounds on the subnormal grid 2^-149;
//   - overflow to +-Inf: a result that rounds to 2^128 or more in magnitude;
//   - S = 0 gives +0; a nonzero S that rounds to zero keeps its sign (-0).
// Any exp2 is accepted (far outside the float range the result is 0 or Inf).
#pragma once
#include <cstdint>

namespace fp4train {

__extension__ typedef __int128 int128_t;
__extension__ typedef unsigned __int128 uint128_t;

float round_scaled(int128_t s, int exp2);
// Same value; a fast path when |s| < 2^53 (exact in double, then one cast).
float round_scaled(int64_t s, int exp2);

}  // namespace fp4train
