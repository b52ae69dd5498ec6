// An independent oracle for the rule tests: evaluates a parsed expression
// straight from its syntax tree with plain Eigen (explicit inverses, no
// normal form, no rewriting), so that both sides of every normalization and
// rewrite rule can be compared with a computation that shares none of the
// engine's code past the parser. `I` is not supported: write eye(n).
#pragma once
#include <Eigen/Dense>
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>

#include "parse/ast.hpp"

namespace matcalc::testing {

using M = Eigen::MatrixXd;

class Oracle {
 public:
  Oracle(std::map<std::string, M> values, std::map<std::string, long> dims)
      : v_(std::move(values)), d_(std::move(dims)) {}

  M eval(const Ast& a) {
    switch (a.kind) {
      case Ast::Kind::Number: return s(a.number);
      case Ast::Kind::Name: return v_.at(a.text);
      case Ast::Kind::Neg: return -eval(*a.kids[0]);
      case Ast::Kind::Transpose: return eval(*a.kids[0]).transpose();
      case Ast::Kind::Power: {
        M b = eval(*a.kids[0]), e = eval(*a.kids[1]);
        double p = e(0, 0);
        if (a.text == ".^") return b.array().pow(p).matrix();
        if (b.size() == 1) return s(std::pow(b(0, 0), p));
        M r = M::Identity(b.rows(), b.cols());
        M base = p < 0 ? M(b.inverse()) : b;
        for (int i = 0; i < static_cast<int>(std::fabs(p)); ++i) r = r * base;
        return r;
      }
      case Ast::Kind::Chain: {
        M acc = eval(*a.kids[0]);
        for (std::size_t i = 1; i < a.kids.size(); ++i) {
          M r = eval(*a.kids[i]);
          const std::string& op = a.ops[i];
          if (op == "+") acc = acc + r;
          else if (op == "-") acc = acc - r;
          else if (op == "*") acc = times(acc, r);
          else if (op == "/") acc = acc / r(0, 0);
          else if (op == ".*") acc = entrywise(acc, r, [](double u, double v) { return u * v; });
          else if (op == "./") acc = entrywise(acc, r, [](double u, double v) { return u / v; });
          else acc = s((acc.transpose() * r).trace());
        }
        return acc;
      }
      case Ast::Kind::Call: return call(a);
    }
    throw std::logic_error("oracle: unknown node");
  }

 private:
  std::map<std::string, M> v_;
  std::map<std::string, long> d_;

  static M s(double x) { return M::Constant(1, 1, x); }
  static M times(const M& a, const M& b) {
    if (a.size() == 1 && !(b.rows() == 1)) return a(0, 0) * b;
    if (b.size() == 1 && !(a.cols() == 1)) return a * b(0, 0);
    if (a.size() == 1 && b.size() == 1) return a * b;
    return a * b;
  }
  long dim(const Ast& a) {
    if (a.kind == Ast::Kind::Number) return static_cast<long>(a.number);
    if (a.kind == Ast::Kind::Name) return d_.at(a.text);
    long p = 1;
    for (const auto& k : a.kids) p *= dim(*k);
    return p;
  }
  template <typename F>
  static M each(const M& x, F f) { return x.unaryExpr(f); }
  // Entrywise with a scalar operand broadcast (2 .* x, x ./ 2, 2 ./ x).
  template <typename F>
  static M entrywise(const M& a, const M& b, F f) {
    if (a.size() == 1) return b.unaryExpr([&](double v) { return f(a(0, 0), v); });
    if (b.size() == 1) return a.unaryExpr([&](double u) { return f(u, b(0, 0)); });
    if (a.rows() != b.rows() || a.cols() != b.cols()) throw std::logic_error("oracle: entrywise sizes differ");
    return a.binaryExpr(b, f);
  }

  M call(const Ast& a) {
    const std::string& f = a.text;
    if (f == "eye") return M::Identity(dim(*a.kids[0]), dim(*a.kids[0]));
    if (f == "ones" || f == "zeros") {
      long r = dim(*a.kids[0]), c = a.kids.size() > 1 ? dim(*a.kids[1]) : 1;
      return M::Constant(r, c, f == "ones" ? 1.0 : 0.0);
    }
    if (f == "commutation") {  // K*vec(X) = vec(X'): built from that definition, column by column
      const long m = dim(*a.kids[0]), n = dim(*a.kids[1]);
      M k(m * n, m * n);
      for (long c = 0; c < m * n; ++c) {
        M e = M::Zero(m, n);
        e(c % m, c / m) = 1;
        M et = e.transpose();
        k.col(c) = Eigen::Map<M>(et.data(), m * n, 1);
      }
      return k;
    }
    if (f == "reshape") {
      M x = eval(*a.kids[0]);
      return Eigen::Map<M>(x.data(), dim(*a.kids[1]), dim(*a.kids[2]));
    }
    if (f == "kron") {
      M x = eval(*a.kids[0]), y = eval(*a.kids[1]);
      M r(x.rows() * y.rows(), x.cols() * y.cols());
      for (long i = 0; i < x.rows(); ++i)
        for (long j = 0; j < x.cols(); ++j) r.block(i * y.rows(), j * y.cols(), y.rows(), y.cols()) = x(i, j) * y;
      return r;
    }
    M x = eval(*a.kids[0]);
    if (f == "tr") return s(x.trace());
    if (f == "det") return s(x.determinant());
    if (f == "logdet") return s(std::log(x.determinant()));
    if (f == "inv") return x.inverse();
    if (f == "diag") {
      if (x.cols() == 1 && x.rows() > 1) return M(x.col(0).asDiagonal());
      if (x.rows() == 1 && x.cols() > 1) return M(x.row(0).transpose().asDiagonal());
      return x.diagonal();
    }
    if (f == "sum") return s(x.sum());
    if (f == "norm2") return s(x.norm());
    if (f == "norm1") return s(x.cwiseAbs().sum());
    if (f == "vec") return Eigen::Map<M>(x.data(), x.size(), 1);
    if (f == "sym") return (x + x.transpose()) / 2;
    if (f == "logsumexp") return s(std::log(x.array().exp().sum()));
    if (f == "softmax") return (x.array().exp() / x.array().exp().sum()).matrix();
    if (f == "exp") return x.array().exp().matrix();
    if (f == "log") return x.array().log().matrix();
    if (f == "sqrt") return x.array().sqrt().matrix();
    if (f == "sin") return x.array().sin().matrix();
    if (f == "cos") return x.array().cos().matrix();
    if (f == "tan") return x.array().tan().matrix();
    if (f == "tanh") return x.array().tanh().matrix();
    if (f == "abs") return x.array().abs().matrix();
    if (f == "sign") return each(x, [](double t) { return t > 0 ? 1.0 : (t < 0 ? -1.0 : 0.0); });
    if (f == "sigmoid") return each(x, [](double t) { return 1 / (1 + std::exp(-t)); });
    if (f == "softplus") return each(x, [](double t) { return std::log(1 + std::exp(t)); });
    if (f == "relu") return each(x, [](double t) { return t > 0 ? t : 0.0; });
    throw std::logic_error("oracle: unknown function " + f);
  }
};

}  // namespace matcalc::testing
