// Numeric evaluation (eval/evaluate), values files (eval/values) and
// gradient checking (eval/check): every operator against plain Eigen on
// small hand-made inputs, the numerically delicate paths (logdet past det's
// overflow, solves instead of inverses, singular matrices, domain errors),
// every way a values file can be wrong, and the finite-difference
// conventions.
#include <gtest/gtest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "eval/values.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "support/expect_error.hpp"
#include "support/matrices.hpp"

using namespace matcalc;
using json = nlohmann::json;

namespace {

using matcalc::testing::expect_error;
using matcalc::testing::mat;

const char* kDecls =
    "A: matrix(3,3); S: symmetric(3); B: matrix(3,2); x: vector(3); y: vector(3); "
    "s: scalar; t: scalar; v: vector(2)";

Matrix col(std::initializer_list<double> v) {
  Matrix m(static_cast<Eigen::Index>(v.size()), 1);
  Eigen::Index i = 0;
  for (double e : v) m(i++, 0) = e;
  return m;
}

Matrix scal(double v) { return Matrix::Constant(1, 1, v); }

// Records every operator the fixture evaluates, for the coverage test.
std::set<Op>& ops_seen() {
  static std::set<Op> s;
  return s;
}

class Eval : public ::testing::Test {
 protected:
  Context cx;
  Bindings b;
  Matrix A, S, B, x, y, v;
  double s = 0.7, t = -1.3;

  void SetUp() override {
    A = mat({{4, 1, 2}, {0, 3, 1}, {1, 2, 5}});
    S = mat({{4, 1, 0.5}, {1, 3, 0.2}, {0.5, 0.2, 2}});
    B = mat({{1, 2}, {-1, 0.5}, {3, 1}});
    x = col({1, -2, 0.5});
    y = col({0.5, 1, 2});
    v = col({-0.25, 1.5});
    b.values = {{"A", A}, {"S", S}, {"B", B}, {"x", x}, {"y", y},
                {"s", scal(s)}, {"t", scal(t)}, {"v", v}};
  }

  Expr parse(const std::string& e) { return compile(cx, e, kDecls).expr; }

  Matrix ev(const std::string& e) { return ev(parse(e)); }
  Matrix ev(Expr e) {
    for (Expr n : topo_order(e)) ops_seen().insert(n->op);
    return evaluate(e, b);
  }
  Expr sym_of(const std::string& name) { return compile(cx, name, kDecls).symbols.at(name); }
};

#define EXPECT_MAT_NEAR(got, want, tol)                                              \
  do {                                                                               \
    Matrix g_ = (got), w_ = (want);                                                  \
    ASSERT_EQ(g_.rows(), w_.rows());                                                 \
    ASSERT_EQ(g_.cols(), w_.cols());                                                 \
    EXPECT_LE((g_ - w_).norm(), (tol) * std::max(1.0, w_.norm())) << g_ << "\nvs\n" << w_; \
  } while (0)

}  // namespace

// ------------------------------------------------------------- operators

TEST_F(Eval, LeavesAndArithmetic) {
  EXPECT_MAT_NEAR(ev("x"), x, 1e-15);
  EXPECT_MAT_NEAR(ev(constant(cx, 2.5)), scal(2.5), 0);
  EXPECT_MAT_NEAR(ev("A + I"), A + Matrix::Identity(3, 3), 1e-15);
  EXPECT_MAT_NEAR(ev(zeros(cx, {Dim::literal(3), Dim::literal(2)})), Matrix::Zero(3, 2), 0);
  EXPECT_MAT_NEAR(ev("ones(3)"), Matrix::Ones(3, 1), 0);
  EXPECT_MAT_NEAR(ev("ones(3,2)"), Matrix::Ones(3, 2), 0);
  EXPECT_MAT_NEAR(ev("A + S - A'"), A + S - A.transpose(), 1e-14);
  EXPECT_MAT_NEAR(ev("-x"), -x, 0);
  EXPECT_MAT_NEAR(ev("s*A*B"), s * A * B, 1e-14);
  EXPECT_MAT_NEAR(ev("x'*A*y"), x.transpose() * A * y, 1e-14);
  EXPECT_MAT_NEAR(ev("2*s*t*(x'*y)"), scal(2 * s * t * x.col(0).dot(y.col(0))), 1e-14);
  EXPECT_MAT_NEAR(ev("B'*A*S*B*v"), B.transpose() * A * S * B * v, 1e-13);
  EXPECT_MAT_NEAR(ev("x*y'"), x * y.transpose(), 1e-15);
  EXPECT_MAT_NEAR(ev("s^3"), scal(s * s * s), 1e-15);
  EXPECT_MAT_NEAR(ev("s^0.5"), scal(std::sqrt(s)), 1e-15);
  EXPECT_MAT_NEAR(ev("t^2"), scal(t * t), 1e-15);
  EXPECT_MAT_NEAR(ev("x/s"), x / s, 1e-15);
  EXPECT_MAT_NEAR(ev("A^2"), A * A, 1e-14);
  EXPECT_MAT_NEAR(ev("A^5"), A * A * A * A * A, 1e-13);
  EXPECT_MAT_NEAR(ev("A^-2"), (A * A).inverse(), 1e-13);
  EXPECT_MAT_NEAR(ev("x .* y"), x.cwiseProduct(y), 1e-15);
  EXPECT_MAT_NEAR(ev("x .* y .* x"), x.cwiseProduct(y).cwiseProduct(x), 1e-15);
  EXPECT_MAT_NEAR(ev("x ./ y"), x.cwiseQuotient(y), 1e-15);
  EXPECT_MAT_NEAR(ev("x .^ 3"), x.array().cube().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("y .^ 0.5"), y.array().sqrt().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("y .^ s"), y.array().pow(s).matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("x'"), x.transpose(), 0);
  EXPECT_MAT_NEAR(ev("(A*B)'"), (A * B).transpose(), 1e-14);
}

