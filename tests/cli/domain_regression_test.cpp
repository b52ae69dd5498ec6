// Issue 10, items 2 and 3, end to end: simplification never widens a domain
// and constant folding never loses a number. Each case runs `eval` on the
// expression outside its domain (an error, exit 2, never a number), then
// feeds the printed gradient back into `eval` at the same point (an error
// too), and checks a point inside the domain still evaluates.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using matcalc::testing::ProcessResult;
using matcalc::testing::run_process;
using matcalc::testing::TempDir;

ProcessResult matcalc(const std::vector<std::string>& args) { return run_process(MATCALC_BINARY, args); }

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = (dir.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

// eval EXPR at VALUES: exits 2 with a message on stderr and nothing on stdout.
void expect_no_value(const std::string& expr, const std::string& decls, const std::string& values_path) {
  ProcessResult r = matcalc({"eval", expr, "--decl", decls, "--values", values_path});
  EXPECT_EQ(r.status, 2) << expr << "\nstdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_EQ(r.out, "") << expr;
  EXPECT_NE(r.err.find("error:"), std::string::npos) << expr;
}

std::string gradient_text(const std::string& expr, const std::string& wrt, const std::string& decls) {
  ProcessResult r = matcalc({"grad", expr, "--wrt", wrt, "--decl", decls});
  EXPECT_EQ(r.status, 0) << expr << ": " << r.err;
  std::string g = r.out;
  while (!g.empty() && g.back() == '\n') g.pop_back();
  return g;
}

struct DomainCase {
  const char* name;
  const char* expr;
  const char* wrt;
  const char* decls;
  const char* outside;  // values where expr has no value
  const char* inside;   // values where it has one
  // Whether the printed gradient has no value outside either. A gradient is
  // the derivative's formula, which may have a value where f has none
  // (d/da of log(a) - log(a) + a is 1); where a rewrite would have made the
  // condition disappear (sqrt(a)^2 -> a, then 1), it must keep it.
  bool gradient_too = true;
};

// The issue's inputs, and their neighbours.
const DomainCase kCases[] = {
    {"sqrt_squared", "sqrt(a)^2", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})"},
    {"exp_of_log", "exp(log(a))", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})"},
    {"quarter_power_to_the_fourth", "(a^0.25)^4", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})"},
    {"sqrt_times_sqrt", "sqrt(a)*sqrt(a)", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})"},
    {"half_powers", "a^0.5*a^0.5", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})"},
    {"cancelled_logs", "log(a) - log(a) + a", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})", false},
    {"zero_times_log", "0*log(a) + a", "a", "a: scalar", R"({"a": -2})", R"({"a": 2})", false},
    {"a_over_a", "a/a + a", "a", "a: scalar", R"({"a": 0})", R"({"a": 2})"},
    {"trace_of_inverse_times_self", "tr(inv(A)*A)", "A", "A: matrix(2,2)", R"({"A": [[1,2],[2,4]]})",
     R"({"A": [[2,1],[1,3]]})"},
    {"quadratic_through_inverse_times_self", "x'*inv(A)*A*x", "x", "A: matrix(2,2); x: vector(2)",
     R"({"A": [[1,2],[2,4]], "x": [1,2]})", R"({"A": [[2,1],[1,3]], "x": [1,2]})"},
    {"inverse_of_inverse", "sum(inv(inv(A))*x)", "x", "A: matrix(2,2); x: vector(2)",
     R"({"A": [[1,2],[2,4]], "x": [1,2]})", R"({"A": [[2,1],[1,3]], "x": [1,2]})"},
    // Found in review: a matched subexpression that carries a condition of
    // its own (inv(B)) vanishing with the rule inv(A)*A = I.
    {"inverse_times_self_of_an_inverse", "x'*inv(inv(B))*inv(B)*x", "x", "B: matrix(2,2); x: vector(2)",
     R"({"B": [[1,2],[2,4]], "x": [1,2]})", R"({"B": [[2,1],[1,3]], "x": [1,2]})"},
    // logdet needs det > 0, more than inv's invertibility.
    {"cancelled_logdet_next_to_an_inverse", "logdet(D) - logdet(D) + tr(inv(D)) + x'*x", "x",
     "D: matrix(2,2); x: vector(2)", R"({"D": [[-1,0],[0,1]], "x": [1,2]})", R"({"D": [[2,0],[0,1]], "x": [1,2]})",
     false},
    // a^b for a variable b needs a > 0 only where b is not an integer: it
    // covers no cancelled log(a).
    {"cancelled_log_next_to_a_variable_power", "log(a) - log(a) + a^b", "b", "a: scalar; b: scalar",
     R"({"a": -2, "b": 3})", R"({"a": 2, "b": 3})", false},
    // A matrix power 0 keeps its base's condition.
    {"inverse_to_the_power_zero", "tr(inv(A)^0*B)", "B", "A: matrix(2,2); B: matrix(2,2)",
     R"({"A": [[1,2],[2,4]], "B": [[1,0],[0,1]]})", R"({"A": [[2,1],[1,3]], "B": [[1,0],[0,1]]})", false},
};

class DomainRegression : public ::testing::TestWithParam<DomainCase> {};

