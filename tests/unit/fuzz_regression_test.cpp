// Every input that once broke a fuzz target (fuzz/regressions/TARGET/*), and
// the committed seed corpus (fuzz/corpus/TARGET/*), run through the same entry
// functions as the libFuzzer targets (fuzz/entry.hpp), in the normal build. An
// entry returns normally when matcalc accepts an input or rejects it with a
// matcalc::Error; any other exception is a bug.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz/entry.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FuzzInputs : public ::testing::TestWithParam<std::string> {};

void run_all(const std::string& target, const std::string& folder, std::size_t* count) {
  auto entry = matcalc::fuzz::entry_by_name(target);
  ASSERT_NE(entry, nullptr);
  for (const fs::path& f : files_under(fs::path(MATCALC_SOURCE_DIR) / "fuzz" / folder / target)) {
    SCOPED_TRACE("input file: " + f.string());
    std::string input = read_all(f);
    try {
      entry(input);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
    ++*count;
  }
}

TEST_P(FuzzInputs, RegressionsPass) {
  std::size_t n = 0;
  run_all(GetParam(), "regressions", &n);
}

TEST_P(FuzzInputs, SeedCorpusPasses) {
  std::size_t n = 0;
  run_all(GetParam(), "corpus", &n);
  EXPECT_GT(n, 0u) << "no seed corpus for " << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs,
                         ::testing::Values("expression", "declarations", "values", "pipeline"),
                         [](const auto& info) { return info.param; });

}  // namespace
