// Block quantizer tests (DESIGN §2, docs/NUMERICS.md §2-3).
//
// Two kinds of checks:
// - hand-computed edge cases (scale rules on chosen amax values, ties,
//   saturation, zeros, NaN/Inf blocks, NVFP4 two-level scales), each
//   expectation explained where it is written;
// - a reference quantizer written here from NUMERICS §2 (RefQuantize below),
//   using test_util.h's spec codecs, compared bit for bit with quantize,
//   dequantize and fake_quantize on random data of several distributions,
//   N-D shapes, every axis, partial blocks and 2-D tiles.
#include <cmath>
#include <limits>
#include <numeric>

#include "formats/formats.h"
#include "quant/quantize.h"
#include "test_util.h"
#include "util/check.h"
#include "util/counter_rng.h"
#include "util/parallel.h"

namespace {

using namespace fp4test;
using fp4train::QTensor;
using fp4train::QuantSpec;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

QuantSpec make_spec(Format f, ScaleRule rule = ScaleRule::kFloor,
                    Rounding r = Rounding::kNearest, float prescale = 1.0f, bool block_2d = false,
                    uint64_t seed = 0) {
  QuantSpec s;
  s.format = f;
  s.scale_rule = rule;
  s.rounding = r;
  s.prescale = prescale;
  s.block_2d = block_2d;
  s.seed = seed;
  return s;
}

QTensor quant(const std::vector<float>& x, const std::vector<int64_t>& shape, int axis,
              const QuantSpec& s) {
  return fp4train::quantize(x.data(), shape, axis, s);
}
std::vector<float> dequant(const QTensor& q) {
  std::vector<float> y(size_t(q.layout.numel()), 12345.0f);
  fp4train::dequantize(q.view(), y.data());
  return y;
}
std::vector<float> fake(const std::vector<float>& x, const std::vector<int64_t>& shape, int axis,
                        const QuantSpec& s) {
  std::vector<float> y(x.size(), 12345.0f);
  fp4train::fake_quantize(x.data(), shape, axis, s, y.data());
  return y;
}

// ---------------------------------------------------------------------------
// The reference quantizer: NUMERICS §2 transcribed, one element at a time.

struct RefFormat {
  const MiniFloat* elem;  // null for fp32
  int block;              // 0: no block scales
  bool e8m0;              // MX scale (else E4M3 for nvfp4)
  bool tensor_scale;
  int emax;               // exponent of the element's largest value
  double m;               // element's largest value
};

RefFormat ref_format(Format f) {
  switch (f) {
    case Format::kMxfp4: return {&kSpecE2M1, 32, true, false, 2, 6.0};
    case Format::kNvfp4: return {&kSpecE2M1, 16, false, true, 2, 6.0};
    case Format::kMxfp8E4M3: return {&kSpecE4M3, 32, true, false, 8, 448.0};
    case Format::kMxfp8E5M2: return {&kSpecE5M2, 32, true, false, 15, 57344.0};
    case Format::kFp8E4M3: return {&kSpecE4M3, 0, false, true, 8, 448.0};
    case Format::kFp8E5M2: return {&kSpecE5M2, 0, false, true, 15, 57344.0};
    case Format::kBf16: return {&kSpecBf16, 0, false, false, 127, 0.0};
    case Format::kFp32: return {nullptr, 0, false, false, 127, 0.0};
  }
  return {};
}

// floor(log2(a)) for finite a > 0 (float subnormals included), exact via frexp.
int floor_log2(double a) {
  int e;
  std::frexp(a, &e);
  return e - 1;
}

// E8M0 scale code of an MX block (NUMERICS §2.1). `finite` false: NaN/Inf in the block.
uint32_t ref_mx_scale(float amax, bool finite, const RefFormat& F, ScaleRule rule) {
  if (!finite) return 0xFF;
  if (amax == 0.0f) return 0;
  double a = amax;
  if (rule == ScaleRule::kEven) {
    // bits += 1 << (22 - mbits), low 23 - mbits bits cleared; the carry may
    // reach the all-ones exponent, which reads as 2^128.
    const int mb = F.elem->mbits;
    uint32_t u = bits_of(amax);
    u += 1u << (22 - mb);
    u &= ~((1u << (23 - mb)) - 1u);
    a = (u >> 23) == 255 ? std::ldexp(1.0, 128) : double(float_of(u));
    if (a == 0.0) return 0;  // a float-subnormal amax rounded to 0: below every scale
  }
  const int E = floor_log2(a);
  const double sig = a / std::ldexp(1.0, E);  // in [1, 2), exact
  int e = E - F.emax;
  if (rule == ScaleRule::kCeil && sig != 1.0) ++e;
  if (rule == ScaleRule::kRceil && sig > F.m / std::ldexp(1.0, F.emax)) ++e;
  e = std::max(-127, std::min(127, e));
  return uint32_t(e + 127);
}

struct RefResult {
  std::vector<uint32_t> codes;  // storage order: rows x length
  std::vector<uint8_t> scales;  // scale_rows x nblocks
  float tensor_scale = 1.0f;
  std::vector<float> values;    // dequantized, logical C order
};

RefResult ref_quantize(const std::vector<float>& x, const std::vector<int64_t>& shape, int axis,
                       const QuantSpec& s) {
  const RefFormat F = ref_format(s.format);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < int(shape.size()); ++d) {
    if (d < axis) outer *= shape[size_t(d)];
    if (d > axis) inner *= shape[size_t(d)];
  }
  const int64_t length = shape[size_t(axis)], rows = outer * inner;
  // Storage row r = o * inner + i holds x[o, :, i].
  auto flat = [&](int64_t r, int64_t l) { return (r / inner) * length * inner + l * inner + r % inner; };
  auto k24 = [&](int64_t idx) {
    return s.rounding == Rounding::kStochastic
               ? fp4train::random_bits(s.seed, 0, uint64_t(idx)) >> 8 : 0u;
  };
  const float p = s.prescale;
  auto unprescale = [&](float y) { return p != 1.0f ? y / p : y; };

  RefResult R;
  R.codes.assign(size_t(rows * length), 0);
  R.values.assign(x.size(), 0.0f);

  // Per-tensor amax over finite elements (NVFP4, FP8).
  float amax_t = 0.0f;
  for (float v : x)
    if (std::isfinite(v)) amax_t = std::max(amax_t, std::fabs(v));

  if (s.format == Format::kFp32 || s.format == Format::kBf16) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t l = 0; l < length; ++l) {
        const int64_t i = flat(r, l);
        const float v = x[size_t(i)];
        uint32_t c;
        float y;
        if (s.format == Format::kFp32) {
          c = bits_of(v);
          y = v;
        } else {
          c = spec_encode(kSpecBf16, v, s.rounding, k24(i));
          y = float(spec_decode(kSpecBf16, c));
        }
        R.codes[size_t(r * length + l)] = c;
        R.values[size_t(i)] = y;
      }
    return R;
  }

  if (F.block == 0) {  // per-tensor FP8, NUMERICS §2.3
    float sc = float(F.m) / amax_t;
    if (amax_t == 0.0f || !std::isfinite(sc)) sc = 1.0f;
    R.tensor_scale = sc;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t l = 0; l < length; ++l) {
        const int64_t i = flat(r, l);
        float v = x[size_t(i)] * sc;
        v = v * p;
        const uint32_t c = spec_encode(*F.elem, v, s.rounding, k24(i));
        R.codes[size_t(r * length + l)] = c;
        R.values[size_t(i)] = unprescale(float(spec_decode(*F.elem, c)) / sc);
      }
    return R;
  }

  // Block formats. Scale s_enc / s_dec for NVFP4 (NUMERICS §2.2).
  float s_enc = 1.0f, s_dec = 1.0f;
  if (s.format == Format::kNvfp4) {
    s_enc = 2688.0f / amax_t;
    if (amax_t == 0.0f || !std::isfinite(s_enc)) s_enc = 1.0f;
    s_dec = 1.0f / s_enc;
    R.tensor_scale = s_enc;
  }
  const int64_t B = F.block, nblocks = (length + B - 1) / B;
  const int64_t tile_rows = s.block_2d ? B : 1;
  const int64_t scale_rows = (rows + tile_rows - 1) / tile_rows;
  R.scales.assign(size_t(scale_rows * nblocks), 0);
  for (int64_t sr = 0; sr < scale_rows; ++sr)
    for (int64_t b = 0; b < nblocks; ++b) {
      const int64_t r0 = sr * tile_rows, r1 = std::min(rows, r0 + tile_rows);
      const int64_t l0 = b * B, l1 = std::min(length, l0 + B);
      float amax = 0.0f;
      bool finite = true;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t l = l0; l < l1; ++l) {
          const float v = x[size_t(flat(r, l))];
          finite = finite && std::isfinite(v);
          if (std::isfinite(v)) amax = std::max(amax, std::fabs(v));
        }
      uint32_t sc;
      if (F.e8m0) {
        sc = ref_mx_scale(amax, finite, F, s.scale_rule);
      } else if (!finite) {
        sc = 0x7F;
      } else {
        sc = spec_encode(kSpecE4M3, std::min(amax * (s_enc * (1.0f / 6.0f)), 448.0f),
                         Rounding::kNearest);
      }
      R.scales[size_t(sr * nblocks + b)] = uint8_t(sc);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t l = l0; l < l1; ++l) {
          const int64_t i = flat(r, l);
          const float xv = x[size_t(i)];
          uint32_t c = 0;
          float y;
          if (!finite) {
            y = kNaN;  // NaN/Inf block: codes 0, NaN everywhere
          } else if (F.e8m0) {
            const int e = int(sc) - 127;
            if (amax == 0.0f) {
              y = 0.0f;  // all-zero block: codes +0 (also for -0 inputs)
            } else {
              float v = float(double(xv) * std::ldexp(1.0, -e));
              v = v * p;
              c = spec_encode(*F.elem, v, s.rounding, k24(i));
              y = unprescale(float(spec_decode(*F.elem, c) * std::ldexp(1.0, e)));
            }
          } else {
            const float S = float(spec_decode(kSpecE4M3, sc));
            const float enc = S == 0.0f ? 0.0f : 1.0f / (S * s_dec);
            // A zero stays zero (with its sign) even where enc overflowed to Inf.
            float v = xv == 0.0f ? xv : xv * enc;
            v = v * p;
            v = std::max(-6.0f, std::min(6.0f, v));
            c = spec_encode(kSpecE2M1, v, s.rounding, k24(i));
            y = float(spec_decode(kSpecE2M1, c)) * S;
            y = unprescale(y * s_dec);
          }
          R.codes[size_t(r * length + l)] = c;
          R.values[size_t(i)] = y;
        }
    }
  return R;
}

