// `matcalc check` end to end (CLI.md, "Numeric"; docs/limits.md): the work is
// bounded before anything is evaluated, errors are judged against a noise
// floor measured at the inputs (never one that grows with |f|), a gradient
// that is zero in exact arithmetic agrees at rounding level, a user's own
// gradient is checked with --gradient, and --tolerance must be a positive
// finite number. Each test is named after the bug it pins; none asserts
// wall time (run_process's hang guard catches a hang).
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace {

using matcalc::testing::describe;
using matcalc::testing::ProcessResult;

ProcessResult mc(const std::vector<std::string>& args) { return matcalc::testing::run_process(MATCALC_BINARY, args); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Bad input: exit 2, nothing on stdout, one error naming `message`.
void expect_refused(const ProcessResult& r, const std::string& message) {
  SCOPED_TRACE(describe(r));
  ASSERT_FALSE(r.timed_out);
  ASSERT_FALSE(r.signaled);
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(has(r.err, "error: ")) << r.err;
  EXPECT_TRUE(has(r.err, message)) << "expected: " << message;
}

// ------------------------------------------------------------ 1. work

TEST(CheckWork, LogdetOfARankOneUpdateAtN2000IsRefusedBeforeItStarts) {
  REQUIRE_BINARY();
  // It ran for an hour: 4000 evaluations of a 2000 x 2000 factorization.
  ProcessResult r =
      mc({"check", "logdet(S + x*x')", "--wrt", "x", "--decl", "S: symmetric(n); x: vector(n)", "--dims", "n=2000"});
  expect_refused(r, "floating-point operations");
  EXPECT_TRUE(has(r.err, "the limit is 1e+10")) << r.err;
  EXPECT_TRUE(has(r.err, "give smaller --dims")) << r.err;
  // It names sizes that fit: n scaled down, well below 2000.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex("e\\.g\\. --dims n=([0-9]+)"))) << r.err;
  const int n = std::stoi(m[1]);
  EXPECT_GT(n, 10);
  EXPECT_LT(n, 2000);
}

TEST(CheckWork, SizesWithinTheLimitStillCheck) {
  REQUIRE_BINARY();
  ProcessResult r =
      mc({"check", "logdet(S + x*x')", "--wrt", "x", "--decl", "S: symmetric(n); x: vector(n)", "--dims", "n=30"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "x: ok")) << r.out;
}

TEST(CheckWork, TheEntryLimitStillComesFirst) {
  REQUIRE_BINARY();
  expect_refused(mc({"check", "sum(W)", "--wrt", "W", "--dims", "n=200,k=100"}), "limit 10000 entries");
}

// ------------------------------------------------------------ 2. noise floor

TEST(CheckNoiseFloor, AGradientOffBy1e3RelativeAtF1e12IsAMismatch) {
  REQUIRE_BINARY();
  // |f| ~ 1e12 and |G| ~ 1e6: the old floor (1e-9 * |f| = 1e3, absolute)
  // passed an error of 1e-3 relative (~600 absolute).
  for (const char* seed : {"1", "2", "3", "4", "5"}) {
    ProcessResult r =
        mc({"check", "1e12 + 2e5*x'*x", "--wrt", "x", "--dims", "n=3", "--gradient", "4.004e5*x", "--seed", seed});
    EXPECT_EQ(r.status, 1) << describe(r);
    EXPECT_TRUE(has(r.out, "x: MISMATCH  relative error 0.00")) << r.out;
    EXPECT_TRUE(has(r.out, "noise floor")) << r.out;
    EXPECT_TRUE(has(r.out, "DISAGREES")) << r.out;
  }
  // And where f and G are both ~1e12.
  ProcessResult big = mc({"check", "1e12*x'*x", "--wrt", "x", "--dims", "n=3", "--gradient", "2.002e12*x"});
  EXPECT_EQ(big.status, 1) << describe(big);
  // A scalar: off by 100 at |f| = 1e12 (the old floor, 1e3, passed it).
  ProcessResult s = mc({"check", "s^2 + 1e12", "--wrt", "s", "--gradient", "2*s + 100"});
  EXPECT_EQ(s.status, 1) << describe(s);
}

TEST(CheckNoiseFloor, TheRightGradientAtF1e12PassesWithinTheFloorAndSaysSo) {
  REQUIRE_BINARY();
  // The rounding of f (~1e-4 absolute) over the step (~6e-6) is an error of
  // ~1e-5 relative here, above the tolerance: explained by the floor.
  for (const char* seed : {"1", "2", "3", "4", "5"}) {
    ProcessResult r = mc({"check", "1e12 + 2e5*x'*x", "--wrt", "x", "--dims", "n=3", "--seed", seed});
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_TRUE(has(r.out, "x: ok  relative error")) << r.out;
    EXPECT_TRUE(has(r.out, "noise floor")) << r.out;
  }
}

TEST(CheckNoiseFloor, OutputNamesTheFloorAndTheStep) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "x'*x", "--wrt", "x", "--dims", "n=3"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("x: ok  relative error [0-9.e+-]+ \\(noise floor [0-9.e+-]+: central differences, h = "
                        "[0-9.e+-]+.*; rounding noise of f [0-9.e+-]+\\)")))
      << r.out;
}

