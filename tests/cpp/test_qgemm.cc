// Tests of the quantized GEMM (docs/NUMERICS.md §5) and the float32 GEMM.
//
//   RoundScaled   round_scaled against exact long double arithmetic (64-bit
//                 significands: S * 2^e is exact, one cast rounds), with
//                 round-to-odd for 128-bit S, and the named edge cases.
//   QGemmOracle   qgemm_ref against an independent long double evaluation of
//                 the definition, on quantized and on hand-built operands
//                 (random code and scale bytes: NaN/Inf codes, NaN scales,
//                 subnormal and overflowing block terms).
//   QGemm         qgemm (every supported ISA, 1 and 2 threads) against
//                 qgemm_ref bit for bit, for every format pair and awkward
//                 shapes; errors name the argument.
//   QGemmF32      gemm_f32 (every ISA) against gemm_f32_ref bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "formats/e2m1.h"
#include "formats/e8m0.h"
#include "formats/fp8.h"
#include "gemm/gemm_f32.h"
#include "gemm/qgemm.h"
#include "gemm/round_scaled.h"
#include "quant/quantize.h"
#include "test_util.h"
#include "util/check.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace {

using namespace fp4test;
using fp4train::Format;
using fp4train::int128_t;
using fp4train::Isa;
using fp4train::QTensor;
using fp4train::QuantSpec;
using fp4train::uint128_t;

// ---------------------------------------------------------------------------
// round_scaled

// RN(s * 2^e) for |s| < 2^64: exact in long double, then one rounding.
float ld_round(int64_t s, int e) { return float(std::ldexp((long double)s, e)); }

// RN(s * 2^e) for any 128-bit s: round s to 64 bits with round-to-odd (the
// sticky bit ORed into the last kept bit), which keeps every later rounding
// to <= 62 bits correct, then as above.
float ld_round128(int128_t s, int e) {
  const bool neg = s < 0;
  uint128_t m = neg ? uint128_t(0) - uint128_t(s) : uint128_t(s);
  int sh = 0;
  while ((m >> 64) != 0) {
    const bool sticky = (m & 1) != 0;
    m >>= 1;
    m |= sticky ? 1 : 0;
    ++sh;
  }
  const long double v = std::ldexp((long double)uint64_t(m), e + sh);
  return float(neg ? -v : v);
}

std::string rs_case(int128_t s, int e) {
  const uint128_t m = s < 0 ? uint128_t(0) - uint128_t(s) : uint128_t(s);
  return std::string("round_scaled(") + (s < 0 ? "-" : "") + hex(uint64_t(m >> 64), 16) + ":" +
         hex(uint64_t(m), 16) + ", " + std::to_string(e) + ")";
}

TEST(QGemmRoundScaled, NamedEdgeCases) {
  using fp4train::round_scaled;
  const float inf = std::numeric_limits<float>::infinity();
  const float fmax = std::numeric_limits<float>::max();
  const float tiny = std::numeric_limits<float>::denorm_min();
  struct C {
    int64_t s;
    int e;
    float want;
  } cases[] = {
      {0, 0, 0.0f},
      {1, 0, 1.0f},
      {-3, -1, -1.5f},
      {1, -149, tiny},                   // smallest subnormal
      {1, -150, 0.0f},                   // half of it: tie to even 0
      {3, -150, 2 * tiny},               // 1.5 ulp: tie to even 2
      {5, -151, tiny},                   // 1.25 ulp: down
      {-1, -151, -0.0f},                 // rounds to zero, keeps the sign
      {(1 << 24) - 1, 104, fmax},        // FLT_MAX exactly
      {(1 << 25) - 1, 103, inf},         // halfway FLT_MAX..2^128: tie to even (2^128) -> Inf
      {(int64_t(1) << 26) - 3, 102, fmax},  // just below that halfway point
      {1, 128, inf},
      {-1, 127, -std::ldexp(1.0f, 127)},
      {(int64_t(1) << 24) + 1, 0, 16777216.0f},  // tie at 2^24: to even
      {(int64_t(1) << 24) + 3, 0, 16777220.0f},  // tie: up to even
      {(int64_t(1) << 23) + 1, -149, std::ldexp(float((1 << 23) + 1), -149)},  // 2^-126 + 2^-149
      {(int64_t(1) << 23) - 1, -149, std::ldexp(float((1 << 23) - 1), -149)},  // largest subnormal
      {(int64_t(1) << 24) + 1, -150, std::ldexp(1.0f, -126)},  // tie at 2^-126: to even
  };
  for (const C& c : cases) {
    const float got = round_scaled(c.s, c.e);
    const float got128 = round_scaled(int128_t(c.s), c.e);
    EXPECT_TRUE(same_float(c.want, got, false))
        << rs_case(c.s, c.e) << ": expected " << fstr(c.want) << ", got " << fstr(got);
    EXPECT_TRUE(same_float(c.want, got128, false))
        << rs_case(c.s, c.e) << " (int128): expected " << fstr(c.want) << ", got " << fstr(got128);
    EXPECT_TRUE(same_float(c.want, ld_round(c.s, c.e), false)) << "oracle self-check " << rs_case(c.s, c.e);
  }
  // Beyond any float range.
  EXPECT_EQ(bits_of(round_scaled(int64_t(5), -100000)), 0u);
  EXPECT_EQ(bits_of(round_scaled(int64_t(-5), -100000)), 0x80000000u);
  EXPECT_EQ(round_scaled(int64_t(5), 100000), inf);
  EXPECT_EQ(round_scaled(-(int128_t(1) << 120), 100), -inf);
}

