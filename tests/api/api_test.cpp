// The library API (include/matcalc/matcalc.hpp) as a caller outside the
// engine sees it: this suite links matcalc_api only and includes no internal
// header, so it also shows that the public headers stand on their own.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "matcalc/matcalc.hpp"

namespace matcalc {
namespace {

TEST(Api, LoadInfersTypes) {
  Session s;
  Function f = s.load("log(det(W*W' + s^2*I))", "", {.scalar = true, .wrt = {"W"}});
  ASSERT_EQ(f.symbols.size(), 2u);
  EXPECT_EQ(f.symbols[0].declaration, "W: matrix(n,k)");
  EXPECT_EQ(f.symbols[1].declaration, "s: scalar");
  EXPECT_TRUE(f.symbols[0].in_expression);
  EXPECT_EQ(f.symbol("W").shape(), "n x k");
  EXPECT_TRUE(f.expression.is_scalar());
  EXPECT_EQ(f.declaration_text(), "W: matrix(n,k); s: scalar");
}

TEST(Api, DeclaredButUnusedSymbolsAreMarked) {
  Session s;
  Function f = s.load("x'*x", "x: vector(n); A: matrix(n,n)");
  ASSERT_EQ(f.symbols.size(), 2u);
  EXPECT_TRUE(f.symbol("x") == f.symbols[0].symbol);
  EXPECT_TRUE(f.symbols[0].in_expression);
  EXPECT_EQ(f.symbols[1].name, "A");
  EXPECT_FALSE(f.symbols[1].in_expression);
}

TEST(Api, GradientIsTheSeedExample) {
  Session s;
  Function f = s.load("log(det(W*W' + s^2*I))", "", {.scalar = true});
  EXPECT_EQ(s.gradient(f, "W").text(), "2*inv(W*W' + s^2*I)*W");
  EXPECT_EQ(s.gradient(f, "s").text(), "2*s*tr(inv(W*W' + s^2*I))");
  // Remembered: the same handle again.
  EXPECT_TRUE(s.gradient(f, "W") == s.gradient(f, "W"));
  std::vector<Expression> both = s.gradients(f, {"W", "s"});
  EXPECT_TRUE(both[0] == s.gradient(f, "W"));
}

TEST(Api, PrintedGradientLoadsBackToTheSameExpression) {
  Session s;
  Function f = s.load("norm2(A*x - b)^2", "", {.scalar = true});
  Expression g = s.gradient(f, "x");
  EXPECT_EQ(g.text(), "2*A'*(A*x - b)");
  EXPECT_TRUE(s.simplify(s.load(g.text(), f.declaration_text()).expression) == g);
  EXPECT_NE(g.latex().find("A^\\top"), std::string::npos);
  EXPECT_NE(g.json().find("\"op\""), std::string::npos);
}

TEST(Api, ErrorsAreLocatedInTheirText) {
  Session s;
  try {
    s.load("tr(X) + ", "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Syntax);
    EXPECT_EQ(e.source(), ErrorSource::Expression);
    EXPECT_GT(e.column(), 0);
  }
  try {
    s.load("tr(X)", "X: matrx(n,n)");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.source(), ErrorSource::Declarations);
    EXPECT_EQ(e.column(), 1);
  }
  try {
    s.load("x + A", "x: vector(n); A: matrix(n,n)");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    EXPECT_EQ(e.source(), ErrorSource::Expression);
  }
}

TEST(Api, BadNamesAndRepeatsAreErrors) {
  Session s;
  Function f = s.load("x'*A*x", "", {.scalar = true});
  try {
    (void)s.gradient(f, "y");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Name);
  }
  try {
    (void)s.gradients(f, {"x", "x"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
}

TEST(Api, CheckSyntaxOnly) {
  EXPECT_NO_THROW(check_syntax("tr(undeclared*thing)"));
  EXPECT_THROW(check_syntax("tr(("), Error);
  EXPECT_NO_THROW(check_declarations("W: matrix(n,k); s: scalar"));
  EXPECT_THROW(check_declarations("W: matrix(n"), Error);
}

TEST(Api, EvaluateValueAndGradient) {
  Session s;
  Function f = s.load("x'*A*x", "x: vector(n); A: matrix(n,n)", {.scalar = true});
  Values v;
  v.symbols["x"] = Eigen::MatrixXd(2, 1);
  v.symbols["x"] << 1, 2;
  v.symbols["A"] = Eigen::MatrixXd(2, 2);
  v.symbols["A"] << 1, 2, 3, 4;
  std::vector<Eigen::MatrixXd> out = s.evaluate({s.simplify(f.expression), s.gradient(f, "x")}, v);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_DOUBLE_EQ(out[0](0, 0), 27.0);  // [1 2] [1 2; 3 4] [1; 2]
  // (A + A') x = [2 5; 5 8] [1; 2]
  EXPECT_DOUBLE_EQ(out[1](0, 0), 12.0);
  EXPECT_DOUBLE_EQ(out[1](1, 0), 21.0);
  EXPECT_EQ(value_json(out[1]), "[12.0,21.0]");
}

TEST(Api, ValuesFromJsonAreCheckedAgainstTheProgram) {
  Session s;
  Function f = s.load("x'*A*x", "x: vector(n); A: matrix(n,n)");
  Values v = read_values_json(f, R"({"x": [1, 2], "A": [[1, 0], [0, 1]]})", "values");
  EXPECT_EQ(v.dims.at("n"), 2);
  try {
    (void)read_values_json(f, R"({"x": [1, 2], "A": [[1, 0, 0], [0, 1, 0]]})", "values");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Value);
  }
}

TEST(Api, ValuesSizeDimensionsByKeyOrGivenSizes) {
  Session s;
  Function f = s.load("x'*ones(n)*sum(ones(k))", "x: vector(n)");
  EXPECT_EQ(read_values_json(f, R"({"x": [1, 2], "k": 3})", "values").dims.at("k"), 3);
  EXPECT_EQ(read_values_json(f, R"({"x": [1, 2]})", "values", {{"k", 4}}).dims.at("k"), 4);
  for (const char* bad : {R"({"x": [1, 2], "n": 3})", R"({"x": [1, 2], "k": 0})", R"({"x": [1, 2], "k": 1.5})"}) {
    try {
      (void)read_values_json(f, bad, "values");
      FAIL() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Value) << bad;
    }
  }
  try {
    (void)read_values_json(f, R"({"x": [1, 2]})", "values", {{"n", 3}});
    FAIL() << "no error for a size that contradicts a value";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dimension n is 3 from --dims but 2 from x"), std::string::npos) << e.what();
  }
}

TEST(Api, OneEntryVectorsMayBeWrittenAsLists) {
  Session s;
  Function f = s.load("x'*A*x + s", "x: vector(1); A: matrix(1,1); s: scalar");
  Values v = read_values_json(f, R"({"x": [3], "A": [[2]], "s": 1})", "values");
  EXPECT_DOUBLE_EQ(s.evaluate({s.simplify(f.expression)}, v)[0](0, 0), 19.0);
  try {
    (void)read_values_json(f, R"({"x": [3], "A": [[2]], "s": [1]})", "values");
    FAIL() << "a scalar is a number, not a list";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Value);
  }
}

TEST(Api, EvaluateAFunctionAndItsGradients) {
  Session s;
  Function f = s.load("x'*A*x", "x: vector(n); A: matrix(n,n)", {.scalar = true, .wrt = {"x", "A"}});
  Values v = read_values_json(f, R"({"x": [1, 2], "A": [[1, 2], [3, 4]]})", "values");
  std::vector<Eigen::MatrixXd> out = s.evaluate(f, {"x", "A"}, v);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_DOUBLE_EQ(out[0](0, 0), 27.0);
  EXPECT_EQ(value_json(out[1]), "[12.0,21.0]");
  EXPECT_EQ(value_json(out[2]), "[[1.0,2.0],[2.0,4.0]]");  // x x'
}

// Evaluating the gradient of logdet(A) at a nearly singular A fails in
// inv(A'), which the user never wrote: the error names logdet(A).
TEST(Api, GradientEvaluationErrorNamesItsOrigin) {
  Session s;
  Function f = s.load("tr(B*A) + logdet(A)", "", {.scalar = true, .wrt = {"A"}});
  Values v = read_values_json(f, R"({"A": [[1, 0], [0, 1e-15]], "B": [[1, 0], [0, 1]]})", "values");
  EXPECT_NO_THROW((void)s.evaluate(f, {}, v));
  try {
    (void)s.evaluate(f, {"A"}, v);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Domain);
    EXPECT_EQ(std::string(e.what()).rfind(
                  "in the gradient w.r.t. A (from logdet(A), whose derivative needs inv(A')): inv: ", 0),
              0u)
        << e.what();
  }
}

