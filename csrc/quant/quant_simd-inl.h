// The SIMD row kernels of quant_kernels.h, written once over a vector traits
// type V and included by quant_kernels_avx2.cc and quant_kernels_avx512.cc
// (each compiled with its own ISA flags). Include it inside an anonymous
// namespace: every ISA gets its own copy with internal linkage.
//
// V provides F (float vector), I (int32 vector), M (lane mask), W (lanes) and
// the primitives used below: loads/stores (full, and partial with a lane
// count, zero-filled), integer and float arithmetic, compares to M, selects,
// horizontal max, a 32x32->64 multiply for Philox, a 4xW word transpose, the
// E2M1 magnitude lookup, and loads/stores of packed codes (nibbles, bytes,
// 16-bit words).
//
// Bit-exactness with the scalar kernels (quant_kernels_ref.cc): every float
// operation of NUMERICS §2 is done here in the same order on the same
// operands (separate multiplies, IEEE division, no FMA), and the roundings
// of §1/§3 are computed on the float bits with integers, exactly:
//   - E2M1 nearest: the float adder rounds for us. With a = min(|v|, 6) and
//     E' = max(E(a), 0), the constant M' = 2^(E' + 22) (low mantissa bits
//     holding 2E') has ulp 2^(E' - 1), the E2M1 step at a, so RN(a + M') =
//     M' + n * step with n = a / step rounded half to even, and its low 3
//     bits are 2E' + n: the E2M1 index, whose parity is n's (ties to even).
//   - E2M1 nearest_away: the index is the number of midpoints at or below
//     |v| (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5); values above 6 get 7.
//   - FP8 nearest (elements and NVFP4's E4M3 block scales): the same trick,
//     the mantissa of RN(a + M') is the code (fp8_code_nearest).
//   - BF16 nearest: round half to even on the low 16 bits, saturated.
//   - every other element rounding (nearest_away and stochastic of FP8 and
//     BF16, E2M1 stochastic) is round_to_grid (formats/grid_round.h) on the
//     integer significand, with the code assembled from the grid exponent
//     and the rounded significand (round_code).
//   - stochastic rounding draws Philox4x32-10 for W counters at once, the
//     same words as util/counter_rng.h for the same (seed, stream 0, index).
// The sign of every code is the sign of v, as round_elem keeps it.

constexpr uint32_t kQNaN = 0x7FC00000u;

template <class V>
struct QuantSimd {
  using F = typename V::F;
  using I = typename V::I;
  using M = typename V::M;
  static constexpr int W = V::W;

  enum class Kind { kMx, kNv, kTensor, kBf16 };

  // --------------------------------------------------------------------
  // copy, transpose and amax

