// gemm_f32_ref: the float32 GEMM definition in plain loops (std::fma, one
// rounding per step, increasing k).
#include <cmath>

#include "gemm/gemm_f32.h"

namespace fp4train {

void gemm_f32_ref(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc = std::fma(a[m * K + k], b[n * K + k], acc);
      c[m * N + n] = acc;
    }
}

}  // namespace fp4train
