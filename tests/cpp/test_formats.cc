// Exhaustive tests of the element and scale codecs (docs/NUMERICS.md §1, §3).
//
// Expected values come from test_util.h's spec_* functions, which rebuild each
// format's grid from its bit fields in double precision and round by exact
// comparisons; nothing here trusts csrc/formats to define itself.
#include <cmath>
#include <limits>

#include "formats/bf16.h"
#include "formats/e2m1.h"
#include "formats/e8m0.h"
#include "formats/fp8.h"
#include "test_util.h"

namespace {

using namespace fp4test;
using fp4train::Rounding;

constexpr uint32_t kK24Max = (1u << 24) - 1u;
const float kInf = std::numeric_limits<float>::infinity();
const float kFltMax = std::numeric_limits<float>::max();

// One element codec under test, behind a uniform signature.
struct Codec {
  MiniFloat spec;
  uint32_t (*encode)(float, Rounding, uint32_t);
  float (*decode)(uint32_t);
};

const Codec kCodecs[] = {
    {kSpecE2M1,
     [](float v, Rounding r, uint32_t k) { return uint32_t(fp4train::e2m1_encode(v, r, k)); },
     [](uint32_t c) { return fp4train::e2m1_decode(uint8_t(c)); }},
    {kSpecE4M3,
     [](float v, Rounding r, uint32_t k) { return uint32_t(fp4train::e4m3_encode(v, r, k)); },
     [](uint32_t c) { return fp4train::e4m3_decode(uint8_t(c)); }},
    {kSpecE5M2,
     [](float v, Rounding r, uint32_t k) { return uint32_t(fp4train::e5m2_encode(v, r, k)); },
     [](uint32_t c) { return fp4train::e5m2_decode(uint8_t(c)); }},
    {kSpecBf16,
     [](float v, Rounding r, uint32_t k) { return uint32_t(fp4train::bf16_encode(v, r, k)); },
     [](uint32_t c) { return fp4train::bf16_decode(uint16_t(c)); }},
};

void PrintTo(const Codec& c, std::ostream* os) { *os << c.spec.name; }

std::string codec_case(const Codec& c, float x, Rounding r, uint32_t k24) {
  return std::string("format=") + c.spec.name + " x=" + fstr(x) + " rounding=" + rounding_str(r) +
         (r == Rounding::kStochastic ? " k24=" + hex(k24, 6) : "");
}

// Checks encode(x) == expected, with the whole case in the message.
::testing::AssertionResult encodes_to(const Codec& c, float x, Rounding r, uint32_t k24,
                                      uint32_t expected) {
  const uint32_t got = c.encode(x, r, k24);
  if (got == expected) return ::testing::AssertionSuccess();
  const int digits = c.spec.nbits / 4;
  return ::testing::AssertionFailure()
         << codec_case(c, x, r, k24) << ": expected code " << hex(expected, digits) << " ("
         << spec_decode(c.spec, expected) << "), got " << hex(got, digits) << " ("
         << spec_decode(c.spec, got) << ")";
}

// A double that must be exactly a float32 (midpoints of these grids are).
float exact_float(double d) {
  const float f = float(d);
  EXPECT_EQ(double(f), d) << "not a float32: " << d;
  return f;
}

class CodecTest : public ::testing::TestWithParam<Codec> {};

// Every code decodes to the value its bit fields define (NaN codes to NaN,
// -0 to -0.0 with its sign bit).
TEST_P(CodecTest, DecodeEveryCodeMatchesSpec) {
  const Codec& c = GetParam();
  for (uint32_t code : all_encodings(c.spec)) {
    const double want = spec_decode(c.spec, code);
    const float got = c.decode(code);
    if (std::isnan(want)) {
      EXPECT_TRUE(is_nan(got)) << c.spec.name << " code " << hex(code, 4) << " gave " << fstr(got);
      continue;
    }
    EXPECT_EQ(double(got), want) << c.spec.name << " code " << hex(code, 4) << " gave " << fstr(got);
    EXPECT_EQ(std::signbit(got), (code & c.spec.sign_bit()) != 0)
        << c.spec.name << " code " << hex(code, 4) << " sign";
  }
}

// decode then encode returns the code itself under every rounding (a value on
// the grid never moves, whatever k24); NaN codes encode to the canonical NaN.
TEST_P(CodecTest, EveryCodeRoundTrips) {
  const Codec& c = GetParam();
  for (uint32_t code : all_encodings(c.spec)) {
    const float v = c.decode(code);
    const uint32_t want = spec_is_nan(c.spec, code) ? spec_nan_code(c.spec) : code;
    for (Rounding r : kAllRoundings)
      for (uint32_t k : {0u, 1u, 1u << 23, kK24Max}) {
        if (r != Rounding::kStochastic && k != 0) continue;
        ASSERT_TRUE(encodes_to(c, v, r, k, want)) << " (round trip of " << hex(code, 4) << ")";
      }
  }
}

// Every float32 exactly between two adjacent representable values rounds to
// the one with an even code under nearest, away from zero under
// nearest_away; both signs.
TEST_P(CodecTest, MidpointsTieToEvenOrAway) {
  const Codec& c = GetParam();
  const auto& g = spec_grid(c.spec);
  for (size_t i = 0; i + 1 < g.size(); ++i) {
    const float mid = exact_float(0.5 * (g[i].value + g[i + 1].value));
    const uint32_t even = (g[i].code & 1u) == 0 ? g[i].code : g[i + 1].code;
    for (uint32_t sign : {0u, c.spec.sign_bit()}) {
      const float x = sign ? -mid : mid;
      ASSERT_TRUE(encodes_to(c, x, Rounding::kNearest, 0, sign | even));
      ASSERT_TRUE(encodes_to(c, x, Rounding::kNearestAway, 0, sign | g[i + 1].code));
    }
  }
}

// The float32 values just below and just above each midpoint (nextafter) go
// to the nearer neighbour under both nearest modes.
TEST_P(CodecTest, NeighboursOfMidpointsRoundToNearer) {
  const Codec& c = GetParam();
  const auto& g = spec_grid(c.spec);
  for (size_t i = 0; i + 1 < g.size(); ++i) {
    const float mid = exact_float(0.5 * (g[i].value + g[i + 1].value));
    const float below = std::nextafter(mid, 0.0f), above = std::nextafter(mid, kInf);
    for (uint32_t sign : {0u, c.spec.sign_bit()}) {
      for (Rounding r : {Rounding::kNearest, Rounding::kNearestAway}) {
        ASSERT_TRUE(encodes_to(c, sign ? -below : below, r, 0, sign | g[i].code));
        ASSERT_TRUE(encodes_to(c, sign ? -above : above, r, 0, sign | g[i + 1].code));
      }
    }
  }
}

// Finite values beyond the largest finite value saturate to it under every
// rounding (satfinite, BF16 included): just above max, the would-be tie with
// the next binade's first value, twice max, FLT_MAX.
TEST_P(CodecTest, SaturatesFiniteValuesBeyondMax) {
  const Codec& c = GetParam();
  const auto& g = spec_grid(c.spec);
  const double max = g.back().value, step = max - g[g.size() - 2].value;
  const uint32_t max_code = g.back().code;
  std::vector<float> xs = {std::nextafter(float(max), kInf), float(max + 0.5 * step),
                           float(max + step), kFltMax};
  if (2 * max < double(kFltMax)) xs.push_back(float(2 * max));
  for (float x : xs) {
    if (!std::isfinite(x)) continue;  // bf16: max + step is 2^128, not a float
    for (uint32_t sign : {0u, c.spec.sign_bit()})
      for (Rounding r : kAllRoundings)
        for (uint32_t k : {0u, kK24Max})
          ASSERT_TRUE(encodes_to(c, sign ? -x : x, r, k, sign | max_code));
  }
}

// NaN -> the canonical NaN of the format (E4M3/E5M2 0x7F, BF16 0x7FC0),
// whatever its sign or payload. +-Inf: E5M2 and BF16 keep it; E4M3 has no
// Inf and gives NaN (an infinity never silently becomes 448).
class CodecSpecialsTest : public CodecTest {};  // formats with NaN (not E2M1)

TEST_P(CodecSpecialsTest, InfAndNaNAsNumericsSection1) {
  const Codec& c = GetParam();
  const uint32_t nan_code = c.spec.nbits == 16 ? 0x7FC0u : 0x7Fu;
  for (uint32_t nan_bits : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu})
    for (Rounding r : kAllRoundings)
      ASSERT_TRUE(encodes_to(c, float_of(nan_bits), r, kK24Max, nan_code));
  uint32_t pos_inf, neg_inf;
  if (c.spec.specials == MiniFloat::kFn) {
    pos_inf = neg_inf = 0x7Fu;
  } else if (c.spec.nbits == 8) {
    pos_inf = 0x7Cu;
    neg_inf = 0xFCu;
  } else {
    pos_inf = 0x7F80u;
    neg_inf = 0xFF80u;
  }
  for (Rounding r : kAllRoundings) {
    ASSERT_TRUE(encodes_to(c, kInf, r, 0, pos_inf));
    ASSERT_TRUE(encodes_to(c, -kInf, r, 0, neg_inf));
  }
}