TEST(CheckNoiseFloor, AGradientBelowWhatDifferencesResolveIsUnresolvedNotOk) {
  REQUIRE_BINARY();
  // G = 2e-12*x, but the rounding of f = 1 + ... over h is ~4e-11: nothing
  // can be said (the old absolute floor called it ok).
  ProcessResult r = mc({"check", "1 + 1e-12*x'*x", "--wrt", "x", "--dims", "n=3"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_TRUE(has(r.out, "x: UNRESOLVED")) << r.out;
  EXPECT_TRUE(has(r.out, "could not be verified")) << r.out;
}

TEST(CheckNoiseFloor, AnOverflowIsUnresolvedNotAgreement) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "sum(exp(3000*x))", "--wrt", "x", "--dims", "n=4"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_TRUE(has(r.out, "not finite")) << r.out;
}

// ------------------------------------------------------------ 3. zero gradients

TEST(CheckZeroGradient, TraceOfInvAAtTimesAAtAgreesAtRoundingLevel) {
  REQUIRE_BINARY();
  // tr(inv(A*A')*A*A') = n: the gradient is zero. A is inferred n x k; with
  // seed 2 the sizes were k < n, where A*A' is singular for every A ("could
  // not draw inputs ... rcond 2.03e-18"); with k > n both gradients are at
  // rounding level and the relative error (~0.3) was called a MISMATCH.
  ProcessResult r = mc({"check", "tr(inv(A*A')*A*A')", "--wrt", "A", "--seed", "2"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "A: ok  agrees (both are at rounding level")) << r.out;
  EXPECT_TRUE(has(r.out, "gradient agrees with central finite differences with seed 2")) << r.out;
  for (const char* seed : {"1", "3", "4", "5", "6", "7", "8"}) {
    ProcessResult s = mc({"check", "tr(inv(A*A')*A*A')", "--wrt", "A", "--seed", seed});
    EXPECT_EQ(s.status, 0) << "seed " << seed << "\n" << describe(s);
    EXPECT_TRUE(has(s.out, "both are at rounding level")) << s.out;
  }
}

TEST(CheckZeroGradient, SizesUnderWhichAProductMustBeSingularAreExplained) {
  REQUIRE_BINARY();
  // Fixed by the user: k < n, so A*A' is singular whatever A is.
  ProcessResult r = mc({"check", "tr(inv(A*A')*A*A')", "--wrt", "A", "--decl", "A: matrix(n,k)", "--dims", "n=3,k=2"});
  expect_refused(r, "could not draw inputs in the domain");
  EXPECT_TRUE(has(r.err, "singular at every input (give --dims with k >= n)")) << r.err;
  // Free sizes are chosen so that it is not: k > n.
  ProcessResult free =
      mc({"check", "logdet(A*B)", "--wrt", "A", "--decl", "A: matrix(n,k); B: matrix(k,n)", "--dims", "n=4"});
  EXPECT_EQ(free.status, 0) << describe(free);
  EXPECT_TRUE(has(free.out, "k=5")) << free.out;
}

TEST(CheckZeroGradient, AWrongZeroGradientIsStillAMismatch) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "x'*x", "--wrt", "x", "--gradient", "zeros(n)"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_TRUE(has(r.out, "x: MISMATCH")) << r.out;
}