TEST_P(DomainRegression, NoValueOutsideTheDomainThroughEvalAndThePrintedGradient) {
  REQUIRE_BINARY();
  const DomainCase& c = GetParam();
  TempDir dir;
  std::string outside = write(dir, "outside.json", c.outside);
  std::string inside = write(dir, "inside.json", c.inside);
  expect_no_value(c.expr, c.decls, outside);
  // eval with --wrt evaluates the function too.
  EXPECT_EQ(matcalc({"eval", c.expr, "--wrt", c.wrt, "--decl", c.decls, "--values", outside}).status, 2) << c.expr;
  std::string g = gradient_text(c.expr, c.wrt, c.decls);
  ASSERT_FALSE(g.empty());
  if (c.gradient_too) expect_no_value(g, c.decls, outside);
  // Inside the domain both evaluate.
  EXPECT_EQ(matcalc({"eval", c.expr, "--decl", c.decls, "--values", inside}).status, 0) << c.expr;
  EXPECT_EQ(matcalc({"eval", g, "--decl", c.decls, "--values", inside}).status, 0) << g;
}

INSTANTIATE_TEST_SUITE_P(Issue10, DomainRegression, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// What a known fact allows still happens: sqrt(x'*x)^2 is x'*x, and
// inv(A)*A*inv(A) is inv(A).
TEST(DomainRegression, KnownConditionsStillSimplify) {
  REQUIRE_BINARY();
  EXPECT_EQ(gradient_text("sqrt(x'*x)^2", "x", "x: vector(n)"), "2*x");
  EXPECT_EQ(gradient_text("exp(log(exp(a)))", "a", "a: scalar"), "exp(a)");
  EXPECT_EQ(gradient_text("tr(inv(A)*A*inv(A)*B)", "B", "A: matrix(n,n); B: matrix(n,n)"), "inv(A')");
  // Conditions that another term, or the function itself, surely needs let
  // the powers of a gradient merge: the textbook forms stay.
  EXPECT_EQ(gradient_text("sum(x .* log(x))", "x", "x: vector(n)"), "1 + log(x)");
  EXPECT_EQ(gradient_text("a*log(a)", "a", "a: scalar"), "1 + log(a)");
  EXPECT_EQ(gradient_text("sum(p .* log(p ./ q))", "p", "p: vector(n); q: vector(n)"), "1 + log(p ./ q)");
  EXPECT_EQ(gradient_text("sum(p .* log(p ./ q))", "q", "p: vector(n); q: vector(n)"), "-(p ./ q)");
  EXPECT_EQ(gradient_text("sum(y .* log(y ./ m) - y + m)", "m", "y: vector(n); m: vector(n)"), "1 - y ./ m");
  EXPECT_EQ(gradient_text("x'*x*log(x'*x)", "x", "x: vector(n)"), "(2 + 2*log(x'*x))*x");
  EXPECT_EQ(gradient_text("s^2*log(s^2)", "s", "s: scalar"), "2*s*(1 + log(s^2))");
}

// Item 2: constant folding that underflows is not a zero formula; the
// result does not depend on the order of the factors.
TEST(ConstantFolding, UnderflowIsNotAZeroFormulaAndOrderDoesNotMatter) {
  REQUIRE_BINARY();
  const std::string x = "x: vector(n)";
  std::string small_first = gradient_text("1e-200*1e-200*x'*x*1e200*1e200", "x", x);
  std::string large_first = gradient_text("1e200*1e200*x'*x*1e-200*1e-200", "x", x);
  EXPECT_EQ(small_first, large_first);
  EXPECT_NE(small_first.find("x"), std::string::npos) << small_first;
  EXPECT_EQ(small_first.find("zeros"), std::string::npos) << small_first;
  // A grouping that underflows on its own is refused, as overflow is.
  for (const char* e : {"(1e-200*1e-200)*x'*x", "(1e200*1e200)*x'*x", "1e-200^2*x'*x"}) {
    ProcessResult r = matcalc({"grad", e, "--wrt", "x", "--decl", x});
    EXPECT_EQ(r.status, 2) << e << ": " << r.out;
    EXPECT_NE(r.err.find("arithmetic on the constants of the expression"), std::string::npos) << r.err;
  }
  // An elementwise function that underflows stays unfolded.
  std::string g = gradient_text("exp(-1000)*x'*x", "x", x);
  EXPECT_NE(g.find("exp(-1000)"), std::string::npos) << g;
}

}  // namespace

// tanh's adjoint is a factor, G .* (1 - tanh(x).^2): nested tanh no longer
// doubles its gradient per level (25 levels ran past 60 s).
TEST(Resources, NestedTanhGradientIsAProductOfFactors) {
  REQUIRE_BINARY();
  std::string e = "x";
  for (int i = 0; i < 25; ++i) e = "tanh(" + e + ")";
  std::string g = gradient_text(e, "x", "x: scalar");
  EXPECT_EQ(g.rfind("(1 - tanh(x)^2)*(1 - tanh(tanh(x))^2)*", 0), 0u) << g.substr(0, 200);
  EXPECT_LT(g.size(), 20000u);
}

// The gradient of a product of 2000 factors that all depend on x would hold
// 2000 x 1999 factors: a Limit error at once, not seconds of building.
TEST(Resources, HugeProductGradientIsALimit) {
  REQUIRE_BINARY();
  std::string e;
  for (int i = 1; i <= 2000; ++i) e += (i > 1 ? "*(" : "(") + std::to_string(i) + "+x)";
  ProcessResult r = run_process(MATCALC_BINARY, {"grad", "--expr-file", "-", "--wrt", "x"}, e);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("limit 1000000 factors in all"), std::string::npos) << r.err;
}
