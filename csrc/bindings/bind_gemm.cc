// qgemm (Python QTensors) and gemm_f32 (numpy arrays). Thin: convert,
// validate with the GIL held (errors name a_q / b_q, a / b), release the GIL,
// call C++, hand back a new float32 (M, N) array.
#include <pybind11/pybind11.h>

#include "bindings/numpy_io.h"
#include "gemm/gemm_f32.h"
#include "gemm/qgemm.h"

namespace fp4train {

namespace {

std::string dims_str(const py::array& a) {
  std::string s = "(";
  for (int d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def(
      "qgemm",
      [](const py::handle& a_q, const py::handle& b_q) {
        py::list keep_alive;  // the code/scale buffers, alive while the GIL is released
        const QTensorView a = view_of(a_q, "a_q", keep_alive);
        const QTensorView b = view_of(b_q, "b_q", keep_alive);
        const QGemmShape s = qgemm_check(a, b, "a_q", "b_q");
        py::array_t<float> out = new_f32({s.M, s.N});
        float* c = out.mutable_data();
        {
          py::gil_scoped_release release;
          qgemm(a, b, c);
        }
        return out;
      },
      py::arg("a_q"), py::arg("b_q"),
      "C = A B^T of two QTensors (M, K) and (N, K) quantized along axis 1 (NUMERICS §5).");

  m.def(
      "gemm_f32",
      [](const py::handle& a_obj, const py::handle& b_obj) {
        F32Array a = as_f32_array(a_obj, "a");
        F32Array b = as_f32_array(b_obj, "b");
        FP4_CHECK(a.ndim() == 2, "a", "expected a 2-D array (M, K), got shape " + dims_str(a));
        FP4_CHECK(b.ndim() == 2, "b", "expected a 2-D array (N, K), got shape " + dims_str(b));
        const int64_t M = a.shape(0), K = a.shape(1), N = b.shape(0);
        FP4_CHECK(b.shape(1) == K, "b",
                  "expected shape (N, " + std::to_string(K) + ") to match K of a " + dims_str(a) +
                      ", got shape " + dims_str(b));
        py::array_t<float> out = new_f32({M, N});
        float* c = out.mutable_data();
        {
          py::gil_scoped_release release;
          gemm_f32(a.data(), b.data(), c, M, N, K);
        }
        return out;
      },
      py::arg("a"), py::arg("b"),
      "C = A B^T in float32 (fma per k in increasing order); a (M, K), b (N, K).");
}

}  // namespace fp4train