TEST(QGemmRoundScaled, Int64AgainstLongDouble) {
  std::mt19937_64 gen(7);
  int64_t checked = 0;
  // Every bit length, exponents across subnormals, normals and overflow.
  for (int bits = 1; bits <= 63; ++bits) {
    for (int e = -240; e <= 140; e += 1) {
      for (int rep = 0; rep < 3; ++rep) {
        uint64_t m = gen() >> (64 - bits);
        m |= uint64_t(1) << (bits - 1);
        if (rep == 1 && bits > 2) m = (m >> 1 << 1) | 1;  // odd: exercises sticky bits
        if (rep == 2 && bits > 25) m &= ~((uint64_t(1) << (bits - 25)) - 1);  // many ties
        const int64_t s = (gen() & 1) ? -int64_t(m) : int64_t(m);
        const float want = ld_round(s, e);
        const float got = fp4train::round_scaled(s, e);
        ASSERT_TRUE(same_float(want, got, false))
            << rs_case(s, e) << ": expected " << fstr(want) << ", got " << fstr(got);
        const float got128 = fp4train::round_scaled(int128_t(s), e);
        ASSERT_TRUE(same_float(want, got128, false))
            << rs_case(s, e) << " (int128 overload): expected " << fstr(want) << ", got "
            << fstr(got128);
        ++checked;
      }
    }
  }
  // Exact ties and neighbours near every subnormal quantum.
  for (int e = -175; e <= -120; ++e)
    for (int64_t s = -1000; s <= 1000; ++s) {
      ASSERT_TRUE(same_float(ld_round(s, e), fp4train::round_scaled(s, e), false)) << rs_case(s, e);
      ++checked;
    }
  EXPECT_GT(checked, 100000);
}

TEST(QGemmRoundScaled, Int128AgainstRoundToOdd) {
  std::mt19937_64 gen(11);
  for (int bits = 60; bits <= 127; ++bits)
    for (int e = -300; e <= 80; e += 3)
      for (int rep = 0; rep < 4; ++rep) {
        uint128_t m = (uint128_t(gen()) << 64 | gen()) >> (128 - bits);
        m |= uint128_t(1) << (bits - 1);
        if (rep == 1) m &= ~((uint128_t(1) << (bits - 25)) - 1);            // exact ties possible
        if (rep == 2) m = (m & ~((uint128_t(1) << (bits - 25)) - 1)) | (uint128_t(1) << (bits - 26));  // exact tie
        if (rep == 3) m |= 1;
        const int128_t s = (gen() & 1) ? -int128_t(m) : int128_t(m);
        const float want = ld_round128(s, e);
        const float got = fp4train::round_scaled(s, e);
        ASSERT_TRUE(same_float(want, got, false))
            << rs_case(s, e) << ": expected " << fstr(want) << ", got " << fstr(got);
      }
}

// ---------------------------------------------------------------------------
// Operands

struct Fmt {
  Format f;
  bool block_2d = false;
  float prescale = 1.0f;
  fp4train::Rounding rounding = fp4train::Rounding::kNearest;
};

std::string fmt_str(const Fmt& f) {
  std::string s = fp4train::format_name(f.f);
  if (f.block_2d) s += "[2d]";
  if (f.prescale != 1.0f) s += "[p=" + std::to_string(f.prescale) + "]";
  if (f.rounding == fp4train::Rounding::kStochastic) s += "[sr]";
  return s;
}

