// Shared helpers of the C++ tests: seeded data generators, the formats of
// docs/NUMERICS.md §1 re-derived from their bit fields (independently of
// csrc/formats), an enumerator of every code of each format, and bit-exact
// comparisons whose failure message carries the whole case.
//
// Nothing here calls the codecs under test: the "spec_*" functions build each
// format's grid of representable values from (ebits, mbits, bias) in double
// precision, and round by exact comparisons against that grid, so a test that
// compares csrc/formats with them checks the implementation against the
// definition, not against itself.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "formats/formats.h"
#include "quant/qtensor.h"

namespace fp4test {

using fp4train::Format;
using fp4train::Rounding;
using fp4train::ScaleRule;

// ---------------------------------------------------------------------------
// Bits and printing.

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bool is_nan(float f) { return f != f; }

inline std::string hex(uint64_t v, int digits) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), kDigits[v & 0xF]);
    v >>= 4;
  } while (v != 0);
  if (int(s.size()) < digits) s.insert(0, size_t(digits) - s.size(), '0');
  return "0x" + s;
}

// "1.5 (0x3fc00000)": a float as value and bits.
inline std::string fstr(float f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g (0x%08x)", double(f), unsigned(bits_of(f)));
  return buf;
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + ")";
}

inline const char* rounding_str(Rounding r) {
  switch (r) {
    case Rounding::kNearest: return "nearest";
    case Rounding::kNearestAway: return "nearest_away";
    case Rounding::kStochastic: return "stochastic";
  }
  return "?";
}
inline const char* rule_str(ScaleRule r) {
  switch (r) {
    case ScaleRule::kFloor: return "floor";
    case ScaleRule::kRceil: return "rceil";
    case ScaleRule::kCeil: return "ceil";
    case ScaleRule::kEven: return "even";
  }
  return "?";
}

constexpr Rounding kAllRoundings[] = {Rounding::kNearest, Rounding::kNearestAway,
                                      Rounding::kStochastic};
constexpr ScaleRule kAllRules[] = {ScaleRule::kFloor, ScaleRule::kRceil, ScaleRule::kCeil,
                                   ScaleRule::kEven};
constexpr Format kAllFormats[] = {Format::kMxfp4,     Format::kNvfp4,    Format::kMxfp8E4M3,
                                  Format::kMxfp8E5M2, Format::kFp8E4M3,  Format::kFp8E5M2,
                                  Format::kBf16,      Format::kFp32};

// ---------------------------------------------------------------------------
// Seeded data. std::mt19937_64 and the libstdc++ distributions are
// deterministic for a given seed on this toolchain.

enum class Dist { kGaussian, kHeavyTailed, kOutliers, kWide };
constexpr Dist kAllDists[] = {Dist::kGaussian, Dist::kHeavyTailed, Dist::kOutliers, Dist::kWide};

inline const char* dist_str(Dist d) {
  switch (d) {
    case Dist::kGaussian: return "gaussian";
    case Dist::kHeavyTailed: return "heavy_tailed";
    case Dist::kOutliers: return "outliers";
    case Dist::kWide: return "wide";
  }
  return "?";
}

