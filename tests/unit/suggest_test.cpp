// Hints for unknown function names (parse/suggest.hpp): the usual aliases
// from other tools, case-insensitive matches and close spellings, and no
// hint where nothing is close.
#include "parse/suggest.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using matcalc::unknown_function_message;

bool has(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }

TEST(Suggest, NamesTheUnknownFunction) {
  EXPECT_EQ(unknown_function_message("frobnicate"), "unknown function 'frobnicate'");
}

TEST(Suggest, TraceAliasesPointToTr) {
  EXPECT_EQ(unknown_function_message("trace"), "unknown function 'trace' (matcalc writes the trace tr(X))");
  EXPECT_TRUE(has(unknown_function_message("Trace"), "tr(X)"));
  EXPECT_TRUE(has(unknown_function_message("Tr"), "lower case: tr"));
}

TEST(Suggest, NormPointsToBothNorms) {
  const std::string m = unknown_function_message("norm");
  EXPECT_TRUE(has(m, "norm2(x)")) << m;
  EXPECT_TRUE(has(m, "norm1(x)")) << m;
  EXPECT_TRUE(has(unknown_function_message("fro"), "norm2(X)"));
}

TEST(Suggest, TransposeIsThePostfixQuote) {
  EXPECT_TRUE(has(unknown_function_message("transpose"), "postfix '"));
  EXPECT_TRUE(has(unknown_function_message("t"), "postfix '"));
}

TEST(Suggest, MatrixFunctionsNotInTheLanguageSaySo) {
  for (const char* f : {"expm", "logm", "sqrtm"}) {
    const std::string m = unknown_function_message(f);
    EXPECT_TRUE(has(m, "not in the language")) << m;
    EXPECT_TRUE(has(m, "elementwise")) << m;
  }
}

TEST(Suggest, SpelledOutNamesPointToTheShortOnes) {
  EXPECT_TRUE(has(unknown_function_message("inverse"), "inv(X)"));
  EXPECT_TRUE(has(unknown_function_message("determinant"), "det(X)"));
  for (const char* f : {"log_det", "logDet", "LogDet", "log_Det"})
    EXPECT_TRUE(has(unknown_function_message(f), "logdet")) << unknown_function_message(f);
}

TEST(Suggest, CaseInsensitiveMatch) {
  EXPECT_TRUE(has(unknown_function_message("Exp"), "lower case: exp"));
  EXPECT_TRUE(has(unknown_function_message("SOFTMAX"), "lower case: softmax"));
}

TEST(Suggest, CloseSpellings) {
  EXPECT_TRUE(has(unknown_function_message("logdett"), "did you mean logdet?"));
  EXPECT_TRUE(has(unknown_function_message("sigmod"), "did you mean sigmoid?"));
  EXPECT_TRUE(has(unknown_function_message("softplu"), "did you mean softplus?"));
  EXPECT_TRUE(has(unknown_function_message("nrm2"), "norm2"));
}

TEST(Suggest, NothingCloseNoHint) {
  EXPECT_EQ(unknown_function_message("zzzzzz"), "unknown function 'zzzzzz'");
  EXPECT_EQ(unknown_function_message("f"), "unknown function 'f'");
}

}  // namespace
