// PYBIND11_MODULE(_core): the private compiled module behind fp4train.
// Each bind_*.cc registers one concern; this file only wires them up and
// maps the C++ argument errors to Python exceptions.
#include <pybind11/pybind11.h>

#include "util/check.h"

namespace py = pybind11;

namespace fp4train {
void bind_runtime(py::module_& m);
void bind_quant(py::module_& m);
void bind_hadamard(py::module_& m);
void bind_gemm(py::module_& m);
void bind_linear(py::module_& m);
void bind_recipes(py::module_& m);
void bind_ops(py::module_& m);
}  // namespace fp4train

PYBIND11_MODULE(_core, m) {
  m.doc() = "fp4train C++ core (private: use the fp4train package)";
  m.attr("__version__") = FP4TRAIN_VERSION;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fp4train::ArgumentTypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  fp4train::bind_runtime(m);
  fp4train::bind_quant(m);
  fp4train::bind_hadamard(m);
  fp4train::bind_gemm(m);
  fp4train::bind_linear(m);
  fp4train::bind_recipes(m);
  fp4train::bind_ops(m);
}
