#include "gemm/qgemm_pack.h"

#include <cmath>
#include <cstring>

#include "formats/e2m1.h"
#include "formats/e8m0.h"
#include "formats/fp8.h"
#include "gemm/gemm_kernels.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace fp4train {
namespace gemm_detail {

int elem_shift(ElemType e) {
  switch (e) {
    case ElemType::kE2M1: return 1;
    case ElemType::kE4M3: return 9;
    default: return 16;
  }
}

ScaleParts scale_parts(const QTensorView& q, int64_t row, int64_t block) {
  const FormatTraits& t = format_traits(q.spec.format);
  if (t.scale == ScaleType::kNone) return {1, 0, false};
  const int64_t srow = q.layout.block_2d ? row / q.layout.block : row;
  const uint8_t byte = q.scales[srow * q.layout.nblocks + block];
  if (t.scale == ScaleType::kE8M0) {
    if (byte == kE8M0NaN) return {0, 0, true};
    return {1, int(byte) - kE8M0Bias, false};
  }
  const float s = e4m3_decode(byte);
  if (std::isnan(s)) return {0, 0, true};
  return {int64_t(s * 512.0f), -9, false};
}

double scale_f64(const QTensorView& q, int64_t row, int64_t block, int shift) {
  const ScaleParts p = scale_parts(q, row, block);
  if (p.nan) return std::nan("");
  return std::ldexp(double(p.j), p.e - shift);
}

namespace {

// value * 2^shift of every FP8 code, as doubles (NaN/Inf kept).
struct Fp8IntTables {
  double e4m3[256], e5m2[256];
  Fp8IntTables() {
    for (int c = 0; c < 256; ++c) {
      e4m3[c] = std::ldexp(double(e4m3_decode(uint8_t(c))), 9);
      e5m2[c] = std::ldexp(double(e5m2_decode(uint8_t(c))), 16);
    }
  }
};
const Fp8IntTables& fp8_tables() {
  static const Fp8IntTables t;
  return t;
}

}  // namespace

void row_ints_f64(const QTensorView& q, int64_t row, int64_t kp, double* out) {
  const int64_t K = q.layout.length;
  const uint8_t* p = q.codes + row * q.layout.row_bytes;
  switch (format_traits(q.spec.format).elem) {
    case ElemType::kE2M1:
      for (int64_t k = 0; k < K; ++k) out[k] = double(kE2M1Doubled[e2m1_get(p, k)]);
      break;
    case ElemType::kE4M3: {
      const double* t = fp8_tables().e4m3;
      for (int64_t k = 0; k < K; ++k) out[k] = t[p[k]];
      break;
    }
    default: {
      const double* t = fp8_tables().e5m2;
      for (int64_t k = 0; k < K; ++k) out[k] = t[p[k]];
      break;
    }
  }
  for (int64_t k = K; k < kp; ++k) out[k] = 0.0;
}

RowsI8 pack_rows_i8(const QTensorView& q, int blk) {
  RowsI8 r;
  const int64_t R = q.layout.rows, K = q.layout.length;
  r.nblk = (K + blk - 1) / blk;
  r.kp = r.nblk * blk;
  r.a.assign(size_t(R * r.kp), uint8_t(12));  // padding: value 0, biased
  r.s.resize(size_t(R * r.nblk));
  parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      const uint8_t* p = q.codes + row * q.layout.row_bytes;
      uint8_t* dst = r.a.data() + row * r.kp;
      for (int64_t k = 0; k < K; ++k) dst[k] = uint8_t(kE2M1Doubled[e2m1_get(p, k)] + 12);
      for (int64_t b = 0; b < r.nblk; ++b) r.s[size_t(row * r.nblk + b)] = scale_f64(q, row, b, 1);
    }
  });
  return r;
}

