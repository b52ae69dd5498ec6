// docs/ARCHITECTURE.md's "How to add an operator" lists the source files a
// new operator is written in. This test holds the list to account: at most
// five files, each of them existing, and every source file that names an
// ordinary operator (one with no syntax or code of its own anywhere: tanh,
// cos, ...) on the list, or in the one place the doc names for that
// operator's class (an elementwise function's constant folding).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
const fs::path kRoot = MATCALC_SOURCE_DIR;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The files between the add-operator-files markers: "- `src/...`: ...".
std::set<std::string> listed_files() {
  const std::string doc = read(kRoot / "docs/ARCHITECTURE.md");
  const auto begin = doc.find("<!-- add-operator-files:begin -->");
  const auto end = doc.find("<!-- add-operator-files:end -->");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return {};
  const std::string part = doc.substr(begin, end - begin);
  std::set<std::string> out;
  const std::regex item(R"(^- `([^`]+)`)", std::regex::multiline);
  for (auto it = std::sregex_iterator(part.begin(), part.end(), item); it != std::sregex_iterator(); ++it)
    out.insert((*it)[1]);
  return out;
}

// Source files (src/, include/) that mention `word` as a whole word.
std::set<std::string> files_naming(const std::string& word) {
  const std::regex re("\\b" + word + "\\b");
  std::set<std::string> out;
  for (const char* dir : {"src", "include"})
    for (const auto& e : fs::recursive_directory_iterator(kRoot / dir)) {
      if (!e.is_regular_file()) continue;
      const std::string text = read(e.path());
      if (std::regex_search(text, re)) out.insert(fs::relative(e.path(), kRoot).generic_string());
    }
  return out;
}

TEST(ArchitectureDoc, AddingAnOperatorTouchesAtMostFiveListedFiles) {
  const std::set<std::string> files = listed_files();
  ASSERT_FALSE(files.empty()) << "docs/ARCHITECTURE.md has no add-operator-files list";
  EXPECT_LE(files.size(), 5u);
  for (const auto& f : files) EXPECT_TRUE(fs::exists(kRoot / f)) << f << " is listed but does not exist";
}

TEST(ArchitectureDoc, AddingAnOperatorTouchesOnlyTheListedFiles) {
  std::set<std::string> allowed = listed_files();
  // The doc's one extra place for an elementwise function: its value at a
  // number and whether f(0) = 0.
  allowed.insert("src/ir/builders_elementwise.cpp");
  for (const char* op : {"Tanh", "Cos", "Sin", "Tan", "Exp", "Log"}) {
    for (const auto& f : files_naming(op))
      EXPECT_TRUE(allowed.count(f)) << f << " names the operator " << op
                                    << ": a new operator would need it too, but docs/ARCHITECTURE.md does not list it";
  }
}

}  // namespace
