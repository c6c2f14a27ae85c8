// The scalar row kernels: docs/NUMERICS.md §2 one element at a time, through
// the per-block definitions of element_codec.h and scale_rules.h. This is
// the definition the SIMD kernels are tested against, and the path every
// machine without AVX2 takes. Plain loops, no intrinsics, no threads.
//
// aux: the scalar kernels need no precomputed factors; block_scales_ref
// only records in aux.enc[b] whether an MX block is all zero or not finite
// (0) or neither (1), since scale byte 0 alone does not say "all zero".
#include <cmath>
#include <cstring>

#include "formats/bf16.h"
#include "quant/element_codec.h"
#include "quant/quant_kernels.h"
#include "quant/scale_rules.h"
#include "util/counter_rng.h"

namespace fp4train {
namespace quant_detail {

namespace {

constexpr uint32_t kNotFinite = 0x7FC00000u;  // amax of a block holding NaN or Inf

void copy_ref(float* dst, const float* src, int64_t n) {
  std::memcpy(dst, src, sizeof(float) * size_t(n));
}

void transpose_ref(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows,
                   int64_t cols) {
  // Tiles of 16 x 16 so that both sides touch few cache lines at a time.
  for (int64_t r0 = 0; r0 < rows; r0 += 16)
    for (int64_t c0 = 0; c0 < cols; c0 += 16)
      for (int64_t r = r0; r < rows && r < r0 + 16; ++r)
        for (int64_t c = c0; c < cols && c < c0 + 16; ++c) dst[c * ds + r] = src[r * ss + c];
}

float finite_amax_ref(const float* x, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a <= 3.40282347e38f && a > amax) amax = a;
  }
  return amax;
}

void block_amax_ref(const float* x, int64_t n, int block, bool accumulate, uint32_t* amax) {
  const int64_t nb = (n + block - 1) / block;
  for (int64_t b = 0; b < nb; ++b) {
    float m = 0.0f;
    bool finite = true;
    for (int64_t i = b * block; i < n && i < (b + 1) * block; ++i) {
      const float a = std::fabs(x[i]);
      finite = finite && a <= 3.40282347e38f;
      m = a > m ? a : m;
    }
    const uint32_t bits = finite ? f32_bits(m) : kNotFinite;
    // Bit patterns of magnitudes order like the magnitudes; any value at or
    // above 0x7F800000 is "not finite", so the max combines tiles correctly.
    amax[b] = accumulate && amax[b] > bits ? amax[b] : bits;
  }
}

void block_scales_ref(const KernelParams& p, const uint32_t* amax, int64_t nb, uint8_t* scales,
                      BlockAux aux) {
  for (int64_t b = 0; b < nb; ++b) {
    const bool finite = amax[b] < 0x7F800000u;
    const float a = finite ? f32_from_bits(amax[b]) : std::nanf("");
    if (p.format == Format::kNvfp4) {
      scales[b] = nvfp4_scale_code(a, p.tensor_scale);
      aux.enc[b] = 1.0f;
    } else {
      scales[b] = mx_scale_code(a, p.elem, p.rule);
      aux.enc[b] = (finite && a != 0.0f) ? 1.0f : 0.0f;
    }
    aux.dec[b] = 0.0f;  // unused by the scalar kernels
  }
}

// The 24-bit stochastic-rounding integers of elements lo .. lo + n - 1.
void fill_k24(const KernelParams& p, FlatIndex idx, int64_t lo, int n, uint32_t* k24) {
  if (idx.step == 1) {
    random_bits_range(p.seed, kStreamQuantize, uint64_t(idx.first + lo), n, k24);
  } else {
    for (int i = 0; i < n; ++i)
      k24[i] = random_bits(p.seed, kStreamQuantize, uint64_t(idx.first + (lo + i) * idx.step));
  }
  for (int i = 0; i < n; ++i) k24[i] = k24_of(k24[i]);
}

float decode_one(const KernelParams& p, uint8_t code, uint8_t scale) {
  if (p.block == 0) return decode_tensor(code, p.tensor_scale, p.elem, p.prescale);
  if (p.format == Format::kNvfp4) return decode_nv(code, scale, p.s_dec, p.prescale);
  return decode_mx(code, scale, p.elem, p.prescale);
}

void encode_ref(const KernelParams& p, const float* x, int64_t n, const uint8_t* scales,
                BlockAux aux, FlatIndex idx, uint8_t* codes, float* values) {
  constexpr int kPiece = 32;  // elements per step for formats without block scales
  const int piece = p.block ? p.block : kPiece;
  const bool stochastic = p.rounding == Rounding::kStochastic;
  uint32_t k24[kPiece];
  uint8_t c[kPiece];
  uint16_t c16[kPiece];
  for (int64_t lo = 0, b = 0; lo < n; lo += piece, ++b) {
    const int m = int(n - lo < piece ? n - lo : piece);  // 1 .. piece
    if (m <= 0) break;
    if (stochastic) fill_k24(p, idx, lo, m, k24);
    const uint32_t* k = stochastic ? k24 : nullptr;
    const float* xb = x + lo;
    if (p.format == Format::kBf16) {
      for (int i = 0; i < m; ++i) c16[i] = bf16_encode(xb[i], p.rounding, k ? k[i] : 0u);
      if (codes) std::memcpy(codes + 2 * lo, c16, size_t(2 * m));  // little-endian pairs
      if (values)
        for (int i = 0; i < m; ++i) values[lo + i] = bf16_decode(c16[i]);
      continue;
    }
    if (p.block == 0) {
      encode_block_tensor(xb, m, p.tensor_scale, p.elem, p.rounding, p.prescale, k, c);
    } else if (p.format == Format::kNvfp4) {
      encode_block_nv(xb, m, scales[b], p.s_dec, p.rounding, p.prescale, k, c);
    } else {
      encode_block_mx(xb, m, scales[b], aux.enc[b] == 0.0f, p.elem, p.rounding, p.prescale, k, c);
    }
    if (codes) {
      if (p.elem == ElemType::kE2M1) {
        uint8_t* out = codes + lo / 2;  // lo is even
        for (int i = 0; i + 1 < m; i += 2) out[i / 2] = uint8_t(c[i] | c[i + 1] << 4);
        if (m & 1) out[m / 2] = c[m - 1];
      } else {
        std::memcpy(codes + lo, c, size_t(m));
      }
    }
    if (values)
      for (int i = 0; i < m; ++i) values[lo + i] = decode_one(p, c[i], p.block ? scales[b] : 0);
  }
}

void decode_ref(const KernelParams& p, const uint8_t* codes, int64_t n, const uint8_t* scales,
                float* values) {
  for (int64_t l = 0; l < n; ++l) {
    if (p.format == Format::kBf16) {
      values[l] = bf16_decode(uint16_t(codes[2 * l] | codes[2 * l + 1] << 8));
      continue;
    }
    const uint8_t c = p.elem == ElemType::kE2M1 ? e2m1_get(codes, l) : codes[l];
    values[l] = decode_one(p, c, p.block ? scales[l / p.block] : 0);
  }
}

}  // namespace

const QuantKernels& quant_kernels_ref() {
  static const QuantKernels k{"scalar", copy_ref, transpose_ref, finite_amax_ref, block_amax_ref, block_scales_ref,
                              encode_ref, decode_ref};
  return k;
}

const QuantKernels& quant_kernels(Isa isa) {
#ifdef FP4TRAIN_X86
  if (isa == Isa::kAvx512) return quant_kernels_avx512();
  if (isa == Isa::kAvx2) return quant_kernels_avx2();
#endif
  (void)isa;
  return quant_kernels_ref();
}

}  // namespace quant_detail
}  // namespace fp4train