QTensor quantize_2d(const Fmt& f, int64_t rows, int64_t K, Dist dist, uint64_t seed) {
  QuantSpec spec;
  spec.format = f.f;
  spec.block_2d = f.block_2d;
  spec.prescale = f.prescale;
  spec.rounding = f.rounding;
  spec.seed = seed;
  const std::vector<float> x = make_data(dist, rows * K, seed);
  return fp4train::quantize(x.data(), {rows, K}, 1, spec);
}

// Random code and scale bytes: every code (NaN/Inf codes of FP8 included) and
// every scale byte (NaN, zero, negative E4M3 scales, 2^-127 .. 2^127).
QTensor random_bytes_2d(const Fmt& f, int64_t rows, int64_t K, uint64_t seed,
                        int scale_lo = 0, int scale_hi = 255) {
  QTensor q;
  q.spec.format = f.f;
  q.spec.block_2d = f.block_2d;
  q.layout = fp4train::make_layout({rows, K}, 1, q.spec);
  std::mt19937_64 gen(seed);
  q.codes.resize(size_t(q.layout.codes_bytes()));
  for (auto& c : q.codes) c = uint8_t(gen());
  q.scales.resize(size_t(q.layout.scales_bytes()));
  std::uniform_int_distribution<int> sc(scale_lo, scale_hi);
  for (auto& s : q.scales) s = uint8_t(sc(gen));
  q.tensor_scale = fp4train::format_traits(f.f).tensor_scale ? 0.375f : 1.0f;
  return q;
}

// ---------------------------------------------------------------------------
// An independent evaluation of NUMERICS §5 in long double (exact for every
// element pair but E5M2 x E5M2, whose block sums can need 69 bits).

long double elem_ld(const QTensor& q, int64_t r, int64_t k) {
  const uint32_t c = code_at(q, r, k);
  switch (fp4train::format_traits(q.spec.format).elem) {
    case fp4train::ElemType::kE2M1: return spec_decode(kSpecE2M1, c);
    case fp4train::ElemType::kE4M3: return spec_decode(kSpecE4M3, c);
    default: return spec_decode(kSpecE5M2, c);
  }
}

long double scale_ld(const QTensor& q, int64_t r, int64_t b) {
  switch (fp4train::format_traits(q.spec.format).scale) {
    case fp4train::ScaleType::kNone: return 1.0L;
    case fp4train::ScaleType::kE8M0: return spec_e8m0_decode(scale_at(q, r, b));
    default: return spec_decode(kSpecE4M3, scale_at(q, r, b));
  }
}

std::vector<float> oracle_qgemm(const QTensor& a, const QTensor& b) {
  const int64_t M = a.layout.shape[0], N = b.layout.shape[0], K = a.layout.shape[1];
  const int blk = fp4train::qgemm_k_block(a.spec.format);
  const int64_t nb = (K + blk - 1) / blk;
  auto dfac = [](const QTensor& q) {
    return fp4train::format_traits(q.spec.format).tensor_scale ? 1.0f / q.tensor_scale : 1.0f;
  };
  const float d = dfac(a) * dfac(b);
  std::vector<float> c(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t bb = 0; bb < nb; ++bb) {
        long double sum = 0.0L;  // exact: a block's products share few binades
        for (int64_t k = bb * blk; k < std::min<int64_t>(K, (bb + 1) * blk); ++k)
          sum += elem_ld(a, m, k) * elem_ld(b, n, k);
        const long double sa = scale_ld(a, m, bb), sb = scale_ld(b, n, bb);
        float t;
        if (std::isnan(sa) || std::isnan(sb)) t = std::numeric_limits<float>::quiet_NaN();
        else if (!std::isfinite(sum)) t = float(sum);
        else t = float(sum * sa * sb);  // exact product, one rounding
        acc = acc + t;
      }
      float v = acc * d;
      if (a.spec.prescale != 1.0f) v = v / a.spec.prescale;
      if (b.spec.prescale != 1.0f) v = v / b.spec.prescale;
      c[size_t(m * N + n)] = v;
    }
  return c;
}

Case gemm_case(const Fmt& fa, const Fmt& fb, int64_t M, int64_t N, int64_t K, const std::string& more) {
  Case c;
  c.format = fmt_str(fa) + " x " + fmt_str(fb);
  c.shape = {M, N, K};
  c.extra = "MxNxK=" + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + " " + more;
  return c;
}

// qgemm on every ISA and with 1 and 2 threads, each against `want`.
void expect_fast_equals(const std::vector<float>& want, const QTensor& a, const QTensor& b,
                        const Case& c) {
  for (Isa isa : fp4train::supported_isas()) {
    fp4train::set_isa(isa);
    for (int threads : {1, 2, 3}) {
      fp4train::set_num_threads(threads);
      const std::vector<float> got = fp4train::qgemm(a.view(), b.view());
      Case cc = c;
      cc.extra += std::string(" isa=") + fp4train::isa_name(isa) + " threads=" + std::to_string(threads);
      EXPECT_TRUE(floats_bit_equal(want, got, cc, "qgemm vs qgemm_ref"));
    }
  }
  fp4train::set_num_threads(0);
  fp4train::reset_isa();
}

