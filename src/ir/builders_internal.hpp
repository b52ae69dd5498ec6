// Helpers shared by the builders' translation units (private to src/ir):
//   builders.cpp              leaves, the transpose push, matrix functions,
//                             reductions and structural maps (tr, sum, diag,
//                             vec, reshape, sym, ...), apply/rebuild/substitute
//   builders_sum.cpp          add: flattening, like terms, common factors, order
//   builders_product.cpp      mul and its passes, scalar and matrix powers, kron
//   builders_elementwise.cpp  .*, ./, .^ and the elementwise functions
#pragma once
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/node.hpp"

namespace matcalc::builders_detail {

// A Shape error naming the operator and both shapes.
[[noreturn]] void shape_error(const std::string& op, const Shape& a, const Shape& b);
// A Shape error: `fn needs <need>, got <shape>`.
[[noreturn]] void arg_error(const std::string& fn, const std::string& need, const Shape& got);
// An internal error: operator `op` reached `where`, which it cannot.
[[noreturn]] void unreachable(const char* where, Op op);

// Interns a node; `symmetric` only sticks to a square shape.
Expr make(Context& cx, Op op, Shape s, std::vector<Expr> kids, bool symmetric, int power = 0);
Expr make1(Op op, Expr a, Shape s, bool symmetric);

// A scalar-valued matrix product such as x'*A*x (a Mul with a non-scalar factor).
bool is_scalar_chain(Expr e);

// Scalar exponent of a factor for merging equal bases: x^3 -> (x, 3) for
// pow_op Pow, X.^3 -> (X, 3) for ElemPow; anything else -> (f, 1).
std::pair<Expr, double> base_exponent(Expr f, Op pow_op);

// Constant folding that never loses a number silently. fold_product is the
// product of the numbers with the exponents kept apart (std::frexp), so no
// order of the factors overflows or underflows on the way
// (1e-200*1e-200*1e200*1e200 is 1); checked_fold(x, v) is v, the folded value
// of an operation on the non-zero number x, or a Limit error when v
// underflowed to zero or lost digits below the normal range (constant()
// refuses overflow likewise).
double fold_product(std::span<const double> numbers);
double checked_fold(double x, double v);

}  // namespace matcalc::builders_detail
