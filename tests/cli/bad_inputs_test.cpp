// The bad-input corpus (tests/cli/bad_inputs.json), end to end against the
// built binary: one test per row. A row is {"name", "args", "status",
// "message", optional "files" (name -> content, written to a fresh temporary
// directory; "{dir}" in args names it) and optional "stdin"}. Every row must
// exit with its status (2: bad input), print nothing on stdout, and print on
// stderr one message line that starts with "error:" (or "in --decl: error:")
// and contains the row's message, optionally followed by the source line and
// a caret line, or by the usage hint of a command-line error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using json = nlohmann::json;

struct Row {
  std::string name;
  std::vector<std::string> args;
  std::map<std::string, std::string> files;
  std::string stdin_text;
  int status = 2;
  std::string message;
};
void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }

std::vector<Row> load_rows() {
  std::ifstream in(std::string(MATCALC_SOURCE_DIR) + "/tests/cli/bad_inputs.json");
  std::vector<Row> rows;
  if (!in) return rows;
  json j = json::parse(in);
  for (const auto& r : j) {
    Row row;
    row.name = r.at("name").get<std::string>();
    row.args = r.at("args").get<std::vector<std::string>>();
    if (r.contains("files")) row.files = r.at("files").get<std::map<std::string, std::string>>();
    row.stdin_text = r.value("stdin", "");
    row.status = r.value("status", 2);
    row.message = r.at("message").get<std::string>();
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool is_caret_line(const std::string& l) {
  return l.find('^') != std::string::npos && l.find_first_not_of(" ^") == std::string::npos;
}

class BadInput : public ::testing::TestWithParam<Row> {};

TEST_P(BadInput, FailsCleanly) {
  const Row& row = GetParam();
  struct stat st;
  if (stat(MATCALC_BINARY, &st) != 0) GTEST_SKIP() << "matcalc binary not built: " << MATCALC_BINARY;
  matcalc::testing::TempDir dir("matcalc_bad_input");
  for (const auto& [name, content] : row.files) std::ofstream(dir.path() / name, std::ios::binary) << content;
  std::vector<std::string> args;
  for (std::string a : row.args) {
    for (std::size_t p; (p = a.find("{dir}")) != std::string::npos;) a.replace(p, 5, dir.path().string());
    args.push_back(a);
  }
  auto r = matcalc::testing::run_process(MATCALC_BINARY, args, row.stdin_text);
  SCOPED_TRACE("stderr: " + r.err.substr(0, 2000));
  ASSERT_FALSE(r.timed_out);
  ASSERT_FALSE(r.signaled) << "signal " << r.signal;
  EXPECT_EQ(r.status, row.status);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(row.message), std::string::npos) << "expected the message to contain: " << row.message;
  auto lines = lines_of(r.err);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].rfind("error: ", 0) == 0 || lines[0].rfind("in --decl: error: ", 0) == 0) << lines[0];
  EXPECT_EQ(lines[0].find("internal error"), std::string::npos);
  const bool caret = lines.size() == 3 && is_caret_line(lines[2]);
  const bool hint = lines.size() == 2 && lines[1].rfind("Run 'matcalc --help'", 0) == 0;
  EXPECT_TRUE(lines.size() == 1 || caret || hint) << "more than one message line";
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(load_rows()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.name; });

TEST(BadInputCorpus, HasAtLeastSixtyRows) { EXPECT_GE(load_rows().size(), 60u); }

}  // namespace
