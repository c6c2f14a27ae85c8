// Softmax cross-entropy over integer targets, float32, per row of logits.
//
//   logits, z, d: (N, V) row-major;  targets: (N,) int64;  lse, nll: (N,)
// A row is ignored when has_ignore and targets[r] == ignore_index; every other
// target must be in [0, V) (checked before any work: ArgumentError 'targets').
// Forward per row: z = logits - max(logits) (written for the backward);
//   lse = log(sum exp(z), increasing v, from +0);  nll = lse - z[target]
//   (nll = 0 and lse = 0 for ignored rows). The mean over rows is left to
//   the caller (a float64 sum).
// Backward: d = (exp(z - lse) - onehot(target)) * scale for kept rows, 0 for
//   ignored rows (scale = upstream grad / number of kept rows).
// Rows are split over threads. NaN/Inf logits propagate to their row.
#pragma once
#include <cstdint>

namespace fp4train {

void cross_entropy_forward(const float* logits, const int64_t* targets, float* z, float* lse,
                           float* nll, int64_t N, int64_t V, bool has_ignore,
                           int64_t ignore_index);

void cross_entropy_backward(const float* z, const float* lse, const int64_t* targets, float* d,
                            int64_t N, int64_t V, bool has_ignore, int64_t ignore_index,
                            float scale);

}  // namespace fp4train
