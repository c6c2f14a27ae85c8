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
// - axis not last, or 2-D tiles: work items are a band of storage rows (up
//   to kBand neighbouring columns of the array, or one tile height) times a
//   piece of the axis; strided bands are gathered with an 8x8-blocked SIMD
//   transpose into a per-thread buffer (contiguous tiles are read in place),
//   a tile's rows share one amax and one scale per block, and
//   fake-quantized values are transposed back.
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
constexpr int64_t kBand = 64;          // storage rows gathered together when the axis is not last
constexpr int64_t kGrainElems = 16384; // least work per parallel chunk

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
      const Bands bs = bands();
      slots(bs.items());
      parallel_for(bs.items(), 1, [&](int64_t b, int64_t e) {
        Scratch s(bs.width * bs.piece, 0);
        float m = 0.0f;
        for (int64_t it = b; it < e; ++it)
          for_item(bs, it, s, [&](const Item& w) {
            for (int64_t j = 0; j < w.g; ++j) m = std::max(m, K.finite_amax(w.row(j), w.n));
          });
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

  // Strided axis or 2-D tiles. Work items are (band, piece): a band is a run
  // of consecutive storage rows (up to kBand, or one tile height) of one
  // outer index, so element l of its rows is contiguous in x; a piece is a
  // range of whole blocks along the axis (whole rows when a transform has no
  // run). Items go piece-major, so neighbouring items read the same pages.
  struct Bands {
    int64_t width;      // rows per band (the last of an outer index may be short)
    int64_t per_outer;  // bands per outer index
    int64_t count;      // bands in all
    int64_t piece;      // elements per piece
    int64_t pieces;     // pieces per row
    int64_t items() const { return count * pieces; }
  };

  Bands bands() const {
    Bands b;
    b.width = L.block_2d ? L.block : std::min(kBand, L.inner);
    // Tiles group storage rows r / block: bands must not restart per outer
    // index (tiles only exist for 2-D arrays: outer == 1 or inner == 1).
    b.per_outer = L.block_2d ? 0 : (L.inner + b.width - 1) / b.width;
    b.count = L.block_2d ? (L.rows + b.width - 1) / b.width : L.outer * b.per_outer;
    // Whole rows when a transform has no run, and for tiles read in place
    // (long streams per row prefetch best; a tile row-run of a 2-D array
    // is block rows); else pieces that keep the band's buffer in L2.
    const bool whole = (transform && run_len <= 0) || (L.inner == 1 && !transform);
    b.piece = whole ? std::max<int64_t>(L.length, 1) : piece_length();
    b.pieces = (L.length + b.piece - 1) / b.piece;
    return b;
  }

  struct Item {
    int64_t band, r0, g, l0, n;
    const float* rows[kBand];  // element l0 + k of row r0 + j is rows[j][k]
    float* buf;                // the gathered copy (null when read in place)
    const float* row(int64_t j) const { return rows[j]; }
  };

  // Gathers (when the rows are strided or transformed) item `it` into s.buf
  // and calls fn(item).
  template <class Fn>
  void for_item(const Bands& bs, int64_t it, Scratch& s, Fn&& fn) const {
    Item w;
    w.band = it % bs.count;
    const int64_t p = it / bs.count;
    if (L.block_2d) {
      w.r0 = w.band * bs.width;
    } else {
      const int64_t o = w.band / bs.per_outer, i0 = (w.band % bs.per_outer) * bs.width;
      w.r0 = o * L.inner + i0;
    }
    const int64_t i0 = w.r0 % L.inner;
    w.g = L.block_2d ? std::min(bs.width, L.rows - w.r0) : std::min(bs.width, L.inner - i0);
    w.l0 = p * bs.piece;
    w.n = std::min(bs.piece, L.length - w.l0);
    const bool gather = L.inner > 1 || transform;
    w.buf = gather ? s.buf.data() : nullptr;
    if (L.inner > 1) {
      // x[o, l0 + k, i0 + j] -> buf[j * n + k]
      const float* src = x + (w.r0 / L.inner) * L.length * L.inner + w.l0 * L.inner + i0;
      K.transpose(src, L.inner, w.buf, w.n, w.n, w.g);
    } else if (gather) {
      for (int64_t j = 0; j < w.g; ++j) K.copy(w.buf + j * w.n, x + (w.r0 + j) * L.length + w.l0, w.n);
    }
    if (transform)
      for (int64_t j = 0; j < w.g; ++j) (*transform)(w.buf + j * w.n, w.n);
    for (int64_t j = 0; j < w.g; ++j)
      w.rows[j] = gather ? w.buf + j * w.n : x + (w.r0 + j) * L.length + w.l0;
    fn(static_cast<const Item&>(w));
  }

  void run_groups(const KernelParams& P, QTensor* qt, float* out) const {
    const Bands bs = bands();
    const int64_t pblocks = L.block ? (bs.piece + L.block - 1) / L.block : 0;
    parallel_for(bs.items(), 1, [&](int64_t b, int64_t e) {
      Scratch s(bs.width * bs.piece, pblocks);
      for (int64_t it = b; it < e; ++it)
        for_item(bs, it, s, [&](const Item& w) {
          // Values go straight to `out` for contiguous rows; strided rows are
          // decoded over their gathered copy (each element is read before
          // it is overwritten) and scattered after.
          auto values = [&](int64_t j) -> float* {
            if (!out) return nullptr;
            return L.inner == 1 ? out + (w.r0 + j) * L.length + w.l0 : w.buf + j * w.n;
          };
          if (L.block_2d) {
            const int64_t nb = (w.n + L.block - 1) / L.block;
            for (int64_t j = 0; j < w.g; ++j) K.block_amax(w.row(j), w.n, L.block, j > 0, s.amax.data());
            uint8_t* sc = qt ? qt->scales.data() + w.band * L.nblocks + w.l0 / L.block : s.sc.data();
            K.block_scales(P, s.amax.data(), nb, sc, s.aux());
            for (int64_t j = 0; j < w.g; ++j) {
              const int64_t r = w.r0 + j;
              uint8_t* codes = qt ? qt->codes.data() + r * L.row_bytes + w.l0 * bits() / 8 : nullptr;
              K.encode(P, w.row(j), w.n, sc, s.aux(), FlatIndex{L.flat_index(r, w.l0), L.inner}, codes,
                       values(j));
            }
          } else {
            for (int64_t j = 0; j < w.g; ++j)
              encode_piece(P, s, w.row(j), w.n, w.r0 + j, w.l0, qt, values(j));
          }
          if (out && L.inner > 1) {
            // buf[j * n + k] -> out[o, l0 + k, i0 + j]
            float* dst = out + (w.r0 / L.inner) * L.length * L.inner + w.l0 * L.inner + w.r0 % L.inner;
            K.transpose(w.buf, w.n, dst, L.inner, w.g, w.n);
          }
        });
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
  const int bits = elem_traits(format_traits(q.spec.format).elem).bits;
  auto decode = [&](int64_t r, int64_t l0, int64_t n, float* dst) {
    const uint8_t* crow = q.codes + r * L.row_bytes + l0 * bits / 8;
    if (q.spec.format == Format::kFp32) {
      std::memcpy(dst, crow, sizeof(float) * size_t(n));
      return;
    }
    const uint8_t* srow =
        L.block ? q.scales + (L.block_2d ? r / L.block : r) * L.nblocks + l0 / L.block : nullptr;
    K.decode(P, crow, n, srow, dst);
  };
  if (L.inner == 1) {  // rows straight into out
    parallel_for(L.rows, std::max<int64_t>(1, kGrainElems / L.length), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) decode(r, 0, L.length, out + r * L.length);
    });
    return;
  }
  // Strided: bands of rows (one outer index) x pieces, decoded to a buffer
  // and transposed out, piece-major as in quantize.
  const int64_t width = std::min(kBand, L.inner), per_outer = (L.inner + width - 1) / width;
  const int64_t count = L.outer * per_outer, pieces = (L.length + kPiece - 1) / kPiece;
  parallel_for(count * pieces, 1, [&](int64_t b, int64_t e) {
    std::vector<float> buf(size_t(width * kPiece));
    for (int64_t it = b; it < e; ++it) {
      const int64_t band = it % count, l0 = (it / count) * kPiece;
      const int64_t o = band / per_outer, i0 = (band % per_outer) * width;
      const int64_t g = std::min(width, L.inner - i0), n = std::min(kPiece, L.length - l0);
      for (int64_t j = 0; j < g; ++j) decode(o * L.inner + i0 + j, l0, n, buf.data() + j * n);
      K.transpose(buf.data(), n, out + o * L.length * L.inner + l0 * L.inner + i0, L.inner, g, n);
    }
  });
}

}  // namespace fp4train