TEST(Api, CheckAgreesAndReportsAsTheCliDoes) {
  Session s;
  Function f = s.load("log(det(W*W' + s^2*I))", "", {.scalar = true});
  CheckOutcome r = s.check(f, {"W"}, {.dims = {{"n", 5}, {"k", 3}}});
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_LT(r.results[0].relative_error, 1e-6);
  EXPECT_EQ(r.dims.at("n"), 5);
  EXPECT_NE(r.text(1).find("gradient agrees with central finite differences with seed 1, k=3, n=5"), std::string::npos);
  try {
    (void)s.check(f, {"W"}, {.dims = {{"m", 2}}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
}

TEST(Api, CheckOfAGivenGradientFormula) {
  Session s;
  Function f = s.load("x'*A*x", "", {.scalar = true});
  // Read under f's types: the same symbols, so the formula is f's own gradient.
  Expression right = s.gradient_formula(f, "x", "A*x + A'*x");
  EXPECT_TRUE(right == s.gradient(f, "x"));
  CheckOutcome ok = s.check(f, {"x"}, {.gradients = {{"x", right}}});
  EXPECT_TRUE(ok.ok);
  ASSERT_EQ(ok.results.size(), 1u);
  EXPECT_TRUE(ok.results[0].given);
  EXPECT_EQ(ok.results[0].verdict, GradientVerdict::Agrees);
  EXPECT_NE(ok.text(1).find("checked the given gradient"), std::string::npos) << ok.text(1);
  CheckOutcome bad = s.check(f, {"x"}, {.gradients = {{"x", s.gradient_formula(f, "x", "A*x")}}});
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.results[0].verdict, GradientVerdict::Mismatch);
  // Errors are located in the formula.
  try {
    (void)s.gradient_formula(f, "x", "x'*A");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    EXPECT_EQ(e.source(), ErrorSource::Expression);
    EXPECT_EQ(e.column(), 1);
    EXPECT_EQ(e.length(), 4);
  }
  try {
    (void)s.gradient_formula(f, "x", "A*y");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Name);
    EXPECT_EQ(e.column(), 3);
  }
  // A gradient for a variable that is not checked.
  try {
    (void)s.check(f, {"x"}, {.gradients = {{"A", s.gradient_formula(f, "A", "x*x'")}}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
}

TEST(Api, CheckRefusesABadTolerance) {
  Session s;
  Function f = s.load("x'*x", "", {.scalar = true});
  for (double t : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    try {
      (void)s.check(f, {"x"}, {.tolerance = t});
      FAIL() << "no error for " << t;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
    }
  }
}

TEST(Api, CheckWorkIsBoundedBeforeItStarts) {
  Session s;
  Function f = s.load("logdet(S + x*x')", "S: symmetric(n); x: vector(n)", {.scalar = true});
  EXPECT_EQ(check_flops_limit(), 1e10);
  try {
    (void)s.check(f, {"x"}, {.dims = {{"n", 2000}}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Limit);
    EXPECT_NE(std::string(e.what()).find("give smaller --dims (e.g. --dims n="), std::string::npos) << e.what();
  }
}

TEST(Api, CheckOfAZeroGradientIsAtRoundingLevel) {
  Session s;
  Function f = s.load("tr(inv(A*A')*A*A')", "", {.scalar = true});
  CheckOutcome r = s.check(f, {"A"}, {.seed = 2});
  EXPECT_TRUE(r.ok) << r.text(2);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].verdict, GradientVerdict::RoundingLevel);
  EXPECT_GT(r.dims.at("k"), r.dims.at("n"));  // A*A' (n x n) has rank k
}

TEST(Api, ExplainEndsWithTheGradient) {
  Session s;
  Function f = s.load("log(det(W*W' + s^2*I))", "", {.scalar = true});
  Explanation d = s.explain(f, "W");
  EXPECT_TRUE(d.gradient() == s.gradient(f, "W"));
  EXPECT_FALSE(d.steps().empty());
  EXPECT_NE(d.format(DocFormat::Text).find("[log-determinant]"), std::string::npos);
  EXPECT_NE(d.format(DocFormat::Json).find("\"steps\""), std::string::npos);
  // Every step compiles under the derivation's declarations.
  for (const std::string& step : d.steps()) {
    Session fresh;
    EXPECT_NO_THROW(fresh.load(step, d.declarations())) << step;
  }
}

TEST(Api, CodeForEveryTarget) {
  Session s;
  Function f = s.load("norm2(A*x - b)^2", "", {.scalar = true});
  EXPECT_NE(s.code(f, {"x"}, CodeTarget::NumPy).find("def gradient("), std::string::npos);
  EXPECT_NE(s.code(f, {"x"}, CodeTarget::Torch).find("import torch"), std::string::npos);
  EXPECT_NE(s.code(f, {"x"}, CodeTarget::Eigen).find("gradient(const Inputs&"), std::string::npos);
}

TEST(Api, RuleBook) {
  EXPECT_NE(rules("log-determinant", "", DocFormat::Text).find("d(logdet(X)) = tr(inv(X)*dX)"), std::string::npos);
  EXPECT_THROW(rules("no-such-rule", "", DocFormat::Text), Error);
  EXPECT_THROW(rules("a", "b", DocFormat::Text), Error);
}

// Separate sessions on separate threads at once (the web server's model):
// each derives the same gradients as a session alone. Run under ASan/UBSan
// in scripts/test; TSan finds races here when built with -fsanitize=thread.
TEST(Api, SeparateSessionsOnSeparateThreads) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"log(det(W*W' + s^2*I))", "W"},
                                                                  {"sum(softplus(-y .* (X*w)))", "w"},
                                                                  {"norm2(A*x - b)^2", "x"},
                                                                  {"-y'*log(softmax(W*x))", "W"},
                                                                  {"tr(X^3)", "X"},
                                                                  {"logdet(X'*A*X)", "X"}};
  std::vector<std::string> expected;
  for (const auto& [e, x] : cases) {
    Session s;
    expected.push_back(s.gradient(s.load(e, "", {.scalar = true}), x).text());
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        Session s;
        for (std::size_t i = 0; i < cases.size(); ++i) {
          const auto& [e, x] = cases[(i + static_cast<std::size_t>(t)) % cases.size()];
          std::string g = s.gradient(s.load(e, "", {.scalar = true}), x).text();
          if (g != expected[(i + static_cast<std::size_t>(t)) % cases.size()]) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Api, ValueKindsOfAValuesFile) {
  const auto k = value_kinds_json(R"({"s": 2, "x": [1, 2], "v": [5], "A": [[1, 2], [3, 4]], "B": [[2]],
                                     "e": [], "o": {"a": 1}, "b": true})");
  const std::map<std::string, std::string> want = {
      {"s", "scalar"}, {"x", "vector"}, {"v", "vector"}, {"A", "matrix"}, {"B", "matrix"}};
  EXPECT_EQ(k, want);
  EXPECT_TRUE(value_kinds_json("{bad").empty());
  EXPECT_TRUE(value_kinds_json("[1, 2]").empty());
  EXPECT_TRUE(value_kinds_file("/nonexistent/values.json").empty());
}

TEST(Api, KindsFromValuesMakeScalars) {
  Session s;
  Function f = s.load("s/t/2", "", {.kinds = value_kinds_json(R"({"s": 2, "t": 3})")});
  EXPECT_EQ(f.declaration_text(), "s: scalar; t: scalar");
  std::vector<Eigen::MatrixXd> v = s.evaluate(f, {}, read_values_json(f, R"({"s": 2, "t": 3})", "values"));
  EXPECT_DOUBLE_EQ(v[0](0, 0), 1.0 / 3);
}

TEST(Api, ClosestName) {
  const std::vector<std::string> names = {"--values", "--decl", "--wrt"};
  EXPECT_EQ(closest_name("--decll", names, 2), "--decl");
  EXPECT_EQ(closest_name("--valeus", names, 2), "--values");
  EXPECT_EQ(closest_name("--valeus", names, 1), "");
  EXPECT_EQ(closest_name("--zzzzzz", names, 2), "");
}

}  // namespace
}  // namespace matcalc
