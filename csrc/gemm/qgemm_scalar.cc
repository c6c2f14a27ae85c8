// qgemm micro-kernels in portable C++ (the "scalar" ISA). Same panels and the
// same per-output operations as the SIMD kernels: exact integer block sums,
// t = float((double(S) * sb) * sa), acc += t in block order.
#include <cmath>

#include "gemm/gemm_kernels.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kMr = 4, kNr = 8;

void i8_scalar(const uint8_t* const* a, const double* const* sa, const int8_t* bq,
               const int16_t* corr, const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    const int8_t* bb = bq + bi * blk * kNr;
    for (int i = 0; i < kMr; ++i) {
      const uint8_t* ar = a[i] + bi * blk;
      int32_t s[kNr] = {};
      for (int q = 0; q < blk / 2; ++q)
        for (int j = 0; j < kNr; ++j)
          s[j] += int32_t(ar[2 * q]) * bb[(q * kNr + j) * 2] +
                  int32_t(ar[2 * q + 1]) * bb[(q * kNr + j) * 2 + 1];
      for (int j = 0; j < kNr; ++j) {
        const double t = double(s[j] - corr[bi * kNr + j]) * sb[bi * kNr + j] * sa[i][bi];
        acc[i * kNr + j] += float(t);
      }
    }
  }
}

void f64_scalar(const double* const* a, const double* const* sa, const double* bq,
                const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    const double* bb = bq + bi * blk * kNr;
    for (int i = 0; i < kMr; ++i) {
      const double* ar = a[i] + bi * blk;
      double s[kNr] = {};
      for (int k = 0; k < blk; ++k)
        for (int j = 0; j < kNr; ++j) s[j] += ar[k] * bb[k * kNr + j];  // exact integers
      for (int j = 0; j < kNr; ++j) {
        const double t = s[j] * sb[bi * kNr + j] * sa[i][bi];
        acc[i * kNr + j] += float(t);
      }
    }
  }
}

void split_scalar(const double* const* a, const double* const* sa, const double* bq,
                  const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    const double* bb = bq + bi * blk * 2 * kNr;
    for (int i = 0; i < kMr; ++i) {
      const double* ar = a[i] + bi * blk;
      double hi[kNr] = {}, lo[kNr] = {};
      for (int k = 0; k < blk; ++k)
        for (int j = 0; j < kNr; ++j) {
          hi[j] += ar[k] * bb[(2 * k) * kNr + j];  // exact integers
          lo[j] += ar[k] * bb[(2 * k + 1) * kNr + j];
        }
      for (int j = 0; j < kNr; ++j) {
        const double s = sb[bi * kNr + j], v = hi[j] * 65536.0 + lo[j];
        const float t = std::fabs(v) < 0x1p52 ? float(v * s * sa[i][bi])
                                              : split_term_exact(hi[j], lo[j], sa[i][bi], s);
        acc[i * kNr + j] += t;
      }
    }
  }
}

}  // namespace

KernelInfo<SplitKernel> split_kernel_scalar() { return {split_scalar, kMr, kNr}; }

KernelInfo<SplitKernel> split_kernel(Isa isa) {
#ifdef FP4TRAIN_X86
  if (isa == Isa::kAvx512) return split_kernel_avx512();
  if (isa == Isa::kAvx2) return split_kernel_avx2();
#endif
  (void)isa;
  return split_kernel_scalar();
}

KernelInfo<I8Kernel> i8_kernel_scalar() { return {i8_scalar, kMr, kNr}; }
KernelInfo<F64Kernel> f64_kernel_scalar() { return {f64_scalar, kMr, kNr}; }

KernelInfo<I8Kernel> i8_kernel(Isa isa) {
#ifdef FP4TRAIN_X86
  if (isa == Isa::kAvx512) return i8_kernel_avx512();
  if (isa == Isa::kAvx2) return i8_kernel_avx2();
#endif
  (void)isa;
  return i8_kernel_scalar();
}

KernelInfo<F64Kernel> f64_kernel(Isa isa) {
#ifdef FP4TRAIN_X86
  if (isa == Isa::kAvx512) return f64_kernel_avx512();
  if (isa == Isa::kAvx2) return f64_kernel_avx2();
#endif
  (void)isa;
  return f64_kernel_scalar();
}

}  // namespace gemm_detail
}  // namespace fp4train
