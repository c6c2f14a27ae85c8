// Blockwise normalized Walsh-Hadamard transforms of N-D float32 arrays, their
// sign vectors, and the fused transform-then-quantize (DESIGN §2 Hadamard,
// docs/NUMERICS.md §3-§4).
//
// Layout. x is C-contiguous float32 of `shape`; the transform runs along
// `axis` (in [0, ndim)). Writing the shape as (outer..., length, inner...),
// every run of n consecutive elements along the axis,
// x[o, k*n : (k+1)*n, i], is mapped to
//   forward  y = (x ⊙ s) H_n          (hadamard)
//   inverse  x = (y H_n) ⊙ s          (hadamard_inverse)
// with H_n the Sylvester matrix divided by sqrt(n) (orthonormal, symmetric)
// and s the sign vector (empty = all +1). The float32 operation order is
// the butterfly order of fwht.h / fwht_ref; results are identical for every
// ISA and every thread count.
//
// Sizes. n is a power of two in [2, 32768] and `length` must be a multiple
// of n (so n <= length; a zero-length axis transforms nothing). Block sizes
// 2..256 are the blockwise transforms; larger n are meant for the whole axis
// (n == length), which is what this library supports up to 32768.
//
// Non-finite inputs propagate as IEEE arithmetic does: a NaN in a run makes
// every output of that run NaN, an Inf makes every output of that run +-Inf
// or NaN; other runs are unaffected. Finite inputs near FLT_MAX can overflow
// in the unnormalized butterflies (the 1/sqrt(n) comes last).
//
// Errors are ArgumentError (ValueError in Python) naming the argument:
// "size" (not a power of two, out of range, larger than or not dividing the
// axis), "signs" (wrong length, an entry other than +-1), "axis", "x".
#pragma once
#include <cstdint>
#include <vector>

#include "hadamard/hadamard_spec.h"
#include "quant/qtensor.h"
#include "quant/quantize.h"

namespace fp4train {

// n a power of two in [2, 32768] and a divisor of `length` (length >= 0).
void validate_hadamard_size(int64_t n, int64_t length, const char* arg = "size");

// Sign vectors come two ways: a pointer to n floats (nullptr = all +1), or a
// std::vector (empty = all +1, else exactly n entries). Every entry must be
// +1.0f or -1.0f.
void validate_hadamard_signs(const float* signs, int64_t n, const char* arg = "signs");
void validate_hadamard_signs(const std::vector<float>& signs, int64_t n,
                             const char* arg = "signs");

// A spec's own consistency: size 0 (disabled) or a power of two in
// [2, 32768]; `vector` only with kFixed, then of length size and +-1 only.
// Field names in messages are prefixed with `arg` ("hadamard.size", ...).
void validate_hadamard_spec(const HadamardSpec& spec, const char* arg = "hadamard");

// The sign vector s (length spec.size) the spec uses at training step `step`:
//   kNone     all +1
//   kFixed    spec.vector if given, else drawn as at step 0 (stream 1)
//   kPerStep  drawn with stream 1 + step
// Drawn: s_i = -1 when random_bits(spec.seed, 1 + step, i) has its top bit
// set, else +1 (NUMERICS §3). A disabled spec (size 0) gives an empty vector.
std::vector<float> hadamard_signs(const HadamardSpec& spec, uint64_t step);

// An in-place transform of one row of `length` contiguous elements (length a
// multiple of n, else it throws), usable as quant's RowTransform. The
// returned function owns a copy of the signs (nullptr = all +1) and is safe
// to call from many threads at once. Validates n and signs up front.
RowTransform hadamard_row_transform(int n, const float* signs, bool inverse = false);

// x, out: (outer..., length, inner...) C-contiguous float32 of `shape`,
// transformed along `axis`; out = forward transform of x. out may be x
// itself (in place); it must not otherwise overlap x.
void hadamard(const float* x, const std::vector<int64_t>& shape, int axis, int n,
              const float* signs, float* out);
void hadamard(const float* x, const std::vector<int64_t>& shape, int axis, int n,
              const std::vector<float>& signs, float* out);

// out = inverse transform of y; undoes hadamard up to float32 rounding.
void hadamard_inverse(const float* y, const std::vector<int64_t>& shape, int axis, int n,
                      const float* signs, float* out);
void hadamard_inverse(const float* y, const std::vector<int64_t>& shape, int axis, int n,
                      const std::vector<float>& signs, float* out);

// Fused transform + quantize: equal, bit for bit, to
//   hadamard(x, shape, axis, n, signs, t); quantize(t, shape, axis, spec)
// for every format, scale rule, rounding and prescale, without writing t.
// The transform and the format have their own block sizes (H64 with MXFP4
// blocks of 32, H16 with NVFP4 blocks of 16, a per-tensor FP8 scale, ...);
// stochastic rounding keys on the flat index of the transformed array, which
// has x's shape. The QTensor holds the transformed values: dequantize gives
// (an approximation of) t, not x. x: C-contiguous float32 of `shape`.
QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, int n, const float* signs);
QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, int n, const std::vector<float>& signs);

// Fused transform + fake quantize: out = dequantize(quantize_hadamard(...)),
// in the transformed domain (out: float32 of `shape`).
void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, int n, const float* signs, float* out);
void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, int n, const std::vector<float>& signs,
                            float* out);

// The same driven by a HadamardSpec at a training step (signs from
// hadamard_signs(h, step)); a disabled spec (size 0) quantizes x as is.
QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, const HadamardSpec& h, uint64_t step);
void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, const HadamardSpec& h, uint64_t step,
                            float* out);

}  // namespace fp4train
