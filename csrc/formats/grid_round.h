// Rounding of a float32 magnitude onto a minifloat grid, exactly.
//
// Every element format here (E2M1, E4M3, E5M2, BF16) is a grid of the form
// n * 2^(max(E, emin) - mbits): `mbits` mantissa bits, smallest normal
// exponent `emin`, E = floor(log2 |v|). Rounding works on the integer
// significand of the float32, so no step of it rounds: docs/NUMERICS.md §1, §3.
#pragma once
#include <cstdint>

#include "formats/float_bits.h"
#include "formats/formats.h"

namespace fp4train {

// Rounds a finite a >= 0 onto the grid (mbits, emin) and saturates at `max`.
// k24 is a uniform 24-bit integer, used only by Rounding::kStochastic, which
// computes floor(a / step + k24 / 2^24) exactly: it rounds up iff
// k24 + floor(frac(a / step) * 2^24) >= 2^24.
inline float round_to_grid(float a, int mbits, int emin, float max, Rounding rounding,
                           uint32_t k24) {
  const uint32_t u = f32_bits(a);
  if (u == 0) return 0.0f;
  const int raw = int(u >> 23);
  // a = sig * 2^(lsb_exp), sig < 2^24
  const uint32_t sig = raw ? ((u & 0x7FFFFFu) | 0x800000u) : u;
  const int lsb_exp = (raw ? raw : 1) - 150;
  const int e = f32_exponent(a);
  const int step_exp = (e > emin ? e : emin) - mbits;
  const int s = step_exp - lsb_exp;  // bits of sig below the grid step
  if (s <= 0) return a > max ? max : a;  // already on the grid
  // n = floor(a / step); low = the s dropped bits (sig < 2^24, so s >= 25 drops all).
  const uint32_t n = s < 32 ? sig >> s : 0u;
  const uint64_t low = s < 32 ? (sig & ((1u << s) - 1u)) : sig;
  bool up = false;
  switch (rounding) {
    case Rounding::kNearest: {
      if (s <= 25) {
        const uint64_t half = uint64_t(1) << (s - 1);
        up = low > half || (low == half && (n & 1u));
      }
      break;
    }
    case Rounding::kNearestAway:
      if (s <= 25) up = low >= (uint64_t(1) << (s - 1));
      break;
    case Rounding::kStochastic: {
      // t = floor(frac * 2^24), frac = low / 2^s
      const uint64_t t = s <= 24 ? low << (24 - s) : (s - 24 < 64 ? low >> (s - 24) : 0);
      up = ((uint64_t(k24) + t) >> 24) != 0;
      break;
    }
  }
  const uint32_t q = n + (up ? 1u : 0u);
  // q * 2^step_exp is exact: q <= 2^(mbits+1) and step_exp >= emin - mbits >= -133.
  float r = float(q) * exp2_int(step_exp < -149 ? -149 : step_exp);
  if (step_exp < -149) r = 0.0f;  // cannot happen for the formats above (emin - mbits >= -133)
  return r > max ? max : r;
}

// Rounds a finite float to the element grid of `e` with sign restored
// (-0 stays -0). NaN/Inf are the caller's business (block or codec level).
inline float round_elem(float v, ElemType e, Rounding rounding, uint32_t k24) {
  const ElemTraits& t = elem_traits(e);
  const float a = f32_from_bits(f32_bits(v) & 0x7FFFFFFFu);
  const float r = round_to_grid(a, t.mbits, t.emin, t.max, rounding, k24);
  return f32_from_bits(f32_bits(r) | (f32_bits(v) & 0x80000000u));
}

// The 24-bit uniform integer stochastic rounding uses from a 32-bit word.
inline uint32_t k24_of(uint32_t word) { return word >> 8; }

}  // namespace fp4train
