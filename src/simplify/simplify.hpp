// The rewriter: rebuilds an expression bottom-up through the builders (which
// keep the normal form) and applies the named rules of rules.cpp at every
// node until nothing changes. Memoized per node; terminates because every
// rule shrinks the expression or moves it toward the normal form.
#pragma once
#include <functional>
#include <string>

#include "ir/node.hpp"

namespace matcalc {

using RuleObserver = std::function<void(const std::string& rule, Expr before, Expr after)>;

Expr simplify(Expr e, const RuleObserver& observe = {});

}  // namespace matcalc
