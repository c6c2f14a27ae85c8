#include "ops/swiglu.h"

#include <cmath>

#include "util/parallel.h"

namespace fp4train {

void swiglu_forward(const float* g, const float* u, float* h, float* sig, int64_t n) {
  parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-g[i]));
      sig[i] = s;
      h[i] = (g[i] * s) * u[i];
    }
  });
}

void swiglu_backward(const float* g, const float* u, const float* sig, const float* dh, float* dg,
                     float* du, int64_t n) {
  parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float s = sig[i];
      du[i] = dh[i] * (g[i] * s);
      dg[i] = (dh[i] * u[i]) * (s * (1.0f + g[i] * (1.0f - s)));
    }
  });
}

}  // namespace fp4train
