// The quantization pipeline around the row kernels of quant_kernels.h.
//
// Per call: pick the kernel set of active_isa() once; for formats with a
// tensor scale, a first pass takes the finite amax (of the transformed
// tensor, when there is a transform); then every storage row is encoded:
//
// - axis last, 1-D blocks (the common case): rows are read in place, in
//   pieces of kPiece elements (whole blocks): block amax -> scales -> encode
//   of one piece while it sits in L1, codes and scales written straight
//   into the QTensor, fake-quantized values straight into `out`. With a
//   transform, each piece is first copied to a small buffer and transformed
//   there (pieces are multiples of the transform's run when it has one,
//   else whole rows); no whole-tensor temporary exists.
// - axis not last, or 2-D tiles: groups of rows (16, or one tile height)
//   are gathered (a blocked transpose for strided axes; in place for
//   contiguous tiles without a transform), a tile's rows share one amax
//   and one scale per block, and fake-quantized values are scattered back.
//
// OpenMP splits rows (or row groups) only; every element is computed by the
// same kernel whatever the split, so results never depend on the thread
// count. The kernels never depend on the ISA for their bits either.
#include "quant/quantize.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "quant/quant_kernels.h"
#include "quant/scale_rules.h"
#include "util/check.h"
#include "util/parallel.h"

namespace fp4train {

using quant_detail::BlockAux;
using quant_detail::FlatIndex;
using quant_detail::KernelParams;
using quant_detail::QuantKernels;

namespace {

constexpr int64_t kPiece = 512;        // elements per row piece: whole blocks, fits L1
constexpr int64_t kStridedGroup = 16;  // rows gathered together when the axis is not last
constexpr int64_t kGrainElems = 16384; // least work per parallel chunk

// Storage rows handled together: a whole tile row-run with 2-D tiles, and a
// few rows when the axis is not last so that the gather reads contiguous runs.
int64_t group_rows(const QLayout& L) {
  if (L.block_2d) return L.block;
  return L.inner > 1 ? kStridedGroup : 1;
}

const float* row_start(const float* x, const QLayout& L, int64_t r) {
  return x + (r / L.inner) * L.length * L.inner + r % L.inner;
}

// Copies rows [r0, r0 + g) into buf (g x length), transforming each. Strided
// rows are copied in tiles of kTile elements so that the cache lines a tile
// reads serve all g rows (neighbouring rows are neighbouring columns).
void gather_rows(const float* x, const QLayout& L, int64_t r0, int64_t g, float* buf,
                 const RowTransform* transform) {
  if (L.inner == 1) {
    for (int64_t j = 0; j < g; ++j)
      std::memcpy(buf + j * L.length, row_start(x, L, r0 + j), sizeof(float) * size_t(L.length));
  } else {
    constexpr int64_t kTile = 64;
    const int64_t s = L.inner;
    for (int64_t l0 = 0; l0 < L.length; l0 += kTile) {
      const int64_t l1 = std::min(L.length, l0 + kTile);
      for (int64_t j = 0; j < g; ++j) {
        const float* src = row_start(x, L, r0 + j);
        float* dst = buf + j * L.length;
        for (int64_t l = l0; l < l1; ++l) dst[l] = src[l * s];
      }
    }
  }
  if (transform)
    for (int64_t j = 0; j < g; ++j) (*transform)(buf + j * L.length, L.length);
}

void scatter_rows(const float* buf, const QLayout& L, int64_t r0, int64_t g, float* out) {
  if (L.inner == 1) {
    for (int64_t j = 0; j < g; ++j)
      std::memcpy(out + (r0 + j) * L.length, buf + j * L.length, sizeof(float) * size_t(L.length));
    return;
  }
  constexpr int64_t kTile = 64;
  const int64_t s = L.inner;
  for (int64_t l0 = 0; l0 < L.length; l0 += kTile) {
    const int64_t l1 = std::min(L.length, l0 + kTile);
    for (int64_t j = 0; j < g; ++j) {
      const int64_t r = r0 + j;
      float* dst = out + (r / L.inner) * L.length * L.inner + r % L.inner;
      const float* src = buf + j * L.length;
      for (int64_t l = l0; l < l1; ++l) dst[l * s] = src[l];
    }
  }
}

KernelParams make_params(const QuantSpec& spec, float tensor_scale) {
  const FormatTraits& ft = format_traits(spec.format);
  KernelParams p;
  p.format = spec.format;
  p.elem = ft.elem;
  p.block = ft.block;
  p.rule = spec.scale_rule;
  p.rounding = spec.rounding;
  p.prescale = spec.prescale;
  p.tensor_scale = tensor_scale;
  p.s_dec = 1.0f / tensor_scale;               // NVFP4 s_dec = RN(1 / s_enc)
  p.nv_sf = tensor_scale * (1.0f / 6.0f);       // RN(s_enc * RN(1/6)), scale_rules.h
  p.seed = spec.seed;
  return p;
}

// Per-thread working memory, sized once per parallel chunk.
struct Scratch {
  std::vector<float> buf;  // gathered / transformed rows
  std::vector<uint32_t> amax;
  std::vector<float> enc, dec;
  std::vector<uint8_t> sc;
  Scratch(int64_t buf_floats, int64_t blocks) {
    buf.resize(size_t(buf_floats));
    const size_t nb = size_t(blocks) + 16;  // slack for whole-vector tails
    amax.resize(nb);
    enc.resize(nb);
    dec.resize(nb);
    sc.resize(nb);
  }
  BlockAux aux() { return BlockAux{enc.data(), dec.data()}; }
};

struct Pipeline {
  const float* x;
  const QLayout& L;
  const QuantSpec& spec;
  const RowTransform* transform;
  int64_t run_len;  // the transform acts on runs of this many elements (0: whole rows)
  const QuantKernels& K;

