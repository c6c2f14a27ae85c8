// The SIMD quantizer paths against the scalar one, bit for bit.
//
// quantize / fake_quantize / dequantize dispatch on util/cpu_features.h
// active_isa(); the scalar kernels (quant/quant_kernels_ref.cc, built on
// element_codec.h) are the definition, and test_quantize.cc holds them to
// an independent transcription of NUMERICS §2. Here every other ISA this
// machine supports (set_isa) must give the same packed codes, scale bytes,
// tensor scale bits, fake-quantized and dequantized float bits (NaN bits
// included) as the scalar path, for every format x scale rule x rounding x
// prescale, on:
//   - random data of several distributions, N-D shapes along every axis,
//     2-D tiles on both axes, row lengths 1..70 and primes, misaligned row
//     starts, thread counts 1 and 2;
//   - dense sweeps of float bit patterns through each element codec at a
//     known block scale (ties, values one ulp either side of every midpoint,
//     saturation, float subnormals), NaN/Inf in every position of a block;
//   - tensors near the ends of the float range (NVFP4's enc overflowing for
//     amax ~1e-34, scales at their clamps), huge prescales (overflow to Inf);
//   - the row kernels directly at flat indices beyond 2^34, where Philox's
//     counter carries into its high word.
// A failure names the ISA, format, rule, rounding, prescale, seed, shape,
// axis, threads, the data, and the first/last differing index with both
// values in hex.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "formats/formats.h"
#include "quant/quant_kernels.h"
#include "quant/quantize.h"
#include "test_util.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace {

using namespace fp4test;
using fp4train::Isa;
using fp4train::QTensor;
using fp4train::QuantSpec;

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<Isa> simd_isas() {
  std::vector<Isa> v;
  for (Isa i : fp4train::supported_isas())
    if (i != Isa::kScalar) v.push_back(i);
  return v;
}

QuantSpec make_spec(Format f, ScaleRule rule, Rounding r, float p = 1.0f, bool b2 = false,
                    uint64_t seed = 0) {
  QuantSpec s;
  s.format = f;
  s.scale_rule = rule;
  s.rounding = r;
  s.prescale = p;
  s.block_2d = b2;
  s.seed = seed;
  return s;
}

bool is_mx(Format f) {
  return f == Format::kMxfp4 || f == Format::kMxfp8E4M3 || f == Format::kMxfp8E5M2;
}
bool scaled(Format f) { return f != Format::kBf16 && f != Format::kFp32; }
bool blocked(Format f) { return is_mx(f) || f == Format::kNvfp4; }

// Every spec: format x rule (MX only) x rounding x prescale (scaled formats).
std::vector<QuantSpec> all_specs(const std::vector<float>& prescales, uint64_t seed) {
  std::vector<QuantSpec> v;
  for (Format f : kAllFormats)
    for (ScaleRule rule : kAllRules) {
      if (!is_mx(f) && rule != ScaleRule::kFloor) continue;
      for (Rounding r : kAllRoundings)
        for (float p : prescales) {
          if (p != 1.0f && !scaled(f)) continue;
          v.push_back(make_spec(f, rule, r, p, false, seed));
        }
    }
  return v;
}

// Everything one path produces for one input.
struct Outputs {
  QTensor q;
  std::vector<float> fake, deq;
};

Outputs run_path(Isa isa, int threads, const float* x, const std::vector<int64_t>& shape,
                 int axis, const QuantSpec& s) {
  fp4train::set_isa(isa);
  fp4train::set_num_threads(threads);
  Outputs o;
  o.q = fp4train::quantize(x, shape, axis, s);
  o.fake.assign(size_t(numel(shape)), 12345.0f);
  fp4train::fake_quantize(x, shape, axis, s, o.fake.data());
  o.deq.assign(size_t(numel(shape)), 12345.0f);
  fp4train::dequantize(o.q.view(), o.deq.data());
  return o;
}

::testing::AssertionResult same_outputs(const Outputs& a, const Outputs& b, const Case& c) {
  auto r = codes_equal(a.q.codes, b.q.codes, c, "packed codes", a.q.layout.row_bytes);
  if (!r) return r;
  r = codes_equal(a.q.scales, b.q.scales, c, "scales", a.q.layout.nblocks);
  if (!r) return r;
  if (bits_of(a.q.tensor_scale) != bits_of(b.q.tensor_scale))
    return ::testing::AssertionFailure() << "tensor_scale: scalar " << fstr(a.q.tensor_scale)
                                         << ", got " << fstr(b.q.tensor_scale) << " [" << c.str()
                                         << "]";
  // NaN bits count too: every path writes the same quiet NaN.
  r = floats_bit_equal(a.fake, b.fake, c, "fake_quantize", /*nan_any=*/false);
  if (!r) return r;
  return floats_bit_equal(a.deq, b.deq, c, "dequantize", /*nan_any=*/false);
}

