// The float32 GEMM backend switch (gemm/float_gemm.h): the default stays the
// bit-defined gemm_f32; the opt-in BLAS backend stays within the float32
// dot-product error bound of it, and is reproducible for a fixed thread count.
//
// The bound: any summation order of K float32 products, each product and each
// addition rounded once (or fused), satisfies |fl(s) - s| <= gamma_K * S with
// gamma_K = K u / (1 - K u), u = 2^-24 and S = sum_k |a_k b_k| (Higham,
// Accuracy and Stability, ch. 3), plus an absolute term for underflow (each of
// the <= 2K roundings loses at most 2^-150 when the result is subnormal). Both
// backends obey it, so they differ by at most twice that.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gemm/float_gemm.h"
#include "gemm/gemm_f32.h"
#include "util/check.h"
#include "util/parallel.h"

namespace {

using fp4train::FloatGemm;

std::vector<float> gaussian(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// Restores the backend and thread count a test changed.
class FloatGemmTest : public ::testing::Test {
 protected:
  void TearDown() override {
    fp4train::set_float_gemm(FloatGemm::kExact);
    fp4train::set_num_threads(0);
  }
  static bool blas_available() { return fp4train::blas_info().available; }
};

struct Shape {
  int64_t M, N, K;
};
const Shape kShapes[] = {{1, 1, 1},   {1, 1, 700},  {7, 5, 3},     {33, 17, 64},
                         {64, 96, 130}, {130, 67, 513}, {256, 384, 128}, {3, 200, 1000}};

TEST_F(FloatGemmTest, DefaultIsExactAndBitIdenticalToReference) {
  if (std::getenv("FP4TRAIN_FLOAT_GEMM")) GTEST_SKIP() << "FP4TRAIN_FLOAT_GEMM is set";
  fp4train::reset_float_gemm();
  EXPECT_EQ(fp4train::active_float_gemm(), FloatGemm::kExact);
  for (const Shape& s : kShapes) {
    const auto a = gaussian(size_t(s.M * s.K), 1), b = gaussian(size_t(s.N * s.K), 2);
    std::vector<float> c(size_t(s.M * s.N), -1.0f), ref(c.size(), -2.0f);
    fp4train::gemm_float(a.data(), b.data(), c.data(), s.M, s.N, s.K);
    fp4train::gemm_f32_ref(a.data(), b.data(), ref.data(), s.M, s.N, s.K);
    EXPECT_TRUE(same_bits(c, ref)) << s.M << "x" << s.N << "x" << s.K;
  }
}

TEST_F(FloatGemmTest, NamesAndErrors) {
  EXPECT_EQ(fp4train::parse_float_gemm("exact"), FloatGemm::kExact);
  EXPECT_EQ(fp4train::parse_float_gemm("blas"), FloatGemm::kBlas);
  EXPECT_STREQ(fp4train::float_gemm_name(FloatGemm::kBlas), "blas");
  try {
    fp4train::parse_float_gemm("mkl");
    FAIL() << "no exception";
  } catch (const fp4train::ArgumentError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("argument 'backend'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'mkl'"), std::string::npos) << msg;
  }
  const auto avail = fp4train::available_float_gemms();
  ASSERT_FALSE(avail.empty());
  EXPECT_EQ(avail.front(), FloatGemm::kExact);
  EXPECT_EQ(avail.size(), blas_available() ? 2u : 1u);
  if (!blas_available()) {
    EXPECT_THROW(fp4train::set_float_gemm(FloatGemm::kBlas), fp4train::ArgumentError);
    EXPECT_EQ(fp4train::active_float_gemm(), FloatGemm::kExact);
  }
}

TEST_F(FloatGemmTest, BlasWithinFloat32BoundOfExact) {
  if (!blas_available()) GTEST_SKIP() << "no BLAS library with cblas_sgemm on this machine";
  for (const Shape& s : kShapes) {
    const auto a = gaussian(size_t(s.M * s.K), 10 + s.K), b = gaussian(size_t(s.N * s.K), 20 + s.N);
    std::vector<float> exact(size_t(s.M * s.N)), blas(exact.size(), NAN);
    fp4train::gemm_f32(a.data(), b.data(), exact.data(), s.M, s.N, s.K);
    fp4train::gemm_f32_blas(a.data(), b.data(), blas.data(), s.M, s.N, s.K);
    const double u = std::ldexp(1.0, -24), gamma = s.K * u / (1.0 - s.K * u);
    const double tiny = 2.0 * 2.0 * double(s.K) * std::ldexp(1.0, -150);
    int64_t differ = 0;
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t n = 0; n < s.N; ++n) {
        double S = 0, exact64 = 0;
        for (int64_t k = 0; k < s.K; ++k) {
          S += std::fabs(double(a[m * s.K + k]) * double(b[n * s.K + k]));
          exact64 += double(a[m * s.K + k]) * double(b[n * s.K + k]);
        }
        const float e = exact[m * s.N + n], g = blas[m * s.N + n];
        ASSERT_LE(std::fabs(double(g) - double(e)), 2.0 * gamma * S + tiny)
            << "blas vs exact at (" << m << "," << n << ") of " << s.M << "x" << s.N << "x" << s.K;
        // and each one on its own is within the one-sided bound of the true sum
        ASSERT_LE(std::fabs(double(g) - exact64), gamma * S * (1 + 1e-9) + tiny / 2);
        differ += e != g;
      }
    (void)differ;  // may be 0 for small K: the bound is what is checked
  }
}

