// Generated modules for second order (CLI.md, "Higher order"; issue 11):
// `jacobian`, `hessian` (a cross block too) and `hvp` modules, run for real
// and compared at the same inputs with matcalc's own evaluator (Session::
// evaluate of the Session's jacobian/hessian/hvp expression) and with central
// finite differences that the Python driver computes from the module's own
// value() and gradient(). NumPy runs under a Python that can import it,
// PyTorch where one can import torch (skipped otherwise, saying why), Eigen
// for some cases compiled with the system C++ compiler (one translation
// unit). The layout is the one CLI.md gives: rows and columns in column-major
// vec order, the Hessian and the Jacobian always 2-D, the hvp shaped like its
// variable.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "matcalc/matcalc.hpp"
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

MatrixXd scalar(double v) { return MatrixXd::Constant(1, 1, v); }

struct Case {
  std::string name;
  std::string expr, decls;
  Derivative what;
  std::vector<std::string> wrt;            // one variable, or two for a cross Hessian block
  std::map<std::string, MatrixXd> values;  // a vector as n x 1, a scalar 1 x 1; hvp's direction V too
  bool eigen = false;                      // also compiled and run as C++
};

const char* function_of(Derivative d) {
  switch (d) {
    case Derivative::Jacobian: return "jacobian";
    case Derivative::Hessian: return "hessian";
    case Derivative::Hvp: return "hvp";
    case Derivative::Gradient: break;
  }
  return "gradient";
}

const std::vector<Case>& cases() {
  // A well-conditioned 3 x 3 matrix with a positive determinant, and a direction.
  const MatrixXd X3 = M(3, 3, {2.0, 0.3, -0.4, 0.1, 1.7, 0.5, -0.2, 0.6, 2.4});
  const MatrixXd V3 = M(3, 3, {0.5, -1.0, 0.25, 0.7, 0.1, -0.3, -0.6, 0.9, 0.4});
  const MatrixXd A3 = M(3, 3, {1.0, 2.0, -0.5, 0.3, -1.2, 0.8, 0.6, 0.1, 1.5});
  const MatrixXd W = M(4, 2, {0.9, -0.3, 0.4, 1.1, -0.7, 0.2, 0.5, 0.6});
  MatrixXd S = M(4, 4, {1.0, 0.2, -0.1, 0.3, 0.0, 1.5, 0.4, -0.2, 0.0, 0.0, 0.8, 0.1, 0.0, 0.0, 0.0, 1.2});
  S = S.selfadjointView<Eigen::Upper>();
  const std::string ppca = "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)";
  const std::string ppca_decls = "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)";
  static const std::vector<Case> cs = {
      {"QuadraticForm",
       "x'*A*x",
       "x: vector(n); A: matrix(n,n)",
       Derivative::Hessian,
       {"x"},
       {{"x", V({1.0, -2.0, 0.5})}, {"A", A3}}},
      {"LogisticLoss",
       "sum(softplus(-y .* (X*w)))",
       "X: matrix(m,d); y: vector(m); w: vector(d)",
       Derivative::Hessian,
       {"w"},
       {{"X", M(5, 3, {1.0, 0.5, -0.3, -0.2, 1.1, 0.4, 0.7, -0.8, 0.9, 0.3, 0.2, -1.0, -0.6, 0.4, 0.1})},
        {"y", V({1.0, -1.0, 1.0, 1.0, -1.0})},
        {"w", V({0.3, -0.7, 0.5})}},
       true},
      {"QuadraticPlusSumExp",
       "x'*A*x + sum(exp(x))",
       "x: vector(n); A: matrix(n,n)",
       Derivative::Hessian,
       {"x"},
       {{"x", V({0.2, -0.4, 0.1})}, {"A", A3}}},
      {"LogdetHessian", "logdet(X)", "X: matrix(n,n)", Derivative::Hessian, {"X"}, {{"X", X3}}, true},
      {"TraceXtAX",
       "tr(X'*A*X)",
       "X: matrix(n,k); A: matrix(n,n)",
       Derivative::Hessian,
       {"X"},
       {{"X", M(3, 2, {0.5, -1.0, 0.3, 0.8, -0.2, 0.4})}, {"A", A3}}},
      {"InverseJacobian", "inv(X)", "X: matrix(n,n)", Derivative::Jacobian, {"X"}, {{"X", X3}}, true},
      {"SoftmaxJacobian", "softmax(x)", "x: vector(n)", Derivative::Jacobian, {"x"}, {{"x", V({0.3, -1.2, 0.8, 0.1})}}},
      {"TransposeJacobian",
       "X'",
       "X: matrix(m,n)",
       Derivative::Jacobian,
       {"X"},
       {{"X", M(3, 2, {1.0, 2.0, 3.0, 4.0, 5.0, 6.0})}},
       true},
      // kron(A', eye(n))*commutation(m,n): a commutation factor that is not square in its blocks.
      {"TransposedProductJacobian",
       "X'*A",
       "X: matrix(m,n); A: matrix(m,p)",
       Derivative::Jacobian,
       {"X"},
       {{"X", M(3, 2, {1.0, -2.0, 0.5, 3.0, -1.5, 0.25})},
        {"A", M(3, 4, {0.3, -0.1, 0.8, 1.2, -0.7, 0.4, 0.2, -0.9, 1.1, 0.6, -0.3, 0.05})}},
       true},
      {"LogdetHvp", "logdet(X)", "X: matrix(n,n)", Derivative::Hvp, {"X"}, {{"X", X3}, {"V", V3}}, true},
      {"PpcaCrossBlockWs",
       ppca,
       ppca_decls,
       Derivative::Hessian,
       {"W", "s"},
       {{"W", W}, {"s", scalar(0.7)}, {"N", scalar(3.0)}, {"S", S}},
       true},
      {"PpcaHvp",
       ppca,
       ppca_decls,
       Derivative::Hvp,
       {"W"},
       {{"W", W},
        {"s", scalar(0.7)},
        {"N", scalar(3.0)},
        {"S", S},
        {"V", M(4, 2, {0.2, -0.5, 0.7, 0.1, -0.3, 0.4, 0.6, -0.8})}}},
  };
  return cs;
}

