// Causal self-attention core in float32: softmax(q k^T * scale + mask) v and
// its backward. The four projections and RoPE live elsewhere; every recipe
// keeps this part unquantized.
//
// Layout: q, k, v, y, dy, dq, dk, dv are (B, S, H, D) row-major, i.e. the
// projections' (B, S, H*D) output with heads interleaved, so no transpose is
// needed around the kernel. p is (B, H, S, S) row-major: the softmax
// probabilities, 0 above the diagonal (j > i).
//
// Arithmetic, per (b, h) pair and query row i, only over keys j <= i:
//   s_j  = (sum_d q_i[d] k_j[d], in increasing d, from +0) * scale
//   p_j  = exp(s_j - max_j s_j) / (sum_j exp(...), in increasing j)
//   y_i  = sum_j p_j v_j            (in increasing j, from +0)
// Backward (p from the forward):
//   dv_j = sum_{i >= j} p_ij dy_i    (increasing i)
//   dp_j = dy_i . v_j                (increasing d)
//   ds_j = ((dp_j - sum_j dp_j p_j) * p_j) * scale
//   dq_i = sum_j ds_ij k_j;  dk_j = sum_{i >= j} ds_ij q_i   (increasing j / i)
// Masked entries are never computed (no -inf arithmetic), and the diagonal
// keeps every row non-empty. Work is split over (b, h) pairs; each output is
// computed by one thread in the order above, so results do not depend on the
// thread count. NaN/Inf inputs propagate through the affected rows.
#pragma once
#include <cstdint>

namespace fp4train {

void attention_forward(const float* q, const float* k, const float* v, float* y, float* p,
                       int64_t B, int64_t S, int64_t H, int64_t D, float scale);

void attention_backward(const float* q, const float* k, const float* v, const float* p,
                        const float* dy, float* dq, float* dk, float* dv, int64_t B, int64_t S,
                        int64_t H, int64_t D, float scale);

}  // namespace fp4train
