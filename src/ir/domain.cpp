// Domain facts (see domain.hpp).
#include "ir/domain.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_set>

namespace matcalc {

namespace {

bool is_integer(double p) { return std::isfinite(p) && p == std::round(p); }
bool is_even(double p) { return is_integer(p) && std::fmod(p, 2.0) == 0; }

// The conditions b^p puts on b, for a constant exponent p.
struct PowerNeeds {
  bool nonneg = false, nonzero = false;
};
PowerNeeds needs_of(double p) { return {!is_integer(p), p < 0}; }

bool settled(const PowerNeeds& need, Expr b) {
  return (!need.nonneg || b->nonneg || b->positive) && (!need.nonzero || b->positive);
}

// The condition n's own operation leaves open on one of its arguments, if
// any: log(a) needs a > 0 unless a is known positive, and so on.
struct OpenCondition {
  Condition c;
  Expr subject;
};
std::optional<OpenCondition> own_condition(const Node& n) {
  auto open_unless = [](bool settled_by_facts, Condition c, Expr subject) -> std::optional<OpenCondition> {
    if (settled_by_facts) return std::nullopt;
    return OpenCondition{c, subject};
  };
  const Op op = n.op;
  if (std::optional<ElementwiseFn> f = elementwise_fn(op)) {
    std::optional<Condition> c = elementwise_condition(*f);
    if (!c) return std::nullopt;
    return open_unless(known(*c, n.kids[0]), *c, n.kids[0]);
  }
  if (op == Op::ElemDiv) return open_unless(n.kids[1]->positive, Condition::Nonzero, n.kids[1]);
  if (op == Op::Inv || op == Op::LogDet)
    return open_unless(n.kids[0]->op == Op::Identity, Condition::Invertible, n.kids[0]);
  if (op == Op::Pow || op == Op::ElemPow) {
    Expr b = n.kids[0], p = n.kids[1];
    if (p->op != Op::Const) return open_unless(b->positive, Condition::Positive, b);
    PowerNeeds need = needs_of(p->value);
    if (settled(need, b)) return std::nullopt;
    if (need.nonneg && need.nonzero) return OpenCondition{Condition::Positive, b};
    return OpenCondition{need.nonneg ? Condition::Nonneg : Condition::Nonzero, b};
  }
  if (op == Op::Det) return std::nullopt;  // defined for every square matrix
  // Any other operator with a domain (ops.def): conservatively, its first
  // argument must be positive, so nothing drops it unnoticed.
  if (op_domain(op) != OpDomain::Any && !n.kids.empty()) return open_unless(n.kids[0]->positive, Condition::Positive, n.kids[0]);
  return std::nullopt;
}

// The sign facts of a product of factors with the given facts: all positive
// gives positive, all non-negative gives non-negative.
void product_facts(Node& n, std::span<const Expr> kids) {
  n.positive = std::all_of(kids.begin(), kids.end(), [](Expr k) { return k->positive; });
  n.nonneg = std::all_of(kids.begin(), kids.end(), [](Expr k) { return k->nonneg || k->positive; });
}

// u'*u (a scalar chain of a row and its own transpose) is a sum of squares.
bool is_gram(const Node& n) {
  std::vector<Expr> chain;
  for (Expr k : n.kids)
    if (!k->is_scalar()) chain.push_back(k);
  if (chain.size() != 2 || !n.shape.is_scalar()) return false;
  Expr a = chain[0], b = chain[1];
  return (a->op == Op::Transpose && a->kid(0) == b) || (b->op == Op::Transpose && b->kid(0) == a);
}

}  // namespace

void derive_domain_facts(Node& n) {
  n.positive = n.nonneg = false;
  const Op op = n.op;
  auto nonneg = [](Expr k) { return k->nonneg || k->positive; };
  auto same_as = [&n](Expr k) {
    n.positive = k->positive;
    n.nonneg = k->nonneg;
  };
  if (std::optional<ElementwiseFn> f = elementwise_fn(op)) {
    ElementwiseSign sign = elementwise_sign(*f);
    n.positive = sign == ElementwiseSign::Positive || (sign == ElementwiseSign::PositiveWhereArgIs && n.kids[0]->positive);
    n.nonneg = n.positive || sign != ElementwiseSign::Any;
  } else if (op == Op::Const) {
    n.positive = n.value > 0;
    n.nonneg = n.value >= 0;
  } else if (op == Op::Ones || op == Op::Softmax) {
    n.positive = true;
  } else if (op == Op::Identity || op == Op::Zeros || op == Op::Norm2 || op == Op::Norm1) {
    n.nonneg = true;
  } else if (op == Op::Add) {
    n.nonneg = std::all_of(n.kids.begin(), n.kids.end(), nonneg);
    n.positive = n.nonneg && std::any_of(n.kids.begin(), n.kids.end(), [](Expr k) { return k->positive; });
  } else if (op == Op::Mul || op == Op::ElemMul || op == Op::Kron) {
    product_facts(n, n.kids);
    if (op == Op::Mul && !n.nonneg && is_gram(n))  // c*x'*x with every scalar factor non-negative
      n.nonneg = std::all_of(n.kids.begin(), n.kids.end(), [&](Expr k) { return !k->is_scalar() || nonneg(k); });
  } else if (op == Op::ElemDiv) {
    n.positive = n.kids[0]->positive && n.kids[1]->positive;
    n.nonneg = nonneg(n.kids[0]) && n.kids[1]->positive;
  } else if (op == Op::Pow || op == Op::ElemPow) {
    Expr b = n.kids[0], p = n.kids[1];
    n.positive = b->positive;
    n.nonneg = nonneg(b) || (p->op == Op::Const && (is_even(p->value) || !is_integer(p->value)));
  } else if (op == Op::Sum || op == Op::Trace || op == Op::Transpose || op == Op::Vec || op == Op::Reshape ||
             op == Op::Sym || op == Op::DiagPart) {
    same_as(n.kids[0]);
  } else if (op == Op::Diag) {
    n.nonneg = nonneg(n.kids[0]);
  }
  // Every other operator: nothing known of its sign.
  n.restricted = own_condition(n).has_value() ||
                 std::any_of(n.kids.begin(), n.kids.end(), [](Expr k) { return k->restricted; });
}

bool known(Condition c, Expr e) {
  switch (c) {
    case Condition::Positive: return e->positive;
    case Condition::Nonneg: return e->positive || e->nonneg;
    case Condition::Nonzero: return e->positive;
    case Condition::Invertible: return e->op == Op::Identity || e->op == Op::Inv;  // inv(B) is, where it exists
  }
  return false;
}

namespace {

// Whether a condition `have` implies `want`: positive implies non-negative
// and non-zero.
bool implies(Condition have, Condition want) {
  return have == want || (have == Condition::Positive && (want == Condition::Nonneg || want == Condition::Nonzero));
}

}  // namespace

bool requires_condition(Expr root, Condition c, Expr subject) {
  // inv(A') needs A invertible as much as inv(A) does.
  auto same_subject = [&](Expr s) {
    if (s == subject) return true;
    if (c != Condition::Invertible) return false;
    return (s->op == Op::Transpose && s->kid(0) == subject) ||
           (subject->op == Op::Transpose && subject->kid(0) == s);
  };
  std::unordered_set<Expr> seen;
  std::vector<Expr> stack{root};
  while (!stack.empty()) {
    Expr n = stack.back();
    stack.pop_back();
    if (!n->restricted || !seen.insert(n).second) continue;  // only restricted nodes need anything
    if (auto open = own_condition(*n); open && implies(open->c, c) && same_subject(open->subject)) return true;
    stack.insert(stack.end(), n->kids.begin(), n->kids.end());
  }
  return false;
}

bool conditions_covered(Expr e, std::span<const Expr> others) {
  std::unordered_set<Expr> seen;
  std::vector<Expr> stack{e};
  while (!stack.empty()) {
    Expr n = stack.back();
    stack.pop_back();
    if (!n->restricted || !seen.insert(n).second) continue;
    if (auto open = own_condition(*n)) {
      bool covered = std::any_of(others.begin(), others.end(),
                                 [&](Expr o) { return requires_condition(o, open->c, open->subject); });
      if (!covered) return false;
    }
    stack.insert(stack.end(), n->kids.begin(), n->kids.end());
  }
  return true;
}

namespace {

// Whether summing the exponents keeps every condition they put on b.
bool sum_keeps_domain(Expr b, const std::vector<double>& exponents, double total) {
  PowerNeeds all, merged = needs_of(total);
  for (double e : exponents) {
    PowerNeeds n = needs_of(e);
    all.nonneg = all.nonneg || n.nonneg;
    all.nonzero = all.nonzero || n.nonzero;
  }
  return settled({all.nonneg && !merged.nonneg, all.nonzero && !merged.nonzero}, b);
}

double sum_of(const std::vector<double>& v) {
  double t = 0;
  for (double e : v) t += e;
  return t;
}

}  // namespace

std::vector<double> merge_exponents(Expr b, std::vector<double> exponents) {
  std::sort(exponents.begin(), exponents.end());
  if (exponents.size() < 2 || sum_keeps_domain(b, exponents, sum_of(exponents))) return {sum_of(exponents)};
  std::vector<double> out;
  for (bool positive : {true, false}) {
    std::vector<double> group;
    for (double e : exponents)
      if ((e > 0) == positive) group.push_back(e);
    if (group.empty()) continue;
    if (sum_keeps_domain(b, group, sum_of(group)))
      out.push_back(sum_of(group));
    else
      out.insert(out.end(), group.begin(), group.end());
  }
  return out;
}

bool power_keeps_domain(Expr b, double p, double q) {
  // (b^p)^q needs b >= 0 for a fractional p, and for a fractional q unless b^p
  // is never negative (p even); b != 0 when either exponent is negative.
  PowerNeeds left{!is_integer(p) || (!is_integer(q) && !is_even(p)), p < 0 || q < 0};
  PowerNeeds merged = needs_of(p * q);
  PowerNeeds dropped{left.nonneg && !merged.nonneg, left.nonzero && !merged.nonzero};
  return settled(dropped, b);
}

}  // namespace matcalc