  int bits() const { return elem_traits(format_traits(spec.format).elem).bits; }

  // Row piece length on the contiguous path: whole blocks (an even count for
  // element formats, so FP4 codes start on a byte) and whole transform runs.
  int64_t piece_length() const {
    if (transform && run_len <= 0) return std::max<int64_t>(L.length, 1);
    const int64_t unit = L.block ? L.block : 2;
    const int64_t u = transform ? std::lcm(unit, run_len) : unit;
    return ((std::max(kPiece, u) + u - 1) / u) * u;
  }

  // Encodes the n elements p[0..n) of storage row r starting at element l0
  // (a block boundary): scales and codes into qt, values into `values`.
  void encode_piece(const KernelParams& P, Scratch& s, const float* p, int64_t n, int64_t r,
                    int64_t l0, QTensor* qt, float* values) const {
    uint8_t* codes = qt ? qt->codes.data() + r * L.row_bytes + l0 * bits() / 8 : nullptr;
    if (spec.format == Format::kFp32) {  // identity: the bits, copied
      if (codes) std::memcpy(codes, p, sizeof(float) * size_t(n));
      if (values && values != p) std::memmove(values, p, sizeof(float) * size_t(n));
      return;
    }
    uint8_t* sc = nullptr;
    if (L.block) {
      const int64_t nb = (n + L.block - 1) / L.block;
      K.block_amax(p, n, L.block, false, s.amax.data());
      sc = qt ? qt->scales.data() + r * L.nblocks + l0 / L.block : s.sc.data();
      K.block_scales(P, s.amax.data(), nb, sc, s.aux());
    }
    K.encode(P, p, n, sc, s.aux(), FlatIndex{L.flat_index(r, l0), L.inner}, codes, values);
  }

  // Calls fn(p, l0, n) for the pieces of contiguous row r, transformed.
  template <class Fn>
  void for_each_piece(Scratch& s, int64_t r, int64_t piece, Fn&& fn) const {
    const float* src = x + r * L.length;
    for (int64_t l0 = 0; l0 < L.length; l0 += piece) {
      const int64_t n = std::min(piece, L.length - l0);
      const float* p = src + l0;
      if (transform) {
        K.copy(s.buf.data(), p, n);
        (*transform)(s.buf.data(), n);
        p = s.buf.data();
      }
      fn(p, l0, n);
    }
  }

