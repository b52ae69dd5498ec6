// Running a generated Python module (print/numpy.hpp) in a test: find an
// interpreter that can import numpy, call the module's value() and
// gradient() on JSON values, and compare what came back (print_test.cpp and
// broadcast_test.cpp).
#pragma once
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace matcalc::testing {

// An interpreter that can import `module`, or nothing. Debian's python3 has
// numpy; the one first on PATH may not. MATCALC_PYTHON, when set, is tried first.
inline std::optional<std::string> python_with(const std::string& module) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MATCALC_PYTHON"); env && *env) candidates.push_back(env);
  for (const char* py : {"/usr/bin/python3", "python3", "python"}) candidates.push_back(py);
  for (const std::string& py : candidates) {
    std::string cmd = py + " -c 'import " + module + "' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return std::nullopt;
}

inline const std::optional<std::string>& numpy_python() {
  static const std::optional<std::string> py = python_with("numpy");
  return py;
}

// Skips the test, saying why, when no interpreter has numpy; else binds `py`.
#define REQUIRE_NUMPY_PYTHON(py)                                                                             \
  if (!::matcalc::testing::numpy_python())                                                                   \
    GTEST_SKIP() << "no Python interpreter here can import numpy (tried /usr/bin/python3, python3, python)"; \
  const std::string& py = *::matcalc::testing::numpy_python()

// Loads the module, calls value() and gradient() on the values and prints
// what came back as JSON, with each array's type and shape.
inline constexpr const char* kModuleDriver = R"PY(
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("generated", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
with open(sys.argv[2]) as fh:
    raw = json.load(fh)
args = {k: (np.array(x, dtype=float) if isinstance(x, list) else x) for k, x in raw.items()}

def enc(x):
    if isinstance(x, float):
        return {"type": "float", "data": x}
    t = type(x).__name__
    if hasattr(x, "detach"):
        x = x.detach().numpy()
    a = np.asarray(x)
    return {"type": t, "shape": list(a.shape), "data": a.tolist()}

out = {}
try:
    out["value"] = enc(m.value(**args))
    if hasattr(m, "gradient"):
        g = m.gradient(**args)
        out["gradient"] = {k: enc(x) for k, x in g.items()} if isinstance(g, dict) else enc(g)
except ValueError as e:
    out["error"] = str(e)
print(json.dumps(out))
)PY";

// Runs the driver on `module` with `values`; the parsed JSON it printed (an
// empty object, and a test failure showing the module, when it did not run).
inline nlohmann::json run_module(const std::string& python, const std::string& module, const nlohmann::json& values) {
  TempDir dir;
  std::ofstream(dir.path() / "generated.py") << module;
  std::ofstream(dir.path() / "driver.py") << kModuleDriver;
  std::ofstream(dir.path() / "values.json") << values.dump();
  std::string cmd = python + " " + (dir.path() / "driver.py").string() + " " + (dir.path() / "generated.py").string() +
                    " " + (dir.path() / "values.json").string() + " 2>" + (dir.path() / "stderr.txt").string();
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
  }
  std::ifstream err(dir.path() / "stderr.txt");
  std::stringstream es;
  es << err.rdbuf();
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "the module did not run:\n" << es.str() << "\n--- module ---\n" << module;
    return nlohmann::json::object();
  }
  return j;
}

// A matrix as a list of rows, a vector (n x 1) as a flat list.
inline nlohmann::json json_rows(const Eigen::MatrixXd& m) {
  nlohmann::json j = nlohmann::json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    nlohmann::json r = nlohmann::json::array();
    for (Eigen::Index c = 0; c < m.cols(); ++c) r.push_back(m(i, c));
    j.push_back(r);
  }
  return j;
}
inline nlohmann::json json_list(const Eigen::MatrixXd& v) {
  nlohmann::json j = nlohmann::json::array();
  for (Eigen::Index i = 0; i < v.size(); ++i) j.push_back(v(i));
  return j;
}

inline bool close_to(double got, double want) { return std::fabs(got - want) <= 1e-9 * (1 + std::fabs(want)); }

inline void expect_scalar(const nlohmann::json& enc, double want) {
  ASSERT_TRUE(enc.is_object()) << enc;
  double got = enc["data"].get<double>();
  EXPECT_TRUE(close_to(got, want)) << "got " << got << ", want " << want;
}

inline void expect_vector(const nlohmann::json& enc, const Eigen::MatrixXd& want) {
  ASSERT_TRUE(enc.is_object()) << enc;
  ASSERT_EQ(enc["shape"], nlohmann::json::array({want.size()})) << enc;
  for (Eigen::Index i = 0; i < want.size(); ++i)
    EXPECT_TRUE(close_to(enc["data"][i].get<double>(), want(i)))
        << "entry " << i << ": got " << enc["data"][i] << ", want " << want(i);
}

inline void expect_matrix(const nlohmann::json& enc, const Eigen::MatrixXd& want) {
  ASSERT_TRUE(enc.is_object()) << enc;
  ASSERT_EQ(enc["shape"], nlohmann::json::array({want.rows(), want.cols()})) << enc;
  for (Eigen::Index i = 0; i < want.rows(); ++i)
    for (Eigen::Index c = 0; c < want.cols(); ++c)
      EXPECT_TRUE(close_to(enc["data"][i][c].get<double>(), want(i, c)))
          << "entry (" << i << "," << c << "): got " << enc["data"][i][c] << ", want " << want(i, c);
}

}  // namespace matcalc::testing
