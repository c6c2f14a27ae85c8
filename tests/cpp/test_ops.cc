// csrc/ops kernels against double-precision definitions written here from the
// formulas in the headers, plus thread-count and ISA-path bit identity.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <random>
#include <vector>

#include "ops/attention.h"
#include "ops/cross_entropy.h"
#include "ops/embedding.h"
#include "ops/rmsnorm.h"
#include "util/check.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

struct Attn {
  std::vector<float> y, p, dq, dk, dv;
};

Attn run_attention(const std::vector<float>& q, const std::vector<float>& k,
                   const std::vector<float>& v, const std::vector<float>& dy, int64_t B,
                   int64_t S, int64_t H, int64_t D, float scale) {
  const size_t n = size_t(B * S * H * D);
  Attn a{std::vector<float>(n), std::vector<float>(size_t(B * H * S * S)),
         std::vector<float>(n), std::vector<float>(n), std::vector<float>(n)};
  fp4train::attention_forward(q.data(), k.data(), v.data(), a.y.data(), a.p.data(), B, S, H, D,
                              scale);
  fp4train::attention_backward(q.data(), k.data(), v.data(), a.p.data(), dy.data(), a.dq.data(),
                               a.dk.data(), a.dv.data(), B, S, H, D, scale);
  return a;
}

