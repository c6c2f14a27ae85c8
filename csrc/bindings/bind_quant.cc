// quantize / fake_quantize / dequantize over numpy arrays.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/numpy_io.h"
#include "bindings/quant_args.h"
#include "hadamard/hadamard.h"
#include "formats/formats.h"
#include "quant/quantize.h"

namespace fp4train {

void bind_quant(py::module_& m) {
  m.def("format_names", [] {
    std::vector<std::string> out;
    for (int i = 0; i < kNumFormats; ++i) out.push_back(format_name(Format(i)));
    return out;
  });
  m.def("format_info", [](const std::string& name) {
    const FormatTraits& t = format_traits(parse_format(name));
    const ElemTraits& e = elem_traits(t.elem);
    py::dict d;
    d["element"] = e.name;
    d["element_bits"] = e.bits;
    d["element_max"] = e.max;
    d["block"] = t.block;
    d["scale"] = t.scale == ScaleType::kE8M0 ? "e8m0" : (t.scale == ScaleType::kE4M3 ? "e4m3" : "none");
    d["tensor_scale"] = t.tensor_scale;
    return d;
  });

  // Returns a dict with codes, scales, tensor_scale; Python wraps it in QTensor.
  // hadamard_size > 0 fuses a blockwise Hadamard transform (signs: None or +-1).
  m.def(
      "quantize",
      [](const py::handle& x, int64_t axis, const std::string& format,
         const std::string& rounding, const std::string& scale_rule, double prescale,
         bool block_2d, const py::handle& seed, int64_t hadamard_size, const py::handle& signs) {
        QuantArgs a = quant_args(x, axis, format, rounding, scale_rule, prescale, block_2d, seed,
                                 hadamard_size, signs);
        QTensor q;
        {
          py::gil_scoped_release release;
          q = a.hadamard_size ? quantize_hadamard(a.x.data(), a.shape, a.axis, a.spec,
                                                  a.hadamard_size, a.signs)
                              : quantize(a.x.data(), a.shape, a.axis, a.spec);
        }
        return qtensor_to_dict(std::move(q));
      },
      py::arg("x"), py::arg("axis"), py::arg("format"), py::arg("rounding"),
      py::arg("scale_rule"), py::arg("prescale"), py::arg("block_2d"), py::arg("seed"),
      py::arg("hadamard_size") = 0, py::arg("signs") = py::none());

  m.def(
      "fake_quantize",
      [](const py::handle& x, int64_t axis, const std::string& format,
         const std::string& rounding, const std::string& scale_rule, double prescale,
         bool block_2d, const py::handle& seed, int64_t hadamard_size, const py::handle& signs) {
        QuantArgs a = quant_args(x, axis, format, rounding, scale_rule, prescale, block_2d, seed,
                                 hadamard_size, signs);
        py::array_t<float> out = new_f32(a.shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          if (a.hadamard_size)
            fake_quantize_hadamard(a.x.data(), a.shape, a.axis, a.spec, a.hadamard_size, a.signs, o);
          else
            fake_quantize(a.x.data(), a.shape, a.axis, a.spec, o);
        }
        return out;
      },
      py::arg("x"), py::arg("axis"), py::arg("format"), py::arg("rounding"),
      py::arg("scale_rule"), py::arg("prescale"), py::arg("block_2d"), py::arg("seed"),
      py::arg("hadamard_size") = 0, py::arg("signs") = py::none());

  m.def(
      "dequantize",
      [](const py::handle& q) {
        py::list keep_alive;
        const QTensorView v = view_of(q, "q", keep_alive);
        py::array_t<float> out = new_f32(v.layout.shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          dequantize(v, o);
        }
        return out;
      },
      py::arg("q"));
}

}  // namespace fp4train
