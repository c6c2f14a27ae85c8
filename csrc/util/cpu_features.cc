#include "util/cpu_features.h"

#include <atomic>
#include <cstdlib>

#include "util/check.h"

namespace fp4train {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name) {
  if (name == "scalar") return Isa::kScalar;
  if (name == "avx2") return Isa::kAvx2;
  if (name == "avx512") return Isa::kAvx512;
  throw ArgumentError("isa", "expected one of scalar, avx2, avx512, got '" + name + "'");
}

Isa detected_isa() {
#if defined(FP4TRAIN_X86) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports also checks that the OS saves the wide registers.
  static const Isa best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16") &&
        __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
      return Isa::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c"))
      return Isa::kAvx2;
    return Isa::kScalar;
  }();
  return best;
#else
  return Isa::kScalar;
#endif
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out{Isa::kScalar};
  for (int i = 1; i <= int(detected_isa()); ++i) out.push_back(Isa(i));
  return out;
}

namespace {
Isa initial_isa() {
  const char* env = std::getenv("FP4TRAIN_ISA");
  if (env && *env) {
    const Isa wanted = parse_isa(env);
    if (int(wanted) > int(detected_isa()))
      throw ArgumentError("FP4TRAIN_ISA", std::string("this CPU supports up to ") +
                                              isa_name(detected_isa()) + ", got '" + env + "'");
    return wanted;
  }
  return detected_isa();
}
std::atomic<int> g_isa{-1};
}  // namespace

Isa active_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(initial_isa());
    g_isa.store(v, std::memory_order_relaxed);
  }
  return Isa(v);
}

void set_isa(Isa isa) {
  FP4_CHECK(int(isa) <= int(detected_isa()), "isa",
            std::string("this CPU supports up to ") + isa_name(detected_isa()) + ", got '" +
                isa_name(isa) + "'");
  g_isa.store(int(isa), std::memory_order_relaxed);
}

void reset_isa() { g_isa.store(int(initial_isa()), std::memory_order_relaxed); }

}  // namespace fp4train
