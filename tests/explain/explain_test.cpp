// `matcalc explain`: every printed step is a true equation. Each step's
// differential (as the JSON output prints it, in X and dX) is parsed back and
// evaluated at random inputs with a random dX, and must equal the directional
// derivative of f by central differences; the last step is G : dX with G the
// gradient exactly as `grad` prints it.
#include "explain/explain.hpp"

#include <gtest/gtest.h>

#include <random>
#include <span>

#include "diff/gradient.hpp"
#include "diff/jacobian.hpp"
#include "eval/check.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"
#include "support/differential.hpp"

namespace matcalc {
namespace {

struct Case {
  const char* expr;
  const char* wrt;
  const char* decl = "";
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.expr << " --wrt " << c.wrt; }

const Case kCases[] = {
    // The seed expressions of the founding story.
    {"log(det(W*W' + s^2*I))", "W"},
    {"log(det(W*W' + s^2*I))", "s"},
    {"tr(Y'*(W*W' + s^2*I)*Y)", "W"},
    {"N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)", "W", "S: symmetric(n)"},
    {"N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)", "s", "S: symmetric(n)"},
    // Cookbook cases.
    {"x'*A*x", "x"},
    {"x'*S*x", "x", "S: symmetric(n)"},
    {"a'*X*b", "X"},
    {"tr(A*X*B)", "X"},
    {"tr(X'*A*X)", "X"},
    {"det(X)", "X"},
    {"logdet(S)", "S", "S: symmetric(n)"},
    {"tr(inv(X)*A)", "X"},
    {"x'*inv(A)*x", "A"},
    {"tr(X^3)", "X"},
    {"norm2(A*x - b)^2", "x"},
    {"norm2(X)", "X"},
    {"sum(softplus(-y .* (X*w)))", "w"},
    {"-y'*log(softmax(z))", "z"},
    {"logsumexp(A*x)", "x"},
    {"sum(exp(A*x))", "x"},
    {"sum(log(x))", "x"},
    {"sum(sqrt(x .* x + ones(n)))", "x", "x: vector(n)"},
    {"sum(sigmoid(X*w))", "w"},
    {"tr(W'*S*W)", "W", "S: symmetric(n)"},
    {"exp(a'*x)", "x"},
    {"(a'*x)^2", "x"},
    {"sum(diag(X))", "X"},
    {"tr(X .* A)", "X", "X: matrix(n,n)"},
    {"sum(sin(X) ./ (ones(n,m) + X .* X))", "X", "X: matrix(n,m)"},
    {"kron(x, y)'*c", "x"},
    {"norm1(x)", "x"},
    {"tr(sym(X)*A)", "X"},
    {"s^3 + 2*s", "s"},
    {"3", "s", "s: scalar"},
};

// Inputs in the domain of `roots` (seeded), with a random dX for the
// derivation's variable (symmetric for a symmetric one).
Bindings inputs_with_direction(const Derivation& d, std::span<const Expr> roots,
                               const std::map<std::string, Expr>& symbols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  CheckOptions co;
  co.seed = seed;
  Bindings b = random_inputs(roots, symbols, co, rng);
  std::normal_distribution<double> normal;
  Expr x = d.variable;
  Matrix dx(dim_value(x->shape.rows, b), dim_value(x->shape.cols, b));
  for (Eigen::Index i = 0; i < dx.size(); ++i) dx(i) = normal(rng);
  if (x->symmetric) dx = ((dx + dx.transpose()) / 2).eval();
  b.values[d.dvar->name] = dx;
  return b;
}

// Every step's text, compiled under the derivation's declarations, has the
// value `expected` at `b`.
void expect_every_step_is(const Derivation& d, const Bindings& b, const Matrix& expected) {
  const std::string decls = declarations(d);
  for (std::size_t i = 0; i < d.steps.size(); ++i) {
    const DerivationStep& s = d.steps[i];
    std::string text = step_text(d, s);
    Context cx2;
    TypedProgram q = compile(cx2, text, decls);
    Matrix got = evaluate(q.expr, b);
    EXPECT_LT(testing::relative_difference(got, expected), 1e-6)
        << "step " << i + 1 << " [" << s.rule << "] " << text << "\n  value " << got << " vs " << expected;
  }
}

class ExplainStep : public ::testing::TestWithParam<Case> {};

TEST_P(ExplainStep, EveryStepEqualsTheDirectionalDerivative) {
  const Case& c = GetParam();
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  opt.extra_names = {c.wrt};
  TypedProgram p = compile(cx, c.expr, c.decl, opt);
  Expr x = p.symbols.at(c.wrt);
  Derivation d = explain(p.expr, x);
  ASSERT_FALSE(d.steps.empty());
  EXPECT_LE(d.steps.size(), 25u) << "a derivation a person can read";

  // The gradient is the one grad prints.
  Expr f = simplify(p.expr);
  EXPECT_EQ(d.gradient, gradient(f, x)) << to_text(d.gradient);
  // The last step reads G : dX.
  std::string g = to_text(d.gradient);
  if (d.gradient->op == Op::Add) g = "(" + g + ")";
  EXPECT_EQ(step_text(d, d.steps.back()), g + " : " + d.dvar->name);

  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::vector<Expr> roots{p.expr};
    Bindings b = inputs_with_direction(d, roots, p.symbols, seed);
    expect_every_step_is(d, b, testing::directional_derivative(p.expr, b));
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ExplainStep, ::testing::ValuesIn(kCases));

// explain --hessian: every step is the differential of the gradient G along
// dX (central differences of G), and H*vec(dX) = vec(dG) for the Hessian H
// that `hessian` prints.
const Case kHessianCases[] = {
    {"log(det(W*W' + s^2*I))", "W"},
    {"N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)", "W", "S: symmetric(n)"},
    {"N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)", "s", "S: symmetric(n)"},
    {"x'*A*x", "x"},
    {"logdet(X)", "X"},
    {"logdet(S)", "S", "S: symmetric(n)"},
    {"tr(X'*A*X)", "X"},
    {"sum(softplus(-y .* (X*w)))", "w"},
    {"logsumexp(x)", "x"},
    {"sum(tanh(W1*x) .* w2)", "W1"},
    {"norm2(A*x - b)^2", "x"},
    {"det(X)", "X"},
    {"sum(x)", "x"},
};

class ExplainHessian : public ::testing::TestWithParam<Case> {};

TEST_P(ExplainHessian, EveryStepIsTheDifferentialOfTheGradient) {
  const Case& c = GetParam();
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  opt.extra_names = {c.wrt};
  TypedProgram p = compile(cx, c.expr, c.decl, opt);
  Expr x = p.symbols.at(c.wrt);
  Derivation d = explain_hessian(p.expr, x);
  ASSERT_FALSE(d.steps.empty());
  EXPECT_EQ(d.order, 2);
  Expr f = simplify(p.expr);
  EXPECT_EQ(d.gradient, gradient(f, x)) << to_text(d.gradient);
  EXPECT_EQ(d.hessian, hessian(f, x, x)) << to_text(d.hessian);
  EXPECT_FALSE(d.vec_rules.empty());
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::vector<Expr> roots{p.expr, d.gradient};
    Bindings b = inputs_with_direction(d, roots, p.symbols, seed);
    const Matrix expected = testing::directional_derivative(d.gradient, b);
    expect_every_step_is(d, b, expected);
    const Matrix& dx = b.values.at(d.dvar->name);
    Matrix h = evaluate(d.hessian, b);
    Matrix hv = h * Eigen::Map<const Matrix>(dx.data(), dx.size(), 1);
    EXPECT_LT(testing::relative_difference(hv, Eigen::Map<const Matrix>(expected.data(), expected.size(), 1)), 1e-6)
        << "H*vec(dX) with H = " << to_text(d.hessian);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ExplainHessian, ::testing::ValuesIn(kHessianCases));

TEST(ExplainHessian, EveryFormatNamesTheHessian) {
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  TypedProgram p = compile(cx, "x'*A*x", "x: vector(n); A: matrix(n,n)", opt);
  Derivation d = explain_hessian(p.expr, p.symbols.at("x"));
  EXPECT_NE(format_text(d).find("so the Hessian is A + A'"), std::string::npos) << format_text(d);
  EXPECT_NE(format_latex(d).find("\\partial^2 f"), std::string::npos) << format_latex(d);
  EXPECT_NE(format_markdown(d).find("$$H = A + A^\\top$$"), std::string::npos) << format_markdown(d);
  EXPECT_EQ(format_json(d)["hessian"], "A + A'");
  EXPECT_EQ(format_json(d)["hvp"], "(A + A')*dx");
}

// The founding story: the derivation reads like a good hand derivation.
TEST(ExplainSeed, ReadsLikeAHandDerivation) {
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  TypedProgram p = compile(cx, "log(det(W*W' + s^2*I))", "", opt);
  Derivation d = explain(p.expr, p.symbols.at("W"));
  std::vector<std::string> rules;
  for (const auto& s : d.steps) rules.push_back(s.rule);
  EXPECT_EQ(rules, (std::vector<std::string>{"log-determinant", "sum-rule", "product-rule", "linearity",
                                             "trace-as-frobenius", "frobenius-transpose", "collect-terms"}));
  std::string text = format_text(d);
  EXPECT_NE(text.find("d(logdet(X)) = tr(inv(X)*dX)"), std::string::npos) << text;
  EXPECT_NE(text.find("Let C = W*W' + s^2*I."), std::string::npos) << text;
  EXPECT_NE(text.find("   = tr(inv(C)*(W*dW' + dW*W'))\n"), std::string::npos) << text;
  EXPECT_NE(text.find("C is symmetric"), std::string::npos) << text;
  EXPECT_NE(text.find("   = 2*inv(W*W' + s^2*I)*W : dW\n"), std::string::npos) << text;
  EXPECT_NE(text.find("so the gradient is 2*inv(W*W' + s^2*I)*W\n"), std::string::npos) << text;
}

TEST(ExplainNames, DifferentialSymbolAvoidsTakenNames) {
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  TypedProgram p = compile(cx, "x'*dx", "x: vector(n); dx: vector(n)", opt);
  Derivation d = explain(p.expr, p.symbols.at("x"));
  EXPECT_EQ(d.dvar->name, "dx_");
  EXPECT_EQ(step_text(d, d.steps.back()), "dx : dx_");
}

}  // namespace
}  // namespace matcalc

namespace matcalc {
namespace {

TEST(ExplainLimits, ADerivationTooLongToReadIsALimitError) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += (text.empty() ? "" : " + ") + std::string("x'*A") + std::to_string(i) + "*x";
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = true;
  TypedProgram p = compile(cx, text, "", opt);
  try {
    explain(p.expr, p.symbols.at("x"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Limit);
    EXPECT_NE(std::string(e.what()).find("200 steps"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace matcalc
