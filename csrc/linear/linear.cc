#include "linear/linear.h"

#include <algorithm>

#include "gemm/qgemm.h"
#include "hadamard/hadamard.h"
#include "linear/linear_profile.h"
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

// Capacity of a buffer, to tell whether a call (re)allocated it.
struct Capacity {
  size_t codes, scales;
  explicit Capacity(const QTensor& q) : codes(q.codes.capacity()), scales(q.scales.capacity()) {}
  bool operator!=(const Capacity& o) const { return codes != o.codes || scales != o.scales; }
};

// Quantizes one operand of a GEMM of the layer at `step` into the workspace
// `q` (quantize_operand's result, in reused storage); counts an allocation
// when q had to grow. Timed as that GEMM's quantize phase.
void layer_operand_into(LinearCtx& ctx, QTensor& q, GemmRole role, int operand, const float* x,
                        int64_t rows, int64_t cols, int axis, uint64_t step) {
  LinearPhaseTimer timer(role, LinearPhase::kQuantize);
  const GemmConfig& g = gemm_config(ctx.config.recipe, role);
  const HadamardSpec h = layer_hadamard(g, role, ctx.config.seed);
  const std::vector<float> signs = gemm_hadamard_signs(g, role, ctx.config.seed, step);
  const Capacity before(q);
  quantize_operand_into(q, x, rows, cols, axis, operand == kA ? g.a : g.b,
                        derive_seed(ctx.config.seed, step, role, operand), h, signs);
  if (Capacity(q) != before) ++ctx.workspace_allocations;
}

// C = A B^T, timed as `role`'s gemm phase.
void layer_gemm(GemmRole role, const QTensorView& a, const QTensorView& b, float* c) {
  LinearPhaseTimer timer(role, LinearPhase::kGemm);
  qgemm(a, b, c);
}

// v.resize(n), counting an allocation when v had to grow.
void ensure_size(LinearCtx& ctx, std::vector<float>& v, size_t n) {
  if (n > v.capacity()) ++ctx.workspace_allocations;
  v.resize(n);
}

}  // namespace

const GemmConfig& gemm_config(const Recipe& r, GemmRole role) {
  return role == GemmRole::kFprop ? r.fprop : (role == GemmRole::kDgrad ? r.dgrad : r.wgrad);
}

int64_t LinearCtx::saved_bytes() const {
  if (!saved) return 0;
  return int64_t(x.size() * sizeof(float)) +
         (config.save_quantized_only ? x_wgrad.nbytes() : 0) +
         (has_w_tiles_dgrad ? w_tiles_dgrad.nbytes() : 0);
}

namespace {
int64_t capacity_bytes(const QTensor& q) {
  return int64_t(q.codes.capacity() + q.scales.capacity());
}
}  // namespace

int64_t LinearWorkspace::bytes() const {
  return capacity_bytes(fprop_a) + capacity_bytes(fprop_b) + capacity_bytes(dgrad_a) +
         capacity_bytes(dgrad_b) + capacity_bytes(wgrad_a) + capacity_bytes(wgrad_b) +
         int64_t(dw.capacity() * sizeof(float));
}

int64_t LinearCtx::workspace_bytes() const {
  return ws.bytes() + int64_t(x.capacity() * sizeof(float)) + capacity_bytes(x_wgrad) +
         capacity_bytes(w_tiles_dgrad);
}

std::vector<float> gemm_hadamard_signs(const GemmConfig& g, GemmRole role, uint64_t layer_seed,
                                       uint64_t step) {
  if (!g.hadamard.enabled()) return {};
  return hadamard_signs(layer_hadamard(g, role, layer_seed), step);
}

QTensor quantize_operand(const float* x, int64_t rows, int64_t cols, int axis,
                         const OperandConfig& op, uint64_t sr_seed, const HadamardSpec& h,
                         const std::vector<float>& signs) {
  QTensor q;
  quantize_operand_into(q, x, rows, cols, axis, op, sr_seed, h, signs);
  return q;
}

