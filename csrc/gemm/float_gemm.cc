// The float32 GEMM backend switch and the run-time BLAS binding (see
// float_gemm.h). The BLAS is reached through dlopen/dlsym so that building
// fp4train needs neither a BLAS nor its headers: the CBLAS prototype and enum
// values are declared here (they are fixed by the CBLAS standard).
#include "gemm/float_gemm.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>

#include "gemm/gemm_f32.h"
#include "util/check.h"
#include "util/parallel.h"

#if defined(__has_include)
#if __has_include(<dlfcn.h>)
#include <dlfcn.h>
#define FP4TRAIN_HAVE_DLOPEN 1
#endif
#endif

namespace fp4train {

namespace {

// CBLAS (the reference cblas.h): enum CBLAS_ORDER { CblasRowMajor = 101 },
// enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 }; C enums are
// passed as int. LP64 BLAS: dimensions are int.
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;
using CblasSgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta, float* c,
                            int ldc);
using SetThreads = void (*)(int n);

const char* const kDefaultLibraries[] = {"libopenblas.so.0", "libblas.so.3", "libcblas.so.3"};

struct Blas {
  CblasSgemm sgemm = nullptr;
  SetThreads set_threads = nullptr;  // optional (OpenBLAS)
  std::string library;               // file that defines cblas_sgemm
  std::string tried;                 // for the error message when none loads
};

// Loads the library once per process; the handle is never closed (the
// function pointers stay valid for the life of the process).
Blas load_blas() {
  Blas blas;
  std::vector<std::string> names;
  const char* env = std::getenv("FP4TRAIN_BLAS_LIBRARY");
  if (env && *env) {
    if (std::string(env) == "none") {
      blas.tried = "none (FP4TRAIN_BLAS_LIBRARY=none)";
      return blas;
    }
    names.emplace_back(env);
  } else {
    names.assign(std::begin(kDefaultLibraries), std::end(kDefaultLibraries));
  }
  for (const std::string& name : names) blas.tried += (blas.tried.empty() ? "" : ", ") + name;
#ifdef FP4TRAIN_HAVE_DLOPEN
  for (const std::string& name : names) {
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    void* f = dlsym(h, "cblas_sgemm");
    if (!f) {
      dlclose(h);
      continue;
    }
    blas.sgemm = reinterpret_cast<CblasSgemm>(f);
    blas.set_threads = reinterpret_cast<SetThreads>(dlsym(h, "openblas_set_num_threads"));
    Dl_info info;
    blas.library = dladdr(f, &info) && info.dli_fname ? info.dli_fname : name;
    break;
  }
#endif
  return blas;
}

const Blas& blas() {
  static const Blas b = load_blas();
  return b;
}

std::string available_list() {
  std::string s;
  for (FloatGemm g : available_float_gemms()) s += (s.empty() ? "" : ", ") + std::string(float_gemm_name(g));
  return s;
}

void require_available(FloatGemm backend, const char* arg) {
  if (backend == FloatGemm::kBlas && !blas().sgemm)
    throw ArgumentError(arg, "'blas' is not available: no BLAS library exporting cblas_sgemm "
                             "could be loaded (tried " + blas().tried + "); available: " +
                                 available_list());
}

FloatGemm initial_float_gemm() {
  const char* env = std::getenv("FP4TRAIN_FLOAT_GEMM");
  if (!env || !*env) return FloatGemm::kExact;
  FloatGemm wanted;
  try {
    wanted = parse_float_gemm(env);
  } catch (const ArgumentError&) {
    throw ArgumentError("FP4TRAIN_FLOAT_GEMM",
                        std::string("expected one of exact, blas, got '") + env + "'");
  }
  require_available(wanted, "FP4TRAIN_FLOAT_GEMM");
  return wanted;
}

std::atomic<int> g_backend{-1};

}  // namespace

const char* float_gemm_name(FloatGemm backend) {
  switch (backend) {
    case FloatGemm::kExact: return "exact";
    case FloatGemm::kBlas: return "blas";
  }
  return "?";
}

FloatGemm parse_float_gemm(const std::string& name) {
  if (name == "exact") return FloatGemm::kExact;
  if (name == "blas") return FloatGemm::kBlas;
  throw ArgumentError("backend", "expected one of exact, blas, got '" + name +
                                     "' (available: " + available_list() + ")");
}

std::vector<FloatGemm> available_float_gemms() {
  std::vector<FloatGemm> out{FloatGemm::kExact};
  if (blas().sgemm) out.push_back(FloatGemm::kBlas);
  return out;
}

FloatGemm active_float_gemm() {
  int v = g_backend.load(std::memory_order_relaxed);
  if (v < 0) {
    v = int(initial_float_gemm());
    g_backend.store(v, std::memory_order_relaxed);
  }
  return FloatGemm(v);
}

void set_float_gemm(FloatGemm backend) {
  require_available(backend, "backend");
  g_backend.store(int(backend), std::memory_order_relaxed);
}

void reset_float_gemm() { g_backend.store(int(initial_float_gemm()), std::memory_order_relaxed); }

BlasInfo blas_info() {
  BlasInfo info;
  info.available = blas().sgemm != nullptr;
  info.library = blas().library;
  info.thread_control = blas().set_threads != nullptr;
  return info;
}

void gemm_f32_blas(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K) {
  require_available(FloatGemm::kBlas, "backend");
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // BLAS rejects lda = 0; the empty sum is +0 as in gemm_f32
    std::fill(c, c + M * N, 0.0f);
    return;
  }
  FP4_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX, "shape",
            "the 'blas' float GEMM backend takes dimensions up to 2^31 - 1, got M=" +
                std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
  const Blas& lib = blas();
  // The BLAS's partition of the work (hence its summation order) may depend on
  // its thread count: pin it to ours so that a fixed num_threads() is
  // reproducible. The call is cheap when the count does not change.
  if (lib.set_threads) lib.set_threads(num_threads());
  lib.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasTrans, int(M), int(N), int(K), 1.0f, a, int(K), b,
            int(K), 0.0f, c, int(N));
}

void gemm_float(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K) {
  if (active_float_gemm() == FloatGemm::kBlas)
    gemm_f32_blas(a, b, c, M, N, K);
  else
    gemm_f32(a, b, c, M, N, K);
}

}  // namespace fp4train
