// Second order, numerically (CLI.md, "Numeric"): `eval --hessian` prints the
// Hessian of each --wrt variable in the column-major vec layout, evaluated
// with the value and the gradients; `check --hessian`, `--jacobian` and
// `--hvp` compare matcalc's second-order results with central differences
// (of the gradient, or of the expression for a Jacobian) along unit and
// random directions, symmetric ones for a symmetric variable. Checks that
// must fail do: a planted wrong Hessian, Jacobian or Hessian-vector product,
// and a Hessian written without the symmetric convention.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/check.hpp"
#include "matcalc/matcalc.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using matcalc::testing::describe;
using matcalc::testing::ProcessResult;

ProcessResult mc(const std::vector<std::string>& args) { return matcalc::testing::run_process(MATCALC_BINARY, args); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A values file in a temporary directory that lives as long as the object.
class ValuesFile {
 public:
  explicit ValuesFile(const std::string& json) : path_((dir_.path() / "values.json").string()) {
    std::ofstream(path_) << json;
  }
  const std::string& path() const { return path_; }

 private:
  matcalc::testing::TempDir dir_{"matcalc_second_order"};
  std::string path_;
};

Eigen::MatrixXd rows_of(const nlohmann::json& j) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(j.size()), static_cast<Eigen::Index>(j.at(0).size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index k = 0; k < m.cols(); ++k)
      m(i, k) = j.at(static_cast<std::size_t>(i)).at(static_cast<std::size_t>(k));
  return m;
}

// ------------------------------------------------------------ eval --hessian

