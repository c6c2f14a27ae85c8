// The N-D transform: runs along any axis, split over threads by rows.
//
// Axis last (inner == 1): each row is contiguous and transformed in place in
// `out` by the dispatched row kernel. Axis not last: fwht_columns works on
// tiles of neighbouring columns (the inner index), combining whole
// contiguous tile rows, with no gather; a tile's reads and writes touch the
// same elements, so out == x works.
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

  // Work items: (outer index, run, tile of columns). A tile is `tw` columns
  // wide: fwht_columns' chunks of min(n, 64) rows x tw floats (64 KiB) stay
  // in cache across the small stages, and rows of >= 1 KiB keep the large
  // stages' strided sweeps cheap in TLB entries.
  const int64_t tw = std::min<int64_t>(e.inner, 16384 / std::min(n, 64));
  const int64_t tiles = (e.inner + tw - 1) / tw, runs = L / n;
  const int64_t items = e.outer * runs * tiles;
  const int64_t grain = std::max<int64_t>(1, 65536 / (int64_t(n) * tw));
  parallel_for(items, grain, [&](int64_t b, int64_t end) {
    for (int64_t it = b; it < end; ++it) {
      const int64_t o = it / (runs * tiles), r = (it / tiles) % runs, c0 = (it % tiles) * tw;
      const int64_t off = (o * L + r * n) * e.inner + c0;
      fwht_columns(x + off, out + off, n, std::min(tw, e.inner - c0), e.inner, n, s, inverse);
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
