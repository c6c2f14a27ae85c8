// qgemm micro-kernels, AVX2. Lanes are output columns.
//   i8:  4 rows x 16 columns with vpmaddubsw on (a + 12, b) byte pairs into
//        int16 (exact, see qgemm_avx512.cc); S = sum - corr.
//   f64: 6 rows x 8 columns of double FMAs on exact integers (no rounding).
// Epilogue per block: t = cvtpd_ps((double(S) * sb) * sa), acc += t.
#include <immintrin.h>

#include <cstring>

#include "gemm/gemm_kernels.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kI8Mr = 4, kI8Nr = 16;

// t for 4 columns: float((double(s32) * sb) * sa).
inline __m128 block_term(__m128i s32, const double* sb, __m256d sa) {
  return _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(s32), _mm256_loadu_pd(sb)), sa));
}

void i8_avx2(const uint8_t* const* a, const double* const* sa, const int8_t* bq,
             const int16_t* corr, const double* sb, int64_t nblk, int blk, float* acc) {
  const int npairs = blk / 2;
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m256i s[kI8Mr];
#pragma GCC unroll 4
    for (int i = 0; i < kI8Mr; ++i) s[i] = _mm256_setzero_si256();
    const int8_t* bb = bq + bi * blk * kI8Nr;
    const int64_t koff = bi * blk;
    for (int q = 0; q < npairs; ++q) {
      const __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bb + q * 2 * kI8Nr));
#pragma GCC unroll 4
      for (int i = 0; i < kI8Mr; ++i) {
        int16_t pair;
        std::memcpy(&pair, a[i] + koff + 2 * q, 2);
        s[i] = _mm256_add_epi16(s[i], _mm256_maddubs_epi16(_mm256_set1_epi16(pair), bv));
      }
    }
    const __m256i cv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + bi * kI8Nr));
    const double* sbb = sb + bi * kI8Nr;
#pragma GCC unroll 4
    for (int i = 0; i < kI8Mr; ++i) {
      const __m256i d = _mm256_sub_epi16(s[i], cv);
      const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(d));       // cols 0..7
      const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(d, 1));  // cols 8..15
      const __m256d sav = _mm256_set1_pd(sa[i][bi]);
      const __m128 t0 = block_term(_mm256_castsi256_si128(lo), sbb, sav);
      const __m128 t1 = block_term(_mm256_extracti128_si256(lo, 1), sbb + 4, sav);
      const __m128 t2 = block_term(_mm256_castsi256_si128(hi), sbb + 8, sav);
      const __m128 t3 = block_term(_mm256_extracti128_si256(hi, 1), sbb + 12, sav);
      float* ac = acc + i * kI8Nr;
      _mm256_storeu_ps(ac, _mm256_add_ps(_mm256_loadu_ps(ac), _mm256_set_m128(t1, t0)));
      _mm256_storeu_ps(ac + 8, _mm256_add_ps(_mm256_loadu_ps(ac + 8), _mm256_set_m128(t3, t2)));
    }
  }
}

constexpr int kF64Mr = 6, kF64Nr = 8;

void f64_avx2(const double* const* a, const double* const* sa, const double* bq,
              const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m256d s0[kF64Mr], s1[kF64Mr];
#pragma GCC unroll 6
    for (int i = 0; i < kF64Mr; ++i) s0[i] = s1[i] = _mm256_setzero_pd();
    const double* bb = bq + bi * blk * kF64Nr;
    const int64_t koff = bi * blk;
    for (int k = 0; k < blk; ++k) {
      const __m256d b0 = _mm256_loadu_pd(bb + k * kF64Nr), b1 = _mm256_loadu_pd(bb + k * kF64Nr + 4);
#pragma GCC unroll 6
      for (int i = 0; i < kF64Mr; ++i) {
        const __m256d av = _mm256_broadcast_sd(a[i] + koff + k);
        s0[i] = _mm256_fmadd_pd(av, b0, s0[i]);  // exact: integers below 2^53
        s1[i] = _mm256_fmadd_pd(av, b1, s1[i]);
      }
    }
    const __m256d sb0 = _mm256_loadu_pd(sb + bi * kF64Nr), sb1 = _mm256_loadu_pd(sb + bi * kF64Nr + 4);
#pragma GCC unroll 6
    for (int i = 0; i < kF64Mr; ++i) {
      const __m256d sav = _mm256_set1_pd(sa[i][bi]);
      const __m128 t0 = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_mul_pd(s0[i], sb0), sav));
      const __m128 t1 = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_mul_pd(s1[i], sb1), sav));
      float* ac = acc + i * kF64Nr;
      _mm256_storeu_ps(ac, _mm256_add_ps(_mm256_loadu_ps(ac), _mm256_set_m128(t1, t0)));
    }
  }
}

