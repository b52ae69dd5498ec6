#include "diff/jacobian.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "diff/derivatives.hpp"
#include "diff/gradient.hpp"
#include "ir/builders.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"
#include "simplify/simplify.hpp"

namespace matcalc {

Expr directional(Expr f, std::span<const std::pair<Expr, Expr>> seeds, Expr assume_from) {
  Context& cx = *f->ctx;
  for (const auto& [x, v] : seeds) {
    if (x->op != Op::Symbol) throw Error(ErrorKind::Usage, "derivatives are taken w.r.t. symbols");
    if (!(x->shape == v->shape))
      throw Error(ErrorKind::Shape, "the direction for " + x->name + " is " + v->shape.str() + ", not " +
                                        x->shape.str());
  }
  // As for gradients: a derivative is needed only where f has a value.
  Requirements needs;
  needs.add(f);
  if (assume_from) needs.add(assume_from);
  Assume assume(cx, needs.list());

  Simplifier simp;
  std::unordered_map<Expr, Expr> d;  // the differential of each node that has one
  for (Expr n : topo_order(f)) {
    auto seed = std::find_if(seeds.begin(), seeds.end(), [&](const auto& s) { return s.first == n; });
    if (seed != seeds.end()) {
      d[n] = seed->second;
      continue;
    }
    std::vector<Expr> dk;
    bool any = false;
    for (Expr k : n->kids) {
      auto it = d.find(k);
      dk.push_back(it == d.end() ? nullptr : it->second);
      any = any || dk.back();
    }
    if (!any) continue;
    Expr dn = simp(forward_differential(n, dk));
    if (!dn->is_zero() || dn->restricted) d[n] = dn;
  }
  auto it = d.find(f);
  return it == d.end() ? zero_like(f) : it->second;
}

namespace {

Dim numel(const Shape& s) { return s.rows * s.cols; }

// vec(diag(b)) = diag(vec(I))*kron(ones(n), I)*b for b of length n: the
// n^2 x n matrix that places b on the diagonal.
Expr diag_embedding(Context& cx, Dim n) {
  return mul(diag(vec(identity(cx, n))), kron(ones(cx, {n, Dim::literal(1)}), identity(cx, n)));
}

// T with vec(kron(A, B)) = T*kron(vec(A), vec(B)) for A p x q and B m x n:
// kron(kron(eye(q), commutation(n,p)), eye(m)) (Magnus and Neudecker, Theorem 3.10).
Expr kron_rearrangement(Context& cx, const Shape& a, const Shape& b) {
  return kron(kron(identity(cx, a.cols), commutation(cx, b.cols, a.rows)), identity(cx, b.rows));
}

class LinearMap {
 public:
  explicit LinearMap(Expr d) : d_(d), cx_(*d->ctx), n_(numel(d->shape)) {}

  Expr of(Expr root) {
    for (Expr e : topo_order(root)) {
      if (!depends_on(e, d_)) continue;
      memo_[e] = rule(e);
    }
    return memo_.count(root) ? memo_.at(root) : zeros(cx_, {numel(root->shape), n_});
  }

 private:
  Expr L(Expr e) const { return memo_.at(e); }
  bool dep(Expr e) const { return memo_.count(e) > 0; }
  [[noreturn]] void nonlinear(Expr e) const {
    throw std::logic_error("linear_map: " + std::string(op_name(e->op)) + " of the differential is not linear");
  }
  // The one argument of e that depends on d (a nonlinear use when several do).
  std::size_t only_dependent(Expr e) const {
    std::size_t found = e->kids.size();
    for (std::size_t i = 0; i < e->kids.size(); ++i)
      if (dep(e->kid(i))) {
        if (found != e->kids.size()) nonlinear(e);
        found = i;
      }
    return found;
  }