TEST_F(Eval, MatrixFunctions) {
  EXPECT_MAT_NEAR(ev("tr(A)"), scal(A.trace()), 1e-15);
  EXPECT_MAT_NEAR(ev("det(A)"), scal(A.determinant()), 1e-13);
  EXPECT_MAT_NEAR(ev("det(S)"), scal(S.determinant()), 1e-13);
  EXPECT_MAT_NEAR(ev("logdet(S)"), scal(std::log(S.determinant())), 1e-14);
  EXPECT_MAT_NEAR(ev("logdet(A)"), scal(std::log(A.determinant())), 1e-14);
  EXPECT_MAT_NEAR(ev("log(det(A))"), scal(std::log(A.determinant())), 1e-14);
  EXPECT_MAT_NEAR(ev("inv(A)"), A.inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("inv(S)"), S.inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("inv(A)'"), A.inverse().transpose(), 1e-14);
  EXPECT_MAT_NEAR(ev("diag(x)"), Matrix(x.asDiagonal()), 0);
  EXPECT_MAT_NEAR(ev("diag(A)"), A.diagonal(), 0);
  EXPECT_MAT_NEAR(ev("diag(x')"), Matrix(x.asDiagonal()), 0);
  EXPECT_MAT_NEAR(ev("sum(A)"), scal(A.sum()), 1e-15);
  EXPECT_MAT_NEAR(ev("sum(x)"), scal(x.sum()), 1e-15);
  EXPECT_MAT_NEAR(ev("norm2(A)"), scal(A.norm()), 1e-15);
  EXPECT_MAT_NEAR(ev("norm2(x)"), scal(x.norm()), 1e-15);
  EXPECT_MAT_NEAR(ev("norm1(x)"), scal(3.5), 1e-15);
  EXPECT_MAT_NEAR(ev("norm1(B)"), scal(B.cwiseAbs().sum()), 1e-15);
  EXPECT_MAT_NEAR(ev("vec(B)"), col({1, -1, 3, 2, 0.5, 1}), 0);
  Expr bsym = sym_of("B");
  EXPECT_MAT_NEAR(ev(reshape(bsym, {Dim::literal(2), Dim::literal(3)})),
                  mat({{1, 3, 0.5}, {-1, 2, 1}}), 0);
  EXPECT_MAT_NEAR(ev(reshape(vec(bsym), {Dim::literal(3), Dim::literal(2)})), B, 0);
  Matrix k(9, 6);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) k.block(i * 3, j * 2, 3, 2) = A(i, j) * B;
  EXPECT_MAT_NEAR(ev("kron(A, B)"), k, 1e-15);
  EXPECT_MAT_NEAR(ev("sym(A)"), (A + A.transpose()) / 2, 1e-15);
  double m = x.maxCoeff();
  EXPECT_MAT_NEAR(ev("logsumexp(x)"), scal(std::log(x.array().exp().sum())), 1e-15);
  EXPECT_MAT_NEAR(ev("softmax(x)"), (x.array().exp() / x.array().exp().sum()).matrix(), 1e-15);
  (void)m;
}

TEST_F(Eval, ElementwiseFunctions) {
  EXPECT_MAT_NEAR(ev("exp(x)"), x.array().exp().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("log(y)"), y.array().log().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("sqrt(y)"), y.array().sqrt().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("sin(x)"), x.array().sin().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("cos(x)"), x.array().cos().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("tan(x)"), x.array().tan().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("tanh(x)"), x.array().tanh().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("abs(x)"), x.cwiseAbs(), 0);
  EXPECT_MAT_NEAR(ev("sign(x)"), col({1, -1, 1}), 0);
  EXPECT_MAT_NEAR(ev("sigmoid(x)"), (1 / (1 + (-x.array()).exp())).matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("softplus(x)"), (1 + x.array().exp()).log().matrix(), 1e-15);
  EXPECT_MAT_NEAR(ev("relu(x)"), col({1, 0, 0.5}), 0);
  EXPECT_MAT_NEAR(ev("exp(x'*A*x)"), scal(std::exp(x.col(0).dot((A * x).col(0)))), 1e-15);
  EXPECT_MAT_NEAR(ev("exp(A)"), A.array().exp().matrix(), 1e-15);
  b.values["x"] = col({0, -0.0, 2});
  EXPECT_MAT_NEAR(ev("sign(x)"), col({0, 0, 1}), 0);
}

