// Internal: micro-kernels of gemm_f32 and qgemm, one set per ISA (the tiling
// that drives them is gemm/tile_driver.h). Not part of the public API.
// Included by the *_avx2.cc / *_avx512.cc files: keep it free of inline code.
//
// Every micro-kernel computes an MR x NR tile of outputs whose SIMD lanes are
// different output columns, so each output still sees its own operations in
// the order the definition fixes (k for gemm_f32, K-blocks for qgemm). The
// running float32 accumulators live in `acc` (MR * NR, row-major), read and
// written by the kernel, so a K range can be split into chunks without
// changing any result. Rows past the matrix edge are fed duplicate rows and
// columns past it zero-padded panels; their outputs are discarded.
//
// Panels (packed by gemm_f32.cc / qgemm_pack.cc):
//   f32:  ap[k * MR + i] (A row tile, k-major), bp[k * NR + j] (B^T column
//         panel); the kernels read and write C directly (ldc), acc = +0
//         when `first`, else the value in C (so K chunks keep the k order).
//   i8:   A rows of E2M1 doubled values + 12 (uint8 in [0, 24]), K padded to
//         whole blocks; B panel per block: pairs (k, k+1) of int8 per column,
//         bq[(q * NR + j) * 2 + r] = b[j][2q + r]; corr[j] = 12 * sum_k b[j][k]
//         (removes the +12 bias exactly); scales as doubles j * 2^(e - shift)
//         (NaN for a NaN scale). S = sum (a + 12) b - corr is exact in int16.
//   f64:  A rows and B panels (bq[k * NR + j]) of elements as doubles holding
//         exact integers (value * 2^shift; NaN/Inf codes kept), scales as above.
//         Used where every partial block sum is an integer below 2^53, so the
//         double FMAs never round.
//   split: E4M3 (A, as f64 rows) x E5M2 (B), whose block sums reach 2^54.6:
//         each E5M2 integer is split as hi * 2^16 + lo (|lo| < 2^16, NaN/Inf
//         in hi), bq[(k * 2 + h) * NR + j] (h = 0 hi, 1 lo); both partial
//         sums stay below 2^39, so the FMAs are exact, and S = hi * 2^16 + lo
//         is exact in double when |S| < 2^52; other lanes (rare: huge sums,
//         or NaN/Inf) go through split_term_exact (128-bit-free integers).
//   fp4 (AVX-512 VNNI, E2M1 x E2M1 when both scales are E8M0 or both E4M3):
//         B panel of biased values (b + 12, uint8 in [0, 24]) in 4-byte
//         k-groups, bq[(g * NR + j) * 4 + r] = b[j][4g + r] + 12 (g counts
//         groups over the whole padded K); A in MR-row tiles of signed 4-byte
//         k-groups, ap[(g * MR + i) * 4 + r] = a[i][4g + r], broadcast by
//         vpdpbusd's embedded {1to16} operand; ncorr[b * MR + i] = -12 * A's
//         block sum starts each block's chain, so S is the exact int32 block
//         sum. Scales as floats (qgemm_pack.h Fp4ScaleForm): E8M0
//         t = scalef(float(S), ea + eb), which is RN(S * 2^(ea+eb)) for every
//         exponent (subnormals, overflow); E4M3 t = float(S) * (fa * fb):
//         |S| * ja * jb < 2^24 with 4-bit scale significands, so every
//         product is exact and t needs no rounding, hence
//         acc = fma(float(S), fa * fb, acc) = RN(acc + t). These kernels read
//         and write C directly (ldc), acc = +0 when `first`, else C's value.
// The block result is t = float((double(S) * sb) * sa): both products are
// exact (S < 2^53 with power-of-two scales, or |S| < 2^12 with 18-bit nvfp4
// scale integers), so the cast is the single rounding of NUMERICS §5.
#pragma once
#include <cstdint>

#include "util/cpu_features.h"

namespace fp4train {
namespace gemm_detail {

using F32Kernel = void (*)(const float* ap, const float* bp, int64_t kc, float* c, int64_t ldc,
                           bool first);
using I8Kernel = void (*)(const uint8_t* const* a, const double* const* sa, const int8_t* bq,
                          const int16_t* corr, const double* sb, int64_t nblk, int blk,
                          float* acc);
using F64Kernel = void (*)(const double* const* a, const double* const* sa, const double* bq,
                           const double* sb, int64_t nblk, int blk, float* acc);

using SplitKernel = void (*)(const double* const* a, const double* const* sa, const double* bq,
                             const double* sb, int64_t nblk, int blk, float* acc);

// t of one split lane done exactly: NaN for a NaN scale; the IEEE value when
// hi / lo are not finite; else round_scaled(int64(hi) * 2^16 + int64(lo),
// log2(sa) + log2(sb)) (sa, sb are powers of two here). Defined in
// qgemm_wide.cc; the SIMD kernels call it for the lanes they cannot finish.
float split_term_exact(double hi, double lo, double sa, double sb);

// post: nullptr, or {d, pa, pb}: after the last block the kernel stores
// RN(RN(RN(acc * d) / pa) / pb) (the divisions only for p != 1), the final
// step of NUMERICS §5.
using Fp4Kernel = void (*)(const int8_t* a, const int32_t* ncorr, const float* sa,
                           const uint8_t* bq, const float* sb, int64_t nblk, float* c,
                           int64_t ldc, bool first, const float* post);

// Decodes a row of K E2M1 codes (two per byte, low nibble first) into doubled
// values + bias, one byte each, zero elements (bias) up to kp; when bsum is
// not null (bias 0 only), bsum[b] = sum of the doubled values of block b of
// blk elements. The fp4 packers' inner step (scalar, or AVX-512 with vpshufb).
using E2M1RowFn = void (*)(const uint8_t* codes, int64_t K, int64_t kp, int blk, uint8_t bias,
                           uint8_t* out, int32_t* bsum);

template <class Fn>
struct KernelInfo {
  Fn fn;
  int mr, nr;
};

KernelInfo<F32Kernel> f32_kernel(Isa isa);
KernelInfo<I8Kernel> i8_kernel(Isa isa);
KernelInfo<F64Kernel> f64_kernel(Isa isa);
KernelInfo<SplitKernel> split_kernel(Isa isa);

// Per-ISA tables (the *_avx2.cc / *_avx512.cc files exist on x86 only).
KernelInfo<F32Kernel> f32_kernel_scalar();
KernelInfo<I8Kernel> i8_kernel_scalar();
KernelInfo<F64Kernel> f64_kernel_scalar();
KernelInfo<SplitKernel> split_kernel_scalar();
#ifdef FP4TRAIN_X86
KernelInfo<F32Kernel> f32_kernel_avx2();
KernelInfo<I8Kernel> i8_kernel_avx2();
KernelInfo<F64Kernel> f64_kernel_avx2();
KernelInfo<SplitKernel> split_kernel_avx2();
KernelInfo<F32Kernel> f32_kernel_avx512();
KernelInfo<I8Kernel> i8_kernel_avx512();
KernelInfo<F64Kernel> f64_kernel_avx512();
KernelInfo<SplitKernel> split_kernel_avx512();
// blk 32 with E8M0 scales (exp = true) or blk 16 with E4M3 scales (false).
KernelInfo<Fp4Kernel> fp4_kernel_avx512(bool exp);
void e2m1_row_avx512(const uint8_t* codes, int64_t K, int64_t kp, int blk, uint8_t bias,
                     uint8_t* out, int32_t* bsum);
#endif

}  // namespace gemm_detail
}  // namespace fp4train
