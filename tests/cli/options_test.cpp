// End-to-end tests of the command-line options of issue 9 (CLI side):
// --show-types, --strict and warning lines; --wrt lists; eval --dims; values
// files that size dimensions and write one-entry vectors as [x]; comments
// and line breaks in --expr-file. Each runs the built binary and checks
// stdout, stderr and the exit status. Bad inputs are rows of bad_inputs.json.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace {

using json = nlohmann::json;
using Result = matcalc::testing::ProcessResult;

Result mc(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  return matcalc::testing::run_process(MATCALC_BINARY, args, stdin_text);
}

std::string show(const Result& r) {
  return "status " + std::to_string(r.status) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class Options : public ::testing::Test {
 protected:
  matcalc::testing::TempDir dir{"matcalc_options"};
  std::string file(const std::string& name, const std::string& content) {
    std::string p = (dir.path() / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

// ------------------------------------------------------------ --show-types

TEST_F(Options, ShowTypesPrintsOneTypesLineOnStderrBeforeTheResult) {
  REQUIRE_BINARY();
  for (const char* cmd : {"grad", "check", "explain"}) {
    Result r = mc({cmd, "x'*A*x", "--wrt", "x", "--decl", "A: matrix(n,n)", "--show-types"});
    ASSERT_EQ(r.status, 0) << cmd << "\n" << show(r);
    auto err = lines_of(r.err);
    ASSERT_EQ(err.size(), 1u) << cmd << "\n" << show(r);
    EXPECT_EQ(err[0], "types: x: vector(n); A: matrix(n,n)") << cmd;
    EXPECT_FALSE(r.out.empty()) << cmd;
  }
  Result plain = mc({"grad", "x'*A*x", "--wrt", "x", "--decl", "A: matrix(n,n)"});
  EXPECT_EQ(plain.err, "");
}

TEST_F(Options, ShowTypesOnEval) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"x": [1, 2], "s": 3})");
  Result r = mc({"eval", "s*x'*x", "--decl", "s: scalar", "--values", v, "--show-types", "--json"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(r.err, "types: s: scalar; x: vector(n)\n");
  EXPECT_EQ(json::parse(r.out)["value"], 15.0);
}

TEST_F(Options, GradJsonCarriesTheTypes) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "x'*A*x", "--wrt", "x", "--decl", "A: matrix(n,n)", "--format", "json"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(json::parse(r.out).at("types"), "x: vector(n); A: matrix(n,n)");
}

TEST_F(Options, StrictIsAcceptedWhereNothingWarns) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "x'*A*x", "--wrt", "x", "--decl", "A: matrix(n,n)", "--strict"});
  EXPECT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(r.err, "");
}

// LANGUAGE.md: `X^T` reads T as an exponent symbol, with a warning; --strict
// makes it an error.
TEST_F(Options, WarningsArePrintedAndStrictMakesThemErrors) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "tr(X^T*X)", "--wrt", "X"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_FALSE(r.out.empty());
  auto err = lines_of(r.err);
  ASSERT_FALSE(err.empty()) << show(r);
  bool names_the_exponent = false;
  for (const std::string& line : err) {
    EXPECT_EQ(line.rfind("warning: ", 0), 0u) << line;
    names_the_exponent = names_the_exponent || line.find("X^T") != std::string::npos;
  }
  EXPECT_TRUE(names_the_exponent) << r.err;
  Result strict = mc({"grad", "tr(X^T*X)", "--wrt", "X", "--strict"});
  EXPECT_EQ(strict.status, 2) << show(strict);
  EXPECT_EQ(strict.out, "");
  EXPECT_EQ(strict.err.rfind("error: ", 0), 0u) << strict.err;
  EXPECT_NE(strict.err.find("under --strict"), std::string::npos) << strict.err;
}

// ------------------------------------------------------------------ --wrt

TEST_F(Options, WrtTakesSeveralNamesInEveryPlacement) {
  REQUIRE_BINARY();
  const std::string expected = "x: y\ny: x\n";
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"grad", "x'*y", "--wrt", "x", "y"},
           {"grad", "x'*y", "--wrt", "x", "--wrt", "y"},
           {"grad", "--wrt", "x", "y", "--", "x'*y"},
           {"grad", "--wrt", "x", "y", "x'*y"},
           {"grad", "--wrt=x", "y", "x'*y"},
       }) {
    Result r = mc(args);
    EXPECT_EQ(r.status, 0) << show(r);
    EXPECT_EQ(r.out, expected) << args[2] << " " << args[3] << " " << args[4];
  }
}

TEST_F(Options, WrtListEndsAtTheFirstArgumentThatIsNotAName) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "--wrt", "x", "x'*x", "--format", "latex"});
  EXPECT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(r.out, "2\\,x\n");
}

