// End-to-end tests of the matcalc command line (CLI.md): they run the built
// binary (MATCALC_BINARY) with posix_spawn, capture stdout, stderr and the
// exit status separately, and check them against the contract. Expected
// numbers come from an independent oracle (Eigen directly, or numpy running
// the generated module), never from matcalc itself.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "parse/typecheck.hpp"
#include "support/process.hpp"

namespace {

using json = nlohmann::json;

using Result = matcalc::testing::ProcessResult;

using matcalc::testing::describe;

// Runs `program args...` with an empty stdin; kills it after `timeout_s`.
Result run_program(const std::string& program, const std::vector<std::string>& args,
                   double timeout_s = matcalc::testing::kHangGuardSeconds) {
  return matcalc::testing::run_process(program, args, "", timeout_s);
}

Result mc(const std::vector<std::string>& args, double timeout_s = matcalc::testing::kHangGuardSeconds) {
  return run_program(MATCALC_BINARY, args, timeout_s);
}

// A scratch directory for values files and generated modules.
const std::string& scratch() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/matcalc_cli_test_XXXXXX";
    char* d = mkdtemp(tmpl);
    return std::string(d ? d : "/tmp");
  }();
  return dir;
}

std::string write_file(const std::string& name, const std::string& content) {
  std::string path = scratch() + "/" + name;
  std::ofstream f(path, std::ios::binary);
  f << content;
  return path;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

int count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

bool mentions_crash(const std::string& err) {
  for (const char* m : {"AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation fault", "terminate called",
                        "Aborted", "core dumped", "internal error", "what():", "stack-overflow"})
    if (err.find(m) != std::string::npos) return true;
  return false;
}

// The 1-based column the caret line of a format_error message points at;
// 0 when there is no caret line. The caret line is "  " + spaces + '^'s.
int caret_column(const std::string& err, std::string* source_line = nullptr) {
  auto ls = lines_of(err);
  for (std::size_t i = 1; i < ls.size(); ++i) {
    const std::string& l = ls[i];
    auto c = l.find('^');
    if (c == std::string::npos || l.find_first_not_of(" ^") != std::string::npos) continue;
    if (source_line) *source_line = ls[i - 1];
    return static_cast<int>(c) - 2 + 1;
  }
  return 0;
}

// Flattens a JSON number / list / list of rows to numbers (row-major) and
// remembers the nesting: 0 number, 1 flat list, 2 list of rows.
std::vector<double> flat(const json& j, int* depth = nullptr) {
  std::vector<double> v;
  if (j.is_number()) {
    if (depth) *depth = 0;
    v.push_back(j.get<double>());
  } else if (j.is_array() && !j.empty() && j[0].is_array()) {
    if (depth) *depth = 2;
    for (const auto& row : j)
      for (const auto& x : row) v.push_back(x.get<double>());
  } else if (j.is_array()) {
    if (depth) *depth = 1;
    for (const auto& x : j) v.push_back(x.get<double>());
  } else if (depth) {
    *depth = -1;
  }
  return v;
}

void expect_close(const json& got, const json& want, double rel = 1e-9) {
  int dg = -2, dw = -3;
  auto g = flat(got, &dg), w = flat(want, &dw);
  EXPECT_EQ(dg, dw) << "layout differs: got " << got.dump() << ", want " << want.dump();
  ASSERT_EQ(g.size(), w.size()) << "got " << got.dump() << ", want " << want.dump();
  for (std::size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], w[i], rel * std::max(1.0, std::abs(w[i]))) << "entry " << i << ": got " << got.dump()
                                                                  << ", want " << want.dump();
}

json rows(const Eigen::MatrixXd& m) {
  json j = json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    json r = json::array();
    for (Eigen::Index k = 0; k < m.cols(); ++k) r.push_back(m(i, k));
    j.push_back(r);
  }
  return j;
}

const char* kSeed = "log(det(W*W' + s^2*I))";

// W 3x2 and s for the seed.
Eigen::MatrixXd seed_W() {
  Eigen::MatrixXd W(3, 2);
  W << 1, 2, 3, 4, 5, 6.5;
  return W;
}
const double kSeedS = 0.5;

std::string seed_values() {
  static const std::string path =
      write_file("seed.json", json{{"W", rows(seed_W())}, {"s", kSeedS}}.dump());
  return path;
}

// The small values restricted to the symbols of `expr` (values files must
// name exactly the expression's symbols).
std::string small_values_for(const std::string& expr, const std::string& decl = "") {
  static int k = 0;
  json all = json::parse(R"({"x": [1, 2], "A": [[1, 2], [3, 4]], "S": [[2, 1], [1, 3]], "s": 0.5})");
  matcalc::Context cx;
  auto p = matcalc::compile(cx, expr, decl);
  json v = json::object();
  for (const auto& [name, e] : p.symbols) v[name] = all.at(name);
  return write_file("small_" + std::to_string(k++) + ".json", v.dump());
}

json parse_json(const std::string& s) {
  try {
    return json::parse(s);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << s;
    return json();
  }
}

void expect_success(const Result& r) {
  EXPECT_FALSE(r.signaled) << describe(r);
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_FALSE(mentions_crash(r.err)) << describe(r);
}

// A python3 with numpy, or "" when there is none.
std::string python_with_numpy() {
  static const std::string found = [] {
    for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"}) {
      struct stat st;
      if (stat(p, &st) != 0) continue;
      Result r = run_program(p, {"-c", "import numpy"});
      if (r.status == 0) return std::string(p);
    }
    return std::string();
  }();
  return found;
}

