// qgemm: validation, choice of path, packing, OpenMP tiling, and the final
// tensor-scale / prescale step. The paths, by element pair:
//   E2M1 x E2M1, AVX-512: mxfp4 (E8M0   fp4 VNNI kernels (run_fp4): vpdpbusd on
//     scales, blk 32), nvfp4 (E4M3       4-byte k-groups into exact int32 block
//     scales, blk 16)                    sums, float epilogue (gemm_kernels.h)
//   E2M1 x E2M1 otherwise (AVX2, scalar) i8 kernels: int16 sums of byte pairs
//   pairs whose block sums stay < 2^53   f64 kernels: exact double FMAs
//     (E4M3 x E4M3, E2M1 x E4M3/E5M2)
//   E4M3 x E5M2 (sums up to 2^54.6)      split kernels: E5M2 = hi * 2^16 + lo,
//                                        two exact double sums per output
//   E5M2 x E5M2 (sums up to 2^68.6)      wide-integer path (qgemm_wide.cc)
//   bf16 / fp32 on either side           dequantize both, gemm_float (gemm_f32,
//                                        or BLAS when opted in: float_gemm.h)
// All of them compute NUMERICS §5 exactly, so they equal qgemm_ref bit for bit
// (with the default "exact" float backend; "blas" sums float32 products in
// the BLAS's order).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "gemm/float_gemm.h"
#include "gemm/gemm_f32.h"
#include "gemm/gemm_kernels.h"
#include "gemm/gemm_scratch.h"
#include "gemm/qgemm.h"
#include "gemm/qgemm_pack.h"
#include "gemm/qgemm_wide.h"
#include "gemm/tile_driver.h"
#include "quant/quantize.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

using namespace gemm_detail;

void run_i8(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk,
            float* c) {
  const KernelInfo<I8Kernel> ker = i8_kernel(active_isa());
  const RowsI8 A = pack_rows_i8(a, blk);
  const PanelsI8 B = pack_panels_i8(b, blk, ker.nr);
  const int64_t kp = A.kp, nblk = A.nblk;
  const int NR = ker.nr;
  const int64_t kc = 2048 / blk;  // blocks per chunk
  run_tiles(M, N, nblk, ker.mr, NR, kc, c,
            [&](int64_t i0, int mr, int64_t p, int64_t u0, int64_t un, float* acc) {
              const uint8_t* rows[16];
              const double* srows[16];
              for (int i = 0; i < ker.mr; ++i) {
                const int64_t r = i0 + (i < mr ? i : mr - 1);
                rows[i] = A.a.data() + r * kp + u0 * blk;
                srows[i] = A.s.data() + r * nblk + u0;
              }
              const int64_t pb = p * nblk + u0;
              ker.fn(rows, srows, B.b.data() + pb * blk * NR, B.corr.data() + pb * NR,
                     B.s.data() + pb * NR, un, blk, acc);
            });
}

float decode_factor(const QTensorView& q) {
  return format_traits(q.spec.format).tensor_scale ? 1.0f / q.tensor_scale : 1.0f;
}

#ifdef FP4TRAIN_X86
// E2M1 x E2M1 on the AVX-512 VNNI kernels. Tasks are blocks of row tiles x
// blocks of panels; within a task, K runs in chunks of kKc elements (a 32 x
// kKc B panel chunk stays in L1/L2 across the task's row tiles), and each chunk
// accumulates into C itself (the kernels load C unless it is the first
// chunk). Edge tiles go through a local MR x NR buffer.
// The final step of NUMERICS §5 on an mr x nr tile of C (row stride ldc):
// C = RN(acc * d), then RN(C / pa), RN(C / pb) for prescales != 1.
struct Finish {
  float d, pa, pb;
  bool identity() const { return d == 1.0f && pa == 1.0f && pb == 1.0f; }
  void operator()(float* ct, int64_t ldc, int mr, int nr) const {
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j) {
        float v = ct[i * ldc + j] * d;
        if (pa != 1.0f) v = v / pa;
        if (pb != 1.0f) v = v / pb;
        ct[i * ldc + j] = v;
      }
  }
};

