// The derivative table: for every operator, how the adjoint G of a node
// Y = op(x1, ..., xn) flows to its arguments (reverse mode in matrix form).
// If df = G : dY, the rule returns each Gi with df = sum_i Gi : dxi.
#pragma once
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// A row of the derivative table: the rule book (`matcalc rules`) and the
// derivations of `matcalc explain` name rules by these rows. `expression`
// and `differential` are written in the text language, the differential of
// a symbol A being the symbol dA; tests check each row numerically.
struct DerivativeRule {
  Op op;
  const char* name;          // kebab-case rule name
  const char* expression;    // e.g. "logdet(X)"
  const char* differential;  // e.g. "tr(inv(X)*dX)": d(expression)
  const char* declarations;  // shapes of the symbols, e.g. "X: matrix(n,n)"
  const char* conditions;    // where the rule holds, e.g. "det(X) > 0"
  const char* reference;     // equation number in the Matrix Cookbook (Petersen & Pedersen, 2012), if any
};
const std::vector<DerivativeRule>& derivative_rules();
const DerivativeRule& derivative_rule(Op op);

// Adjoints of y's arguments given y's adjoint G. `wanted[i]` false skips
// argument i (it does not depend on a variable); its entry stays nullptr.
std::vector<Expr> propagate_adjoint(Expr y, Expr G, const std::vector<bool>& wanted);

// Forward mode: the differential dy of y = op(x1, ..., xn) given the
// differentials of its arguments (`dx[i]` nullptr when xi is constant).
// The identity is the row's `differential` of derivative_rule(y->op).
Expr forward_differential(Expr y, const std::vector<Expr>& dx);

// The vec rule, for Jacobians (diff/jacobian.hpp): given for each argument xi
// the matrix Mi with vec(xi) = Mi*vec(D) for a symbol D (`maps[i]` nullptr
// when xi does not depend on D), the matrix M with vec(y) = M*vec(D). Only for
// an operator linear in the arguments that depend on D (A*dX*B, dX', a .* dX,
// tr(dX), ...: what a differential is made of); a std::logic_error names any
// other.
Expr vec_rule(Expr y, const std::vector<Expr>& maps);

}  // namespace matcalc
