// fwht_avx2: the FWHT with 8-lane AVX vectors (bit-identical to fwht_ref).
#include <immintrin.h>

#include "hadamard/fwht.h"

namespace fp4train {
namespace {

struct VecAvx2 {
  using T = __m256;
  static constexpr int W = 8;
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }

  // Stage h inside a vector: `sw` holds each lane's partner. Lanes with
  // j mod 2h < h are the `a` of their pair (a + b = v + sw); the others are
  // the `b` (a - b = sw - v).
  static T intra(T v, int n) {
    if (n >= 2) {
      const T sw = _mm256_permute_ps(v, 0xB1);  // swap neighbours
      v = _mm256_blend_ps(_mm256_add_ps(v, sw), _mm256_sub_ps(sw, v), 0xAA);
    }
    if (n >= 4) {
      const T sw = _mm256_permute_ps(v, 0x4E);  // swap pairs
      v = _mm256_blend_ps(_mm256_add_ps(v, sw), _mm256_sub_ps(sw, v), 0xCC);
    }
    if (n >= 8) {
      const T sw = _mm256_permute2f128_ps(v, v, 0x01);  // swap halves
      v = _mm256_blend_ps(_mm256_add_ps(v, sw), _mm256_sub_ps(sw, v), 0xF0);
    }
    return v;
  }
};

#include "hadamard/fwht_simd-inl.h"

}  // namespace

void fwht_avx2(float* row, int64_t length, int n, const float* signs, bool inverse) {
  FwhtSimd<VecAvx2>::run(row, length, n, signs, inverse);
}

}  // namespace fp4train
