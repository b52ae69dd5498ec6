// Broadcasting a scalar onto a vector (LANGUAGE.md, `+`/`-`: `1 + exp(v)`,
// `y - 1`). Inference lowers `s + v` to the IR sum `s*ones(n) + v`; these
// tests build that lowered IR directly with the builders and check what is
// downstream of it:
//   - the printers re-sugar a term ones(n) / c*ones(n) of a vector sum as
//     1 / c (text, LaTeX, NumPy, PyTorch), never for ones(n,m) or rows, and
//     Eigen keeps VectorXd::Ones;
//   - the printed text parses back to the same node;
//   - gradients, w.r.t. the vector and w.r.t. the broadcast scalar, agree with
//     finite differences, and the evaluator agrees with broadcasting by hand;
//   - the generated NumPy module runs and agrees with the evaluator;
//   - the builders refuse a scalar plus an array with a message that says
//     what to write (s*ones(n); s*eye(n) or s*ones(n,m)).
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "diff/gradient.hpp"
#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/eigen.hpp"
#include "print/latex.hpp"
#include "print/numpy.hpp"
#include "print/precedence.hpp"
#include "print/text.hpp"
#include "support/python_module.hpp"

using namespace matcalc;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

// The symbols every test uses: vectors v, w, x of n entries, y of m, a matrix
// X (m x n), A (n x n), scalars s, a, b.
struct Scope {
  Context cx;
  Dim n = Dim::symbol("n"), m = Dim::symbol("m");
  Shape col_n{n, Dim::literal(1)}, col_m{m, Dim::literal(1)};
  Expr v = symbol(cx, "v", col_n), w = symbol(cx, "w", col_n), x = symbol(cx, "x", col_n);
  Expr y = symbol(cx, "y", col_m);
  Expr X = symbol(cx, "X", {m, n}), A = symbol(cx, "A", {n, n});
  Expr s = symbol(cx, "s", Shape::scalar()), a = symbol(cx, "a", Shape::scalar()), b = symbol(cx, "b", Shape::scalar());
  Expr ones_n = ones(cx, col_n), ones_m = ones(cx, col_m);
  static constexpr const char* kDecls =
      "v: vector(n); w: vector(n); x: vector(n); y: vector(m); X: matrix(m,n); A: matrix(n,n); s: scalar; a: scalar; "
      "b: scalar";

  Expr num(double c) { return constant(cx, c); }
  Expr exp(Expr e) { return elementwise(Op::Exp, e); }
  Expr log(Expr e) { return elementwise(Op::Log, e); }
  Expr sqrt(Expr e) { return elementwise(Op::Sqrt, e); }

  // sum(log(1 + exp(-y .* (X*w)))): logistic loss, as inference lowers it.
  Expr logistic() { return sum(log(add(ones_m, exp(neg(hadamard(y, mul(X, w))))))); }
  // The same with an intercept b broadcast onto the margins X*w.
  Expr logistic_with_intercept() {
    return sum(log(add(ones_m, exp(neg(hadamard(y, add(mul(X, w), mul(b, ones_m))))))));
  }
  // (s + v)'*(s + v)
  Expr shifted_square() {
    Expr sv = add(mul(s, ones_n), v);
    return mul(transpose(sv), sv);
  }

  Bindings values(std::uint64_t seed = 7) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1, 1);
    auto fill = [&](Eigen::Index r, Eigen::Index c) {
      MatrixXd M(r, c);
      for (Eigen::Index i = 0; i < r; ++i)
        for (Eigen::Index j = 0; j < c; ++j) M(i, j) = u(rng);
      return M;
    };
    Bindings bnd;
    bnd.dims = {{"n", 4}, {"m", 5}};
    bnd.values = {{"v", fill(4, 1)}, {"w", fill(4, 1)}, {"x", fill(4, 1)}, {"y", fill(5, 1)}, {"X", fill(5, 4)},
                  {"A", fill(4, 4)}, {"s", fill(1, 1)}, {"a", fill(1, 1)}, {"b", fill(1, 1)}};
    // Inside the domains: sqrt(1 + w.^2) and log(s + exp(v)) with s > 0.
    bnd.values["s"](0, 0) = 0.5 + std::fabs(bnd.values["s"](0, 0));
    return bnd;
  }
};