  // Largest finite magnitude of the (transformed) tensor; max is exact, so
  // any split gives the same value.
  float tensor_amax() const {
    const int64_t n = L.numel();
    if (n == 0) return 0.0f;
    // One slot per work item; a chunk [b, e) writes slot b only.
    std::vector<float> partial;
    auto slots = [&](int64_t items) { partial.assign(size_t(items), 0.0f); };
    if (!transform) {
      // Only the values matter, not their order: one pass over the array.
      const int64_t chunk = 65536, chunks = (n + chunk - 1) / chunk;
      slots(chunks);
      parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
        float m = 0.0f;
        for (int64_t c = b; c < e; ++c)
          m = std::max(m, K.finite_amax(x + c * chunk, std::min(chunk, n - c * chunk)));
        partial[size_t(b)] = m;
      });
    } else if (L.inner == 1 && !L.block_2d) {
      const int64_t piece = piece_length();
      slots(L.rows);
      parallel_for(L.rows, std::max<int64_t>(1, kGrainElems / L.length), [&](int64_t b, int64_t e) {
        Scratch s(piece, 0);
        float m = 0.0f;
        for (int64_t r = b; r < e; ++r)
          for_each_piece(s, r, piece, [&](const float* p, int64_t, int64_t len) {
            m = std::max(m, K.finite_amax(p, len));
          });
        partial[size_t(b)] = m;
      });
    } else {
      const int64_t G = group_rows(L), groups = (L.rows + G - 1) / G;
      slots(groups);
      parallel_for(groups, std::max<int64_t>(1, kGrainElems / (G * L.length)),
                   [&](int64_t b, int64_t e) {
        Scratch s(G * L.length, 0);
        float m = 0.0f;
        for (int64_t grp = b; grp < e; ++grp) {
          const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
          gather_rows(x, L, r0, g, s.buf.data(), transform);
          m = std::max(m, K.finite_amax(s.buf.data(), g * L.length));
        }
        partial[size_t(b)] = m;
      });
    }
    float m = 0.0f;
    for (float a : partial) m = std::max(m, a);
    return m;
  }

  // Axis last, 1-D blocks: rows in place, piece by piece.
  void run_rows(const KernelParams& P, QTensor* qt, float* out) const {
    const int64_t piece = piece_length();
    const int64_t pblocks = L.block ? (piece + L.block - 1) / L.block : 0;
    parallel_for(L.rows, std::max<int64_t>(1, kGrainElems / L.length), [&](int64_t b, int64_t e) {
      Scratch s(transform ? piece : 0, pblocks);
      for (int64_t r = b; r < e; ++r)
        for_each_piece(s, r, piece, [&](const float* p, int64_t l0, int64_t n) {
          encode_piece(P, s, p, n, r, l0, qt, out ? out + r * L.length + l0 : nullptr);
        });
    });
  }

  // Strided axis or 2-D tiles: groups of rows, gathered unless they can be
  // read in place.
  void run_groups(const KernelParams& P, QTensor* qt, float* out) const {
    const int64_t G = group_rows(L), groups = (L.rows + G - 1) / G;
    const bool gather = L.inner > 1 || transform;
    const int64_t pblocks = L.block ? (kPiece + L.block - 1) / L.block : 0;
    parallel_for(groups, std::max<int64_t>(1, kGrainElems / (G * L.length)),
                 [&](int64_t gb, int64_t ge) {
      Scratch s(gather ? G * L.length : 0, std::max(L.nblocks, pblocks));
      std::vector<const float*> rowp(static_cast<size_t>(G));
      for (int64_t grp = gb; grp < ge; ++grp) {
        const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
        if (gather) gather_rows(x, L, r0, g, s.buf.data(), transform);
        for (int64_t j = 0; j < g; ++j)
          rowp[size_t(j)] = gather ? s.buf.data() + j * L.length : x + (r0 + j) * L.length;
        // Values go straight to `out` for contiguous rows; strided rows are
        // decoded over their gathered copy (each element is read before it
        // is overwritten) and scattered after.
        auto values = [&](int64_t j) -> float* {
          if (!out) return nullptr;
          return L.inner == 1 ? out + (r0 + j) * L.length : s.buf.data() + j * L.length;
        };
        if (L.block_2d && spec.format != Format::kFp32) {
          for (int64_t j = 0; j < g; ++j)
            K.block_amax(rowp[size_t(j)], L.length, L.block, j > 0, s.amax.data());
          uint8_t* sc = qt ? qt->scales.data() + grp * L.nblocks : s.sc.data();
          K.block_scales(P, s.amax.data(), L.nblocks, sc, s.aux());
          for (int64_t j = 0; j < g; ++j) {
            const int64_t r = r0 + j;
            K.encode(P, rowp[size_t(j)], L.length, sc, s.aux(), FlatIndex{L.flat_index(r, 0), L.inner},
                     qt ? qt->codes.data() + r * L.row_bytes : nullptr, values(j));
          }
        } else {
          for (int64_t j = 0; j < g; ++j) {
            float* vals = values(j);
            for (int64_t l0 = 0; l0 < L.length; l0 += kPiece) {
              const int64_t n = std::min(kPiece, L.length - l0);
              encode_piece(P, s, rowp[size_t(j)] + l0, n, r0 + j, l0, qt, vals ? vals + l0 : nullptr);
            }
          }
        }
        if (out && L.inner > 1) scatter_rows(s.buf.data(), L, r0, g, out);
      }
    });
  }