PanelsI8 pack_panels_i8(const QTensorView& q, int blk, int nr) {
  PanelsI8 out;
  const int64_t N = q.layout.rows, K = q.layout.length;
  const int64_t nblk = (K + blk - 1) / blk, panels = (N + nr - 1) / nr;
  out.b.assign(size_t(panels * nblk * blk * nr), int8_t(0));
  out.corr.assign(size_t(panels * nblk * nr), int16_t(0));
  out.s.assign(size_t(panels * nblk * nr), 0.0);
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int j = 0; j < nr; ++j) {
        const int64_t n = p * nr + j;
        if (n >= N) break;
        const uint8_t* src = q.codes + n * q.layout.row_bytes;
        for (int64_t b = 0; b < nblk; ++b) {
          int8_t* dst = out.b.data() + (p * nblk + b) * blk * nr;
          int sum = 0;
          for (int64_t kk = 0; kk < blk && b * blk + kk < K; ++kk) {
            const int8_t v = kE2M1Doubled[e2m1_get(src, b * blk + kk)];
            dst[((kk / 2) * nr + j) * 2 + kk % 2] = v;
            sum += v;
          }
          out.corr[size_t((p * nblk + b) * nr + j)] = int16_t(12 * sum);
          out.s[size_t((p * nblk + b) * nr + j)] = scale_f64(q, n, b, 1);
        }
      }
  });
  return out;
}

namespace {

// Per code byte (two E2M1 codes, low nibble first): the doubled values as
// bytes (low in bits 0-7), and the same + 12 (the biased form).
struct E2M1PairTable {
  uint16_t pair[256], biased[256];
  E2M1PairTable() {
    for (int c = 0; c < 256; ++c) {
      const int8_t lo = kE2M1Doubled[c & 0xF], hi = kE2M1Doubled[c >> 4];
      pair[c] = uint16_t(uint8_t(lo) | (uint8_t(hi) << 8));
      biased[c] = uint16_t(uint8_t(lo + 12) | (uint8_t(hi + 12) << 8));
    }
  }
};
const E2M1PairTable& e2m1_pairs() {
  static const E2M1PairTable t;
  return t;
}

inline void store32(void* p, uint32_t w) { std::memcpy(p, &w, 4); }

// The float form of every scale byte (what scale_parts means by it):
// kExp (E8M0): e - 1, NaN for 0xFF; kValue (E4M3): its value / 2 (exact),
// NaN for the NaN codes.
struct Fp4ScaleTable {
  float v[256];
  explicit Fp4ScaleTable(Fp4ScaleForm form) {
    for (int c = 0; c < 256; ++c) {
      if (form == Fp4ScaleForm::kExp) {
        v[c] = c == kE8M0NaN ? std::nanf("") : float(c - kE8M0Bias - 1);
      } else {
        const float s = e4m3_decode(uint8_t(c));
        v[c] = std::isnan(s) ? std::nanf("") : s * 0.5f;
      }
    }
  }
};

// Scale bytes of a row (1-D blocks) or of its 16-row tile (2-D).
inline const uint8_t* scale_row(const QTensorView& q, int64_t row) {
  const int64_t srow = q.layout.block_2d ? row / q.layout.block : row;
  return q.scales + srow * q.layout.nblocks;
}

void e2m1_row_scalar(const uint8_t* codes, int64_t K, int64_t kp, int blk, uint8_t bias,
                     uint8_t* out, int32_t* bsum) {
  const E2M1PairTable& tab = e2m1_pairs();
  const uint16_t* t = bias == 0 ? tab.pair : tab.biased;  // bias is 0 or 12
  int64_t k = 0;
  for (; k + 2 <= K; k += 2) {
    const uint16_t w = t[codes[k / 2]];
    out[k] = uint8_t(w);
    out[k + 1] = uint8_t(w >> 8);
  }
  for (; k < K; ++k) out[k] = uint8_t(kE2M1Doubled[e2m1_get(codes, k)] + bias);
  for (; k < kp; ++k) out[k] = bias;
  if (!bsum) return;
  for (int64_t b = 0; b * blk < kp; ++b) {
    int32_t sum = 0;
    for (int i = 0; i < blk; ++i) sum += int8_t(out[b * blk + i]);
    bsum[b] = sum;
  }
}

E2M1RowFn e2m1_row_fn() {
#ifdef FP4TRAIN_X86
  if (active_isa() == Isa::kAvx512) return e2m1_row_avx512;
#endif
  return e2m1_row_scalar;
}

}  // namespace

