// Seeing and re-storing a 2-D QTensor as its transpose.
//
// transposed_view: a 2-D tensor of shape (K, N) quantized along axis 0 is
//   stored exactly like a (N, K) tensor quantized along axis 1, so the view
//   only relabels shape and axis (no data moves). qgemm takes operands along
//   axis 1; Dgrad's W and Wgrad's dY and X reach it this way.
// transpose_storage: re-stores a 2-D tensor along its other axis (codes
//   transposed and repacked, 2-D tile scales transposed). Only meaningful for
//   2-D tiles, whose scales cover both orientations: the result equals
//   quantizing the same array along the other axis whenever the rounding
//   does not depend on the element index (the linear layer reuses Fprop's
//   16x16-tiled weight in Dgrad this way).
#pragma once
#include "quant/qtensor.h"

namespace fp4train {

QTensorView transposed_view(const QTensorView& q);
QTensor transpose_storage(const QTensorView& q);
// transpose_storage into an existing QTensor, reusing its storage (no
// allocation when it is already large enough: the linear layer's workspace).
// `out` must not hold q's storage.
void transpose_storage_into(QTensor& out, const QTensorView& q);

}  // namespace fp4train
