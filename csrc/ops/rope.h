// Rotary position embedding ("rotate half" pairs (c, c + D/2)) in float32.
//
//   x, out: (A, S, M, D) row-major; the position of a row is its index along S
//           (A = batch*heads, M = 1 for the (B, H, S, D) layout; A = batch,
//           M = heads for the (B, S, H, D) layout of the projections)
//   cos, sin: (S, D/2) tables (angle pos * base^(-2c/D), rounded once)
//   out1 = x1 * cos - x2 * sin;  out2 = x1 * sin + x2 * cos
// inverse = true rotates by -angle (sin negated): the backward, exactly.
// out may equal x (in place). Split over (a, s) rows.
#pragma once
#include <cstdint>

namespace fp4train {

void rope_apply(const float* x, const float* cos, const float* sin, float* out, int64_t A,
                int64_t S, int64_t M, int64_t D, bool inverse);

}  // namespace fp4train
