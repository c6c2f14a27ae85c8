// Names and traits of every element, scale and block format (DESIGN §2).
//
// A Format is what a user asks for ("mxfp4", "nvfp4", ...): an element type,
// a block size along the quantization axis, a block-scale type and whether a
// per-tensor FP32 scale exists. The tables here are the single source of
// those facts; the Python names in fp4train.FORMATS mirror kFormatNames.
#pragma once
#include <cstdint>
#include <string>

namespace fp4train {

enum class ElemType : uint8_t { kE2M1, kE4M3, kE5M2, kBf16, kFp32 };
enum class ScaleType : uint8_t { kNone, kE8M0, kE4M3 };
enum class Format : uint8_t {
  kMxfp4, kNvfp4, kMxfp8E4M3, kMxfp8E5M2, kFp8E4M3, kFp8E5M2, kBf16, kFp32
};
enum class ScaleRule : uint8_t { kFloor, kRceil, kCeil, kEven };
enum class Rounding : uint8_t { kNearest, kNearestAway, kStochastic };

constexpr int kNumFormats = 8;
constexpr int kBlockMx = 32;   // OCP MX v1.0 block
constexpr int kBlockNv = 16;   // NVFP4 block (and 16x16 tile)
constexpr int kVirtualBlock = 32;  // K chunk of per-tensor formats in qgemm

// Element format: the facts the rounding and the codecs need.
struct ElemTraits {
  const char* name;
  int bits;       // storage bits per element
  int mbits;      // explicit mantissa bits
  int emin;       // exponent of the smallest normal value
  int emax;       // exponent of the largest finite value
  float max;      // largest finite value
};

// Block format: what fp4train.quantize(x, name) produces.
struct FormatTraits {
  const char* name;
  ElemType elem;
  int block;           // elements per block along the axis; 0 = no block scales
  ScaleType scale;     // block scale type
  bool tensor_scale;   // has an FP32 per-tensor scale
};

// name, bits, mbits, emin, emax, max. Inline so that per-element rounding
// code sees constants (an out-of-line lookup per element cost ~2x).
inline constexpr ElemTraits kElemTraits[] = {
    {"e2m1", 4, 1, 0, 2, 6.0f},
    {"e4m3", 8, 3, -6, 8, 448.0f},
    {"e5m2", 8, 2, -14, 15, 57344.0f},
    {"bf16", 16, 7, -126, 127, 3.38953139e38f},
    {"fp32", 32, 23, -126, 127, 3.40282347e38f},
};
constexpr const ElemTraits& elem_traits(ElemType e) { return kElemTraits[int(e)]; }
const FormatTraits& format_traits(Format f);

inline bool has_block_scales(Format f) { return format_traits(f).block > 0; }
inline bool is_fp4(Format f) { return format_traits(f).elem == ElemType::kE2M1; }
// Formats whose qgemm runs on exact integer block products.
inline bool is_block_quantized(Format f) { return f != Format::kBf16 && f != Format::kFp32; }

// Parsing and printing; parse_* throw ArgumentError naming `arg`.
Format parse_format(const std::string& name, const char* arg = "format");
ScaleRule parse_scale_rule(const std::string& name, const char* arg = "scale_rule");
Rounding parse_rounding(const std::string& name, const char* arg = "rounding");
const char* format_name(Format f);
const char* scale_rule_name(ScaleRule r);
const char* rounding_name(Rounding r);
std::string format_names_joined();  // "mxfp4, nvfp4, ..." for messages

}  // namespace fp4train