TEST_F(Eval, StableFormsDoNotOverflow) {
  b.values["x"] = col({1000, -1000, 0});
  EXPECT_MAT_NEAR(ev("sigmoid(x)"), col({1, 0, 0.5}), 1e-15);
  EXPECT_MAT_NEAR(ev("softplus(x)"), col({1000, 0, std::log(2.0)}), 1e-15);
  EXPECT_MAT_NEAR(ev("logsumexp(x)"), scal(1000), 1e-15);
  EXPECT_MAT_NEAR(ev("softmax(x)"), col({1, 0, 0}), 1e-15);
  b.values["x"] = col({1000, 1000, -1e6});
  EXPECT_NEAR(ev("logsumexp(x)")(0, 0), 1000 + std::log(2.0), 1e-12);
  b.values["A"] = Matrix::Constant(3, 3, 1e200);
  EXPECT_NEAR(ev("norm2(A)")(0, 0), 3e200, 1e186);  // squares overflow; stableNorm does not
}

// norm2 of tiny vectors: the squares underflow (to 0 below about 1e-162,
// to subnormals that lose digits above it), so the plain sum of squares gave
// norm2([1e-200, 1e-200]) = 0 and norm2([3e-160, 4e-160]) off by 6e-6.
TEST_F(Eval, Norm2DoesNotUnderflow) {
  b.values["x"] = col({1e-200, 1e-200, 0});
  EXPECT_NEAR(ev("norm2(x)")(0, 0) / 1e-200, std::sqrt(2.0), 1e-15);
  b.values["x"] = col({3e-160, 4e-160, 0});
  EXPECT_NEAR(ev("norm2(x)")(0, 0) / 1e-160, 5.0, 1e-14);
  // The gradient x/norm2(x) is the unit vector.
  EXPECT_MAT_NEAR(ev("x/norm2(x)"), col({0.6, 0.8, 0}), 1e-15);
}

// Structured factors of a chain (commutation, diag, kron) are applied, never
// formed: the products equal those of the formed matrices.
TEST_F(Eval, StructuredFactorsOfAChainAreAppliedAsTheirMatrices) {
  const Matrix ab = ev("kron(A, B)"), k = ev("commutation(2,3)"), ba = ev("kron(B', A)");
  EXPECT_EQ(k.rows(), 6);
  EXPECT_MAT_NEAR(ev("kron(A, B)*commutation(2,3)*kron(B', A)"), ab * k * ba, 1e-12);
  EXPECT_MAT_NEAR(ev("commutation(3,2)*kron(B', A)"), k.transpose() * ba, 1e-12);
  EXPECT_MAT_NEAR(ev("B'*diag(x)*A"), ev("B'") * ev("diag(x)") * ev("A"), 1e-12);
  EXPECT_MAT_NEAR(ev("kron(A, kron(B, B'))*ones(18,2)"), ev("kron(A, kron(B, B'))") * Matrix::Ones(18, 2), 1e-12);
  // K_{3,2}*vec(B) = vec(B') for the 3 x 2 B, from the definition.
  Matrix b = ev("B"), bt = b.transpose();
  EXPECT_MAT_NEAR(ev("commutation(3,2)") * Eigen::Map<Matrix>(b.data(), 6, 1), Eigen::Map<Matrix>(bt.data(), 6, 1), 0);
}

// Every operator of ops.def evaluates (each test runs in its own process
// under ctest, so this one builds its own expressions).
TEST_F(Eval, CoversEveryOperator) {
  ops_seen().clear();
  for (const char* e :
       {"2.5*x + A*x", "A + I + ones(3,3)", "s^t + s^0.5", "A^3", "x .* y + x ./ y + x .^ 3",
        "tr(A') + det(A) + logdet(S)", "inv(A)", "diag(x) + diag(diag(A))", "sum(A) + norm2(A) + norm1(A)", "vec(B)",
        "kron(A, B)", "sym(A)", "logsumexp(x) + softmax(x)'*x", "exp(x) + log(y) + sqrt(y)",
        "sin(x) + cos(x) + tan(x) + tanh(x) + abs(x) + sign(x)", "sigmoid(x) + softplus(x) + relu(x)",
        "commutation(3,2)"})
    ev(e);
  ev(zeros(cx, {Dim::literal(3), Dim::literal(2)}));
  ev(reshape(sym_of("B"), {Dim::literal(2), Dim::literal(3)}));
  std::string missing;
  for (int i = 0; i < kOpCount; ++i)
    if (!ops_seen().count(static_cast<Op>(i))) missing += std::string(op_name(static_cast<Op>(i))) + " ";
  EXPECT_TRUE(missing.empty()) << "not evaluated by this test: " << missing;
}

// ------------------------------------------------------ solves, logdet

