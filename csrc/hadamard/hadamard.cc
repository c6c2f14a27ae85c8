// The N-D transform: runs along any axis, split over threads by rows.
//
// Axis last (inner == 1): each row is contiguous and transformed in place in
// `out`. Axis not last: tiles of up to kTile neighbouring columns (the inner
// index) are gathered into a row buffer, transformed, and scattered back;
// a tile's reads and writes touch the same elements, so out == x works.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "hadamard/fwht.h"
#include "hadamard/hadamard.h"
#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

constexpr int64_t kTile = 16;  // inner columns gathered together (one cache line of floats)

struct Extent {
  int64_t outer = 1, length = 0, inner = 1;
};

Extent extent_of(const std::vector<int64_t>& shape, int axis) {
  const int ndim = int(shape.size());
  FP4_CHECK(ndim >= 1, "x", "expected an array with at least 1 dimension");
  FP4_CHECK(axis >= 0 && axis < ndim, "axis",
            "expected an axis in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                "), got " + std::to_string(axis));
  Extent e;
  for (int d = 0; d < ndim; ++d) {
    FP4_CHECK(shape[size_t(d)] >= 0, "x", "negative dimension");
    if (d < axis) e.outer *= shape[size_t(d)];
    if (d > axis) e.inner *= shape[size_t(d)];
  }
  e.length = shape[size_t(axis)];
  return e;
}

void transform_nd(const float* x, const std::vector<int64_t>& shape, int axis, int n,
                  const float* s, float* out, bool inverse) {
  const Extent e = extent_of(shape, axis);
  validate_hadamard_size(n, e.length);
  validate_hadamard_signs(s, n);
  const int64_t numel = e.outer * e.length * e.inner;
  if (numel == 0) return;
  FP4_CHECK(x != nullptr, "x", "missing data");
  FP4_CHECK(out != nullptr, "out", "missing buffer");
  const int64_t L = e.length;

  if (e.inner == 1) {
    const int64_t grain = std::max<int64_t>(1, 16384 / L);
    parallel_for(e.outer, grain, [&](int64_t b, int64_t end) {
      for (int64_t r = b; r < end; ++r) {
        float* dst = out + r * L;
        if (dst != x + r * L) std::memcpy(dst, x + r * L, sizeof(float) * size_t(L));
        fwht(dst, L, n, s, inverse);
      }
    });
    return;
  }

  const int64_t tiles = (e.inner + kTile - 1) / kTile;
  const int64_t items = e.outer * tiles;
  const int64_t grain = std::max<int64_t>(1, 16384 / (L * kTile));
  parallel_for(items, grain, [&](int64_t b, int64_t end) {
    std::unique_ptr<float[]> buf(new float[size_t(kTile * L)]);
    for (int64_t it = b; it < end; ++it) {
      const int64_t o = it / tiles, c0 = (it % tiles) * kTile;
      const int64_t tw = std::min(kTile, e.inner - c0);
      const float* src = x + o * L * e.inner + c0;
      float* dst = out + o * L * e.inner + c0;
      for (int64_t l = 0; l < L; ++l)
        for (int64_t j = 0; j < tw; ++j) buf[size_t(j * L + l)] = src[l * e.inner + j];
      for (int64_t j = 0; j < tw; ++j) fwht(buf.get() + j * L, L, n, s, inverse);
      for (int64_t l = 0; l < L; ++l)
        for (int64_t j = 0; j < tw; ++j) dst[l * e.inner + j] = buf[size_t(j * L + l)];
    }
  });
}

}  // namespace

RowTransform hadamard_row_transform(int n, const float* signs, bool inverse) {
  FP4_CHECK(n >= kMinHadamardSize && n <= kMaxHadamardSize && (n & (n - 1)) == 0, "size",
            "expected a power of two in [" + std::to_string(kMinHadamardSize) + ", " +
                std::to_string(kMaxHadamardSize) + "], got " + std::to_string(n));
  validate_hadamard_signs(signs, n);
  std::shared_ptr<const std::vector<float>> s;
  if (signs) s = std::make_shared<const std::vector<float>>(signs, signs + n);
  return [n, s, inverse](float* row, int64_t length) {
    FP4_CHECK(length % n == 0, "size",
              "the axis length " + std::to_string(length) + " is not a multiple of size " +
                  std::to_string(n));
    fwht(row, length, n, s ? s->data() : nullptr, inverse);
  };
}

void hadamard(const float* x, const std::vector<int64_t>& shape, int axis, int n,
              const float* signs, float* out) {
  transform_nd(x, shape, axis, n, signs, out, false);
}

void hadamard(const float* x, const std::vector<int64_t>& shape, int axis, int n,
              const std::vector<float>& signs, float* out) {
  validate_hadamard_signs(signs, n);
  transform_nd(x, shape, axis, n, signs.empty() ? nullptr : signs.data(), out, false);
}

void hadamard_inverse(const float* y, const std::vector<int64_t>& shape, int axis, int n,
                      const float* signs, float* out) {
  transform_nd(y, shape, axis, n, signs, out, true);
}

void hadamard_inverse(const float* y, const std::vector<int64_t>& shape, int axis, int n,
                      const std::vector<float>& signs, float* out) {
  validate_hadamard_signs(signs, n);
  transform_nd(y, shape, axis, n, signs.empty() ? nullptr : signs.data(), out, true);
}

}  // namespace fp4train
