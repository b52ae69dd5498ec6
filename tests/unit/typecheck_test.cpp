// Type and shape inference tests (src/parse/typecheck.{hpp,cpp}): inferred
// kinds and symbolic shapes, declared shapes, the errors (shape, name,
// inference, arity) with what they must name, the normal form as printed by
// to_text, and the round trip text -> IR -> text -> the same node.
#include <gtest/gtest.h>

#include <string>

#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"

using namespace matcalc;

namespace {

std::string shape_of(const TypedProgram& p, const std::string& name) {
  auto it = p.symbols.find(name);
  if (it == p.symbols.end()) return "<missing>";
  return it->second->shape.str();
}

Error compile_error(const std::string& expr, const std::string& decls = "", TypecheckOptions opt = {}) {
  Context cx;
  try {
    compile(cx, expr, decls, opt);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << expr << "   decls: " << decls;
  return Error(ErrorKind::Usage, "none", -1);
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string text_of(const std::string& expr, const std::string& decls = "") {
  Context cx;
  return to_text(compile(cx, expr, decls).expr);
}

}  // namespace

// ---------------------------------------------------------------- inference

TEST(TypecheckInference, SeedExpression) {
  Context cx;
  TypedProgram p = compile(cx, "log(det(W*W' + s^2*I))", "");
  EXPECT_EQ(shape_of(p, "W"), "n x k");
  EXPECT_EQ(shape_of(p, "s"), "scalar");
  EXPECT_TRUE(p.expr->is_scalar());
  EXPECT_EQ(p.order, (std::vector<std::string>{"W", "s"}));
  EXPECT_EQ(p.dims, (std::vector<std::string>{"k", "n"}));
}

TEST(TypecheckInference, QuadraticForm) {
  Context cx;
  TypedProgram p = compile(cx, "x'*A*x", "");
  EXPECT_EQ(shape_of(p, "x"), "vector(n)");
  EXPECT_EQ(shape_of(p, "A"), "n x n");
  EXPECT_TRUE(p.expr->is_scalar());
}

TEST(TypecheckInference, MoreShapes) {
  struct Case {
    const char* expr;
    const char* sym;
    const char* shape;
  };
  for (const Case& c : {
           Case{"norm2(A*x - b)", "A", "n x k"},
           Case{"norm2(A*x - b)", "x", "vector(k)"},
           Case{"norm2(A*x - b)", "b", "vector(n)"},
           Case{"tr(A*B)", "B", "k x n"},
           Case{"logdet(X)", "X", "n x n"},
           Case{"sum(exp(x))", "x", "vector(n)"},
           Case{"x'*y", "y", "vector(n)"},
           Case{"a'*X*b", "X", "n x k"},
           Case{"a'*X*b", "b", "vector(k)"},
           Case{"tr(X*inv(Y))", "Y", "n x n"},
           Case{"norm2(x)^2", "x", "vector(n)"},
           Case{"A : B", "B", "n x k"},
           Case{"logsumexp(W*x)", "x", "vector(k)"},
           Case{"sum(ones(n) .* x)", "x", "vector(n)"},
       }) {
    Context cx;
    TypedProgram p = compile(cx, c.expr, "");
    EXPECT_EQ(shape_of(p, c.sym), c.shape) << c.expr;
  }
}

TEST(TypecheckInference, ScalarFromUse) {
  // s multiplies a matrix and is added to a scalar: it must be a scalar.
  Context cx;
  TypedProgram p = compile(cx, "tr(s*X) + s", "");
  EXPECT_EQ(shape_of(p, "s"), "scalar");
  EXPECT_EQ(shape_of(p, "X"), "n x n");
}

TEST(TypecheckInference, AmbiguousUseNamesTheSymbol) {
  // a*b: a vector times a scalar or a scalar times a vector.
  Error e = compile_error("sum(a*b)");
  EXPECT_EQ(e.kind(), ErrorKind::Inference) << e.what();
  std::string m = e.what();
  EXPECT_TRUE(contains(m, "a") && contains(m, "b")) << m;
  EXPECT_TRUE(contains(m, "declare") || contains(m, "--decl")) << m;
}

TEST(TypecheckInference, AmbiguityResolvedByDeclaration) {
  Context cx;
  TypedProgram p = compile(cx, "sum(a*b)", "a: scalar");
  EXPECT_EQ(shape_of(p, "a"), "scalar");
  EXPECT_EQ(shape_of(p, "b"), "vector(n)");
}

TEST(TypecheckInference, DeclaredShapesAreRespected) {
  Context cx;
  TypedProgram p = compile(cx, "x'*A*x", "x: vector(m); A: matrix(m,m)");
  EXPECT_EQ(shape_of(p, "x"), "vector(m)");
  EXPECT_EQ(shape_of(p, "A"), "m x m");

  Context cx2;
  TypedProgram q = compile(cx2, "x*A", "x: scalar");  // would be a vector by its name
  EXPECT_EQ(shape_of(q, "x"), "scalar");

  Context cx3;
  TypedProgram r = compile(cx3, "tr(A)", "A: matrix(3,3)");
  EXPECT_EQ(shape_of(r, "A"), "3 x 3");

  Context cx4;
  TypedProgram s = compile(cx4, "tr(S*X)", "S: symmetric(n)");
  EXPECT_TRUE(s.symbols.at("S")->symmetric);
  EXPECT_EQ(shape_of(s, "X"), "n x n");
}

TEST(TypecheckInference, DeclarationsInTheProgramText) {
  Context cx;
  TypedProgram p = compile(cx, "W: matrix(m,p); logdet(W'*W)", "");
  EXPECT_EQ(shape_of(p, "W"), "m x p");
}

TEST(TypecheckInference, DeclaredButUnusedSymbolsAreListed) {
  Context cx;
  TypedProgram p = compile(cx, "x'*x", "x: vector(n); z: scalar");
  EXPECT_EQ(shape_of(p, "z"), "scalar");
}

// ---------------------------------------------------------------- identity

TEST(TypecheckIdentity, SizeFromContext) {
  Context cx;
  TypedProgram p = compile(cx, "A + I", "A: matrix(3,3)");
  EXPECT_EQ(p.expr->shape.str(), "3 x 3");
  EXPECT_EQ(to_text(p.expr), "A + I");

  Context cx2;
  TypedProgram q = compile(cx2, "tr(X + s*I)", "");
  EXPECT_EQ(shape_of(q, "X"), "n x n");
}

TEST(TypecheckIdentity, EyeTakesItsSize) {
  Context cx;
  TypedProgram p = compile(cx, "tr(A*eye(n))", "A: matrix(n,n)");
  EXPECT_TRUE(p.expr->is_scalar());
  Context cx2;
  TypedProgram q = compile(cx2, "x'*eye(3)*x", "");
  EXPECT_EQ(shape_of(q, "x"), "vector(3)");
}

TEST(TypecheckIdentity, UnsizedIdentityIsAnError) {
  Error e = compile_error("tr(I)");
  EXPECT_EQ(e.kind(), ErrorKind::Inference) << e.what();
  EXPECT_TRUE(contains(e.what(), "I")) << e.what();
}

// ---------------------------------------------------------------- errors

TEST(TypecheckErrors, ProductShapeMismatchNamesOperatorAndShapes) {
  Error e = compile_error("tr(W*W)", "W: matrix(n,k)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape);
  std::string m = e.what();
  EXPECT_TRUE(contains(m, "'*'")) << m;
  auto first = m.find("n x k");
  ASSERT_NE(first, std::string::npos) << m;
  EXPECT_NE(m.find("n x k", first + 1), std::string::npos) << "both shapes: " << m;
  EXPECT_GE(e.column(), 4);
  EXPECT_LE(e.column(), 6);
}

TEST(TypecheckErrors, SumShapeMismatch) {
  Error e = compile_error("sum(x + y)", "x: vector(n); y: vector(m)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape);
  EXPECT_TRUE(contains(e.what(), "'+'")) << e.what();
  EXPECT_TRUE(contains(e.what(), "vector(n)")) << e.what();
  EXPECT_TRUE(contains(e.what(), "vector(m)")) << e.what();
}

TEST(TypecheckErrors, QuadraticFormWithWrongMatrix) {
  Error e = compile_error("y'*A*y", "y: vector(n); A: matrix(m,n)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape);
  EXPECT_TRUE(contains(e.what(), "m x n")) << e.what();
}

TEST(TypecheckErrors, ScalarPlusMatrixIsRejectedWithBothMeanings) {
  // A scalar broadcasts onto a vector (TypecheckBroadcast), never onto a matrix.
  Error m = compile_error("tr(X - s)", "X: matrix(n,n); s: scalar");
  EXPECT_EQ(m.kind(), ErrorKind::Shape) << m.what();
  EXPECT_TRUE(contains(m.what(), "cannot subtract a scalar from a matrix (n x n)")) << m.what();
  EXPECT_TRUE(contains(m.what(), "s*I") && contains(m.what(), "s*ones(n,n)")) << m.what();
  Error r = compile_error("sum(X - s)", "X: matrix(n,k); s: scalar");  // not square: no I
  EXPECT_TRUE(contains(r.what(), "write s*ones(n,k) for every entry") && !contains(r.what(), "s*I")) << r.what();
  Error p = compile_error("logdet(W*W' + s^2)", "W: matrix(n,k); s: scalar");
  EXPECT_TRUE(contains(p.what(), "s^2*I") && contains(p.what(), "s^2*ones(n,n)")) << p.what();
  Error c = compile_error("tr(1 + X)", "X: matrix(3,3)");
  EXPECT_TRUE(contains(c.what(), "write I") && contains(c.what(), "ones(3,3)")) << c.what();
  Error f = compile_error("A : s", "A: matrix(n,n); s: scalar");
  EXPECT_EQ(f.kind(), ErrorKind::Shape) << f.what();
}

TEST(TypecheckErrors, MatrixPowerNeedsSquare) {
  Error e = compile_error("tr(W^2)", "W: matrix(n,k)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
  EXPECT_TRUE(contains(e.what(), "n x k")) << e.what();
  EXPECT_TRUE(contains(e.what(), "square")) << e.what();
}

TEST(TypecheckErrors, MatrixPowerNeedsIntegerLiteral) {
  Error e = compile_error("tr(X^0.5)", "X: matrix(n,n)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
  Error s = compile_error("tr(X^s)", "X: matrix(n,n); s: scalar");
  EXPECT_EQ(s.kind(), ErrorKind::Shape) << s.what();
}

TEST(TypecheckErrors, SquareFunctionsNeedSquare) {
  for (const char* f : {"tr", "det", "logdet"}) {
    Error e = compile_error(std::string(f) + "(W)", "W: matrix(n,k)");
    EXPECT_EQ(e.kind(), ErrorKind::Shape) << f << ": " << e.what();
    EXPECT_TRUE(contains(e.what(), "n x k")) << e.what();
    EXPECT_EQ(e.column(), 1) << f;
  }
  Error i = compile_error("tr(inv(W))", "W: matrix(n,k)");
  EXPECT_EQ(i.kind(), ErrorKind::Shape) << i.what();
  EXPECT_EQ(i.column(), 4);
}

TEST(TypecheckErrors, DivisionByNonScalar) {
  Error e = compile_error("sum(x / y)", "x: vector(n); y: vector(n)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
}

TEST(TypecheckErrors, WantScalar) {
  TypecheckOptions opt;
  opt.want_scalar = true;
  Error e = compile_error("W*x", "W: matrix(n,k)", opt);
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
  EXPECT_TRUE(contains(e.what(), "scalar")) << e.what();
  EXPECT_TRUE(contains(e.what(), "vector(n)")) << e.what();
  Context cx;
  EXPECT_NO_THROW(compile(cx, "x'*W'*W*x", "W: matrix(n,k)", opt));
  // Without want_scalar the same vector expression compiles.
  Context cx2;
  EXPECT_NO_THROW(compile(cx2, "W*x", "W: matrix(n,k)"));
}

TEST(TypecheckErrors, UnknownFunction) {
  Error e = compile_error("foo(x)");
  EXPECT_EQ(e.kind(), ErrorKind::Name);
  EXPECT_TRUE(contains(e.what(), "foo")) << e.what();
  EXPECT_EQ(e.column(), 1);
  EXPECT_EQ(e.length(), 3);
  Error later = compile_error("x'*x + frob(x)");
  EXPECT_EQ(later.column(), 8);
}

TEST(TypecheckErrors, WrongArity) {
  struct Case {
    const char* expr;
    int column;
  };
  for (const Case& c : {Case{"tr(A, B)", 1}, Case{"x'*x + kron(A)", 8}, Case{"sum(ones(n, m, k))", 5},
                        Case{"exp(x, y)", 1}, Case{"tr(eye(n, n))", 4}}) {
    Error e = compile_error(c.expr);
    EXPECT_TRUE(e.kind() == ErrorKind::Syntax || e.kind() == ErrorKind::Name) << c.expr << ": " << e.what();
    EXPECT_TRUE(contains(e.what(), "argument")) << c.expr << ": " << e.what();
    EXPECT_EQ(e.column(), c.column) << c.expr << ": " << e.what();
  }
}

TEST(TypecheckErrors, FunctionNameWithoutArguments) {
  Error e = compile_error("x'*x + tr");
  EXPECT_NE(e.kind(), ErrorKind::Inference) << e.what();
  EXPECT_EQ(e.column(), 8);
}

TEST(TypecheckErrors, SymbolUsedAsFunction) {
  Error e = compile_error("x'*A(x)");
  EXPECT_TRUE(contains(e.what(), "A")) << e.what();
  EXPECT_EQ(e.column(), 4);
}

TEST(TypecheckErrors, SymbolNamedLikeADimension) {
  // n is a dimension of W; a value may not be called n.
  Error decl = compile_error("n*tr(W'*W)", "W: matrix(n,k); n: scalar");
  EXPECT_EQ(decl.kind(), ErrorKind::Name) << decl.what();
  EXPECT_TRUE(contains(decl.what(), "'n'")) << decl.what();
  Error use = compile_error("n*tr(W'*W)", "W: matrix(n,k)");
  EXPECT_EQ(use.kind(), ErrorKind::Name) << use.what();
  EXPECT_TRUE(contains(use.what(), "'n'")) << use.what();
  EXPECT_EQ(use.column(), 1);
  Error eye = compile_error("k*tr(eye(k))");
  EXPECT_EQ(eye.kind(), ErrorKind::Name) << eye.what();
}

TEST(TypecheckErrors, BadDeclarationsInCompile) {
  Error twice = compile_error("x'*x", "x: vector(n); x: vector(n)");
  EXPECT_EQ(twice.kind(), ErrorKind::Name) << twice.what();
  EXPECT_TRUE(contains(twice.what(), "x")) << twice.what();
  Error builtin = compile_error("tr(X)", "tr: scalar");
  EXPECT_EQ(builtin.kind(), ErrorKind::Name) << builtin.what();
  Error ident = compile_error("tr(X)", "I: matrix(n,n)");
  EXPECT_EQ(ident.kind(), ErrorKind::Name) << ident.what();
}

TEST(TypecheckErrors, ExtraNamesMustOccur) {
  TypecheckOptions opt;
  opt.extra_names = {"y"};
  Error e = compile_error("x'*x", "", opt);
  EXPECT_EQ(e.kind(), ErrorKind::Name) << e.what();
  EXPECT_TRUE(contains(e.what(), "'y'")) << e.what();
}

TEST(TypecheckErrors, ElementwiseNeedsEqualShapes) {
  Error e = compile_error("sum(x .* y)", "x: vector(n); y: vector(m)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
  EXPECT_TRUE(contains(e.what(), ".*")) << e.what();
}

TEST(TypecheckErrors, SoftmaxNeedsAVector) {
  Error e = compile_error("sum(softmax(X))", "X: matrix(n,k)");
  EXPECT_EQ(e.kind(), ErrorKind::Shape) << e.what();
}

TEST(TypecheckElementwise, ScalarTimesVectorElementwise) {
  // LANGUAGE.md: "`2.*x` is `2 .* x`" -- a scalar factor of an elementwise
  // product is the ordinary scalar multiple (as in MATLAB); only + and -
  // refuse to broadcast a scalar.
  Context cx;
  const char* decls = "x: vector(n); s: scalar";
  Expr a = nullptr;
  try {
    a = compile(cx, "2.*x", decls).expr;
  } catch (const Error& e) {
    FAIL() << "2.*x with x a vector is rejected: " << e.what();
  }
  EXPECT_EQ(a, compile(cx, "2*x", decls).expr);
  EXPECT_EQ(compile(cx, "x.*s", decls).expr, compile(cx, "s*x", decls).expr);
}

TEST(TypecheckLimits, OneMegabyteExpression) {
  // ~1 MB flat sum: compiles in reasonable time to a single scaled term.
  std::string src = "x'*x";
  while (src.size() < (1u << 20)) src += " + x'*x";
  Context cx;
  TypedProgram p = compile(cx, src, "");
  const std::size_t terms = (src.size() - 4) / 7 + 1;
  EXPECT_EQ(to_text(p.expr), std::to_string(terms) + "*x'*x");
}

TEST(TypecheckLimits, DeepButAllowedNesting) {
  std::string src;
  for (int i = 0; i < 100; ++i) src += "exp(";
  src += "s" + std::string(100, ')');
  Context cx;
  EXPECT_NO_THROW(compile(cx, src, "s: scalar"));
}

// ---------------------------------------------------------------- normal form

TEST(TypecheckNormalForm, PrintedForms) {
  struct Case {
    const char* expr;
    const char* decls;
    const char* text;
  };
  const Case cases[] = {
      {"tr((A*B)')", "A: matrix(n,k); B: matrix(k,n)", "tr(B'*A')"},
      {"(A*B)'", "A: matrix(n,k); B: matrix(k,m)", "B'*A'"},
      {"x + x", "x: vector(n)", "2*x"},
      {"a*X + b*X", "a: scalar; b: scalar; X: matrix(n,k)", "(a + b)*X"},
      {"A*I", "A: matrix(n,n)", "A"},
      {"I*A", "A: matrix(n,k)", "A"},
      {"(A')'", "A: matrix(n,k)", "A"},
      {"A''", "A: matrix(n,k)", "A"},
      {"S'", "S: symmetric(n)", "S"},
      {"inv(S)'", "S: symmetric(n)", "inv(S)"},
      {"x - x + y", "x: vector(n); y: vector(n)", "y"},
      {"2*3*x", "x: vector(n)", "6*x"},
      {"1/2", "", "0.5"},
      {"-(-x)", "x: vector(n)", "x"},
      {"X^-1", "X: matrix(n,n)", "inv(X)"},
      {"x'*A*x", "x: vector(n); A: matrix(n,n)", "x'*A*x"},
      {"log(det(W*W' + s^2*I))", "W: matrix(n,k); s: scalar", "log(det(W*W' + s^2*I))"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.expr) + "   with " + c.decls);
    EXPECT_EQ(text_of(c.expr, c.decls), c.text);
  }
}

TEST(TypecheckNormalForm, EqualExpressionsArePointerEqual) {
  Context cx;
  const char* decls = "A: matrix(n,k); B: matrix(k,m); x: vector(n)";
  EXPECT_EQ(compile(cx, "(A*B)'", decls).expr, compile(cx, "B'*A'", decls).expr);
  EXPECT_EQ(compile(cx, "x + x", decls).expr, compile(cx, "2*x", decls).expr);
  EXPECT_EQ(compile(cx, "x'*x", decls).expr, compile(cx, "(x')*(x'')", decls).expr);
  EXPECT_NE(compile(cx, "x'*x", decls).expr, compile(cx, "3*x'*x", decls).expr);
}

// ---------------------------------------------------------------- round trip

TEST(TypecheckRoundTrip, TextCompilesBackToTheSameNode) {
  const std::string decls =
      "W: matrix(n,k); X: matrix(n,n); Y: matrix(n,n); A: matrix(n,n); B: matrix(n,k); "
      "S: symmetric(n); x: vector(n); y: vector(n); z: vector(k); s: scalar; t: scalar";
  const char* exprs[] = {
      "log(det(W*W' + s^2*I))",
      "2*inv(W*W' + s^2*I)*W",
      "x'*A*x",
      "(A*B)'",
      "x + x",
      "s*X + t*X",
      "A*I",
      "(A')'",
      "S'",
      "inv(S)'",
      "-x.^2",
      "-s^2",
      "s^t^2",
      "X^2'",
      "X^-1",
      "x.^-2",
      "2.*s",
      "x.*y",
      "A : B*B'",
      "2*S*X : A + s",
      "inv(X)'",
      "X''",
      "tr(X*inv(Y))",
      "logdet(X'*X)",
      "exp(x'*A*x)",
      "sum(exp(x))",
      "norm2(W*z - x)",
      "norm1(x - y)",
      "logsumexp(x)",
      "softmax(x)",
      "sigmoid(x)'*y",
      "softplus(s) + relu(t) + tanh(s*t)",
      "diag(x)*A",
      "diag(A)",
      "vec(W)",
      "kron(A, X)",
      "sym(A)",
      "x ./ (y .* y)",
      "s/t - t/s",
      "1e-3*x - 0.5*y",
      "ones(n)'*x",
      "zeros(n,n) + A",
      "eye(n)",
      "tr(eye(n))",
      "x*x'",
      "(x - y)'*S*(x - y)",
      "sqrt(abs(s)) + sin(s)*cos(t) - tan(s)",
      "sign(x) .* y",
      "det(A)^3",
      "A^3 + A^2",
      "-(A*B)' + B'*X'",
      "s*(x + y)",
      "W'*inv(S)*W",
  };
  for (const char* e : exprs) {
    SCOPED_TRACE(std::string("expression: ") + e);
    Context cx;
    Expr first = nullptr;
    std::string text;
    try {
      first = compile(cx, e, decls).expr;
      text = to_text(first);
    } catch (const Error& err) {
      ADD_FAILURE() << "does not compile: " << err.what();
      continue;
    }
    SCOPED_TRACE("printed: " + text);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    try {
      Expr again = compile(cx, text, decls).expr;
      EXPECT_EQ(again, first) << "reprinted: " << to_text(again);
      EXPECT_EQ(to_text(again), text);
    } catch (const Error& err) {
      ADD_FAILURE() << "printed text does not compile: " << err.what();
    }
  }
}

// vec and kron of symbols whose sizes are only known later: the second pass
// gives the product dimension to the symbol it meets (regression: c used to
// get a dimension of its own and the product failed to build).
TEST(TypecheckProducts, KronAndVecOfInferredSymbolsSizeTheirPartners) {
  Context cx;
  TypedProgram p = compile(cx, "kron(a,b)'*c", "", {.want_scalar = true});
  const Shape& a = p.symbols.at("a")->shape;
  const Shape& b = p.symbols.at("b")->shape;
  EXPECT_EQ(p.symbols.at("c")->shape.rows, a.rows * b.rows);
  TypedProgram q = compile(cx, "vec(W)'*v", "", {.want_scalar = true});
  const Shape& w = q.symbols.at("W")->shape;
  EXPECT_EQ(q.symbols.at("v")->shape.rows, w.rows * w.cols);
}

// n*n = k*k only where n = k: tr(kron(X, X)) makes an undeclared X square
// (Matrix Cookbook (120)). m*n = k*p has no one solution: the error says to
// declare the shapes.
TEST(TypecheckProducts, SquaresOfProductsUnifyTheirRoots) {
  Context cx;
  TypedProgram p = compile(cx, "tr(kron(X,X))", "", {.want_scalar = true});
  EXPECT_TRUE(p.symbols.at("X")->shape.is_square()) << p.symbols.at("X")->shape.str();
  Error e = compile_error("tr(kron(A,X))", "", {.want_scalar = true});
  EXPECT_EQ(e.kind(), ErrorKind::Shape);
  EXPECT_NE(std::string(e.what()).find("declare the shapes"), std::string::npos) << e.what();
  TypedProgram q = compile(cx, "tr(kron(A,X))", "A: matrix(n,n); X: matrix(m,m)", {.want_scalar = true});
  EXPECT_EQ(to_text(q.expr), "tr(A)*tr(X)");
}

// ---------------------------------------------------------------- the search

TEST(TypecheckSearch, ScalarRequirementIsAConstraintOfInference) {
  TypecheckOptions scalar;
  scalar.want_scalar = true;
  Context cx;
  TypedProgram p = compile(cx, "alpha*tr(A)", "", scalar);
  EXPECT_EQ(shape_of(p, "alpha"), "scalar");
  EXPECT_EQ(shape_of(p, "A"), "n x n");
  EXPECT_TRUE(p.warnings.empty());
  Context cx2;
  TypedProgram q = compile(cx2, "alpha*tr(A)", "");  // a value: alpha keeps its name's habit
  EXPECT_EQ(shape_of(q, "alpha"), "vector(n)");
}

TEST(TypecheckSearch, ManySymbolsAreInferredCompletely) {
  // 30 undeclared symbols, each of which must be a scalar for the sum of
  // products to be one: the search has no cap on the number of symbols.
  std::string e;
  for (int i = 0; i < 15; ++i) e += (i ? " + " : "") + std::string("a") + std::to_string(i) + "*b" + std::to_string(i);
  TypecheckOptions scalar;
  scalar.want_scalar = true;
  Context cx;
  TypedProgram p = compile(cx, e, "", scalar);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(shape_of(p, "b" + std::to_string(i)), "scalar");
  // Twelve quadratic forms x_i'*A_i*x_i: vectors and matrices, as written.
  std::string q;
  for (int i = 0; i < 12; ++i)
    q += std::string(i ? " + " : "") + "x" + std::to_string(i) + "'*A" + std::to_string(i) + "*x" + std::to_string(i);
  Context cx2;
  TypedProgram r = compile(cx2, q, "", scalar);
  EXPECT_EQ(shape_of(r, "x11"), r.symbols.at("x11")->shape.str());
  EXPECT_TRUE(r.symbols.at("x11")->shape.is_col());
  EXPECT_FALSE(r.symbols.at("A11")->shape.is_col());
}

TEST(TypecheckSearch, TiesNameBothReadingsWithADeclarationForEach) {
  Error e = compile_error("a*b");
  EXPECT_EQ(e.kind(), ErrorKind::Inference) << e.what();
  EXPECT_TRUE(contains(e.what(), "--decl 'a: vector(n); b: scalar'")) << e.what();
  EXPECT_TRUE(contains(e.what(), "--decl 'a: scalar; b: vector(n)'")) << e.what();
}

TEST(TypecheckSearch, NoReadingMakesAScalarNamesTheSymbols) {
  TypecheckOptions scalar;
  scalar.want_scalar = true;
  Error e = compile_error("X*y", "X: matrix(n,k)", scalar);
  EXPECT_TRUE(contains(e.what(), "not a scalar") && contains(e.what(), "whatever the kinds of y")) << e.what();
}

// ---------------------------------------------------------------- broadcasting

TEST(TypecheckBroadcast, ScalarPlusVectorIsEntrywise) {
  Context cx;
  TypedProgram p = compile(cx, "x - 1", "x: vector(n)");
  EXPECT_EQ(p.expr->shape.str(), "vector(n)");
  EXPECT_EQ(to_text(p.expr), to_text(add(p.symbols.at("x"), neg(ones(cx, p.symbols.at("x")->shape)))));
  Context cx2;
  TypecheckOptions scalar;
  scalar.want_scalar = true;
  TypedProgram q = compile(cx2, "sum(log(1 + exp(-y .* (X*w))))", "", scalar);
  EXPECT_EQ(shape_of(q, "X"), "n x k");
  EXPECT_EQ(shape_of(q, "y"), "vector(n)");
  EXPECT_EQ(shape_of(q, "w"), "vector(k)");
  EXPECT_TRUE(q.warnings.empty());
}

TEST(TypecheckBroadcast, AUserScalarIsNotBroadcastWhenAScalarReadingFits) {
  // w'*x + b: b is the scalar bias, not a vector that w'*x is added to.
  Context cx;
  TypedProgram p = compile(cx, "w'*x + b", "");
  EXPECT_EQ(shape_of(p, "b"), "scalar");
  EXPECT_EQ(shape_of(p, "w"), "vector(n)");
}

// ---------------------------------------------------------------- warnings

std::string warnings_of(const std::string& expr, const std::string& decls = "", bool want_scalar = true) {
  Context cx;
  TypecheckOptions opt;
  opt.want_scalar = want_scalar;
  opt.source = expr;
  TypedProgram p = compile(cx, expr, decls, opt);
  std::string out;
  for (const auto& w : p.warnings) out += w.message + " @" + std::to_string(w.column) + "\n";
  return out;
}

TEST(TypecheckWarnings, ReadingsAgainstANamesHabitSayWhy) {
  std::string w = warnings_of("logdet(W*W' + s^2)");
  EXPECT_TRUE(contains(w, "s is read as a matrix (s: matrix(n,n))")) << w;
  EXPECT_TRUE(contains(w, "as a scalar: cannot add a scalar to an n x n matrix") || contains(w, "write s^2*I")) << w;
  std::string d = warnings_of("logdet(W*W' + s^2)", "s: scalar");
  EXPECT_TRUE(contains(d, "W is read as a scalar (W: scalar)") && contains(d, "write s^2*I")) << d;
  std::string v = warnings_of("sum(sqrt(1 + W.^2))");
  EXPECT_TRUE(contains(v, "W is read as a vector (W: vector(n))")) << v;
}

TEST(TypecheckWarnings, LoneLetterExponentCaseTwinsAndScalarArguments) {
  std::string t = warnings_of("tr(X^T*A*X)");
  EXPECT_TRUE(contains(t, "'X^T' reads T as a scalar exponent; did you mean X' (the transpose)? @6")) << t;
  std::string c = warnings_of("logdet(Sigma) + x'*inv(sigma)*x");
  EXPECT_TRUE(contains(c, "Sigma and sigma are two different symbols")) << c;
  std::string s = warnings_of("sum(a) + tr(b)", "b: scalar");
  EXPECT_TRUE(contains(s, "'tr(b)' has a scalar argument")) << s;
  std::string trick = warnings_of("tr(x'*A*x)");  // the trace trick, said once
  EXPECT_TRUE(contains(trick, "'tr(x'*A*x)' has a scalar argument, so it is that scalar @1")) << trick;
  std::string n = warnings_of("norm2(s) + x'*x", "s: scalar");
  EXPECT_TRUE(contains(n, "'norm2(s)' has a scalar argument, so it is its absolute value @1")) << n;
  EXPECT_TRUE(warnings_of("lambda*norm2(w)^2 + norm2(X*w - y)^2").empty());
}

TEST(TypecheckSearch, IndependentTermsOfAScalarSumAreSearchedApart) {
  // 20 regularized least-squares terms, 80 symbols, none shared between
  // terms: each group is searched alone (3^80 readings together).
  std::string e;
  for (int i = 0; i < 20; ++i) {
    const std::string k = std::to_string(i);
    e += std::string(i ? " + " : "") + "l" + k + "*norm2(w" + k + ")^2 + norm2(X" + k + "*w" + k + " - y" + k + ")^2";
  }
  TypecheckOptions scalar;
  scalar.want_scalar = true;
  Context cx;
  TypedProgram p = compile(cx, e, "", scalar);
  EXPECT_EQ(shape_of(p, "l19"), "scalar");
  EXPECT_TRUE(p.symbols.at("w19")->shape.is_col());
  EXPECT_FALSE(p.symbols.at("X19")->shape.is_col());
  // A tie inside one group is a tie of the whole: a*b + c*d is scalar only
  // with scalars, but sum(a*b) + c*d ties on a, b.
  Error t = compile_error("sum(a*b) + c*d", "", scalar);
  EXPECT_EQ(t.kind(), ErrorKind::Inference) << t.what();
  EXPECT_TRUE(contains(t.what(), "--decl 'a: vector(n); b: scalar'")) << t.what();
  // A group with no reading reports its own conflict.
  Error c = compile_error("x'*x + tr(W*W)", "W: matrix(n,k)", scalar);
  EXPECT_EQ(c.kind(), ErrorKind::Shape) << c.what();
}

TEST(TypecheckSearch, KindsFromTheValuesAreTakenAsGivenAndMeant) {
  Context cx;
  TypecheckOptions opt;
  opt.kinds = {{"s", "matrix"}, {"t", "scalar"}, {"nobody", "vector"}, {"X", "no such kind"}};
  TypedProgram p = compile(cx, "tr(X*s)*t", "", opt);
  EXPECT_EQ(shape_of(p, "s"), "k x n");  // lower case, but the values say matrix: no warning
  EXPECT_EQ(shape_of(p, "t"), "scalar");
  EXPECT_TRUE(p.warnings.empty()) << p.warnings.front().message;
  Context cx2;
  TypecheckOptions scalar_s;
  scalar_s.kinds = {{"s", "scalar"}};
  Error e = compile_error("X + s", "X: matrix(2,2)", scalar_s);
  EXPECT_TRUE(contains(e.what(), "write s*I") && !contains(e.what(), "no other kinds")) << e.what();
}
