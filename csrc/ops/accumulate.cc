#include "ops/accumulate.h"

#include "ops/accumulate-inl.h"
#include "util/cpu_features.h"

namespace fp4train {

void accumulate_scalar(float* acc, int64_t len, const float* w, int64_t ws, const float* x,
                       int64_t xs, int64_t count) {
  accumulate_body(acc, len, w, ws, x, xs, count);
}

AccumulateFn accumulate_fn() {
#ifdef FP4TRAIN_X86
  switch (active_isa()) {
    case Isa::kAvx512: return accumulate_avx512;
    case Isa::kAvx2: return accumulate_avx2;
    default: break;
  }
#endif
  return accumulate_scalar;
}

}  // namespace fp4train
