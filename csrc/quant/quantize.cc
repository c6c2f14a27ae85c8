// The quantization pipeline: row groups are gathered into a contiguous
// buffer, optionally transformed, scaled and encoded block by block, then
// either packed (quantize) or decoded and scattered back (fake_quantize).
#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/bf16.h"
#include "quant/element_codec.h"
#include "quant/scale_rules.h"
#include "util/check.h"
#include "util/counter_rng.h"
#include "util/parallel.h"

namespace fp4train {

namespace {

// Storage rows handled together: a whole tile row-run with 2-D tiles, and a
// few rows when the axis is not last so that the gather reads contiguous runs.
int64_t group_rows(const QLayout& L) {
  if (L.block_2d) return L.block;
  return L.inner > 1 ? 16 : 1;
}

// Copies rows [r0, r0 + g) into buf (g x length), transforming each.
void gather_rows(const float* x, const QLayout& L, int64_t r0, int64_t g, float* buf,
                 const RowTransform* transform) {
  for (int64_t j = 0; j < g; ++j) {
    const int64_t r = r0 + j;
    const float* src = x + (r / L.inner) * L.length * L.inner + r % L.inner;
    float* dst = buf + j * L.length;
    if (L.inner == 1) {
      std::memcpy(dst, src, sizeof(float) * size_t(L.length));
    } else {
      for (int64_t l = 0; l < L.length; ++l) dst[l] = src[l * L.inner];
    }
    if (transform) (*transform)(dst, L.length);
  }
}

void scatter_rows(const float* buf, const QLayout& L, int64_t r0, int64_t g, float* out) {
  for (int64_t j = 0; j < g; ++j) {
    const int64_t r = r0 + j;
    float* dst = out + (r / L.inner) * L.length * L.inner + r % L.inner;
    const float* src = buf + j * L.length;
    if (L.inner == 1) {
      std::memcpy(dst, src, sizeof(float) * size_t(L.length));
    } else {
      for (int64_t l = 0; l < L.length; ++l) dst[l * L.inner] = src[l];
    }
  }
}

// 24-bit stochastic-rounding integers of storage row r (flat logical indices).
void row_random(const QLayout& L, uint64_t seed, int64_t r, uint32_t* k24) {
  if (L.inner == 1) {
    random_bits_range(seed, kStreamQuantize, uint64_t(r * L.length), L.length, k24);
  } else {
    for (int64_t l = 0; l < L.length; ++l)
      k24[l] = random_bits(seed, kStreamQuantize, uint64_t(L.flat_index(r, l)));
  }
  for (int64_t l = 0; l < L.length; ++l) k24[l] = k24_of(k24[l]);
}

// Largest magnitude of x[0..n), or NaN when any element is NaN or Inf.
float block_amax(const float* x, int64_t n) {
  float amax = 0.0f;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    finite = finite && a <= 3.40282347e38f;
    amax = a > amax ? a : amax;
  }
  return finite ? amax : std::nanf("");
}

// Largest finite magnitude (per-tensor scales ignore NaN/Inf).
float finite_amax(const float* x, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a <= 3.40282347e38f && a > amax) amax = a;
  }
  return amax;
}

// Largest finite magnitude of the (transformed) tensor, deterministic: max is exact.
float tensor_amax(const float* x, const QLayout& L, const RowTransform* transform) {
  if (!transform) {
    // Only the values matter, not their order: one pass over the whole array.
    const int64_t n = L.numel();
    std::vector<float> partial(size_t(std::max<int64_t>(1, (n + 65535) / 65536)), 0.0f);
    parallel_for(int64_t(partial.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const int64_t lo = c * 65536, hi = std::min(n, lo + 65536);
        partial[size_t(c)] = finite_amax(x + lo, hi - lo);
      }
    });
    return *std::max_element(partial.begin(), partial.end());
  }
  const int64_t G = group_rows(L), groups = (L.rows + G - 1) / G;
  std::vector<float> partial(size_t(std::max<int64_t>(groups, 1)), 0.0f);
  parallel_for(groups, 1, [&](int64_t b, int64_t e) {
    std::vector<float> buf(size_t(G * L.length));
    for (int64_t grp = b; grp < e; ++grp) {
      const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
      gather_rows(x, L, r0, g, buf.data(), transform);
      partial[size_t(grp)] = finite_amax(buf.data(), g * L.length);
    }
  });
  return *std::max_element(partial.begin(), partial.end());
}

