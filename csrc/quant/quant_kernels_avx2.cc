// quant_kernels_avx2: the row kernels with 8-lane AVX2 vectors (masks are
// vectors of all-ones lanes). Bit-identical to quant_kernels_ref.cc.
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

struct VecAvx2 {
  using F = __m256;
  using I = __m256i;
  using M = __m256i;
  static constexpr int W = 8;

  static I lane_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }

  // floats
  static F ld(const float* p) { return _mm256_loadu_ps(p); }
  static F ldn(const float* p, int n) { return _mm256_maskload_ps(p, lane_mask(n)); }
  static void st(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void stn(float* p, F v, int n) { _mm256_maskstore_ps(p, lane_mask(n), v); }
  static F fset(float f) { return _mm256_set1_ps(f); }
  static F fadd(F a, F b) { return _mm256_add_ps(a, b); }
  static F fmul(F a, F b) { return _mm256_mul_ps(a, b); }
  // x * e, except that a zero x stays x (NVFP4: 0 * Inf must not be NaN)
  static F mul_keep_zero(F x, F e) {
    return _mm256_blendv_ps(_mm256_mul_ps(x, e), x, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
  }
  // min(|v|, c) for c >= 0, sign clear
  static F abs_min(F v, F c) {
    return _mm256_min_ps(_mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(v),
                                                              _mm256_set1_epi32(0x7FFFFFFF))),
                         c);
  }
  static F fdiv(F a, F b) { return _mm256_div_ps(a, b); }
  static F fmin(F a, F b) { return _mm256_min_ps(a, b); }
  static F fmax(F a, F b) { return _mm256_max_ps(a, b); }
  static M fgt(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
  static M fge(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GE_OQ)); }
  static M feq(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
  static M fne(F a, F b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_NEQ_UQ)); }
  static F fsel(M m, F a, F b) { return _mm256_blendv_ps(b, a, _mm256_castsi256_ps(m)); }
  static I bits(F v) { return _mm256_castps_si256(v); }
  static F flt(I v) { return _mm256_castsi256_ps(v); }
  static F cvt(I v) { return _mm256_cvtepi32_ps(v); }

  // int32
  static I ildu(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const I*>(p)); }
  static I ildn(const uint32_t* p, int n) {
    return _mm256_maskload_epi32(reinterpret_cast<const int*>(p), lane_mask(n));
  }
  static void ist(uint32_t* p, I v) { _mm256_storeu_si256(reinterpret_cast<I*>(p), v); }
  static I iset(int32_t v) { return _mm256_set1_epi32(v); }
  static I izero() { return _mm256_setzero_si256(); }
  static I iadd(I a, I b) { return _mm256_add_epi32(a, b); }
  static I isub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I iand(I a, I b) { return _mm256_and_si256(a, b); }
  static I ior(I a, I b) { return _mm256_or_si256(a, b); }
  static I ixor(I a, I b) { return _mm256_xor_si256(a, b); }
  template <int k> static I isrl(I a) { return _mm256_srli_epi32(a, k); }
  template <int k> static I isll(I a) { return _mm256_slli_epi32(a, k); }
  static I isrlv(I a, I c) { return _mm256_srlv_epi32(a, c); }
  static I isllv(I a, I c) { return _mm256_sllv_epi32(a, c); }
  static I imax(I a, I b) { return _mm256_max_epi32(a, b); }
  static I imin(I a, I b) { return _mm256_min_epi32(a, b); }
  static M igt(I a, I b) { return _mm256_cmpgt_epi32(a, b); }
  static M ieq(I a, I b) { return _mm256_cmpeq_epi32(a, b); }
  static I sel(M m, I a, I b) { return _mm256_blendv_epi8(b, a, m); }
  static I keep(M m, I a) { return _mm256_and_si256(m, a); }
  static I bitsel(I m, I a, I b) { return _mm256_or_si256(_mm256_and_si256(m, a), _mm256_andnot_si256(m, b)); }
  static I inc(M m, I a) { return _mm256_sub_epi32(a, m); }  // m lanes are -1
  static M mor(M a, M b) { return _mm256_or_si256(a, b); }

  static uint32_t hmax(I v) {
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, 0xB1));
    return uint32_t(_mm_cvtsi128_si32(m));
  }

  // W per-block vectors -> one vector of their W maxima (block j in lane j).
  static I hmax_w(const I* m) {
    I v2[4], v4[2];
    for (int j = 0; j < 4; ++j)
      v2[j] = _mm256_max_epi32(_mm256_unpacklo_epi32(m[2 * j], m[2 * j + 1]),
                               _mm256_unpackhi_epi32(m[2 * j], m[2 * j + 1]));
    for (int j = 0; j < 2; ++j)
      v4[j] = _mm256_max_epi32(_mm256_unpacklo_epi64(v2[2 * j], v2[2 * j + 1]),
                               _mm256_unpackhi_epi64(v2[2 * j], v2[2 * j + 1]));
    return _mm256_max_epi32(_mm256_permute2x128_si256(v4[0], v4[1], 0x20),
                            _mm256_permute2x128_si256(v4[0], v4[1], 0x31));
  }

  // The E2M1 rounding constant M' of E' + 127 = eb in {127, 128, 129},
  // looked up by eb's low 3 bits (7, 0, 1): 2^(E' + 22) | 2E'.
  static I e2m1_magic(I eb) {
    const I t = _mm256_setr_epi32((150 << 23) | 2, (151 << 23) | 4, 0, 0, 0, 0, 0, 149 << 23);
    return _mm256_permutevar8x32_epi32(t, eb);
  }

  // hi:lo = a * m, lane by lane (32 x 32 -> 64 bits).
  static void mulhilo(I a, uint32_t m, I& hi, I& lo) {
    const I mv = _mm256_set1_epi32(int32_t(m));
    const I pe = _mm256_mul_epu32(a, mv);                         // lanes 0, 2, 4, 6
    const I po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), mv);  // lanes 1, 3, 5, 7
    hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
    lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  }

  static I xor3(I a, I b, I c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }

  // c0..c3 hold word k of counters q..q+7 in lane j; afterwards the four
  // vectors hold the 32 words in index order (4 (q + j) + k).
  static void transpose4(I& c0, I& c1, I& c2, I& c3) {
    const I t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    const I t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    const I u0 = _mm256_unpacklo_epi64(t0, t2);  // q0 | q4
    const I u1 = _mm256_unpackhi_epi64(t0, t2);  // q1 | q5
    const I u2 = _mm256_unpacklo_epi64(t1, t3);  // q2 | q6
    const I u3 = _mm256_unpackhi_epi64(t1, t3);  // q3 | q7
    c0 = _mm256_permute2x128_si256(u0, u1, 0x20);
    c1 = _mm256_permute2x128_si256(u2, u3, 0x20);
    c2 = _mm256_permute2x128_si256(u0, u1, 0x31);
    c3 = _mm256_permute2x128_si256(u2, u3, 0x31);
  }

  static F lut_e2m1(I idx) {
    return _mm256_permutevar8x32_ps(_mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f),
                                    idx);
  }

  // Packed codes: 8 nibbles (4 bytes), 8 bytes, 8 little-endian 16-bit words.
  static void st_nibbles(uint8_t* p, I c) {
    // byte 0 of each 64-bit lane = c[2k] | c[2k+1] << 4; gather them as
    // bytes 0, 1 (low 128 bits) and 2, 3 (high 128 bits), then or the halves.
    const I t = _mm256_or_si256(c, _mm256_srli_epi64(c, 28));
    const I s = _mm256_shuffle_epi8(
        t, _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,
                            8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
    const __m128i r = _mm_or_si128(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    const int32_t v = _mm_cvtsi128_si32(r);
    std::memcpy(p, &v, 4);
  }
  static void st_bytes(uint8_t* p, I c) {
    const I s = _mm256_shuffle_epi8(
        c, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
                            12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
    const I r = _mm256_permutevar8x32_epi32(s, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(r));
  }
  static void st_u16(uint8_t* p, I c) {
    const I s = _mm256_shuffle_epi8(
        c, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5,
                            8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1));
    const I r = _mm256_permute4x64_epi64(s, 0x08);  // qwords 0, 2
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(r));
  }
  static I ld_nibbles(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    const __m128i b = _mm_shuffle_epi8(_mm_cvtsi32_si128(v),
                                       _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1, -1, -1,
                                                     -1, -1, -1));
    const I w = _mm256_cvtepu8_epi32(b);
    return _mm256_and_si256(_mm256_srlv_epi32(w, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)),
                            _mm256_set1_epi32(0xF));
  }
  static I ld_bytes(const uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  }
  static I ld_u16(const uint8_t* p) {
    return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

#include "quant/quant_simd-inl.h"

using K = QuantSimd<VecAvx2>;

}  // namespace

const QuantKernels& quant_kernels_avx2() {
  static const QuantKernels k{"avx2", K::copy, K::transpose, K::finite_amax, K::block_amax, K::block_scales, K::encode,
                              K::decode};
  return k;
}

}  // namespace quant_detail
}  // namespace fp4train
