// Numerics and resources of the evaluator and the values files (issue 10):
// det and its gradient in scaled form where a factor under- or overflows,
// det exact for integer matrices, the per-pair symmetry test, duplicate keys,
// the byte and token limits of values files, and values freed after their
// last use under a cap on the entries held at once.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "eval/evaluate.hpp"
#include "eval/values.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "support/expect_error.hpp"
#include "support/matrices.hpp"

using namespace matcalc;
using json = nlohmann::json;

namespace {

using matcalc::testing::expect_error;
using matcalc::testing::mat;

struct Compiled {
  Context cx;
  Compiled() = default;
  Expr expr(const std::string& e, const std::string& decls) { return compile(cx, e, decls).expr; }
};

double rel(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

}  // namespace

// ------------------------------------------------------------------ det

// The gradient of det(X) is det(X)*inv(X)': at X = 1e-200*I the factor
// det(X) = 1e-400 underflows, the product 1e-200*I does not.
TEST(EvalNumerics, DetGradientAtTinyScaleIsNotZero) {
  Compiled c;
  Expr g = c.expr("det(X)*inv(X)'", "X: matrix(2,2)");
  Bindings b;
  b.values["X"] = 1e-200 * Matrix::Identity(2, 2);
  Matrix v = evaluate(g, b);
  EXPECT_LT(rel(v(0, 0), 1e-200), 1e-14) << v;
  EXPECT_LT(rel(v(1, 1), 1e-200), 1e-14) << v;
  EXPECT_EQ(v(0, 1), 0);
  // The value itself is the nearest double to 1e-400: zero.
  EXPECT_EQ(evaluate(c.expr("det(X)", "X: matrix(2,2)"), b)(0, 0), 0);
}

// Products, quotients, powers, sums and logs of an underflowing det.
TEST(EvalNumerics, ScalarProductsOfAnUnderflowingDetAreRepresentable) {
  Compiled c;
  const std::string decls = "X: matrix(2,2); Y: matrix(2,2); s: scalar";
  Bindings b;
  b.values["X"] = 1e-200 * Matrix::Identity(2, 2);
  b.values["Y"] = mat({{2e-200, 0}, {0, 1e-200}});
  b.values["s"] = Matrix::Constant(1, 1, 1e300);
  auto ev = [&](const std::string& e) { return evaluate(c.expr(e, decls), b)(0, 0); };
  EXPECT_LT(rel(ev("det(X)*s*s"), 1e200), 1e-14);
  EXPECT_LT(rel(ev("det(X)/det(Y)"), 0.5), 1e-14);
  EXPECT_LT(rel(ev("sqrt(det(X))"), 1e-200), 1e-14);
  EXPECT_LT(rel(ev("det(X)^0.5"), 1e-200), 1e-14);
  EXPECT_LT(rel(ev("det(X)^-0.25"), 1e100), 1e-14);
  EXPECT_LT(rel(ev("(det(X) + det(Y))*s*s"), 3e200), 1e-14);
  EXPECT_LT(rel(ev("abs(-det(X))*s*s"), 1e200), 1e-14);
  EXPECT_LT(rel(ev("log(2*det(X))"), std::log(2.0) + 2 * std::log(1e-200)), 1e-14);
  // What is truly out of range stays an error.
  expect_error([&] { ev("1/det(X)"); }, ErrorKind::Domain, "not finite");
  expect_error([&] { ev("det(X)*s*s*s*s*s"); }, ErrorKind::Domain, "not finite");
}

// diag(1e300, 1e300, 1e-300, 1e-300): the running product of the pivots
// overflows, the determinant does not.
TEST(EvalNumerics, DetWithOverflowingPivotProductIsNotRefused) {
  Compiled c;
  Bindings b;
  Matrix d = Matrix::Zero(4, 4);
  d.diagonal() << 1e300, 1e300, 1e-300, 1e-300;
  b.values["X"] = d;
  const double v = evaluate(c.expr("det(X)", "X: matrix(4,4)"), b)(0, 0);
  // The exact determinant of these doubles is 1 + 1.55e-16.
  EXPECT_LT(std::fabs(v - 1), 4e-16) << v;
  // A determinant that is itself out of range is a Domain error.
  b.values["X"] = 1e200 * Matrix::Identity(2, 2);
  expect_error([&] { evaluate(c.expr("det(X)", "X: matrix(2,2)"), b); }, ErrorKind::Domain,
               "det: result is not finite");
}

// Through Cholesky these came out as 1992.0000000000005 and
// 5642.999999999998.
TEST(EvalNumerics, DetOfSmallIntegerSymmetricMatrixIsExact) {
  Compiled c;
  Bindings b;
  Expr e = c.expr("det(S)", "S: symmetric(3)");
  b.values["S"] = mat({{17, -12, -1}, {-12, 30, -12}, {-1, -12, 13}});
  EXPECT_EQ(evaluate(e, b)(0, 0), 1992.0);
  b.values["S"] = mat({{14, 9, 2}, {9, 30, 0}, {2, 0, 17}});
  EXPECT_EQ(evaluate(e, b)(0, 0), 5643.0);
  // Integer, not symmetric, with a zero leading pivot and a row swap.
  Expr a = c.expr("det(A)", "A: matrix(3,3)");
  b.values["A"] = mat({{0, 2, 1}, {3, 1, 4}, {5, 9, 2}});
  EXPECT_EQ(evaluate(a, b)(0, 0), 50.0);
  b.values["A"] = mat({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
  EXPECT_EQ(evaluate(a, b)(0, 0), 0.0);
  // Not integer: LU with partial pivoting (still accurate).
  b.values["A"] = mat({{0.5, 0.25, 0}, {0.125, 3, 1}, {1, 0, 2}});
  EXPECT_LT(rel(evaluate(a, b)(0, 0), b.values["A"].determinant()), 1e-14);
}

// ------------------------------------------------------------ values files

namespace {
std::map<std::string, Expr> symbols(Context& cx, const std::string& e, const std::string& decls) {
  return compile(cx, e, decls).symbols;
}
json parse(const std::string& text) {
  std::istringstream in(text);
  return parse_values_json(in, "values file 'v.json'");
}
}  // namespace

// S = [[1e10,1],[0,1]]: the old test compared |1 - 0| with 1e-10 * 1e10.
TEST(EvalNumerics, SymmetryCheckIsPerPairNotAgainstTheLargestEntry) {
  Context cx;
  auto syms = symbols(cx, "x'*S*y", "S: symmetric(2); x: vector(2); y: vector(2)");
  json j = json::parse(R"({"S": [[1e10, 1], [0, 1]], "x": [1, 0], "y": [0, 1]})");
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value,
               "'S' is declared symmetric but its value is not: entries (1,2) = 1 and (2,1) = 0 differ");
  // Rounding-level asymmetry passes, also near zero by cancellation (the
  // floor: 1e-10 * sqrt(|s_ii s_jj|)) and in tiny matrices (relative).
  j = json::parse(R"({"S": [[4, 1e-17], [-2e-17, 9]], "x": [1, 0], "y": [0, 1]})");
  EXPECT_NO_THROW(read_values(j, syms));
  j = json::parse(R"({"S": [[1e-300, 3e-301], [3.0000000000001e-301, 1e-300]], "x": [1, 0], "y": [0, 1]})");
  EXPECT_NO_THROW(read_values(j, syms));
  j = json::parse(R"({"S": [[1e-300, 3e-301], [2e-301, 1e-300]], "x": [1, 0], "y": [0, 1]})");
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value, "entries (1,2)");
  // A zero diagonal: purely relative.
  j = json::parse(R"({"S": [[0, 1], [1.001, 0]], "x": [1, 0], "y": [0, 1]})");
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value, "is declared symmetric");
}