// n floats of distribution d:
//   gaussian      N(0, 1)
//   heavy_tailed  Student-t with 3 degrees of freedom
//   outliers      N(0, 1) with 1% of the elements multiplied by +-1000
//   wide          +-(1 + u) * 2^k, k uniform in [-40, 40]: many binades, so
//                 blocks exercise every scale exponent and subnormal elements
inline std::vector<float> make_data(Dist d, int64_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 gen(seed * 0x9E3779B97F4A7C15ull + uint64_t(d) + 1);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::student_t_distribution<float> student(3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::uniform_int_distribution<int> expo(-40, 40);
  std::vector<float> x(size_t(n > 0 ? n : 0));
  for (auto& v : x) {
    switch (d) {
      case Dist::kGaussian: v = normal(gen); break;
      case Dist::kHeavyTailed: v = sigma * student(gen); break;
      case Dist::kOutliers:
        v = normal(gen);
        if (unit(gen) < 0.01f) v *= (unit(gen) < 0.5f ? -1000.0f : 1000.0f);
        break;
      case Dist::kWide: {
        const float m = 1.0f + unit(gen);
        v = std::ldexp(m, expo(gen)) * (unit(gen) < 0.5f ? -1.0f : 1.0f);
        break;
      }
    }
  }
  return x;
}

// A uniform 24-bit integer stream for codec tests (stochastic rounding's k24).
inline std::vector<uint32_t> make_k24(int64_t n, uint64_t seed) {
  std::mt19937_64 gen(seed ^ 0x5DEECE66Dull);
  std::vector<uint32_t> k(static_cast<size_t>(n));
  for (auto& v : k) v = uint32_t(gen() >> 40);
  return k;
}

// ---------------------------------------------------------------------------
// The element formats of docs/NUMERICS.md §1, from their bit fields.

struct MiniFloat {
  const char* name;
  int nbits;  // storage bits, sign included
  int ebits;
  int mbits;
  int bias;
  enum Specials { kNone, kFn, kIeee } specials;
  // kNone: E2M1, every code finite. kFn: E4M3, only S.1111.111 is NaN, no Inf.
  // kIeee: E5M2 and BF16, exponent all ones is Inf (mantissa 0) or NaN.
  uint32_t sign_bit() const { return 1u << (nbits - 1); }
  uint32_t num_codes() const { return 1u << nbits; }
};

constexpr MiniFloat kSpecE2M1{"e2m1", 4, 2, 1, 1, MiniFloat::kNone};
constexpr MiniFloat kSpecE4M3{"e4m3", 8, 4, 3, 7, MiniFloat::kFn};
constexpr MiniFloat kSpecE5M2{"e5m2", 8, 5, 2, 15, MiniFloat::kIeee};
constexpr MiniFloat kSpecBf16{"bf16", 16, 8, 7, 127, MiniFloat::kIeee};

// Every code of the format, 0 .. 2^nbits - 1.
inline std::vector<uint32_t> all_encodings(const MiniFloat& f) {
  std::vector<uint32_t> c(f.num_codes());
  for (uint32_t i = 0; i < f.num_codes(); ++i) c[i] = i;
  return c;
}

inline bool spec_is_nan(const MiniFloat& f, uint32_t code) {
  const uint32_t mag = code & ~f.sign_bit();
  const uint32_t exp_ones = ((1u << f.ebits) - 1u) << f.mbits;
  const uint32_t mant = mag & ((1u << f.mbits) - 1u);
  switch (f.specials) {
    case MiniFloat::kNone: return false;
    case MiniFloat::kFn: return mag == (f.sign_bit() - 1u);  // S.1111.111
    case MiniFloat::kIeee: return (mag & exp_ones) == exp_ones && mant != 0;
  }
  return false;
}
inline bool spec_is_inf(const MiniFloat& f, uint32_t code) {
  const uint32_t mag = code & ~f.sign_bit();
  const uint32_t exp_ones = ((1u << f.ebits) - 1u) << f.mbits;
  return f.specials == MiniFloat::kIeee && mag == exp_ones;
}

// Value of a code: (-1)^s * 2^(1 - bias - mbits) * m for exponent field 0,
// (-1)^s * 2^(E - bias - mbits) * (2^mbits + m) otherwise. Exact in double.
inline double spec_decode(const MiniFloat& f, uint32_t code) {
  if (spec_is_nan(f, code)) return std::numeric_limits<double>::quiet_NaN();
  const bool neg = (code & f.sign_bit()) != 0;
  if (spec_is_inf(f, code))
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  const uint32_t mag = code & ~f.sign_bit();
  const int E = int(mag >> f.mbits);
  const int m = int(mag & ((1u << f.mbits) - 1u));
  const double v = E == 0 ? std::ldexp(double(m), 1 - f.bias - f.mbits)
                          : std::ldexp(double((1 << f.mbits) + m), E - f.bias - f.mbits);
  return neg ? -v : v;
}

struct GridPoint {
  double value;
  uint32_t code;
};

// The non-negative finite values of the format in increasing order, with
// their (sign 0) codes. Built once per format.
inline const std::vector<GridPoint>& spec_grid(const MiniFloat& f) {
  static std::vector<GridPoint> grids[4];
  const int slot = f.nbits == 4 ? 0 : (f.nbits == 16 ? 3 : (f.specials == MiniFloat::kFn ? 1 : 2));
  std::vector<GridPoint>& g = grids[slot];
  if (g.empty()) {
    for (uint32_t c = 0; c < f.sign_bit(); ++c) {
      const double v = spec_decode(f, c);
      if (std::isfinite(v)) g.push_back({v, c});
    }
    std::sort(g.begin(), g.end(), [](const GridPoint& a, const GridPoint& b) {
      return a.value < b.value;
    });
  }
  return g;
}

inline double spec_max(const MiniFloat& f) { return spec_grid(f).back().value; }
inline double spec_min_subnormal(const MiniFloat& f) { return spec_grid(f)[1].value; }

// The canonical NaN code NUMERICS §1 gives each format (E2M1 has none).
inline uint32_t spec_nan_code(const MiniFloat& f) {
  return f.nbits == 16 ? 0x7FC0u : (f.nbits == 8 ? 0x7Fu : 0xFFFFFFFFu);
}

// Index of the largest grid value <= a (a finite, >= 0).
inline size_t spec_floor_index(const std::vector<GridPoint>& g, double a) {
  size_t lo = 0, hi = g.size();  // invariant: g[lo].value <= a < g[hi].value (hi may be end)
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (g[mid].value <= a) lo = mid; else hi = mid;
  }
  return lo;
}

