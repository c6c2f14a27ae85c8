// The single place a Python recipe becomes a C++ Recipe and back.
//
// recipe_from_py accepts an fp4train.recipes.Recipe (read through its
// to_dict()) or a plain dict of the same shape (missing keys take the
// defaults, unknown keys are errors, exactly as Recipe.from_dict):
//
//   {"name": str,
//    "fprop" | "dgrad" | "wgrad": {
//        "a" | "b": {"format": str, "rounding": str, "scale_rule": str,
//                    "prescale": real, "block_2d": bool},
//        "hadamard": None | {"size": int, "signs": str, "seed": int,
//                            "vector": None | sequence of +-1}}}
//
// Every check runs in the same order as the Python validation and raises
// the same exception type naming the same field path ("recipe.wgrad.a.
// rounding"): TypeError (ArgumentTypeError) for a wrong type, ValueError
// (ArgumentError) for a wrong value. The result is validated.
#pragma once
#include <pybind11/pybind11.h>

#include <string>

#include "linear/recipe.h"

namespace fp4train {
namespace py = pybind11;

Recipe recipe_from_py(const py::handle& obj, const std::string& arg = "recipe");

// The dict form of a C++ Recipe (what Recipe.from_dict reads back).
py::dict recipe_to_py_dict(const Recipe& r);

}  // namespace fp4train
