// fwht_avx512: the FWHT with 16-lane AVX-512 vectors (bit-identical to fwht_ref).
#include <immintrin.h>

#include "hadamard/fwht.h"

namespace fp4train {
namespace {

struct VecAvx512 {
  using T = __m512;
  static constexpr int W = 16;
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static T set1(float f) { return _mm512_set1_ps(f); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }

  // Stage h inside a vector: `sw` holds each lane's partner; lanes whose
  // mask bit is set are the `b` of their pair and take a - b = sw - v.
  // (The full-mask forms of the permutes: GCC 12's unmasked ones start from
  // _mm512_undefined_ps and trip -Wuninitialized.)
  static T intra(T v, int n) {
    if (n >= 2) {
      const T sw = _mm512_mask_permute_ps(v, 0xFFFF, v, 0xB1);  // swap neighbours
      v = _mm512_mask_blend_ps(0xAAAA, _mm512_add_ps(v, sw), _mm512_sub_ps(sw, v));
    }
    if (n >= 4) {
      const T sw = _mm512_mask_permute_ps(v, 0xFFFF, v, 0x4E);  // swap pairs
      v = _mm512_mask_blend_ps(0xCCCC, _mm512_add_ps(v, sw), _mm512_sub_ps(sw, v));
    }
    if (n >= 8) {
      // swap 128-bit lanes
      const T sw = _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, _MM_SHUFFLE(2, 3, 0, 1));
      v = _mm512_mask_blend_ps(0xF0F0, _mm512_add_ps(v, sw), _mm512_sub_ps(sw, v));
    }
    if (n >= 16) {
      // swap 256-bit halves
      const T sw = _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, _MM_SHUFFLE(1, 0, 3, 2));
      v = _mm512_mask_blend_ps(0xFF00, _mm512_add_ps(v, sw), _mm512_sub_ps(sw, v));
    }
    return v;
  }
};

#include "hadamard/fwht_simd-inl.h"

}  // namespace

void fwht_avx512(float* row, int64_t length, int n, const float* signs, bool inverse) {
  FwhtSimd<VecAvx512>::run(row, length, n, signs, inverse);
}

}  // namespace fp4train
