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
// OpenMP; results are identical for any thread count and any SIMD path
// (util/cpu_features.h active_isa(): scalar, AVX2, AVX-512).
//
// transform_run > 0 declares that the transform acts independently on
// consecutive runs of transform_run elements (a blockwise Hadamard of size
// n: run n; the row length must be a multiple of it). The pipeline may then
// apply it to pieces of a row (whole runs) just before encoding them, so a
// long row never has to be buffered whole. 0 means: whole rows only.
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

QTensor quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                 const QuantSpec& spec, const RowTransform* transform, int64_t transform_run);

// quantize() into an existing QTensor, reusing its codes / scales storage:
// no allocation (and no zero fill) when q already has the sizes this call
// needs, e.g. a workspace quantized once per training step. Every byte of
// codes and scales is overwritten; the result equals quantize()'s.
void quantize_into(QTensor& q, const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, const RowTransform* transform = nullptr,
                   int64_t transform_run = 0);
void fake_quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, float* out, const RowTransform* transform,
                   int64_t transform_run);

}  // namespace fp4train