// Loads a generated module and prints {"value": ..., "gradient": ...} as JSON
// for the values in a JSON file (vectors 1-D, matrices 2-D, scalars floats).
const char* kPythonDriver = R"PY(
import json, sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("generated", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
vals = json.load(open(sys.argv[2]))
kw = {k: (np.array(v, dtype=float) if isinstance(v, list) else float(v)) for k, v in vals.items()}
def out(a):
    a = np.asarray(a, dtype=float)
    return a.tolist() if a.ndim else float(a)
g = mod.gradient(**kw)
res = {"value": out(mod.value(**kw))}
res["gradient"] = {k: out(x) for k, x in g.items()} if isinstance(g, dict) else out(g)
print(json.dumps(res))
)PY";

}  // namespace

// ================================================================ symbolic

TEST(CliGrad, SeedGradient) {
  REQUIRE_BINARY();
  Result r = mc({"grad", kSeed, "--wrt", "W"});
  expect_success(r);
  EXPECT_EQ(r.out, "2*inv(W*W' + s^2*I)*W\n") << describe(r);
  EXPECT_EQ(r.err, "");
}

TEST(CliGrad, OptionsBeforeAndAfterExpr) {
  REQUIRE_BINARY();
  Result after = mc({"grad", kSeed, "--wrt", "W"});
  Result before = mc({"grad", "--wrt", "W", kSeed});
  Result mixed = mc({"grad", "--decl", "W: matrix(n,k); s: scalar", kSeed, "--wrt", "W"});
  expect_success(before);
  expect_success(mixed);
  EXPECT_EQ(before.out, after.out);
  EXPECT_EQ(mixed.out, after.out);
}

TEST(CliGrad, DoubleDashBeforeExprStartingWithMinus) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "--wrt", "p", "--", "-y'*log(p)"});
  expect_success(r);
  ASSERT_EQ(lines_of(r.out).size(), 1u) << describe(r);
  // The gradient is -y ./ p: check it numerically.
  std::string vals = write_file("yp.json", R"({"y": [1, 2, 3], "p": [0.5, 0.25, 2]})");
  Result e = mc({"eval", "--json", "--values", vals, "--", lines_of(r.out)[0]});
  expect_success(e);
  expect_close(parse_json(e.out)["value"], json{-2.0, -8.0, -1.5});
  Result neg = mc({"grad", "--wrt", "x", "--", "-x'*x"});
  expect_success(neg);
  EXPECT_EQ(neg.out, "-2*x\n") << describe(neg);
}

TEST(CliGrad, SeveralWrt) {
  REQUIRE_BINARY();
  Result r = mc({"grad", kSeed, "--wrt", "W", "--wrt", "s"});
  expect_success(r);
  auto ls = lines_of(r.out);
  ASSERT_EQ(ls.size(), 2u) << describe(r);
  EXPECT_NE(ls[0].find("2*inv(W*W' + s^2*I)*W"), std::string::npos) << describe(r);
  EXPECT_NE(ls[0].find("W"), std::string::npos);
  EXPECT_NE(ls[1].find("s"), std::string::npos);
}

TEST(CliGrad, KnownGradients) {
  REQUIRE_BINARY();
  struct Case {
    std::vector<std::string> args;
    const char* want;
  };
  const Case cases[] = {
      {{"grad", "x'*A*x", "--wrt", "x"}, "(A + A')*x"},
      {{"grad", "x'*S*x", "--wrt", "x", "--decl", "S: symmetric(n)"}, "2*S*x"},
      {{"grad", "tr(X)", "--wrt", "X"}, "I"},
      {{"grad", "logdet(X)", "--wrt", "X"}, "inv(X)'"},
      {{"grad", "a'*x", "--wrt", "x"}, "a"},
  };
  for (const Case& c : cases) {
    Result r = mc(c.args);
    expect_success(r);
    std::string got = r.out.empty() ? "" : r.out.substr(0, r.out.size() - 1);
    // A few equivalent spellings are fine; the tests below check numbers.
    if (std::string(c.want) == "(A + A')*x")
      EXPECT_TRUE(got == "(A + A')*x" || got == "(A' + A)*x" || got == "A*x + A'*x" || got == "A'*x + A*x") << got;
    else if (std::string(c.want) == "I")
      EXPECT_TRUE(got == "I" || got == "eye(n)") << got;
    else if (std::string(c.want) == "inv(X)'")
      EXPECT_TRUE(got == "inv(X)'" || got == "inv(X')") << got;
    else
      EXPECT_EQ(got, c.want);
  }
}

