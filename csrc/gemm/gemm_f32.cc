// gemm_f32: B packed into NR-column panels, OpenMP over output tiles, an FMA
// micro-kernel per ISA (scalar here; gemm_f32_avx2.cc, gemm_f32_avx512.cc).
#include <cmath>
#include <vector>

#include "gemm/gemm_f32.h"
#include "gemm/gemm_kernels.h"
#include "gemm/tile_driver.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kScalarMr = 4, kScalarNr = 8;

void f32_scalar(const float* const* a, const float* bp, int64_t kc, float* acc) {
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < kScalarMr; ++i) {
      const float av = a[i][k];
      for (int j = 0; j < kScalarNr; ++j)
        acc[i * kScalarNr + j] = std::fma(av, bp[k * kScalarNr + j], acc[i * kScalarNr + j]);
    }
}

}  // namespace

KernelInfo<F32Kernel> f32_kernel_scalar() { return {f32_scalar, kScalarMr, kScalarNr}; }

KernelInfo<F32Kernel> f32_kernel(Isa isa) {
#ifdef FP4TRAIN_X86
  if (isa == Isa::kAvx512) return f32_kernel_avx512();
  if (isa == Isa::kAvx2) return f32_kernel_avx2();
#endif
  (void)isa;
  return f32_kernel_scalar();
}

}  // namespace gemm_detail

void gemm_f32(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K) {
  using namespace gemm_detail;
  if (M <= 0 || N <= 0) return;
  const KernelInfo<F32Kernel> ker = f32_kernel(active_isa());
  const int MR = ker.mr, NR = ker.nr;
  const int64_t panels = (N + NR - 1) / NR;
  // bp[(p * K + k) * NR + j] = b[p * NR + j, k], zero past N.
  std::vector<float> bp(size_t(panels * K * NR));
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int j = 0; j < NR; ++j) {
        const int64_t n = p * NR + j;
        float* dst = bp.data() + p * K * NR + j;
        for (int64_t k = 0; k < K; ++k) dst[k * NR] = n < N ? b[n * K + k] : 0.0f;
      }
  });
  constexpr int64_t kKc = 256;  // K chunk: an NR x 256 panel slice stays in L1/L2
  run_tiles(M, N, K, MR, NR, kKc, c,
            [&](int64_t i0, int mr, int64_t p, int64_t k0, int64_t kn, float* acc) {
              const float* rows[16];
              for (int i = 0; i < MR; ++i) rows[i] = a + (i0 + (i < mr ? i : mr - 1)) * K + k0;
              ker.fn(rows, bp.data() + (p * K + k0) * NR, kn, acc);
            });
}

}  // namespace fp4train