TEST_F(Options, WrtListSeveralOnEval) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"x": [1, 2], "y": [3, 4]})");
  Result r = mc({"eval", "x'*y", "--wrt", "x", "y", "--values", v, "--json"});
  ASSERT_EQ(r.status, 0) << show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["gradient"]["x"], json::parse("[3.0, 4.0]"));
  EXPECT_EQ(j["gradient"]["y"], json::parse("[1.0, 2.0]"));
}

TEST_F(Options, HelpDocumentsTheWrtRule) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--wrt x y or --wrt x --wrt y"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--show-types"), std::string::npos);
  EXPECT_NE(r.out.find("--strict"), std::string::npos);
}

TEST_F(Options, UnknownOptionIsReportedBeforeAMissingRequiredOne) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "x'*x", "--with", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(lines_of(r.err).at(0), "error: unknown option --with for 'matcalc grad' (did you mean --wrt?)");
  EXPECT_EQ(r.err.find("required"), std::string::npos) << r.err;
}

// ------------------------------------------------------------ eval --dims

TEST_F(Options, EvalDimsSizesADimensionNoValueCarries) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"x": [1, 2]})");
  for (const std::vector<std::string>& dims : std::vector<std::vector<std::string>>{
           {"--dims", "k=3"}, {"--dims", "k = 3"}, {"--dims", " k=3 , n = 2"}, {"--dims", "k=3", "--dims", "n=2"}}) {
    std::vector<std::string> args{"eval", "x'*ones(n)*sum(ones(k))", "--decl", "x: vector(n)", "--values", v, "--json"};
    args.insert(args.end(), dims.begin(), dims.end());
    Result r = mc(args);
    ASSERT_EQ(r.status, 0) << dims[1] << "\n" << show(r);
    EXPECT_EQ(json::parse(r.out)["value"], 9.0) << dims[1];
  }
}