RowsFp4 pack_rows_fp4(const QTensorView& q, int blk, int mr, Fp4ScaleForm form) {
  RowsFp4 r;
  const int64_t R = q.layout.rows, K = q.layout.length;
  r.nblk = (K + blk - 1) / blk;
  r.kp = r.nblk * blk;
  const int64_t tiles = (R + mr - 1) / mr, kp = r.kp, nblk = r.nblk;
  r.a.resize(size_t(tiles * kp * mr));
  r.ncorr.resize(size_t(tiles * nblk * mr));
  r.s.resize(size_t(tiles * nblk * mr));
  const Fp4ScaleTable st(form);
  const E2M1RowFn decode = e2m1_row_fn();
  parallel_for(tiles, 4, [&](int64_t t0, int64_t t1) {
    std::vector<uint8_t> row(static_cast<size_t>(kp));
    std::vector<int32_t> bsum(static_cast<size_t>(nblk));
    for (int64_t t = t0; t < t1; ++t)
      for (int i = 0; i < mr; ++i) {
        const int64_t m = t * mr + i;
        int8_t* dst = r.a.data() + t * kp * mr + 4 * i;
        int32_t* nc = r.ncorr.data() + t * nblk * mr + i;
        float* sd = r.s.data() + t * nblk * mr + i;
        if (m >= R) {  // padding rows: zero values and scales
          for (int64_t g = 0; g < kp / 4; ++g) store32(dst + 4 * g * mr, 0);
          for (int64_t b = 0; b < nblk; ++b) nc[b * mr] = 0, sd[b * mr] = 0.0f;
          continue;
        }
        decode(q.codes + m * q.layout.row_bytes, K, kp, blk, 0, row.data(), bsum.data());
        for (int64_t g = 0; g < kp / 4; ++g) std::memcpy(dst + 4 * g * mr, row.data() + 4 * g, 4);
        const uint8_t* sc = scale_row(q, m);
        for (int64_t b = 0; b < nblk; ++b) {
          nc[b * mr] = -12 * bsum[size_t(b)];
          sd[b * mr] = st.v[sc[b]];
        }
      }
  });
  return r;
}

PanelsFp4 pack_panels_fp4(const QTensorView& q, int blk, int nr, Fp4ScaleForm form) {
  PanelsFp4 out;
  const int64_t N = q.layout.rows, K = q.layout.length;
  const int64_t nblk = (K + blk - 1) / blk, kp = nblk * blk, panels = (N + nr - 1) / nr;
  out.b.resize(size_t(panels * kp * nr));
  out.s.resize(size_t(panels * nblk * nr));
  const Fp4ScaleTable st(form);
  const E2M1RowFn decode = e2m1_row_fn();
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    std::vector<uint8_t> rows(static_cast<size_t>(nr * kp));  // the panel's columns, decoded
    for (int64_t p = p0; p < p1; ++p) {
      for (int j = 0; j < nr; ++j) {
        const int64_t n = p * nr + j;
        uint8_t* rj = rows.data() + j * kp;
        if (n < N) decode(q.codes + n * q.layout.row_bytes, K, kp, blk, 12, rj, nullptr);
        else std::memset(rj, 12, size_t(kp));  // padding columns: value 0 (biased 12)
        float* sd = out.s.data() + p * nblk * nr + j;
        const uint8_t* sc = n < N ? scale_row(q, n) : nullptr;
        for (int64_t b = 0; b < nblk; ++b) sd[b * nr] = sc ? st.v[sc[b]] : 0.0f;
      }
      uint8_t* dst = out.b.data() + p * kp * nr;
      for (int64_t g = 0; g < kp / 4; ++g)
        for (int j = 0; j < nr; ++j)
          std::memcpy(dst + (g * nr + j) * 4, rows.data() + j * kp + 4 * g, 4);
    }
  });
  return out;
}

