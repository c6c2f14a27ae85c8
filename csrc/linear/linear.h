// The quantized linear layer: Y = X W^T + b with three GEMMs, each under its
// own configuration of the recipe (DESIGN §3).
//
//   fprop  Y  = X  W^T   a = X  (tokens, in)  along in;   b = W (out, in) along in
//   dgrad  dX = dY W     a = dY (tokens, out) along out;  b = W along out (W^T's rows)
//   wgrad  dW = dY^T X   a = dY along tokens (dY^T's rows); b = X along tokens (X^T's rows)
//
// Each operand is quantized along its GEMM's reduction axis; a Hadamard in a
// GEMM config is applied to both of its operands along that axis, fused with
// quantization, with signs shared by the two operands. Stochastic rounding
// keys come from (layer seed, step, GEMM, operand): see seeds.h. The step
// advances once per forward; backward uses the step of the forward it
// belongs to.
//
// What forward saves: by default X in float32 (tokens * in * 4 bytes). With
// save_quantized_only, forward instead quantizes X for wgrad right away and
// saves only that QTensor (for mxfp4: tokens * in / 2 codes + tokens * in / 32
// scale bytes, ~7x smaller); the results are bit-identical either way.
//
// 2-D tiles: when fprop's and dgrad's weight configs are equal, use 2-D tiles
// and neither GEMM has a Hadamard, W is quantized once per step (by fprop,
// with fprop's key) and dgrad reuses the transposed storage.
//
// Workspaces: the quantized operands of the three GEMMs, fprop's transposed
// tiles, the saved X and wgrad's product live in the context and are reused
// from step to step (grown, never shrunk), so a steady state of equal shapes
// allocates nothing in the layer; workspace_allocations counts every
// (re)allocation of one of them. Each buffer is rewritten in full before it
// is read, so results equal those of fresh buffers bit for bit.
//
// Phase timers (linear/linear_profile.h) record quantize / gemm / other time
// per GEMM role when profiling is on.
//
// Non-finite values in X or dY propagate as the formats define (NaN blocks).
// Master weights, bias and their gradients are float32 and owned by the caller.
#pragma once
#include <cstdint>
#include <vector>

#include "linear/recipe.h"
#include "linear/seeds.h"
#include "quant/qtensor.h"

namespace fp4train {

struct LinearConfig {
  int64_t in_features = 0;
  int64_t out_features = 0;
  Recipe recipe;
  uint64_t seed = 0;
  bool save_quantized_only = false;
};

// Per-layer buffers reused across steps (see above). Nothing in here is
// state: any of it may be dropped between calls without changing a result.
struct LinearWorkspace {
  QTensor fprop_a, fprop_b;  // X, W along in-features
  QTensor dgrad_a, dgrad_b;  // dY along out-features, W along out-features
  QTensor wgrad_a, wgrad_b;  // dY, X along tokens (wgrad_b: unless save_quantized_only)
  std::vector<float> dw;     // this step's dW before it is added into the caller's

  int64_t bytes() const;  // capacity held
};

struct LinearCtx {
  LinearConfig config;
  uint64_t next_step = 0;  // the step the next forward runs at
  // Saved by forward for backward:
  bool saved = false;
  uint64_t step = 0;
  int64_t tokens = 0;
  std::vector<float> x;      // (tokens, in), unless save_quantized_only
  QTensor x_wgrad;           // X along tokens under wgrad.b (save_quantized_only)
  QTensor w_tiles_dgrad;     // fprop's 2-D tiled W re-stored for dgrad, when reusable
  bool has_w_tiles_dgrad = false;
  LinearWorkspace ws;
  int64_t workspace_allocations = 0;  // buffer (re)allocations so far, saved state included

  int64_t saved_bytes() const;      // memory held for backward (0 when nothing is saved)
  int64_t workspace_bytes() const;  // capacity of every reusable buffer, saved ones included
};

// Validates sizes and the recipe; throws ArgumentError naming the argument.
LinearCtx make_linear(const LinearConfig& config);

// x: (tokens, in) row-major; w: (out, in); b: (out) or null; y: (tokens, out).
// With save_for_backward false (evaluation) nothing is saved, the step does
// not advance, and wgrad's constraints (Hadamard along tokens) do not apply.
void linear_forward(LinearCtx& ctx, const float* x, int64_t tokens, const float* w,
                    const float* b, float* y, bool save_for_backward = true);

// dy: (tokens, out) with tokens equal to the last forward's; w: (out, in), the
// same weights the forward saw. Writes dx (tokens, in); accumulates dw (out, in)
// and db (out, or null) with +=. Throws (changing nothing) before a forward.
void linear_backward(LinearCtx& ctx, const float* dy, int64_t tokens, const float* w, float* dx,
                     float* dw, float* db);

// Drop what forward saved and release its memory (workspaces are kept).
void linear_zero_saved(LinearCtx& ctx);
// Drop what forward saved but keep its buffers for the next forward (a
// recipe switch between steps: the next step allocates nothing).
void linear_invalidate_saved(LinearCtx& ctx);

// The configuration of one GEMM of a recipe.
const GemmConfig& gemm_config(const Recipe& r, GemmRole role);

// The sign vector a GEMM's Hadamard uses at `step` in a layer with `layer_seed`
// (empty when the GEMM has none).
std::vector<float> gemm_hadamard_signs(const GemmConfig& g, GemmRole role, uint64_t layer_seed,
                                       uint64_t step);

// One operand of one GEMM, exactly as the layer quantizes it: x (rows, cols)
// row-major, quantized along `axis` under `op` with the GEMM's Hadamard.
QTensor quantize_operand(const float* x, int64_t rows, int64_t cols, int axis,
                         const OperandConfig& op, uint64_t sr_seed, const HadamardSpec& h,
                         const std::vector<float>& signs);
// The same into q, reusing its storage (quant/quantize.h quantize_into).
void quantize_operand_into(QTensor& q, const float* x, int64_t rows, int64_t cols, int axis,
                           const OperandConfig& op, uint64_t sr_seed, const HadamardSpec& h,
                           const std::vector<float>& signs);

}  // namespace fp4train