  void run(QTensor* qt, float* out) const {
    const FormatTraits& ft = format_traits(spec.format);
    float ts = 1.0f;
    if (ft.tensor_scale) {
      const float m = spec.format == Format::kNvfp4 ? kNvfp4TensorMax : elem_traits(ft.elem).max;
      ts = tensor_encode_scale(tensor_amax(), m);
    }
    if (qt) qt->tensor_scale = ts;
    if (L.numel() == 0) return;
    const KernelParams P = make_params(spec, ts);
    if (L.inner == 1 && !L.block_2d) run_rows(P, qt, out);
    else run_groups(P, qt, out);
  }
};

}  // namespace

void quantize_into(QTensor& q, const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, const RowTransform* transform, int64_t transform_run) {
  QLayout L = make_layout(shape, axis, spec);
  FP4_CHECK(x != nullptr || L.numel() == 0, "x", "missing data");
  FP4_CHECK(transform_run >= 0, "transform_run", "expected a run length >= 0");
  q.spec = spec;
  q.layout = std::move(L);
  // The pipeline writes every code byte (FP4 pad nibbles included) and every
  // scale byte, so storage of the right size needs no clearing.
  q.codes.resize(size_t(q.layout.codes_bytes()));
  q.scales.resize(size_t(q.layout.scales_bytes()));
  q.tensor_scale = 1.0f;
  const QuantKernels& K = quant_detail::quant_kernels(active_isa());
  Pipeline{x, q.layout, spec, transform, transform_run, K}.run(&q, nullptr);
}

QTensor quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                 const QuantSpec& spec, const RowTransform* transform, int64_t transform_run) {
  QTensor q;
  quantize_into(q, x, shape, axis, spec, transform, transform_run);
  return q;
}

QTensor quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                 const QuantSpec& spec, const RowTransform* transform) {
  return quantize(x, shape, axis, spec, transform, 0);
}

void fake_quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, float* out, const RowTransform* transform,
                   int64_t transform_run) {
  const QLayout L = make_layout(shape, axis, spec);
  FP4_CHECK(x != nullptr || L.numel() == 0, "x", "missing data");
  FP4_CHECK(out != nullptr || L.numel() == 0, "out", "missing buffer");
  FP4_CHECK(transform_run >= 0, "transform_run", "expected a run length >= 0");
  const QuantKernels& K = quant_detail::quant_kernels(active_isa());
  Pipeline{x, L, spec, transform, transform_run, K}.run(nullptr, out);
}

void fake_quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, float* out, const RowTransform* transform) {
  fake_quantize(x, shape, axis, spec, out, transform, 0);
}

void dequantize(const QTensorView& q, float* out) {
  validate_view(q);
  const QLayout& L = q.layout;
  if (L.numel() == 0) return;
  const QuantKernels& K = quant_detail::quant_kernels(active_isa());
  const KernelParams P = make_params(q.spec, q.tensor_scale);
  const int64_t G = L.inner > 1 ? kStridedGroup : 1, groups = (L.rows + G - 1) / G;
  parallel_for(groups, std::max<int64_t>(1, kGrainElems / (G * L.length)),
               [&](int64_t gb, int64_t ge) {
    std::vector<float> buf(L.inner > 1 ? size_t(G * L.length) : 0);
    for (int64_t grp = gb; grp < ge; ++grp) {
      const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
      for (int64_t j = 0; j < g; ++j) {
        const int64_t r = r0 + j;
        const uint8_t* crow = q.codes + r * L.row_bytes;
        float* dst = L.inner == 1 ? out + r * L.length : buf.data() + j * L.length;
        if (q.spec.format == Format::kFp32) {
          std::memcpy(dst, crow, sizeof(float) * size_t(L.length));
          continue;
        }
        const uint8_t* srow =
            L.block ? q.scales + (L.block_2d ? r / L.block : r) * L.nblocks : nullptr;
        K.decode(P, crow, L.length, srow, dst);
      }
      if (L.inner > 1) scatter_rows(buf.data(), L, r0, g, out);
    }
  });
}

}  // namespace fp4train
