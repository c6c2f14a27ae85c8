// gemm_f32 micro-kernel, AVX2 + FMA: 6 rows x 16 columns (12 ymm accumulators).
// Explicit _mm256_fmadd_ps: one rounding per step, as std::fma.
#include <immintrin.h>

#include "gemm/gemm_kernels.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kMr = 6, kNr = 16;

void f32_avx2(const float* ap, const float* bp, int64_t kc, float* c, int64_t ldc, bool first) {
  __m256 c0[kMr], c1[kMr];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    c0[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + i * ldc);
    c1[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + i * ldc + 8);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(bp + k * kNr), b1 = _mm256_loadu_ps(bp + k * kNr + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 av = _mm256_set1_ps(ap[k * kMr + i]);
      c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    _mm256_storeu_ps(c + i * ldc, c0[i]);
    _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
  }
}

}  // namespace

KernelInfo<F32Kernel> f32_kernel_avx2() { return {f32_avx2, kMr, kNr}; }

}  // namespace gemm_detail
}  // namespace fp4train