const Fmt kMx4{Format::kMxfp4}, kNv4{Format::kNvfp4}, kNv4t{Format::kNvfp4, true},
    kMx8e4{Format::kMxfp8E4M3}, kMx8e5{Format::kMxfp8E5M2}, kFp8e4{Format::kFp8E4M3},
    kFp8e5{Format::kFp8E5M2}, kBf16{Format::kBf16}, kFp32{Format::kFp32},
    kMx4sr{Format::kMxfp4, false, 0.75f, fp4train::Rounding::kStochastic},
    kNv4sr{Format::kNvfp4, false, 1.0f, fp4train::Rounding::kStochastic},
    kMx8e4t{Format::kMxfp8E4M3, true};

struct Pair {
  Fmt a, b;
};
const Pair kPairs[] = {
    {kMx4, kMx4},     {kNv4, kNv4},       {kNv4, kNv4t},     {kNv4t, kNv4t},  {kNv4sr, kNv4t},
    {kMx4sr, kMx4sr}, {kMx8e4, kMx8e4},   {kMx8e4, kMx8e5},  {kMx8e5, kMx8e4}, {kMx8e5, kMx8e5},
    {kFp8e4, kFp8e4}, {kFp8e5, kFp8e4},   {kFp8e4, kFp8e5},  {kFp8e5, kFp8e5}, {kMx4, kMx8e4},
    {kMx8e5, kMx4},   {kMx4, kFp8e5},     {kFp8e4, kMx8e4t}, {kBf16, kBf16},   {kFp32, kFp32},
    {kBf16, kMx4},    {kNv4, kFp32},      {kMx4, kMx4sr},
};

struct Shape {
  int64_t M, N, K;
};
const Shape kShapes[] = {{1, 1, 1},   {1, 37, 61},  {37, 1, 127}, {5, 7, 5},    {17, 33, 31},
                         {9, 40, 33}, {61, 37, 127}, {33, 65, 64}, {8, 32, 300}, {3, 5, 2200}};

TEST(QGemm, FastEqualsRefEveryFormatPair) {
  uint64_t seed = 1;
  for (const Pair& p : kPairs)
    for (const Shape& s : kShapes) {
      const Dist dist = kAllDists[seed % 4];
      const QTensor a = quantize_2d(p.a, s.M, s.K, dist, seed);
      const QTensor b = quantize_2d(p.b, s.N, s.K, kAllDists[(seed + 1) % 4], seed + 1000);
      ++seed;
      const Case c = gemm_case(p.a, p.b, s.M, s.N, s.K, std::string("dist=") + dist_str(dist));
      const std::vector<float> ref = fp4train::qgemm_ref(a.view(), b.view());
      expect_fast_equals(ref, a, b, c);
      if (::testing::Test::HasFailure()) return;
    }
}

// Shapes past the fast kernels' blocking: several K chunks (512 elements on
// the VNNI path), several tasks of row tiles x panels, full and edge tiles
// in both directions, K not a multiple of the block.
TEST(QGemm, FastEqualsRefLargeTiledShapes) {
  uint64_t seed = 7000;
  const Pair pairs[] = {{kMx4, kMx4}, {kNv4, kNv4t}, {kNv4t, kNv4t}, {kMx4sr, kMx4}, {kMx8e4, kMx8e4}};
  for (const Pair& p : pairs)
    for (const Shape& s : {Shape{100, 300, 1100}, Shape{13, 64, 1031}, Shape{97, 257, 515},
                           Shape{6, 32, 1024}, Shape{1, 290, 2049}, Shape{200, 1, 600}}) {
      const QTensor a = quantize_2d(p.a, s.M, s.K, kAllDists[seed % 4], seed);
      const QTensor b = quantize_2d(p.b, s.N, s.K, kAllDists[(seed + 1) % 4], seed + 1000);
      ++seed;
      const Case c = gemm_case(p.a, p.b, s.M, s.N, s.K, "large tiled shape");
      expect_fast_equals(fp4train::qgemm_ref(a.view(), b.view()), a, b, c);
      if (::testing::Test::HasFailure()) return;
    }
}

