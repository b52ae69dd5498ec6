// JSON printer: the expression tree
// {"op": "Mul", "shape": ["n","k"], "symmetric": false, "args": [...]}
// with "name" on symbols and "value" on constants, and the text form at the root.
#pragma once
#include <nlohmann/json.hpp>

#include "ir/node.hpp"

namespace matcalc {
nlohmann::json to_json_tree(Expr e);
}
