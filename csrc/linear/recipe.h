// Recipe: the per-GEMM, per-operand quantization configuration of a linear
// layer (DESIGN §3; mirrored 1:1 by python/fp4train/recipes.py).
//
// A recipe is a tree: Recipe{fprop, dgrad, wgrad}, each a
// GemmConfig{a, b, hadamard}, each operand an OperandConfig. The operand roles
// are the contract the linear layer implements (C = A B^T, both along K):
//
//   fprop  Y  = X W^T    a = X    (tokens, in)   along in
//                        b = W    (out, in)      along in
//   dgrad  dX = dY W     a = dY   (tokens, out)  along out
//                        b = W    along out      (the rows of W^T)
//   wgrad  dW = dY^T X   a = dY^T (out, tokens)  along tokens
//                        b = X^T  (in, tokens)   along tokens
//
// A GEMM's Hadamard (size > 0) is applied to both of its operands along the
// reduction axis, so the product is unchanged in exact arithmetic.
//
// The Python <-> C++ conversion lives in bindings/recipe_convert.cc only.
#pragma once
#include <cstdint>
#include <string>

#include "formats/formats.h"
#include "hadamard/hadamard_spec.h"
#include "quant/qtensor.h"

namespace fp4train {

// How one GEMM operand is quantized (see QuantSpec for the meaning of each
// field; the seed is not part of the recipe: the layer derives it per step).
struct OperandConfig {
  Format format = Format::kFp32;
  Rounding rounding = Rounding::kNearest;
  ScaleRule scale_rule = ScaleRule::kFloor;  // E8M0 (MX) formats only; ignored otherwise
  float prescale = 1.0f;                     // finite > 0; 1 for bf16 and fp32
  bool block_2d = false;                     // 16x16 / 32x32 tiles; block formats only

  // The QuantSpec of this operand with stochastic-rounding key `seed`.
  QuantSpec quant_spec(uint64_t seed) const;
};

struct GemmConfig {
  OperandConfig a, b;
  HadamardSpec hadamard;  // size 0: no transform
};

struct Recipe {
  GemmConfig fprop, dgrad, wgrad;
  std::string name = "custom";
};

bool operator==(const OperandConfig& x, const OperandConfig& y);
bool operator==(const GemmConfig& x, const GemmConfig& y);
bool operator==(const Recipe& x, const Recipe& y);
inline bool operator!=(const OperandConfig& x, const OperandConfig& y) { return !(x == y); }
inline bool operator!=(const GemmConfig& x, const GemmConfig& y) { return !(x == y); }
inline bool operator!=(const Recipe& x, const Recipe& y) { return !(x == y); }

// Validation: throws ArgumentError naming the field path (e.g.
// "recipe.wgrad.hadamard.size") and what was expected. The rules are those of
// fp4train.recipes, field for field:
//   operand   prescale finite > 0, and 1 for bf16/fp32; block_2d only for
//             formats with block scales (mxfp4, nvfp4, mxfp8_*)
//   hadamard  size 0 (none) or a power of two in [2, 32768]; an explicit
//             sign vector only with signs = fixed, of length size, entries +-1
//   gemm      when both operands are block-quantized (neither bf16 nor fp32)
//             they use the same block size along K (nvfp4: 16; mxfp4,
//             mxfp8_*: 32; per-tensor fp8: virtual blocks of 32)
//   recipe    a non-empty name
void validate(const OperandConfig& op, const std::string& path);
void validate_hadamard(const HadamardSpec& h, const std::string& path);
void validate(const GemmConfig& g, const std::string& path);
void validate(const Recipe& r, const std::string& path = "recipe");


}  // namespace fp4train