TEST(CliGrad, FormatLatex) {
  REQUIRE_BINARY();
  Result r = mc({"grad", kSeed, "--wrt", "W", "--format", "latex"});
  expect_success(r);
  ASSERT_EQ(lines_of(r.out).size(), 1u) << describe(r);
  EXPECT_NE(r.out.find("\\"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("W"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find("inv("), std::string::npos) << "LaTeX should not print text-language inv(): " << r.out;
}

TEST(CliGrad, FormatJson) {
  REQUIRE_BINARY();
  Result r = mc({"grad", kSeed, "--wrt", "W", "--format", "json"});
  expect_success(r);
  json j = parse_json(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_NE(j.dump().find("2*inv(W*W' + s^2*I)*W"), std::string::npos) << r.out;
}

TEST(CliGrad, FormatTorchAndEigenAreAccepted) {
  REQUIRE_BINARY();
  Result t = mc({"grad", kSeed, "--wrt", "W", "--format", "torch"});
  expect_success(t);
  EXPECT_NE(t.out.find("torch"), std::string::npos) << describe(t);
  // CLI.md lists `eigen` (C++) among the formats of grad.
  Result e = mc({"grad", kSeed, "--wrt", "W", "--format", "eigen"});
  expect_success(e);
  EXPECT_NE(e.out.find("Eigen"), std::string::npos) << describe(e);
}

// CLI.md, "Higher order": jacobian, hessian and hvp print closed forms.
TEST(CliContract, SecondOrderCommandsPrintClosedForms) {
  REQUIRE_BINARY();
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"jacobian", "A*x", "--wrt", "x", "A"},
           {"hessian", "x'*A*x", "--wrt", "x", "A + A'"},
           {"hvp", "logdet(X)", "--wrt", "X", "-inv(X')*V'*inv(X')"},
           // The textbook forms: a common factor stays out, a Hessian of W is a sum of Kronecker products.
           {"hessian", "--wrt", "l", "--", "-t'*log(softmax(l))", "sum(t)*(diag(softmax(l)) - softmax(l)*softmax(l)')"},
           {"hessian", "logdet(W*W' + s^2*I)", "--wrt", "W",
            "2*kron(eye(k), inv(W*W' + s^2*I)) - 2*kron(W'*inv(W*W' + s^2*I), inv(W*W' + s^2*I)*W)*commutation(n,k) - "
            "2*kron(W'*inv(W*W' + s^2*I)*W, inv(W*W' + s^2*I))"}}) {
    SCOPED_TRACE(args[0]);
    const std::string expected = args.back();
    args.pop_back();
    Result r = mc(args);
    expect_success(r);
    EXPECT_EQ(r.out, expected + "\n") << describe(r);
  }
  Result bad = mc({"hessian", "A*x", "--wrt", "x", "--decl", "A: matrix(n,n); x: vector(n)"});
  EXPECT_EQ(bad.status, 2) << describe(bad);
  EXPECT_NE(bad.err.find("scalar"), std::string::npos) << describe(bad);
  Result clash = mc({"hvp", "x'*V*x", "--wrt", "x"});
  EXPECT_EQ(clash.status, 2) << describe(clash);
  EXPECT_NE(clash.err.find("--direction"), std::string::npos) << describe(clash);
}

TEST(CliGrad, FormatNumpyAgreesWithEval) {
  REQUIRE_BINARY();
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with numpy";
  Result r = mc({"grad", kSeed, "--wrt", "W", "--format", "numpy"});
  expect_success(r);
  std::string module = write_file("seed_module.py", r.out);
  std::string driver = write_file("driver.py", kPythonDriver);
  Result p = run_program(py, {driver, module, seed_values()});
  ASSERT_EQ(p.status, 0) << describe(p) << "\n--- module ---\n" << r.out;
  json got = parse_json(p.out);
  Result e = mc({"eval", kSeed, "--wrt", "W", "--values", seed_values(), "--json"});
  expect_success(e);
  json want = parse_json(e.out);
  expect_close(got["value"], want["value"]);
  expect_close(got["gradient"], want["gradient"]["W"]);
}

TEST(CliGrad, FormatNumpySeveralWrtGivesADict) {
  REQUIRE_BINARY();
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with numpy";
  Result r = mc({"grad", kSeed, "--wrt", "W", "--wrt", "s", "--format", "numpy"});
  expect_success(r);
  std::string module = write_file("seed_module2.py", r.out);
  std::string driver = write_file("driver.py", kPythonDriver);
  Result p = run_program(py, {driver, module, seed_values()});
  ASSERT_EQ(p.status, 0) << describe(p) << "\n--- module ---\n" << r.out;
  json got = parse_json(p.out);
  Result e = mc({"eval", kSeed, "--wrt", "W", "--wrt", "s", "--values", seed_values(), "--json"});
  expect_success(e);
  json want = parse_json(e.out);
  expect_close(got["value"], want["value"]);
  ASSERT_TRUE(got["gradient"].is_object()) << p.out;
  expect_close(got["gradient"]["W"], want["gradient"]["W"]);
  expect_close(got["gradient"]["s"], want["gradient"]["s"]);
}

TEST(CliGrad, FormatNumpyPythonKeywordSymbol) {
  REQUIRE_BINARY();
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with numpy";
  Result r = mc({"grad", "lambda*x'*x", "--wrt", "x", "--decl", "lambda: scalar", "--format", "numpy"});
  expect_success(r);
  std::string module = write_file("lambda_module.py", r.out);
  std::string driver = write_file("driver.py", kPythonDriver);
  std::string vals = write_file("lambda.json", R"({"lambda": 3, "x": [1, 2]})");
  Result p = run_program(py, {driver, module, vals});
  ASSERT_EQ(p.status, 0) << describe(p) << "\n--- module ---\n" << r.out;
  json got = parse_json(p.out);
  expect_close(got["value"], 15.0);
  expect_close(got["gradient"], json{6.0, 12.0});
}

// ================================================================ numeric

TEST(CliEval, SeedValueAndGradientMatchEigen) {
  REQUIRE_BINARY();
  Result r = mc({"eval", kSeed, "--wrt", "W", "--values", seed_values(), "--json"});
  expect_success(r);
  json j = parse_json(r.out);
  Eigen::MatrixXd W = seed_W();
  Eigen::MatrixXd M = W * W.transpose() + kSeedS * kSeedS * Eigen::MatrixXd::Identity(3, 3);
  double value = std::log(M.determinant());
  Eigen::MatrixXd G = 2 * M.inverse() * W;
  expect_close(j["value"], value);
  expect_close(j["gradient"]["W"], rows(G));
  EXPECT_EQ(lines_of(r.out).size(), 1u);
}

