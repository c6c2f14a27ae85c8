// Tests of csrc/hadamard: the blockwise FWHT against an explicit Sylvester
// product in double, every SIMD path against fwht_ref bit for bit, the fused
// transform+quantize against transform-then-quantize bit for bit, sign
// vectors, thread-count independence, errors and non-finite inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "formats/formats.h"
#include "hadamard/fwht.h"
#include "hadamard/hadamard.h"
#include "quant/quantize.h"
#include "util/check.h"
#include "util/counter_rng.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace fp4train {
namespace {

std::vector<int> all_sizes() {
  std::vector<int> s;
  for (int n = kMinHadamardSize; n <= kMaxHadamardSize; n *= 2) s.push_back(n);
  return s;
}

int log2i(int n) {
  int k = 0;
  while ((1 << k) < n) ++k;
  return k;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string hex(float f) {
  std::ostringstream os;
  os << f << " (0x" << std::hex << bits_of(f) << ")";
  return os.str();
}

// Bit equality, except that any NaN equals any NaN (fwht.h leaves NaN bits open).
bool same_bits(float a, float b) { return (a != a && b != b) || bits_of(a) == bits_of(b); }

// Index of the first bit mismatch, or -1.
int64_t first_mismatch(const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!same_bits(a[i], b[i])) return i;
  return -1;
}

std::vector<float> normal(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> random_signs(int n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<float> s(static_cast<size_t>(n));
  for (auto& x : s) x = (g() & 1) ? -1.0f : 1.0f;
  return s;
}

// Values over the whole float32 range: random sign, exponent and mantissa,
// with subnormals, zeros of both signs, FLT_MAX and (optionally) Inf/NaN.
std::vector<float> wild(int64_t n, uint32_t seed, bool specials) {
  std::mt19937 g(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    const uint32_t r = g();
    uint32_t e = g() % 256;
    if (!specials && e == 255) e = 254;
    uint32_t u = (r & 0x807FFFFFu) | (e << 23);
    const uint32_t pick = g() % 64;
    if (pick == 0) u = r & 0x80000000u;                         // +-0
    if (pick == 1) u = (r & 0x80000000u) | 1u;                  // smallest subnormal
    if (pick == 2) u = (r & 0x80000000u) | 0x7F7FFFFFu;         // +-FLT_MAX
    if (pick == 3 && specials) u = (r & 0x80000000u) | 0x7F800000u;  // +-Inf
    std::memcpy(&x, &u, 4);
  }
  return v;
}

// y_i of one run by the explicit Sylvester product in double:
// H[j][i] = (-1)^popcount(i & j) / sqrt(n); y = (x ⊙ s) H.
double sylvester_out(const float* x, const float* s, int n, int i) {
  double acc = 0.0;
  for (int j = 0; j < n; ++j) {
    const double v = double(x[j]) * (s ? double(s[j]) : 1.0);
    acc += (__builtin_popcount(unsigned(i & j)) & 1) ? -v : v;
  }
  return acc / std::sqrt(double(n));
}

// Norm-wise error bound of the float32 butterflies plus the final scaling,
// taken elementwise: |y_i - y_exact_i| <= (log2 n + 1) * 2^-23 * ||x||_2
// (twice the first-order bound (log2 n + 1) * u * ||x||_2, u = 2^-24).
double tolerance(const float* x, int n) {
  double ss = 0.0;
  for (int j = 0; j < n; ++j) ss += double(x[j]) * double(x[j]);
  return (log2i(n) + 1) * std::ldexp(1.0, -23) * std::sqrt(ss);
}

struct IsaGuard {
  ~IsaGuard() { reset_isa(); }
};
struct ThreadGuard {
  ~ThreadGuard() { set_num_threads(0); }
};

// ---------------------------------------------------------------------------

TEST(HadamardScale, IsCorrectlyRounded) {
  for (int n : all_sizes()) {
    const float f = hadamard_scale(n);
    const int k = log2i(n);
    if (k % 2 == 0) {
      EXPECT_EQ(f, std::ldexp(1.0f, -k / 2)) << "n=" << n;
      continue;
    }
    // f = RN(1/sqrt(n)) iff the float32 midpoints around f bracket it:
    // lo^2 * n < 1 < hi^2 * n, exact in double (midpoints have 25 bits).
    const double lo = (double(f) + double(std::nextafter(f, 0.0f))) / 2;
    const double hi = (double(f) + double(std::nextafter(f, 1.0f))) / 2;
    EXPECT_LT(lo * lo * n, 1.0) << "n=" << n << " scale=" << hex(f);
    EXPECT_GT(hi * hi * n, 1.0) << "n=" << n << " scale=" << hex(f);
  }
}

// Every size, through the public N-D entry (dispatched fast path) and the
// reference, against the explicit product. Sizes above 4096 check a sample
// of outputs (each O(n)) to keep the O(n^2) product affordable.
TEST(HadamardTransform, MatchesSylvesterProductInDouble) {
  for (int n : all_sizes()) {
    for (bool with_signs : {false, true}) {
      const int runs = n <= 256 ? 3 : 1;
      const int64_t len = int64_t(n) * runs;
      const std::vector<float> x = normal(len * 2, 100 + n);  // shape (2, len)
      const std::vector<float> s = random_signs(n, 7 + n);
      const float* sp = with_signs ? s.data() : nullptr;
      std::vector<float> y(x.size()), yr(x);
      hadamard(x.data(), {2, len}, 1, n, sp, y.data());
      for (int r = 0; r < 2; ++r) fwht_ref(yr.data() + r * len, len, n, sp, false);
      const int64_t mm = first_mismatch(y.data(), yr.data(), int64_t(x.size()));
      ASSERT_EQ(mm, -1) << "n=" << n << " isa=" << isa_name(active_isa()) << " at " << mm;
      std::mt19937 g(n);
      for (int64_t b = 0; b < 2 * runs; ++b) {
        const float* xb = x.data() + b * n;
        const double tol = tolerance(xb, n);
        const int checks = n <= 4096 ? n : 64;
        for (int c = 0; c < checks; ++c) {
          const int i = n <= 4096 ? c : int(g() % uint32_t(n));
          const double want = sylvester_out(xb, sp, n, i);
          ASSERT_NEAR(double(y[size_t(b * n + i)]), want, tol)
              << "n=" << n << " run=" << b << " i=" << i << " signs=" << with_signs;
        }
      }
    }
  }
}

TEST(HadamardTransform, InverseMatchesSylvesterProduct) {
  for (int n : {2, 16, 128, 256, 2048}) {
    const std::vector<float> y = normal(n, 3 + n);
    const std::vector<float> s = random_signs(n, 11 + n);
    std::vector<float> x(y.size());
    hadamard_inverse(y.data(), {int64_t(n)}, 0, n, s.data(), x.data());
    const double tol = tolerance(y.data(), n);
    for (int i = 0; i < n; ++i) {
      // (y H) ⊙ s: H is symmetric, so y H is the unsigned forward product.
      const double want = sylvester_out(y.data(), nullptr, n, i) * s[size_t(i)];
      ASSERT_NEAR(double(x[size_t(i)]), want, tol) << "n=" << n << " i=" << i;
    }
  }
}

// inverse(forward(x)) == x within the rounding of both transforms; and
// exactly for small integers when log2 n is even (every step exact).
TEST(HadamardTransform, InverseUndoesForward) {
  for (int n : all_sizes()) {
    const int64_t len = std::max<int64_t>(n, 512);
    const std::vector<float> x = normal(len, 5 + n, 3.0f);
    const std::vector<float> s = random_signs(n, 9 + n);
    std::vector<float> y(x.size()), z(x.size());
    hadamard(x.data(), {len}, 0, n, s, y.data());
    hadamard_inverse(y.data(), {len}, 0, n, s, z.data());
    for (int64_t b = 0; b < len / n; ++b) {
      const double tol = 2.0 * tolerance(x.data() + b * n, n);
      for (int i = 0; i < n; ++i)
        ASSERT_NEAR(z[size_t(b * n + i)], x[size_t(b * n + i)], tol) << "n=" << n << " i=" << i;
    }
    if (log2i(n) % 2 == 0 && n <= 4096) {
      std::vector<float> xi(static_cast<size_t>(len));
      std::mt19937 g(n);
      for (auto& v : xi) v = float(int(g() % 33) - 16);
      hadamard(xi.data(), {len}, 0, n, s, y.data());
      hadamard_inverse(y.data(), {len}, 0, n, s, z.data());
      // Values, not bits: a zero can come back as -0 (0 * -1).
      for (int64_t i = 0; i < len; ++i)
        ASSERT_EQ(z[size_t(i)], xi[size_t(i)]) << "n=" << n << " i=" << i;
    }
  }
}

// Norm preservation: ||H x|| == ||x|| up to rounding, per run.
TEST(HadamardTransform, PreservesNorm) {
  for (int n : {2, 8, 64, 256, 32768}) {
    const int64_t len = std::max<int64_t>(n, 1024);
    const std::vector<float> x = normal(len, 21 + n);
    std::vector<float> y(x.size());
    hadamard(x.data(), {len}, 0, n, random_signs(n, 1), y.data());
    for (int64_t b = 0; b < len / n; ++b) {
      double nx = 0, ny = 0;
      for (int i = 0; i < n; ++i) {
        nx += double(x[size_t(b * n + i)]) * x[size_t(b * n + i)];
        ny += double(y[size_t(b * n + i)]) * y[size_t(b * n + i)];
      }
      EXPECT_NEAR(std::sqrt(ny), std::sqrt(nx), tolerance(x.data() + b * n, n))
          << "n=" << n;
    }
  }
}

// Along any axis the result is the row transform of the elements along that
// axis, bit for bit (the strided gather must not change the arithmetic).
TEST(HadamardTransform, AnyAxisEqualsRowTransform) {
  struct Case {
    std::vector<int64_t> shape;
    int axis, n;
  };
  const std::vector<Case> cases = {
      {{4, 64, 6}, 0, 2},   {{4, 64, 6}, 0, 4},   {{4, 64, 6}, 1, 16},  {{4, 64, 6}, 1, 64},
      {{4, 64, 6}, 2, 2},   {{256, 3, 5}, 0, 256}, {{3, 5, 128}, 2, 32}, {{7, 32, 17}, 1, 32},
      {{2, 1024, 33}, 1, 1024}, {{64, 40}, 0, 64}, {{16, 16}, 0, 8},
  };
  for (const Case& c : cases) {
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < int(c.shape.size()); ++d) {
      if (d < c.axis) outer *= c.shape[size_t(d)];
      if (d > c.axis) inner *= c.shape[size_t(d)];
    }
    const int64_t L = c.shape[size_t(c.axis)], numel = outer * L * inner;
    const std::vector<float> x = normal(numel, uint32_t(numel + c.n));
    const std::vector<float> s = random_signs(c.n, uint32_t(c.n));
    for (bool inverse : {false, true}) {
      std::vector<float> want(x.size()), got(x.size()), row(static_cast<size_t>(L));
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          for (int64_t l = 0; l < L; ++l) row[size_t(l)] = x[size_t((o * L + l) * inner + i)];
          fwht_ref(row.data(), L, c.n, s.data(), inverse);
          for (int64_t l = 0; l < L; ++l) want[size_t((o * L + l) * inner + i)] = row[size_t(l)];
        }
      std::ostringstream id;
      id << "shape=(";
      for (auto d : c.shape) id << d << ",";
      id << ") axis=" << c.axis << " n=" << c.n << " inverse=" << inverse
         << " isa=" << isa_name(active_isa());
      if (inverse)
        hadamard_inverse(x.data(), c.shape, c.axis, c.n, s, got.data());
      else
        hadamard(x.data(), c.shape, c.axis, c.n, s, got.data());
      int64_t mm = first_mismatch(got.data(), want.data(), numel);
      ASSERT_EQ(mm, -1) << id.str() << " at " << mm;
      // In place gives the same bits.
      std::vector<float> inplace(x);
      if (inverse)
        hadamard_inverse(inplace.data(), c.shape, c.axis, c.n, s, inplace.data());
      else
        hadamard(inplace.data(), c.shape, c.axis, c.n, s, inplace.data());
      mm = first_mismatch(inplace.data(), want.data(), numel);
      ASSERT_EQ(mm, -1) << id.str() << " in place, at " << mm;
    }
  }
}

