#include "diff/gradient.hpp"

#include <unordered_map>
#include <unordered_set>

#include "diff/derivatives.hpp"
#include "ir/builders.hpp"
#include "ir/domain.hpp"
#include "ir/error.hpp"
#include "simplify/simplify.hpp"

namespace matcalc {

std::vector<Expr> gradients(Expr f, std::span<const Expr> wrt) {
  if (!f->is_scalar())
    throw Error(ErrorKind::Shape, "a gradient needs a scalar function; this one is " + f->shape.str());
  for (Expr x : wrt)
    if (x->op != Op::Symbol) throw Error(ErrorKind::Usage, "gradients are taken w.r.t. symbols");

  Context& cx = *f->ctx;
  std::vector<Expr> order = topo_order(f);
  // A gradient is needed only where f has a value: what f surely needs (log(p ./ q): p, q != 0) may be
  // assumed when the derivative's powers merge, so that it reads -(p ./ q), not -(p.^2 ./ (p .* q)).
  // (The printed gradient may then have a value where f has none, as 1/x does for log(x).)
  Requirements needs;
  needs.add(f);
  Assume assume(cx, needs.list());

  // Only nodes on a path to a variable carry adjoints.
  std::unordered_set<Expr> needed(wrt.begin(), wrt.end());
  for (Expr n : order)
    for (Expr k : n->kids)
      if (needed.count(k)) {
        needed.insert(n);
        break;
      }

  Simplifier simp;
  std::unordered_map<Expr, std::vector<Expr>> contributions;
  contributions[f].push_back(constant(cx, 1));
  std::unordered_map<Expr, Expr> adjoint;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Expr y = *it;
    if (!needed.count(y)) continue;
    auto c = contributions.find(y);
    if (c == contributions.end()) continue;
    Expr G = simp(add(c->second));
    adjoint[y] = G;
    if (y->op == Op::Symbol || G->is_zero()) continue;
    std::vector<bool> wanted;
    for (Expr k : y->kids) wanted.push_back(needed.count(k) > 0);
    std::vector<Expr> kids_adj = propagate_adjoint(y, G, wanted);
    for (std::size_t i = 0; i < kids_adj.size(); ++i)
      if (kids_adj[i]) contributions[y->kids[i]].push_back(kids_adj[i]);
  }

  std::vector<Expr> out;
  for (Expr x : wrt) {
    auto a = adjoint.find(x);
    Expr g = a == adjoint.end() ? zero_like(x) : a->second;
    if (x->symmetric && !x->is_scalar()) g = simp(sym(g));  // df = sym(G) : dX for symmetric dX
    out.push_back(g);
  }
  return out;
}

Expr gradient(Expr f, Expr wrt) { return gradients(f, std::span<const Expr>(&wrt, 1))[0]; }

}  // namespace matcalc
