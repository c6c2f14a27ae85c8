#include "ops/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

bool ignored(int64_t t, bool has_ignore, int64_t ignore_index) {
  return has_ignore && t == ignore_index;
}

void check_targets(const int64_t* targets, int64_t N, int64_t V, bool has_ignore,
                   int64_t ignore_index) {
  for (int64_t r = 0; r < N; ++r) {
    const int64_t t = targets[r];
    if (ignored(t, has_ignore, ignore_index)) continue;
    FP4_CHECK(t >= 0 && t < V, "targets",
              "expected values in [0, " + std::to_string(V) + ")" +
                  (has_ignore ? " or ignore_index=" + std::to_string(ignore_index) : "") +
                  ", got " + std::to_string(t) + " at position " + std::to_string(r));
  }
}

}  // namespace

void cross_entropy_forward(const float* logits, const int64_t* targets, float* z, float* lse,
                           float* nll, int64_t N, int64_t V, bool has_ignore,
                           int64_t ignore_index) {
  check_targets(targets, N, V, has_ignore, ignore_index);
  parallel_for(N, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = logits + r * V;
      float* zr = z + r * V;
      float mx = x[0];
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, x[v]);
      // std::max drops a NaN in its second argument; keep NaN rows NaN.
      for (int64_t v = 0; v < V; ++v) if (std::isnan(x[v])) mx = x[v];
      for (int64_t v = 0; v < V; ++v) zr[v] = x[v] - mx;
      float sum = 0.0f;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(zr[v]);
      const float l = std::log(sum);
      const int64_t t = targets[r];
      if (ignored(t, has_ignore, ignore_index)) {
        lse[r] = 0.0f;
        nll[r] = 0.0f;
      } else {
        lse[r] = l;
        nll[r] = l - zr[t];
      }
    }
  });
}

void cross_entropy_backward(const float* z, const float* lse, const int64_t* targets, float* d,
                            int64_t N, int64_t V, bool has_ignore, int64_t ignore_index,
                            float scale) {
  check_targets(targets, N, V, has_ignore, ignore_index);
  parallel_for(N, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* dr = d + r * V;
      const int64_t t = targets[r];
      if (ignored(t, has_ignore, ignore_index)) {
        std::fill(dr, dr + V, 0.0f);
        continue;
      }
      const float* zr = z + r * V;
      const float l = lse[r];
      for (int64_t v = 0; v < V; ++v) dr[v] = std::exp(zr[v] - l);
      dr[t] -= 1.0f;
      for (int64_t v = 0; v < V; ++v) dr[v] *= scale;
    }
  });
}

}  // namespace fp4train
