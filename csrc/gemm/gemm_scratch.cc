#include "gemm/gemm_scratch.h"

#include <memory>

namespace fp4train {
namespace gemm_detail {

namespace {

constexpr int kSlots = int(ScratchSlot::kCount);

// Uninitialized storage: growth must not pay for a zero fill either.
struct Buffer {
  std::unique_ptr<float[]> data;
  size_t size = 0;
};

thread_local Buffer t_buffers[kSlots];

}  // namespace

float* scratch_floats(ScratchSlot slot, size_t n) {
  Buffer& b = t_buffers[int(slot)];
  if (n > b.size) {
    b.data.reset();  // free first: the peak stays one buffer, not two
    b.data.reset(new float[n]);
    b.size = n;
  }
  return b.data.get();
}

size_t scratch_bytes() {
  size_t s = 0;
  for (const Buffer& b : t_buffers) s += b.size * sizeof(float);
  return s;
}

void scratch_release() {
  for (Buffer& b : t_buffers) {
    b.data.reset();
    b.size = 0;
  }
}

}  // namespace gemm_detail
}  // namespace fp4train
