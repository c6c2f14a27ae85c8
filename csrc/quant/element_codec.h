// Encoding and decoding of the elements of one block, given its scale: the
// scalar definitions of docs/NUMERICS.md §2 that every fast path must match.
// Codes here are unpacked (one byte per element); packing is the caller's.
#pragma once
#include <cstdint>

#include "formats/e2m1.h"
#include "formats/e8m0.h"
#include "formats/fp8.h"
#include "formats/grid_round.h"

namespace fp4train {

inline uint8_t encode_elem(float v, ElemType e, Rounding r, uint32_t k24) {
  switch (e) {
    case ElemType::kE2M1: return e2m1_encode(v, r, k24);
    case ElemType::kE4M3: return e4m3_encode(v, r, k24);
    default: return e5m2_encode(v, r, k24);
  }
}

inline float decode_elem(uint8_t c, ElemType e) {
  switch (e) {
    case ElemType::kE2M1: return e2m1_decode(c);
    case ElemType::kE4M3: return e4m3_decode(c);
    default: return e5m2_decode(c);
  }
}

// k24 may be null unless r == kStochastic.
inline uint32_t k24_at(const uint32_t* k24, int i) { return k24 ? k24[i] : 0u; }

// MX block (E8M0 scale 2^e): v = RN(RN(x * 2^-e) * p), then encoded.
// A NaN scale (non-finite block) writes zero codes, and so does an all-zero
// block (`zero_block`: amax = 0 over the whole block, which with 2-D tiles is
// the whole tile, not just these n elements of one row).
inline void encode_block_mx(const float* x, int n, uint8_t scale_code, bool zero_block,
                            ElemType e, Rounding r, float p, const uint32_t* k24,
                            uint8_t* codes) {
  if (scale_code == kE8M0NaN || zero_block) {
    // NaN block: codes are irrelevant (dequantize gives NaN). Zero block: +0.
    // A block with scale 2^-127 that is not all zero still takes the general path.
    for (int i = 0; i < n; ++i) codes[i] = 0;
    return;
  }
  const float inv = exp2_int(kE8M0Bias - int(scale_code));  // 2^-e, exact
  for (int i = 0; i < n; ++i) {
    float v = x[i] * inv;
    v = v * p;
    codes[i] = encode_elem(v, e, r, k24_at(k24, i));
  }
}

inline float decode_mx(uint8_t c, uint8_t scale_code, ElemType e, float p) {
  if (scale_code == kE8M0NaN) return f32_from_bits(0x7FC00000u);
  float y = decode_elem(c, e) * e8m0_decode(scale_code);
  if (p != 1.0f) y = y / p;
  return y;
}

// NVFP4 block (E4M3 scale S, tensor decode s_dec): enc = RN(1 / RN(S * s_dec))
// (0 when S = 0); v = clamp(RN(RN(x * enc) * p), -6, 6), then encoded.
inline float nvfp4_block_enc(uint8_t scale_code, float s_dec) {
  const float S = e4m3_decode(scale_code);
  return S == 0.0f ? 0.0f : 1.0f / (S * s_dec);
}

inline void encode_block_nv(const float* x, int n, uint8_t scale_code, float s_dec, Rounding r,
                            float p, const uint32_t* k24, uint8_t* codes) {
  if (scale_code == kFp8NaN) {
    for (int i = 0; i < n; ++i) codes[i] = 0;
    return;
  }
  const float enc = nvfp4_block_enc(scale_code, s_dec);
  for (int i = 0; i < n; ++i) {
    // enc can overflow to +Inf for tensors with amax below ~2^-107: keep a
    // zero element zero instead of 0 * Inf = NaN (docs/NUMERICS.md §2.2).
    float v = x[i] == 0.0f ? x[i] : x[i] * enc;
    v = v * p;
    v = v > kE2M1Max ? kE2M1Max : (v < -kE2M1Max ? -kE2M1Max : v);
    codes[i] = e2m1_encode(v, r, k24_at(k24, i));
  }
}

inline float decode_nv(uint8_t c, uint8_t scale_code, float s_dec, float p) {
  if (scale_code == kFp8NaN) return f32_from_bits(0x7FC00000u);
  float y = e2m1_decode(c) * e4m3_decode(scale_code);
  y = y * s_dec;
  if (p != 1.0f) y = y / p;
  return y;
}

// Per-tensor FP8 (scale s): v = RN(RN(x * s) * p), encoded with saturation.
inline void encode_block_tensor(const float* x, int n, float s, ElemType e, Rounding r, float p,
                                const uint32_t* k24, uint8_t* codes) {
  for (int i = 0; i < n; ++i) {
    float v = x[i] * s;
    v = v * p;
    codes[i] = encode_elem(v, e, r, k24_at(k24, i));
  }
}

inline float decode_tensor(uint8_t c, float s, ElemType e, float p) {
  float y = decode_elem(c, e) / s;
  if (p != 1.0f) y = y / p;
  return y;
}

}  // namespace fp4train