// +0 encodes to code 0 and -0 to the sign-bit code, which decodes to -0.0;
// a tiny negative value rounding to zero keeps its sign.
TEST_P(CodecTest, SignedZero) {
  const Codec& c = GetParam();
  const uint32_t neg_zero = c.spec.sign_bit();
  for (Rounding r : kAllRoundings) {
    ASSERT_TRUE(encodes_to(c, 0.0f, r, 0, 0u));
    ASSERT_TRUE(encodes_to(c, -0.0f, r, kK24Max, neg_zero));
  }
  EXPECT_EQ(bits_of(c.decode(neg_zero)), 0x80000000u);
  EXPECT_EQ(bits_of(c.decode(0)), 0x00000000u);
  const float tiny = float(spec_min_subnormal(c.spec) / 4);  // below the half-way point
  ASSERT_TRUE(encodes_to(c, -tiny, Rounding::kNearest, 0, neg_zero));
  ASSERT_TRUE(encodes_to(c, -tiny, Rounding::kNearestAway, 0, neg_zero));
  ASSERT_TRUE(encodes_to(c, -tiny, Rounding::kStochastic, 0, neg_zero));
}

// Subnormals of the format: code 1 is the smallest, 2^(1 - bias - mbits)
// (E2M1 0.5, E4M3 2^-9, E5M2 2^-16, BF16 2^-133); code 2^mbits - 1 is the
// largest; half the smallest ties to 0 (even) under nearest and to it
// under nearest_away; 3/4 of it rounds to it.
TEST_P(CodecTest, SubnormalsOfTheFormat) {
  const Codec& c = GetParam();
  const double min_sub = std::ldexp(1.0, 1 - c.spec.bias - c.spec.mbits);
  const double hand[] = {0.5, std::ldexp(1.0, -9), std::ldexp(1.0, -16), std::ldexp(1.0, -133)};
  const int which = c.spec.nbits == 4 ? 0 : (c.spec.nbits == 16 ? 3 : (c.spec.mbits == 3 ? 1 : 2));
  EXPECT_EQ(min_sub, hand[which]);
  EXPECT_EQ(double(c.decode(1)), min_sub);
  const uint32_t largest_sub = (1u << c.spec.mbits) - 1u;
  EXPECT_EQ(double(c.decode(largest_sub)), double(largest_sub) * min_sub);
  for (uint32_t k = 1; k <= largest_sub; ++k) {
    ASSERT_TRUE(encodes_to(c, float(k * min_sub), Rounding::kNearest, 0, k));
    ASSERT_TRUE(encodes_to(c, -float(k * min_sub), Rounding::kNearest, 0, c.spec.sign_bit() | k));
  }
  ASSERT_TRUE(encodes_to(c, float(min_sub / 2), Rounding::kNearest, 0, 0u));
  ASSERT_TRUE(encodes_to(c, float(min_sub / 2), Rounding::kNearestAway, 0, 1u));
  ASSERT_TRUE(encodes_to(c, float(0.75 * min_sub), Rounding::kNearest, 0, 1u));
}

