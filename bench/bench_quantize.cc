// Block quantization throughput against memcpy of the same bytes, in one run.
//
//   bench_quantize [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
//   (threads: OMP_NUM_THREADS, default OpenMP's; the summary uses the medians)
//
// Every whole-tensor benchmark works on the same 4096 x 4096 float32 array
// (64 MiB, N(0, 1)) quantized along the last axis, and counts that input:
// bytes_per_second is input bytes per second, items_per_second is elements
// per second. After the table, a summary prints each benchmark's time as a
// ratio to BM_Memcpy (single-threaded std::memcpy of the 64 MiB; BM_MemcpyThreads
// is the same copy split over the library's threads) -- "how many memcpys of
// the input one quantization costs".
//
// The scalar benchmarks give the per-element cost of stochastic rounding:
// Philox words alone, E2M1 encode under nearest, and E2M1 encode under
// stochastic rounding including its Philox words.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "formats/e2m1.h"
#include "quant/quantize.h"
#include "util/counter_rng.h"
#include "util/parallel.h"

namespace {

using fp4train::Format;
using fp4train::QuantSpec;
using fp4train::Rounding;

constexpr int64_t kRows = 4096, kCols = 4096, kNumel = kRows * kCols;
constexpr int64_t kBytes = kNumel * int64_t(sizeof(float));

const std::vector<float>& input() {
  static const std::vector<float> x = [] {
    std::vector<float> v(static_cast<size_t>(kNumel));
    std::mt19937_64 gen(2024);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& f : v) f = normal(gen);
    return v;
  }();
  return x;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kNumel);
  state.SetBytesProcessed(state.iterations() * kBytes);
}

QuantSpec spec_of(Format f, Rounding r) {
  QuantSpec s;
  s.format = f;
  s.rounding = r;
  s.seed = 1;
  return s;
}

void BM_Memcpy(benchmark::State& state) {
  const std::vector<float>& x = input();
  std::vector<float> y(x.size(), 1.0f);
  for (auto _ : state) {
    std::memcpy(y.data(), x.data(), size_t(kBytes));
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

void BM_MemcpyThreads(benchmark::State& state) {
  const std::vector<float>& x = input();
  std::vector<float> y(x.size(), 1.0f);
  for (auto _ : state) {
    fp4train::parallel_for(kRows, 64, [&](int64_t b, int64_t e) {
      std::memcpy(y.data() + b * kCols, x.data() + b * kCols, size_t((e - b) * kCols) * sizeof(float));
    });
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

void BM_Quantize(benchmark::State& state, Format f, Rounding r) {
  const std::vector<float>& x = input();
  const QuantSpec s = spec_of(f, r);
  for (auto _ : state) {
    fp4train::QTensor q = fp4train::quantize(x.data(), {kRows, kCols}, 1, s);
    benchmark::DoNotOptimize(q.codes.data());
  }
  set_counters(state);
}

void BM_FakeQuantize(benchmark::State& state, Format f, Rounding r) {
  const std::vector<float>& x = input();
  std::vector<float> y(x.size(), 0.0f);
  const QuantSpec s = spec_of(f, r);
  for (auto _ : state) {
    fp4train::fake_quantize(x.data(), {kRows, kCols}, 1, s, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MemcpyThreads)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Quantize, mxfp4_nearest, Format::kMxfp4, Rounding::kNearest)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Quantize, nvfp4_nearest, Format::kNvfp4, Rounding::kNearest)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuantize, mxfp4_nearest, Format::kMxfp4, Rounding::kNearest)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_FakeQuantize, nvfp4_nearest, Format::kNvfp4, Rounding::kNearest)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Quantize, mxfp4_stochastic, Format::kMxfp4, Rounding::kStochastic)
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Quantize, nvfp4_stochastic, Format::kNvfp4, Rounding::kStochastic)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// Scalar (one thread) per-element costs on 4096 values already scaled into
// E2M1's range.