// Quantize, dequantize and fake_quantize against the reference, bit for bit.
::testing::AssertionResult matches_reference(const std::vector<float>& x,
                                             const std::vector<int64_t>& shape, int axis,
                                             const QuantSpec& s, const std::string& extra = "") {
  const Case c(s, shape, axis, extra);
  const RefResult R = ref_quantize(x, shape, axis, s);
  const QTensor q = quant(x, shape, axis, s);
  auto r = codes_equal(R.codes, unpack_codes(q), c, "codes", q.layout.length);
  if (!r) return r;
  r = codes_equal(R.scales, q.scales, c, "scales", q.layout.nblocks);
  if (!r) return r;
  if (bits_of(R.tensor_scale) != bits_of(q.tensor_scale))
    return ::testing::AssertionFailure() << "tensor_scale: expected " << fstr(R.tensor_scale)
                                         << ", got " << fstr(q.tensor_scale) << " [" << c.str() << "]";
  r = floats_bit_equal(R.values, dequant(q), c, "dequantize");
  if (!r) return r;
  return floats_bit_equal(R.values, fake(x, shape, axis, s), c, "fake_quantize");
}

// ---------------------------------------------------------------------------
// Every format x scale rule x rounding against the reference.

struct Combo {
  Format format;
  ScaleRule rule;
  Rounding rounding;
};

void PrintTo(const Combo& c, std::ostream* os) {
  *os << fp4train::format_name(c.format) << "/" << rule_str(c.rule) << "/" << rounding_str(c.rounding);
}

std::vector<Combo> all_combos(bool (*keep)(Format) = nullptr) {
  std::vector<Combo> v;
  for (Format f : kAllFormats) {
    if (keep && !keep(f)) continue;
    const bool mx = ref_format(f).e8m0;
    for (ScaleRule rule : kAllRules) {
      if (!mx && rule != ScaleRule::kFloor) continue;  // rules apply to E8M0 scales only
      for (Rounding r : kAllRoundings) v.push_back({f, rule, r});
    }
  }
  return v;
}

std::string combo_name(const ::testing::TestParamInfo<Combo>& info) {
  return std::string(fp4train::format_name(info.param.format)) + "_" + rule_str(info.param.rule) +
         "_" + rounding_str(info.param.rounding);
}

class QuantizeRefTest : public ::testing::TestWithParam<Combo> {
 protected:
  QuantSpec spec(float prescale = 1.0f, bool block_2d = false, uint64_t seed = 7) const {
    return make_spec(GetParam().format, GetParam().rule, GetParam().rounding, prescale, block_2d,
                     seed);
  }
  bool block_format() const { return ref_format(GetParam().format).block > 0; }
  bool scaled_format() const {
    return GetParam().format != Format::kBf16 && GetParam().format != Format::kFp32;
  }
};

// N-D arrays along every axis (the axis moved last in storage, flat logical
// index for the random bits), random data of each distribution.
TEST_P(QuantizeRefTest, NdArraysAlongEveryAxisMatchReference) {
  const std::vector<std::vector<int64_t>> shapes = {{131}, {3, 70}, {2, 3, 37}, {2, 3, 4, 33}};
  uint64_t seed = 1;
  for (Dist d : kAllDists)
    for (const auto& shape : shapes) {
      const auto x = make_data(d, numel(shape), seed++);
      for (int axis = 0; axis < int(shape.size()); ++axis)
        ASSERT_TRUE(matches_reference(x, shape, axis, spec(1.0f, false, seed), dist_str(d)));
    }
}

// Formats with scales (prescale allowed) and block formats (2-D tiles allowed).
class ScaledQuantizeRefTest : public QuantizeRefTest {};
class BlockQuantizeRefTest : public QuantizeRefTest {};

// Prescale 0.75 (the MXFP4 backward trick) on scaled formats.
TEST_P(ScaledQuantizeRefTest, PrescaleMatchesReference) {
  const std::vector<int64_t> shape = {5, 96};
  for (Dist d : kAllDists) {
    const auto x = make_data(d, numel(shape), 40 + uint64_t(d));
    for (int axis = 0; axis < 2; ++axis)
      ASSERT_TRUE(matches_reference(x, shape, axis, spec(0.75f, false, 3), dist_str(d)));
  }
}

// 2-D tiles (block x block) on 2-D arrays, both axes, shapes that are and are
// not multiples of the tile.
TEST_P(BlockQuantizeRefTest, Tiles2DMatchReference) {
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{16, 16}, {32, 32}, {40, 56}, {33, 17}, {1, 70}}) {
    for (Dist d : {Dist::kGaussian, Dist::kOutliers, Dist::kWide}) {
      const auto x = make_data(d, numel(shape), 60 + uint64_t(d));
      for (int axis = 0; axis < 2; ++axis)
        ASSERT_TRUE(matches_reference(x, shape, axis, spec(1.0f, true, 11), dist_str(d)));
    }
  }
}

// Partial last blocks: lengths block - 1, block + 1, primes, on 1-D and 2-D.
TEST_P(QuantizeRefTest, PartialBlocksMatchReference) {
  const int block = std::max(ref_format(GetParam().format).block, 16);
  for (int64_t n : awkward_lengths(block)) {
    const auto x = make_data(Dist::kGaussian, 3 * n, uint64_t(n));
    ASSERT_TRUE(matches_reference(x, {n * 3}, 0, spec()));
    ASSERT_TRUE(matches_reference(x, {3, n}, 1, spec()));
    ASSERT_TRUE(matches_reference(x, {3, n}, 0, spec()));
  }
}

// Edge values in random positions: zeros, -0, float32 subnormals, NaN, +-Inf,
// values at and beyond the element maximum after scaling.
TEST_P(QuantizeRefTest, EdgeValuesMatchReference) {
  const std::vector<int64_t> shape = {4, 80};
  std::mt19937_64 gen(17);
  const float edge[] = {0.0f, -0.0f, float_of(1), -float_of(0x00345678u), 1e-40f, kNaN, kInf,
                        -kInf, 6.0f, 7.99f, -8.0f, 448.0f, 65536.0f, 3.4e38f, -3.4e38f, 1.0f};
  for (int trial = 0; trial < 40; ++trial) {
    auto x = make_data(trial % 2 ? Dist::kWide : Dist::kGaussian, numel(shape), 100 + trial);
    const int count = trial % 8;  // 0 edge values: clean data
    for (int j = 0; j < count * 4; ++j) {
      const float v = edge[gen() % (sizeof(edge) / sizeof(edge[0]))];
      x[gen() % x.size()] = v;
    }
    if (trial == 39) std::fill(x.begin(), x.end(), -0.0f);
    for (int axis = 0; axis < 2; ++axis)
      ASSERT_TRUE(matches_reference(x, shape, axis, spec(1.0f, false, uint64_t(trial)),
                                    "trial=" + std::to_string(trial)));
  }
}

