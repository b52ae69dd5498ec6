// Golden outputs: each *.golden file in this folder lists commands and the
// exact stdout each must print.
//
//   # a comment
//   $ grad "log(det(W*W' + s^2*I))" --wrt W
//   2*inv(W*W' + s^2*I)*W
//
// A `$` line is run as `matcalc <rest>` by /bin/sh; the lines after it, up to
// a blank line followed by a comment, a command or the end of the file, are
// the expected stdout. With MATCALC_UPDATE_GOLDEN=1 the
// files are rewritten with what the binary prints now, and each change is
// shown as a diff: review it before committing.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace {

struct Case {
  std::string command;
  std::string expected;
  std::vector<std::string> comments;  // lines before the command
};

// A blank line ends a case's output when the next non-blank line starts a
// comment or a command (or the file ends); other blank lines are output.
std::vector<Case> read_golden(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  auto starts_case = [](const std::string& l) { return l.rfind("$ ", 0) == 0 || l.rfind("#", 0) == 0; };

  std::vector<Case> cases;
  std::vector<std::string> pending;
  Case* cur = nullptr;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("$ ", 0) == 0) {
      cases.push_back({line.substr(2), "", pending});
      pending.clear();
      cur = &cases.back();
    } else if (line.empty()) {
      std::size_t j = i;
      while (j < lines.size() && lines[j].empty()) ++j;
      if (j == lines.size() || starts_case(lines[j])) cur = nullptr;
      else if (cur) cur->expected += "\n";
    } else if (cur) {
      cur->expected += line + "\n";
    } else {
      pending.push_back(line);
    }
  }
  return cases;
}

std::string run(const std::string& command) {
  std::string full = std::string("cd '") + MATCALC_SOURCE_DIR + "/tests/golden' && '" + MATCALC_BINARY + "' " +
                     command + " 2>&1";
  std::string out;
  FILE* f = popen(full.c_str(), "r");
  if (!f) return "<popen failed>";
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
  int status = pclose(f);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) out += "[exit " + std::to_string(WEXITSTATUS(status)) + "]\n";
  return out;
}

void write_golden(const fs::path& p, const std::vector<Case>& cases) {
  std::ofstream out(p);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (const auto& c : cases[i].comments) out << c << "\n";
    out << "$ " << cases[i].command << "\n" << cases[i].expected;
    if (i + 1 < cases.size()) out << "\n";
  }
}

}  // namespace

TEST(Golden, EveryFileMatches) {
  const bool update = std::getenv("MATCALC_UPDATE_GOLDEN") != nullptr;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(MATCALC_SOURCE_DIR) / "tests/golden")) {
    if (entry.path().extension() != ".golden") continue;
    ++files;
    auto cases = read_golden(entry.path());
    bool changed = false;
    for (auto& c : cases) {
      std::string got = run(c.command);
      if (got == c.expected) continue;
      if (update) {
        std::printf("--- %s\n$ %s\n-%s+%s", entry.path().filename().c_str(), c.command.c_str(), c.expected.c_str(),
                    got.c_str());
        c.expected = got;
        changed = true;
      } else {
        ADD_FAILURE() << entry.path().filename() << ": $ matcalc " << c.command << "\nexpected:\n"
                      << c.expected << "got:\n"
                      << got << "(MATCALC_UPDATE_GOLDEN=1 rewrites the golden files)";
      }
    }
    if (changed) write_golden(entry.path(), cases);
  }
  EXPECT_GT(files, 0);
}
