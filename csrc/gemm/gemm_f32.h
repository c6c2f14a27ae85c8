// Float32 GEMM: C = A B^T, the definition qgemm uses for bf16 / fp32 operands.
//
//   a: (M, K) float32 row-major;  b: (N, K) float32 row-major
//   c: (M, N) float32 row-major, written (not accumulated into)
// Per output: acc = +0; for k = 0..K-1: acc = fma(a[m,k], b[n,k], acc); c = acc.
// Each step is one IEEE fused multiply-add (a single rounding), in increasing
// k, so every kernel (scalar, AVX2, AVX-512, any thread count) gives the same
// bits. NaN and Inf propagate as IEEE fma does (Inf * 0 is NaN).
//
// gemm_f32_ref: plain loops with std::fma (the definition). gemm_f32: B packed
// into column panels, OpenMP over output tiles, an FMA micro-kernel whose
// SIMD lanes are different output columns, dispatched on active_isa().
#pragma once
#include <cstdint>

namespace fp4train {

void gemm_f32(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K);
void gemm_f32_ref(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K);

}  // namespace fp4train
