// Printers: LaTeX strings, the JSON tree, and the NumPy / PyTorch modules.
// The Python modules are run by a real interpreter on concrete values and
// compared with values computed here with Eigen; without an interpreter that
// can import numpy (or torch) those tests are skipped, saying why.
#include <gtest/gtest.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "ir/builders.hpp"
#include "parse/typecheck.hpp"
#include "print/json.hpp"
#include "print/latex.hpp"
#include "print/numpy.hpp"
#include "support/python_module.hpp"
#include "support/temp_dir.hpp"

using namespace matcalc;
using nlohmann::json;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using Eigen::ArrayXd;

namespace {

std::string latex(const std::string& expr, const std::string& decls = "") {
  Context cx;
  return to_latex(compile(cx, expr, decls).expr);
}

constexpr const char* kMats = "A: matrix(n,n); B: matrix(n,n); C: matrix(n,n); x: vector(n); y: vector(n)";

}  // namespace

// ------------------------------------------------------------------ LaTeX

TEST(Latex, TransposeAndProducts) {
  EXPECT_EQ(latex("x'*A*x", kMats), "x^\\top\\,A\\,x");
  EXPECT_EQ(latex("x*y'", kMats), "x\\,y^\\top");
  // (A*B)' is B'*A' by the builders; the printer shows what it is given.
  EXPECT_EQ(latex("(A*B)'", kMats), "B^\\top\\,A^\\top");
}

TEST(Latex, Inverse) {
  EXPECT_EQ(latex("inv(A)", kMats), "A^{-1}");
  EXPECT_EQ(latex("inv(A + B)", kMats), "\\left(A + B\\right)^{-1}");
  EXPECT_EQ(latex("inv(A')", kMats), "A^{-\\top}");
  EXPECT_EQ(latex("inv(A*B)*x", kMats), "\\left(A\\,B\\right)^{-1}\\,x");
}

TEST(Latex, TraceDetLogdet) {
  EXPECT_EQ(latex("tr(A*B)", kMats), "\\operatorname{tr}\\left(A\\,B\\right)");
  EXPECT_EQ(latex("logdet(A)", kMats), "\\log\\det\\left(A\\right)");
  EXPECT_EQ(latex("det(A)", kMats), "\\det\\left(A\\right)");
  // log(det(X)) is a rule of the simplifier, not of the printer.
  EXPECT_EQ(latex("log(det(A))", kMats), "\\log\\left(\\det\\left(A\\right)\\right)");
}

TEST(Latex, ElementwiseAndKron) {
  EXPECT_EQ(latex("x .* y", kMats), "x \\odot y");
  EXPECT_EQ(latex("x ./ y", kMats), "x \\oslash y");
  EXPECT_EQ(latex("x.^3", kMats), "x^{\\circ 3}");
  EXPECT_EQ(latex("kron(A, B)", kMats), "A \\otimes B");
  EXPECT_EQ(latex("kron(A*B, C)", kMats), "\\left(A\\,B\\right) \\otimes C");
  EXPECT_EQ(latex("kron(kron(A, B), C)", kMats), "A \\otimes B \\otimes C");
  EXPECT_EQ(latex("(A .* B)*C", kMats), "\\left(A \\odot B\\right)\\,C");
}

TEST(Latex, Fractions) {
  EXPECT_EQ(latex("a/b", "a: scalar; b: scalar"), "\\frac{a}{b}");
  EXPECT_EQ(latex("a/(2*b)", "a: scalar; b: scalar"), "\\frac{a}{2\\,b}");
  EXPECT_EQ(latex("x/2", kMats), "\\frac{1}{2}\\,x");
  EXPECT_EQ(latex("-A/s", std::string(kMats) + "; s: scalar"), "-\\frac{1}{s}\\,A");
  EXPECT_EQ(latex("3*a/(b + c)", "a: scalar; b: scalar; c: scalar"), "\\frac{3\\,a}{b + c}");
  EXPECT_EQ(latex("(a + b)/(c*d)", "a: scalar; b: scalar; c: scalar; d: scalar"), "\\frac{a + b}{c\\,d}");
  EXPECT_EQ(latex("a/((b + c)*d)", "a: scalar; b: scalar; c: scalar; d: scalar"),
            "\\frac{a}{d\\,\\left(b + c\\right)}");  // factors in canonical order
}

