// Threads and SIMD-path control: set_num_threads, get_num_threads, isa
// selection (the tests use it to run every path against the scalar one).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "util/cpu_features.h"
#include "util/parallel.h"

namespace fp4train {
namespace py = pybind11;

void bind_float_gemm(py::module_& m);  // bind_runtime_float_gemm.cc

void bind_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"));
  m.def("get_num_threads", &num_threads);
  m.def("set_isa", [](const std::string& name) { set_isa(parse_isa(name)); }, py::arg("isa"));
  m.def("reset_isa", &reset_isa);
  m.def("get_isa", [] { return std::string(isa_name(active_isa())); });
  m.def("supported_isas", [] {
    std::vector<std::string> out;
    for (Isa i : supported_isas()) out.push_back(isa_name(i));
    return out;
  });
  bind_float_gemm(m);
}

}  // namespace fp4train