// Every SIMD path equals fwht_ref bit for bit: every size, lengths with
// tails for the small sizes, misaligned rows, the whole float32 range
// (subnormals, overflow to Inf, Inf and NaN inputs), with and without signs,
// forward and inverse.
TEST(HadamardFastPath, BitIdenticalToReferenceOnEveryIsa) {
  IsaGuard guard;
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int n : all_sizes()) {
      std::vector<int64_t> lengths;
      if (n <= 32) {
        for (int k = 1; k <= 9; ++k) lengths.push_back(int64_t(n) * k);
      } else {
        lengths = {int64_t(n), int64_t(n) * (n <= 4096 ? 3 : 1)};
      }
      for (int64_t len : lengths) {
        for (int data = 0; data < 3; ++data) {
          for (int variant = 0; variant < 4; ++variant) {
            const bool with_signs = variant & 1, inverse = variant & 2;
            const uint32_t seed = uint32_t(n * 131 + len * 7 + data * 3 + variant);
            std::vector<float> x = data == 0   ? normal(len, seed)
                                   : data == 1 ? wild(len, seed, false)
                                               : wild(len, seed, true);
            const std::vector<float> s = random_signs(n, seed);
            const float* sp = with_signs ? s.data() : nullptr;
            // Misaligned: one float past an allocation's start.
            std::vector<float> buf(size_t(len) + 1);
            std::copy(x.begin(), x.end(), buf.begin() + 1);
            fwht(buf.data() + 1, len, n, sp, inverse);
            std::vector<float> want(x);
            fwht_ref(want.data(), len, n, sp, inverse);
            const int64_t mm = first_mismatch(buf.data() + 1, want.data(), len);
            ASSERT_EQ(mm, -1) << "isa=" << isa_name(isa) << " n=" << n << " length=" << len
                              << " data=" << data << " signs=" << with_signs
                              << " inverse=" << inverse << " at " << mm << ": ref "
                              << hex(want[size_t(std::max<int64_t>(mm, 0))]) << " fast "
                              << hex(buf[size_t(std::max<int64_t>(mm, 0)) + 1]);
          }
        }
      }
    }
  }
}