// Hand-built extreme scales at a shape with full 6 x 32 tiles and several K
// chunks, so the SIMD epilogue (not only the edge-tile path) meets NaN
// scales, subnormal and overflowing block terms.
TEST(QGemm, HandBuiltExtremeScalesFullTiles) {
  uint64_t seed = 8000;
  const Pair pairs[] = {{kMx4, kMx4}, {kNv4, kNv4}, {kNv4t, kNv4t}};
  // E8M0 bytes 45..60 put ea + eb around -150 (every block term subnormal or
  // zero), 185..200 around +130 (terms and sums near FLT_MAX and past it).
  const int ranges[][2] = {{0, 255}, {45, 60}, {185, 200}, {100, 154}, {0, 40}};
  for (const Pair& p : pairs)
    for (const auto& r : ranges) {
      const QTensor a = random_bytes_2d(p.a, 24, 1100, seed, r[0], r[1]);
      const QTensor b = random_bytes_2d(p.b, 64, 1100, seed + 1, r[0], r[1]);
      seed += 2;
      const Case c = gemm_case(p.a, p.b, 24, 64, 1100,
                               "hand-built scale bytes " + std::to_string(r[0]) + ".." + std::to_string(r[1]));
      expect_fast_equals(fp4train::qgemm_ref(a.view(), b.view()), a, b, c);
      if (::testing::Test::HasFailure()) return;
    }
}

TEST(QGemm, RefEqualsLongDoubleOracleOnQuantizedData) {
  uint64_t seed = 50;
  for (const Pair& p : kPairs) {
    if (!fp4train::is_block_quantized(p.a.f) || !fp4train::is_block_quantized(p.b.f)) continue;
    if (p.a.f == Format::kMxfp8E5M2 && p.b.f == Format::kMxfp8E5M2) continue;
    if (p.a.f == Format::kFp8E5M2 && p.b.f == Format::kFp8E5M2) continue;
    for (const Shape& s : {Shape{7, 9, 61}, Shape{16, 17, 37}, Shape{2, 3, 96}}) {
      const QTensor a = quantize_2d(p.a, s.M, s.K, Dist::kWide, seed);
      const QTensor b = quantize_2d(p.b, s.N, s.K, Dist::kOutliers, seed + 7);
      ++seed;
      EXPECT_TRUE(floats_bit_equal(oracle_qgemm(a, b), fp4train::qgemm_ref(a.view(), b.view()),
                                   gemm_case(p.a, p.b, s.M, s.N, s.K, "oracle vs qgemm_ref")));
    }
  }
}

// Hand-built operands: random code and scale bytes reach NaN/Inf element
// codes, NaN scales, zero and negative E4M3 scales, and block terms far in the
// subnormal range or past FLT_MAX (round_scaled's edge cases inside a GEMM).
TEST(QGemm, HandBuiltExtremeScales) {
  uint64_t seed = 900;
  struct Range {
    int lo, hi;
    const char* name;
  };
  const Range ranges[] = {{0, 255, "any"}, {0, 40, "tiny (subnormal terms)"},
                          {200, 254, "huge (overflow)"}, {100, 154, "moderate"}};
  for (const Pair& p : kPairs) {
    if (!fp4train::is_block_quantized(p.a.f) || !fp4train::is_block_quantized(p.b.f)) continue;
    const bool e5e5 = fp4train::format_traits(p.a.f).elem == fp4train::ElemType::kE5M2 &&
                      fp4train::format_traits(p.b.f).elem == fp4train::ElemType::kE5M2;
    for (const Range& r : ranges)
      for (const Shape& s : {Shape{9, 33, 70}, Shape{1, 5, 17}}) {
        // E4M3 block scales (nvfp4): bytes near 0 are subnormal scales, near
        // 0x7E the largest; the E8M0 ranges above map to 2^-127 .. 2^127.
        const QTensor a = random_bytes_2d(p.a, s.M, s.K, seed, r.lo, r.hi);
        const QTensor b = random_bytes_2d(p.b, s.N, s.K, seed + 1, r.lo, r.hi);
        seed += 2;
        const Case c = gemm_case(p.a, p.b, s.M, s.N, s.K, std::string("hand-built scales ") + r.name);
        const std::vector<float> ref = fp4train::qgemm_ref(a.view(), b.view());
        if (!e5e5) {
          EXPECT_TRUE(floats_bit_equal(oracle_qgemm(a, b), ref, c, "oracle vs qgemm_ref"));
        }
        expect_fast_equals(ref, a, b, c);
        if (::testing::Test::HasFailure()) return;
      }
  }
}

