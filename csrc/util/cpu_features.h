// Which SIMD path the kernels take. Detected once; overridable so the tests
// can run every path this machine supports against the scalar reference.
//
// Override order: set_isa() from code (fp4train.set_isa in Python), else the
// FP4TRAIN_ISA environment variable (scalar | avx2 | avx512), else the best
// the CPU and OS support. Asking for an ISA the machine lacks is an error.
#pragma once
#include <string>
#include <vector>

namespace fp4train {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);  // throws ArgumentError naming "isa"
Isa detected_isa();                      // best supported by this CPU and build
std::vector<Isa> supported_isas();       // scalar first, then each supported path
Isa active_isa();                        // what kernels dispatch on now
void set_isa(Isa isa);                   // throws if not supported
void reset_isa();                        // back to env/detected choice

}  // namespace fp4train
