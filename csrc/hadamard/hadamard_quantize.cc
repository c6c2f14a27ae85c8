// Fused transform + quantize through quant's RowTransform hook.
//
// The quantizer copies each storage row, piece by piece (whole runs of n
// elements, about 512 at a time), into a small per-thread buffer and hands
// it to the row transform right before scaling and encoding it, so every
// element is read once from memory, transformed while it is in L1, and
// quantized from there; the transformed array is never written. Formats with a tensor scale (NVFP4, per-tensor
// FP8) need the transformed tensor's amax first, so they transform each row
// twice (once for the amax, once to encode): the same bits both times.
// Equality with transform-then-quantize holds because the row transform is
// the very kernel hadamard() uses and the quantizer indexes stochastic
// rounding by the logical flat index, which the transform does not move.
#include "hadamard/hadamard.h"
#include "util/check.h"

namespace fp4train {

namespace {
// The axis length, with the quantizer's own axis checks (same messages).
int64_t axis_length(const std::vector<int64_t>& shape, int axis, const QuantSpec& spec) {
  return make_layout(shape, axis, spec).length;
}
}  // namespace

QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, int n, const float* signs) {
  validate_hadamard_size(n, axis_length(shape, axis, spec));
  const RowTransform t = hadamard_row_transform(n, signs);
  return quantize(x, shape, axis, spec, &t, n);
}

QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, int n, const std::vector<float>& signs) {
  validate_hadamard_signs(signs, n);
  return quantize_hadamard(x, shape, axis, spec, n, signs.empty() ? nullptr : signs.data());
}

void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, int n, const float* signs, float* out) {
  validate_hadamard_size(n, axis_length(shape, axis, spec));
  const RowTransform t = hadamard_row_transform(n, signs);
  fake_quantize(x, shape, axis, spec, out, &t, n);
}

void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, int n, const std::vector<float>& signs,
                            float* out) {
  validate_hadamard_signs(signs, n);
  fake_quantize_hadamard(x, shape, axis, spec, n, signs.empty() ? nullptr : signs.data(), out);
}

QTensor quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                          const QuantSpec& spec, const HadamardSpec& h, uint64_t step) {
  if (!h.enabled()) {
    validate_hadamard_spec(h);
    return quantize(x, shape, axis, spec);
  }
  return quantize_hadamard(x, shape, axis, spec, h.size, hadamard_signs(h, step));
}

void fake_quantize_hadamard(const float* x, const std::vector<int64_t>& shape, int axis,
                            const QuantSpec& spec, const HadamardSpec& h, uint64_t step,
                            float* out) {
  if (!h.enabled()) {
    validate_hadamard_spec(h);
    fake_quantize(x, shape, axis, spec, out);
    return;
  }
  fake_quantize_hadamard(x, shape, axis, spec, h.size, hadamard_signs(h, step), out);
}

}  // namespace fp4train
