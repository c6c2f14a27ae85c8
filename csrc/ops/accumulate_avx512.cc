// accumulate compiled with the avx512 flags (csrc/CMakeLists.txt): wider
// vectors, the same separate multiply and add, so the same bits.
#include "ops/accumulate.h"
#include "ops/accumulate-inl.h"

namespace fp4train {

void accumulate_avx512(float* acc, int64_t len, const float* w, int64_t ws, const float* x,
                     int64_t xs, int64_t count) {
  accumulate_body(acc, len, w, ws, x, xs, count);
}

}  // namespace fp4train
