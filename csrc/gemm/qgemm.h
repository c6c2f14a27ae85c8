// Quantized GEMM: C = A B^T on block-quantized operands (DESIGN §2,
// docs/NUMERICS.md §5, which this comment restates).
//
//   a: QTensorView of logical shape (M, K), quantized along axis 1 (K)
//   b: QTensorView of logical shape (N, K), quantized along axis 1 (K)
//   c: (M, N) float32, row-major, written (not accumulated into)
// A weight W quantized along axis 0 reaches qgemm as its transpose along axis
// 1 at no cost (transposed_view in quant/transpose.h; QTensor.T in Python).
//
// Block formats (mxfp4, nvfp4 with 1-D blocks or 16x16 tiles, mxfp8_e4m3,
// mxfp8_e5m2, fp8_e4m3, fp8_e5m2, in any pair with the same block size along
// K; per-tensor fp8 uses virtual blocks of 32 with unit scale). Every element
// is an integer times a power of two (E2M1 i * 2^-1, E4M3 i * 2^-9, E5M2
// i * 2^-16) and so is every block scale (E8M0 2^e, E4M3 j * 2^-9). For each
// output and each K-block b, in increasing b:
//     S   = sum_k ia_k * ib_k                  exact integer
//     t   = RN(S * ja * jb * 2^(ea + eb - shifts))   one float32 rounding,
//           subnormal results and overflow to +-Inf included (round_scaled)
//     acc = RN(acc + t)                        float32, acc starts at +0
// then C = RN(acc * RN(d_a * d_b)) with d = RN(1 / tensor_scale) for nvfp4 and
// per-tensor fp8 (1 otherwise), then C = RN(C / p) for each prescale p != 1,
// A's first. A partial last block counts as zero-padded.
//
// NaN and Inf: a block whose scale is NaN (E8M0 0xFF, E4M3 0x7F/0xFF) makes
// its t NaN. A block holding a NaN or Inf element code (only FP8 elements can:
// per-tensor fp8 of non-finite inputs, or hand-built codes) gives t = the
// IEEE value of its sum of products, which is NaN or +-Inf (Inf * 0 and
// Inf - Inf are NaN). Non-finite t propagate through acc as IEEE addition does.
//
// bf16 and fp32: if either operand is bf16 or fp32, both are dequantized to
// float32 and multiplied by gemm_f32 (gemm/gemm_f32.h): per output, acc = +0,
// then acc = fma(a[m,k], b[n,k], acc) for k = 0..K-1. That is the default
// "exact" float backend; the opt-in "blas" backend (gemm/float_gemm.h) gives
// the same float32 operands to cblas_sgemm instead (library summation order).
//
// Errors (ArgumentError naming the argument): an operand that is not 2-D or
// not quantized along axis 1 (a 2-D one along axis 0 gets a hint to pass its
// transpose), K that differs, block formats whose K blocks differ (nvfp4's 16
// against 32): there is no silent fallback.
//
// qgemm_ref is the definition in plain loops (one output at a time, 128-bit
// integers). qgemm packs the operands into unpacked integer panels and runs
// OpenMP-threaded SIMD tiles (threads split the outputs, never K); it equals
// qgemm_ref bit for bit for every ISA and thread count (NaN payloads aside).
#pragma once
#include <cstdint>
#include <vector>

#include "quant/qtensor.h"

namespace fp4train {

struct QGemmShape {
  int64_t M = 0, N = 0, K = 0;
};

// Validates a and b as qgemm operands (shapes, axes, K, block sizes, buffer
// sizes) and returns (M, N, K). arg_a / arg_b name them in error messages.
QGemmShape qgemm_check(const QTensorView& a, const QTensorView& b, const char* arg_a = "a",
                       const char* arg_b = "b");

// c: M * N floats, row-major.
void qgemm(const QTensorView& a, const QTensorView& b, float* c);
void qgemm_ref(const QTensorView& a, const QTensorView& b, float* c);

// Allocating forms: return C as an M * N row-major vector.
std::vector<float> qgemm(const QTensorView& a, const QTensorView& b);
std::vector<float> qgemm_ref(const QTensorView& a, const QTensorView& b);

// Block size along K that qgemm uses for a format: its block (mxfp4 and
// mxfp8: 32, nvfp4: 16), 32 for per-tensor fp8, 0 for bf16 / fp32.
int qgemm_k_block(Format f);

}  // namespace fp4train
