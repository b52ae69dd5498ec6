// Symbolic gradients by reverse-mode differentiation in matrix form.
//
// For a scalar f and a node Y with adjoint G_Y (so that df = G_Y : dY + ...),
// each operator's rule in derivatives.cpp adds its children's adjoints;
// the gradient w.r.t. a variable X is the adjoint reaching X (for a
// symmetric X, sym of it), simplified. The result is a matrix expression of
// X's shape whose size does not depend on the dimensions.
#pragma once
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// One applied rule, for explanations: the node, the rule's name, and the
// adjoint it contributed to each child.
struct DerivationStep {
  Expr node;
  std::string rule;
  Expr adjoint;                  // G_node
  std::vector<Expr> child_adjoints;
};
using StepObserver = std::function<void(const DerivationStep&)>;

// Gradients of the scalar f w.r.t. each symbol in `wrt`, simplified.
std::vector<Expr> gradients(Expr f, std::span<const Expr> wrt, const StepObserver& observe = {});
Expr gradient(Expr f, Expr wrt);

}  // namespace matcalc