// Whether elements [lo, lo + n) of `rows` rows (row stride `stride`) are all +-0.
bool all_zero(const float* x, int64_t stride, int64_t rows, int64_t lo, int64_t n) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t i = lo; i < lo + n; ++i)
      if (x[j * stride + i] != 0.0f) return false;
  return true;
}

// Everything needed to encode one row group of a scaled format.
struct GroupCodec {
  const QLayout& L;
  const QuantSpec& spec;
  ElemType elem;
  float tensor_scale;  // s_enc (NVFP4) or s (FP8), else 1
  float s_dec;         // NVFP4 decode scale RN(1 / s_enc)

  // Scale bytes for the group: scale[j * nblocks + b] for row j (1-D), or
  // scale[b] for the tile run (2-D).
  void scales(const float* buf, int64_t g, uint8_t* out) const {
    const Format f = spec.format;
    const int64_t B = L.block;
    const int64_t srows = L.block_2d ? 1 : g;
    for (int64_t j = 0; j < srows; ++j) {
      for (int64_t b = 0; b < L.nblocks; ++b) {
        const int64_t lo = b * B, n = std::min(B, L.length - lo);
        float amax = 0.0f;
        const int64_t rows_in = L.block_2d ? g : 1;
        for (int64_t t = 0; t < rows_in; ++t) {
          const float a = block_amax(buf + (j + t) * L.length + lo, n);
          amax = (a != a || amax != amax) ? std::nanf("") : std::max(amax, a);
        }
        out[j * L.nblocks + b] = f == Format::kNvfp4 ? nvfp4_scale_code(amax, tensor_scale)
                                                     : mx_scale_code(amax, elem, spec.scale_rule);
      }
    }
  }

  // Unpacked codes of the group (g x length), given its scales.
  void encode(const float* buf, int64_t g, const uint8_t* sc, const uint32_t* k24,
              uint8_t* codes) const {
    const Format f = spec.format;
    for (int64_t j = 0; j < g; ++j) {
      const float* row = buf + j * L.length;
      uint8_t* crow = codes + j * L.length;
      const uint32_t* krow = k24 ? k24 + j * L.length : nullptr;
      if (L.block == 0) {
        encode_block_tensor(row, int(L.length), tensor_scale, elem, spec.rounding, spec.prescale,
                            krow, crow);
        continue;
      }
      const uint8_t* srow = sc + (L.block_2d ? 0 : j * L.nblocks);
      for (int64_t b = 0; b < L.nblocks; ++b) {
        const int64_t lo = b * L.block;
        const int n = int(std::min<int64_t>(L.block, L.length - lo));
        const uint32_t* kb = krow ? krow + lo : nullptr;
        if (f == Format::kNvfp4) {
          encode_block_nv(row + lo, n, srow[b], s_dec, spec.rounding, spec.prescale, kb, crow + lo);
        } else {
          // All-zero test over the whole block: all g rows of a 2-D tile.
          const bool zero_block =
              srow[b] == 0 && (L.block_2d ? all_zero(buf, L.length, g, lo, n)
                                          : all_zero(row, L.length, 1, lo, n));
          encode_block_mx(row + lo, n, srow[b], zero_block, elem, spec.rounding, spec.prescale,
                          kb, crow + lo);
        }
      }
    }
  }

  float decode(uint8_t c, uint8_t scale_code) const {
    if (L.block == 0) return decode_tensor(c, tensor_scale, elem, spec.prescale);
    if (spec.format == Format::kNvfp4) return decode_nv(c, scale_code, s_dec, spec.prescale);
    return decode_mx(c, scale_code, elem, spec.prescale);
  }
};