// float32 subnormal inputs (and the smallest normals) under every rounding,
// against the spec's grid: for BF16 the two subnormal ranges overlap, so its
// RNE of a float subnormal is a real rounding; for the narrow formats every
// float subnormal is far below half the smallest subnormal and goes to +-0.
TEST_P(CodecTest, Float32SubnormalInputs) {
  const Codec& c = GetParam();
  const auto k24 = make_k24(1 << 16, 11);
  int n = 0;
  for (uint32_t u = 1; u < 0x01000000u; u += (u < 0x400u ? 1u : 997u)) {
    const float x = float_of(u);
    for (uint32_t sign : {0u, 0x80000000u}) {
      const float xs = float_of(u | sign);
      for (Rounding r : kAllRoundings) {
        const uint32_t k = k24[size_t(n++) & 0xFFFF];
        ASSERT_TRUE(encodes_to(c, xs, r, k, spec_encode(c.spec, xs, r, k)));
      }
    }
    if (c.spec.nbits != 16 && u < 0x00800000u) {  // far below the format's subnormals
      ASSERT_TRUE(encodes_to(c, x, Rounding::kNearestAway, 0, 0u));
      ASSERT_TRUE(encodes_to(c, x, Rounding::kStochastic, kK24Max, 0u));
    }
  }
  if (c.spec.nbits == 16) {
    // bf16 subnormal step 2^-133 = float bits 0x00010000; hand-picked ties:
    // 2^-134 is half way between 0 and 2^-133: even -> 0, away -> 0x0001;
    // 3 * 2^-134 is half way between 0x0001 and 0x0002: even -> 0x0002.
    ASSERT_TRUE(encodes_to(c, float_of(0x00008000u), Rounding::kNearest, 0, 0x0000u));
    ASSERT_TRUE(encodes_to(c, float_of(0x00008000u), Rounding::kNearestAway, 0, 0x0001u));
    ASSERT_TRUE(encodes_to(c, float_of(0x00018000u), Rounding::kNearest, 0, 0x0002u));
    ASSERT_TRUE(encodes_to(c, float_of(0x00018000u), Rounding::kNearestAway, 0, 0x0002u));
    ASSERT_TRUE(encodes_to(c, float_of(0x00018001u), Rounding::kNearest, 0, 0x0002u));
    ASSERT_TRUE(encodes_to(c, float_of(0x00017FFFu), Rounding::kNearest, 0, 0x0001u));
    ASSERT_TRUE(encodes_to(c, float_of(0x807FFFFFu), Rounding::kNearest, 0, 0x8080u));
  }
}

