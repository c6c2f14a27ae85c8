// Internal: qgemm operands unpacked into the integer panels the micro-kernels
// read (layouts in gemm/gemm_kernels.h). Rows are padded with zero elements
// to whole K-blocks; panel columns past N are zero with zero scales.
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "quant/qtensor.h"

namespace fp4train {
namespace gemm_detail {

// Elements are integers times 2^-shift: E2M1 1, E4M3 9, E5M2 16.
int elem_shift(ElemType e);

// Block scale of (row, block) as j * 2^e, or NaN (E8M0 0xFF, E4M3 0x7F/0xFF);
// formats without block scales have j = 1, e = 0.
struct ScaleParts {
  int64_t j;
  int e;
  bool nan;
};
ScaleParts scale_parts(const QTensorView& q, int64_t row, int64_t block);
// j * 2^(e - shift) as a double (exact), NaN for a NaN scale.
double scale_f64(const QTensorView& q, int64_t row, int64_t block, int shift);

// Element codes of a row as exact integers (value * 2^elem_shift) in
// doubles, NaN/Inf codes kept as NaN/Inf; `kp` entries, zero past K.
void row_ints_f64(const QTensorView& q, int64_t row, int64_t kp, double* out);

struct RowsI8 {  // A side, E2M1: doubled value + 12 per element
  std::vector<uint8_t> a;  // rows x kp
  std::vector<double> s;   // rows x nblk
  int64_t kp = 0, nblk = 0;
};
struct PanelsI8 {  // B side, E2M1
  std::vector<int8_t> b;      // panels x nblk x (blk / 2) x nr x 2
  std::vector<int16_t> corr;  // panels x nblk x nr
  std::vector<double> s;      // panels x nblk x nr
};
RowsI8 pack_rows_i8(const QTensorView& q, int blk);
PanelsI8 pack_panels_i8(const QTensorView& q, int blk, int nr);

// std::vector whose resize leaves trivial elements uninitialized: the fp4
// packers write every element, in parallel, so a serial zero fill (and its
// first touch of every page on one thread) would only cost time.
template <class T>
struct NoInitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <class U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <class T>
using PackVec = std::vector<T, NoInitAllocator<T>>;

// E2M1 x E2M1 on the AVX-512 VNNI kernels (layouts in gemm/gemm_kernels.h).
// Block scales as floats, in one of two forms chosen for the pair:
//   kExp:   E8M0 scales as the exponent e - 1 (the E2M1 doubling folded in),
//           NaN for a NaN scale; the kernel adds A's and B's and scalefs.
//   kValue: E4M3 scales as their value / 2 (exact), NaN for a NaN scale.
enum class Fp4ScaleForm { kExp, kValue };
struct RowsFp4 {  // A side: doubled values (int8), in mr-row tiles
  PackVec<int8_t> a;       // tiles x (kp / 4) x mr x 4 (rows past M: zero)
  PackVec<int32_t> ncorr;  // tiles x nblk x mr: -12 * block sum
  PackVec<float> s;        // tiles x nblk x mr
  int64_t kp = 0, nblk = 0;
};
struct PanelsFp4 {  // B side: doubled value + 12 (uint8 in [0, 24])
  PackVec<uint8_t> b;  // panels x (kp / 4) x nr x 4
  PackVec<float> s;    // panels x nblk x nr
};
RowsFp4 pack_rows_fp4(const QTensorView& q, int blk, int mr, Fp4ScaleForm form);
PanelsFp4 pack_panels_fp4(const QTensorView& q, int blk, int nr, Fp4ScaleForm form);

struct RowsF64 {
  std::vector<double> a, s;  // rows x kp, rows x nblk
  int64_t kp = 0, nblk = 0;
};
struct PanelsF64 {
  std::vector<double> b;  // panels x kp x nr
  std::vector<double> s;  // panels x nblk x nr
};
RowsF64 pack_rows_f64(const QTensorView& q, int blk);
PanelsF64 pack_panels_f64(const QTensorView& q, int blk, int nr);
// E5M2 B side of the split kernels: b = panels x kp x 2 (hi, lo) x nr.
PanelsF64 pack_panels_split(const QTensorView& q, int blk, int nr);

}  // namespace gemm_detail
}  // namespace fp4train
