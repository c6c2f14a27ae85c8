#include "quant/transpose.h"

#include "formats/e2m1.h"
#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

QTensorView transposed_view(const QTensorView& q) {
  FP4_CHECK(q.layout.shape.size() == 2, "q", "expected a 2-D QTensor to transpose");
  QTensorView t = q;
  t.layout = make_layout({q.layout.shape[1], q.layout.shape[0]}, 1 - q.layout.axis, q.spec);
  return t;
}

QTensor transpose_storage(const QTensorView& q) {
  QTensor out;
  transpose_storage_into(out, q);
  return out;
}

void transpose_storage_into(QTensor& out, const QTensorView& q) {
  validate_view(q);
  FP4_CHECK(q.layout.shape.size() == 2, "q", "expected a 2-D QTensor to transpose");
  FP4_CHECK(q.layout.block == 0 || q.layout.block_2d, "q",
            "expected 2-D tiles or a format without block scales (1-D block scales do not "
            "cover the other axis)");
  FP4_CHECK(out.codes.empty() || out.codes.data() != q.codes, "out", "must not be the source");
  out.spec = q.spec;
  out.tensor_scale = q.tensor_scale;
  out.layout = make_layout(q.layout.shape, 1 - q.layout.axis, q.spec);
  const QLayout& S = q.layout;     // source storage: S.rows x S.length
  const QLayout& D = out.layout;   // destination: D.rows = S.length, D.length = S.rows
  out.codes.assign(size_t(D.codes_bytes()), 0);
  const int bits = elem_traits(format_traits(q.spec.format).elem).bits;
  const int bytes = bits / 8;
  parallel_for(D.rows, 64, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      uint8_t* drow = out.codes.data() + r * D.row_bytes;
      for (int64_t l = 0; l < D.length; ++l) {
        const uint8_t* srow = q.codes + l * S.row_bytes;
        if (bits == 4) {
          drow[l >> 1] = uint8_t(drow[l >> 1] | (e2m1_get(srow, r) << ((l & 1) * 4)));
        } else {
          for (int k = 0; k < bytes; ++k) drow[l * bytes + k] = srow[r * bytes + k];
        }
      }
    }
  });
  // Tile scales: source grid (S.scale_rows x S.nblocks) -> its transpose.
  out.scales.assign(size_t(D.scales_bytes()), 0);
  for (int64_t i = 0; i < D.scale_rows; ++i)
    for (int64_t j = 0; j < D.nblocks; ++j)
      out.scales[size_t(i * D.nblocks + j)] = q.scales[j * S.nblocks + i];
}

}  // namespace fp4train