TEST_F(Eval, SolvesAgreeWithInverse) {
  EXPECT_MAT_NEAR(ev("inv(A)*B"), A.inverse() * B, 1e-14);
  EXPECT_MAT_NEAR(ev("B'*inv(A)"), B.transpose() * A.inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("x'*inv(S)*x"), scal(x.col(0).dot((S.inverse() * x).col(0))), 1e-14);
  EXPECT_MAT_NEAR(ev("inv(A')*x"), A.transpose().inverse() * x, 1e-14);
  EXPECT_MAT_NEAR(ev("x'*inv(A')"), x.transpose() * A.transpose().inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("inv(A)*inv(S)*x"), A.inverse() * S.inverse() * x, 1e-14);
  EXPECT_MAT_NEAR(ev("inv(A)*inv(S)"), A.inverse() * S.inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("B'*inv(A)*S*inv(A)*B"),
                  B.transpose() * A.inverse() * S * A.inverse() * B, 1e-13);
  EXPECT_MAT_NEAR(ev("2*s*inv(A)"), 2 * s * A.inverse(), 1e-14);
  EXPECT_MAT_NEAR(ev("tr(inv(S)*A)"), scal((S.inverse() * A).trace()), 1e-14);
  EXPECT_MAT_NEAR(ev("logdet(S) + x'*inv(S)*x + tr(inv(S))"),
                  scal(std::log(S.determinant()) + x.col(0).dot((S.inverse() * x).col(0)) + S.inverse().trace()),
                  1e-13);
}

TEST_F(Eval, LongChainsInEveryOrder) {
  // Orders matter for cost only; every order gives the same numbers.
  EXPECT_MAT_NEAR(ev("x*y'*A*x*v'*B'"), x * y.transpose() * A * x * v.transpose() * B.transpose(), 1e-13);
  // A chain past the dynamic program's limit folds greedily (alternating
  // factors: the builders merge equal neighbours into powers).
  Matrix q = mat({{0, 1, 0}, {0, 0, 1}, {1, 0, 0}});
  Matrix p = mat({{0, 1, 0}, {1, 0, 0}, {0, 0, 1}});
  b.values["A"] = q;
  b.values["S"] = p;
  std::vector<Expr> fs;
  Matrix wq = Matrix::Identity(3, 3);
  for (int i = 0; i < 200; ++i) {
    fs.push_back(sym_of(i % 2 ? "S" : "A"));
    wq = wq * (i % 2 ? p : q);
  }
  EXPECT_MAT_NEAR(ev(mul(fs)), wq, 1e-15);
  fs.push_back(sym_of("x"));
  EXPECT_MAT_NEAR(ev(mul(fs)), wq * x, 1e-15);
}

TEST_F(Eval, LogdetPastDeterminantOverflow) {
  const int n = 200;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd;
  Matrix g(n, n);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = nd(rng);
  Matrix big = 1e3 * Matrix::Identity(n, n) + g * g.transpose();  // eigenvalues >= 1e3: det ~ 1e600+
  big = 0.5 * (big + big.transpose());
  Eigen::SelfAdjointEigenSolver<Matrix> es(big);
  double want = es.eigenvalues().array().log().sum();

  Context c2;
  auto p = compile(c2, "logdet(S)", "S: symmetric(n)");
  Bindings bb;
  bb.values["S"] = big;
  EXPECT_NEAR(evaluate(p.expr, bb)(0, 0), want, 1e-10 * std::fabs(want));
  // log(det(S)) unsimplified takes the same path: det's overflow never shows.
  Expr logofdet = elementwise(Op::Log, det(p.symbols.at("S")));
  ASSERT_EQ(logofdet->op, Op::Log);
  EXPECT_NEAR(evaluate(logofdet, bb)(0, 0), want, 1e-10 * std::fabs(want));
  auto pd = compile(c2, "det(S)", "S: symmetric(n)");
  expect_error([&] { evaluate(pd.expr, bb); }, ErrorKind::Domain, "det: result is not finite");

  // The same through LU for a non-symmetric matrix with positive determinant.
  auto pa = compile(c2, "logdet(M)", "M: matrix(n,n)");
  Matrix nonsym = big;
  nonsym(0, 1) += 1.0;
  bb.values["M"] = nonsym;
  double want_lu = Eigen::PartialPivLU<Matrix>(nonsym).matrixLU().diagonal().array().abs().log().sum();
  EXPECT_NEAR(evaluate(pa.expr, bb)(0, 0), want_lu, 1e-10 * std::fabs(want_lu));
  EXPECT_NEAR(evaluate(pa.expr, bb)(0, 0), want, 1e-3);
}

TEST_F(Eval, LogdetSignRules) {
  Context c2;
  auto p = compile(c2, "logdet(S)", "S: symmetric(2)");
  Bindings bb;
  bb.values["S"] = mat({{-2, 0}, {0, -3}});  // not PD, but det = 6 > 0
  EXPECT_NEAR(evaluate(p.expr, bb)(0, 0), std::log(6.0), 1e-15);
  bb.values["S"] = mat({{1, 2}, {2, 1}});  // det = -3
  expect_error([&] { evaluate(p.expr, bb); }, ErrorKind::Domain, "logdet: determinant is not positive");
  auto q = compile(c2, "logdet(M)", "M: matrix(2,2)");
  bb.values["M"] = mat({{0, 1}, {1, 0}});  // det = -1 via a row swap
  expect_error([&] { evaluate(q.expr, bb); }, ErrorKind::Domain, "logdet: determinant is not positive");
  bb.values["M"] = mat({{0, -1}, {1, 0}});  // det = 1 with a row swap
  EXPECT_NEAR(evaluate(q.expr, bb)(0, 0), 0.0, 1e-15);
  bb.values["M"] = mat({{1, 2}, {2, 4}});
  expect_error([&] { evaluate(q.expr, bb); }, ErrorKind::Domain, "logdet: determinant is not positive");
}

