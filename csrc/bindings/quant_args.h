// The arguments every quantize-like binding takes (x, axis, format, rounding,
// scale_rule, prescale, block_2d, seed, and an optional Hadamard: size and
// signs), converted and validated in one place with the GIL held.
#pragma once
#include <vector>

#include "bindings/numpy_io.h"

namespace fp4train {

// None -> empty (all +1); else a 1-D real vector of n entries, each +1 or -1.
std::vector<float> signs_of(const py::handle& obj, int64_t n, const char* arg = "signs");

struct QuantArgs {
  F32Array x;
  std::vector<int64_t> shape;
  int axis = 0;
  QuantSpec spec;
  int hadamard_size = 0;       // 0: no transform
  std::vector<float> signs;    // empty: all +1
};

// Validates everything, including the layout and the Hadamard size against
// the axis, so that the work after it cannot fail on the arguments.
QuantArgs quant_args(const py::handle& x, int64_t axis, const std::string& format,
                     const std::string& rounding, const std::string& scale_rule, double prescale,
                     bool block_2d, const py::handle& seed, int64_t hadamard_size,
                     const py::handle& signs);

}  // namespace fp4train
