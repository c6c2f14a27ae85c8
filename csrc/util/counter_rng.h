// Counter-based random bits: Philox4x32-10 (Salmon et al., SC'11; the
// Random123 constants). Stateless: the bits for (seed, stream, index) are a
// pure function of those three numbers, so stochastic rounding gives the same
// result whatever the thread count, tiling or order of evaluation.
//
// Contract (docs/NUMERICS.md §3): key = (lo32(seed), hi32(seed)); counter =
// (lo32(i >> 2), hi32(i >> 2), lo32(stream), hi32(stream)); the word used for
// index i is output number (i & 3). Quantization uses stream 0 and the flat
// C-order element index; Hadamard sign vectors use stream 1 + step.
#pragma once
#include <cstdint>

namespace fp4train {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
constexpr uint64_t kStreamQuantize = 0;
constexpr uint64_t kStreamHadamardBase = 1;  // + step

struct Philox4 {
  uint32_t v[4];
};

// One Philox4x32-10 block: 4 random words for a 128-bit counter and 64-bit key.
inline Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                             uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kPhiloxM0) * c0;
    const uint64_t p1 = uint64_t(kPhiloxM1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kPhiloxW0;  // the bump after the last round is unused
    k1 += kPhiloxW1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// The 4 words whose indices are 4*q .. 4*q+3 in (seed, stream).
inline Philox4 random_block(uint64_t seed, uint64_t stream, uint64_t q) {
  return philox4x32_10(uint32_t(q), uint32_t(q >> 32), uint32_t(stream),
                       uint32_t(stream >> 32), uint32_t(seed), uint32_t(seed >> 32));
}

// The 32-bit word for element `index` of (seed, stream).
inline uint32_t random_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  return random_block(seed, stream, index >> 2).v[index & 3];
}

// Fills out[0..n) with the words for indices first .. first+n-1, computing
// each Philox block once (4 words per block).
inline void random_bits_range(uint64_t seed, uint64_t stream, uint64_t first,
                              int64_t n, uint32_t* out) {
  int64_t i = 0;
  while (i < n) {
    const uint64_t idx = first + uint64_t(i);
    const Philox4 b = random_block(seed, stream, idx >> 2);
    for (uint32_t w = uint32_t(idx & 3); w < 4 && i < n; ++w, ++i) out[i] = b.v[w];
  }
}

}  // namespace fp4train
