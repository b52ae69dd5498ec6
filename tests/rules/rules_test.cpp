// One line per rule: every rewrite rule of simplify/rules.cpp and every
// normal-form identity the builders apply is checked numerically, both sides
// evaluated on random inputs in the domain by an independent oracle
// (oracle.hpp), and symbolically (the rule fires, the printed form is as
// expected).
#include "simplify/rules.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <unordered_map>

#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "ir/builders.hpp"
#include "ir/error.hpp"
#include "oracle.hpp"
#include "parse/parser.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"

using namespace matcalc;
using matcalc::testing::Oracle;

namespace {

double rel_diff(const Matrix& a, const Matrix& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return INFINITY;
  return (a - b).norm() / std::max({a.norm(), b.norm(), 1e-12});
}

Oracle oracle_for(const Bindings& b) {
  std::map<std::string, long> dims(b.dims.begin(), b.dims.end());
  return Oracle(b.values, dims);
}

// The rule's pattern where its domain guards hold, and the rule must fire:
// each variable of a positivity guard replaced by an expression known to
// meet it (sigmoid(a) > 0), and for invertibility an inverse that stays
// (inv(A)*A*inv(A'), which does not merge into a power).
Expr with_known_domain(const RewriteRule& r, const TypedProgram& lhs) {
  std::unordered_map<Expr, Expr> with;
  Expr still_needed = nullptr;
  for (const Guard& g : r.checks) {
    Expr v = lhs.symbols.at(r.variables[static_cast<std::size_t>(g.var)]);
    if (g.kind == GuardKind::Positive || g.kind == GuardKind::Nonneg) with[v] = elementwise(Op::Sigmoid, v);
    if (g.kind == GuardKind::Invertible && r.window) still_needed = inv(transpose(v));  // inv(A)*A*inv(A'): stays
    if (g.kind == GuardKind::Invertible && !r.window) with[v] = inv(v);  // det(inv(inv(B))): inv(B) is invertible
  }
  Expr e = with.empty() ? lhs.expr : substitute(lhs.expr, with);
  return still_needed ? mul(e, still_needed) : e;
}

// Inputs where many left sides have no value: every scalar -2 or 0, every
// array filled with -1 (singular beyond 1 x 1) or 0.
std::vector<Bindings> adversarial_inputs(const TypedProgram& p) {
  std::vector<Bindings> out;
  for (double v : {-2.0, 0.0, -1.0}) {
    Bindings b;
    for (const auto& [name, sym] : p.symbols) {
      auto size = [&](const Dim& d) { return d.is_one() ? 1 : 2; };
      b.values[name] = Matrix::Constant(size(sym->shape.rows), size(sym->shape.cols), v);
      for (const Dim* d : {&sym->shape.rows, &sym->shape.cols})
        for (const auto& f : d->factors()) b.dims[f] = 2;
    }
    out.push_back(std::move(b));
  }
  return out;
}

bool evaluates(Expr e, const Bindings& b) {
  try {
    (void)evaluate(e, b);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// "" when the rule keeps its left side's domain, else what went wrong.
std::string domain_violation(const RewriteRule& r) {
  Context cx;
  TypedProgram lhs = compile(cx, r.pattern, r.declarations);
  for (const Bindings& b : adversarial_inputs(lhs)) {
    if (evaluates(lhs.expr, b)) continue;  // inside the domain here
    for (Expr n : topo_order(lhs.expr)) {
      auto out = apply_rule(r, n);
      if (!out) continue;
      Expr whole = substitute(lhs.expr, {{n, *out}});
      if (evaluates(whole, b))
        return r.name + ": " + to_text(lhs.expr) + " has no value at entries " +
               std::to_string(b.values.begin()->second(0, 0)) + " but its rewrite " + to_text(whole) + " has";
    }
    if (evaluates(simplify(lhs.expr), b)) return r.name + ": the simplified " + to_text(lhs.expr) + " has a value";
  }
  return "";
}

}  // namespace

class RewriteRuleTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RewriteRuleTest, BothSidesAgreeAndTheRuleFires) {
  const RewriteRule& r = rewrite_rules()[GetParam()];
  SCOPED_TRACE(r.name + ": " + r.pattern + " -> " + r.replacement);
  Context cx;
  TypedProgram lhs = compile(cx, r.pattern, r.declarations);
  TypedProgram rhs = compile(cx, r.replacement, r.declarations);
  std::mt19937_64 rng(GetParam() + 1);
  CheckOptions opt;
  Expr roots[] = {lhs.expr, rhs.expr};
  for (int trial = 0; trial < 3; ++trial) {
    Bindings b = random_inputs(roots, lhs.symbols, opt, rng);
    Oracle o = oracle_for(b);
    Matrix left = o.eval(*parse_expression(r.pattern));
    Matrix right = evaluate(rhs.expr, b);
    EXPECT_LT(rel_diff(left, right), 1e-9) << "trial " << trial;
  }
  bool never = std::find(r.guards.begin(), r.guards.end(), "never") != r.guards.end();
  if (never) return;
  std::set<std::string> fired;
  Expr own = with_known_domain(r, lhs);
  simplify(own, [&](const std::string& name, Expr, Expr) { fired.insert(name); });
  EXPECT_TRUE(fired.count(r.name)) << "the rule did not fire on its own pattern: " << to_text(own);
}

// Outside the domain of a rule's left side, the rewritten expression is an
// error too, never a number: at inputs where the left side has no value
// (negative, zero and singular inputs), every rewrite the rule makes of a
// node of its own pattern, and the simplified pattern, fail to evaluate.
TEST_P(RewriteRuleTest, OutsideTheDomainTheRewrittenSideIsAnError) {
  const RewriteRule& r = rewrite_rules()[GetParam()];
  EXPECT_EQ(domain_violation(r), "");
}

// The suite catches a rule that drops a domain condition: exp(log(a)) = a
// without its guard makes a number at a = -2.
TEST(RewriteRules, APlantedDomainDroppingRuleIsCaught) {
  RuleText planted[] = {
      {"planted-exp-of-log", "exp(log(a))", "a", {}, "a: scalar", "", "every a (wrong)"},
      {"planted-inverse-times-self", "inv(A)*A", "eye(n)", {}, "A: matrix(n,n)", "", "every A (wrong)"},
      {"planted-sqrt-squared", "sqrt(A).^2", "A", {}, "A: matrix(n,k)", "", "every A (wrong)"},
  };
  RuleTable t(planted);
  for (const RewriteRule& r : t.rules()) EXPECT_NE(domain_violation(r), "") << r.name;
}

INSTANTIATE_TEST_SUITE_P(Rules, RewriteRuleTest, ::testing::Range<std::size_t>(0, rewrite_rules().size()),
                         [](const auto& info) {
                           std::string n = rewrite_rules()[info.param].name;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(RewriteRules, NamesAreUniqueKebabCase) {
  std::set<std::string> names;
  for (const auto& r : rewrite_rules()) {
    EXPECT_TRUE(names.insert(r.name).second) << r.name;
    for (char c : r.name)
      EXPECT_TRUE(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-')
          << r.name;
  }
}

// ------------------------------------------------------------ normal form

struct NormalCase {
  const char* name;
  const char* input;
  const char* expected;  // to_text of the built expression
};

const char* kDecls =
    "A: matrix(n,n); B: matrix(n,n); X: matrix(n,n); S: symmetric(n); T: symmetric(n); "
    "W: matrix(n,k); Y: matrix(n,k); x: vector(n); y: vector(n); a: scalar; b: scalar; c: scalar";

const NormalCase kNormal[] = {
    {"transpose-of-product", "(A*B)'", "B'*A'"},
    {"transpose-of-sum", "(A + B)'", "A' + B'"},
    {"double-transpose", "A''", "A"},
    {"transpose-of-symmetric", "S'", "S"},
    {"transpose-of-inverse-of-symmetric", "inv(S)'", "inv(S)"},
    {"transpose-of-inverse", "inv(A)'", "inv(A')"},
    {"transpose-of-scalar", "(x'*y)'", "x'*y"},
    {"identity-right", "A*eye(n)", "A"},
    {"identity-left", "eye(n)*W", "W"},
    {"like-terms", "x + x", "2*x"},
    {"like-terms-coefficients", "3*A - A + 2*A", "4*A"},
    {"collect-scalar-coefficients", "a*X + b*X", "(a + b)*X"},
    {"cancel", "2*A - 2*A + B", "B"},
    {"zero-times", "0*A + B", "B"},
    {"one-times", "1*A", "A"},
    {"double-negation", "-(-A)", "A"},
    {"negate-difference", "-(A - B)", "B - A"},
    {"distribute-coefficient", "2*(a/2*A - B/2)", "a*A - B"},
    {"factor-right", "A*x + B*x", "(A + B)*x"},
    {"factor-left", "X*A + X*B", "X*(A + B)"},
    {"scalar-powers", "a*a*a", "a^3"},
    {"scalar-power-of-power", "(a^2)^3", "a^6"},
    {"scalar-cancel", "a/b*b", "a*b/b"},  // b = 0 has no value: the quotient stays (domains)
    {"scalar-cancel-known-nonzero", "a/exp(b)*exp(b)", "a"},
    {"matrix-powers", "X*X*X", "X^3"},
    {"matrix-power-negative", "X^-2", "inv(X)^2"},
    {"matrix-power-zero", "X^0", "eye(n)"},
    {"matrix-power-inverse", "X^-1", "inv(X)"},
    {"trace-of-transpose", "tr(A')", "tr(A)"},
    {"trace-linear", "tr(2*A + B)", "2*tr(A) + tr(B)"},
    {"trace-cyclic-outer", "tr(x*y')", "y'*x"},
    {"trace-cyclic-quadratic", "tr(W'*x*x'*W)", "x'*W*W'*x"},
    {"trace-cyclic-inner-vector", "tr(A*x*y'*B)", "y'*B*A*x"},
    {"inverse-of-inverse", "inv(inv(A))", "inv(inv(A))"},  // no value at a singular A: stays
    {"inverse-of-inverse-of-an-inverse", "inv(inv(inv(A)))", "inv(A)"},
    {"inverse-of-scaled", "inv(2*A)", "inv(A)/2"},
    {"det-of-transpose", "det(A')", "det(A)"},
    {"logdet-of-transpose", "logdet(A')", "logdet(A)"},
    {"diag-of-diag", "diag(diag(x))", "x"},
    {"sum-of-scaled", "sum(2*W)", "2*sum(W)"},
    {"sum-of-transpose", "sum(W')", "sum(W)"},
    {"sum-of-sum", "sum(A + B)", "sum(A) + sum(B)"},
    {"sum-of-row", "sum(x'*A) + sum(ones(n)')", "sum(ones(n)) + sum(A'*x)"},
    {"sum-against-ones", "ones(n)'*x + y'*ones(n) + ones(n)'*ones(n)", "sum(x) + sum(y) + sum(ones(n))"},
    {"sum-against-ones-in-a-chain", "x*ones(n)'*y", "sum(y)*x"},
    {"sum-against-ones-meets-a-power", "sum(x)*(x'*ones(n))", "sum(x)^2"},
    {"sum-of-rows-meet", "sum(a*ones(n)' + x') + sum(a*ones(n))", "2*a*sum(ones(n)) + sum(x)"},
    {"constant-folding", "exp(0) + log(1)*a", "1"},
    {"hadamard-square", "W .* W", "W.^2"},
    {"hadamard-pulls-scalars", "(2*a*W) .* Y", "2*a*(W .* Y)"},
    {"hadamard-commutes", "Y .* W", "W .* Y"},
    {"ediv-by-ones", "W ./ ones(n,k)", "W"},
    {"elementwise-power-of-power", "(W.^2).^3", "W.^6"},
    {"vec-of-vector", "vec(x)", "x"},
    {"sym-of-symmetric", "sym(S)", "S"},
    {"symmetric-sum-is-symmetric", "(W*W' + a^2*eye(n))'", "W*W' + a^2*I"},
    {"symmetric-sandwich", "(inv(S)*T*inv(S))'", "inv(S)*T*inv(S)"},
    {"kron-with-scalar", "kron(x, a)", "a*x"},
    {"frobenius-vectors", "x : y", "x'*y"},
    {"frobenius-matrices", "A : B", "tr(A'*B)"},
    {"frobenius-identity", "eye(n) : A", "tr(A)"},
    {"frobenius-with-ones", "W : ones(n,k)", "sum(W)"},
    {"frobenius-ones-vector", "ones(n) : (x + y)", "sum(x) + sum(y)"},
    {"trace-of-scalar", "tr(a)", "a"},
    {"norm-of-transpose", "norm2(W') + norm1(W')", "norm2(W) + norm1(W)"},
    {"logdet-of-scalar", "logdet(a)", "log(a)"},
    {"sub-sorted-positive-first", "-b + a", "a - b"},
    {"scalar-chain-coefficient-pulled-out", "(-x'*y)*x", "-(x'*y)*x"},
    {"entrywise-quotient-cancels", "(y ./ x) .* x", "x .* y ./ x"},  // x = 0: no value, stays
    {"entrywise-quotient-cancels-known-positive", "(y ./ exp(x)) .* exp(x)", "y"},
    {"scalar-times-entrywise", "2 .* x", "2*x"},
    {"entrywise-by-scalar", "x ./ 2", "x/2"},
    {"scalar-over-entrywise", "2 ./ x", "2*x.^-1"},
    // Regressions for bugs the cookbook suite found in the product builder.
    {"bug-scalar-chain-factor-not-spliced", "x*(x'*y)", "(x'*y)*x"},
    {"bug-scalar-chain-keeps-its-order", "(x'*A*x)*y", "(x'*A*x)*y"},
    {"bug-two-scalar-chains-stay-apart", "(x'*y)*(y'*x)", "(x'*y)*(y'*x)"},
    {"bug-single-factor-run-is-not-a-power", "x'*A*A*x", "x'*A^2*x"},
    {"bug-kron-transpose-stays-on-the-kron", "kron(x,y)'*kron(x,y)", "kron(x, y)'*kron(x, y)"},
    // Regressions for nodes that were not fixed points of their own builder
    // (rebuilding them from their arguments changed them), found by the
    // fixed-point property of tests/prop.
    {"bug-last-scalar-chain-after-merging-opens", "(x'*y)*(y'*A*x)*(y'*A*x)", "(y'*A*x)^2*x'*y"},
    {"bug-every-common-factor-pulled-out", "A*x + B*x + A*y + B*y", "(A + B)*(x + y)"},
    {"bug-common-factor-of-a-cancelling-rest", "A*(X - X')*x + A*(X' - X)*x + y", "y"},
    {"bug-scaled-terms-that-meet-merge", "x'*(2*A + 2*B)*x + x'*(2*A + 2*B)*x + x'*(4*A + 4*B)*x", "x'*(8*A + 8*B)*x"},
    {"bug-entrywise-base-back-to-a-product", "((exp(W) .* exp(Y)).^3 .* W) ./ (exp(W) .* exp(Y)).^2",
     "W .* exp(W) .* exp(Y)"},
    {"bug-entrywise-base-back-to-a-quotient", "((exp(W) ./ exp(Y)).^3 .* W) ./ (exp(W) ./ exp(Y)).^2",
     "W .* exp(W) ./ exp(Y)"},
    {"bug-entrywise-base-back-to-a-scaled-factor", "((exp(a)*exp(W)).^3 .* Y) ./ (exp(a)*exp(W)).^2",
     "exp(a)*(Y .* exp(W))"},
    {"entrywise-cancel-keeps-the-domain", "((W .* Y).^3 .* W) ./ (W .* Y).^2", "W .* (W .* Y).^3 ./ (W .* Y).^2"},
    {"zero-times-log-keeps-the-domain", "0*log(a) + b", "b + 0*log(a)"},
    {"cancelled-log-keeps-the-domain", "log(a) - log(a)", "0*log(a)"},
    {"kron-of-zeros-keeps-the-domain", "kron(zeros(n,n), inv(A))", "kron(zeros(n,n), inv(A))"},
    {"kron-of-zeros", "kron(zeros(n,n), A)", "zeros(n*n,n*n)"},
    {"cancelled-witness-goes-when-covered", "inv(A)*x - inv(A)*x + inv(A)*y", "inv(A)*y"},
    {"fractional-powers-keep-the-domain", "a^0.5*a^0.5", "a^0.5*a^0.5"},
    {"fractional-powers-merge-when-known", "exp(a)^0.5*exp(a)^0.5", "exp(a)"},
    {"power-of-power-keeps-the-domain", "(a^0.25)^4", "(a^0.25)^4"},
    {"power-of-power-merges-when-known", "((x'*x)^0.25)^4", "x'*x"},
    // The sum a coefficient is distributed into is new to the product's
    // earlier passes: it can meet its own reciprocal, or collapse into a
    // product that must be flattened into the chain.
    {"bug-distributed-sum-meets-its-reciprocal", "(2*((a^2 + 1/2)*x'*(A + B)*y))*((x'*y)/(2*a^2 + 1))",
     "(x'*y)*(x'*(A + B)*y)"},
    {"bug-distributed-sum-becomes-a-product", "-(x'*((inv(A) - inv(B))*(x + y) + (inv(B) - inv(A))*y))",
     "x'*(inv(B) - inv(A))*x"},
    {"bug-distributed-sum-factors-into-a-product", "-(x'*(a*(A - B)*(x + y) + B*(-x - y)))",
     "x'*(B + a*(B - A))*(x + y)"},
    {"bug-distributed-sum-meets-its-power", "2*((A/2 + B/2)*(A + B)^2)", "(A + B)^3"},
    // Second-order forms (Jacobians and Hessians).
    {"commutation-of-a-vector", "commutation(n,1)*x", "x"},
    {"commutation-transpose", "commutation(n,k)'", "commutation(k,n)"},
    {"commutation-inverse", "commutation(n,k)*commutation(k,n)*vec(W)", "vec(W)"},
    {"commutation-times-vec", "commutation(n,k)*vec(W)", "vec(W')"},
    {"vec-times-commutation", "vec(W)'*commutation(k,n)", "vec(W')'"},
    {"kron-of-identities", "kron(eye(n), eye(k))*vec(W)", "vec(W)"},
    {"kron-times-vec", "kron(A, B)*vec(X)", "vec(B*X*A')"},
    {"vec-times-kron", "vec(X)'*kron(A, B)", "vec(B'*X*A)'"},
    {"trace-of-kron", "tr(kron(A, X))", "tr(A)*tr(X)"},
    {"sum-of-kron", "sum(kron(A, W))", "sum(A)*sum(W)"},
    {"diag-times-diag", "diag(x)*diag(y)", "diag(x .* y)"},
    {"sum-of-vecs", "vec(A) + 2*vec(B)", "vec(A + 2*B)"},
    {"vec-of-scaled", "vec(2*A)", "2*vec(A)"},
    {"kron-mixed-product", "kron(A, W)*kron(B, Y')", "kron(A*B, W*Y')"},
    {"kron-of-scaled", "kron(2*A, 3*B)", "6*kron(A, B)"},
    {"palindrome-is-symmetric", "W'*diag(x)*W + (W'*diag(x)*W)'", "2*W'*diag(x)*W"},
};

class NormalFormTest : public ::testing::TestWithParam<NormalCase> {};

TEST_P(NormalFormTest, PrintsAsExpectedAndKeepsTheValue) {
  const NormalCase& c = GetParam();
  SCOPED_TRACE(std::string(c.input) + "  ->  " + c.expected);
  Context cx;
  TypedProgram in = compile(cx, c.input, kDecls);
  EXPECT_EQ(to_text(in.expr), c.expected);
  // Normal form is a fixed point: each node rebuilt from its own arguments
  // is the same node.
  for (Expr n : topo_order(in.expr))
    if (!n->kids.empty()) {
      EXPECT_EQ(rebuild(n, n->kids), n) << "not a fixed point: " << to_text(n);
    }
  // The raw input through the oracle (no normal form involved) against the
  // built input and the expected text through the evaluator.
  std::mt19937_64 rng(7);
  CheckOptions opt;
  Expr roots[] = {in.expr};
  Bindings b = random_inputs(roots, in.symbols, opt, rng);
  Oracle o = oracle_for(b);
  Matrix raw = o.eval(*parse_expression(c.input));
  TypedProgram expected = compile(cx, c.expected, kDecls);
  EXPECT_LT(rel_diff(raw, evaluate(expected.expr, b)), 1e-9);
  EXPECT_LT(rel_diff(raw, evaluate(in.expr, b)), 1e-9);
}

// Outside the input's domain the normal form has no value either: at
// negative, zero and singular inputs where the raw input (the oracle, no
// normal form) has no finite value, evaluating the built form is an error.
TEST_P(NormalFormTest, OutsideTheDomainTheBuiltFormIsAnError) {
  const NormalCase& c = GetParam();
  SCOPED_TRACE(std::string(c.input) + "  ->  " + c.expected);
  Context cx;
  TypedProgram in = compile(cx, c.input, kDecls);
  for (const Bindings& b : adversarial_inputs(in)) {
    Matrix raw = oracle_for(b).eval(*parse_expression(c.input));
    if (raw.allFinite()) continue;
    EXPECT_FALSE(evaluates(in.expr, b)) << "the raw input has no value at entries " << b.values.begin()->second(0, 0)
                                        << ", the built " << to_text(in.expr) << " has one";
  }
}

INSTANTIATE_TEST_SUITE_P(Builders, NormalFormTest, ::testing::ValuesIn(kNormal), [](const auto& info) {
  std::string n = info.param.name;
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

// Regression (review): sqrt(a^2) = abs(a) and abs(a)^2 = a^2 hold for scalars
// only; on a matrix, X^2 is the matrix power and the rules must not fire.
TEST(RewriteRules, ScalarRulesLeaveMatrixPowersAlone) {
  Context cx;
  const char* decls = "X: matrix(n,n)";
  for (const char* text : {"sum(sqrt(X^2))", "tr(abs(X)^2)"}) {
    SCOPED_TRACE(text);
    TypedProgram p = compile(cx, text, decls);
    Expr s = simplify(p.expr);
    EXPECT_EQ(s, p.expr) << to_text(s);
    std::mt19937_64 rng(3);
    CheckOptions opt;
    opt.dims = {{"n", 3}};
    Bindings b;
    b.dims = {{"n", 3}};
    b.values["X"] = Matrix{{2, 1, 0}, {1, 3, 1}, {0, 1, 4}};  // X^2 has positive entries
    Matrix raw = oracle_for(b).eval(*parse_expression(text));
    EXPECT_LT(rel_diff(raw, evaluate(s, b)), 1e-12);
  }
}

// The normal form does not depend on how a product was grouped: a scalar
// joins a lone scalar chain (a*x'*y), and gives it up again when the chain
// meets another factor (fuzz/regressions/pipeline/scalar-chain-grouping).
TEST(NormalForm, ProductsOfScalarChainsDoNotDependOnGrouping) {
  const char* decls = "a: scalar; x: vector(n); y: vector(n); z: vector(n); w: vector(n); X: matrix(n,n)";
  const std::vector<std::vector<std::string>> same = {
      {"a*(x'*y)*(z'*w)*X", "(a*x'*y)*(z'*w)*X", "X*a*(x'*y)*(z'*w)", "(a*X)*((x'*y)*(z'*w))", "a*(x'*y)*((z'*w)*X)"},
      {"a*(x'*y)*(z'*w)", "(a*x'*y)*(z'*w)", "(x'*y)*(a*(z'*w))", "a*((x'*y)*(z'*w))"},
      {"-(x'*y)*(z'*w)", "(-x'*y)*(z'*w)", "(x'*y)*(-(z'*w))"},
  };
  for (const auto& group : same) {
    Context cx;
    Expr first = compile(cx, group[0], decls).expr;
    for (const auto& text : group) {
      Expr e = compile(cx, text, decls).expr;
      EXPECT_EQ(e, first) << text << " is " << to_text(e) << ", " << group[0] << " is " << to_text(first);
      EXPECT_EQ(compile(cx, to_text(e), decls).expr, e) << "round trip of " << to_text(e);
    }
  }
}

// A 1 x 1 run inside a chain is a scalar factor, whether the chain was
// built at once or pairwise (fuzz/regressions/pipeline/scalar-run-inside-chain).
TEST(NormalForm, ScalarRunsInsideAChainAreScalarFactors) {
  Context cx;
  const char* decls = "a: vector(k); b: vector(k); c: vector(m); d: vector(m); x: vector(n); y: vector(p)";
  TypedProgram p = compile(cx, "x*a'*b*y'", decls);
  auto sym = [&](const char* n) { return p.symbols.at(n); };
  Expr at_once = mul({sym("x"), transpose(sym("a")), sym("b"), transpose(sym("y"))});
  EXPECT_EQ(at_once, p.expr) << to_text(at_once) << " vs " << to_text(p.expr);
  EXPECT_EQ(to_text(at_once), "(a'*b)*x*y'");
  Expr scalar = mul({transpose(sym("a")), sym("b"), transpose(sym("c")), sym("d")});
  EXPECT_EQ(scalar, compile(cx, "(a'*b)*(c'*d)", decls).expr) << to_text(scalar);
  EXPECT_EQ(scalar, compile(cx, "a'*b*c'*d", decls).expr) << to_text(scalar);
  EXPECT_EQ(compile(cx, to_text(scalar), decls).expr, scalar);
}

// A coefficient stays in front of a product with two sums; its text must
// parse back to it, not to (-X*A)*B where the coefficient meets one sum
// (fuzz/regressions/pipeline/coefficient-into-first-sum).
TEST(NormalForm, CoefficientBeforeTwoSumsPrintsBackToItself) {
  Context cx;
  const char* decls = "a: scalar; b: scalar; X: matrix(n,n); Y: matrix(n,n)";
  for (const char* text : {"-(X*(a*X + X')*(Y + X))", "-(X*(a*X + X')*(Y + X))/2", "3*((a + b)*X*(Y + X))",
                           "-(X + Y)*(X - Y)", "2*(X + Y)*Y"}) {
    Expr e = compile(cx, text, decls).expr;
    EXPECT_EQ(compile(cx, to_text(e), decls).expr, e) << text << " prints as " << to_text(e);
  }
}
