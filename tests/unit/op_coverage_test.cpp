// Operator coverage: every operator of src/ir/ops.def (op_at(0) ...
// op_at(kOpCount - 1)) must have
//   - a row in derivative_rules() (the leaves have one too; they are not
//     required to),
//   - a forward rule: forward_differential() gives a differential of the
//     node's shape for the operator's sample,
//   - a spelling in every printer (text, LaTeX, NumPy, PyTorch, Eigen, JSON):
//     printing the sample succeeds and, where that means something, the
//     output mentions the operator,
//   - an evaluator case: the sample evaluates to finite numbers at random
//     inputs in the domain,
//   - domain hints that agree with op_domain(): with a single draw (no
//     fallback draws), check's generator puts the operator's arguments
//     inside the domain that ops.def states,
//   - a `check` case: the gradient of a scalar made from the sample agrees
//     with central finite differences (check_gradients).
// The samples are a table keyed by operator. An operator without a sample
// fails every test below, so an operator appended to ops.def fails here
// until it has a sample (and then until it has everything above).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "diff/derivatives.hpp"
#include "diff/gradient.hpp"
#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "ir/builders.hpp"
#include "parse/typecheck.hpp"
#include "print/eigen.hpp"
#include "print/json.hpp"
#include "print/latex.hpp"
#include "print/numpy.hpp"
#include "print/text.hpp"