void run_fp4(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk, bool exp,
             const Finish& fin, float* c) {
  const KernelInfo<Fp4Kernel> ker = fp4_kernel_avx512(exp);
  const Fp4ScaleForm form = exp ? Fp4ScaleForm::kExp : Fp4ScaleForm::kValue;
  const RowsFp4 A = pack_rows_fp4(a, blk, ker.mr, form);
  const PanelsFp4 B = pack_panels_fp4(b, blk, ker.nr, form);
  const int64_t kp = A.kp, nblk = A.nblk;
  if (nblk == 0) {
    std::fill(c, c + M * N, 0.0f);
    for (int64_t m = 0; m < M; ++m) fin(c + m * N, N, 1, int(N));
    return;
  }
  const int MR = ker.mr, NR = ker.nr;
  const float postv[3] = {fin.d, fin.pa, fin.pb};
  constexpr int64_t kKc = 1024;  // B chunk 32 KB (L1 / L2); 512 measured no faster
  const int64_t kc = kKc / blk;  // blocks per chunk
  run_tiles_in_place(
      M, N, nblk, MR, NR, kc, /*tiles_per_task=*/16, /*panels_per_task=*/8, c,
      [&](int64_t rt, int64_t p, int64_t u0, int64_t un, float* dst, int64_t ldc) {
        const float* post = u0 + un == nblk && !fin.identity() ? postv : nullptr;
        ker.fn(A.a.data() + (rt * kp + u0 * blk) * MR, A.ncorr.data() + (rt * nblk + u0) * MR,
               A.s.data() + (rt * nblk + u0) * MR, B.b.data() + (p * kp + u0 * blk) * NR,
               B.s.data() + (p * nblk + u0) * NR, un, dst, ldc, u0 == 0, post);
      });
}
#endif

// The f64-row kernels (F64Kernel, SplitKernel) share one tile loop: rows of A
// as doubles, B packed into panels of `b_width` doubles per element, K chunks
// of `kc_elems` elements.
template <typename Kernel>
void run_f64_rows(const KernelInfo<Kernel>& ker, const RowsF64& A, const PanelsF64& B,
                  int64_t M, int64_t N, int blk, int64_t kc_elems, int b_width, float* c) {
  const int64_t kp = A.kp, nblk = A.nblk;
  const int NR = ker.nr;
  run_tiles(M, N, nblk, ker.mr, NR, kc_elems / blk, c,
            [&](int64_t i0, int mr, int64_t p, int64_t u0, int64_t un, float* acc) {
              const double* rows[16];
              const double* srows[16];
              for (int i = 0; i < ker.mr; ++i) {
                const int64_t r = i0 + (i < mr ? i : mr - 1);
                rows[i] = A.a.data() + r * kp + u0 * blk;
                srows[i] = A.s.data() + r * nblk + u0;
              }
              ker.fn(rows, srows, B.b.data() + (p * kp + u0 * blk) * b_width * NR,
                     B.s.data() + (p * nblk + u0) * NR, un, blk, acc);
            });
}

void run_f64(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk,
             float* c) {
  const KernelInfo<F64Kernel> ker = f64_kernel(active_isa());
  run_f64_rows(ker, pack_rows_f64(a, blk), pack_panels_f64(b, blk, ker.nr), M, N, blk, 512, 1,
               c);
}

// E4M3 (a) x E5M2 (b) on the split kernels (B as two doubles per element); acc into c.
void run_split(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N, int blk,
               float* c) {
  const KernelInfo<SplitKernel> ker = split_kernel(active_isa());
  run_f64_rows(ker, pack_rows_f64(a, blk), pack_panels_split(b, blk, ker.nr), M, N, blk, 256,
               2, c);
}

// E5M2 (a) x E4M3 (b): the split kernels want E5M2 on the B side, so compute
// the transposed product (each output's operations are the same) and
// transpose it into c.
void run_split_transposed(const QTensorView& a, const QTensorView& b, int64_t M, int64_t N,
                          int blk, float* c) {
  std::vector<float> ct(size_t(M * N));
  run_split(b, a, N, M, blk, ct.data());
  parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = 0; n < N; ++n) c[m * N + n] = ct[size_t(n * M + m)];
  });
}