TEST(EvalNumerics, DuplicateKeyInValuesFileIsRejected) {
  expect_error([] { parse(R"({"x":[1,2],"x":[3,4]})"); }, ErrorKind::Value,
               "values file 'v.json' has the key \"x\" twice");
  // Per object: the same key in two objects is not a duplicate (and nested
  // duplicates are found too).
  EXPECT_NO_THROW(parse(R"({"a": {"x": 1}, "b": {"x": 2}})"));
  expect_error([] { parse(R"({"a": {"x": 1, "x": 2}})"); }, ErrorKind::Value, "the key \"x\" twice");
}

TEST(EvalNumerics, HugeTokenInValuesFileIsALimitNotGigabytes) {
  const std::string number = "{\"x\": 1" + std::string(kMaxValuesTokenBytes + 10, '0') + "}";
  expect_error([&] { parse(number); }, ErrorKind::Limit, "has a token longer than 4096 bytes at byte 7");
  const std::string string = "{\"x\": \"" + std::string(kMaxValuesTokenBytes, ' ') + "\"}";
  expect_error([&] { parse(string); }, ErrorKind::Limit, "token longer than 4096 bytes");
  // Long but within the limit: an ordinary parse (and its own errors).
  EXPECT_NO_THROW(parse("{\"x\": 0." + std::string(1000, '0') + "1}"));
  EXPECT_NO_THROW(parse("{\"x\": \"a\\\"" + std::string(100, 'b') + "\"}"));
}