// What a case's module should return, from matcalc's evaluator.
struct Built {
  std::string numpy, torch, eigen_source;
  MatrixXd value, second;                 // the function, and its jacobian / hessian / hvp
  std::map<std::string, bool> is_vector;  // by symbol (the direction too)
};

Built build(const Case& c) {
  Session s;
  Function f = s.load(c.expr, c.decls, {.scalar = c.what != Derivative::Jacobian, .wrt = c.wrt});
  Built b;
  b.numpy = s.code(f, c.wrt, CodeTarget::NumPy, c.what);
  b.torch = s.code(f, c.wrt, CodeTarget::Torch, c.what);
  if (c.eigen) b.eigen_source = s.code(f, c.wrt, CodeTarget::Eigen, c.what);
  Expression second = c.what == Derivative::Jacobian  ? s.jacobian(f, c.wrt[0])
                      : c.what == Derivative::Hessian ? s.hessian(f, c.wrt[0], c.wrt.size() > 1 ? c.wrt[1] : "")
                                                      : s.hvp(f, c.wrt[0]);
  Values v;
  v.symbols = c.values;
  std::vector<MatrixXd> r = s.evaluate({s.simplify(f.expression), second}, v);
  b.value = r[0];
  b.second = r[1];
  for (const SymbolInfo& sym : f.symbols) b.is_vector[sym.name] = sym.declaration.find("vector") != std::string::npos;
  if (c.what == Derivative::Hvp) b.is_vector["V"] = b.is_vector[c.wrt[0]];
  return b;
}

const std::vector<Built>& built() {
  static const std::vector<Built> bs = [] {
    std::vector<Built> out;
    for (const Case& c : cases()) out.push_back(build(c));
    return out;
  }();
  return bs;
}

// ------------------------------------------------------------ Python

