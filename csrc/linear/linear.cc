#include "linear/linear.h"

#include "gemm/qgemm.h"
#include "hadamard/hadamard.h"
#include "quant/quantize.h"
#include "quant/transpose.h"
#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

// Operand indices within a GemmConfig.
constexpr int kA = 0, kB = 1;

HadamardSpec layer_hadamard(const GemmConfig& g, GemmRole role, uint64_t layer_seed) {
  HadamardSpec h = g.hadamard;
  if (h.enabled() && h.vector.empty()) h.seed = hadamard_seed(layer_seed, h.seed, role);
  return h;
}

// True when fprop's 2-D tiled W can serve dgrad too (see linear.h).
bool reuse_w_tiles(const Recipe& r) {
  return r.fprop.b.block_2d && r.fprop.b == r.dgrad.b && !r.fprop.hadamard.enabled() &&
         !r.dgrad.hadamard.enabled();
}

// dst (rows, cols) += src, elementwise.
void add_into(float* dst, const float* src, int64_t n) {
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = dst[i] + src[i];
  });
}

// db[o] += sum_t dy[t, o], the sum taken in increasing t (deterministic).
void accumulate_bias_grad(const float* dy, int64_t tokens, int64_t out, float* db) {
  parallel_for(out, 256, [&](int64_t ob, int64_t oe) {
    std::vector<float> acc(size_t(oe - ob), 0.0f);
    for (int64_t t = 0; t < tokens; ++t) {
      const float* row = dy + t * out;
      for (int64_t o = ob; o < oe; ++o) acc[size_t(o - ob)] += row[o];
    }
    for (int64_t o = ob; o < oe; ++o) db[o] = db[o] + acc[size_t(o - ob)];
  });
}

// Quantizes one operand of a GEMM of the layer at `step`.
QTensor layer_operand(const LinearCtx& ctx, GemmRole role, int operand, const float* x,
                      int64_t rows, int64_t cols, int axis, uint64_t step) {
  const GemmConfig& g = gemm_config(ctx.config.recipe, role);
  const HadamardSpec h = layer_hadamard(g, role, ctx.config.seed);
  const std::vector<float> signs = gemm_hadamard_signs(g, role, ctx.config.seed, step);
  return quantize_operand(x, rows, cols, axis, operand == kA ? g.a : g.b,
                          derive_seed(ctx.config.seed, step, role, operand), h, signs);
}

}  // namespace

const GemmConfig& gemm_config(const Recipe& r, GemmRole role) {
  return role == GemmRole::kFprop ? r.fprop : (role == GemmRole::kDgrad ? r.dgrad : r.wgrad);
}

int64_t LinearCtx::saved_bytes() const {
  return int64_t(x.size() * sizeof(float)) + x_wgrad.nbytes() +
         (has_w_tiles_dgrad ? w_tiles_dgrad.nbytes() : 0);
}

std::vector<float> gemm_hadamard_signs(const GemmConfig& g, GemmRole role, uint64_t layer_seed,
                                       uint64_t step) {
  if (!g.hadamard.enabled()) return {};
  return hadamard_signs(layer_hadamard(g, role, layer_seed), step);
}

QTensor quantize_operand(const float* x, int64_t rows, int64_t cols, int axis,
                         const OperandConfig& op, uint64_t sr_seed, const HadamardSpec& h,
                         const std::vector<float>& signs) {
  const QuantSpec spec = op.quant_spec(sr_seed);
  const std::vector<int64_t> shape{rows, cols};
  if (!h.enabled()) return quantize(x, shape, axis, spec);
  return quantize_hadamard(x, shape, axis, spec, h.size, signs.data());
}

LinearCtx make_linear(const LinearConfig& config) {
  FP4_CHECK(config.in_features > 0, "in_features",
            "expected a positive integer, got " + std::to_string(config.in_features));
  FP4_CHECK(config.out_features > 0, "out_features",
            "expected a positive integer, got " + std::to_string(config.out_features));
  validate(config.recipe);
  // A GEMM's Hadamard runs along its reduction axis: in-features (fprop),
  // out-features (dgrad); wgrad's runs along tokens, checked by forward.
  const Recipe& r = config.recipe;
  if (r.fprop.hadamard.enabled())
    validate_hadamard_size(r.fprop.hadamard.size, config.in_features, "recipe.fprop.hadamard.size");
  if (r.dgrad.hadamard.enabled())
    validate_hadamard_size(r.dgrad.hadamard.size, config.out_features,
                           "recipe.dgrad.hadamard.size");
  LinearCtx ctx;
  ctx.config = config;
  return ctx;
}

