// The two halves of each derivative rule agree: for every row of the
// derivative table, y = op(x1, ..., xn) as the row writes it, the reverse
// rule (propagate_adjoint, what `grad` uses) and the forward rule
// (forward_differential, what `explain` shows) give the same directional
// derivative:
//     G : forward(dx1, ..., dxn)  ==  sum_i adjoint_i(G) : dxi
// for random inputs inside the domain, random differentials dxi and a random
// weight G of y's shape, both sides evaluated by the Evaluator.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "diff/derivatives.hpp"
#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"

namespace matcalc {
namespace {

Matrix draw(Eigen::Index r, Eigen::Index c, bool symmetric, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Matrix m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m(i) = normal(rng);
  if (symmetric) m = ((m + m.transpose()) / 2).eval();
  return m;
}

// Checks the identity for y, an operator node over the arguments as they
// compiled. Arguments that are constants (numbers, I, zeros, ones) get no
// differential; every other argument gets one.
void expect_forward_equals_reverse(const DerivativeRule& r, Context& cx, const TypedProgram& f) {
  Expr y = f.expr;
  const std::string label = std::string(op_name(r.op)) + " [" + r.name + "] " + r.expression;
  std::vector<Expr> dx(y->kids.size(), nullptr);
  std::vector<bool> wanted(y->kids.size(), false);
  for (std::size_t i = 0; i < y->kids.size(); ++i) {
    Expr k = y->kid(i);
    if (k->constant) continue;
    dx[i] = symbol(cx, "dx_" + std::to_string(i) + "_", k->shape, k->symmetric);
    wanted[i] = true;
  }
  Expr G = symbol(cx, "G_", y->shape);
  std::vector<Expr> adjoints;
  ASSERT_NO_THROW(adjoints = propagate_adjoint(y, G, wanted)) << label;
  ASSERT_EQ(adjoints.size(), y->kids.size()) << label;
  Expr forward = nullptr;
  ASSERT_NO_THROW(forward = forward_differential(y, dx)) << label;
  ASSERT_NE(forward, nullptr) << label;
  ASSERT_EQ(forward->shape, y->shape) << label << ": forward " << to_text(forward);

  Expr lhs = frobenius(G, forward);
  std::vector<Expr> terms;
  for (std::size_t i = 0; i < y->kids.size(); ++i) {
    if (!wanted[i]) continue;
    ASSERT_NE(adjoints[i], nullptr) << label << ": no adjoint for argument " << i;
    ASSERT_EQ(adjoints[i]->shape, y->kid(i)->shape) << label << ": adjoint " << i << " " << to_text(adjoints[i]);
    terms.push_back(frobenius(adjoints[i], dx[i]));
  }
  Expr rhs = terms.empty() ? constant(cx, 0) : add(terms);

  // G and the differentials are drawn with the inputs (so that both sides
  // evaluate while the domain is searched), then replaced by free draws:
  // both sides are linear in them.
  std::map<std::string, Expr> symbols = f.symbols;
  symbols[G->name] = G;
  for (Expr d : dx)
    if (d) symbols[d->name] = d;
  std::vector<Expr> roots{y, lhs, rhs};
  double largest = 0;  // the identity must not hold only as 0 == 0
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    std::mt19937_64 rng(seed);
    CheckOptions opt;
    opt.seed = seed;
    // The inputs are drawn inside the domain of y and of both sides; the
    // differentials and the weight are free.
    Bindings b;
    ASSERT_NO_THROW(b = random_inputs(roots, symbols, opt, rng)) << label << " seed " << seed;
    auto bind = [&](Expr s) {
      b.values[s->name] = draw(dim_value(s->shape.rows, b), dim_value(s->shape.cols, b), s->symmetric, rng);
    };
    bind(G);
    for (Expr d : dx)
      if (d) bind(d);
    Evaluator ev(b);
    double forward_value = 0, reverse_value = 0;
    ASSERT_NO_THROW(forward_value = ev.eval(lhs)(0, 0)) << label << ": G : " << to_text(forward);
    ASSERT_NO_THROW(reverse_value = ev.eval(rhs)(0, 0)) << label << ": " << to_text(rhs);
    largest = std::max(largest, std::fabs(forward_value));
    const double scale = std::max({1.0, std::fabs(forward_value), std::fabs(reverse_value)});
    EXPECT_LT(std::fabs(forward_value - reverse_value) / scale, 1e-9)
        << label << " (seed " << seed << ")\n  G : forward = " << forward_value << "   with forward "
        << to_text(forward) << "\n  sum adjoint : dx = " << reverse_value << "   " << to_text(rhs);
  }
  if (r.op != Op::Sign) {
    EXPECT_GT(largest, 1e-12) << label << ": both sides are zero, the check says nothing";
  }
}

class ForwardReverse : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ForwardReverse, AdjointAndForwardDifferentialAgree) {
  const DerivativeRule& r = derivative_rules()[GetParam()];
  Context cx;
  TypedProgram f = compile(cx, r.expression, r.declarations);
  ASSERT_EQ(f.expr->op, r.op) << r.expression << " does not compile to the row's operator";
  if (op_class(r.op) == OpClass::Leaf) {
    // Nothing flows through a leaf: no adjoints, and the forward rule of a
    // leaf without arguments is zero (a variable's dX is the caller's).
    EXPECT_TRUE(propagate_adjoint(f.expr, symbol(cx, "G_", f.expr->shape), {}).empty()) << r.name;
    EXPECT_TRUE(forward_differential(f.expr, {})->is_zero()) << r.name;
    return;
  }
  if (r.op == Op::Kron) {  // the vector case has a reverse rule of its own
    Context vcx;
    TypedProgram v = compile(vcx, "kron(a, b)", "a: vector(n); b: vector(p)");
    expect_forward_equals_reverse(r, vcx, v);
  }
  expect_forward_equals_reverse(r, cx, f);
}