TEST(Latex, MinimalParentheses) {
  EXPECT_EQ(latex("(A + B)*C", kMats), "\\left(A + B\\right)\\,C");
  EXPECT_EQ(latex("A*B + C", kMats), "C + A\\,B");  // terms in canonical order
  EXPECT_EQ(latex("A - (B + C)", kMats), "A - B - C");  // the builders flatten
  EXPECT_EQ(latex("A^2'", kMats), "\\left(A^\\top\\right)^{2}");
  EXPECT_EQ(latex("(a + b)^2", "a: scalar; b: scalar"), "\\left(a + b\\right)^{2}");
  EXPECT_EQ(latex("a^(b + c)", "a: scalar; b: scalar; c: scalar"), "a^{b + c}");
}

TEST(Latex, NumbersAndSymbols) {
  EXPECT_EQ(latex("2.5*x", kMats), "2.5\\,x");
  EXPECT_EQ(latex("1.5e-7*x", kMats), "1.5 \\cdot 10^{-7}\\,x");
  EXPECT_EQ(latex("2*3^a", "a: scalar"), "2 \\cdot 3^{a}");
  EXPECT_EQ(latex("lambda*x", std::string(kMats) + "; lambda: scalar"), "\\lambda\\,x");
  EXPECT_EQ(latex("Sigma*x", std::string(kMats) + "; Sigma: matrix(n,n)"), "\\Sigma\\,x");
  EXPECT_EQ(latex("rate*x", std::string(kMats) + "; rate: scalar"), "\\mathit{rate}\\,x");
  EXPECT_EQ(latex("x1 + x_max", "x1: vector(n); x_max: vector(n)"), "x_{1} + x_{\\mathit{max}}");
}

TEST(Latex, Functions) {
  EXPECT_EQ(latex("norm2(x)", kMats), "\\left\\|x\\right\\|_2");
  EXPECT_EQ(latex("norm2(A)", kMats), "\\left\\|A\\right\\|_F");
  EXPECT_EQ(latex("norm1(x)", kMats), "\\left\\|x\\right\\|_1");
  EXPECT_EQ(latex("sqrt(x'*x)", kMats), "\\sqrt{x^\\top\\,x}");
  EXPECT_EQ(latex("exp(x)", kMats), "\\exp\\left(x\\right)");
  EXPECT_EQ(latex("diag(x)", kMats), "\\operatorname{diag}\\left(x\\right)");
  EXPECT_EQ(latex("vec(A)", kMats), "\\operatorname{vec}\\left(A\\right)");
  EXPECT_EQ(latex("sym(A)", kMats), "\\operatorname{sym}\\left(A\\right)");
  EXPECT_EQ(latex("ones(n)'*A", kMats), "\\mathbf{1}_{n}^\\top\\,A");  // ones(n)'*x is sum(x)
}

TEST(Latex, IdentitySizeOnlyWhereNeeded) {
  EXPECT_EQ(latex("A + s*I", std::string(kMats) + "; s: scalar"), "A + s\\,I");
  EXPECT_EQ(latex("eye(n)", kMats), "I_{n}");
}

TEST(Latex, EveryOperatorPrints) {
  // One expression per operator family; none may print empty.
  const char* exprs[] = {"x", "2", "eye(n)", "zeros(n,n)", "ones(n)", "x + y", "2*x", "a^b", "A^3",
                         "x .* y", "x ./ y", "x.^a", "A'", "tr(A)", "det(A)", "logdet(A)", "inv(A)",
                         "diag(x)", "diag(A)", "sum(x)", "norm2(x)", "norm1(x)", "vec(A)",
                         "reshape(x, 1, n)", "kron(A, B)", "sym(A)", "logsumexp(x)", "softmax(x)",
                         "exp(x)", "log(x)", "sqrt(x)", "sin(x)", "cos(x)", "tan(x)", "tanh(x)",
                         "abs(x)", "sign(x)", "sigmoid(x)", "softplus(x)", "relu(x)"};
  for (const char* e : exprs) EXPECT_FALSE(latex(e, std::string(kMats) + "; a: scalar; b: scalar").empty()) << e;
}

// ------------------------------------------------------------------ JSON

