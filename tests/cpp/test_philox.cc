// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11) and the (seed, stream,
// index) -> word mapping of docs/NUMERICS.md §3.
#include <random>

#include "formats/grid_round.h"
#include "test_util.h"
#include "util/counter_rng.h"

namespace {

using fp4test::hex;

struct Kat {
  uint32_t ctr[4];
  uint32_t key[2];
  uint32_t out[4];
};

// Random123's published known-answer vectors (tests/kat_vectors, philox4x32 10).
const Kat kKats[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

TEST(PhiloxTest, KnownAnswerVectorsOfRandom123) {
  for (const Kat& k : kKats) {
    const fp4train::Philox4 r =
        fp4train::philox4x32_10(k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3], k.key[0], k.key[1]);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(r.v[i], k.out[i]) << "counter " << hex(k.ctr[0], 8) << " key " << hex(k.key[0], 8)
                                  << " word " << i << ": got " << hex(r.v[i], 8) << ", expected "
                                  << hex(k.out[i], 8);
  }
}

// An independent transcription of the paper's round function: with
// (hi, lo) = mulhilo(M, x), one round maps (c0, c1, c2, c3) to
// (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)), and the
// key is bumped by the Weyl constants between rounds.
fp4train::Philox4 philox_paper(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t a = uint64_t(0xD2511F53u) * c[0];
    const uint64_t b = uint64_t(0xCD9E8D57u) * c[2];
    const uint32_t n0 = uint32_t(b >> 32) ^ c[1] ^ k0, n1 = uint32_t(b);
    const uint32_t n2 = uint32_t(a >> 32) ^ c[3] ^ k1, n3 = uint32_t(a);
    c[0] = n0;
    c[1] = n1;
    c[2] = n2;
    c[3] = n3;
  }
  return fp4train::Philox4{{c[0], c[1], c[2], c[3]}};
}

TEST(PhiloxTest, MatchesTheRoundFunctionOfThePaper) {
  std::mt19937_64 gen(42);
  for (int i = 0; i < 10000; ++i) {
    uint32_t c[4];
    for (auto& w : c) w = uint32_t(gen());
    const uint32_t k0 = uint32_t(gen()), k1 = uint32_t(gen());
    const fp4train::Philox4 got = fp4train::philox4x32_10(c[0], c[1], c[2], c[3], k0, k1);
    const fp4train::Philox4 want = philox_paper(c, k0, k1);
    for (int w = 0; w < 4; ++w) ASSERT_EQ(got.v[w], want.v[w]) << "case " << i << " word " << w;
  }
}

// NUMERICS §3: key = (lo32(seed), hi32(seed)); counter = (lo32(i >> 2),
// hi32(i >> 2), lo32(stream), hi32(stream)); word i & 3.
TEST(PhiloxRandomBitsTest, SeedStreamIndexLayout) {
  const uint64_t seeds[] = {0, 1, 0x123456789ABCDEF0ull, ~0ull};
  const uint64_t streams[] = {0, 1, 7, 0x100000003ull};
  const uint64_t indices[] = {0, 1, 2, 3, 4, 5, 1023, (1ull << 34) + 6, ~0ull};
  for (uint64_t seed : seeds)
    for (uint64_t stream : streams)
      for (uint64_t i : indices) {
        const uint64_t q = i >> 2;
        const fp4train::Philox4 b = fp4train::philox4x32_10(
            uint32_t(q), uint32_t(q >> 32), uint32_t(stream), uint32_t(stream >> 32),
            uint32_t(seed), uint32_t(seed >> 32));
        EXPECT_EQ(fp4train::random_bits(seed, stream, i), b.v[i & 3])
            << "seed " << hex(seed, 16) << " stream " << stream << " index " << i;
      }
  // The zero vector of Random123 is (seed 0, stream 0, indices 0..3).
  EXPECT_EQ(fp4train::random_bits(0, 0, 0), 0x6627e8d5u);
  EXPECT_EQ(fp4train::random_bits(0, 0, 3), 0x9b00dbd8u);
}

// random_bits_range == random_bits element by element, for every alignment
// of `first` and every short length.
TEST(PhiloxRandomBitsTest, RangeMatchesPointwise) {
  for (uint64_t first : {0ull, 1ull, 2ull, 3ull, 5ull, 4095ull, (1ull << 33) + 1}) {
    for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 9, 33}) {
      std::vector<uint32_t> out(size_t(n) + 1, 0xDEADBEEFu);
      fp4train::random_bits_range(77, 3, first, n, out.data());
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(out[size_t(i)], fp4train::random_bits(77, 3, first + uint64_t(i)))
            << "first " << first << " n " << n << " i " << i;
      EXPECT_EQ(out[size_t(n)], 0xDEADBEEFu) << "wrote past n=" << n;
    }
  }
}

// Stochastic rounding's k is the top 24 bits of the word.
TEST(PhiloxRandomBitsTest, K24IsTheTop24Bits) {
  EXPECT_EQ(fp4train::k24_of(0xFFFFFFFFu), 0xFFFFFFu);
  EXPECT_EQ(fp4train::k24_of(0x000000FFu), 0u);
  EXPECT_EQ(fp4train::k24_of(0x12345678u), 0x123456u);
}

// The 24-bit integers are close to uniform: mean (2^24 - 1) / 2 within
// 6 standard errors over 2^20 words, and each of 16 top-nibble bins within
// 6 sigma of n / 16.
TEST(PhiloxRandomBitsTest, K24LooksUniform) {
  const int n = 1 << 20;
  double sum = 0;
  int bins[16] = {0};
  for (int i = 0; i < n; ++i) {
    const uint32_t k = fp4train::k24_of(fp4train::random_bits(2024, 0, uint64_t(i)));
    sum += k;
    ++bins[k >> 20];
  }
  const double mean = sum / n, want = (16777216.0 - 1) / 2;
  const double se = 16777216.0 / std::sqrt(12.0 * n);
  EXPECT_NEAR(mean, want, 6 * se);
  const double p = 1.0 / 16, sigma = std::sqrt(n * p * (1 - p));
  for (int b = 0; b < 16; ++b) EXPECT_NEAR(bins[b], n * p, 6 * sigma) << "bin " << b;
}

}  // namespace