// Whole tensors near the ends of the float32 range: tensor and block scales
// at their clamps, NVFP4's enc overflowing, FP8's s not finite.
TEST_P(QuantizeRefTest, TinyAndHugeTensorsMatchReference) {
  const std::vector<int64_t> shape = {6, 48};
  for (float scale : {0x1p-149f, 0x1p-140f, 0x1p-126f, 0x1p-112f, 0x1p-100f, 0x1p100f, 0x1p126f}) {
    for (Dist d : {Dist::kGaussian, Dist::kOutliers}) {
      auto x = make_data(d, numel(shape), 70 + uint64_t(d));
      for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 5 == 0) ? (i % 2 ? -0.0f : 0.0f) : x[i] * scale;
      const std::string what = std::string(dist_str(d)) + " scale=" + fstr(scale);
      for (int axis = 0; axis < 2; ++axis)
        ASSERT_TRUE(matches_reference(x, shape, axis, spec(1.0f, false, 5), what));
    }
  }
}

// fake_quantize == dequantize(quantize()) bit for bit, whatever the data.
TEST_P(QuantizeRefTest, FakeQuantizeEqualsDequantizeOfQuantize) {
  const std::vector<std::vector<int64_t>> shapes = {{7, 33}, {2, 5, 19}, {64, 64}};
  for (Dist d : kAllDists)
    for (const auto& shape : shapes) {
      const auto x = make_data(d, numel(shape), 500 + uint64_t(d));
      for (int axis = 0; axis < int(shape.size()); ++axis)
        for (float p : {1.0f, 0.75f})
          for (bool b2 : {false, true}) {
            if (p != 1.0f && !scaled_format()) continue;
            if (b2 && (!block_format() || shape.size() != 2)) continue;
            const QuantSpec s = spec(p, b2, 99);
            const Case c(s, shape, axis, dist_str(d));
            ASSERT_TRUE(floats_bit_equal(dequant(quant(x, shape, axis, s)),
                                         fake(x, shape, axis, s), c));
          }
    }
}

// set_num_threads(1) vs 2 vs 3: identical codes, scales, tensor scale and
// fake_quantize output (stochastic included: the bits depend on the flat
// index only).
TEST_P(QuantizeRefTest, ThreadCountDoesNotChangeBits) {
  struct Shape {
    std::vector<int64_t> dims;
    int axis;
  };
  const std::vector<Shape> shapes = {{{96, 1000}, 1}, {{4, 200, 50}, 1}, {{160, 96}, 0}};
  for (const Shape& sh : shapes)
    for (bool b2 : {false, true}) {
      if (b2 && (!block_format() || sh.dims.size() != 2)) continue;
      const auto x = make_data(Dist::kOutliers, numel(sh.dims), 9);
      const QuantSpec s = spec(1.0f, b2, 12345);
      const Case c(s, sh.dims, sh.axis);
      fp4train::set_num_threads(1);
      const QTensor q1 = quant(x, sh.dims, sh.axis, s);
      const auto f1 = fake(x, sh.dims, sh.axis, s);
      for (int t : {2, 3}) {
        fp4train::set_num_threads(t);
        const QTensor qt = quant(x, sh.dims, sh.axis, s);
        const Case ct(s, sh.dims, sh.axis, "threads=" + std::to_string(t));
        EXPECT_TRUE(codes_equal(q1.codes, qt.codes, ct, "packed codes"));
        EXPECT_TRUE(codes_equal(q1.scales, qt.scales, ct, "scales"));
        EXPECT_EQ(bits_of(q1.tensor_scale), bits_of(qt.tensor_scale)) << ct.str();
        EXPECT_TRUE(floats_bit_equal(f1, fake(x, sh.dims, sh.axis, s), ct, "fake_quantize"));
        EXPECT_TRUE(floats_bit_equal(dequant(q1), dequant(qt), ct, "dequantize"));
      }
      fp4train::set_num_threads(0);
    }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, QuantizeRefTest, ::testing::ValuesIn(all_combos()),
                         combo_name);
INSTANTIATE_TEST_SUITE_P(ScaledFormats, ScaledQuantizeRefTest,
                         ::testing::ValuesIn(all_combos([](Format f) {
                           return f != Format::kBf16 && f != Format::kFp32;
                         })),
                         combo_name);
INSTANTIATE_TEST_SUITE_P(BlockFormats, BlockQuantizeRefTest,
                         ::testing::ValuesIn(all_combos([](Format f) {
                           return ref_format(f).block > 0;
                         })),
                         combo_name);

// ---------------------------------------------------------------------------
// Scale rules on hand-computed amax values (NUMERICS §2.1).
//
// Each row: the block's amax, the rule, and the expected scale exponent e
// (X = 2^e), with the reasoning. E(a) = floor(log2 a); emax = 2 (E2M1),
// 8 (E4M3), 15 (E5M2); rceil compares the significand with m / 2^emax =
// 1.5 (E2M1) or 1.75 (E4M3, E5M2).

struct RuleCase {
  Format format;
  float amax;
  ScaleRule rule;
  int e;
  const char* why;
};

const RuleCase kRuleCases[] = {
    // E2M1 (mxfp4), emax 2, m 6.
    {Format::kMxfp4, 6.0f, ScaleRule::kFloor, 0, "E(6)=2, 2-2=0"},
    {Format::kMxfp4, 6.0f, ScaleRule::kRceil, 0, "6 = 1.5*2^2, 1.5 <= 1.5: e=0, 6/1 <= 6"},
    {Format::kMxfp4, 6.0f, ScaleRule::kCeil, 1, "6 not a power of 2: ceil(log2 6)=3, 3-2=1"},
    {Format::kMxfp4, 6.0f, ScaleRule::kEven, 0, "6 = 1.1b*2^2 already 1 mantissa bit; floor: 0"},
    {Format::kMxfp4, 7.0f, ScaleRule::kFloor, 0, "E(7)=2: e=0, 7 clips to 6"},
    {Format::kMxfp4, 7.0f, ScaleRule::kRceil, 1, "7 = 1.75*2^2, 1.75 > 1.5: e=1, 7/2=3.5 <= 6"},
    {Format::kMxfp4, 7.0f, ScaleRule::kCeil, 1, "ceil(log2 7)=3: e=1"},
    {Format::kMxfp4, 7.0f, ScaleRule::kEven, 1, "1.11b rounds half up to 10.0b: 8, E(8)=3, e=1"},
    {Format::kMxfp4, 4.0f, ScaleRule::kFloor, 0, "E(4)=2"},
    {Format::kMxfp4, 4.0f, ScaleRule::kRceil, 0, "significand 1.0 <= 1.5"},
    {Format::kMxfp4, 4.0f, ScaleRule::kCeil, 0, "power of 2: ceil = floor = 2"},
    {Format::kMxfp4, 4.0f, ScaleRule::kEven, 0, "exact"},
    {Format::kMxfp4, 1.7f, ScaleRule::kFloor, -2, "E(1.7)=0: e=-2, 1.7*4=6.8 clips"},
    {Format::kMxfp4, 1.7f, ScaleRule::kRceil, -1, "1.7 > 1.5: e=-1"},
    {Format::kMxfp4, 1.7f, ScaleRule::kCeil, -1, "ceil(log2 1.7)=1: e=-1"},
    {Format::kMxfp4, 1.7f, ScaleRule::kEven, -2, "1.1011..b < 1.11b: rounds down to 1.5, e=-2"},
    {Format::kMxfp4, 1.75f, ScaleRule::kEven, -1, "1.11b is the half: rounds up to 2, e=-1"},
    {Format::kMxfp4, 1.25f, ScaleRule::kEven, -2, "1.01b half up to 1.1b = 1.5, E=0: e=-2"},
    {Format::kMxfp4, 0.75f, ScaleRule::kFloor, -3, "E(0.75)=-1: e=-3, 0.75*8=6"},
    {Format::kMxfp4, 0.75f, ScaleRule::kCeil, -2, "ceil(log2 .75)=0: e=-2"},
    {Format::kMxfp4, 0.75f, ScaleRule::kRceil, -3, "0.75 = 1.5*2^-1: 1.5 <= 1.5"},
    {Format::kMxfp4, 3.4028235e38f, ScaleRule::kFloor, 125, "FLT_MAX: E=127, e=125"},
    {Format::kMxfp4, 3.4028235e38f, ScaleRule::kCeil, 126, "E+1-2 = 126"},
    {Format::kMxfp4, 3.4028235e38f, ScaleRule::kEven, 126,
     "FLT_MAX rounds up to 2^128 (bits 0x7F800000 read as exponent 128): e=126"},
    {Format::kMxfp4, 0x1p-126f, ScaleRule::kFloor, -127, "E=-126: -128 clamps to -127"},
    {Format::kMxfp4, 0x1p-120f, ScaleRule::kFloor, -122, "E=-120: -122, inside the range"},
    // A float-subnormal amax: every rule's exponent is below -127 and clamps.
    {Format::kMxfp4, 0x1p-140f, ScaleRule::kFloor, -127, "E=-140: clamps"},
    {Format::kMxfp4, 0x1p-140f, ScaleRule::kRceil, -127, "clamps"},
    {Format::kMxfp4, 0x1p-140f, ScaleRule::kCeil, -127, "clamps"},
    {Format::kMxfp4, 0x1p-140f, ScaleRule::kEven, -127,
     "bit rounding of a subnormal pattern gives 0: below every scale, clamps"},
    {Format::kMxfp4, 0x1.8p-127f, ScaleRule::kEven, -127, "subnormal, rounds to 2^-126 at most"},
    // E4M3 (mxfp8_e4m3), emax 8, m 448 = 1.75 * 2^8.
    {Format::kMxfp8E4M3, 448.0f, ScaleRule::kFloor, 0, "E(448)=8"},
    {Format::kMxfp8E4M3, 448.0f, ScaleRule::kRceil, 0, "1.75 <= 1.75"},
    {Format::kMxfp8E4M3, 448.0f, ScaleRule::kCeil, 1, "not a power of 2"},
    {Format::kMxfp8E4M3, 448.0f, ScaleRule::kEven, 0, "1.110b exact in 3 bits"},
    {Format::kMxfp8E4M3, 480.0f, ScaleRule::kFloor, 0, "E=8: 480 clips to 448"},
    {Format::kMxfp8E4M3, 480.0f, ScaleRule::kRceil, 1, "1.875 > 1.75"},
    {Format::kMxfp8E4M3, 480.0f, ScaleRule::kEven, 0, "1.111b exact in 3 bits: floor, clips"},
    {Format::kMxfp8E4M3, 500.0f, ScaleRule::kEven, 1, "1.953 rounds up to 2.0: E=9, e=1"},
    {Format::kMxfp8E4M3, 1.0f, ScaleRule::kCeil, -8, "power of 2: E - 8"},
    {Format::kMxfp8E4M3, 0x1p-140f, ScaleRule::kEven, -127, "subnormal: clamps"},
    // E5M2 (mxfp8_e5m2), emax 15, m 57344 = 1.75 * 2^15.
    {Format::kMxfp8E5M2, 1.0f, ScaleRule::kFloor, -15, "E(1)=0"},
    {Format::kMxfp8E5M2, 1.8f, ScaleRule::kFloor, -15, "E(1.8)=0"},
    {Format::kMxfp8E5M2, 1.8f, ScaleRule::kRceil, -14, "1.8 > 1.75"},
    {Format::kMxfp8E5M2, 1.75f, ScaleRule::kRceil, -15, "1.75 <= 1.75"},
    {Format::kMxfp8E5M2, 1.8f, ScaleRule::kCeil, -14, "ceil(log2 1.8)=1"},
    {Format::kMxfp8E5M2, 1.8f, ScaleRule::kEven, -15, "1.1100110..b: 2 bits round to 1.11b"},
    {Format::kMxfp8E5M2, 1.875f, ScaleRule::kEven, -14, "1.111b is the half: up to 2"},
    {Format::kMxfp8E5M2, 0x1p-140f, ScaleRule::kEven, -127, "subnormal: clamps"},
};

