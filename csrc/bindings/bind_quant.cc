// quantize / fake_quantize / dequantize over numpy arrays.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/numpy_io.h"
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
  m.def(
      "quantize",
      [](const py::handle& x, int64_t axis, const std::string& format,
         const std::string& rounding, const std::string& scale_rule, double prescale,
         bool block_2d, const py::handle& seed) {
        F32Array a = as_f32_array(x, "x");
        const QuantSpec spec = spec_from_args(format, scale_rule, rounding, prescale, block_2d, seed);
        const std::vector<int64_t> shape = shape_of(a);
        const int ax = normalize_axis(axis, int(shape.size()));
        QTensor q;
        {
          py::gil_scoped_release release;
          q = quantize(a.data(), shape, ax, spec);
        }
        return qtensor_to_dict(std::move(q));
      },
      py::arg("x"), py::arg("axis"), py::arg("format"), py::arg("rounding"),
      py::arg("scale_rule"), py::arg("prescale"), py::arg("block_2d"), py::arg("seed"));

  m.def(
      "fake_quantize",
      [](const py::handle& x, int64_t axis, const std::string& format,
         const std::string& rounding, const std::string& scale_rule, double prescale,
         bool block_2d, const py::handle& seed) {
        F32Array a = as_f32_array(x, "x");
        const QuantSpec spec = spec_from_args(format, scale_rule, rounding, prescale, block_2d, seed);
        const std::vector<int64_t> shape = shape_of(a);
        const int ax = normalize_axis(axis, int(shape.size()));
        make_layout(shape, ax, spec);  // validate before allocating
        py::array_t<float> out = new_f32(shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          fake_quantize(a.data(), shape, ax, spec, o);
        }
        return out;
      },
      py::arg("x"), py::arg("axis"), py::arg("format"), py::arg("rounding"),
      py::arg("scale_rule"), py::arg("prescale"), py::arg("block_2d"), py::arg("seed"));

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
