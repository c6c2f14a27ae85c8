#include "bindings/recipe_convert.h"

#include <cfloat>
#include <cmath>
#include <initializer_list>

#include "bindings/numpy_io.h"
#include "util/check.h"

namespace fp4train {

namespace {

constexpr int kHadamardMaxSize = 32768;

std::string type_name(const py::handle& o) {
  return py::str(py::type::of(o).attr("__name__"));
}

// isinstance(o, numbers.<cls>) and not a bool: the Python checks use the same.
bool is_number(const py::handle& o, const char* cls) {
  if (py::isinstance<py::bool_>(o)) return false;
  // Leaked on purpose: a static py::object would be released after the
  // interpreter has finalized.
  static py::handle numbers = py::module_::import("numbers").release();
  return PyObject_IsInstance(o.ptr(), numbers.attr(cls).ptr()) == 1;
}

std::string join(std::initializer_list<const char*> names) {
  std::string s;
  for (const char* n : names) s += (s.empty() ? "" : ", ") + std::string(n);
  return s;
}

py::dict as_dict(const py::handle& o, const std::string& path) {
  if (!py::isinstance<py::dict>(o)) throw ArgumentTypeError(path, "expected a dict, got " + type_name(o));
  return py::reinterpret_borrow<py::dict>(o);
}

// Unknown keys are errors naming every one of them, in the dict's order.
void check_keys(const py::dict& d, std::initializer_list<const char*> allowed,
                const std::string& path) {
  std::string unknown;
  int n = 0;
  for (auto kv : d) {
    if (!py::isinstance<py::str>(kv.first))
      throw ArgumentTypeError(path, "expected str keys, got " + type_name(kv.first));
    const std::string k = py::cast<std::string>(kv.first);
    bool known = false;
    for (const char* a : allowed) known = known || k == a;
    if (!known) unknown += (n++ ? ", '" : "'") + k + "'";
  }
  if (n)
    throw ArgumentError(path, std::string("unknown key") + (n > 1 ? "s " : " ") + unknown +
                                  " (expected keys: " + join(allowed) + ")");
}

// A name field (format, rounding, ...): str type checked here, value by parse.
std::string name_field(const py::dict& d, const char* key, const std::string& path,
                       const char* fallback, const std::string& allowed) {
  if (!d.contains(key)) return fallback;
  py::handle v = d[key];
  if (!py::isinstance<py::str>(v))
    throw ArgumentTypeError(path, "expected a str (one of " + allowed + "), got " + type_name(v));
  return py::cast<std::string>(v);
}

// float32 value of a double, with out-of-range values made infinite (the
// cast itself would be undefined) so that validation rejects them.
float to_f32(double x) {
  if (std::isnan(x)) return NAN;
  if (x > double(FLT_MAX)) return INFINITY;
  if (x < -double(FLT_MAX)) return -INFINITY;
  return float(x);
}

OperandConfig operand_from_py(const py::handle& o, const std::string& path) {
  OperandConfig op;
  if (o.is_none()) return op;  // unreachable from Python dicts (None is not a dict)
  const py::dict d = as_dict(o, path);
  check_keys(d, {"format", "rounding", "scale_rule", "prescale", "block_2d"}, path);
  const std::string fa = path + ".format", ro = path + ".rounding", sr = path + ".scale_rule";
  op.format = parse_format(name_field(d, "format", fa, "fp32", format_names_joined()), fa.c_str());
  op.rounding = parse_rounding(
      name_field(d, "rounding", ro, "nearest", "nearest, nearest_away, stochastic"), ro.c_str());
  op.scale_rule = parse_scale_rule(
      name_field(d, "scale_rule", sr, "floor", "floor, rceil, ceil, even"), sr.c_str());
  if (d.contains("prescale")) {
    py::handle v = d["prescale"];
    if (!is_number(v, "Real"))
      throw ArgumentTypeError(path + ".prescale", "expected a real number, got " + type_name(v));
    op.prescale = to_f32(py::cast<double>(py::float_(py::reinterpret_borrow<py::object>(v))));
  }
  if (d.contains("block_2d")) {
    py::handle v = d["block_2d"];
    if (!py::isinstance<py::bool_>(v))
      throw ArgumentTypeError(path + ".block_2d", "expected a bool, got " + type_name(v));
    op.block_2d = py::cast<bool>(v);
  }
  validate(op, path);
  return op;
}

// Checks in the order of fp4train.hadamard.HadamardSpec.__post_init__: size
// (type, value), signs, seed, then the vector (policy, container type, numpy
// dtype, shape, values compared exactly in float64).
HadamardSpec hadamard_from_py(const py::handle& o, const std::string& path) {
  HadamardSpec h;
  if (o.is_none()) return h;
  const py::dict d = as_dict(o, path);
  check_keys(d, {"size", "signs", "seed", "vector"}, path);
  if (!d.contains("size")) throw ArgumentError(path, "missing key 'size'");
  py::handle size = d["size"];
  if (!is_number(size, "Integral"))
    throw ArgumentTypeError(path + ".size", "expected an int, got " + type_name(size));
  int overflow = 0;
  py::object index = py::reinterpret_steal<py::object>(PyNumber_Index(size.ptr()));
  if (!index) throw py::error_already_set();
  const long long n = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  FP4_CHECK(!overflow && n >= 2 && n <= kHadamardMaxSize && (n & (n - 1)) == 0, path + ".size",
            "expected a power of two in [2, " + std::to_string(kHadamardMaxSize) + "], got " +
                std::string(py::str(index)));
  h.size = int(n);
  const std::string si = path + ".signs";
  h.signs = parse_sign_policy(name_field(d, "signs", si, "none", "none, fixed, per_step"), si);
  if (d.contains("seed")) h.seed = as_seed(d["seed"], (path + ".seed").c_str());
  if (d.contains("vector") && !d["vector"].is_none()) {
    const std::string vp = path + ".vector";
    FP4_CHECK(h.signs == SignPolicy::kFixed, vp,
              std::string("an explicit sign vector needs signs 'fixed', got signs '") +
                  sign_policy_name(h.signs) + "'");
    py::handle v = d["vector"];
    if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v) &&
        !py::isinstance<py::array>(v))
      throw ArgumentTypeError(vp, "expected None or a sequence of +1/-1, got " + type_name(v));
    // numpy decides the element type, as HadamardSpec's own check does.
    py::array arr = py::module_::import("numpy").attr("asarray")(v);
    const char kind = arr.dtype().kind();
    if (kind != 'i' && kind != 'u' && kind != 'f')
      throw ArgumentTypeError(vp, "expected a real numeric vector of +1/-1, got dtype " +
                                      std::string(py::str(arr.dtype())));
    FP4_CHECK(arr.ndim() == 1 && arr.shape(0) == h.size, vp,
              "expected shape (" + std::to_string(h.size) + ",) (one sign per element of a "
              "block of size " + std::to_string(h.size) + "), got " +
                  std::string(py::str(py::tuple(arr.attr("shape")))));
    // Compared exactly in float64, before any float32 cast could round 1 + 1e-9 to 1.
    const auto signs = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
    for (py::ssize_t i = 0; i < signs.size(); ++i) {
      const double s = signs.data()[i];
      FP4_CHECK(s == 1.0 || s == -1.0, vp,
                "expected entries +1 or -1, got " + std::string(py::repr(arr[py::int_(i)])) +
                    " at index " + std::to_string(i));
      h.vector.push_back(float(s));
    }
  }
  validate_hadamard(h, path);
  return h;
}

