// The rule book: every entry is checked numerically on random inputs in its
// domain. A differential rule d(F) = D is checked against the directional
// derivative of F by central differences, and the engine's own forward rule
// (forward_differential) must agree with the row; an identity or a
// simplification rule L = R is checked by evaluating both sides.
#include <gtest/gtest.h>

#include <random>

#include "diff/derivatives.hpp"
#include "eval/check.hpp"
#include "explain/rulebook.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "support/differential.hpp"

namespace matcalc {
namespace {

std::string differentiated(const RuleEntry& e) { return e.lhs.substr(2, e.lhs.size() - 3); }  // d(F) -> F

class RuleBookEntry : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RuleBookEntry, HoldsOnRandomInputs) {
  const RuleEntry& e = rule_book()[GetParam()];
  Context cx;
  const bool differential = e.kind == "differential";
  TypedProgram lhs = compile(cx, differential ? differentiated(e) : e.lhs, e.declarations);
  TypedProgram rhs = compile(cx, e.rhs, e.declarations);
  std::map<std::string, Expr> symbols = lhs.symbols;
  symbols.insert(rhs.symbols.begin(), rhs.symbols.end());
  EXPECT_FALSE(e.lhs_latex.empty());
  EXPECT_FALSE(e.rhs_latex.empty());
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed);
    CheckOptions opt;
    opt.seed = seed;
    std::vector<Expr> roots{lhs.expr, rhs.expr};
    Bindings b = random_inputs(roots, symbols, opt, rng);
    Matrix want = differential ? testing::directional_derivative(lhs.expr, b) : evaluate(lhs.expr, b);
    Matrix got = evaluate(rhs.expr, b);
    EXPECT_LT(testing::relative_difference(got, want), 1e-6)
        << e.name << ": " << e.lhs << " = " << e.rhs << " (seed " << seed << ")\n" << got << "\nvs\n" << want;
  }
}

INSTANTIATE_TEST_SUITE_P(Book, RuleBookEntry, ::testing::Range<std::size_t>(0, rule_book().size()),
                         [](const auto& info) {
                           std::string n = rule_book()[info.param].name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// Each row of the derivative table states what forward_differential does.
class DerivativeRow : public ::testing::TestWithParam<std::size_t> {};

TEST_P(DerivativeRow, EngineAgreesWithTheStatement) {
  const DerivativeRule& r = derivative_rules()[GetParam()];
  Context cx;
  TypedProgram f = compile(cx, r.expression, r.declarations);
  ASSERT_EQ(f.expr->op, r.op) << r.expression << " does not compile to the row's operator";
  std::string decls = r.declarations;
  for (const auto& name : f.order) decls += (decls.empty() ? "" : "; ") + std::string("d") + to_declaration(f.symbols.at(name));
  TypedProgram stated = compile(cx, r.differential, decls);

  Expr engine;
  if (f.expr->op == Op::Symbol) {
    engine = stated.symbols.at("d" + f.expr->name);
  } else {
    std::vector<Expr> dargs;
    for (Expr k : f.expr->kids)
      dargs.push_back(k->op == Op::Symbol ? stated.symbols.at("d" + k->name) : nullptr);
    engine = forward_differential(f.expr, dargs);
  }
  std::map<std::string, Expr> symbols = f.symbols;
  symbols.insert(stated.symbols.begin(), stated.symbols.end());
  std::mt19937_64 rng(7);
  CheckOptions opt;
  std::vector<Expr> roots{f.expr, stated.expr};
  Bindings b = random_inputs(roots, symbols, opt, rng);
  EXPECT_LT(testing::relative_difference(evaluate(engine, b), evaluate(stated.expr, b)), 1e-9)
      << r.name << ": engine " << to_text(engine) << " vs stated " << r.differential;
}

INSTANTIATE_TEST_SUITE_P(Table, DerivativeRow, ::testing::Range<std::size_t>(0, derivative_rules().size()),
                         [](const auto& info) { return std::string(op_name(derivative_rules()[info.param].op)); });

TEST(RuleBook, NamesAreUniqueAndSearchFindsThem) {
  std::set<std::string> names;
  for (const auto& e : rule_book()) EXPECT_TRUE(names.insert(e.name).second) << e.name;
  EXPECT_EQ(find_rule("log-determinant").rhs, "tr(inv(X)*dX)");
  EXPECT_FALSE(search_rules("HADAMARD").empty());
  EXPECT_THROW(find_rule("no-such-rule"), Error);
}

TEST(RuleBook, MarkdownListsEveryRule) {
  std::string md = rules_markdown(rule_book());
  for (const auto& e : rule_book()) EXPECT_NE(md.find("### " + e.name + "\n"), std::string::npos) << e.name;
}

}  // namespace
}  // namespace matcalc