// The vec rule of an operator linear in an argument (derivatives.hpp,
// vec_rule) is the matrix of its forward rule in that argument: M*vec(dx) =
// vec(d y) with only that argument's differential dx, numerically; for any
// other operator and argument it refuses (a logic_error).
TEST_P(ForwardReverse, VecRuleIsTheMatrixOfTheForwardRule) {
  const DerivativeRule& r = derivative_rules()[GetParam()];
  Context cx;
  TypedProgram f = compile(cx, r.expression, r.declarations);
  Expr y = f.expr;
  if (op_class(r.op) == OpClass::Leaf) return;
  const std::string label = std::string(op_name(r.op)) + " [" + r.name + "] " + r.expression;
  int linear_args = 0;
  for (std::size_t i = 0; i < y->kids.size(); ++i) {
    Expr k = y->kid(i);
    if (k->constant) continue;
    std::vector<Expr> maps(y->kids.size(), nullptr), dx(y->kids.size(), nullptr);
    maps[i] = identity(cx, k->shape.rows * k->shape.cols);
    Expr d = symbol(cx, "dx_", k->shape, k->symmetric);
    dx[i] = d;
    Expr m = nullptr;
    try {
      m = vec_rule(y, maps);
    } catch (const std::logic_error&) {
      continue;  // not linear in this argument
    }
    ++linear_args;
    Expr lhs = mul(m, vec(d)), rhs = vec(forward_differential(y, dx));
    std::map<std::string, Expr> symbols = f.symbols;
    symbols[d->name] = d;
    std::vector<Expr> roots{y, rhs};
    std::mt19937_64 rng(3);
    CheckOptions opt;
    Bindings b;
    ASSERT_NO_THROW(b = random_inputs(roots, symbols, opt, rng)) << label;
    b.values[d->name] = draw(dim_value(d->shape.rows, b), dim_value(d->shape.cols, b), d->symmetric, rng);
    Evaluator ev(b);
    Matrix got, want;
    ASSERT_NO_THROW(got = ev.eval(lhs)) << label << ": " << to_text(lhs);
    ASSERT_NO_THROW(want = ev.eval(rhs)) << label << ": " << to_text(rhs);
    EXPECT_LT((got - want).norm() / std::max(1.0, want.norm()), 1e-10)
        << label << " argument " << i << "\n  vec rule " << to_text(m) << "\n  forward  " << to_text(rhs);
  }
  const bool linear = r.op == Op::Add || r.op == Op::Mul || r.op == Op::ElemMul || r.op == Op::ElemDiv ||
                      r.op == Op::Transpose || r.op == Op::Trace || r.op == Op::Sum || r.op == Op::Diag ||
                      r.op == Op::DiagPart || r.op == Op::Vec || r.op == Op::Reshape || r.op == Op::Sym ||
                      r.op == Op::Kron;
  EXPECT_EQ(linear_args > 0, linear) << label << (linear ? " has no vec rule" : " has a vec rule, but is not linear");
}

INSTANTIATE_TEST_SUITE_P(Table, ForwardReverse, ::testing::Range<std::size_t>(0, derivative_rules().size()),
                         [](const auto& info) {
                           const DerivativeRule& r = derivative_rules()[info.param];
                           std::string n = std::string(op_name(r.op));
                           int earlier = 0;  // a second row for one operator gets a number
                           for (std::size_t i = 0; i < info.param; ++i) earlier += derivative_rules()[i].op == r.op;
                           return earlier ? n + "_" + std::to_string(earlier + 1) : n;
                         });

// Every operator's reverse and forward rule is exercised above: each
// operator has a row (the leaves included).
TEST(ForwardReverseTable, EveryOperatorHasARow) {
  for (int i = 0; i < kOpCount; ++i) {
    int rows = 0;
    for (const auto& r : derivative_rules()) rows += r.op == op_at(i);
    EXPECT_GE(rows, 1) << op_name(op_at(i)) << " has no row in derivative_rules()";
  }
}

}  // namespace
}  // namespace matcalc
