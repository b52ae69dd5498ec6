// The checks of the generated code (issue 10): every generated module, NumPy,
// PyTorch and C++/Eigen, performs the checks that `matcalc eval` performs and
// never returns a wrong number. Each case is a function, its gradient and an
// input that broke a module before:
//   - norm2 whose plain sum of squares under- or overflows (np.linalg.norm,
//     torch.linalg.norm and Eigen's .norm() gave 0, or 5.00003e-160);
//   - solves and inverses of near-singular matrices (NumPy and PyTorch
//     returned numbers where eval and the Eigen header refuse);
//   - symmetric inputs that are not symmetric (NumPy and PyTorch did not
//     check them; Eigen compared against the largest entry);
//   - det, and products with det, that under- or overflow on the way to a
//     representable result (the gradient of det(X) at 1e-200*I was 0);
//   - inputs outside the domain (sqrt or log of a negative number), where
//     NumPy and Eigen arithmetic give NaN and a module must raise instead.
// The modules are run for real: NumPy under a Python that can import it,
// PyTorch where a Python can import torch (skipped otherwise, saying why),
// Eigen compiled with the system C++ compiler (all cases in one translation
// unit, compiled once). Results are compared to relative precision: the
// numbers are far below the absolute tolerances of the other printer tests.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "diff/gradient.hpp"
#include "parse/typecheck.hpp"
#include "print/eigen.hpp"
#include "print/numpy.hpp"
#include "simplify/simplify.hpp"
#include "support/cxx_toolchain.hpp"
#include "support/matrices.hpp"
#include "support/python_module.hpp"
#include "support/temp_dir.hpp"

using namespace matcalc;
using Eigen::MatrixXd;
using nlohmann::json;