// 2^20 random float32 values spread over the format's whole range (and
// beyond), random 24-bit k, every rounding: encode == the spec grid rounding.
TEST_P(CodecTest, RandomFloatsMatchSpec) {
  const Codec& c = GetParam();
  std::mt19937_64 gen(1234 + c.spec.nbits * 7 + c.spec.mbits);
  const int emin = 1 - c.spec.bias - c.spec.mbits - 4;
  const int emax = c.spec.nbits == 16 ? 127 : int(std::ilogb(spec_max(c.spec))) + 3;
  std::uniform_int_distribution<int> expo(emin, emax);
  const int n = 1 << 20;
  for (int i = 0; i < n; ++i) {
    const uint64_t w = gen();
    const uint32_t mant = uint32_t(w) & 0x7FFFFFu;
    const uint32_t sign = uint32_t(w >> 32) & 0x80000000u;
    const int e = expo(gen);
    // Biased exponent e + 127; below 1, a float32 subnormal with that mantissa.
    const float x = float_of(sign | (e + 127 < 1 ? 0u : uint32_t(e + 127) << 23) | mant);
    const uint32_t k = uint32_t(w >> 40);
    for (Rounding r : kAllRoundings)
      ASSERT_TRUE(encodes_to(c, x, r, k, spec_encode(c.spec, x, r, k)));
  }
}