TEST(CliEval, ScalarVectorMatrixValued) {
  REQUIRE_BINARY();
  struct Case {
    const char* expr;
    json want;
  };
  const Case cases[] = {
      {"x'*A*x", 27.0},
      {"A*x", json{5.0, 11.0}},
      {"x*x'", json{json{1.0, 2.0}, json{2.0, 4.0}}},
      {"A'", json{json{1.0, 3.0}, json{2.0, 4.0}}},
      {"x'", json{1.0, 2.0}},  // a row vector prints as a flat list too
      {"s*A + I", json{json{1.5, 1.0}, json{1.5, 3.0}}},
      {"tr(S) + det(A)", 3.0},
      {"x.^2 + 1e-3*x", json{1.001, 4.002}},
      {"2.*x", json{2.0, 4.0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expr);
    Result r = mc({"eval", c.expr, "--values", small_values_for(c.expr, "S: symmetric(n); s: scalar"), "--decl",
                   "S: symmetric(n); s: scalar", "--json"});
    expect_success(r);
    json j = parse_json(r.out);
    expect_close(j["value"], c.want);
    EXPECT_FALSE(j.contains("gradient")) << r.out;
  }
}

TEST(CliEval, WithWrt) {
  REQUIRE_BINARY();
  Result r = mc({"eval", "x'*A*x", "--wrt", "x", "--wrt", "A", "--values", small_values_for("x'*A*x"), "--json"});
  expect_success(r);
  json j = parse_json(r.out);
  expect_close(j["value"], 27.0);
  expect_close(j["gradient"]["x"], json{12.0, 21.0});                         // (A + A')x
  expect_close(j["gradient"]["A"], json{json{1.0, 2.0}, json{2.0, 4.0}});     // x x'
  Result s = mc({"eval", "x'*S*x", "--wrt", "S", "--decl", "S: symmetric(n)", "--values",
                 small_values_for("x'*S*x", "S: symmetric(n)"), "--json"});
  expect_success(s);
  expect_close(parse_json(s.out)["gradient"]["S"], json{json{1.0, 2.0}, json{2.0, 4.0}});
}

TEST(CliEval, PlainOutput) {
  REQUIRE_BINARY();
  Result r = mc({"eval", "x'*A*x", "--wrt", "x", "--values", small_values_for("x'*A*x")});
  expect_success(r);
  EXPECT_NE(r.out.find("27"), std::string::npos) << describe(r);
}

TEST(CliEval, PrintedGradientEvaluatesToTheGradient) {
  REQUIRE_BINARY();
  struct Case {
    const char* expr;
    const char* wrt;
  };
  json all = json::parse(R"({"x": [0.5, 1.5, 2], "A": [[2, 1, 0], [1, 3, 1], [0, 1, 4]],
      "b": [1, -1, 0.5], "X": [[3, 1, 0], [1, 2, 0.5], [0, 0.5, 1]], "s": 0.7,
      "W": [[1, 2], [3, 4], [5, 6.5]]})");
  const Case cases[] = {
      {kSeed, "W"},
      {kSeed, "s"},
      {"x'*A*x", "x"},
      {"x'*A*x", "A"},
      {"norm2(A*x - b)^2", "x"},
      {"logdet(X) + tr(A*inv(X))", "X"},
      {"sum(exp(x)) + s*x'*x", "x"},
      {"logsumexp(A*x)", "x"},
      {"b'*log(sigmoid(x))", "x"},
      {"x'*inv(X)*x", "X"},
      {"tr(X^3)", "X"},
      {"-b'*log(softmax(A*x))", "x"},
  };
  // The values file of an expression: exactly its symbols (found by the
  // engine's own front end, which these tests do not exercise here).
  auto values_for = [&](const std::string& expr, const std::string& tag) {
    matcalc::Context cx;
    auto p = matcalc::compile(cx, expr, "");
    json v = json::object();
    for (const auto& [name, e] : p.symbols) v[name] = all.at(name);
    return write_file("feed_" + tag + ".json", v.dump());
  };
  int k = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.expr) + " wrt " + c.wrt);
    std::string tag = std::to_string(k++);
    Result gr = mc({"grad", c.expr, "--wrt", c.wrt});
    expect_success(gr);
    auto ls = lines_of(gr.out);
    ASSERT_EQ(ls.size(), 1u) << describe(gr);
    Result direct = mc({"eval", c.expr, "--wrt", c.wrt, "--values", values_for(c.expr, tag), "--json"});
    expect_success(direct);
    std::string gvals;
    try {
      gvals = values_for(ls[0], tag + "g");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "printed gradient does not compile: " << ls[0] << ": " << e.what();
      continue;
    }
    Result back = mc({"eval", "--json", "--values", gvals, "--", ls[0]});
    expect_success(back);
    expect_close(parse_json(back.out)["value"], parse_json(direct.out)["gradient"][c.wrt], 1e-8);
  }
}

TEST(CliCheck, AgreesAndPrintsRelativeError) {
  REQUIRE_BINARY();
  Result r = mc({"check", kSeed, "--wrt", "W"});
  expect_success(r);
  EXPECT_NE(r.out.find("relative error"), std::string::npos) << describe(r);
  Result d = mc({"check", "x'*A*x + sum(exp(x))", "--wrt", "x", "--wrt", "A", "--dims", "n=4", "--seed", "7"});
  expect_success(d);
  EXPECT_NE(d.out.find("relative error"), std::string::npos) << describe(d);
  Result s = mc({"check", "x'*S*x", "--wrt", "S", "--decl", "S: symmetric(n)"});
  expect_success(s);
  Result l = mc({"check", "logdet(X) - tr(X)", "--wrt", "X", "--dims", "n=3"});
  expect_success(l);
}

TEST(CliHelp, EveryHelpExitsZero) {
  REQUIRE_BINARY();
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--help"}, {"-h"}, {"grad", "--help"}, {"eval", "--help"}, {"check", "--help"},
           {"jacobian", "--help"}, {"hessian", "--help"}, {"explain", "--help"}}) {
    SCOPED_TRACE(args[0]);
    Result r = mc(args);
    expect_success(r);
    EXPECT_FALSE(r.out.empty()) << describe(r);
  }
  Result v = mc({"--version"});
  expect_success(v);
}

// ================================================================ bad input

