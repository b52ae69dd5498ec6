// Layout of programs (src/parse/parser.cpp): `#` comments to the end of the
// line and line breaks wherever whitespace may stand, while a line that is a
// declaration `name: type` stays one item and an expression may run over
// several lines (after an operator, inside parentheses, before a line that
// begins with a binary operator).
#include <gtest/gtest.h>

#include <string>

#include "ir/error.hpp"
#include "parse/parser.hpp"
#include "support/ast_text.hpp"

using namespace matcalc;

namespace {

using matcalc::testing::show;

std::string program(const std::string& src) { return show(*parse_program(src).expr); }

int column_of(const std::string& src) {
  try {
    parse_program(src);
  } catch (const Error& e) {
    return e.column();
  }
  return -1;
}

TEST(ParseLayout, CommentToTheEndOfTheLine) {
  EXPECT_EQ(program("x'*x  # the squared norm"), "((x)' * x)");
  EXPECT_EQ(program("# only a comment\nx'*x"), "((x)' * x)");
  EXPECT_EQ(show(*parse_expression("a + b # c + d")), "(a + b)");
}

TEST(ParseLayout, CommentMayHoldSemicolonsAndColons) {
  Program p = parse_program("A: matrix(n,n)  # A: the data; square\ntr(A)  # ; not an item");
  ASSERT_EQ(p.decls.size(), 1u);
  EXPECT_EQ(p.decls[0].name, "A");
  EXPECT_EQ(show(*p.expr), "tr(A)");
}

TEST(ParseLayout, ExpressionContinuesAfterATrailingOperator) {
  EXPECT_EQ(program("a +\nb"), "(a + b)");
  EXPECT_EQ(program("a *\n\n  b"), "(a * b)");
  EXPECT_EQ(program("A :\n B"), "(A : B)");
  EXPECT_EQ(program("x.^\n2"), "(x.^2)");
}

TEST(ParseLayout, ExpressionContinuesInsideParentheses) {
  EXPECT_EQ(program("logdet(\n  X'*X\n  + I\n)"), "logdet((((X)' * X) + I))");
  EXPECT_EQ(program("kron(A,\nB)"), "kron(A,B)");
}

TEST(ParseLayout, ExpressionContinuesBeforeALineThatBeginsWithABinaryOperator) {
  EXPECT_EQ(program("a\n+ b\n- c"), "(a + b - c)");
  EXPECT_EQ(program("a  # first\n  * b"), "(a * b)");
  EXPECT_EQ(program("x'\n.* y"), "((x)' .* y)");
}

TEST(ParseLayout, DeclarationLinesStayItems) {
  Program p = parse_program("W: matrix(n,k)\ns: scalar\nlog(det(W*W'\n + s^2*I))");
  ASSERT_EQ(p.decls.size(), 2u);
  EXPECT_EQ(p.decls[1].name, "s");
  EXPECT_EQ(show(*p.expr), "log(det(((W * (W)') + ((s^2) * I))))");
}

TEST(ParseLayout, ExpressionThatBeginsWithASignAfterADeclaration) {
  Program p = parse_program("p: vector(n)\n-y'*log(p)");
  ASSERT_EQ(p.decls.size(), 1u);
  EXPECT_EQ(show(*p.expr), "((-(y)') * log(p))");
}

TEST(ParseLayout, DeclarationOverSeveralLinesInsideParentheses) {
  Program p = parse_program("W: matrix(n,\n  k)\ntr(W'*W)");
  ASSERT_EQ(p.decls.size(), 1u);
  EXPECT_EQ(p.decls[0].cols.str(), "k");
}

TEST(ParseLayout, TwoCompleteLinesAreStillTwoExpressions) {
  EXPECT_THROW(parse_program("x'*x\ny'*y"), Error);
  EXPECT_THROW(parse_program("x'*x # one\ny # two"), Error);
}

TEST(ParseLayout, ErrorsKeepTheirColumnsAcrossLines) {
  // "a +\n+ $": the '$' is at offset 6, column 7.
  EXPECT_EQ(column_of("a +\n+ $"), 7);
  // A missing operand at the end of input after a trailing operator.
  EXPECT_EQ(column_of("# c\na +\n"), 9);
}

TEST(ParseLayout, CrLfLineEnds) {
  Program p = parse_program("s: scalar\r\ns *\r\n  x'*x\r\n");
  ASSERT_EQ(p.decls.size(), 1u);
  EXPECT_EQ(show(*p.expr), "(s * (x)' * x)");
}

TEST(ParseLayout, DeclarationsAcceptCommentsAndBlankLines) {
  Declarations d = parse_declarations("# sizes\nW: matrix(n,k)   # weights\n\ns: scalar");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "W");
  EXPECT_EQ(d[1].name, "s");
}

}  // namespace

// A sum over 20,000 lines is one item, split in linear time: whether the item
// is a declaration is decided once, not again at every line (a hang before).
TEST(ParseLayout, ALongSumOverManyLinesIsOneExpression) {
  std::string src = "x: vector(n)\nx'*x";
  for (int i = 0; i < 20000; ++i) src += "\n+ x'*x";
  Program p = parse_program(src);
  ASSERT_EQ(p.decls.size(), 1u);
  ASSERT_TRUE(p.expr);
  EXPECT_EQ(p.expr->kind, Ast::Kind::Chain);
  EXPECT_EQ(p.expr->kids.size(), 20001u);
}
