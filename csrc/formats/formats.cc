#include "formats/formats.h"

#include "util/check.h"

namespace fp4train {

namespace {
const FormatTraits kFormats[kNumFormats] = {
    {"mxfp4", ElemType::kE2M1, kBlockMx, ScaleType::kE8M0, false},
    {"nvfp4", ElemType::kE2M1, kBlockNv, ScaleType::kE4M3, true},
    {"mxfp8_e4m3", ElemType::kE4M3, kBlockMx, ScaleType::kE8M0, false},
    {"mxfp8_e5m2", ElemType::kE5M2, kBlockMx, ScaleType::kE8M0, false},
    {"fp8_e4m3", ElemType::kE4M3, 0, ScaleType::kNone, true},
    {"fp8_e5m2", ElemType::kE5M2, 0, ScaleType::kNone, true},
    {"bf16", ElemType::kBf16, 0, ScaleType::kNone, false},
    {"fp32", ElemType::kFp32, 0, ScaleType::kNone, false},
};
const char* const kScaleRuleNames[] = {"floor", "rceil", "ceil", "even"};
const char* const kRoundingNames[] = {"nearest", "nearest_away", "stochastic"};
}  // namespace

const FormatTraits& format_traits(Format f) { return kFormats[int(f)]; }

std::string format_names_joined() {
  std::string s;
  for (int i = 0; i < kNumFormats; ++i) s += (i ? ", " : "") + std::string(kFormats[i].name);
  return s;
}

Format parse_format(const std::string& name, const char* arg) {
  for (int i = 0; i < kNumFormats; ++i)
    if (name == kFormats[i].name) return Format(i);
  throw ArgumentError(arg, "expected one of " + format_names_joined() + ", got '" + name + "'");
}

ScaleRule parse_scale_rule(const std::string& name, const char* arg) {
  for (int i = 0; i < 4; ++i)
    if (name == kScaleRuleNames[i]) return ScaleRule(i);
  throw ArgumentError(arg, "expected one of floor, rceil, ceil, even, got '" + name + "'");
}

Rounding parse_rounding(const std::string& name, const char* arg) {
  for (int i = 0; i < 3; ++i)
    if (name == kRoundingNames[i]) return Rounding(i);
  throw ArgumentError(arg,
                      "expected one of nearest, nearest_away, stochastic, got '" + name + "'");
}

const char* format_name(Format f) { return kFormats[int(f)].name; }
const char* scale_rule_name(ScaleRule r) { return kScaleRuleNames[int(r)]; }
const char* rounding_name(Rounding r) { return kRoundingNames[int(r)]; }

}  // namespace fp4train