// Subnormal block terms and overflow, with values checked by hand: one block,
// a = 1 (E2M1 code 2) and b = 1, so S = 4 (doubled ints), t = 2^(ea + eb).
TEST(QGemm, SingleBlockSubnormalAndOverflowTerms) {
  auto one_block = [](int scale_byte) {
    QTensor q;
    q.spec.format = Format::kMxfp4;
    q.layout = fp4train::make_layout({1, 32}, 1, q.spec);
    q.codes.assign(16, 0);
    q.codes[0] = 0x02;  // element 0 = 1.0
    q.scales.assign(1, uint8_t(scale_byte));
    return q;
  };
  struct C {
    int ea, eb;  // scale exponents
    float want;
  } cases[] = {
      {-127, -22, std::numeric_limits<float>::denorm_min()},  // 2^-149
      {-127, -23, 0.0f},                                      // 2^-150: tie to even 0
      {-100, -30, std::ldexp(1.0f, -130)},                    // subnormal, exact
      {127, 0, std::ldexp(1.0f, 127)},
      {127, 1, std::numeric_limits<float>::infinity()},       // 2^128 overflows
  };
  for (const C& c : cases) {
    const QTensor a = one_block(c.ea + 127), b = one_block(c.eb + 127);
    const std::vector<float> ref = fp4train::qgemm_ref(a.view(), b.view());
    EXPECT_TRUE(same_float(c.want, ref[0], false))
        << "2^" << c.ea << " * 2^" << c.eb << ": expected " << fstr(c.want) << ", got " << fstr(ref[0]);
    expect_fast_equals(ref, a, b, gemm_case(kMx4, kMx4, 1, 1, 32, "single block"));
  }
}

// Block sums above 2^53 (wide-integer path) must round once: each S below
// sits just above a float32 tie that a double intermediate would turn into an
// exact tie (and round to even, the wrong way).
TEST(QGemm, WideSumsRoundOnce) {
  auto row = [](Format f, const std::vector<float>& v) {
    QTensor q;
    q.spec.format = f;
    q.layout = fp4train::make_layout({1, 32}, 1, q.spec);
    q.codes.assign(32, 0);
    for (size_t k = 0; k < v.size(); ++k)
      q.codes[k] = f == Format::kMxfp8E4M3 ? fp4train::e4m3_encode(v[k], fp4train::Rounding::kNearest)
                                           : fp4train::e5m2_encode(v[k], fp4train::Rounding::kNearest);
    q.scales.assign(1, uint8_t(127));  // 2^0
    return q;
  };
  // E4M3 x E5M2 (ints: value * 2^9, value * 2^16): 18 * (14*2^14 * 2^31) +
  // 2^17 * 2^30 + 2^17 * 2^12 + 1 * 1 = 2^53 + 2^29 + 1; times 2^-25 that is
  // 2^28 + 2^4 + 2^-25: above the tie 2^28 + 2^4, so RN = 2^28 + 2^5.
  std::vector<float> a(21, 448.0f), b(21, 32768.0f);
  a[18] = 256.0f, b[18] = 16384.0f;
  a[19] = 256.0f, b[19] = std::ldexp(1.0f, -4);
  a[20] = std::ldexp(1.0f, -9), b[20] = std::ldexp(1.0f, -16);
  const float want1 = std::ldexp(1.0f, 28) + 32.0f;
  // E5M2 x E5M2: 2^31 * 2^31 + 2^31 * 2^7 + 1 * 1 = 2^62 + 2^38 + 1; times
  // 2^-32: 2^30 + 2^6 + 2^-32, RN = 2^30 + 2^7.
  const std::vector<float> c = {32768.0f, 32768.0f, std::ldexp(1.0f, -16)};
  const std::vector<float> d = {32768.0f, std::ldexp(1.0f, -9), std::ldexp(1.0f, -16)};
  const float want2 = std::ldexp(1.0f, 30) + 128.0f;
  struct C {
    QTensor x, y;
    float want;
    const char* name;
  } cases[] = {{row(Format::kMxfp8E4M3, a), row(Format::kMxfp8E5M2, b), want1, "e4m3 x e5m2"},
               {row(Format::kMxfp8E5M2, b), row(Format::kMxfp8E4M3, a), want1, "e5m2 x e4m3"},
               {row(Format::kMxfp8E5M2, c), row(Format::kMxfp8E5M2, d), want2, "e5m2 x e5m2"}};
  for (const C& cs : cases) {
    const std::vector<float> ref = fp4train::qgemm_ref(cs.x.view(), cs.y.view());
    EXPECT_TRUE(same_float(cs.want, ref[0], false))
        << cs.name << ": expected " << fstr(cs.want) << ", got " << fstr(ref[0]);
    Case cc;
    cc.format = cs.name;
    cc.extra = "MxNxK=1x1x32 wide sum";
    expect_fast_equals({cs.want}, cs.x, cs.y, cc);
  }
}