class OpsAttention : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(OpsAttention, MatchesDoubleDefinition) {
  const int64_t B = GetParam()[0], S = GetParam()[1], H = GetParam()[2], D = GetParam()[3];
  const size_t n = size_t(B * S * H * D);
  auto q = randn(n, 1), k = randn(n, 2), v = randn(n, 3), dy = randn(n, 4);
  const float scale = 0.37f;
  Attn a = run_attention(q, k, v, dy, B, S, H, D, scale);
  auto at = [&](int64_t b, int64_t s, int64_t h, int64_t d) {
    return size_t(((b * S + s) * H + h) * D + d);
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      // Forward and backward in double, straight from the formulas.
      std::vector<double> P(size_t(S * S), 0.0), dS(size_t(S * S), 0.0);
      for (int64_t i = 0; i < S; ++i) {
        double mx = -INFINITY, sum = 0;
        std::vector<double> s(size_t(i + 1));
        for (int64_t j = 0; j <= i; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += double(q[at(b, i, h, d)]) * k[at(b, j, h, d)];
          s[size_t(j)] = acc * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(s[size_t(j)] - mx);
        double rowdot = 0;
        std::vector<double> dp(size_t(i + 1));
        for (int64_t j = 0; j <= i; ++j) {
          P[size_t(i * S + j)] = std::exp(s[size_t(j)] - mx) / sum;
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += double(dy[at(b, i, h, d)]) * v[at(b, j, h, d)];
          dp[size_t(j)] = acc;
          rowdot += acc * P[size_t(i * S + j)];
        }
        for (int64_t j = 0; j <= i; ++j)
          dS[size_t(i * S + j)] = P[size_t(i * S + j)] * (dp[size_t(j)] - rowdot) * scale;
      }
      const float* pt = a.p.data() + (b * H + h) * S * S;
      for (int64_t i = 0; i < S; ++i)
        for (int64_t j = 0; j < S; ++j) {
          if (j > i) {
            ASSERT_EQ(pt[i * S + j], 0.0f) << "masked p at " << i << "," << j;
          } else {
            ASSERT_NEAR(pt[i * S + j], P[size_t(i * S + j)], 1e-5) << i << "," << j;
          }
        }
      for (int64_t i = 0; i < S; ++i)
        for (int64_t d = 0; d < D; ++d) {
          double y = 0, dq = 0, dk = 0, dv = 0;
          for (int64_t j = 0; j < S; ++j) {
            y += P[size_t(i * S + j)] * v[at(b, j, h, d)];
            dq += dS[size_t(i * S + j)] * k[at(b, j, h, d)];
            dk += dS[size_t(j * S + i)] * q[at(b, j, h, d)];
            dv += P[size_t(j * S + i)] * dy[at(b, j, h, d)];
          }
          const size_t o = at(b, i, h, d);
          ASSERT_NEAR(a.y[o], y, 1e-4 * (1 + std::fabs(y))) << "y " << b << h << i << d;
          ASSERT_NEAR(a.dq[o], dq, 1e-4 * (1 + std::fabs(dq))) << "dq " << b << h << i << d;
          ASSERT_NEAR(a.dk[o], dk, 1e-4 * (1 + std::fabs(dk))) << "dk " << b << h << i << d;
          ASSERT_NEAR(a.dv[o], dv, 1e-4 * (1 + std::fabs(dv))) << "dv " << b << h << i << d;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, OpsAttention,
                         ::testing::Values(std::vector<int64_t>{1, 1, 1, 2},
                                           std::vector<int64_t>{2, 9, 3, 6},
                                           std::vector<int64_t>{1, 33, 2, 32},
                                           std::vector<int64_t>{2, 17, 1, 10}));

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

TEST(OpsAttention, SameBitsForThreadsAndIsas) {
  const int64_t B = 2, S = 37, H = 3, D = 12;
  const size_t n = size_t(B * S * H * D);
  auto q = randn(n, 5), k = randn(n, 6), v = randn(n, 7), dy = randn(n, 8);
  fp4train::set_num_threads(1);
  fp4train::set_isa(fp4train::Isa::kScalar);
  const Attn ref = run_attention(q, k, v, dy, B, S, H, D, 0.2f);
  for (fp4train::Isa isa : fp4train::supported_isas())
    for (int threads : {1, 2, 3}) {
      fp4train::set_isa(isa);
      fp4train::set_num_threads(threads);
      const Attn a = run_attention(q, k, v, dy, B, S, H, D, 0.2f);
      const char* name = fp4train::isa_name(isa);
      EXPECT_TRUE(same_bits(a.y, ref.y)) << name << " threads " << threads;
      EXPECT_TRUE(same_bits(a.p, ref.p)) << name << " threads " << threads;
      EXPECT_TRUE(same_bits(a.dq, ref.dq)) << name << " threads " << threads;
      EXPECT_TRUE(same_bits(a.dk, ref.dk)) << name << " threads " << threads;
      EXPECT_TRUE(same_bits(a.dv, ref.dv)) << name << " threads " << threads;
    }
  fp4train::reset_isa();
  fp4train::set_num_threads(0);
}

TEST(OpsRmsNorm, MatchesDoubleAndAccumulatesDw) {
  const int64_t N = 7, C = 19;
  auto x = randn(size_t(N * C), 9), w = randn(size_t(C), 10), g = randn(size_t(N * C), 11);
  std::vector<float> y(x.size()), rstd(static_cast<size_t>(N)), dx(x.size()), dw(size_t(C), 1.0f);
  fp4train::rmsnorm_forward(x.data(), w.data(), y.data(), rstd.data(), N, C, 1e-5f);
  fp4train::rmsnorm_backward(x.data(), rstd.data(), w.data(), g.data(), dx.data(), dw.data(), N,
                             C);
  std::vector<double> dw_ref(size_t(C), 1.0);
  for (int64_t r = 0; r < N; ++r) {
    double ss = 0, dot = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[size_t(r * C + c)]) * x[size_t(r * C + c)];
    const double rs = 1.0 / std::sqrt(ss / C + 1e-5);
    for (int64_t c = 0; c < C; ++c) {
      const size_t i = size_t(r * C + c);
      EXPECT_NEAR(y[i], x[i] * rs * w[size_t(c)], 1e-5 * (1 + std::fabs(y[i])));
      dot += double(g[i]) * w[size_t(c)] * x[i] * rs;
      dw_ref[size_t(c)] += double(g[i]) * x[i] * rs;
    }
    dot /= C;
    for (int64_t c = 0; c < C; ++c) {
      const size_t i = size_t(r * C + c);
      const double want = rs * (double(g[i]) * w[size_t(c)] - x[i] * rs * dot);
      EXPECT_NEAR(dx[i], want, 1e-5 * (1 + std::fabs(want)));
    }
  }
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(dw[size_t(c)], dw_ref[size_t(c)], 1e-5 * N);
}

TEST(OpsCrossEntropy, IgnoredRowsAndRangeErrors) {
  const int64_t N = 3, V = 5;
  std::vector<float> logits = randn(size_t(N * V), 12), z(logits.size()), lse(static_cast<size_t>(N)),
                     nll(static_cast<size_t>(N)), d(logits.size());
  std::vector<int64_t> t = {4, -100, 0};
  fp4train::cross_entropy_forward(logits.data(), t.data(), z.data(), lse.data(), nll.data(), N,
                                  V, true, -100);
  EXPECT_EQ(nll[1], 0.0f);
  for (int64_t r : {0, 2}) {
    double sum = 0, mx = -INFINITY;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(logits[size_t(r * V + v)]));
    for (int64_t v = 0; v < V; ++v) sum += std::exp(logits[size_t(r * V + v)] - mx);
    EXPECT_NEAR(nll[size_t(r)], std::log(sum) + mx - logits[size_t(r * V + t[size_t(r)])], 1e-5);
  }
  fp4train::cross_entropy_backward(z.data(), lse.data(), t.data(), d.data(), N, V, true, -100,
                                   0.5f);
  for (int64_t v = 0; v < V; ++v) EXPECT_EQ(d[size_t(V + v)], 0.0f);
  t[1] = 5;
  EXPECT_THROW(fp4train::cross_entropy_forward(logits.data(), t.data(), z.data(), lse.data(),
                                               nll.data(), N, V, true, -100),
               fp4train::ArgumentError);
}

TEST(OpsEmbedding, SequentialScatterAddBitsAndBadIds) {
  const int64_t N = 50, V = 4, C = 3;
  auto g = randn(size_t(N * C), 13);
  std::vector<int64_t> ids(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ids[size_t(i)] = (i * 7) % 3;  // id 3 never used
  std::vector<float> dw(size_t(V * C), 0.25f), want(dw);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < C; ++c) want[size_t(ids[size_t(i)] * C + c)] += g[size_t(i * C + c)];
  fp4train::set_num_threads(2);
  fp4train::embedding_backward(ids.data(), g.data(), dw.data(), N, V, C);
  fp4train::set_num_threads(0);
  EXPECT_TRUE(same_bits(dw, want));
  ids[7] = V;
  EXPECT_THROW(fp4train::embedding_backward(ids.data(), g.data(), dw.data(), N, V, C),
               fp4train::ArgumentError);
}

}  // namespace