// Stochastic rounding on the grid: for a value strictly between neighbours
// lo < |x| < hi, with t = floor(frac * 2^24), the result is hi exactly when
// k24 + t >= 2^24. So k24 = 0 always gives lo (floor on the grid), and
// k24 = 2^24 - 1 gives hi whenever t >= 1, i.e. frac >= 2^-24 (true for
// every off-grid float32 above the format's smallest subnormal).
TEST_P(CodecTest, StochasticThresholdIsExact) {
  const Codec& c = GetParam();
  const auto& g = spec_grid(c.spec);
  std::mt19937_64 gen(99);
  const size_t stride = g.size() > 4096 ? 7 : 1;
  for (size_t i = 0; i + 1 < g.size(); i += stride) {
    const float lo = float(g[i].value), hi = float(g[i + 1].value);
    // Points inside (lo, hi): just above lo, a quarter, the midpoint, a random
    // one, just below hi.
    std::vector<float> xs = {std::nextafter(lo, hi), float(lo + 0.25 * (hi - lo)),
                             float(0.5 * (double(lo) + hi)), std::nextafter(hi, lo)};
    const float u = float(std::uniform_real_distribution<double>(0.0, 1.0)(gen));
    xs.push_back(lo + u * (hi - lo));
    for (float x : xs) {
      if (!(x > lo && x < hi)) continue;
      const uint32_t t = spec_sr_t(x, lo, hi);
      for (uint32_t sign : {0u, c.spec.sign_bit()}) {
        const float xs_ = sign ? -x : x;
        const uint32_t down = sign | g[i].code, up = sign | g[i + 1].code;
        ASSERT_TRUE(encodes_to(c, xs_, Rounding::kStochastic, 0, down));
        ASSERT_TRUE(encodes_to(c, xs_, Rounding::kStochastic, kK24Max, t >= 1 ? up : down));
        if (t >= 1) {
          ASSERT_TRUE(encodes_to(c, xs_, Rounding::kStochastic, (1u << 24) - t, up));
          ASSERT_TRUE(encodes_to(c, xs_, Rounding::kStochastic, (1u << 24) - t - 1, down));
        }
      }
    }
  }
  // Hand case: E2M1 (lo, hi) = (1, 1.5), x = 1.25: frac = 1/2, t = 2^23.
  if (c.spec.nbits == 4) {
    ASSERT_TRUE(encodes_to(c, 1.25f, Rounding::kStochastic, (1u << 23) - 1, 2u));  // 1.0
    ASSERT_TRUE(encodes_to(c, 1.25f, Rounding::kStochastic, 1u << 23, 3u));        // 1.5
    // x = 4 + 2^-21 (next float above 4): frac = 2^-22 in a step of 2, t = 4.
    const float x = std::nextafter(4.0f, 8.0f);
    ASSERT_TRUE(encodes_to(c, x, Rounding::kStochastic, (1u << 24) - 5, 6u));  // 4
    ASSERT_TRUE(encodes_to(c, x, Rounding::kStochastic, (1u << 24) - 4, 7u));  // 6
  }
  // A value so far below the smallest subnormal that frac < 2^-24 (t = 0)
  // never rounds up, even with the largest k24.
  const float far = float(spec_min_subnormal(c.spec) * std::ldexp(1.0, -30));
  ASSERT_TRUE(encodes_to(c, far, Rounding::kStochastic, kK24Max, 0u));
}