namespace {

struct Bad {
  const char* name;
  std::vector<std::string> args;
  int caret = 0;           // expected caret column; 0 no requirement, -1 any caret
  const char* mention = "";  // a fragment stderr must contain
};

void expect_bad(const Bad& b, const Result& r) {
  SCOPED_TRACE(std::string("case: ") + b.name);
  EXPECT_FALSE(r.spawn_failed) << r.err;
  EXPECT_FALSE(r.signaled) << describe(r);
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "") << describe(r);
  EXPECT_FALSE(mentions_crash(r.err)) << describe(r);
  EXPECT_EQ(count(r.err, "error:"), 1) << describe(r);
  auto ls = lines_of(r.err);
  ASSERT_FALSE(ls.empty()) << describe(r);
  EXPECT_NE(ls[0].find("error:"), std::string::npos) << describe(r);
  EXPECT_LE(r.err.size(), 4000u) << "a long message: " << r.err.substr(0, 300);
  if (b.caret != 0) {
    int col = caret_column(r.err);
    if (b.caret > 0)
      EXPECT_EQ(col, b.caret) << describe(r);
    else
      EXPECT_GT(col, 0) << "no caret line: " << describe(r);
  }
  EXPECT_NE(r.err.find(b.mention), std::string::npos) << "should mention '" << b.mention << "': " << describe(r);
}

std::string values(const char* name, const char* content) { return write_file(name, content); }

}  // namespace

TEST(CliBadInput, SyntaxNameShapeAndDeclarationErrors) {
  REQUIRE_BINARY();
  const Bad cases[] = {
      {"missing operand", {"grad", "x'*x +", "--wrt", "x"}, 7, "operand"},
      {"unexpected character", {"grad", "x'*x + $y", "--wrt", "x"}, 8, "'$'"},
      {"unclosed paren", {"grad", "(x'*x", "--wrt", "x"}, 1, "unclosed"},
      {"unmatched paren", {"grad", "x'*x)", "--wrt", "x"}, 5, "unmatched"},
      {"empty call", {"grad", "tr()", "--wrt", "x"}, 4, "argument"},
      {"trailing tokens", {"grad", "x'*x y", "--wrt", "x"}, 6, "'y'"},
      {"bad number", {"grad", "1e999*x'*x", "--wrt", "x"}, 1, "1e999"},
      {"double operator", {"grad", "x'* * x", "--wrt", "x"}, 5, "'*'"},
      {"empty expression", {"grad", "", "--wrt", "x"}, 0, ""},
      {"number ending in dot", {"grad", "2.x", "--wrt", "x"}, 2, "'.'"},
      {"syntax error in eval", {"eval", "x'*x +", "--values", "/nonexistent.json"}, 7, ""},
      {"syntax error in check", {"check", "x'*x)", "--wrt", "x"}, 5, ""},
      {"unknown function", {"grad", "foo(x)", "--wrt", "x"}, 1, "foo"},
      {"unknown function later", {"grad", "x'*x + frob(x)", "--wrt", "x"}, 8, "frob"},
      {"unknown --wrt", {"grad", "x'*x", "--wrt", "y"}, 0, "'y'"},
      {"--wrt twice", {"grad", "x'*x", "--wrt", "x", "--wrt", "x"}, 0, "x"},
      {"product shape mismatch", {"grad", "tr(W*W)", "--wrt", "W", "--decl", "W: matrix(n,k)"}, -1, "n x k"},
      {"sum shape mismatch",
       {"grad", "sum(x + y)", "--wrt", "x", "--decl", "x: vector(n); y: vector(m)"},
       -1,
       "vector(m)"},
      {"scalar plus matrix", {"grad", "tr(X + 1)", "--wrt", "X", "--decl", "X: matrix(n,n)"}, -1, "ones(n,n)"},
      {"matrix power non-square", {"grad", "tr(W^2)", "--wrt", "W", "--decl", "W: matrix(n,k)"}, -1, "n x k"},
      {"logdet non-square", {"grad", "logdet(W)", "--wrt", "W", "--decl", "W: matrix(n,k)"}, 1, "n x k"},
      {"grad of a vector", {"grad", "A*x", "--wrt", "x", "--decl", "A: matrix(n,n)"}, 0, "scalar"},
      {"grad of a matrix", {"grad", "X'", "--wrt", "X", "--decl", "X: matrix(n,k)"}, 0, "scalar"},
      {"ambiguous kinds", {"grad", "sum(a*b)", "--wrt", "a"}, 0, "declare"},
      {"unsized identity", {"grad", "tr(I) + s", "--wrt", "s"}, 0, "I"},
      {"symbol named like a dimension", {"grad", "n*tr(W'*W)", "--wrt", "W", "--decl", "W: matrix(n,k)"}, 1, "'n'"},
      {"arity", {"grad", "tr(X, X)", "--wrt", "X"}, 1, "argument"},
      {"bad --decl: no colon", {"grad", "x'*x", "--wrt", "x", "--decl", "x vector(n)"}, 1, "declaration"},
      {"bad --decl: missing dimension", {"grad", "tr(W'*W)", "--wrt", "W", "--decl", "W: matrix(n)"}, 12, "','"},
      {"bad --decl: zero size", {"grad", "x'*x", "--wrt", "x", "--decl", "x: vector(0)"}, 11, "dimension"},
      {"bad --decl: declared twice",
       {"grad", "x'*x", "--wrt", "x", "--decl", "x: vector(n); x: vector(n)"},
       0,
       "twice"},
      {"bad --decl: symbol is a dimension",
       {"grad", "tr(W'*W)", "--wrt", "W", "--decl", "W: matrix(n,k); n: scalar"},
       0,
       "'n'"},
      {"bad --decl: unknown type", {"grad", "x'*x", "--wrt", "x", "--decl", "x: tensor(n)"}, 1, "declaration"},
      {"grad needs a scalar decl", {"grad", "x", "--wrt", "x", "--decl", "x: vector(n)"}, 0, "scalar"},
  };
  for (const Bad& b : cases) expect_bad(b, mc(b.args));
}

