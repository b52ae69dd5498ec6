// Domain facts (see domain.hpp).
#include "ir/domain.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_set>

#include "ir/builders.hpp"

namespace matcalc {

namespace {

bool is_integer(double p) { return std::isfinite(p) && p == std::round(p); }
bool is_even(double p) { return is_integer(p) && std::fmod(p, 2.0) == 0; }

// The conditions b^p puts on b, for a constant exponent p.
struct PowerNeeds {
  bool nonneg = false, nonzero = false;
};
PowerNeeds needs_of(double p) { return {!is_integer(p), p < 0}; }

// Whether b's facts (and, with `assumed`, the conditions assumed now) settle
// what a power needs of it.
bool settled(const PowerNeeds& need, Expr b, bool assumed = false);

// The condition n's own operation leaves open on one of its arguments, if
// any: log(a) needs a > 0 unless a is known positive, and so on. `sure`:
// wherever n has a value, the condition holds (a^b for a variable b needs
// a > 0 only where b is not an integer: it restricts, but is not sure).
struct OpenCondition {
  Condition c;
  Expr subject;
  bool sure = true;
};
std::optional<OpenCondition> own_condition(const Node& n) {
  auto open_unless = [](bool settled_by_facts, Condition c, Expr subject,
                        bool sure = true) -> std::optional<OpenCondition> {
    if (settled_by_facts) return std::nullopt;
    return OpenCondition{c, subject, sure};
  };
  const Op op = n.op;
  if (std::optional<ElementwiseFn> f = elementwise_fn(op)) {
    std::optional<Condition> c = elementwise_condition(*f);
    if (!c) return std::nullopt;
    return open_unless(known(*c, n.kids[0]), *c, n.kids[0]);
  }
  if (op == Op::ElemDiv) return open_unless(n.kids[1]->positive, Condition::Nonzero, n.kids[1]);
  if (op == Op::Inv) return open_unless(n.kids[0]->op == Op::Identity, Condition::Invertible, n.kids[0]);
  if (op == Op::LogDet) return open_unless(n.kids[0]->op == Op::Identity, Condition::PositiveDet, n.kids[0]);
  if (op == Op::Pow || op == Op::ElemPow) {
    Expr b = n.kids[0], p = n.kids[1];
    if (p->op != Op::Const) return open_unless(b->positive, Condition::Positive, b, false);
    PowerNeeds need = needs_of(p->value);
    if (settled(need, b)) return std::nullopt;
    if (need.nonneg && need.nonzero) return OpenCondition{Condition::Positive, b};
    return OpenCondition{need.nonneg ? Condition::Nonneg : Condition::Nonzero, b};
  }
  if (op == Op::Det) return std::nullopt;  // defined for every square matrix
  // Any other operator with a domain (ops.def): restricted, so that nothing
  // drops it unnoticed, but with no sure condition, so that it covers nothing.
  if (op_domain(op) != OpDomain::Any && !n.kids.empty())
    return open_unless(false, Condition::Positive, n.kids[0], false);
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
  if (!n.shape.is_scalar()) return false;
  Expr a = nullptr, b = nullptr;  // the two chain factors (no allocation: this runs for every Mul interned)
  for (Expr k : n.kids) {
    if (k->is_scalar()) continue;
    if (b) return false;
    (a ? b : a) = k;
  }
  if (!b) return false;
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
    n.positive =
        sign == ElementwiseSign::Positive || (sign == ElementwiseSign::PositiveWhereArgIs && n.kids[0]->positive);
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
  n.restricted =
      own_condition(n).has_value() || std::any_of(n.kids.begin(), n.kids.end(), [](Expr k) { return k->restricted; });
}

bool implies(Condition have, Condition want) {
  if (have == want) return true;
  if (have == Condition::Positive) return want == Condition::Nonneg || want == Condition::Nonzero;
  return have == Condition::PositiveDet && want == Condition::Invertible;
}

bool known(Condition c, Expr e) {
  switch (c) {
    case Condition::Positive: return e->positive;
    case Condition::Nonneg: return e->positive || e->nonneg;
    case Condition::Nonzero: return e->positive;
    case Condition::Invertible: return e->op == Op::Identity || e->op == Op::Inv;  // inv(B) is, where it exists
    case Condition::PositiveDet: return e->op == Op::Identity;
  }
  return false;
}

bool known_or_assumed(Condition c, Expr e) {
  if (known(c, e)) return true;
  for (const auto& [have, subject] : e->ctx->assumptions())
    if (subject == e && implies(static_cast<Condition>(have), c)) return true;
  return false;
}

namespace {

bool settled(const PowerNeeds& need, Expr b, bool assumed) {
  auto holds = [&](Condition c) { return assumed ? known_or_assumed(c, b) : known(c, b); };
  return (!need.nonneg || holds(Condition::Nonneg)) && (!need.nonzero || holds(Condition::Nonzero));
}

std::uint8_t bit(Condition c) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(c)); }

}  // namespace

