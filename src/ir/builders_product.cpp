// Products and powers: the normal form of `*` (mul and its passes), of the
// scalar power `^`, the matrix power X^k and kron (see builders.hpp and
// docs/ARCHITECTURE.md, "Normal form").
//
// A product in normal form is Mul(coefficient, scalar factors..., chain...):
// an optional numeric coefficient (never 1), the other scalar factors sorted
// by compare() with equal bases merged into powers, then the matrix chain in
// order, identities dropped and equal adjacent factors merged into matrix
// powers. mul() gets there in passes, each a function below, in order, and
// where pass 10 distributed the coefficient into a sum, in one more round.
#include <algorithm>
#include <cmath>
#include <map>

#include "ir/builders.hpp"
#include "ir/builders_internal.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"

namespace matcalc {

using namespace builders_detail;

namespace {

// ------------------------------------------------------------ mul's passes

// The factors of a product in the making: scalar factors (in any order) and
// the matrix chain (in order).
struct Factors {
  std::vector<Expr> scalars, chain;
};

// Pass 1. Nested products are flattened into one list of factors, split into
// scalars and the chain; a scalar-valued chain (x'*A*x) stays one factor.
Factors flatten(const std::vector<Expr>& factors) {
  std::vector<Expr> items;
  for (Expr f : factors) {
    if (f->op == Op::Mul && !is_scalar_chain(f))
      items.insert(items.end(), f->kids.begin(), f->kids.end());
    else
      items.push_back(f);
  }
  Factors out;
  for (Expr f : items) (f->is_scalar() ? out.scalars : out.chain).push_back(f);
  return out;
}

// Pass 2. A run of the chain whose product is 1 x 1 (a row vector ... a
// column vector) and is not the whole chain is a scalar factor: x*a'*b*y' is
// (a'*b)*x*y', so the form does not depend on how the product was grouped.
// Afterwards no proper run of the chain is 1 x 1.
void take_out_scalar_runs(Factors& p) {
  std::vector<Expr>& chain = p.chain;
  for (std::size_t j = 0; j < chain.size(); ++j) {
    if (!chain[j]->shape.rows.is_one()) continue;
    std::size_t i = j;
    while (i < chain.size() && !chain[i]->shape.cols.is_one()) ++i;
    if (i == chain.size()) break;
    if (j == 0 && i + 1 == chain.size()) break;  // the whole chain is the scalar
    std::vector<Expr> run(chain.begin() + static_cast<long>(j), chain.begin() + static_cast<long>(i + 1));
    p.scalars.push_back(mul(std::move(run)));
    chain.erase(chain.begin() + static_cast<long>(j), chain.begin() + static_cast<long>(i + 1));
    j = static_cast<std::size_t>(-1);  // start over: the rest may hold more
  }
}

// Pass 2b. A chain that is a row of ones times a column, or a row times a
// column of ones, is the sum of that column or row: ones(n)'*x = x'*ones(n)
// = sum(x) (the form a broadcast scalar's adjoint and explain's steps meet).
void sum_against_ones(Factors& p) {
  std::vector<Expr>& chain = p.chain;
  if (chain.size() > 2 && std::any_of(chain.begin(), chain.end(), [](Expr f) { return f->op == Op::Identity; })) {
    // y'*I*ones(n): the identities drop out (pass 9) only later, so look past them here.
    std::vector<Expr> kept;
    for (Expr f : chain)
      if (f->op != Op::Identity) kept.push_back(f);
    if (kept.size() == 2) chain = std::move(kept);
  }
  if (chain.size() != 2 || !chain[0]->shape.is_row() || !chain[1]->shape.is_col()) return;
  if (chain[0]->op == Op::Ones) {
    p.scalars.push_back(sum(chain[1]));
  } else if (chain[1]->op == Op::Ones) {
    p.scalars.push_back(sum(chain[0]));
  } else {
    return;
  }
  chain.clear();
}

// Pass 3. A 1 x 1 chain among other scalar chains is one of them:
// (a'*b)*(c'*d). Afterwards a scalar product with two scalar chains or more
// has no chain of its own.
void join_scalar_chains(Factors& p) {
  const std::vector<Expr>& chain = p.chain;
  if (!chain.empty() && chain.front()->shape.rows.is_one() && chain.back()->shape.cols.is_one() &&
      std::any_of(p.scalars.begin(), p.scalars.end(), is_scalar_chain)) {
    p.scalars.push_back(mul(p.chain));
    p.chain.clear();
  }
}

// Pass 4. With no chain, a lone scalar chain among the scalars becomes the
// chain: 2*(x'*y) = 2*x'*y. Afterwards a scalar product with one scalar
// chain holds it flat, as its chain.
void open_lone_scalar_chain(Factors& p) {
  if (!p.chain.empty()) return;
  auto n_chains = std::count_if(p.scalars.begin(), p.scalars.end(), is_scalar_chain);
  if (n_chains != 1) return;
  auto it = std::find_if(p.scalars.begin(), p.scalars.end(), is_scalar_chain);
  Expr sc = *it;
  p.scalars.erase(it);
  for (Expr k : sc->kids) (k->is_scalar() ? p.scalars : p.chain).push_back(k);
}

// Pass 5. A scalar chain that stays one factor keeps no scalars of its own:
// they join the product's, so that a*(x'*y)*(z'*w) has one form however it
// was grouped ((a*x'*y)*(z'*w) is the same product). Afterwards every scalar
// chain factor is a bare chain.
void hoist_chain_scalars(Factors& p) {
  std::vector<Expr>& scalars = p.scalars;
  for (std::size_t i = 0; i < scalars.size(); ++i) {  // also over the factors it appends
    if (!is_scalar_chain(scalars[i])) continue;
    std::vector<Expr> inner, moved;
    for (Expr k : scalars[i]->kids) (k->is_scalar() ? moved : inner).push_back(k);
    if (moved.empty()) continue;
    scalars[i] = mul(std::move(inner));
    scalars.insert(scalars.end(), moved.begin(), moved.end());
  }
}

// Pass 6. The chain's factors conform; the product's shape.
Shape chain_shape(const std::vector<Expr>& chain) {
  for (std::size_t i = 1; i < chain.size(); ++i)
    if (chain[i - 1]->shape.cols != chain[i]->shape.rows) shape_error("*", chain[i - 1]->shape, chain[i]->shape);
  return chain.empty() ? Shape::scalar() : Shape{chain.front()->shape.rows, chain.back()->shape.cols};
}

// The scalar factors as one numeric coefficient and the other factors as
// base^exponent, each base once, in first-seen order.
struct ScalarPart {
  double coef = 1;
  std::vector<std::pair<Expr, double>> bases;
};

// Pass 7. Numeric factors are multiplied into one coefficient; equal bases
// sum their exponents (a*a^2 -> a^3).
// A base's exponents are summed as far as that keeps the domain
// (merge_exponents): a^0.5*a^0.5 stays, since it is not a at a = -2.
// The coefficient is the exact product of the numbers, whatever their order
// (1e-200*1e-200*1e200 is 1e-200): see fold_product.
ScalarPart collect_scalars(const std::vector<Expr>& scalars) {
  ScalarPart out;
  std::vector<double> numbers;
  std::vector<std::pair<Expr, std::vector<double>>> bases;
  std::map<Expr, std::size_t> where;
  for (Expr f : scalars) {
    if (f->op == Op::Const) {
      numbers.push_back(f->value);
      continue;
    }
    auto [b, e] = base_exponent(f, Op::Pow);
    auto [it, fresh] = where.emplace(b, bases.size());
    if (fresh) bases.push_back({b, {}});
    bases[it->second].second.push_back(e);
  }
  for (auto& [b, exponents] : bases)
    for (double e : merge_exponents(b, std::move(exponents))) out.bases.push_back({b, e});
  out.coef = fold_product(numbers);
  return out;
}

// Pass 8 (after the zero test). Each base raised to its exponent; what
// folds to a number joins the coefficient, a power that is itself a product
// ((2*a)^2 = 4*a^2) merges its parts. Afterwards the scalar factors are
// sorted by compare() and none is a number.
std::vector<Expr> raise_scalars(const ScalarPart& part, double& coef) {
  std::vector<Expr> sc;
  for (const auto& [b, e] : part.bases) {
    Expr p = pow(b, e);
    if (p->op == Op::Const) {
      coef *= p->value;
    } else if (p->op == Op::Mul && !is_scalar_chain(p)) {  // (2*a)^2 = 4*a^2: merge the parts
      for (Expr k : p->kids) (k->op == Op::Const ? (void)(coef *= k->value) : sc.push_back(k));
    } else {
      sc.push_back(p);
    }
  }
  return sc;
}

// Pass 8b. Merging bases can leave one scalar chain where there were several
// ((x'*y)*(z'*w)*(z'*w) has three, and after merging x'*y and a power): with
// no chain, that one becomes the chain, as in pass 4, so that the product is
// the same however its factors were grouped: (z'*w)^2*x'*y.
void open_last_scalar_chain(std::vector<Expr>& sc, std::vector<Expr>& chain) {
  if (!chain.empty()) return;
  if (std::count_if(sc.begin(), sc.end(), is_scalar_chain) != 1) return;
  auto it = std::find_if(sc.begin(), sc.end(), is_scalar_chain);
  Expr c = *it;
  // Only a bare chain (as pass 5 leaves them); a base taken from a power,
  // such as 2*x'*y in (2*x'*y)^2, may hold scalars, and stays whole.
  if (std::any_of(c->kids.begin(), c->kids.end(), [](Expr k) { return k->is_scalar(); })) return;
  sc.erase(it);
  chain.assign(c->kids.begin(), c->kids.end());
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
  out.reserve(runs.size());
  for (const auto& [b, k] : runs) out.push_back(k == 1 ? b : matpow(b, k));
  return out;
}

// What two adjacent structured factors of a chain are as one, or nullptr:
// K_{m,n}*K_{n,m} = I, K_{m,n}*vec(X) = vec(X') for an m x n X (and
// vec(X)'*K_{n,m} = vec(X')'), kron(A, B)*vec(X) = vec(B*X*A') and
// vec(X)'*kron(A, B) = vec(B'*X*A)' (the Kronecker product is never formed),
// kron(A, B)*kron(C, D) = kron(A*C, B*D) where the products conform (the
// mixed-product rule), diag(a)*diag(b) = diag(a .* b).
Expr structured_pair(Expr a, Expr b) {
  auto vec_of = [](Expr f) -> Expr { return f->op == Op::Vec ? f->kid(0) : nullptr; };  // X of vec(X)
  auto vec_row_of = [&](Expr f) -> Expr { return f->op == Op::Transpose ? vec_of(f->kid(0)) : nullptr; };
  const Op ka = a->op, kb = b->op;
  if (ka == Op::Commutation && kb == Op::Commutation && a->param == b->param.transposed())
    return identity(*a->ctx, a->shape.rows);
  if (ka == Op::Commutation && vec_of(b) && vec_of(b)->shape == a->param) return vec(transpose(vec_of(b)));
  if (kb == Op::Commutation && vec_row_of(a) && vec_row_of(a)->shape == b->param.transposed())
    return transpose(vec(transpose(vec_row_of(a))));
  if (ka == Op::Kron && vec_of(b) && vec_of(b)->shape == Shape{a->kid(1)->shape.cols, a->kid(0)->shape.cols})
    return vec(mul({a->kid(1), vec_of(b), transpose(a->kid(0))}));
  if (kb == Op::Kron && vec_row_of(a) && vec_row_of(a)->shape == Shape{b->kid(1)->shape.rows, b->kid(0)->shape.rows})
    return transpose(vec(mul({transpose(b->kid(1)), vec_row_of(a), b->kid(0)})));
  if (ka == Op::Kron && kb == Op::Kron && a->kid(0)->shape.cols == b->kid(0)->shape.rows &&
      a->kid(1)->shape.cols == b->kid(1)->shape.rows)
    return kron(mul(a->kid(0), b->kid(0)), mul(a->kid(1), b->kid(1)));
  if (ka == Op::Diag && kb == Op::Diag) return diag(hadamard(a->kid(0), b->kid(0)));
  return nullptr;
}

// Adjacent structured factors act on each other (structured_pair); returns
// whether any did.
bool apply_structured(std::vector<Expr>& chain) {
  bool changed = false;
  for (std::size_t i = 0; i + 1 < chain.size();) {
    if (Expr one = structured_pair(chain[i], chain[i + 1])) {
      chain[i] = one;
      chain.erase(chain.begin() + static_cast<long>(i + 1));
      i = i > 0 ? i - 1 : 0;  // the new factor may act on its left neighbour
      changed = true;
    } else {
      ++i;
    }
  }
  return changed;
}

// Pass 9. In a chain of two factors or more, structured factors act on
// each other, identities drop out (all identities leave one) and equal
// adjacent factors merge into matrix powers. Returns whether a structured
// factor acted (the chain may then hold a new 1 x 1 factor, or factors the
// earlier passes would have treated).
bool tidy_chain(std::vector<Expr>& chain) {
  if (chain.size() <= 1) return false;
  const bool acted = apply_structured(chain);
  std::vector<Expr> kept;
  for (Expr f : chain)
    if (f->op != Op::Identity) kept.push_back(f);
  if (kept.empty()) kept.push_back(chain.front());
  chain = merge_powers(std::move(kept));
  return acted;
}

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

// Pass 10. One factor is a sum: move the coefficient into it where that reads
// better, 2*(N/2*A - B/2)*W = (N*A - B)*W. (With two sums or more it stays
// in front; the text printer then writes -(Y*A*B) so that the text parses
// back to this node and not to (-Y*A)*B, where the coefficient meets one.)
// Afterwards the scalar factors are sorted again. Returns whether it
// distributed: the new sum is built by add(), and may be what the earlier
// passes would have treated otherwise (see mul()).
bool distribute_coefficient(double& coef, std::vector<Expr>& sc, std::vector<Expr>& chain) {
  if (coef == 1 || coef == 0) return false;  // 0: a zero kept for its domain (see mul_round)
  std::vector<Expr*> sums;
  for (Expr& f : sc)
    if (f->op == Op::Add) sums.push_back(&f);
  for (Expr& f : chain)
    if (f->op == Op::Add) sums.push_back(&f);
  if (sums.size() != 1 || !worth_distributing(coef, *sums[0])) return false;
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
  return true;
}

// Pass 11. The node: a single factor stands alone, no factors is the
// coefficient, else Mul(coefficient unless 1, scalars, chain), symmetric when
// the chain is a palindrome under transposition.
Expr assemble(Context& cx, const Shape& s, double coef, std::vector<Expr> sc, std::vector<Expr> chain) {
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

}  // namespace

// ---------------------------------------------------------------- products

namespace {

// mul(), with at most `rounds_left` more rounds after a distribution.
Expr mul_round(std::vector<Expr> factors, int rounds_left) {
  if (factors.empty()) throw Error(ErrorKind::Shape, "empty product");
  Context& cx = *factors[0]->ctx;

  // Where the scalar factors and the chain are.
  Factors p = flatten(factors);
  take_out_scalar_runs(p);
  sum_against_ones(p);
  join_scalar_chains(p);
  open_lone_scalar_chain(p);
  hoist_chain_scalars(p);
  const Shape s = chain_shape(p.chain);

  // The scalar factors.
  ScalarPart part = collect_scalars(p.scalars);
  double coef = part.coef;
  // A zero factor makes the product zero, unless a factor is undefined
  // somewhere (0*log(a) is no number at a = -2): then it stays, 0*log(a),
  // and carries that condition.
  auto restricted = [](Expr f) { return f->restricted; };
  const bool has_restricted_factor = std::any_of(p.scalars.begin(), p.scalars.end(), restricted) ||
                                     std::any_of(p.chain.begin(), p.chain.end(), restricted);
  if (!has_restricted_factor &&
      (coef == 0 || std::any_of(p.chain.begin(), p.chain.end(), [](Expr f) { return f->is_zero(); })))
    return zeros(cx, s);  // a zero factor: before raising powers, which may not exist (0^-1)
  std::vector<Expr> sc = raise_scalars(part, coef);
  if (coef == 0 && !has_restricted_factor) return zeros(cx, s);
  open_last_scalar_chain(sc, p.chain);
  std::sort(sc.begin(), sc.end(), expr_less);

  // The chain, and the coefficient's place.
  if (tidy_chain(p.chain) && rounds_left > 0) {  // vec(A)'*kron(x, y) = y'*A*x: a new scalar factor
    std::vector<Expr> again{constant(cx, coef)};
    again.insert(again.end(), sc.begin(), sc.end());
    again.insert(again.end(), p.chain.begin(), p.chain.end());
    return mul_round(std::move(again), rounds_left - 1);
  }
  const bool distributed = distribute_coefficient(coef, sc, p.chain);
  Expr out = assemble(cx, s, coef, std::move(sc), std::move(p.chain));
  // The sum that took the coefficient is new to the passes above: it may meet
  // its own reciprocal ((1 + 2*a^2)/(1 + 2*a^2)), equal a neighbour of the
  // chain, or be no sum at all but a product to flatten: -1 times
  // E*(x + y) - E*y is the product (-E)*x. One more round over the factors puts
  // the node in normal form. That round has coefficient 1 or no sum left, so
  // it distributes again only where the sum collapsed into a scaled product
  // (2*E*x): the rounds are bounded all the same.
  if (distributed && out->op == Op::Mul && rounds_left > 0) out = mul_round(out->kids, rounds_left - 1);
  return out;
}

}  // namespace

Expr mul(std::vector<Expr> factors) { return mul_round(std::move(factors), 4); }

Expr mul(Expr a, Expr b) { return mul(std::vector<Expr>{a, b}); }
Expr scale(double c, Expr a) { return mul(constant(*a->ctx, c), a); }

// ---------------------------------------------------------------- powers

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
    if (e == 0 && !a->restricted) return constant(cx, 1);  // log(a)^0 stays: no number at a = -2
    if (a->op == Op::Const) {
      if (a->value == 0 && e < 0)  // 1/0: no value, and a node that could not print back
        throw Error(ErrorKind::Domain, "division by zero in the constants of the expression (0 to a negative power)");
      double v = std::pow(a->value, e);
      if (std::isfinite(v) && (e == std::round(e) || a->value > 0)) return constant(cx, checked_fold(a->value, v));
    }
    if (a->op == Op::Pow && a->kid(1)->op == Op::Const && e == std::round(e) &&
        power_keeps_domain(a->kid(0), a->kid(1)->value, e))
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
  if (k == 0 && !x->restricted) return identity(cx, x->shape.rows);  // inv(A)^0 stays: no value at a singular A
  if (k == 1) return x;
  if (k > kMaxMatrixPower || k < -kMaxMatrixPower)
    throw Error(ErrorKind::Limit,
                "matrix power too large: " + std::to_string(k) + " (limit " + std::to_string(kMaxMatrixPower) + ")");
  if (k < 0) return matpow(inv(x), -k);
  if (x->op == Op::Identity || x->op == Op::Zeros) return x;
  if (x->op == Op::MatPow && k != 0) return matpow(x->kid(0), k * x->power);
  return make(cx, Op::MatPow, x->shape, {x}, x->symmetric, static_cast<int>(k));
}

// ---------------------------------------------------------------- kron

Expr kron(Expr a, Expr b) {
  if (a->is_scalar() || b->is_scalar()) return mul(a, b);
  Shape s{a->shape.rows * b->shape.rows, a->shape.cols * b->shape.cols};
  if (a->op == Op::Identity && b->op == Op::Identity) return identity(*a->ctx, s.rows);  // I_p (x) I_q = I_pq
  // kron(c*A, d*B) = c*d*kron(A, B): numbers stay in front
  auto [ca, ra] = split_coefficient(a);
  auto [cb, rb] = split_coefficient(b);
  if (ca != 1 || cb != 1) return mul({constant(*a->ctx, ca * cb), kron(ra, rb)});
  if ((a->is_zero() && !b->restricted) || (b->is_zero() && !a->restricted))
    return zeros(*a->ctx, s);  // kron(0, inv(A)) keeps A's condition
  return make(*a->ctx, Op::Kron, s, {a, b}, a->symmetric && b->symmetric);
}

}  // namespace matcalc
