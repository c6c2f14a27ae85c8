// The linear layer in C++: determinism, the memory-saving mode, 2-D tile
// reuse and preconditions. Numerical agreement with an independent numpy
// reference is in tests/python/test_linear.py.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "gemm/qgemm.h"
#include "linear/linear.h"
#include "linear/linear_profile.h"
#include "quant/quantize.h"
#include "quant/transpose.h"
#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {
namespace {

OperandConfig op(Format f, Rounding r = Rounding::kNearest, bool tiles = false,
                 float prescale = 1.0f) {
  OperandConfig o;
  o.format = f;
  o.rounding = r;
  o.block_2d = tiles;
  o.prescale = prescale;
  return o;
}

// A recipe that exercises everything: SR, prescale, per-step Hadamard, tiles.
Recipe busy_recipe() {
  Recipe r;
  r.name = "busy";
  r.fprop.a = op(Format::kNvfp4);
  r.fprop.b = op(Format::kNvfp4, Rounding::kNearest, true);
  r.dgrad.a = op(Format::kNvfp4, Rounding::kStochastic);
  r.dgrad.b = r.fprop.b;
  r.wgrad.a = op(Format::kMxfp4, Rounding::kStochastic, false, 0.75f);
  r.wgrad.b = op(Format::kMxfp4, Rounding::kStochastic, false, 0.75f);
  r.wgrad.hadamard.size = 32;
  r.wgrad.hadamard.signs = SignPolicy::kPerStep;
  r.wgrad.hadamard.seed = 3;
  return r;
}

struct Data {
  int64_t tokens = 64, in = 48, out = 80;
  std::vector<float> x, w, b, dy;
  explicit Data(uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (auto* v : {&x, &w, &b, &dy}) {
      const int64_t size = v == &x ? tokens * in : v == &w ? out * in : v == &b ? out : tokens * out;
      v->resize(size_t(size));
      for (float& f : *v) f = n(gen);
    }
  }
};

struct Outputs {
  std::vector<float> y, dx, dw, db;
};

Outputs run_step(LinearCtx& ctx, const Data& d) {
  Outputs o;
  o.y.resize(size_t(d.tokens * d.out));
  o.dx.resize(size_t(d.tokens * d.in));
  o.dw.assign(size_t(d.out * d.in), 0.0f);
  o.db.assign(size_t(d.out), 0.0f);
  linear_forward(ctx, d.x.data(), d.tokens, d.w.data(), d.b.data(), o.y.data());
  linear_backward(ctx, d.dy.data(), d.tokens, d.w.data(), o.dx.data(), o.dw.data(), o.db.data());
  return o;
}

LinearCtx make(const Recipe& r, bool lean = false) {
  LinearConfig c;
  c.in_features = 48;
  c.out_features = 80;
  c.recipe = r;
  c.seed = 7;
  c.save_quantized_only = lean;
  return make_linear(c);
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a[i], 4);
    std::memcpy(&ub, &b[i], 4);
    ASSERT_EQ(ua, ub) << what << " differs at " << i << ": " << a[i] << " vs " << b[i];
  }
}

TEST(LinearTest, ThreadCountDoesNotChangeBits) {
  const Data d(1);
  std::vector<Outputs> runs;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    LinearCtx ctx = make(busy_recipe());
    run_step(ctx, d);  // step 0
    runs.push_back(run_step(ctx, d));  // step 1: per-step signs and keys
  }
  set_num_threads(0);
  for (size_t i = 1; i < runs.size(); ++i) {
    expect_same_bits(runs[0].y, runs[i].y, "y");
    expect_same_bits(runs[0].dx, runs[i].dx, "dx");
    expect_same_bits(runs[0].dw, runs[i].dw, "dw");
    expect_same_bits(runs[0].db, runs[i].db, "db");
  }
}

