#include "simplify/simplify.hpp"

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "simplify/rules.hpp"

namespace matcalc {

namespace {

constexpr int kRuleBudget = 64;  // nested rewrites before we stop

}  // namespace

Expr Simplifier::operator()(Expr root) {
  if (auto it = memo_.find(root); it != memo_.end()) return it->second;
  // Bottom-up without recursion on the expression's depth.
  for (Expr n : topo_order(root)) {
    if (memo_.count(n)) continue;
    std::vector<Expr> kids;
    bool changed = false;
    for (Expr k : n->kids) {
      Expr s = memo_.at(k);
      changed = changed || s != k;
      kids.push_back(s);
    }
    Expr r = changed ? rebuild(n, std::move(kids)) : n;
    // The builders may have made new nodes inside a rebuilt r (2*x .* y
    // becomes 2*(x .* y)) that no rule has seen: simplify r as a whole, so
    // that simplifying is idempotent.
    memo_[n] = (r == n || depth_ >= kRuleBudget) ? at_root(r) : nested(r);
  }
  return memo_.at(root);
}

Expr Simplifier::at_root(Expr e) {
  // Only the rules whose pattern's root can match e's operator, in table order.
  const RuleTable& table = rule_table();
  for (std::size_t i : table.at(e->op)) {
    const RewriteRule& r = table.rules()[i];
    auto out = apply_rule(r, e);
    if (!out || *out == e) continue;
    if (observe_) observe_(r.name, e, *out);
    if (depth_ >= kRuleBudget) return *out;
    // The replacement is built from simplified parts but may enable rules
    // inside the new nodes: simplify it as a whole.
    return nested(*out);
  }
  return e;
}

Expr Simplifier::nested(Expr e) {
  ++depth_;
  Expr s = (*this)(e);
  --depth_;
  return s;
}

Expr simplify(Expr e, const RuleObserver& observe) { return Simplifier(observe)(e); }

}  // namespace matcalc