// An operand of the float32 path as rows x K floats, row-major. An fp32
// QTensor along axis 1 stores exactly that (its codes are the float bits, and
// dequantize is a copy of them), so it is used in place when its codes are
// float-aligned; any other operand is dequantized into per-thread scratch.
const float* f32_operand(const QTensorView& q, ScratchSlot slot, int64_t n) {
  if (q.spec.format == Format::kFp32 && q.layout.axis == 1 &&
      reinterpret_cast<uintptr_t>(q.codes) % alignof(float) == 0 &&
      q.codes_size == n * int64_t(sizeof(float)))
    return reinterpret_cast<const float*>(q.codes);
  float* d = scratch_floats(slot, size_t(n));
  dequantize(q, d);
  return d;
}

}  // namespace

void qgemm(const QTensorView& a, const QTensorView& b, float* c) {
  const QGemmShape s = qgemm_check(a, b);
  const int64_t M = s.M, N = s.N, K = s.K;
  const Format fa = a.spec.format, fb = b.spec.format;
  if (!is_block_quantized(fa) || !is_block_quantized(fb)) {
    const float* da = f32_operand(a, ScratchSlot::kOperandA, M * K);
    const float* db = f32_operand(b, ScratchSlot::kOperandB, N * K);
    gemm_float(da, db, c, M, N, K);
    return;
  }
  if (M == 0 || N == 0) return;
  const int blk = qgemm_k_block(fa);
  const ElemType ea = format_traits(fa).elem, eb = format_traits(fb).elem;
  const bool e5_e5 = ea == ElemType::kE5M2 && eb == ElemType::kE5M2;
  if (ea == ElemType::kE2M1 && eb == ElemType::kE2M1) {
#ifdef FP4TRAIN_X86
    // The VNNI kernels when both sides have E8M0 scales in blocks of 32 or
    // E4M3 scales in blocks of 16 (mxfp4, nvfp4); the i8 kernels otherwise.
    const ScaleType sa = format_traits(fa).scale, sb = format_traits(fb).scale;
    const bool e8 = sa == ScaleType::kE8M0 && sb == ScaleType::kE8M0 && blk == 32;
    const bool e4 = sa == ScaleType::kE4M3 && sb == ScaleType::kE4M3 && blk == 16;
    if (active_isa() == Isa::kAvx512 && (e8 || e4)) {
      // run_fp4's kernels apply the final step to each tile after its last chunk.
      const Finish fin{decode_factor(a) * decode_factor(b), a.spec.prescale, b.spec.prescale};
      run_fp4(a, b, M, N, blk, e8, fin, c);
      return;
    }
    run_i8(a, b, M, N, blk, c);
#else
    run_i8(a, b, M, N, blk, c);
#endif
  }
  else if (e5_e5) qgemm_wide_acc(a, b, M, N, blk, c);
  else if (ea == ElemType::kE4M3 && eb == ElemType::kE5M2) run_split(a, b, M, N, blk, c);
  else if (ea == ElemType::kE5M2 && eb == ElemType::kE4M3) run_split_transposed(a, b, M, N, blk, c);
  else run_f64(a, b, M, N, blk, c);

  // C = RN(acc * RN(d_a * d_b)), then RN(C / p_a), RN(C / p_b).
  const float d = decode_factor(a) * decode_factor(b);
  const float pa = a.spec.prescale, pb = b.spec.prescale;
  if (d == 1.0f && pa == 1.0f && pb == 1.0f) return;  // acc * 1 == acc (NaN stays NaN)
  parallel_for(M, 64, [&](int64_t m0, int64_t m1) {
    for (int64_t i = m0 * N; i < m1 * N; ++i) {
      float v = c[i] * d;
      if (pa != 1.0f) v = v / pa;
      if (pb != 1.0f) v = v / pb;
      c[i] = v;
    }
  });
}

std::vector<float> qgemm(const QTensorView& a, const QTensorView& b) {
  const QGemmShape s = qgemm_check(a, b);
  std::vector<float> c(size_t(s.M * s.N));
  qgemm(a, b, c.data());
  return c;
}

}  // namespace fp4train