// `grad "A*x" --wrt x` with nothing declared: the names say matrix times
// vector (a vector, so no gradient); inference instead picks A and x
// scalars to satisfy "grad needs a scalar" and prints "A".
// grad needs a scalar: an undeclared A*x is read as scalars, never silently.
TEST(CliBadInput, GradOfUndeclaredMatrixVectorProductIsNotSilentlyScalar) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "A*x", "--wrt", "x"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: A is read as a scalar"), std::string::npos) << r.err;
  Result strict = mc({"grad", "A*x", "--wrt", "x", "--strict"});
  EXPECT_EQ(strict.status, 2) << strict.err;
  EXPECT_NE(strict.err.find("A is read as a scalar"), std::string::npos) << strict.err;
}

TEST(CliBadInput, DeclarationCaretShowsTheDeclarationText) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "tr(W'*W)", "--wrt", "W", "--decl", "W: matrix(n)"});
  std::string src;
  int col = caret_column(r.err, &src);
  EXPECT_EQ(col, 12) << describe(r);
  EXPECT_EQ(src, "  W: matrix(n)") << describe(r);
}

// A values file may hold more symbols than the expression uses: the same file
// evaluates a function and its printed gradient.
TEST(CliEval, ExtraSymbolsInTheValuesFileAreIgnored) {
  REQUIRE_BINARY();
  std::string v = write_file("extra_ok.json", R"({"x": [1, 2], "A": [[1, 2], [3, 4]], "z": 3})");
  Result r = mc({"eval", "x'*A*x", "--values", v, "--json"});
  expect_success(r);
  EXPECT_NEAR(parse_json(r.out)["value"].get<double>(), 27.0, 1e-12) << describe(r);
}

