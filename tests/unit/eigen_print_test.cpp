// The Eigen / C++ printer (print/eigen.hpp). The generated sources are
// compiled with the system C++ compiler and run on fixed inputs, and their
// values and gradients compared with the engine's evaluator. Compiling Eigen
// code is slow, so the cases share translation units (one namespace per
// case; two units, compiled in parallel) and the compiler runs once per
// unit. Without a compiler or the Eigen headers those tests are skipped,
// saying why.
#include <gtest/gtest.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "diff/gradient.hpp"
#include "eval/evaluate.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/eigen.hpp"
#include "simplify/simplify.hpp"
#include "support/cxx_toolchain.hpp"
#include "support/matrices.hpp"
#include "support/temp_dir.hpp"

using namespace matcalc;
using Eigen::MatrixXd;

namespace {

using matcalc::testing::cpp_double;
using matcalc::testing::M;
using matcalc::testing::toolchain;
using matcalc::testing::Toolchain;
using matcalc::testing::V;

// ------------------------------------------------------------ the cases

struct Case {
  std::string expr;
  std::string decls;
  std::vector<std::string> wrt;
  std::map<std::string, MatrixXd> values;  // by symbol; a scalar is 1 x 1, a vector n x 1
  std::map<std::string, std::string> members = {};  // symbol -> member of Inputs, where renamed
  bool domain_error = false;                   // value() must throw std::domain_error
  std::string hessian = "";                    // an expression for hessian(in), compiled with expr
  std::map<std::string, std::int64_t> dims = {};  // dimensions no input has: Inputs::dim_<name>
};

MatrixXd S(double s) { return MatrixXd::Constant(1, 1, s); }

MatrixXd A3() { return M(3, 3, {4, 1, 0.5, -0.3, 3, 0.2, 0.7, -0.1, 5}); }
MatrixXd B3() { return M(3, 3, {1, 2, -1, 0.5, -2, 3, 1.5, 0.25, -0.75}); }
MatrixXd Spd3() { return M(3, 3, {4, 1, 0.5, 1, 3, -0.2, 0.5, -0.2, 2}); }

std::vector<Case> cases() {
  return {
      // 0: the seed; logdet through Cholesky, a solve and tr(inv(.)).
      {"log(det(W*W' + s^2*I))",
       "W: matrix(n,k); s: scalar",
       {"W", "s"},
       {{"W", M(3, 2, {1, 2, -0.5, 0.3, 0.7, -1.1})}, {"s", S(0.8)}}},
      // 1: a quadratic form: a dot product, a matrix-vector product.
      // (with a Hessian: a third stage)
      {"x'*A*x",
       "x: vector(n); A: matrix(n,n)",
       {"x", "A"},
       {{"x", V({1, -2, 0.5})}, {"A", A3()}},
       {},
       false,
       "A + A'"},
      // 2: least squares.
      {"norm2(A*x - b)^2",
       "A: matrix(m,n); x: vector(n); b: vector(m)",
       {"x"},
       {{"A", M(4, 3, {1, 2, 0, -1, 0.5, 3, 2, -2, 1, 0.3, 0.1, -0.7})},
        {"x", V({0.2, -0.4, 1.1})},
        {"b", V({1, 0, -1, 2})}}},
      // 3: logistic regression, with a margin large enough to overflow a naive exp.
      {"sum(softplus(-y .* (X*w)))",
       "X: matrix(m,n); y: vector(m); w: vector(n)",
       {"w"},
       {{"X", M(5, 3, {1, 2, 0.5, -1, 0.3, 2, 300, -2, 1, 0.5, 0.5, -0.5, -250, 1, 0})},
        {"y", V({1, -1, 1, -1, 1})},
        {"w", V({0.7, -1.2, 2.5})}}},
      // 4: an inverse inside a trace: solves with an LU factorization.
      {"tr(inv(X)*A)", "X: matrix(n,n); A: matrix(n,n)", {"X", "A"}, {{"X", A3()}, {"A", B3()}}},
      // 5: logsumexp, shifted (entries near 700 overflow exp).
      {"logsumexp(A*x)",
       "A: matrix(m,n); x: vector(n)",
       {"x"},
       {{"A", M(3, 2, {700, 1, -2, 3, 350, 0.5})}, {"x", V({1.0, 0.25})}}},
      // 6: kron of vectors (literal dimensions), softmax and reshape in the gradient.
      {"logsumexp(kron(x, y))",
       "x: vector(3); y: vector(2)",
       {"x", "y"},
       {{"x", V({0.1, -0.5, 1.2})}, {"y", V({2.0, -0.3})}}},
      // 7: a symmetric variable: checked, Cholesky, sym(G).
      {"x'*S*x + logdet(S) - tr(S*B)",
       "S: symmetric(n); x: vector(n); B: matrix(n,n)",
       {"S", "x"},
       {{"S", Spd3()}, {"x", V({1, 0.5, -1})}, {"B", B3()}}},
      // 8: elementwise functions.
      {"sum(exp(x) .* sin(x) + cos(x) .* tanh(x)) + sum(sqrt(x .* x + y .* y)) + sum(log(y .* y)) + "
       "sum(tan(x) ./ y) + sum(x.^3)",
       "x: vector(n); y: vector(n)",
       {"x", "y"},
       {{"x", V({0.3, -0.8, 1.1, 0.05})}, {"y", V({1.5, -0.7, 0.9, 2.0})}}},
      // 9: cross entropy of a softmax.
      {"y'*log(softmax(A*x))",
       "A: matrix(m,n); x: vector(n); y: vector(m)",
       {"x"},
       {{"A", M(3, 2, {1, -1, 0.5, 2, -0.3, 0.8})}, {"x", V({0.4, -1.3})}, {"y", V({0.2, 0.5, 0.3})}}},
      // 10: an inverse on the right (a transposed solve) and an outer product.
      {"x'*inv(A)*x + det(A)", "x: vector(n); A: matrix(n,n)", {"A", "x"}, {{"x", V({1, -2, 0.5})}, {"A", A3()}}},
      // 11: matrix power, diag both ways, vec and reshape.
      {"tr(X^3) + sum(diag(X) .* x) + x'*diag(x)*x + sum(exp(vec(A*X)))",
       "X: matrix(n,n); x: vector(n); A: matrix(n,n)",
       {"X", "x"},
       {{"X", M(3, 3, {0.4, 0.1, -0.2, 0.3, -0.5, 0.2, 0.1, 0.6, 0.3})}, {"x", V({1, -0.5, 2})}, {"A", B3()}}},
      // 12: sigmoid, relu, sign, abs (away from their kinks), norm1.
      {"sum(sigmoid(A*x)) + sum(relu(A*x)) + norm1(x) + sum(sign(x) .* x) + sum(abs(A*x))",
       "A: matrix(m,n); x: vector(n)",
       {"x", "A"},
       {{"A", M(3, 2, {1, -1, 0.5, 2, -0.3, 0.8})}, {"x", V({0.4, -1.3})}}},
      // 13: C++ keywords as symbol names, a scalar variable, an outer product.
      {"new*sum(exp(x)) + class'*x + new^2*norm2(x*class')",
       "x: vector(n); new: scalar; class: vector(n)",
       {"new", "class", "x"},
       {{"x", V({0.1, 0.2, -0.3})}, {"new", S(1.5)}, {"class", V({2, -1, 0.5})}},
       {{"new", "new_"}, {"class", "class_"}}},
      // 14: a Frobenius product and a scalar function of a scalar.
      {"exp(x'*A*x/10) + A : (B*A) + sym(A) : B",
       "x: vector(n); A: matrix(n,n); B: matrix(n,n)",
       {"A"},
       {{"x", V({0.3, -0.2, 0.1})}, {"A", A3()}, {"B", B3()}}},
      // 15: logdet of a matrix whose determinant is negative: std::domain_error.
      {"logdet(A)", "A: matrix(n,n)", {"A"}, {{"A", M(2, 2, {0, 1, 1, 0})}}, {}, true},
      // 16: a dimension that no input has comes from Inputs::dim_n.
      {"s*sum(ones(n)) + s^3", "s: scalar", {"s"}, {{"s", S(0.7)}}, {}, false, "", {{"n", 4}}},
      // 17: a scalar broadcast onto a vector (lowered to b*ones(m)): Eigen keeps
      // VectorXd::Ones, and the gradient w.r.t. the broadcast scalar is a sum.
      {"sum(log(1 + exp(-y .* (X*w + b)))) + norm2(w - 1)^2",
       "X: matrix(m,n); y: vector(m); w: vector(n); b: scalar",
       {"w", "b"},
       {{"X", M(4, 3, {1, 2, 0.5, -1, 0.3, 2, 0.2, -2, 1, 0.5, 0.5, -0.5})},
        {"y", V({1, -1, 1, -1})},
        {"w", V({0.7, -1.2, 0.4})},
        {"b", S(0.3)}}},
  };
}

// ------------------------------------------------------------ building

using matcalc::testing::TempDir;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A C++ compiler and the Eigen headers, or the reason there are none.

// One case's part of the driver: fill Inputs, call value and gradient, print.
std::string driver_block(std::size_t i, const Case& c, const std::map<std::string, Expr>& symbols) {
  const std::string ns = "case_" + std::to_string(i);
  auto member = [&](const std::string& name) {
    auto it = c.members.find(name);
    return it == c.members.end() ? name : it->second;
  };
  std::string s = "  {\n    " + ns + "::Inputs in;\n";
  for (const auto& [name, value] : c.values) {
    Expr sym = symbols.at(name);
    std::string m = "in." + member(name);
    if (sym->is_scalar()) {
      s += "    " + m + " = " + cpp_double(value(0, 0)) + ";\n";
      continue;
    }
    bool col = sym->shape.is_col();
    s += "    " + m + " = " + (col ? "Eigen::VectorXd(" : "Eigen::MatrixXd(") + std::to_string(value.rows()) +
         (col ? "" : ", " + std::to_string(value.cols())) + ");\n    " + m + " << ";
    for (Eigen::Index r = 0; r < value.rows(); ++r)
      for (Eigen::Index k = 0; k < value.cols(); ++k) s += (r || k ? ", " : "") + cpp_double(value(r, k));
    s += ";\n";
  }
  for (const auto& [name, size] : c.dims) s += "    in.dim_" + name + " = " + std::to_string(size) + ";\n";
  s += "    try {\n";
  s += "      const double v = " + ns + "::value(in);\n";
  s += "      out(" + std::to_string(i) + ", \"value\", v);\n";
  s += "      " + ns + "::Gradient g;\n";
  s += "      const double v2 = " + ns + "::value_and_gradient(in, g);\n";
  s += "      out(" + std::to_string(i) + ", \"value2\", v2);\n";
  s += "      const " + ns + "::Gradient g2 = " + ns + "::gradient(in);\n";
  for (const std::string& w : c.wrt) {
    s += "      out(" + std::to_string(i) + ", \"d_" + w + "\", g." + member(w) + ");\n";
    s += "      out(" + std::to_string(i) + ", \"d2_" + w + "\", g2." + member(w) + ");\n";
  }
  if (!c.hessian.empty()) s += "      out(" + std::to_string(i) + ", \"hessian\", " + ns + "::hessian(in));\n";
  s += "    } catch (const std::domain_error& e) {\n";
  s += "      std::printf(\"R " + std::to_string(i) + " domain_error 0 0\\n\");\n";
  s += "    }\n  }\n";
  return s;
}

constexpr const char* kDriverHead = R"(
#include <cstdio>
template <class D>
static void out(int c, const char* label, const Eigen::MatrixBase<D>& m) {
  std::printf("R %d %s %ld %ld", c, label, static_cast<long>(m.rows()), static_cast<long>(m.cols()));
  for (Eigen::Index j = 0; j < m.cols(); ++j)
    for (Eigen::Index i = 0; i < m.rows(); ++i) std::printf(" %.17g", m(i, j));
  std::printf("\n");
}
static void out(int c, const char* label, double v) { std::printf("R %d %s 1 1 %.17g\n", c, label, v); }
)";

