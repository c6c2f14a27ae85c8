// Row kernels of the blockwise fast Walsh-Hadamard transform (NUMERICS §4).
//
//   row: `length` contiguous float32, transformed in place; `length` is a
//        multiple of n (not checked here: hadamard.h validates).
//   n:   block size, a power of two in [2, kMaxHadamardSize]. Each run
//        row[k*n .. k*n+n) is transformed independently.
//   signs: n floats, each +1 or -1, or nullptr for "all +1" (then no
//        multiply is done at all; x * 1 == x for every non-NaN x anyway).
//   inverse: false -> y = (x ⊙ s) H_n; true -> x = (y H_n) ⊙ s.
//
// The float32 operation order is the definition, fixed by fwht_ref:
//   forward: v_i = x_i * s_i; stages h = 1, 2, 4, ..., n/2, each replacing
//            every pair (v_j, v_{j+h}) with j mod 2h < h by (a + b, a - b);
//            then v_i = v_i * RN(1/sqrt(n)).
//   inverse: the same stages, the same scale multiply, then v_i = v_i * s_i.
// Every variant (scalar reference, AVX2, AVX-512) performs exactly these
// roundings on every element, so all of them agree bit for bit on every
// input whose blocks are finite. Non-finite inputs follow IEEE arithmetic:
// a NaN anywhere in a run makes every output of that run NaN; an Inf makes
// every output of the run +-Inf or NaN (Inf - Inf); other runs are
// untouched. Which NaN bit pattern comes out (sign, payload) is not
// specified, and the tests compare NaNs as equal whatever their bits.
// Overflow to Inf follows the same rule (the unnormalized sums can overflow
// for |x| near FLT_MAX; the scale is applied after the butterflies).
#pragma once
#include <cstdint>

namespace fp4train {

constexpr int kMinHadamardSize = 2;
constexpr int kMaxHadamardSize = 32768;

// RN(1/sqrt(n)) as float32: exact (a power of two) for even log2(n), the
// correctly rounded value of 2^-k / sqrt(2) otherwise (checked by the tests).
float hadamard_scale(int n);

// The definition: plain loops, no intrinsics, no threads.
void fwht_ref(float* row, int64_t length, int n, const float* signs, bool inverse);

// SIMD variants with the same contract, in fwht_avx2.cc / fwht_avx512.cc
// (only compiled on x86; call them only when supported_isas() lists them).
void fwht_avx2(float* row, int64_t length, int n, const float* signs, bool inverse);
void fwht_avx512(float* row, int64_t length, int n, const float* signs, bool inverse);

// Dispatches to the variant of active_isa().
void fwht(float* row, int64_t length, int n, const float* signs, bool inverse);

// The same transform down the columns of a strided tile, for an axis that is
// not the last one: element l of column c is src[l * stride + c] (l <
// length, c < width); every column is one `row` of the contract above and
// gets the same per-element arithmetic as fwht_ref, with the butterflies
// applied to whole rows of the tile (contiguous, so they vectorize). The
// result goes to dst (same layout); dst may be src (in place) but must not
// otherwise overlap it. Plain C++, identical on every ISA (fwht_columns.cc).
void fwht_columns(const float* src, float* dst, int64_t length, int64_t width, int64_t stride,
                  int n, const float* signs, bool inverse);

}  // namespace fp4train
