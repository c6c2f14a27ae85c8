// QTensor: a block-quantized tensor as a value type (docs/NUMERICS.md §2).
//
// Storage moves the quantization axis last: the logical shape is
// (outer..., length, inner...) with `axis` the length dimension; storage row
// r = o * inner + i holds the `length` elements x[o, :, i]. Codes are packed
// per row (row_bytes each); scales hold one byte per block, per row (1-D
// blocks) or per run of `block` consecutive rows (2-D tiles).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/formats.h"

namespace fp4train {

// How to quantize: everything fp4train.quantize takes besides x and axis.
struct QuantSpec {
  Format format = Format::kMxfp4;
  ScaleRule scale_rule = ScaleRule::kFloor;  // E8M0 (MX) formats only
  Rounding rounding = Rounding::kNearest;
  float prescale = 1.0f;  // elements are p * x / X; decode divides p back out
  bool block_2d = false;  // block x block tiles (2-D arrays, block formats)
  uint64_t seed = 0;      // stochastic rounding key
};

// Throws ArgumentError naming the field when spec cannot apply to an array of
// `ndim` dimensions.
void validate_spec(const QuantSpec& spec, int ndim);

struct QLayout {
  std::vector<int64_t> shape;
  int axis = 0;
  int64_t outer = 1, length = 0, inner = 1;
  int64_t rows = 0;        // outer * inner
  int block = 0;           // elements per block along the axis (0: no block scales)
  bool block_2d = false;
  int64_t nblocks = 0;     // blocks per row: ceil(length / block)
  int64_t row_bytes = 0;   // ceil(length * bits / 8)
  int64_t scale_rows = 0;  // rows, or ceil(rows / block) with 2-D tiles

  int64_t numel() const { return rows * length; }
  int64_t codes_bytes() const { return rows * row_bytes; }
  int64_t scales_bytes() const { return scale_rows * nblocks; }
  // Flat C-order index in the logical array of storage element (row, l).
  int64_t flat_index(int64_t row, int64_t l) const {
    return (row / inner) * length * inner + l * inner + row % inner;
  }
};

// Layout of `shape` quantized along `axis` (already normalized to [0, ndim)).
QLayout make_layout(const std::vector<int64_t>& shape, int axis, const QuantSpec& spec);

// Non-owning view: what dequantize and qgemm read. The bindings build one
// over numpy buffers; validate_view checks every size against the layout.
struct QTensorView {
  QuantSpec spec;
  QLayout layout;
  const uint8_t* codes = nullptr;
  int64_t codes_size = 0;
  const uint8_t* scales = nullptr;
  int64_t scales_size = 0;
  float tensor_scale = 1.0f;
};
void validate_view(const QTensorView& q, const char* arg = "q");

struct QTensor {
  QuantSpec spec;
  QLayout layout;
  std::vector<uint8_t> codes;
  std::vector<uint8_t> scales;
  float tensor_scale = 1.0f;  // NVFP4: s_enc; per-tensor FP8: s; otherwise 1

  QTensorView view() const {
    return QTensorView{spec, layout, codes.data(), int64_t(codes.size()),
                       scales.data(), int64_t(scales.size()), tensor_scale};
  }
  int64_t nbytes() const { return int64_t(codes.size() + scales.size()) + (format_traits(spec.format).tensor_scale ? 4 : 0); }
};

}  // namespace fp4train
