// Symbolic gradients by reverse-mode differentiation in matrix form.
//
// For a scalar f and a node Y with adjoint G_Y (so that df = G_Y : dY + ...),
// each operator's rule in derivatives.cpp adds its children's adjoints;
// the gradient w.r.t. a variable X is the adjoint reaching X (for a
// symmetric X, sym of it), simplified. The result is a matrix expression of
// X's shape whose size does not depend on the dimensions.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// Gradients of the scalar f w.r.t. each symbol in `wrt`, simplified.
std::vector<Expr> gradients(Expr f, std::span<const Expr> wrt);
Expr gradient(Expr f, Expr wrt);

}  // namespace matcalc
