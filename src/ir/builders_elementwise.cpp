// Entrywise arithmetic and elementwise functions: the normal form of `.*`,
// `./` and `.^` (scalar factors pulled out, equal bases merged by exponent,
// (positive powers) ./ (negative powers)), and of f(A) for the elementwise
// functions (constants folded, f(zeros) = zeros where f(0) = 0). See
// builders.hpp and docs/ARCHITECTURE.md, "Normal form".
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>

#include "ir/builders.hpp"
#include "ir/builders_internal.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"

namespace matcalc {

using namespace builders_detail;

namespace {
// Pulls scalar factors out of an elementwise operand: (2*a*X) -> (2*a, X).
Expr pull_scalars(Expr f, std::vector<Expr>& scalars) {
  if (f->op != Op::Mul || f->is_scalar()) return f;
  std::vector<Expr> chain;
  for (Expr k : f->kids) (k->is_scalar() ? scalars : chain).push_back(k);
  return mul(std::move(chain));
}

// The normal form of entrywise products and quotients: scalar factors pulled
// out, equal bases merged by exponent (A .* A = A.^2, (B ./ A) .* A = B),
// then (positive powers) ./ (negative powers).
Expr entrywise(const std::vector<Expr>& num, const std::vector<Expr>& den, const Shape& s, Context& cx) {
  std::vector<Expr> scalars;
  std::vector<std::pair<Expr, std::vector<double>>> exponents;  // each base's, merged below
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
    // A quotient in a denominator is taken apart only when its divisor is
    // known non-zero: x ./ (y ./ w) is x .* w ./ y only where w != 0.
    if (f->op == Op::ElemDiv && (sign > 0 || known_or_assumed(Condition::Nonzero, f->kid(1)))) {
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
    auto [it, fresh] = where.emplace(b, exponents.size());
    if (fresh) exponents.push_back({b, {}});
    exponents[it->second].second.push_back(e * sign);
  };
  for (Expr f : num) take(f, 1);
  for (Expr f : den) take(f, -1);
  // A zero factor makes zeros, unless a factor is undefined somewhere
  // (zeros .* log(A) has no value where A has a negative entry); a scalar
  // factor is kept by mul() likewise.
  // A power of a base that its facts do not allow (a division by a base
  // that may be 0) restricts as much as a restricted base: zeros ./ zeros
  // has no value either.
  auto carries_condition = [](const std::pair<Expr, std::vector<double>>& be) {
    Expr b = be.first;
    return b->restricted || std::any_of(be.second.begin(), be.second.end(), [&](double e) {
             return (e < 0 && !b->positive) || (e != std::round(e) && !b->nonneg && !b->positive);
           });
  };
  if (zero && std::none_of(exponents.begin(), exponents.end(), carries_condition)) {
    if (scalars.empty()) return zeros(cx, s);
    scalars.push_back(zeros(cx, s));
    return mul(std::move(scalars));
  }
  // Equal bases merge by exponent as far as the domain allows: A ./ A is
  // ones only where A is known to have no zero entry (merge_exponents).
  std::vector<std::pair<Expr, double>> bases;
  for (auto& [b, es] : exponents)
    for (double e : merge_exponents(b, std::move(es))) bases.push_back({b, e});

  auto product = [&](std::vector<Expr> fs) -> Expr {
    if (fs.empty()) return ones(cx, s);
    if (fs.size() == 1) return fs[0];
    std::sort(fs.begin(), fs.end(), expr_less);
    bool symmetric = std::all_of(fs.begin(), fs.end(), [](Expr k) { return k->symmetric; });
    return make(cx, Op::ElemMul, s, std::move(fs), symmetric);
  };
  std::vector<Expr> top, bottom;
  for (auto& [b, e] : bases) {
    if (e > 0 || (e == 0 && b->restricted)) top.push_back(epow(b, constant(cx, e)));  // log(A).^0 stays
    if (e < 0) bottom.push_back(epow(b, constant(cx, -e)));
  }
  // A base whose exponents add up to +-1 is itself again (P.^2 ./ P = P),
  // and may be an entrywise product or quotient, or hold scalar factors
  // (P = A .* B, P = a*X): take the factors apart once more, so that no
  // product or quotient nests another and no factor keeps a scalar. (Alone in
  // the denominator, P.^-1 is an ElemPow, which keeps its base.)
  // (A quotient kept whole in a denominator, its divisor not known non-zero,
  // is no composite there: taking it apart is what take() refused.)
  auto composite = [](Expr f, bool in_bottom) {
    if (f->op == Op::ElemMul) return true;
    if (f->op == Op::ElemDiv) return !in_bottom || known_or_assumed(Condition::Nonzero, f->kid(1));
    return f->op == Op::Mul && !f->is_scalar() &&
           std::any_of(f->kids.begin(), f->kids.end(), [](Expr k) { return k->is_scalar(); });
  };
  auto composite_top = [&](Expr f) { return composite(f, false); };
  auto composite_bottom = [&](Expr f) { return composite(f, true); };
  if ((!top.empty() || bottom.size() != 1) && (std::any_of(top.begin(), top.end(), composite_top) ||
                                               std::any_of(bottom.begin(), bottom.end(), composite_bottom))) {
    Expr body = entrywise(top, bottom, s, cx);
    if (scalars.empty()) return body;
    scalars.push_back(body);
    return mul(std::move(scalars));
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
  if (b->is_scalar()) return div(a, b);                          // A ./ c = A/c
  if (a->is_scalar()) return mul(a, epow(b, constant(cx, -1)));  // c ./ B = c*B.^-1
  if (!(a->shape == b->shape)) shape_error("./", a->shape, b->shape);
  return entrywise({a}, {b}, a->shape, cx);
}

Expr epow(Expr a, Expr p) {
  Context& cx = *a->ctx;
  if (!p->is_scalar()) arg_error("'.^'", "a scalar exponent", p->shape);
  if (a->is_scalar()) return pow(a, p);
  if (p->op == Op::Const) {
    if (p->value == 1) return a;
    if (p->value == 0 && !a->restricted) return ones(cx, a->shape);
    if (a->op == Op::ElemPow && a->kid(1)->op == Op::Const && p->value == std::round(p->value) &&
        power_keeps_domain(a->kid(0), a->kid(1)->value, p->value))
      return epow(a->kid(0), constant(cx, a->kid(1)->value * p->value));
  }
  if (a->op == Op::Ones) return a;
  return make(cx, Op::ElemPow, a->shape, {a, p}, a->symmetric);
}

// ---------------------------------------------------------------- functions

namespace {

// f(x) for a number x; NaN or an infinity where f has no finite value there
// (the caller then keeps the node). Only for elementwise functions.
double fold_elementwise(ElementwiseFn f, double x) {
  using F = ElementwiseFn;
  switch (f) {
    case F::Exp: return std::exp(x);
    case F::Log: return std::log(x);
    case F::Sqrt: return std::sqrt(x);
    case F::Sin: return std::sin(x);
    case F::Cos: return std::cos(x);
    case F::Tan: return std::tan(x);
    case F::Tanh: return std::tanh(x);
    case F::Abs: return std::fabs(x);
    case F::Sign: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case F::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case F::Softplus: return std::log1p(std::exp(-std::fabs(x))) + std::max(x, 0.0);
    case F::Relu: return std::max(x, 0.0);
  }
  return NAN;  // unreachable: the switch lists every elementwise function
}

// f(x) == 0 exactly (not by underflow). Only for elementwise functions.
bool exactly_zero(ElementwiseFn f, double x) {
  using F = ElementwiseFn;
  // clang-format off
  switch (f) {
    case F::Sin: case F::Tan: case F::Tanh: case F::Abs: case F::Sign: case F::Sqrt: return x == 0;
    case F::Relu: return x <= 0;
    case F::Log: return x == 1;
    case F::Exp: case F::Cos: case F::Sigmoid: case F::Softplus: return false;
  }
  // clang-format on
  return false;  // unreachable: the switch lists every elementwise function
}

}  // namespace

ElementwiseSign elementwise_sign(ElementwiseFn f) {
  using F = ElementwiseFn;
  // clang-format off
  switch (f) {
    case F::Exp: case F::Sigmoid: case F::Softplus: return ElementwiseSign::Positive;
    case F::Abs: case F::Relu: return ElementwiseSign::Nonneg;
    case F::Sqrt: return ElementwiseSign::PositiveWhereArgIs;
    case F::Log: case F::Sin: case F::Cos: case F::Tan: case F::Tanh: case F::Sign: return ElementwiseSign::Any;
  }
  // clang-format on
  return ElementwiseSign::Any;  // unreachable: the switch lists every elementwise function
}

std::optional<Condition> elementwise_condition(ElementwiseFn f) {
  using F = ElementwiseFn;
  // clang-format off
  switch (f) {
    case F::Log: return Condition::Positive;
    case F::Sqrt: return Condition::Nonneg;
    case F::Exp: case F::Sin: case F::Cos: case F::Tan: case F::Tanh: case F::Abs: case F::Sign:
    case F::Sigmoid: case F::Softplus: case F::Relu:
      return std::nullopt;
  }
  // clang-format on
  return std::nullopt;  // unreachable: the switch lists every elementwise function
}

namespace {

// f(0) == 0, so that f(zeros) is zeros. Only for elementwise functions.
bool zero_preserving(ElementwiseFn f) {
  using F = ElementwiseFn;
  // clang-format off
  switch (f) {
    case F::Sin: case F::Tan: case F::Tanh: case F::Abs: case F::Sign: case F::Relu: case F::Sqrt:
      return true;
    case F::Exp: case F::Log: case F::Cos: case F::Sigmoid: case F::Softplus:
      return false;
  }
  // clang-format on
  return false;  // unreachable: the switch lists every elementwise function
}

}  // namespace

Expr elementwise(Op f, Expr a) {
  Context& cx = *a->ctx;
  std::optional<ElementwiseFn> fn = elementwise_fn(f);
  if (!fn) throw Error(ErrorKind::Name, std::string(op_spelling(f)) + " is not an elementwise function");
  if (a->op == Op::Const) {
    // No folding where f has no finite value, nor where the value underflows
    // (exp(-800) is not 0): the node stays, and evaluates as it can.
    double v = fold_elementwise(*fn, a->value);
    const bool underflows = v == 0 ? !exactly_zero(*fn, a->value) : std::fabs(v) < std::numeric_limits<double>::min();
    if (std::isfinite(v) && !underflows) return constant(cx, v);
  }
  if (a->op == Op::Zeros && zero_preserving(*fn)) return a;
  return make1(f, a, a->shape, a->symmetric);
}

}  // namespace matcalc
