// The non-GEMM layer kernels (csrc/ops) over numpy: attention core, RMSNorm,
// SwiGLU gating, RoPE, softmax cross-entropy, embedding backward.
// Everything is converted and validated with the GIL held (errors name the
// argument); the work runs with it released. Outputs are new float32 arrays,
// except the parameter gradients, which are accumulated in place.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/numpy_io.h"
#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

namespace fp4train {

namespace {

using I64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

int64_t prod(const std::vector<int64_t>& s, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to; ++i) n *= s[i];
  return n;
}

// An integer array as int64 (converted/copied when needed); TypeError for other kinds.
I64Array as_i64_array(const py::handle& obj, const char* arg) {
  py::array a = py::module_::import("numpy").attr("asarray")(obj);
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw ArgumentTypeError(arg, "expected an integer array, got dtype " +
                                     std::string(py::str(a.dtype())));
  return I64Array::ensure(a);
}

float as_scale(double scale, const char* arg) {
  FP4_CHECK(std::isfinite(scale), arg, "expected a finite float, got " + std::to_string(scale));
  return float(scale);
}

// (B, S, H*D) with H = n_heads: the attention operands.
struct HeadShape {
  int64_t B, S, H, D;
};

HeadShape head_shape(const F32Array& a, const char* arg, int64_t n_heads) {
  const std::vector<int64_t> s = shape_of(a);
  FP4_CHECK(s.size() == 3, arg, "expected shape (batch, seq, dim), got " + shape_str(s));
  FP4_CHECK(n_heads >= 1, "n_heads", "expected an int >= 1, got " + std::to_string(n_heads));
  FP4_CHECK(s[2] % n_heads == 0 && s[2] > 0, "n_heads",
            "dim=" + std::to_string(s[2]) + " is not a positive multiple of n_heads=" +
                std::to_string(n_heads));
  return {s[0], s[1], n_heads, s[2] / n_heads};
}

}  // namespace