// The strided-axis path (fwht_columns) equals fwht_ref per column, bit for
// bit, on the whole float32 range, with partial column tiles and in place.
TEST(HadamardColumns, BitIdenticalToReferenceOnWildData) {
  struct Case {
    int64_t length, inner;
    int n;
  };
  const std::vector<Case> cases = {{16, 2500, 16}, {64, 300, 2},  {256, 70, 256}, {512, 17, 64},
                                   {4096, 5, 4096}, {32768, 3, 32768}, {96, 1025, 32}};
  for (const Case& c : cases) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool with_signs = variant & 1, inverse = variant & 2;
      const std::vector<int64_t> shape{2, c.length, c.inner};
      const int64_t numel = 2 * c.length * c.inner;
      const std::vector<float> x = wild(numel, uint32_t(c.n + variant), true);
      const std::vector<float> s = random_signs(c.n, uint32_t(c.n));
      const float* sp = with_signs ? s.data() : nullptr;
      std::vector<float> want(x.size()), row(static_cast<size_t>(c.length));
      for (int64_t o = 0; o < 2; ++o)
        for (int64_t i = 0; i < c.inner; ++i) {
          for (int64_t l = 0; l < c.length; ++l)
            row[size_t(l)] = x[size_t((o * c.length + l) * c.inner + i)];
          fwht_ref(row.data(), c.length, c.n, sp, inverse);
          for (int64_t l = 0; l < c.length; ++l)
            want[size_t((o * c.length + l) * c.inner + i)] = row[size_t(l)];
        }
      std::vector<float> got(x.size()), inplace(x);
      if (inverse) {
        hadamard_inverse(x.data(), shape, 1, c.n, sp, got.data());
        hadamard_inverse(inplace.data(), shape, 1, c.n, sp, inplace.data());
      } else {
        hadamard(x.data(), shape, 1, c.n, sp, got.data());
        hadamard(inplace.data(), shape, 1, c.n, sp, inplace.data());
      }
      const std::string id = "length=" + std::to_string(c.length) + " inner=" +
                             std::to_string(c.inner) + " n=" + std::to_string(c.n) +
                             " signs=" + std::to_string(with_signs) +
                             " inverse=" + std::to_string(inverse);
      int64_t mm = first_mismatch(got.data(), want.data(), numel);
      ASSERT_EQ(mm, -1) << id << " at " << mm;
      mm = first_mismatch(inplace.data(), want.data(), numel);
      ASSERT_EQ(mm, -1) << id << " in place, at " << mm;
    }
  }
}