float nvfp4_s_dec(float s_enc) { return 1.0f / s_enc; }

// Per-element formats (bf16, fp32): encode a row of values to codes.
void encode_row_elementwise(const float* row, int64_t n, Format f, Rounding r,
                            const uint32_t* k24, uint8_t* out) {
  if (f == Format::kFp32) {
    std::memcpy(out, row, sizeof(float) * size_t(n));
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t c = bf16_encode(row[i], r, k24 ? k24[i] : 0u);
    out[2 * i] = uint8_t(c);
    out[2 * i + 1] = uint8_t(c >> 8);
  }
}

float decode_elementwise(const uint8_t* row, int64_t i, Format f) {
  if (f == Format::kFp32) {
    float v;
    std::memcpy(&v, row + 4 * i, 4);
    return v;
  }
  return bf16_decode(uint16_t(row[2 * i] | (row[2 * i + 1] << 8)));
}

void pack_row(const uint8_t* codes, int64_t n, int bits, uint8_t* out) {
  if (bits == 8) {
    std::memcpy(out, codes, size_t(n));
    return;
  }
  for (int64_t i = 0; i + 1 < n; i += 2) out[i >> 1] = uint8_t(codes[i] | (codes[i + 1] << 4));
  if (n & 1) out[n >> 1] = codes[n - 1];
}

uint8_t unpack_code(const uint8_t* row, int64_t i, int bits) {
  return bits == 8 ? row[i] : e2m1_get(row, i);
}

// Runs the pipeline. With `out_codes` it packs into a QTensor; with
// `out_values` it decodes into a float array (fake quantization).
struct Pipeline {
  const float* x;
  const QLayout& L;
  const QuantSpec& spec;
  const RowTransform* transform;

  void run(QTensor* qt, float* out_values) const {
    const FormatTraits& ft = format_traits(spec.format);
    const bool elementwise = !is_block_quantized(spec.format);
    GroupCodec codec{L, spec, ft.elem, 1.0f, 1.0f};
    if (ft.tensor_scale) {
      const float amax = tensor_amax(x, L, transform);
      const float m = spec.format == Format::kNvfp4 ? kNvfp4TensorMax : elem_traits(ft.elem).max;
      codec.tensor_scale = tensor_encode_scale(amax, m);
      codec.s_dec = nvfp4_s_dec(codec.tensor_scale);
    }
    if (qt) qt->tensor_scale = codec.tensor_scale;
    const bool stochastic = spec.rounding == Rounding::kStochastic && spec.format != Format::kFp32;
    const int bits = elem_traits(ft.elem).bits;
    const int64_t G = group_rows(L), groups = (L.rows + G - 1) / G;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, G * L.length));
    parallel_for(groups, grain, [&](int64_t gb, int64_t ge) {
      std::vector<float> buf(size_t(G * L.length));
      std::vector<uint8_t> codes(elementwise ? size_t(L.row_bytes * G) : size_t(G * L.length));
      std::vector<uint8_t> sc(size_t(G * L.nblocks));
      std::vector<uint32_t> k24(stochastic ? size_t(G * L.length) : 0);
      for (int64_t grp = gb; grp < ge; ++grp) {
        const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
        gather_rows(x, L, r0, g, buf.data(), transform);
        if (stochastic)
          for (int64_t j = 0; j < g; ++j)
            row_random(L, spec.seed, r0 + j, k24.data() + j * L.length);
        const uint32_t* kp = stochastic ? k24.data() : nullptr;
        if (elementwise) {
          for (int64_t j = 0; j < g; ++j) {
            const float* row = buf.data() + j * L.length;
            uint8_t* dst = qt ? qt->codes.data() + (r0 + j) * L.row_bytes : codes.data() + j * L.row_bytes;
            encode_row_elementwise(row, L.length, spec.format, spec.rounding,
                                   kp ? kp + j * L.length : nullptr, dst);
            if (out_values)
              for (int64_t l = 0; l < L.length; ++l)
                buf[size_t(j * L.length + l)] = decode_elementwise(dst, l, spec.format);
          }
        } else {
          if (L.block) codec.scales(buf.data(), g, sc.data());
          codec.encode(buf.data(), g, sc.data(), kp, codes.data());
          if (qt) {
            const int64_t srow0 = L.block_2d ? grp : r0;
            const int64_t srows = L.block_2d ? 1 : g;
            if (L.block)
              std::memcpy(qt->scales.data() + srow0 * L.nblocks, sc.data(),
                          size_t(srows * L.nblocks));
            for (int64_t j = 0; j < g; ++j)
              pack_row(codes.data() + j * L.length, L.length, bits,
                       qt->codes.data() + (r0 + j) * L.row_bytes);
          }
          if (out_values) {
            for (int64_t j = 0; j < g; ++j) {
              const uint8_t* srow = sc.data() + (L.block_2d ? 0 : j * L.nblocks);
              for (int64_t l = 0; l < L.length; ++l) {
                const uint8_t s = L.block ? srow[l / L.block] : 0;
                buf[size_t(j * L.length + l)] = codec.decode(codes[size_t(j * L.length + l)], s);
              }
            }
          }
        }
        if (out_values) scatter_rows(buf.data(), L, r0, g, out_values);
      }
    });
  }
};

}  // namespace