void PrintTo(const RuleCase& c, std::ostream* os) {
  *os << fp4train::format_name(c.format) << " " << rule_str(c.rule) << " amax " << fstr(c.amax);
}

class QuantizeScaleRuleTest : public ::testing::TestWithParam<RuleCase> {};

// A block [amax, amax/3, -amax/2, 0...] (and its negation): the scale byte is
// e + 127, the codes follow the reference.
TEST_P(QuantizeScaleRuleTest, HandComputedAmax) {
  const RuleCase& rc = GetParam();
  for (float sign : {1.0f, -1.0f}) {
    std::vector<float> x(32, 0.0f);
    x[3] = sign * rc.amax;
    x[10] = sign * rc.amax / 3;
    x[31] = -sign * rc.amax / 2;
    const QuantSpec s = make_spec(rc.format, rc.rule);
    const QTensor q = quant(x, {32}, 0, s);
    ASSERT_EQ(q.scales.size(), 1u);
    EXPECT_EQ(int(q.scales[0]), rc.e + 127)
        << fp4train::format_name(rc.format) << " rule " << rule_str(rc.rule) << " amax "
        << fstr(rc.amax) << ": " << rc.why;
    EXPECT_TRUE(matches_reference(x, {32}, 0, s, rc.why));
  }
}

INSTANTIATE_TEST_SUITE_P(Hand, QuantizeScaleRuleTest, ::testing::ValuesIn(kRuleCases),
                         [](const ::testing::TestParamInfo<RuleCase>& info) {
                           return std::string(fp4train::format_name(info.param.format)) + "_" +
                                  rule_str(info.param.rule) + "_" + std::to_string(info.index);
                         });