// The mean of the stochastic result over k24 spread uniformly on [0, 2^24)
// equals the input up to 2^-24 of a step (unbiasedness, in closed form).
TEST_P(CodecTest, StochasticMeanOverAllK24IsTheInput) {
  const Codec& c = GetParam();
  const auto& g = spec_grid(c.spec);
  for (size_t i = 0; i + 1 < g.size(); i += (g.size() > 256 ? 101 : 1)) {
    const double lo = g[i].value, hi = g[i + 1].value;
    const float x = float(lo + 0.3 * (hi - lo));
    // P(up) = #{k : k + t >= 2^24} / 2^24 = t / 2^24; measure it on the codec
    // by bisection on k (the result is monotone in k).
    uint32_t a = 0, b = 1u << 24;  // first k giving `up` in [a, b]
    while (a < b) {
      const uint32_t m = a + (b - a) / 2;
      if (c.encode(x, Rounding::kStochastic, m) == g[i + 1].code) b = m; else a = m + 1;
    }
    const double p_up = double((1u << 24) - a) / 16777216.0;
    const double mean = lo + p_up * (hi - lo);
    EXPECT_LE(std::fabs(mean - double(x)), (hi - lo) * std::ldexp(1.0, -24))
        << c.spec.name << " x=" << fstr(x) << " first up k=" << a;
  }
}

std::string codec_name(const ::testing::TestParamInfo<Codec>& info) {
  return std::string(info.param.spec.name);
}
INSTANTIATE_TEST_SUITE_P(Formats, CodecTest, ::testing::ValuesIn(kCodecs), codec_name);
// E2M1 has no NaN/Inf: those are handled at the block level (test_quantize).
INSTANTIATE_TEST_SUITE_P(Formats, CodecSpecialsTest, ::testing::ValuesIn(kCodecs + 1, kCodecs + 4),
                         codec_name);

// ---------------------------------------------------------------------------
// E2M1 specifics: the magnitude table and nibble packing of DESIGN §2.

TEST(FormatsE2M1Test, MagnitudesAreTheDesignTable) {
  const float mags[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(fp4train::e2m1_decode(uint8_t(i)), mags[i]) << "index " << i;
    EXPECT_EQ(fp4train::e2m1_decode(uint8_t(8 | i)), -mags[i]) << "index " << i;
  }
}

