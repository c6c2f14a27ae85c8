// The float32 GEMM path's reused buffers (gemm/gemm_scratch.h) and in-place
// fp32 operands, which the linear layer's fp32 / bf16 GEMMs run on: results
// stay equal, bit for bit, to the scalar definitions (gemm_f32_ref,
// qgemm_ref) whatever sizes the scratch held before, and an fp32 operand is
// read in place only when that is exactly what dequantize would give.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "gemm/gemm_f32.h"
#include "gemm/gemm_scratch.h"
#include "gemm/qgemm.h"
#include "quant/quantize.h"
#include "quant/transpose.h"

namespace fp4train {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = d(gen);
  return v;
}

void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b,
                      const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << what;
}

QuantSpec spec(Format f) {
  QuantSpec s;
  s.format = f;
  return s;
}

// Large, then small, then large again, then odd: stale scratch contents from
// an earlier shape (or NaN garbage) must never reach a result.
TEST(GemmScratchTest, GemmF32EqualsReferenceAcrossShapeChanges) {
  gemm_detail::scratch_release();
  struct Shape { int64_t M, N, K; };
  for (const Shape s : {Shape{67, 45, 130}, Shape{5, 3, 7}, Shape{67, 45, 130}, Shape{1, 33, 1},
                        Shape{40, 64, 0}}) {
    const std::vector<float> a = randn(size_t(s.M * s.K), 1), b = randn(size_t(s.N * s.K), 2);
    std::vector<float> c(size_t(s.M * s.N), -1.0f), r(size_t(s.M * s.N), -2.0f);
    gemm_f32(a.data(), b.data(), c.data(), s.M, s.N, s.K);
    gemm_f32_ref(a.data(), b.data(), r.data(), s.M, s.N, s.K);
    expect_same_bits(c, r, "M " + std::to_string(s.M) + " N " + std::to_string(s.N) + " K " +
                               std::to_string(s.K));
  }
  EXPECT_GT(gemm_detail::scratch_bytes(), 0u);
  gemm_detail::scratch_release();
  EXPECT_EQ(gemm_detail::scratch_bytes(), 0u);
}

TEST(GemmScratchTest, ScratchGrowsOnlyAndSlotsAreDistinct) {
  gemm_detail::scratch_release();
  using gemm_detail::ScratchSlot;
  float* a = gemm_detail::scratch_floats(ScratchSlot::kOperandA, 1000);
  float* b = gemm_detail::scratch_floats(ScratchSlot::kOperandB, 1000);
  EXPECT_NE(a, b);
  EXPECT_EQ(gemm_detail::scratch_floats(ScratchSlot::kOperandA, 10), a);  // smaller: same buffer
  EXPECT_EQ(gemm_detail::scratch_floats(ScratchSlot::kOperandA, 1000), a);
  EXPECT_EQ(gemm_detail::scratch_bytes(), 2000 * sizeof(float));
  gemm_detail::scratch_floats(ScratchSlot::kOperandA, 5000);
  EXPECT_EQ(gemm_detail::scratch_bytes(), 6000 * sizeof(float));
  gemm_detail::scratch_release();
}

// fp32 and bf16 operands, plain and transposed (quantized along axis 0), in
// every pairing with each other and with mxfp4: qgemm equals qgemm_ref.
TEST(GemmScratchTest, FloatPathOperandsEqualReference) {
  const int64_t M = 37, N = 29, K = 64;
  const std::vector<float> x = randn(size_t(M * K), 3), w = randn(size_t(N * K), 4);
  const std::vector<float> wt = [&] {  // w transposed: (K, N)
    std::vector<float> t(size_t(K * N));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) t[size_t(k * N + n)] = w[size_t(n * K + k)];
    return t;
  }();
  for (Format fa : {Format::kFp32, Format::kBf16, Format::kMxfp4})
    for (Format fb : {Format::kFp32, Format::kBf16, Format::kMxfp4})
      for (bool transposed_b : {false, true}) {
        if (fa == Format::kMxfp4 && fb == Format::kMxfp4) continue;
        const QTensor qa = quantize(x.data(), {M, K}, 1, spec(fa));
        const QTensor qb = transposed_b ? quantize(wt.data(), {K, N}, 0, spec(fb))
                                        : quantize(w.data(), {N, K}, 1, spec(fb));
        const QTensorView vb = transposed_b ? transposed_view(qb.view()) : qb.view();
        const std::vector<float> c = qgemm(qa.view(), vb), r = qgemm_ref(qa.view(), vb);
        expect_same_bits(c, r, std::string(format_name(fa)) + " x " + format_name(fb) +
                                   (transposed_b ? " (b transposed)" : ""));
      }
}

// An fp32 operand whose codes are not float-aligned is dequantized (copied),
// not read in place: the result is the same.
TEST(GemmScratchTest, MisalignedFp32CodesAreCopied) {
  const int64_t M = 9, N = 11, K = 20;
  const std::vector<float> x = randn(size_t(M * K), 5), w = randn(size_t(N * K), 6);
  const QTensor qa = quantize(x.data(), {M, K}, 1, spec(Format::kFp32));
  const QTensor qb = quantize(w.data(), {N, K}, 1, spec(Format::kFp32));
  std::vector<uint8_t> shifted(qa.codes.size() + 1);
  std::memcpy(shifted.data() + 1, qa.codes.data(), qa.codes.size());
  QTensorView va = qa.view();
  va.codes = shifted.data() + 1;
  expect_same_bits(qgemm(va, qb.view()), qgemm_ref(qa.view(), qb.view()), "misaligned a");
}

}  // namespace
}  // namespace fp4train
