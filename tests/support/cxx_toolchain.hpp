// The C++ compiler and Eigen headers that tests compiling generated C++ use
// (found once per process; `missing` says why a test must skip), and how they
// write a double so that the compiler reads back the same value.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace matcalc::testing {

struct Toolchain {
  std::string cxx;
  std::string eigen_include;
  std::string missing;
};

inline const Toolchain& toolchain() {
  static const Toolchain tc = [] {
    Toolchain t;
    std::vector<std::string> compilers;
    if (const char* env = std::getenv("CXX"); env && *env) compilers.push_back(env);
    for (const char* c : {"c++", "g++", "clang++"}) compilers.push_back(c);
    for (const std::string& c : compilers) {
      if (std::system(("command -v '" + c + "' >/dev/null 2>&1").c_str()) == 0) {
        t.cxx = c;
        break;
      }
    }
    for (const char* dir : {"/usr/include/eigen3", "/usr/local/include/eigen3", "/opt/homebrew/include/eigen3"}) {
      if (std::filesystem::exists(std::filesystem::path(dir) / "Eigen" / "Dense")) {
        t.eigen_include = dir;
        break;
      }
    }
    if (t.cxx.empty())
      t.missing = "no C++ compiler found (tried $CXX, c++, g++, clang++)";
    else if (t.eigen_include.empty())
      t.missing = "no Eigen headers found (tried /usr/include/eigen3 and others)";
    return t;
  }();
  return tc;
}

// A double as C++ source that reads back as the same double.
inline std::string cpp_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace matcalc::testing