// t = floor(frac * 2^24) of NUMERICS §3 for a in (lo, hi): exact in double,
// because a - lo is exact (Sterbenz, or lo = 0) and the step is a power of 2.
inline uint32_t spec_sr_t(double a, double lo, double hi) {
  return uint32_t(std::floor((a - lo) / (hi - lo) * 16777216.0));
}

// Encodes float32 x per NUMERICS §1/§3: grid rounding by exact comparison
// with the midpoint (nearest, nearest_away) or the 24-bit threshold
// (stochastic: up iff k24 + t >= 2^24), saturation of finite values at max,
// signed zero kept, NaN -> canonical NaN, Inf -> Inf (IEEE formats) or NaN (E4M3).
// E2M1 NaN/Inf return 0xFFFFFFFF (undefined: handled at block level).
inline uint32_t spec_encode(const MiniFloat& f, float x, Rounding r, uint32_t k24 = 0) {
  const uint32_t sign = std::signbit(x) ? f.sign_bit() : 0u;
  if (std::isnan(x)) return spec_nan_code(f);
  if (std::isinf(x)) {
    if (f.specials == MiniFloat::kIeee) return sign | (((1u << f.ebits) - 1u) << f.mbits);
    return spec_nan_code(f);
  }
  const std::vector<GridPoint>& g = spec_grid(f);
  const double a = std::fabs(double(x));
  if (a >= g.back().value) return sign | g.back().code;
  const size_t i = spec_floor_index(g, a);
  const GridPoint lo = g[i], hi = g[i + 1];
  if (a == lo.value) return sign | lo.code;
  bool up = false;
  const double mid = 0.5 * (lo.value + hi.value);  // exact: lo, hi within a factor 2
  switch (r) {
    case Rounding::kNearest: up = a > mid || (a == mid && (hi.code & 1u) == 0); break;
    case Rounding::kNearestAway: up = a >= mid; break;
    case Rounding::kStochastic: up = uint64_t(k24) + spec_sr_t(a, lo.value, hi.value) >= (1u << 24); break;
  }
  return sign | (up ? hi.code : lo.code);
}

// E8M0 (NUMERICS §1): 2^(c - 127), 0xFF NaN.
inline double spec_e8m0_decode(uint32_t c) {
  return c == 0xFF ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, int(c) - 127);
}
// Round half to even on the exponent (ties at 1.5 * 2^e), clamped to
// [2^-127, 2^127]; NaN/Inf -> 0xFF; zero and negative values -> code 0
// (E8M0 has no sign).
inline uint32_t spec_e8m0_encode(float x) {
  if (!std::isfinite(x)) return 0xFF;
  const double a = double(x);
  if (!(a >= std::ldexp(1.0, -127))) return 0;
  int e2;
  std::frexp(a, &e2);
  int e = e2 - 1;  // a in [2^e, 2^(e+1))
  const double mid = 1.5 * std::ldexp(1.0, e);
  if (a > mid || (a == mid && ((e + 1 + 127) & 1) == 0)) ++e;
  if (e > 127) e = 127;
  return uint32_t(e + 127);
}

// ---------------------------------------------------------------------------
// What a case is, for failure messages.

struct Case {
  std::string format = "-";
  std::string rule = "-";
  std::string rounding = "-";
  uint64_t seed = 0;
  std::vector<int64_t> shape;
  int axis = -1;
  bool block_2d = false;
  float prescale = 1.0f;
  std::string extra;

  Case() = default;
  Case(const fp4train::QuantSpec& s, std::vector<int64_t> shp, int ax, std::string more = "")
      : format(fp4train::format_name(s.format)), rule(rule_str(s.scale_rule)),
        rounding(rounding_str(s.rounding)), seed(s.seed), shape(std::move(shp)), axis(ax),
        block_2d(s.block_2d), prescale(s.prescale), extra(std::move(more)) {}