// Scale-rule properties on random data, for every MX element type: with
// v = |x| / X, floor keeps v < 2^(emax+1) (so E2M1 may clip values up to 8
// down to 6); rceil and ceil keep v <= m (never clip); and under floor the
// block maximum always has v >= 2^emax.
TEST(QuantizeScaleRuleTest, RandomBlocksBoundTheScaledMaximum) {
  for (Format f : {Format::kMxfp4, Format::kMxfp8E4M3, Format::kMxfp8E5M2}) {
    const RefFormat F = ref_format(f);
    for (Dist d : kAllDists) {
      const auto x = make_data(d, 64 * 32, 3 + uint64_t(d));
      for (ScaleRule rule : kAllRules) {
        const QTensor q = quant(x, {64, 32}, 1, make_spec(f, rule));
        for (int64_t r = 0; r < 64; ++r) {
          const double X = std::ldexp(1.0, int(q.scales[size_t(r)]) - 127);
          double vmax = 0;
          for (int l = 0; l < 32; ++l) vmax = std::max(vmax, std::fabs(double(x[size_t(r * 32 + l)])) / X);
          const std::string ctx = std::string(fp4train::format_name(f)) + " " + rule_str(rule) +
                                  " " + dist_str(d) + " row " + std::to_string(r);
          if (vmax == 0) continue;
          if (rule == ScaleRule::kFloor) {
            EXPECT_LT(vmax, std::ldexp(2.0, F.emax)) << ctx;
            EXPECT_GE(vmax, std::ldexp(1.0, F.emax)) << ctx;
          }
          if (rule == ScaleRule::kRceil) {
            EXPECT_LE(vmax, F.m) << ctx;
            EXPECT_GT(vmax, F.m / 2) << ctx;  // the smallest such power of two
          }
          if (rule == ScaleRule::kCeil) {
            EXPECT_LE(vmax, std::ldexp(1.0, F.emax)) << ctx;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Hand-computed blocks.

// Floor clips E2M1 values in (6, 8) to 6; rceil takes the next scale instead.
TEST(QuantizeMxBlockTest, FloorClipsUpTo8AndRceilNeverClips) {
  // amax 7.99: E=2, floor e=0 (X=1): 6.5, 7, 7.99 all clip to code 7 (6).
  std::vector<float> x(32, 0.0f);
  x[0] = 6.5f;
  x[1] = 7.0f;
  x[2] = -7.99f;
  x[3] = 1.0f;
  const QTensor fl = quant(x, {32}, 0, make_spec(Format::kMxfp4, ScaleRule::kFloor));
  EXPECT_EQ(fl.scales[0], 127);
  EXPECT_EQ(code_at(fl, 0, 0), 0x7u);
  EXPECT_EQ(code_at(fl, 0, 1), 0x7u);
  EXPECT_EQ(code_at(fl, 0, 2), 0xFu);  // -6
  EXPECT_EQ(code_at(fl, 0, 3), 0x2u);  // 1
  // rceil: 7.99 = 1.997*2^2 > 1.5*2^2, e=1 (X=2): 6.5/2=3.25 -> 3, 7/2=3.5 -> 4
  // (tie, even), 7.99/2=3.995 -> 4, 1/2 -> 0.5.
  const QTensor rc = quant(x, {32}, 0, make_spec(Format::kMxfp4, ScaleRule::kRceil));
  EXPECT_EQ(rc.scales[0], 128);
  const auto y = dequant(rc);
  EXPECT_EQ(y[0], 6.0f);
  EXPECT_EQ(y[1], 8.0f);
  EXPECT_EQ(y[2], -8.0f);
  EXPECT_EQ(y[3], 1.0f);
}

// Ties inside a block with X = 1 (amax 4): E2M1 ties of NUMERICS §1.
TEST(QuantizeMxBlockTest, TiesHalfToEvenAndAway) {
  const std::vector<float> ties = {4.0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, -2.5f};
  const std::vector<float> even = {4.0f, 0.0f, 1.0f, 1.0f, 2.0f, 2.0f, 4.0f, -2.0f};
  const std::vector<float> away = {4.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, -3.0f};
  std::vector<float> x(32, 0.0f);
  std::copy(ties.begin(), ties.end(), x.begin());
  const auto yn = fake(x, {32}, 0, make_spec(Format::kMxfp4));
  const auto ya = fake(x, {32}, 0, make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearestAway));
  for (size_t i = 0; i < ties.size(); ++i) {
    EXPECT_EQ(yn[i], even[i]) << "tie " << ties[i];
    EXPECT_EQ(ya[i], away[i]) << "tie " << ties[i];
  }
  // 5 is a tie only with X = 1 and amax in [4, 8): take amax 6.
  x[0] = 6.0f;
  x[1] = 5.0f;
  EXPECT_EQ(fake(x, {32}, 0, make_spec(Format::kMxfp4))[1], 4.0f);
  EXPECT_EQ(fake(x, {32}, 0, make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearestAway))[1],
            6.0f);
  // E4M3 with X = 1 (amax 448): 1.0625 is half way between 1 and 1.125.
  std::vector<float> z(32, 0.0f);
  z[0] = 448.0f;
  z[1] = 1.0625f;
  z[2] = 1.1875f;  // between 1.125 and 1.25: even mantissa is 1.25 (0b010)
  const auto zn = fake(z, {32}, 0, make_spec(Format::kMxfp8E4M3));
  EXPECT_EQ(zn[1], 1.0f);
  EXPECT_EQ(zn[2], 1.25f);
}

// NUMERICS §2.1: all-zero block (including -0): scale code 0 (2^-127),
// element codes +0, dequantizes to +0. The zero block next to a non-zero
// one does not affect it.
TEST(QuantizeMxBlockTest, AllZeroBlockIsScale0AndPositiveZeros) {
  for (Format f : {Format::kMxfp4, Format::kMxfp8E4M3, Format::kMxfp8E5M2}) {
    std::vector<float> x(64, 0.0f);
    for (int i = 0; i < 32; i += 3) x[size_t(i)] = -0.0f;
    x[40] = 1.0f;
    x[41] = -0.0f;  // -0 inside a non-zero block keeps its sign
    const QTensor q = quant(x, {64}, 0, make_spec(f));
    EXPECT_EQ(q.scales[0], 0) << fp4train::format_name(f);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(code_at(q, 0, i), 0u) << fp4train::format_name(f) << " " << i;
    const auto y = dequant(q);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(bits_of(y[size_t(i)]), 0u) << i;
    EXPECT_EQ(y[40], 1.0f);
    EXPECT_EQ(bits_of(y[41]), 0x80000000u);
  }
}

// Float32 subnormal inputs. mxfp4 block of amax 3 * 2^-128 (1.5 * 2^-127):
// E = -127, floor e = -129 clamps to -127 (X = 2^-127), so v = 1.5 exactly,
// code 3, and it dequantizes back to 3 * 2^-128. 2^-130 scales to 1/8: 0.
// mxfp8_e4m3 with amax 2^-130: e = -138 clamps to -127, v = 2^-3, code 0x20
// (exponent field -3 + 7 = 4), dequantized exactly.
TEST(QuantizeMxBlockTest, SubnormalInputsUseTheClampedScale) {
  std::vector<float> x(32, 0.0f);
  x[0] = 0x1.8p-127f;
  x[1] = -0x1p-130f;
  x[2] = 0x1p-127f;
  const QTensor q = quant(x, {32}, 0, make_spec(Format::kMxfp4));
  EXPECT_EQ(q.scales[0], 0);
  EXPECT_EQ(code_at(q, 0, 0), 3u);
  EXPECT_EQ(code_at(q, 0, 1), 8u);  // -0.125 rounds to -0
  EXPECT_EQ(code_at(q, 0, 2), 2u);  // 1
  const auto y = dequant(q);
  EXPECT_EQ(y[0], 0x1.8p-127f);
  EXPECT_EQ(bits_of(y[1]), 0x80000000u);
  EXPECT_EQ(y[2], 0x1p-127f);

  std::vector<float> z(32, 0.0f);
  z[5] = 0x1p-130f;
  z[6] = float_of(1);  // 2^-149 -> 2^-22, far below E4M3's 2^-9: 0
  const QTensor q8 = quant(z, {32}, 0, make_spec(Format::kMxfp8E4M3));
  EXPECT_EQ(q8.scales[0], 0);
  EXPECT_EQ(code_at(q8, 0, 5), 0x20u);
  EXPECT_EQ(code_at(q8, 0, 6), 0u);
  EXPECT_EQ(dequant(q8)[5], 0x1p-130f);
}

// A NaN or +-Inf anywhere in an MX or NVFP4 block: scale byte 0xFF (E8M0
// NaN) or 0x7F (E4M3 NaN), element codes 0, every element of that block
// dequantizes to NaN; the other blocks are exactly what they would be with
// the special value replaced by 0 (NVFP4's tensor amax ignores non-finite
// values, and 0 does not raise it).
TEST(QuantizeNaNTest, NaNOrInfBlockIsNaNOnlyThere) {
  for (Format f : {Format::kMxfp4, Format::kNvfp4, Format::kMxfp8E4M3, Format::kMxfp8E5M2}) {
    const int B = ref_format(f).block;
    const uint8_t nan_scale = ref_format(f).e8m0 ? 0xFF : 0x7F;
    for (float special : {kNaN, kInf, -kInf})
      for (int pos : {0, B / 2, B - 1})
        for (Rounding r : kAllRoundings) {
          const int64_t n = 3 * B + 5;  // 4 blocks, the last partial
          auto x = make_data(Dist::kGaussian, 2 * n, 8);
          auto clean = x;
          x[size_t(n + B + pos)] = special;  // row 1, block 1
          clean[size_t(n + B + pos)] = 0.0f;
          const QuantSpec s = make_spec(f, ScaleRule::kFloor, r, 1.0f, false, 5);
          const Case c(s, {2, n}, 1, "special=" + fstr(special) + " pos=" + std::to_string(pos));
          const QTensor q = quant(x, {2, n}, 1, s), qc = quant(clean, {2, n}, 1, s);
          ASSERT_EQ(scale_at(q, 1, 1), nan_scale) << c.str();
          const auto y = dequant(q), yc = dequant(qc);
          const auto fq = fake(x, {2, n}, 1, s);
          for (int64_t l = 0; l < n; ++l)
            for (int64_t row = 0; row < 2; ++row) {
              const size_t i = size_t(row * n + l);
              if (row == 1 && l / B == 1) {
                EXPECT_EQ(code_at(q, 1, l), 0u) << c.str() << " l=" << l;
                EXPECT_TRUE(is_nan(y[i])) << c.str() << " l=" << l << " got " << fstr(y[i]);
                EXPECT_TRUE(is_nan(fq[i])) << c.str() << " l=" << l;
              } else {
                EXPECT_EQ(code_at(q, row, l), code_at(qc, row, l)) << c.str() << " l=" << l;
                EXPECT_EQ(bits_of(y[i]), bits_of(yc[i])) << c.str() << " l=" << l;
                EXPECT_EQ(bits_of(fq[i]), bits_of(yc[i])) << c.str() << " l=" << l;
              }
            }
          for (int64_t b = 0; b < 4; ++b)
            for (int64_t row = 0; row < 2; ++row)
              if (!(row == 1 && b == 1)) {
                EXPECT_EQ(scale_at(q, row, b), scale_at(qc, row, b)) << c.str();
              }
          EXPECT_EQ(bits_of(q.tensor_scale), bits_of(qc.tensor_scale)) << c.str();
        }
  }
}

// A NaN in a 2-D tile makes the whole tile (all its rows) NaN.
TEST(QuantizeNaNTest, NaNInTileIsNaNForTheWholeTile) {
  for (Format f : {Format::kNvfp4, Format::kMxfp4}) {
    const int B = ref_format(f).block;
    auto x = make_data(Dist::kGaussian, 2 * B * 2 * B, 2);
    x[size_t((B + 3) * 2 * B + 1)] = kNaN;  // row B+3, col 1: tile (1, 0)
    const QTensor q = quant(x, {2 * B, 2 * B}, 1, make_spec(f, ScaleRule::kFloor, Rounding::kNearest, 1.0f, true));
    ASSERT_EQ(q.scales.size(), 4u);
    EXPECT_EQ(q.scales[2], ref_format(f).e8m0 ? 0xFF : 0x7F);
    const auto y = dequant(q);
    for (int r = 0; r < 2 * B; ++r)
      for (int c = 0; c < 2 * B; ++c) {
        const bool in_tile = r >= B && c < B;
        EXPECT_EQ(is_nan(y[size_t(r * 2 * B + c)]), in_tile) << "row " << r << " col " << c;
      }
  }
}

// Per-tensor FP8 and bf16: a NaN is NaN only in its own element; Inf stays
// Inf in E5M2 and bf16 and becomes NaN in E4M3; the tensor scale comes from
// the finite amax only.
TEST(QuantizeNaNTest, PerTensorFormatsAreElementwise) {
  std::vector<float> x = {1.0f, kNaN, -2.0f, kInf, -kInf, 4.0f, 0.5f};
  for (Format f : {Format::kFp8E4M3, Format::kFp8E5M2, Format::kBf16}) {
    const QTensor q = quant(x, {7}, 0, make_spec(f));
    const auto y = dequant(q);
    const bool e4m3 = f == Format::kFp8E4M3;
    if (f != Format::kBf16) {
      // s = m / 4: 448/4 = 112 or 57344/4 = 14336, so 4 -> m, 1 -> m/4.
      EXPECT_EQ(q.tensor_scale, float(ref_format(f).m / 4)) << fp4train::format_name(f);
    }
    EXPECT_EQ(y[0], 1.0f) << fp4train::format_name(f);
    EXPECT_TRUE(is_nan(y[1]));
    EXPECT_EQ(y[2], -2.0f);
    if (e4m3) {
      EXPECT_TRUE(is_nan(y[3]));
      EXPECT_TRUE(is_nan(y[4]));
      EXPECT_EQ(code_at(q, 0, 3), 0x7Fu);
    } else {
      EXPECT_EQ(y[3], kInf);
      EXPECT_EQ(y[4], -kInf);
    }
    EXPECT_EQ(y[5], 4.0f);
    EXPECT_EQ(y[6], 0.5f);
  }
}

// ---------------------------------------------------------------------------
// NVFP4 two-level scales, by hand (NUMERICS §2.2).
//
// Tensor amax 10.5 = 2688 / 256, so s_enc = 256 and s_dec = 2^-8 exactly.
// RN(1/6) = 11184811 * 2^-26, RN(256 * RN(1/6)) = 11184811 * 2^-18.
// Block 0 (amax 10.5): 10.5 * 11184811 * 2^-18 = 448 + 3.5 * 2^-18, which
//   rounds to 448 (float spacing at 448 is 2^-15): scale byte 0x7E (448).
//   enc = RN(1 / (448 * 2^-8)) = RN(4/7) = 0x1.24924ap-1 (a bit above 4/7).
//   10.5 * enc rounds to 6.0000005 > 6, clamped to 6: code 7; dequant
//   6 * 448 * 2^-8 = 10.5. 1.75 * enc = 1.0000000447, which rounds to 1.0
//   (half an ulp of 1 is 5.96e-8): code 2, dequant 1 * 448 / 256 = 1.75.
// Block 1 (amax 3/32): 3/32 * 11184811 * 2^-18 = 4 + 2^-23, rounds to 4:
//   scale byte 0x48 (exponent field 2 + 7 = 9, mantissa 0); enc = 1 /
//   (4 * 2^-8) = 64 exactly. 3/32 -> 6 (code 7); 1/32 -> 2 (code 4);
//   0.02 -> 1.28 -> 1.5 (code 3); 5/64 -> 5, a tie: 4 under nearest (code 6),
//   6 under nearest_away (code 7). Dequant: code * 4 * 2^-8.
TEST(QuantizeNvfp4Test, TwoLevelScaleHandExample) {
  std::vector<float> x(32, 0.0f);
  x[0] = 10.5f;
  x[1] = 1.75f;
  x[16] = 3.0f / 32;
  x[17] = 1.0f / 32;
  x[18] = 0.02f;
  x[19] = 5.0f / 64;
  x[20] = -1.0f / 32;
  for (Rounding r : {Rounding::kNearest, Rounding::kNearestAway}) {
    const QTensor q = quant(x, {32}, 0, make_spec(Format::kNvfp4, ScaleRule::kFloor, r));
    EXPECT_EQ(q.tensor_scale, 256.0f);
    ASSERT_EQ(q.scales.size(), 2u);
    EXPECT_EQ(q.scales[0], 0x7E);
    EXPECT_EQ(q.scales[1], 0x48);
    EXPECT_EQ(code_at(q, 0, 0), 7u);
    EXPECT_EQ(code_at(q, 0, 1), 2u);
    EXPECT_EQ(code_at(q, 0, 16), 7u);
    EXPECT_EQ(code_at(q, 0, 17), 4u);
    EXPECT_EQ(code_at(q, 0, 18), 3u);
    EXPECT_EQ(code_at(q, 0, 19), r == Rounding::kNearest ? 6u : 7u);
    EXPECT_EQ(code_at(q, 0, 20), 0xCu);  // -2
    const auto y = dequant(q);
    EXPECT_EQ(y[0], 10.5f);
    EXPECT_EQ(y[1], 1.75f);
    EXPECT_EQ(y[16], 6 * 4 / 256.0f);
    EXPECT_EQ(y[17], 2 * 4 / 256.0f);
    EXPECT_EQ(y[18], 1.5f * 4 / 256.0f);
    EXPECT_EQ(y[19], (r == Rounding::kNearest ? 4 : 6) * 4 / 256.0f);
    EXPECT_EQ(y[20], -2 * 4 / 256.0f);
    EXPECT_EQ(bits_of(y[2]), 0u);
  }
}

// s_enc falls back to 1 when the tensor amax is 0 (all zeros, or only NaN),
// or when 2688 / amax is not finite (a float-subnormal amax); every block
// then gets scale byte 0 and the tensor dequantizes to zeros.
TEST(QuantizeNvfp4Test, TensorScaleFallsBackTo1) {
  const std::vector<float> zeros(40, 0.0f);
  std::vector<float> tiny(40, 0x1p-140f);
  for (const auto& x : {zeros, tiny}) {
    const QTensor q = quant(x, {40}, 0, make_spec(Format::kNvfp4));
    EXPECT_EQ(q.tensor_scale, 1.0f);
    for (uint8_t s : q.scales) EXPECT_EQ(s, 0);
    for (float y : dequant(q)) EXPECT_EQ(y, 0.0f);
  }
  std::vector<float> nan_only(16, kNaN);
  const QTensor qn = quant(nan_only, {16}, 0, make_spec(Format::kNvfp4));
  EXPECT_EQ(qn.tensor_scale, 1.0f);
  EXPECT_EQ(qn.scales[0], 0x7F);
}

// NUMERICS §2.2: where enc overflows to +Inf, a zero element stays zero with
// its sign, and nonzero elements become +-Inf and clamp to +-6.
// Tensor amax 2^-110: s_enc = RN(2688 * 2^110) = 0x1.5p+121, s_dec =
// RN(1 / s_enc) = 0x1.861862p-122. Block 1 has amax 2^-127:
// RN(2^-127 * RN(s_enc * RN(1/6))) = 1.75 * 2^-9, half way between the E4M3
// subnormals 2^-9 (code 1) and 2^-8 (code 2): even, so S = 2^-8 (byte 0x02).
// S * s_dec = 0x1.86186p-130 and 1 / that overflows float32: enc = +Inf.
TEST(QuantizeNvfp4Test, ZeroStaysZeroWhereEncOverflows) {
  std::vector<float> x(32, 0.0f);
  x[0] = 0x1p-110f;
  x[16] = 0x1p-127f;
  x[17] = 0.0f;
  x[18] = -0.0f;
  x[19] = -0x1p-130f;
  x[20] = 0x1p-140f;
  const QTensor q = quant(x, {32}, 0, make_spec(Format::kNvfp4));
  EXPECT_EQ(bits_of(q.tensor_scale), bits_of(0x1.5p+121f));
  EXPECT_EQ(q.scales[1], 0x02);
  EXPECT_EQ(code_at(q, 0, 16), 7u);    // +Inf clamps to 6
  EXPECT_EQ(code_at(q, 0, 17), 0u);    // +0 stays +0
  EXPECT_EQ(code_at(q, 0, 18), 8u);    // -0 stays -0
  EXPECT_EQ(code_at(q, 0, 19), 0xFu);  // -Inf clamps to -6
  EXPECT_EQ(code_at(q, 0, 20), 7u);
  const auto y = dequant(q);
  const float s_dec = 0x1.861862p-122f;
  EXPECT_EQ(y[16], (6.0f * 0x1p-8f) * s_dec);
  EXPECT_EQ(bits_of(y[17]), 0x00000000u);
  EXPECT_EQ(bits_of(y[18]), 0x80000000u);
  EXPECT_EQ(y[19], -(6.0f * 0x1p-8f) * s_dec);
  EXPECT_TRUE(matches_reference(x, {32}, 0, make_spec(Format::kNvfp4)));
}

// ---------------------------------------------------------------------------
// Prescale 0.75 under the floor rule: the scaled block maximum is < 8, times
// 0.75 is < 6, so stochastic rounding always has a grid point above and
// never saturates; the mean over seeds is the input. Without the prescale
// the same block clips 7.99 to 6 for every seed.
TEST(QuantizePrescaleTest, StochasticWithPrescale075NeverClipsUnderFloor) {
  std::vector<float> x(32, 0.0f);
  x[0] = 7.99f;   // floor: e = 0, v = RN(7.99 * 0.75) = 5.9925 in (4, 6)
  x[1] = -7.5f;   // v = -5.625
  x[2] = 3.0f;    // v = 2.25 in (2, 3)
  const int seeds = 4096;
  double sum[3] = {0, 0, 0};
  for (int seed = 0; seed < seeds; ++seed) {
    const QuantSpec s = make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kStochastic, 0.75f,
                                  false, uint64_t(seed));
    const QTensor q = quant(x, {32}, 0, s);
    ASSERT_EQ(q.scales[0], 127);
    const auto y = dequant(q);
    // Decoded grid value times 0.75 must be a neighbour of v, never clamped.
    const float g0 = y[0] * 0.75f, g1 = y[1] * 0.75f, g2 = y[2] * 0.75f;
    ASSERT_TRUE(g0 == 4.0f || g0 == 6.0f) << "seed " << seed << " got " << fstr(y[0]);
    ASSERT_TRUE(g1 == -4.0f || g1 == -6.0f) << "seed " << seed << " got " << fstr(y[1]);
    ASSERT_TRUE(g2 == 2.0f || g2 == 3.0f) << "seed " << seed << " got " << fstr(y[2]);
    for (int i = 0; i < 3; ++i) sum[i] += y[size_t(i)];
    const QuantSpec s1 = make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kStochastic, 1.0f,
                                   false, uint64_t(seed));
    ASSERT_EQ(fake(x, {32}, 0, s1)[0], 6.0f) << "without prescale 7.99 always clips to 6";
  }
  // Unbiased: |mean - x| within 6 standard errors (per-sample std <= step/2 / 0.75).
  for (int i = 0; i < 3; ++i) {
    const double step = i == 2 ? 1.0 : 2.0;
    EXPECT_NEAR(sum[i] / seeds, x[size_t(i)], 6 * (step / 2 / 0.75) / std::sqrt(double(seeds)))
        << "element " << i;
  }
}

// Prescale divides back out: with X = 1 and p = 0.75, 4 -> v = 3 -> code 5,
// dequant 3 / 0.75 = 4; 1 -> 0.75 (tie of 0.5 and 1: even -> 1) -> 1/0.75.
TEST(QuantizePrescaleTest, DecodeDividesThePrescaleOut) {
  std::vector<float> x(32, 0.0f);
  x[0] = 4.0f;
  x[1] = 1.0f;
  const QTensor q = quant(x, {32}, 0, make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearest, 0.75f));
  EXPECT_EQ(q.scales[0], 127);
  EXPECT_EQ(code_at(q, 0, 0), 5u);
  EXPECT_EQ(code_at(q, 0, 1), 2u);
  const auto y = dequant(q);
  EXPECT_EQ(y[0], 4.0f);
  EXPECT_EQ(y[1], 1.0f / 0.75f);
}

// ---------------------------------------------------------------------------
// Partial blocks behave as if zero-padded; FP4 rows pad the last high nibble
// with 0; nibble order is low index in the low nibble.
TEST(QuantizeLayoutTest, PartialLastBlockActsZeroPadded) {
  for (Format f : {Format::kMxfp4, Format::kNvfp4, Format::kMxfp8E4M3, Format::kMxfp8E5M2}) {
    const int B = ref_format(f).block;
    for (int64_t n : awkward_lengths(B)) {
      const int64_t padded = (n + B - 1) / B * B;
      for (Rounding r : kAllRoundings) {
        const auto x = make_data(Dist::kOutliers, n, uint64_t(n) + 3);
        auto xp = x;
        xp.resize(size_t(padded), 0.0f);
        const QuantSpec s = make_spec(f, ScaleRule::kFloor, r, 1.0f, false, 21);
        const Case c(s, {n}, 0);
        const QTensor q = quant(x, {n}, 0, s), qp = quant(xp, {padded}, 0, s);
        ASSERT_EQ(q.layout.nblocks, padded / B) << c.str();
        EXPECT_TRUE(codes_equal(qp.scales, q.scales, c, "scales"));
        for (int64_t l = 0; l < n; ++l) ASSERT_EQ(code_at(q, 0, l), code_at(qp, 0, l)) << c.str();
        const auto y = dequant(q), yp = dequant(qp);
        for (int64_t l = 0; l < n; ++l) ASSERT_EQ(bits_of(y[size_t(l)]), bits_of(yp[size_t(l)])) << c.str();
        if (ref_format(f).elem->nbits == 4) {
          ASSERT_EQ(int64_t(q.codes.size()), (n + 1) / 2) << c.str();
          if (n % 2) {
            EXPECT_EQ(q.codes.back() >> 4, 0) << c.str() << ": padding nibble";
          }
        } else {
          ASSERT_EQ(int64_t(q.codes.size()), n) << c.str();
        }
      }
    }
  }
}

// [1, 6, 0.5] with amax 6 (X = 1): codes 2, 7, 1 -> bytes 0x72, 0x01.
TEST(QuantizeLayoutTest, NibbleOrderAndNbytes) {
  std::vector<float> x = {1.0f, 6.0f, 0.5f};
  const QTensor q = quant(x, {3}, 0, make_spec(Format::kMxfp4));
  ASSERT_EQ(q.codes.size(), 2u);
  EXPECT_EQ(q.codes[0], 0x72);
  EXPECT_EQ(q.codes[1], 0x01);
  // (3, 70) mxfp4: 35 bytes per row, 3 blocks per row: 105 + 9 bytes.
  const auto y = make_data(Dist::kGaussian, 210, 1);
  EXPECT_EQ(quant(y, {3, 70}, 1, make_spec(Format::kMxfp4)).nbytes(), 114);
  // nvfp4 (3, 70): 105 + 3 * 5 scale bytes + 4 (FP32 tensor scale).
  EXPECT_EQ(quant(y, {3, 70}, 1, make_spec(Format::kNvfp4)).nbytes(), 124);
  // bf16: 2 bytes per element, little-endian: 1.0 = 0x3F80.
  const QTensor qb = quant(x, {3}, 0, make_spec(Format::kBf16));
  ASSERT_EQ(qb.codes.size(), 6u);
  EXPECT_EQ(qb.codes[0], 0x80);
  EXPECT_EQ(qb.codes[1], 0x3F);
}

// Quantizing along axis k stores the array with axis k moved last (the other
// dims in C order): codes and scales equal those of the moved, contiguous
// array along its last axis (nearest rounding: the random index is the one
// thing that differs, and it is unused).
TEST(QuantizeLayoutTest, AxisMovedLastIsTheStorage) {
  const std::vector<int64_t> shape = {3, 4, 5, 33};
  const auto x = make_data(Dist::kHeavyTailed, numel(shape), 4);
  for (Format f : kAllFormats)
    for (int axis = 0; axis < 4; ++axis) {
      // moved: dims (others in order..., shape[axis])
      std::vector<int64_t> mshape;
      for (int d = 0; d < 4; ++d)
        if (d != axis) mshape.push_back(shape[size_t(d)]);
      mshape.push_back(shape[size_t(axis)]);
      std::vector<float> moved(x.size());
      int64_t idx[4];
      for (int64_t i = 0; i < int64_t(x.size()); ++i) {
        int64_t rem = i;
        for (int d = 3; d >= 0; --d) {
          idx[d] = rem % shape[size_t(d)];
          rem /= shape[size_t(d)];
        }
        int64_t j = 0;
        for (int d = 0; d < 4; ++d)
          if (d != axis) j = j * shape[size_t(d)] + idx[d];
        j = j * shape[size_t(axis)] + idx[axis];
        moved[size_t(j)] = x[size_t(i)];
      }
      const QuantSpec s = make_spec(f);
      const Case c(s, shape, axis);
      const QTensor q = quant(x, shape, axis, s), qm = quant(moved, mshape, 3, s);
      EXPECT_TRUE(codes_equal(qm.codes, q.codes, c, "packed codes"));
      EXPECT_TRUE(codes_equal(qm.scales, q.scales, c, "scales"));
    }
}

// 2-D tiles: one scale per block x block tile, shared by every row of the
// tile. mxfp4 32x32 zeros with x[31][0] = 6 and x[0][5] = 1: the tile amax is
// 6 (scale 127, X = 1), so x[0][5] is code 2; with 1-D blocks row 0 has
// amax 1 (scale 125, X = 1/4) and the same 1 is code 6 (4 * 1/4).
TEST(QuantizeTileTest, OneScalePerTile) {
  std::vector<float> x(32 * 32, 0.0f);
  x[31 * 32 + 0] = 6.0f;
  x[5] = 1.0f;
  const QTensor t = quant(x, {32, 32}, 1, make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearest, 1.0f, true));
  ASSERT_EQ(t.scales.size(), 1u);
  EXPECT_EQ(t.scales[0], 127);
  EXPECT_EQ(code_at(t, 0, 5), 2u);
  const QTensor b = quant(x, {32, 32}, 1, make_spec(Format::kMxfp4));
  EXPECT_EQ(scale_at(b, 0, 0), 125);
  EXPECT_EQ(code_at(b, 0, 5), 6u);
}

