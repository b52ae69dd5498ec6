// Checked builders and the normal form (see builders.hpp): the shared
// helpers, leaves, the transpose push, matrix functions, reductions and
// structural maps, and the generic apply/rebuild/substitute. Sums, products
// and entrywise arithmetic have files of their own (builders_internal.hpp
// lists them).
#include "ir/builders.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "ir/builders_internal.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"

namespace matcalc {

// ---------------------------------------------------------------- shared helpers

namespace builders_detail {

void shape_error(const std::string& op, const Shape& a, const Shape& b) {
  throw Error(ErrorKind::Shape, "shape mismatch in '" + op + "': " + a.str() + " and " + b.str());
}

void arg_error(const std::string& fn, const std::string& need, const Shape& got) {
  throw Error(ErrorKind::Shape, fn + " needs " + need + ", got " + got.str());
}

Expr make(Context& cx, Op op, Shape s, std::vector<Expr> kids, bool symmetric, int power) {
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

bool is_scalar_chain(Expr e) {
  if (e->op != Op::Mul || !e->is_scalar()) return false;
  return std::any_of(e->kids.begin(), e->kids.end(), [](Expr k) { return !k->is_scalar(); });
}

std::pair<Expr, double> base_exponent(Expr f, Op pow_op) {
  if (f->op == pow_op && f->kid(1)->op == Op::Const) return {f->kid(0), f->kid(1)->value};
  return {f, 1.0};
}

double fold_product(std::span<const double> numbers) {
  // The mantissa in long double, kept in [0.5, 1) in magnitude: it never
  // under- or overflows, and the product rounds once, to the double nearest
  // the exact product of the numbers (1e-200*1e-200*1e200*1e200 is
  // 0.9999999999999999, not 0 or inf).
  long double mantissa = 1;
  long long exponent = 0;
  for (double v : numbers) {
    if (v == 0) return 0;
    int e = 0, f = 0;
    mantissa = std::frexp(mantissa * std::frexp(static_cast<long double>(v), &e), &f);
    exponent += e + f;
  }
  if (exponent > std::numeric_limits<int>::max())
    return static_cast<double>(mantissa) * HUGE_VAL;  // constant() refuses it
  exponent = std::max<long long>(exponent, std::numeric_limits<int>::min());
  return checked_fold(1, static_cast<double>(std::ldexp(mantissa, static_cast<int>(exponent))));
}

double checked_fold(double x, double v) {
  if (x != 0 && std::isfinite(v) && std::fabs(v) < std::numeric_limits<double>::min())
    throw Error(ErrorKind::Limit,
                "arithmetic on the constants of the expression underflows (a non-zero result below 2.2e-308)");
  return v;
}

void unreachable(const char* where, Op op) {
  throw std::logic_error(std::string("internal error: ") + where + " reached by operator " + std::string(op_name(op)));
}

}  // namespace builders_detail

using namespace builders_detail;

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

Expr commutation(Context& cx, const Dim& m, const Dim& n) {
  // K_{m,1} = K_{1,n} = I: vec of a vector is the vector, transposed or not.
  if (m.is_one() || n.is_one()) return identity(cx, m * n);
  Node k;
  k.op = Op::Commutation;
  k.shape = {m * n, m * n};
  k.param = {m, n};
  k.symmetric = m == n;  // K_{n,n} is its own inverse and transpose
  return cx.intern(std::move(k));
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

// ---------------------------------------------------------------- transpose

Expr transpose(Expr a) {
  Context& cx = *a->ctx;
  if (a->is_scalar() || a->symmetric) return a;
  // f(A)' = f(A') for every elementwise function: decided by class.
  if (is_elementwise_function(a->op)) return elementwise(a->op, transpose(a->kid(0)));
  // clang-format off
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
    case Op::Commutation: return commutation(*a->ctx, a->param.cols, a->param.rows);  // K_{m,n}' = K_{n,m}
    // Leaves and maps the transpose stays on top of.
    case Op::Symbol: case Op::DiagPart: case Op::Vec: case Op::Reshape: case Op::Kron: case Op::Softmax:
      return make1(Op::Transpose, a, a->shape.transposed(), false);
    // Always scalar, or always symmetric: returned above.
    case Op::Const: case Op::Pow: case Op::Trace: case Op::Det: case Op::LogDet: case Op::Sum: case Op::Norm2:
    case Op::Norm1: case Op::LogSumExp: case Op::Identity: case Op::Diag: case Op::Sym:
    // Elementwise functions: decided by class above.
    case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Sin: case Op::Cos: case Op::Tan: case Op::Tanh:
    case Op::Abs: case Op::Sign: case Op::Sigmoid: case Op::Softplus: case Op::Relu:
      break;
  }
  // clang-format on
  unreachable("transpose", a->op);
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
  // clang-format off
  switch (a->op) {
    case Op::Zeros: return constant(cx, 0);
    case Op::Transpose: return trace(a->kid(0));
    case Op::Kron:  // tr(A (x) B) = tr(A)*tr(B) for square A, B (Matrix Cookbook (105), (120))
      if (a->kid(0)->shape.is_square() && a->kid(1)->shape.is_square())
        return mul(trace(a->kid(0)), trace(a->kid(1)));
      return make1(Op::Trace, a, Shape::scalar(), true);
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
      return make1(Op::Trace, a, Shape::scalar(), true);
    }
    // Square matrices the trace stays on top of.
    case Op::Symbol: case Op::Identity: case Op::Ones: case Op::MatPow: case Op::ElemMul: case Op::ElemDiv:
    case Op::ElemPow: case Op::Inv: case Op::Diag: case Op::Reshape: case Op::Sym:
    case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Sin: case Op::Cos: case Op::Tan: case Op::Tanh:
    case Op::Abs: case Op::Sign: case Op::Sigmoid: case Op::Softplus: case Op::Relu: case Op::Commutation:
      return make1(Op::Trace, a, Shape::scalar(), true);
    // Always scalar (returned above), or always a column vector (never square
    // unless scalar).
    case Op::Const: case Op::Pow: case Op::Trace: case Op::Det: case Op::LogDet: case Op::Sum: case Op::Norm2:
    case Op::Norm1: case Op::LogSumExp: case Op::DiagPart: case Op::Vec: case Op::Softmax:
      break;
  }
  // clang-format on
  unreachable("trace", a->op);
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
  if (a->op == Op::Commutation) return transpose(a);  // a permutation: K_{m,n}^-1 = K_{n,m}
  // inv(inv(B)) = B only where B is known invertible: elsewhere B may be
  // singular, and inv(inv(B)) has no value there.
  if (a->op == Op::Inv && known(Condition::Invertible, a->kid(0))) return a->kid(0);
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
  if (a->op == Op::Kron) return mul(sum(a->kid(0)), sum(a->kid(1)));  // sum(A (x) B) = sum(A)*sum(B)
  // The sum of a row is the sum of the column it transposes (sum(ones(1,n))
  // = sum(ones(n)), sum(x'*A) = sum(A'*x)), so that both meet as like terms;
  // unless the transpose stays on top (kron(x, y)'), which would loop.
  if (a->shape.is_row())
    if (Expr t = transpose(a); t->op != Op::Transpose) return sum(t);
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
  if (a->op == Op::Mul) {  // vec(c*X) = c*vec(X): the coefficient stays in front
    auto [c, rest] = split_coefficient(a);
    if (c != 1) return scale(c, reshape(rest, s));
  }
  if (a->op == Op::Reshape || a->op == Op::Vec) a = a->kid(0);
  if (a->shape == s) return a;
  if (a->is_zero()) return zeros(cx, s);
  if (a->op == Op::Ones) return ones(cx, s);
  bool is_vec = s.is_col() && !a->shape.is_vector_like();
  return make(cx, is_vec ? Op::Vec : Op::Reshape, s, {a}, false);
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
  if (a->is_scalar() && !a->restricted) return constant(cx, 1);  // softmax(log(a)) stays: no value at a = -2
  if (a->is_scalar()) return make1(Op::Softmax, a, a->shape, true);
  if (!a->shape.is_vector_like()) arg_error("softmax", "a vector", a->shape);
  if (a->shape.is_row()) return transpose(softmax(transpose(a)));
  return make1(Op::Softmax, a, a->shape, false);
}

Expr frobenius(Expr a, Expr b) {
  if (!(a->shape == b->shape)) shape_error(":", a->shape, b->shape);
  if (a->is_scalar()) return mul(a, b);
  // A : ones = sum(A): the adjoint of a broadcast scalar (s*ones(n) + v) is
  // the sum of the sum's adjoint, not a product with a row of ones.
  if (b->op == Op::Ones) return sum(a);
  if (a->op == Op::Ones) return sum(b);
  if (a->shape.is_col()) return mul(transpose(a), b);
  if (a->shape.is_row()) return mul(a, transpose(b));
  if (a->op == Op::Identity) return trace(b);
  if (b->op == Op::Identity) return trace(a);
  return trace(mul(transpose(a), b));
}

Expr kron_rearrangement(Context& cx, const Shape& a, const Shape& b) {
  return kron(kron(identity(cx, a.cols), commutation(cx, b.cols, a.rows)), identity(cx, b.rows));
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
  // clang-format off
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
    case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Sin: case Op::Cos: case Op::Tan: case Op::Tanh:
    case Op::Abs: case Op::Sign: case Op::Sigmoid: case Op::Softplus: case Op::Relu:
      return elementwise(op, k[0]);
    // Their payload (value, name, shape) is not among the arguments.
    case Op::Const: case Op::Symbol: case Op::Identity: case Op::Zeros: case Op::Ones:
    case Op::Reshape: case Op::Commutation:
      break;
  }
  // clang-format on
  throw Error(ErrorKind::Unsupported, "apply() cannot build a " + std::string(op_name(op)));
}

}  // namespace matcalc
