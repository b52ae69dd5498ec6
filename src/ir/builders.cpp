// Checked builders and the normal form (see builders.hpp).
#include "ir/builders.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "ir/error.hpp"

namespace matcalc {

namespace {

[[noreturn]] void shape_error(const std::string& op, const Shape& a, const Shape& b) {
  throw Error(ErrorKind::Shape, "shape mismatch in '" + op + "': " + a.str() + " and " + b.str());
}

[[noreturn]] void arg_error(const std::string& fn, const std::string& need, const Shape& got) {
  throw Error(ErrorKind::Shape, fn + " needs " + need + ", got " + got.str());
}

Expr make(Context& cx, Op op, Shape s, std::vector<Expr> kids, bool symmetric, int power = 0) {
  Node n;
  n.op = op;
  n.shape = std::move(s);
  n.kids = std::move(kids);
  n.power = power;
  n.symmetric = symmetric && n.shape.is_square();
  return cx.intern(std::move(n));
}

Expr make1(Op op, Expr a, Shape s, bool symmetric) {
  return make(*a->ctx, op, std::move(s), {a}, symmetric);
}

bool is_scalar_chain(Expr e) {  // a scalar-valued matrix product such as x'*A*x
  if (e->op != Op::Mul || !e->is_scalar()) return false;
  return std::any_of(e->kids.begin(), e->kids.end(), [](Expr k) { return !k->is_scalar(); });
}

// Scalar exponent of a factor for merging equal bases: x^3 -> (x, 3).
std::pair<Expr, double> base_exponent(Expr f, Op pow_op) {
  if (f->op == pow_op && f->kid(1)->op == Op::Const) return {f->kid(0), f->kid(1)->value};
  return {f, 1.0};
}

double fold_elementwise(Op f, double x) {
  switch (f) {
    case Op::Exp: return std::exp(x);
    case Op::Log: return std::log(x);
    case Op::Sqrt: return std::sqrt(x);
    case Op::Sin: return std::sin(x);
    case Op::Cos: return std::cos(x);
    case Op::Tan: return std::tan(x);
    case Op::Tanh: return std::tanh(x);
    case Op::Abs: return std::fabs(x);
    case Op::Sign: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case Op::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Op::Softplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    case Op::Relu: return std::max(x, 0.0);
    default: return NAN;
  }
}

// f(0) == 0 for these, so f(zeros) is zeros.
bool zero_preserving(Op f) {
  switch (f) {
    case Op::Sin: case Op::Tan: case Op::Tanh: case Op::Abs: case Op::Sign:
    case Op::Relu: case Op::Sqrt:
      return true;
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------- leaves

Expr constant(Context& cx, double v) {
  if (!std::isfinite(v))  // literals are finite, so this is folding that overflowed
    throw Error(ErrorKind::Limit, "arithmetic on the constants of the expression overflows (" +
                                      std::string(std::isnan(v) ? "NaN" : "infinite") + ")");
  if (v == 0) v = 0;  // no negative zero
  Node n;
  n.op = Op::Const;
  n.shape = Shape::scalar();
  n.value = v;
  n.symmetric = true;
  return cx.intern(std::move(n));
}

Expr symbol(Context& cx, const std::string& name, Shape shape, bool symmetric) {
  Node n;
  n.op = Op::Symbol;
  n.shape = std::move(shape);
  n.name = name;
  n.symmetric = (symmetric || n.shape.is_scalar()) && n.shape.is_square();
  return cx.intern(std::move(n));
}

Expr identity(Context& cx, Dim n) {
  if (n.is_one()) return constant(cx, 1);
  return make(cx, Op::Identity, {n, n}, {}, true);
}

Expr zeros(Context& cx, Shape s) {
  if (s.is_scalar()) return constant(cx, 0);
  return make(cx, Op::Zeros, std::move(s), {}, true);
}

Expr ones(Context& cx, Shape s) {
  if (s.is_scalar()) return constant(cx, 1);
  return make(cx, Op::Ones, std::move(s), {}, true);
}

Expr zero_like(Expr e) { return zeros(*e->ctx, e->shape); }

std::pair<double, Expr> split_coefficient(Expr e) {
  if (e->op == Op::Const) return {e->value, constant(*e->ctx, 1)};
  if (e->op == Op::Mul && e->kid(0)->op == Op::Const) {
    std::vector<Expr> rest(e->kids.begin() + 1, e->kids.end());
    return {e->kid(0)->value, mul(std::move(rest))};
  }
  return {1.0, e};
}

// ---------------------------------------------------------------- sums

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
// Adjacent equal factors of a chain become a power: X*X^2*Y = X^3*Y.
std::vector<Expr> merge_powers(std::vector<Expr> chain) {
  auto split = [](Expr f) -> std::pair<Expr, long long> {
    if (f->op == Op::MatPow) return {f->kid(0), f->power};
    return {f, 1};
  };
  std::vector<std::pair<Expr, long long>> runs;
  for (Expr f : chain) {
    auto [b, k] = split(f);
    if (!runs.empty() && runs.back().first == b && b->shape.is_square())
      runs.back().second += k;
    else
      runs.push_back({b, k});
  }
  if (runs.size() == chain.size()) return chain;
  std::vector<Expr> out;
  for (auto& [b, k] : runs) out.push_back(k == 1 ? b : matpow(b, k));
  return out;
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
  rest.push_back(right ? mul(add(std::move(lefts)), best) : mul(best, add(std::move(lefts))));
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
    out = factor_common(factor_common(std::move(out), true), false);
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
  for (Expr t : out) {
    auto [c, r] = split_coefficient(t);
    keyed.push_back({c, r, t});
  }
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

// ---------------------------------------------------------------- products

namespace {
// Does c*(t1 + t2 + ...) read better distributed? Yes when it does not add
// non-unit coefficients: -(a - b) = b - a, 2*(N/2*A - B/2) = N*A - B.
bool worth_distributing(double c, Expr sum) {
  int before = std::fabs(c) != 1 ? 1 : 0, after = 0;
  for (Expr t : sum->kids) {
    double ct = split_coefficient(t).first;
    before += std::fabs(ct) != 1;
    after += std::fabs(ct * c) != 1;
  }
  return after <= before;
}
}  // namespace

Expr mul(std::vector<Expr> factors) {
  if (factors.empty()) throw Error(ErrorKind::Shape, "empty product");
  Context& cx = *factors[0]->ctx;

  // Flatten nested products; a scalar-valued chain (x'*A*x) stays one factor.
  std::vector<Expr> items;
  for (Expr f : factors) {
    if (f->op == Op::Mul && !is_scalar_chain(f))
      items.insert(items.end(), f->kids.begin(), f->kids.end());
    else
      items.push_back(f);
  }
  std::vector<Expr> scalars, chain;
  for (Expr f : items) (f->is_scalar() ? scalars : chain).push_back(f);
  // A run of the chain whose product is 1 x 1 (a row vector ... a column
  // vector) and is not the whole chain is a scalar factor: x*a'*b*y' is
  // (a'*b)*x*y', so the form does not depend on how the product was grouped.
  for (std::size_t j = 0; j < chain.size(); ++j) {
    if (!chain[j]->shape.rows.is_one()) continue;
    std::size_t i = j;
    while (i < chain.size() && !chain[i]->shape.cols.is_one()) ++i;
    if (i == chain.size()) break;
    if (j == 0 && i + 1 == chain.size()) break;  // the whole chain is the scalar
    std::vector<Expr> run(chain.begin() + static_cast<long>(j), chain.begin() + static_cast<long>(i + 1));
    scalars.push_back(mul(std::move(run)));
    chain.erase(chain.begin() + static_cast<long>(j), chain.begin() + static_cast<long>(i + 1));
    j = static_cast<std::size_t>(-1);  // start over: the rest may hold more
  }
  // A 1 x 1 chain among other scalar chains is one of them: (a'*b)*(c'*d).
  if (!chain.empty() && chain.front()->shape.rows.is_one() && chain.back()->shape.cols.is_one() &&
      std::any_of(scalars.begin(), scalars.end(), is_scalar_chain)) {
    scalars.push_back(mul(chain));
    chain.clear();
  }
  if (chain.empty()) {
    // A lone scalar chain among scalars may join: 2*(x'*y) = 2*x'*y.
    auto n_chains = std::count_if(scalars.begin(), scalars.end(), is_scalar_chain);
    if (n_chains == 1) {
      auto it = std::find_if(scalars.begin(), scalars.end(), is_scalar_chain);
      Expr sc = *it;
      scalars.erase(it);
      for (Expr k : sc->kids) (k->is_scalar() ? scalars : chain).push_back(k);
    }
  }
  // A scalar chain that stays one factor keeps no scalars of its own: they
  // join the product's, so that a*(x'*y)*(z'*w) has one form however it was
  // grouped ((a*x'*y)*(z'*w) is the same product).
  for (std::size_t i = 0; i < scalars.size(); ++i) {
    if (!is_scalar_chain(scalars[i])) continue;
    std::vector<Expr> inner, moved;
    for (Expr k : scalars[i]->kids) (k->is_scalar() ? moved : inner).push_back(k);
    if (moved.empty()) continue;
    scalars[i] = mul(std::move(inner));
    scalars.insert(scalars.end(), moved.begin(), moved.end());
  }
  for (std::size_t i = 1; i < chain.size(); ++i)
    if (chain[i - 1]->shape.cols != chain[i]->shape.rows)
      shape_error("*", chain[i - 1]->shape, chain[i]->shape);
  Shape s = chain.empty() ? Shape::scalar() : Shape{chain.front()->shape.rows, chain.back()->shape.cols};

  double coef = 1;
  std::vector<std::pair<Expr, double>> bases;  // scalar factors as base^exponent
  std::map<Expr, std::size_t> where;
  for (Expr f : scalars) {
    if (f->op == Op::Const) {
      coef *= f->value;
      continue;
    }
    auto [b, e] = base_exponent(f, Op::Pow);
    auto [it, fresh] = where.emplace(b, bases.size());
    if (fresh)
      bases.push_back({b, e});
    else
      bases[it->second].second += e;
  }
  if (coef == 0 || std::any_of(chain.begin(), chain.end(), [](Expr f) { return f->is_zero(); }))
    return zeros(cx, s);

  std::vector<Expr> sc;
  for (auto& [b, e] : bases) {
    Expr p = pow(b, e);
    if (p->op == Op::Const) {
      coef *= p->value;
    } else if (p->op == Op::Mul && !is_scalar_chain(p)) {  // (2*a)^2 = 4*a^2: merge the parts
      for (Expr k : p->kids) (k->op == Op::Const ? (void)(coef *= k->value) : sc.push_back(k));
    } else {
      sc.push_back(p);
    }
  }
  if (coef == 0) return zeros(cx, s);
  std::sort(sc.begin(), sc.end(), expr_less);

  if (chain.size() > 1) {
    std::vector<Expr> kept;
    for (Expr f : chain)
      if (f->op != Op::Identity) kept.push_back(f);
    if (kept.empty()) kept.push_back(chain.front());
    chain = merge_powers(std::move(kept));
  }

  // One factor is a sum: move the coefficient into it where that reads
  // better, 2*(N/2*A - B/2)*W = (N*A - B)*W. (With two sums or more it stays
  // in front; the text printer then writes -(Y*A*B) so that the text parses
  // back to this node and not to (-Y*A)*B, where the coefficient meets one.)
  if (coef != 1) {
    std::vector<Expr*> sums;
    for (Expr& f : sc) if (f->op == Op::Add) sums.push_back(&f);
    for (Expr& f : chain) if (f->op == Op::Add) sums.push_back(&f);
    if (sums.size() == 1 && worth_distributing(coef, *sums[0])) {
      Expr& target = *sums[0];
      std::vector<Expr> terms;
      for (Expr t : target->kids) terms.push_back(scale(coef, t));
      target = add(std::move(terms));
      coef = 1;
      if (target->op == Op::Const) {
        coef = target->value;
        sc.erase(std::remove(sc.begin(), sc.end(), target), sc.end());
      }
      std::sort(sc.begin(), sc.end(), expr_less);  // the new sum takes its place in order
    }
  }
  if (coef == 1 && sc.size() + chain.size() == 1) return sc.empty() ? chain[0] : sc[0];
  if (sc.empty() && chain.empty()) return constant(cx, coef);

  std::vector<Expr> kids;
  if (coef != 1) kids.push_back(constant(cx, coef));
  kids.insert(kids.end(), sc.begin(), sc.end());
  kids.insert(kids.end(), chain.begin(), chain.end());

  bool symmetric = true;  // a palindrome under transposition
  for (std::size_t i = 0, q = chain.size(); i < q / 2 && symmetric; ++i)
    symmetric = transpose(chain[i]) == chain[q - 1 - i];
  if (chain.size() % 2 == 1) symmetric = symmetric && chain[chain.size() / 2]->symmetric;
  return make(cx, Op::Mul, s, std::move(kids), symmetric);
}

Expr mul(Expr a, Expr b) { return mul(std::vector<Expr>{a, b}); }
Expr scale(double c, Expr a) { return mul(constant(*a->ctx, c), a); }

Expr div(Expr a, Expr c) {
  if (!c->is_scalar()) arg_error("'/'", "a scalar divisor", c->shape);
  return mul(a, pow(c, -1.0));
}

Expr pow(Expr a, Expr p) {
  Context& cx = *a->ctx;
  if (!a->is_scalar()) arg_error("'^' with a non-integer exponent", "a scalar base", a->shape);
  if (!p->is_scalar()) arg_error("'^'", "a scalar exponent", p->shape);
  if (p->op == Op::Const) {
    double e = p->value;
    if (e == 1) return a;
    if (e == 0) return constant(cx, 1);
    if (a->op == Op::Const) {
      if (a->value == 0 && e < 0)  // 1/0: no value, and a node that could not print back
        throw Error(ErrorKind::Domain, "division by zero in the constants of the expression (0 to a negative power)");
      double v = std::pow(a->value, e);
      if (std::isfinite(v) && (e == std::round(e) || a->value > 0)) return constant(cx, v);
    }
    if (a->op == Op::Pow && a->kid(1)->op == Op::Const && e == std::round(e))
      return pow(a->kid(0), a->kid(1)->value * e);
    if (a->op == Op::Mul && a->kid(0)->op == Op::Const && e == std::round(e) && !is_scalar_chain(a)) {
      std::vector<Expr> fs;  // (c*x*y)^k = c^k * x^k * y^k
      for (Expr k : a->kids) fs.push_back(pow(k, e));
      return mul(std::move(fs));
    }
  }
  if (a->is_const(1)) return a;
  return make(cx, Op::Pow, Shape::scalar(), {a, p}, true);
}

Expr pow(Expr a, double p) { return pow(a, constant(*a->ctx, p)); }

Expr matpow(Expr x, long long k) {
  Context& cx = *x->ctx;
  if (!x->shape.is_square()) arg_error("'^' with a matrix base", "a square matrix", x->shape);
  if (x->is_scalar()) return pow(x, static_cast<double>(k));
  if (k == 0) return identity(cx, x->shape.rows);
  if (k == 1) return x;
  if (k > kMaxMatrixPower || k < -kMaxMatrixPower)
    throw Error(ErrorKind::Limit, "matrix power too large: " + std::to_string(k) + " (limit " +
                                      std::to_string(kMaxMatrixPower) + ")");
  if (k < 0) return matpow(inv(x), -k);
  if (x->op == Op::Identity || x->op == Op::Zeros) return x;
  if (x->op == Op::MatPow) return matpow(x->kid(0), k * x->power);
  return make(cx, Op::MatPow, x->shape, {x}, x->symmetric, static_cast<int>(k));
}

namespace {
// Pulls scalar factors out of an elementwise operand: (2*a*X) -> (2*a, X).
Expr pull_scalars(Expr f, std::vector<Expr>& scalars) {
  if (f->op != Op::Mul || f->is_scalar()) return f;
  std::vector<Expr> chain;
  for (Expr k : f->kids) (k->is_scalar() ? scalars : chain).push_back(k);
  return mul(std::move(chain));
}
}  // namespace

namespace {
// The normal form of entrywise products and quotients: scalar factors pulled
// out, equal bases merged by exponent (A .* A = A.^2, (B ./ A) .* A = B),
// then (positive powers) ./ (negative powers).
Expr entrywise(const std::vector<Expr>& num, const std::vector<Expr>& den, const Shape& s, Context& cx) {
  std::vector<Expr> scalars;
  std::vector<std::pair<Expr, double>> bases;
  std::map<Expr, std::size_t> where;
  bool zero = false;
  std::function<void(Expr, double)> take = [&](Expr f, double sign) {
    std::vector<Expr> pulled;
    f = pull_scalars(f, pulled);
    for (Expr p : pulled) scalars.push_back(sign > 0 ? p : pow(p, -1.0));
    if (f->op == Op::ElemMul) {
      for (Expr k : f->kids) take(k, sign);
      return;
    }
    if (f->op == Op::ElemDiv) {
      take(f->kid(0), sign);
      take(f->kid(1), -sign);
      return;
    }
    if (f->is_scalar()) {
      scalars.push_back(sign > 0 ? f : pow(f, -1.0));
      return;
    }
    if (f->is_zero() && sign > 0) zero = true;
    if (f->op == Op::Ones) return;
    auto [b, e] = base_exponent(f, Op::ElemPow);
    auto [it, fresh] = where.emplace(b, bases.size());
    if (fresh)
      bases.push_back({b, e * sign});
    else
      bases[it->second].second += e * sign;
  };
  for (Expr f : num) take(f, 1);
  for (Expr f : den) take(f, -1);
  if (zero) return zeros(cx, s);

  auto product = [&](std::vector<Expr> fs) -> Expr {
    if (fs.empty()) return ones(cx, s);
    if (fs.size() == 1) return fs[0];
    std::sort(fs.begin(), fs.end(), expr_less);
    bool symmetric = std::all_of(fs.begin(), fs.end(), [](Expr k) { return k->symmetric; });
    return make(cx, Op::ElemMul, s, std::move(fs), symmetric);
  };
  std::vector<Expr> top, bottom;
  for (auto& [b, e] : bases) {
    if (e > 0) top.push_back(epow(b, constant(cx, e)));
    if (e < 0) bottom.push_back(epow(b, constant(cx, -e)));
  }
  Expr body;
  if (bottom.empty())
    body = product(std::move(top));
  else if (top.empty() && bottom.size() == 1)
    body = epow(bottom[0], constant(cx, -1));  // x.^-1
  else {
    Expr n = product(std::move(top)), d = product(std::move(bottom));
    body = make(cx, Op::ElemDiv, s, {n, d}, n->symmetric && d->symmetric);
  }
  if (scalars.empty()) return body;
  scalars.push_back(body);
  return mul(std::move(scalars));
}
}  // namespace

Expr hadamard(std::vector<Expr> factors) {
  Context& cx = *factors[0]->ctx;
  // A scalar operand scales entrywise (2 .* x = 2*x).
  std::vector<Expr> scalar_ops, arrays;
  for (Expr f : factors) (f->is_scalar() ? scalar_ops : arrays).push_back(f);
  if (arrays.empty()) return mul(std::move(scalar_ops));
  for (Expr f : arrays)
    if (!(f->shape == arrays[0]->shape)) shape_error(".*", arrays[0]->shape, f->shape);
  Expr body = entrywise(arrays, {}, arrays[0]->shape, cx);
  if (scalar_ops.empty()) return body;
  scalar_ops.push_back(body);
  return mul(std::move(scalar_ops));
}

Expr hadamard(Expr a, Expr b) { return hadamard(std::vector<Expr>{a, b}); }

Expr ediv(Expr a, Expr b) {
  Context& cx = *a->ctx;
  if (b->is_scalar()) return div(a, b);                            // A ./ c = A/c
  if (a->is_scalar()) return mul(a, epow(b, constant(cx, -1)));    // c ./ B = c*B.^-1
  if (!(a->shape == b->shape)) shape_error("./", a->shape, b->shape);
  return entrywise({a}, {b}, a->shape, cx);
}

Expr epow(Expr a, Expr p) {
  Context& cx = *a->ctx;
  if (!p->is_scalar()) arg_error("'.^'", "a scalar exponent", p->shape);
  if (a->is_scalar()) return pow(a, p);
  if (p->op == Op::Const) {
    if (p->value == 1) return a;
    if (p->value == 0) return ones(cx, a->shape);
    if (a->op == Op::ElemPow && a->kid(1)->op == Op::Const && p->value == std::round(p->value))
      return epow(a->kid(0), constant(cx, a->kid(1)->value * p->value));
  }
  if (a->op == Op::Ones) return a;
  return make(cx, Op::ElemPow, a->shape, {a, p}, a->symmetric);
}

// ---------------------------------------------------------------- transpose

Expr transpose(Expr a) {
  Context& cx = *a->ctx;
  if (a->is_scalar() || a->symmetric) return a;
  switch (a->op) {
    case Op::Transpose: return a->kid(0);
    case Op::Zeros: return zeros(cx, a->shape.transposed());
    case Op::Ones: return ones(cx, a->shape.transposed());
    case Op::Add: {
      std::vector<Expr> t;
      for (Expr k : a->kids) t.push_back(transpose(k));
      return add(std::move(t));
    }
    case Op::Mul: {
      std::vector<Expr> t, chain;
      for (Expr k : a->kids) (k->is_scalar() ? t : chain).push_back(k);
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) t.push_back(transpose(*it));
      return mul(std::move(t));
    }
    case Op::ElemMul: {
      std::vector<Expr> t;
      for (Expr k : a->kids) t.push_back(transpose(k));
      return hadamard(std::move(t));
    }
    case Op::ElemDiv: return ediv(transpose(a->kid(0)), transpose(a->kid(1)));
    case Op::ElemPow: return epow(transpose(a->kid(0)), a->kid(1));
    case Op::Inv: return inv(transpose(a->kid(0)));
    case Op::MatPow: return matpow(transpose(a->kid(0)), a->power);
    default:
      if (is_elementwise_function(a->op)) return elementwise(a->op, transpose(a->kid(0)));
      return make1(Op::Transpose, a, a->shape.transposed(), false);
  }
}

// ---------------------------------------------------------------- functions

namespace {
void need_square(const char* fn, Expr a) {
  if (!a->shape.is_square()) arg_error(fn, "a square matrix", a->shape);
}
}  // namespace

Expr trace(Expr a) {
  Context& cx = *a->ctx;
  need_square("tr", a);
  if (a->is_scalar()) return a;
  switch (a->op) {
    case Op::Zeros: return constant(cx, 0);
    case Op::Transpose: return trace(a->kid(0));
    case Op::Add: {
      std::vector<Expr> t;
      for (Expr k : a->kids) t.push_back(trace(k));
      return add(std::move(t));
    }
    case Op::Mul: {
      std::vector<Expr> scalars, chain;
      for (Expr k : a->kids) (k->is_scalar() ? scalars : chain).push_back(k);
      // Cyclic: a column vector x in the chain closes it into a scalar,
      // tr(A*x*y'*B) = y'*B*A*x.
      auto col = std::find_if(chain.begin(), chain.end(), [](Expr f) { return f->shape.is_col(); });
      if (chain.size() > 1 && col != chain.end()) {
        std::rotate(chain.begin(), col + 1, chain.end());
        scalars.push_back(mul(std::move(chain)));
        return mul(std::move(scalars));
      }
      if (!scalars.empty()) {
        scalars.push_back(trace(mul(std::move(chain))));
        return mul(std::move(scalars));
      }
      break;
    }
    default:
      break;
  }
  return make1(Op::Trace, a, Shape::scalar(), true);
}

Expr det(Expr a) {
  Context& cx = *a->ctx;
  need_square("det", a);
  if (a->is_scalar()) return a;
  if (a->op == Op::Identity) return constant(cx, 1);
  if (a->op == Op::Transpose) return det(a->kid(0));
  return make1(Op::Det, a, Shape::scalar(), true);
}

Expr logdet(Expr a) {
  Context& cx = *a->ctx;
  need_square("logdet", a);
  if (a->is_scalar()) return elementwise(Op::Log, a);
  if (a->op == Op::Identity) return constant(cx, 0);
  if (a->op == Op::Transpose) return logdet(a->kid(0));
  return make1(Op::LogDet, a, Shape::scalar(), true);
}

Expr inv(Expr a) {
  need_square("inv", a);
  if (a->is_scalar()) return pow(a, -1.0);
  if (a->op == Op::Identity) return a;
  if (a->op == Op::Inv) return a->kid(0);
  if (a->op == Op::Zeros) throw Error(ErrorKind::Domain, "inv of a zero matrix");
  if (a->op == Op::Mul) {  // inv(c*M) = inv(M)/c for scalar c
    std::vector<Expr> scalars, chain;
    for (Expr k : a->kids) (k->is_scalar() ? scalars : chain).push_back(k);
    if (!scalars.empty() && chain.size() == 1) return mul(pow(mul(std::move(scalars)), -1.0), inv(chain[0]));
  }
  return make1(Op::Inv, a, a->shape, a->symmetric);
}

Expr diag(Expr a) {
  Context& cx = *a->ctx;
  if (a->is_scalar()) return a;
  if (a->shape.is_row()) a = transpose(a);
  if (a->shape.is_col()) {
    if (a->is_zero()) return zeros(cx, {a->shape.rows, a->shape.rows});
    if (a->op == Op::Ones) return identity(cx, a->shape.rows);
    return make1(Op::Diag, a, {a->shape.rows, a->shape.rows}, true);
  }
  if (!a->shape.is_square()) arg_error("diag", "a vector or a square matrix", a->shape);
  Shape s{a->shape.rows, Dim::literal(1)};
  if (a->is_zero()) return zeros(cx, s);
  if (a->op == Op::Identity) return ones(cx, s);
  if (a->op == Op::Diag) return a->kid(0);
  if (a->op == Op::Transpose) return diag(a->kid(0));
  return make1(Op::DiagPart, a, s, false);
}

Expr sum(Expr a) {
  Context& cx = *a->ctx;
  if (a->is_scalar()) return a;
  if (a->is_zero()) return constant(cx, 0);
  if (a->op == Op::Transpose) return sum(a->kid(0));
  if (a->op == Op::Add) {
    std::vector<Expr> t;
    for (Expr k : a->kids) t.push_back(sum(k));
    return add(std::move(t));
  }
  if (a->op == Op::Mul) {
    std::vector<Expr> scalars, chain;
    for (Expr k : a->kids) (k->is_scalar() ? scalars : chain).push_back(k);
    if (!scalars.empty()) {
      scalars.push_back(sum(mul(std::move(chain))));
      return mul(std::move(scalars));
    }
  }
  return make1(Op::Sum, a, Shape::scalar(), true);
}

Expr norm2(Expr a) {
  if (a->is_scalar()) return elementwise(Op::Abs, a);
  if (a->op == Op::Transpose) return norm2(a->kid(0));
  return make1(Op::Norm2, a, Shape::scalar(), true);
}

Expr norm1(Expr a) {
  if (a->is_scalar()) return elementwise(Op::Abs, a);
  if (a->op == Op::Transpose) return norm1(a->kid(0));
  return make1(Op::Norm1, a, Shape::scalar(), true);
}

Expr vec(Expr a) {
  if (a->is_scalar() || a->shape.is_col()) return a;
  if (a->shape.is_row()) return transpose(a);
  return reshape(a, {a->shape.rows * a->shape.cols, Dim::literal(1)});
}

Expr reshape(Expr a, Shape s) {
  Context& cx = *a->ctx;
  if (!(a->shape.rows * a->shape.cols == s.rows * s.cols))
    throw Error(ErrorKind::Shape, "reshape of " + a->shape.str() + " to " + s.str() +
                                      " changes the number of entries");
  if (a->shape == s) return a;
  if (a->op == Op::Reshape || a->op == Op::Vec) a = a->kid(0);
  if (a->shape == s) return a;
  if (a->is_zero()) return zeros(cx, s);
  if (a->op == Op::Ones) return ones(cx, s);
  bool is_vec = s.is_col() && !a->shape.is_vector_like();
  return make(cx, is_vec ? Op::Vec : Op::Reshape, s, {a}, false);
}

Expr kron(Expr a, Expr b) {
  if (a->is_scalar() || b->is_scalar()) return mul(a, b);
  Shape s{a->shape.rows * b->shape.rows, a->shape.cols * b->shape.cols};
  if (a->is_zero() || b->is_zero()) return zeros(*a->ctx, s);
  return make(*a->ctx, Op::Kron, s, {a, b}, a->symmetric && b->symmetric);
}

Expr sym(Expr a) {
  need_square("sym", a);
  if (a->symmetric) return a;
  return make1(Op::Sym, a, a->shape, true);
}

Expr logsumexp(Expr a) {
  if (a->is_scalar()) return a;
  if (!a->shape.is_vector_like()) arg_error("logsumexp", "a vector", a->shape);
  if (a->shape.is_row()) a = transpose(a);
  return make1(Op::LogSumExp, a, Shape::scalar(), true);
}

Expr softmax(Expr a) {
  Context& cx = *a->ctx;
  if (a->is_scalar()) return constant(cx, 1);
  if (!a->shape.is_vector_like()) arg_error("softmax", "a vector", a->shape);
  if (a->shape.is_row()) return transpose(softmax(transpose(a)));
  return make1(Op::Softmax, a, a->shape, false);
}

Expr elementwise(Op f, Expr a) {
  Context& cx = *a->ctx;
  if (!is_elementwise_function(f))
    throw Error(ErrorKind::Name, std::string(op_spelling(f)) + " is not an elementwise function");
  if (a->op == Op::Const) {
    double v = fold_elementwise(f, a->value);
    if (std::isfinite(v)) return constant(cx, v);
  }
  if (a->op == Op::Zeros && zero_preserving(f)) return a;
  return make1(f, a, a->shape, a->symmetric);
}

Expr frobenius(Expr a, Expr b) {
  if (!(a->shape == b->shape)) shape_error(":", a->shape, b->shape);
  if (a->is_scalar()) return mul(a, b);
  if (a->shape.is_col()) return mul(transpose(a), b);
  if (a->shape.is_row()) return mul(a, transpose(b));
  if (a->op == Op::Identity) return trace(b);
  if (b->op == Op::Identity) return trace(a);
  return trace(mul(transpose(a), b));
}

Expr rebuild(Expr e, std::vector<Expr> kids) {
  if (e->op == Op::Reshape || e->op == Op::Vec) return reshape(kids[0], e->shape);
  return apply(e->op, std::move(kids), e->power);
}

Expr substitute(Expr e, const std::unordered_map<Expr, Expr>& with) {
  std::unordered_map<Expr, Expr> done;
  for (Expr n : topo_order(e)) {  // bottom-up, without recursion on the depth
    if (auto w = with.find(n); w != with.end()) {
      done[n] = w->second;
      continue;
    }
    std::vector<Expr> kids;
    bool changed = false;
    for (Expr k : n->kids) {
      kids.push_back(done.at(k));
      changed = changed || kids.back() != k;
    }
    done[n] = changed ? rebuild(n, std::move(kids)) : n;
  }
  return done.at(e);
}

Expr apply(Op op, std::vector<Expr> k, int power) {
  switch (op) {
    case Op::Add: return add(std::move(k));
    case Op::Mul: return mul(std::move(k));
    case Op::Pow: return pow(k[0], k[1]);
    case Op::MatPow: return matpow(k[0], power);
    case Op::ElemMul: return hadamard(std::move(k));
    case Op::ElemDiv: return ediv(k[0], k[1]);
    case Op::ElemPow: return epow(k[0], k[1]);
    case Op::Transpose: return transpose(k[0]);
    case Op::Trace: return trace(k[0]);
    case Op::Det: return det(k[0]);
    case Op::LogDet: return logdet(k[0]);
    case Op::Inv: return inv(k[0]);
    case Op::Diag: case Op::DiagPart: return diag(k[0]);
    case Op::Sum: return sum(k[0]);
    case Op::Norm2: return norm2(k[0]);
    case Op::Norm1: return norm1(k[0]);
    case Op::Vec: return vec(k[0]);
    case Op::Kron: return kron(k[0], k[1]);
    case Op::Sym: return sym(k[0]);
    case Op::LogSumExp: return logsumexp(k[0]);
    case Op::Softmax: return softmax(k[0]);
    case Op::Const: case Op::Symbol: case Op::Identity: case Op::Zeros: case Op::Ones:
    case Op::Reshape:
      throw Error(ErrorKind::Unsupported, "apply() cannot build a " + std::string(op_name(op)));
    default:
      return elementwise(op, k[0]);
  }
}

}  // namespace matcalc
