#include "linear/recipe.h"

#include <cmath>

#include "gemm/qgemm.h"
#include "hadamard/hadamard.h"
#include "util/check.h"

namespace fp4train {

namespace {


std::string quoted(const char* s) { return std::string("'") + s + "'"; }

}  // namespace

QuantSpec OperandConfig::quant_spec(uint64_t seed) const {
  QuantSpec s;
  s.format = format;
  s.scale_rule = scale_rule;
  s.rounding = rounding;
  s.prescale = prescale;
  s.block_2d = block_2d;
  s.seed = seed;
  return s;
}

bool operator==(const OperandConfig& x, const OperandConfig& y) {
  return x.format == y.format && x.rounding == y.rounding && x.scale_rule == y.scale_rule &&
         x.prescale == y.prescale && x.block_2d == y.block_2d;
}

bool operator==(const GemmConfig& x, const GemmConfig& y) {
  return x.a == y.a && x.b == y.b && x.hadamard.size == y.hadamard.size &&
         x.hadamard.signs == y.hadamard.signs && x.hadamard.seed == y.hadamard.seed &&
         x.hadamard.vector == y.hadamard.vector;
}

bool operator==(const Recipe& x, const Recipe& y) {
  return x.fprop == y.fprop && x.dgrad == y.dgrad && x.wgrad == y.wgrad && x.name == y.name;
}

void validate(const OperandConfig& op, const std::string& path) {
  FP4_CHECK(int(op.format) < kNumFormats, path + ".format",
            "expected one of " + format_names_joined());
  FP4_CHECK(int(op.rounding) < 3, path + ".rounding",
            "expected one of nearest, nearest_away, stochastic");
  FP4_CHECK(int(op.scale_rule) < 4, path + ".scale_rule",
            "expected one of floor, rceil, ceil, even");
  const FormatTraits& t = format_traits(op.format);
  FP4_CHECK(std::isfinite(op.prescale) && op.prescale > 0.0f, path + ".prescale",
            "expected a finite value > 0 (as a float32), got " + std::to_string(op.prescale));
  FP4_CHECK(op.prescale == 1.0f || is_block_quantized(op.format), path + ".prescale",
            "expected 1.0 for format " + quoted(t.name) +
                " (prescale applies to scaled formats only), got " +
                std::to_string(op.prescale));
  FP4_CHECK(!op.block_2d || t.block > 0, path + ".block_2d",
            "2-D tiles need a format with block scales (mxfp4, nvfp4, mxfp8_e4m3, mxfp8_e5m2), "
            "got format " + quoted(t.name));
}

void validate_hadamard(const HadamardSpec& h, const std::string& path) {
  if (!h.enabled()) {
    // size 0 is "no transform" (Python: hadamard=None); nothing else may be set.
    FP4_CHECK(h.size == 0, path + ".size",
              "expected 0 (no transform) or a power of two in [2, 32768], got " +
                  std::to_string(h.size));
    FP4_CHECK(h.signs == SignPolicy::kNone && h.seed == 0 && h.vector.empty(), path,
              "size 0 means no transform: signs, seed and vector must keep their defaults");
    return;
  }
  validate_hadamard_spec(h, path.c_str());
}

void validate(const GemmConfig& g, const std::string& path) {
  validate(g.a, path + ".a");
  validate(g.b, path + ".b");
  validate_hadamard(g.hadamard, path + ".hadamard");
  const int ka = qgemm_k_block(g.a.format), kb = qgemm_k_block(g.b.format);
  FP4_CHECK(ka == 0 || kb == 0 || ka == kb, path + ".b",
            "expected the block size of a along the reduction axis (" + std::to_string(ka) +
                ", format " + quoted(format_name(g.a.format)) + "), got format " +
                quoted(format_name(g.b.format)) + " with blocks of " + std::to_string(kb));
}

void validate(const Recipe& r, const std::string& path) {
  validate(r.fprop, path + ".fprop");
  validate(r.dgrad, path + ".dgrad");
  validate(r.wgrad, path + ".wgrad");
  FP4_CHECK(!r.name.empty(), path + ".name", "expected a non-empty string");
}

}  // namespace fp4train
