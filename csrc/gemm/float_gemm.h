// The float32 GEMM backend switch: which implementation computes C = A B^T
// for float32 operands (qgemm's bf16 / fp32 path, hence every Linear under
// the fp32 and bf16 recipes).
//
//   "exact" (default): gemm_f32 (gemm/gemm_f32.h), bit-defined by
//     docs/NUMERICS.md (sequential FMA in k order): the same bits for any
//     thread count, any SIMD path, any machine.
//   "blas" (opt-in): cblas_sgemm of the same float32 operands from a BLAS
//     library loaded at run time (dlopen; no build dependency). The summation
//     order is the library's, so results differ from "exact" by rounding (at
//     most the float32 dot-product bound) and depend on the library, its
//     kernel choice and its thread count; for a fixed library and thread count
//     they are deterministic. The BLAS thread count is set to fp4train's
//     num_threads() before each call when the library exports
//     openblas_set_num_threads (OpenBLAS; this also changes it for numpy when
//     numpy uses the same OpenBLAS).
//
// Selection order: set_float_gemm() from code (fp4train.set_float_gemm), else
// the FP4TRAIN_FLOAT_GEMM environment variable (exact | blas, read on first
// use), else "exact". Asking for "blas" without a BLAS library is an error.
//
// The library: FP4TRAIN_BLAS_LIBRARY (a file name or path; "none" disables
// BLAS) if set, else the first of libopenblas.so.0, libblas.so.3,
// libcblas.so.3 that loads and exports cblas_sgemm.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fp4train {

enum class FloatGemm { kExact = 0, kBlas = 1 };

const char* float_gemm_name(FloatGemm backend);
FloatGemm parse_float_gemm(const std::string& name);  // throws ArgumentError naming "backend"
std::vector<FloatGemm> available_float_gemms();       // "exact" first, "blas" if loadable
FloatGemm active_float_gemm();
void set_float_gemm(FloatGemm backend);               // throws if not available
void reset_float_gemm();                              // back to the env/default choice

// The BLAS library in use: path of the file exporting cblas_sgemm ("" if none)
// and whether its thread count can be set (openblas_set_num_threads).
struct BlasInfo {
  bool available = false;
  std::string library;
  bool thread_control = false;
};
BlasInfo blas_info();

// C = A B^T through cblas_sgemm (RowMajor, NoTrans, Trans), shapes as
// gemm_f32. Throws if no BLAS is available or a dimension exceeds INT_MAX.
void gemm_f32_blas(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K);

// The dispatch point: gemm_f32 or gemm_f32_blas, by active_float_gemm().
void gemm_float(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K);

}  // namespace fp4train
