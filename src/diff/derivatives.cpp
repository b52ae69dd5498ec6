// Every derivative rule of matcalc, one case per operator. The switch has no
// default: a new operator in ops.def does not compile until it has a rule
// here (-Werror=switch). Each case's comment is its identity.
#include "diff/derivatives.hpp"

#include <stdexcept>

#include "ir/builders.hpp"
#include "ir/error.hpp"

namespace matcalc {

const std::vector<DerivativeRule>& derivative_rules() {
  static const std::vector<DerivativeRule> rules = {
      {Op::Const, "constant", "d c = 0", "-", "(2.1)"},
      {Op::Symbol, "variable", "d X = dX", "G_X = G", ""},
      {Op::Identity, "constant", "d I = 0", "-", "(2.1)"},
      {Op::Zeros, "constant", "d 0 = 0", "-", "(2.1)"},
      {Op::Ones, "constant", "d 1 = 0", "-", "(2.1)"},
      {Op::Add, "linearity", "d(A + B) = dA + dB", "G_A = G, G_B = G", "(2.2)"},
      {Op::Mul, "product-rule", "d(A*B) = dA*B + A*dB", "G_A = G*B', G_B = A'*G; scalar s: G_s = G : (Y/s)", "(2.4)"},
      {Op::Pow, "power-rule", "d(a^p) = p*a^(p-1)*da + log(a)*a^p*dp", "G_a = G*p*a^(p-1)", ""},
      {Op::MatPow, "matrix-power", "d(X^k) = sum_i X^i*dX*X^(k-1-i)", "G_X = sum_i (X^i)'*G*(X^(k-1-i))'", "(2.12)"},
      {Op::ElemMul, "hadamard-product", "d(A .* B) = dA .* B + A .* dB", "G_A = G .* B", "(2.5)"},
      {Op::ElemDiv, "hadamard-quotient", "d(A ./ B) = dA ./ B - A .* dB ./ B.^2", "G_A = G ./ B, G_B = -G .* A ./ B.^2", ""},
      {Op::ElemPow, "elementwise-power", "d(A .^ p) = p*A.^(p-1) .* dA", "G_A = p*G .* A.^(p-1)", ""},
      {Op::Transpose, "transpose", "d(X') = (dX)'", "G_X = G'", "(2.6)"},
      {Op::Trace, "trace", "d tr(X) = tr(dX) = I : dX", "G_X = G*I", "(2.7)"},
      {Op::Det, "determinant", "d det(X) = det(X)*inv(X)' : dX", "G_X = G*det(X)*inv(X)'", "(2.46)"},
      {Op::LogDet, "log-determinant", "d logdet(X) = inv(X)' : dX", "G_X = G*inv(X)'", "(2.51)"},
      {Op::Inv, "inverse", "d inv(X) = -inv(X)*dX*inv(X)", "G_X = -inv(X)'*G*inv(X)'", "(2.36)"},
      {Op::Diag, "diag-of-vector", "d diag(x) = diag(dx)", "G_x = diag(G)", ""},
      {Op::DiagPart, "diag-of-matrix", "d diag(X) = diag(dX)", "G_X = diag(G)", ""},
      {Op::Sum, "sum", "d sum(X) = ones : dX", "G_X = G*ones", ""},
      {Op::Norm2, "euclidean-norm", "d norm2(X) = X/norm2(X) : dX", "G_X = G*X/norm2(X)", "(2.139)"},
      {Op::Norm1, "one-norm", "d norm1(X) = sign(X) : dX (away from zeros)", "G_X = G*sign(X)", ""},
      {Op::Vec, "vec", "d vec(X) = vec(dX)", "G_X = reshape(G) to X's shape", ""},
      {Op::Reshape, "reshape", "d reshape(X) = reshape(dX)", "G_X = reshape(G) to X's shape", ""},
      {Op::Kron, "kronecker", "d kron(A,B) = kron(dA,B) + kron(A,dB)", "vectors: G_a = R'*b, G_b = R*a, R = reshape(G,|b|,|a|)", "(2.17)"},
      {Op::Sym, "symmetric-part", "d sym(X) = sym(dX)", "G_X = sym(G)", ""},
      {Op::LogSumExp, "logsumexp", "d logsumexp(x) = softmax(x) : dx", "G_x = G*softmax(x)", ""},
      {Op::Softmax, "softmax", "d softmax(x) = (diag(s) - s*s')*dx, s = softmax(x)", "G_x = s .* G - s*(s'*G)", ""},
      {Op::Exp, "chain-exp", "d exp(X) = exp(X) .* dX", "G_X = G .* exp(X)", ""},
      {Op::Log, "chain-log", "d log(X) = dX ./ X", "G_X = G ./ X", ""},
      {Op::Sqrt, "chain-sqrt", "d sqrt(X) = dX ./ (2*sqrt(X))", "G_X = G ./ sqrt(X)/2", ""},
      {Op::Sin, "chain-sin", "d sin(X) = cos(X) .* dX", "G_X = G .* cos(X)", ""},
      {Op::Cos, "chain-cos", "d cos(X) = -sin(X) .* dX", "G_X = -G .* sin(X)", ""},
      {Op::Tan, "chain-tan", "d tan(X) = dX ./ cos(X).^2", "G_X = G ./ cos(X).^2", ""},
      {Op::Tanh, "chain-tanh", "d tanh(X) = (1 - tanh(X).^2) .* dX", "G_X = G - G .* tanh(X).^2", ""},
      {Op::Abs, "chain-abs", "d abs(X) = sign(X) .* dX (away from zeros)", "G_X = G .* sign(X)", ""},
      {Op::Sign, "chain-sign", "d sign(X) = 0 (away from zeros)", "G_X = 0", ""},
      {Op::Sigmoid, "chain-sigmoid", "d sigmoid(X) = sigmoid(X) .* sigmoid(-X) .* dX", "G_X = G .* sigmoid(X) .* sigmoid(-X)", ""},
      {Op::Softplus, "chain-softplus", "d softplus(X) = sigmoid(X) .* dX", "G_X = G .* sigmoid(X)", ""},
      {Op::Relu, "chain-relu", "d relu(X) = sign(relu(X)) .* dX (away from zeros)", "G_X = G .* sign(relu(X))", ""},
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

Expr product_of(const std::vector<Expr>& fs, std::size_t from, std::size_t to, Context& cx) {
  if (from >= to) return constant(cx, 1);
  std::vector<Expr> part;
  part.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) part.push_back(fs[i]);
  return mul(std::move(part));
}

// Elementwise f'(x) applied to the adjoint: G .* f'(x).
Expr elementwise_adjoint(Expr y, Expr G) {
  Expr x = y->kid(0);
  switch (y->op) {
    case Op::Exp: return hadamard(G, y);                                      // d e^x = e^x dx
    case Op::Log: return ediv(G, x);                                          // d log x = dx / x
    case Op::Sqrt: return scale(0.5, ediv(G, y));                             // d sqrt x = dx / (2 sqrt x)
    case Op::Sin: return hadamard(G, elementwise(Op::Cos, x));                // d sin x = cos x dx
    case Op::Cos: return neg(hadamard(G, elementwise(Op::Sin, x)));           // d cos x = -sin x dx
    case Op::Tan: return ediv(G, epow(elementwise(Op::Cos, x), constant(*x->ctx, 2)));  // sec^2
    case Op::Tanh: return sub(G, hadamard(G, epow(y, constant(*x->ctx, 2))));  // 1 - tanh^2
    case Op::Abs: return hadamard(G, elementwise(Op::Sign, x));               // |x|' = sign x
    case Op::Sign: return zero_like(x);                                       // flat away from 0
    case Op::Sigmoid: return hadamard({G, y, elementwise(Op::Sigmoid, neg(x))});  // s(x) s(-x)
    case Op::Softplus: return hadamard(G, elementwise(Op::Sigmoid, x));       // log(1+e^x)' = s(x)
    case Op::Relu: return hadamard(G, elementwise(Op::Sign, y));              // step = sign(relu x)
    default: throw std::logic_error("not an elementwise function");
  }
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
      break;

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
      if (y->power > kMaxDifferentiatedPower)  // X and dX do not commute: k terms, no shorter form
        throw Error(ErrorKind::Limit, "the derivative of X^" + std::to_string(y->power) + " has " +
                                          std::to_string(y->power) + " terms (limit " +
                                          std::to_string(kMaxDifferentiatedPower) + ")");
      Expr xt = transpose(k[0]);
      std::vector<Expr> terms;
      for (int i = 0; i < y->power; ++i) terms.push_back(mul({matpow(xt, i), G, matpow(xt, y->power - 1 - i)}));
      out[0] = add(std::move(terms));
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

    case Op::Kron: {  // kron(a, b) = vec(b*a') for vectors
      if (!k[0]->shape.is_col() || !k[1]->shape.is_col())
        throw Error(ErrorKind::Unsupported,
                    "the derivative of kron with a matrix argument is not supported yet "
                    "(kron of two column vectors is)");
      Expr r = reshape(G, {k[1]->shape.rows, k[0]->shape.rows});
      if (want(0)) out[0] = mul(transpose(r), k[1]);
      if (want(1)) out[1] = mul(r, k[0]);
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
      if (want(0)) out[0] = elementwise_adjoint(y, G);
      break;
  }
  return out;
}

}  // namespace matcalc