TEST_F(Eval, SingularMatrices) {
  b.values["A"] = mat({{1, 2, 3}, {2, 4, 6}, {1, 0, 1}});
  expect_error([&] { ev("inv(A)"); }, ErrorKind::Domain, "inv: matrix is singular");
  expect_error([&] { ev("inv(A)*x"); }, ErrorKind::Domain, "inv: matrix is singular");
  expect_error([&] { ev("x'*inv(A)"); }, ErrorKind::Domain, "inv: matrix is singular");
  expect_error([&] { ev("A^-1"); }, ErrorKind::Domain, "inv: matrix is singular");
  EXPECT_NEAR(ev("det(A)")(0, 0), 0.0, 1e-14);  // det of a singular matrix is just 0
  // Numerically singular: the rcond estimate catches what exact pivots miss.
  b.values["A"] = mat({{1, 1, 0}, {1, 1 + 1e-15, 0}, {0, 0, 1}});
  expect_error([&] { ev("inv(A)*x"); }, ErrorKind::Domain, "reciprocal condition number");
  // A singular symmetric matrix fails Cholesky and then LU.
  b.values["S"] = mat({{1, 1, 0}, {1, 1, 0}, {0, 0, 1}});
  expect_error([&] { ev("x'*inv(S)*x"); }, ErrorKind::Domain, "inv: matrix is singular");
}

// ----------------------------------------------------------- domains

TEST_F(Eval, DomainErrorsNameTheFunction) {
  expect_error([&] { ev("log(x)"); }, ErrorKind::Domain, "log: argument -2 is not positive");
  expect_error([&] { ev("sqrt(x)"); }, ErrorKind::Domain, "sqrt: argument -2 is negative");
  expect_error([&] { ev("x .^ 0.5"); }, ErrorKind::Domain, "'.^': negative base -2");
  expect_error([&] { ev("t^0.5"); }, ErrorKind::Domain, "'^': negative base");
  b.values["s"] = scal(0);
  expect_error([&] { ev("1/s"); }, ErrorKind::Domain, "division by zero");
  expect_error([&] { ev("x/s"); }, ErrorKind::Domain, "division by zero");
  b.values["y"] = col({1, 0, 2});
  expect_error([&] { ev("x ./ y"); }, ErrorKind::Domain, "'./': division by zero");
  expect_error([&] { ev("y .^ -1"); }, ErrorKind::Domain, "division by zero");
  b.values["x"] = col({1000, 0, 0});
  expect_error([&] { ev("exp(x)"); }, ErrorKind::Domain, "exp: result is not finite");
  expect_error([&] { ev("sum(x .^ 200)"); }, ErrorKind::Domain, "result is not finite");
  b.values["x"] = col({1, NAN, 0});
  expect_error([&] { ev("x"); }, ErrorKind::Value, "not finite");
}

TEST_F(Eval, MissingValuesAndDimensions) {
  b.values.erase("x");
  expect_error([&] { ev("A*x"); }, ErrorKind::Value, "no value for symbol 'x'");
  Context c2;
  auto p = compile(c2, "W*W' + s^2*I", "W: matrix(n,k); s: scalar");
  Bindings bb;
  bb.values["W"] = mat({{1, 2}, {3, 4}, {5, 6}});
  bb.values["s"] = scal(0.5);
  Matrix w = bb.values["W"];
  // Sizes come from the values when Bindings.dims is empty.
  EXPECT_MAT_NEAR(evaluate(p.expr, bb), w * w.transpose() + 0.25 * Matrix::Identity(3, 3), 1e-14);
  bb.dims["n"] = 4;  // contradicts W's value
  expect_error([&] { evaluate(p.expr, bb); }, ErrorKind::Value, "the value of 'W' is 3 x 2");
  expect_error([&] { dim_value(Dim::symbol("q"), bb); }, ErrorKind::Value, "'q'");
  EXPECT_EQ(dim_value(Dim::symbol("n") * Dim::literal(3), bb), 12);
  auto e = compile(c2, "tr(eye(m))", "").expr;
  expect_error([&] { evaluate(e, Bindings{}); }, ErrorKind::Value, "no size for dimension 'm'");
}

TEST_F(Eval, MemoizesAndHandlesDeepExpressions) {
  Evaluator evr(b);
  Expr e = parse("exp(A)*exp(A)*x");
  const Matrix& r1 = evr.eval(e);
  const Matrix& r2 = evr.eval(e);
  EXPECT_EQ(&r1, &r2);
  Matrix ea = A.array().exp().matrix();
  EXPECT_MAT_NEAR(r1, ea * ea * x, 1e-12);

  // Depth near the IR's limit: evaluation must not recurse per level.
  Expr d = sym_of("x");
  for (int i = 0; i < 1900; ++i) d = elementwise(i % 2 ? Op::Sin : Op::Tanh, d);
  Matrix want = x;
  for (int i = 0; i < 1900; ++i)
    want = i % 2 ? Matrix(want.array().sin().matrix()) : Matrix(want.array().tanh().matrix());
  EXPECT_MAT_NEAR(evaluate(d, b), want, 1e-14);
}

