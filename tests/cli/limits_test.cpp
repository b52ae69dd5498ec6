// Resource limits, end to end (docs/limits.md): inputs past a limit stop with
// one clear message naming the limit and exit status 2, never with a crash,
// a hang or gigabytes of memory; inputs within them succeed. Long expressions
// go through --expr-file (a file, or '-' for stdin), since Linux limits one
// argument to 128 KiB. No test asserts wall time (on a loaded machine that
// fails without a bug); run_process's hang guard (60 s) catches a hang.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using matcalc::testing::ProcessResult;
using matcalc::testing::run_process;

std::string repeat(const std::string& s, std::size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

// The contract for a refused input: exit 2, nothing on stdout, the limit named
// in a one-line message (with at most a source line and a caret line), and
// not a hang (killed by the guard: timed_out).
void expect_limit(const ProcessResult& r, const std::string& message) {
  SCOPED_TRACE("stderr: " + r.err.substr(0, 1000));
  ASSERT_FALSE(r.timed_out);
  ASSERT_FALSE(r.signaled) << "signal " << r.signal;
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(r.err.rfind("error: ", 0) == 0 || r.err.rfind("in --decl: error: ", 0) == 0);
  EXPECT_NE(r.err.find(message), std::string::npos) << "expected: " << message;
  EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 3);
  EXPECT_LT(r.err.size(), 1000u);
}

