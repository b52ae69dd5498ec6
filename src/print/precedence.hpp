// What every printer shares: operator precedence (LANGUAGE.md's table) and
// how a product splits into coefficient, numerator, denominator and matrix
// chain. Printers never simplify; they only decide layout.
#pragma once
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

enum Prec : int { kPrecSum = 1, kPrecFrob = 2, kPrecProduct = 3, kPrecUnary = 4, kPrecPower = 5, kPrecAtom = 6 };

// The precedence a node prints at (its loosest top-level operator).
int precedence(Expr e);

// A product, laid out for printing: coef * num... * chain... / den...
struct ProductLayout {
  double coef = 1;                 // printed as a leading factor or a '-' sign
  double divisor = 1;              // an integer k when coef was 1/k: printed as '/k'
  std::vector<Expr> numerator;     // scalar factors
  std::vector<Expr> denominator;   // scalar factors x printed as '/x' (from x^-p: x^p)
  std::vector<Expr> chain;         // matrix factors in order
};
ProductLayout layout_product(Expr mul);

// Sum terms split into sign and magnitude: a - 2*b -> (+, a), (-, 2*b).
struct SignedTerm {
  bool negative;
  Expr magnitude;
};
std::vector<SignedTerm> signed_terms(Expr add);

// True when the identity's size can be read from where it stands (`A + s*I`).
bool identity_size_known_in_sum(Expr add);

// Broadcasting, re-sugared (LANGUAGE.md: a scalar added to a vector applies to
// every entry). The IR has no such sum: inference lowers `s + v` to
// `s*ones(n) + v`. A printer may write a term `ones(n)` or `c*ones(n)` (c any
// scalar factors, the ones a column of n != 1 entries) of a column-vector sum
// as `1` or `c` alone, and the text reads back as the same sum. Not in a sum
// whose terms are all such terms (it would read back as a scalar), never for
// `ones(n,m)` (a scalar is never added to a matrix), nor for rows, which
// LANGUAGE.md counts as 1 x n matrices; `rows_too` is for code targets whose
// vectors are 1-D either way (NumPy, PyTorch).
bool is_broadcast_term(Expr term, bool rows_too = false);            // ones(n) or c*ones(n)
std::vector<bool> broadcast_terms(Expr add, bool rows_too = false);  // per term: prints as its scalar part
// The scalar part of a broadcast term c*ones(n) when it is one factor (which
// then prints at product level, as a term: v + x'*y); null otherwise.
Expr lone_broadcast_factor(Expr term);
// A broadcast term (-a - b)*ones(n) (the builders move a sign into a lone sum
// factor) as the negative term (a + b)*ones(n), so that x - (a + b) prints
// as it was written, not x + (-a - b); any other term as it is.
SignedTerm negated_sum_as_sign(const SignedTerm& t);

// A printed expression is a tree: a subexpression shared in the DAG prints
// once per use, so the text can be far larger than the DAG (the gradient of
// s^t^t^...^t). Past kMaxPrintedNodes tree nodes, a Limit error instead of
// gigabytes of text; the code printers, which name shared values, have no
// such limit.
inline constexpr std::size_t kMaxPrintedNodes = 2'000'000;
void check_printable(Expr e);

// Shortest text that reads back as the same double.
std::string format_number(double v);

}  // namespace matcalc
