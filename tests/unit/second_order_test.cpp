// Second order, checked numerically (issue 11): Jacobians, Hessians and
// Hessian-vector products of the public API (Session::jacobian, hessian,
// hvp), one row per expression. For each row the test draws inputs inside
// the domain (a fixed seed per row; the row says which symbols must be SPD,
// diagonally dominant or positive), evaluates the result with matcalc's
// evaluator (Session::evaluate) and compares it with central finite
// differences computed here:
//   jacobian   J*vec(D) against the differences of F along D;
//   hessian    H*vec(D) against the differences of the gradient w.r.t. the
//              rows' variable (Session::gradient, evaluated) along D in the
//              columns' variable; H symmetric for one variable, and the
//              block (Y, X) the transpose of (X, Y) for two;
//   hvp        the product against the differences of the gradient along V,
//              and against H*vec(V) for the Hessian of the same function.
// D runs over a basis of the variable's space: every entry of a plain
// variable (so J*vec(D) is column j of J), and E_ii, E_ij + E_ji for a
// symmetric one, whose convention is the result of X -> f(sym(X)) in full
// vec coordinates (docs/language.md): along symmetric directions it is the
// derivative, along antisymmetric ones zero.
// Every result's text is loaded back (Session::load with the function's
// declarations, and the direction's for hvp) and must evaluate to the same
// value.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "eval/evaluate.hpp"
#include "ir/node.hpp"
#include "matcalc/matcalc.hpp"