class Limits : public ::testing::Test {
 protected:
  matcalc::testing::TempDir dir{"matcalc_limits"};
  std::string write(const std::string& name, const std::string& content) {
    std::string path = (dir.path() / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  ProcessResult mc(const std::vector<std::string>& args, const std::string& stdin_text = "") {
    return run_process(MATCALC_BINARY, args, stdin_text);
  }
};

TEST_F(Limits, HundredThousandNestedParenthesesFromAFile) {
  REQUIRE_BINARY();
  std::string e = repeat("(", 100000) + "x'*x" + repeat(")", 100000);
  expect_limit(mc({"grad", "--expr-file", write("e.txt", e), "--wrt", "x"}), "nested too deeply (limit 400 levels)");
}

TEST_F(Limits, HundredThousandNestedParenthesesFromStdin) {
  REQUIRE_BINARY();
  std::string e = repeat("(", 100000) + "x'*x" + repeat(")", 100000);
  expect_limit(mc({"grad", "--expr-file", "-", "--wrt", "x"}, e), "nested too deeply (limit 400 levels)");
}

TEST_F(Limits, NestedFunctionCalls) {
  REQUIRE_BINARY();
  std::string e = repeat("exp(", 100000) + "s" + repeat(")", 100000);
  expect_limit(mc({"grad", "--expr-file", write("e.txt", e), "--wrt", "s"}), "nested too deeply");
}

TEST_F(Limits, PowerChainsInsideParenthesesCountTowardsTheHeight) {
  REQUIRE_BINARY();
  // 300 levels of parentheses, each with a chain of 300 powers: a tree 90,000 deep.
  std::string chain = repeat("^1", 300);
  std::string text = repeat("(", 300) + "s" + repeat(")" + chain, 300);
  expect_limit(mc({"grad", "--expr-file", write("e.txt", text), "--wrt", "s"}), "levels of operators");
}

TEST_F(Limits, ExpressionOverFourMebibytes) {
  REQUIRE_BINARY();
  std::string e = repeat("s + ", (5u << 20) / 4) + "s";
  expect_limit(mc({"grad", "--expr-file", write("e.txt", e), "--wrt", "s"}), "longer than 4194304 bytes");
  expect_limit(mc({"grad", "--expr-file", "-", "--wrt", "s"}, e), "longer than 4194304 bytes");
}

TEST_F(Limits, LongSumPastTheArgumentLimitSucceeds) {
  REQUIRE_BINARY();
  // 400 kB (a 1 MB one takes about 1 s; this keeps the test fast): 40,000
  // terms; like terms merge, the gradient is short.
  std::string e = "x: vector(n); A: matrix(n,n)\n" + repeat("x'*A*x + 2*s*x'*x + ", 20000) + "s";
  ASSERT_GT(e.size(), 400'000u);
  auto r = mc({"grad", "--expr-file", write("e.txt", e), "--wrt", "x", "--wrt", "s"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "x: 80000*s*x + (20000*A + 20000*A')*x\ns: 1 + 40000*x'*x\n");
  EXPECT_FALSE(r.timed_out);
}

TEST_F(Limits, DeepCompositionIsALimitNotAStackOverflow) {
  REQUIRE_BINARY();
  // Within the parser's nesting limit: exp(exp(...)) nested 390 deep; the
  // gradient is a product of 390 nested towers, quadratic in size.
  std::string e = "s: scalar\n" + repeat("exp(", 390) + "s" + repeat(")", 390);
  auto r = mc({"grad", "--expr-file", write("e.txt", e), "--wrt", "s"});
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 500);
  EXPECT_FALSE(r.timed_out);
}

TEST_F(Limits, SwellingGradientTextIsALimit) {
  REQUIRE_BINARY();
  // d/dt of s^t^t^...^t (400 powers, 801 bytes): a DAG of a few thousand
  // nodes whose text would be a tree of ~10^8; the code printers name the
  // shared parts and stay small.
  std::string e = "s" + repeat("^t", 400);
  expect_limit(mc({"grad", e, "--wrt", "t"}), "the printed expression would have more than 2000000 terms");
  auto r = mc({"grad", e, "--wrt", "t", "--format", "numpy"});
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 500);
  EXPECT_FALSE(r.timed_out);
}

TEST_F(Limits, LongMatrixChainIsAMatrixPower) {
  REQUIRE_BINARY();
  std::string e = "x'*" + repeat("A*", 500) + "x";
  auto r = mc({"grad", e, "--wrt", "x"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "(A^500 + (A')^500)*x\n");
  expect_limit(mc({"grad", e, "--wrt", "A"}), "the derivative of X^500");
}

TEST_F(Limits, HugeDimensionLiterals) {
  REQUIRE_BINARY();
  expect_limit(mc({"grad", "s*sum(ones(99999999999,3))", "--wrt", "s"}), "positive integer up to 1e9");
  expect_limit(mc({"grad", "x'*x", "--decl", "x: vector(99999999999)", "--wrt", "x"}), "positive integer up to 1e9");
  expect_limit(mc({"check", "x'*x", "--wrt", "x", "--dims", "n=1000000000000"}), "between 1 and 2000");
  expect_limit(mc({"check", "x'*x", "--wrt", "x", "--dims", "n=1e12"}), "not an integer size");
}

TEST_F(Limits, CheckOfAHugeVariable) {
  REQUIRE_BINARY();
  expect_limit(mc({"check", "sum(W)", "--wrt", "W", "--dims", "n=200,k=100"}), "limit 10000 entries");
}

TEST_F(Limits, EvaluationOfAHugeValue) {
  REQUIRE_BINARY();
  // x has 100,000 entries (a 600 kB file); x*x' would have 10^10.
  std::string v = "{\"x\": [" + repeat("1,", 99999) + "1]}";
  expect_limit(mc({"eval", "sum(x*x')", "--decl", "x: vector(n)", "--values", write("v.json", v)}),
               "too large to evaluate");
  expect_limit(mc({"eval", "sum(ones(n,n))*x'*x", "--decl", "x: vector(n)", "--values", write("v.json", v)}),
               "too large to evaluate");
}

TEST_F(Limits, DeeplyNestedValuesFile) {
  REQUIRE_BINARY();
  std::string v = "{\"x\": " + repeat("[", 1000000) + repeat("]", 1000000) + "}";
  expect_limit(mc({"eval", "x'*x", "--decl", "x: vector(n)", "--values", write("v.json", v)}),
               "nested too deeply (limit 32 levels)");
}

}  // namespace
