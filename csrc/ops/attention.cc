// Causal attention core: one task per (b, h) pair. Each task copies its
// head's rows into contiguous scratch (q, v as (S, D); k, v also transposed
// to (D, S)) so that the inner loops run over a contiguous axis of
// independent outputs: the compiler vectorizes them without reordering any
// sum (no -ffast-math needed), which keeps the bits thread- and ISA-free.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/accumulate.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

struct HeadView {
  int64_t S, H, D;
  // Offset of row s of head h of batch b in a (B, S, H, D) tensor.
  int64_t at(int64_t b, int64_t s, int64_t h) const { return ((b * S + s) * H + h) * D; }
};

// rows (S, D) and/or its transpose cols (D, S) of one head (either may be null).
void gather_head(const float* src, const HeadView& hv, int64_t b, int64_t h, float* rows,
                 float* cols) {
  for (int64_t s = 0; s < hv.S; ++s) {
    const float* r = src + hv.at(b, s, h);
    if (rows) std::copy(r, r + hv.D, rows + s * hv.D);
    if (cols)
      for (int64_t d = 0; d < hv.D; ++d) cols[d * hv.S + s] = r[d];
  }
}

void scatter_head(const float* rows, const HeadView& hv, int64_t b, int64_t h, float* dst) {
  for (int64_t s = 0; s < hv.S; ++s) std::copy(rows + s * hv.D, rows + (s + 1) * hv.D,
                                               dst + hv.at(b, s, h));
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, float* y, float* p,
                       int64_t B, int64_t S, int64_t H, int64_t D, float scale) {
  const HeadView hv{S, H, D};
  const AccumulateFn accumulate = accumulate_fn();
  parallel_for(B * H, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> qs(size_t(S * D)), kt(size_t(D * S)), vs(size_t(S * D)),
        ys(size_t(S * D));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / H, h = t % H;
      gather_head(q, hv, b, h, qs.data(), nullptr);
      gather_head(k, hv, b, h, nullptr, kt.data());
      gather_head(v, hv, b, h, vs.data(), nullptr);
      float* pt = p + t * S * S;
      for (int64_t i = 0; i < S; ++i) {
        float* pr = pt + i * S;
        const int64_t n = i + 1;  // keys 0..i
        std::fill(pr, pr + n, 0.0f);
        accumulate(pr, n, qs.data() + i * D, 1, kt.data(), S, D);  // q_i . k_j
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          pr[j] *= scale;
          mx = std::max(mx, pr[j]);
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < n; ++j) {
          pr[j] = std::exp(pr[j] - mx);
          sum += pr[j];
        }
        for (int64_t j = 0; j < n; ++j) pr[j] /= sum;
        std::fill(pr + n, pr + S, 0.0f);
        float* yr = ys.data() + i * D;
        std::fill(yr, yr + D, 0.0f);
        accumulate(yr, D, pr, 1, vs.data(), D, n);  // sum_j p_j v_j
      }
      scatter_head(ys.data(), hv, b, h, y);
    }
  });
}

void attention_backward(const float* q, const float* k, const float* v, const float* p,
                        const float* dy, float* dq, float* dk, float* dv, int64_t B, int64_t S,
                        int64_t H, int64_t D, float scale) {
  const HeadView hv{S, H, D};
  const AccumulateFn accumulate = accumulate_fn();
  parallel_for(B * H, 1, [&](int64_t t0, int64_t t1) {
    const size_t sd = size_t(S * D);
    std::vector<float> qs(sd), ks(sd), vt(sd), dys(sd), dqs(sd), dks(sd), dvs(sd);
    std::vector<float> ds(static_cast<size_t>(S * S), 0.0f);  // dS, 0 above the diagonal
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / H, h = t % H;
      gather_head(q, hv, b, h, qs.data(), nullptr);
      gather_head(k, hv, b, h, ks.data(), nullptr);
      gather_head(v, hv, b, h, nullptr, vt.data());
      gather_head(dy, hv, b, h, dys.data(), nullptr);
      std::fill(dqs.begin(), dqs.end(), 0.0f);
      std::fill(dks.begin(), dks.end(), 0.0f);
      std::fill(dvs.begin(), dvs.end(), 0.0f);
      const float* pt = p + t * S * S;
      // Rows i: dS and dq_i.
      for (int64_t i = 0; i < S; ++i) {
        const float* pr = pt + i * S;
        float* dsr = ds.data() + i * S;
        const int64_t n = i + 1;
        std::fill(dsr, dsr + n, 0.0f);
        accumulate(dsr, n, dys.data() + i * D, 1, vt.data(), S, D);  // dP_ij = dy_i . v_j
        float dot = 0.0f;
        for (int64_t j = 0; j < n; ++j) dot += dsr[j] * pr[j];
        for (int64_t j = 0; j < n; ++j) dsr[j] = ((dsr[j] - dot) * pr[j]) * scale;
        accumulate(dqs.data() + i * D, D, dsr, 1, ks.data(), D, n);  // sum_j dS_ij k_j
      }
      // Columns j: dv_j and dk_j sum over the rows i >= j, in increasing i.
      for (int64_t j = 0; j < S; ++j) {
        accumulate(dvs.data() + j * D, D, pt + j * S + j, S, dys.data() + j * D, D, S - j);
        accumulate(dks.data() + j * D, D, ds.data() + j * S + j, S, qs.data() + j * D, D, S - j);
      }
      scatter_head(dqs.data(), hv, b, h, dq);
      scatter_head(dks.data(), hv, b, h, dk);
      scatter_head(dvs.data(), hv, b, h, dv);
    }
  });
}

}  // namespace fp4train
