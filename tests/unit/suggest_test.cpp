// Hints for unknown function names (parse/suggest.hpp): the usual aliases
// from other tools, case-insensitive matches and close spellings, and no
// hint where nothing is close.
#include "parse/suggest.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <iostream>
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

TEST(Suggest, TransposeHintNamesTheArgument) {
  EXPECT_EQ(unknown_function_message("transpose"),
            "unknown function 'transpose' (matcalc writes the transpose with a postfix ': X')");
  EXPECT_EQ(unknown_function_message("transpose", "A"),
            "unknown function 'transpose' (matcalc writes the transpose with a postfix ': A')");
  EXPECT_EQ(unknown_function_message("t", "A*B"),
            "unknown function 't' (matcalc writes the transpose with a postfix ': (A*B)')");
  // Other hints keep their X.
  EXPECT_EQ(unknown_function_message("symmetrize", "A"), "unknown function 'symmetrize' (sym(X) is (X + X')/2)");
}

// Every alias hint, printed: each reads as a sentence after the name.
TEST(Suggest, EveryAliasHintReadsWell) {
  for (const char* name :
       {"trace",       "norm",     "frobenius",  "fro",      "transpose", "t",         "trans",
        "expm",        "logm",     "sqrtm",      "inverse",  "pinv",      "log_det",   "logdeterminant",
        "determinant", "dot",      "inner",      "outer",    "identity",  "ln",        "pow",
        "power",       "square",   "matmul",     "mul",      "hadamard",  "kronecker", "logistic",
        "lse",         "diagonal", "symmetrize", "vectorize"}) {
    const std::string m = unknown_function_message(name);
    std::cout << m << "\n";
    const std::string head = std::string("unknown function '") + name + "' (";
    ASSERT_EQ(m.rfind(head, 0), 0u) << m;
    EXPECT_EQ(m.back(), ')') << m;
    const std::string h = m.substr(head.size(), m.size() - head.size() - 1);
    EXPECT_GT(h.size(), 10u) << m;
    EXPECT_TRUE(std::islower(static_cast<unsigned char>(h[0])) || h[0] == 'X') << m;
    EXPECT_EQ(h.find("  "), std::string::npos) << m;
  }
}

TEST(Suggest, EditDistance) {
  EXPECT_EQ(matcalc::edit_distance("", ""), 0u);
  EXPECT_EQ(matcalc::edit_distance("logdet", "logdett"), 1u);
  EXPECT_EQ(matcalc::edit_distance("--valeus", "--values"), 2u);
  EXPECT_EQ(matcalc::edit_distance("abc", ""), 3u);
}

}  // namespace
