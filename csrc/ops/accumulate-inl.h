// Body of accumulate (see accumulate.h), included by one translation unit per
// ISA. `static`: each object gets its own copy, so no weak symbol compiled
// with AVX-512 flags can be picked for the generic build.
#pragma once
#include <cstdint>

namespace fp4train {
namespace {

// Four terms per pass over acc, written as one left-to-right expression so
// the rounding sequence is that of adding them one by one; this cuts the
// loads and stores of acc by four.
static inline void accumulate_body(float* acc, int64_t len, const float* w, int64_t ws,
                                   const float* x, int64_t xs, int64_t count) {
  int64_t t = 0;
  for (; t + 4 <= count; t += 4) {
    const float w0 = w[t * ws], w1 = w[(t + 1) * ws], w2 = w[(t + 2) * ws],
                w3 = w[(t + 3) * ws];
    const float *x0 = x + t * xs, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    for (int64_t l = 0; l < len; ++l)
      acc[l] = (((acc[l] + w0 * x0[l]) + w1 * x1[l]) + w2 * x2[l]) + w3 * x3[l];
  }
  for (; t < count; ++t) {
    const float wt = w[t * ws];
    const float* xt = x + t * xs;
    for (int64_t l = 0; l < len; ++l) acc[l] += wt * xt[l];
  }
}

}  // namespace
}  // namespace fp4train
