#include "print/precedence.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "print/spellings.hpp"

namespace matcalc {

// Operators written with symbols have a precedence of their own; a call
// (any operator that ops.def writes as f(...)) is an atom.
int precedence(Expr e) {
  std::optional<SyntaxOp> op = syntax_op(e->op);
  if (!op) return kPrecAtom;
  // clang-format off
  switch (*op) {
    case SyntaxOp::Add: return kPrecSum;
    case SyntaxOp::Mul: {
      ProductLayout p = layout_product(e);
      if (p.coef < 0) return kPrecUnary;
      return kPrecProduct;
    }
    case SyntaxOp::ElemMul: case SyntaxOp::ElemDiv: return kPrecProduct;
    case SyntaxOp::Pow: case SyntaxOp::MatPow: case SyntaxOp::ElemPow: case SyntaxOp::Transpose: return kPrecPower;
    case SyntaxOp::Const: return e->value < 0 ? kPrecUnary : kPrecAtom;
    case SyntaxOp::Symbol: return kPrecAtom;
  }
  // clang-format on
  return kPrecAtom;  // unreachable: the switch names every SyntaxOp
}

ProductLayout layout_product(Expr e) {
  ProductLayout p;
  for (Expr k : e->kids) {
    if (k->op == Op::Const) {
      p.coef *= k->value;
    } else if (!k->is_scalar()) {
      p.chain.push_back(k);
    } else if (k->op == Op::Pow && k->kid(1)->op == Op::Const && k->kid(1)->value < 0) {
      p.denominator.push_back(pow(k->kid(0), -k->kid(1)->value));
    } else {
      p.numerator.push_back(k);
    }
  }
  double m = std::fabs(p.coef);
  if (m < 1 && m > 0) {
    double k = std::round(1 / m);
    if (k <= 1e6 && 1 / k == m) {
      p.divisor = k;
      p.coef = p.coef < 0 ? -1 : 1;
    }
  }
  return p;
}

std::vector<SignedTerm> signed_terms(Expr add) {
  std::vector<SignedTerm> out;
  for (Expr t : add->kids) {
    auto [c, rest] = split_coefficient(t);
    if (c < 0)
      out.push_back({true, c == -1 ? rest : (rest->is_const(1) ? constant(*t->ctx, -c) : scale(-c, rest))});
    else
      out.push_back({false, t});
  }
  return out;
}

namespace {
bool identity_like(Expr t) {
  if (t->op == Op::Identity) return true;
  if (t->op != Op::Mul) return false;
  for (Expr k : t->kids)
    if (!k->is_scalar() && k->op != Op::Identity) return false;
  return true;
}
}  // namespace

bool identity_size_known_in_sum(Expr add) {
  for (Expr t : add->kids)
    if (!identity_like(t)) return true;
  return false;
}

bool is_broadcast_term(Expr t, bool rows_too) {
  if (!t->shape.is_col() && !(rows_too && t->shape.is_row())) return false;
  if (t->op == Op::Ones) return true;
  if (t->op != Op::Mul) return false;
  // In normal form the scalar factors come first and the chain last: the
  // chain must be the column of ones alone.
  for (std::size_t i = 0; i + 1 < t->kids.size(); ++i)
    if (!t->kid(i)->is_scalar()) return false;
  return t->kids.back()->op == Op::Ones;
}

std::vector<bool> broadcast_terms(Expr add, bool rows_too) {
  std::vector<bool> out(add->kids.size(), false);
  if (add->op != Op::Add || !(add->shape.is_col() || (rows_too && add->shape.is_row()))) return out;
  bool other = false;
  for (std::size_t i = 0; i < add->kids.size(); ++i) {
    out[i] = is_broadcast_term(add->kid(i), rows_too);
    other = other || !out[i];
  }
  if (!other) out.assign(out.size(), false);
  return out;
}

SignedTerm negated_sum_as_sign(const SignedTerm& t) {
  Expr m = t.magnitude;
  if (t.negative || m->op != Op::Mul || m->kids.size() != 2 || m->kid(0)->op != Op::Add) return t;
  Expr s = m->kid(0);
  for (Expr k : s->kids)
    if (split_coefficient(k).first >= 0) return t;
  return {true, mul(neg(s), m->kid(1))};
}

void check_printable(Expr e) {
  std::unordered_map<Expr, std::size_t> size;  // tree size, saturated past the limit
  for (Expr n : topo_order(e)) {
    std::size_t s = 1;
    for (Expr k : n->kids) s = std::min(s + size.at(k), kMaxPrintedNodes + 1);
    size[n] = s;
  }
  if (size.at(e) > kMaxPrintedNodes)
    throw Error(ErrorKind::Limit, "the printed expression would have more than " + std::to_string(kMaxPrintedNodes) +
                                      " terms (shared subexpressions print once per use); --format numpy or eigen "
                                      "name them instead");
}

std::string format_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);
}

Expr lone_broadcast_factor(Expr term) {
  if (term->op == Op::Ones) return nullptr;
  ProductLayout p = layout_product(term);
  if (p.coef == 1 && p.divisor == 1 && p.numerator.size() == 1 && p.denominator.empty()) return p.numerator[0];
  return nullptr;
}

}  // namespace matcalc