// The cases are split over this many translation units, compiled in parallel
// (g++ spends ~1.5 s per case instantiating Eigen templates).
constexpr std::size_t kParts = 2;

struct Expected {
  MatrixXd value, hessian;
  std::map<std::string, MatrixXd> gradients;
};

// Everything about the run, computed once for all tests.
struct CompiledRun {
  std::string skipped;  // why it did not run
  std::string failure;  // why it did not build or run
  std::vector<std::string> sources;
  std::vector<Expected> expected;
  std::map<std::string, MatrixXd> results;  // "case/label"
};

const CompiledRun& compiled_run() {
  static const CompiledRun r = [] {
    CompiledRun run;
    const std::vector<Case> cs = cases();
    std::vector<std::string> units(kParts), drivers(kParts);
    for (std::size_t k = 0; k < kParts; ++k) drivers[k] = std::string(kDriverHead) + "void run_part_" + std::to_string(k) + "() {\n";
    for (std::size_t i = 0; i < cs.size(); ++i) {
      const std::size_t part = i * kParts / cs.size();
      const Case& c = cs[i];
      Context cx;
      TypedProgram p = compile(cx, c.expr, c.decls);
      Expr f = simplify(p.expr);
      std::vector<Expr> xs;
      for (const std::string& w : c.wrt) xs.push_back(p.symbols.at(w));
      std::vector<Expr> gs = gradients(f, xs);
      ModuleSpec spec;
      spec.value = f;
      spec.symbols = p.symbols;
      spec.source = c.expr;
      for (std::size_t k = 0; k < xs.size(); ++k) spec.gradients.push_back({c.wrt[k], gs[k]});
      if (!c.hessian.empty()) spec.hessian = compile(cx, c.hessian, c.decls).expr;
      EigenOptions opt;
      opt.namespace_name = "case_" + std::to_string(i);
      run.sources.push_back(to_eigen_source(spec, opt));
      units[part] += run.sources.back() + "\n";
      drivers[part] += driver_block(i, c, p.symbols);

      Expected e;
      Bindings b;
      b.values = c.values;
      b.dims = c.dims;
      if (!c.domain_error) {
        if (spec.hessian) e.hessian = evaluate(spec.hessian, b);
        std::vector<Expr> roots = {f};
        roots.insert(roots.end(), gs.begin(), gs.end());
        std::vector<MatrixXd> vals = evaluate(roots, b);
        e.value = vals[0];
        for (std::size_t k = 0; k < xs.size(); ++k) e.gradients[c.wrt[k]] = vals[k + 1];
      }
      run.expected.push_back(std::move(e));
    }
    for (std::size_t k = 0; k < kParts; ++k) drivers[k] += "}\n";
    drivers[0] += "\n";
    for (std::size_t k = 1; k < kParts; ++k) drivers[0] += "void run_part_" + std::to_string(k) + "();\n";
    drivers[0] += "int main() {\n";
    for (std::size_t k = 0; k < kParts; ++k) drivers[0] += "  run_part_" + std::to_string(k) + "();\n";
    drivers[0] += "  return 0;\n}\n";

    const Toolchain& tc = toolchain();
    if (!tc.missing.empty()) {
      run.skipped = tc.missing;
      return run;
    }
    TempDir tmp;
    // MATCALC_EIGEN_TEST_DIR keeps the generated program there, for debugging.
    const char* keep = std::getenv("MATCALC_EIGEN_TEST_DIR");
    struct {
      std::filesystem::path p;
      const std::filesystem::path& path() const { return p; }
    } dir{keep && *keep ? std::filesystem::path(keep) : tmp.path()};
    // Compile the parts in parallel, then link.
    const std::string exe = (dir.path() / "generated").string();
    std::string cmd = "pids=''; ", objects, logs;
    for (std::size_t k = 0; k < kParts; ++k) {
      const std::string base = (dir.path() / ("generated" + std::to_string(k))).string();
      std::ofstream(base + ".cpp") << units[k] << drivers[k];
      cmd += tc.cxx + " -std=c++17 -O0 -Wall -Wextra -I" + tc.eigen_include + " -c " + base + ".cpp -o " + base +
             ".o >" + base + ".txt 2>&1 & pids=\"$pids $!\"; ";
      objects += " " + base + ".o";
      logs += " " + base + ".txt";
    }
    cmd += "ok=0; for p in $pids; do wait $p || ok=1; done; cat" + logs + " >" + (dir.path() / "cc.txt").string() +
           "; [ $ok = 0 ] && " + tc.cxx + " -o " + exe + objects + " >>" + (dir.path() / "cc.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      run.failure = "the generated code did not compile:\n" + slurp(dir.path() / "cc.txt");
      return run;
    }
    std::string warnings = slurp(dir.path() / "cc.txt");
    if (!warnings.empty()) run.failure = "the generated code compiled with warnings:\n" + warnings;
    if (std::system((exe + " >" + (dir.path() / "out.txt").string() + " 2>&1").c_str()) != 0) {
      run.failure += "the generated code did not run:\n" + slurp(dir.path() / "out.txt");
      return run;
    }
    std::istringstream in(slurp(dir.path() / "out.txt"));
    std::string tag, label;
    int c;
    long rows, cols;
    while (in >> tag >> c >> label >> rows >> cols) {
      MatrixXd m(rows, cols);
      for (long j = 0; j < cols; ++j)
        for (long i = 0; i < rows; ++i) in >> m(i, j);
      run.results[std::to_string(c) + "/" + label] = m;
    }
    return run;
  }();
  return r;
}