// ------------------------------------------------------------ 4. --gradient

TEST(CheckGivenGradient, ARightFormulaPassesAndTheOutputSaysWhichWasChecked) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "A*x + A'*x"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "x: ok  relative error")) << r.out;
  EXPECT_TRUE(has(r.out, "(checked the given gradient (A + A')*x)")) << r.out;
  EXPECT_TRUE(has(r.out, "the given gradient agrees with central finite differences")) << r.out;
  // Two variables: one formula each, in --wrt order.
  ProcessResult two = mc({"check", "x'*A*x", "--wrt", "x", "A", "--gradient", "(A + A')*x", "--gradient", "x*x'"});
  EXPECT_EQ(two.status, 0) << describe(two);
  EXPECT_TRUE(has(two.out, "A: ok")) << two.out;
  // Declarations apply to the formula as to EXPR (S symmetric).
  ProcessResult sym = mc({"check", "x'*S*x", "--wrt", "S", "--decl", "S: symmetric(n)", "--gradient", "x*x'"});
  EXPECT_EQ(sym.status, 0) << describe(sym);
  // A formula that begins with '-' is the option's value, not EXPR.
  ProcessResult neg = mc({"check", "-x'*x", "--wrt", "x", "--gradient", "-2*x"});
  EXPECT_EQ(neg.status, 0) << describe(neg);
}

TEST(CheckGivenGradient, AWrongFormulaIsAMismatch) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "A*x"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_TRUE(has(r.out, "x: MISMATCH")) << r.out;
  EXPECT_TRUE(has(r.out, "checked the given gradient A*x")) << r.out;
  EXPECT_TRUE(has(r.out, "the given gradient DISAGREES")) << r.out;
}

TEST(CheckGivenGradient, AFormulaOfTheWrongShapeIsExit2WithACaret) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "x'*A"});
  expect_refused(r,
                 "in --gradient: error: the gradient w.r.t. x must have the shape of x, vector(n), but this "
                 "formula is 1 x n");
  EXPECT_TRUE(has(r.err, "\n  x'*A\n  ^^^^\n")) << r.err;
  // A conflict inside the formula: the caret under its place.
  ProcessResult inner = mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "A*x + x*x"});
  expect_refused(inner, "shape mismatch");
  EXPECT_TRUE(has(inner.err, "\n  A*x + x*x\n          ^")) << inner.err;
  // A symbol the expression does not have.
  ProcessResult name = mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "A*y"});
  expect_refused(name, "the gradient uses 'y', which is not a symbol of the expression");
  EXPECT_TRUE(has(name.err, "\n  A*y\n    ^")) << name.err;
  // A syntax error.
  expect_refused(mc({"check", "x'*A*x", "--wrt", "x", "--gradient", "A*(x"}), "in --gradient: error: ");
}

TEST(CheckGivenGradient, OneFormulaPerVariable) {
  REQUIRE_BINARY();
  expect_refused(mc({"check", "x'*A*x", "--wrt", "x", "A", "--gradient", "(A + A')*x"}),
                 "give one --gradient per --wrt, in the same order (2 --wrt, 1 --gradient)");
  expect_refused(mc({"check", "x'*A*x", "--wrt", "x", "--gradient"}), "--gradient needs a value");
}

TEST(CheckGivenGradient, HelpListsTheOption) {
  REQUIRE_BINARY();
  ProcessResult r = mc({"check", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(has(r.out, "--gradient")) << r.out;
}

// ------------------------------------------------------------ 5. --tolerance

TEST(CheckTolerance, NonPositiveOrNonFiniteTolerancesAreRefused) {
  REQUIRE_BINARY();
  // They were accepted and still reported "ok".
  for (const char* t : {"-1", "0", "-0", "nan", "inf", "-inf", "1e-400", "1e400", "1e-3x"})
    expect_refused(mc({"check", "x'*x", "--wrt", "x", std::string("--tolerance=") + t}),
                   "--tolerance must be a positive finite number");
  ProcessResult ok = mc({"check", "x'*x", "--wrt", "x", "--tolerance", "1e-3"});
  EXPECT_EQ(ok.status, 0) << describe(ok);
}

}  // namespace