void linear_zero_saved(LinearCtx& ctx) {
  ctx.saved = false;
  ctx.tokens = 0;
  std::vector<float>().swap(ctx.x);
  ctx.x_wgrad = QTensor();
  ctx.w_tiles_dgrad = QTensor();
  ctx.has_w_tiles_dgrad = false;
}

void linear_forward(LinearCtx& ctx, const float* x, int64_t tokens, const float* w,
                    const float* b, float* y, bool save_for_backward) {
  const int64_t in = ctx.config.in_features, out = ctx.config.out_features;
  FP4_CHECK(tokens >= 0, "x", "expected a non-negative number of rows");
  const uint64_t step = ctx.next_step;
  const Recipe& r = ctx.config.recipe;
  // Checked here, not in backward, so that a bad batch fails before any work.
  if (save_for_backward && r.wgrad.hadamard.enabled())
    FP4_CHECK(tokens % r.wgrad.hadamard.size == 0, "x",
              "wgrad's Hadamard of size " + std::to_string(r.wgrad.hadamard.size) +
                  " runs along tokens: expected a number of rows that is a multiple of it, got " +
                  std::to_string(tokens));

  // Fprop: both operands along in-features.
  const QTensor xq = layer_operand(ctx, GemmRole::kFprop, kA, x, tokens, in, 1, step);
  const QTensor wq = layer_operand(ctx, GemmRole::kFprop, kB, w, out, in, 1, step);
  qgemm(xq.view(), wq.view(), y);
  if (b) {
    parallel_for(tokens, 64, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t)
        for (int64_t o = 0; o < out; ++o) y[t * out + o] = y[t * out + o] + b[o];
    });
  }

  // Save for backward (replacing whatever an earlier forward saved).
  linear_zero_saved(ctx);
  if (!save_for_backward) return;
  if (reuse_w_tiles(r)) {
    ctx.w_tiles_dgrad = transpose_storage(wq.view());
    ctx.has_w_tiles_dgrad = true;
  }
  if (ctx.config.save_quantized_only) {
    ctx.x_wgrad = layer_operand(ctx, GemmRole::kWgrad, kB, x, tokens, in, 0, step);
  } else {
    ctx.x.assign(x, x + tokens * in);
  }
  ctx.saved = true;
  ctx.step = step;
  ctx.tokens = tokens;
  ctx.next_step = step + 1;
}

void linear_backward(LinearCtx& ctx, const float* dy, int64_t tokens, const float* w, float* dx,
                     float* dw, float* db) {
  FP4_CHECK(ctx.saved, "dy", "backward called before forward (nothing saved)");
  FP4_CHECK(tokens == ctx.tokens, "dy",
            "expected " + std::to_string(ctx.tokens) + " rows (the last forward's), got " +
                std::to_string(tokens));
  const int64_t in = ctx.config.in_features, out = ctx.config.out_features;
  const uint64_t step = ctx.step;

  // Dgrad: dX (tokens, in) = dY (tokens, out) . W^T-rows (in, out), along out.
  {
    const QTensor dyq = layer_operand(ctx, GemmRole::kDgrad, kA, dy, tokens, out, 1, step);
    if (ctx.has_w_tiles_dgrad) {
      qgemm(dyq.view(), transposed_view(ctx.w_tiles_dgrad.view()), dx);
    } else {
      const QTensor wq = layer_operand(ctx, GemmRole::kDgrad, kB, w, out, in, 0, step);
      qgemm(dyq.view(), transposed_view(wq.view()), dx);
    }
  }

  // Wgrad: dW (out, in) = dY^T-rows (out, tokens) . X^T-rows (in, tokens), along tokens.
  {
    const QTensor dyq = layer_operand(ctx, GemmRole::kWgrad, kA, dy, tokens, out, 0, step);
    QTensor xq_local;
    const QTensor* xq = &ctx.x_wgrad;
    if (!ctx.config.save_quantized_only) {
      xq_local = layer_operand(ctx, GemmRole::kWgrad, kB, ctx.x.data(), tokens, in, 0, step);
      xq = &xq_local;
    }
    std::vector<float> dw_step(size_t(out * in));
    qgemm(transposed_view(dyq.view()), transposed_view(xq->view()), dw_step.data());
    add_into(dw, dw_step.data(), out * in);
  }

  if (db) accumulate_bias_grad(dy, tokens, out, db);
}

}  // namespace fp4train
