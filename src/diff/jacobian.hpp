// Second order in closed matrix form: Jacobians, Hessians and
// Hessian-vector products, from two pieces.
//
//   directional(f, {X, V})   the forward differential of f along dX = V: an
//                            expression in X and V (forward mode over f's DAG,
//                            each node by forward_differential()).
//   linear_map(e, D)         for an e linear in the symbol D, the matrix M with
//                            vec(e) = M*vec(D) (column-major vec), by the
//                            vec rules of the linear operators:
//                            vec(A*D*B) = kron(B', A)*vec(D),
//                            vec(D') = commutation(m,n)*vec(D), ...
//
// Then jacobian(F, X) = linear_map(directional(F, {X, dX}), dX); the Hessian
// is the Jacobian of the gradient, hessian(f, X, Y) = linear_map(directional(
// grad_X f, {Y, dY}), dY) (rows X, columns Y); hvp(f, X, V) =
// directional(grad_X f, {X, V}), never through the Kronecker form. For a
// symmetric X the results are those of X -> f(sym(X)), in full vec
// coordinates: the direction is symmetric, and vec(dX) = P*vec(D) with
// P = (I + commutation(n,n))/2 (docs/language.md, "Second order").
#pragma once
#include <span>
#include <utility>

#include "ir/node.hpp"

namespace matcalc {

// The differential of f along dX = V for each pair (X, V) of `seeds`,
// simplified. Assumes what `f` (and `assume_from`, when given) surely needs.
Expr directional(Expr f, std::span<const std::pair<Expr, Expr>> seeds, Expr assume_from = nullptr);

// The numel(e) x numel(d) matrix M with vec(e) = M*vec(d), for an e linear in
// the symbol d (a std::logic_error names the operator when it is not). For a
// symmetric d, M*P: the map of vec(D) to vec(e) at d = sym(D).
Expr linear_map(Expr e, Expr d);

// d vec(F) / d vec(X): numel(F) x numel(X), simplified.
Expr jacobian(Expr f, Expr x);
// The Hessian block of the scalar f, rows vec(X), columns vec(Y), simplified.
Expr hessian(Expr f, Expr x, Expr y);
// The Hessian of the scalar f w.r.t. X applied to V (a symbol of X's shape),
// shaped like X, simplified.
Expr hvp(Expr f, Expr x, Expr v);

// The symbol that stands for dX while a Jacobian is built (never in a result).
Expr differential_symbol(Expr x);

}  // namespace matcalc