TEST(LinearTest, StepsDrawFreshNoiseAndReplayExactly) {
  const Data d(2);
  LinearCtx a = make(busy_recipe());
  const Outputs s0 = run_step(a, d);
  const Outputs s1 = run_step(a, d);
  EXPECT_NE(0, std::memcmp(s0.dw.data(), s1.dw.data(), s0.dw.size() * 4)) << "steps must differ";
  LinearCtx b = make(busy_recipe());
  b.next_step = 1;
  expect_same_bits(run_step(b, d).dw, s1.dw, "replayed step 1");
}

TEST(LinearTest, SaveQuantizedOnlyIsBitIdenticalAndSmaller) {
  const Data d(3);
  LinearCtx full = make(busy_recipe()), lean = make(busy_recipe(), true);
  const Outputs a = run_step(full, d), b = run_step(lean, d);
  expect_same_bits(a.dx, b.dx, "dx");
  expect_same_bits(a.dw, b.dw, "dw");
  EXPECT_LT(lean.saved_bytes(), full.saved_bytes());
}

TEST(LinearTest, DgradReusesFpropTilesTransposed) {
  const Data d(4);
  LinearCtx ctx = make(busy_recipe());
  std::vector<float> y(size_t(d.tokens * d.out));
  linear_forward(ctx, d.x.data(), d.tokens, d.w.data(), nullptr, y.data());
  ASSERT_TRUE(ctx.has_w_tiles_dgrad);
  // Nearest-rounded 2-D tiles: W quantized along out-features directly.
  QuantSpec s = busy_recipe().dgrad.b.quant_spec(0);
  const QTensor direct = quantize(d.w.data(), {d.out, d.in}, 0, s);
  EXPECT_EQ(direct.codes, ctx.w_tiles_dgrad.codes);
  EXPECT_EQ(direct.scales, ctx.w_tiles_dgrad.scales);
  EXPECT_EQ(direct.tensor_scale, ctx.w_tiles_dgrad.tensor_scale);
}

TEST(LinearTest, EvalForwardSavesNothing) {
  const Data d(5);
  LinearCtx ctx = make(busy_recipe());
  std::vector<float> y(size_t(5 * d.out));
  // 5 tokens: wgrad's H32 along tokens would refuse them in training.
  linear_forward(ctx, d.x.data(), 5, d.w.data(), nullptr, y.data(), false);
  EXPECT_FALSE(ctx.saved);
  EXPECT_EQ(ctx.next_step, 0u);
  EXPECT_THROW(linear_forward(ctx, d.x.data(), 5, d.w.data(), nullptr, y.data()), ArgumentError);
}

TEST(LinearTest, PreconditionsNameTheArgument) {
  const Data d(6);
  LinearCtx ctx = make(busy_recipe());
  std::vector<float> dx(size_t(d.tokens * d.in)), dw(size_t(d.out * d.in));
  try {
    linear_backward(ctx, d.dy.data(), d.tokens, d.w.data(), dx.data(), dw.data(), nullptr);
    FAIL() << "backward before forward must throw";
  } catch (const ArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("before forward"), std::string::npos) << e.what();
  }
  Outputs o = run_step(ctx, d);
  EXPECT_THROW(linear_backward(ctx, d.dy.data(), d.tokens - 1, d.w.data(), dx.data(), dw.data(),
                               nullptr),
               ArgumentError);
  LinearConfig c;
  c.in_features = 0;
  c.out_features = 4;
  EXPECT_THROW(make_linear(c), ArgumentError);
  Recipe r = busy_recipe();
  r.dgrad.hadamard.size = 64;  // out = 80 is not a multiple of 64
  EXPECT_THROW(make(r), ArgumentError);
}

TEST(LinearTest, Fp32RecipeIsThePlainLayer) {
  const Data d(7);
  LinearCtx ctx = make(Recipe{});
  const Outputs o = run_step(ctx, d);
  for (int64_t t = 0; t < d.tokens; ++t)
    for (int64_t j = 0; j < d.out; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < d.in; ++k) acc += double(d.x[t * d.in + k]) * d.w[j * d.in + k];
      acc += d.b[j];
      ASSERT_NEAR(o.y[t * d.out + j], acc, 1e-4 * (1 + std::abs(acc)));
    }
  for (int64_t j = 0; j < d.out; ++j) {
    double s = 0;
    for (int64_t t = 0; t < d.tokens; ++t) s += d.dy[t * d.out + j];
    ASSERT_NEAR(o.db[j], s, 1e-4);
  }
}

