// Parser tests (src/parse/parser.{hpp,cpp}) against LANGUAGE.md: operator
// precedence and associativity, numeric literals, every class of syntax
// error with its exact 1-based column, nesting and size limits, and the
// declaration language.
#include <gtest/gtest.h>

#include <string>

#include "ir/error.hpp"
#include "parse/parser.hpp"
#include "support/ast_text.hpp"

using namespace matcalc;

namespace {

// Fully parenthesised rendering of an AST, so precedence is visible:
// chains "(a + b - c)", powers "(a^b)", negation "(-a)", transpose "(a)'",
// calls "f(a,b)" (tests/support/ast_text.hpp).
using matcalc::testing::show;

std::string parsed(const std::string& src) { return show(*parse_expression(src)); }

// The error a parse of `src` throws; fails the test when it does not throw.
Error parse_error(const std::string& src) {
  try {
    parse_expression(src);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << src;
  return Error(ErrorKind::Usage, "none", -1);
}

Error decl_error(const std::string& src) {
  try {
    parse_declarations(src);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for declarations: " << src;
  return Error(ErrorKind::Usage, "none", -1);
}

Error program_error(const std::string& src) {
  try {
    parse_program(src);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for program: " << src;
  return Error(ErrorKind::Usage, "none", -1);
}

struct SyntaxCase {
  const char* src;
  int column;
  const char* message_part;  // a fragment the message must contain
};

}  // namespace

// ---------------------------------------------------------------- precedence

TEST(ParsePrecedence, UnaryMinusBindsLooserThanPower) {
  EXPECT_EQ(parsed("-x^2"), "(-(x^2))");
  EXPECT_EQ(parsed("-x'"), "(-(x)')");
  EXPECT_EQ(parsed("+x^2"), "(x^2)");
}

TEST(ParsePrecedence, UnaryMinusBindsTighterThanProduct) {
  EXPECT_EQ(parsed("-a*b"), "((-a) * b)");
  EXPECT_EQ(parsed("a*-b"), "(a * (-b))");
  EXPECT_EQ(parsed("a - -b"), "(a - (-b))");
  EXPECT_EQ(parsed("- - a"), "(-(-a))");
}

TEST(ParsePrecedence, PowerIsLeftAssociative) {
  EXPECT_EQ(parsed("a^b^c"), "((a^b)^c)");
  EXPECT_EQ(parsed("a.^b.^c"), "((a.^b).^c)");
  EXPECT_EQ(parsed("a^b.^c"), "((a^b).^c)");
}

TEST(ParsePrecedence, TransposeAfterPowerAppliesToThePower) {
  EXPECT_EQ(parsed("X^2'"), "((X^2))'");
  EXPECT_EQ(parsed("X'^2"), "((X)'^2)");
}

TEST(ParsePrecedence, SignAfterCaretBelongsToTheExponent) {
  EXPECT_EQ(parsed("X^-1"), "(X^(-1))");
  EXPECT_EQ(parsed("x.^-2"), "(x.^(-2))");
  EXPECT_EQ(parsed("X^+2"), "(X^2)");
  EXPECT_EQ(parsed("2*X^-1*y"), "(2 * (X^(-1)) * y)");
  EXPECT_EQ(parsed("-X^-1"), "(-(X^(-1)))");
  EXPECT_EQ(parsed("x.^-s'"), "((x.^(-s)))'");
}

TEST(ParsePrecedence, NumberNeverEndsInDot) {
  EXPECT_EQ(parsed("2.*x"), "(2 .* x)");
  EXPECT_EQ(parsed("2./x"), "(2 ./ x)");
  EXPECT_EQ(parsed("2.^x"), "(2.^x)");
  EXPECT_EQ(parsed("2.5.*x"), "(2.5 .* x)");
}

TEST(ParsePrecedence, FrobeniusBetweenProductAndSum) {
  EXPECT_EQ(parsed("A : B"), "(A : B)");
  EXPECT_EQ(parsed("2*S*W : dW"), "((2 * S * W) : dW)");
  EXPECT_EQ(parsed("a + A*B : C + d"), "(a + ((A * B) : C) + d)");
  EXPECT_EQ(parsed("A : B + C : D"), "((A : B) + (C : D))");
  EXPECT_EQ(parsed("A : B : C"), "(A : B : C)");
  EXPECT_EQ(parsed("A - B : C"), "(A - (B : C))");
  EXPECT_EQ(parsed("A .* B : C ./ D"), "((A .* B) : (C ./ D))");
}

TEST(ParsePrecedence, ChainsAreFlatAndLeftToRight) {
  EXPECT_EQ(parsed("a + b - c + d"), "(a + b - c + d)");
  EXPECT_EQ(parsed("a * b / c .* d ./ e"), "(a * b / c .* d ./ e)");
  EXPECT_EQ(parsed("a + b * c"), "(a + (b * c))");
  EXPECT_EQ(parsed("(a + b) * c"), "((a + b) * c)");
  EXPECT_EQ(parsed("a * (b + c)"), "(a * (b + c))");
}

TEST(ParsePrecedence, TransposeFollowsAnyPrimary) {
  EXPECT_EQ(parsed("inv(X)'"), "(inv(X))'");
  EXPECT_EQ(parsed("(A*x + b)'"), "(((A * x) + b))'");
  EXPECT_EQ(parsed("x'*A*x"), "((x)' * A * x)");
  EXPECT_EQ(parsed("2'"), "(2)'");
}

TEST(ParsePrecedence, DoubleTransposeCancels) {
  EXPECT_EQ(parsed("X''"), "X");
  EXPECT_EQ(parsed("X'''"), "(X)'");
  EXPECT_EQ(parsed("X''''"), "X");
  EXPECT_EQ(parsed("(A*B)''"), "(A * B)");
}

TEST(ParsePrecedence, CallsAndArguments) {
  EXPECT_EQ(parsed("log(det(W*W' + s^2*I))"), "log(det(((W * (W)') + ((s^2) * I))))");
  EXPECT_EQ(parsed("kron(A, B)"), "kron(A,B)");
  EXPECT_EQ(parsed("ones(n, m)"), "ones(n,m)");
  EXPECT_EQ(parsed("f(a + b, -c)"), "f((a + b),(-c))");
  EXPECT_EQ(parsed("exp(x'*A*x)"), "exp(((x)' * A * x))");
}

TEST(ParsePrecedence, WhitespaceIsInsignificant) {
  EXPECT_EQ(parsed("  x'  *\tA *\r\n x "), parsed("x'*A*x"));
  EXPECT_EQ(parsed("X ^ - 1"), "(X^(-1))");
}

// ---------------------------------------------------------------- numbers

TEST(ParseNumbers, Literals) {
  struct Case {
    const char* src;
    double value;
    bool integer;
  };
  for (const Case& c : {Case{"2", 2, true}, Case{"0.5", 0.5, false}, Case{".5", 0.5, false},
                        Case{"1e-3", 1e-3, false}, Case{"1E3", 1000, false}, Case{"2.5e+2", 250, false},
                        Case{"007", 7, true}, Case{"123456789", 123456789, true}, Case{"1e0", 1, false}}) {
    AstPtr a = parse_expression(c.src);
    ASSERT_EQ(a->kind, Ast::Kind::Number) << c.src;
    EXPECT_DOUBLE_EQ(a->number, c.value) << c.src;
    EXPECT_EQ(a->integer_literal, c.integer) << c.src;
    EXPECT_EQ(a->len, static_cast<int>(std::string(c.src).size())) << c.src;
  }
}

TEST(ParseNumbers, NumberFollowedByNameIsNotAProduct) {
  // `2x` is not implicit multiplication: a trailing token.
  Error e = parse_error("2x");
  EXPECT_EQ(e.kind(), ErrorKind::Syntax);
  EXPECT_EQ(e.column(), 2);
}

// ---------------------------------------------------------------- errors

TEST(ParseErrors, EveryClassHasItsColumn) {
  const SyntaxCase cases[] = {
      // unexpected character
      {"x + $y", 5, "unexpected character"},
      {"x @ y", 3, "unexpected character"},  // (`#` starts a comment)
      {"a*[b]", 3, "unexpected character"},
      {"x + \xc3\xa9", 5, "unexpected character"},
      {"2.", 2, "unexpected character"},
      {"2. * x", 2, "unexpected character"},
      {"x = 1", 3, "unexpected character"},
      // unclosed '('
      {"(x + y", 1, "unclosed"},
      {"a * ((b + c)", 5, "unclosed"},
      // unmatched ')'
      {"x + y)", 6, "unmatched"},
      {")", 1, "')'"},
      {"(a))", 4, "unmatched"},
      // missing operand
      {"x +", 4, "operand"},
      {"x + ", 5, "operand"},
      {"x * * y", 5, "'*'"},
      {"* x", 1, "'*'"},
      {"log(x,)", 7, "')'"},
      {"x^", 3, "operand"},
      {"x.^-", 5, "operand"},
      {"(", 2, ""},
      {"", 1, ""},
      {"   ", 4, ""},
      // empty call / empty parentheses
      {"tr()", 4, "argument"},
      {"log( )", 6, "argument"},
      {"x + ()", 6, "empty"},
      // trailing tokens
      {"x y", 3, "'y'"},
      {"2x", 2, "'x'"},
      {"(a + b)(c)", 8, "'('"},
      {"x'y", 3, "'y'"},
      {"1.2.3", 4, "'.3'"},
      {"x, y", 2, "','"},
      // bad number
      {"1e999", 1, "number"},
      {"x + 1e999*y", 5, "number"},
  };
  for (const SyntaxCase& c : cases) {
    SCOPED_TRACE(std::string("source: \"") + c.src + "\"");
    Error e = parse_error(c.src);
    EXPECT_EQ(e.kind(), ErrorKind::Syntax) << e.what();
    EXPECT_EQ(e.column(), c.column) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos) << e.what();
    EXPECT_GE(e.length(), 1);
  }
}

TEST(ParseErrors, UnclosedCallPointsAtItsParenthesisOrTheEnd) {
  // `log(x` : either the '(' (column 4) or the end of input (column 6) is a
  // fair place; nothing else is.
  Error e = parse_error("log(x");
  EXPECT_EQ(e.kind(), ErrorKind::Syntax);
  EXPECT_EQ(e.column(), 4) << e.what();  // under the '(' that is never closed, as for `(x`
  EXPECT_NE(std::string(e.what()).find("unclosed '('"), std::string::npos) << e.what();
}

TEST(ParseErrors, BaseOffsetShiftsColumns) {
  try {
    parse_expression("x + $", 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.column(), 15);
  }
}

TEST(ParseErrors, LengthCoversTheOffendingToken) {
  Error e = parse_error("x + 1e999");
  EXPECT_EQ(e.length(), 5);
  Error t = parse_error("x yy");
  EXPECT_EQ(t.column(), 3);
  EXPECT_EQ(t.length(), 2);
}

TEST(ParseErrors, FormatErrorPutsCaretUnderColumn) {
  const std::string src = "x + $y";
  Error e = parse_error(src);
  std::string text = format_error(e, src);
  EXPECT_EQ(text.rfind("error: ", 0), 0u) << text;
  // "error: ...\n  x + $y\n      ^\n"
  auto first_nl = text.find('\n');
  ASSERT_NE(first_nl, std::string::npos);
  std::string rest = text.substr(first_nl + 1);
  EXPECT_EQ(rest, "  x + $y\n      ^\n") << text;
}

// ---------------------------------------------------------------- limits

TEST(ParseLimits, HundredThousandNestedParenthesesIsALimitError) {
  const int n = 100000;
  std::string src = std::string(n, '(') + "x" + std::string(n, ')');
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit) << e.what();
  EXPECT_GT(e.column(), 0);
}

TEST(ParseLimits, HundredThousandOpenParenthesesIsALimitError) {
  std::string src = std::string(100000, '(') + "x";
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit) << e.what();
}