// ---------------------------------------------------------------------------
// Fused transform + quantize == transform, then quantize, bit for bit.

struct QuantCase {
  Format format;
  Rounding rounding;
  ScaleRule rule;
  float prescale;
  bool block_2d;
};

std::string describe(const QuantCase& c, int n, int axis, Isa isa) {
  std::ostringstream os;
  os << format_name(c.format) << " " << rounding_name(c.rounding) << " "
     << scale_rule_name(c.rule) << " p=" << c.prescale << (c.block_2d ? " 2d" : "") << " H" << n
     << " axis=" << axis << " isa=" << isa_name(isa);
  return os.str();
}

std::vector<QuantCase> quant_cases() {
  std::vector<QuantCase> out;
  for (int f = 0; f < kNumFormats; ++f) {
    const Format fmt = Format(f);
    for (Rounding r : {Rounding::kNearest, Rounding::kNearestAway, Rounding::kStochastic}) {
      out.push_back({fmt, r, ScaleRule::kFloor, 1.0f, false});
      if (!is_block_quantized(fmt)) continue;
      out.push_back({fmt, r, ScaleRule::kRceil, 0.75f, false});
      if (has_block_scales(fmt) && r != Rounding::kNearestAway)
        out.push_back({fmt, r, ScaleRule::kEven, 1.0f, true});
    }
  }
  return out;
}

