// quant_kernels_avx512: the row kernels with 16-lane AVX-512 vectors and
// k-register masks. Bit-identical to quant_kernels_ref.cc.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "formats/e2m1.h"
#include "formats/float_bits.h"
#include "formats/fp8.h"
#include "quant/quant_kernels.h"
#include "util/counter_rng.h"

namespace fp4train {
namespace quant_detail {
namespace {

// Full-mask (maskz) forms throughout: GCC 12's unmasked AVX-512 intrinsics
// start from _mm512_undefined_* and trip -Wuninitialized.
struct VecAvx512 {
  using F = __m512;
  using I = __m512i;
  using M = __mmask16;
  static constexpr int W = 16;
  static constexpr M kAll = 0xFFFF;

  static M lanes(int n) { return M((1u << n) - 1u); }

  // floats
  static F ld(const float* p) { return _mm512_loadu_ps(p); }
  static F ldn(const float* p, int n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void st(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void stn(float* p, F v, int n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static F fset(float f) { return _mm512_set1_ps(f); }
  static F fadd(F a, F b) { return _mm512_maskz_add_ps(kAll, a, b); }
  static F fmul(F a, F b) { return _mm512_maskz_mul_ps(kAll, a, b); }
  // x * e, except that a zero x stays x (NVFP4: 0 * Inf must not be NaN)
  static F mul_keep_zero(F x, F e) {
    return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NEQ_UQ), x, e);
  }
  // min(|v|, c) for c >= 0, sign clear (VRANGEPS: min by magnitude, clear sign)
  static F abs_min(F v, F c) { return _mm512_maskz_range_ps(kAll, v, c, 0x0A); }
  static F fdiv(F a, F b) { return _mm512_maskz_div_ps(kAll, a, b); }
  static F fmin(F a, F b) { return _mm512_maskz_min_ps(kAll, a, b); }
  static F fmax(F a, F b) { return _mm512_maskz_max_ps(kAll, a, b); }
  static M fgt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M fge(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  static M feq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M fne(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
  static F fsel(M m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  static I bits(F v) { return _mm512_castps_si512(v); }
  static F flt(I v) { return _mm512_castsi512_ps(v); }
  static F cvt(I v) { return _mm512_maskz_cvtepi32_ps(kAll, v); }

  // int32
  static I ildu(const uint32_t* p) { return _mm512_loadu_si512(p); }
  static I ildn(const uint32_t* p, int n) { return _mm512_maskz_loadu_epi32(lanes(n), p); }
  static void ist(uint32_t* p, I v) { _mm512_storeu_si512(p, v); }
  static I iset(int32_t v) { return _mm512_set1_epi32(v); }
  static I izero() { return _mm512_setzero_si512(); }
  static I iadd(I a, I b) { return _mm512_maskz_add_epi32(kAll, a, b); }
  static I isub(I a, I b) { return _mm512_maskz_sub_epi32(kAll, a, b); }
  static I iand(I a, I b) { return _mm512_and_si512(a, b); }
  static I ior(I a, I b) { return _mm512_or_si512(a, b); }
  static I ixor(I a, I b) { return _mm512_xor_si512(a, b); }
  template <int k> static I isrl(I a) { return _mm512_maskz_srli_epi32(kAll, a, k); }
  template <int k> static I isll(I a) { return _mm512_maskz_slli_epi32(kAll, a, k); }
  static I isrlv(I a, I c) { return _mm512_maskz_srlv_epi32(kAll, a, c); }
  static I isllv(I a, I c) { return _mm512_maskz_sllv_epi32(kAll, a, c); }
  static I imax(I a, I b) { return _mm512_maskz_max_epi32(kAll, a, b); }
  static I imin(I a, I b) { return _mm512_maskz_min_epi32(kAll, a, b); }
  static M igt(I a, I b) { return _mm512_cmpgt_epi32_mask(a, b); }
  static M ieq(I a, I b) { return _mm512_cmpeq_epi32_mask(a, b); }
  static I sel(M m, I a, I b) { return _mm512_mask_blend_epi32(m, b, a); }
  static I keep(M m, I a) { return _mm512_maskz_mov_epi32(m, a); }
  // (a & m) | (b & ~m)
  static I bitsel(I m, I a, I b) { return _mm512_ternarylogic_epi32(m, a, b, 0xCA); }
  static I inc(M m, I a) { return _mm512_mask_add_epi32(a, m, a, _mm512_set1_epi32(1)); }
  static M mor(M a, M b) { return M(a | b); }

  static uint32_t hmax(I v) {
    const __m256i h = _mm256_max_epi32(_mm512_maskz_extracti64x4_epi64(0xF, v, 0),
                                       _mm512_maskz_extracti64x4_epi64(0xF, v, 1));
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return uint32_t(_mm_cvtsi128_si32(m));
  }

  // W per-block vectors -> one vector of their W maxima (block j in lane j).
  static I hmax_w(const I* m) {
    I v2[8], v4[4], v8[2];
    for (int j = 0; j < 8; ++j)
      v2[j] = _mm512_maskz_max_epi32(kAll, _mm512_maskz_unpacklo_epi32(kAll, m[2 * j], m[2 * j + 1]),
                                     _mm512_maskz_unpackhi_epi32(kAll, m[2 * j], m[2 * j + 1]));
    for (int j = 0; j < 4; ++j)  // 128-bit lane L: blocks 4j..4j+3 over lane L
      v4[j] = _mm512_maskz_max_epi32(kAll, _mm512_maskz_unpacklo_epi64(0xFF, v2[2 * j], v2[2 * j + 1]),
                                     _mm512_maskz_unpackhi_epi64(0xFF, v2[2 * j], v2[2 * j + 1]));
    for (int j = 0; j < 2; ++j)
      v8[j] = _mm512_maskz_max_epi32(kAll, _mm512_maskz_shuffle_i32x4(kAll, v4[2 * j], v4[2 * j + 1], 0x88),
                                     _mm512_maskz_shuffle_i32x4(kAll, v4[2 * j], v4[2 * j + 1], 0xDD));
    return _mm512_maskz_max_epi32(kAll, _mm512_maskz_shuffle_i32x4(kAll, v8[0], v8[1], 0x88),
                                  _mm512_maskz_shuffle_i32x4(kAll, v8[0], v8[1], 0xDD));
  }

  // The E2M1 rounding constant M' of E' + 127 = eb in {127, 128, 129},
  // looked up by eb's low 4 bits (15, 0, 1): 2^(E' + 22) | 2E'.
  static I e2m1_magic(I eb) {
    const I t = _mm512_setr_epi32((150 << 23) | 2, (151 << 23) | 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 149 << 23);
    return _mm512_maskz_permutexvar_epi32(kAll, eb, t);
  }

  // hi:lo = a * m, lane by lane (32 x 32 -> 64 bits). The even-lane
  // products' high words and the odd-lane products' low words sit in the
  // neighbouring lane: one masked swap of 32-bit pairs moves each in place.
  static void mulhilo(I a, uint32_t m, I& hi, I& lo) {
    const I mv = _mm512_set1_epi32(int32_t(m));
    const I pe = _mm512_maskz_mul_epu32(0xFF, a, mv);                                   // even lanes
    const I po = _mm512_maskz_mul_epu32(0xFF, _mm512_maskz_srli_epi64(0xFF, a, 32), mv);  // odd lanes
    hi = _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
    lo = _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, _MM_PERM_CDAB);
  }
  static I xor3(I a, I b, I c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }

  // c0..c3 hold word k of counters q..q+15 in lane j; afterwards the four
  // vectors hold the 64 words in index order (4 (q + j) + k).
  static void transpose4(I& c0, I& c1, I& c2, I& c3) {
    const I t0 = _mm512_maskz_unpacklo_epi32(kAll, c0, c1), t1 = _mm512_maskz_unpackhi_epi32(kAll, c0, c1);
    const I t2 = _mm512_maskz_unpacklo_epi32(kAll, c2, c3), t3 = _mm512_maskz_unpackhi_epi32(kAll, c2, c3);
    const I u0 = _mm512_maskz_unpacklo_epi64(0xFF, t0, t2);  // q0 | q4 | q8 | q12
    const I u1 = _mm512_maskz_unpackhi_epi64(0xFF, t0, t2);  // q1 | q5 | q9 | q13
    const I u2 = _mm512_maskz_unpacklo_epi64(0xFF, t1, t3);  // q2 | q6 | q10 | q14
    const I u3 = _mm512_maskz_unpackhi_epi64(0xFF, t1, t3);  // q3 | q7 | q11 | q15
    const I a = _mm512_maskz_shuffle_i32x4(kAll, u0, u1, 0x44);  // q0 q4 q1 q5
    const I b = _mm512_maskz_shuffle_i32x4(kAll, u2, u3, 0x44);  // q2 q6 q3 q7
    const I c = _mm512_maskz_shuffle_i32x4(kAll, u0, u1, 0xEE);  // q8 q12 q9 q13
    const I d = _mm512_maskz_shuffle_i32x4(kAll, u2, u3, 0xEE);  // q10 q14 q11 q15
    c0 = _mm512_maskz_shuffle_i32x4(kAll, a, b, 0x88);
    c1 = _mm512_maskz_shuffle_i32x4(kAll, a, b, 0xDD);
    c2 = _mm512_maskz_shuffle_i32x4(kAll, c, d, 0x88);
    c3 = _mm512_maskz_shuffle_i32x4(kAll, c, d, 0xDD);
  }

  static F lut_e2m1(I idx) {
    const F t = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, 0.0f, 0.0f, 0.0f,
                               0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
    return _mm512_maskz_permutexvar_ps(kAll, idx, t);
  }

  // Packed codes: 16 nibbles (8 bytes), 16 bytes, 16 little-endian 16-bit words.
  static void st_nibbles(uint8_t* p, I c) {
    const I t = _mm512_or_si512(c, _mm512_maskz_srli_epi64(0xFF, c, 28));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm512_maskz_cvtepi64_epi8(0xFF, t));
  }
  static void st_bytes(uint8_t* p, I c) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_maskz_cvtepi32_epi8(kAll, c));
  }
  static void st_u16(uint8_t* p, I c) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_maskz_cvtepi32_epi16(kAll, c));
  }
  static I ld_nibbles(const uint8_t* p) {
    const __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)),
                                       _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const I w = _mm512_maskz_cvtepu8_epi32(kAll, b);
    const I sh = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
    return _mm512_and_si512(_mm512_maskz_srlv_epi32(kAll, w, sh), _mm512_set1_epi32(0xF));
  }
  static I ld_bytes(const uint8_t* p) {
    return _mm512_maskz_cvtepu8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I ld_u16(const uint8_t* p) {
    return _mm512_maskz_cvtepu16_epi32(kAll, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

#include "quant/quant_simd-inl.h"

using K = QuantSimd<VecAvx512>;

}  // namespace

const QuantKernels& quant_kernels_avx512() {
  static const QuantKernels k{"avx512", K::copy, K::transpose, K::finite_amax, K::block_amax, K::block_scales,
                              K::encode, K::decode};
  return k;
}

}  // namespace quant_detail
}  // namespace fp4train