// ------------------------------------------------------------- values

namespace {
struct ValuesFixture : ::testing::Test {
  Context cx;
  std::map<std::string, Expr> syms;
  void SetUp() override {
    syms = compile(cx, "y'*W*z + s + tr(S)", "W: matrix(n,k); y: vector(n); z: vector(k); s: scalar; S: symmetric(n)").symbols;
  }
  json good() {
    return json::parse(R"({"W": [[1,2],[3,4],[5,6]], "y": [1,2,3], "z": [0.5,-1], "s": 0.5,
                           "S": [[2,1,0],[1,2,0],[0,0,1]]})");
  }
};
}  // namespace

using Values = ValuesFixture;

TEST_F(Values, ReadsAGoodFile) {
  Bindings b = read_values(good(), syms);
  EXPECT_EQ(b.dims.at("n"), 3);
  EXPECT_EQ(b.dims.at("k"), 2);
  EXPECT_EQ(b.values.at("W"), mat({{1, 2}, {3, 4}, {5, 6}}));
  EXPECT_EQ(b.values.at("y"), col({1, 2, 3}));
  EXPECT_EQ(b.values.at("s"), scal(0.5));
}

TEST_F(Values, RejectsEveryBadShape) {
  auto bad = [&](const char* key, const char* val, const std::string& part) {
    json j = good();
    j[key] = json::parse(val);
    expect_error([&] { read_values(j, syms); }, ErrorKind::Value, part);
  };
  bad("y", "[1,2,3,4,5]", "dimension n is 3 from S but 5 from y");
  bad("z", "[1,2,3]", "dimension k is 2 from W but 3 from z");
  bad("y", "2", "the value of 'y' should be a vector (vector(n)), got a number");
  bad("s", "[1,2]", "should be a scalar, got a list of 2 numbers");
  bad("W", "[1,2,3]", "should be a matrix (n x k), got a list of 3 numbers");
  bad("W", "[[1,2],[3],[5,6]]", "ragged rows");
  bad("W", "[[1,2],3,[5,6]]", "mixes rows and numbers");
  bad("y", "[1,[2],3]", "mixes numbers and rows");
  bad("y", "[]", "empty list");
  bad("y", R"([1,"2",3])", "not a number");
  bad("s", "true", "expected a number");
  bad("s", "null", "expected a number");
  bad("S", "[[2,1,0],[1.1,2,0],[0,0,1]]", "'S' is declared symmetric but its value is not");
  bad("S", "[[2,1],[1,2]]", "dimension n");
  json j = good();
  j["s"] = NAN;
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value, "non-finite");
  j = good();
  j["W"][1][1] = INFINITY;
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value, "non-finite");
}

TEST_F(Values, UnknownAndMissingSymbols) {
  json j = good();
  j["q"] = 1;  // ignored: one file serves a function and its printed gradient
  EXPECT_EQ(read_values(j, syms).values.count("q"), 0u);
  j = good();
  j.erase("y");
  j.erase("s");
  expect_error([&] { read_values(j, syms); }, ErrorKind::Value, "no value for 's', 'y'");
  expect_error([&] { read_values(json::array({1, 2}), syms); }, ErrorKind::Value, "JSON object");
}

TEST_F(Values, LiteralAndProductDimensions) {
  Context c;
  Dim n = Dim::symbol("n"), k = Dim::symbol("k");
  std::map<std::string, Expr> s{
      {"A", symbol(c, "A", {Dim::literal(3), Dim::literal(3)})},
      {"v", symbol(c, "v", {n * k, Dim::literal(1)})},
      {"W", symbol(c, "W", {n, k})},
      {"r", symbol(c, "r", {Dim::literal(1), n})},
  };
  json j = json::parse(R"({"A": [[1,0,0],[0,1,0],[0,0,1]], "v": [1,2,3,4,5,6],
                           "W": [[1,2],[3,4],[5,6]], "r": [1,2,3]})");
  Bindings b = read_values(j, s);
  EXPECT_EQ(b.values.at("r"), mat({{1, 2, 3}}));  // a flat list for a 1 x n symbol
  EXPECT_EQ(b.values.at("v").rows(), 6);
  j["r"] = json::parse("[[1,2,3]]");
  EXPECT_NO_THROW(read_values(j, s));
  j["v"] = json::parse("[1,2,3,4,5]");
  expect_error([&] { read_values(j, s); }, ErrorKind::Value, "dimension k*n of 'v'");
  j["v"] = json::parse("[1,2,3,4,5,6]");
  j["A"] = json::parse("[[1,0],[0,1]]");
  expect_error([&] { read_values(j, s); }, ErrorKind::Value, "'A' needs 3 rows, its value has 2");

  // A product dimension alone determines its one unknown factor.
  std::map<std::string, Expr> s2{{"v", symbol(c, "v", {n * k, Dim::literal(1)})},
                                 {"y", symbol(c, "y", {n, Dim::literal(1)})}};
  Bindings b2 = read_values(json::parse(R"({"v": [1,2,3,4,5,6], "y": [1,2]})"), s2);
  EXPECT_EQ(b2.dims.at("k"), 3);
  expect_error([&] { read_values(json::parse(R"({"v": [1,2,3,4,5], "y": [1,2]})"), s2); },
               ErrorKind::Value, "cannot be 5");
  std::map<std::string, Expr> s3{{"v", symbol(c, "v", {n * k, Dim::literal(1)})}};
  expect_error([&] { read_values(json::parse(R"({"v": [1,2,3,4,5,6]})"), s3); }, ErrorKind::Value,
               "cannot tell");
}

