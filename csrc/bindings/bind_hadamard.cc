// Hadamard transforms, sign vectors and fused transform+quantize over numpy.
// Everything is converted and validated with the GIL held (errors name the
// argument: size, signs, axis, x, step); the work runs with it released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/numpy_io.h"
#include "bindings/quant_args.h"
#include "hadamard/hadamard.h"
#include "quant/quantize.h"

namespace fp4train {

namespace {

// The array, its shape, and the normalized axis, with `size` checked
// against the axis length.
struct Prepared {
  F32Array a;
  std::vector<int64_t> shape;
  int axis = 0;
};

Prepared prepare(const py::handle& x, const char* arg, int64_t size, int64_t axis) {
  Prepared p{as_f32_array(x, arg), {}, 0};
  p.shape = shape_of(p.a);
  FP4_CHECK(!p.shape.empty(), arg, "expected an array with at least 1 dimension, got a scalar");
  p.axis = normalize_axis(axis, int(p.shape.size()));
  validate_hadamard_size(size, p.shape[size_t(p.axis)]);
  return p;
}

}  // namespace

void bind_hadamard(py::module_& m) {
  m.def(
      "hadamard",
      [](const py::handle& x, int64_t size, int64_t axis, const py::handle& signs, bool inverse) {
        const char* arg = inverse ? "y" : "x";
        Prepared p = prepare(x, arg, size, axis);
        const std::vector<float> s = signs_of(signs, size);
        py::array_t<float> out = new_f32(p.shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          if (inverse)
            hadamard_inverse(p.a.data(), p.shape, p.axis, int(size), s, o);
          else
            hadamard(p.a.data(), p.shape, p.axis, int(size), s, o);
        }
        return out;
      },
      py::arg("x"), py::arg("size"), py::arg("axis"), py::arg("signs"), py::arg("inverse"));

  m.def(
      "hadamard_signs",
      [](int64_t size, const std::string& policy, const py::handle& seed,
         const py::handle& vector, const py::handle& step) {
        HadamardSpec h;
        validate_hadamard_size(size, size);
        h.size = int(size);
        h.signs = parse_sign_policy(policy);
        h.seed = as_seed(seed, "seed");
        if (!vector.is_none()) h.vector = signs_of(vector, size, "vector");
        const uint64_t t = as_seed(step, "step");
        std::vector<float> s = hadamard_signs(h, t);
        return to_numpy(std::move(s), {int64_t(size)});
      },
      py::arg("size"), py::arg("signs"), py::arg("seed"), py::arg("vector"), py::arg("step"));
}

// None -> empty (all +1); else a 1-D real vector, copied to float32. Length
// and values (+-1 only) are checked against n by validate_hadamard_signs.
std::vector<float> signs_of(const py::handle& obj, int64_t n, const char* arg) {
  if (obj.is_none()) return {};
  F32Array a = as_f32_array(obj, arg);
  FP4_CHECK(a.ndim() == 1, arg,
            "expected a 1-D vector of " + std::to_string(n) + " entries +1/-1, got " +
                std::to_string(a.ndim()) + " dimensions");
  std::vector<float> s(a.data(), a.data() + a.size());
  FP4_CHECK(int64_t(s.size()) == n, arg,
            "expected " + std::to_string(n) + " entries (one per element of a block), got " +
                std::to_string(s.size()));
  validate_hadamard_signs(s, n, arg);
  return s;
}

}  // namespace fp4train
