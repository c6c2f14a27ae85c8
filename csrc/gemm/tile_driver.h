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

// The task grid both tile drivers share. Task t covers a block of
// tiles_per_task MR-row tiles x panels_per_task NR-column panels of the M x N
// output; for_each_tile(t, visit) calls visit(rt, p, u0, un, mr, nr) for the
// task's tiles, with the reduction `units` in chunks [u0, u0+un) of at most kc
// (outermost, increasing, so each tile accumulates in unit order), then
// panels, then row tiles; mr x nr is the tile's valid part.
struct TileTasks {
  int64_t M, N, units, kc;
  int MR, NR;
  int64_t tiles_per_task, panels_per_task, row_tiles, panels, rblocks, count;

  TileTasks(int64_t M_, int64_t N_, int64_t units_, int MR_, int NR_, int64_t kc_,
            int64_t tiles_per_task_, int64_t panels_per_task_)
      : M(M_), N(N_), units(units_), kc(kc_), MR(MR_), NR(NR_),
        tiles_per_task(tiles_per_task_), panels_per_task(panels_per_task_),
        row_tiles((M_ + MR_ - 1) / MR_), panels((N_ + NR_ - 1) / NR_),
        rblocks((row_tiles + tiles_per_task - 1) / tiles_per_task),
        count(rblocks * ((panels + panels_per_task - 1) / panels_per_task)) {}

  template <class Visit>
  void for_each_tile(int64_t t, Visit&& visit) const {
    const int64_t pb = t / rblocks, rb = t % rblocks;
    const int64_t p0 = pb * panels_per_task, p1 = std::min(panels, p0 + panels_per_task);
    const int64_t r0 = rb * tiles_per_task, r1 = std::min(row_tiles, r0 + tiles_per_task);
    for (int64_t u0 = 0; u0 < units; u0 += kc) {
      const int64_t un = std::min(kc, units - u0);
      for (int64_t p = p0; p < p1; ++p) {
        const int nr = int(std::min<int64_t>(NR, N - p * NR));
        for (int64_t rt = r0; rt < r1; ++rt)
          visit(rt, p, u0, un, int(std::min<int64_t>(MR, M - rt * MR)), nr);
      }
    }
  }
};

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
  // A task is a block of row tiles x a block of panels (~96 x ~256 outputs).
  const TileTasks tasks(M, N, units, MR, NR, kc, std::max(1, 96 / MR), std::max(1, 256 / NR));
  run_task_queue(tasks.count, [&](int64_t t) {
    alignas(64) float acc[16 * 64];  // MR * NR <= 1024
    tasks.for_each_tile(t, [&](int64_t rt, int64_t p, int64_t u0, int64_t un, int mr, int nr) {
      float* ct = c + rt * MR * N + p * NR;
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j)
          acc[i * NR + j] = (u0 > 0 && i < mr && j < nr) ? ct[i * N + j] : 0.0f;
      kern(rt * MR, mr, p, u0, un, acc);
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) ct[i * N + j] = acc[i * NR + j];
    });
  });
}

// The in-place variant of run_tiles for kernels that accumulate straight into
// C, with its own task shape: kern(rt, p, u0, un, dst, ldc) runs with dst the
// tile in C (ldc = N) when it is whole, else a local MR x NR buffer
// (ldc = NR) loaded from C's valid part after the first chunk and stored
// back. The kernel initializes dst when u0 == 0, accumulates otherwise.
template <class Kern>
void run_tiles_in_place(int64_t M, int64_t N, int64_t units, int MR, int NR, int64_t kc,
                        int64_t tiles_per_task, int64_t panels_per_task, float* c,
                        Kern&& kern) {
  const TileTasks tasks(M, N, units, MR, NR, kc, tiles_per_task, panels_per_task);
  run_task_queue(tasks.count, [&](int64_t t) {
    alignas(64) float buf[16 * 64];  // MR * NR <= 1024
    tasks.for_each_tile(t, [&](int64_t rt, int64_t p, int64_t u0, int64_t un, int mr, int nr) {
      float* ct = c + rt * MR * N + p * NR;
      if (mr == MR && nr == NR) {
        kern(rt, p, u0, un, ct, N);
        return;
      }
      if (u0 > 0)
        for (int i = 0; i < mr; ++i)
          for (int j = 0; j < nr; ++j) buf[i * NR + j] = ct[i * N + j];
      kern(rt, p, u0, un, buf, int64_t(NR));
      for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j) ct[i * N + j] = buf[i * NR + j];
    });
  });
}

}  // namespace gemm_detail
}  // namespace fp4train
