// The derivative table: for every operator, how the adjoint G of a node
// Y = op(x1, ..., xn) flows to its arguments (reverse mode in matrix form).
// If df = G : dY, the rule returns each Gi with df = sum_i Gi : dxi.
#pragma once
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// A row of the derivative table, for the rule book and the docs.
struct DerivativeRule {
  Op op;
  const char* name;          // kebab-case rule name
  const char* differential;  // the identity in differential form
  const char* adjoint;       // what it gives the arguments' adjoints
  const char* reference;     // Matrix Cookbook equation, where there is one
};
const std::vector<DerivativeRule>& derivative_rules();
const DerivativeRule& derivative_rule(Op op);

// Adjoints of y's arguments given y's adjoint G. `wanted[i]` false skips
// argument i (it does not depend on a variable); its entry stays nullptr.
std::vector<Expr> propagate_adjoint(Expr y, Expr G, const std::vector<bool>& wanted);

}  // namespace matcalc