namespace matcalc {
namespace {

// A sample expression for an operator and what each printer's output must
// contain ("" where a mention means nothing: zeros fold away in f below).
// The text, LaTeX and JSON printers print the sample itself; the code
// printers (NumPy, PyTorch, Eigen) print the module of the scalar
// f = W_ : sample with its gradients, and the substring must be in the
// generated forward function, where the value is computed.
struct Sample {
  Op op;
  const char* expr;
  const char* decls;
  const char* text;
  const char* latex;
  const char* numpy;
  const char* torch;
  const char* eigen;
};

constexpr const char* kM = "X: matrix(n,m)";
constexpr const char* kSq = "X: matrix(n,n)";

// clang-format off
const Sample kSamples[] = {
    // {op, expression, declarations,
    //  text, LaTeX, NumPy, PyTorch, Eigen}
    {Op::Const, "x'*x + 3", "x: vector(n)",
     "3 + ", "3 + ", "3.0 + ", "3.0 + ", "3.0 + "},
    {Op::Symbol, "x", "x: vector(n)",
     "x", "x", "x_x", "x_x", "in.x"},
    {Op::Identity, "X + I", kSq,
     "X + I", "X + I", "np.eye(d_n)", "torch.eye(d_n", "Eigen::MatrixXd::Identity(d_n, d_n)"},
    {Op::Zeros, "zeros(n,m)", "",
     "zeros(n,m)", "0", "", "", ""},
    {Op::Ones, "ones(n,m)", "",
     "ones(n,m)", "\\mathbf{1}_{n\\times m}", "np.ones((d_n, d_m))", "torch.ones(d_n, d_m", "Eigen::MatrixXd::Ones(d_n, d_m)"},
    {Op::Add, "A + B", "A: matrix(n,m); B: matrix(n,m)",
     "A + B", "A + B", "x_A + x_B", "x_A + x_B", "in.A + in.B"},
    {Op::Mul, "A*B", "A: matrix(n,k); B: matrix(k,m)",
     "A*B", "A\\,B", "x_A @ x_B", "x_A @ x_B", "in.A * in.B"},
    {Op::Pow, "a^p", "a: scalar; p: scalar",
     "a^p", "a^{p}", "x_a ** x_p", "x_a ** x_p", "std::pow(in.a, in.p)"},
    {Op::MatPow, "X^3", kSq,
     "X^3", "X^{3}", "np.linalg.matrix_power(x_X, 3)", "torch.linalg.matrix_power(x_X, 3)", "detail::matpow(in.X, 3)"},
    {Op::ElemMul, "A .* B", "A: matrix(n,m); B: matrix(n,m)",
     "A .* B", "A \\odot B", "x_A * x_B", "x_A * x_B", "in.A.array() * in.B.array()"},
    {Op::ElemDiv, "A ./ B", "A: matrix(n,m); B: matrix(n,m)",
     "A ./ B", "A \\oslash B", "x_A / x_B", "x_A / x_B", "in.A.array() / in.B.array()"},
    {Op::ElemPow, "A.^p", "A: matrix(n,m); p: scalar",
     "A.^p", "A^{\\circ p}", "x_A ** x_p", "x_A ** x_p", "in.A.array().pow(in.p)"},
    {Op::Transpose, "X'", kM,
     "X'", "X^\\top", "x_X.T", "x_X.T", "in.X.transpose()"},
    {Op::Trace, "tr(X)", kSq,
     "tr(X)", "\\operatorname{tr}\\left(X\\right)", "np.trace(x_X)", "torch.trace(x_X)", "in.X.trace()"},
    {Op::Det, "det(X)", kSq,
     "det(X)", "\\det\\left(X\\right)", "fac0.det()", "fac0.det()", ".det()"},
    {Op::LogDet, "logdet(X)", kSq,
     "logdet(X)", "\\log\\det\\left(X\\right)", "_logdet(x_X)", "_logdet(x_X)", ".log_det()"},
    {Op::Inv, "inv(X)", kSq,
     "inv(X)", "X^{-1}", "fac0.solve_t(x_W_)", "fac0.solve_t(x_W_)", "solve_transposed(in.W_)"},
    {Op::Diag, "diag(x)", "x: vector(n)",
     "diag(x)", "\\operatorname{diag}\\left(x\\right)", "np.diag(x_x)", "torch.diag(x_x)", "in.x.asDiagonal()"},
    {Op::DiagPart, "diag(X)", kSq,
     "diag(X)", "\\operatorname{diag}\\left(X\\right)", "np.diag(x_X)", "torch.diag(x_X)", "in.X.diagonal()"},
    {Op::Sum, "sum(X)", kM,
     "sum(X)", "\\operatorname{sum}\\left(X\\right)", "np.sum(x_X)", "torch.sum(x_X)", "in.X.sum()"},
    {Op::Norm2, "norm2(X)", kM,
     "norm2(X)", "\\left\\|X\\right\\|_F", "_norm2(x_X)", "_norm2(x_X)", "detail::norm2(in.X)"},
    {Op::Norm1, "norm1(X)", kM,
     "norm1(X)", "\\left\\|X\\right\\|_1", "np.sum(np.abs(x_X))", "torch.sum(torch.abs(x_X))", "in.X.cwiseAbs().sum()"},
    {Op::Vec, "vec(X)", kM,
     "vec(X)", "\\operatorname{vec}\\left(X\\right)", "x_X.reshape(-1, order=\"F\")", "x_X.T.reshape(-1)", "detail::vec(in.X)"},
    {Op::Reshape, "reshape(X, m, n)", kM,
     "reshape(X, m, n)", "\\operatorname{reshape}\\left(X, m, n\\right)", "x_X.reshape((d_m, d_n), order=\"F\")", "_reshape_f(x_X, d_m, d_n)", "detail::reshape(in.X, d_m, d_n)"},
    {Op::Kron, "kron(x, y)", "x: vector(n); y: vector(m)",
     "kron(x, y)", "x \\otimes y", "np.kron(x_x, x_y)", "torch.kron(x_x, x_y)", "detail::kron(in.x, in.y)"},
    {Op::Sym, "sym(X)", kSq,
     "sym(X)", "\\operatorname{sym}\\left(X\\right)", "_sym(x_X)", "_sym(x_X)", "detail::sym(in.X)"},
    {Op::LogSumExp, "logsumexp(x)", "x: vector(n)",
     "logsumexp(x)", "\\operatorname{logsumexp}\\left(x\\right)", "_logsumexp(x_x)", "_logsumexp(x_x)", "detail::logsumexp(in.x)"},
    {Op::Softmax, "softmax(x)", "x: vector(n)",
     "softmax(x)", "\\operatorname{softmax}\\left(x\\right)", "_softmax(x_x)", "torch.softmax(x_x, dim=0)", "detail::softmax(in.x)"},
    {Op::Exp, "exp(X)", kM,
     "exp(X)", "\\exp\\left(X\\right)", "np.exp(x_X)", "torch.exp(x_X)", "in.X.array().exp()"},
    {Op::Log, "log(X)", kM,
     "log(X)", "\\log\\left(X\\right)", "np.log(x_X)", "torch.log(x_X)", "in.X.array().log()"},
    {Op::Sqrt, "sqrt(X)", kM,
     "sqrt(X)", "\\sqrt{X}", "np.sqrt(x_X)", "torch.sqrt(x_X)", "in.X.array().sqrt()"},
    {Op::Sin, "sin(X)", kM,
     "sin(X)", "\\sin\\left(X\\right)", "np.sin(x_X)", "torch.sin(x_X)", "in.X.array().sin()"},
    {Op::Cos, "cos(X)", kM,
     "cos(X)", "\\cos\\left(X\\right)", "np.cos(x_X)", "torch.cos(x_X)", "in.X.array().cos()"},
    {Op::Tan, "tan(X)", kM,
     "tan(X)", "\\tan\\left(X\\right)", "np.tan(x_X)", "torch.tan(x_X)", "in.X.array().tan()"},
    {Op::Tanh, "tanh(X)", kM,
     "tanh(X)", "\\tanh\\left(X\\right)", "np.tanh(x_X)", "torch.tanh(x_X)", "in.X.array().tanh()"},
    {Op::Abs, "abs(X)", kM,
     "abs(X)", "\\left|X\\right|", "np.abs(x_X)", "torch.abs(x_X)", "in.X.array().abs()"},
    {Op::Sign, "sign(X)", kM,
     "sign(X)", "\\operatorname{sign}\\left(X\\right)", "np.sign(x_X)", "torch.sign(x_X)", "in.X.array().sign()"},
    {Op::Sigmoid, "sigmoid(X)", kM,
     "sigmoid(X)", "\\operatorname{sigmoid}\\left(X\\right)", "_sigmoid(x_X)", "torch.sigmoid(x_X)", "detail::sigmoid(in.X)"},
    {Op::Softplus, "softplus(X)", kM,
     "softplus(X)", "\\operatorname{softplus}\\left(X\\right)", "np.logaddexp(0.0, x_X)", "torch.nn.functional.softplus(x_X)", "detail::softplus(in.X)"},
    {Op::Relu, "relu(X)", kM,
     "relu(X)", "\\operatorname{relu}\\left(X\\right)", "np.maximum(x_X, 0.0)", "torch.relu(x_X)", "in.X.cwiseMax(0.0)"},
    // In a product the code printers permute rows, never forming K (a standalone K, _commutation and
    // detail::commutation, is run in codegen_second_order_test.cpp: the Jacobian of X').
    {Op::Commutation, "commutation(n,m)*kron(y, x)", "x: vector(n); y: vector(m)",
     "commutation(n,m)", "K_{n,m}", "_perm(d_n, d_m)", "_perm(d_n, d_m)", "detail::commute_rows(d_n, d_m, "},
};
// clang-format on

const Sample* sample_of(Op op) {
  for (const auto& s : kSamples)
    if (s.op == op) return &s;
  return nullptr;
}

std::string op_label(Op op) { return std::string(op_name(op)) + " (" + std::string(op_spelling(op)) + ")"; }

// The sample compiled, its node for the operator (the root when the root is
// that operator, else the first such node in post-order), and the scalar
// f = W_ : sample that the gradient checks and the code printers use.
struct Compiled {
  Context cx;
  TypedProgram p;
  Expr node = nullptr;
  Expr weight = nullptr;  // W_, the shape of the sample
  Expr f = nullptr;
  std::map<std::string, Expr> symbols;  // the sample's and W_
  std::vector<Expr> variables;          // every symbol of f
};

std::unique_ptr<Compiled> compile_sample(const Sample& s) {
  auto c = std::make_unique<Compiled>();
  c->p = compile(c->cx, s.expr, s.decls);
  if (c->p.expr->op == s.op) {
    c->node = c->p.expr;
  } else {
    for (Expr e : topo_order(c->p.expr))
      if (e->op == s.op) {
        c->node = e;
        break;
      }
  }
  c->symbols = c->p.symbols;
  if (c->p.expr->is_scalar()) {
    c->f = c->p.expr;
  } else {
    c->weight = symbol(c->cx, "W_", c->p.expr->shape);
    c->symbols["W_"] = c->weight;
    c->f = frobenius(c->weight, c->p.expr);
  }
  for (const auto& [name, sym] : c->symbols) c->variables.push_back(sym);
  return c;
}

// Each test takes the operator's sample, failing (naming the operator) when
// it has none or when the sample does not contain the operator.
#define SAMPLE_OR_FAIL(op)                                                                          \
  const Sample* sample = sample_of(op);                                                             \
  ASSERT_NE(sample, nullptr) << op_label(op)                                                        \
                             << " has no sample in kSamples (tests/unit/op_coverage_test.cpp): "    \
                                "add one, with the substrings each printer must show";              \
  std::unique_ptr<Compiled> c;                                                                      \
  ASSERT_NO_THROW(c = compile_sample(*sample))                                                      \
      << op_label(op) << ": the sample " << sample->expr << " does not compile";                    \
  ASSERT_NE(c->node, nullptr) << op_label(op) << ": the sample " << sample->expr << " compiles to " \
                              << to_text(c->p.expr) << ", which does not contain the operator"

class OpCoverage : public ::testing::TestWithParam<int> {
 protected:
  Op op() const { return op_at(GetParam()); }
};

std::string param_name(const ::testing::TestParamInfo<int>& info) { return std::string(op_name(op_at(info.param))); }

// The generated function that computes the value and the gradients (the
// code printers' helpers and comments name every operator anyway).
std::string forward_function(const std::string& module, const std::string& begin, const std::string& end) {
  std::size_t b = module.find(begin);
  if (b == std::string::npos) return "(no '" + begin + "' in the module)\n" + module;
  std::size_t e = module.find(end, b + begin.size());
  return module.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

bool all_finite(const Matrix& m) { return m.allFinite(); }

// ------------------------------------------------------------ the derivative table

TEST_P(OpCoverage, HasADerivativeRow) {
  int rows = 0;
  for (const auto& r : derivative_rules()) rows += r.op == op();
  if (op_class(op()) == OpClass::Leaf && rows == 0) GTEST_SKIP() << "a leaf needs no row";
  EXPECT_EQ(rows, 1) << op_label(op()) << " has " << rows << " rows in derivative_rules() (src/diff/derivatives.cpp)";
  if (rows == 1) {
    const DerivativeRule& r = derivative_rule(op());
    EXPECT_FALSE(std::string(r.name).empty()) << op_label(op());
    EXPECT_FALSE(std::string(r.expression).empty()) << op_label(op());
    EXPECT_FALSE(std::string(r.differential).empty()) << op_label(op());
  }
}

TEST_P(OpCoverage, HasAForwardRule) {
  SAMPLE_OR_FAIL(op());
  Expr y = c->node;
  if (op_class(op()) == OpClass::Leaf) {
    // A leaf has no arguments: its differential is zero, or (a variable)
    // supplied by the caller.
    EXPECT_NO_THROW(forward_differential(y, {})) << op_label(op());
    return;
  }
  std::vector<Expr> dx;
  int with_differential = 0;
  for (std::size_t i = 0; i < y->kids.size(); ++i) {
    Expr k = y->kid(i);
    if (k->constant) {
      dx.push_back(nullptr);
      continue;
    }
    dx.push_back(symbol(c->cx, "d_" + std::to_string(i), k->shape, k->symmetric));
    ++with_differential;
  }
  ASSERT_GT(with_differential, 0) << op_label(op()) << ": the sample " << sample->expr
                                  << " has no argument that depends on a symbol";
  Expr d = nullptr;
  ASSERT_NO_THROW(d = forward_differential(y, dx)) << op_label(op());
  ASSERT_NE(d, nullptr) << op_label(op());
  EXPECT_EQ(d->shape, y->shape) << op_label(op()) << ": d(" << to_text(y) << ") = " << to_text(d);
  EXPECT_FALSE(d->is_zero() && op() != Op::Sign)
      << op_label(op()) << ": the forward rule gives 0 for d(" << to_text(y) << ")";
}

// ------------------------------------------------------------ printers

TEST_P(OpCoverage, EveryPrinterSpellsIt) {
  SAMPLE_OR_FAIL(op());
  auto mentions = [&](const std::string& printer, const std::string& out, const char* want) {
    if (!*want) return;
    EXPECT_NE(out.find(want), std::string::npos)
        << op_label(op()) << ": " << printer << " output of " << sample->expr << " lacks '" << want << "':\n"
        << out;
  };
  std::string text, latex, numpy, torch, eigen, json;
  ASSERT_NO_THROW(text = to_text(c->p.expr)) << op_label(op()) << " (text)";
  mentions("text", text, sample->text);
  // The text form reads back as the same function.
  TypedProgram back;
  ASSERT_NO_THROW(back = compile(c->cx, text, sample->decls)) << op_label(op()) << ": text " << text;
  EXPECT_EQ(back.expr, c->p.expr) << op_label(op()) << ": " << text << " reads back as " << to_text(back.expr);

  ASSERT_NO_THROW(latex = to_latex(c->p.expr)) << op_label(op()) << " (latex)";
  mentions("LaTeX", latex, sample->latex);

  ASSERT_NO_THROW(json = to_json_tree(c->p.expr).dump()) << op_label(op()) << " (json)";
  mentions("JSON", json, ("\"op\":\"" + std::string(op_name(op())) + "\"").c_str());

  ModuleSpec spec;
  spec.value = c->f;
  spec.symbols = c->symbols;
  spec.source = sample->expr;
  std::vector<Expr> grads;
  ASSERT_NO_THROW(grads = gradients(c->f, c->variables)) << op_label(op()) << ": gradients of " << to_text(c->f);
  for (std::size_t i = 0; i < grads.size(); ++i) spec.gradients.push_back({c->variables[i]->name, grads[i]});
  ASSERT_NO_THROW(numpy = to_python_module(spec, PyTarget::NumPy)) << op_label(op()) << " (numpy)";
  mentions("NumPy", forward_function(numpy, "def _forward(", "\ndef "), sample->numpy);
  ASSERT_NO_THROW(torch = to_python_module(spec, PyTarget::Torch)) << op_label(op()) << " (torch)";
  mentions("PyTorch", forward_function(torch, "def _forward(", "\ndef "), sample->torch);
  ASSERT_NO_THROW(eigen = to_eigen_source(spec)) << op_label(op()) << " (eigen)";
  mentions("Eigen", forward_function(eigen, "inline void forward(", "\n}\n"), sample->eigen);
}

// ------------------------------------------------------------ evaluation and domains

TEST_P(OpCoverage, EvaluatesToFiniteNumbers) {
  SAMPLE_OR_FAIL(op());
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    std::mt19937_64 rng(seed);
    CheckOptions opt;
    opt.seed = seed;
    std::vector<Expr> roots{c->p.expr};
    Bindings b;
    ASSERT_NO_THROW(b = random_inputs(roots, c->p.symbols, opt, rng)) << op_label(op()) << " seed " << seed;
    Matrix v;
    ASSERT_NO_THROW(v = evaluate(c->p.expr, b)) << op_label(op()) << " seed " << seed;
    EXPECT_TRUE(all_finite(v)) << op_label(op()) << " seed " << seed << ": " << sample->expr << " = " << v;
    EXPECT_EQ(v.rows(), dim_value(c->p.expr->shape.rows, b)) << op_label(op());
    EXPECT_EQ(v.cols(), dim_value(c->p.expr->shape.cols, b)) << op_label(op());
  }
}

// The domain ops.def states, checked on the arguments' values.
std::string domain_violation(Op op, Expr y, Evaluator& ev) {
  switch (op_domain(op)) {
    case OpDomain::Any: return "";
    case OpDomain::PositiveArg:
      return (ev.eval(y->kid(0)).array() > 0).all() ? "" : "an argument entry is not positive";
    case OpDomain::SpdArg: {
      const Matrix& a = ev.eval(y->kid(0));
      if (a.rows() != a.cols()) return "the argument is not square";
      return a.determinant() > 0 ? "" : "det of the argument is not positive";
    }
    case OpDomain::PositiveBase: {
      Expr p = y->kid(1);
      if (p->op == Op::Const && p->value == std::round(p->value)) return "";
      return (ev.eval(y->kid(0)).array() > 0).all() ? "" : "the base is not positive (non-integer exponent)";
    }
    case OpDomain::PositiveDivisor: return (ev.eval(y->kid(1)).array() > 0).all() ? "" : "the divisor is not positive";
  }
  return "unknown domain";
}

TEST_P(OpCoverage, DomainHintsDrawInsideTheDomain) {
  SAMPLE_OR_FAIL(op());
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    std::mt19937_64 rng(seed);
    CheckOptions opt;
    opt.seed = seed;
    opt.attempts = 1;  // the hinted draw only: no fallback draws
    std::vector<Expr> roots{c->p.expr};
    Bindings b;
    ASSERT_NO_THROW(b = random_inputs(roots, c->p.symbols, opt, rng))
        << op_label(op()) << ": the domain hints of check's generator do not keep " << sample->expr
        << " in its domain (seed " << seed << ")";
    Evaluator ev(b);
    std::string why = domain_violation(op(), c->node, ev);
    EXPECT_EQ(why, "") << op_label(op()) << ": domain " << int(op_domain(op())) << ", seed " << seed;
  }
}

// ------------------------------------------------------------ gradients

TEST_P(OpCoverage, GradientPassesCheck) {
  SAMPLE_OR_FAIL(op());
  std::vector<Expr> grads;
  ASSERT_NO_THROW(grads = gradients(c->f, c->variables)) << op_label(op()) << ": gradients of " << to_text(c->f);
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    CheckOptions opt;
    opt.seed = seed;
    CheckReport r;
    ASSERT_NO_THROW(r = check_gradients(c->f, c->variables, grads, c->symbols, opt)) << op_label(op());
    for (const auto& res : r.results)
      EXPECT_TRUE(res.ok) << op_label(op()) << ": gradient of " << to_text(c->f) << " w.r.t. " << res.variable
                          << " has relative error " << res.relative_error << " (seed " << seed << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpCoverage, ::testing::Range(0, kOpCount), param_name);

// ------------------------------------------------------------ the table itself

TEST(OpCoverageTable, OneSamplePerOperator) {
  std::set<Op> seen;
  for (const auto& s : kSamples) EXPECT_TRUE(seen.insert(s.op).second) << op_label(s.op) << " has two samples";
  EXPECT_EQ(seen.size(), std::size_t(kOpCount));
}

}  // namespace
}  // namespace matcalc
