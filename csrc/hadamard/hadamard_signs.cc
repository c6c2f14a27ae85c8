// Validation of sizes, sign vectors and HadamardSpec, and the sign vector a
// spec uses at a step (NUMERICS §3: Philox stream 1 + step, top bit = -1).
#include <string>

#include "hadamard/fwht.h"
#include "hadamard/hadamard.h"
#include "util/check.h"
#include "util/counter_rng.h"

namespace fp4train {

namespace {
bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

std::string show(float v) { return v != v ? std::string("nan") : std::to_string(v); }
}  // namespace

void validate_hadamard_size(int64_t n, int64_t length, const char* arg) {
  FP4_CHECK(is_pow2(n) && n >= kMinHadamardSize && n <= kMaxHadamardSize, arg,
            "expected a power of two in [" + std::to_string(kMinHadamardSize) + ", " +
                std::to_string(kMaxHadamardSize) + "], got " + std::to_string(n));
  FP4_CHECK(n <= length || length == 0, arg,
            "size " + std::to_string(n) + " is larger than the axis length " +
                std::to_string(length));
  FP4_CHECK(length % n == 0, arg,
            "the axis length " + std::to_string(length) + " is not a multiple of size " +
                std::to_string(n));
}

void validate_hadamard_signs(const float* signs, int64_t n, const char* arg) {
  if (!signs) return;
  for (int64_t i = 0; i < n; ++i)
    FP4_CHECK(signs[i] == 1.0f || signs[i] == -1.0f, arg,
              "expected entries +1 or -1, got " + show(signs[i]) + " at index " +
                  std::to_string(i));
}

void validate_hadamard_signs(const std::vector<float>& signs, int64_t n, const char* arg) {
  if (signs.empty()) return;
  FP4_CHECK(int64_t(signs.size()) == n, arg,
            "expected " + std::to_string(n) + " signs (one per element of a block), got " +
                std::to_string(signs.size()));
  validate_hadamard_signs(signs.data(), n, arg);
}

void validate_hadamard_spec(const HadamardSpec& spec, const char* arg) {
  const std::string a(arg);
  if (spec.size == 0) {
    FP4_CHECK(spec.vector.empty(), a + ".vector",
              "expected no vector for a disabled spec (size 0)");
    return;
  }
  FP4_CHECK(is_pow2(spec.size) && spec.size >= kMinHadamardSize && spec.size <= kMaxHadamardSize,
            a + ".size",
            "expected 0 (disabled) or a power of two in [" + std::to_string(kMinHadamardSize) +
                ", " + std::to_string(kMaxHadamardSize) + "], got " + std::to_string(spec.size));
  FP4_CHECK(spec.signs == SignPolicy::kNone || spec.signs == SignPolicy::kFixed ||
                spec.signs == SignPolicy::kPerStep,
            a + ".signs", "expected one of none, fixed, per_step");
  FP4_CHECK(spec.vector.empty() || spec.signs == SignPolicy::kFixed, a + ".vector",
            "an explicit sign vector needs signs = fixed");
  validate_hadamard_signs(spec.vector, spec.size, (a + ".vector").c_str());
}

const char* sign_policy_name(SignPolicy s) {
  switch (s) {
    case SignPolicy::kNone: return "none";
    case SignPolicy::kFixed: return "fixed";
    case SignPolicy::kPerStep: return "per_step";
  }
  return "?";
}

SignPolicy parse_sign_policy(const std::string& name, const std::string& arg) {
  for (SignPolicy s : {SignPolicy::kNone, SignPolicy::kFixed, SignPolicy::kPerStep})
    if (name == sign_policy_name(s)) return s;
  throw ArgumentError(arg, "expected one of none, fixed, per_step, got '" + name + "'");
}

std::vector<float> hadamard_signs(const HadamardSpec& spec, uint64_t step) {
  validate_hadamard_spec(spec);
  const int n = spec.size;
  std::vector<float> s(size_t(n), 1.0f);
  if (spec.signs == SignPolicy::kNone) return s;
  if (spec.signs == SignPolicy::kFixed && !spec.vector.empty()) return spec.vector;
  const uint64_t stream =
      kStreamHadamardBase + (spec.signs == SignPolicy::kPerStep ? step : uint64_t(0));
  std::vector<uint32_t> bits(static_cast<size_t>(n));
  random_bits_range(spec.seed, stream, 0, n, bits.data());
  for (int i = 0; i < n; ++i) s[size_t(i)] = (bits[size_t(i)] >> 31) ? -1.0f : 1.0f;
  return s;
}

}  // namespace fp4train