// Loads every case's module, calls its value() and its second-order
// function, checks value_and_gradient() against value() and gradient(), and
// computes central differences of the module's own functions: of value()
// for a Jacobian, of gradient() (w.r.t. the row variable, moving the column
// variable) for a Hessian block, of gradient() along V for an hvp. Every
// array is sent back flattened in column-major order, with its shape.
constexpr const char* kDriver = R"PY(
import importlib.util, json, sys
import numpy as np

def load(path):
    spec = importlib.util.spec_from_file_location("generated", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m

def as_np(x):
    if hasattr(x, "detach"):
        x = x.detach().numpy()
    return np.asarray(x, dtype=np.float64)

def vec(x):
    return as_np(x).reshape(-1, order="F")

def arg(x):
    return np.array(x, dtype=np.float64) if isinstance(x, list) else float(x)

def moved(args, name, j, d):
    a = dict(args)
    x = np.array(args[name], dtype=np.float64)
    if x.ndim == 0:
        a[name] = float(x) + d
    else:
        idx = np.unravel_index(j, x.shape, order="F")
        x[idx] += d
        a[name] = x
    return a

def grad_of(m, args, name):
    g = m.gradient(**args)
    return vec(g[name] if isinstance(g, dict) else g)

with open(sys.argv[1]) as fh:
    cases = json.load(fh)
out = {}
for c in cases:
    r = {}
    try:
        m = load(c["module"])
        args = {k: arg(x) for k, x in c["values"].items()}
        r["value"] = vec(m.value(**args)).tolist()
        res = getattr(m, c["what"])(**args)
        r["type"] = type(res).__name__
        r["shape"] = list(as_np(res).shape)
        r["out"] = vec(res).tolist()
        if hasattr(m, "value_and_gradient"):
            f, g = m.value_and_gradient(**args)
            g2 = m.gradient(**args)
            same = abs(float(as_np(f)) - float(as_np(m.value(**args)))) == 0.0
            if isinstance(g2, dict):
                same = same and all(np.array_equal(vec(g[k]), vec(g2[k])) for k in g2)
            else:
                same = same and np.array_equal(vec(g), vec(g2))
            r["value_and_gradient_agrees"] = bool(same)
        h = c["step"]
        wrt = c["wrt"]
        if c["what"] == "jacobian":
            n = np.size(args[wrt[0]])
            cols = [(vec(m.value(**moved(args, wrt[0], j, h))) - vec(m.value(**moved(args, wrt[0], j, -h)))) / (2 * h)
                    for j in range(n)]
            fd = np.stack(cols, axis=1)
        elif c["what"] == "hessian":
            x, y = wrt[0], wrt[-1]
            n = np.size(args[y])
            cols = [(grad_of(m, moved(args, y, j, h), x) - grad_of(m, moved(args, y, j, -h), x)) / (2 * h)
                    for j in range(n)]
            fd = np.stack(cols, axis=1)
        else:
            x = wrt[0]
            up, down = dict(args), dict(args)
            up[x] = args[x] + h * args["V"]
            down[x] = args[x] - h * args["V"]
            fd = (grad_of(m, up, x) - grad_of(m, down, x)) / (2 * h)
        r["fd"] = vec(fd).tolist()
    except Exception as e:
        r["error"] = repr(e)
    out[c["name"]] = r
print(json.dumps(out))
)PY";

json value_json_of(const MatrixXd& m, bool vector) {
  if (m.size() == 1 && !vector && m.rows() == 1 && m.cols() == 1) return m(0, 0);
  if (vector) return matcalc::testing::json_list(m);
  return matcalc::testing::json_rows(m);
}

