// Sums: the normal form of `+` (see builders.hpp and docs/ARCHITECTURE.md,
// "Normal form"): flat, zeros dropped, like terms merged, matrix terms with
// the same matrix part collected, common chain factors pulled out, terms in
// canonical order.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "ir/builders.hpp"
#include "ir/builders_internal.hpp"
#include "ir/domain.hpp"
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

// A sum of a scalar and an array: a Shape error that says what to write.
// Broadcasting is surface syntax (inference lowers `s + v` to
// `s*ones(n) + v`); at the builders a scalar and an array never add, and a
// caller of the API is told the explicit forms: s*ones(n) for a vector, and
// for a matrix s*ones(n,m) or, when square, s*eye(n) (LANGUAGE.md: `s^2`
// next to a matrix may mean either).
// "a" or "an" before a size read aloud: an n x m matrix, a 3 x 3 matrix, an 8 x 2 one.
std::string article(const std::string& size) {
  const bool letter = size.size() == 1 || (size.size() > 1 && size[1] == '*');
  const bool vowel_sound = letter ? std::string_view("aefhilmnorsx").find(size[0]) != std::string_view::npos
                                  : size[0] == '8' || size.rfind("11", 0) == 0 || size.rfind("18", 0) == 0;
  return vowel_sound ? "an " : "a ";
}

[[noreturn]] void sum_shape_error(const std::string& op, const Shape& a, const Shape& b) {
  if (a.is_scalar() == b.is_scalar()) shape_error(op, a, b);
  const bool scalar_first = a.is_scalar();
  const Shape& arr = scalar_first ? b : a;
  const std::string rows = arr.rows.str(), cols = arr.cols.str();
  std::string what, hint;
  if (arr.is_col()) {
    what = "a vector(" + rows + ")";
    hint = "write s*ones(" + rows + ") to add s to every entry";
  } else if (arr.is_row()) {
    what = "a 1 x " + cols + " row vector";
    hint = "write s*ones(1," + cols + ") to add s to every entry";
  } else {
    what = article(rows) + rows + " x " + cols + " matrix";
    hint = "write ";
    if (arr.is_square()) hint += "s*eye(" + rows + ") for a multiple of the identity or ";
    hint += "s*ones(" + rows + "," + cols + ") for every entry";
  }
  std::string verb = op == "-" ? (scalar_first ? "cannot subtract " + what + " from a scalar"
                                               : "cannot subtract a scalar from " + what)
                               : "cannot add a scalar to " + what;
  throw Error(ErrorKind::Shape, "shape mismatch in '" + op + "': " + verb + ": " + hint);
}

// ------------------------------------------------------------ add's passes

// Pass 1. Nested sums are flattened; every term has the shape of the first.
std::vector<Expr> flatten_terms(const std::vector<Expr>& terms) {
  std::vector<Expr> flat;
  for (Expr t : terms) {
    if (t->op == Op::Add)
      flat.insert(flat.end(), t->kids.begin(), t->kids.end());
    else
      flat.push_back(t);
  }
  const Shape& s = flat[0]->shape;
  for (Expr t : flat)
    if (!(t->shape == s)) sum_shape_error("+", s, t->shape);
  return flat;
}

// Pass 2. Like terms are collected: zeros dropped, equal rests (the term
// without its numeric coefficient) summed into one coefficient, in
// first-seen order (x + 2*y + x -> 2*x + 2*y). A coefficient may be 0 now.
std::vector<std::pair<Expr, double>> collect_like_terms(const std::vector<Expr>& flat) {
  std::vector<std::pair<Expr, double>> like;
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
  return like;
}

// Pass 3, scalar sums. The terms: each rest times its coefficient, those
// with coefficient 0 gone.
std::vector<Expr> scalar_terms(Context& cx, const std::vector<std::pair<Expr, double>>& like) {
  std::vector<Expr> out;
  for (const auto& [rest, c] : like)
    if (c != 0 || rest->restricted) out.push_back(rest->is_const(1) ? constant(cx, c) : mul(constant(cx, c), rest));
  return out;
}

// Pass 3, matrix sums. a*X + b*X = (a+b)*X: terms are grouped by their
// matrix part, in first-seen order, the scalar parts summed; zero terms gone.
std::vector<Expr> matrix_terms(const std::vector<std::pair<Expr, double>>& like) {
  std::vector<std::pair<Expr, std::vector<Expr>>> groups;
  std::map<Expr, std::size_t> where;
  for (const auto& [rest, c] : like) {
    if (c == 0 && !rest->restricted) continue;
    auto [coef, part] = split_scalar_part(c, rest);
    auto [it, fresh] = where.emplace(part, groups.size());
    if (fresh) groups.push_back({part, {}});
    groups[it->second].second.push_back(coef);
  }
  std::vector<Expr> out;
  for (auto& [part, coefs] : groups) {
    Expr term = coefs.size() == 1 ? mul(coefs[0], part) : mul(add(coefs), part);
    if (!term->is_zero()) out.push_back(term);
  }
  return out;
}

// Pass 4, matrix sums. Common factors, one shared factor at a time, right
// then left, until no two terms share a right or a left chain factor.
std::vector<Expr> pull_out_common_factors(std::vector<Expr> out) {
  for (std::size_t n = 0; n != out.size();) {
    n = out.size();
    out = factor_common(factor_common(std::move(out), true), false);
  }
  return out;
}

