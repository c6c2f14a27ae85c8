// The inner product-accumulate of the attention kernels, per ISA.
//
//   acc[l] += sum_{t < count} w[t * ws] * x[t * xs + l]    for l < len
// The terms are added one at a time in increasing t, each as a separate
// float32 multiply and add (never an FMA), vectorized across l only. Every
// ISA path therefore gives the same bits as the scalar one; the AVX2 and
// AVX-512 builds only let the compiler use wider registers.
#pragma once
#include <cstdint>

namespace fp4train {

using AccumulateFn = void (*)(float* acc, int64_t len, const float* w, int64_t ws,
                              const float* x, int64_t xs, int64_t count);

void accumulate_scalar(float*, int64_t, const float*, int64_t, const float*, int64_t, int64_t);
#ifdef FP4TRAIN_X86
void accumulate_avx2(float*, int64_t, const float*, int64_t, const float*, int64_t, int64_t);
void accumulate_avx512(float*, int64_t, const float*, int64_t, const float*, int64_t, int64_t);
#endif

// The path for the active ISA (util/cpu_features.h), looked up per call.
AccumulateFn accumulate_fn();

}  // namespace fp4train