void Requirements::add(Expr root) {
  std::vector<Expr> stack{root};
  while (!stack.empty()) {
    Expr n = stack.back();
    stack.pop_back();
    if (!n->restricted || !seen_.insert(n).second) continue;  // only restricted nodes need anything
    if (auto open = own_condition(*n); open && open->sure) record(open->c, open->subject, 0);
    stack.insert(stack.end(), n->kids.begin(), n->kids.end());
  }
}

namespace {
// Entrywise products and quotients, and scalar products: a non-zero one has
// non-zero factors, and one with non-zero factors is non-zero.
bool is_product_of_factors(Expr e) {
  return e->op == Op::ElemMul || e->op == Op::ElemDiv || (e->op == Op::Mul && e->is_scalar());
}
// The factors a non-zero e has: a product's, or the base of a power (s^2 != 0: s != 0).
std::vector<Expr> nonzero_factors(Expr e) {
  if (is_product_of_factors(e)) {
    std::vector<Expr> out;
    for (Expr k : e->kids)
      if (k->is_scalar() || !e->is_scalar()) out.push_back(k);
    return out;
  }
  if ((e->op == Op::Pow || e->op == Op::ElemPow) && e->kid(1)->op == Op::Const) return {e->kid(0)};
  return {};
}
constexpr int kFactorDepth = 4;  // how deep products are taken apart
}  // namespace

void Requirements::record(Condition c, Expr subject, int depth) {
  by_subject_[subject] |= bit(c);
  // inv(A') needs A invertible as much as inv(A) does.
  if ((c == Condition::Invertible || c == Condition::PositiveDet) && subject->op == Op::Transpose)
    by_subject_[subject->kid(0)] |= bit(c);
  // log(p ./ q) needs p ./ q > 0, so p and q have no zero entry.
  if ((c == Condition::Positive || c == Condition::Nonzero) && depth < kFactorDepth)
    for (Expr k : nonzero_factors(subject)) record(Condition::Nonzero, k, depth + 1);
}

bool Requirements::has(Condition c, Expr subject) const { return has(c, subject, 0); }

std::vector<std::pair<Condition, Expr>> Requirements::list() const {
  std::vector<std::pair<Condition, Expr>> out;
  for (const auto& [subject, bits] : by_subject_)
    for (unsigned i = 0; i <= static_cast<unsigned>(Condition::PositiveDet); ++i)
      if (bits & (1u << i)) out.push_back({static_cast<Condition>(i), subject});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {  // a deterministic order
    return a.second->id != b.second->id ? a.second->id < b.second->id : a.first < b.first;
  });
  return out;
}

