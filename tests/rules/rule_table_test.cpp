// The compiled rule table (simplify/rules.hpp): building it rejects bad rows
// (guards, unbound variables, forms the matcher cannot match), every rule is
// found by its pattern's root operator and fires through the compiled
// matcher on its own pattern, and the index never hides a rule that matches.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/builders.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "simplify/rules.hpp"
#include "simplify/simplify.hpp"

using namespace matcalc;

namespace {

RuleText row(std::string pattern, std::string replacement, std::vector<std::string> guards = {}) {
  return {"test-rule", std::move(pattern), std::move(replacement), std::move(guards), "A: matrix(n,n)", "", "every A"};
}

// The message of the logic_error that building a one-row table throws, or "".
std::string build_error(const RuleText& r) {
  try {
    RuleTable t(std::span<const RuleText>(&r, 1));
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

bool contains(std::span<const std::size_t> v, std::size_t i) { return std::find(v.begin(), v.end(), i) != v.end(); }

bool is_never(const RewriteRule& r) {
  return std::any_of(r.checks.begin(), r.checks.end(), [](const Guard& g) { return g.kind == GuardKind::Never; });
}

}  // namespace

TEST(RuleTable, BuildsTheTableAsWritten) {
  const RuleTable& t = rule_table();
  ASSERT_EQ(t.rules().size(), rule_texts().size());
  for (std::size_t i = 0; i < t.rules().size(); ++i) {
    const RewriteRule& r = t.rules()[i];
    const RuleText& text = rule_texts()[i];
    EXPECT_EQ(r.name, text.name);
    EXPECT_EQ(r.pattern, text.pattern);
    EXPECT_EQ(r.replacement, text.replacement);
    EXPECT_EQ(r.guards, text.guards);
    EXPECT_EQ(r.declarations, text.declarations);
    EXPECT_EQ(r.reference, text.reference);
    EXPECT_EQ(r.checks.size(), r.guards.size()) << r.name;
  }
}

TEST(RuleTable, GuardsAreTyped) {
  RuleText text =
      row("tr(S*sym(A))", "tr(S*A)", {"symmetric(S)", "square(A)", "scalar(A)", "vector(S)", "matrix(A)", "never"});
  RuleTable t(std::span<const RuleText>(&text, 1));
  const RewriteRule& r = t.rules()[0];
  ASSERT_EQ(r.variables, (std::vector<std::string>{"S", "A"}));
  ASSERT_EQ(r.checks.size(), 6u);
  EXPECT_EQ(r.checks[0].kind, GuardKind::Symmetric);
  EXPECT_EQ(r.checks[0].var, 0);
  EXPECT_EQ(r.checks[1].kind, GuardKind::Square);
  EXPECT_EQ(r.checks[1].var, 1);
  EXPECT_EQ(r.checks[2].kind, GuardKind::Scalar);
  EXPECT_EQ(r.checks[3].kind, GuardKind::Vector);
  EXPECT_EQ(r.checks[4].kind, GuardKind::Matrix);
  EXPECT_EQ(r.checks[5].kind, GuardKind::Never);
}

TEST(RuleTable, RejectsABadGuard) {
  EXPECT_NE(build_error(row("log(det(A))", "logdet(A)", {"posdef(A)"})).find("unknown guard \"posdef(A)\""),
            std::string::npos);
  EXPECT_NE(build_error(row("log(det(A))", "logdet(A)", {"square(B)"})).find("B, which the pattern does not bind"),
            std::string::npos);
  for (const char* g : {"square", "square(A", "(A)", "square()", "nevermore", "Never"})
    EXPECT_NE(build_error(row("log(det(A))", "logdet(A)", {g})), "") << g;
  // The message names the rule.
  EXPECT_EQ(build_error(row("log(det(A))", "logdet(A)", {"posdef(A)"})).rfind("rule test-rule: ", 0), 0u);
  // A row must say where each side is defined.
  EXPECT_NE(build_error({"no-domain", "A", "A", {}, "A: matrix(n,n)", "", ""}).find("no domain"), std::string::npos);
  // A good guard builds.
  EXPECT_EQ(build_error(row("log(det(A))", "logdet(A)", {"square(A)"})), "");
}

TEST(RuleTable, RejectsAnUnboundReplacementVariable) {
  EXPECT_NE(build_error(row("log(det(A))", "logdet(B)")).find("replacement uses unbound variable B"),
            std::string::npos);
  // I and eye(...) are not variables.
  EXPECT_EQ(build_error(row("inv(A)*A", "eye(n)")), "");
  EXPECT_EQ(build_error(row("inv(A)*A", "I")), "");
}

TEST(RuleTable, RejectsTextThatDoesNotParse) {
  EXPECT_NE(build_error(row("log(det(A)", "logdet(A)")).find("rule test-rule: pattern \"log(det(A)\" does not parse"),
            std::string::npos);
  EXPECT_NE(build_error(row("log(det(A))", "logdet(A")).find("replacement"), std::string::npos);
}

TEST(RuleTable, RejectsPatternsTheMatcherCannotMatch) {
  for (const char* p : {"-A", "A + B", "A*B/C", "A/B", "A : B", "foo(A)", "kron(A)", "eye(n)*A", "reshape(A, n, n)"})
    EXPECT_NE(build_error(row(p, "A")), "") << p;
  for (const char* r : {"ones(n)", "zeros(n,n)", "reshape(A, n, n)", "bar(A)", "inv(A, A)"})
    EXPECT_NE(build_error(row("inv(inv(A))", r)), "") << r;
}

TEST(RuleTable, LookupByRootOperatorFindsEachRule) {
  const RuleTable& t = rule_table();
  for (std::size_t i = 0; i < t.rules().size(); ++i) {
    const RewriteRule& r = t.rules()[i];
    int found = 0;
    for (int o = 0; o < kOpCount; ++o) {
      bool listed = contains(t.at(op_at(o)), i);
      EXPECT_EQ(listed, pattern_accepts(r.lhs, op_at(o))) << r.name << " under " << op_name(op_at(o));
      found += listed;
    }
    EXPECT_GE(found, 1) << r.name;
    // A product pattern (which matches runs of factors) is under Mul.
    if (r.window) {
      EXPECT_TRUE(contains(t.at(Op::Mul), i)) << r.name;
    }
  }
  auto names = [&](Op op) {
    std::set<std::string> out;
    for (std::size_t i : t.at(op)) out.insert(t.rules()[i].name);
    return out;
  };
  EXPECT_EQ(names(Op::Log), (std::set<std::string>{"log-of-det", "log-of-exp"}));
  EXPECT_EQ(names(Op::Mul),
            (std::set<std::string>{"inner-product-with-quotient", "inverse-times-self", "self-times-inverse"}));
  EXPECT_EQ(names(Op::Trace), (std::set<std::string>{"trace-of-sym", "frobenius-with-sym"}));
  EXPECT_TRUE(names(Op::Add).empty());
  EXPECT_TRUE(names(Op::Symbol).empty());
  // The lists keep table order (the first rule that applies wins).
  for (int o = 0; o < kOpCount; ++o) EXPECT_TRUE(std::is_sorted(t.at(op_at(o)).begin(), t.at(op_at(o)).end()));
}

TEST(RuleTable, LookupByRootOperatorOfAVariablePattern) {
  RuleText text = row("A", "A");
  RuleTable t(std::span<const RuleText>(&text, 1));
  for (int o = 0; o < kOpCount; ++o) EXPECT_TRUE(contains(t.at(op_at(o)), 0)) << op_name(op_at(o));
  RuleText diag = row("diag(A)", "A");
  RuleTable d(std::span<const RuleText>(&diag, 1));
  EXPECT_TRUE(contains(d.at(Op::Diag), 0));
  EXPECT_TRUE(contains(d.at(Op::DiagPart), 0));  // diag(...) of a matrix is DiagPart
  EXPECT_FALSE(contains(d.at(Op::Trace), 0));
}

// Every rule, through apply_rule, rewrites some node of its own (built)
// pattern, and that node's operator lists the rule.
TEST(RuleTable, EveryRuleFiresOnItsOwnPatternThroughTheCompiledMatcher) {
  const RuleTable& t = rule_table();
  for (std::size_t i = 0; i < t.rules().size(); ++i) {
    const RewriteRule& r = t.rules()[i];
    if (is_never(r)) continue;
    Context cx;
    TypedProgram p = compile(cx, r.pattern, r.declarations);
    // A domain guard holds where it is known: give its variable such a value.
    std::unordered_map<Expr, Expr> with;
    Expr still_needed = nullptr;
    for (const Guard& g : r.checks) {
      Expr v = p.symbols.at(r.variables[static_cast<std::size_t>(g.var)]);
      if (g.kind == GuardKind::Positive || g.kind == GuardKind::Nonneg) with[v] = elementwise(Op::Sigmoid, v);
      if (g.kind == GuardKind::Invertible && r.window) still_needed = inv(transpose(v));  // inv(A)*A*inv(A'): stays
      if (g.kind == GuardKind::Invertible && !r.window) with[v] = inv(v);  // det(inv(inv(B))): inv(B) is invertible
    }
    Expr e = with.empty() ? p.expr : substitute(p.expr, with);
    if (still_needed) e = mul(e, still_needed);
    bool fired = false;
    for (Expr n : topo_order(e)) {
      auto out = apply_rule(r, n);
      if (!out || *out == n) continue;
      fired = true;
      EXPECT_TRUE(contains(t.at(n->op), i))
          << r.name << " fired on " << to_text(n) << " but is not listed under " << op_name(n->op);
    }
    EXPECT_TRUE(fired) << r.name << " did not fire on " << to_text(e);
  }
}

// The index hides no match: on each node of a set of expressions, every rule
// that applies (trying all of them) is listed under the node's operator.
TEST(RuleTable, TheIndexHidesNoMatch) {
  const char* decls =
      "A: matrix(n,n); B: matrix(n,n); S: symmetric(n); W: matrix(n,k); x: vector(n); y: vector(n); a: scalar; s: "
      "scalar";
  const char* exprs[] = {
      "log(det(W*W' + s^2*I))",
      "B*inv(A)*A*B'",
      "tr(S*sym(A)) + tr(sym(B))",
      "norm2(A*x - y)^2 + norm2(W)^2",
      "sum(x .* y) + sqrt(a)^2 + abs(a)^2",
      "logdet(inv(A)) + det(inv(S))",
      "exp(log(W)) + log(exp(W))",
      "sym(A') + sqrt(A).^2 + abs(B).^2",
      "x'*A*inv(A)*y",
      "sqrt(a^2)*diag(diag(A))",
  };
  const RuleTable& t = rule_table();
  int matches = 0;
  for (const char* text : exprs) {
    Context cx;
    Expr e = compile(cx, text, decls).expr;
    for (Expr n : topo_order(e))
      for (std::size_t i = 0; i < t.rules().size(); ++i)
        if (apply_rule(t.rules()[i], n)) {
          ++matches;
          EXPECT_TRUE(contains(t.at(n->op), i)) << t.rules()[i].name << " on " << to_text(n);
        }
  }
  EXPECT_GT(matches, 10);
}

// A product pattern matches a run of adjacent factors inside a longer product.
TEST(RuleTable, ProductPatternMatchesARunOfFactors) {
  Context cx;
  // inv(A)*A = I only where A is invertible: here inv(A) stays in the
  // product, which still needs it.
  TypedProgram p = compile(cx, "B*inv(A)*A*inv(A)*B'", "A: matrix(n,n); B: matrix(n,n)");
  std::vector<std::string> fired;
  Expr s = simplify(p.expr, [&](const std::string& name, Expr, Expr) { fired.push_back(name); });
  EXPECT_EQ(to_text(s), "B*inv(A)*B'");
  EXPECT_EQ(fired, (std::vector<std::string>{"inverse-times-self"}));
  // Without it the product keeps its inverse: no value at a singular A.
  TypedProgram q = compile(cx, "B*inv(A)*A*B'", "A: matrix(n,n); B: matrix(n,n)");
  EXPECT_EQ(to_text(simplify(q.expr)), "B*inv(A)*A*B'");
}