TEST(Json, TreeStructure) {
  Context cx;
  auto p = compile(cx, "x'*A*x + 2", "x: vector(n); A: symmetric(n)");
  json j = to_json_tree(p.expr);
  EXPECT_EQ(j["op"], "Add");
  EXPECT_EQ(j["shape"], json::array({"1", "1"}));
  EXPECT_EQ(j["symmetric"], true);
  ASSERT_TRUE(j.contains("text"));
  EXPECT_EQ(j["text"], "2 + x'*A*x");
  ASSERT_EQ(j["args"].size(), 2u);
  const json& c = j["args"][0];
  EXPECT_EQ(c["op"], "Const");
  EXPECT_EQ(c["value"], 2.0);
  EXPECT_TRUE(c["args"].empty());
  const json& prod = j["args"][1];
  EXPECT_EQ(prod["op"], "Mul");
  ASSERT_EQ(prod["args"].size(), 3u);
  EXPECT_EQ(prod["args"][0]["op"], "Transpose");
  EXPECT_EQ(prod["args"][0]["shape"], json::array({"1", "n"}));
  EXPECT_EQ(prod["args"][0]["args"][0]["name"], "x");
  EXPECT_EQ(prod["args"][1]["name"], "A");
  EXPECT_EQ(prod["args"][1]["symmetric"], true);
  EXPECT_EQ(prod["args"][1]["shape"], json::array({"n", "n"}));
  EXPECT_FALSE(prod["args"][1].contains("text"));  // the text form only at the root
}

TEST(Json, PayloadsAndCompoundDims) {
  Context cx;
  auto p = compile(cx, "tr(X^3) + sum(vec(W))", "X: matrix(n,n); W: matrix(n,k)");
  json j = to_json_tree(p.expr);
  std::string dumped = j.dump();
  EXPECT_NE(dumped.find("\"power\":3"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\"k*n\""), std::string::npos) << dumped;  // vec(W) is (n*k) x 1
  EXPECT_NE(dumped.find("\"op\":\"MatPow\""), std::string::npos) << dumped;
}

// ------------------------------------------------------------------ NumPy

namespace {

// The interpreter, the driver and run_module() are tests/support/python_module.hpp's.
using matcalc::testing::numpy_python;
using matcalc::testing::python_with;
using matcalc::testing::run_module;
using matcalc::testing::TempDir;

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

json rows(const MatrixXd& m) {
  json j = json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    json r = json::array();
    for (Eigen::Index c = 0; c < m.cols(); ++c) r.push_back(m(i, c));
    j.push_back(r);
  }
  return j;
}
json list(const VectorXd& v) {
  json j = json::array();
  for (Eigen::Index i = 0; i < v.size(); ++i) j.push_back(v(i));
  return j;
}

bool close(double got, double want) { return std::fabs(got - want) <= 1e-9 * (1 + std::fabs(want)); }

void expect_scalar(const json& enc, double want, const std::string& type = "float") {
  ASSERT_TRUE(enc.is_object()) << enc;
  EXPECT_EQ(enc["type"], type);
  double got = enc["data"].get<double>();
  EXPECT_TRUE(close(got, want)) << "got " << got << ", want " << want;
}

void expect_vector(const json& enc, const VectorXd& want) {
  ASSERT_TRUE(enc.is_object()) << enc;
  ASSERT_EQ(enc["shape"], json::array({want.size()})) << enc;
  for (Eigen::Index i = 0; i < want.size(); ++i)
    EXPECT_TRUE(close(enc["data"][i].get<double>(), want(i)))
        << "entry " << i << ": got " << enc["data"][i] << ", want " << want(i);
}

void expect_matrix(const json& enc, const MatrixXd& want) {
  ASSERT_TRUE(enc.is_object()) << enc;
  ASSERT_EQ(enc["shape"], json::array({want.rows(), want.cols()})) << enc;
  for (Eigen::Index i = 0; i < want.rows(); ++i)
    for (Eigen::Index c = 0; c < want.cols(); ++c)
      EXPECT_TRUE(close(enc["data"][i][c].get<double>(), want(i, c)))
          << "entry (" << i << "," << c << "): got " << enc["data"][i][c] << ", want " << want(i, c);
}

// f and hand-written gradients compiled in one context, so symbols are shared.
ModuleSpec make_spec(Context& cx, const std::string& f, const std::string& decls,
                     const std::vector<std::pair<std::string, std::string>>& grads) {
  ModuleSpec spec;
  auto p = compile(cx, f, decls);
  spec.value = p.expr;
  spec.symbols = p.symbols;
  spec.source = f;
  for (const auto& [name, text] : grads) spec.gradients.push_back({name, compile(cx, text, decls).expr});
  return spec;
}

#define REQUIRE_NUMPY()                                                                          \
  if (!numpy_python()) GTEST_SKIP() << "no Python interpreter here can import numpy "           \
                                       "(tried /usr/bin/python3, python3, python)";              \
  const std::string& py = *numpy_python()