void bind_ops(py::module_& m) {
  m.def(
      "attention_forward",
      [](const py::handle& q, const py::handle& k, const py::handle& v, int64_t n_heads,
         double scale) {
        F32Array qa = as_f32_array(q, "q");
        const HeadShape hs = head_shape(qa, "q", n_heads);
        const std::vector<int64_t> shape = shape_of(qa);
        F32Array ka = f32_of_shape(k, "k", shape), va = f32_of_shape(v, "v", shape);
        const float sc = as_scale(scale, "scale");
        py::array_t<float> y = new_f32(shape), p = new_f32({hs.B, hs.H, hs.S, hs.S});
        float *yo = y.mutable_data(), *po = p.mutable_data();
        {
          py::gil_scoped_release release;
          attention_forward(qa.data(), ka.data(), va.data(), yo, po, hs.B, hs.S, hs.H, hs.D, sc);
        }
        return py::make_tuple(y, p);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("n_heads"), py::arg("scale"));

  m.def(
      "attention_backward",
      [](const py::handle& q, const py::handle& k, const py::handle& v, const py::handle& p,
         const py::handle& dy, int64_t n_heads, double scale) {
        F32Array qa = as_f32_array(q, "q");
        const HeadShape hs = head_shape(qa, "q", n_heads);
        const std::vector<int64_t> shape = shape_of(qa);
        F32Array ka = f32_of_shape(k, "k", shape), va = f32_of_shape(v, "v", shape);
        F32Array pa = f32_of_shape(p, "p", {hs.B, hs.H, hs.S, hs.S});
        F32Array dya = f32_of_shape(dy, "dy", shape);
        const float sc = as_scale(scale, "scale");
        py::array_t<float> dq = new_f32(shape), dk = new_f32(shape), dv = new_f32(shape);
        float *dqo = dq.mutable_data(), *dko = dk.mutable_data(), *dvo = dv.mutable_data();
        {
          py::gil_scoped_release release;
          attention_backward(qa.data(), ka.data(), va.data(), pa.data(), dya.data(), dqo, dko, dvo,
                             hs.B, hs.S, hs.H, hs.D, sc);
        }
        return py::make_tuple(dq, dk, dv);
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("p"), py::arg("dy"), py::arg("n_heads"),
      py::arg("scale"));

  m.def(
      "rmsnorm_forward",
      [](const py::handle& x, const py::handle& weight, double eps) {
        F32Array xa = as_f32_array(x, "x");
        const std::vector<int64_t> shape = shape_of(xa);
        FP4_CHECK(!shape.empty() && shape.back() >= 1, "x",
                  "expected shape (..., dim), got " + shape_str(shape));
        const int64_t C = shape.back(), N = prod(shape, 0, shape.size() - 1);
        F32Array wa = f32_of_shape(weight, "weight", {C});
        FP4_CHECK(std::isfinite(eps) && eps > 0, "eps",
                  "expected a float > 0, got " + std::to_string(eps));
        py::array_t<float> y = new_f32(shape);
        py::array_t<float> rstd =
            new_f32(std::vector<int64_t>(shape.begin(), shape.end() - 1));
        float *yo = y.mutable_data(), *ro = rstd.mutable_data();
        {
          py::gil_scoped_release release;
          rmsnorm_forward(xa.data(), wa.data(), yo, ro, N, C, float(eps));
        }
        return py::make_tuple(y, rstd);
      },
      py::arg("x"), py::arg("weight"), py::arg("eps"));

  m.def(
      "rmsnorm_backward",
      [](const py::handle& x, const py::handle& rstd, const py::handle& weight,
         const py::handle& grad, const py::handle& weight_grad) {
        F32Array xa = as_f32_array(x, "x");
        const std::vector<int64_t> shape = shape_of(xa);
        FP4_CHECK(!shape.empty() && shape.back() >= 1, "x",
                  "expected shape (..., dim), got " + shape_str(shape));
        const int64_t C = shape.back(), N = prod(shape, 0, shape.size() - 1);
        F32Array ra = f32_of_shape(rstd, "rstd",
                                   std::vector<int64_t>(shape.begin(), shape.end() - 1));
        F32Array wa = f32_of_shape(weight, "weight", {C});
        F32Array ga = f32_of_shape(grad, "grad", shape);
        float* dw = writable_f32(weight_grad, "weight_grad", {C});
        py::array_t<float> dx = new_f32(shape);
        float* dxo = dx.mutable_data();
        {
          py::gil_scoped_release release;
          rmsnorm_backward(xa.data(), ra.data(), wa.data(), ga.data(), dxo, dw, N, C);
        }
        return dx;
      },
      py::arg("x"), py::arg("rstd"), py::arg("weight"), py::arg("grad"), py::arg("weight_grad"));

  m.def(
      "swiglu_forward",
      [](const py::handle& g, const py::handle& u) {
        F32Array ga = as_f32_array(g, "g");
        const std::vector<int64_t> shape = shape_of(ga);
        F32Array ua = f32_of_shape(u, "u", shape);
        py::array_t<float> h = new_f32(shape), sig = new_f32(shape);
        float *ho = h.mutable_data(), *so = sig.mutable_data();
        {
          py::gil_scoped_release release;
          swiglu_forward(ga.data(), ua.data(), ho, so, int64_t(ga.size()));
        }
        return py::make_tuple(h, sig);
      },
      py::arg("g"), py::arg("u"));

  m.def(
      "swiglu_backward",
      [](const py::handle& g, const py::handle& u, const py::handle& sig, const py::handle& dh) {
        F32Array ga = as_f32_array(g, "g");
        const std::vector<int64_t> shape = shape_of(ga);
        F32Array ua = f32_of_shape(u, "u", shape), sa = f32_of_shape(sig, "sig", shape),
                 dha = f32_of_shape(dh, "dh", shape);
        py::array_t<float> dg = new_f32(shape), du = new_f32(shape);
        float *dgo = dg.mutable_data(), *duo = du.mutable_data();
        {
          py::gil_scoped_release release;
          swiglu_backward(ga.data(), ua.data(), sa.data(), dha.data(), dgo, duo,
                          int64_t(ga.size()));
        }
        return py::make_tuple(dg, du);
      },
      py::arg("g"), py::arg("u"), py::arg("sig"), py::arg("dh"));

  m.def(
      "rope",
      [](const py::handle& x, const py::handle& cos, const py::handle& sin, int64_t seq_axis,
         bool inverse) {
        F32Array xa = as_f32_array(x, "x");
        const std::vector<int64_t> shape = shape_of(xa);
        const int nd = int(shape.size());
        FP4_CHECK(nd >= 2, "x", "expected at least 2 dimensions (..., seq, ..., head_dim), got " +
                                    shape_str(shape));
        const int ax = normalize_axis(seq_axis, nd, "seq_axis");
        FP4_CHECK(ax < nd - 1, "seq_axis",
                  "expected an axis before the last (head_dim) axis, got " +
                      std::to_string(seq_axis));
        const int64_t D = shape.back();
        FP4_CHECK(D % 2 == 0, "x", "expected an even last dimension, got " + shape_str(shape));
        const int64_t S = shape[size_t(ax)];
        F32Array ca = f32_of_shape(cos, "cos", {S, D / 2}), sa = f32_of_shape(sin, "sin", {S, D / 2});
        const int64_t A = prod(shape, 0, size_t(ax)), M = prod(shape, size_t(ax) + 1, size_t(nd - 1));
        py::array_t<float> out = new_f32(shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          rope_apply(xa.data(), ca.data(), sa.data(), o, A, S, M, D, inverse);
        }
        return out;
      },
      py::arg("x"), py::arg("cos"), py::arg("sin"), py::arg("seq_axis"), py::arg("inverse"));

  m.def(
      "cross_entropy_forward",
      [](const py::handle& logits, const py::handle& targets, const py::object& ignore_index) {
        F32Array la = as_f32_array(logits, "logits");
        const std::vector<int64_t> shape = shape_of(la);
        FP4_CHECK(!shape.empty() && shape.back() >= 1, "logits",
                  "expected shape (..., vocab), got " + shape_str(shape));
        const int64_t V = shape.back(), N = prod(shape, 0, shape.size() - 1);
        I64Array ta = as_i64_array(targets, "targets");
        FP4_CHECK(int64_t(ta.size()) == N, "targets",
                  "expected " + std::to_string(N) + " targets (one per row of logits), got " +
                      std::to_string(ta.size()));
        const bool has_ignore = !ignore_index.is_none();
        const int64_t ign = has_ignore ? py::cast<int64_t>(ignore_index) : 0;
        py::array_t<float> z = new_f32({N, V}), lse = new_f32({N}), nll = new_f32({N});
        float *zo = z.mutable_data(), *lo = lse.mutable_data(), *no = nll.mutable_data();
        {
          py::gil_scoped_release release;
          cross_entropy_forward(la.data(), ta.data(), zo, lo, no, N, V, has_ignore, ign);
        }
        return py::make_tuple(z, lse, nll);
      },
      py::arg("logits"), py::arg("targets"), py::arg("ignore_index"));

  m.def(
      "cross_entropy_backward",
      [](const py::handle& z, const py::handle& lse, const py::handle& targets,
         const py::object& ignore_index, double scale) {
        F32Array za = as_f32_array(z, "z");
        const std::vector<int64_t> shape = shape_of(za);
        FP4_CHECK(shape.size() == 2 && shape[1] >= 1, "z",
                  "expected shape (rows, vocab), got " + shape_str(shape));
        const int64_t N = shape[0], V = shape[1];
        F32Array la = f32_of_shape(lse, "lse", {N});
        I64Array ta = as_i64_array(targets, "targets");
        FP4_CHECK(int64_t(ta.size()) == N, "targets",
                  "expected " + std::to_string(N) + " targets, got " + std::to_string(ta.size()));
        const bool has_ignore = !ignore_index.is_none();
        const int64_t ign = has_ignore ? py::cast<int64_t>(ignore_index) : 0;
        const float sc = as_scale(scale, "scale");
        py::array_t<float> d = new_f32({N, V});
        float* dout = d.mutable_data();
        {
          py::gil_scoped_release release;
          cross_entropy_backward(za.data(), la.data(), ta.data(), dout, N, V, has_ignore, ign, sc);
        }
        return d;
      },
      py::arg("z"), py::arg("lse"), py::arg("targets"), py::arg("ignore_index"),
      py::arg("scale"));

  m.def(
      "embedding_backward",
      [](const py::handle& ids, const py::handle& grad, const py::handle& weight_grad) {
        I64Array ia = as_i64_array(ids, "ids");
        const int64_t N = int64_t(ia.size());
        if (!py::isinstance<py::array>(weight_grad))
          throw ArgumentTypeError("weight_grad", "expected a numpy float32 array");
        const std::vector<int64_t> wshape = shape_of(py::reinterpret_borrow<py::array>(weight_grad));
        FP4_CHECK(wshape.size() == 2, "weight_grad",
                  "expected shape (vocab, dim), got " + shape_str(wshape));
        float* dw = writable_f32(weight_grad, "weight_grad", wshape);
        const int64_t V = wshape[0], C = wshape[1];
        F32Array ga = as_f32_array(grad, "grad");
        FP4_CHECK(int64_t(ga.size()) == N * C && (ga.ndim() >= 1 && ga.shape(ga.ndim() - 1) == C),
                  "grad",
                  "expected " + std::to_string(N) + " rows of " + std::to_string(C) +
                      " (one per id), got shape " + shape_str(shape_of(ga)));
        {
          py::gil_scoped_release release;
          embedding_backward(ia.data(), ga.data(), dw, N, V, C);
        }
      },
      py::arg("ids"), py::arg("grad"), py::arg("weight_grad"));
}

}  // namespace fp4train