namespace matcalc {
namespace {

using Matrix = Eigen::MatrixXd;

enum class Kind { Jacobian, Hessian, Hvp };

struct Case {
  const char* name;  // unique, [A-Za-z0-9_]
  Kind kind;
  const char* expression;
  const char* wrt;
  const char* wrt2;  // Hessian: the columns' variable ("" for wrt)
  const char* declarations;
  // How inputs are drawn, "X spd; x pos": spd (symmetric, eigenvalues in
  // [1, 3]), dd (diagonally dominant with a positive diagonal: det > 0),
  // pos (entries in [0.5, 2]); every other symbol has entries in [-1, 1]
  // (symmetrized for a symmetric one).
  const char* draws = "";
};

// Sizes of the dimension symbols the rows use.
const std::map<std::string, std::int64_t> kDims = {{"n", 3}, {"k", 2}, {"m", 4}};

constexpr double kStep = 1e-6;      // central differences along O(1) directions at O(1) inputs
constexpr double kFdRel = 1e-6;     // against finite differences
constexpr double kFdAbs = 1e-9;     // their noise where the result is zero
constexpr double kExactRel = 1e-9;  // against another exact evaluation (symmetry, H*vec(V), parsed text)

const std::vector<Case> kCases = {
    // ---------------------------------------------------- Hessians, vectors
    {"quadratic_form", Kind::Hessian, "x'*A*x", "x", "", "x: vector(n); A: matrix(n,n)"},
    {"quadratic_form_symmetric", Kind::Hessian, "x'*S*x", "x", "", "x: vector(n); S: symmetric(n)"},
    {"least_squares", Kind::Hessian, "norm2(A*x - b)^2", "x", "", "A: matrix(m,n); x: vector(n); b: vector(m)"},
    {"sum_exp", Kind::Hessian, "sum(exp(x))", "x", "", "x: vector(n)"},
    {"logistic", Kind::Hessian, "sum(softplus(-y .* (X*w)))", "w", "", "X: matrix(m,n); w: vector(n); y: vector(m)"},
    {"logistic_wrt_X", Kind::Hessian, "sum(softplus(-y .* (X*w)))", "X", "",
     "X: matrix(m,n); w: vector(n); y: vector(m)"},
    {"logsumexp", Kind::Hessian, "logsumexp(x)", "x", "", "x: vector(n)"},
    {"logsumexp_affine", Kind::Hessian, "logsumexp(A*x + b)", "x", "", "A: matrix(m,n); x: vector(n); b: vector(m)"},
    {"cross_entropy", Kind::Hessian, "-t'*log(softmax(l))", "l", "", "t: vector(n); l: vector(n)", "t pos"},
    {"softmax_linear", Kind::Hessian, "a'*softmax(x)", "x", "", "a: vector(n); x: vector(n)"},
    {"sum_log", Kind::Hessian, "sum(log(x))", "x", "", "x: vector(n)", "x pos"},
    {"sum_sqrt", Kind::Hessian, "sum(sqrt(x))", "x", "", "x: vector(n)", "x pos"},
    {"sum_tanh", Kind::Hessian, "sum(tanh(x))", "x", "", "x: vector(n)"},
    {"sum_sigmoid", Kind::Hessian, "sum(sigmoid(x))", "x", "", "x: vector(n)"},
    {"sum_softplus", Kind::Hessian, "sum(softplus(A*x))", "x", "", "A: matrix(m,n); x: vector(n)"},
    {"sum_cube", Kind::Hessian, "sum(x.^3)", "x", "", "x: vector(n)"},
    {"sum_inverse_power", Kind::Hessian, "sum(x.^-2)", "x", "", "x: vector(n)", "x pos"},
    {"quotient", Kind::Hessian, "sum(a ./ y)", "y", "", "a: vector(n); y: vector(n)", "y pos"},
    {"norm2", Kind::Hessian, "norm2(x)", "x", "", "x: vector(n)"},
    {"norm2_power", Kind::Hessian, "norm2(x)^3", "x", "", "x: vector(n)"},
    {"scalar_power", Kind::Hessian, "(x'*x + 1)^1.5", "x", "", "x: vector(n)"},
    {"exp_of_quadratic", Kind::Hessian, "exp(x'*A*x/4)", "x", "", "x: vector(n); A: matrix(n,n)"},
    {"diag_quadratic", Kind::Hessian, "sum(diag(x)*A*diag(x))", "x", "", "x: vector(n); A: matrix(n,n)"},
    {"kron_vectors", Kind::Hessian, "norm2(kron(x, y))^2", "x", "", "x: vector(n); y: vector(k)"},
    {"bilinear_cross", Kind::Hessian, "x'*A*y", "x", "y", "x: vector(n); A: matrix(n,k); y: vector(k)"},
    {"tanh_layer_x", Kind::Hessian, "sum(tanh(W1*x) .* w2)", "x", "", "W1: matrix(m,n); x: vector(n); w2: vector(m)"},
    {"tanh_layer_W1", Kind::Hessian, "sum(tanh(W1*x) .* w2)", "W1", "", "W1: matrix(m,n); x: vector(n); w2: vector(m)"},
    {"tanh_layer_x_W1", Kind::Hessian, "sum(tanh(W1*x) .* w2)", "x", "W1",
     "W1: matrix(m,n); x: vector(n); w2: vector(m)"},
    {"softmax_regression", Kind::Hessian, "-t'*log(softmax(W*x))", "W", "",
     "t: vector(m); W: matrix(m,n); x: vector(n)", "t pos"},
    // --------------------------------------------------- Hessians, matrices
    {"trace_quadratic", Kind::Hessian, "tr(X'*A*X)", "X", "", "X: matrix(n,k); A: matrix(n,n)"},
    {"trace_two_sided", Kind::Hessian, "tr(A*X*B*X')", "X", "", "X: matrix(n,k); A: matrix(n,n); B: matrix(k,k)"},
    {"trace_square", Kind::Hessian, "tr(X*X)", "X", "", "X: matrix(n,n)"},
    {"trace_cube", Kind::Hessian, "tr(X^3)", "X", "", "X: matrix(n,n)"},
    {"frobenius", Kind::Hessian, "norm2(X)^2", "X", "", "X: matrix(n,k)"},
    {"bilinear_chain", Kind::Hessian, "a'*X*X*b", "X", "", "a: vector(n); X: matrix(n,n); b: vector(n)"},
    {"vec_product", Kind::Hessian, "norm2(vec(X*B))^2", "X", "", "X: matrix(n,k); B: matrix(k,k)"},
    {"sym_square", Kind::Hessian, "tr(sym(X)*sym(X)*A)", "X", "", "X: matrix(n,n); A: matrix(n,n)"},
    {"kron_trace", Kind::Hessian, "tr(kron(X, X))", "X", "", "X: matrix(n,n)"},
    {"kron_exp", Kind::Hessian, "sum(exp(kron(x, y)))", "y", "", "x: vector(n); y: vector(k)"},
    {"diag_of_matrix", Kind::Hessian, "sum(exp(diag(X)))", "X", "", "X: matrix(n,n)"},
    {"exp_entries", Kind::Hessian, "sum(exp(X*w))", "X", "", "X: matrix(m,n); w: vector(n)"},
    {"logdet", Kind::Hessian, "logdet(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"det", Kind::Hessian, "det(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"trace_inverse", Kind::Hessian, "tr(inv(X)*A)", "X", "", "X: matrix(n,n); A: matrix(n,n)", "X dd"},
    {"logdet_gram", Kind::Hessian, "logdet(X'*X)", "X", "", "X: matrix(n,k)"},
    {"ppca_logdet_W", Kind::Hessian, "logdet(W*W' + s^2*I)", "W", "", "W: matrix(n,k); s: scalar", "s pos"},
    {"ppca_logdet_s", Kind::Hessian, "logdet(W*W' + s^2*I)", "s", "", "W: matrix(n,k); s: scalar", "s pos"},
    {"ppca_W", Kind::Hessian, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "W", "",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    {"ppca_s", Kind::Hessian, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "s", "",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    {"ppca_W_s", Kind::Hessian, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "W", "s",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    {"ppca_s_W", Kind::Hessian, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "s", "W",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    // ------------------------------------------ Hessians, symmetric variables
    {"symmetric_logdet", Kind::Hessian, "logdet(S)", "S", "", "S: symmetric(n)", "S spd"},
    {"symmetric_quadratic", Kind::Hessian, "tr(S*A*S*B)", "S", "", "S: symmetric(n); A: matrix(n,n); B: matrix(n,n)"},
    {"symmetric_inverse_form", Kind::Hessian, "x'*inv(S)*x", "S", "", "x: vector(n); S: symmetric(n)", "S spd"},
    {"symmetric_trace_inverse", Kind::Hessian, "tr(inv(S)*A)", "S", "", "S: symmetric(n); A: matrix(n,n)", "S spd"},
    {"symmetric_mixed", Kind::Hessian, "s^2*logdet(S) + s*tr(S)", "S", "s", "s: scalar; S: symmetric(n)", "S spd"},
    {"symmetric_gaussian", Kind::Hessian, "logdet(S) + x'*inv(S)*x", "x", "S", "x: vector(n); S: symmetric(n)",
     "S spd"},
    // -------------------------------------------------------------- Jacobians
    {"jacobian_inverse", Kind::Jacobian, "inv(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"jacobian_softmax", Kind::Jacobian, "softmax(x)", "x", "", "x: vector(n)"},
    {"jacobian_transpose", Kind::Jacobian, "X'", "X", "", "X: matrix(n,k)"},
    {"jacobian_row", Kind::Jacobian, "x'", "x", "", "x: vector(n)"},
    {"jacobian_linear", Kind::Jacobian, "A*x", "x", "", "A: matrix(m,n); x: vector(n)"},
    {"jacobian_two_sided", Kind::Jacobian, "A*X*B", "X", "", "A: matrix(m,n); X: matrix(n,k); B: matrix(k,k)"},
    {"jacobian_exp", Kind::Jacobian, "exp(x)", "x", "", "x: vector(n)"},
    {"jacobian_log", Kind::Jacobian, "log(x)", "x", "", "x: vector(n)", "x pos"},
    {"jacobian_sqrt", Kind::Jacobian, "sqrt(x)", "x", "", "x: vector(n)", "x pos"},
    {"jacobian_tanh_layer", Kind::Jacobian, "tanh(W*x)", "W", "", "W: matrix(m,n); x: vector(n)"},
    {"jacobian_sigmoid", Kind::Jacobian, "sigmoid(A*x)", "x", "", "A: matrix(m,n); x: vector(n)"},
    {"jacobian_softplus", Kind::Jacobian, "softplus(X)", "X", "", "X: matrix(n,k)"},
    {"jacobian_power", Kind::Jacobian, "x.^3", "x", "", "x: vector(n)"},
    {"jacobian_hadamard", Kind::Jacobian, "x .* y", "x", "", "x: vector(n); y: vector(n)"},
    {"jacobian_quotient", Kind::Jacobian, "X ./ Y", "Y", "", "X: matrix(n,k); Y: matrix(n,k)", "Y pos"},
    {"jacobian_kron_left", Kind::Jacobian, "kron(X, A)", "X", "", "X: matrix(n,k); A: matrix(k,n)"},
    {"jacobian_kron_right", Kind::Jacobian, "kron(x, y)", "y", "", "x: vector(n); y: vector(k)"},
    {"jacobian_vec", Kind::Jacobian, "vec(X)", "X", "", "X: matrix(n,k)"},
    {"jacobian_diag_vector", Kind::Jacobian, "diag(x)", "x", "", "x: vector(n)"},
    {"jacobian_diag_matrix", Kind::Jacobian, "diag(X)", "X", "", "X: matrix(n,n)"},
    {"jacobian_sym", Kind::Jacobian, "sym(X)", "X", "", "X: matrix(n,n)"},
    {"jacobian_square", Kind::Jacobian, "X*X", "X", "", "X: matrix(n,n)"},
    {"jacobian_gram", Kind::Jacobian, "X'*X", "X", "", "X: matrix(n,k)"},
    {"jacobian_trace_times", Kind::Jacobian, "tr(X)*X", "X", "", "X: matrix(n,n)"},
    {"jacobian_adjugate", Kind::Jacobian, "det(X)*inv(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"jacobian_solve", Kind::Jacobian, "A*inv(X)*b", "X", "", "A: matrix(m,n); X: matrix(n,n); b: vector(n)", "X dd"},
    {"jacobian_norm2", Kind::Jacobian, "norm2(x)", "x", "", "x: vector(n)"},
    {"jacobian_logsumexp", Kind::Jacobian, "logsumexp(x)", "x", "", "x: vector(n)"},
    {"jacobian_ppca_s", Kind::Jacobian, "W*W' + s^2*I", "s", "", "W: matrix(n,k); s: scalar"},
    {"jacobian_ppca_inverse", Kind::Jacobian, "inv(W*W' + s^2*I)", "W", "", "W: matrix(n,k); s: scalar", "s pos"},
    {"jacobian_symmetric_inverse", Kind::Jacobian, "inv(S)", "S", "", "S: symmetric(n)", "S spd"},
    {"jacobian_symmetric_product", Kind::Jacobian, "A*S", "S", "", "A: matrix(m,n); S: symmetric(n)"},
    // ------------------------------------------------ Hessian-vector products
    {"hvp_logdet", Kind::Hvp, "logdet(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"hvp_quadratic_form", Kind::Hvp, "x'*A*x", "x", "", "x: vector(n); A: matrix(n,n)"},
    {"hvp_least_squares", Kind::Hvp, "norm2(A*x - b)^2", "x", "", "A: matrix(m,n); x: vector(n); b: vector(m)"},
    {"hvp_logistic", Kind::Hvp, "sum(softplus(-y .* (X*w)))", "w", "", "X: matrix(m,n); w: vector(n); y: vector(m)"},
    {"hvp_logsumexp", Kind::Hvp, "logsumexp(x)", "x", "", "x: vector(n)"},
    {"hvp_cross_entropy", Kind::Hvp, "-t'*log(softmax(l))", "l", "", "t: vector(n); l: vector(n)", "t pos"},
    {"hvp_trace_quadratic", Kind::Hvp, "tr(X'*A*X)", "X", "", "X: matrix(n,k); A: matrix(n,n)"},
    {"hvp_trace_inverse", Kind::Hvp, "tr(inv(X)*A)", "X", "", "X: matrix(n,n); A: matrix(n,n)", "X dd"},
    {"hvp_ppca_logdet", Kind::Hvp, "logdet(W*W' + s^2*I)", "W", "", "W: matrix(n,k); s: scalar", "s pos"},
    {"hvp_ppca_W", Kind::Hvp, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "W", "",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    {"hvp_ppca_s", Kind::Hvp, "N*logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "s", "",
     "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "s pos; N pos; S spd"},
    {"hvp_tanh_layer", Kind::Hvp, "sum(tanh(W1*x) .* w2)", "W1", "", "W1: matrix(m,n); x: vector(n); w2: vector(m)"},
    {"hvp_exp_entries", Kind::Hvp, "sum(exp(X*w))", "X", "", "X: matrix(m,n); w: vector(n)"},
    {"hvp_det", Kind::Hvp, "det(X)", "X", "", "X: matrix(n,n)", "X dd"},
    {"hvp_symmetric_logdet", Kind::Hvp, "logdet(S)", "S", "", "S: symmetric(n)", "S spd"},
    {"hvp_symmetric_inverse_form", Kind::Hvp, "x'*inv(S)*x", "S", "", "x: vector(n); S: symmetric(n)", "S spd"},
    {"hvp_sigmoid", Kind::Hvp, "sum(sigmoid(A*x))", "x", "", "A: matrix(m,n); x: vector(n)"},
    {"hvp_sqrt_log", Kind::Hvp, "sum(sqrt(x) .* log(x))", "x", "", "x: vector(n)", "x pos"},
    {"hvp_kron", Kind::Hvp, "sum(log(1 + kron(x, y).^2))", "x", "", "x: vector(n); y: vector(k)"},
    {"hvp_sym", Kind::Hvp, "tr(sym(X)*sym(X)*A)", "X", "", "X: matrix(n,n); A: matrix(n,n)"},

    // ------------------------------ more operators, powers, reshapes and blocks
    {"symmetric_det", Kind::Hessian, "det(S)", "S", "", "S: symmetric(n)", "S spd"},
    {"trace_inverse_square", Kind::Hessian, "tr(X^-2)", "X", "", "X: matrix(n,n)", "X dd"},
    {"symmetric_cube", Kind::Hessian, "tr(S^3*A)", "S", "", "S: symmetric(n); A: matrix(n,n)"},
    {"jacobian_kron_same", Kind::Jacobian, "kron(X, X)", "X", "", "X: matrix(n,k)"},
    {"kron_same_vectors", Kind::Hessian, "sum(kron(x, x).^2)", "x", "", "x: vector(n)"},
    {"sin_cos_cross", Kind::Hessian, "sum(sin(x) .* cos(y))", "x", "y", "x: vector(n); y: vector(n)"},
    {"hvp_symmetric_trace_inverse", Kind::Hvp, "tr(inv(S)*A)", "S", "", "S: symmetric(n); A: matrix(n,n)", "S spd"},
    {"logdet_sum_W_S", Kind::Hessian, "logdet(S + W*W')", "W", "S", "S: symmetric(n); W: matrix(n,k)", "S spd"},
    {"logdet_sum_S_W", Kind::Hessian, "logdet(S + W*W')", "S", "W", "S: symmetric(n); W: matrix(n,k)", "S spd"},
    {"logdet_sum_S", Kind::Hessian, "logdet(S + W*W')", "S", "", "S: symmetric(n); W: matrix(n,k)", "S spd"},
    {"jacobian_symmetric_square", Kind::Jacobian, "S*S", "S", "", "S: symmetric(n)"},
    {"jacobian_symmetric_sandwich", Kind::Jacobian, "inv(S)*A*inv(S)", "S", "", "S: symmetric(n); A: matrix(n,n)",
     "S spd"},
    {"jacobian_softmax_layer", Kind::Jacobian, "softmax(A*x)", "A", "", "A: matrix(m,n); x: vector(n)"},
    {"jacobian_diag_product", Kind::Jacobian, "diag(X*x)", "X", "", "X: matrix(n,n); x: vector(n)"},
    {"scalar_logdet", Kind::Hessian, "logdet(s*A)", "s", "", "s: scalar; A: symmetric(n)", "s pos; A spd"},
    {"product_of_norms_cross", Kind::Hessian, "(x'*x)*(y'*y)", "x", "y", "x: vector(n); y: vector(k)"},
    {"jacobian_vec_transpose", Kind::Jacobian, "vec(X')", "X", "", "X: matrix(n,k)"},
    {"jacobian_trace", Kind::Jacobian, "tr(X)", "X", "", "X: matrix(n,n)"},
    {"jacobian_sum", Kind::Jacobian, "sum(X)", "X", "", "X: matrix(n,k)"},
    {"jacobian_row_sums", Kind::Jacobian, "X*ones(k)", "X", "", "X: matrix(n,k)"},
    {"norm2_difference_cross", Kind::Hessian, "norm2(x - y)", "x", "y", "x: vector(n); y: vector(n)"},
    {"scalar_times_trace_cross", Kind::Hessian, "exp(a)*tr(X'*X)", "a", "X", "a: scalar; X: matrix(n,k)"},
    {"hvp_logdet_gram", Kind::Hvp, "logdet(X'*X)", "X", "", "X: matrix(n,k)"},
    {"jacobian_symmetric_entrywise_square", Kind::Jacobian, "S.^2", "S", "", "S: symmetric(n)"},
    {"vec_exp", Kind::Hessian, "sum(exp(vec(W)))", "W", "", "W: matrix(n,k)"},
    {"kron_vec_bilinear", Kind::Hessian, "(kron(x, z)'*vec(W))^2", "W", "",
     "x: vector(n); z: vector(k); W: matrix(n,k)"},
    {"kron_vec_bilinear_cross", Kind::Hessian, "(kron(x, z)'*vec(W))^2", "x", "W",
     "x: vector(n); z: vector(k); W: matrix(k,n)"},
    {"reshape", Kind::Hessian, "sum(exp(reshape(v, n, k)))", "v", "", "v: vector(n*k)"},
    {"reshape_trace", Kind::Hessian, "tr(reshape(v, n, n)*reshape(v, n, n))", "v", "", "v: vector(n*n)"},
    {"jacobian_reshape_transpose", Kind::Jacobian, "reshape(v, n, k)'", "v", "", "v: vector(n*k)"},
    {"jacobian_sym_square", Kind::Jacobian, "sym(X)*sym(X)", "X", "", "X: matrix(n,n)"},
    {"hvp_softmax_regression", Kind::Hvp, "-t'*log(softmax(W*x))", "W", "",
     "t: vector(m); W: matrix(m,n); x: vector(n)", "t pos"},
    {"logsumexp_two_sided", Kind::Hessian, "logsumexp(X*w) + logsumexp(X'*u)", "X", "",
     "X: matrix(m,n); w: vector(n); u: vector(m)"},
    {"hvp_symmetric_det_squared", Kind::Hvp, "det(S)^2", "S", "", "S: symmetric(n)", "S spd"},
    {"sqrt_quadratic_cross", Kind::Hessian, "sqrt(x'*S*x)", "x", "S", "x: vector(n); S: symmetric(n)", "S spd"},
    {"fourth_powers", Kind::Hessian, "sum((A*x).^4)", "x", "", "A: matrix(m,n); x: vector(n)"},
    {"ratio", Kind::Hessian, "(a'*x)/(b'*x)", "x", "", "a: vector(n); b: vector(n); x: vector(n)", "b pos; x pos"},
    {"frobenius_product", Kind::Hessian, "A : X*X'", "X", "", "A: matrix(n,n); X: matrix(n,k)"},
};

// Deterministic uniform draws (no std distributions: their output differs
// between standard libraries).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  double uniform(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(g_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 g_;
};

std::uint64_t seed_of(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char ch : name) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

Matrix uniform(Rng& rng, Eigen::Index r, Eigen::Index c, double lo, double hi) {
  Matrix m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

// "X spd; x pos" -> {X: spd, x: pos}
std::map<std::string, std::string> parse_draws(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ';');) {
    std::istringstream words(item);
    std::string name, how;
    if (words >> name >> how) out[name] = how;
  }
  return out;
}

Matrix draw(Rng& rng, Eigen::Index r, Eigen::Index c, bool symmetric, const std::string& how) {
  if (how == "spd") {
    Matrix q = uniform(rng, r, r, -1, 1);
    Eigen::SelfAdjointEigenSolver<Matrix> eig(q + q.transpose());
    Eigen::VectorXd lambda = uniform(rng, r, 1, 1, 3);
    return eig.eigenvectors() * lambda.asDiagonal() * eig.eigenvectors().transpose();
  }
  if (how == "dd") return uniform(rng, r, c, -0.5, 0.5) + (0.5 * static_cast<double>(r) + 1) * Matrix::Identity(r, c);
  Matrix m = how == "pos" ? uniform(rng, r, c, 0.5, 2) : uniform(rng, r, c, -1, 1);
  if (symmetric) m = (0.5 * (m + m.transpose())).eval();
  return m;
}

std::int64_t size_of(const Dim& d) {
  Bindings b;
  b.dims = kDims;
  return dim_value(d, b);
}

Eigen::VectorXd vec(const Matrix& m) { return Eigen::Map<const Eigen::VectorXd>(m.data(), m.size()); }

// ||a - b|| <= rel*max(||a||, ||b||) + abs; the relative error in `err`.
bool close(const Matrix& a, const Matrix& b, double rel, double abs, double* err) {
  if (a.rows() != b.rows() || a.cols() != b.cols() || !a.allFinite() || !b.allFinite()) {
    *err = std::numeric_limits<double>::infinity();
    return false;
  }
  const double scale = std::max(a.norm(), b.norm());
  *err = (a - b).norm() / std::max(scale, 1e-300);
  return (a - b).norm() <= rel * scale + abs;
}

std::string show(const Matrix& m) {
  std::ostringstream s;
  s.precision(8);
  s << "[";
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    if (i) s << "; ";
    for (Eigen::Index j = 0; j < m.cols(); ++j) s << (j ? " " : "") << m(i, j);
  }
  s << "]";
  return s.str();
}

// The directions D along which a variable of this shape is differentiated:
// every entry, or for a symmetric one E_ii and E_ij + E_ji; `antisymmetric`
// gives E_ij - E_ji instead (where a symmetric variable's results vanish).
std::vector<Matrix> directions(const Matrix& like, bool symmetric, bool antisymmetric = false) {
  std::vector<Matrix> out;
  const Eigen::Index r = like.rows(), c = like.cols();
  if (!symmetric) {
    for (Eigen::Index j = 0; j < like.size(); ++j) {
      Matrix d = Matrix::Zero(r, c);
      d.data()[j] = 1;
      out.push_back(d);
    }
    return out;
  }
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = antisymmetric ? j + 1 : j; i < r; ++i) {
      Matrix d = Matrix::Zero(r, c);
      d(i, j) = 1;
      d(j, i) = antisymmetric ? -1 : 1;
      out.push_back(d);
    }
  return out;
}

// One row's session, function and point.
struct Trial {
  Session s;
  Function f;
  Values at;
  std::string decls;  // f's declarations (declaration_text)

  bool symmetric(const std::string& name) const { return f.symbol(name).node()->symmetric; }
  Matrix eval(Expression e, const Values& v) { return s.evaluate({e}, v)[0]; }
  Matrix eval(Expression e) { return eval(e, at); }
  // (F(X + hD) - F(X - hD)) / 2h for the symbol X.
  Matrix along(Expression e, const std::string& x, const Matrix& d) {
    Values up = at, down = at;
    up.symbols[x] += kStep * d;
    down.symbols[x] -= kStep * d;
    return (eval(e, up) - eval(e, down)) / (2 * kStep);
  }
};

void load(Trial& t, const Case& c) {
  const bool scalar = c.kind != Kind::Jacobian;
  std::vector<std::string> wrt{c.wrt};
  if (*c.wrt2) wrt.push_back(c.wrt2);
  t.f = t.s.load(c.expression, c.declarations, {.scalar = scalar, .wrt = wrt});
  t.decls = t.f.declaration_text();
  t.at.dims = kDims;
  Rng rng(seed_of(c.name));
  const auto how = parse_draws(c.draws);
  for (const auto& [name, kind] : how) {
    (void)t.f.symbol(name);  // a Name error for a row that draws a symbol it does not have
    EXPECT_TRUE(kind == "spd" || kind == "dd" || kind == "pos") << "unknown draw '" << kind << "' for " << name;
  }
  for (const SymbolInfo& sym : t.f.symbols) {
    const Node* n = sym.symbol.node();
    auto it = how.find(sym.name);
    t.at.symbols[sym.name] =
        draw(rng, size_of(n->shape.rows), size_of(n->shape.cols), n->symmetric, it == how.end() ? "" : it->second);
  }
}

// The text of `e` loaded back under `decls` evaluates to the value of e.
void expect_parses_back(Trial& t, Expression e, const Matrix& value, const std::string& decls) {
  const std::string text = e.text();
  Matrix again;
  try {
    again = t.eval(t.s.load(text, decls).expression);
  } catch (const Error& err) {
    ADD_FAILURE() << "the printed result '" << text << "' does not load back under '" << decls << "': " << err.what();
    return;
  }
  double err = 0;
  EXPECT_TRUE(close(again, value, kExactRel, 0, &err))
      << "the printed result '" << text << "' evaluates to " << show(again) << ", the result to " << show(value)
      << " (relative error " << err << ")";
}

void check_jacobian(Trial& t, const Case& c) {
  Expression j = t.s.jacobian(t.f, c.wrt);
  Expression value = t.s.simplify(t.f.expression);
  const Matrix jv = t.eval(j);
  const Matrix& x0 = t.at.symbols.at(c.wrt);
  ASSERT_EQ(jv.rows(), t.eval(value).size()) << "jacobian " << j.text();
  ASSERT_EQ(jv.cols(), x0.size()) << "jacobian " << j.text();
  for (const Matrix& d : directions(x0, t.symmetric(c.wrt))) {
    const Matrix fd = vec(t.along(value, c.wrt, d));
    const Matrix got = jv * vec(d);
    double err = 0;
    EXPECT_TRUE(close(got, fd, kFdRel, kFdAbs, &err))
        << "J*vec(D) = " << show(got) << " but finite differences give " << show(fd) << " (relative error " << err
        << ") along D = " << show(d) << "\n    jacobian: " << j.text();
  }
  if (t.symmetric(c.wrt)) {
    for (const Matrix& a : directions(x0, true, true)) {
      EXPECT_LT((jv * vec(a)).norm(), kExactRel * (1 + jv.norm())) << "J*vec(A) for antisymmetric A = " << show(a);
    }
  }
  expect_parses_back(t, j, jv, t.decls);
}

void check_hessian(Trial& t, const Case& c) {
  const std::string y = *c.wrt2 ? c.wrt2 : c.wrt;
  Expression h = t.s.hessian(t.f, c.wrt, y);
  Expression g = t.s.gradient(t.f, c.wrt);
  const Matrix hv = t.eval(h);
  const Matrix &x0 = t.at.symbols.at(c.wrt), &y0 = t.at.symbols.at(y);
  ASSERT_EQ(hv.rows(), x0.size()) << "hessian " << h.text();
  ASSERT_EQ(hv.cols(), y0.size()) << "hessian " << h.text();
  for (const Matrix& d : directions(y0, t.symmetric(y))) {
    const Matrix fd = vec(t.along(g, y, d));
    const Matrix got = hv * vec(d);
    double err = 0;
    EXPECT_TRUE(close(got, fd, kFdRel, kFdAbs * (1 + hv.norm()), &err))
        << "H*vec(D) = " << show(got) << " but finite differences of the gradient " << g.text() << " give " << show(fd)
        << " (relative error " << err << ") along D = " << show(d) << "\n    hessian: " << h.text();
  }
  double err = 0;
  if (y == c.wrt) {
    EXPECT_TRUE(close(hv, hv.transpose(), kExactRel, 0, &err))
        << "the Hessian is not symmetric (relative error " << err << "): " << show(hv) << "\n    hessian: " << h.text();
  } else {
    const Matrix other = t.eval(t.s.hessian(t.f, y, c.wrt));
    EXPECT_TRUE(close(other.transpose(), hv, kExactRel, 0, &err))
        << "the block (" << y << ", " << c.wrt << ") is not the transpose of (" << c.wrt << ", " << y
        << ") (relative error " << err << ")";
  }
  if (t.symmetric(y)) {
    for (const Matrix& a : directions(y0, true, true)) {
      EXPECT_LT((hv * vec(a)).norm(), kExactRel * (1 + hv.norm())) << "H*vec(A) for antisymmetric A = " << show(a);
    }
  }
  if (t.symmetric(c.wrt)) {
    for (const Matrix& a : directions(x0, true, true)) {
      EXPECT_LT((vec(a).transpose() * hv).norm(), kExactRel * (1 + hv.norm()))
          << "vec(A)'*H for antisymmetric A = " << show(a);
    }
  }
  expect_parses_back(t, h, hv, t.decls);
}

void check_hvp(Trial& t, const Case& c) {
  Expression p = t.s.hvp(t.f, c.wrt, "V");
  Expression v = t.s.direction_symbol(t.f, c.wrt, "V");
  Expression g = t.s.gradient(t.f, c.wrt);
  const Matrix& x0 = t.at.symbols.at(c.wrt);
  Rng rng(seed_of(c.name) + 1);
  t.at.symbols["V"] = draw(rng, x0.rows(), x0.cols(), t.symmetric(c.wrt), "");
  const Matrix& dir = t.at.symbols.at("V");
  const Matrix pv = t.eval(p);
  ASSERT_EQ(pv.rows(), x0.rows()) << "hvp " << p.text();
  ASSERT_EQ(pv.cols(), x0.cols()) << "hvp " << p.text();
  double err = 0;
  const Matrix fd = t.along(g, c.wrt, dir);
  EXPECT_TRUE(close(pv, fd, kFdRel, kFdAbs * (1 + pv.norm()), &err))
      << "hvp = " << show(pv) << " but finite differences of the gradient " << g.text() << " along V = " << show(dir)
      << " give " << show(fd) << " (relative error " << err << ")\n    hvp: " << p.text();
  const Matrix hv = t.eval(t.s.hessian(t.f, c.wrt)) * vec(dir);
  EXPECT_TRUE(close(vec(pv), hv, kExactRel, 0, &err))
      << "hvp = " << show(vec(pv)) << " but H*vec(V) = " << show(hv) << " (relative error " << err << ")";
  EXPECT_EQ(v.shape(), t.f.symbol(c.wrt).shape());
  EXPECT_EQ(v.node()->symmetric, t.symmetric(c.wrt));
  // V declared as wrt is: "W: matrix(n,k)" -> "V: matrix(n,k)"
  std::string type;
  for (const SymbolInfo& s : t.f.symbols)
    if (s.name == c.wrt) type = s.declaration.substr(s.declaration.find(':'));
  expect_parses_back(t, p, pv, t.decls + "; V" + type);
}

// Keeps gtest from dumping the row's bytes in failure lines.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class SecondOrder : public ::testing::TestWithParam<Case> {};

TEST_P(SecondOrder, AgreesWithFiniteDifferences) {
  const Case& c = GetParam();
  SCOPED_TRACE(std::string(c.expression) + " w.r.t. " + c.wrt + (*c.wrt2 ? std::string(", ") + c.wrt2 : "") +
               " under " + c.declarations);
  Trial t;
  try {
    load(t, c);
    switch (c.kind) {
      case Kind::Jacobian: check_jacobian(t, c); break;
      case Kind::Hessian: check_hessian(t, c); break;
      case Kind::Hvp: check_hvp(t, c); break;
    }
  } catch (const Error& e) {
    ADD_FAILURE() << "matcalc error: " << e.what();
  }
}

std::string test_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Table, SecondOrder, ::testing::ValuesIn(kCases), test_name);

TEST(SecondOrderTable, SixtyDistinctCasesOfEveryKind) {
  std::set<std::string> names;
  std::map<Kind, int> kinds;
  for (const Case& c : kCases) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate row name " << c.name;
    for (char ch : std::string(c.name))
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << c.name;
    ++kinds[c.kind];
  }
  EXPECT_GE(kCases.size(), 60u);
  EXPECT_GE(kinds[Kind::Jacobian], 20);
  EXPECT_GE(kinds[Kind::Hessian], 20);
  EXPECT_GE(kinds[Kind::Hvp], 10);
}

// A wrong Hessian must fail the comparison: the check above is not vacuous.
TEST(SecondOrderTable, AWrongHessianFailsTheComparison) {
  Trial t;
  const Case c{"planted", Kind::Hessian, "x'*A*x", "x", "", "x: vector(n); A: matrix(n,n)"};
  load(t, c);
  Expression g = t.s.gradient(t.f, "x");
  const Matrix wrong = t.eval(t.s.load("A + A' + 1e-4*eye(n)", t.decls).expression);
  const Matrix& x0 = t.at.symbols.at("x");
  int failing = 0;
  for (const Matrix& d : directions(x0, false)) {
    double err = 0;
    if (!close(wrong * vec(d), vec(t.along(g, "x", d)), kFdRel, kFdAbs * (1 + wrong.norm()), &err)) ++failing;
  }
  EXPECT_EQ(failing, static_cast<int>(x0.size()));
}

}  // namespace
}  // namespace matcalc
