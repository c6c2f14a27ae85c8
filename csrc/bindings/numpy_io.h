// The one place numpy arrays become C++ buffers and back.
//
// as_f32_array: any real numeric array (float32 zero-copy when C-contiguous;
//   float64/float16/integers converted to float32, non-contiguous copied)
//   -> TypeError naming the argument for bool/complex/object/string dtypes.
// to_numpy: hands a C++-owned vector to numpy without a copy (capsule).
// All of it runs with the GIL held; callers release it around the work.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "quant/qtensor.h"
#include "util/check.h"

namespace fp4train {
namespace py = pybind11;

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

F32Array as_f32_array(const py::handle& obj, const char* arg);
std::vector<int64_t> shape_of(const py::array& a);
int normalize_axis(int64_t axis, int ndim, const char* arg = "axis");
uint64_t as_seed(const py::handle& obj, const char* arg = "seed");

template <class T>
py::array to_numpy(std::vector<T>&& v, const std::vector<int64_t>& shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<T>(dims, owned->data(), free_when_done);
}

py::array_t<float> new_f32(const std::vector<int64_t>& shape);

// A float32, C-contiguous, writeable array of exactly `shape`, written in
// place (parameter gradients): no conversion, so a mismatch is an error.
float* writable_f32(const py::handle& obj, const char* arg, const std::vector<int64_t>& shape);
// Requires exactly `shape` after conversion to float32 (copies when needed).
F32Array f32_of_shape(const py::handle& obj, const char* arg, const std::vector<int64_t>& shape);
std::string shape_str(const std::vector<int64_t>& shape);

// QTensor <-> Python. A Python fp4train.QTensor carries numpy buffers and its
// settings as attributes; view_of validates every one of them (a tampered
// buffer raises ValueError naming `arg`.codes / `arg`.scales). The buffers are
// appended to keep_alive so they outlive a released GIL.
py::dict qtensor_to_dict(QTensor&& q);
QTensorView view_of(const py::handle& q, const char* arg, py::list& keep_alive);
QuantSpec spec_from_args(const std::string& format, const std::string& scale_rule,
                         const std::string& rounding, double prescale, bool block_2d,
                         const py::handle& seed);

}  // namespace fp4train