// The all-zero special case (codes +0) is per block, and with 2-D tiles the
// block is the whole tile: a row of -0 inside a tile whose amax is tiny but
// nonzero takes the general path and keeps -0 (code 8), while a tile of
// zeros only is codes +0 (NUMERICS §2.1, §2.2).
TEST(QuantizeTileTest, ZeroSpecialCaseIsPerTile) {
  std::vector<float> x(32 * 64, 0.0f);
  x[0] = 0x1p-140f;                                     // tile (0, 0): amax 2^-140, scale code 0
  for (int c = 0; c < 64; ++c) x[size_t(64 + c)] = -0.0f;  // row 1: -0 in tiles (0, 0) and (0, 1)
  const QuantSpec s = make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearest, 1.0f, true);
  const QTensor q = quant(x, {32, 64}, 1, s);
  ASSERT_EQ(q.scales.size(), 2u);
  EXPECT_EQ(q.scales[0], 0);  // 2^-140: every rule clamps to 2^-127
  EXPECT_EQ(q.scales[1], 0);  // all-zero tile
  for (int c = 0; c < 32; ++c) EXPECT_EQ(code_at(q, 1, c), 8u) << "col " << c;   // general path
  for (int c = 32; c < 64; ++c) EXPECT_EQ(code_at(q, 1, c), 0u) << "col " << c;  // zero tile
  const auto y = dequant(q);
  EXPECT_EQ(bits_of(y[64]), 0x80000000u);
  EXPECT_EQ(bits_of(y[64 + 40]), 0u);
  EXPECT_TRUE(matches_reference(x, {32, 64}, 1, s));
}