TEST(CliBadInput, ValuesFiles) {
  REQUIRE_BINARY();
  const std::string q = "x'*A*x";
  auto eval = [&](const std::string& file, const std::string& expr = "x'*A*x",
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"eval", expr, "--values", file, "--json"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::vector<std::string> sym = {"--decl", "S: symmetric(n)"};
  const Bad cases[] = {
      {"values file missing", eval(scratch() + "/does_not_exist.json"), 0, "does_not_exist"},
      {"values file is a directory", eval(scratch()), 0, ""},
      {"invalid JSON", eval(values("invalid.json", R"({"x": [1, 2], "A": [[1, 2], [3, 4]])")), 0, ""},
      {"empty file", eval(values("empty.json", "")), 0, ""},
      {"top level is a list", eval(values("toplist.json", "[1, 2]")), 0, ""},
      {"missing symbol", eval(values("missing.json", R"({"x": [1, 2]})")), 0, "A"},
      // (undeclared, x would be read as the matrix the file shows)
      {"wrong shape: matrix for vector",
       eval(values("wrongshape.json", R"({"x": [[1, 2], [3, 4]], "A": [[1, 2], [3, 4]]})"), "x'*A*x",
            {"--decl", "x: vector(n)"}),
       0, "x"},
      {"wrong shape: list for scalar",
       eval(values("listscalar.json", R"({"s": [1, 2], "x": [1, 2]})"), "s*x'*x", {"--decl", "s: scalar"}), 0, "s"},
      {"wrong shape: number for matrix",
       eval(values("nummatrix.json", R"({"x": [1, 2], "A": 3})"), "x'*A*x", {"--decl", "A: matrix(n,n)"}), 0, "A"},
      {"ragged rows", eval(values("ragged.json", R"({"x": [1, 2], "A": [[1, 2], [3]]})")), 0, "A"},
      {"mixed rows", eval(values("mixed.json", R"({"x": [1, 2], "A": [[1, 2], 3]})")), 0, "A"},
      {"empty list", eval(values("emptylist.json", R"({"x": [], "A": [[1, 2], [3, 4]]})")), 0, "x"},
      {"string entry", eval(values("string.json", R"({"x": [1, "two"], "A": [[1, 2], [3, 4]]})")), 0, "x"},
      {"boolean value", eval(values("bool.json", R"({"x": [1, 2], "A": true})")), 0, "A"},
      {"null value", eval(values("null.json", R"({"x": null, "A": [[1, 2], [3, 4]]})")), 0, "x"},
      {"NaN as a string", eval(values("nan.json", R"({"x": [1, "NaN"], "A": [[1, 2], [3, 4]]})")), 0, "x"},
      {"Inf as 1e999", eval(values("inf.json", R"({"x": [1, 1e999], "A": [[1, 2], [3, 4]]})")), 0, ""},
      {"-Inf in a matrix", eval(values("ninf.json", R"({"x": [1, 2], "A": [[1, -1e999], [3, 4]]})")), 0, ""},
      {"inconsistent dimensions", eval(values("inconsistent.json", R"({"x": [1, 2, 3], "A": [[1, 2], [3, 4]]})")), 0,
       "n"},
      {"non-square for square", eval(values("nonsquare.json", R"({"x": [1, 2], "A": [[1, 2, 3], [3, 4, 5]]})")), 0,
       "A"},
      {"non-symmetric for symmetric",
       eval(values("nonsym.json", R"({"x": [1, 2], "S": [[1, 2], [3, 4]]})"), "x'*S*x", sym), 0, "S"},
      {"declared size violated",
       eval(values("declsize.json", R"({"x": [1, 2], "A": [[1, 2], [3, 4]]})"), "x'*A*x", {"--decl", "x: vector(3)"}),
       0, ""},
      {"singular matrix under inv", eval(values("sing.json", R"({"A": [[1, 2], [2, 4]]})"), "tr(inv(A))"), 0, ""},
      {"singular matrix under logdet", eval(values("sing2.json", R"({"A": [[1, 2], [2, 4]]})"), "logdet(A)"), 0, ""},
      {"negative determinant under log(det)", eval(values("negdet.json", R"({"A": [[0, 1], [1, 0]]})"), "log(det(A))"),
       0, ""},
      {"log of a negative", eval(values("neg.json", R"({"s": -1})"), "log(s)", {"--decl", "s: scalar"}), 0, "log"},
      {"log of a negative entry", eval(values("negx.json", R"({"x": [1, -2]})"), "sum(log(x))"), 0, "log"},
      {"sqrt of a negative", eval(values("negs.json", R"({"s": -4})"), "sqrt(s)", {"--decl", "s: scalar"}), 0, ""},
      {"singular matrix in the gradient",
       {"eval", "logdet(A)", "--wrt", "A", "--values", values("sing3.json", R"({"A": [[1, 2], [2, 4]]})"), "--json"},
       0,
       ""},
      {"division by zero", eval(values("divzero.json", R"({"s": 0, "x": [1, 2]})"), "sum(x/s)"), 0, ""},
  };
  for (const Bad& b : cases) expect_bad(b, mc(b.args));
}

TEST(CliBadInput, CommandLineUsage) {
  REQUIRE_BINARY();
  const Bad cases[] = {
      {"no arguments", {}, 0, ""},
      {"unknown subcommand", {"frobnicate", "x'*x"}, 0, ""},
      {"unknown --format", {"grad", "x'*x", "--wrt", "x", "--format", "xml"}, 0, "xml"},
      {"grad without --wrt", {"grad", "x'*x"}, 0, "wrt"},
      {"grad without EXPR", {"grad", "--wrt", "x"}, 0, ""},
      {"eval without --values", {"eval", "x'*x"}, 0, "values"},
      {"unknown option", {"grad", "x'*x", "--wrt", "x", "--frob"}, 0, "frob"},
      {"bad --dims: not a number", {"check", "x'*x", "--wrt", "x", "--dims", "n=abc"}, 0, "abc"},
      {"bad --dims: no =", {"check", "x'*x", "--wrt", "x", "--dims", "n"}, 0, ""},
      {"bad --dims: zero", {"check", "x'*x", "--wrt", "x", "--dims", "n=0"}, 0, ""},
      {"bad --dims: negative", {"check", "x'*x", "--wrt", "x", "--dims", "n=-3"}, 0, ""},
      {"bad --dims: not a dimension", {"check", "x'*x", "--wrt", "x", "--dims", "z=3"}, 0, "z"},
      {"bad --dims: huge", {"check", "x'*x", "--wrt", "x", "--dims", "n=99999999999999999999"}, 0, ""},
      {"bad --seed", {"check", "x'*x", "--wrt", "x", "--seed", "abc"}, 0, ""},
      {"two expressions", {"grad", "x'*x", "y'*y", "--wrt", "x"}, 0, ""},
  };
  for (const Bad& b : cases) expect_bad(b, mc(b.args));
}

TEST(CliBadInput, HundredThousandOpenParentheses) {
  REQUIRE_BINARY();
  // A single argument can hold at most 128 KiB on Linux (MAX_ARG_STRLEN), so
  // 100,000 nested parentheses are sent unclosed; the nesting limit must
  // trip first, cleanly.
  Bad b{"100000 '('", {"grad", std::string(100000, '(') + "x", "--wrt", "x"}, 0, ""};
  Result r = mc(b.args);
  expect_bad(b, r);
  EXPECT_NE(r.err.find("nest"), std::string::npos) << describe(r);
}

TEST(CliBadInput, DeepBalancedNesting) {
  REQUIRE_BINARY();
  const int n = 60000;  // 120,001 bytes: as deep as one argument allows
  Bad b{"60000 balanced parentheses", {"grad", std::string(n, '(') + "x'*x" + std::string(n, ')'), "--wrt", "x"}, -1,
        ""};
  expect_bad(b, mc(b.args));
  Bad m{"100000 unary minuses", {"grad", "--wrt", "x", "--", std::string(100000, '-') + "x'*x"}, -1, ""};
  expect_bad(m, mc(m.args));
  std::string calls;
  for (int i = 0; i < 25000; ++i) calls += "exp(";
  Bad c{"25000 nested calls", {"grad", calls + "x'*x" + std::string(25000, ')'), "--wrt", "x"}, -1, ""};
  expect_bad(c, mc(c.args));
  std::string powers = "s";
  for (int i = 0; i < 50000; ++i) powers += "^2";
  Bad p{"50000 chained powers", {"grad", powers, "--wrt", "s", "--decl", "s: scalar"}, 0, ""};
  expect_bad(p, mc(p.args));
}

TEST(CliLimits, LargeExpressionDoesNotCrash) {
  REQUIRE_BINARY();
  // 1 MB cannot pass as one argument (MAX_ARG_STRLEN = 128 KiB); the
  // largest that can: ~125 KB, a sum of 17,800 distinct-looking terms.
  std::string e = "x'*A*x";
  int terms = 1;
  while (e.size() < 125000) {
    e += " + " + std::to_string(terms % 97 + 1) + "*x'*A*x";
    ++terms;
  }
  Result r = mc({"grad", e, "--wrt", "x"});
  EXPECT_FALSE(r.signaled) << describe(r);
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_TRUE(r.status == 0 || r.status == 2) << describe(r);
  EXPECT_FALSE(mentions_crash(r.err)) << describe(r);
  if (r.status == 0) {
    EXPECT_EQ(lines_of(r.out).size(), 1u) << describe(r);
  }
}

TEST(CliLimits, OneMegabyteArgument) {
  // Documents why the 1 MB case lives in the unit tests (TypecheckLimits):
  // execve refuses a single argument over 128 KiB before matcalc runs.
  REQUIRE_BINARY();
  std::string e = "x'*x";
  while (e.size() < (1u << 20)) e += " + x'*x";
  Result r = mc({"grad", e, "--wrt", "x"});
  if (!r.spawn_failed) {
    EXPECT_FALSE(r.signaled) << describe(r);
    EXPECT_TRUE(r.status == 0 || r.status == 2) << describe(r);
  }
}

// explain --format json, checked as an outside user would: every step's
// differential, evaluated by `matcalc eval` at the same W, s and dW, has the
// same value, and the last step is G : dW with G as grad prints it.
TEST(CliExplain, JsonStepsAreEqualWhenEvaluated) {
  REQUIRE_BINARY();
  Result r = mc({"explain", kSeed, "--wrt", "W", "--format", "json"});
  expect_success(r);
  json j = parse_json(r.out);
  ASSERT_TRUE(j.contains("steps")) << r.out;
  EXPECT_EQ(j["gradient"], "2*inv(W*W' + s^2*I)*W");
  EXPECT_EQ(j["steps"].back()["differential"], "2*inv(W*W' + s^2*I)*W : dW");
  Eigen::MatrixXd dW(3, 2);
  dW << 0.3, -1, 0.5, 2, -0.7, 0.1;
  std::string values = write_file("explain.json", json{{"W", rows(seed_W())}, {"s", kSeedS}, {"dW", rows(dW)}}.dump());
  std::vector<double> got;
  for (const auto& step : j["steps"]) {
    Result e = mc({"eval", step["differential"].get<std::string>(), "--decl", j["declarations"].get<std::string>(),
                   "--values", values, "--json"});
    expect_success(e);
    got.push_back(parse_json(e.out)["value"].get<double>());
  }
  ASSERT_GE(got.size(), 5u);
  for (double v : got) EXPECT_NEAR(v, got.back(), 1e-9 * std::max(1.0, std::abs(got.back()))) << r.out;
  // And it is the derivative: 2*inv(W*W' + s^2*I)*W : dW by hand.
  Eigen::MatrixXd W = seed_W();
  Eigen::MatrixXd C = W * W.transpose() + kSeedS * kSeedS * Eigen::MatrixXd::Identity(3, 3);
  EXPECT_NEAR(got.back(), (2 * C.inverse() * W).cwiseProduct(dW).sum(), 1e-9);
}

TEST(CliExplain, FormatsAndErrors) {
  REQUIRE_BINARY();
  for (const char* format : {"text", "latex", "markdown"}) {
    Result r = mc({"explain", kSeed, "--wrt", "W", "--format", format});
    expect_success(r);
    EXPECT_NE(r.out.find("log-determinant"), std::string::npos) << r.out;
  }
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"explain", kSeed, "--wrt", "W", "--wrt", "s"},
                                             {"explain", "W*W'", "--wrt", "W", "--decl", "W: matrix(n,k)"},
                                             {"explain", kSeed, "--wrt", "Q"},
                                             {"explain", kSeed},
                                             {"explain", kSeed, "--wrt", "W", "--format", "pdf"},
                                             {"explain", "log(det(W*W' + s^2*I)", "--wrt", "W"}}) {
    Result r = mc(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_TRUE(r.out.empty()) << describe(r);
    EXPECT_FALSE(mentions_crash(r.err)) << describe(r);
  }
}