void expect_same_qtensor(const QTensor& a, const QTensor& b, const std::string& id) {
  ASSERT_EQ(a.codes.size(), b.codes.size()) << id;
  ASSERT_EQ(a.scales.size(), b.scales.size()) << id;
  for (size_t i = 0; i < a.codes.size(); ++i)
    ASSERT_EQ(int(a.codes[i]), int(b.codes[i])) << id << " codes byte " << i;
  for (size_t i = 0; i < a.scales.size(); ++i)
    ASSERT_EQ(int(a.scales[i]), int(b.scales[i])) << id << " scale byte " << i;
  ASSERT_EQ(bits_of(a.tensor_scale), bits_of(b.tensor_scale)) << id << " tensor scale";
}

TEST(HadamardFused, EqualsTransformThenQuantizeForEveryFormatAndRounding) {
  // An outlier column and a NaN-free heavy tail: scales differ block to block.
  const std::vector<int64_t> shape{48, 128};
  std::vector<float> x = normal(48 * 128, 77);
  for (int64_t r = 0; r < 48; ++r) x[size_t(r * 128 + 5)] *= 40.0f;
  const Isa isa = active_isa();
  for (const QuantCase& c : quant_cases()) {
    QuantSpec spec;
    spec.format = c.format;
    spec.rounding = c.rounding;
    spec.scale_rule = c.rule;
    spec.prescale = c.prescale;
    spec.block_2d = c.block_2d;
    spec.seed = 1234567;
    for (int n : {16, 32, 64}) {
      for (int axis : {1, 0}) {
        if (shape[size_t(axis)] % n) continue;
        const std::string id = describe(c, n, axis, isa);
        const std::vector<float> s = random_signs(n, uint32_t(n + axis));
        std::vector<float> t(x.size());
        hadamard(x.data(), shape, axis, n, s, t.data());
        const QTensor want = quantize(t.data(), shape, axis, spec);
        const QTensor got = quantize_hadamard(x.data(), shape, axis, spec, n, s);
        expect_same_qtensor(got, want, id);
        std::vector<float> fw(x.size()), fg(x.size());
        fake_quantize(t.data(), shape, axis, spec, fw.data());
        fake_quantize_hadamard(x.data(), shape, axis, spec, n, s, fg.data());
        const int64_t mm = first_mismatch(fg.data(), fw.data(), int64_t(x.size()));
        ASSERT_EQ(mm, -1) << id << " fake_quantize at " << mm;
      }
    }
  }
}

