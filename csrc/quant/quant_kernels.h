// Internal: the row kernels of the quantization pipeline, one set per ISA.
// Not part of the public API (quantize.h is).
//
// The pipeline (quantize.cc) owns layout, threads, gathering and transforms;
// it hands these kernels contiguous pieces of storage rows that start at a
// block boundary (any element offset for formats without block scales, but
// always an even one, so FP4 codes start on a byte):
//
//   block_amax    x[0..n) -> amax[b] for its ceil(n / block) blocks
//   block_scales  amax -> scale bytes, plus per-block factors for encode
//   encode        x[0..n) + scales -> packed codes and/or decoded values
//   decode        packed codes + scales -> values (dequantize)
//
// `amax` values are float32 bit patterns of |x| (sign cleared): compared as
// integers they order like the magnitudes, and any value >= 0x7F800000
// means "the block holds a NaN or an Inf". 2-D tiles max-combine the amax
// of their rows (block_amax with accumulate) before block_scales.
//
// The scalar set (quant_kernels_ref.cc) is the definition: it calls the
// per-block encoders of element_codec.h. The SIMD sets (quant_kernels_avx2.cc,
// quant_kernels_avx512.cc, from quant_simd-inl.h) give identical bytes and
// identical float32 bits for every input, and are tested against it.
#pragma once
#include <cstdint>

#include "formats/formats.h"
#include "util/cpu_features.h"

namespace fp4train {
namespace quant_detail {

// Everything about the format and the tensor a row kernel needs.
struct KernelParams {
  Format format = Format::kMxfp4;
  ElemType elem = ElemType::kE2M1;
  int block = 0;               // elements per block along the row (0: none)
  ScaleRule rule = ScaleRule::kFloor;
  Rounding rounding = Rounding::kNearest;
  float prescale = 1.0f;
  float tensor_scale = 1.0f;   // NVFP4 s_enc, per-tensor FP8 s, else 1
  float s_dec = 1.0f;          // NVFP4 RN(1 / s_enc)
  float nv_sf = 0.0f;          // NVFP4 RN(s_enc * RN(1/6)), the block-scale factor
  uint64_t seed = 0;
};

// Stochastic rounding's index of element l of a row piece: first + l * step
// (the flat C-order index in the logical array, docs/NUMERICS.md §2).
struct FlatIndex {
  int64_t first = 0;
  int64_t step = 1;
};

// Per-block factors block_scales computes for encode (each ISA reads only
// the ones its own block_scales wrote):
//   enc: MX 2^-e, or 0 when the block is all zero or not finite (its codes
//        are then 0); NVFP4 enc = RN(1 / RN(S * s_dec)) (0 when S = 0, +Inf
//        when that overflows), NaN when the block is not finite.
//   dec: the decoded block scale (MX 2^e, NVFP4 S), NaN when not finite.
struct BlockAux {
  float* enc;
  float* dec;
};

struct QuantKernels {
  const char* name;
  // dst[0..n) = src[0..n) (the transform path's row pieces; glibc's memcpy
  // is slow for the 2-4 KiB pieces coming from DRAM on some machines).
  void (*copy)(float* dst, const float* src, int64_t n);
  // dst[c * ds + r] = src[r * ss + c] for r < rows, c < cols (the strided
  // path's gather and scatter; src and dst do not overlap).
  void (*transpose)(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows,
                    int64_t cols);
  // Largest finite |x| over x[0..n), +0 when there is none.
  float (*finite_amax)(const float* x, int64_t n);
  // amax[b] of the nb = ceil(n / block) blocks of x[0..n) (the last may be
  // partial); with `accumulate`, amax[b] = max(amax[b], new amax).
  void (*block_amax)(const float* x, int64_t n, int block, bool accumulate, uint32_t* amax);
  // Scale bytes of nb blocks (E8M0 for MX, E4M3 for NVFP4) and their aux.
  void (*block_scales)(const KernelParams& p, const uint32_t* amax, int64_t nb, uint8_t* scales,
                       BlockAux aux);
  // Encodes x[0..n): packed codes into `codes` (ceil(n * bits / 8) bytes; an
  // odd FP4 count leaves the last high nibble 0) and/or decoded values into
  // `values` (n floats), either may be null. Blocks are indexed from the
  // start of the piece in `scales` / `aux`; formats without block scales
  // ignore both.
  void (*encode)(const KernelParams& p, const float* x, int64_t n, const uint8_t* scales,
                 BlockAux aux, FlatIndex index, uint8_t* codes, float* values);
  // Decodes n packed codes (a piece starting at a block boundary) to values.
  void (*decode)(const KernelParams& p, const uint8_t* codes, int64_t n, const uint8_t* scales,
                 float* values);
};

// The set for an ISA (scalar when the ISA is not compiled in).
const QuantKernels& quant_kernels(Isa isa);

const QuantKernels& quant_kernels_ref();
#ifdef FP4TRAIN_X86
const QuantKernels& quant_kernels_avx2();
const QuantKernels& quant_kernels_avx512();
#endif

}  // namespace quant_detail
}  // namespace fp4train
