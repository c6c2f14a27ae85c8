// Deterministic OpenMP helpers.
//
// Work is split over independent outputs only (rows, blocks, output tiles),
// never over a reduction, so the bits of every result are the same for any
// thread count. `num_threads()` is the count the library uses; Python sets it
// with fp4train.set_num_threads (default: OpenMP's, i.e. OMP_NUM_THREADS).
#pragma once
#include <cstdint>
#include <exception>
#include <mutex>

namespace fp4train {

int num_threads();
void set_num_threads(int n);  // n >= 1; 0 restores OpenMP's default

// Runs body(begin, end) over [0, n) split into contiguous chunks of at least
// `grain` items, in parallel. Exceptions thrown by a worker are captured and
// the first one is rethrown on the calling thread after all workers finish.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  const int threads = num_threads();
  if (chunks > int64_t(threads) * 8) chunks = int64_t(threads) * 8;
  if (threads <= 1 || chunks <= 1) {
    body(int64_t(0), n);
    return;
  }
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    try {
      body(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace fp4train
