// HadamardSpec: which blockwise Hadamard transform a GEMM operand gets
// (DESIGN §2 Hadamard; the same value type as fp4train.HadamardSpec).
//
//   size    block length n (a power of two, 2..256, or the whole axis up to
//           32768); 0 means "no transform"
//   signs   kNone: plain Sylvester H_n (the deterministic transform)
//           kFixed: one sign vector, `vector` if given, else drawn from `seed`
//           kPerStep: a vector redrawn from (seed, step) at every step
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fp4train {

enum class SignPolicy : uint8_t { kNone, kFixed, kPerStep };

struct HadamardSpec {
  int size = 0;
  SignPolicy signs = SignPolicy::kNone;
  uint64_t seed = 0;
  std::vector<float> vector;  // explicit +-1 signs (kFixed only); empty: draw from seed

  bool enabled() const { return size > 0; }
};

// "none", "fixed", "per_step" (the Python names); parse throws ArgumentError naming `arg`.
const char* sign_policy_name(SignPolicy s);
SignPolicy parse_sign_policy(const std::string& name, const std::string& arg = "signs");

}  // namespace fp4train
