// The rewriter: rebuilds an expression bottom-up through the builders (which
// keep the normal form, see ir/builders.hpp) and applies the named rules of
// rules.cpp at every node until none applies: at a node, only the rules the
// table lists under the node's operator, in table order, the first that
// rewrites it winning. Memoized per node; terminates
// because every rule makes the expression smaller or moves it toward the
// normal form (and a round limit backs that up).
#pragma once
#include <functional>
#include <string>
#include <unordered_map>

#include "ir/node.hpp"

namespace matcalc {

using RuleObserver = std::function<void(const std::string& rule, Expr before, Expr after)>;

class Simplifier {
 public:
  explicit Simplifier(RuleObserver observe = {}) : observe_(std::move(observe)) {}
  Expr operator()(Expr e);

 private:
  Expr at_root(Expr e);
  Expr nested(Expr e);  // (*this)(e) one rewrite deeper, within kRuleBudget
  RuleObserver observe_;
  std::unordered_map<Expr, Expr> memo_;
  int depth_ = 0;
};

Expr simplify(Expr e, const RuleObserver& observe = {});

}  // namespace matcalc
