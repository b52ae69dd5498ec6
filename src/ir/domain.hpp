// Domain facts: what is known, from an expression's structure alone, of the
// sign of its entries and of where its value exists. They let the builders
// and the rewrite rules keep every domain condition of the expression they
// were given: a rewrite may make the value simpler, never defined where it
// was not (sqrt(a)^2 is not a at a = -2, inv(A)*A is not I at a singular A).
//
// Each node carries three flags, derived once when it is interned
// (derive_domain_facts, called by Context::intern):
//   - positive: every entry is > 0 wherever the node is defined (exp(x),
//     sigmoid(x), a positive constant, a sum or product of positives);
//   - nonneg: every entry is >= 0 (abs(x), x'*x, norm2(x), a^2);
//   - restricted: some input makes the value undefined. A node restricts by
//     its own operation (log, sqrt, ./, inv, logdet, a negative or
//     fractional power) unless its argument's facts settle the condition
//     (log(exp(x)) is defined everywhere), and by any restricted argument.
// An unrestricted node may be dropped, cancelled or folded freely; a
// restricted one only where the conditions it carries are still surely
// needed by what replaces it (Requirements), or known (docs/ARCHITECTURE.md,
// "Domains").
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// Fills n.positive, n.nonneg and n.restricted from n's operator and its
// (already interned) children.
void derive_domain_facts(Node& n);

// A condition an operation puts on its argument.
enum class Condition : std::uint8_t {
  Positive,     // every entry > 0 (log, a negative fractional power)
  Nonneg,       // every entry >= 0 (sqrt, a fractional power)
  Nonzero,      // no entry is 0 (./, a negative power)
  Invertible,   // a square matrix with an inverse (inv)
  PositiveDet,  // det > 0 (logdet): implies Invertible
};

// Whether a condition `have` implies `want` (positive implies non-negative
// and non-zero, det > 0 implies invertible).
bool implies(Condition have, Condition want);

// Whether the facts of e settle c everywhere e is defined.
bool known(Condition c, Expr e);
// known(), or assumed now (Assume): for rewrites that merge or regroup
// powers, never for a node's own facts.
bool known_or_assumed(Condition c, Expr e);

// The conditions that evaluating some expressions surely needs, by subject:
// built by one walk over each root (add), asked by has(). An operation whose
// condition holds only in part (a^b for a variable b needs a > 0 unless b is
// an integer) restricts its node but is not a sure need, so it covers nothing.
class Requirements {
 public:
  void add(Expr root);
  bool has(Condition c, Expr subject) const;
  // Every (condition, subject) recorded, for Assume.
  std::vector<std::pair<Condition, Expr>> list() const;

 private:
  void record(Condition c, Expr subject, int depth);
  bool has(Condition c, Expr subject, int depth) const;
  std::unordered_map<Expr, std::uint8_t> by_subject_;  // bit i: Condition i
  std::unordered_set<Expr> seen_;
};

// Whether every condition that e carries (each operation of e whose
// condition is open) is surely needed by what `others` holds: then e may go
// without the domain growing.
bool conditions_covered(Expr e, const Requirements& others);

// Conditions a merge of powers may rely on while this object lives, beyond
// the facts of the nodes: add() assumes what its other terms surely need, so
// that x .* x.^-1 + log(x) is ones + log(x). Only merges read assumptions;
// the facts of a node (derived when it is interned) never do.
class Assume {
 public:
  Assume(Context& cx, const std::vector<std::pair<Condition, Expr>>& conditions);
  ~Assume();
  Assume(const Assume&) = delete;
  Assume& operator=(const Assume&) = delete;

 private:
  Context& cx_;
  std::size_t size_;
};

// The exponents of base b in a product, merged as far as the domain allows
// (the facts of b and the conditions assumed now): all into one sum where
// merging keeps every condition on b; else the positive and the negative ones
// each into one where that keeps them, else each alone. A function of the
// multiset of exponents (sorted first), so a product's normal form does not
// depend on the order of its factors.
std::vector<double> merge_exponents(Expr b, std::vector<double> exponents);

// Whether some merge of this product (Mul, ElemMul or ElemDiv) was held back:
// a base appears twice among its factors.
bool has_unmerged_powers(Expr e);

// The open conditions e carries, each with its subject.
std::vector<std::pair<Condition, Expr>> open_conditions(Expr e);

// Whether (b^p)^q = b^(p*q) keeps every condition on b ((a^0.25)^4 = a needs
// a >= 0). The caller checks that the values agree (q an integer).
bool power_keeps_domain(Expr b, double p, double q);

// The domain facts of the elementwise functions, next to their constant
// folding (builders_elementwise.cpp: a new function gives them there).
enum class ElementwiseSign : std::uint8_t {
  Any,
  Nonneg,              // abs, relu
  Positive,            // exp, sigmoid, softplus
  PositiveWhereArgIs,  // sqrt: >= 0, and > 0 where its argument is
};
ElementwiseSign elementwise_sign(ElementwiseFn f);
// The condition f puts on its argument (log: positive, sqrt: non-negative).
std::optional<Condition> elementwise_condition(ElementwiseFn f);

}  // namespace matcalc