// Runs every case's module for `target` (numpy or torch) in one process.
json run_python(const std::string& python, bool torch) {
  matcalc::testing::TempDir dir;
  json list = json::array();
  for (std::size_t i = 0; i < cases().size(); ++i) {
    const Case& c = cases()[i];
    const Built& b = built()[i];
    const std::string path = (dir.path() / ("case_" + std::to_string(i) + ".py")).string();
    std::ofstream(path) << (torch ? b.torch : b.numpy);
    json values = json::object();
    for (const auto& [name, m] : c.values) {
      // A 1 x 1 symbol is a scalar unless declared a vector.
      const bool vector = b.is_vector.count(name) && b.is_vector.at(name);
      values[name] = value_json_of(m, vector);
    }
    list.push_back({{"name", c.name},
                    {"module", path},
                    {"what", function_of(c.what)},
                    {"wrt", c.wrt},
                    {"values", values},
                    {"step", 1e-5}});
  }
  std::ofstream(dir.path() / "cases.json") << list.dump();
  std::ofstream(dir.path() / "driver.py") << kDriver;
  const std::string cmd = python + " " + (dir.path() / "driver.py").string() + " " +
                          (dir.path() / "cases.json").string() + " 2>" + (dir.path() / "stderr.txt").string();
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
  }
  json j = json::parse(out, nullptr, false);
  if (j.is_discarded()) {
    std::ifstream err(dir.path() / "stderr.txt");
    std::stringstream es;
    es << err.rdbuf();
    ADD_FAILURE() << "the driver did not run:\n" << es.str();
    return json::object();
  }
  return j;
}

std::vector<double> entries(const MatrixXd& m) { return {m.data(), m.data() + m.size()}; }

// Largest entrywise difference, relative to the scale of `want`.
double relative_gap(const std::vector<double>& got, const std::vector<double>& want) {
  double scale = 1, gap = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (std::size_t i = 0; i < got.size() && i < want.size(); ++i) gap = std::max(gap, std::fabs(got[i] - want[i]));
  return gap / scale;
}

// The module's results against the evaluator (to rounding) and against
// central differences of its own value and gradient (to truncation).
void expect_case(const json& all, std::size_t i, const std::string& target) {
  const Case& c = cases()[i];
  const Built& b = built()[i];
  SCOPED_TRACE(c.name + " (" + target + "): " + function_of(c.what) + " of " + c.expr);
  ASSERT_TRUE(all.contains(c.name)) << all;
  const json& r = all[c.name];
  ASSERT_FALSE(r.contains("error")) << r["error"] << "\n" << (target == "torch" ? b.torch : b.numpy);
  EXPECT_LT(relative_gap(r["value"].get<std::vector<double>>(), entries(b.value)), 1e-12) << r["value"];
  if (c.what == Derivative::Hvp) {
    // Shaped like the variable: 1-D for a vector.
    const MatrixXd& x = c.values.at(c.wrt[0]);
    json shape = b.is_vector.at(c.wrt[0]) ? json::array({x.size()}) : json::array({x.rows(), x.cols()});
    EXPECT_EQ(r["shape"], shape);
  } else {
    EXPECT_EQ(r["shape"], json::array({b.second.rows(), b.second.cols()})) << "always 2-D";
  }
  const std::vector<double> got = r["out"].get<std::vector<double>>();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(b.second.size()));
  EXPECT_LT(relative_gap(got, entries(b.second)), 1e-10)
      << "against the evaluator: got " << r["out"] << ", want " << json(entries(b.second));
  EXPECT_LT(relative_gap(got, r["fd"].get<std::vector<double>>()), 1e-6)
      << "against finite differences: got " << r["out"] << ", central differences " << r["fd"];
  if (c.what != Derivative::Jacobian) {
    ASSERT_TRUE(r.contains("value_and_gradient_agrees")) << "no value_and_gradient()";
    EXPECT_TRUE(r["value_and_gradient_agrees"].get<bool>());
  }
}

TEST(CodegenSecondOrder, NumPyModulesMatchTheEvaluatorAndFiniteDifferences) {
  REQUIRE_NUMPY_PYTHON(py);
  const json all = run_python(py, false);
  for (std::size_t i = 0; i < cases().size(); ++i) expect_case(all, i, "numpy");
}

const std::optional<std::string>& torch_python() {
  static const std::optional<std::string> py = [] {
    auto p = matcalc::testing::python_with("torch");
    if (p && std::system((*p + " -c 'import numpy' >/dev/null 2>&1").c_str()) != 0) p.reset();
    return p;
  }();
  return py;
}