TEST(QGemm, NanAndInfInputs) {
  const Pair pairs[] = {{kMx4, kMx4}, {kNv4, kNv4t}, {kMx8e4, kMx8e5}, {kFp8e5, kFp8e4},
                        {kFp8e5, kFp8e5}, {kFp8e4, kFp8e4}, {kBf16, kFp32}, {kMx4, kFp8e5}};
  const int64_t M = 13, N = 35, K = 77;
  for (const Pair& p : pairs) {
    std::vector<float> xa = make_data(Dist::kGaussian, M * K, 3), xb = make_data(Dist::kGaussian, N * K, 4);
    xa[5] = std::numeric_limits<float>::quiet_NaN();
    xa[3 * K + 40] = std::numeric_limits<float>::infinity();
    xb[2 * K + 40] = -std::numeric_limits<float>::infinity();
    xb[7 * K + 70] = std::numeric_limits<float>::infinity();
    for (int64_t k = 0; k < K; ++k) xb[10 * K + k] = 0.0f;  // a zero row: Inf * 0
    QuantSpec sa, sb;
    sa.format = p.a.f;
    sa.block_2d = p.a.block_2d;
    sb.format = p.b.f;
    sb.block_2d = p.b.block_2d;
    const QTensor a = fp4train::quantize(xa.data(), {M, K}, 1, sa);
    const QTensor b = fp4train::quantize(xb.data(), {N, K}, 1, sb);
    const Case c = gemm_case(p.a, p.b, M, N, K, "NaN/Inf inputs");
    const std::vector<float> ref = fp4train::qgemm_ref(a.view(), b.view());
    EXPECT_TRUE(std::isnan(ref[0])) << c.str() << ": a NaN in row 0 of A must reach C[0, 0]";
    if (fp4train::is_block_quantized(p.a.f) && fp4train::is_block_quantized(p.b.f)) {
      EXPECT_TRUE(floats_bit_equal(oracle_qgemm(a, b), ref, c, "oracle vs qgemm_ref"));
    }
    expect_fast_equals(ref, a, b, c);
  }
}

TEST(QGemm, ZeroBlocksAndZeroK) {
  for (const Fmt& f : {kMx4, kNv4, kMx8e4, kFp8e5, kBf16}) {
    const int64_t M = 3, N = 4, K = 64;
    std::vector<float> x(size_t(M * K), 0.0f), y = make_data(Dist::kGaussian, N * K, 1);
    QuantSpec s;
    s.format = f.f;
    const QTensor a = fp4train::quantize(x.data(), {M, K}, 1, s);
    const QTensor b = fp4train::quantize(y.data(), {N, K}, 1, s);
    const std::vector<float> ref = fp4train::qgemm_ref(a.view(), b.view());
    for (float v : ref) EXPECT_EQ(bits_of(v), 0u) << fmt_str(f) << ": zero A gives +0, got " << fstr(v);
    expect_fast_equals(ref, a, b, gemm_case(f, f, M, N, K, "zero A"));
    // K = 0: C = +0 everywhere.
    const QTensor a0 = fp4train::quantize(x.data(), {M, 0}, 1, s);
    const QTensor b0 = fp4train::quantize(y.data(), {N, 0}, 1, s);
    for (float v : fp4train::qgemm(a0.view(), b0.view())) EXPECT_EQ(bits_of(v), 0u) << fmt_str(f) << " K=0";
  }
}

// ---------------------------------------------------------------------------
// Errors

std::string error_of(const QTensor& a, const QTensor& b) {
  try {
    fp4train::qgemm(a.view(), b.view());
  } catch (const fp4train::ArgumentError& e) {
    return e.what();
  }
  return "";
}