MatrixXd at(const Bindings& b, const std::string& name) { return b.values.at(name); }

// ------------------------------------------------------------ (a) printing

struct Printed {
  std::string name;
  std::function<Expr(Scope&)> build;
  std::string text, latex;
};

std::vector<Printed> printed_cases() {
  return {
      {"ones_plus_exp", [](Scope& S) { return add(S.ones_n, S.exp(S.v)); }, "1 + exp(v)", "1 + \\exp\\left(v\\right)"},
      {"product_coefficient", [](Scope& S) { return add(mul(mul(S.a, S.b), S.ones_n), S.v); }, "v + a*b", "v + a\\,b"},
      {"minus_two", [](Scope& S) { return sub(S.v, scale(2, S.ones_n)); }, "v - 2", "v - 2"},
      {"minus_one", [](Scope& S) { return sub(S.v, S.ones_n); }, "v - 1", "v - 1"},
      {"one_minus", [](Scope& S) { return sub(S.ones_n, S.v); }, "1 - v", "1 - v"},
      {"minus_scalar", [](Scope& S) { return sub(S.v, mul(S.s, S.ones_n)); }, "v - s", "v - s"},
      {"minus_product", [](Scope& S) { return sub(S.v, mul(mul(S.a, S.b), S.ones_n)); }, "v - a*b", "v - a\\,b"},
      {"sum_coefficient", [](Scope& S) { return add(mul(add(S.a, S.b), S.ones_n), S.v); }, "v + (a + b)",
       "v + \\left(a + b\\right)"},
      {"scalar_chain", [](Scope& S) { return add(mul(mul(transpose(S.x), S.w), S.ones_n), S.v); }, "v + x'*w",
       "v + x^\\top\\,w"},
      {"minus_quadratic_form", [](Scope& S) { return sub(S.v, mul(mul(mul(transpose(S.x), S.A), S.x), S.ones_n)); },
       "v - x'*A*x", "v - x^\\top\\,A\\,x"},
      {"minus_sum", [](Scope& S) { return sub(S.x, mul(add(S.a, S.s), S.ones_n)); }, "x - (a + s)",
       "x - \\left(a + s\\right)"},
      {"over_scalar", [](Scope& S) { return add(div(S.ones_n, S.s), S.v); }, "v + 1/s", "v + \\frac{1}{s}"},
      {"inside_product", [](Scope& S) { return mul(S.s, add(S.ones_n, S.v)); }, "s*(v + 1)",
       "s\\,\\left(v + 1\\right)"},
      {"inside_hadamard", [](Scope& S) { return hadamard(S.v, add(S.ones_n, S.w)); }, "v .* (w + 1)",
       "v \\odot \\left(w + 1\\right)"},
      {"inside_power", [](Scope& S) { return epow(add(S.ones_n, S.exp(S.v)), S.num(-1)); }, "(1 + exp(v)).^-1",
       "\\left(1 + \\exp\\left(v\\right)\\right)^{\\circ -1}"},
      {"sqrt_one_plus_square", [](Scope& S) { return S.sqrt(add(S.ones_n, epow(S.w, S.num(2)))); }, "sqrt(1 + w.^2)",
       "\\sqrt{1 + w^{\\circ 2}}"},
      {"logistic_gradient", [](Scope& S) { return gradient(S.logistic(), S.w); },
       "-X'*(y .* exp(-(y .* (X*w))) ./ (1 + exp(-(y .* (X*w)))))",
       "-X^\\top\\,\\left(y \\odot \\exp\\left(-\\left(y \\odot \\left(X\\,w\\right)\\right)\\right) \\oslash "
       "\\left(1 + \\exp\\left(-\\left(y \\odot \\left(X\\,w\\right)\\right)\\right)\\right)\\right)"},
      // Not re-sugared: a matrix (a scalar is never added to one), a row, a lone ones.
      {"matrix_stays",
       [](Scope& S) {
         return add(S.A, ones(S.cx, {S.n, S.n}));
       },
       "A + ones(n,n)", "A + \\mathbf{1}_{n\\times n}"},
      {"row_stays", [](Scope& S) { return add(transpose(S.v), transpose(S.ones_n)); }, "ones(1,n) + v'",
       "\\mathbf{1}_{n}^\\top + v^\\top"},
      {"lone_ones_stays", [](Scope& S) { return mul(S.s, S.ones_n); }, "s*ones(n)", "s\\,\\mathbf{1}_{n}"},
      {"merged_ones_stay", [](Scope& S) { return add(S.ones_n, mul(S.s, S.ones_n)); }, "(1 + s)*ones(n)",
       "\\left(1 + s\\right)\\,\\mathbf{1}_{n}"},
  };
}