// Scalar path with 1 thread vs every SIMD path with 1 and 2 threads.
::testing::AssertionResult simd_matches_scalar(const std::vector<float>& x,
                                               const std::vector<int64_t>& shape, int axis,
                                               const QuantSpec& s, const std::string& what,
                                               int offset = 0) {
  // `offset` floats into an over-allocated buffer: misaligned row starts.
  std::vector<float> buf(x.size() + size_t(offset) + 1, 0.0f);
  std::copy(x.begin(), x.end(), buf.begin() + offset);
  const float* xp = buf.data() + offset;
  const Outputs ref = run_path(Isa::kScalar, 1, xp, shape, axis, s);
  for (Isa isa : simd_isas())
    for (int threads : {1, 2}) {
      const Outputs got = run_path(isa, threads, xp, shape, axis, s);
      const Case c(s, shape, axis,
                   std::string("isa=") + fp4train::isa_name(isa) + " threads=" +
                       std::to_string(threads) + " offset=" + std::to_string(offset) + " data=" +
                       what);
      auto r = same_outputs(ref, got, c);
      if (!r) return r;
    }
  return ::testing::AssertionSuccess();
}

class QuantizeSimdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (simd_isas().empty()) GTEST_SKIP() << "no SIMD path on this machine";
  }
  void TearDown() override {
    fp4train::reset_isa();
    fp4train::set_num_threads(0);
  }
};

// ---------------------------------------------------------------------------
// Random data.

TEST_F(QuantizeSimdTest, EveryFormatRuleRoundingPrescaleOnRandomData) {
  const std::vector<std::vector<int64_t>> shapes = {{3, 70}, {2, 3, 37}, {5, 131}};
  uint64_t seed = 11;
  for (const QuantSpec& s0 : all_specs({1.0f, 0.75f, 1.5f}, 0)) {
    for (Dist d : kAllDists)
      for (const auto& shape : shapes) {
        QuantSpec s = s0;
        s.seed = seed++ * 0x9E3779B97F4A7C15ull;  // high key word too
        const auto x = make_data(d, numel(shape), seed);
        for (int axis = 0; axis < int(shape.size()); ++axis)
          ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, dist_str(d)));
      }
  }
}

// Row lengths 1..70 and some primes, misaligned starts, strided and not.
TEST_F(QuantizeSimdTest, RowLengthsAndMisalignedStarts) {
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 70; ++n) lengths.push_back(n);
  for (int64_t n : {71, 97, 127, 131, 257, 521, 1031}) lengths.push_back(n);
  for (const QuantSpec& s0 : all_specs({1.0f, 0.75f}, 0)) {
    for (int64_t n : lengths) {
      QuantSpec s = s0;
      s.seed = uint64_t(n) * 77 + 3;
      const auto x = make_data(n % 2 ? Dist::kOutliers : Dist::kWide, 3 * n, uint64_t(n));
      const int offset = int(n % 4);
      ASSERT_TRUE(simd_matches_scalar(x, {3, n}, 1, s, "len", offset));
      if (n <= 40 || n % 64 == 1) {
        ASSERT_TRUE(simd_matches_scalar(x, {3, n}, 0, s, "len", offset));
      }
    }
  }
}

// 2-D tiles on both axes, shapes that are and are not whole tiles, and long
// rows (several pieces of the contiguous pipeline).
TEST_F(QuantizeSimdTest, Tiles2DAndLongRows) {
  // {1100, 70} along axis 0: strided rows in several pieces and two bands.
  const std::vector<std::vector<int64_t>> shapes = {{16, 16}, {33, 17}, {40, 56}, {37, 45},
                                                    {3, 1500}, {1100, 70}};
  uint64_t seed = 5;
  for (const QuantSpec& s0 : all_specs({1.0f, 0.75f}, 0)) {
    if (!blocked(s0.format)) continue;
    for (const auto& shape : shapes)
      for (Dist d : {Dist::kGaussian, Dist::kOutliers, Dist::kWide}) {
        QuantSpec s = s0;
        s.block_2d = true;
        s.seed = ++seed;
        const auto x = make_data(d, numel(shape), seed);
        for (int axis = 0; axis < 2; ++axis)
          ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, dist_str(d), int(seed % 3)));
        s.block_2d = false;
        for (int axis = 0; axis < 2; ++axis)
          ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, dist_str(d)));
      }
  }
}