TEST(QGemm, ErrorsNameTheArgument) {
  QuantSpec mx, nv;
  nv.format = Format::kNvfp4;
  const std::vector<float> x = make_data(Dist::kGaussian, 64 * 64, 1);
  const QTensor a = fp4train::quantize(x.data(), {8, 64}, 1, mx);
  const QTensor b = fp4train::quantize(x.data(), {16, 64}, 1, mx);
  const QTensor b_axis0 = fp4train::quantize(x.data(), {64, 16}, 0, mx);
  const QTensor b_k = fp4train::quantize(x.data(), {16, 48}, 1, mx);
  const QTensor b_nv = fp4train::quantize(x.data(), {16, 64}, 1, nv);
  const QTensor b_3d = fp4train::quantize(x.data(), {2, 8, 64}, 2, mx);
  EXPECT_EQ(error_of(a, b), "");
  std::string e = error_of(a, b_axis0);
  EXPECT_NE(e.find("argument 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("b.T"), std::string::npos) << e;
  e = error_of(b_axis0, a);
  EXPECT_NE(e.find("argument 'a'"), std::string::npos) << e;
  e = error_of(a, b_k);
  EXPECT_NE(e.find("argument 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("K = 64"), std::string::npos) << e;
  e = error_of(a, b_nv);
  EXPECT_NE(e.find("argument 'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("16"), std::string::npos) << e;
  e = error_of(b_3d, b);
  EXPECT_NE(e.find("argument 'a'"), std::string::npos) << e;
  EXPECT_NE(e.find("2-D"), std::string::npos) << e;
  // A tampered buffer size is caught too.
  QTensor bad = b;
  bad.scales.pop_back();
  e = error_of(a, bad);
  EXPECT_NE(e.find("b.scales"), std::string::npos) << e;
  // qgemm_ref validates identically.
  EXPECT_THROW(fp4train::qgemm_ref(a.view(), b_nv.view()), fp4train::ArgumentError);
}

// ---------------------------------------------------------------------------
// gemm_f32

TEST(QGemmF32, FastEqualsRefEveryIsa) {
  const Shape shapes[] = {{1, 1, 1}, {1, 37, 61}, {37, 1, 127}, {7, 33, 5}, {61, 37, 127},
                          {9, 65, 300}, {17, 31, 600}, {0, 5, 3}, {4, 6, 0},
                          // full tiles, several tasks and K chunks (1024)
                          {8, 32, 513}, {100, 300, 700}, {200, 260, 257}, {6, 16, 256},
                          {17, 70, 2100}, {8, 32, 1025}};
  uint64_t seed = 77;
  for (const Shape& s : shapes) {
    std::vector<float> a = make_data(kAllDists[seed % 4], s.M * s.K, seed);
    std::vector<float> b = make_data(kAllDists[(seed + 1) % 4], s.N * s.K, seed + 1);
    ++seed;
    if (a.size() > 10) {  // specials: NaN, Inf, -0, subnormal
      a[3] = std::numeric_limits<float>::infinity();
      a[a.size() - 2] = -0.0f;
      b[b.size() / 2] = std::numeric_limits<float>::denorm_min();
      b[1] = std::numeric_limits<float>::quiet_NaN();
    }
    std::vector<float> ref(size_t(s.M * s.N), -1.0f);
    fp4train::gemm_f32_ref(a.data(), b.data(), ref.data(), s.M, s.N, s.K);
    for (Isa isa : fp4train::supported_isas()) {
      fp4train::set_isa(isa);
      for (int threads : {1, 2, 3}) {
        fp4train::set_num_threads(threads);
        std::vector<float> got(size_t(s.M * s.N), -1.0f);
        fp4train::gemm_f32(a.data(), b.data(), got.data(), s.M, s.N, s.K);
        Case c;
        c.format = "fp32 (gemm_f32)";
        c.shape = {s.M, s.N, s.K};
        c.extra = "MxNxK=" + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" +
                  std::to_string(s.K) + " isa=" + fp4train::isa_name(isa) +
                  " threads=" + std::to_string(threads);
        EXPECT_TRUE(floats_bit_equal(ref, got, c, "gemm_f32 vs gemm_f32_ref"));
      }
    }
  }
  fp4train::set_num_threads(0);
  fp4train::reset_isa();
}

// The ref is the fma chain: acc = fma(1, -1, 0) = -1, then
// fma(1 + e, 1 - e, -1) = -e^2 exactly, where mul + add would give
// RN(1 - e^2) - 1 = 0.
TEST(QGemmF32, RefIsTheFmaChain) {
  const float e = std::ldexp(1.0f, -13);
  const float a[2] = {1.0f, 1.0f + e};
  const float b[2] = {-1.0f, 1.0f - e};
  const float want = -std::ldexp(1.0f, -26);
  float c = 0.0f;
  fp4train::gemm_f32_ref(a, b, &c, 1, 1, 2);
  EXPECT_EQ(bits_of(c), bits_of(want)) << fstr(c) << " vs " << fstr(want);
  for (Isa isa : fp4train::supported_isas()) {
    fp4train::set_isa(isa);
    float got = 0.0f;
    fp4train::gemm_f32(a, b, &got, 1, 1, 2);
    EXPECT_EQ(bits_of(got), bits_of(want)) << fp4train::isa_name(isa) << ": " << fstr(got);
  }
  fp4train::reset_isa();
}

}  // namespace
