#include "quant/qtensor.h"

#include <cmath>

#include "util/check.h"

namespace fp4train {

void validate_spec(const QuantSpec& spec, int ndim) {
  const FormatTraits& t = format_traits(spec.format);
  FP4_CHECK(std::isfinite(spec.prescale) && spec.prescale > 0.0f, "prescale",
            "expected a finite value > 0, got " + std::to_string(spec.prescale));
  FP4_CHECK(spec.prescale == 1.0f || is_block_quantized(spec.format), "prescale",
            std::string("expected 1.0 for format '") + t.name +
                "' (prescale applies to scaled formats only)");
  if (spec.block_2d) {
    FP4_CHECK(t.block > 0, "block_2d",
              std::string("2-D tiles need a block-scaled format, got '") + t.name + "'");
    FP4_CHECK(ndim == 2, "block_2d",
              "2-D tiles need a 2-D array, got " + std::to_string(ndim) + " dimensions");
  }
}

QLayout make_layout(const std::vector<int64_t>& shape, int axis, const QuantSpec& spec) {
  const int ndim = int(shape.size());
  FP4_CHECK(ndim >= 1, "x", "expected an array with at least 1 dimension");
  FP4_CHECK(axis >= 0 && axis < ndim, "axis",
            "expected an axis in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                "), got " + std::to_string(axis));
  validate_spec(spec, ndim);
  QLayout L;
  L.shape = shape;
  L.axis = axis;
  for (int d = 0; d < ndim; ++d) {
    FP4_CHECK(shape[d] >= 0, "x", "negative dimension");
    if (d < axis) L.outer *= shape[d];
    if (d > axis) L.inner *= shape[d];
  }
  L.length = shape[axis];
  L.rows = L.outer * L.inner;
  const FormatTraits& t = format_traits(spec.format);
  L.block = t.block;
  L.block_2d = spec.block_2d;
  L.nblocks = t.block ? (L.length + t.block - 1) / t.block : 0;
  L.row_bytes = (L.length * elem_traits(t.elem).bits + 7) / 8;
  L.scale_rows = t.block ? (spec.block_2d ? (L.rows + t.block - 1) / t.block : L.rows) : 0;
  return L;
}

void validate_view(const QTensorView& q, const char* arg) {
  const QLayout& L = q.layout;
  const std::string a(arg);
  FP4_CHECK(q.codes_size == L.codes_bytes(), a + ".codes",
            "expected " + std::to_string(L.codes_bytes()) + " bytes for shape and format, got " +
                std::to_string(q.codes_size));
  FP4_CHECK(q.scales_size == L.scales_bytes(), a + ".scales",
            "expected " + std::to_string(L.scales_bytes()) + " bytes for shape and format, got " +
                std::to_string(q.scales_size));
  FP4_CHECK(L.codes_bytes() == 0 || q.codes != nullptr, a + ".codes", "missing buffer");
  FP4_CHECK(L.scales_bytes() == 0 || q.scales != nullptr, a + ".scales", "missing buffer");
  FP4_CHECK(std::isfinite(q.tensor_scale) && q.tensor_scale > 0.0f, a + ".tensor_scale",
            "expected a finite value > 0");
}

}  // namespace fp4train