TEST(HadamardFused, SpecOverloadUsesTheStepSigns) {
  const std::vector<int64_t> shape{8, 64};
  const std::vector<float> x = normal(8 * 64, 5);
  QuantSpec spec;
  spec.rounding = Rounding::kStochastic;
  spec.seed = 9;
  HadamardSpec h;
  h.size = 32;
  h.signs = SignPolicy::kPerStep;
  h.seed = 42;
  for (uint64_t step : {0u, 1u, 17u}) {
    const QTensor a = quantize_hadamard(x.data(), shape, 1, spec, h, step);
    const QTensor b = quantize_hadamard(x.data(), shape, 1, spec, 32, hadamard_signs(h, step));
    expect_same_qtensor(a, b, "per_step step " + std::to_string(step));
  }
  HadamardSpec off;  // size 0: plain quantize
  expect_same_qtensor(quantize_hadamard(x.data(), shape, 1, spec, off, 3),
                      quantize(x.data(), shape, 1, spec), "disabled spec");
}

// ---------------------------------------------------------------------------

TEST(HadamardThreads, OneAndTwoThreadsGiveIdenticalBits) {
  ThreadGuard guard;
  const std::vector<int64_t> shape{96, 512};
  const std::vector<float> x = normal(96 * 512, 31);
  QuantSpec spec;
  spec.format = Format::kNvfp4;
  spec.rounding = Rounding::kStochastic;
  spec.seed = 3;
  std::vector<std::vector<float>> results;
  std::vector<QTensor> qs;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<float> a(x.size()), b(x.size()), c(x.size());
    hadamard(x.data(), shape, 1, 64, random_signs(64, 1), a.data());
    hadamard(x.data(), shape, 0, 32, random_signs(32, 2), b.data());
    hadamard_inverse(x.data(), shape, 1, 512, {}, c.data());
    a.insert(a.end(), b.begin(), b.end());
    a.insert(a.end(), c.begin(), c.end());
    results.push_back(a);
    qs.push_back(quantize_hadamard(x.data(), shape, 0, spec, 16, random_signs(16, 3)));
  }
  ASSERT_EQ(first_mismatch(results[0].data(), results[1].data(), int64_t(results[0].size())), -1);
  expect_same_qtensor(qs[0], qs[1], "nvfp4 stochastic H16 axis 0, threads 1 vs 2");
}

