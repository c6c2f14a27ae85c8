// Block quantization of N-D float32 arrays (DESIGN §2, docs/NUMERICS.md §2).
//
//   x: C-contiguous float32 of `shape`; quantized along `axis` (in [0, ndim)).
//   quantize       -> QTensor (packed codes, block scales, tensor scale)
//   dequantize     QTensorView -> float32 of the original shape (C order)
//   fake_quantize  quantize-then-dequantize in one pass, no packing; equal to
//                  dequantize(quantize(x)) bit for bit
//
// A RowTransform, when given, is applied in place to every storage row (the
// `length` elements along the axis) after it is gathered and before it is
// quantized: that is how the Hadamard transform fuses with quantization.
// It must act on each row independently. Work is split over rows with
// OpenMP; results are identical for any thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "quant/qtensor.h"

namespace fp4train {

using RowTransform = std::function<void(float* row, int64_t length)>;

QTensor quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                 const QuantSpec& spec, const RowTransform* transform = nullptr);

void dequantize(const QTensorView& q, float* out);

void fake_quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, float* out, const RowTransform* transform = nullptr);

}  // namespace fp4train