// Workspaces: two warm-up steps allocate, later steps of the same shapes do
// not, and a context whose buffers were used at other shapes and under other
// values gives a fresh context's bits.
TEST(LinearTest, SteadyStateReusesWorkspaces) {
  for (bool lean : {false, true}) {
    const Data d(8), e(9);
    LinearCtx ctx = make(busy_recipe(), lean);
    EXPECT_EQ(ctx.workspace_allocations, 0);
    run_step(ctx, d);
    run_step(ctx, e);
    const int64_t warm = ctx.workspace_allocations;
    EXPECT_GT(warm, 0);
    const int64_t held = ctx.workspace_bytes();
    Outputs o;
    for (int i = 0; i < 3; ++i) o = run_step(ctx, i % 2 ? d : e);
    EXPECT_EQ(ctx.workspace_allocations, warm) << "lean " << lean;
    EXPECT_EQ(ctx.workspace_bytes(), held);
    LinearCtx fresh = make(busy_recipe(), lean);
    fresh.next_step = ctx.next_step - 1;
    const Outputs f = run_step(fresh, e);  // the last step (i = 2) ran on e
    expect_same_bits(o.y, f.y, "y");
    expect_same_bits(o.dx, f.dx, "dx");
    expect_same_bits(o.dw, f.dw, "dw");
    expect_same_bits(o.db, f.db, "db");
  }
}

TEST(LinearTest, ClearingSavedStateReleasesIt) {
  const Data d(10);
  LinearCtx ctx = make(busy_recipe());
  run_step(ctx, d);
  EXPECT_GT(ctx.saved_bytes(), 0);
  linear_zero_saved(ctx);
  EXPECT_EQ(ctx.saved_bytes(), 0);
  EXPECT_EQ(ctx.x.capacity(), 0u);
  linear_invalidate_saved(ctx);
  EXPECT_FALSE(ctx.saved);
}

// Phase timers: off by default; on, they count calls per role and time every
// phase, within the wall time of the calls; the results do not change.
TEST(LinearTest, PhaseTimersCountAndTime) {
  const Data d(11);
  reset_linear_profile();
  ASSERT_FALSE(linear_profiling_enabled());
  LinearCtx off = make(busy_recipe());
  const Outputs a = run_step(off, d);
  LinearProfile p = linear_profile();
  for (const LinearProfileRole& r : p.role) {
    EXPECT_EQ(r.calls, 0);
    for (double s : r.seconds) EXPECT_EQ(s, 0.0);
  }
  set_linear_profiling(true);
  LinearCtx on = make(busy_recipe());
  const auto t0 = std::chrono::steady_clock::now();
  const Outputs b = run_step(on, d);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  set_linear_profiling(false);
  p = linear_profile();
  double total = 0;
  for (int r = 0; r < kLinearRoles; ++r) {
    EXPECT_EQ(p.role[size_t(r)].calls, 1) << r;
    EXPECT_GT(p.role[size_t(r)].seconds[size_t(LinearPhase::kQuantize)], 0.0) << r;
    EXPECT_GT(p.role[size_t(r)].seconds[size_t(LinearPhase::kGemm)], 0.0) << r;
    for (double s : p.role[size_t(r)].seconds) total += s;
  }
  EXPECT_LE(total, wall);
  expect_same_bits(a.dw, b.dw, "dw with profiling");
  expect_same_bits(a.y, b.y, "y with profiling");
  reset_linear_profile();
  p = linear_profile();
  EXPECT_EQ(p.role[0].calls, 0);
  EXPECT_EQ(p.role[0].seconds[0], 0.0);
}

}  // namespace
}  // namespace fp4train
