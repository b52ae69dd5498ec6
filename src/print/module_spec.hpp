// What a generated module computes, for every code target (NumPy, PyTorch,
// Eigen; codegen.hpp's Emitter reads it): the function, its gradients and,
// when given, one second-order output (CLI.md, "Higher order"), over the
// program's symbols.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

struct ModuleSpec {
  Expr value = nullptr;                                 // the function
  std::vector<std::pair<std::string, Expr>> gradients;  // by variable name, in --wrt order
  // At most one of the next three, computed after the gradients. Each is
  // returned by the function of its name; the Hessian and the Jacobian as
  // 2-D arrays (rows and columns in column-major vec order) whatever their
  // IR shape, the hvp shaped like its variable.
  Expr hessian = nullptr;               // numel(X) x numel(Y): rows second_wrt[0], columns second_wrt.back()
  Expr jacobian = nullptr;              // numel(F) x numel(X), X = second_wrt[0]
  Expr hvp = nullptr;                   // the Hessian w.r.t. second_wrt[0] applied to the symbol `direction`
  std::vector<std::string> second_wrt;  // the variables of that output, for the documentation
  std::string direction;                // hvp's direction: a symbol of `symbols`, passed by name
  std::map<std::string, Expr> symbols;  // every symbol by name
  std::string source;                   // the expression as given, for the docstring

  // The second-order output, or null.
  Expr second_order() const { return hessian ? hessian : jacobian ? jacobian : hvp; }
};

}  // namespace matcalc
