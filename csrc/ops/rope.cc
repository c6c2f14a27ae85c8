#include "ops/rope.h"

#include "util/parallel.h"

namespace fp4train {

void rope_apply(const float* x, const float* cos, const float* sin, float* out, int64_t A,
                int64_t S, int64_t M, int64_t D, bool inverse) {
  const int64_t half = D / 2;
  parallel_for(A * S, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t s = r % S;
      const float* c = cos + s * half;
      const float* sn = sin + s * half;
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + (r * M + m) * D;
        float* o = out + (r * M + m) * D;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = xr[i], x2 = xr[i + half];
          // -sn exactly negates, so inverse matches a table of -sin bit for bit.
          const float si = inverse ? -sn[i] : sn[i];
          o[i] = x1 * c[i] - x2 * si;
          o[i + half] = x1 * si + x2 * c[i];
        }
      }
    }
  });
}

}  // namespace fp4train
