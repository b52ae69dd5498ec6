// The JSON tree printer. Every node, whatever its operator, becomes
//   {"op": op_name, "shape": [rows, cols], "symmetric": bool, "args": [...]}
// with the dimensions as Dim::str() strings ("n", "2*n*k", "1"), "args" always
// present (empty for leaves), and the operator's payload: "name" on symbols,
// "value" on constants (null where JSON has no number: NaN, infinities),
// "power" on matrix powers. The root also carries "text", the expression in
// matcalc's own language. A subexpression shared in the DAG is written out
// at each of its uses: JSON has no references, and a tree is what readers
// of this format expect.
#include "print/json.hpp"

#include "print/spellings.hpp"
#include "print/text.hpp"

namespace matcalc {

namespace {

nlohmann::json tree(Expr e) {
  nlohmann::json j;
  j["op"] = std::string(op_name(e->op));
  j["shape"] = nlohmann::json::array({e->shape.rows.str(), e->shape.cols.str()});
  j["symmetric"] = e->symmetric;
  // The payload. Only operators written with symbols carry one (a call's
  // arguments are its kids and its result is its shape): a switch over
  // SyntaxOp with no default, so a new such operator with a payload of its
  // own is a compile-time reminder to print it here.
  if (std::optional<SyntaxOp> op = syntax_op(e->op)) {
    // clang-format off
    switch (*op) {
      case SyntaxOp::Const: j["value"] = e->value; break;  // nlohmann writes NaN/inf as null
      case SyntaxOp::Symbol: j["name"] = e->name; break;
      case SyntaxOp::MatPow: j["power"] = e->power; break;
      case SyntaxOp::Add: case SyntaxOp::Mul: case SyntaxOp::Pow: case SyntaxOp::ElemMul:
      case SyntaxOp::ElemDiv: case SyntaxOp::ElemPow: case SyntaxOp::Transpose:
        break;
    }
    // clang-format on
  }
  nlohmann::json args = nlohmann::json::array();
  for (Expr k : e->kids) args.push_back(tree(k));
  j["args"] = std::move(args);
  return j;
}

}  // namespace

nlohmann::json to_json_tree(Expr e) {
  nlohmann::json j = tree(e);
  j["text"] = to_text(e);
  return j;
}

}  // namespace matcalc