// x along axis 1 and x along axis 0 with 2-D tiles cover the same tiles: the
// scales are transposed, and so are the codes -- with stochastic rounding
// too, since the random word is indexed by the element's flat index in the
// logical array x either way. x.T (contiguous) along axis 0 has x's storage
// exactly, so under nearest rounding its codes and scales are identical to
// x along axis 1.
TEST(QuantizeTileTest, TransposedAxisGivesTransposedScalesAndCodes) {
  for (Format f : {Format::kNvfp4, Format::kMxfp4})
    for (Rounding r : kAllRoundings)
      for (const auto& dims : std::vector<std::pair<int64_t, int64_t>>{{16, 16}, {32, 32}, {48, 80}, {37, 53}}) {
        const int64_t R = dims.first, C = dims.second;
        const auto x = make_data(Dist::kOutliers, R * C, uint64_t(R * C));
        const QuantSpec s = make_spec(f, ScaleRule::kFloor, r, 1.0f, true, 31);
        const Case c(s, {R, C}, 1);
        const QTensor q1 = quant(x, {R, C}, 1, s), q0 = quant(x, {R, C}, 0, s);
        ASSERT_EQ(q1.layout.scale_rows, q0.layout.nblocks) << c.str();
        ASSERT_EQ(q1.layout.nblocks, q0.layout.scale_rows) << c.str();
        for (int64_t a = 0; a < q1.layout.scale_rows; ++a)
          for (int64_t b = 0; b < q1.layout.nblocks; ++b)
            ASSERT_EQ(q1.scales[size_t(a * q1.layout.nblocks + b)],
                      q0.scales[size_t(b * q0.layout.nblocks + a)]) << c.str() << " tile " << a << "," << b;
        for (int64_t i = 0; i < R; ++i)
          for (int64_t j = 0; j < C; ++j)
            ASSERT_EQ(code_at(q1, i, j), code_at(q0, j, i)) << c.str() << " at " << i << "," << j;
        EXPECT_TRUE(floats_bit_equal(fake(x, {R, C}, 1, s), fake(x, {R, C}, 0, s), c));

        if (r == Rounding::kStochastic) continue;  // x.T has other flat indices
        std::vector<float> xt(x.size());
        for (int64_t i = 0; i < R; ++i)
          for (int64_t j = 0; j < C; ++j) xt[size_t(j * R + i)] = x[size_t(i * C + j)];
        const QTensor qt = quant(xt, {C, R}, 0, s);
        EXPECT_TRUE(codes_equal(q1.codes, qt.codes, c, "x.T codes"));
        EXPECT_TRUE(codes_equal(q1.scales, qt.scales, c, "x.T scales"));
        const auto yt = fake(xt, {C, R}, 0, s), y1 = fake(x, {R, C}, 1, s);
        for (int64_t i = 0; i < R; ++i)
          for (int64_t j = 0; j < C; ++j)
            ASSERT_EQ(bits_of(y1[size_t(i * C + j)]), bits_of(yt[size_t(j * R + i)])) << c.str();
      }
}

