// Issue 10 through the command line: det's gradient at a tiny scale, det
// past an overflowing pivot product, exact integer det, and values files
// with a duplicated key, a hidden asymmetry or a huge token.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using matcalc::testing::ProcessResult;
using matcalc::testing::run_process;

struct ValuesRun {
  matcalc::testing::TempDir dir{"matcalc_values"};
  ProcessResult eval(const std::string& expr, const std::string& decls, const std::string& values,
                     std::vector<std::string> extra = {}) {
    const std::string path = (dir.path() / "v.json").string();
    std::ofstream(path) << values;
    std::vector<std::string> args{"eval", expr, "--decl", decls, "--values", path};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_process(MATCALC_BINARY, args);
  }
};

void expect_refused(const ProcessResult& r, const std::string& message) {
  SCOPED_TRACE("stderr: " + r.err.substr(0, 1000));
  ASSERT_FALSE(r.timed_out);
  ASSERT_FALSE(r.signaled);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u);
  EXPECT_NE(r.err.find(message), std::string::npos) << "expected: " << message;
}

}  // namespace

TEST(ValuesLimits, DetGradientAtTinyScaleIsNotZero) {
  REQUIRE_BINARY();
  ValuesRun run;
  ProcessResult r = run.eval("det(X)", "X: matrix(2,2)", R"({"X": [[1e-200, 0], [0, 1e-200]]})", {"--wrt", "X"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "value: 0.0\ngradient X: [[9.999999999999998e-201,0.0],[0.0,9.999999999999998e-201]]\n");
}

TEST(ValuesLimits, DetWithOverflowingPivotProductIsNotRefused) {
  REQUIRE_BINARY();
  ValuesRun run;
  ProcessResult r =
      run.eval("det(X)", "X: matrix(4,4)", R"({"X": [[1e300,0,0,0],[0,1e300,0,0],[0,0,1e-300,0],[0,0,0,1e-300]]})");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "value: 1.0000000000000002\n");  // the exact determinant of these doubles, rounded
}

TEST(ValuesLimits, DetOfSmallIntegerSymmetricMatrixIsExact) {
  REQUIRE_BINARY();
  ValuesRun run;
  ProcessResult r = run.eval("det(S)", "S: symmetric(3)", R"({"S": [[14,9,2],[9,30,0],[2,0,17]]})");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "value: 5643.0\n");
}

TEST(ValuesLimits, SymmetryCheckIsPerPairNotAgainstTheLargestEntry) {
  REQUIRE_BINARY();
  ValuesRun run;
  expect_refused(run.eval("x'*S*y", "S: symmetric(2); x: vector(2); y: vector(2)",
                          R"({"S": [[1e10, 1], [0, 1]], "x": [1, 0], "y": [0, 1]})"),
                 "'S' is declared symmetric but its value is not: entries (1,2) = 1 and (2,1) = 0 differ");
}

TEST(ValuesLimits, DuplicateKeyInValuesFileIsRejected) {
  REQUIRE_BINARY();
  ValuesRun run;
  expect_refused(run.eval("sum(x)", "x: vector(2)", R"({"x":[1,2],"x":[3,4]})"), "has the key \"x\" twice");
}

TEST(ValuesLimits, HugeTokenInValuesFileIsALimit) {
  REQUIRE_BINARY();
  ValuesRun run;
  expect_refused(run.eval("x", "x: scalar", "{\"x\": 1" + std::string(100000, '0') + "}"),
                 "has a token longer than 4096 bytes at byte 7");
}
