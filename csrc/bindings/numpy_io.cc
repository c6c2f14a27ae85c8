#include "bindings/numpy_io.h"

#include "bindings/quant_args.h"
#include "hadamard/hadamard.h"

#include <cmath>

namespace fp4train {

F32Array as_f32_array(const py::handle& obj, const char* arg) {
  if (!py::isinstance<py::array>(obj)) {
    // Lists and scalars: let numpy decide, then check the kind below.
    py::array a = py::module_::import("numpy").attr("asarray")(obj);
    return as_f32_array(a, arg);
  }
  py::array a = py::reinterpret_borrow<py::array>(obj);
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u')
    throw ArgumentTypeError(arg, "expected a real numeric array (float32, float64, float16 or "
                                 "integer), got dtype " +
                                     std::string(py::str(a.dtype())));
  return F32Array::ensure(a);
}

std::vector<int64_t> shape_of(const py::array& a) {
  std::vector<int64_t> s(size_t(a.ndim()));
  for (int d = 0; d < a.ndim(); ++d) s[size_t(d)] = int64_t(a.shape(d));
  return s;
}

int normalize_axis(int64_t axis, int ndim, const char* arg) {
  FP4_CHECK(axis >= -ndim && axis < ndim, arg,
            "expected an axis in [" + std::to_string(-ndim) + ", " + std::to_string(ndim) +
                ") for a " + std::to_string(ndim) + "-D array, got " + std::to_string(axis));
  return int(axis < 0 ? axis + ndim : axis);
}

uint64_t as_seed(const py::handle& obj, const char* arg) {
  const bool is_bool = py::isinstance<py::bool_>(obj);
  const bool is_int = py::isinstance<py::int_>(obj) ||
                      (py::hasattr(obj, "__index__") && !py::isinstance<py::float_>(obj));
  if (is_bool || !is_int)
    throw ArgumentTypeError(arg, "expected a non-negative integer, got " +
                                     std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!v) throw py::error_already_set();
  FP4_CHECK(py::cast<py::object>(v) >= py::int_(0) &&
                py::cast<py::object>(v) < py::int_(1).attr("__lshift__")(64),
            arg, "expected a non-negative integer below 2**64, got " + std::string(py::str(v)));
  return PyLong_AsUnsignedLongLong(v.ptr());
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

float* writable_f32(const py::handle& obj, const char* arg, const std::vector<int64_t>& shape) {
  if (!py::isinstance<py::array>(obj))
    throw ArgumentTypeError(arg, "expected a numpy float32 array");
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<float>()))
    throw ArgumentTypeError(arg, "expected dtype float32, got " + std::string(py::str(a.dtype())));
  FP4_CHECK(a.flags() & py::array::c_style, arg, "expected a C-contiguous array");
  FP4_CHECK(a.writeable(), arg, "expected a writeable array");
  FP4_CHECK(shape_of(a) == shape, arg,
            "expected shape " + shape_str(shape) + ", got " + shape_str(shape_of(a)));
  return static_cast<float*>(a.mutable_data());
}

F32Array f32_of_shape(const py::handle& obj, const char* arg, const std::vector<int64_t>& shape) {
  F32Array a = as_f32_array(obj, arg);
  FP4_CHECK(shape_of(a) == shape, arg,
            "expected shape " + shape_str(shape) + ", got " + shape_str(shape_of(a)));
  return a;
}

py::array_t<float> new_f32(const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  return py::array_t<float>(dims);
}

QuantSpec spec_from_args(const std::string& format, const std::string& scale_rule,
                         const std::string& rounding, double prescale, bool block_2d,
                         const py::handle& seed) {
  QuantSpec s;
  s.format = parse_format(format);
  s.scale_rule = parse_scale_rule(scale_rule);
  s.rounding = parse_rounding(rounding);
  FP4_CHECK(std::isfinite(prescale) && prescale > 0.0, "prescale",
            "expected a finite value > 0, got " + std::to_string(prescale));
  s.prescale = float(prescale);
  s.block_2d = block_2d;
  s.seed = as_seed(seed);
  return s;
}