class BroadcastPrint : public ::testing::TestWithParam<Printed> {};

TEST_P(BroadcastPrint, TextAndLatex) {
  Scope S;
  Expr e = GetParam().build(S);
  EXPECT_EQ(to_text(e), GetParam().text);
  EXPECT_EQ(to_latex(e), GetParam().latex);
}

// (f) The text reads back, under inference's lowering of scalar + vector, as
// the very same node.
TEST_P(BroadcastPrint, TextParsesBackToTheSameNode) {
  Scope S;
  Expr e = GetParam().build(S);
  std::string text = to_text(e);
  TypedProgram p = compile(S.cx, text, Scope::kDecls);
  EXPECT_EQ(p.expr, e) << text << " read back as " << to_text(p.expr);
}

INSTANTIATE_TEST_SUITE_P(Cases, BroadcastPrint, ::testing::ValuesIn(printed_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Broadcast, TermClassification) {
  Scope S;
  EXPECT_TRUE(is_broadcast_term(S.ones_n));
  EXPECT_TRUE(is_broadcast_term(mul(S.s, S.ones_n)));
  EXPECT_TRUE(is_broadcast_term(scale(-2, S.ones_n)));
  EXPECT_TRUE(is_broadcast_term(mul(mul(S.a, S.b), S.ones_n)));
  EXPECT_FALSE(is_broadcast_term(transpose(S.ones_n)));     // a row
  EXPECT_FALSE(is_broadcast_term(ones(S.cx, {S.n, S.n})));  // a matrix
  EXPECT_FALSE(is_broadcast_term(mul(S.A, S.ones_n)));      // a chain, not a scalar times ones
  EXPECT_FALSE(is_broadcast_term(mul(S.s, S.v)));
  // A sum with only broadcast terms keeps its ones (it would read as a scalar);
  // the builders merge such terms, so the rule is checked on the classifier.
  Expr sum_v = add(S.ones_n, S.v);
  EXPECT_EQ(to_text(sum_v), "v + 1");
  EXPECT_EQ(broadcast_terms(sum_v), (std::vector<bool>{false, true}));
}

// A literal size prints the same way: ones(3) + x is x + 1.
TEST(Broadcast, LiteralSize) {
  Context cx;
  Shape c3{Dim::literal(3), Dim::literal(1)};
  Expr x = symbol(cx, "x", c3);
  Expr e = add(x, ones(cx, c3));
  EXPECT_EQ(to_text(e), "x + 1");
  EXPECT_EQ(compile(cx, "x + 1", "x: vector(3)").expr, e);
}

// A row times a column of ones is a sum also when identities stand between
// them (they drop out of a chain only later): the product is then in normal
// form, rebuilt from its own factors as itself (prop_runner --seed 7, case 313).
TEST(Broadcast, SumAgainstOnesLooksPastIdentities) {
  Context cx;
  Shape col{Dim::symbol("n"), Dim::literal(1)};
  Expr y = symbol(cx, "y", col);
  Expr e = mul({constant(cx, 2), transpose(y), identity(cx, Dim::symbol("n")), ones(cx, col)});
  EXPECT_EQ(to_text(e), "2*sum(y)");
  EXPECT_EQ(mul(e->kids), e);
}

// ------------------------------------------------------------ (c) values

// The evaluator's value of the lowered sum is NumPy's broadcast, by hand.
TEST(Broadcast, EvaluatorMatchesBroadcastingByHand) {
  Scope S;
  Bindings bnd = S.values();
  const VectorXd v = at(bnd, "v"), w = at(bnd, "w");
  const double s = at(bnd, "s")(0, 0), a = at(bnd, "a")(0, 0), b = at(bnd, "b")(0, 0);
  auto close = [](const MatrixXd& got, const VectorXd& want) {
    return got.rows() == want.size() && got.cols() == 1 && (got - want).norm() <= 1e-12 * (1 + want.norm());
  };
  EXPECT_TRUE(close(evaluate(add(S.ones_n, S.exp(S.v)), bnd), (1 + v.array().exp()).matrix()));
  EXPECT_TRUE(close(evaluate(add(mul(S.s, S.ones_n), S.v), bnd), (v.array() + s).matrix()));
  EXPECT_TRUE(close(evaluate(sub(S.v, scale(2, S.ones_n)), bnd), (v.array() - 2).matrix()));
  EXPECT_TRUE(close(evaluate(add(mul(mul(S.a, S.b), S.ones_n), S.v), bnd), (v.array() + a * b).matrix()));
  EXPECT_TRUE(close(evaluate(hadamard(S.v, add(S.ones_n, S.w)), bnd), (v.array() * (w.array() + 1)).matrix()));
  EXPECT_TRUE(close(evaluate(add(div(S.ones_n, S.s), S.v), bnd), (v.array() + 1 / s).matrix()));
}

// ------------------------------------------------------------ (b) gradients

struct Derived {
  std::string name;
  std::function<Expr(Scope&)> build;
  std::vector<std::string> wrt;
};

std::vector<Derived> derived_cases() {
  return {
      {"logistic", [](Scope& S) { return S.logistic(); }, {"w", "y"}},
      {"logistic_intercept", [](Scope& S) { return S.logistic_with_intercept(); }, {"w", "b"}},
      {"distance_to_ones", [](Scope& S) { return pow(norm2(sub(S.x, S.ones_n)), 2.0); }, {"x"}},
      {"pseudo_huber", [](Scope& S) { return sum(S.sqrt(add(S.ones_n, epow(S.w, S.num(2))))); }, {"w"}},
      {"shifted_square", [](Scope& S) { return S.shifted_square(); }, {"s", "v"}},
      {"log_shift", [](Scope& S) { return sum(S.log(add(mul(S.s, S.ones_n), S.exp(S.v)))); }, {"s", "v"}},
      {"centred_norm", [](Scope& S) { return pow(norm2(sub(S.v, mul(S.s, S.ones_n))), 2.0); }, {"s", "v"}},
      {"shifted_quadratic",
       [](Scope& S) {
         Expr sv = add(S.v, mul(S.s, S.ones_n));
         return mul(mul(transpose(sv), S.A), sv);
       },
       {"s", "v", "A"}},
      {"product_shift", [](Scope& S) { return sum(S.exp(sub(S.v, mul(mul(S.a, S.b), S.ones_n)))); }, {"a", "b", "v"}},
  };
}

class BroadcastGradient : public ::testing::TestWithParam<Derived> {};

// Each gradient, w.r.t. the vector and w.r.t. the broadcast scalar, agrees
// with central finite differences; its printed text reads back (under the
// lowering) as the same node.
TEST_P(BroadcastGradient, MatchesFiniteDifferencesAndReadsBack) {
  Scope S;
  Expr f = GetParam().build(S);
  ASSERT_TRUE(f->is_scalar());
  Bindings bnd = S.values();
  std::map<std::string, Expr> symbols = {{"v", S.v}, {"w", S.w}, {"x", S.x}, {"y", S.y}, {"X", S.X},
                                         {"A", S.A}, {"s", S.s}, {"a", S.a}, {"b", S.b}};
  for (const std::string& name : GetParam().wrt) {
    Expr g = gradient(f, symbols.at(name));
    MatrixXd sym = evaluate(g, bnd);
    MatrixXd fd = finite_difference_gradient(f, symbols.at(name), bnd);
    ASSERT_EQ(sym.rows(), fd.rows()) << name;
    ASSERT_EQ(sym.cols(), fd.cols()) << name;
    EXPECT_LE((sym - fd).norm(), 1e-6 * (1 + fd.norm())) << "d/d" << name << " = " << to_text(g);
    std::string text = to_text(g);
    EXPECT_EQ(compile(S.cx, text, Scope::kDecls).expr, g) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, BroadcastGradient, ::testing::ValuesIn(derived_cases()),
                         [](const auto& info) { return info.param.name; });

// ------------------------------------------------------------ (d) NumPy

ModuleSpec spec_of(Scope& S, Expr f, const std::vector<std::pair<std::string, Expr>>& wrt) {
  ModuleSpec spec;
  spec.value = f;
  spec.symbols = {{"X", S.X}, {"y", S.y}, {"w", S.w}, {"b", S.b}, {"s", S.s}, {"v", S.v}, {"A", S.A}};
  spec.source = to_text(f);
  for (const auto& [name, x] : wrt) spec.gradients.push_back({name, gradient(f, x)});
  return spec;
}

TEST(BroadcastNumpy, WritesTheScalarAlone) {
  Scope S;
  ModuleSpec spec = spec_of(S, S.logistic_with_intercept(), {{"w", S.w}, {"b", S.b}});
  std::string mod = to_python_module(spec);
  EXPECT_NE(mod.find(" = 1.0 + t0\n"), std::string::npos) << mod;  // t0 = np.exp(...)
  EXPECT_NE(mod.find(" + x_b"), std::string::npos) << mod;
  EXPECT_EQ(mod.find("np.ones("), std::string::npos) << mod;
  std::string torch = to_python_module(spec, PyTarget::Torch);
  EXPECT_NE(torch.find(" = 1.0 + t0\n"), std::string::npos) << torch;
  EXPECT_EQ(torch.find("torch.ones("), std::string::npos) << torch;
  // A ones that is not a broadcast term stays: here s*ones(n) alone.
  ModuleSpec lone = spec_of(S, sum(S.exp(mul(S.s, S.ones_n))), {});
  EXPECT_NE(to_python_module(lone).find("np.ones("), std::string::npos);
}

TEST(BroadcastNumpy, ModuleRunsAndMatchesTheEvaluator) {
  Scope S;
  Expr f = add(S.logistic_with_intercept(), S.shifted_square());
  ModuleSpec spec = spec_of(S, f, {{"w", S.w}, {"b", S.b}, {"s", S.s}, {"v", S.v}});
  std::string mod = to_python_module(spec);
  REQUIRE_NUMPY_PYTHON(py);
  Bindings bnd = S.values();
  using matcalc::testing::json_list;
  using matcalc::testing::json_rows;
  nlohmann::json values = {{"X", json_rows(at(bnd, "X"))}, {"y", json_list(at(bnd, "y"))},
                           {"w", json_list(at(bnd, "w"))}, {"v", json_list(at(bnd, "v"))},
                           {"b", at(bnd, "b")(0, 0)},      {"s", at(bnd, "s")(0, 0)}};
  nlohmann::json r = matcalc::testing::run_module(py, mod, values);
  ASSERT_FALSE(r.contains("error")) << r;
  matcalc::testing::expect_scalar(r["value"], evaluate(f, bnd)(0, 0));
  for (const auto& [name, g] : spec.gradients) {
    MatrixXd want = evaluate(g, bnd);
    if (want.size() == 1)
      matcalc::testing::expect_scalar(r["gradient"][name], want(0, 0));
    else
      matcalc::testing::expect_vector(r["gradient"][name], want);
  }
}

// Python vectors are 1-D whether columns or rows, so a row sum
// (s*ones(1,n) + v', from transposing s + v) is written s + v too.
TEST(BroadcastNumpy, RowSumsTooAndTheModuleRuns) {
  Scope S;
  Expr sv = add(mul(S.s, S.ones_n), S.v);
  Expr f = mul(mul(transpose(sv), S.A), sv);
  ModuleSpec spec = spec_of(S, f, {{"s", S.s}, {"v", S.v}, {"A", S.A}});
  std::string mod = to_python_module(spec);
  EXPECT_EQ(mod.find("np.ones("), std::string::npos) << mod;
  EXPECT_NE(mod.find(" = x_s + x_v\n"), std::string::npos) << mod;  // the row, held: it is used twice
  // The text printer does not: LANGUAGE.md counts a row as a 1 x n matrix.
  EXPECT_EQ(to_text(transpose(sv)), "s*ones(1,n) + v'");
  REQUIRE_NUMPY_PYTHON(py);
  Bindings bnd = S.values();
  nlohmann::json values = {{"A", matcalc::testing::json_rows(at(bnd, "A"))},
                           {"v", matcalc::testing::json_list(at(bnd, "v"))},
                           {"s", at(bnd, "s")(0, 0)}};
  nlohmann::json r = matcalc::testing::run_module(py, mod, values);
  ASSERT_FALSE(r.contains("error")) << r;
  const VectorXd shifted = (at(bnd, "v").array() + at(bnd, "s")(0, 0)).matrix();
  const MatrixXd A = at(bnd, "A");
  matcalc::testing::expect_scalar(r["value"], shifted.dot(A * shifted));
  matcalc::testing::expect_scalar(r["gradient"]["s"], ((A + A.transpose()) * shifted).sum());
  matcalc::testing::expect_vector(r["gradient"]["v"], (A + A.transpose()) * shifted);
  matcalc::testing::expect_matrix(r["gradient"]["A"], shifted * shifted.transpose());
}

// ------------------------------------------------------------ (e) Eigen

// Eigen does not add a double to a VectorXd: the ones stay explicit. (The
// generated code is compiled and run in eigen_print_test.cpp, case 17.)
TEST(BroadcastEigen, KeepsTheOnesVector) {
  Scope S;
  ModuleSpec spec = spec_of(S, S.logistic_with_intercept(), {{"w", S.w}, {"b", S.b}});
  std::string code = to_eigen_source(spec);
  EXPECT_NE(code.find("Eigen::VectorXd::Ones("), std::string::npos) << code;
}

// ------------------------------------------------------------ builders' errors

std::string add_error(const std::function<Expr()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Shape);
    return e.what();
  }
  return "";
}

