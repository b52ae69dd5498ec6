// What a generated module computes, for every code target (NumPy, PyTorch,
// Eigen; codegen.hpp's Emitter reads it): the function, its gradients and,
// when given, its Hessian, over the program's symbols.
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
  Expr hessian = nullptr;                               // when set, hessian(**vars) returns it
  std::map<std::string, Expr> symbols;                  // every symbol by name
  std::string source;                                   // the expression as given, for the docstring
};

}  // namespace matcalc