// Pass 4b. Terms that cancelled but were undefined somewhere stay as
// 0*term (log(a) - log(a) = 0*log(a): no number at a = -2), witnesses of
// their conditions. A witness goes when the other terms surely need every
// condition it carries (inv(A)*y + 0*inv(A)*x is inv(A)*y). One walk over
// the other terms, however many witnesses.
void drop_covered_witnesses(std::vector<Expr>& out) {
  auto is_witness = [](Expr t) { return t->op == Op::Mul && t->kid(0)->is_const(0); };
  if (std::none_of(out.begin(), out.end(), is_witness)) return;
  Requirements others;
  bool any_other = false;
  for (Expr t : out)
    if (!is_witness(t)) {
      others.add(t);
      any_other = true;
    }
  if (!any_other) return;
  std::vector<Expr> kept;
  for (Expr t : out)
    if (!is_witness(t) || !conditions_covered(t, others)) kept.push_back(t);
  out = std::move(kept);
}

// Pass 4c. A product whose powers were held apart for a condition
// (x .* x.^-1: x may be 0) merges when the other terms surely need that
// condition: in x .* x.^-1 + log(x), log(x) needs x > 0, so it is
// 1 + log(x). At most a few such terms are tried, so the pass stays linear.
bool merge_covered_powers(std::vector<Expr>& out) {
  constexpr int kMaxTried = 8;
  int tried = 0;
  bool changed = false;
  for (std::size_t i = 0; i < out.size() && tried < kMaxTried; ++i) {
    auto [c, rest] = split_coefficient(out[i]);
    if (!has_unmerged_powers(rest)) continue;
    ++tried;
    Requirements others;
    for (std::size_t j = 0; j < out.size(); ++j)
      if (j != i) others.add(out[j]);
    std::vector<std::pair<Condition, Expr>> covered;
    for (const auto& cond : open_conditions(rest))
      if (others.has(cond.first, cond.second)) covered.push_back(cond);
    if (covered.empty()) continue;
    Assume assume(*rest->ctx, covered);
    // A scalar-valued chain goes in as one factor, to meet its own powers:
    // x'*x/(x'*x) is 1 where x'*x != 0.
    std::vector<Expr> factors, chain;
    for (Expr k : rest->kids) (k->is_scalar() ? factors : chain).push_back(k);
    const bool scalar_product = rest->op == Op::Mul && rest->is_scalar() && !chain.empty();
    if (scalar_product) factors.push_back(mul(std::move(chain)));
    Expr merged = scale(c, scalar_product ? mul(std::move(factors)) : rebuild(rest, rest->kids));
    if (merged != out[i]) {
      out[i] = merged;
      changed = true;
    }
  }
  return changed;
}

// Pass 5. Two terms or more: the sum node, terms in canonical order
// (positive coefficients first, then by compare() of the rest, then by
// coefficient), symmetric when every term is. Scaling a term in pass 3 moves
// its coefficient into a sum factor where that reads better
// (2*x'*(A + B)*x = x'*(2*A + 2*B)*x, or 1*(a + b) = a + b), which can make
// it like another term, or a sum: then the terms are collected once more
// (there are fewer terms, or fewer nested sums, each time).
Expr ordered_sum(Context& cx, const Shape& s, std::vector<Expr> out) {
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

}  // namespace

// ---------------------------------------------------------------- sums

namespace {
// vec(A) + c*vec(B) = vec(A + c*B) when every term is a (scaled) vec of
// matrices of one shape: the sum is then one matrix, and kron(C, D)*vec(...)
// can act on it (vec is linear). nullptr when some term is not.
Expr sum_of_vecs(const std::vector<Expr>& terms) {
  std::vector<Expr> inner;
  for (Expr t : terms) {
    auto [c, rest] = split_coefficient(t);
    if (rest->op != Op::Vec || (!inner.empty() && !(rest->kid(0)->shape == inner.front()->shape))) return nullptr;
    inner.push_back(scale(c, rest->kid(0)));
  }
  return vec(add(std::move(inner)));
}
}  // namespace

Expr add(std::vector<Expr> terms) {
  if (terms.empty()) throw Error(ErrorKind::Shape, "empty sum");
  Context& cx = *terms[0]->ctx;
  const std::vector<Expr> flat = flatten_terms(terms);
  const Shape s = flat[0]->shape;
  const auto like = collect_like_terms(flat);
  std::vector<Expr> out = s.is_scalar() ? scalar_terms(cx, like) : pull_out_common_factors(matrix_terms(like));
  drop_covered_witnesses(out);
  if (out.size() > 1 && merge_covered_powers(out)) return add(std::move(out));  // the merged terms may collect
  if (out.empty()) return zeros(cx, s);
  if (out.size() == 1) return out[0];
  if (Expr v = sum_of_vecs(out)) return v;
  return ordered_sum(cx, s, std::move(out));
}

Expr add(Expr a, Expr b) { return add(std::vector<Expr>{a, b}); }
Expr neg(Expr a) { return scale(-1.0, a); }
Expr sub(Expr a, Expr b) {
  if (!(a->shape == b->shape)) sum_shape_error("-", a->shape, b->shape);
  return add(a, neg(b));
}

}  // namespace matcalc