TEST(ParseLimits, HundredThousandNestedCallsIsALimitError) {
  std::string src;
  for (int i = 0; i < 100000; ++i) src += "exp(";
  src += "x" + std::string(100000, ')');
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit) << e.what();
}

TEST(ParseLimits, HundredThousandUnaryMinusesIsALimitError) {
  std::string src = std::string(100000, '-') + "x";
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit) << e.what();
}

TEST(ParseLimits, HundredThousandChainedPowersIsALimitError) {
  std::string src = "x";
  for (int i = 0; i < 100000; ++i) src += "^2";
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit) << e.what();
}

TEST(ParseLimits, ManyTransposesAreNotNesting) {
  EXPECT_EQ(parsed("x" + std::string(100000, '\'')), "x");
  EXPECT_EQ(parsed("x" + std::string(100001, '\'')), "(x)'");
}

TEST(ParseLimits, ModerateNestingParses) {
  const int n = 100;
  std::string src = std::string(n, '(') + "x" + std::string(n, ')');
  EXPECT_EQ(parsed(src), "x");
  std::string calls;
  for (int i = 0; i < n; ++i) calls += "exp(";
  calls += "x" + std::string(n, ')');
  EXPECT_NO_THROW(parse_expression(calls));
}

TEST(ParseLimits, LongFlatSumIsOneChain) {
  // ~1 MB of "x + x + ...": flat, no recursion per term.
  std::string src = "x";
  while (src.size() < (1u << 20)) src += " + x";
  AstPtr a = parse_expression(src);
  ASSERT_EQ(a->kind, Ast::Kind::Chain);
  EXPECT_EQ(a->kids.size(), (src.size() - 1) / 4 + 1);
}