namespace {

using matcalc::testing::cpp_double;
using matcalc::testing::M;
using matcalc::testing::toolchain;
using matcalc::testing::Toolchain;
using matcalc::testing::V;

// One function, its gradient with respect to `wrt`, an input, and what every
// module must give there: a value (or an error naming `value_error`), then a
// gradient (or an error naming `gradient_error`).
struct Case {
  std::string name;
  std::string expr, decls, wrt;
  std::map<std::string, MatrixXd> values;  // a vector as n x 1
  std::optional<double> value;
  MatrixXd gradient;  // shaped like wrt (a vector n x 1)
  std::string value_error = "";
  std::string gradient_error = "";
  double tolerance = 1e-13;  // relative
};

const std::vector<Case>& cases() {
  const double ln2 = std::log(2.0);
  static const std::vector<Case> cs = {
      {"Norm2OfTinyVectorIsNotZero",
       "norm2(x)",
       "x: vector(n)",
       "x",
       {{"x", V({1e-200, 1e-200})}},
       std::sqrt(2.0) * 1e-200,
       V({std::sqrt(0.5), std::sqrt(0.5)})},
      {"Norm2NearTheUnderflowEdgeIsExact",
       "norm2(x)",
       "x: vector(n)",
       "x",
       {{"x", V({3e-160, 4e-160})}},
       5e-160,
       V({0.6, 0.8})},
      {"Norm2OfHugeVectorDoesNotOverflow",
       "norm2(x)",
       "x: vector(n)",
       "x",
       {{"x", V({3e200, 4e200})}},
       5e200,
       V({0.6, 0.8})},
      {"FrobeniusNormOfTinyMatrixIsNotZero",
       "norm2(W)",
       "W: matrix(n,k)",
       "W",
       {{"W", M(2, 2, {3e-200, 0, 0, 4e-200})}},
       5e-200,
       M(2, 2, {0.6, 0, 0, 0.8})},
      {"NormInsideAGradientIsScaled",
       "norm2(A*x)",
       "A: matrix(n,n); x: vector(n)",
       "x",
       {{"A", M(2, 2, {1, 0, 0, 1})}, {"x", V({3e-170, 4e-170})}},
       5e-170,
       V({0.6, 0.8})},
      // The classic singular 3 x 3 matrix, near-singular in floating point:
      // its reciprocal condition number is about 1.5e-18.
      {"NearSingularSolveRaises",
       "x'*inv(A)*x",
       "x: vector(n); A: matrix(n,n)",
       "x",
       {{"A", M(3, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, {"x", V({1, 0, 0})}},
       std::nullopt,
       MatrixXd(),
       "singular"},
      {"ExactlySingularSolveRaisesAClearError",
       "x'*inv(A)*x",
       "x: vector(n); A: matrix(n,n)",
       "x",
       {{"A", M(2, 2, {1, 2, 2, 4})}, {"x", V({1, 1})}},
       std::nullopt,
       MatrixXd(),
       "singular"},
      // det A = 2^-50 > 0, so logdet is fine; its gradient inv(A') is not.
      {"NearSingularInverseInAGradientRaises",
       "logdet(A)",
       "A: matrix(n,n)",
       "A",
       {{"A", M(2, 2, {1, 1, 1, 1 + std::ldexp(1.0, -50)})}},
       -50 * ln2,
       MatrixXd(),
       "",
       "singular"},
      {"WellConditionedSolveStillWorks",
       "x'*inv(A)*x",
       "x: vector(n); A: matrix(n,n)",
       "x",
       {{"A", M(2, 2, {2, 1, 1, 3})}, {"x", V({1, 2})}},
       1.4,
       V({0.4, 1.2})},
      {"AsymmetricSymmetricInputRaises",
       "x'*S*y",
       "x: vector(n); y: vector(n); S: symmetric(n)",
       "x",
       {{"S", M(2, 2, {1e10, 1, 0, 1})}, {"x", V({1, 0})}, {"y", V({0, 1})}},
       std::nullopt,
       MatrixXd(),
       "symmetric"},
      // Within the tolerance the input is used exactly symmetrized, as eval does.
      // An off-diagonal pair that is zero up to the rounding of a computed
      // Gram matrix (the scale sqrt(a_ii a_jj)) is symmetric, as eval says.
      {"GramRoundingOffTheDiagonalIsSymmetric",
       "x'*S*y",
       "x: vector(n); y: vector(n); S: symmetric(n)",
       "y",
       {{"S", M(2, 2, {1, 1e-17, 0, 1})}, {"x", V({1, 0})}, {"y", V({0, 1})}},
       5e-18,
       V({1, 5e-18})},
      {"NearlySymmetricInputIsSymmetrized",
       "x'*S*y",
       "x: vector(n); y: vector(n); S: symmetric(n)",
       "x",
       {{"S", M(2, 2, {2, 1, 1 + 1e-12, 3})}, {"x", V({1, 0})}, {"y", V({0, 1})}},
       1 + 0.5e-12,
       V({1 + 0.5e-12, 3}),
       "",
       "",
       1e-15},
      {"DetGradientAtTinyScaleIsNotZero",
       "det(X)",
       "X: matrix(n,n)",
       "X",
       {{"X", M(2, 2, {1e-200, 0, 0, 1e-200})}},
       0.0,
       M(2, 2, {1e-200, 0, 0, 1e-200})},
      {"DetSquaredGradientAtTinyScaleIsNotZero",
       "det(X)^2",
       "X: matrix(n,n)",
       "X",
       {{"X", M(2, 2, {1e-100, 0, 0, 1e-100})}},
       0.0,
       M(2, 2, {2e-300, 0, 0, 2e-300})},
      // The pivots' running product overflows; the determinant is 1e100. The
      // gradient needs inv(X), whose condition number is 1e500.
      {"DetWhosePivotProductOverflowsIsRepresentable",
       "det(X)",
       "X: matrix(n,n)",
       "X",
       {{"X", M(3, 3, {1e200, 0, 0, 0, 1e200, 0, 0, 0, 1e-300})}},
       1e100,
       MatrixXd(),
       "",
       "singular"},
      {"DetThatOverflowsRaises",
       "det(X)",
       "X: matrix(n,n)",
       "X",
       {{"X", M(2, 2, {1e200, 0, 0, 1e200})}},
       std::nullopt,
       MatrixXd(),
       "det"},
      {"QuotientByTinyDetIsRepresentable",
       "x'*x/det(X)",
       "x: vector(n); X: matrix(n,n)",
       "x",
       {{"X", M(2, 2, {1e-160, 0, 0, 1e-160})}, {"x", V({1e-100, 0})}},
       1e120,
       V({2e220, 0})},
      // Outside the domain every module raises, as eval does, instead of
      // returning NaN: sqrt(x).^2 at x = (-2, 1) (kept unsimplified, issue 10 item 3).
      {"OutsideTheDomainRaises",
       "sum(sqrt(x).^2) + y'*x",
       "x: vector(n); y: vector(n)",
       "y",
       {{"x", V({-2, 1})}, {"y", V({1, 1})}},
       std::nullopt,
       MatrixXd(),
       "no finite value"},
      {"LogOfANegativeEntryRaises",
       "sum(log(x))",
       "x: vector(n)",
       "x",
       {{"x", V({1, -1})}},
       std::nullopt,
       MatrixXd(),
       "no finite value"},
  };
  return cs;
}

const Case& case_named(const std::string& name) {
  for (const Case& c : cases())
    if (c.name == name) return c;
  throw std::logic_error("no case " + name);
}

// The module's spec as the CLI builds it: the simplified function and its gradient.
struct Built {
  Context cx;
  ModuleSpec spec;
};
std::unique_ptr<Built> build(const Case& c) {
  auto b = std::make_unique<Built>();
  TypedProgram p = compile(b->cx, c.expr, c.decls);
  Expr f = simplify(p.expr);
  b->spec.value = f;
  b->spec.symbols = p.symbols;
  b->spec.source = c.expr;
  const std::vector<Expr> xs{p.symbols.at(c.wrt)};
  b->spec.gradients.push_back({c.wrt, gradients(f, xs)[0]});
  return b;
}

bool relatively_close(double got, double want, double tol) {
  if (want == 0) return got == 0;
  return std::fabs(got - want) <= tol * std::fabs(want);
}

std::string contains_message(const std::string& what, const std::string& want) {
  return what.find(want) != std::string::npos ? "" : "the error '" + what + "' does not mention '" + want + "'";
}

// ------------------------------------------------------------ Python

json python_values(const Case& c, const Built& b) {
  json v = json::object();
  for (const auto& [name, m] : c.values)
    v[name] = b.spec.symbols.at(name)->shape.is_col() ? matcalc::testing::json_list(m) : matcalc::testing::json_rows(m);
  return v;
}

// The entries of an encoded array (driver of support/python_module.hpp) in
// column-major order, as a matrix of the wanted shape.
MatrixXd decoded(const json& enc, const MatrixXd& like) {
  MatrixXd m(like.rows(), like.cols());
  const json& d = enc["data"];
  for (Eigen::Index i = 0; i < like.rows(); ++i)
    for (Eigen::Index j = 0; j < like.cols(); ++j)
      m(i, j) = like.cols() == 1 && d[i].is_number() ? d[i].get<double>() : d[i][j].get<double>();
  return m;
}

void expect_python(const Case& c, const std::string& py, PyTarget target) {
  auto b = build(c);
  const std::string mod = to_python_module(b->spec, target);
  json r = matcalc::testing::run_module(py, mod, python_values(c, *b));
  if (!c.value) {
    ASSERT_TRUE(r.contains("error") && !r.contains("value")) << r << "\n" << mod;
    EXPECT_EQ(contains_message(r["error"], c.value_error), "");
    return;
  }
  ASSERT_TRUE(r.contains("value")) << r << "\n" << mod;
  const double v = r["value"]["data"].get<double>();
  EXPECT_TRUE(relatively_close(v, *c.value, c.tolerance)) << "value " << v << ", want " << *c.value;
  if (!c.gradient_error.empty()) {
    ASSERT_TRUE(r.contains("error") && !r.contains("gradient")) << r << "\n" << mod;
    EXPECT_EQ(contains_message(r["error"], c.gradient_error), "");
    return;
  }
  ASSERT_TRUE(r.contains("gradient")) << r << "\n" << mod;
  MatrixXd g = decoded(r["gradient"], c.gradient);
  for (Eigen::Index i = 0; i < g.size(); ++i)
    EXPECT_TRUE(relatively_close(g(i), c.gradient(i), c.tolerance))
        << "gradient entry " << i << ": " << g(i) << ", want " << c.gradient(i) << "\n"
        << mod;
}

const std::optional<std::string>& torch_python() {
  static const std::optional<std::string> py = [] {
    auto p = matcalc::testing::python_with("torch");
    if (p && std::system((*p + " -c 'import numpy' >/dev/null 2>&1").c_str()) != 0) p.reset();
    return p;
  }();
  return py;
}

// ------------------------------------------------------------ Eigen

// What the compiled program printed for one case.
struct EigenResult {
  std::optional<double> value;
  std::optional<MatrixXd> gradient;
  std::string error;
};

struct EigenRun {
  std::string skipped, failure;
  std::map<std::string, EigenResult> results;
};

// Per case: fill Inputs, then print "V <case> <value>", "G <case> <entries
// column-major>" or "E <case> <message>" (the first exception ends the case).
std::string driver_block(std::size_t i, const Case& c, const Built& b) {
  const std::string ns = "case_" + std::to_string(i), id = std::to_string(i);
  std::string s = "  {\n    " + ns + "::Inputs in;\n";
  for (const auto& [name, m] : c.values) {
    const bool col = b.spec.symbols.at(name)->shape.is_col();
    s += "    in." + name + " = " + (col ? "Eigen::VectorXd(" : "Eigen::MatrixXd(") + std::to_string(m.rows()) +
         (col ? "" : ", " + std::to_string(m.cols())) + ");\n    in." + name + " << ";
    for (Eigen::Index r = 0; r < m.rows(); ++r)
      for (Eigen::Index k = 0; k < m.cols(); ++k) s += (r || k ? ", " : "") + cpp_double(m(r, k));
    s += ";\n";
  }
  s += "    try {\n";
  s += "      std::printf(\"V " + id + " %.17g\\n\", " + ns + "::value(in));\n";
  s += "      const auto g = " + ns + "::gradient(in)." + c.wrt + ";\n";
  s += "      std::printf(\"G " + id + "\");\n";
  s += "      for (Eigen::Index k = 0; k < g.size(); ++k) std::printf(\" %.17g\", g(k));\n";
  s += "      std::printf(\"\\n\");\n";
  s += "    } catch (const std::exception& e) {\n";
  s += "      std::printf(\"E " + id + " %s\\n\", e.what());\n";
  s += "    }\n  }\n";
  return s;
}

const EigenRun& eigen_run() {
  static const EigenRun run = [] {
    EigenRun r;
    const Toolchain& tc = toolchain();
    if (!tc.missing.empty()) {
      r.skipped = tc.missing;
      return r;
    }
    std::string unit = "#include <cstdio>\n", main = "int main() {\n";
    for (std::size_t i = 0; i < cases().size(); ++i) {
      const Case& c = cases()[i];
      auto b = build(c);
      EigenOptions opt;
      opt.namespace_name = "case_" + std::to_string(i);
      unit += to_eigen_source(b->spec, opt) + "\n";
      main += driver_block(i, c, *b);
    }
    unit += main + "  return 0;\n}\n";
    matcalc::testing::TempDir dir;
    const std::string src = (dir.path() / "checks.cpp").string(), exe = (dir.path() / "checks").string();
    std::ofstream(src) << unit;
    const std::string cmd = tc.cxx + " -std=c++17 -O0 -Wall -Wextra -I" + tc.eigen_include + " " + src + " -o " + exe +
                            " >" + (dir.path() / "cc.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(dir.path() / "cc.txt");
      std::stringstream ss;
      ss << in.rdbuf();
      r.failure = "the generated code did not compile:\n" + ss.str();
      return r;
    }
    std::string out;
    if (FILE* f = popen(exe.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      if (pclose(f) != 0) r.failure = "the program failed:\n" + out;
    }
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream ls(line);
      std::string kind;
      std::size_t i = 0;
      ls >> kind >> i;
      if (i >= cases().size()) continue;
      EigenResult& res = r.results[cases()[i].name];
      if (kind == "V") {
        double v = 0;
        ls >> v;
        res.value = v;
      } else if (kind == "G") {
        const MatrixXd& like = cases()[i].gradient;
        std::vector<double> xs;
        double x = 0;
        while (ls >> x) xs.push_back(x);
        MatrixXd g = MatrixXd::Zero(like.rows(), like.cols());
        for (Eigen::Index k = 0; k < g.size() && k < static_cast<Eigen::Index>(xs.size()); ++k) g(k) = xs[k];
        res.gradient = g;
      } else if (kind == "E") {
        std::getline(ls, res.error);
      }
    }
    return r;
  }();
  return run;
}

void expect_eigen(const EigenRun& run, const Case& c) {
  ASSERT_TRUE(run.results.count(c.name)) << "no output for " << c.name;
  const EigenResult& r = run.results.at(c.name);
  if (!c.value) {
    EXPECT_FALSE(r.value) << *r.value;
    EXPECT_EQ(contains_message(r.error, c.value_error), "");
    return;
  }
  ASSERT_TRUE(r.value) << r.error;
  EXPECT_TRUE(relatively_close(*r.value, *c.value, c.tolerance)) << "value " << *r.value << ", want " << *c.value;
  if (!c.gradient_error.empty()) {
    EXPECT_FALSE(r.gradient);
    EXPECT_EQ(contains_message(r.error, c.gradient_error), "");
    return;
  }
  ASSERT_TRUE(r.gradient) << r.error;
  for (Eigen::Index i = 0; i < c.gradient.size(); ++i)
    EXPECT_TRUE(relatively_close((*r.gradient)(i), c.gradient(i), c.tolerance))
        << "gradient entry " << i << ": " << (*r.gradient)(i) << ", want " << c.gradient(i);
}

}  // namespace

// One NumPy test per case, named after the bug. Running a case needs an
// interpreter start only, so each is a test of its own; the PyTorch and the
// Eigen tests below run every case in one test (the Eigen program is one
// translation unit, compiled once per process).
#define CODEGEN_CHECK(NAME)                                \
  TEST(CodegenChecksNumPy, NAME) {                         \
    REQUIRE_NUMPY_PYTHON(py);                              \
    expect_python(case_named(#NAME), py, PyTarget::NumPy); \
  }

CODEGEN_CHECK(Norm2OfTinyVectorIsNotZero)
CODEGEN_CHECK(Norm2NearTheUnderflowEdgeIsExact)
CODEGEN_CHECK(Norm2OfHugeVectorDoesNotOverflow)
CODEGEN_CHECK(FrobeniusNormOfTinyMatrixIsNotZero)
CODEGEN_CHECK(NormInsideAGradientIsScaled)
CODEGEN_CHECK(NearSingularSolveRaises)
CODEGEN_CHECK(ExactlySingularSolveRaisesAClearError)
CODEGEN_CHECK(NearSingularInverseInAGradientRaises)
CODEGEN_CHECK(WellConditionedSolveStillWorks)
CODEGEN_CHECK(AsymmetricSymmetricInputRaises)
CODEGEN_CHECK(NearlySymmetricInputIsSymmetrized)
CODEGEN_CHECK(GramRoundingOffTheDiagonalIsSymmetric)
CODEGEN_CHECK(DetGradientAtTinyScaleIsNotZero)
CODEGEN_CHECK(DetSquaredGradientAtTinyScaleIsNotZero)
CODEGEN_CHECK(DetWhosePivotProductOverflowsIsRepresentable)
CODEGEN_CHECK(DetThatOverflowsRaises)
CODEGEN_CHECK(QuotientByTinyDetIsRepresentable)
CODEGEN_CHECK(OutsideTheDomainRaises)
CODEGEN_CHECK(LogOfANegativeEntryRaises)

TEST(CodegenChecksTorch, EveryCaseRaisesOrMatches) {
  if (!torch_python()) GTEST_SKIP() << "no Python interpreter here can import torch and numpy";
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    expect_python(c, *torch_python(), PyTarget::Torch);
  }
}

TEST(CodegenChecksEigen, EveryCaseRaisesOrMatches) {
  const EigenRun& run = eigen_run();
  if (!run.skipped.empty()) GTEST_SKIP() << run.skipped;
  ASSERT_EQ(run.failure, "");
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    expect_eigen(run, c);
  }
}

// Every case is run: a case left out of the list above is an error.
TEST(CodegenChecks, EveryCaseHasItsTests) {
  const std::string list[] = {"Norm2OfTinyVectorIsNotZero",
                              "Norm2NearTheUnderflowEdgeIsExact",
                              "Norm2OfHugeVectorDoesNotOverflow",
                              "FrobeniusNormOfTinyMatrixIsNotZero",
                              "NormInsideAGradientIsScaled",
                              "NearSingularSolveRaises",
                              "ExactlySingularSolveRaisesAClearError",
                              "NearSingularInverseInAGradientRaises",
                              "WellConditionedSolveStillWorks",
                              "AsymmetricSymmetricInputRaises",
                              "NearlySymmetricInputIsSymmetrized",
                              "GramRoundingOffTheDiagonalIsSymmetric",
                              "DetGradientAtTinyScaleIsNotZero",
                              "DetSquaredGradientAtTinyScaleIsNotZero",
                              "DetWhosePivotProductOverflowsIsRepresentable",
                              "DetThatOverflowsRaises",
                              "QuotientByTinyDetIsRepresentable",
                              "OutsideTheDomainRaises",
                              "LogOfANegativeEntryRaises"};
  EXPECT_EQ(std::size(list), cases().size());
  for (const std::string& n : list) EXPECT_NO_THROW(case_named(n)) << n;
}