  std::string str() const {
    std::ostringstream o;
    o << "format=" << format << " rule=" << rule << " rounding=" << rounding << " seed=" << seed
      << " shape=" << shape_str(shape) << " axis=" << axis << " block_2d=" << block_2d
      << " prescale=" << prescale;
    if (!extra.empty()) o << " " << extra;
    return o.str();
  }
};

// Bit-exact float comparison; NaN matches NaN of any payload when nan_any.
inline bool same_float(float a, float b, bool nan_any = true) {
  if (nan_any && is_nan(a) && is_nan(b)) return true;
  return bits_of(a) == bits_of(b);
}

// Compares two float arrays bit for bit. On failure, reports the count of
// mismatches and the first and last one: index, both values as float and hex.
inline ::testing::AssertionResult floats_bit_equal(const std::vector<float>& expected,
                                                   const std::vector<float>& actual,
                                                   const Case& c, const char* what = "values",
                                                   bool nan_any = true) {
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure() << what << ": size " << actual.size() << ", expected "
                                         << expected.size() << " [" << c.str() << "]";
  int64_t count = 0, first = -1, last = -1;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!same_float(expected[i], actual[i], nan_any)) {
      if (first < 0) first = int64_t(i);
      last = int64_t(i);
      ++count;
    }
  }
  if (count == 0) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure();
  r << what << ": " << count << " of " << expected.size() << " differ [" << c.str() << "]";
  for (int64_t i : {first, last}) {
    r << "\n  at flat index " << i << ": expected " << fstr(expected[size_t(i)]) << ", got "
      << fstr(actual[size_t(i)]);
    if (first == last) break;
  }
  return r;
}

// Same for integer codes (unpacked codes, scale bytes): index, both in hex.
template <class T>
inline ::testing::AssertionResult codes_equal(const std::vector<T>& expected,
                                              const std::vector<T>& actual, const Case& c,
                                              const char* what = "codes", int64_t row_len = 0) {
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure() << what << ": size " << actual.size() << ", expected "
                                         << expected.size() << " [" << c.str() << "]";
  int64_t count = 0, first = -1, last = -1;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (expected[i] != actual[i]) {
      if (first < 0) first = int64_t(i);
      last = int64_t(i);
      ++count;
    }
  }
  if (count == 0) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure();
  r << what << ": " << count << " of " << expected.size() << " differ [" << c.str() << "]";
  for (int64_t i : {first, last}) {
    r << "\n  at index " << i;
    if (row_len > 0) r << " (row " << i / row_len << ", col " << i % row_len << ")";
    r << ": expected " << hex(uint64_t(expected[size_t(i)]), 2) << ", got "
      << hex(uint64_t(actual[size_t(i)]), 2);
    if (first == last) break;
  }
  return r;
}

// ---------------------------------------------------------------------------
// QTensor access, written from NUMERICS §2 (storage layout).

// Code of storage element (row, l): FP4 nibbles (low first), FP8 bytes, BF16
// little-endian pairs, FP32 the 4 bytes as a uint32.
inline uint32_t code_at(const fp4train::QTensor& q, int64_t row, int64_t l) {
  const int bits = fp4train::elem_traits(fp4train::format_traits(q.spec.format).elem).bits;
  const uint8_t* p = q.codes.data() + row * q.layout.row_bytes;
  switch (bits) {
    case 4: return (p[l / 2] >> (4 * (l % 2))) & 0xFu;
    case 8: return p[l];
    case 16: return uint32_t(p[2 * l]) | uint32_t(p[2 * l + 1]) << 8;
    default: {
      uint32_t u;
      std::memcpy(&u, p + 4 * l, 4);
      return u;
    }
  }
}

// Every code in storage order (rows x length).
inline std::vector<uint32_t> unpack_codes(const fp4train::QTensor& q) {
  std::vector<uint32_t> c;
  c.reserve(size_t(q.layout.numel()));
  for (int64_t r = 0; r < q.layout.rows; ++r)
    for (int64_t l = 0; l < q.layout.length; ++l) c.push_back(code_at(q, r, l));
  return c;
}

// Scale byte of storage row `row`, block b (1-D blocks or 2-D tiles).
inline uint8_t scale_at(const fp4train::QTensor& q, int64_t row, int64_t b) {
  const int64_t srow = q.layout.block_2d ? row / q.layout.block : row;
  return q.scales[size_t(srow * q.layout.nblocks + b)];
}

inline int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A small prime-ish list of awkward lengths for partial blocks.
inline std::vector<int64_t> awkward_lengths(int block) {
  return {1, 2, 3, int64_t(block) - 1, int64_t(block), int64_t(block) + 1, 2 * int64_t(block) + 1,
          37, 53, 97, 131};
}

}  // namespace fp4test