// ---------------------------------------------------------------------------

TEST(HadamardSigns, PoliciesFollowTheContract) {
  HadamardSpec h;
  h.size = 64;
  h.seed = 2024;
  h.signs = SignPolicy::kNone;
  EXPECT_EQ(hadamard_signs(h, 5), std::vector<float>(64, 1.0f));

  // Drawn signs: -1 exactly when the Philox word's top bit is set.
  h.signs = SignPolicy::kPerStep;
  for (uint64_t step : {0u, 1u, 2u, 1000u}) {
    const std::vector<float> s = hadamard_signs(h, step);
    for (int i = 0; i < 64; ++i)
      ASSERT_EQ(s[size_t(i)], (random_bits(2024, 1 + step, uint64_t(i)) >> 31) ? -1.0f : 1.0f)
          << "step=" << step << " i=" << i;
  }
  EXPECT_NE(hadamard_signs(h, 0), hadamard_signs(h, 1));
  EXPECT_EQ(hadamard_signs(h, 7), hadamard_signs(h, 7));

  // fixed without a vector: the step-0 draw, at every step.
  HadamardSpec f = h;
  f.signs = SignPolicy::kFixed;
  EXPECT_EQ(hadamard_signs(f, 0), hadamard_signs(h, 0));
  EXPECT_EQ(hadamard_signs(f, 9), hadamard_signs(h, 0));

  // Different seeds give different vectors; a long vector is balanced.
  HadamardSpec g = h;
  g.seed = 2025;
  EXPECT_NE(hadamard_signs(g, 0), hadamard_signs(h, 0));
  g.size = 32768;
  const std::vector<float> big = hadamard_signs(g, 3);
  const auto neg = std::count(big.begin(), big.end(), -1.0f);
  EXPECT_NEAR(double(neg) / 32768.0, 0.5, 0.02);

  // fixed with the published vector: returned as given.
  const std::vector<float> pub = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
  HadamardSpec p;
  p.size = 16;
  p.signs = SignPolicy::kFixed;
  p.vector = pub;
  EXPECT_EQ(hadamard_signs(p, 0), pub);
  EXPECT_EQ(hadamard_signs(p, 123), pub);
}

// The published 16-vector on a hand-computed case: x = e_3 (a unit vector)
// gives y_j = s_3 * (-1)^popcount(3 & j) / 4 = -(-1)^popcount(3 & j) / 4.
TEST(HadamardSigns, PublishedVectorHandCase) {
  const std::vector<float> pub = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
  std::vector<float> x(16, 0.0f), y(16);
  x[3] = 1.0f;
  hadamard(x.data(), {16}, 0, 16, pub, y.data());
  const float want[16] = {-0.25f, 0.25f, 0.25f, -0.25f, -0.25f, 0.25f, 0.25f, -0.25f,
                          -0.25f, 0.25f, 0.25f, -0.25f, -0.25f, 0.25f, 0.25f, -0.25f};
  for (int j = 0; j < 16; ++j) EXPECT_EQ(y[size_t(j)], want[j]) << "j=" << j;
  // And the inverse recovers e_3 exactly (all steps exact here).
  std::vector<float> z(16);
  hadamard_inverse(y.data(), {16}, 0, 16, pub, z.data());
  EXPECT_EQ(z, x);
}

// ---------------------------------------------------------------------------

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ArgumentError& e) {
    return e.what();
  }
  return "<no ArgumentError>";
}

