// Precondition checks that name the offending argument.
//
// Every public C++ entry point validates its inputs with FP4_CHECK before
// doing any work. The exception type carries the argument name so that the
// Python bindings surface it unchanged: ArgumentError -> ValueError,
// ArgumentTypeError -> TypeError (pybind11 maps std::invalid_argument to
// ValueError; the TypeError mapping is registered in bindings/module.cc).
#pragma once
#include <stdexcept>
#include <string>

namespace fp4train {

class ArgumentError : public std::invalid_argument {
 public:
  ArgumentError(const std::string& arg, const std::string& expected)
      : std::invalid_argument("argument '" + arg + "': " + expected) {}
};

class ArgumentTypeError : public std::invalid_argument {
 public:
  ArgumentTypeError(const std::string& arg, const std::string& expected)
      : std::invalid_argument("argument '" + arg + "': " + expected) {}
};

}  // namespace fp4train

// FP4_CHECK(cond, "arg", "expected ...") throws ArgumentError when cond is false.
#define FP4_CHECK(cond, arg, expected)                       \
  do {                                                       \
    if (!(cond)) throw ::fp4train::ArgumentError((arg), (expected)); \
  } while (0)