RowsF64 pack_rows_f64(const QTensorView& q, int blk) {
  RowsF64 r;
  const int64_t R = q.layout.rows, K = q.layout.length;
  const int shift = elem_shift(format_traits(q.spec.format).elem);
  r.nblk = (K + blk - 1) / blk;
  r.kp = r.nblk * blk;
  r.a.resize(size_t(R * r.kp));
  r.s.resize(size_t(R * r.nblk));
  parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      row_ints_f64(q, row, r.kp, r.a.data() + row * r.kp);
      for (int64_t b = 0; b < r.nblk; ++b)
        r.s[size_t(row * r.nblk + b)] = scale_f64(q, row, b, shift);
    }
  });
  return r;
}

PanelsF64 pack_panels_f64(const QTensorView& q, int blk, int nr) {
  PanelsF64 out;
  const int64_t N = q.layout.rows, K = q.layout.length;
  const int shift = elem_shift(format_traits(q.spec.format).elem);
  const int64_t nblk = (K + blk - 1) / blk, kp = nblk * blk, panels = (N + nr - 1) / nr;
  out.b.assign(size_t(panels * kp * nr), 0.0);
  out.s.assign(size_t(panels * nblk * nr), 0.0);
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    std::vector<double> row(static_cast<size_t>(kp));
    for (int64_t p = p0; p < p1; ++p)
      for (int j = 0; j < nr; ++j) {
        const int64_t n = p * nr + j;
        if (n >= N) break;
        row_ints_f64(q, n, kp, row.data());
        double* dst = out.b.data() + p * kp * nr + j;
        for (int64_t k = 0; k < kp; ++k) dst[k * nr] = row[size_t(k)];
        for (int64_t b = 0; b < nblk; ++b)
          out.s[size_t((p * nblk + b) * nr + j)] = scale_f64(q, n, b, shift);
      }
  });
  return out;
}

PanelsF64 pack_panels_split(const QTensorView& q, int blk, int nr) {
  PanelsF64 out;
  const int64_t N = q.layout.rows, K = q.layout.length;
  const int shift = elem_shift(format_traits(q.spec.format).elem);
  const int64_t nblk = (K + blk - 1) / blk, kp = nblk * blk, panels = (N + nr - 1) / nr;
  out.b.assign(size_t(panels * kp * 2 * nr), 0.0);
  out.s.assign(size_t(panels * nblk * nr), 0.0);
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    std::vector<double> row(static_cast<size_t>(kp));
    for (int64_t p = p0; p < p1; ++p)
      for (int j = 0; j < nr; ++j) {
        const int64_t n = p * nr + j;
        if (n >= N) break;
        row_ints_f64(q, n, kp, row.data());
        double* dst = out.b.data() + p * kp * 2 * nr + j;
        for (int64_t k = 0; k < kp; ++k) {
          const double v = row[size_t(k)];
          // hi = trunc(v / 2^16), lo = v - hi * 2^16: exact, |lo| < 2^16.
          const double hi = std::isfinite(v) ? std::trunc(v * (1.0 / 65536.0)) : v;
          dst[(2 * k) * nr] = hi;
          dst[(2 * k + 1) * nr] = std::isfinite(v) ? v - hi * 65536.0 : 0.0;
        }
        for (int64_t b = 0; b < nblk; ++b)
          out.s[size_t((p * nblk + b) * nr + j)] = scale_f64(q, n, b, shift);
      }
  });
  return out;
}

}  // namespace gemm_detail
}  // namespace fp4train
