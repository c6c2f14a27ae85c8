// qgemm micro-kernels, AVX-512 (F, BW, DQ). Lanes are output columns.
//   i8:  8 rows x 32 columns. vpmaddubsw multiplies the biased A pair
//        (a + 12, unsigned, broadcast) by 32 columns' signed B pairs and adds
//        each pair into int16; a block sums to at most 24 * 12 * 32 = 9216,
//        so int16 never saturates, and S = sum - corr is exact.
//   f64: 8 rows x 16 columns of double FMAs on exact integers (no rounding).
// Epilogue per block: t = cvtpd_ps((double(S) * sb) * sa), acc += t.
// GCC 12 reports its own _mm512_undefined_* placeholders inside the
// conversion intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "gemm/gemm_kernels.h"

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kI8Mr = 8, kI8Nr = 32;

// t for 8 columns: float((double(s32) * sb) * sa).
inline __m256 block_term(__m256i s32, const double* sb, __m512d sa) {
  return _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(_mm512_cvtepi32_pd(s32), _mm512_loadu_pd(sb)), sa));
}

void i8_avx512(const uint8_t* const* a, const double* const* sa, const int8_t* bq,
               const int16_t* corr, const double* sb, int64_t nblk, int blk, float* acc) {
  const int npairs = blk / 2;
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m512i s[kI8Mr];
#pragma GCC unroll 8
    for (int i = 0; i < kI8Mr; ++i) s[i] = _mm512_setzero_si512();
    const int8_t* bb = bq + bi * blk * kI8Nr;
    const int64_t koff = bi * blk;
    for (int q = 0; q < npairs; ++q) {
      const __m512i bv = _mm512_loadu_si512(bb + q * 2 * kI8Nr);
#pragma GCC unroll 8
      for (int i = 0; i < kI8Mr; ++i) {
        int16_t pair;
        std::memcpy(&pair, a[i] + koff + 2 * q, 2);
        s[i] = _mm512_add_epi16(s[i], _mm512_maddubs_epi16(_mm512_set1_epi16(pair), bv));
      }
    }
    const __m512i cv = _mm512_loadu_si512(corr + bi * kI8Nr);
    const double* sbb = sb + bi * kI8Nr;
#pragma GCC unroll 8
    for (int i = 0; i < kI8Mr; ++i) {
      const __m512i d = _mm512_sub_epi16(s[i], cv);
      const __m512i lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(d));       // cols 0..15
      const __m512i hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(d, 1));  // cols 16..31
      const __m512d sav = _mm512_set1_pd(sa[i][bi]);
      const __m256 t0 = block_term(_mm512_castsi512_si256(lo), sbb, sav);
      const __m256 t1 = block_term(_mm512_extracti64x4_epi64(lo, 1), sbb + 8, sav);
      const __m256 t2 = block_term(_mm512_castsi512_si256(hi), sbb + 16, sav);
      const __m256 t3 = block_term(_mm512_extracti64x4_epi64(hi, 1), sbb + 24, sav);
      float* ac = acc + i * kI8Nr;
      const __m512 t01 = _mm512_insertf32x8(_mm512_castps256_ps512(t0), t1, 1);
      const __m512 t23 = _mm512_insertf32x8(_mm512_castps256_ps512(t2), t3, 1);
      _mm512_storeu_ps(ac, _mm512_add_ps(_mm512_loadu_ps(ac), t01));
      _mm512_storeu_ps(ac + 16, _mm512_add_ps(_mm512_loadu_ps(ac + 16), t23));
    }
  }
}

constexpr int kF64Mr = 8, kF64Nr = 16;

void f64_avx512(const double* const* a, const double* const* sa, const double* bq,
                const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m512d s0[kF64Mr], s1[kF64Mr];
#pragma GCC unroll 8
    for (int i = 0; i < kF64Mr; ++i) s0[i] = s1[i] = _mm512_setzero_pd();
    const double* bb = bq + bi * blk * kF64Nr;
    const int64_t koff = bi * blk;
    for (int k = 0; k < blk; ++k) {
      const __m512d b0 = _mm512_loadu_pd(bb + k * kF64Nr), b1 = _mm512_loadu_pd(bb + k * kF64Nr + 8);
#pragma GCC unroll 8
      for (int i = 0; i < kF64Mr; ++i) {
        const __m512d av = _mm512_set1_pd(a[i][koff + k]);
        s0[i] = _mm512_fmadd_pd(av, b0, s0[i]);  // exact: integers below 2^53
        s1[i] = _mm512_fmadd_pd(av, b1, s1[i]);
      }
    }
    const __m512d sb0 = _mm512_loadu_pd(sb + bi * kF64Nr), sb1 = _mm512_loadu_pd(sb + bi * kF64Nr + 8);
#pragma GCC unroll 8
    for (int i = 0; i < kF64Mr; ++i) {
      const __m512d sav = _mm512_set1_pd(sa[i][bi]);
      const __m256 t0 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(s0[i], sb0), sav));
      const __m256 t1 = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(s1[i], sb1), sav));
      float* ac = acc + i * kF64Nr;
      const __m512 t = _mm512_insertf32x8(_mm512_castps256_ps512(t0), t1, 1);
      _mm512_storeu_ps(ac, _mm512_add_ps(_mm512_loadu_ps(ac), t));
    }
  }
}