// NUMERICS §1's list: ties 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5 go to
// 0, 1, 1, 2, 2, 4, 4 under nearest, and up under nearest_away.
TEST(FormatsE2M1Test, TiesOfTheNumericsList) {
  const float ties[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  const float even[7] = {0, 1, 1, 2, 2, 4, 4};
  const float away[7] = {0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(fp4train::e2m1_decode(fp4train::e2m1_encode(ties[i], Rounding::kNearest)), even[i]);
    EXPECT_EQ(fp4train::e2m1_decode(fp4train::e2m1_encode(-ties[i], Rounding::kNearest)), -even[i]);
    EXPECT_EQ(fp4train::e2m1_decode(fp4train::e2m1_encode(ties[i], Rounding::kNearestAway)),
              away[i]);
  }
}

TEST(FormatsE2M1Test, PackedRowLowNibbleFirst) {
  const uint8_t row[2] = {0x72, 0x0A};  // elements 2, 7, 0xA, 0
  EXPECT_EQ(fp4train::e2m1_get(row, 0), 0x2);
  EXPECT_EQ(fp4train::e2m1_get(row, 1), 0x7);
  EXPECT_EQ(fp4train::e2m1_get(row, 2), 0xA);
  EXPECT_EQ(fp4train::e2m1_get(row, 3), 0x0);
}

// ---------------------------------------------------------------------------
// E8M0: the MX scale.

uint32_t e8m0_enc(float x) { return fp4train::e8m0_encode(x); }

TEST(FormatsE8M0Test, DecodeEveryCodeMatchesSpec) {
  for (uint32_t c = 0; c < 256; ++c) {
    const float got = fp4train::e8m0_decode(uint8_t(c));
    if (c == 0xFF) {
      EXPECT_TRUE(is_nan(got));
    } else {
      EXPECT_EQ(double(got), spec_e8m0_decode(c)) << "code " << hex(c, 2);
    }
  }
  EXPECT_EQ(bits_of(fp4train::e8m0_decode(0)), 0x00400000u);    // 2^-127, a float subnormal
  EXPECT_EQ(bits_of(fp4train::e8m0_decode(254)), 0x7F000000u);  // 2^127
}

TEST(FormatsE8M0Test, EveryCodeRoundTrips) {
  for (uint32_t c = 0; c < 256; ++c)
    EXPECT_EQ(e8m0_enc(fp4train::e8m0_decode(uint8_t(c))), c) << "code " << hex(c, 2);
}

// 1.5 * 2^e is the tie between 2^e and 2^(e+1): the even code wins; the
// float32 neighbours of the tie go to the nearer power of two.
TEST(FormatsE8M0Test, TiesToEvenCodeAndNeighbours) {
  for (int e = -127; e <= 126; ++e) {
    const float tie = float(1.5 * std::ldexp(1.0, e));
    ASSERT_EQ(double(tie), 1.5 * std::ldexp(1.0, e));
    const uint32_t c0 = uint32_t(e + 127), c1 = c0 + 1;
    const uint32_t even = (c0 & 1u) ? c1 : c0;
    EXPECT_EQ(e8m0_enc(tie), even) << "tie 1.5*2^" << e;
    EXPECT_EQ(e8m0_enc(tie), spec_e8m0_encode(tie));
    EXPECT_EQ(e8m0_enc(std::nextafter(tie, 0.0f)), c0) << "below 1.5*2^" << e;
    EXPECT_EQ(e8m0_enc(std::nextafter(tie, kInf)), c1) << "above 1.5*2^" << e;
  }
}

// Values below 2^-127 (zero, float subnormals and negative values included)
// give code 0; above 2^127 give 254; NaN and +-Inf give 0xFF.
TEST(FormatsE8M0Test, ClampsAndSpecials) {
  for (float x : {0.0f, -0.0f, float_of(1), float_of(0x00200000u), std::nextafter(float_of(0x00400000u), 0.0f)})
    EXPECT_EQ(e8m0_enc(x), 0u) << fstr(x);
  EXPECT_EQ(e8m0_enc(float_of(0x00400000u)), 0u);  // exactly 2^-127
  for (float x : {std::nextafter(1.5f * 0x1p127f, kInf), 1.5f * 0x1p127f, kFltMax})
    EXPECT_EQ(e8m0_enc(x), 254u) << fstr(x);
  // E8M0 has no sign: negative values are below 2^-127 (NUMERICS §1).
  for (float x : {-1.0f, -1.5f, -0x1p100f, -kFltMax, -float_of(1)})
    EXPECT_EQ(e8m0_enc(x), 0u) << fstr(x);
  EXPECT_EQ(e8m0_enc(std::nanf("")), 0xFFu);
  EXPECT_EQ(e8m0_enc(kInf), 0xFFu);
  EXPECT_EQ(e8m0_enc(-kInf), 0xFFu);
}

// Random floats of every exponent and both signs against the spec.
TEST(FormatsE8M0Test, RandomFloatsMatchSpec) {
  std::mt19937_64 gen(5);
  for (int i = 0; i < (1 << 20); ++i) {
    const float x = float_of(uint32_t(gen()));
    if (std::isnan(x)) continue;
    ASSERT_EQ(e8m0_enc(x), spec_e8m0_encode(x)) << fstr(x);
  }
}

// ---------------------------------------------------------------------------
// BF16 round helper: RNE to the bf16 grid, as a float.
TEST(FormatsBf16Test, RoundIsNearestEvenDecode) {
  const auto x = make_data(Dist::kWide, 1 << 16, 3);
  for (float v : x)
    ASSERT_EQ(bits_of(fp4train::bf16_round(v)),
              bits_of(float(spec_decode(kSpecBf16, spec_encode(kSpecBf16, v, Rounding::kNearest)))))
        << fstr(v);
}

}  // namespace