#define REQUIRE_RUN()                                              \
  const CompiledRun& r = compiled_run();                                          \
  if (!r.skipped.empty()) GTEST_SKIP() << r.skipped;               \
  ASSERT_TRUE(r.failure.empty()) << r.failure

// max |got - want| <= 1e-10 * max(1, max |want|)
::testing::AssertionResult close(const MatrixXd& got, const MatrixXd& want) {
  if (got.rows() != want.rows() || got.cols() != want.cols())
    return ::testing::AssertionFailure() << "got " << got.rows() << " x " << got.cols() << ", want " << want.rows()
                                         << " x " << want.cols();
  double scale = std::max(1.0, want.cwiseAbs().maxCoeff());
  double err = (got - want).cwiseAbs().maxCoeff();
  if (err <= 1e-10 * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "error " << err << " (scale " << scale << ")\ngot\n"
                                       << got << "\nwant\n"
                                       << want;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

std::string generate(const std::string& expr, const std::string& decls, const std::vector<std::string>& wrt) {
  Context cx;
  TypedProgram p = compile(cx, expr, decls);
  Expr f = simplify(p.expr);
  std::vector<Expr> xs;
  for (const std::string& w : wrt) xs.push_back(p.symbols.at(w));
  std::vector<Expr> gs = gradients(f, xs);
  ModuleSpec spec;
  spec.value = f;
  spec.symbols = p.symbols;
  spec.source = expr;
  for (std::size_t k = 0; k < xs.size(); ++k) spec.gradients.push_back({wrt[k], gs[k]});
  return to_eigen_source(spec);
}

}  // namespace

// ------------------------------------------------------------ the text

TEST(EigenPrint, SeedShape) {
  std::string src = generate("log(det(W*W' + s^2*I))", "W: matrix(n,k); s: scalar", {"W", "s"});
  // Only the four headers; the namespace and the structs of the contract.
  EXPECT_EQ(count(src, "#include"), 4u) << src;
  for (const char* h : {"<Eigen/Dense>", "<cmath>", "<stdexcept>", "<string>"})
    EXPECT_NE(src.find(std::string("#include ") + h), std::string::npos) << h;
  EXPECT_NE(src.find("namespace matcalc_generated {"), std::string::npos) << src;
  EXPECT_NE(src.find("  Eigen::MatrixXd W;"), std::string::npos) << src;
  EXPECT_NE(src.find("  double s = 0.0;"), std::string::npos) << src;
  EXPECT_NE(src.find("struct Gradient {"), std::string::npos) << src;
  EXPECT_NE(src.find("inline double value(const Inputs& in)"), std::string::npos) << src;
  EXPECT_NE(src.find("inline Gradient gradient(const Inputs& in)"), std::string::npos) << src;
  // Dimensions from the sizes; W*W' + s^2*I formed once, into one factorization
  // (symmetric: Cholesky first) that logdet and the solve share.
  EXPECT_NE(src.find("d_n = in.W.rows();"), std::string::npos) << src;
  EXPECT_NE(src.find("d_k = in.W.cols();"), std::string::npos) << src;
  EXPECT_EQ(count(src, "in.W * in.W.transpose()"), 1u) << src;
  EXPECT_EQ(count(src, "const detail::Factor fac"), 1u) << src;
  EXPECT_NE(src.find(", true);"), std::string::npos) << src;
  EXPECT_NE(src.find(".log_det()"), std::string::npos) << src;
  EXPECT_NE(src.find(".solve(in.W)"), std::string::npos) << src;
}

TEST(EigenPrint, OneVariableIsStillAStruct) {
  std::string src = generate("x'*A*x", "x: vector(n); A: matrix(n,n)", {"x"});
  EXPECT_NE(src.find("struct Gradient {\n  Eigen::VectorXd x;"), std::string::npos) << src;
  EXPECT_NE(src.find("  Eigen::VectorXd x;"), std::string::npos) << src;
  EXPECT_NE(src.find(".dot("), std::string::npos) << src;  // x'*(A*x) is a dot product
}

TEST(EigenPrint, SolvesNotInverses) {
  std::string src = generate("x'*inv(A)*x + tr(inv(X)*B)", "x: vector(n); A: matrix(n,n); X: matrix(n,n); B: matrix(n,n)",
                             {"A", "x", "X"});
  EXPECT_EQ(count(src, "const detail::Factor fac"), 2u) << src;  // one per matrix
  EXPECT_NE(src.find(".solve_transposed("), std::string::npos) << src;
}

TEST(EigenPrint, SharedSubexpressionsAreTemporaries) {
  std::string src = generate("sum(exp(A*x)) + norm2(exp(A*x))^2", "x: vector(n); A: matrix(m,n)", {"x"});
  EXPECT_EQ(count(src, "(in.A * in.x).array().exp()"), 1u) << src;
  EXPECT_NE(src.find("const Eigen::VectorXd t0 = "), std::string::npos) << src;
}

TEST(EigenPrint, KeywordAndReservedNamesAreRenamed) {
  std::string src =
      generate("new*sum(exp(x)) + class'*x", "x: vector(n); new: scalar; class: vector(n)", {"new", "class"});
  EXPECT_NE(src.find("  double new_ = 0.0;  // scalar, the symbol new (renamed"), std::string::npos) << src;
  EXPECT_NE(src.find("  Eigen::VectorXd class_;"), std::string::npos) << src;
  EXPECT_NE(src.find("in.new_"), std::string::npos) << src;
  EXPECT_EQ(src.find("in.new "), std::string::npos) << src;
}

TEST(EigenPrint, NamespaceOption) {
  Context cx;
  TypedProgram p = compile(cx, "sum(x)", "x: vector(n)");
  ModuleSpec spec;
  spec.value = p.expr;
  spec.symbols = p.symbols;
  EigenOptions opt;
  opt.namespace_name = "my_model";
  std::string src = to_eigen_source(spec, opt);
  EXPECT_NE(src.find("namespace my_model {"), std::string::npos) << src;
  EXPECT_NE(src.find("#ifndef MY_MODEL_H_"), std::string::npos) << src;
  EXPECT_EQ(src.find("struct Gradient"), std::string::npos) << src;  // no --wrt, no gradient
  opt.namespace_name = "not a name";
  EXPECT_THROW(to_eigen_source(spec, opt), Error);
}

// ------------------------------------------------------------ compiled

TEST(EigenCompiled, ValuesAndGradientsMatchTheEvaluator) {
  REQUIRE_RUN();
  const std::vector<Case> cs = cases();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const Case& c = cs[i];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + c.expr + "\n" + r.sources[i]);
    const std::string k = std::to_string(i) + "/";
    if (c.domain_error) {
      EXPECT_TRUE(r.results.count(k + "domain_error")) << "value() did not throw std::domain_error";
      continue;
    }
    ASSERT_TRUE(r.results.count(k + "value")) << "no output";
    EXPECT_TRUE(close(r.results.at(k + "value"), r.expected[i].value)) << "value";
    EXPECT_TRUE(close(r.results.at(k + "value2"), r.expected[i].value)) << "value_and_gradient";
    if (!c.hessian.empty()) {
      ASSERT_TRUE(r.results.count(k + "hessian")) << "no Hessian";
      EXPECT_TRUE(close(r.results.at(k + "hessian"), r.expected[i].hessian)) << "hessian";
    }
    for (const std::string& w : c.wrt) {
      ASSERT_TRUE(r.results.count(k + "d_" + w)) << "no gradient for " << w;
      EXPECT_TRUE(close(r.results.at(k + "d_" + w), r.expected[i].gradients.at(w))) << "gradient " << w;
      EXPECT_TRUE(close(r.results.at(k + "d2_" + w), r.expected[i].gradients.at(w))) << "gradient() " << w;
    }
  }
}