  // 8 x 8 blocks with 256-bit AVX shuffles (both ISA files enable AVX2),
  // scalar edges. Pure data movement: no arithmetic, no rounding.
  static void transpose(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows,
                        int64_t cols) {
    const int64_t r8 = rows - rows % 8, c8 = cols - cols % 8;
    for (int64_t r0 = 0; r0 < r8; r0 += 8) {
      for (int64_t c0 = 0; c0 < c8; c0 += 8) {
        const float* s = src + r0 * ss + c0;
        __m256 a[8], t[8];
        for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(s + k * ss);
        for (int k = 0; k < 8; k += 2) {
          t[k] = _mm256_unpacklo_ps(a[k], a[k + 1]);
          t[k + 1] = _mm256_unpackhi_ps(a[k], a[k + 1]);
        }
        for (int k = 0; k < 8; k += 4) {
          a[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
          a[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
          a[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
          a[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
        }
        float* d = dst + c0 * ds + r0;
        for (int k = 0; k < 4; ++k) {
          _mm256_storeu_ps(d + k * ds, _mm256_permute2f128_ps(a[k], a[k + 4], 0x20));
          _mm256_storeu_ps(d + (k + 4) * ds, _mm256_permute2f128_ps(a[k], a[k + 4], 0x31));
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = (r < r8 ? c8 : 0); c < cols; ++c) dst[c * ds + r] = src[r * ss + c];
  }

  static void copy(float* dst, const float* src, int64_t n) {
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const F a = V::ld(src + i), b = V::ld(src + i + W), c = V::ld(src + i + 2 * W),
              d = V::ld(src + i + 3 * W);
      V::st(dst + i, a);
      V::st(dst + i + W, b);
      V::st(dst + i + 2 * W, c);
      V::st(dst + i + 3 * W, d);
    }
    for (; i < n; i += W) {
      const int c = int(std::min<int64_t>(W, n - i));
      V::stn(dst + i, V::ldn(src + i, c), c);
    }
  }

  static float finite_amax(const float* x, int64_t n) {
    const I absm = V::iset(0x7FFFFFFF), inf = V::iset(0x7F800000);
    // |x| bits below Inf's bits are the finite magnitudes; others count as 0.
    auto fin = [&](F v) {
      const I a = V::iand(V::bits(v), absm);
      return V::keep(V::igt(inf, a), a);
    };
    I m0 = V::izero(), m1 = V::izero(), m2 = V::izero(), m3 = V::izero();
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      m0 = V::imax(m0, fin(V::ld(x + i)));
      m1 = V::imax(m1, fin(V::ld(x + i + W)));
      m2 = V::imax(m2, fin(V::ld(x + i + 2 * W)));
      m3 = V::imax(m3, fin(V::ld(x + i + 3 * W)));
    }
    for (; i < n; i += W) m0 = V::imax(m0, fin(V::ldn(x + i, int(std::min<int64_t>(W, n - i)))));
    m0 = V::imax(V::imax(m0, m1), V::imax(m2, m3));
    return f32_from_bits(V::hmax(m0));
  }

  // Max of |x| bits per block: order-independent, so any lane split gives
  // the scalar kernel's bits for finite blocks and >= 0x7F800000 otherwise.
  // Groups of W whole blocks are reduced together (V::hmax_w transposes W
  // per-block vectors into one vector of W maxima).
  template <int B>
  static void block_amax_t(const float* x, int64_t n, bool acc, uint32_t* amax) {
    static_assert(B % W == 0, "a block is whole vectors");
    const I absm = V::iset(0x7FFFFFFF);
    const int64_t nb = (n + B - 1) / B, full = n / B;
    int64_t b = 0;
    for (; b + W <= full; b += W) {
      I m[W];
      for (int j = 0; j < W; ++j) {
        const float* p = x + (b + j) * B;
        m[j] = V::iand(V::bits(V::ld(p)), absm);
        for (int v = 1; v < B / W; ++v) m[j] = V::imax(m[j], V::iand(V::bits(V::ld(p + v * W)), absm));
      }
      I r = V::hmax_w(m);
      if (acc) r = V::imax(r, V::ildu(amax + b));
      V::ist(amax + b, r);
    }
    for (; b < nb; ++b) {
      const float* p = x + b * B;
      const int64_t rem = n - b * B;
      I m = V::izero();
      for (int v = 0; v * W < rem && v < B / W; ++v) {
        const int c = int(std::min<int64_t>(W, rem - v * W));
        m = V::imax(m, V::iand(V::bits(c == W ? V::ld(p + v * W) : V::ldn(p + v * W, c)), absm));
      }
      const uint32_t r = V::hmax(m);
      amax[b] = (acc && amax[b] > r) ? amax[b] : r;
    }
  }

  static void block_amax(const float* x, int64_t n, int block, bool acc, uint32_t* amax) {
    if (block == 16) return block_amax_t<16>(x, n, acc, amax);
    return block_amax_t<32>(x, n, acc, amax);
  }

  // --------------------------------------------------------------------
  // Element rounding on the integer significand (formats/grid_round.h).
  //
  // u: bits of a = |v| (sign clear). Finite a gives the code magnitude of
  // round_to_grid(a) saturated at MAXCODE; a = Inf gives MAXCODE (callers
  // that must encode Inf/NaN otherwise replace those lanes).
  template <int MBITS, int EMIN, int MAXCODE, Rounding R>
  static I round_code(I u, I k24) {
    const I one = V::iset(1);
    const I raw = V::template isrl<23>(u);
    const I rawc = V::imax(raw, one);  // a = sig * 2^(rawc - 150)
    const I sig = V::isub(u, V::template isll<23>(V::isub(rawc, one)));
    // Biased exponent of the grid step's binade: max(E, emin) + 127. Float
    // subnormals lie below every format's emin, so raw = 0 gives emin.
    const I eb = V::imax(raw, V::iset(EMIN + 127));
    // s = bits of sig below the grid step (>= 16 for every format here).
    I s = V::iadd(V::isub(eb, rawc), V::iset(23 - MBITS));
    I q;
    if (R == Rounding::kStochastic) {
      // n = floor(a / step), t = floor(frac * 2^24), up iff k24 + t >= 2^24.
      // Variable shifts by >= 32 give 0: n = 0 and low = sig, as in the
      // definition; low < 2^24, so low << 8 fits.
      const I n = V::isrlv(sig, s);
      const I low = V::iand(sig, V::isub(V::isllv(one, s), one));
      const I t = V::isrlv(V::template isll<8>(low), V::isub(s, V::iset(16)));
      q = V::iadd(n, V::template isrl<24>(V::iadd(k24, t)));
    } else {
      // Past 25 dropped bits a is below half a step and rounds to 0; 26 keeps
      // that so while every shift below stays under 32.
      s = V::imin(s, V::iset(26));
      const I half = V::isllv(one, V::isub(s, one));
      if (R == Rounding::kNearest) {
        const I odd = V::iand(V::isrlv(sig, s), one);  // ties to even
        q = V::isrlv(V::iadd(V::iadd(sig, V::isub(half, one)), odd), s);
      } else {
        q = V::isrlv(V::iadd(sig, half), s);
      }
    }
    // A normal step: code = ((E - emin + 1) << mbits) + q - 2^mbits, which is
    // ((eb - 127 - emin) << mbits) + q; a subnormal step (eb = emin + 127):
    // code = q. A carry to q = 2^(mbits+1) lands on the next binade's code.
    const I code = V::iadd(V::template isll<MBITS>(V::isub(eb, V::iset(EMIN + 127))), q);
    return V::imin(code, V::iset(MAXCODE));
  }

  // E2M1 code (sign | index) of v under nearest (v not NaN): see the top.
  static I e2m1_code_nearest(F v) {
    const F a = V::abs_min(v, V::fset(kE2M1Max));
    // E' + 127 in {127, 128, 129}; V::e2m1_magic maps it to M' by its low bits.
    const I eb = V::imax(V::template isrl<23>(V::bits(a)), V::iset(127));
    const F t = V::fadd(a, V::flt(V::e2m1_magic(eb)));
    // low 3 bits from t, the sign (bit 31 of v moved to bit 3) from v
    return V::bitsel(V::iset(7), V::bits(t), V::template isrl<28>(V::bits(v)));
  }

  // FP8 (mbits, emin, emax) code magnitude of |v| under nearest, the same
  // way: with a = min(|v|, 2^(emax + 1)) and E' = max(E(a), emin), M' =
  // 2^(E' + 23 - mbits) has ulp 2^(E' - mbits), the grid step at a, and
  // carries (E' - emin) << mbits in its mantissa, so the mantissa of
  // RN(a + M') is ((E' - emin) << mbits) + n: the code (a carry of n lands
  // on the next binade's code; n's parity is the code's, so ties go to the
  // even code). Saturates at MAXCODE; NaN lanes are the caller's.
  template <int MBITS, int EMIN, int EMAX, int MAXCODE>
  static I fp8_code_nearest(F v) {
    const F a = V::abs_min(v, V::fset(exp2_int(EMAX + 1)));
    const I eb = V::imax(V::template isrl<23>(V::bits(a)), V::iset(EMIN + 127));
    const I m = V::iadd(V::iadd(V::template isll<23>(eb), V::template isll<MBITS>(eb)),
                        V::iset(int32_t(((23 - MBITS) << 23) - ((127 + EMIN) << MBITS))));
    const I t = V::bits(V::fadd(a, V::flt(m)));
    return V::imin(V::iand(t, V::iset(0x7FFFFF)), V::iset(MAXCODE));
  }

  // E2M1 index (0..7) of a = |v| under nearest_away (a not NaN).
  static I e2m1_index_away(F a) {
    I idx = V::izero();
    for (float mid : {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f})
      idx = V::inc(V::fge(a, V::fset(mid)), idx);
    return idx;
  }

  // Element code of v (any float) for element type E, rounding R; k24 is
  // used by stochastic rounding only. Matches encode_elem / bf16_encode,
  // including NaN/Inf (E2M1 never sees NaN: the callers mask such blocks).
  template <ElemType E, Rounding R>
  static I encode_elem(F v, I k24) {
    const I vb = V::bits(v);
    const I u = V::iand(vb, V::iset(0x7FFFFFFF));
    const I sign = V::iand(vb, V::iset(int32_t(0x80000000u)));
    if constexpr (E == ElemType::kE2M1) {
      if constexpr (R == Rounding::kNearest) return e2m1_code_nearest(v);
      I idx;
      if constexpr (R == Rounding::kStochastic) idx = round_code<1, 0, 7, R>(u, k24);
      else idx = e2m1_index_away(V::flt(u));
      return V::ior(idx, V::template isrl<28>(sign));
    } else if constexpr (E == ElemType::kE4M3) {
      const I mag = R == Rounding::kNearest ? fp8_code_nearest<3, -6, 8, 0x7E>(v)
                                            : round_code<3, -6, 0x7E, R>(u, k24);
      I c = V::ior(mag, V::template isrl<24>(sign));
      // NaN and +-Inf: the E4M3 NaN 0x7F, no sign (fp8.h).
      return V::sel(V::igt(u, V::iset(0x7F7FFFFF)), V::iset(0x7F), c);
    } else if constexpr (E == ElemType::kE5M2) {
      const I s8 = V::template isrl<24>(sign);
      const I mag = R == Rounding::kNearest ? fp8_code_nearest<2, -14, 15, 0x7B>(v)
                                            : round_code<2, -14, 0x7B, R>(u, k24);
      I c = V::ior(mag, s8);
      c = V::sel(V::ieq(u, V::iset(0x7F800000)), V::ior(s8, V::iset(0x7C)), c);  // +-Inf
      return V::sel(V::igt(u, V::iset(0x7F800000)), V::iset(0x7F), c);          // NaN
    } else {  // BF16
      const I s16 = V::template isrl<16>(sign);
      I c;
      if constexpr (R == Rounding::kNearest) {
        // RNE of the low 16 bits; a carry past the largest finite value
        // reaches 0x7F80 and saturates below.
        const I odd = V::iand(V::template isrl<16>(u), V::iset(1));
        c = V::template isrl<16>(V::iadd(V::iadd(u, V::iset(0x7FFF)), odd));
        c = V::imin(c, V::iset(0x7F7F));
      } else {
        c = round_code<7, -126, 0x7F7F, R>(u, k24);
      }
      c = V::ior(c, s16);
      c = V::sel(V::ieq(u, V::iset(0x7F800000)), V::template isrl<16>(vb), c);  // +-Inf
      return V::sel(V::igt(u, V::iset(0x7F800000)), V::iset(0x7FC0), c);       // NaN
    }
  }

  // Value of a code (exact), as the codecs decode it; NaN codes give the
  // quiet NaN 0x7FC00000.
  template <ElemType E>
  static F decode_elem(I c) {
    if constexpr (E == ElemType::kE2M1) {
      const F mag = V::lut_e2m1(V::iand(c, V::iset(7)));
      return V::flt(V::ior(V::bits(mag), V::template isll<28>(V::iand(c, V::iset(8)))));
    } else if constexpr (E == ElemType::kBf16) {
      return V::flt(V::template isll<16>(c));
    } else {
      constexpr int mb = E == ElemType::kE4M3 ? 3 : 2;
      constexpr int bias = E == ElemType::kE4M3 ? 7 : 15;
      const I mag = V::iand(c, V::iset(0x7F));
      const I normal = V::iadd(V::template isll<23 - mb>(mag), V::iset((127 - bias) << 23));
      const I sub = V::bits(V::fmul(V::cvt(mag), V::fset(exp2_int(1 - bias - mb))));
      I r = V::sel(V::igt(V::iset(1 << mb), mag), sub, normal);
      r = V::ior(r, V::template isll<24>(V::iand(c, V::iset(0x80))));
      if constexpr (E == ElemType::kE4M3) {
        r = V::sel(V::ieq(mag, V::iset(0x7F)), V::iset(int32_t(kQNaN)), r);
      } else {
        r = V::sel(V::ieq(mag, V::iset(0x7C)),
                   V::ior(V::iset(0x7F800000), V::template isll<24>(V::iand(c, V::iset(0x80)))), r);
        r = V::sel(V::igt(mag, V::iset(0x7C)), V::iset(int32_t(kQNaN)), r);
      }
      return V::flt(r);
    }
  }

  // --------------------------------------------------------------------
  // Philox4x32-10 (util/counter_rng.h), W counters at a time.

  static void philox(I& c0, I& c1, I& c2, I& c3, uint64_t seed) {
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      I hi0, lo0, hi1, lo1;
      V::mulhilo(c0, kPhiloxM0, hi0, lo0);
      V::mulhilo(c2, kPhiloxM1, hi1, lo1);
      const I n0 = V::xor3(hi1, c1, V::iset(int32_t(k0)));
      const I n2 = V::xor3(hi0, c3, V::iset(int32_t(k1)));
      c0 = n0;
      c1 = lo1;
      c2 = n2;
      c3 = lo0;
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
  }

  static constexpr int kSub = 256;                // elements per refill of random words
  static constexpr int kK24Buf = kSub + 8 * W + 8;  // words a refill may write

  // k24 of elements s0 .. s0 + sn - 1 of a piece (sn <= kSub): returns p with
  // p[i] the value for element s0 + i.
  static const uint32_t* fill_k24(uint64_t seed, FlatIndex idx, int64_t s0, int64_t sn,
                                  uint32_t* buf) {
    if (idx.step == 1) {
      // Consecutive indices: each Philox block gives the words of 4 of them.
      const uint64_t f = uint64_t(idx.first + s0);
      const uint64_t q0 = f >> 2, q1 = (f + uint64_t(sn) - 1) >> 2;
      alignas(64) uint32_t iota[W];
      for (int j = 0; j < W; ++j) iota[j] = uint32_t(j);
      const I lanes = V::ildu(iota);
      const I flip = V::iset(int32_t(0x80000000u));
      for (uint64_t q = q0; q <= q1; q += W) {
        const I lo = V::iset(int32_t(uint32_t(q)));
        I c0 = V::iadd(lo, lanes);
        // carry into the high word where the low word wrapped (unsigned c0 < lo)
        const M carry = V::igt(V::ixor(lo, flip), V::ixor(c0, flip));
        I c1 = V::isub(V::iset(int32_t(uint32_t(q >> 32))), V::keep(carry, V::iset(-1)));
        I c2 = V::izero(), c3 = V::izero();  // stream 0
        philox(c0, c1, c2, c3, seed);
        V::transpose4(c0, c1, c2, c3);  // now in index order: 4W consecutive words
        uint32_t* dst = buf + (q - q0) * 4;
        V::ist(dst, V::template isrl<8>(c0));
        V::ist(dst + W, V::template isrl<8>(c1));
        V::ist(dst + 2 * W, V::template isrl<8>(c2));
        V::ist(dst + 3 * W, V::template isrl<8>(c3));
      }
      return buf + (f & 3);
    }
    // Strided indices (axis not last): one block per element, its word picked.
    for (int64_t i = 0; i < sn; i += W) {
      alignas(64) uint32_t lo[W], hi[W], w[W];
      for (int j = 0; j < W; ++j) {
        const uint64_t e = uint64_t(idx.first + (s0 + i + j) * idx.step);
        lo[j] = uint32_t(e >> 2);
        hi[j] = uint32_t(e >> 34);
        w[j] = uint32_t(e & 3);
      }
      I c0 = V::ildu(lo), c1 = V::ildu(hi), c2 = V::izero(), c3 = V::izero();
      philox(c0, c1, c2, c3, seed);
      const I wv = V::ildu(w);
      I word = V::sel(V::ieq(wv, V::iset(2)), c2, c3);
      word = V::sel(V::ieq(wv, V::iset(1)), c1, word);
      word = V::sel(V::ieq(wv, V::izero()), c0, word);
      V::ist(buf + i, V::template isrl<8>(word));
    }
    return buf;
  }

  // --------------------------------------------------------------------
  // Block scales.

  template <ElemType E>
  static void scales_mx(const KernelParams& p, const uint32_t* amax, int64_t nb, uint8_t* sc,
                        BlockAux aux) {
    constexpr int mb = E == ElemType::kE2M1 ? 1 : (E == ElemType::kE4M3 ? 3 : 2);
    constexpr int emax = E == ElemType::kE2M1 ? 2 : (E == ElemType::kE4M3 ? 8 : 15);
    // significand bits of m / 2^emax: 1.5 (E2M1), 1.75 (E4M3, E5M2)
    constexpr int limit = E == ElemType::kE2M1 ? 0x400000 : 0x600000;
    for (int64_t b = 0; b < nb; b += W) {
      const int cnt = int(std::min<int64_t>(W, nb - b));
      const I a = cnt == W ? V::ildu(amax + b) : V::ildn(amax + b, cnt);
      const M nonfinite = V::igt(a, V::iset(0x7F7FFFFF));
      const M zero = V::ieq(a, V::izero());
      I u = a;
      if (p.rule == ScaleRule::kEven)  // round half up to mb mantissa bits
        u = V::iand(V::iadd(a, V::iset(1 << (22 - mb))), V::iset(~((1 << (23 - mb)) - 1)));
      // e + 127 = E(amax) + 127 - emax (+1): the raw exponent does it, and a
      // float-subnormal amax (raw 0) lands below 0, clamped to code 0.
      const I raw = V::template isrl<23>(u);
      const I frac = V::iand(u, V::iset(0x7FFFFF));
      I code = V::isub(raw, V::iset(emax));
      if (p.rule == ScaleRule::kCeil) code = V::inc(V::igt(frac, V::izero()), code);
      if (p.rule == ScaleRule::kRceil) code = V::inc(V::igt(frac, V::iset(limit)), code);
      code = V::imin(V::imax(code, V::izero()), V::iset(254));
      // 2^-e has exponent field 254 - code (>= 1: code <= 253 for finite amax).
      I enc = V::template isll<23>(V::isub(V::iset(254), code));
      enc = V::sel(V::mor(nonfinite, zero), V::izero(), enc);
      I dec = V::sel(V::ieq(code, V::izero()), V::iset(0x00400000), V::template isll<23>(code));
      dec = V::sel(nonfinite, V::iset(int32_t(kQNaN)), dec);
      code = V::sel(nonfinite, V::iset(0xFF), code);
      store_aux(sc + b, aux.enc + b, aux.dec + b, code, V::flt(enc), V::flt(dec), cnt);
    }
  }

  static void scales_nv(const KernelParams& p, const uint32_t* amax, int64_t nb, uint8_t* sc,
                        BlockAux aux) {
    for (int64_t b = 0; b < nb; b += W) {
      const int cnt = int(std::min<int64_t>(W, nb - b));
      const I a = cnt == W ? V::ildu(amax + b) : V::ildn(amax + b, cnt);
      const M nonfinite = V::igt(a, V::iset(0x7F7FFFFF));
      // E4M3_RNE(min(RN(amax * RN(s_enc * RN(1/6))), 448)), amax finite >= 0
      const F v = V::fmin(V::fmul(V::flt(a), V::fset(p.nv_sf)), V::fset(448.0f));
      I code = fp8_code_nearest<3, -6, 8, 0x7E>(v);
      F S = decode_elem<ElemType::kE4M3>(code);
      F enc = V::fdiv(V::fset(1.0f), V::fmul(S, V::fset(p.s_dec)));
      enc = V::fsel(V::feq(S, V::fset(0.0f)), V::fset(0.0f), enc);
      const F nan = V::flt(V::iset(int32_t(kQNaN)));
      enc = V::fsel(nonfinite, nan, enc);
      S = V::fsel(nonfinite, nan, S);
      code = V::sel(nonfinite, V::iset(0x7F), code);
      store_aux(sc + b, aux.enc + b, aux.dec + b, code, enc, S, cnt);
    }
  }

  static void store_aux(uint8_t* sc, float* enc, float* dec, I code, F e, F d, int cnt) {
    if (cnt == W) {
      V::st_bytes(sc, code);
      V::st(enc, e);
      V::st(dec, d);
    } else {
      uint8_t tmp[W];
      V::st_bytes(tmp, code);
      std::memcpy(sc, tmp, size_t(cnt));
      V::stn(enc, e, cnt);
      V::stn(dec, d, cnt);
    }
  }

  static void block_scales(const KernelParams& p, const uint32_t* amax, int64_t nb, uint8_t* sc,
                           BlockAux aux) {
    switch (p.format) {
      case Format::kNvfp4: return scales_nv(p, amax, nb, sc, aux);
      case Format::kMxfp8E4M3: return scales_mx<ElemType::kE4M3>(p, amax, nb, sc, aux);
      case Format::kMxfp8E5M2: return scales_mx<ElemType::kE5M2>(p, amax, nb, sc, aux);
      default: return scales_mx<ElemType::kE2M1>(p, amax, nb, sc, aux);
    }
  }

  // --------------------------------------------------------------------
  // Packed code I/O (cnt < W: partial, through a small buffer).

  template <ElemType E>
  static void store_codes(uint8_t* out, int64_t o, I c, int cnt) {
    if constexpr (E == ElemType::kE2M1) {
      uint8_t* p = out + o / 2;  // o is even
      if (cnt == W) return V::st_nibbles(p, c);
      uint8_t tmp[W / 2];
      V::st_nibbles(tmp, c);
      const int nbytes = (cnt + 1) / 2;
      if (cnt & 1) tmp[nbytes - 1] &= 0x0F;  // odd count: the pad nibble is 0
      std::memcpy(p, tmp, size_t(nbytes));
    } else if constexpr (E == ElemType::kBf16) {
      uint8_t* p = out + 2 * o;
      if (cnt == W) return V::st_u16(p, c);
      uint8_t tmp[2 * W];
      V::st_u16(tmp, c);
      std::memcpy(p, tmp, size_t(2 * cnt));
    } else {
      uint8_t* p = out + o;
      if (cnt == W) return V::st_bytes(p, c);
      uint8_t tmp[W];
      V::st_bytes(tmp, c);
      std::memcpy(p, tmp, size_t(cnt));
    }
  }

  template <ElemType E>
  static I load_codes(const uint8_t* in, int64_t o, int cnt) {
    if constexpr (E == ElemType::kE2M1) {
      const uint8_t* p = in + o / 2;
      if (cnt == W) return V::ld_nibbles(p);
      uint8_t tmp[W / 2] = {};
      std::memcpy(tmp, p, size_t((cnt + 1) / 2));
      return V::ld_nibbles(tmp);
    } else if constexpr (E == ElemType::kBf16) {
      const uint8_t* p = in + 2 * o;
      if (cnt == W) return V::ld_u16(p);
      uint8_t tmp[2 * W] = {};
      std::memcpy(tmp, p, size_t(2 * cnt));
      return V::ld_u16(tmp);
    } else {
      const uint8_t* p = in + o;
      if (cnt == W) return V::ld_bytes(p);
      uint8_t tmp[W] = {};
      std::memcpy(tmp, p, size_t(cnt));
      return V::ld_bytes(tmp);
    }
  }

  // --------------------------------------------------------------------
  // Encode.

  static constexpr int block_of(Kind k) {
    return k == Kind::kMx ? kBlockMx : (k == Kind::kNv ? kBlockNv : 0);
  }

  // The constants and per-block factors one encode loop uses.
  struct EncodeCtx {
    const float* x;
    uint8_t* codes;
    float* values;
    F pv, ts, sdec;
  };

  // Encodes the cnt (<= W) elements at o: block factors enc / dec / keep,
  // random integers k24 (stochastic rounding). Out: bit 0 writes packed
  // codes, bit 1 decoded values.
  template <Kind K, ElemType E, Rounding R, bool HasP, int Out>
  static inline __attribute__((always_inline)) void encode_vec(const EncodeCtx& c, int64_t o,
                                                               int cnt, F enc, F dec, M keep,
                                                               I k24) {
    const F xv = cnt == W ? V::ld(c.x + o) : V::ldn(c.x + o, cnt);
    I code;
    if constexpr (K == Kind::kMx) {
      F v = V::fmul(xv, enc);
      if (HasP) v = V::fmul(v, c.pv);
      code = V::keep(keep, encode_elem<E, R>(v, k24));
    } else if constexpr (K == Kind::kNv) {
      // A zero element stays zero where enc overflowed (0 * Inf).
      F v = V::mul_keep_zero(xv, enc);
      if (HasP) v = V::fmul(v, c.pv);
      // clamp to [-6, 6] (E2M1 nearest clamps |v| itself)
      if (R != Rounding::kNearest)
        v = V::fmin(V::fmax(v, V::fset(-kE2M1Max)), V::fset(kE2M1Max));
      code = V::keep(keep, encode_elem<E, R>(v, k24));
    } else if constexpr (K == Kind::kTensor) {
      F v = V::fmul(xv, c.ts);
      if (HasP) v = V::fmul(v, c.pv);
      code = encode_elem<E, R>(v, k24);
    } else {
      code = encode_elem<E, R>(xv, k24);
    }
    if constexpr ((Out & 1) != 0) store_codes<E>(c.codes, o, code, cnt);
    if constexpr ((Out & 2) != 0) {
      const F y = value_of<K, E>(code, dec, c.ts, c.sdec, HasP, c.pv);
      if (cnt == W) V::st(c.values + o, y);
      else V::stn(c.values + o, y, cnt);
    }
  }

  template <Kind K>
  static inline void block_factors(const BlockAux& aux, int64_t o, F& enc, F& dec, M& keep) {
    if constexpr (block_of(K) != 0) {
      const int64_t b = o / block_of(K);
      enc = V::fset(aux.enc[b]);
      dec = V::fset(aux.dec[b]);
      // MX: enc = 0 marks all-zero / non-finite blocks; NVFP4: enc NaN.
      keep = K == Kind::kMx ? V::fne(enc, V::fset(0.0f)) : V::feq(enc, enc);
    }
  }

  // The last, partial vector of a piece (kept out of the hot loop).
  template <Kind K, ElemType E, Rounding R, bool HasP, int Out>
  static __attribute__((noinline)) void encode_tail(const EncodeCtx& c, const BlockAux& aux,
                                                    int64_t o, int cnt, const uint32_t* k24) {
    F enc = V::fset(1.0f), dec = V::fset(1.0f);
    M keep{};
    block_factors<K>(aux, o, enc, dec, keep);
    const I k = R == Rounding::kStochastic ? V::ildu(k24) : V::izero();
    encode_vec<K, E, R, HasP, Out>(c, o, cnt, enc, dec, keep, k);
  }

  template <Kind K, ElemType E, Rounding R, bool HasP, int Out>
  static __attribute__((noinline)) void encode_t(const KernelParams& p, const float* x, int64_t n,
                                                 BlockAux aux, FlatIndex idx, uint8_t* codes,
                                                 float* values) {
    constexpr int B = block_of(K);
    constexpr int G = B ? B : W;  // elements sharing one block's factors
    constexpr bool kSr = R == Rounding::kStochastic;
    static_assert(kSub % G == 0, "random refills start on a block");
    const EncodeCtx c{x, codes, values, V::fset(p.prescale), V::fset(p.tensor_scale),
                      V::fset(p.s_dec)};
    alignas(64) uint32_t kbuf[kSr ? kK24Buf : 1];
    const uint32_t* kp = nullptr;
    const int64_t full = n - n % W;      // elements in whole vectors
    const int64_t sub = kSr ? kSub : n;  // random words are drawn kSub at a time
    for (int64_t s0 = 0; s0 < n; s0 += sub) {
      const int64_t s1 = std::min<int64_t>(n, s0 + sub), f1 = std::min(s1, full);
      if (kSr) kp = fill_k24(p.seed, idx, s0, s1 - s0, kbuf);
      for (int64_t g = s0; g < f1; g += G) {
        F enc = V::fset(1.0f), dec = V::fset(1.0f);
        M keep{};
        block_factors<K>(aux, g, enc, dec, keep);
        const int64_t gend = std::min<int64_t>(g + G, f1);
        for (int64_t o = g; o < gend; o += W) {
          const I k24 = kSr ? V::ildu(kp + (o - s0)) : V::izero();
          encode_vec<K, E, R, HasP, Out>(c, o, W, enc, dec, keep, k24);
        }
      }
      if (s1 > f1)
        encode_tail<K, E, R, HasP, Out>(c, aux, f1, int(s1 - f1), kSr ? kp + (f1 - s0) : nullptr);
    }
  }

  // Dequantized value of a code (decode_mx / decode_nv / decode_tensor / bf16).
  template <Kind K, ElemType E>
  static F value_of(I code, F dec, F ts, F sdec, bool has_p, F pv) {
    F y = decode_elem<E>(code);
    if constexpr (K == Kind::kMx) {
      y = V::fmul(y, dec);
    } else if constexpr (K == Kind::kNv) {
      y = V::fmul(V::fmul(y, dec), sdec);
    } else if constexpr (K == Kind::kTensor) {
      y = V::fdiv(y, ts);
    } else {
      (void)dec;
      (void)ts;
      (void)sdec;
      return y;
    }
    if (has_p) y = V::fdiv(y, pv);
    return y;
  }

  template <Kind K, ElemType E>
  static void decode_t(const KernelParams& p, const uint8_t* codes, int64_t n,
                       const uint8_t* scales, float* values) {
    constexpr int B = block_of(K);
    const bool has_p = p.prescale != 1.0f;
    const F pv = V::fset(p.prescale);
    const F ts = V::fset(p.tensor_scale);
    const F sdec = V::fset(p.s_dec);
    for (int64_t o = 0; o < n; o += W) {
      const int cnt = int(std::min<int64_t>(W, n - o));
      const I code = load_codes<E>(codes, o, cnt);
      F dec = V::fset(1.0f);
      if constexpr (K == Kind::kMx) {
        const uint8_t s = scales[o / B];
        dec = V::fset(f32_from_bits(s == 0xFF ? kQNaN : (s == 0 ? 0x00400000u : uint32_t(s) << 23)));
      } else if constexpr (K == Kind::kNv) {
        dec = V::fset(e4m3_decode(scales[o / B]));
      }
      const F y = value_of<K, E>(code, dec, ts, sdec, has_p, pv);
      if (cnt == W) V::st(values + o, y);
      else V::stn(values + o, y, cnt);
    }
  }

  // --------------------------------------------------------------------
  // Dispatch on format and rounding (once per row piece).

  template <Kind K, ElemType E, Rounding R, bool HasP>
  static void encode_o(const KernelParams& p, const float* x, int64_t n, BlockAux aux,
                       FlatIndex idx, uint8_t* codes, float* values) {
    if (codes && values) return encode_t<K, E, R, HasP, 3>(p, x, n, aux, idx, codes, values);
    if (codes) return encode_t<K, E, R, HasP, 1>(p, x, n, aux, idx, codes, values);
    if (values) return encode_t<K, E, R, HasP, 2>(p, x, n, aux, idx, codes, values);
  }

  template <Kind K, ElemType E, Rounding R>
  static void encode_p(const KernelParams& p, const float* x, int64_t n, BlockAux aux,
                       FlatIndex idx, uint8_t* codes, float* values) {
    // x * 1 == x for every value that reaches a code, so HasP only saves work.
    if (K != Kind::kBf16 && p.prescale != 1.0f)
      return encode_o<K, E, R, K != Kind::kBf16>(p, x, n, aux, idx, codes, values);
    return encode_o<K, E, R, false>(p, x, n, aux, idx, codes, values);
  }

  template <Kind K, ElemType E>
  static void encode_r(const KernelParams& p, const float* x, int64_t n, const uint8_t* sc,
                       BlockAux aux, FlatIndex idx, uint8_t* codes, float* values) {
    (void)sc;  // the block factors are in aux
    switch (p.rounding) {
      case Rounding::kNearest:
        return encode_p<K, E, Rounding::kNearest>(p, x, n, aux, idx, codes, values);
      case Rounding::kNearestAway:
        return encode_p<K, E, Rounding::kNearestAway>(p, x, n, aux, idx, codes, values);
      case Rounding::kStochastic:
        return encode_p<K, E, Rounding::kStochastic>(p, x, n, aux, idx, codes, values);
    }
  }

  static void encode(const KernelParams& p, const float* x, int64_t n, const uint8_t* sc,
                     BlockAux aux, FlatIndex idx, uint8_t* codes, float* values) {
    switch (p.format) {
      case Format::kMxfp4:
        return encode_r<Kind::kMx, ElemType::kE2M1>(p, x, n, sc, aux, idx, codes, values);
      case Format::kNvfp4:
        return encode_r<Kind::kNv, ElemType::kE2M1>(p, x, n, sc, aux, idx, codes, values);
      case Format::kMxfp8E4M3:
        return encode_r<Kind::kMx, ElemType::kE4M3>(p, x, n, sc, aux, idx, codes, values);
      case Format::kMxfp8E5M2:
        return encode_r<Kind::kMx, ElemType::kE5M2>(p, x, n, sc, aux, idx, codes, values);
      case Format::kFp8E4M3:
        return encode_r<Kind::kTensor, ElemType::kE4M3>(p, x, n, sc, aux, idx, codes, values);
      case Format::kFp8E5M2:
        return encode_r<Kind::kTensor, ElemType::kE5M2>(p, x, n, sc, aux, idx, codes, values);
      case Format::kBf16:
        return encode_r<Kind::kBf16, ElemType::kBf16>(p, x, n, sc, aux, idx, codes, values);
      case Format::kFp32: return;  // the pipeline copies fp32 itself
    }
  }

  static void decode(const KernelParams& p, const uint8_t* codes, int64_t n, const uint8_t* sc,
                     float* values) {
    switch (p.format) {
      case Format::kMxfp4: return decode_t<Kind::kMx, ElemType::kE2M1>(p, codes, n, sc, values);
      case Format::kNvfp4: return decode_t<Kind::kNv, ElemType::kE2M1>(p, codes, n, sc, values);
      case Format::kMxfp8E4M3: return decode_t<Kind::kMx, ElemType::kE4M3>(p, codes, n, sc, values);
      case Format::kMxfp8E5M2: return decode_t<Kind::kMx, ElemType::kE5M2>(p, codes, n, sc, values);
      case Format::kFp8E4M3: return decode_t<Kind::kTensor, ElemType::kE4M3>(p, codes, n, sc, values);
      case Format::kFp8E5M2: return decode_t<Kind::kTensor, ElemType::kE5M2>(p, codes, n, sc, values);
      case Format::kBf16: return decode_t<Kind::kBf16, ElemType::kBf16>(p, codes, n, sc, values);
      case Format::kFp32: return;
    }
  }
};
