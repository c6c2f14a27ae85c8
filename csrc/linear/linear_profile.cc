#include "linear/linear_profile.h"

namespace fp4train {

namespace linear_profile_detail {

std::atomic<bool> g_enabled{false};

namespace {
// Nanoseconds per (role, phase) and calls per role. int64 nanoseconds hold
// 292 years, and integer adds keep the totals exact whatever the order.
std::atomic<int64_t> g_ns[kLinearRoles][kLinearPhases];
std::atomic<int64_t> g_calls[kLinearRoles];
}  // namespace

void add_ns(GemmRole role, LinearPhase phase, int64_t ns) {
  g_ns[int(role)][int(phase)].fetch_add(ns, std::memory_order_relaxed);
}

void add_call(GemmRole role) { g_calls[int(role)].fetch_add(1, std::memory_order_relaxed); }

}  // namespace linear_profile_detail

using namespace linear_profile_detail;

void set_linear_profiling(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool linear_profiling_enabled() { return g_enabled.load(std::memory_order_relaxed); }

LinearProfile linear_profile() {
  LinearProfile p;
  for (int r = 0; r < kLinearRoles; ++r) {
    for (int f = 0; f < kLinearPhases; ++f)
      p.role[size_t(r)].seconds[size_t(f)] = double(g_ns[r][f].load(std::memory_order_relaxed)) * 1e-9;
    p.role[size_t(r)].calls = g_calls[r].load(std::memory_order_relaxed);
  }
  return p;
}

void reset_linear_profile() {
  for (int r = 0; r < kLinearRoles; ++r) {
    for (int f = 0; f < kLinearPhases; ++f) g_ns[r][f].store(0, std::memory_order_relaxed);
    g_calls[r].store(0, std::memory_order_relaxed);
  }
}

}  // namespace fp4train
