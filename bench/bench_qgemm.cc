// Google Benchmark of the GEMMs: qgemm on mxfp4, nvfp4 (16x16-tiled B),
// mxfp8_e4m3, per-tensor fp8 e5m2 x e4m3 (the split kernels) and gemm_f32 at
// M = N = K = 2048 on the active ISA with all threads (mxfp4, nvfp4, mxfp8_e4m3
// and gemm_f32 also with 1 thread: the scaling figure), mxfp8 e5m2 x e5m2 (the
// scalar wide-integer path) at 512, next to their scalar references qgemm_ref / gemm_f32_ref at 128^3,
// and qgemm/gemm_f32 forced to each ISA with one thread at 512^3.
//
// Counters: FLOPS = 2 M N K / s (multiply and add counted separately, as for
// a float GEMM). Operands are quantized once, outside the timing; qgemm's
// timing includes its packing of both operands. Wall-clock (UseRealTime).
// Args are (n, isa, threads): isa -1 = active, threads 0 = all.
// Run (the machine is shared: repeat and read the medians):
//   build/bench/bench_qgemm --benchmark_filter=2048 --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true   (one command line)
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "gemm/gemm_f32.h"
#include "gemm/qgemm.h"
#include "quant/quantize.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace fp4train {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (auto& e : v) e = d(g);
  return v;
}

QTensor quantized(Format f, int64_t rows, int64_t K, uint32_t seed, bool block_2d = false) {
  QuantSpec s;
  s.format = f;
  s.block_2d = block_2d;
  const std::vector<float> x = gaussian(rows * K, seed);
  return quantize(x.data(), {rows, K}, 1, s);
}

void set_flops(benchmark::State& state, int64_t M, int64_t N, int64_t K) {
  state.counters["FLOPS"] = benchmark::Counter(double(2 * M * N * K) * double(state.iterations()),
                                               benchmark::Counter::kIsRate);
  state.SetLabel(std::string(isa_name(active_isa())) + ", " + std::to_string(num_threads()) +
                 " threads");
}

// Args: n (M = N = K), isa (-1: active), threads (0: default).
struct Scope {
  explicit Scope(const benchmark::State& state) {
    if (state.range(1) >= 0) set_isa(Isa(state.range(1)));
    set_num_threads(int(state.range(2)));
  }
  ~Scope() {
    reset_isa();
    set_num_threads(0);
  }
};

template <Format FA, Format FB, bool kTiledB>
void BM_qgemm(benchmark::State& state) {
  const Scope scope(state);
  const int64_t n = state.range(0);
  const QTensor a = quantized(FA, n, n, 1), b = quantized(FB, n, n, 2, kTiledB);
  std::vector<float> c(size_t(n * n));
  for (auto _ : state) {
    qgemm(a.view(), b.view(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, n, n, n);
}

void BM_qgemm_ref_mxfp4(benchmark::State& state) {
  const int64_t n = state.range(0);
  const QTensor a = quantized(Format::kMxfp4, n, n, 1), b = quantized(Format::kMxfp4, n, n, 2);
  std::vector<float> c(size_t(n * n));
  for (auto _ : state) {
    qgemm_ref(a.view(), b.view(), c.data());
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(double(2 * n * n * n) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_gemm_f32(benchmark::State& state) {
  const Scope scope(state);
  const int64_t n = state.range(0);
  const std::vector<float> a = gaussian(n * n, 1), b = gaussian(n * n, 2);
  std::vector<float> c(size_t(n * n));
  for (auto _ : state) {
    gemm_f32(a.data(), b.data(), c.data(), n, n, n);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, n, n, n);
}

void BM_gemm_f32_ref(benchmark::State& state) {
  const int64_t n = state.range(0);
  const std::vector<float> a = gaussian(n * n, 1), b = gaussian(n * n, 2);
  std::vector<float> c(size_t(n * n));
  for (auto _ : state) {
    gemm_f32_ref(a.data(), b.data(), c.data(), n, n, n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(double(2 * n * n * n) * double(state.iterations()), benchmark::Counter::kIsRate);
}

// Each ISA this machine supports, one thread, at n.
void per_isa(benchmark::internal::Benchmark* b, int64_t n) {
  for (Isa isa : supported_isas()) b->Args({n, int64_t(isa), 1});
}

#define FP4_QGEMM(FA, FB, T) BM_qgemm<Format::FA, Format::FB, T>

BENCHMARK(FP4_QGEMM(kMxfp4, kMxfp4, false))->Name("qgemm/mxfp4")->Args({2048, -1, 0})->Args({2048, -1, 1})
    ->Apply([](auto* b) { per_isa(b, 512); })->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(FP4_QGEMM(kNvfp4, kNvfp4, true))->Name("qgemm/nvfp4_x_nvfp4_2d")->Args({2048, -1, 0})->Args({2048, -1, 1})
    ->Apply([](auto* b) { per_isa(b, 512); })->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(FP4_QGEMM(kMxfp8E4M3, kMxfp8E4M3, false))->Name("qgemm/mxfp8_e4m3")->Args({2048, -1, 0})->Args({2048, -1, 1})
    ->Apply([](auto* b) { per_isa(b, 512); })->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(FP4_QGEMM(kFp8E5M2, kFp8E4M3, false))->Name("qgemm/fp8_e5m2_x_e4m3")->Args({2048, -1, 0})
    ->Apply([](auto* b) { per_isa(b, 512); })->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(FP4_QGEMM(kMxfp8E5M2, kMxfp8E5M2, false))->Name("qgemm/mxfp8_e5m2_x_e5m2")->Args({512, -1, 0})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_f32)->Name("gemm_f32")->Args({2048, -1, 0})->Args({2048, -1, 1})
    ->Apply([](auto* b) { per_isa(b, 512); })->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_qgemm_ref_mxfp4)->Name("qgemm_ref/mxfp4")->Arg(128)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_f32_ref)->Name("gemm_f32_ref")->Arg(128)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fp4train

BENCHMARK_MAIN();