TEST(EvalHessian, QuadraticFormIsAPlusATransposeExactly) {
  REQUIRE_BINARY();
  ValuesFile v(R"({"x": [1, -2, 3], "A": [[1, 2, 0], [-4, 3, 1], [7, 0, 5]]})");
  ProcessResult r = mc({"eval", "x'*A*x", "--wrt", "x", "--values", v.path(), "--hessian", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  Eigen::Matrix3d a;
  a << 1, 2, 0, -4, 3, 1, 7, 0, 5;
  const Eigen::MatrixXd h = rows_of(j.at("hessian").at("x"));
  ASSERT_EQ(h.rows(), 3);
  ASSERT_EQ(h.cols(), 3);
  EXPECT_EQ(h, Eigen::MatrixXd(a + a.transpose())) << h;
  // The value and the gradient come with it, as without --hessian.
  const Eigen::Vector3d x(1, -2, 3);
  EXPECT_EQ(j.at("value").get<double>(), x.dot(a * x));
  EXPECT_EQ(j.at("gradient").at("x").size(), 3u);

  // Text: a line `hessian x: [[...]]` after the gradient.
  ProcessResult t = mc({"eval", "x'*A*x", "--wrt", "x", "--values", v.path(), "--hessian"});
  ASSERT_EQ(t.status, 0) << describe(t);
  EXPECT_TRUE(has(t.out, "gradient x: ")) << t.out;
  EXPECT_TRUE(has(t.out, "\nhessian x: [[2.0,-2.0,7.0],[-2.0,6.0,1.0],[7.0,1.0,10.0]]\n")) << t.out;
}

TEST(EvalHessian, LogdetAtAGivenMatrix) {
  REQUIRE_BINARY();
  ValuesFile v(R"({"X": [[2, 1, 0], [0.5, 3, -1], [0, 1, 4]]})");
  ProcessResult r = mc({"eval", "logdet(X)", "--wrt", "X", "--values", v.path(), "--hessian", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  Eigen::Matrix3d x;
  x << 2, 1, 0, 0.5, 3, -1, 0, 1, 4;
  const Eigen::Matrix3d xi = x.inverse();
  // d^2 logdet / dX_ij dX_kl = -inv(X)_li * inv(X)_jk, vec index i + 3*j.
  Eigen::MatrixXd expected(9, 9);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) expected(i + 3 * j, k + 3 * l) = -xi(l, i) * xi(j, k);
  const Eigen::MatrixXd h = rows_of(nlohmann::json::parse(r.out).at("hessian").at("X"));
  ASSERT_EQ(h.rows(), 9);
  ASSERT_EQ(h.cols(), 9);
  EXPECT_LT((h - expected).norm(), 1e-13 * expected.norm()) << h << "\nexpected\n" << expected;
}

TEST(EvalHessian, SeveralVariablesGiveTheirOwnBlocks) {
  REQUIRE_BINARY();
  ValuesFile v(R"({"W": [[1, 2], [0.5, 3], [1, 1]], "s": 0.5})");
  ProcessResult r =
      mc({"eval", "logdet(W*W' + s^2*I)", "--wrt", "W", "s", "--values", v.path(), "--hessian", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(rows_of(j.at("hessian").at("W")).rows(), 6);
  EXPECT_EQ(rows_of(j.at("hessian").at("W")).cols(), 6);
  // A scalar's Hessian is a 1 x 1 matrix, a list of one row: by central
  // differences of the gradient in s, d/ds (2 s tr(inv(M))) with M = W*W' + s^2*I.
  const Eigen::MatrixXd hs = rows_of(j.at("hessian").at("s"));
  ASSERT_EQ(hs.size(), 1);
  Eigen::MatrixXd w(3, 2);
  w << 1, 2, 0.5, 3, 1, 1;
  auto g = [&](double s) {
    return 2 * s * (w * w.transpose() + s * s * Eigen::MatrixXd::Identity(3, 3)).inverse().trace();
  };
  const double h = 1e-5;
  EXPECT_NEAR(hs(0, 0), (g(0.5 + h) - g(0.5 - h)) / (2 * h), 1e-6);
}

TEST(EvalHessian, NeedsTheVariables) {
  REQUIRE_BINARY();
  ValuesFile v(R"({"x": [1, 2]})");
  ProcessResult r = mc({"eval", "sum(exp(x))", "--values", v.path(), "--hessian"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_TRUE(has(r.err, "--hessian needs the variables")) << r.err;
  EXPECT_EQ(r.out, "");
}

// ------------------------------------------------------------ check

struct Case {
  std::string expr, decl;
  std::vector<std::string> wrt;
};

// Runs `check EXPR --wrt ... FLAG` at several seeds; each must agree.
void expect_agrees(const Case& c, const std::string& flag, const std::string& dims = "") {
  for (const char* seed : {"1", "2", "3"}) {
    std::vector<std::string> args{"check", c.expr, flag, "--seed", seed};
    if (!c.decl.empty()) args.insert(args.end(), {"--decl", c.decl});
    if (!dims.empty()) args.insert(args.end(), {"--dims", dims});
    for (const std::string& x : c.wrt) args.insert(args.end(), {"--wrt", x});
    ProcessResult r = mc(args);
    SCOPED_TRACE(c.expr + " " + flag + " seed " + seed);
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_TRUE(has(r.out, "agrees with central finite differences")) << r.out;
    EXPECT_FALSE(has(r.out, "MISMATCH")) << r.out;
    for (const std::string& x : c.wrt) EXPECT_TRUE(has(r.out, x + ": ok")) << r.out;
  }
}

const std::vector<Case>& hessian_cases() {
  static const std::vector<Case> cases = {
      {"x'*A*x", "", {"x"}},
      {"sum(exp(x))", "", {"x"}},
      {"logsumexp(x)", "", {"x"}},
      {"sum(softplus(-y .* (X*w)))", "", {"w"}},
      {"tr(X'*A*X)", "", {"X"}},
      {"logdet(X)", "", {"X"}},
      {"logdet(W*W' + s^2*I)", "s: scalar", {"W"}},
      {"logdet(S)", "S: symmetric(n)", {"S"}},
      {"tr(S*A*S)", "S: symmetric(n)", {"S"}},
      {"norm2(A*x - b)^2", "", {"x"}},
      {"sum(tanh(W1*x) .* w2)", "", {"W1"}},
      {"N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "S: symmetric(n); N: scalar; s: scalar", {"W", "s"}},
  };
  return cases;
}

TEST(CheckHessian, AgreesOnTheClosedForms) {
  REQUIRE_BINARY();
  for (const Case& c : hessian_cases()) expect_agrees(c, "--hessian");
}

TEST(CheckHessian, ReportsTheDirectionsAndTheSymmetry) {
  REQUIRE_BINARY();
  // A 4 x 4 symmetric S has 10 free entries: every sym(E_ij) is a direction.
  ProcessResult r = mc({"check", "logdet(S)", "--decl", "S: symmetric(n)", "--wrt", "S", "--hessian", "--dims", "n=4"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "S: ok  relative error ")) << r.out;
  EXPECT_TRUE(has(r.out, "every unit direction (10) and 2 random ones")) << r.out;
  EXPECT_TRUE(has(r.out, "; asymmetry ")) << r.out;
  EXPECT_TRUE(has(r.out, "(hessian ")) << r.out;
  EXPECT_TRUE(has(r.out, "hessian agrees with central finite differences with seed 1, n=4")) << r.out;
  // Past 400 free entries, random directions only.
  ProcessResult big = mc({"check", "x'*A*x", "--wrt", "x", "--hessian", "--dims", "n=401"});
  ASSERT_EQ(big.status, 0) << describe(big);
  EXPECT_TRUE(has(big.out, "along 8 random directions")) << big.out;
}

TEST(CheckHessian, TheMixedBlockIsChecked) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "--decl",
                        "S: symmetric(n); N: scalar; s: scalar", "--wrt", "W", "s", "--hessian"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "\nW,s: ok  ")) << r.out;
  EXPECT_TRUE(has(r.out, "\ns: ok  ")) << r.out;
  EXPECT_EQ(r.out.rfind("W: ok  ", 0), 0u) << r.out;
}

TEST(CheckHvp, AgreesOnTheClosedForms) {
  REQUIRE_BINARY();
  for (const Case& c : std::vector<Case>{{"logdet(X)", "", {"X"}},
                                         {"logdet(S)", "S: symmetric(n)", {"S"}},
                                         {"sum(softplus(-y .* (X*w)))", "", {"w"}},
                                         {"logdet(W*W' + s^2*I)", "s: scalar", {"W"}},
                                         {"tr(S*A*S)", "S: symmetric(n)", {"S"}}})
    expect_agrees(c, "--hvp");
  ProcessResult r = mc({"check", "x'*A*x", "--wrt", "x", "--hvp", "--direction", "D"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "(hvp (A + A')*D)")) << r.out;
}

TEST(CheckJacobian, AgreesOnTheClosedForms) {
  REQUIRE_BINARY();
  for (const Case& c : std::vector<Case>{{"inv(X)", "", {"X"}},
                                         {"softmax(x)", "", {"x"}},
                                         {"X'", "", {"X"}},
                                         {"A*x", "", {"x"}},
                                         {"inv(S)", "S: symmetric(n)", {"S"}},
                                         {"exp(x)", "", {"x"}}})
    expect_agrees(c, "--jacobian");
}

TEST(CheckSecondOrder, BadInputIsRefused) {
  REQUIRE_BINARY();
  ProcessResult both = mc({"check", "sum(exp(x))", "--wrt", "x", "--hessian", "--hvp"});
  EXPECT_EQ(both.status, 2) << describe(both);
  EXPECT_TRUE(has(both.err, "give one of --hessian, --jacobian, --hvp")) << both.err;
  ProcessResult vector = mc({"check", "exp(x)", "--decl", "x: vector(n)", "--wrt", "x", "--hessian"});
  EXPECT_EQ(vector.status, 2) << describe(vector);
  EXPECT_TRUE(has(vector.err, "scalar")) << vector.err;
  ProcessResult given = mc({"check", "sum(exp(x))", "--wrt", "x", "--hessian", "--gradient", "exp(x)"});
  EXPECT_EQ(given.status, 2) << describe(given);
  EXPECT_TRUE(has(given.err, "does not go with --hessian")) << given.err;
  // The Hessian is evaluated whole: past 2^22 entries, a Limit error before any evaluation.
  ProcessResult big = mc({"check", "tr(W'*A*W)", "--wrt", "W", "--hessian", "--dims", "n=50,k=50"});
  EXPECT_EQ(big.status, 2) << describe(big);
  EXPECT_TRUE(has(big.err, "the matrix checked for W has 6250000 entries at k=50,n=50 (limit 4194304)")) << big.err;
  // The work is estimated first, and sizes that fit are named.
  ProcessResult work =
      mc({"check", "logdet(S)", "--decl", "S: symmetric(n)", "--wrt", "S", "--hessian", "--dims", "n=40"});
  EXPECT_EQ(work.status, 2) << describe(work);
  EXPECT_TRUE(has(work.err, "floating-point operations")) << work.err;
  EXPECT_TRUE(has(work.err, "(e.g. --dims n=")) << work.err;
  ProcessResult taken = mc({"check", "V'*x", "--wrt", "x", "--hvp"});
  EXPECT_EQ(taken.status, 2) << describe(taken);
  EXPECT_TRUE(has(taken.err, "--direction")) << taken.err;
}

// ------------------------------------------------------------ checks that must fail

TEST(CheckHessian, APlantedWrongHessianDisagrees) {
  matcalc::Session s;
  matcalc::Function f = s.load("sum(exp(x))", "x: vector(n)", {.scalar = true, .wrt = {"x"}});
  // The Hessian of another function of the same x: diag(4*exp(2*x)).
  matcalc::Function other = s.load("sum(exp(2*x))", "x: vector(n)", {.scalar = true, .wrt = {"x"}});
  matcalc::CheckSettings opt;
  opt.what = matcalc::Derivative::Hessian;
  opt.hessians["x"] = s.hessian(other, "x");
  matcalc::CheckOutcome r = s.check(f, {"x"}, opt);
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].verdict, matcalc::GradientVerdict::Mismatch);
  EXPECT_TRUE(r.results[0].given);
  EXPECT_GT(r.results[0].relative_error, 0.1);
  const std::string text = r.text(1);
  EXPECT_TRUE(has(text, "x: MISMATCH")) << text;
  EXPECT_TRUE(has(text, "checked the given hessian")) << text;
  EXPECT_TRUE(has(text, "the given hessian DISAGREES with central finite differences")) << text;

  // Without the planted one, the same check agrees.
  matcalc::CheckSettings own;
  own.what = matcalc::Derivative::Hessian;
  EXPECT_TRUE(s.check(f, {"x"}, own).ok);
}

TEST(CheckHessian, AnAsymmetricHessianDisagreesAndSaysSo) {
  matcalc::Session s;
  matcalc::Function f = s.load("x'*A*x", "x: vector(n); A: matrix(n,n)", {.scalar = true, .wrt = {"x"}});
  // 2*A is the Hessian only for a symmetric A (the Jacobian of 2*A*x).
  matcalc::CheckSettings opt;
  opt.what = matcalc::Derivative::Hessian;
  opt.hessians["x"] = s.jacobian(s.load("2*A*x", "x: vector(n); A: matrix(n,n)"), "x");
  matcalc::CheckOutcome r = s.check(f, {"x"}, opt);
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_GT(r.results[0].asymmetry, 0.1);
  EXPECT_EQ(r.results[0].verdict, matcalc::GradientVerdict::Mismatch);
}

TEST(CheckHessian, AHessianWithoutTheSymmetricConventionDisagrees) {
  // For S: symmetric(n) the Hessian is that of S -> logdet(sym(S)),
  // -kron(inv(S), inv(S))*(I + K)/2; the one of a general X, -kron(inv(X),
  // inv(X)')*K, evaluated at the same (symmetric) value, is not it.
  matcalc::Session s;
  matcalc::Function f = s.load("logdet(S)", "S: symmetric(n)", {.scalar = true, .wrt = {"S"}});
  matcalc::Function general = s.load("logdet(S)", "S: matrix(n,n)", {.scalar = true, .wrt = {"S"}});
  matcalc::CheckSettings opt;
  opt.what = matcalc::Derivative::Hessian;
  opt.dims = {{"n", 3}};
  opt.hessians["S"] = s.hessian(general, "S");
  matcalc::CheckOutcome r = s.check(f, {"S"}, opt);
  EXPECT_FALSE(r.ok) << r.text(1);
  EXPECT_EQ(r.results.at(0).verdict, matcalc::GradientVerdict::Mismatch) << r.text(1);
  opt.hessians.clear();
  EXPECT_TRUE(s.check(f, {"S"}, opt).ok);
}

TEST(CheckHessian, AGivenHessianOfTheWrongShapeIsAnError) {
  matcalc::Session s;
  matcalc::Function f = s.load("sum(exp(x))", "x: vector(n)", {.scalar = true, .wrt = {"x"}});
  matcalc::CheckSettings opt;
  opt.what = matcalc::Derivative::Hessian;
  opt.hessians["x"] = s.gradient(f, "x");
  try {
    (void)s.check(f, {"x"}, opt);
    ADD_FAILURE() << "no error";
  } catch (const matcalc::Error& e) {
    EXPECT_EQ(e.kind(), matcalc::ErrorKind::Shape);
    EXPECT_TRUE(has(e.what(), "numel(x) x numel(x)")) << e.what();
  }
}

// A wrong Jacobian and a wrong Hessian-vector product fail check_derivatives
// (the CLI has no way to give one).
std::map<std::string, matcalc::Expr> symbols_of(const matcalc::Function& f) {
  std::map<std::string, matcalc::Expr> out;
  for (const matcalc::SymbolInfo& sym : f.symbols) out.emplace(sym.name, sym.symbol.node());
  return out;
}

TEST(CheckDerivatives, AWrongJacobianDisagrees) {
  matcalc::Session s;
  matcalc::Function f = s.load("inv(X)", "X: matrix(n,n)", {.wrt = {"X"}});
  // The Jacobian of inv(X'), not of inv(X).
  matcalc::Function other = s.load("inv(X')", "X: matrix(n,n)", {.wrt = {"X"}});
  const matcalc::Expr value = s.simplify(f.expression).node();
  const matcalc::Expr x = f.symbol("X").node();
  matcalc::CheckOptions opt;
  opt.dims = {{"n", 3}};
  for (matcalc::Expression j : {s.jacobian(other, "X"), s.jacobian(f, "X")}) {
    matcalc::DerivativeCheck c{.label = "X", .of = value, .x = x, .matrix = j.node()};
    matcalc::CheckReport r = matcalc::check_derivatives(value, {c}, symbols_of(f), opt);
    ASSERT_EQ(r.results.size(), 1u);
    const bool own = j == s.jacobian(f, "X");
    EXPECT_EQ(r.ok, own) << j.text() << ": relative error " << r.results[0].relative_error;
    EXPECT_EQ(r.results[0].verdict, own ? matcalc::CheckVerdict::Agrees : matcalc::CheckVerdict::Mismatch);
    EXPECT_EQ(r.results[0].unit_directions, 9);
  }
}

TEST(CheckDerivatives, AWrongHessianVectorProductDisagrees) {
  matcalc::Session s;
  matcalc::Function f = s.load("logdet(X)", "X: matrix(n,n)", {.scalar = true, .wrt = {"X"}});
  // Transposed: -inv(X)*V*inv(X) is the hvp of logdet only for symmetric X and V.
  matcalc::Function other = s.load("-tr(inv(X)*V*inv(X)*W')", "X: matrix(n,n); V: matrix(n,n); W: matrix(n,n)",
                                   {.scalar = true, .wrt = {"W"}});
  const matcalc::Expr value = s.simplify(f.expression).node();
  const matcalc::Expr x = f.symbol("X").node();
  const matcalc::Expr v = s.direction_symbol(f, "X", "V").node();
  const matcalc::Expr g = s.gradient(f, "X").node();
  matcalc::CheckOptions opt;
  opt.dims = {{"n", 3}};
  for (matcalc::Expression along : {s.gradient(other, "W"), s.hvp(f, "X", "V")}) {
    matcalc::DerivativeCheck c{.label = "X", .of = g, .x = x, .along = along.node(), .direction = v};
    matcalc::CheckReport r = matcalc::check_derivatives(value, {c}, symbols_of(f), opt);
    const bool own = along == s.hvp(f, "X", "V");
    EXPECT_EQ(r.ok, own) << along.text() << ": relative error " << r.results.at(0).relative_error;
  }
}

}  // namespace