GemmConfig gemm_from_py(const py::handle& o, const std::string& path) {
  GemmConfig g;
  const py::dict d = as_dict(o, path);
  check_keys(d, {"a", "b", "hadamard"}, path);
  if (d.contains("a")) g.a = operand_from_py(d["a"], path + ".a");
  if (d.contains("b")) g.b = operand_from_py(d["b"], path + ".b");
  if (d.contains("hadamard")) g.hadamard = hadamard_from_py(d["hadamard"], path + ".hadamard");
  validate(g, path);
  return g;
}

py::dict operand_to_py(const OperandConfig& op) {
  py::dict d;
  d["format"] = format_name(op.format);
  d["rounding"] = rounding_name(op.rounding);
  d["scale_rule"] = scale_rule_name(op.scale_rule);
  d["prescale"] = double(op.prescale);
  d["block_2d"] = op.block_2d;
  return d;
}

py::object hadamard_to_py(const HadamardSpec& h) {
  if (!h.enabled()) return py::none();
  py::dict d;
  d["size"] = h.size;
  d["signs"] = sign_policy_name(h.signs);
  d["seed"] = h.seed;
  if (h.vector.empty()) {
    d["vector"] = py::none();
  } else {
    py::list v;
    for (float s : h.vector) v.append(int(s));
    d["vector"] = v;
  }
  return std::move(d);
}

py::dict gemm_to_py(const GemmConfig& g) {
  py::dict d;
  d["a"] = operand_to_py(g.a);
  d["b"] = operand_to_py(g.b);
  d["hadamard"] = hadamard_to_py(g.hadamard);
  return d;
}

}  // namespace

Recipe recipe_from_py(const py::handle& obj, const std::string& arg) {
  py::object d = py::reinterpret_borrow<py::object>(obj);
  if (!py::isinstance<py::dict>(obj)) {
    if (!py::hasattr(obj, "to_dict"))
      throw ArgumentTypeError(arg, "expected an fp4train Recipe or a dict, got " + type_name(obj));
    d = obj.attr("to_dict")();
  }
  const py::dict rd = as_dict(d, arg);
  check_keys(rd, {"name", "fprop", "dgrad", "wgrad"}, arg);
  Recipe r;
  if (rd.contains("fprop")) r.fprop = gemm_from_py(rd["fprop"], arg + ".fprop");
  if (rd.contains("dgrad")) r.dgrad = gemm_from_py(rd["dgrad"], arg + ".dgrad");
  if (rd.contains("wgrad")) r.wgrad = gemm_from_py(rd["wgrad"], arg + ".wgrad");
  if (rd.contains("name")) {
    py::handle n = rd["name"];
    if (!py::isinstance<py::str>(n))
      throw ArgumentTypeError(arg + ".name", "expected a str, got " + type_name(n));
    r.name = py::cast<std::string>(n);
  }
  validate(r, arg);
  return r;
}

py::dict recipe_to_py_dict(const Recipe& r) {
  py::dict d;
  d["name"] = r.name;
  d["fprop"] = gemm_to_py(r.fprop);
  d["dgrad"] = gemm_to_py(r.dgrad);
  d["wgrad"] = gemm_to_py(r.wgrad);
  return d;
}

}  // namespace fp4train
