// Embedding backward: a deterministic scatter-add of gradient rows.
//
//   ids: (N,) int64 in [0, V) (checked: ArgumentError 'ids');  grad: (N, C)
//   dw: (V, C), accumulated into (+=)
// For each table row v, the gradient rows of the positions holding v are
// added to dw[v] one after another in increasing position, exactly what
// np.add.at(dw, ids, grad) does, so the bits match it. Split over table rows
// (a counting sort groups the positions first), so no two threads touch the
// same output.
#pragma once
#include <cstdint>

namespace fp4train {

void embedding_backward(const int64_t* ids, const float* grad, float* dw, int64_t N, int64_t V,
                        int64_t C);

}  // namespace fp4train
