#include "util/parallel.h"

#include <omp.h>

#include "util/check.h"

namespace fp4train {

namespace {
int g_threads = 0;  // 0: follow OpenMP's default
}

int num_threads() { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void set_num_threads(int n) {
  FP4_CHECK(n >= 0, "n", "expected a thread count >= 1 (or 0 for the OpenMP default), got " +
                             std::to_string(n));
  g_threads = n;
}

}  // namespace fp4train