TEST(CliExplain, ReadsTheExpressionFromAFile) {
  REQUIRE_BINARY();
  std::string file = write_file("explain_expr.txt", "x: vector(n)\nA: matrix(n,n)\nx'*A*x\n");
  Result r = mc({"explain", "--expr-file", file, "--wrt", "x"});
  expect_success(r);
  EXPECT_NE(r.out.find("so the gradient is (A + A')*x\n"), std::string::npos) << r.out;
  Result both = mc({"explain", "x'*x", "--expr-file", file, "--wrt", "x"});
  EXPECT_EQ(both.status, 2) << describe(both);
}

TEST(CliRules, BookNameSearchAndErrors) {
  REQUIRE_BINARY();
  Result all = mc({"rules"});
  expect_success(all);
  EXPECT_NE(all.out.find("product-rule"), std::string::npos);
  EXPECT_NE(all.out.find("frobenius-transpose"), std::string::npos);
  EXPECT_NE(all.out.find("log-of-det"), std::string::npos);
  Result one = mc({"rules", "log-determinant"});
  expect_success(one);
  EXPECT_NE(one.out.find("d(logdet(X)) = tr(inv(X)*dX)"), std::string::npos) << one.out;
  EXPECT_NE(one.out.find("det(X) > 0"), std::string::npos) << one.out;
  EXPECT_EQ(one.out.find("product-rule"), std::string::npos) << one.out;
  Result found = mc({"rules", "--search", "trace", "--format", "json"});
  expect_success(found);
  EXPECT_GE(parse_json(found.out).size(), 3u);
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"rules", "no-such-rule"}, {"rules", "--search", "zzzz"}, {"rules", "--format", "pdf"},
           {"rules", "trace", "--search", "trace"}}) {
    Result r = mc(args);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_TRUE(r.out.empty()) << describe(r);
  }
}

// An evaluation error in the value names the failing part when the
// expression has others: which of two logdets is outside its domain.
TEST(CliEval, ValueErrorNamesTheFailingPart) {
  REQUIRE_BINARY();
  std::string v = write_file("two_logdets.json", "{\"A\": [[1,2],[2,1]], \"B\": [[2,0],[0,2]]}");
  Result r = mc({"eval", "logdet(B) + logdet(A)", "--values", v});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("in logdet(A): logdet: determinant is not positive"), std::string::npos) << r.err;
  Result alone = mc({"eval", "logdet(A)", "--values", v});
  EXPECT_EQ(alone.err.find("in logdet(A)"), std::string::npos) << alone.err;  // the whole expression: said already
}
