#include "ops/embedding.h"

#include <string>
#include <vector>

#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

void embedding_backward(const int64_t* ids, const float* grad, float* dw, int64_t N, int64_t V,
                        int64_t C) {
  for (int64_t i = 0; i < N; ++i)
    FP4_CHECK(ids[i] >= 0 && ids[i] < V, "ids",
              "expected ids in [0, " + std::to_string(V) + "), got " + std::to_string(ids[i]) +
                  " at position " + std::to_string(i));
  // Counting sort: positions of id v are order[start[v] .. start[v+1]), increasing.
  std::vector<int64_t> start(static_cast<size_t>(V + 1), 0);
  std::vector<int64_t> order(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ++start[size_t(ids[i] + 1)];
  for (int64_t v = 0; v < V; ++v) start[size_t(v + 1)] += start[size_t(v)];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < N; ++i) order[size_t(fill[size_t(ids[i])]++)] = i;
  parallel_for(V, 4, [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      float* row = dw + v * C;
      for (int64_t k = start[size_t(v)]; k < start[size_t(v + 1)]; ++k) {
        const float* g = grad + order[size_t(k)] * C;
        for (int64_t c = 0; c < C; ++c) row[c] += g[c];
      }
    }
  });
}

}  // namespace fp4train