bool Requirements::has(Condition c, Expr subject, int depth) const {
  auto holds = [&](Expr s) {
    auto it = by_subject_.find(s);
    if (it == by_subject_.end()) return false;
    for (unsigned i = 0; i <= static_cast<unsigned>(Condition::PositiveDet); ++i)
      if ((it->second & (1u << i)) && implies(static_cast<Condition>(i), c)) return true;
    return false;
  };
  if (holds(subject)) return true;
  const bool matrix_condition = c == Condition::Invertible || c == Condition::PositiveDet;
  if (matrix_condition) return subject->op == Op::Transpose && holds(subject->kid(0));
  // p .* q has no zero entry where neither p nor q has; p ./ q where p has none.
  if (c != Condition::Nonzero || depth >= kFactorDepth || !is_product_of_factors(subject)) return false;
  if (subject->op == Op::ElemDiv) return has(c, subject->kid(0), depth + 1);
  return std::all_of(subject->kids.begin(), subject->kids.end(), [&](Expr k) {
    return (k->op == Op::Const && k->value != 0) || known(c, k) || has(c, k, depth + 1);
  });
}

std::vector<std::pair<Condition, Expr>> open_conditions(Expr e) {
  std::vector<std::pair<Condition, Expr>> out;
  std::unordered_set<Expr> seen;
  std::vector<Expr> stack{e};
  while (!stack.empty()) {
    Expr n = stack.back();
    stack.pop_back();
    if (!n->restricted || !seen.insert(n).second) continue;
    if (auto open = own_condition(*n)) out.push_back({open->c, open->subject});
    stack.insert(stack.end(), n->kids.begin(), n->kids.end());
  }
  return out;
}

bool conditions_covered(Expr e, const Requirements& others) {
  for (const auto& [c, subject] : open_conditions(e))
    if (!others.has(c, subject)) return false;
  return true;
}

Assume::Assume(Context& cx, const std::vector<std::pair<Condition, Expr>>& conditions)
    : cx_(cx), size_(cx.assumptions().size()) {
  // A product with no zero entry has factors with none: assumed too.
  std::vector<std::pair<Condition, Expr>> todo(conditions.begin(), conditions.end());
  for (std::size_t i = 0; i < todo.size() && i < 64; ++i) {
    auto [c, subject] = todo[i];
    cx.assumptions().push_back({static_cast<std::uint8_t>(c), subject});
    if (c == Condition::Positive || c == Condition::Nonzero)
      for (Expr k : nonzero_factors(subject)) todo.push_back({Condition::Nonzero, k});
  }
}

Assume::~Assume() { cx_.assumptions().resize(size_); }

namespace {

// Whether summing the exponents keeps every condition they put on b.
bool sum_keeps_domain(Expr b, const std::vector<double>& exponents, double total) {
  PowerNeeds all, merged = needs_of(total);
  for (double e : exponents) {
    PowerNeeds n = needs_of(e);
    all.nonneg = all.nonneg || n.nonneg;
    all.nonzero = all.nonzero || n.nonzero;
  }
  return settled({all.nonneg && !merged.nonneg, all.nonzero && !merged.nonzero}, b, true);
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

bool has_unmerged_powers(Expr e) {
  if (!e->restricted) return false;
  auto base = [](Expr f, Op pow_op) { return f->op == pow_op && f->kid(1)->op == Op::Const ? f->kid(0) : f; };
  std::unordered_set<Expr> bases;
  if (e->op == Op::Mul) {
    std::vector<Expr> chain;
    for (Expr k : e->kids) {
      if (!k->is_scalar()) chain.push_back(k);
      if (k->is_scalar() && k->op != Op::Const && !bases.insert(base(k, Op::Pow)).second) return true;
    }
    // x'*x/(x'*x): the scalar chain is a base too.
    return e->is_scalar() && !chain.empty() && bases.count(mul(std::move(chain)));
  }
  auto factors = [&](Expr f, std::vector<Expr>& out) {
    if (f->op == Op::ElemMul)
      out.insert(out.end(), f->kids.begin(), f->kids.end());
    else
      out.push_back(f);
  };
  std::vector<Expr> fs;
  if (e->op == Op::ElemMul) factors(e, fs);
  if (e->op == Op::ElemDiv) {
    factors(e->kid(0), fs);
    factors(e->kid(1), fs);
  }
  for (Expr f : fs)
    if (!bases.insert(base(f, Op::ElemPow)).second) return true;
  return false;
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
