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

#include "print/text.hpp"

namespace matcalc {

namespace {

nlohmann::json tree(Expr e) {
  nlohmann::json j;
  j["op"] = std::string(op_name(e->op));
  j["shape"] = nlohmann::json::array({e->shape.rows.str(), e->shape.cols.str()});
  j["symmetric"] = e->symmetric;
  // The payload, by operator: a switch with no default, so a new operator
  // with a payload of its own is a compile-time reminder to print it here.
  switch (e->op) {
    case Op::Const: j["value"] = e->value; break;  // nlohmann writes NaN/inf as null
    case Op::Symbol: j["name"] = e->name; break;
    case Op::MatPow: j["power"] = e->power; break;
    case Op::Identity: case Op::Zeros: case Op::Ones:
    case Op::Add: case Op::Mul: case Op::Pow: case Op::ElemMul: case Op::ElemDiv: case Op::ElemPow:
    case Op::Transpose: case Op::Trace: case Op::Det: case Op::LogDet: case Op::Inv: case Op::Diag:
    case Op::DiagPart: case Op::Sum: case Op::Norm2: case Op::Norm1: case Op::Vec: case Op::Reshape:
    case Op::Kron: case Op::Sym: case Op::LogSumExp: case Op::Softmax: case Op::Exp: case Op::Log:
    case Op::Sqrt: case Op::Sin: case Op::Cos: case Op::Tan: case Op::Tanh: case Op::Abs: case Op::Sign:
    case Op::Sigmoid: case Op::Softplus: case Op::Relu:
      break;
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
