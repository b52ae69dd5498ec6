// Simplification rules as data: a name, a pattern, a replacement and
// guards, all written in the expression language itself (RuleText, the rows
// of rules.cpp, the source of truth that the rule book prints). Pattern
// variables are the names in the pattern; `I` is the identity; a guard such
// as "symmetric(A)" restricts what a variable may match, and "never" keeps
// an identity in the book without applying it.
//
// The rows are compiled once, when the table is built: the pattern into a
// tree over Op with variables, constants and I (PatternNode), the
// replacement into a template instantiated through the builders
// (TemplateNode), the guards into typed checks (Guard). Building rejects,
// with a std::logic_error naming the rule, a replacement or guard that uses
// a variable the pattern does not bind, an unknown guard, and any form the
// matcher cannot match (a negation or a sum in a pattern, a call of the
// wrong arity, ...). Matching compares operators and pointers only.
//
// Patterns are matched against expressions in normal form, so they are
// written in normal form too; a product pattern matches any run of adjacent
// factors of a product (and is indexed under Mul like any other product).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

// One row of the table, as written.
struct RuleText {
  std::string name;                 // kebab-case
  std::string pattern;              // e.g. "log(det(A))"
  std::string replacement;          // e.g. "logdet(A)"
  std::vector<std::string> guards;  // "symmetric(A)", "square(A)", "scalar(a)", "vector(x)", "matrix(A)",
                                    // "positive(a)", "nonneg(a)", "invertible(A)", "never"
  std::string declarations;         // shapes for testing both sides: "A: matrix(n,n)"
  std::string reference;            // Matrix Cookbook equation, where there is one
  // Where each side is defined, in words (the rule book prints it). A rule
  // whose left side needs more than its right side states that need as a
  // domain guard too ("nonneg(a)"): the tests check both sides outside it.
  std::string domain;
};

// What a guard requires of the expression its variable matched.
enum class GuardKind : std::uint8_t {
  Never,      // never applied automatically (kept in the rule book)
  Symmetric,  // structurally symmetric
  Square,
  Scalar,  // 1 x 1
  Vector,  // a column
  Matrix,  // neither a scalar nor vector-like
  // Domain conditions: the left side needs them and the right side does not
  // (sqrt(a)^2 needs a >= 0, a does not). The rule applies where the
  // condition is known from the matched expression's facts (ir/domain.hpp:
  // sqrt(x'*x)^2 = x'*x) or where the rewritten expression still needs it
  // (inv(A)*A*inv(A) = inv(A)): never where it would make a value exist
  // that did not.
  Positive,    // "positive(a)": a > 0 entrywise
  Nonneg,      // "nonneg(a)": a >= 0 entrywise
  Invertible,  // "invertible(A)"
};

struct Guard {
  GuardKind kind = GuardKind::Never;
  int var = -1;  // the pattern variable's slot; -1 for Never
};

// The most variables one pattern may bind.
inline constexpr int kMaxRuleVariables = 8;

// A compiled pattern: an operator node, a variable, a constant or I.
struct PatternNode {
  enum class Kind : std::uint8_t { Node, Var, Const, Identity };
  Kind kind = Kind::Node;
  Op op = Op::Const;  // Node (a Diag pattern also matches DiagPart)
  int var = -1;       // Var: its slot; the first occurrence binds, later ones must be the same node
  double value = 0;   // Const
  std::vector<PatternNode> kids;
};

// A compiled replacement: each node one builder call.
struct TemplateNode {
  enum class Kind : std::uint8_t {
    Var,
    Const,
    Identity,  // a bound variable, a number, I / eye(...) sized by the match
    Neg,
    Transpose,
    Power,  // a^b for a scalar base, X^k (k the constant exponent) otherwise
    ElemPower,
    Add,
    Sub,
    Mul,
    Div,
    Hadamard,
    EDiv,
    Frobenius,
    Apply,  // apply(op, kids): calls
  };
  Kind kind = Kind::Const;
  Op op = Op::Const;  // Apply
  int var = -1;       // Var
  double value = 0;   // Const
  std::vector<TemplateNode> kids;
};

struct RewriteRule {
  // As written (the rule book prints these).
  std::string name;
  std::string pattern;
  std::string replacement;
  std::vector<std::string> guards;
  std::string declarations;
  std::string reference;
  std::string domain;
  // Compiled when the table is built.
  PatternNode lhs;
  TemplateNode rhs;
  std::vector<Guard> checks;           // one per guard, in order
  std::vector<std::string> variables;  // slot -> the variable's name in the pattern
  bool window = false;                 // a product pattern: any run of adjacent factors
  bool sized_by_match = false;         // the replacement has I: sized by the matched expression
};

// Whether a pattern can match a node whose operator is op (its root's
// operator; a variable matches anything).
bool pattern_accepts(const PatternNode& p, Op op);

class RuleTable {
 public:
  // Compiles every row; throws std::logic_error naming the rule on a bad row.
  explicit RuleTable(std::span<const RuleText> rows);

  const std::vector<RewriteRule>& rules() const { return rules_; }
  // Indices into rules() of the rules that may match a node with operator
  // op at its root, in table order.
  std::span<const std::size_t> at(Op op) const { return by_root_[static_cast<std::size_t>(op)]; }

 private:
  std::vector<RewriteRule> rules_;
  std::array<std::vector<std::size_t>, kOpCount> by_root_;
};

// The rows of rules.cpp, as written.
std::span<const RuleText> rule_texts();
// Those rows compiled, built on first use.
const RuleTable& rule_table();
const std::vector<RewriteRule>& rewrite_rules();

// Tries one rule at the root of e; the rewritten expression or nullopt.
std::optional<Expr> apply_rule(const RewriteRule& r, Expr e);

}  // namespace matcalc