TEST(HadamardErrors, NameTheArgument) {
  std::vector<float> x(64 * 3, 1.0f), out(x.size());
  const std::vector<int64_t> shape{3, 64};
  auto fwd = [&](int n, std::vector<float> s, int axis = 1) {
    return error_of([&] { hadamard(x.data(), shape, axis, n, s, out.data()); });
  };
  for (int n : {0, 1, 3, 48, -16, 65536})
    EXPECT_NE(fwd(n, {}).find("argument 'size'"), std::string::npos) << "n=" << n << fwd(n, {});
  EXPECT_NE(fwd(128, {}).find("larger than the axis length 64"), std::string::npos) << fwd(128, {});
  EXPECT_NE(fwd(2, {}, 0).find("not a multiple"), std::string::npos) << fwd(2, {}, 0);
  EXPECT_NE(fwd(16, std::vector<float>(8, 1.0f)).find("argument 'signs'"), std::string::npos);
  std::vector<float> bad(16, 1.0f);
  bad[4] = 0.5f;
  EXPECT_NE(fwd(16, bad).find("argument 'signs'"), std::string::npos) << fwd(16, bad);
  bad[4] = std::nanf("");
  EXPECT_NE(fwd(16, bad).find("index 4"), std::string::npos) << fwd(16, bad);
  EXPECT_NE(fwd(16, {}, 2).find("argument 'axis'"), std::string::npos);
  QuantSpec spec;
  EXPECT_NE(error_of([&] { quantize_hadamard(x.data(), shape, 1, spec, 24, {}); })
                .find("argument 'size'"),
            std::string::npos);
  const RowTransform t = hadamard_row_transform(16, nullptr);
  EXPECT_NE(error_of([&] { t(x.data(), 24); }).find("not a multiple"), std::string::npos);
  HadamardSpec h;
  h.size = 16;
  h.signs = SignPolicy::kPerStep;
  h.vector = std::vector<float>(16, 1.0f);
  EXPECT_NE(error_of([&] { hadamard_signs(h, 0); }).find("hadamard.vector"), std::string::npos);
  h.signs = SignPolicy::kFixed;
  h.vector.resize(8);
  EXPECT_NE(error_of([&] { hadamard_signs(h, 0); }).find("hadamard.vector"), std::string::npos);
  h.size = 12;
  EXPECT_NE(error_of([&] { hadamard_signs(h, 0); }).find("hadamard.size"), std::string::npos);
  // A zero-length axis is a multiple of every size: nothing to do.
  EXPECT_NO_THROW(hadamard(x.data(), {3, 0}, 1, 16, std::vector<float>{}, out.data()));
}

// Non-finite inputs poison their own run only (see hadamard.h).
TEST(HadamardNonFinite, PropagatesWithinTheRunOnly) {
  IsaGuard guard;
  const float specials[] = {std::nanf(""), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (Isa isa : supported_isas()) {
    set_isa(isa);
    for (int n : {2, 16, 64, 1024}) {
      const int64_t len = 4 * int64_t(n);
      const std::vector<float> clean = normal(len, uint32_t(n));
      std::vector<float> yc(clean.size());
      hadamard(clean.data(), {len}, 0, n, std::vector<float>{}, yc.data());
      for (float sp : specials) {
        std::vector<float> x(clean), y(clean.size());
        x[size_t(n + n / 2)] = sp;  // inside run 1
        hadamard(x.data(), {len}, 0, n, random_signs(n, 4), y.data());
        std::vector<float> ycs(clean.size());
        hadamard(clean.data(), {len}, 0, n, random_signs(n, 4), ycs.data());
        for (int64_t i = 0; i < len; ++i) {
          const bool in_run = i >= n && i < 2 * n;
          if (in_run) {
            ASSERT_FALSE(std::isfinite(y[size_t(i)]))
                << "isa=" << isa_name(isa) << " n=" << n << " i=" << i;
            if (sp != sp) {
              ASSERT_TRUE(std::isnan(y[size_t(i)])) << "n=" << n << " i=" << i;
            }
          } else {
            ASSERT_TRUE(same_bits(y[size_t(i)], ycs[size_t(i)])) << "n=" << n << " i=" << i;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace fp4train
