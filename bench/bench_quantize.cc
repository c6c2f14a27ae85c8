// Block quantization throughput against memcpy of the same bytes, in one run.
//
//   bench_quantize --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   bench_quantize --benchmark_filter='memcpy|quantize/mxfp4/nearest'   (a subset)
//
// Input: one 4096 x 4096 float32 array (64 MiB, N(0, 1)), quantized along
// the last axis unless the name says otherwise. Every kernel runs on every
// ISA this machine supports (scalar = the reference path) and with 1 and 2
// threads; names are <op>/<format>/<rounding>/<isa>/t<threads>:
//   quantize       fp4train::quantize (codes + scales into a new QTensor)
//   quantize_into  fp4train::quantize_into, reusing one QTensor's storage
//   fake_quantize  fp4train::fake_quantize into a preallocated float array
//   dequantize     fp4train::dequantize of the quantized tensor
//   hadamard16     quantize_hadamard with H16 (signs drawn once): fused
//   axis0          quantize along axis 0 (the strided, gathered path)
//   tiles          quantize with 16x16 / 32x32 2-D tiles
//   memcpy/t<N>    std::memcpy of the 64 MiB input (N > 1: contiguous slices
//                  copied in parallel by the library's threads)
// Counters: items_per_second = elements/s, bytes_per_second = float32 input
// bytes/s, x_memcpy = the paired ratio below.
//
// Paired ratio: every timed call is preceded by an (untimed) memcpy of the
// same 64 MiB input with the same thread count, timed separately; x_memcpy
// is sum(call times) / sum(memcpy times) over the run. On a shared machine
// both halves of a pair see the same load, so the ratio is far steadier than
// either time; the memcpy also leaves the caches cold for the call, as in
// real use. After the table, a summary prints per benchmark (medians over
// repetitions, or the single run): time, elements/s, x_memcpy, and the
// speedup over the scalar path of the same op and thread count.
// Timings are wall clock (manual timing around each call; OpenMP inside).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "hadamard/hadamard.h"
#include "quant/quantize.h"
#include "util/cpu_features.h"
#include "util/parallel.h"

namespace {

using namespace fp4train;

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

// Runs the timed loop with the ISA and thread count set, restoring both.
struct Env {
  Env(Isa isa, int threads) {
    set_isa(isa);
    set_num_threads(threads);
  }
  ~Env() {
    reset_isa();
    set_num_threads(0);
  }
};

QuantSpec spec_of(Format f, Rounding r, bool block_2d = false) {
  QuantSpec s;
  s.format = f;
  s.rounding = r;
  s.block_2d = block_2d;
  s.seed = 1;
  return s;
}

void copy_with_threads(const float* src, float* dst, int threads) {
  if (threads <= 1) {
    std::memcpy(dst, src, size_t(kBytes));
    return;
  }
  parallel_for(threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const int64_t lo = kNumel * c / threads, hi = kNumel * (c + 1) / threads;
      std::memcpy(dst + lo, src + lo, sizeof(float) * size_t(hi - lo));
    }
  });
}

