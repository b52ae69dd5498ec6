// Sums: the normal form of `+` (see builders.hpp and docs/ARCHITECTURE.md,
// "Normal form"): flat, zeros dropped, like terms merged, matrix terms with
// the same matrix part collected, common chain factors pulled out, terms in
// canonical order.
#include <algorithm>
#include <map>
#include <set>

#include "ir/builders.hpp"
#include "ir/builders_internal.hpp"
#include "ir/error.hpp"

namespace matcalc {

using namespace builders_detail;

namespace {
// A matrix-valued term's scalar factors and its matrix part: 2*a*X*Y -> (2*a, X*Y).
std::pair<Expr, Expr> split_scalar_part(double c, Expr rest) {
  Context& cx = *rest->ctx;
  if (rest->op == Op::Mul && !rest->is_scalar()) {
    std::vector<Expr> scalars{constant(cx, c)}, chain;
    for (Expr k : rest->kids) (k->is_scalar() ? scalars : chain).push_back(k);
    return {mul(std::move(scalars)), mul(std::move(chain))};
  }
  return {constant(cx, c), rest};
}

// A*x + B*x = (A + B)*x: terms that end in the same matrix factor share it.
// X*A + X*B = X*(A + B) likewise on the left.
std::vector<Expr> factor_common(std::vector<Expr> terms, bool right) {
  auto last = [right](Expr t) -> Expr {
    if (t->op != Op::Mul) return nullptr;
    std::size_t n_chain = 0, first = t->kids.size();
    for (std::size_t i = 0; i < t->kids.size(); ++i)
      if (!t->kids[i]->is_scalar()) {
        ++n_chain;
        first = std::min(first, i);
      }
    if (n_chain < 2) return nullptr;
    return right ? t->kids.back() : t->kids[first];
  };
  std::map<Expr, int> count;
  for (Expr t : terms)
    if (Expr r = last(t)) ++count[r];
  Expr best = nullptr;
  for (Expr t : terms)  // the first shared factor in term order
    if (Expr r = last(t); r && count[r] >= 2) {
      best = r;
      break;
    }
  if (!best) return terms;
  std::vector<Expr> rest, lefts;
  for (Expr t : terms) {
    if (last(t) != best) {
      rest.push_back(t);
      continue;
    }
    std::vector<Expr> k(t->kids.begin(), t->kids.end());
    if (right)
      k.pop_back();
    else
      k.erase(std::find(k.begin(), k.end(), best));
    lefts.push_back(mul(std::move(k)));
  }
  Expr common = right ? mul(add(std::move(lefts)), best) : mul(best, add(std::move(lefts)));
  if (!common->is_zero()) rest.push_back(common);  // the rest may cancel: A*(X - X')*x + A*(X' - X)*x
  return rest;
}

}  // namespace

Expr add(std::vector<Expr> terms) {
  if (terms.empty()) throw Error(ErrorKind::Shape, "empty sum");
  Context& cx = *terms[0]->ctx;
  std::vector<Expr> flat;
  for (Expr t : terms) {
    if (t->op == Op::Add)
      flat.insert(flat.end(), t->kids.begin(), t->kids.end());
    else
      flat.push_back(t);
  }
  const Shape s = flat[0]->shape;
  for (Expr t : flat)
    if (!(t->shape == s)) shape_error("+", s, t->shape);

  // Collect like terms: equal rest -> summed numeric coefficient.
  std::vector<std::pair<Expr, double>> like;  // first-seen order, then sorted
  std::map<Expr, std::size_t> where;
  for (Expr t : flat) {
    if (t->is_zero()) continue;
    auto [c, rest] = split_coefficient(t);
    auto [it, fresh] = where.emplace(rest, like.size());
    if (fresh)
      like.push_back({rest, c});
    else
      like[it->second].second += c;
  }

  std::vector<Expr> out;
  if (!s.is_scalar()) {
    // a*X + b*X = (a+b)*X: group matrix terms by their matrix part.
    std::vector<std::pair<Expr, std::vector<Expr>>> groups;
    std::map<Expr, std::size_t> gwhere;
    for (auto& [rest, c] : like) {
      if (c == 0) continue;
      auto [coef, part] = split_scalar_part(c, rest);
      auto [it, fresh] = gwhere.emplace(part, groups.size());
      if (fresh) groups.push_back({part, {}});
      groups[it->second].second.push_back(coef);
    }
    for (auto& [part, coefs] : groups) {
      Expr term = coefs.size() == 1 ? mul(coefs[0], part) : mul(add(coefs), part);
      if (!term->is_zero()) out.push_back(term);
    }
    // Common factors, one shared factor at a time, right then left, until no
    // two terms share a right or a left chain factor.
    for (std::size_t n = 0; n != out.size();) {
      n = out.size();
      out = factor_common(factor_common(std::move(out), true), false);
    }
  } else {
    for (auto& [rest, c] : like)
      if (c != 0) out.push_back(rest->is_const(1) ? constant(cx, c) : mul(constant(cx, c), rest));
  }

  if (out.empty()) return zeros(cx, s);
  if (out.size() == 1) return out[0];
  // Sort keys computed once per term, not once per comparison.
  struct Keyed {
    double coef;
    Expr rest, term;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(out.size());
  std::set<Expr> rests;
  bool again = false;
  for (Expr t : out) {
    auto [c, r] = split_coefficient(t);
    keyed.push_back({c, r, t});
    again = again || t->op == Op::Add || !rests.insert(r).second;
  }
  // Scaling a term moves its coefficient into a sum factor where that reads
  // better (2*x'*(A + B)*x = x'*(2*A + 2*B)*x), which can make it like
  // another term, or a sum: collect once more (there are fewer terms now).
  if (again) return add(std::move(out));
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if ((a.coef < 0) != (b.coef < 0)) return b.coef < 0;  // a - b rather than -b + a
    if (int c = compare(a.rest, b.rest)) return c < 0;
    return a.coef < b.coef;
  });
  for (std::size_t i = 0; i < keyed.size(); ++i) out[i] = keyed[i].term;
  bool symmetric = std::all_of(out.begin(), out.end(), [](Expr t) { return t->symmetric; });
  return make(cx, Op::Add, s, std::move(out), symmetric);
}

Expr add(Expr a, Expr b) { return add(std::vector<Expr>{a, b}); }
Expr neg(Expr a) { return scale(-1.0, a); }
Expr sub(Expr a, Expr b) {
  if (!(a->shape == b->shape)) shape_error("-", a->shape, b->shape);
  return add(a, neg(b));
}

}  // namespace matcalc