TEST(CodegenSecondOrder, TorchModulesMatchTheEvaluatorAndFiniteDifferences) {
  if (!torch_python()) GTEST_SKIP() << "no Python interpreter here can import torch and numpy";
  const json all = run_python(*torch_python(), true);
  for (std::size_t i = 0; i < cases().size(); ++i) expect_case(all, i, "torch");
}

// What every module defines (CLI.md): value and jacobian for a Jacobian;
// value, gradient, value_and_gradient and the second-order function otherwise.
TEST(CodegenSecondOrder, ModulesDefineTheFunctionsOfCliMd) {
  for (std::size_t i = 0; i < cases().size(); ++i) {
    const Case& c = cases()[i];
    for (const std::string* mod : {&built()[i].numpy, &built()[i].torch}) {
      SCOPED_TRACE(c.name);
      EXPECT_NE(mod->find("\ndef value(**vars):"), std::string::npos);
      EXPECT_NE(mod->find("\ndef " + std::string(function_of(c.what)) + "(**vars):"), std::string::npos);
      const bool gradient = c.what != Derivative::Jacobian;
      EXPECT_EQ(mod->find("\ndef gradient(**vars):") != std::string::npos, gradient);
      EXPECT_EQ(mod->find("\ndef value_and_gradient(**vars):") != std::string::npos, gradient);
    }
  }
}

// A diagonal factor of a product scales rows or columns, a commutation
// factor permutes them: neither n x n (or n^2 x n^2) matrix is formed and
// multiplied (the logistic Hessian X'*diag(q)*X costs O(m d^2), not O(m^2 d)).
TEST(CodegenSecondOrder, DiagonalAndCommutationFactorsAreNotFormed) {
  Session s;
  Function f = s.load("sum(softplus(-y .* (X*w)))", "X: matrix(m,d); y: vector(m); w: vector(d)",
                      {.scalar = true, .wrt = {"w"}});
  for (CodeTarget t : {CodeTarget::NumPy, CodeTarget::Torch, CodeTarget::Eigen}) {
    std::string mod = s.code(f, {"w"}, t, Derivative::Hessian);
    EXPECT_EQ(mod.find("diag("), std::string::npos) << mod;
    EXPECT_EQ(mod.find("toDenseMatrix"), std::string::npos) << mod;
  }
  Function g = s.load("logdet(X)", "X: matrix(n,n)", {.scalar = true, .wrt = {"X"}});
  EXPECT_EQ(s.code(g, {"X"}, CodeTarget::NumPy, Derivative::Hessian).find("_commutation"), std::string::npos);
  EXPECT_EQ(s.code(g, {"X"}, CodeTarget::Eigen, Derivative::Hessian).find("detail::commutation"), std::string::npos);
}

TEST(CodegenSecondOrder, WrongVariableCountsAreUsageErrors) {
  Session s;
  Function f = s.load("logdet(W*W' + s^2*I)", "W: matrix(n,k); s: scalar", {.scalar = true});
  for (auto [what, wrt] :
       std::vector<std::pair<Derivative, std::vector<std::string>>>{{Derivative::Hessian, {}},
                                                                    {Derivative::Hessian, {"W", "s", "W"}},
                                                                    {Derivative::Hvp, {"W", "s"}},
                                                                    {Derivative::Jacobian, {"W", "s"}}}) {
    try {
      s.code(f, wrt, CodeTarget::NumPy, what);
      ADD_FAILURE() << function_of(what) << " with " << wrt.size() << " variables did not throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << e.what();
    }
  }
}

// ------------------------------------------------------------ Eigen

// Per Eigen case: fill Inputs, then print "R <case> value|out <rows> <cols>
// <entries column-major>", or "E <case> <message>".
constexpr const char* kEigenHead = R"(
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