// Enough rows for the thread split to matter, every axis.
TEST_F(QuantizeSimdTest, ThreadSplitsAndAxes) {
  for (const QuantSpec& s : all_specs({1.0f}, 4242)) {
    const std::vector<int64_t> shape = {6, 64, 70};
    const auto x = make_data(Dist::kHeavyTailed, numel(shape), 8);
    for (int axis = 0; axis < 3; ++axis) ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, "t3"));
  }
}

// ---------------------------------------------------------------------------
// Dense sweeps through the element codecs at a known block scale.
//
// Each row is one block: an anchor (the block maximum) fixing the scale,
// then sweep values. mxfp4 anchor 4: floor gives X = 1, so v = x (the other
// rules give X = 1 or 2: other ties). mxfp8_e4m3 anchor 256, e5m2 32768:
// X = 1. nvfp4: a tensor amax of 2688 gives s_enc = 1, and a block anchor
// of 6 gives the block scale byte 1.0, enc = 1. Per-tensor FP8: an element
// equal to the format maximum gives s = 1. bf16 has no scale.

struct SweepFormat {
  Format format;
  float anchor;  // block maximum (or tensor maximum) that makes the scale 1
  float top;     // sweep [0, top)
};

const SweepFormat kSweeps[] = {
    {Format::kMxfp4, 4.0f, 8.0f},           {Format::kNvfp4, 6.0f, 6.5f},
    {Format::kMxfp8E4M3, 256.0f, 512.0f},   {Format::kMxfp8E5M2, 32768.0f, 65536.0f},
    {Format::kFp8E4M3, 448.0f, 480.0f},     {Format::kFp8E5M2, 57344.0f, 61440.0f},
};

// Bit patterns 0 .. bits(top) with a prime stride, plus every grid midpoint
// of the format's value set and its float neighbours.
std::vector<float> sweep_values(float top, uint32_t stride) {
  std::vector<float> v;
  for (uint64_t u = 0; u < bits_of(top); u += stride) v.push_back(float_of(uint32_t(u)));
  for (const MiniFloat* f : {&kSpecE2M1, &kSpecE4M3, &kSpecE5M2}) {
    const auto& g = spec_grid(*f);
    for (size_t i = 0; i + 1 < g.size(); ++i) {
      const float mid = float(0.5 * (g[i].value + g[i + 1].value));
      for (float m : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, kInf), float(g[i].value),
                      std::nextafter(float(g[i].value), kInf)})
        if (m < top) v.push_back(m);
    }
  }
  return v;
}

// Rows of `block` elements: anchor first, then `block - 1` sweep values with
// alternating signs. Returns the shape.
std::vector<int64_t> sweep_tensor(const SweepFormat& sf, const std::vector<float>& vals,
                                  std::vector<float>& x) {
  const int block = sf.format == Format::kNvfp4 ? 16 : 32;
  const int64_t per = block - 1;
  const int64_t rows = int64_t(vals.size() + size_t(per) - 1) / per + 1;
  x.assign(size_t(rows * block), 0.0f);
  for (int64_t r = 0; r < rows; ++r) x[size_t(r * block)] = sf.anchor;
  for (size_t i = 0; i < vals.size(); ++i) {
    const int64_t r = int64_t(i) / per, c = 1 + int64_t(i) % per;
    x[size_t(r * block + c)] = (i % 2) ? -vals[i] : vals[i];
  }
  if (sf.format == Format::kNvfp4) x.back() = 2688.0f;  // tensor amax: s_enc = 1
  return {rows, block};
}

TEST_F(QuantizeSimdTest, CodecSweepsAtUnitScale) {
  for (const SweepFormat& sf : kSweeps) {
    const auto vals = sweep_values(sf.top, 1009);
    std::vector<float> x;
    const auto shape = sweep_tensor(sf, vals, x);
    for (ScaleRule rule : kAllRules) {
      if (!is_mx(sf.format) && rule != ScaleRule::kFloor) continue;
      for (Rounding r : kAllRoundings)
        for (float p : {1.0f, 0.75f}) {
          const QuantSpec s = make_spec(sf.format, rule, r, p, false, 0xC0FFEE);
          ASSERT_TRUE(simd_matches_scalar(x, shape, 1, s, "sweep"));
        }
    }
  }
}

