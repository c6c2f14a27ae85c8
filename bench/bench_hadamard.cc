// Google Benchmark of the Hadamard module on a 4096 x 4096 float32 array:
// the transform alone (every ISA, the scalar one being fwht_ref), plain
// quantize, fused Hadamard + quantize, and unfused transform-then-quantize,
// next to a memcpy of the same input (64 MiB).
//
// Counters: items_per_second = elements/s; bytes_per_second = float32 bytes
// read per second; vs_memcpy = this benchmark's elements/s divided by the
// elements/s of a memcpy of the input with the same thread count (measured
// in this process, best of 5; 1 thread: std::memcpy, N threads: memcpy of
// contiguous slices in parallel), so 1.0 means "as fast as copying x".
// Timings are wall-clock (UseRealTime) since the kernels use OpenMP. Run:
//   build-hadamard/bench/bench_hadamard --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "hadamard/hadamard.h"
#include "quant/quantize.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace fp4train {
namespace {

constexpr int64_t kRows = 4096, kCols = 4096, kNumel = kRows * kCols;

const std::vector<float>& input() {
  static const std::vector<float> x = [] {
    std::vector<float> v(static_cast<size_t>(kNumel));
    std::mt19937 g(1);
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (auto& e : v) e = d(g);
    return v;
  }();
  return x;
}

void copy_with_threads(const float* src, float* dst, int threads) {
  if (threads <= 1) {
    std::memcpy(dst, src, sizeof(float) * size_t(kNumel));
    return;
  }
  parallel_for(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t lo = kNumel * c / threads, hi = kNumel * (c + 1) / threads;
      std::memcpy(dst + lo, src + lo, sizeof(float) * size_t(hi - lo));
    }
  });
}

// Elements/s of a memcpy of the input with `threads` threads (best of 5).
double memcpy_rate(int threads) {
  static std::map<int, double> cache;
  auto it = cache.find(threads);
  if (it != cache.end()) return it->second;
  set_num_threads(threads);
  std::vector<float> out(static_cast<size_t>(kNumel));
  copy_with_threads(input().data(), out.data(), threads);  // fault the pages in
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    copy_with_threads(input().data(), out.data(), threads);
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  benchmark::DoNotOptimize(out.data());
  return cache[threads] = double(kNumel) / best;
}

// Sets the elements/s and bytes/s counters, and vs_memcpy from the wall time
// of the timed loop (`seconds`, measured by the caller around it).
void finish(benchmark::State& state, int threads, double seconds) {
  state.SetItemsProcessed(state.iterations() * kNumel);
  state.SetBytesProcessed(state.iterations() * kNumel * int64_t(sizeof(float)));
  const double per_iter = seconds / double(std::max<int64_t>(1, state.iterations()));
  state.counters["vs_memcpy"] = (double(kNumel) / memcpy_rate(threads)) / per_iter;
  state.counters["threads"] = threads;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void BM_Memcpy(benchmark::State& state) {
  const int threads = int(state.range(0));
  set_num_threads(threads);
  memcpy_rate(threads);  // input and baseline ready before timing
  std::vector<float> out(static_cast<size_t>(kNumel));
  const auto t0 = Clock::now();
  for (auto _ : state) {
    copy_with_threads(input().data(), out.data(), threads);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, threads, since(t0));
}

// args: threads, n, axis, isa
void BM_Hadamard(benchmark::State& state) {
  const int threads = int(state.range(0)), n = int(state.range(1)), axis = int(state.range(2));
  const Isa isa = Isa(state.range(3));
  set_num_threads(threads);
  set_isa(isa);
  memcpy_rate(threads);
  set_num_threads(threads);
  std::vector<float> out(static_cast<size_t>(kNumel));
  const std::vector<float> signs =
      hadamard_signs(HadamardSpec{n, SignPolicy::kPerStep, 7, {}}, 0);
  const auto t0 = Clock::now();
  for (auto _ : state) {
    hadamard(input().data(), {kRows, kCols}, axis, n, signs, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double seconds = since(t0);
  reset_isa();
  state.SetLabel(std::string(isa_name(isa)) + " H" + std::to_string(n) + " axis " +
                 std::to_string(axis));
  finish(state, threads, seconds);
}

// args: threads, format, n (0: no transform), fused (1) or transform-then-quantize (0)
void BM_Quantize(benchmark::State& state) {
  const int threads = int(state.range(0));
  const Format fmt = Format(state.range(1));
  const int n = int(state.range(2));
  const bool fused = state.range(3) != 0;
  memcpy_rate(threads);
  set_num_threads(threads);
  QuantSpec spec;
  spec.format = fmt;
  const std::vector<float> signs =
      n ? hadamard_signs(HadamardSpec{n, SignPolicy::kPerStep, 7, {}}, 0) : std::vector<float>{};
  std::vector<float> tmp(fused || !n ? 0 : static_cast<size_t>(kNumel));
  const auto t0 = Clock::now();
  for (auto _ : state) {
    QTensor q;
    if (!n) {
      q = quantize(input().data(), {kRows, kCols}, 1, spec);
    } else if (fused) {
      q = quantize_hadamard(input().data(), {kRows, kCols}, 1, spec, n, signs);
    } else {
      hadamard(input().data(), {kRows, kCols}, 1, n, signs, tmp.data());
      q = quantize(tmp.data(), {kRows, kCols}, 1, spec);
    }
    benchmark::DoNotOptimize(q.codes.data());
  }
  const double seconds = since(t0);
  state.SetLabel(std::string(format_name(fmt)) +
                 (n ? (fused ? " fused H" : " unfused H") + std::to_string(n) : " no transform"));
  finish(state, threads, seconds);
}

void memcpy_args(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2}) b->Args({t});
}

void hadamard_args(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2})
    for (Isa isa : supported_isas())
      for (int n : {16, 32, 64, 256, 4096}) b->Args({t, n, 1, int(isa)});
  for (int t : {1, 2})  // the strided axis (fwht_columns: the same code for every ISA)
    for (int n : {16, 64, 4096}) b->Args({t, n, 0, int(Isa::kScalar)});
}

void quantize_args(benchmark::internal::Benchmark* b) {
  for (int t : {1, 2})
    for (Format f : {Format::kMxfp4, Format::kNvfp4}) {
      b->Args({t, int(f), 0, 1});
      for (int n : {16, 32, 64}) b->Args({t, int(f), n, 1});
      b->Args({t, int(f), 64, 0});
    }
}

BENCHMARK(BM_Memcpy)->Apply(memcpy_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Hadamard)->Apply(hadamard_args)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Quantize)->Apply(quantize_args)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fp4train

BENCHMARK_MAIN();
