// The SIMD FWHT, written once over a vector traits type V and included by
// fwht_avx2.cc and fwht_avx512.cc (each compiled with its own ISA flags).
// Include it inside an anonymous namespace: every ISA gets its own copy with
// internal linkage, so no AVX-512 instance can stand in for an AVX2 one.
//
// V provides: T (vector type), W (lanes), load/store (unaligned), set1,
// add, sub, mul, intra(v, n) (the butterfly stages h = 1 .. min(n, W)/2 that
// stay inside one vector, each pair computed as a + b and a - b with a the
// lower lane, exactly as fwht_ref does).
//
// Bit-exactness with fwht_ref (fwht.h): every element goes through the same
// sign multiply, the same sequence of (a + b, a - b) pairs in stage order
// h = 1, 2, 4, ..., the same scale multiply and (inverse) sign multiply.
// Stages are independent across groups of 2h elements, so evaluating the
// stages below a chunk size on each chunk before the larger stages is the
// same computation, not a reordering of any sum.

template <class V>
struct FwhtSimd {
  using T = typename V::T;
  static constexpr int W = V::W;
  static constexpr int kRegs = 16;  // vectors a block keeps in registers

  // One run of NV * W elements (or a chunk of a larger run) in registers:
  // forward signs, all stages below NV * W, then (when given) the scale and
  // the inverse signs.
  template <int NV>
  static inline void chunk(float* p, const float* s_fwd, const T* scale, const float* s_inv) {
    T r[NV];
    for (int k = 0; k < NV; ++k) r[k] = V::load(p + k * W);
    if (s_fwd)
      for (int k = 0; k < NV; ++k) r[k] = V::mul(r[k], V::load(s_fwd + k * W));
    for (int k = 0; k < NV; ++k) r[k] = V::intra(r[k], W);
    for (int h = 1; h < NV; h *= 2) {
      for (int g = 0; g < NV; g += 2 * h) {
        for (int j = g; j < g + h; ++j) {
          const T a = r[j], b = r[j + h];
          r[j] = V::add(a, b);
          r[j + h] = V::sub(a, b);
        }
      }
    }
    if (scale)
      for (int k = 0; k < NV; ++k) r[k] = V::mul(r[k], *scale);
    if (s_inv)
      for (int k = 0; k < NV; ++k) r[k] = V::mul(r[k], V::load(s_inv + k * W));
    for (int k = 0; k < NV; ++k) V::store(p + k * W, r[k]);
  }

  template <int NV>
  static void runs_in_registers(float* row, int64_t length, const float* sf, const float* si,
                                const T& scale) {
    for (int64_t base = 0; base < length; base += NV * W) chunk<NV>(row + base, sf, &scale, si);
  }

  // n < W: each vector holds W / n whole runs; signs repeat with period n.
  static void small_runs(float* row, int64_t length, int n, const float* signs, bool inverse,
                         const T& scale) {
    alignas(64) float rep[W];
    for (int k = 0; k < W; ++k) rep[k] = signs ? signs[k % n] : 1.0f;
    const T s = V::load(rep);
    int64_t off = 0;
    for (; off + W <= length; off += W) {
      T v = V::load(row + off);
      if (signs && !inverse) v = V::mul(v, s);
      v = V::intra(v, n);
      v = V::mul(v, scale);
      if (signs && inverse) v = V::mul(v, s);
      V::store(row + off, v);
    }
    // The tail holds whole runs (length and W are multiples of n).
    if (off < length) fwht_ref(row + off, length - off, n, signs, inverse);
  }

  // n > kRegs * W: chunks of kRegs * W in registers for the small stages,
  // then one pass per remaining stage; the last pass applies the scale and
  // the inverse signs to each pair as it is produced.
  static void large_runs(float* row, int64_t length, int n, const float* sf, const float* si,
                         const T& scale) {
    constexpr int C = kRegs * W;
    for (int64_t base = 0; base < length; base += n) {
      float* p = row + base;
      for (int c = 0; c < n; c += C) chunk<kRegs>(p + c, sf ? sf + c : nullptr, nullptr, nullptr);
      for (int h = C; h < n; h *= 2) {
        const bool last = 2 * h == n;
        for (int g = 0; g < n; g += 2 * h) {
          for (int j = g; j < g + h; j += W) {
            const T a = V::load(p + j), b = V::load(p + j + h);
            T x = V::add(a, b), y = V::sub(a, b);
            if (last) {
              x = V::mul(x, scale);
              y = V::mul(y, scale);
              if (si) {
                x = V::mul(x, V::load(si + j));
                y = V::mul(y, V::load(si + j + h));
              }
            }
            V::store(p + j, x);
            V::store(p + j + h, y);
          }
        }
      }
    }
  }

  static void run(float* row, int64_t length, int n, const float* signs, bool inverse) {
    const T scale = V::set1(hadamard_scale(n));
    if (n < W) return small_runs(row, length, n, signs, inverse, scale);
    const float* sf = inverse ? nullptr : signs;
    const float* si = inverse ? signs : nullptr;
    switch (n / W) {
      case 1: return runs_in_registers<1>(row, length, sf, si, scale);
      case 2: return runs_in_registers<2>(row, length, sf, si, scale);
      case 4: return runs_in_registers<4>(row, length, sf, si, scale);
      case 8: return runs_in_registers<8>(row, length, sf, si, scale);
      case 16: return runs_in_registers<16>(row, length, sf, si, scale);
      default: return large_runs(row, length, n, sf, si, scale);
    }
  }
};