TEST(EvalNumerics, ValuesFileLargerThanTheByteLimitIsRefusedBeforeReading) {
  // A seekable stream past the limit is refused from its size alone.
  struct SizedBuf : std::streambuf {
    std::streampos seekoff(std::streamoff off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
      if (dir == std::ios_base::end)
        pos = static_cast<std::streamoff>(kMaxValuesBytes) + 1 + off;
      else if (dir == std::ios_base::beg)
        pos = off;
      else
        pos += off;
      return pos;
    }
    std::streampos seekpos(std::streampos p, std::ios_base::openmode) override { return pos = p; }
    int_type underflow() override {
      ++reads;
      return traits_type::eof();
    }
    std::streamoff pos = 0;
    int reads = 0;
  } buf;
  std::istream in(&buf);
  expect_error([&] { parse_values_json(in, "values file 'big.json'"); }, ErrorKind::Limit,
               "values file 'big.json' is larger than 268435456 bytes");
  EXPECT_EQ(buf.reads, 0);
}

// ------------------------------------------------------------- live memory

namespace {
// Ten nested elementwise functions of kron(x,x): 10 values of 400 entries
// if nothing were freed.
const char* kChain = "sum(exp(sin(cos(tanh(exp(sin(cos(tanh(exp(sin(kron(x,x))))))))))))";
}  // namespace

TEST(EvalNumerics, EvalFreesIntermediatesAfterTheirLastUse) {
  Context cx;
  Expr e = compile(cx, kChain, "x: vector(20)").expr;
  Bindings b;
  b.values["x"] = Matrix::Random(20, 1);
  const double want = evaluate(e, b)(0, 0);
  // x (20), an argument and its result (2 x 400) at a time: well under 1000.
  Evaluator ev(b);
  ev.limit_live_entries(1000);
  EXPECT_EQ(ev.eval(e)(0, 0), want);
}

TEST(EvalNumerics, LiveMemoryCapIsALimitError) {
  Context cx;
  Expr e = compile(cx, "exp(kron(x,x)) + exp(kron(y,y)) + exp(kron(x,y))", "x: vector(20); y: vector(20)").expr;
  Bindings b;
  b.values["x"] = Matrix::Random(20, 1);
  b.values["y"] = Matrix::Random(20, 1);
  Evaluator ev(b);
  ev.limit_live_entries(1000);  // three 400-entry operands of one sum
  expect_error([&] { ev.eval(e); }, ErrorKind::Limit, "entries of values at once (limit 1000 live entries");
}