TEST_F(Values, SymmetricWithinToleranceIsMadeExact) {
  json j = good();
  j["S"][0][1] = 1 + 1e-13;
  Bindings b = read_values(j, syms);
  const Matrix& m = b.values.at("S");
  EXPECT_EQ(m(0, 1), m(1, 0));
}

TEST_F(Values, Files) {
  std::string dir = ::testing::TempDir();
  std::string ok = dir + "/matcalc_values_ok.json", broken = dir + "/matcalc_values_bad.json";
  std::ofstream(ok) << good().dump();
  std::ofstream(broken) << R"({"s": 1,, })";
  EXPECT_EQ(read_values_file(ok, syms).dims.at("n"), 3);
  expect_error([&] { read_values_file(broken, syms); }, ErrorKind::Value, "is not valid JSON: ");
  expect_error([&] { read_values_file(dir + "/does/not/exist.json", syms); }, ErrorKind::Value,
               "cannot read values file");
  std::remove(ok.c_str());
  std::remove(broken.c_str());
}

TEST_F(Values, ToJson) {
  EXPECT_EQ(value_to_json(scal(2.5)), json(2.5));
  EXPECT_EQ(value_to_json(col({1, 2, 3})), json::parse("[1.0,2.0,3.0]"));
  EXPECT_EQ(value_to_json(mat({{1, 2, 3}})), json::parse("[1.0,2.0,3.0]"));
  EXPECT_EQ(value_to_json(mat({{1, 2}, {3, 4}, {5, 6}})), json::parse("[[1,2],[3,4],[5,6]]"));
  // Round trip through read_values.
  Bindings b = read_values(good(), syms);
  json back;
  for (auto& [k, m] : b.values) back[k] = value_to_json(m);
  EXPECT_EQ(read_values(back, syms).values, b.values);
}

// ------------------------------------------------------------- check

namespace {
struct CheckFixture : ::testing::Test {
  Context cx;
};
}  // namespace
using Check = CheckFixture;

TEST_F(Check, FiniteDifferenceOfQuadraticForm) {
  auto p = compile(cx, "x'*A*x", "x: vector(n); A: matrix(n,n)");
  Bindings b;
  b.values["A"] = mat({{1, 2, 0}, {-1, 3, 4}, {0.5, 0, 2}});
  b.values["x"] = col({1, -2, 3});
  Matrix a = b.values["A"], x = b.values["x"];
  Matrix g = finite_difference_gradient(p.expr, p.symbols.at("x"), b);
  EXPECT_MAT_NEAR(g, (a + a.transpose()) * x, 1e-8);
  Matrix ga = finite_difference_gradient(p.expr, p.symbols.at("A"), b);
  EXPECT_MAT_NEAR(ga, x * x.transpose(), 1e-8);
}

TEST_F(Check, SymmetricConventionIsSymOfG) {
  // f = tr(S*C): unconstrained gradient C', symmetric convention sym(C').
  auto p = compile(cx, "tr(S*C)", "S: symmetric(3); C: matrix(3,3)");
  Bindings b;
  b.values["S"] = mat({{2, 1, 0}, {1, 3, 1}, {0, 1, 4}});
  Matrix c = mat({{1, 2, 3}, {4, 5, 6}, {7, 8, 10}});
  b.values["C"] = c;
  Matrix g = finite_difference_gradient(p.expr, p.symbols.at("S"), b);
  EXPECT_MAT_NEAR(g, (c + c.transpose()) / 2, 1e-8);
  // logdet(S): gradient inv(S), already symmetric.
  auto q = compile(cx, "logdet(S)", "S: symmetric(3)");
  Matrix gl = finite_difference_gradient(q.expr, q.symbols.at("S"), b);
  EXPECT_MAT_NEAR(gl, b.values["S"].inverse(), 1e-8);
}