TEST(BroadcastErrors, ScalarPlusArraySaysWhatToWrite) {
  Context cx;
  Expr s = symbol(cx, "s", Shape::scalar());
  Expr A = symbol(cx, "A", {Dim::literal(3), Dim::literal(3)});
  Expr B = symbol(cx, "B", {Dim::symbol("n"), Dim::symbol("m")});
  Expr v = symbol(cx, "v", {Dim::symbol("n"), Dim::literal(1)});
  Expr r = transpose(v);
  EXPECT_EQ(add_error([&] { return add(s, A); }),
            "shape mismatch in '+': cannot add a scalar to a 3 x 3 matrix: write s*eye(3) for a multiple of the "
            "identity or s*ones(3,3) for every entry");
  EXPECT_EQ(add_error([&] { return add(A, s); }),
            "shape mismatch in '+': cannot add a scalar to a 3 x 3 matrix: write s*eye(3) for a multiple of the "
            "identity or s*ones(3,3) for every entry");
  // Not square: no identity to suggest.
  EXPECT_EQ(add_error([&] { return add(B, s); }),
            "shape mismatch in '+': cannot add a scalar to an n x m matrix: write s*ones(n,m) for every entry");
  EXPECT_EQ(add_error([&] { return add(s, v); }),
            "shape mismatch in '+': cannot add a scalar to a vector(n): write s*ones(n) to add s to every entry");
  EXPECT_EQ(add_error([&] { return add(r, s); }),
            "shape mismatch in '+': cannot add a scalar to a 1 x n row vector: write s*ones(1,n) to add s to every "
            "entry");
  EXPECT_EQ(add_error([&] { return sub(A, s); }),
            "shape mismatch in '-': cannot subtract a scalar from a 3 x 3 matrix: write s*eye(3) for a multiple of "
            "the identity or s*ones(3,3) for every entry");
  EXPECT_EQ(add_error([&] { return sub(s, v); }),
            "shape mismatch in '-': cannot subtract a vector(n) from a scalar: write s*ones(n) to add s to every "
            "entry");
  // Two arrays: the plain message with both shapes, as before.
  EXPECT_EQ(add_error([&] { return add(A, v); }), "shape mismatch in '+': 3 x 3 and vector(n)");
}

}  // namespace
