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
      throw Error(ErrorKind::Shape,
                  "the direction for " + x->name + " is " + v->shape.str() + ", not " + x->shape.str());
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

// The matrices of vec(node) as linear functions of vec(d), by vec_rule().
class LinearMap {
 public:
  explicit LinearMap(Expr d) : d_(d), cx_(*d->ctx), n_(numel(d->shape)) {}

  Expr of(Expr root) {
    for (Expr e : topo_order(root)) {
      if (e == d_) {
        const Shape& s = e->shape;
        memo_[e] = e->symmetric && !e->is_scalar()  // vec(sym(D)) = (I + K)/2*vec(D)
                       ? scale(0.5, add(identity(cx_, n_), commutation(cx_, s.rows, s.cols)))
                       : identity(cx_, n_);
        continue;
      }
      std::vector<Expr> maps;
      bool any = false;
      for (Expr k : e->kids) {
        auto it = memo_.find(k);
        maps.push_back(it == memo_.end() ? nullptr : it->second);
        any = any || maps.back();
      }
      if (any) memo_[e] = vec_rule(e, maps);
    }
    auto it = memo_.find(root);
    return it != memo_.end() ? it->second : zeros(cx_, {numel(root->shape), n_});
  }

 private:
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

namespace {
// The matrix of the differential `df` (linear in the symbol `d`), simplified
// where f has a value: assuming what f surely needs, as gradients do.
Expr matrix_of(Expr f, Expr df, Expr d) {
  Requirements needs;
  needs.add(f);
  Assume assume(*f->ctx, needs.list());
  return simplify(linear_map(df, d));
}
}  // namespace

Expr jacobian(Expr f, Expr x) {
  Expr dx = differential_symbol(x);
  const std::pair<Expr, Expr> seed{x, dx};
  return matrix_of(f, directional(f, std::span(&seed, 1)), dx);
}

Expr hessian(Expr f, Expr x, Expr y) {
  Expr dy = differential_symbol(y);
  const std::pair<Expr, Expr> seed{y, dy};
  return matrix_of(f, directional(gradient(f, x), std::span(&seed, 1), f), dy);
}

Expr hvp(Expr f, Expr x, Expr v) {
  const std::pair<Expr, Expr> seed{x, v};
  return directional(gradient(f, x), std::span(&seed, 1), f);
}

}  // namespace matcalc
