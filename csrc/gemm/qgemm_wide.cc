// qgemm's wide-integer path: E5M2 x E5M2, whose block sums can reach 2^68.6
// (128-bit), so the exact double FMAs of the f64 kernels do not apply (and
// the exact finish of the split kernels' rare lanes, split_term_exact). Portable C++, threads
// over output rows; each output still adds its blocks in increasing K order.
// Only E8M0 or unit block scales reach here (j = 1), so a block term is
// round_scaled(S, ea + eb - shifts); NaN scales and NaN/Inf element codes are
// handled as in qgemm_ref.
#include <cmath>
#include <vector>

#include "gemm/qgemm_pack.h"
#include "gemm/qgemm_wide.h"
#include "gemm/round_scaled.h"
#include "util/parallel.h"

namespace fp4train {
namespace gemm_detail {

namespace {

struct WideRows {
  std::vector<int64_t> ints;     // rows x kp, 0 for NaN/Inf codes
  std::vector<double> vals;      // rows x kp, the integers as doubles, NaN/Inf kept
  std::vector<uint8_t> nonfin;   // rows x nblk: the block holds a NaN/Inf code
  std::vector<int> e;            // rows x nblk: scale exponent
  std::vector<uint8_t> nan;      // rows x nblk: scale is NaN
  int64_t kp = 0, nblk = 0;
};

WideRows pack_wide(const QTensorView& q, int blk) {
  WideRows w;
  const int64_t R = q.layout.rows, K = q.layout.length;
  w.nblk = (K + blk - 1) / blk;
  w.kp = w.nblk * blk;
  w.ints.resize(size_t(R * w.kp));
  w.vals.resize(size_t(R * w.kp));
  w.nonfin.assign(size_t(R * w.nblk), 0);
  w.e.resize(size_t(R * w.nblk));
  w.nan.resize(size_t(R * w.nblk));
  parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double* v = w.vals.data() + r * w.kp;
      row_ints_f64(q, r, w.kp, v);
      for (int64_t k = 0; k < w.kp; ++k) {
        const bool fin = std::isfinite(v[k]);
        w.ints[size_t(r * w.kp + k)] = fin ? int64_t(v[k]) : 0;  // exact: |v| < 2^32
        if (!fin) w.nonfin[size_t(r * w.nblk + k / blk)] = 1;
      }
      for (int64_t b = 0; b < w.nblk; ++b) {
        const ScaleParts s = scale_parts(q, r, b);
        w.e[size_t(r * w.nblk + b)] = s.e;
        w.nan[size_t(r * w.nblk + b)] = s.nan;
      }
    }
  });
  return w;
}

template <class Acc>
void wide_impl(const WideRows& A, const WideRows& B, int64_t M, int64_t N, int blk, int shifts,
               float* c) {
  const int64_t kp = A.kp, nblk = A.nblk;
  parallel_for(M, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n) {
        float acc = 0.0f;
        for (int64_t b = 0; b < nblk; ++b) {
          const size_t ia = size_t(m * nblk + b), ib = size_t(n * nblk + b);
          const int64_t k0 = b * blk;
          float t;
          if (A.nan[ia] || B.nan[ib]) {
            t = std::nanf("");
          } else if (A.nonfin[ia] || B.nonfin[ib]) {
            double s = 0.0;  // IEEE: NaN or +-Inf
            for (int k = 0; k < blk; ++k) s += A.vals[size_t(m * kp + k0 + k)] * B.vals[size_t(n * kp + k0 + k)];
            t = float(s);
          } else {
            Acc s = 0;
            const int64_t* pa = A.ints.data() + m * kp + k0;
            const int64_t* pb = B.ints.data() + n * kp + k0;
            for (int k = 0; k < blk; ++k) s += Acc(pa[k]) * pb[k];
            t = round_scaled(s, A.e[ia] + B.e[ib] - shifts);
          }
          acc = acc + t;
        }
        c[m * N + n] = acc;
      }
  });
}

}  // namespace

float split_term_exact(double hi, double lo, double sa, double sb) {
  if (std::isnan(sa) || std::isnan(sb)) return std::nanf("");
  const double v = hi * 65536.0 + lo;
  if (!std::isfinite(hi) || !std::isfinite(lo)) return float(v * sb * sa);  // NaN or +-Inf
  const int64_t s = int64_t(hi) * 65536 + int64_t(lo);  // |hi|, |lo| < 2^39: exact
  return round_scaled(s, std::ilogb(sa) + std::ilogb(sb));
}

void qgemm_wide_acc(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk,
                    float* c) {
  const ElemType ea = format_traits(a.spec.format).elem, eb = format_traits(b.spec.format).elem;
  const int shifts = elem_shift(ea) + elem_shift(eb);
  const WideRows A = pack_wide(a, blk), B = pack_wide(b, blk);
  if (ea == ElemType::kE5M2 && eb == ElemType::kE5M2)
    wide_impl<int128_t>(A, B, M, N, blk, shifts, c);
  else
    wide_impl<int64_t>(A, B, M, N, blk, shifts, c);
}

}  // namespace gemm_detail
}  // namespace fp4train