TEST_F(Options, ValuesFileKeySizesADimension) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"x": [1, 2], "k": 4, "n": 2})");
  Result r = mc({"eval", "x'*ones(n)*sum(ones(k))", "--decl", "x: vector(n)", "--values", v, "--json"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(json::parse(r.out)["value"], 12.0);
}

TEST_F(Options, OneEntryVectorsAndMatricesMayBeWrittenAsLists) {
  REQUIRE_BINARY();
  for (const char* values : {R"({"x": [3], "A": [[2]]})", R"({"x": [[3]], "A": 2})", R"({"x": 3, "A": [2]})"}) {
    std::string v = file("v.json", values);
    Result r = mc({"eval", "x'*A*x", "--decl", "x: vector(1); A: matrix(1,1)", "--values", v, "--json"});
    ASSERT_EQ(r.status, 0) << values << "\n" << show(r);
    EXPECT_EQ(json::parse(r.out)["value"], 18.0) << values;
  }
}

// A product dimension whose factors repeat names each factor once.
TEST_F(Options, DimensionConflictNamesEachFactorOnce) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"x": [1, 2], "v": [1, 2, 3, 4, 5]})");
  Result r = mc({"eval", "x'*x + sum(v)", "--decl", "x: vector(n); v: vector(n*n)", "--values", v});
  EXPECT_EQ(r.status, 2) << show(r);
  EXPECT_NE(r.err.find("n = 2 (from x)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("n = 2 (from x), n = 2"), std::string::npos) << r.err;
}

// ------------------------------------------- gradient errors name their origin

TEST_F(Options, GradientErrorNamesTheUsersSubexpression) {
  REQUIRE_BINARY();
  std::string v = file("v.json", R"({"A": [[1, 0], [0, 1e-15]], "B": [[1, 0], [0, 1]]})");
  Result r = mc({"eval", "tr(B*A) + logdet(A)", "--wrt", "A", "--values", v});
  EXPECT_EQ(r.status, 2) << show(r);
  EXPECT_EQ(r.out, "");
  auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_EQ(err[0].rfind("error: in the gradient w.r.t. A (from logdet(A), whose derivative needs inv(A')): inv: ", 0),
            0u)
      << err[0];
  // The value alone is fine: no gradient, no error.
  Result value = mc({"eval", "tr(B*A) + logdet(A)", "--values", v});
  EXPECT_EQ(value.status, 0) << show(value);
}

// ------------------------------------------------ layout of expression files

TEST_F(Options, ExprFileWithCommentsAndLineBreaks) {
  REQUIRE_BINARY();
  std::string f = file("f.txt",
                       "# a least-squares objective\n"
                       "A: matrix(m,n)   # the data\n"
                       "b: vector(m)\n"
                       "\n"
                       "norm2(A*x - b)^2 +   # the fit\n"
                       "  lambda *\n"
                       "  (x'*x)             # the penalty\n");
  Result r = mc({"grad", "--expr-file", f, "--wrt", "x", "--decl", "lambda: scalar"});
  ASSERT_EQ(r.status, 0) << show(r);
  Result same = mc({"grad", "norm2(A*x - b)^2 + lambda*(x'*x)", "--wrt", "x", "--decl",
                    "A: matrix(m,n); b: vector(m); lambda: scalar"});
  ASSERT_EQ(same.status, 0) << show(same);
  EXPECT_EQ(r.out, same.out);
}

TEST_F(Options, ExprFileBrokenInsideParentheses) {
  REQUIRE_BINARY();
  std::string f = file("f.txt", "logdet(\n  X'*X\n  + I\n)\n");
  Result r = mc({"grad", "--expr-file", f, "--wrt", "X"});
  ASSERT_EQ(r.status, 0) << show(r);
  Result same = mc({"grad", "logdet(X'*X + I)", "--wrt", "X"});
  EXPECT_EQ(r.out, same.out);
}

// ------------------------------------------------ kinds from the values file

TEST_F(Options, EvalTakesKindsFromTheValuesFile) {
  REQUIRE_BINARY();
  std::string v = file("kinds.json", R"({"s": 2, "t": 3, "X": [[1, 2], [3, 4]]})");
  const std::pair<const char*, double> cases[] = {{"s/t/2", 1.0 / 3}, {"2.*s", 4.0}, {"tr(X)*s", 10.0}};
  for (const auto& [expr, want] : cases) {
    Result r = mc({"eval", expr, "--values", v, "--json"});
    ASSERT_EQ(r.status, 0) << expr << "\n" << show(r);
    EXPECT_DOUBLE_EQ(json::parse(r.out)["value"].get<double>(), want) << expr;
  }
  Result bad = mc({"eval", "X + s", "--values", v, "--json"});
  EXPECT_EQ(bad.status, 2) << show(bad);
  EXPECT_NE(bad.err.find("s*I"), std::string::npos) << show(bad);
  EXPECT_NE(bad.err.find("s*ones("), std::string::npos) << show(bad);
}

TEST_F(Options, OneEntryListsKeepTheirKind) {
  REQUIRE_BINARY();
  std::string v = file("one.json", R"({"x": [5], "A": [[2]]})");
  Result r = mc({"eval", "x'*A*x", "--wrt", "A", "--wrt", "x", "--values", v, "--json"});
  ASSERT_EQ(r.status, 0) << show(r);
  json j = json::parse(r.out);
  EXPECT_EQ(j["value"], 50.0);
  EXPECT_EQ(j["gradient"]["A"], json::parse("[[25.0]]")) << r.out;
  EXPECT_EQ(j["gradient"]["x"], json::parse("[20.0]")) << r.out;
  Result text = mc({"eval", "x'*A*x", "--wrt", "A", "--values", v});
  ASSERT_EQ(text.status, 0) << show(text);
  EXPECT_EQ(text.out, "value: 50.0\ngradient A: [[25.0]]\n");
  // A value that is a 1 x 1 matrix by its kind is a list of one row.
  Result value = mc({"eval", "A", "--values", v, "--json"});
  ASSERT_EQ(value.status, 0) << show(value);
  EXPECT_EQ(json::parse(value.out)["value"], json::parse("[[2.0]]")) << value.out;
}

TEST_F(Options, BadValuesFilesStillReportTheirError) {
  REQUIRE_BINARY();
  Result r = mc({"eval", "s", "--values", file("bad.json", "{bad")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("is not valid JSON"), std::string::npos) << show(r);
}

// --------------------------------------------------- --decl twice, --wrt rule

TEST_F(Options, DeclGivenTwiceMergesBoth) {
  REQUIRE_BINARY();
  Result r = mc({"grad", "x'*A*x", "--wrt", "A", "--decl", "A: matrix(n,n)", "--decl", "x: vector(n)", "--show-types"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(lines_of(r.err)[0], "types: x: vector(n); A: matrix(n,n)");
  Result s = mc({"grad", "s*t", "--wrt", "s", "--decl", "s: scalar", "--decl", "t: scalar", "--show-types"});
  ASSERT_EQ(s.status, 0) << show(s);
  EXPECT_EQ(lines_of(s.err)[0], "types: s: scalar; t: scalar");
  EXPECT_EQ(s.out, "t\n");
}

TEST_F(Options, LastNameOfAWrtListIsExprWhenNoneIsGiven) {
  REQUIRE_BINARY();
  std::string v = file("s.json", R"({"s": 2})");
  Result r = mc({"eval", "--wrt", "s", "s", "--values", v, "--json"});
  ASSERT_EQ(r.status, 0) << show(r);
  EXPECT_EQ(json::parse(r.out), json::parse(R"({"value": 2.0, "gradient": {"s": 1.0}})"));
  Result g = mc({"grad", "--wrt", "x", "x", "--decl", "x: scalar"});
  ASSERT_EQ(g.status, 0) << show(g);
  EXPECT_EQ(g.out, "1\n");
  // An EXPR given elsewhere: every name is a --wrt name.
  Result both = mc({"grad", "x'*y", "--wrt", "x", "y"});
  ASSERT_EQ(both.status, 0) << show(both);
  EXPECT_EQ(both.out, "x: y\ny: x\n");
}

}  // namespace
