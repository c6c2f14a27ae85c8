// RMSNorm in float32: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
//
//   x, y, grad, dx: (N, C) row-major;  w, dw: (C,);  rstd: (N,)
// Forward per row: ms = (sum_c x_c^2, increasing c, from +0) / C;
//   rstd = 1 / sqrt(ms + eps);  y_c = (x_c * rstd) * w_c.
// Backward with xhat_c = x_c * rstd:
//   dw_c += (sum over rows, increasing row, from +0, of grad_c * xhat_c)
//   dot  = (sum_c (grad_c * w_c) * xhat_c) / C
//   dx_c = rstd * (grad_c * w_c - xhat_c * dot)
// Rows (forward, dx) and column ranges (dw) are split over threads; each
// value is computed by one thread in the order above.
#pragma once
#include <cstdint>

namespace fp4train {

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t N, int64_t C,
                     float eps);

// dw is accumulated into (+=); dx is written.
void rmsnorm_backward(const float* x, const float* rstd, const float* w, const float* grad,
                      float* dx, float* dw, int64_t N, int64_t C);

}  // namespace fp4train