  Expr rule(Expr e) {
    const Shape& s = e->shape;
    if (e == d_) {
      if (e->symmetric && !e->is_scalar())  // vec(sym(D)) = (I + K)/2 vec(D)
        return scale(0.5, add(identity(cx_, n_), commutation(cx_, s.rows, s.cols)));
      return identity(cx_, n_);
    }
    const auto& k = e->kids;
    switch (e->op) {
      case Op::Add: {  // vec(A + B) = vec(A) + vec(B)
        std::vector<Expr> terms;
        for (Expr t : k)
          if (dep(t)) terms.push_back(L(t));
        return add(std::move(terms));
      }
      case Op::Mul: {
        const std::size_t j = only_dependent(e);
        std::vector<Expr> scalars, left, right;
        bool after = false;
        Expr m = nullptr;
        for (std::size_t i = 0; i < k.size(); ++i) {
          if (i == j) {
            if (!k[i]->is_scalar()) {
              m = k[i];
              after = true;
            }
            continue;
          }
          if (k[i]->is_scalar())
            scalars.push_back(k[i]);
          else
            (after ? right : left).push_back(k[i]);
        }
        if (!m) {  // a scalar factor s: vec(s*R) = vec(R)*s
          std::vector<Expr> rest = scalars;
          rest.insert(rest.end(), left.begin(), left.end());
          return mul(vec(rest.empty() ? constant(cx_, 1) : mul(std::move(rest))), L(k[j]));
        }
        // vec(c*A*M*B) = c*kron(B', A)*vec(M)
        Expr a = left.empty() ? identity(cx_, m->shape.rows) : mul(left);
        Expr b = right.empty() ? identity(cx_, m->shape.cols) : mul(right);
        scalars.push_back(kron(transpose(b), a));
        scalars.push_back(L(m));
        return mul(std::move(scalars));
      }
      case Op::ElemMul: {  // vec(A .* M) = diag(vec(A))*vec(M)
        const std::size_t j = only_dependent(e);
        std::vector<Expr> others;
        for (std::size_t i = 0; i < k.size(); ++i)
          if (i != j) others.push_back(k[i]);
        return mul(diag(vec(hadamard(std::move(others)))), L(k[j]));
      }
      case Op::ElemDiv:  // vec(M ./ B) = diag(vec(ones ./ B))*vec(M)
        if (dep(k[1])) nonlinear(e);
        return mul(diag(vec(ediv(ones(cx_, k[1]->shape), k[1]))), L(k[0]));
      case Op::Transpose:  // vec(M') = K_{m,n}*vec(M)
        return mul(commutation(cx_, k[0]->shape.rows, k[0]->shape.cols), L(k[0]));
      case Op::Trace:  // tr(M) = vec(I)'*vec(M)
        return mul(transpose(vec(identity(cx_, k[0]->shape.rows))), L(k[0]));
      case Op::Sum:  // sum(M) = ones'*vec(M)
        return mul(transpose(ones(cx_, {numel(k[0]->shape), Dim::literal(1)})), L(k[0]));
      case Op::Diag:  // vec(diag(m)) = diag(vec(I))*kron(ones(n), I)*m
        return mul(diag_embedding(cx_, k[0]->shape.rows), L(k[0]));
      case Op::DiagPart:  // diag(M) = kron(ones(n), I)'*diag(vec(I))*vec(M)
        return mul(transpose(diag_embedding(cx_, s.rows)), L(k[0]));
      case Op::Vec:
      case Op::Reshape:  // the same entries in the same column-major order
        return L(k[0]);
      case Op::Sym:  // vec(sym(M)) = (I + K)/2*vec(M)
        return mul(scale(0.5, add(identity(cx_, numel(s)), commutation(cx_, s.rows, s.cols))), L(k[0]));
      case Op::Kron: {  // vec(kron(A, B)) = T*kron(vec(A), vec(B))
        const std::size_t j = only_dependent(e);
        Expr t = kron_rearrangement(cx_, k[0]->shape, k[1]->shape);
        if (j == 0)  // kron(vec(M), vec(B)) = kron(I, vec(B))*vec(M)
          return mul({t, kron(identity(cx_, numel(k[0]->shape)), vec(k[1])), L(k[0])});
        return mul({t, kron(vec(k[0]), identity(cx_, numel(k[1]->shape))), L(k[1])});  // kron(vec(A), I)*vec(M)
      }
      // Leaves are constants here (d itself is handled above); the rest is
      // not linear in its argument.
      case Op::Const: case Op::Symbol: case Op::Identity: case Op::Zeros: case Op::Ones: case Op::Commutation:
      case Op::Pow: case Op::MatPow: case Op::ElemPow: case Op::Det: case Op::LogDet: case Op::Inv:
      case Op::Norm2: case Op::Norm1: case Op::LogSumExp: case Op::Softmax: case Op::Exp: case Op::Log:
      case Op::Sqrt: case Op::Sin: case Op::Cos: case Op::Tan: case Op::Tanh: case Op::Abs: case Op::Sign:
      case Op::Sigmoid: case Op::Softplus: case Op::Relu:
        break;
    }
    nonlinear(e);
  }

  Expr d_;
  Context& cx_;
  Dim n_;
  std::unordered_map<Expr, Expr> memo_;
};

}  // namespace

Expr linear_map(Expr e, Expr d) {
  if (d->op != Op::Symbol) throw std::logic_error("linear_map: the differential must be a symbol");
  return LinearMap(d).of(e);
}

Expr differential_symbol(Expr x) {
  // A name no program can write, so that it never meets a user's symbol.
  return symbol(*x->ctx, "d(" + x->name + ")", x->shape, x->symmetric);
}

Expr jacobian(Expr f, Expr x) {
  Expr dx = differential_symbol(x);
  const std::pair<Expr, Expr> seed{x, dx};
  Expr df = directional(f, std::span(&seed, 1));
  Requirements needs;
  needs.add(f);
  Assume assume(*f->ctx, needs.list());
  return simplify(linear_map(df, dx));
}

Expr hessian(Expr f, Expr x, Expr y) {
  Expr g = gradient(f, x);
  Expr dy = differential_symbol(y);
  const std::pair<Expr, Expr> seed{y, dy};
  Expr dg = directional(g, std::span(&seed, 1), f);
  Requirements needs;
  needs.add(f);
  Assume assume(*f->ctx, needs.list());
  return simplify(linear_map(dg, dy));
}

Expr hvp(Expr f, Expr x, Expr v) {
  const std::pair<Expr, Expr> seed{x, v};
  return directional(gradient(f, x), std::span(&seed, 1), f);
}

}  // namespace matcalc