TEST(ParseLimits, OversizedSourceIsALimitError) {
  std::string src = "x";
  while (src.size() <= kMaxSourceBytes) src += "+x";
  Error e = parse_error(src);
  EXPECT_EQ(e.kind(), ErrorKind::Limit);
  Error p = program_error(src);
  EXPECT_EQ(p.kind(), ErrorKind::Limit);
}

// ---------------------------------------------------------------- declarations

TEST(ParseDeclarations, AllTypes) {
  Declarations d = parse_declarations("W: matrix(n,k); s: scalar; y: vector(n); S: symmetric(n); A: matrix(3,3)");
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].name, "W");
  EXPECT_EQ(d[0].kind, Declaration::Kind::Matrix);
  EXPECT_EQ(d[0].rows, Dim::symbol("n"));
  EXPECT_EQ(d[0].cols, Dim::symbol("k"));
  EXPECT_EQ(d[1].name, "s");
  EXPECT_EQ(d[1].kind, Declaration::Kind::Scalar);
  EXPECT_TRUE(d[1].rows.is_one());
  EXPECT_TRUE(d[1].cols.is_one());
  EXPECT_EQ(d[2].name, "y");
  EXPECT_EQ(d[2].kind, Declaration::Kind::Vector);
  EXPECT_EQ(d[2].rows, Dim::symbol("n"));
  EXPECT_TRUE(d[2].cols.is_one());
  EXPECT_EQ(d[3].name, "S");
  EXPECT_EQ(d[3].kind, Declaration::Kind::Symmetric);
  EXPECT_EQ(d[3].rows, Dim::symbol("n"));
  EXPECT_EQ(d[3].cols, Dim::symbol("n"));
  EXPECT_EQ(d[4].name, "A");
  EXPECT_EQ(d[4].kind, Declaration::Kind::Matrix);
  EXPECT_EQ(d[4].rows, Dim::literal(3));
  EXPECT_EQ(d[4].cols, Dim::literal(3));
}

