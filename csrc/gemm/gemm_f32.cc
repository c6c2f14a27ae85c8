// gemm_f32: A packed into MR-row tiles, B into NR-column panels, OpenMP over output tiles, an FMA
// micro-kernel per ISA (scalar here; gemm_f32_avx2.cc, gemm_f32_avx512.cc).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm/gemm_f32.h"
#include "gemm/gemm_kernels.h"
#include "gemm/gemm_scratch.h"
#include "gemm/tile_driver.h"
#include "util/parallel.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kScalarMr = 4, kScalarNr = 8;

void f32_scalar(const float* ap, const float* bp, int64_t kc, float* c, int64_t ldc, bool first) {
  float acc[kScalarMr][kScalarNr];
  for (int i = 0; i < kScalarMr; ++i)
    for (int j = 0; j < kScalarNr; ++j) acc[i][j] = first ? 0.0f : c[i * ldc + j];
  for (int64_t k = 0; k < kc; ++k)
    for (int i = 0; i < kScalarMr; ++i) {
      const float av = ap[k * kScalarMr + i];
      for (int j = 0; j < kScalarNr; ++j) acc[i][j] = std::fma(av, bp[k * kScalarNr + j], acc[i][j]);
    }
  for (int i = 0; i < kScalarMr; ++i)
    for (int j = 0; j < kScalarNr; ++j) c[i * ldc + j] = acc[i][j];
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

namespace {

// dst[(t * K + k) * R + i] = src[t * R + i, k] for row groups t of R rows of
// the rows x K matrix src, zero past `rows` (the micro-kernel's operand
// layout: R consecutive rows interleaved along k). OpenMP over groups.
void pack_interleaved(const float* src, int64_t rows, int64_t K, int R, int64_t grain,
                      float* dst) {
  const int64_t groups = (rows + R - 1) / R;
  parallel_for(groups, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int i = 0; i < R; ++i) {
        const int64_t r = t * R + i;
        float* d = dst + t * K * R + i;
        for (int64_t k = 0; k < K; ++k) d[k * R] = r < rows ? src[r * K + k] : 0.0f;
      }
  });
}

}  // namespace

void gemm_f32(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K) {
  using namespace gemm_detail;
  if (M <= 0 || N <= 0) return;
  const KernelInfo<F32Kernel> ker = f32_kernel(active_isa());
  const int MR = ker.mr, NR = ker.nr;
  const int64_t panels = (N + NR - 1) / NR;
  // bp[(p * K + k) * NR + j] = b[p * NR + j, k], zero past N.
  // Both packs live in per-thread scratch (gemm_scratch.h): every element is
  // written below, zero padding included.
  float* const bp = scratch_floats(ScratchSlot::kPackB, size_t(panels * K * NR));
  pack_interleaved(b, N, K, NR, 1, bp);
  if (K <= 0) {
    std::fill(c, c + M * N, 0.0f);
    return;
  }
  // ap[(t * K + k) * MR + i] = a[t * MR + i, k], zero past M.
  const int64_t row_tiles = (M + MR - 1) / MR;
  float* const ap = scratch_floats(ScratchSlot::kPackA, size_t(row_tiles * K * MR));
  pack_interleaved(a, M, K, MR, 4, ap);
  // Tasks: blocks of row tiles x blocks of panels; K in chunks of kKc (an
  // NR x kKc panel slice, 128 KB at NR 32, stays in L2 across the task's row
  // tiles; longer chunks measured faster than L1-sized ones, as each chunk
  // boundary stores and reloads the C tile), each chunk accumulating into C
  // itself; edge tiles through a local buffer.
  constexpr int64_t kKc = 1024;
  run_tiles_in_place(M, N, K, MR, NR, kKc, std::max<int64_t>(1, 96 / MR),
                     std::max<int64_t>(1, 256 / NR), c,
                     [&](int64_t rt, int64_t p, int64_t k0, int64_t kn, float* dst, int64_t ldc) {
                       ker.fn(ap + (rt * K + k0) * MR, bp + (p * K + k0) * NR, kn, dst, ldc,
                              k0 == 0);
                     });
}

}  // namespace fp4train
