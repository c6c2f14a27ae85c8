#include "ops/rmsnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/parallel.h"

namespace fp4train {

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t N, int64_t C,
                     float eps) {
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      float ss = 0.0f;
      for (int64_t c = 0; c < C; ++c) ss += xr[c] * xr[c];
      const float rs = 1.0f / std::sqrt(ss / float(C) + eps);
      rstd[r] = rs;
      float* yr = y + r * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = (xr[c] * rs) * w[c];
    }
  });
}

void rmsnorm_backward(const float* x, const float* rstd, const float* w, const float* grad,
                      float* dx, float* dw, int64_t N, int64_t C) {
  // dw: a reduction over rows, so it is split over columns, never over rows.
  parallel_for(C, 16, [&](int64_t c0, int64_t c1) {
    std::vector<float> acc(size_t(c1 - c0), 0.0f);
    for (int64_t r = 0; r < N; ++r) {
      const float* xr = x + r * C;
      const float* gr = grad + r * C;
      const float rs = rstd[r];
      for (int64_t c = c0; c < c1; ++c) acc[size_t(c - c0)] += gr[c] * (xr[c] * rs);
    }
    for (int64_t c = c0; c < c1; ++c) dw[c] += acc[size_t(c - c0)];
  });
  parallel_for(N, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * C;
      const float* gr = grad + r * C;
      const float rs = rstd[r];
      float dot = 0.0f;
      for (int64_t c = 0; c < C; ++c) dot += (gr[c] * w[c]) * (xr[c] * rs);
      dot /= float(C);
      float* dr = dx + r * C;
      for (int64_t c = 0; c < C; ++c) dr[c] = rs * (gr[c] * w[c] - (xr[c] * rs) * dot);
    }
  });
}

}  // namespace fp4train
