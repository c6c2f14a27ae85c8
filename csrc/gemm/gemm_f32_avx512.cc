// gemm_f32 micro-kernel, AVX-512F: 8 rows x 32 columns (16 zmm accumulators).
// Explicit _mm512_fmadd_ps: one rounding per step, as std::fma.
#include <immintrin.h>

#include "gemm/gemm_kernels.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kMr = 8, kNr = 32;

void f32_avx512(const float* ap, const float* bp, int64_t kc, float* c, int64_t ldc, bool first) {
  __m512 c0[kMr], c1[kMr];
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
    c0[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc);
    c1[i] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(bp + k * kNr), b1 = _mm512_loadu_ps(bp + k * kNr + 16);
#pragma GCC unroll 8
    for (int i = 0; i < kMr; ++i) {
      const __m512 av = _mm512_set1_ps(ap[k * kMr + i]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < kMr; ++i) {
    _mm512_storeu_ps(c + i * ldc, c0[i]);
    _mm512_storeu_ps(c + i * ldc + 16, c1[i]);
  }
}

}  // namespace

KernelInfo<F32Kernel> f32_kernel_avx512() { return {f32_avx512, kMr, kNr}; }

}  // namespace gemm_detail
}  // namespace fp4train