MatrixXd mat3() {
  MatrixXd A(3, 3);
  A << 4, 1, 0.5, -0.3, 3, 0.2, 0.7, -0.1, 5;
  return A;
}
MatrixXd mat3b() {
  MatrixXd B(3, 3);
  B << 1, 2, -1, 0.5, -2, 3, 1.5, 0.25, -0.75;
  return B;
}
VectorXd vec3(double a, double b, double c) {
  VectorXd v(3);
  v << a, b, c;
  return v;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Numpy, LogdetSharedTemporaryAndSolve) {
  Context cx;
  const std::string decls = "W: matrix(n,k); s: scalar";
  ModuleSpec spec = make_spec(cx, "logdet(W*W' + s^2*I)", decls,
                              {{"W", "2*inv(W*W' + s^2*I)*W"}, {"s", "2*s*tr(inv(W*W' + s^2*I))"}});
  std::string mod = to_python_module(spec);
  // Imports numpy only; W*W' + s^2*I is formed once; inv(.)*W is a solve.
  EXPECT_NE(mod.find("import numpy as np\n"), std::string::npos);
  EXPECT_EQ(count(mod, "import "), 1u) << mod;
  EXPECT_EQ(count(mod, "x_W @ x_W.T"), 1u) << mod;
  EXPECT_NE(mod.find("np.linalg.solve("), std::string::npos) << mod;
  EXPECT_NE(mod.find("np.linalg.slogdet("), std::string::npos) << mod;
  EXPECT_NE(mod.find("d_n = x_W.shape[0]"), std::string::npos) << mod;

  REQUIRE_NUMPY();
  MatrixXd W(3, 2);
  W << 1, 2, -0.5, 0.3, 0.7, -1.1;
  double s = 0.8;
  MatrixXd M = W * W.transpose() + s * s * MatrixXd::Identity(3, 3);
  json r = run_module(py, mod, {{"W", rows(W)}, {"s", s}});
  expect_scalar(r["value"], std::log(M.determinant()));
  expect_matrix(r["gradient"]["W"], 2 * M.inverse() * W);
  expect_scalar(r["gradient"]["s"], 2 * s * M.inverse().trace());
}

