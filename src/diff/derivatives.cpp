// Every derivative rule of matcalc, one case per operator. The switch has no
// default: a new operator in ops.def does not compile until it has a rule
// here (-Werror=switch). Each case's comment is its identity.
#include "diff/derivatives.hpp"

#include <algorithm>
#include <stdexcept>

#include "ir/builders.hpp"
#include "ir/error.hpp"

namespace matcalc {

const std::vector<DerivativeRule>& derivative_rules() {
  // {op, name, expression, differential, declarations, conditions, reference}.
  // `expression` and `differential` are in the text language; dA is the
  // differential of A. tests/rules checks every row by finite differences,
  // and that forward_differential() below agrees with it.
  static const std::vector<DerivativeRule> rules = {
      {Op::Const, "constant", "3", "0", "",
       "3 stands for any constant: a number, eye(n), zeros, ones, a symbol other than the variable", "(33)"},
      {Op::Symbol, "variable", "X", "dX", "X: matrix(n,m)", "", ""},
      {Op::Identity, "constant", "eye(n)", "zeros(n,n)", "", "", "(33)"},
      {Op::Zeros, "constant", "zeros(n,m)", "zeros(n,m)", "", "", "(33)"},
      {Op::Ones, "constant", "ones(n,m)", "zeros(n,m)", "", "", "(33)"},
      {Op::Add, "sum-rule", "A + B", "dA + dB", "A: matrix(n,m); B: matrix(n,m)", "", "(35)"},
      {Op::Mul, "product-rule", "A*B", "dA*B + A*dB", "A: matrix(n,k); B: matrix(k,m)", "", "(37)"},
      {Op::Pow, "power-rule", "a^p", "p*a^(p - 1)*da + log(a)*a^p*dp", "a: scalar; p: scalar", "a > 0", ""},
      {Op::MatPow, "matrix-power", "X^3", "dX*X^2 + X*dX*X + X^2*dX", "X: matrix(n,n)",
       "integer k >= 2: d(X^k) = sum over i of X^i*dX*X^(k-1-i)", ""},
      {Op::ElemMul, "hadamard-product", "A .* B", "dA .* B + A .* dB", "A: matrix(n,m); B: matrix(n,m)", "", "(38)"},
      {Op::ElemDiv, "hadamard-quotient", "A ./ B", "dA ./ B - A .* dB ./ B.^2", "A: matrix(n,m); B: matrix(n,m)",
       "B has no zero entry", ""},
      {Op::ElemPow, "elementwise-power", "A.^p", "p*A.^(p - 1) .* dA + log(A) .* A.^p*dp", "A: matrix(n,m); p: scalar",
       "A > 0 entrywise", ""},
      {Op::Transpose, "transpose", "X'", "dX'", "X: matrix(n,m)", "", "(44)"},
      {Op::Trace, "trace", "tr(X)", "tr(dX)", "X: matrix(n,n)", "", "(36)"},
      {Op::Det, "determinant", "det(X)", "det(X)*tr(inv(X)*dX)", "X: matrix(n,n)", "X invertible", "(42)"},
      {Op::LogDet, "log-determinant", "logdet(X)", "tr(inv(X)*dX)", "X: matrix(n,n)", "det(X) > 0", "(43)"},
      {Op::Inv, "inverse", "inv(X)", "-inv(X)*dX*inv(X)", "X: matrix(n,n)", "X invertible", "(40)"},
      {Op::Diag, "diag-of-vector", "diag(x)", "diag(dx)", "x: vector(n)", "", ""},
      {Op::DiagPart, "diag-of-matrix", "diag(X)", "diag(dX)", "X: matrix(n,n)", "", ""},
      {Op::Sum, "sum-of-entries", "sum(X)", "sum(dX)", "X: matrix(n,m)", "", ""},
      {Op::Norm2, "euclidean-norm", "norm2(X)", "(X : dX)/norm2(X)", "X: matrix(n,m)", "X != 0", ""},
      {Op::Norm1, "one-norm", "norm1(X)", "sign(X) : dX", "X: matrix(n,m)", "no entry of X is 0", ""},
      {Op::Vec, "vec", "vec(X)", "vec(dX)", "X: matrix(n,m)", "", ""},
      {Op::Reshape, "reshape", "reshape(X, m, n)", "reshape(dX, m, n)", "X: matrix(n,m)", "", ""},
      {Op::Kron, "kronecker", "kron(A, B)", "kron(dA, B) + kron(A, dB)", "A: matrix(n,m); B: matrix(p,q)", "", "(39)"},
      {Op::Sym, "symmetric-part", "sym(X)", "sym(dX)", "X: matrix(n,n)", "", ""},
      {Op::LogSumExp, "logsumexp", "logsumexp(x)", "softmax(x) : dx", "x: vector(n)", "", ""},
      {Op::Softmax, "softmax", "softmax(x)", "softmax(x) .* dx - softmax(x)*(softmax(x)'*dx)", "x: vector(n)", "", ""},
      {Op::Exp, "chain-exp", "exp(X)", "exp(X) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Log, "chain-log", "log(X)", "dX ./ X", "X: matrix(n,m)", "X > 0 entrywise", ""},
      {Op::Sqrt, "chain-sqrt", "sqrt(X)", "dX ./ (2*sqrt(X))", "X: matrix(n,m)", "X > 0 entrywise", ""},
      {Op::Sin, "chain-sin", "sin(X)", "cos(X) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Cos, "chain-cos", "cos(X)", "-sin(X) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Tan, "chain-tan", "tan(X)", "dX ./ cos(X).^2", "X: matrix(n,m)", "cos(X) has no zero entry", ""},
      {Op::Tanh, "chain-tanh", "tanh(X)", "(ones(n,m) - tanh(X).^2) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Abs, "chain-abs", "abs(X)", "sign(X) .* dX", "X: matrix(n,m)", "no entry of X is 0", ""},
      {Op::Sign, "chain-sign", "sign(X)", "zeros(n,m)", "X: matrix(n,m)", "no entry of X is 0", ""},
      {Op::Sigmoid, "chain-sigmoid", "sigmoid(X)", "sigmoid(X) .* sigmoid(-X) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Softplus, "chain-softplus", "softplus(X)", "sigmoid(X) .* dX", "X: matrix(n,m)", "", ""},
      {Op::Relu, "chain-relu", "relu(X)", "sign(relu(X)) .* dX", "X: matrix(n,m)", "no entry of X is 0", ""},
      {Op::Commutation, "constant", "commutation(n,m)", "zeros(n*m,n*m)", "", "", ""},
  };
  return rules;
}

const DerivativeRule& derivative_rule(Op op) {
  for (const auto& r : derivative_rules())
    if (r.op == op) return r;
  throw std::logic_error("no derivative rule for " + std::string(op_name(op)));
}

namespace {

constexpr int kMaxDifferentiatedPower = 64;
// The most factors the adjoints of one product may hold together.
constexpr std::size_t kMaxProductAdjointFactors = 1'000'000;

// X and dX do not commute: d(X^k) has k terms and no shorter form.
void check_power_limit(int power) {
  if (power > kMaxDifferentiatedPower)
    throw Error(ErrorKind::Limit, "the derivative of X^" + std::to_string(power) + " has " + std::to_string(power) +
                                      " terms (limit " + std::to_string(kMaxDifferentiatedPower) + ")");
}

Expr product_of(const std::vector<Expr>& fs, std::size_t from, std::size_t to, Context& cx) {
  if (from >= to) return constant(cx, 1);
  std::vector<Expr> part;
  part.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) part.push_back(fs[i]);
  return mul(std::move(part));
}

// Elementwise f'(x) applied to the adjoint: G .* f'(x).
// Only for elementwise functions (ElementwiseFn lists exactly them).
Expr elementwise_adjoint(ElementwiseFn f, Expr y, Expr G) {
  using F = ElementwiseFn;
  Expr x = y->kid(0);
  switch (f) {
    case F::Exp: return hadamard(G, y);                                                // d e^x = e^x dx
    case F::Log: return ediv(G, x);                                                    // d log x = dx / x
    case F::Sqrt: return scale(0.5, ediv(G, y));                                       // d sqrt x = dx / (2 sqrt x)
    case F::Sin: return hadamard(G, elementwise(Op::Cos, x));                          // d sin x = cos x dx
    case F::Cos: return neg(hadamard(G, elementwise(Op::Sin, x)));                     // d cos x = -sin x dx
    case F::Tan: return ediv(G, epow(elementwise(Op::Cos, x), constant(*x->ctx, 2)));  // sec^2
    case F::Tanh: return hadamard(G, sub(ones(*x->ctx, y->shape), epow(y, constant(*x->ctx, 2))));  // 1 - tanh^2
    case F::Abs: return hadamard(G, elementwise(Op::Sign, x));                         // |x|' = sign x
    case F::Sign: return zero_like(x);                                                 // flat away from 0
    case F::Sigmoid: return hadamard({G, y, elementwise(Op::Sigmoid, neg(x))});        // s(x) s(-x)
    case F::Softplus: return hadamard(G, elementwise(Op::Sigmoid, x));                 // log(1+e^x)' = s(x)
    case F::Relu: return hadamard(G, elementwise(Op::Sign, y));                        // step = sign(relu x)
  }
  throw std::logic_error("elementwise_adjoint: not an elementwise function");
}

}  // namespace

std::vector<Expr> propagate_adjoint(Expr y, Expr G, const std::vector<bool>& wanted) {
  Context& cx = *y->ctx;
  const auto& k = y->kids;
  std::vector<Expr> out(k.size(), nullptr);
  auto want = [&](std::size_t i) { return i < wanted.size() && wanted[i]; };

  switch (y->op) {
    case Op::Const:
    case Op::Symbol:
    case Op::Identity:
    case Op::Zeros:
    case Op::Ones:
    case Op::Commutation: break;

    case Op::Add:  // d(A + B) = dA + dB
      for (std::size_t i = 0; i < k.size(); ++i)
        if (want(i)) out[i] = G;
      break;

    case Op::Mul: {
      // Y = (s1*...*sp) * M1*...*Mq. For a scalar factor s: df = G : (Y/s) ds.
      // For a chain factor: dY = c*L*dMi*R, so G_Mi = c*L'*G*R'.
      std::vector<Expr> scalars, chain;
      std::vector<std::size_t> scalar_index, chain_index;
      for (std::size_t i = 0; i < k.size(); ++i) {
        if (k[i]->is_scalar()) {
          scalars.push_back(k[i]);
          scalar_index.push_back(i);
        } else {
          chain.push_back(k[i]);
          chain_index.push_back(i);
        }
      }
      // Each wanted factor's adjoint holds the k - 1 others: past a bound on
      // their total, a Limit error now rather than seconds of building a
      // result too large to print (docs/limits.md).
      std::size_t wanted = 0;
      for (std::size_t i = 0; i < k.size(); ++i) wanted += want(i) ? 1 : 0;
      if (wanted > 1 && wanted * (k.size() - 1) > kMaxProductAdjointFactors)
        throw Error(ErrorKind::Limit, "the gradient of a product of " + std::to_string(k.size()) + " factors, " +
                                          std::to_string(wanted) + " of them depending on the variable, has " +
                                          std::to_string(wanted) + " terms of " + std::to_string(k.size() - 1) +
                                          " factors (limit " + std::to_string(kMaxProductAdjointFactors) +
                                          " factors in all)");
      // All factors scalar: each one's adjoint is G times the others.
      if (chain.empty() && y->is_scalar()) {
        for (std::size_t j = 0; j < scalars.size(); ++j) {
          if (!want(scalar_index[j])) continue;
          std::vector<Expr> others{G};
          for (std::size_t o = 0; o < scalars.size(); ++o)
            if (o != j) others.push_back(scalars[o]);
          out[scalar_index[j]] = mul(std::move(others));
        }
        break;
      }
      Expr c = product_of(scalars, 0, scalars.size(), cx);
      Expr m = product_of(chain, 0, chain.size(), cx);
      for (std::size_t j = 0; j < scalars.size(); ++j) {
        if (!want(scalar_index[j])) continue;
        std::vector<Expr> others;
        for (std::size_t o = 0; o < scalars.size(); ++o)
          if (o != j) others.push_back(scalars[o]);
        others.push_back(frobenius(G, m));
        out[scalar_index[j]] = mul(std::move(others));
      }
      for (std::size_t j = 0; j < chain.size(); ++j) {
        if (!want(chain_index[j])) continue;
        Expr left = product_of(chain, 0, j, cx), right = product_of(chain, j + 1, chain.size(), cx);
        out[chain_index[j]] = mul({c, transpose(left), G, transpose(right)});
      }
      break;
    }

    case Op::Pow: {  // d a^p = p a^(p-1) da + log(a) a^p dp
      if (want(0)) out[0] = mul({G, k[1], pow(k[0], sub(k[1], constant(cx, 1)))});
      if (want(1)) out[1] = mul({G, elementwise(Op::Log, k[0]), y});
      break;
    }

    case Op::MatPow: {  // d X^k = sum_i X^i dX X^(k-1-i)
      if (!want(0)) break;
      check_power_limit(y->power);
      Expr xt = transpose(k[0]);
      std::vector<Expr> terms;
      for (int i = 0; i < y->power; ++i) terms.push_back(mul({matpow(xt, i), G, matpow(xt, y->power - 1 - i)}));
      out[0] = terms.empty() ? zero_like(k[0]) : add(std::move(terms));  // X^0, kept for X's domain: constant
      break;
    }

    case Op::ElemMul:  // d(A .* B) = dA .* B + A .* dB
      for (std::size_t i = 0; i < k.size(); ++i) {
        if (!want(i)) continue;
        std::vector<Expr> fs{G};
        for (std::size_t o = 0; o < k.size(); ++o)
          if (o != i) fs.push_back(k[o]);
        out[i] = hadamard(std::move(fs));
      }
      break;

    case Op::ElemDiv:  // d(A ./ B) = dA ./ B - (A ./ B) .* dB ./ B
      if (want(0)) out[0] = ediv(G, k[1]);
      if (want(1)) out[1] = neg(ediv(hadamard(G, y), k[1]));
      break;

    case Op::ElemPow:  // d A.^p = p A.^(p-1) .* dA + log(A) .* A.^p dp
      if (want(0)) out[0] = mul(k[1], hadamard(G, epow(k[0], sub(k[1], constant(cx, 1)))));
      if (want(1)) out[1] = frobenius(G, hadamard(elementwise(Op::Log, k[0]), y));
      break;

    case Op::Transpose:  // d X' = dX'
      if (want(0)) out[0] = transpose(G);
      break;

    case Op::Trace:  // d tr X = I : dX
      if (want(0)) out[0] = mul(G, identity(cx, k[0]->shape.rows));
      break;

    case Op::Det:  // d det X = det(X) inv(X)' : dX
      if (want(0)) out[0] = mul({G, y, transpose(inv(k[0]))});
      break;

    case Op::LogDet:  // d logdet X = inv(X)' : dX
      if (want(0)) out[0] = mul(G, transpose(inv(k[0])));
      break;

    case Op::Inv:  // d inv(X) = -inv(X) dX inv(X)
      if (want(0)) out[0] = neg(mul({transpose(y), G, transpose(y)}));
      break;

    case Op::Diag:      // d diag(x) = diag(dx): G_x = diag(G)
    case Op::DiagPart:  // d diag(X) = diag(dX): G_X = diag(G)
      if (want(0)) out[0] = diag(G);
      break;

    case Op::Sum:  // d sum(X) = ones : dX
      if (want(0)) out[0] = mul(G, ones(cx, k[0]->shape));
      break;

    case Op::Norm2:  // d ||X|| = X/||X|| : dX
      if (want(0)) out[0] = mul({G, k[0], pow(y, -1.0)});
      break;

    case Op::Norm1:  // d ||X||_1 = sign(X) : dX
      if (want(0)) out[0] = mul(G, elementwise(Op::Sign, k[0]));
      break;

    case Op::Vec:      // vec and reshape only move entries:
    case Op::Reshape:  // the adjoint is reshaped back
      if (want(0)) out[0] = reshape(G, k[0]->shape);
      break;

    case Op::Kron: {
      const Shape &a = k[0]->shape, &b = k[1]->shape;
      if (a.is_col() && b.is_col()) {  // kron(a, b) = vec(b*a') for vectors
        Expr r = reshape(G, {b.rows, a.rows});
        if (want(0)) out[0] = mul(transpose(r), k[1]);
        if (want(1)) out[1] = mul(r, k[0]);
        break;
      }
      // vec(kron(A, B)) = T*kron(vec(A), vec(B)) (kron_rearrangement), so with
      // R = reshape(T'*vec(G), mn, pq), whose columns are vec of G's m x n
      // blocks: G : kron(dA, B) = vec(B)'*R*vec(dA), G : kron(A, dB) = vec(A)'*R'*vec(dB).
      Expr r = reshape(mul(transpose(kron_rearrangement(cx, a, b)), vec(G)), {b.rows * b.cols, a.rows * a.cols});
      if (want(0)) out[0] = reshape(mul(transpose(r), vec(k[1])), a);
      if (want(1)) out[1] = reshape(mul(r, vec(k[0])), b);
      break;
    }

    case Op::Sym:  // d sym(X) = sym(dX); sym is self-adjoint
      if (want(0)) out[0] = sym(G);
      break;

    case Op::LogSumExp:  // d lse(x) = softmax(x) : dx
      if (want(0)) out[0] = mul(G, softmax(k[0]));
      break;

    case Op::Softmax:  // d s = (diag(s) - s s') dx, symmetric Jacobian
      if (want(0)) out[0] = sub(hadamard(y, G), mul(y, mul(transpose(y), G)));
      break;

    case Op::Exp:
    case Op::Log:
    case Op::Sqrt:
    case Op::Sin:
    case Op::Cos:
    case Op::Tan:
    case Op::Tanh:
    case Op::Abs:
    case Op::Sign:
    case Op::Sigmoid:
    case Op::Softplus:
    case Op::Relu:
      if (want(0)) out[0] = elementwise_adjoint(*elementwise_fn(y->op), y, G);
      break;
  }
  return out;
}

Expr forward_differential(Expr y, const std::vector<Expr>& dx) {
  Context& cx = *y->ctx;
  const auto& k = y->kids;
  auto d = [&](std::size_t i) { return i < dx.size() ? dx[i] : nullptr; };
  std::vector<Expr> terms;  // the differential is their sum
  auto only = [&](Expr t) { terms.push_back(t); };
  // Applies `with` to each argument that has a differential.
  auto each = [&](auto&& with) {
    for (std::size_t i = 0; i < k.size(); ++i)
      if (d(i)) terms.push_back(with(i));
  };
  auto replaced = [&](std::size_t i) {  // the arguments with argument i replaced by its differential
    std::vector<Expr> args = k;
    args[i] = d(i);
    return args;
  };
  const bool any = std::any_of(k.begin(), k.end(), [&, i = std::size_t{0}](Expr) mutable { return d(i++) != nullptr; });
  if (!any) return zero_like(y);

  switch (y->op) {
    case Op::Const:
    case Op::Symbol:  // the caller gives a variable its own differential
    case Op::Identity:
    case Op::Zeros:
    case Op::Ones:
    case Op::Commutation: break;
    case Op::Add:  // d(A + B) = dA + dB
      each([&](std::size_t i) { return d(i); });
      break;
    case Op::Mul:  // d(A*B) = dA*B + A*dB
      each([&](std::size_t i) { return mul(replaced(i)); });
      break;
    case Op::Pow:  // d(a^p) = p*a^(p-1)*da + log(a)*a^p*dp
      if (d(0)) only(mul({k[1], pow(k[0], sub(k[1], constant(cx, 1))), d(0)}));
      if (d(1)) only(mul({elementwise(Op::Log, k[0]), y, d(1)}));
      break;
    case Op::MatPow:  // d(X^k) = sum_i X^i*dX*X^(k-1-i)
      check_power_limit(y->power);
      for (int i = 0; i < y->power; ++i) only(mul({matpow(k[0], i), d(0), matpow(k[0], y->power - 1 - i)}));
      break;
    case Op::ElemMul:  // d(A .* B) = dA .* B + A .* dB
      each([&](std::size_t i) { return hadamard(replaced(i)); });
      break;
    case Op::ElemDiv:  // d(A ./ B) = dA ./ B - A .* dB ./ B.^2
      if (d(0)) only(ediv(d(0), k[1]));
      if (d(1)) only(neg(ediv(hadamard(y, d(1)), k[1])));
      break;
    case Op::ElemPow:  // d(A.^p) = p*A.^(p-1) .* dA + log(A) .* A.^p*dp
      if (d(0)) only(mul(k[1], hadamard(epow(k[0], sub(k[1], constant(cx, 1))), d(0))));
      if (d(1)) only(mul(d(1), hadamard(elementwise(Op::Log, k[0]), y)));
      break;
    case Op::Transpose: only(transpose(d(0))); break;                        // d(X') = dX'
    case Op::Trace: only(trace(d(0))); break;                                // d tr(X) = tr(dX)
    case Op::Det: only(mul(y, trace(mul(inv(k[0]), d(0))))); break;          // det(X)*tr(inv(X)*dX)
    case Op::LogDet: only(trace(mul(inv(k[0]), d(0)))); break;               // tr(inv(X)*dX)
    case Op::Inv: only(neg(mul({y, d(0), y}))); break;                       // -inv(X)*dX*inv(X)
    case Op::Diag:
    case Op::DiagPart: only(diag(d(0))); break;                              // diag(dX)
    case Op::Sum: only(sum(d(0))); break;                                    // sum(dX)
    case Op::Norm2: only(mul(frobenius(k[0], d(0)), pow(y, -1.0))); break;   // (X : dX)/norm2(X)
    case Op::Norm1: only(frobenius(elementwise(Op::Sign, k[0]), d(0))); break;  // sign(X) : dX
    case Op::Vec: only(vec(d(0))); break;
    case Op::Reshape: only(reshape(d(0), y->shape)); break;
    case Op::Kron: each([&](std::size_t i) { return kron(replaced(i)[0], replaced(i)[1]); }); break;
    case Op::Sym: only(sym(d(0))); break;
    case Op::LogSumExp: only(frobenius(softmax(k[0]), d(0))); break;        // softmax(x) : dx
    case Op::Softmax: only(sub(hadamard(y, d(0)), mul(y, mul(transpose(y), d(0))))); break;
    case Op::Exp:  // elementwise functions have a diagonal Jacobian: f'(X) .* dX
    case Op::Log:
    case Op::Sqrt:
    case Op::Sin:
    case Op::Cos:
    case Op::Tan:
    case Op::Tanh:
    case Op::Abs:
    case Op::Sign:
    case Op::Sigmoid:
    case Op::Softplus:
    case Op::Relu: only(elementwise_adjoint(*elementwise_fn(y->op), y, d(0))); break;
  }
  return terms.empty() ? zero_like(y) : add(std::move(terms));
}

namespace {

Dim numel(const Shape& s) { return s.rows * s.cols; }

// vec(diag(b)) = diag(vec(I))*kron(ones(n), I)*b for b of length n: the
// n^2 x n matrix that places b on the diagonal.
Expr diag_embedding(Context& cx, const Dim& n) {
  return mul(diag(vec(identity(cx, n))), kron(ones(cx, {n, Dim::literal(1)}), identity(cx, n)));
}

[[noreturn]] void not_linear(Expr y) {
  throw std::logic_error("vec_rule: " + std::string(op_name(y->op)) + " of the differential is not linear");
}

}  // namespace

Expr vec_rule(Expr y, const std::vector<Expr>& maps) {
  Context& cx = *y->ctx;
  const auto& k = y->kids;
  const Shape& s = y->shape;
  auto L = [&](std::size_t i) { return i < maps.size() ? maps[i] : nullptr; };
  // The one argument that depends on D (a product of two that do is not linear).
  auto only = [&] {
    std::size_t found = k.size();
    for (std::size_t i = 0; i < k.size(); ++i)
      if (L(i)) {
        if (found != k.size()) not_linear(y);
        found = i;
      }
    return found;
  };
  switch (y->op) {
    case Op::Add: {  // vec(A + B) = vec(A) + vec(B)
      std::vector<Expr> terms;
      for (std::size_t i = 0; i < k.size(); ++i)
        if (L(i)) terms.push_back(L(i));
      return add(std::move(terms));
    }
    case Op::Mul: {
      const std::size_t j = only();
      std::vector<Expr> scalars, left, right;
      Expr m = k[j]->is_scalar() ? nullptr : k[j];
      for (std::size_t i = 0; i < k.size(); ++i) {
        if (i == j) continue;
        if (k[i]->is_scalar())
          scalars.push_back(k[i]);
        else
          (m && i > j ? right : left).push_back(k[i]);
      }
      if (!m) {  // a scalar factor s: vec(s*R) = vec(R)*s
        scalars.insert(scalars.end(), left.begin(), left.end());
        return mul(vec(scalars.empty() ? constant(cx, 1) : mul(std::move(scalars))), L(j));
      }
      // vec(c*A*M*B) = c*kron(B', A)*vec(M), over each term of vec(M)'s
      // map: a sum of Kronecker products, which the mixed-product rule
      // (kron(A,B)*kron(C,D) = kron(A*C, B*D)) keeps one product each.
      Expr a = left.empty() ? identity(cx, m->shape.rows) : mul(left);
      Expr b = right.empty() ? identity(cx, m->shape.cols) : mul(right);
      Expr k = kron(transpose(b), a);
      scalars.push_back(k);
      if (k->op == Op::Identity || L(j)->op != Op::Add) {  // nothing for the mixed-product rule to merge
        scalars.push_back(L(j));
        return mul(std::move(scalars));
      }
      std::vector<Expr> terms;
      for (Expr t : L(j)->kids) {
        std::vector<Expr> factors = scalars;
        factors.push_back(t);
        terms.push_back(mul(std::move(factors)));
      }
      return add(std::move(terms));
    }
    case Op::ElemMul: {  // vec(A .* M) = diag(vec(A))*vec(M)
      const std::size_t j = only();
      std::vector<Expr> others;
      for (std::size_t i = 0; i < k.size(); ++i)
        if (i != j) others.push_back(k[i]);
      return mul(diag(vec(hadamard(std::move(others)))), L(j));
    }
    case Op::ElemDiv:  // vec(M ./ B) = diag(vec(ones ./ B))*vec(M)
      if (L(1)) not_linear(y);
      return mul(diag(vec(ediv(ones(cx, k[1]->shape), k[1]))), L(0));
    case Op::Transpose:  // vec(M') = K_{m,n}*vec(M)
      return mul(commutation(cx, k[0]->shape.rows, k[0]->shape.cols), L(0));
    case Op::Trace:  // tr(M) = vec(I)'*vec(M)
      return mul(transpose(vec(identity(cx, k[0]->shape.rows))), L(0));
    case Op::Sum:  // sum(M) = ones'*vec(M)
      return mul(transpose(ones(cx, {numel(k[0]->shape), Dim::literal(1)})), L(0));
    case Op::Diag:  // vec(diag(m)) = diag(vec(I))*kron(ones(n), I)*m
      return mul(diag_embedding(cx, k[0]->shape.rows), L(0));
    case Op::DiagPart:  // diag(M) = kron(ones(n), I)'*diag(vec(I))*vec(M)
      return mul(transpose(diag_embedding(cx, s.rows)), L(0));
    case Op::Vec:
    case Op::Reshape:  // the same entries in the same column-major order
      return L(0);
    case Op::Sym:  // vec(sym(M)) = (I + K)/2*vec(M)
      return mul(scale(0.5, add(identity(cx, numel(s)), commutation(cx, s.rows, s.cols))), L(0));
    case Op::Kron: {  // vec(kron(A, B)) = T*kron(vec(A), vec(B))
      const std::size_t j = only();
      Expr t = kron_rearrangement(cx, k[0]->shape, k[1]->shape);
      if (j == 0)  // kron(vec(M), vec(B)) = kron(I, vec(B))*vec(M)
        return mul({t, kron(identity(cx, numel(k[0]->shape)), vec(k[1])), L(0)});
      return mul({t, kron(vec(k[0]), identity(cx, numel(k[1]->shape))), L(1)});  // kron(vec(A), I)*vec(M)
    }
    // Leaves are constants (D itself has the identity map); the rest is not
    // linear in its argument.
    case Op::Const:
    case Op::Symbol:
    case Op::Identity:
    case Op::Zeros:
    case Op::Ones:
    case Op::Commutation:
    case Op::Pow:
    case Op::MatPow:
    case Op::ElemPow:
    case Op::Det:
    case Op::LogDet:
    case Op::Inv:
    case Op::Norm2:
    case Op::Norm1:
    case Op::LogSumExp:
    case Op::Softmax:
    case Op::Exp:
    case Op::Log:
    case Op::Sqrt:
    case Op::Sin:
    case Op::Cos:
    case Op::Tan:
    case Op::Tanh:
    case Op::Abs:
    case Op::Sign:
    case Op::Sigmoid:
    case Op::Softplus:
    case Op::Relu: break;
  }
  not_linear(y);
}

}  // namespace matcalc