QTensor quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                 const QuantSpec& spec, const RowTransform* transform) {
  QTensor q;
  q.spec = spec;
  q.layout = make_layout(shape, axis, spec);
  q.codes.assign(size_t(q.layout.codes_bytes()), 0);
  q.scales.assign(size_t(q.layout.scales_bytes()), 0);
  FP4_CHECK(x != nullptr || q.layout.numel() == 0, "x", "missing data");
  Pipeline{x, q.layout, spec, transform}.run(&q, nullptr);
  return q;
}

void fake_quantize(const float* x, const std::vector<int64_t>& shape, int axis,
                   const QuantSpec& spec, float* out, const RowTransform* transform) {
  const QLayout L = make_layout(shape, axis, spec);
  FP4_CHECK(x != nullptr || L.numel() == 0, "x", "missing data");
  Pipeline{x, L, spec, transform}.run(nullptr, out);
}

void dequantize(const QTensorView& q, float* out) {
  validate_view(q);
  const QLayout& L = q.layout;
  const FormatTraits& ft = format_traits(q.spec.format);
  const int bits = elem_traits(ft.elem).bits;
  GroupCodec codec{L, q.spec, ft.elem, q.tensor_scale, 1.0f / q.tensor_scale};
  const int64_t G = group_rows(L), groups = (L.rows + G - 1) / G;
  parallel_for(groups, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, G * L.length)),
               [&](int64_t gb, int64_t ge) {
    std::vector<float> buf(size_t(G * L.length));
    for (int64_t grp = gb; grp < ge; ++grp) {
      const int64_t r0 = grp * G, g = std::min(G, L.rows - r0);
      for (int64_t j = 0; j < g; ++j) {
        const int64_t r = r0 + j;
        const uint8_t* crow = q.codes + r * L.row_bytes;
        float* dst = buf.data() + j * L.length;
        if (!is_block_quantized(q.spec.format)) {
          for (int64_t l = 0; l < L.length; ++l) dst[l] = decode_elementwise(crow, l, q.spec.format);
          continue;
        }
        const uint8_t* srow =
            L.block ? q.scales + (L.block_2d ? r / L.block : r) * L.nblocks : nullptr;
        for (int64_t l = 0; l < L.length; ++l)
          dst[l] = codec.decode(unpack_code(crow, l, bits), srow ? srow[l / L.block] : 0);
      }
      scatter_rows(buf.data(), L, r0, g, out);
    }
  });
}

}  // namespace fp4train
