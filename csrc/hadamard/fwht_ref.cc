// fwht_ref: the scalar definition of the blockwise FWHT (see fwht.h).
#include <cmath>

#include "hadamard/fwht.h"

namespace fp4train {

float hadamard_scale(int n) {
  // 1/sqrt(n) in double, then one rounding to float32. For even log2(n) both
  // steps are exact. For odd log2(n) the double is within 2^-53 relative of
  // the irrational 2^-k/sqrt(2), far from any float32 midpoint, so the second
  // rounding cannot differ from a direct correct rounding (a test checks it).
  return float(1.0 / std::sqrt(double(n)));
}

void fwht_ref(float* row, int64_t length, int n, const float* signs, bool inverse) {
  const float scale = hadamard_scale(n);
  for (int64_t base = 0; base + n <= length; base += n) {
    float* v = row + base;
    if (signs && !inverse)
      for (int i = 0; i < n; ++i) v[i] = v[i] * signs[i];
    for (int h = 1; h < n; h *= 2) {
      for (int g = 0; g < n; g += 2 * h) {
        for (int j = g; j < g + h; ++j) {
          const float a = v[j], b = v[j + h];
          v[j] = a + b;
          v[j + h] = a - b;
        }
      }
    }
    for (int i = 0; i < n; ++i) v[i] = v[i] * scale;
    if (signs && inverse)
      for (int i = 0; i < n; ++i) v[i] = v[i] * signs[i];
  }
}

}  // namespace fp4train