// Session::evaluate evaluates the value and the gradients with one
// Evaluator: with a plan, what they share is computed once.
TEST(EvalNumerics, PlannedRootsShareWorkAfterFreeing) {
  Context cx;
  const std::string decls = "x: vector(5)";
  Expr f = compile(cx, "sum(exp(kron(x,x)))", decls).expr;
  Expr g = compile(cx, "exp(kron(x,x))", decls).expr;
  Bindings b;
  b.values["x"] = Matrix::Random(5, 1);
  Evaluator planned(b);
  const Expr roots[] = {f, g};
  planned.plan(roots);
  const Matrix& fv = planned.eval(f);
  const Matrix& gv = planned.eval(g);
  Evaluator alone(b);
  alone.eval(g);
  // f needs g (and g its kron and x): g computed once, then only sum.
  EXPECT_EQ(planned.computed(), alone.computed() + 1);
  EXPECT_EQ(fv(0, 0), gv.sum());
  // Unplanned, a later root recomputes what was freed: still right.
  Evaluator unplanned(b);
  EXPECT_EQ(unplanned.eval(f)(0, 0), fv(0, 0));
  EXPECT_EQ(unplanned.eval(g), gv);
}

// ------------------------------------------------------------------ found by the extreme draws

// Eigen's vectorized exp clamps its argument near -708.4 (exp(-1000) came out
// 5.6e-309); below -708 each entry goes through std::exp.
TEST(EvalNumerics, ExpBelowTheClampOfVectorizedExpIsRight) {
  Compiled c;
  Bindings b;
  b.values["z"] = mat({{-1000}, {-2000}, {-720}, {-1}});
  Matrix e = evaluate(c.expr("exp(z)", "z: vector(4)"), b);
  EXPECT_EQ(e(0), 0);
  EXPECT_EQ(e(1), 0);
  EXPECT_EQ(e(2), std::exp(-720.0));  // a subnormal, through std::exp
  EXPECT_LT(rel(e(3), std::exp(-1.0)), 1e-15);
  b.values["z"] = mat({{-1000}, {-2000}});
  // z'*exp(z) underflows to 0 (the true 1e-432 is below every double), not 1e-5.
  EXPECT_EQ(evaluate(c.expr("z'*exp(z)*1e300", "z: vector(2)"), b)(0, 0), 0);
}

// A chain of extreme-magnitude factors is multiplied scaled: C*T^2*inv(T^2)
// at 1e-150 has C*T^2 ~ 1e-450 on the way, and gave a wrong logdet.
TEST(EvalNumerics, ChainOfTinyFactorsDoesNotUnderflowOnTheWay) {
  Compiled c;
  Bindings b;
  b.values["C"] = 1e-150 * mat({{1, 2}, {3, 4}});
  b.values["T"] = 1e-150 * mat({{2, 1}, {1, 3}});
  Matrix v = evaluate(c.expr("C*T^2*inv(T^2)", "C: matrix(2,2); T: symmetric(2)"), b);
  EXPECT_LT((v - b.values["C"]).norm() / b.values["C"].norm(), 1e-12) << v;
}

// logdet of a matrix whose smallest pivot is at the level of rounding is no
// number (it was -33.74 for an exactly singular T); a small pivot above that
// level is a determinant known to some digits.
TEST(EvalNumerics, LogdetOfASingularMatrixIsADomainError) {
  Compiled c;
  Bindings b;
  b.values["T"] = mat({{2, 1, 2}, {1, 3, 1}, {2, 1, 2}});
  expect_error([&] { evaluate(c.expr("logdet(T)", "T: symmetric(3)"), b); }, ErrorKind::Domain, "singular");
  b.values["A"] = mat({{1, 0}, {0, 1e-15}});
  EXPECT_LT(rel(evaluate(c.expr("logdet(A)", "A: matrix(2,2)"), b)(0, 0), std::log(1e-15)), 1e-15);
}