TEST(ParseDeclarations, NewlinesSpacesAndEmptyItems) {
  Declarations d = parse_declarations("\n  x : vector( n )\n\n;; A:matrix(n , m) ;\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].name, "x");
  EXPECT_EQ(d[1].name, "A");
  EXPECT_EQ(d[1].cols, Dim::symbol("m"));
  EXPECT_TRUE(parse_declarations("").empty());
  EXPECT_TRUE(parse_declarations(" ; \n ").empty());
}

TEST(ParseDeclarations, ProductDimensions) {
  Declarations d = parse_declarations("v: vector(n*k); M: matrix(2*n, k)");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].rows, Dim::symbol("n") * Dim::symbol("k"));
  EXPECT_EQ(d[1].rows, Dim::literal(2) * Dim::symbol("n"));
}

TEST(ParseDeclarations, PositionsAreOffsetsInTheWholeText) {
  Declarations d = parse_declarations("s: scalar; W: matrix(n,k)");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].pos, 0);
  EXPECT_EQ(d[1].pos, 11);
}

TEST(ParseDeclarations, BadDeclarations) {
  const SyntaxCase cases[] = {
      {"W matrix(n,k)", 1, "declaration"},
      {"W: tensor(n)", 1, "declaration"},
      {": matrix(n,k)", 1, "declaration"},
      {"W: matrix(n)", 12, "','"},
      {"W: matrix(n,k", 14, "')'"},
      {"y: vector(n", 12, "')'"},
      {"y: vector n", 1, "declaration"},
      {"W: matrix(n,0)", 13, "dimension"},
      {"W: matrix(-1,2)", 11, "dimension"},
      {"A: matrix(2.5,3)", 11, "dimension"},
      {"y: vector()", 11, "dimension"},
      {"y: vector(exp)", 11, "dimension"},
      {"y: vector(I)", 11, "dimension"},
      {"W: matrix(n,k) x", 16, "'x'"},
      {"s: scalar(3)", 10, "'('"},
      {"s: scalar; W: matrix(n)", 23, "','"},
      {"s: scalar\nW: matrix(n)", 22, "','"},
      {"x: vector(n) $", 14, "unexpected character"},
  };
  for (const SyntaxCase& c : cases) {
    SCOPED_TRACE(std::string("declarations: \"") + c.src + "\"");
    Error e = decl_error(c.src);
    EXPECT_EQ(e.kind(), ErrorKind::Syntax) << e.what();
    EXPECT_EQ(e.column(), c.column) << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message_part), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- programs

TEST(ParseProgram, DeclarationsThenExpression) {
  Program p = parse_program("W: matrix(n,k); s: scalar\nlog(det(W*W' + s^2*I))");
  ASSERT_EQ(p.decls.size(), 2u);
  EXPECT_EQ(p.decls[0].name, "W");
  EXPECT_EQ(p.decls[1].name, "s");
  ASSERT_TRUE(p.expr);
  EXPECT_EQ(show(*p.expr), "log(det(((W * (W)') + ((s^2) * I))))");
  // Expression columns are offsets in the whole program.
  EXPECT_EQ(p.expr->pos, 26);
}

TEST(ParseProgram, AnExpressionAlone) {
  Program p = parse_program("x'*A*x");
  EXPECT_TRUE(p.decls.empty());
  EXPECT_EQ(show(*p.expr), "((x)' * A * x)");
}

TEST(ParseProgram, FrobeniusIsNotMistakenForADeclaration) {
  // `A : B` looks like `name ':' ...` but B is not a type word.
  Program p = parse_program("A : B");
  EXPECT_TRUE(p.decls.empty());
  EXPECT_EQ(show(*p.expr), "(A : B)");
}

TEST(ParseProgram, Errors) {
  Error none = program_error("");
  EXPECT_EQ(none.kind(), ErrorKind::Syntax);
  Error only_decls = program_error("x: vector(n)");
  EXPECT_EQ(only_decls.kind(), ErrorKind::Syntax);
  Error two = program_error("x; y");
  EXPECT_EQ(two.kind(), ErrorKind::Syntax);
  EXPECT_TRUE(two.column() == 3 || two.column() == 4) << two.column();
  Error late = program_error("logdet(X); X: matrix(n,n)");
  EXPECT_EQ(late.kind(), ErrorKind::Syntax);
  EXPECT_EQ(late.column(), 12);
  Error in_expr = program_error("x: vector(n); x + $");
  EXPECT_EQ(in_expr.column(), 19);
  Error second_line = program_error("x: vector(n)\nx +");
  EXPECT_EQ(second_line.column(), 17);
}

TEST(ParseNames, FunctionNames) {
  for (const char* f : {"tr", "det", "logdet", "inv", "diag", "sum", "norm2", "norm1", "vec", "kron", "sym",
                        "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "abs", "sign", "sigmoid", "softplus",
                        "relu", "logsumexp", "softmax", "eye", "ones", "zeros"})
    EXPECT_TRUE(is_function_name(f)) << f;
  for (const char* f : {"x", "W", "I", "foo", "matrix", "Tr", "logDet"}) EXPECT_FALSE(is_function_name(f)) << f;
}
