// Exact access to float32 bit fields. Exponents are always read from the
// bits, never through a float log2 (DESIGN §2).
#pragma once
#include <cstdint>
#include <cstring>

namespace fp4train {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bool f32_is_finite(float f) { return (f32_bits(f) & 0x7F800000u) != 0x7F800000u; }

// floor(log2(a)) for a finite a > 0, subnormals included.
inline int f32_exponent(float a) {
  const uint32_t u = f32_bits(a) & 0x7FFFFFFFu;
  const int raw = int(u >> 23);
  if (raw > 0) return raw - 127;
  return (31 - __builtin_clz(u)) - 149;  // u != 0: the leading mantissa bit
}

// The 23 fraction bits of a finite a > 0's significand in [1, 2), normalized
// for subnormals: a = (1 + frac / 2^23) * 2^f32_exponent(a), exactly.
inline uint32_t f32_fraction_bits(float a) {
  const uint32_t u = f32_bits(a) & 0x7FFFFFFFu;
  if (u >> 23) return u & 0x7FFFFFu;
  return (u << (__builtin_clz(u) - 8)) & 0x7FFFFFu;
}

// 2^e as a float for e in [-149, 127] (exact, subnormals included).
inline float exp2_int(int e) {
  if (e >= -126) return f32_from_bits(uint32_t(e + 127) << 23);
  return f32_from_bits(1u << (e + 149));
}

}  // namespace fp4train