// bf16: bit patterns over the whole float range (NaN, Inf, subnormals,
// values that round past the largest finite bf16), and the ties.
TEST_F(QuantizeSimdTest, Bf16SweepOverAllFloats) {
  std::vector<float> x;
  for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 4093) x.push_back(float_of(uint32_t(u)));
  for (uint32_t e : {0x00000000u, 0x00800000u, 0x3F800000u, 0x7F000000u, 0x7F7F0000u})
    for (uint32_t low : {0x7FFFu, 0x8000u, 0x8001u, 0x18000u, 0xFFFFu})
      for (uint32_t sign : {0u, 0x80000000u}) x.push_back(float_of(sign | (e + low)));
  for (float v : {kNaN, -kNaN, kInf, -kInf, 3.4028235e38f, -3.4028235e38f})
    x.push_back(v);
  for (Rounding r : kAllRoundings) {
    const QuantSpec s = make_spec(Format::kBf16, ScaleRule::kFloor, r, 1.0f, false, 99);
    ASSERT_TRUE(simd_matches_scalar(x, {int64_t(x.size())}, 0, s, "bf16 sweep"));
  }
}

// ---------------------------------------------------------------------------
// Edge cases.

// NaN / Inf in every position of a block (and of a 2-D tile), next to
// regular values, zeros, -0 and subnormals.
TEST_F(QuantizeSimdTest, NonFiniteInEveryBlockPosition) {
  const int64_t rows = 32, len = 96;
  std::vector<float> x = make_data(Dist::kGaussian, rows * len, 3);
  for (int64_t r = 0; r < rows; ++r) {
    const float special = r % 3 == 0 ? kNaN : (r % 3 == 1 ? kInf : -kInf);
    x[size_t(r * len + r)] = special;          // block 0 position r
    x[size_t(r * len + 32 + (31 - r))] = -0.0f;
    x[size_t(r * len + 64 + r % 7)] = float_of(0x00000003u);
  }
  for (const QuantSpec& s0 : all_specs({1.0f, 0.75f}, 21))
    for (bool b2 : {false, true}) {
      if (b2 && !blocked(s0.format)) continue;
      QuantSpec s = s0;
      s.block_2d = b2;
      for (int axis = 0; axis < 2; ++axis)
        ASSERT_TRUE(simd_matches_scalar(x, {rows, len}, axis, s, "nonfinite"));
    }
}

// Zeros: all-zero blocks and tiles (+0 and -0), blocks of -0 next to a
// tiny nonzero, zero tensors (s_enc = 1 fallback).
TEST_F(QuantizeSimdTest, ZerosAndSignedZeros) {
  const int64_t rows = 32, len = 64;
  std::vector<float> x(size_t(rows * len), 0.0f);
  for (int64_t i = 0; i < rows * len; ++i) x[size_t(i)] = (i % 3) ? -0.0f : 0.0f;
  for (const QuantSpec& s0 : all_specs({1.0f}, 1))
    for (bool b2 : {false, true}) {
      if (b2 && !blocked(s0.format)) continue;
      QuantSpec s = s0;
      s.block_2d = b2;
      ASSERT_TRUE(simd_matches_scalar(x, {rows, len}, 1, s, "all zero"));
      std::vector<float> y = x;
      y[5] = float_of(1);  // one tiny nonzero: its block/tile is not all-zero
      y[size_t(40 * 1 + 33)] = -float_of(0x00400000u);
      ASSERT_TRUE(simd_matches_scalar(y, {rows, len}, 1, s, "zeros + tiny"));
      ASSERT_TRUE(simd_matches_scalar(y, {rows, len}, 0, s, "zeros + tiny"));
    }
}

