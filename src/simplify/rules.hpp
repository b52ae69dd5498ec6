// Simplification rules as data: a name, a pattern, a replacement and
// guards, all written in the expression language itself. Pattern variables
// are the names in the pattern; a guard such as "symmetric(A)" restricts
// what a variable may match. A rule whose replacement uses a variable that
// its pattern does not bind is rejected when the table is built.
//
// Patterns are matched against expressions in normal form, so they are
// written in normal form too; a product pattern matches any run of adjacent
// factors of a product, a sum pattern any subset of the terms of a sum.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/node.hpp"
#include "parse/ast.hpp"

namespace matcalc {

struct RewriteRule {
  std::string name;        // kebab-case
  std::string pattern;     // e.g. "log(det(A))"
  std::string replacement; // e.g. "logdet(A)"
  std::vector<std::string> guards;  // "symmetric(A)", "vector(x)", "scalar(a)", "square(A)"
  std::string declarations;         // shapes for testing both sides: "A: matrix(n,n)"
  std::string reference;            // Matrix Cookbook equation, where there is one
  AstPtr lhs, rhs;                  // parsed once
};

const std::vector<RewriteRule>& rewrite_rules();

// Tries one rule at the root of e; the rewritten expression or nullopt.
std::optional<Expr> apply_rule(const RewriteRule& r, Expr e);

}  // namespace matcalc
