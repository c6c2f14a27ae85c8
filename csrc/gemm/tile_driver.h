// Internal: the OpenMP output tiling shared by gemm_f32 and qgemm's fast
// paths. Included only by files compiled without ISA flags.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "util/parallel.h"

namespace fp4train {
namespace gemm_detail {

// Runs task(t) for t in [0, ntasks) on num_threads() threads, each taking the
// next t from a shared counter: dynamic at one-task granularity, so no
// thread idles on a big last chunk. Tasks must write disjoint outputs.
template <class Task>
void run_task_queue(int64_t ntasks, Task&& task) {
  std::atomic<int64_t> next{0};
  parallel_for(std::min<int64_t>(num_threads(), ntasks), 1, [&](int64_t, int64_t) {
    for (int64_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < ntasks;) task(t);
  });
}

// Runs kern(i0, mr, p, u0, un, acc) over every MR-row tile x NR-column panel
// of the M x N output, and over the reduction `units` in chunks [u0, u0+un)
// of at most kc, in increasing u0 for each tile; acc (MR * NR) holds the
// running sums (zero before the first chunk). The valid part of each tile
// ends up in c (M x N row-major). Threads split tiles, never units.
template <class Kern>
void run_tiles(int64_t M, int64_t N, int64_t units, int MR, int NR, int64_t kc, float* c,
               Kern&& kern) {
  if (M <= 0 || N <= 0) return;
  if (units <= 0) {
    for (int64_t i = 0; i < M * N; ++i) c[i] = 0.0f;
    return;
  }
  const int64_t row_tiles = (M + MR - 1) / MR, panels = (N + NR - 1) / NR;
  // A task is a block of row tiles x a block of panels (~96 x ~256 outputs).
  const int64_t tiles_per_task = 96 / MR > 1 ? 96 / MR : 1;
  const int64_t panels_per_task = 256 / NR > 1 ? 256 / NR : 1;
  const int64_t rblocks = (row_tiles + tiles_per_task - 1) / tiles_per_task;
  const int64_t pblocks = (panels + panels_per_task - 1) / panels_per_task;
  parallel_for(rblocks * pblocks, 1, [&](int64_t t0, int64_t t1) {
    alignas(64) float acc[16 * 64];  // MR * NR <= 1024
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pb = t / rblocks, rb = t % rblocks;
      const int64_t p0 = pb * panels_per_task, p1 = std::min(panels, p0 + panels_per_task);
      const int64_t r0 = rb * tiles_per_task, r1 = std::min(row_tiles, r0 + tiles_per_task);
      for (int64_t u0 = 0; u0 < units; u0 += kc) {
        const int64_t un = std::min(kc, units - u0);
        for (int64_t p = p0; p < p1; ++p) {
          const int nr = int(std::min<int64_t>(NR, N - p * NR));
          for (int64_t rt = r0; rt < r1; ++rt) {
            const int64_t i0 = rt * MR;
            const int mr = int(std::min<int64_t>(MR, M - i0));
            float* ct = c + i0 * N + p * NR;
            for (int i = 0; i < MR; ++i)
              for (int j = 0; j < NR; ++j)
                acc[i * NR + j] = (u0 > 0 && i < mr && j < nr) ? ct[i * N + j] : 0.0f;
            kern(i0, mr, p, u0, un, acc);
            for (int i = 0; i < mr; ++i)
              for (int j = 0; j < nr; ++j) ct[i * N + j] = acc[i * NR + j];
          }
        }
      }
    }
  });
}

// The in-place variant of run_tiles for kernels that accumulate straight into
// C: tasks are blocks of tiles_per_task row tiles x panels_per_task panels,
// taken from run_task_queue; for each chunk [u0, u0+un) of at most kc units
// (increasing u0), panel p and row tile rt, kern(rt, p, u0, un, dst, ldc)
// runs with dst the tile in C (ldc = N) when it is whole, else a local MR x NR
// buffer (ldc = NR) loaded from C's valid part after the first chunk and
// stored back. The kernel initializes dst when u0 == 0, accumulates otherwise.
template <class Kern>
void run_tiles_in_place(int64_t M, int64_t N, int64_t units, int MR, int NR, int64_t kc,
                        int64_t tiles_per_task, int64_t panels_per_task, float* c,
                        Kern&& kern) {
  const int64_t row_tiles = (M + MR - 1) / MR, panels = (N + NR - 1) / NR;
  const int64_t rblocks = (row_tiles + tiles_per_task - 1) / tiles_per_task;
  const int64_t pblocks = (panels + panels_per_task - 1) / panels_per_task;
  run_task_queue(rblocks * pblocks, [&](int64_t t) {
    alignas(64) float buf[16 * 64];  // MR * NR <= 1024
    const int64_t pb = t / rblocks, rb = t % rblocks;
    const int64_t p0 = pb * panels_per_task, p1 = std::min(panels, p0 + panels_per_task);
    const int64_t r0 = rb * tiles_per_task, r1 = std::min(row_tiles, r0 + tiles_per_task);
    for (int64_t u0 = 0; u0 < units; u0 += kc) {
      const int64_t un = std::min(kc, units - u0);
      for (int64_t p = p0; p < p1; ++p) {
        const int nr = int(std::min<int64_t>(NR, N - p * NR));
        for (int64_t rt = r0; rt < r1; ++rt) {
          const int mr = int(std::min<int64_t>(MR, M - rt * MR));
          float* ct = c + rt * MR * N + p * NR;
          if (mr == MR && nr == NR) {
            kern(rt, p, u0, un, ct, N);
            continue;
          }
          if (u0 > 0)
            for (int i = 0; i < mr; ++i)
              for (int j = 0; j < nr; ++j) buf[i * NR + j] = ct[i * N + j];
          kern(rt, p, u0, un, buf, int64_t(NR));
          for (int i = 0; i < mr; ++i)
            for (int j = 0; j < nr; ++j) ct[i * N + j] = buf[i * NR + j];
        }
      }
    }
  });
}

}  // namespace gemm_detail
}  // namespace fp4train
