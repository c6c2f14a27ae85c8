// The linear layer: a LinearContext object (config, step, what forward
// saved) and linear_forward / linear_backward over numpy arrays.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mutex>

#include "bindings/numpy_io.h"
#include "bindings/recipe_convert.h"
#include "linear/linear.h"
#include "linear/linear_profile.h"

namespace fp4train {

namespace {

// One layer's context; the mutex refuses concurrent use of one layer from
// two Python threads (the GIL is released during the work).
struct PyLinear {
  LinearCtx ctx;
  std::mutex busy;
};

std::unique_lock<std::mutex> claim(PyLinear& l) {
  std::unique_lock<std::mutex> lock(l.busy, std::try_to_lock);
  FP4_CHECK(lock.owns_lock(), "ctx", "this layer is already running in another thread");
  return lock;
}

GemmRole parse_role(const std::string& s) {
  if (s == "fprop") return GemmRole::kFprop;
  if (s == "dgrad") return GemmRole::kDgrad;
  if (s == "wgrad") return GemmRole::kWgrad;
  throw ArgumentError("gemm", "expected one of fprop, dgrad, wgrad, got '" + s + "'");
}

}  // namespace

void bind_linear(py::module_& m) {
  py::class_<PyLinear>(m, "LinearContext")
      .def(py::init([](int64_t in, int64_t out, const py::handle& recipe, const py::handle& seed,
                       bool save_quantized_only) {
             LinearConfig c;
             c.in_features = in;
             c.out_features = out;
             c.recipe = recipe_from_py(recipe);
             c.seed = as_seed(seed);
             c.save_quantized_only = save_quantized_only;
             auto* l = new PyLinear();
             l->ctx = make_linear(c);
             return l;
           }),
           py::arg("in_features"), py::arg("out_features"), py::arg("recipe"), py::arg("seed"),
           py::arg("save_quantized_only") = false)
      .def_property(
          "next_step", [](const PyLinear& l) { return l.ctx.next_step; },
          [](PyLinear& l, uint64_t s) { l.ctx.next_step = s; })
      .def_property_readonly("saved_step",
                             [](const PyLinear& l) -> py::object {
                               if (!l.ctx.saved) return py::none();
                               return py::int_(l.ctx.step);
                             })
      .def_property_readonly("saved_tokens", [](const PyLinear& l) { return l.ctx.tokens; })
      .def_property_readonly("saved_bytes", [](const PyLinear& l) { return l.ctx.saved_bytes(); })
      .def_property_readonly("workspace_allocations",
                             [](const PyLinear& l) { return l.ctx.workspace_allocations; })
      .def_property_readonly("workspace_bytes",
                             [](const PyLinear& l) { return l.ctx.workspace_bytes(); })
      .def("set_recipe",
           [](PyLinear& l, const py::handle& recipe) {
             Recipe r = recipe_from_py(recipe);
             validate(r);
             auto lock = claim(l);
             l.ctx.config.recipe = r;
             // A saved forward belongs to the old recipe; its buffers stay for reuse.
             linear_invalidate_saved(l.ctx);
           })
      .def("clear_saved", [](PyLinear& l) {
        auto lock = claim(l);
        linear_zero_saved(l.ctx);
      });

  m.def(
      "linear_forward",
      [](PyLinear& l, const py::handle& x, const py::handle& w, const py::handle& b,
         bool save_for_backward) {
        const int64_t in = l.ctx.config.in_features, out = l.ctx.config.out_features;
        F32Array xa = as_f32_array(x, "x");
        FP4_CHECK(xa.ndim() == 2 && xa.shape(1) == in, "x",
                  "expected shape (tokens, " + std::to_string(in) + "), got " +
                      shape_str(shape_of(xa)));
        const int64_t tokens = xa.shape(0);
        F32Array wa = f32_of_shape(w, "weight", {out, in});
        F32Array ba;
        const bool has_b = !b.is_none();
        if (has_b) ba = f32_of_shape(b, "bias", {out});
        py::array_t<float> y = new_f32({tokens, out});
        float* yp = y.mutable_data();
        auto lock = claim(l);
        {
          py::gil_scoped_release release;
          linear_forward(l.ctx, xa.data(), tokens, wa.data(), has_b ? ba.data() : nullptr, yp,
                         save_for_backward);
        }
        return y;
      },
      py::arg("ctx"), py::arg("x"), py::arg("weight"), py::arg("bias"),
      py::arg("save_for_backward") = true);

  m.def(
      "linear_backward",
      [](PyLinear& l, const py::handle& dy, const py::handle& w, const py::handle& dw,
         const py::handle& db) {
        const int64_t in = l.ctx.config.in_features, out = l.ctx.config.out_features;
        FP4_CHECK(l.ctx.saved, "dy", "backward called before forward (nothing saved)");
        F32Array dya = as_f32_array(dy, "grad");
        FP4_CHECK(dya.ndim() == 2 && dya.shape(0) == l.ctx.tokens && dya.shape(1) == out, "grad",
                  "expected shape " + shape_str({l.ctx.tokens, out}) +
                      " (the last forward's output), got " + shape_str(shape_of(dya)));
        F32Array wa = f32_of_shape(w, "weight", {out, in});
        float* dwp = writable_f32(dw, "weight.grad", {out, in});
        float* dbp = db.is_none() ? nullptr : writable_f32(db, "bias.grad", {out});
        py::array_t<float> dx = new_f32({l.ctx.tokens, in});
        float* dxp = dx.mutable_data();
        auto lock = claim(l);
        {
          py::gil_scoped_release release;
          linear_backward(l.ctx, dya.data(), dya.shape(0), wa.data(), dxp, dwp, dbp);
        }
        return dx;
      },
      py::arg("ctx"), py::arg("grad"), py::arg("weight"), py::arg("weight_grad"),
      py::arg("bias_grad"));

  // Phase timers (linear/linear_profile.h), for the step profiler.
  m.def(
      "set_linear_profiling", [](bool enabled) { set_linear_profiling(enabled); },
      py::arg("enabled"));
  m.def("linear_profiling_enabled", [] { return linear_profiling_enabled(); });
  m.def("reset_linear_profile", [] { reset_linear_profile(); });
  m.def("linear_profile", [] {
    const LinearProfile p = linear_profile();
    py::dict out;
    for (int r = 0; r < kLinearRoles; ++r) {
      const LinearProfileRole& role = p.role[size_t(r)];
      py::dict d;
      d["quantize"] = role.seconds[size_t(LinearPhase::kQuantize)];
      d["gemm"] = role.seconds[size_t(LinearPhase::kGemm)];
      d["other"] = role.seconds[size_t(LinearPhase::kOther)];
      d["calls"] = role.calls;
      out[gemm_role_name(GemmRole(r))] = d;
    }
    return out;
  });

  m.def(
      "derive_seed",
      [](const py::handle& layer_seed, uint64_t step, const std::string& gemm, int operand) {
        FP4_CHECK(operand == 0 || operand == 1, "operand", "expected 0 (a) or 1 (b)");
        return derive_seed(as_seed(layer_seed), step, parse_role(gemm), operand);
      },
      py::arg("layer_seed"), py::arg("step"), py::arg("gemm"), py::arg("operand"));

  m.def(
      "gemm_hadamard_signs",
      [](const py::handle& recipe, const std::string& gemm, const py::handle& layer_seed,
         uint64_t step) {
        const Recipe r = recipe_from_py(recipe);
        const GemmRole role = parse_role(gemm);
        std::vector<float> s =
            gemm_hadamard_signs(gemm_config(r, role), role, as_seed(layer_seed), step);
        const int64_t n = int64_t(s.size());
        return to_numpy(std::move(s), {n});
      },
      py::arg("recipe"), py::arg("gemm"), py::arg("layer_seed"), py::arg("step"));
}

}  // namespace fp4train