TEST_F(FloatGemmTest, BlasDeterministicForFixedThreadCount) {
  if (!blas_available()) GTEST_SKIP() << "no BLAS library with cblas_sgemm on this machine";
  const int64_t M = 300, N = 260, K = 700;  // big enough for OpenBLAS to use threads
  const auto a = gaussian(size_t(M * K), 5), b = gaussian(size_t(N * K), 6);
  for (int threads : {1, 2}) {
    fp4train::set_num_threads(threads);
    std::vector<float> c1(size_t(M * N), NAN), c2(size_t(M * N), NAN);
    fp4train::gemm_f32_blas(a.data(), b.data(), c1.data(), M, N, K);
    fp4train::gemm_f32_blas(a.data(), b.data(), c2.data(), M, N, K);
    EXPECT_TRUE(same_bits(c1, c2)) << threads << " threads";
  }
}

TEST_F(FloatGemmTest, SwitchingBackAndForth) {
  if (!blas_available()) GTEST_SKIP() << "no BLAS library with cblas_sgemm on this machine";
  const int64_t M = 40, N = 50, K = 300;
  const auto a = gaussian(size_t(M * K), 7), b = gaussian(size_t(N * K), 8);
  std::vector<float> ref(size_t(M * N)), direct(ref.size()), c(ref.size());
  fp4train::gemm_f32_ref(a.data(), b.data(), ref.data(), M, N, K);
  fp4train::gemm_f32_blas(a.data(), b.data(), direct.data(), M, N, K);
  for (int round = 0; round < 2; ++round) {
    fp4train::set_float_gemm(FloatGemm::kBlas);
    EXPECT_EQ(fp4train::active_float_gemm(), FloatGemm::kBlas);
    fp4train::gemm_float(a.data(), b.data(), c.data(), M, N, K);
    EXPECT_TRUE(same_bits(c, direct)) << "round " << round;
    fp4train::set_float_gemm(FloatGemm::kExact);
    EXPECT_EQ(fp4train::active_float_gemm(), FloatGemm::kExact);
    fp4train::gemm_float(a.data(), b.data(), c.data(), M, N, K);
    EXPECT_TRUE(same_bits(c, ref)) << "round " << round;
  }
}

TEST_F(FloatGemmTest, BlasEdgeShapes) {
  if (!blas_available()) GTEST_SKIP() << "no BLAS library with cblas_sgemm on this machine";
  // K = 0: the empty sum is +0 (BLAS would reject lda = 0); M or N = 0: nothing written.
  std::vector<float> c(6, NAN);
  fp4train::gemm_f32_blas(nullptr, nullptr, c.data(), 2, 3, 0);
  for (float v : c) EXPECT_TRUE(v == 0.0f && !std::signbit(v));
  std::vector<float> untouched(4, 7.0f);
  const float one = 1.0f;
  fp4train::gemm_f32_blas(&one, &one, untouched.data(), 0, 4, 1);
  fp4train::gemm_f32_blas(&one, &one, untouched.data(), 4, 0, 1);
  for (float v : untouched) EXPECT_EQ(v, 7.0f);
  // NaN and Inf propagate (the values themselves, not the bits, are library-defined).
  const float a[2] = {INFINITY, 1.0f}, b[2] = {1.0f, NAN};
  float out = 0;
  fp4train::gemm_f32_blas(a, b, &out, 1, 1, 2);
  EXPECT_TRUE(std::isnan(out));
  const float a2[2] = {INFINITY, 1.0f}, b2[2] = {1.0f, 2.0f};
  fp4train::gemm_f32_blas(a2, b2, &out, 1, 1, 2);
  EXPECT_EQ(out, INFINITY);
}

TEST_F(FloatGemmTest, InfoNamesTheLibrary) {
  const fp4train::BlasInfo info = fp4train::blas_info();
  if (!info.available) {
    EXPECT_TRUE(info.library.empty());
    GTEST_SKIP() << "no BLAS library with cblas_sgemm on this machine";
  }
  EXPECT_NE(info.library.find("blas"), std::string::npos) << info.library;
}

}  // namespace
