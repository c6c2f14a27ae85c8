// The float32 GEMM backend switch (gemm/float_gemm.h): exact (default) or blas.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "gemm/float_gemm.h"

namespace fp4train {
namespace py = pybind11;

void bind_float_gemm(py::module_& m) {
  m.def("set_float_gemm", [](const std::string& name) { set_float_gemm(parse_float_gemm(name)); },
        py::arg("backend"));
  m.def("get_float_gemm", [] { return std::string(float_gemm_name(active_float_gemm())); });
  m.def("reset_float_gemm", &reset_float_gemm);
  m.def("float_gemm_backends", [] {
    std::vector<std::string> out;
    for (FloatGemm g : available_float_gemms()) out.push_back(float_gemm_name(g));
    return out;
  });
  m.def("blas_info", [] {
    const BlasInfo info = blas_info();
    py::dict d;
    d["available"] = info.available;
    d["library"] = info.available ? py::object(py::str(info.library)) : py::object(py::none());
    d["thread_control"] = info.thread_control;
    return d;
  });
}

}  // namespace fp4train
