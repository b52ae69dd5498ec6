// Numeric checks of differentials: the directional derivative of F at the
// bindings along the differentials dA of its symbols A, by central
// differences, compared with a symbolic differential.
#pragma once
#include <map>
#include <string>

#include "eval/evaluate.hpp"
#include "ir/node.hpp"

namespace matcalc::testing {

// (F(A + h dA, ...) - F(A - h dA, ...)) / 2h over every bound symbol A whose
// differential "d" + A is bound too.
inline Matrix directional_derivative(Expr F, const Bindings& at, double h = 1e-6) {
  auto moved = [&](double t) {
    Bindings b = at;
    for (auto& [name, value] : b.values)
      if (auto d = at.values.find("d" + name); d != at.values.end()) value += t * d->second;
    return evaluate(F, b);
  };
  return (moved(h) - moved(-h)) / (2 * h);
}

// Relative difference with a floor, for values of any size.
inline double relative_difference(const Matrix& a, const Matrix& b) {
  double scale = std::max({1.0, a.norm(), b.norm()});
  return (a - b).norm() / scale;
}

}  // namespace matcalc::testing