constexpr int kSpMr = 4, kSpNr = 4;

// One row's 4 lanes of split sums -> 4 block terms; lanes whose combined sum
// is not below 2^52 (or not finite) are finished exactly, one by one.
inline __m128 split_terms(__m256d hi, __m256d lo, const double* sb, double sa) {
  const __m256d v = _mm256_fmadd_pd(hi, _mm256_set1_pd(65536.0), lo);  // hi * 2^16 exact
  const __m128 t = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_mul_pd(v, _mm256_loadu_pd(sb)), _mm256_set1_pd(sa)));
  const __m256d absv = _mm256_andnot_pd(_mm256_set1_pd(-0.0), v);
  const int ok = _mm256_movemask_pd(_mm256_cmp_pd(absv, _mm256_set1_pd(0x1p52), _CMP_LT_OQ));
  if (ok == 0xF) return t;
  alignas(16) float tf[4];
  alignas(32) double h[4], l[4];
  _mm_store_ps(tf, t);
  _mm256_store_pd(h, hi);
  _mm256_store_pd(l, lo);
  for (int j = 0; j < 4; ++j)
    if (!((ok >> j) & 1)) tf[j] = split_term_exact(h[j], l[j], sa, sb[j]);
  return _mm_load_ps(tf);
}

void split_avx2(const double* const* a, const double* const* sa, const double* bq,
                const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m256d h[kSpMr], l[kSpMr];
#pragma GCC unroll 4
    for (int i = 0; i < kSpMr; ++i) h[i] = l[i] = _mm256_setzero_pd();
    const double* bb = bq + bi * blk * 2 * kSpNr;
    const int64_t koff = bi * blk;
    for (int k = 0; k < blk; ++k) {
      const __m256d bh = _mm256_loadu_pd(bb + k * 2 * kSpNr), bl = _mm256_loadu_pd(bb + k * 2 * kSpNr + kSpNr);
#pragma GCC unroll 4
      for (int i = 0; i < kSpMr; ++i) {
        const __m256d av = _mm256_broadcast_sd(a[i] + koff + k);
        h[i] = _mm256_fmadd_pd(av, bh, h[i]);  // exact: integers below 2^39
        l[i] = _mm256_fmadd_pd(av, bl, l[i]);
      }
    }
    const double* sbb = sb + bi * kSpNr;
    for (int i = 0; i < kSpMr; ++i) {
      const __m128 t = split_terms(h[i], l[i], sbb, sa[i][bi]);
      float* ac = acc + i * kSpNr;
      _mm_storeu_ps(ac, _mm_add_ps(_mm_loadu_ps(ac), t));
    }
  }
}

}  // namespace

KernelInfo<SplitKernel> split_kernel_avx2() { return {split_avx2, kSpMr, kSpNr}; }

KernelInfo<I8Kernel> i8_kernel_avx2() { return {i8_avx2, kI8Mr, kI8Nr}; }
KernelInfo<F64Kernel> f64_kernel_avx2() { return {f64_avx2, kF64Mr, kF64Nr}; }

}  // namespace gemm_detail
}  // namespace fp4train