// Whole tensors at the ends of the float range: NVFP4's enc overflowing
// (amax ~1e-34 and below), E8M0 clamps, FP8's s not finite; float
// subnormal data; and values near FLT_MAX.
TEST_F(QuantizeSimdTest, TinyAndHugeTensors) {
  const std::vector<int64_t> shape = {8, 48};
  for (float scale : {0x1p-149f, 0x1p-140f, 0x1p-130f, 0x1p-126f, 0x1p-115f, 0x1p-112f,
                      0x1p-110f, 1e-34f, 0x1p-100f, 0x1p100f, 0x1p126f, 0x1p127f}) {
    for (Dist d : {Dist::kGaussian, Dist::kOutliers}) {
      auto x = make_data(d, numel(shape), 70 + uint64_t(d));
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = (i % 5 == 0) ? (i % 2 ? -0.0f : 0.0f) : x[i] * scale;
      for (const QuantSpec& s : all_specs({1.0f, 0.75f}, 5))
        for (int axis = 0; axis < 2; ++axis)
          ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, std::string(dist_str(d)) +
                                                                 " scale=" + fstr(scale)));
    }
  }
}

// Prescales far from 1: scaled values overflow to +-Inf (encoded as the
// codec says: E4M3 NaN, E5M2 Inf, E2M1 6) or underflow.
TEST_F(QuantizeSimdTest, ExtremePrescales) {
  const std::vector<int64_t> shape = {4, 64};
  const auto x = make_data(Dist::kWide, numel(shape), 31);
  for (const QuantSpec& s : all_specs({3e38f, 1e20f, 1e-20f, 1e-40f}, 77))
    for (int axis = 0; axis < 2; ++axis)
      ASSERT_TRUE(simd_matches_scalar(x, shape, axis, s, "prescale"));
}

// ---------------------------------------------------------------------------
// The row kernels directly: stochastic rounding at flat indices around
// 2^34 (Philox's low counter word wraps), contiguous and strided.

TEST_F(QuantizeSimdTest, KernelsAtHugeFlatIndices) {
  using namespace fp4train::quant_detail;
  const int64_t n = 200;
  const auto x = make_data(Dist::kGaussian, n, 1);
  for (Format f : {Format::kMxfp4, Format::kFp8E5M2, Format::kBf16}) {
    KernelParams p;
    p.format = f;
    p.elem = fp4train::format_traits(f).elem;
    p.block = fp4train::format_traits(f).block;
    p.rounding = Rounding::kStochastic;
    p.seed = 0x123456789ABCDEFull;
    p.tensor_scale = 1.5f;
    const int64_t nb = p.block ? (n + p.block - 1) / p.block : 0;
    for (FlatIndex idx : {FlatIndex{(int64_t(1) << 34) - 37, 1}, FlatIndex{(int64_t(1) << 34) - 3, 1},
                          FlatIndex{(int64_t(1) << 40) + 5, 1}, FlatIndex{(int64_t(1) << 34) - 1000, 7},
                          FlatIndex{3, (int64_t(1) << 31) + 1}}) {
      auto run = [&](const QuantKernels& k, std::vector<uint8_t>& codes, std::vector<float>& vals,
                     std::vector<uint8_t>& sc) {
        std::vector<uint32_t> amax(size_t(nb) + 16);
        std::vector<float> enc(size_t(nb) + 16), dec(size_t(nb) + 16);
        sc.assign(size_t(nb) + 16, 0);
        if (p.block) {
          k.block_amax(x.data(), n, p.block, false, amax.data());
          k.block_scales(p, amax.data(), nb, sc.data(), BlockAux{enc.data(), dec.data()});
        }
        codes.assign(size_t(2 * n), 0);
        vals.assign(size_t(n), 0.0f);
        k.encode(p, x.data(), n, sc.data(), BlockAux{enc.data(), dec.data()}, idx, codes.data(),
                 vals.data());
      };
      std::vector<uint8_t> c0, s0;
      std::vector<float> v0;
      run(quant_kernels_ref(), c0, v0, s0);
      for (Isa isa : simd_isas()) {
        std::vector<uint8_t> c1, s1;
        std::vector<float> v1;
        run(quant_kernels(isa), c1, v1, s1);
        Case c;
        c.format = fp4train::format_name(f);
        c.rounding = "stochastic";
        c.seed = p.seed;
        c.shape = {n};
        c.extra = std::string("isa=") + fp4train::isa_name(isa) + " first=" +
                  std::to_string(idx.first) + " step=" + std::to_string(idx.step);
        ASSERT_TRUE(codes_equal(c0, c1, c, "codes"));
        ASSERT_TRUE(codes_equal(s0, s1, c, "scales"));
        ASSERT_TRUE(floats_bit_equal(v0, v1, c, "values", false));
      }
    }
  }
}