constexpr int kSpMr = 4, kSpNr = 16;

// One row's 8 lanes of split sums -> 8 block terms; lanes whose combined sum
// is not below 2^52 (or not finite) are finished exactly, one by one.
inline __m256 split_terms(__m512d hi, __m512d lo, const double* sb, double sa) {
  const __m512d v = _mm512_fmadd_pd(hi, _mm512_set1_pd(65536.0), lo);  // hi * 2^16 exact
  const __m512d sbv = _mm512_loadu_pd(sb);
  const __m256 t = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(v, sbv), _mm512_set1_pd(sa)));
  const __mmask8 ok = _mm512_cmp_pd_mask(_mm512_abs_pd(v), _mm512_set1_pd(0x1p52), _CMP_LT_OQ);
  if (ok == 0xFF) return t;
  alignas(32) float tf[8];
  alignas(64) double h[8], l[8];
  _mm256_store_ps(tf, t);
  _mm512_store_pd(h, hi);
  _mm512_store_pd(l, lo);
  for (int j = 0; j < 8; ++j)
    if (!((ok >> j) & 1)) tf[j] = split_term_exact(h[j], l[j], sa, sb[j]);
  return _mm256_load_ps(tf);
}

void split_avx512(const double* const* a, const double* const* sa, const double* bq,
                  const double* sb, int64_t nblk, int blk, float* acc) {
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m512d h0[kSpMr], h1[kSpMr], l0[kSpMr], l1[kSpMr];
#pragma GCC unroll 4
    for (int i = 0; i < kSpMr; ++i) h0[i] = h1[i] = l0[i] = l1[i] = _mm512_setzero_pd();
    const double* bb = bq + bi * blk * 2 * kSpNr;
    const int64_t koff = bi * blk;
    for (int k = 0; k < blk; ++k) {
      const double* bk = bb + k * 2 * kSpNr;
      const __m512d bh0 = _mm512_loadu_pd(bk), bh1 = _mm512_loadu_pd(bk + 8);
      const __m512d bl0 = _mm512_loadu_pd(bk + kSpNr), bl1 = _mm512_loadu_pd(bk + kSpNr + 8);
#pragma GCC unroll 4
      for (int i = 0; i < kSpMr; ++i) {
        const __m512d av = _mm512_set1_pd(a[i][koff + k]);
        h0[i] = _mm512_fmadd_pd(av, bh0, h0[i]);  // exact: integers below 2^39
        h1[i] = _mm512_fmadd_pd(av, bh1, h1[i]);
        l0[i] = _mm512_fmadd_pd(av, bl0, l0[i]);
        l1[i] = _mm512_fmadd_pd(av, bl1, l1[i]);
      }
    }
    const double* sbb = sb + bi * kSpNr;
    for (int i = 0; i < kSpMr; ++i) {
      const __m256 t0 = split_terms(h0[i], l0[i], sbb, sa[i][bi]);
      const __m256 t1 = split_terms(h1[i], l1[i], sbb + 8, sa[i][bi]);
      float* ac = acc + i * kSpNr;
      const __m512 t = _mm512_insertf32x8(_mm512_castps256_ps512(t0), t1, 1);
      _mm512_storeu_ps(ac, _mm512_add_ps(_mm512_loadu_ps(ac), t));
    }
  }
}

constexpr int kFp4Mr = 6, kFp4Nr = 32;