std::string eigen_block(std::size_t i) {
  const Case& c = cases()[i];
  const Built& b = built()[i];
  const std::string ns = "case_" + std::to_string(i), id = std::to_string(i);
  std::string s = "  {\n    " + ns + "::Inputs in;\n";
  for (const auto& [name, m] : c.values) {
    const std::string member = "in." + name;
    if (m.size() == 1 && !b.is_vector.at(name)) {
      s += "    " + member + " = " + cpp_double(m(0, 0)) + ";\n";
      continue;
    }
    const bool vector = b.is_vector.at(name);
    s += "    " + member + " = " + (vector ? "Eigen::VectorXd(" : "Eigen::MatrixXd(") + std::to_string(m.rows()) +
         (vector ? "" : ", " + std::to_string(m.cols())) + ");\n    " + member + " << ";
    for (Eigen::Index r = 0; r < m.rows(); ++r)
      for (Eigen::Index k = 0; k < m.cols(); ++k) s += (r || k ? ", " : "") + cpp_double(m(r, k));
    s += ";\n";
  }
  s += "    try {\n";
  s += "      out(" + id + ", \"value\", " + ns + "::value(in));\n";
  s += "      out(" + id + ", \"out\", " + ns + "::" + function_of(c.what) + "(in));\n";
  s += "    } catch (const std::exception& e) {\n";
  s += "      std::printf(\"E " + id + " %s\\n\", e.what());\n";
  s += "    }\n  }\n";
  return s;
}

TEST(CodegenSecondOrder, EigenModulesMatchTheEvaluator) {
  const Toolchain& tc = toolchain();
  if (!tc.missing.empty()) GTEST_SKIP() << tc.missing;
  std::string unit = "", main = "int main() {\n";
  for (std::size_t i = 0; i < cases().size(); ++i) {
    if (!cases()[i].eigen) continue;
    // Each source in its own namespace, so that they share one translation unit.
    std::string src = built()[i].eigen_source;
    const std::string ns = "case_" + std::to_string(i);
    for (const std::string from : {"matcalc_generated", "MATCALC_GENERATED"}) {
      const std::string to = from == "matcalc_generated" ? ns : "CASE_" + std::to_string(i);
      for (std::size_t at = src.find(from); at != std::string::npos; at = src.find(from, at + to.size()))
        src.replace(at, from.size(), to);
    }
    unit += src + "\n";
    main += eigen_block(i);
  }
  unit += kEigenHead + main + "  return 0;\n}\n";
  matcalc::testing::TempDir dir;
  const std::string src = (dir.path() / "second_order.cpp").string(), exe = (dir.path() / "second_order").string();
  std::ofstream(src) << unit;
  const std::string cmd = tc.cxx + " -std=c++17 -O0 -Wall -Wextra -I" + tc.eigen_include + " " + src + " -o " + exe +
                          " >" + (dir.path() / "cc.txt").string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(dir.path() / "cc.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    FAIL() << "the generated code did not compile:\n" << ss.str();
  }
  std::string output;
  if (FILE* f = popen(exe.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) output.append(buf, n);
    EXPECT_EQ(pclose(f), 0) << output;
  }
  std::map<std::string, MatrixXd> results;  // "<case> value|out"
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream ls(line);
    std::string kind, label;
    std::size_t i = 0;
    ls >> kind >> i;
    ASSERT_EQ(kind, "R") << line;
    long rows = 0, cols = 0;
    ls >> label >> rows >> cols;
    MatrixXd m(rows, cols);
    for (Eigen::Index k = 0; k < m.size(); ++k) ls >> m.data()[k];
    results[std::to_string(i) + " " + label] = m;
  }
  for (std::size_t i = 0; i < cases().size(); ++i) {
    if (!cases()[i].eigen) continue;
    const Case& c = cases()[i];
    const Built& b = built()[i];
    SCOPED_TRACE(c.name + " (eigen)");
    const std::string k = std::to_string(i);
    ASSERT_TRUE(results.count(k + " value") && results.count(k + " out")) << output;
    EXPECT_LT(relative_gap(entries(results[k + " value"]), entries(b.value)), 1e-12);
    const MatrixXd& got = results[k + " out"];
    ASSERT_EQ(got.rows(), b.second.rows());
    ASSERT_EQ(got.cols(), b.second.cols());
    EXPECT_LT(relative_gap(entries(got), entries(b.second)), 1e-10) << got << "\nwant\n" << b.second;
  }
}

}  // namespace
