// Per-step, per-GEMM, per-operand keys of a linear layer (DESIGN §3).
//
// Stochastic rounding of operand `operand` (0 = a, 1 = b) of GEMM `gemm`
// (0 = fprop, 1 = dgrad, 2 = wgrad) at step `step` uses
//   derive_seed(layer_seed, step, gemm, operand),
// so a run reproduces exactly and every step draws fresh noise. Drawn
// Hadamard signs (policies fixed without a vector, and per_step) use the key
//   hadamard_seed(layer_seed, spec_seed, gemm),
// so each layer and GEMM has its own signs while both operands of one GEMM
// share them (the product stays unchanged in exact arithmetic). Both are
// Philox4x32-10 evaluations with a distinct tag word in the counter.
#pragma once
#include <cstdint>

#include "util/counter_rng.h"

namespace fp4train {

enum class GemmRole : int { kFprop = 0, kDgrad = 1, kWgrad = 2 };
inline const char* gemm_role_name(GemmRole g) {
  return g == GemmRole::kFprop ? "fprop" : (g == GemmRole::kDgrad ? "dgrad" : "wgrad");
}

constexpr uint32_t kTagOperandSeed = 0x53454544u;  // "SEED"
constexpr uint32_t kTagHadamardSeed = 0x48414441u;  // "HADA"

inline uint64_t derive_seed(uint64_t layer_seed, uint64_t step, GemmRole gemm, int operand) {
  const Philox4 r = philox4x32_10(uint32_t(step), uint32_t(step >> 32),
                                  uint32_t(int(gemm) * 2 + operand), kTagOperandSeed,
                                  uint32_t(layer_seed), uint32_t(layer_seed >> 32));
  return uint64_t(r.v[0]) | (uint64_t(r.v[1]) << 32);
}

inline uint64_t hadamard_seed(uint64_t layer_seed, uint64_t spec_seed, GemmRole gemm) {
  const Philox4 r = philox4x32_10(uint32_t(spec_seed), uint32_t(spec_seed >> 32),
                                  uint32_t(int(gemm)), kTagHadamardSeed, uint32_t(layer_seed),
                                  uint32_t(layer_seed >> 32));
  return uint64_t(r.v[0]) | (uint64_t(r.v[1]) << 32);
}

}  // namespace fp4train