// 6 rows x 32 columns (two vectors), kBlk-element blocks of 4-byte k-groups:
// one vpdpbusd per group, row and vector, A's group as its broadcast operand;
// float accumulators in registers.
template <int kBlk, bool kExp>
void fp4_avx512(const int8_t* a, const int32_t* ncorr, const float* sa, const uint8_t* bq,
                const float* sb, int64_t nblk, float* c, int64_t ldc, bool first,
                const float* post) {
  constexpr int kG = kBlk / 4;
  __m512 f[kFp4Mr][2];
#pragma GCC unroll 6
  for (int i = 0; i < kFp4Mr; ++i) {
    f[i][0] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc);
    f[i][1] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16);
  }
  for (int64_t bi = 0; bi < nblk; ++bi) {
    __m512i s[kFp4Mr][2];
#pragma GCC unroll 6
    for (int i = 0; i < kFp4Mr; ++i) s[i][0] = s[i][1] = _mm512_set1_epi32(ncorr[bi * kFp4Mr + i]);
    const uint8_t* bb = bq + bi * kBlk * kFp4Nr;
    const int8_t* ab = a + bi * kBlk * kFp4Mr;
#pragma GCC unroll 8
    for (int g = 0; g < kG; ++g) {
      const __m512i b0 = _mm512_loadu_si512(bb + g * 4 * kFp4Nr);
      const __m512i b1 = _mm512_loadu_si512(bb + g * 4 * kFp4Nr + 64);
#pragma GCC unroll 6
      for (int i = 0; i < kFp4Mr; ++i) {
        int32_t w;
        std::memcpy(&w, ab + (g * kFp4Mr + i) * 4, 4);
        const __m512i av = _mm512_set1_epi32(w);
        s[i][0] = _mm512_dpbusd_epi32(s[i][0], b0, av);
        s[i][1] = _mm512_dpbusd_epi32(s[i][1], b1, av);
      }
    }
    const __m512 sb0 = _mm512_loadu_ps(sb + bi * kFp4Nr);
    const __m512 sb1 = _mm512_loadu_ps(sb + bi * kFp4Nr + 16);
#pragma GCC unroll 6
    for (int i = 0; i < kFp4Mr; ++i) {
      const __m512 sav = _mm512_set1_ps(sa[bi * kFp4Mr + i]);
      const __m512 x0 = _mm512_cvtepi32_ps(s[i][0]), x1 = _mm512_cvtepi32_ps(s[i][1]);  // exact
      if (kExp) {
        f[i][0] = _mm512_add_ps(f[i][0], _mm512_scalef_ps(x0, _mm512_add_ps(sav, sb0)));
        f[i][1] = _mm512_add_ps(f[i][1], _mm512_scalef_ps(x1, _mm512_add_ps(sav, sb1)));
      } else {
        f[i][0] = _mm512_fmadd_ps(x0, _mm512_mul_ps(sav, sb0), f[i][0]);  // x * s exact
        f[i][1] = _mm512_fmadd_ps(x1, _mm512_mul_ps(sav, sb1), f[i][1]);
      }
    }
  }
  if (post) {
    const __m512 d = _mm512_set1_ps(post[0]);
#pragma GCC unroll 6
    for (int i = 0; i < kFp4Mr; ++i) f[i][0] = _mm512_mul_ps(f[i][0], d), f[i][1] = _mm512_mul_ps(f[i][1], d);
    for (int p = 1; p <= 2; ++p) {
      if (post[p] == 1.0f) continue;
      const __m512 pv = _mm512_set1_ps(post[p]);
      for (int i = 0; i < kFp4Mr; ++i)
        f[i][0] = _mm512_div_ps(f[i][0], pv), f[i][1] = _mm512_div_ps(f[i][1], pv);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < kFp4Mr; ++i) {
    _mm512_storeu_ps(c + i * ldc, f[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, f[i][1]);
  }
}

// Doubled E2M1 values (kE2M1Doubled, restated: no shared inline code here).
constexpr int8_t kDoubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

void e2m1_row_impl(const uint8_t* codes, int64_t K, int64_t kp, int blk, uint8_t bias,
                   uint8_t* out, int32_t* bsum) {
  const __m128i lut = _mm_add_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kDoubled)),
                                   _mm_set1_epi8(char(bias)));
  const __m128i m0f = _mm_set1_epi8(0x0F);
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + k / 2));
    const __m128i vl = _mm_shuffle_epi8(lut, _mm_and_si128(c, m0f));
    const __m128i vh = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(c, 4), m0f));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm_unpacklo_epi8(vl, vh));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k + 16), _mm_unpackhi_epi8(vl, vh));
  }
  for (; k < K; ++k) out[k] = uint8_t(kDoubled[(codes[k >> 1] >> ((k & 1) * 4)) & 0xF] + bias);
  for (; k < kp; ++k) out[k] = bias;
  if (!bsum) return;
  // blk is a multiple of 16: sums of 16-byte chunks of (value + 12) by vpsadbw.
  const __m128i twelve = _mm_set1_epi8(12), zero = _mm_setzero_si128();
  for (int64_t b = 0; b * blk < kp; ++b) {
    __m128i acc = zero;
    for (int q = 0; q < blk; q += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(out + b * blk + q));
      acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_add_epi8(v, twelve), zero));
    }
    bsum[b] = int32_t(_mm_cvtsi128_si64(acc) + _mm_extract_epi64(acc, 1)) - 12 * blk;
  }
}

}  // namespace

void e2m1_row_avx512(const uint8_t* codes, int64_t K, int64_t kp, int blk, uint8_t bias,
                     uint8_t* out, int32_t* bsum) {
  e2m1_row_impl(codes, K, kp, blk, bias, out, bsum);
}

KernelInfo<Fp4Kernel> fp4_kernel_avx512(bool exp) {
  return {exp ? fp4_avx512<32, true> : fp4_avx512<16, false>, kFp4Mr, kFp4Nr};
}

KernelInfo<SplitKernel> split_kernel_avx512() { return {split_avx512, kSpMr, kSpNr}; }

KernelInfo<I8Kernel> i8_kernel_avx512() { return {i8_avx512, kI8Mr, kI8Nr}; }
KernelInfo<F64Kernel> f64_kernel_avx512() { return {f64_avx512, kF64Mr, kF64Nr}; }

}  // namespace gemm_detail
}  // namespace fp4train
