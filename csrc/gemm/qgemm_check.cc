// Operand validation of qgemm: every error names the argument and says what
// was expected, before any work is done (the bindings call it with the GIL
// held, under the Python argument names).
#include <string>

#include "gemm/qgemm.h"
#include "util/check.h"

namespace fp4train {

int qgemm_k_block(Format f) {
  const FormatTraits& t = format_traits(f);
  if (!is_block_quantized(f)) return 0;
  return t.block > 0 ? t.block : kVirtualBlock;
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

void check_operand(const QTensorView& q, const char* arg) {
  const std::string a(arg);
  const QLayout& L = q.layout;
  FP4_CHECK(L.shape.size() == 2, a,
            "expected a 2-D QTensor (rows, K) quantized along axis 1, got shape " +
                shape_str(L.shape));
  FP4_CHECK(L.axis == 1, a,
            "expected a 2-D QTensor quantized along axis 1 (K), got one quantized along axis " +
                std::to_string(L.axis) + " with shape " + shape_str(L.shape) +
                "; a 2-D tensor quantized along axis 0 is its transpose quantized along axis "
                "1: pass " + a + ".T (no copy)");
  // The layout must be the one the format implies (a hand-built view could
  // disagree with its own spec); then the buffer sizes must match it.
  const QLayout expect = make_layout(L.shape, L.axis, q.spec);
  FP4_CHECK(expect.rows == L.rows && expect.length == L.length && expect.block == L.block &&
                expect.block_2d == L.block_2d && expect.nblocks == L.nblocks &&
                expect.row_bytes == L.row_bytes && expect.scale_rows == L.scale_rows,
            a, std::string("layout does not match shape ") + shape_str(L.shape) + " and format '" +
                   format_name(q.spec.format) + "'");
  validate_view(q, arg);
}

}  // namespace

QGemmShape qgemm_check(const QTensorView& a, const QTensorView& b, const char* arg_a,
                       const char* arg_b) {
  check_operand(a, arg_a);
  check_operand(b, arg_b);
  const int64_t K = a.layout.shape[1];
  FP4_CHECK(b.layout.shape[1] == K, arg_b,
            "expected shape (N, " + std::to_string(K) + ") to match K = " + std::to_string(K) +
                " of " + arg_a + " " + shape_str(a.layout.shape) + ", got shape " +
                shape_str(b.layout.shape));
  const Format fa = a.spec.format, fb = b.spec.format;
  if (is_block_quantized(fa) && is_block_quantized(fb)) {
    const int ba = qgemm_k_block(fa), bb = qgemm_k_block(fb);
    FP4_CHECK(ba == bb, arg_b,
              std::string("expected a format with K blocks of ") + std::to_string(ba) +
                  " to match " + arg_a + " (" + format_name(fa) + "), got " + format_name(fb) +
                  " with K blocks of " + std::to_string(bb) +
                  "; block formats multiply only with the same block size along K");
  }
  return QGemmShape{a.layout.shape[0], b.layout.shape[0], K};
}

}  // namespace fp4train