void bm_memcpy(benchmark::State& state, int threads) {
  Env env(Isa::kScalar, threads);
  std::vector<float> y(input().size(), 1.0f);
  for (auto _ : state) {
    copy_with_threads(input().data(), y.data(), threads);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

enum class Op { kQuantize, kQuantizeInto, kFake, kDequantize, kHadamard16, kAxis0, kTiles };

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The destination of the paired memcpy (one, allocated and faulted in once).
float* pair_buffer() {
  static std::vector<float> buf(input().size(), 1.0f);
  return buf.data();
}

void bm_op(benchmark::State& state, Op op, Format f, Rounding r, Isa isa, int threads) {
  Env env(isa, threads);
  const std::vector<float>& x = input();
  const QuantSpec s = spec_of(f, r, op == Op::kTiles);
  const std::vector<int64_t> shape = {kRows, kCols};
  std::vector<float> y(op == Op::kFake || op == Op::kDequantize ? x.size() : 0, 0.0f);
  const QTensor qd = op == Op::kDequantize ? quantize(x.data(), shape, 1, s) : QTensor{};
  const std::vector<float> signs =
      op == Op::kHadamard16 ? hadamard_signs(HadamardSpec{16, SignPolicy::kFixed, 7, {}}, 0)
                            : std::vector<float>{};
  QTensor reused;
  if (op == Op::kQuantizeInto) quantize_into(reused, x.data(), shape, 1, s);
  double op_total = 0.0, copy_total = 0.0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    copy_with_threads(x.data(), pair_buffer(), threads);
    benchmark::ClobberMemory();
    const auto t1 = Clock::now();
    switch (op) {
      case Op::kQuantizeInto:
        quantize_into(reused, x.data(), shape, 1, s);
        benchmark::DoNotOptimize(reused.codes.data());
        break;
      case Op::kQuantize:
      case Op::kTiles: {
        QTensor q = quantize(x.data(), shape, 1, s);
        benchmark::DoNotOptimize(q.codes.data());
        break;
      }
      case Op::kAxis0: {
        QTensor q = quantize(x.data(), shape, 0, s);
        benchmark::DoNotOptimize(q.codes.data());
        break;
      }
      case Op::kHadamard16: {
        QTensor q = quantize_hadamard(x.data(), shape, 1, s, 16, signs);
        benchmark::DoNotOptimize(q.codes.data());
        break;
      }
      case Op::kFake:
        fake_quantize(x.data(), shape, 1, s, y.data());
        benchmark::DoNotOptimize(y.data());
        break;
      case Op::kDequantize:
        dequantize(qd.view(), y.data());
        benchmark::DoNotOptimize(y.data());
        break;
    }
    benchmark::ClobberMemory();
    const auto t2 = Clock::now();
    state.SetIterationTime(seconds_between(t1, t2));
    op_total += seconds_between(t1, t2);
    copy_total += seconds_between(t0, t1);
  }
  set_counters(state);
  state.counters["x_memcpy"] = copy_total > 0.0 ? op_total / copy_total : 0.0;
}

const char* op_name(Op op) {
  switch (op) {
    case Op::kQuantize: return "quantize";
    case Op::kQuantizeInto: return "quantize_into";
    case Op::kFake: return "fake_quantize";
    case Op::kDequantize: return "dequantize";
    case Op::kHadamard16: return "hadamard16";
    case Op::kAxis0: return "axis0";
    case Op::kTiles: return "tiles";
  }
  return "?";
}

const char* short_rounding(Rounding r) {
  switch (r) {
    case Rounding::kNearest: return "nearest";
    case Rounding::kNearestAway: return "away";
    case Rounding::kStochastic: return "stochastic";
  }
  return "?";
}

void register_all() {
  const int kThreads[] = {1, 2};
  for (int t : kThreads)
    benchmark::RegisterBenchmark(("memcpy/t" + std::to_string(t)).c_str(), bm_memcpy, t)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  struct Item {
    Op op;
    Format f;
    Rounding r;
  };
  std::vector<Item> items;
  const Format kAll[] = {Format::kMxfp4,    Format::kNvfp4,   Format::kMxfp8E4M3,
                         Format::kMxfp8E5M2, Format::kFp8E4M3, Format::kFp8E5M2, Format::kBf16};
  for (Format f : kAll)
    for (Rounding r : {Rounding::kNearest, Rounding::kStochastic})
      items.push_back({Op::kQuantize, f, r});
  for (Format f : {Format::kMxfp4, Format::kNvfp4})
    items.push_back({Op::kQuantizeInto, f, Rounding::kNearest});
  for (Format f : kAll) items.push_back({Op::kFake, f, Rounding::kNearest});
  items.push_back({Op::kFake, Format::kMxfp4, Rounding::kStochastic});
  for (Format f : kAll) items.push_back({Op::kDequantize, f, Rounding::kNearest});
  for (Format f : {Format::kMxfp4, Format::kNvfp4}) {
    items.push_back({Op::kHadamard16, f, Rounding::kNearest});
    items.push_back({Op::kAxis0, f, Rounding::kNearest});
    items.push_back({Op::kTiles, f, Rounding::kNearest});
  }
  for (const Item& it : items)
    for (Isa isa : supported_isas())
      for (int t : kThreads) {
        const std::string name = std::string(op_name(it.op)) + "/" + format_name(it.f) + "/" +
                                 short_rounding(it.r) + "/" + isa_name(isa) + "/t" +
                                 std::to_string(t);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_op, it.op, it.f, it.r, isa, t);
        b->Unit(benchmark::kMillisecond)->UseManualTime();
        // The scalar path takes ~0.1-1 s per call here: a few calls suffice.
        if (isa == Isa::kScalar) b->Iterations(2);
      }
}

// Console output plus, at the end, each benchmark's time as a multiple of
// the memcpy with the same thread count, and its speedup over scalar.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // plain text: readable in logs
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      std::string name = r.run_name.str();
      for (const char* suffix : {"/iterations:", "/real_time", "/manual_time"}) {
        const size_t at = name.find(suffix);
        if (at != std::string::npos) name.erase(at);
      }
      if (!seconds_.count(name)) order_.push_back(name);
      seconds_[name] = r.real_accumulated_time / double(r.iterations);
      const auto c = r.counters.find("x_memcpy");
      if (c != r.counters.end()) paired_[name] = c->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\nratios from medians (single runs without --benchmark_repetitions)\n");
    std::printf("%-44s %10s %10s %11s %10s\n", "benchmark", "ms", "Gelem/s", "x_memcpy",
                "vs scalar");
    for (const std::string& name : order_) {
      const double s = seconds_[name];
      const size_t slash = name.rfind('/');
      const std::string tsuffix = name.substr(slash + 1);  // t<N>
      // The paired ratio; memcpy/t<N> itself is 1 by definition.
      const auto pr = paired_.find(name);
      const double ratio = pr != paired_.end() ? pr->second : 1.0;
      std::string speedup = "-";
      const size_t isa_slash = name.rfind('/', slash - 1);
      if (isa_slash != std::string::npos && name.rfind("memcpy", 0) != 0) {
        const std::string scalar =
            name.substr(0, isa_slash) + "/scalar/" + tsuffix;
        const auto sc = seconds_.find(scalar);
        if (sc != seconds_.end()) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.1fx", sc->second / s);
          speedup = buf;
        }
      }
      std::printf("%-44s %10.2f %10.3f %11.2f %10s\n", name.c_str(), s * 1e3, kNumel / s / 1e9,
                  ratio, speedup.c_str());
    }
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, double> seconds_;
  std::map<std::string, double> paired_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("input", "4096x4096 float32 N(0,1), axis -1 (64 MiB)");
  benchmark::AddCustomContext("detected_isa", isa_name(detected_isa()));
  input();  // build the input outside every timing
  register_all();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
