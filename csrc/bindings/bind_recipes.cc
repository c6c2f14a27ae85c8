// Recipe bindings: the C++ view of an fp4train.recipes.Recipe, for tests and
// for users who want to check what the layer will see. The conversion itself
// lives in recipe_convert.cc.
#include <pybind11/pybind11.h>

#include "bindings/recipe_convert.h"

namespace fp4train {

void bind_recipes(py::module_& m) {
  m.def(
      "validate_recipe",
      [](const py::handle& recipe) { validate(recipe_from_py(recipe)); },
      py::arg("recipe"),
      "Convert a Recipe (or its dict form) to the C++ struct and validate it; raises "
      "TypeError/ValueError naming the field path, as the Python validation does.");
  m.def(
      "recipe_to_dict",
      [](const py::handle& recipe) { return recipe_to_py_dict(recipe_from_py(recipe)); },
      py::arg("recipe"),
      "The dict form of the C++ Recipe converted from `recipe` (prescale as float32).");
}

}  // namespace fp4train
