// qgemm_ref: the definition of the quantized GEMM (NUMERICS §5), one output
// at a time, in plain loops. Elements and scales are read through the
// format codecs and turned into integers by exact scaling, independently of
// the packed integer panels the fast kernels use.
#include <cmath>

#include "formats/e2m1.h"
#include "formats/e8m0.h"
#include "formats/fp8.h"
#include "gemm/gemm_f32.h"
#include "gemm/qgemm.h"
#include "gemm/round_scaled.h"
#include "quant/quantize.h"

namespace fp4train {

namespace {

// Decoded value of element (row, k) of a 2-D FP4/FP8 operand along axis 1.
float elem_value(const QTensorView& q, int64_t row, int64_t k) {
  const uint8_t* p = q.codes + row * q.layout.row_bytes;
  switch (format_traits(q.spec.format).elem) {
    case ElemType::kE2M1: return e2m1_decode(e2m1_get(p, k));
    case ElemType::kE4M3: return e4m3_decode(p[k]);
    default: return e5m2_decode(p[k]);
  }
}

// Elements are integers times 2^-shift: the smallest magnitude is 2^-shift.
int elem_shift(Format f) {
  switch (format_traits(f).elem) {
    case ElemType::kE2M1: return 1;
    case ElemType::kE4M3: return 9;
    default: return 16;
  }
}

// Block scale of (row, block) as j * 2^e, or NaN.
struct BlockScale {
  int64_t j;
  int e;
  bool nan;
};

BlockScale block_scale(const QTensorView& q, int64_t row, int64_t b) {
  const FormatTraits& t = format_traits(q.spec.format);
  if (t.scale == ScaleType::kNone) return {1, 0, false};  // per-tensor fp8: unit scale
  const int64_t srow = q.layout.block_2d ? row / q.layout.block : row;
  const uint8_t byte = q.scales[srow * q.layout.nblocks + b];
  if (t.scale == ScaleType::kE8M0) {
    if (byte == kE8M0NaN) return {0, 0, true};
    return {1, int(byte) - kE8M0Bias, false};
  }
  const float s = e4m3_decode(byte);
  if (std::isnan(s)) return {0, 0, true};
  return {int64_t(s * 512.0f), -9, false};  // E4M3 values are multiples of 2^-9
}

// d = RN(1 / tensor_scale) for formats with a tensor scale, else 1.
float decode_factor(const QTensorView& q) {
  return format_traits(q.spec.format).tensor_scale ? 1.0f / q.tensor_scale : 1.0f;
}

}  // namespace

void qgemm_ref(const QTensorView& a, const QTensorView& b, float* c) {
  const QGemmShape s = qgemm_check(a, b);
  const int64_t M = s.M, N = s.N, K = s.K;
  if (!is_block_quantized(a.spec.format) || !is_block_quantized(b.spec.format)) {
    std::vector<float> fa(size_t(M * K)), fb(size_t(N * K));
    dequantize(a, fa.data());
    dequantize(b, fb.data());
    gemm_f32_ref(fa.data(), fb.data(), c, M, N, K);
    return;
  }
  const int block = qgemm_k_block(a.spec.format);
  const int64_t nblocks = (K + block - 1) / block;
  const int sha = elem_shift(a.spec.format), shb = elem_shift(b.spec.format);
  const float d = decode_factor(a) * decode_factor(b);
  const float pa = a.spec.prescale, pb = b.spec.prescale;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float acc = 0.0f;
      for (int64_t blk = 0; blk < nblocks; ++blk) {
        const int64_t k0 = blk * block, k1 = k0 + block < K ? k0 + block : K;
        int128_t S = 0;
        double ieee = 0.0;  // only used when an element is NaN/Inf
        bool nonfinite = false;
        for (int64_t k = k0; k < k1; ++k) {
          const float va = elem_value(a, m, k), vb = elem_value(b, n, k);
          if (!std::isfinite(va) || !std::isfinite(vb)) nonfinite = true;
          ieee += double(va) * double(vb);
          if (nonfinite) continue;
          const int64_t ia = int64_t(std::ldexp(double(va), sha));  // exact integers
          const int64_t ib = int64_t(std::ldexp(double(vb), shb));
          S += int128_t(ia) * ib;
        }
        const BlockScale sa = block_scale(a, m, blk), sb = block_scale(b, n, blk);
        float t;
        if (sa.nan || sb.nan) t = std::nanf("");
        else if (nonfinite) t = float(ieee);  // NaN or +-Inf
        else t = round_scaled(S * sa.j * sb.j, sa.e + sb.e - sha - shb);
        acc = acc + t;
      }
      float out = acc * d;
      if (pa != 1.0f) out = out / pa;
      if (pb != 1.0f) out = out / pb;
      c[m * N + n] = out;
    }
  }
}

std::vector<float> qgemm_ref(const QTensorView& a, const QTensorView& b) {
  const QGemmShape s = qgemm_check(a, b);
  std::vector<float> c(size_t(s.M * s.N));
  qgemm_ref(a, b, c.data());
  return c;
}

}  // namespace fp4train