// ---------------------------------------------------------------------------
// Errors: ArgumentError naming the argument.

template <class F>
::testing::AssertionResult throws_naming(F&& f, const std::string& arg) {
  try {
    f();
  } catch (const fp4train::ArgumentError& e) {
    if (std::string(e.what()).find("'" + arg + "'") != std::string::npos)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message does not name '" << arg << "': " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw something else: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

TEST(QuantizeErrorTest, BadPrescale) {
  const std::vector<float> x(64, 1.0f);
  std::vector<float> out(64);
  for (float p : {0.0f, -0.75f, kNaN, kInf, -kInf}) {
    const QuantSpec s = make_spec(Format::kMxfp4, ScaleRule::kFloor, Rounding::kNearest, p);
    EXPECT_TRUE(throws_naming([&] { quant(x, {64}, 0, s); }, "prescale")) << "p=" << p;
    EXPECT_TRUE(throws_naming([&] { fp4train::fake_quantize(x.data(), {64}, 0, s, out.data()); },
                              "prescale")) << "p=" << p;
  }
  for (Format f : {Format::kBf16, Format::kFp32}) {
    const QuantSpec s = make_spec(f, ScaleRule::kFloor, Rounding::kNearest, 0.75f);
    EXPECT_TRUE(throws_naming([&] { quant(x, {64}, 0, s); }, "prescale"));
  }
}

TEST(QuantizeErrorTest, Block2DNeedsA2DArrayAndABlockFormat) {
  const std::vector<float> x(2 * 16 * 16, 1.0f);
  const QuantSpec s = make_spec(Format::kNvfp4, ScaleRule::kFloor, Rounding::kNearest, 1.0f, true);
  EXPECT_TRUE(throws_naming([&] { quant(x, {2, 16, 16}, 2, s); }, "block_2d"));
  EXPECT_TRUE(throws_naming([&] { quant(x, {512}, 0, s); }, "block_2d"));
  std::vector<float> out(x.size());
  EXPECT_TRUE(throws_naming([&] { fp4train::fake_quantize(x.data(), {2, 16, 16}, 1, s, out.data()); },
                            "block_2d"));
  for (Format f : {Format::kFp8E4M3, Format::kBf16, Format::kFp32}) {
    const QuantSpec t = make_spec(f, ScaleRule::kFloor, Rounding::kNearest, 1.0f, true);
    EXPECT_TRUE(throws_naming([&] { quant(x, {32, 16}, 1, t); }, "block_2d"));
  }
}

TEST(QuantizeErrorTest, AxisOutOfRange) {
  const std::vector<float> x(64, 1.0f);
  for (int axis : {2, 3, -1, -3}) {
    EXPECT_TRUE(throws_naming([&] { quant(x, {4, 16}, axis, make_spec(Format::kMxfp4)); }, "axis"))
        << "axis " << axis;
    std::vector<float> out(64);
    EXPECT_TRUE(throws_naming(
        [&] { fp4train::fake_quantize(x.data(), {4, 16}, axis, make_spec(Format::kNvfp4), out.data()); },
        "axis")) << "axis " << axis;
  }
}

TEST(QuantizeErrorTest, DequantizeChecksBufferSizes) {
  const auto x = make_data(Dist::kGaussian, 64, 1);
  QTensor q = quant(x, {64}, 0, make_spec(Format::kMxfp4));
  std::vector<float> out(64);
  auto v = q.view();
  v.codes_size -= 1;
  EXPECT_TRUE(throws_naming([&] { fp4train::dequantize(v, out.data()); }, "q.codes"));
  v = q.view();
  v.scales_size += 1;
  EXPECT_TRUE(throws_naming([&] { fp4train::dequantize(v, out.data()); }, "q.scales"));
}

}  // namespace
