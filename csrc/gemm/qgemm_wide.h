// Internal: qgemm's wide-integer path (see qgemm_wide.cc). Writes the float32
// block accumulators acc (M x N row-major), before tensor scales and prescales.
#pragma once
#include <cstdint>

#include "quant/qtensor.h"

namespace fp4train {
namespace gemm_detail {

void qgemm_wide_acc(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk,
                    float* c);

}  // namespace gemm_detail
}  // namespace fp4train