QuantArgs quant_args(const py::handle& x, int64_t axis, const std::string& format,
                     const std::string& rounding, const std::string& scale_rule, double prescale,
                     bool block_2d, const py::handle& seed, int64_t hadamard_size,
                     const py::handle& signs) {
  QuantArgs a;
  a.x = as_f32_array(x, "x");
  a.spec = spec_from_args(format, scale_rule, rounding, prescale, block_2d, seed);
  a.shape = shape_of(a.x);
  a.axis = normalize_axis(axis, int(a.shape.size()));
  make_layout(a.shape, a.axis, a.spec);  // validate before any allocation
  if (hadamard_size != 0) {
    validate_hadamard_size(hadamard_size, a.shape[size_t(a.axis)]);
    a.hadamard_size = int(hadamard_size);
    a.signs = signs_of(signs, hadamard_size);
  }
  return a;
}

py::dict qtensor_to_dict(QTensor&& q) {
  py::dict d;
  const QLayout& L = q.layout;
  d["codes"] = to_numpy(std::move(q.codes), {L.rows, L.row_bytes});
  d["scales"] = L.block ? to_numpy(std::move(q.scales), {L.scale_rows, L.nblocks})
                        : to_numpy(std::move(q.scales), {0});
  d["tensor_scale"] = q.tensor_scale;
  return d;
}

namespace {
py::array bytes_attr(const py::handle& q, const char* name, const std::string& arg) {
  py::object a = q.attr(name);
  if (!py::isinstance<py::array>(a))
    throw ArgumentTypeError(arg + "." + name, "expected a numpy uint8 array");
  py::array arr = py::reinterpret_borrow<py::array>(a);
  if (arr.dtype().kind() != 'u' || arr.itemsize() != 1)
    throw ArgumentTypeError(arg + "." + name,
                            "expected dtype uint8, got " + std::string(py::str(arr.dtype())));
  FP4_CHECK(arr.flags() & py::array::c_style, arg + "." + name, "expected a C-contiguous array");
  return arr;
}
}  // namespace

QTensorView view_of(const py::handle& q, const char* arg, py::list& keep_alive) {
  const std::string a(arg);
  for (const char* attr : {"codes", "scales", "tensor_scale", "shape", "axis", "format",
                           "scale_rule", "rounding", "prescale", "block_2d", "seed"})
    if (!py::hasattr(q, attr))
      throw ArgumentTypeError(a, std::string("expected an fp4train.QTensor (missing '") + attr +
                                     "')");
  QTensorView v;
  v.spec = spec_from_args(py::cast<std::string>(q.attr("format")),
                          py::cast<std::string>(q.attr("scale_rule")),
                          py::cast<std::string>(q.attr("rounding")),
                          py::cast<double>(q.attr("prescale")),
                          py::cast<bool>(q.attr("block_2d")), q.attr("seed"));
  std::vector<int64_t> shape;
  for (auto d : q.attr("shape")) shape.push_back(py::cast<int64_t>(d));
  const int axis = normalize_axis(py::cast<int64_t>(q.attr("axis")), int(shape.size()),
                                  (a + ".axis").c_str());
  v.layout = make_layout(shape, axis, v.spec);
  py::array codes = bytes_attr(q, "codes", a), scales = bytes_attr(q, "scales", a);
  keep_alive.append(codes);
  keep_alive.append(scales);
  v.codes = static_cast<const uint8_t*>(codes.data());
  v.codes_size = int64_t(codes.size());
  v.scales = static_cast<const uint8_t*>(scales.data());
  v.scales_size = int64_t(scales.size());
  v.tensor_scale = py::cast<float>(q.attr("tensor_scale"));
  validate_view(v, arg);
  return v;
}

}  // namespace fp4train
