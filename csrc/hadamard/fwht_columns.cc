// fwht_columns: the FWHT down the columns of a strided tile (see fwht.h).
//
// Stage h pairs tile rows j and j + h; each pair of rows is combined column
// by column, so every element sees exactly fwht_ref's sequence: forward
// sign multiply (folded into stage 1, which also reads src), the stages in
// order h = 1, 2, 4, ..., the scale multiply and the inverse sign multiply
// (both folded into the last stage). Folding and cache blocking change where
// and when a result is computed, never which float32 operations produce it.
#include "hadamard/fwht.h"

namespace fp4train {

namespace {

constexpr int kChunkRows = 64;

// One butterfly of two tile rows: (a, b) -> (a + b, a - b), with the
// optional sign multiply on the inputs and scale and sign multiply on the
// outputs. Templated so the loops stay branch-free and vectorize.
template <bool kSignIn, bool kScaleOut, bool kSignOut>
void butterfly(const float* ia, const float* ib, float* oa, float* ob, int64_t width, float sa,
               float sb, float scale, float ta, float tb) {
  for (int64_t c = 0; c < width; ++c) {
    float u = ia[c], v = ib[c];
    if (kSignIn) {
      u = u * sa;
      v = v * sb;
    }
    float x = u + v, y = u - v;
    if (kScaleOut) {
      x = x * scale;
      y = y * scale;
    }
    if (kSignOut) {
      x = x * ta;
      y = y * tb;
    }
    oa[c] = x;
    ob[c] = y;
  }
}

}  // namespace

namespace {

struct Tile {
  const float* src;
  float* dst;
  int64_t width, stride;
  int n;
  const float* sf;  // forward signs (applied on stage 1's inputs) or null
  const float* si;  // inverse signs (applied on the last stage's outputs) or null
  float scale;
};

// One stage of the run starting at tile row `base`, on the "virtual run" of
// m rows voff, voff + rs, voff + 2 rs, ... (rows relative to base); hv is
// the pair distance in virtual rows, hv * rs in real rows.
void stage(const Tile& t, int64_t base, int64_t voff, int64_t rs, int64_t m, int64_t hv) {
  const int64_t h = hv * rs;
  const bool first = h == 1, last = 2 * h == t.n;
  const float* in = first ? t.src : t.dst;
  const bool sign_in = first && t.sf, sign_out = last && t.si;
  for (int64_t g = 0; g < m; g += 2 * hv) {
    for (int64_t k = g; k < g + hv; ++k) {
      const int64_t ja = voff + k * rs, jb = ja + h;
      const int64_t ra = (base + ja) * t.stride, rb = (base + jb) * t.stride;
      const float* ia = in + ra;
      const float* ib = in + rb;
      float* oa = t.dst + ra;
      float* ob = t.dst + rb;
      const float sa = sign_in ? t.sf[ja] : 1.0f, sb = sign_in ? t.sf[jb] : 1.0f;
      const float ta = sign_out ? t.si[ja] : 1.0f, tb = sign_out ? t.si[jb] : 1.0f;
      const int64_t w = t.width;
      const float sc = t.scale;
      // sign_in and sign_out never meet: one of sf, si is null.
      if (sign_in && last) {
        butterfly<true, true, false>(ia, ib, oa, ob, w, sa, sb, sc, ta, tb);
      } else if (sign_in) {
        butterfly<true, false, false>(ia, ib, oa, ob, w, sa, sb, sc, ta, tb);
      } else if (last && sign_out) {
        butterfly<false, true, true>(ia, ib, oa, ob, w, sa, sb, sc, ta, tb);
      } else if (last) {
        butterfly<false, true, false>(ia, ib, oa, ob, w, sa, sb, sc, ta, tb);
      } else {
        butterfly<false, false, false>(ia, ib, oa, ob, w, sa, sb, sc, ta, tb);
      }
    }
  }
}

// All stages of a virtual run of m rows, cache-blocked: writing its row
// index as k = q * kChunkRows + r, the stages below kChunkRows only mix rows
// with the same q and the larger ones only rows with the same r. So every
// chunk of kChunkRows consecutive rows first takes the small stages while it
// is in cache, then each set of rows sharing r (a virtual run of
// m / kChunkRows rows, kChunkRows apart) takes the large ones, recursively.
// Each element still sees the stages in the order h = 1, 2, 4, ...
void transform(const Tile& t, int64_t base, int64_t voff, int64_t rs, int64_t m) {
  if (m <= kChunkRows) {
    for (int64_t hv = 1; hv < m; hv *= 2) stage(t, base, voff, rs, m, hv);
    return;
  }
  for (int64_t q = 0; q < m; q += kChunkRows) transform(t, base, voff + q * rs, rs, kChunkRows);
  for (int64_t r = 0; r < kChunkRows; ++r)
    transform(t, base, voff + r * rs, rs * kChunkRows, m / kChunkRows);
}

}  // namespace

void fwht_columns(const float* src, float* dst, int64_t length, int64_t width, int64_t stride,
                  int n, const float* signs, bool inverse) {
  const Tile t{src, dst, width, stride, n, inverse ? nullptr : signs, inverse ? signs : nullptr,
               hadamard_scale(n)};
  for (int64_t base = 0; base + n <= length; base += n) transform(t, base, 0, 1, n);
}

}  // namespace fp4train