TEST_F(Check, RandomInputsRespectDomainsAndDims) {
  auto p = compile(cx, "logdet(S) + sum(log(y)) + logdet(inv(M)) + tr(W'*W) + sqrt(s) + sum(z ./ u)",
                   "S: symmetric(n); y: vector(n); M: matrix(n,n); W: matrix(n,k); s: scalar; "
                   "z: vector(m); u: vector(m)");
  CheckOptions opts;
  opts.dims["m"] = 4;
  std::mt19937_64 rng(3);
  Expr roots[] = {p.expr};
  Bindings b = random_inputs(roots, p.symbols, opts, rng);
  EXPECT_EQ(b.dims.at("m"), 4);
  EXPECT_NE(b.dims.at("n"), b.dims.at("k"));
  EXPECT_NE(b.dims.at("n"), 4);
  EXPECT_NE(b.dims.at("k"), 4);
  for (auto d : {"n", "k"}) {
    EXPECT_GE(b.dims.at(d), 2);
    EXPECT_LE(b.dims.at(d), 5);
  }
  const Matrix& s = b.values.at("S");
  EXPECT_EQ(s, s.transpose());
  EXPECT_EQ(Eigen::LLT<Matrix>(s).info(), Eigen::Success);
  // A matrix that is not declared symmetric gets a non-symmetric value (so
  // A-versus-A' gradient bugs show) with a positive definite symmetric part.
  const Matrix& m = b.values.at("M");
  EXPECT_GT((m - m.transpose()).norm(), 1e-3);
  EXPECT_EQ(Eigen::LLT<Matrix>(0.5 * (m + m.transpose())).info(), Eigen::Success);
  EXPECT_GT(m.determinant(), 0);
  EXPECT_GT(b.values.at("y").minCoeff(), 0);
  EXPECT_GT(b.values.at("u").minCoeff(), 0);
  EXPECT_GT(b.values.at("s")(0, 0), 0);
  EXPECT_NO_THROW(evaluate(p.expr, b));
  // Deterministic in the seed.
  std::mt19937_64 rng2(3);
  EXPECT_EQ(random_inputs(roots, p.symbols, opts, rng2).values, b.values);
}

TEST_F(Check, UnconstrainedValuesTakeBothSigns) {
  auto p = compile(cx, "s*t + x'*A*x", "s: scalar; t: scalar; x: vector(n); A: matrix(n,n)");
  Expr roots[] = {p.expr};
  bool negative_s = false, negative_a = false;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    Bindings b = random_inputs(roots, p.symbols, CheckOptions{}, rng);
    negative_s = negative_s || b.values.at("s")(0, 0) < 0;
    negative_a = negative_a || b.values.at("A").minCoeff() < 0;
    EXPECT_NE(b.values.at("A"), b.values.at("A").transpose());
  }
  EXPECT_TRUE(negative_s);
  EXPECT_TRUE(negative_a);
}

TEST_F(Check, RandomInputsFallBackThenGiveUp) {
  // log(x'*A*x) with no declaration hints beyond the log: positivity flows down.
  auto p = compile(cx, "log(x'*A*x) + log(1 - s)", "x: vector(n); A: matrix(n,n); s: scalar");
  CheckOptions opts;
  std::mt19937_64 rng(1);
  Expr roots[] = {p.expr};
  Bindings b = random_inputs(roots, p.symbols, opts, rng);
  EXPECT_NO_THROW(evaluate(p.expr, b));
  auto q = compile(cx, "log(-exp(s))", "s: scalar");
  Expr r2[] = {q.expr};
  opts.attempts = 6;
  expect_error([&] { random_inputs(r2, q.symbols, opts, rng); }, ErrorKind::Domain,
               "could not draw inputs in the domain of the expression after 6 attempts");
}

TEST_F(Check, CheckGradientsAcceptsRightAndRejectsWrong) {
  auto p = compile(cx, "x'*A*x + logdet(S)", "x: vector(n); A: matrix(n,n); S: symmetric(n)");
  Expr x = p.symbols.at("x"), a = p.symbols.at("A"), s = p.symbols.at("S");
  Expr gx = mul(add(a, transpose(a)), x);
  Expr ga = mul(x, transpose(x));
  Expr gs = inv(s);
  CheckOptions opts;
  opts.seed = 11;
  CheckReport r = check_gradients(p.expr, {x, a, s}, {gx, ga, gs}, p.symbols, opts);
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(r.results.size(), 3u);
  for (auto& res : r.results) EXPECT_LT(res.relative_error, 1e-7) << res.variable;
  EXPECT_EQ(r.results[0].variable, "x");

  // A*x misses the A' term; A' instead of the outer product has the wrong values.
  CheckReport bad = check_gradients(p.expr, {x, s}, {mul(a, x), s}, p.symbols, opts);
  EXPECT_FALSE(bad.ok);
  EXPECT_GT(bad.results[0].relative_error, 1e-3);
  EXPECT_GT(bad.results[1].relative_error, 1e-3);

  // A gradient of the wrong shape fails rather than throws.
  auto q = compile(cx, "sum(W)", "W: matrix(n,k)");
  Expr w = q.symbols.at("W");
  CheckReport shape = check_gradients(q.expr, {w}, {ones(cx, w->shape.transposed())}, q.symbols, opts);
  EXPECT_FALSE(shape.ok);
  CheckReport right = check_gradients(q.expr, {w}, {ones(cx, w->shape)}, q.symbols, opts);
  EXPECT_TRUE(right.ok);
}

TEST_F(Check, ZeroGradientPassesOnAbsoluteError) {
  auto p = compile(cx, "s^2 + 0*t + sum(y)", "s: scalar; t: scalar; y: vector(n)");
  Expr t = p.symbols.count("t") ? p.symbols.at("t") : symbol(cx, "t", Shape::scalar());
  std::map<std::string, Expr> syms = p.symbols;
  syms["t"] = t;
  CheckReport r = check_gradients(p.expr, {t}, {constant(cx, 0)}, syms, CheckOptions{});
  EXPECT_TRUE(r.ok);
}
