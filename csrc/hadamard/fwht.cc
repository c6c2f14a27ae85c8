// fwht: picks the row kernel of the active ISA (util/cpu_features.h).
#include "hadamard/fwht.h"

#include "util/cpu_features.h"

namespace fp4train {

void fwht(float* row, int64_t length, int n, const float* signs, bool inverse) {
  switch (active_isa()) {
#if defined(FP4TRAIN_X86)
    case Isa::kAvx512: return fwht_avx512(row, length, n, signs, inverse);
    case Isa::kAvx2: return fwht_avx2(row, length, n, signs, inverse);
#endif
    default: return fwht_ref(row, length, n, signs, inverse);
  }
}

}  // namespace fp4train