// quantize_hadamard(...) is validate the size, build the row transform,
// quantize with it in runs of n: the same steps here, into q's storage.
void quantize_operand_into(QTensor& q, const float* x, int64_t rows, int64_t cols, int axis,
                           const OperandConfig& op, uint64_t sr_seed, const HadamardSpec& h,
                           const std::vector<float>& signs) {
  const QuantSpec spec = op.quant_spec(sr_seed);
  const std::vector<int64_t> shape{rows, cols};
  if (!h.enabled()) {
    quantize_into(q, x, shape, axis, spec);
    return;
  }
  validate_hadamard_signs(signs, h.size);
  validate_hadamard_size(h.size, axis == 0 ? rows : cols);
  const RowTransform t = hadamard_row_transform(h.size, signs.empty() ? nullptr : signs.data());
  quantize_into(q, x, shape, axis, spec, &t, h.size);
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

void linear_invalidate_saved(LinearCtx& ctx) {
  ctx.saved = false;
  ctx.tokens = 0;
  ctx.has_w_tiles_dgrad = false;
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

  count_linear_call(GemmRole::kFprop);
  LinearWorkspace& ws = ctx.ws;

  // Fprop: both operands along in-features.
  layer_operand_into(ctx, ws.fprop_a, GemmRole::kFprop, kA, x, tokens, in, 1, step);
  layer_operand_into(ctx, ws.fprop_b, GemmRole::kFprop, kB, w, out, in, 1, step);
  layer_gemm(GemmRole::kFprop, ws.fprop_a.view(), ws.fprop_b.view(), y);
  if (b) {
    LinearPhaseTimer timer(GemmRole::kFprop, LinearPhase::kOther);
    parallel_for(tokens, 64, [&](int64_t tb, int64_t te) {
      for (int64_t t = tb; t < te; ++t)
        for (int64_t o = 0; o < out; ++o) y[t * out + o] = y[t * out + o] + b[o];
    });
  }

  // Save for backward (replacing whatever an earlier forward saved, in its storage).
  linear_invalidate_saved(ctx);
  if (!save_for_backward) return;
  if (reuse_w_tiles(r)) {
    LinearPhaseTimer timer(GemmRole::kDgrad, LinearPhase::kQuantize);
    const Capacity before(ctx.w_tiles_dgrad);
    transpose_storage_into(ctx.w_tiles_dgrad, ws.fprop_b.view());
    if (Capacity(ctx.w_tiles_dgrad) != before) ++ctx.workspace_allocations;
    ctx.has_w_tiles_dgrad = true;
  }
  if (ctx.config.save_quantized_only) {
    layer_operand_into(ctx, ctx.x_wgrad, GemmRole::kWgrad, kB, x, tokens, in, 0, step);
  } else {
    LinearPhaseTimer timer(GemmRole::kWgrad, LinearPhase::kOther);
    ensure_size(ctx, ctx.x, size_t(tokens * in));
    std::copy(x, x + tokens * in, ctx.x.begin());
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

  count_linear_call(GemmRole::kDgrad);
  count_linear_call(GemmRole::kWgrad);
  LinearWorkspace& ws = ctx.ws;

  // Dgrad: dX (tokens, in) = dY (tokens, out) . W^T-rows (in, out), along out.
  layer_operand_into(ctx, ws.dgrad_a, GemmRole::kDgrad, kA, dy, tokens, out, 1, step);
  if (ctx.has_w_tiles_dgrad) {
    layer_gemm(GemmRole::kDgrad, ws.dgrad_a.view(), transposed_view(ctx.w_tiles_dgrad.view()),
               dx);
  } else {
    layer_operand_into(ctx, ws.dgrad_b, GemmRole::kDgrad, kB, w, out, in, 0, step);
    layer_gemm(GemmRole::kDgrad, ws.dgrad_a.view(), transposed_view(ws.dgrad_b.view()), dx);
  }

  // Wgrad: dW (out, in) = dY^T-rows (out, tokens) . X^T-rows (in, tokens), along tokens.
  layer_operand_into(ctx, ws.wgrad_a, GemmRole::kWgrad, kA, dy, tokens, out, 0, step);
  const QTensor* xq = &ctx.x_wgrad;
  if (!ctx.config.save_quantized_only) {
    layer_operand_into(ctx, ws.wgrad_b, GemmRole::kWgrad, kB, ctx.x.data(), tokens, in, 0, step);
    xq = &ws.wgrad_b;
  }
  ensure_size(ctx, ws.dw, size_t(out * in));
  layer_gemm(GemmRole::kWgrad, transposed_view(ws.wgrad_a.view()), transposed_view(xq->view()),
             ws.dw.data());
  LinearPhaseTimer timer(GemmRole::kWgrad, LinearPhase::kOther);
  add_into(dw, ws.dw.data(), out * in);
  if (db) accumulate_bias_grad(dy, tokens, out, db);
}

}  // namespace fp4train
