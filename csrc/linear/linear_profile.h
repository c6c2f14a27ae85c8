// Phase timers of the linear layer: where linear_forward / linear_backward
// spend their time, for the training step profiler (train --profile).
//
// Process-global accumulators, one per (GEMM role, phase), plus a call count
// per role. Off by default; when off, a timed region costs one relaxed
// atomic load and no clock read. When on, each region reads steady_clock
// twice and adds its nanoseconds with a relaxed atomic add, so layers may run
// in any threads (the counters are only ever added to or reset).
//
// Phases, per role (fprop, dgrad, wgrad):
//   quantize  quantizing that GEMM's operands, fused Hadamard and sign
//             vectors included, and re-storing a quantized operand in the
//             other orientation (fprop's 2-D tiled W transposed for dgrad).
//             With save_quantized_only, forward quantizes X for wgrad: that
//             time counts as wgrad's.
//   gemm      qgemm itself (its packing of operands into kernel panels
//             included: that is the GEMM kernel's own data layout).
//   other     the rest of the layer's work: bias add (fprop), saving X for
//             backward (wgrad's, it is wgrad's operand), dW accumulation and
//             the bias gradient (wgrad).
// calls: fprop counts forwards, dgrad and wgrad count backwards.
//
// Timed regions never overlap, so the sum over every role and phase is at
// most the wall time of the calls that were made while profiling was on.
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "linear/seeds.h"

namespace fp4train {

enum class LinearPhase : int { kQuantize = 0, kGemm = 1, kOther = 2 };

constexpr int kLinearRoles = 3;
constexpr int kLinearPhases = 3;

struct LinearProfileRole {
  std::array<double, kLinearPhases> seconds{};  // indexed by LinearPhase
  int64_t calls = 0;
};

struct LinearProfile {
  std::array<LinearProfileRole, kLinearRoles> role{};  // indexed by GemmRole
};

void set_linear_profiling(bool enabled);
bool linear_profiling_enabled();
LinearProfile linear_profile();  // a snapshot of the accumulators
void reset_linear_profile();     // zero every accumulator (the on/off state stays)

namespace linear_profile_detail {

extern std::atomic<bool> g_enabled;

void add_ns(GemmRole role, LinearPhase phase, int64_t ns);
void add_call(GemmRole role);

}  // namespace linear_profile_detail

// Times its own lifetime into (role, phase) when profiling was on at its
// construction. RAII, so a region left by an exception still counts.
class LinearPhaseTimer {
 public:
  LinearPhaseTimer(GemmRole role, LinearPhase phase)
      : role_(role),
        phase_(phase),
        on_(linear_profile_detail::g_enabled.load(std::memory_order_relaxed)) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~LinearPhaseTimer() {
    if (!on_) return;
    const auto dt = std::chrono::steady_clock::now() - t0_;
    linear_profile_detail::add_ns(
        role_, phase_, std::chrono::duration_cast<std::chrono::nanoseconds>(dt).count());
  }
  LinearPhaseTimer(const LinearPhaseTimer&) = delete;
  LinearPhaseTimer& operator=(const LinearPhaseTimer&) = delete;

 private:
  GemmRole role_;
  LinearPhase phase_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

// Counts one call of a role when profiling is on.
inline void count_linear_call(GemmRole role) {
  if (linear_profile_detail::g_enabled.load(std::memory_order_relaxed))
    linear_profile_detail::add_call(role);
}

}  // namespace fp4train