TEST(Numpy, QuadraticFormVectorGradientIsOneD) {
  Context cx;
  const std::string decls = "x: vector(n); A: matrix(n,n)";
  ModuleSpec spec = make_spec(cx, "x'*A*x", decls, {{"x", "(A + A')*x"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd A = mat3();
  VectorXd x = vec3(1, -2, 0.5);
  json r = run_module(py, mod, {{"x", list(x)}, {"A", rows(A)}});
  expect_scalar(r["value"], x.dot(A * x));
  expect_vector(r["gradient"], (A + A.transpose()) * x);
  EXPECT_EQ(r["gradient"]["type"], "ndarray");
}

TEST(Numpy, PythonKeywordAsSymbolName) {
  Context cx;
  const std::string decls = "x: vector(n); lambda: scalar";
  ModuleSpec spec =
      make_spec(cx, "lambda*x'*x + sum(exp(x))", decls, {{"x", "2*lambda*x + exp(x)"}, {"lambda", "x'*x"}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find("x_lambda = _scalar(v, \"lambda\")"), std::string::npos) << mod;
  EXPECT_NE(mod.find("\"lambda\": float(g[1])"), std::string::npos) << mod;
  REQUIRE_NUMPY();
  VectorXd x = vec3(0.1, -0.4, 1.3);
  double lambda = 0.75;
  json r = run_module(py, mod, {{"x", list(x)}, {"lambda", lambda}});
  expect_scalar(r["value"], lambda * x.squaredNorm() + x.array().exp().sum());
  expect_vector(r["gradient"]["x"], 2 * lambda * x + VectorXd(x.array().exp()));
  expect_scalar(r["gradient"]["lambda"], x.squaredNorm());
}

TEST(Numpy, InverseOnTheRightIsATransposedSolve) {
  Context cx;
  const std::string decls = "A: matrix(n,n); B: matrix(n,n)";
  ModuleSpec spec = make_spec(cx, "tr(inv(A)*B)", decls, {{"A", "-inv(A')*B'*inv(A')"}});
  std::string mod = to_python_module(spec);
  EXPECT_EQ(mod.find(".inverse()"), std::string::npos) << mod;  // only solves
  REQUIRE_NUMPY();
  MatrixXd A = mat3(), B = mat3b();
  json r = run_module(py, mod, {{"A", rows(A)}, {"B", rows(B)}});
  expect_scalar(r["value"], (A.inverse() * B).trace());
  MatrixXd Ait = A.inverse().transpose();
  expect_matrix(r["gradient"], -Ait * B.transpose() * Ait);
}

TEST(Numpy, RowTimesInverseAndOnes) {
  Context cx;
  const std::string decls = "A: matrix(n,n); y: vector(n)";
  ModuleSpec spec = make_spec(cx, "sum(y'*inv(A))", decls, {{"y", "inv(A)*ones(n)"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd A = mat3();
  VectorXd y = vec3(0.3, 1.2, -0.9);
  json r = run_module(py, mod, {{"A", rows(A)}, {"y", list(y)}});
  expect_scalar(r["value"], (y.transpose() * A.inverse()).sum());
  expect_vector(r["gradient"], A.inverse() * VectorXd::Ones(3));
}

TEST(Numpy, LogSumExpAndSoftmaxAreShifted) {
  Context cx;
  const std::string decls = "A: matrix(m,n); x: vector(n)";
  ModuleSpec spec = make_spec(cx, "logsumexp(A*x)", decls, {{"x", "A'*softmax(A*x)"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd A(2, 3);
  A << 400, 1, 2, -3, 350, 1;  // exp(A*x) overflows unshifted
  VectorXd x = vec3(1, 0.5, -0.25);
  VectorXd z = A * x;
  double m = z.maxCoeff();
  double lse = m + std::log((z.array() - m).exp().sum());
  VectorXd sm = (z.array() - lse).exp();
  json r = run_module(py, mod, {{"A", rows(A)}, {"x", list(x)}});
  expect_scalar(r["value"], lse);
  expect_vector(r["gradient"], A.transpose() * sm);
}

TEST(Numpy, StableSigmoidSoftplusRelu) {
  Context cx;
  const std::string decls = "x: vector(n)";
  ModuleSpec spec = make_spec(cx, "sum(sigmoid(x)) + sum(softplus(x)) + sum(relu(x))", decls,
                              {{"x", "sigmoid(x) .* (ones(n) - sigmoid(x)) + sigmoid(x) + sign(relu(x))"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  VectorXd x(4);
  x << 800, -800, 0.5, -1.5;
  auto sig = [](double t) { return t >= 0 ? 1 / (1 + std::exp(-t)) : std::exp(t) / (1 + std::exp(t)); };
  auto sp = [](double t) { return std::max(t, 0.0) + std::log1p(std::exp(-std::fabs(t))); };
  double f = 0;
  VectorXd g(4);
  for (int i = 0; i < 4; ++i) {
    f += sig(x(i)) + sp(x(i)) + std::max(x(i), 0.0);
    g(i) = sig(x(i)) * (1 - sig(x(i))) + sig(x(i)) + (x(i) > 0 ? 1 : 0);
  }
  json r = run_module(py, mod, {{"x", list(x)}});
  expect_scalar(r["value"], f);
  expect_vector(r["gradient"], g);
}

TEST(Numpy, FrobeniusAndOneNorms) {
  Context cx;
  const std::string decls = "W: matrix(n,k)";
  ModuleSpec spec = make_spec(cx, "norm2(W) + norm1(W)", decls, {{"W", "W/norm2(W) + sign(W)"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd W(2, 3);
  W << 1, -2, 0.5, 3, -0.25, 2;
  json r = run_module(py, mod, {{"W", rows(W)}});
  expect_scalar(r["value"], W.norm() + W.cwiseAbs().sum());
  expect_matrix(r["gradient"], W / W.norm() + MatrixXd(W.array().sign()));
}

TEST(Numpy, DeterminantAndStandaloneInverse) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "det(A)", "A: matrix(n,n)", {{"A", "det(A)*inv(A')"}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find("np.linalg.det("), std::string::npos) << mod;
  REQUIRE_NUMPY();
  MatrixXd A = mat3();
  json r = run_module(py, mod, {{"A", rows(A)}});
  expect_scalar(r["value"], A.determinant());
  expect_matrix(r["gradient"], A.determinant() * A.inverse().transpose());
}

TEST(Numpy, KroneckerOfEveryShape) {
  Context cx;
  const std::string decls = "x: vector(2); y: vector(3); z: vector(6); C: matrix(2,3); A: matrix(2,2); B: matrix(3,3)";
  ModuleSpec spec = make_spec(cx, "z'*kron(x, y) + tr(C'*kron(x, y')) + z'*kron(A, B)*z", decls,
                              {{"z", "kron(x, y) + (kron(A, B) + kron(A', B'))*z"}, {"C", "kron(x, y')"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  VectorXd x(2), y = vec3(0.5, -1, 2), z(6);
  x << 1.5, -0.5;
  z << 1, 2, 3, -1, 0.5, 0.25;
  MatrixXd C(2, 3), A(2, 2), B = mat3b();
  C << 1, 0, -1, 2, 0.5, 1;
  A << 1, 2, -0.5, 3;
  VectorXd kxy(6);
  MatrixXd kAB(6, 6);
  for (int i = 0; i < 2; ++i) {
    kxy.segment(3 * i, 3) = x(i) * y;
    for (int j = 0; j < 2; ++j) kAB.block(3 * i, 3 * j, 3, 3) = A(i, j) * B;
  }
  MatrixXd outer = x * y.transpose();
  json r = run_module(py, mod, {{"x", list(x)}, {"y", list(y)}, {"z", list(z)}, {"C", rows(C)}, {"A", rows(A)}, {"B", rows(B)}});
  expect_scalar(r["value"], z.dot(kxy) + (C.transpose() * outer).trace() + z.dot(kAB * z));
  expect_vector(r["gradient"]["z"], kxy + (kAB + kAB.transpose()) * z);
  expect_matrix(r["gradient"]["C"], outer);
}

TEST(Numpy, VecAndReshapeAreColumnMajor) {
  Context cx;
  const std::string decls = "A: matrix(2,3); B: matrix(3,2); z: vector(4)";
  ModuleSpec spec = make_spec(cx, "z'*vec(A*B)", decls, {{"z", "vec(A*B)"}, {"A", "reshape(z, 2, 2)*B'"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd A(2, 3), B(3, 2);
  A << 1, 2, 3, -1, 0.5, 2;
  B << 0.5, -1, 2, 1, -0.5, 3;
  VectorXd z(4);
  z << 1, -2, 0.5, 3;
  MatrixXd AB = A * B;
  VectorXd vab = Eigen::Map<VectorXd>(AB.data(), 4);  // Eigen is column-major
  MatrixXd Z = Eigen::Map<MatrixXd>(z.data(), 2, 2);
  json r = run_module(py, mod, {{"A", rows(A)}, {"B", rows(B)}, {"z", list(z)}});
  expect_scalar(r["value"], z.dot(vab));
  expect_vector(r["gradient"]["z"], vab);
  expect_matrix(r["gradient"]["A"], Z * B.transpose());
}

TEST(Numpy, SymDiagAndMatrixPower) {
  Context cx;
  const std::string decls = "A: matrix(n,n); B: matrix(n,n); x: vector(n)";
  ModuleSpec spec = make_spec(cx, "tr(sym(A)*B) + x'*diag(A) + sum(diag(x)*A) + tr(A^3)", decls,
                              {{"A", "sym(B) + diag(x) + 3*(A^2)'"}, {"x", "diag(A) + A*ones(n)"}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find("np.linalg.matrix_power("), std::string::npos) << mod;
  REQUIRE_NUMPY();
  MatrixXd A = mat3(), B = mat3b();
  VectorXd x = vec3(1, -1, 2);
  MatrixXd S = 0.5 * (A + A.transpose());
  double f = (S * B).trace() + x.dot(A.diagonal()) + (x.asDiagonal() * A).sum() + (A * A * A).trace();
  json r = run_module(py, mod, {{"A", rows(A)}, {"B", rows(B)}, {"x", list(x)}});
  expect_scalar(r["value"], f);
  expect_matrix(r["gradient"]["A"],
                0.5 * (B + B.transpose()) + MatrixXd(x.asDiagonal()) + 3 * (A * A).transpose());
  expect_vector(r["gradient"]["x"], A.diagonal() + A * VectorXd::Ones(3));
}

TEST(Numpy, ElementwiseQuotientsAndPowers) {
  Context cx;
  const std::string decls = "x: vector(n); y: vector(n)";
  ModuleSpec spec = make_spec(cx, "sum(x.^3 ./ y) + sum(sqrt(y) .* log(y))", decls,
                              {{"y", "-(x.^3) ./ (y.^2) + (0.5*log(y) + ones(n)) ./ sqrt(y)"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  VectorXd x = vec3(1, -2, 0.5), y = vec3(0.5, 2, 3);
  ArrayXd xa = x.array(), ya = y.array();
  double f = (xa.cube() / ya).sum() + (ya.sqrt() * ya.log()).sum();
  VectorXd g = -xa.cube() / ya.square() + (0.5 * ya.log() + 1) / ya.sqrt();
  json r = run_module(py, mod, {{"x", list(x)}, {"y", list(y)}});
  expect_scalar(r["value"], f);
  expect_vector(r["gradient"], g);
}

TEST(Numpy, ColumnTimesRowIsAnOuterProduct) {
  Context cx;
  const std::string decls = "x: vector(n); y: vector(m); A: matrix(n,m)";
  ModuleSpec spec = make_spec(cx, "x'*A*y", decls, {{"A", "x*y'"}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find("np.outer(x_x, x_y)"), std::string::npos) << mod;
  REQUIRE_NUMPY();
  MatrixXd A(3, 2);
  A << 1, 2, -1, 0.5, 3, -2;
  VectorXd x = vec3(1, 2, 3), y(2);
  y << -1, 0.5;
  json r = run_module(py, mod, {{"x", list(x)}, {"y", list(y)}, {"A", rows(A)}});
  expect_scalar(r["value"], x.dot(A * y));
  expect_matrix(r["gradient"], x * y.transpose());
}

TEST(Numpy, LogdetOfNonPositiveDeterminantRaises) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "logdet(A)", "A: matrix(n,n)", {{"A", "inv(A')"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  MatrixXd A = -mat3();  // det < 0
  json r = run_module(py, mod, {{"A", rows(A)}});
  ASSERT_TRUE(r.contains("error")) << r;
  EXPECT_NE(r["error"].get<std::string>().find("logdet"), std::string::npos) << r;
}

TEST(Numpy, DimensionNoInputHasRaisesOrIsGiven) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "s*sum(ones(n))", "s: scalar", {{"s", "sum(ones(n))"}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY();
  json r = run_module(py, mod, {{"s", 2.5}});
  ASSERT_TRUE(r.contains("error")) << r;
  EXPECT_NE(r["error"].get<std::string>().find("'n'"), std::string::npos) << r;
  json given = run_module(py, mod, {{"s", 2.5}, {"n", 4}});
  expect_scalar(given["value"], 10.0);
  expect_scalar(given["gradient"], 4.0);
}

TEST(Numpy, ValueComputesOnlyWhatTheValueNeeds) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "x'*A*x", "x: vector(n); A: matrix(n,n)", {{"x", "(A + A')*x"}});
  std::string mod = to_python_module(spec);
  std::size_t early_return = mod.find("if stage == 0:");
  std::size_t gradient_line = mod.find("x_A.T");
  ASSERT_NE(early_return, std::string::npos) << mod;
  ASSERT_NE(gradient_line, std::string::npos) << mod;
  EXPECT_LT(early_return, gradient_line) << mod;
}

TEST(Numpy, ConstantsAreReprExact) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "0.1*s + 1e-300*s + 3*s^2", "s: scalar", {{"s", "0.1 + 1e-300 + 6*s"}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find("1e-300"), std::string::npos) << mod;
  REQUIRE_NUMPY();
  json r = run_module(py, mod, {{"s", 0.7}});
  expect_scalar(r["value"], 0.1 * 0.7 + 1e-300 * 0.7 + 3 * 0.7 * 0.7);
  expect_scalar(r["gradient"], 0.1 + 1e-300 + 6 * 0.7);
}

TEST(Numpy, HessianSharesTheForwardPass) {
  Context cx;
  const std::string decls = "x: vector(n); A: matrix(n,n)";
  ModuleSpec spec = make_spec(cx, "x'*A*x", decls, {{"x", "(A + A')*x"}});
  spec.hessian = compile(cx, "A + A'", decls).expr;
  std::string mod = to_python_module(spec);
  ASSERT_NE(mod.find("def hessian(**vars):"), std::string::npos) << mod;
  EXPECT_EQ(count(mod, "x_A + x_A.T"), 1u) << mod;  // formed once, used by gradient and Hessian
  REQUIRE_NUMPY();
  TempDir dir;
  write_file(dir.path() / "generated.py", mod);
  write_file(dir.path() / "run.py",
             "import sys, json\nsys.path.insert(0, sys.argv[1])\nimport numpy as np\nimport generated as m\n"
             "h = m.hessian(x=np.array([1.0, 2.0]), A=np.array([[1.0, 2.0], [3.0, 4.0]]))\n"
             "print(json.dumps({'shape': list(h.shape), 'data': h.tolist()}))\n");
  std::string cmd = py + " " + (dir.path() / "run.py").string() + " " + dir.path().string();
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
  }
  json h = json::parse(out, nullptr, false);
  ASSERT_FALSE(h.is_discarded()) << out << "\n" << mod;
  MatrixXd want(2, 2);
  want << 2, 5, 5, 8;
  expect_matrix(h, want);
}

// ------------------------------------------------------------------ PyTorch

TEST(Torch, ModuleImportsOnlyTorch) {
  Context cx;
  ModuleSpec spec = make_spec(cx, "logdet(W*W' + s^2*I)", "W: matrix(n,k); s: scalar",
                              {{"W", "2*inv(W*W' + s^2*I)*W"}});
  std::string mod = to_python_module(spec, PyTarget::Torch);
  EXPECT_NE(mod.find("import torch\n"), std::string::npos) << mod;
  EXPECT_EQ(mod.find("numpy"), mod.find("numpy arrays")) << mod;  // mentioned in the docstring only
  EXPECT_EQ(mod.find("np."), std::string::npos) << mod;
  EXPECT_NE(mod.find("torch.linalg.solve("), std::string::npos) << mod;
  EXPECT_NE(mod.find("torch.eye(d_n, dtype=torch.float64)"), std::string::npos) << mod;
}

// Without torch the module cannot run, but any Python can check that it
// parses, every operator's torch form included.
TEST(Torch, EveryOperatorGivesValidPython) {
  const std::optional<std::string> py = python_with("sys");
  if (!py) GTEST_SKIP() << "no Python interpreter here";
  Context cx;
  const std::string decls = "A: matrix(n,n); B: matrix(n,n); x: vector(n); y: vector(n); s: scalar; lambda: scalar";
  ModuleSpec spec = make_spec(
      cx,
      "tr(A^3) + det(A) + logdet(A) + sum(diag(A)) + sum(diag(x)*y) + norm2(A) + norm1(x) + sum(vec(A))"
      " + sum(reshape(x, 1, n)) + tr(kron(A, B)) + tr(sym(A)) + logsumexp(x) + softmax(x)'*y"
      " + sum(exp(x) + log(y) + sqrt(y) + sin(x) + cos(x) + tan(x) + tanh(x) + abs(x) + sign(x))"
      " + sum(sigmoid(x) + softplus(x) + relu(x)) + sum(x .* y) + sum(x ./ y) + sum(x.^s) + s^lambda"
      " + x'*inv(A)*y + sum(y'*inv(B)) + sum(eye(n)*x) + sum(ones(n,n)*x) + sum(zeros(n,n)*x)",
      decls, {{"A", "inv(A)*B + B*inv(A) + x*y'"}, {"lambda", "log(s)*s^lambda"}});
  for (PyTarget target : {PyTarget::Torch, PyTarget::NumPy}) {
    std::string mod = to_python_module(spec, target);
    TempDir dir;
    write_file(dir.path() / "generated.py", mod);
    std::string cmd = *py + " -c 'import sys; compile(open(sys.argv[1]).read(), \"generated.py\", \"exec\")' " +
                      (dir.path() / "generated.py").string() + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << mod;
  }
}

TEST(Torch, RunsWhenTorchIsInstalled) {
  static const std::optional<std::string> py = [] {
    auto p = python_with("torch");
    if (p && std::system((*p + " -c 'import numpy' >/dev/null 2>&1").c_str()) != 0) p.reset();
    return p;
  }();
  if (!py) GTEST_SKIP() << "no Python interpreter here can import torch and numpy";
  Context cx;
  const std::string decls = "W: matrix(n,k); s: scalar; A: matrix(2,3); z: vector(4); B: matrix(3,2)";
  ModuleSpec spec = make_spec(cx, "logdet(W*W' + s^2*I) + z'*vec(A*B)", decls,
                              {{"W", "2*inv(W*W' + s^2*I)*W"}, {"A", "reshape(z, 2, 2)*B'"}});
  std::string mod = to_python_module(spec, PyTarget::Torch);
  MatrixXd W(3, 2), A(2, 3), B(3, 2);
  W << 1, 2, -0.5, 0.3, 0.7, -1.1;
  A << 1, 2, 3, -1, 0.5, 2;
  B << 0.5, -1, 2, 1, -0.5, 3;
  VectorXd z(4);
  z << 1, -2, 0.5, 3;
  double s = 0.8;
  MatrixXd M = W * W.transpose() + s * s * MatrixXd::Identity(3, 3);
  MatrixXd AB = A * B;
  VectorXd vab = Eigen::Map<VectorXd>(AB.data(), 4);
  MatrixXd Z = Eigen::Map<MatrixXd>(z.data(), 2, 2);
  json r = run_module(*py, mod, {{"W", rows(W)}, {"s", s}, {"A", rows(A)}, {"B", rows(B)}, {"z", list(z)}});
  expect_scalar(r["value"], std::log(M.determinant()) + z.dot(vab), "Tensor");
  expect_matrix(r["gradient"]["W"], 2 * M.inverse() * W);
  expect_matrix(r["gradient"]["A"], Z * B.transpose());
}
