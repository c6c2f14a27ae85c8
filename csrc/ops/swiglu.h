// SwiGLU gating in float32, elementwise over n values:
//   sig = 1 / (1 + exp(-g));  h = (g * sig) * u
// (exp(-g) = +inf for very negative g gives sig = 0, never NaN.)
// Backward from dh, with the forward's sig:
//   du = dh * (g * sig);  dg = (dh * u) * (sig * (1 + g * (1 - sig)))
// Split over contiguous ranges; every element is independent.
#pragma once
#include <cstdint>

namespace fp4train {

void swiglu_forward(const float* g, const float* u, float* h, float* sig, int64_t n);
void swiglu_backward(const float* g, const float* u, const float* sig, const float* dh, float* dg,
                     float* du, int64_t n);

}  // namespace fp4train
