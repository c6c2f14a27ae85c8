// Grow-only, per-thread scratch buffers for the float32 GEMM path: the
// dequantized bf16 operands of qgemm and gemm_f32's packed A tiles and B
// panels. A training step calls the same GEMM shapes again and again;
// allocating these (tens of MB at large shapes) on every call costs a page
// fault per 4 KiB touched. Each slot keeps the largest size asked of it in
// its thread, until scratch_release() in that thread (or thread exit).
//
// Contents are undefined on return: callers write every element they read.
// A pointer stays valid until the next scratch_floats call for the same
// slot in the same thread (the slots are distinct so that qgemm's dequantized
// operands survive gemm_f32's packing).
#pragma once
#include <cstddef>
#include <cstdint>

namespace fp4train {
namespace gemm_detail {

enum class ScratchSlot : int { kOperandA = 0, kOperandB, kPackA, kPackB, kCount };

float* scratch_floats(ScratchSlot slot, size_t n);
size_t scratch_bytes();   // held by the calling thread
void scratch_release();   // frees the calling thread's buffers

}  // namespace gemm_detail
}  // namespace fp4train