// Fused Hadamard + quantize goes through the same pipeline with a transform
// applied per piece; a transform given without a run length is applied to
// whole rows. Both give the bits of transform-then-quantize on every ISA.
TEST_F(QuantizeSimdTest, RowTransformPiecesAndWholeRows) {
  const std::vector<int64_t> shape = {5, 2048};
  const auto x = make_data(Dist::kOutliers, numel(shape), 2);
  // A blockwise transform with run 64: reverse each run and double it.
  const fp4train::RowTransform t = [](float* row, int64_t len) {
    ASSERT_EQ(len % 64, 0);
    for (int64_t b = 0; b < len; b += 64)
      for (int i = 0; i < 32; ++i) {
        const float a = row[b + i], c = row[b + 63 - i];
        row[b + i] = c * 2.0f;
        row[b + 63 - i] = a * 2.0f;
      }
  };
  std::vector<float> tx(x);
  for (int64_t r = 0; r < shape[0]; ++r) t(tx.data() + r * shape[1], shape[1]);
  for (const QuantSpec& s : all_specs({1.0f}, 9)) {
    for (Isa isa : fp4train::supported_isas()) {
      fp4train::set_isa(isa);
      const QTensor want = fp4train::quantize(tx.data(), shape, 1, s);
      for (int64_t run : {int64_t(0), int64_t(64)}) {
        const QTensor got = fp4train::quantize(x.data(), shape, 1, s, &t, run);
        const Case c(s, shape, 1, std::string("isa=") + fp4train::isa_name(isa) + " run=" +
                                      std::to_string(run));
        ASSERT_TRUE(codes_equal(want.codes, got.codes, c, "codes", want.layout.row_bytes));
        ASSERT_TRUE(codes_equal(want.scales, got.scales, c, "scales"));
        ASSERT_EQ(bits_of(want.tensor_scale), bits_of(got.tensor_scale)) << c.str();
        std::vector<float> f1(x.size()), f2(x.size());
        fp4train::fake_quantize(tx.data(), shape, 1, s, f1.data());
        fp4train::fake_quantize(x.data(), shape, 1, s, f2.data(), &t, run);
        ASSERT_TRUE(floats_bit_equal(f1, f2, c, "fake_quantize", false));
      }
    }
  }
}

// quantize_into reuses storage without clearing it: a QTensor whose bytes
// are garbage (0xAB) and whose sizes match, or do not, gets exactly
// quantize()'s bytes (odd FP4 rows: the pad nibble is written as 0).
TEST_F(QuantizeSimdTest, QuantizeIntoOverwritesReusedStorage) {
  for (Isa isa : fp4train::supported_isas()) {
    fp4train::set_isa(isa);
    QTensor q;
    for (const QuantSpec& s : all_specs({1.0f}, 3))
      for (const std::vector<int64_t>& shape : {std::vector<int64_t>{7, 33}, {4, 64}, {33, 17}}) {
        const auto x = make_data(Dist::kOutliers, numel(shape), 6);
        for (int axis = 0; axis < 2; ++axis) {
          std::fill(q.codes.begin(), q.codes.end(), uint8_t(0xAB));
          std::fill(q.scales.begin(), q.scales.end(), uint8_t(0xAB));
          fp4train::quantize_into(q, x.data(), shape, axis, s);
          const QTensor want = fp4train::quantize(x.data(), shape, axis, s);
          const Case c(s, shape, axis, std::string("isa=") + fp4train::isa_name(isa));
          ASSERT_TRUE(codes_equal(want.codes, q.codes, c, "codes", want.layout.row_bytes));
          ASSERT_TRUE(codes_equal(want.scales, q.scales, c, "scales"));
          ASSERT_EQ(bits_of(want.tensor_scale), bits_of(q.tensor_scale)) << c.str();
          ASSERT_EQ(want.layout.shape, q.layout.shape) << c.str();
          ASSERT_EQ(want.layout.axis, q.layout.axis) << c.str();
        }
      }
  }
}

// The active ISA is what the kernels report (the dispatch table follows set_isa).
TEST_F(QuantizeSimdTest, DispatchFollowsActiveIsa) {
  for (Isa isa : fp4train::supported_isas()) {
    fp4train::set_isa(isa);
    EXPECT_STREQ(fp4train::quant_detail::quant_kernels(fp4train::active_isa()).name,
                 fp4train::isa_name(isa));
  }
}

}  // namespace