constexpr int kScalarN = 4096;

const std::vector<float>& scaled_values() {
  static const std::vector<float> v = [] {
    std::vector<float> out(kScalarN);
    std::mt19937_64 gen(7);
    std::uniform_real_distribution<float> u(-6.0f, 6.0f);
    for (auto& f : out) f = u(gen);
    return out;
  }();
  return v;
}

void BM_ScalarPhiloxWords(benchmark::State& state) {
  std::vector<uint32_t> k(kScalarN);
  uint64_t first = 0;
  for (auto _ : state) {
    fp4train::random_bits_range(1, 0, first, kScalarN, k.data());
    first += kScalarN;
    benchmark::DoNotOptimize(k.data());
  }
  state.SetItemsProcessed(state.iterations() * kScalarN);
}

void BM_ScalarE2M1Nearest(benchmark::State& state) {
  const std::vector<float>& v = scaled_values();
  std::vector<uint8_t> c(kScalarN);
  for (auto _ : state) {
    for (int i = 0; i < kScalarN; ++i) c[size_t(i)] = fp4train::e2m1_encode(v[size_t(i)], Rounding::kNearest);
    benchmark::DoNotOptimize(c.data());
  }
  state.SetItemsProcessed(state.iterations() * kScalarN);
}

// Stochastic rounding as the quantizer does it: Philox words for the indices,
// top 24 bits, then the threshold rounding.
void BM_ScalarE2M1Stochastic(benchmark::State& state) {
  const std::vector<float>& v = scaled_values();
  std::vector<uint32_t> k(kScalarN);
  std::vector<uint8_t> c(kScalarN);
  uint64_t first = 0;
  for (auto _ : state) {
    fp4train::random_bits_range(1, 0, first, kScalarN, k.data());
    first += kScalarN;
    for (int i = 0; i < kScalarN; ++i)
      c[size_t(i)] = fp4train::e2m1_encode(v[size_t(i)], Rounding::kStochastic,
                                           fp4train::k24_of(k[size_t(i)]));
    benchmark::DoNotOptimize(c.data());
  }
  state.SetItemsProcessed(state.iterations() * kScalarN);
}

BENCHMARK(BM_ScalarPhiloxWords);
BENCHMARK(BM_ScalarE2M1Nearest);
BENCHMARK(BM_ScalarE2M1Stochastic);

// Console output plus, at the end, each whole-tensor benchmark's time as a
// multiple of BM_Memcpy's, and the scalar ns per element.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // plain text: readable in logs
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    // One time per benchmark: the run itself, or the median when repeated
    // (--benchmark_repetitions=N).
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      const std::string name = r.run_name.str();
      if (!seconds_.count(name)) order_.push_back(name);
      seconds_[name] = r.real_accumulated_time / double(r.iterations);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto base = seconds_.find("BM_Memcpy/real_time");
    std::printf("\nthreads: %d (fp4train::num_threads)\n", fp4train::num_threads());
    std::printf("%-40s %12s %14s %12s\n", "benchmark", "ms or ns/el", "Gelem/s", "x memcpy");
    for (const std::string& name : order_) {
      const double s = seconds_[name];
      if (name.rfind("BM_Scalar", 0) == 0) {
        std::printf("%-40s %9.2f ns %14.3f %12s\n", name.c_str(), s / kScalarN * 1e9,
                    kScalarN / s / 1e9, "-");
      } else {
        const double ratio = base != seconds_.end() ? s / base->second : 0.0;
        std::printf("%-40s %9.2f ms %14.3f %12.2f\n", name.c_str(), s * 1e3, kNumel / s / 1e9,
                    ratio);
      }
    }
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, double> seconds_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fp4train_threads", std::to_string(fp4train::num_threads()));
  benchmark::AddCustomContext("input", "4096x4096 float32 N(0,1), axis -1 (64 MiB)");
  input();  // build the input outside every timing
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
