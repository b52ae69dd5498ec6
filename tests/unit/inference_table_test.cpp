// Type inference as LANGUAGE.md specifies it, one row per expression, over
// the public API (Session::load): the readings people write in papers and
// Q&A answers (least squares, Gaussian likelihoods, logistic and softmax
// regression, factorizations, network layers, kernels, trace forms), with
// the command's scalar requirement (grad, check, ...) or without it (eval).
//
// Each row states what inference must give: the types of every symbol, as
// Function::declaration_text() prints them (free dimensions named n, k, m,
// p, q, ... in order of first appearance, rows before columns, skipping
// names already taken), and the outcome:
//   Silent   no warning; with strict, still no error;
//   Warns    some warning contains every one of `needles`; with strict, the
//            same load is an Inference error;
//   Fails    an Error of `kind` whose message contains every one of `needles`.
// The rows are the specification, not a record of what the code does today:
// a row that fails is a bug in inference or in the row, to be triaged.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cctype>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "matcalc/matcalc.hpp"

namespace matcalc {
namespace {

enum class Outcome { Silent, Warns, Fails };

struct Row {
  const char* name;  // unique, [A-Za-z0-9_]
  const char* expr;
  const char* decl;   // declarations given with the expression ("" for none)
  bool scalar;        // the command needs a scalar (grad, hessian, check, ...)
  const char* types;  // expected declaration_text() (Silent, Warns)
  Outcome outcome;
  std::vector<const char*> needles = {};  // substrings of the warning or of the error
  ErrorKind kind = ErrorKind::Inference;  // Fails: the error's kind
  // Set where the implementation disagrees with the row on purpose or by a
  // bug not yet fixed: the row must fail (a known failure), and the test
  // fails when it starts passing, so that the marker goes.
  const char* known = nullptr;
};

constexpr bool kGrad = true;   // scalar required
constexpr bool kEval = false;  // no requirement

// clang-format off
const Row kRows[] = {
    // ---------------------------------------------------------------- the examples
    // The requirement is a constraint: alpha can only be a scalar for the result to be one.
    {"issue_alpha_tr_A", "alpha*tr(A)", "", kGrad, "alpha: scalar; A: matrix(n,n)", Outcome::Silent},
    {"issue_ridge_lambda", "lambda*norm2(w)^2 + norm2(X*w - y)^2", "", kGrad,
     "lambda: scalar; w: vector(n); X: matrix(k,n); y: vector(k)", Outcome::Silent},
    {"issue_rbf_gamma", "exp(-gamma*norm2(x - z)^2)", "", kGrad, "gamma: scalar; x: vector(n); z: vector(n)",
     Outcome::Silent},
    {"issue_abs_a", "abs(a)", "", kGrad, "a: scalar", Outcome::Silent},
    {"issue_log_t", "log(t)", "", kGrad, "t: scalar", Outcome::Silent},
    {"issue_logistic_loss", "sum(log(1 + exp(-y .* (X*w))))", "", kGrad,
     "y: vector(n); X: matrix(n,k); w: vector(k)", Outcome::Silent},
    // scalar - vector is entrywise
    {"issue_norm_x_minus_1", "norm2(x - 1)^2", "", kGrad, "x: vector(n)", Outcome::Silent},
    // W + scalar as a matrix is an error, so W is a vector, against its name
    {"issue_sqrt_1_plus_W2", "sum(sqrt(1 + W.^2))", "", kGrad, "W: vector(n)", Outcome::Warns, {"W", "vector"}},
    // s^2 as a scalar added to W*W' is an error, so s is an n x n matrix
    {"issue_logdet_WW_plus_s2", "logdet(W*W' + s^2)", "", kGrad, "W: matrix(n,k); s: matrix(n,n)", Outcome::Warns,
     {"s", "matrix"}},
    // with s declared a scalar, only W a scalar type-checks
    {"issue_logdet_declared_s", "logdet(W*W' + s^2)", "s: scalar", kGrad, "W: scalar; s: scalar", Outcome::Warns,
     {"W", "scalar"}},
    {"issue_X_caret_T", "X^T", "", kEval, "X: scalar; T: scalar", Outcome::Warns, {"X'"}},
    {"issue_sigma_and_Sigma", "logdet(Sigma) + (x - mu)'*inv(sigma)*(x - mu)", "", kGrad,
     "Sigma: matrix(n,n); x: vector(k); mu: vector(k); sigma: scalar", Outcome::Warns, {"sigma", "Sigma"}},

    // ---------------------------------------------------------------- regularized least squares
    {"ridge", "norm2(X*w - y)^2 + lambda*norm2(w)^2", "", kGrad,
     "X: matrix(n,k); w: vector(k); y: vector(n); lambda: scalar", Outcome::Silent},
    {"ridge_inner_product", "norm2(A*x - b)^2 + lambda*x'*x", "", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); lambda: scalar", Outcome::Silent},
    {"lasso", "0.5*norm2(A*x - b)^2 + lambda*norm1(x)", "", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); lambda: scalar", Outcome::Silent},
    {"elastic_net", "norm2(X*w - y)^2 + l1*norm1(w) + l2*norm2(w)^2", "", kGrad,
     "X: matrix(n,k); w: vector(k); y: vector(n); l1: scalar; l2: scalar", Outcome::Silent},
    {"tikhonov", "norm2(A*x - b)^2 + norm2(G*x)^2", "", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); G: matrix(m,k)", Outcome::Silent},
    {"least_squares_over_m", "norm2(A*x - b)^2/(2*m)", "", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); m: scalar", Outcome::Silent},
    {"weighted_least_squares", "(y - X*b)'*W*(y - X*b)", "", kGrad,
     "y: vector(n); X: matrix(n,k); b: vector(k); W: matrix(n,n)", Outcome::Silent},
    {"multivariate_ridge", "norm2(Y - X*B)^2 + lambda*norm2(B)^2", "", kGrad,
     "Y: matrix(n,k); X: matrix(n,m); B: matrix(m,k); lambda: scalar", Outcome::Silent},
    {"smoothing", "norm2(D*x)^2 + norm2(x - y)^2", "", kGrad, "D: matrix(n,k); x: vector(k); y: vector(k)",
     Outcome::Silent},
    {"declared_dims_fix_the_rest", "norm2(A*x - b)^2", "A: matrix(3,2)", kGrad,
     "A: matrix(3,2); x: vector(2); b: vector(3)", Outcome::Silent},
    // declared dimension names are taken: the free one is m
    {"declared_dim_names_are_skipped", "norm2(A*x - b)^2 + norm2(L*x)^2", "A: matrix(n,k)", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); L: matrix(m,k)", Outcome::Silent},
    // b and B differ only in case
    {"warn_b_and_B", "norm2(A*x - b)^2 + norm2(B*x)^2", "A: matrix(n,k)", kGrad,
     "A: matrix(n,k); x: vector(k); b: vector(n); B: matrix(m,k)", Outcome::Warns, {"b", "B", "case"}},

    // ---------------------------------------------------------------- Gaussians
    {"gaussian_nll", "logdet(Sigma) + (x - mu)'*inv(Sigma)*(x - mu)", "", kGrad,
     "Sigma: matrix(n,n); x: vector(n); mu: vector(n)", Outcome::Silent},
    {"gaussian_nll_halves", "0.5*logdet(S) + 0.5*(x - m)'*inv(S)*(x - m)", "", kGrad,
     "S: matrix(n,n); x: vector(n); m: vector(n)", Outcome::Silent},
    {"gaussian_nll_symmetric", "logdet(S) + (x - mu)'*inv(S)*(x - mu)", "S: symmetric(n)", kGrad,
     "S: symmetric(n); x: vector(n); mu: vector(n)", Outcome::Silent},
    // a symbol called n takes the name n: the free dimension is k
    {"gaussian_scatter", "n*logdet(Sigma) + tr(inv(Sigma)*S)", "", kGrad,
     "n: scalar; Sigma: matrix(k,k); S: matrix(k,k)", Outcome::Silent},
    {"mahalanobis", "sqrt((x - y)'*inv(S)*(x - y))", "", kGrad, "x: vector(n); y: vector(n); S: matrix(n,n)",
     Outcome::Silent},
    {"gp_marginal_likelihood", "y'*inv(K + s^2*I)*y + logdet(K + s^2*I)", "", kGrad,
     "y: vector(n); K: matrix(n,n); s: scalar", Outcome::Silent},
    {"graphical_lasso", "-logdet(X) + tr(S*X) + lambda*norm1(X)", "", kGrad,
     "X: matrix(n,n); S: matrix(n,n); lambda: scalar", Outcome::Silent},

    // ---------------------------------------------------------------- logistic and softmax regression
    {"logistic_ridge", "sum(log(1 + exp(-y .* (X*w)))) + lambda*norm2(w)^2", "", kGrad,
     "y: vector(n); X: matrix(n,k); w: vector(k); lambda: scalar", Outcome::Silent},
    {"logistic_cross_entropy", "-sum(y .* log(sigmoid(X*w)) + (1 - y) .* log(1 - sigmoid(X*w)))", "", kGrad,
     "y: vector(n); X: matrix(n,k); w: vector(k)", Outcome::Silent},
    // one sample: y and b can only be scalars for the loss to be one
    {"logistic_one_sample", "-y*log(sigmoid(w'*x + b)) - (1 - y)*log(1 - sigmoid(w'*x + b))", "", kGrad,
     "y: scalar; w: vector(n); x: vector(n); b: scalar", Outcome::Silent},
    {"softplus_loss", "sum(softplus(-y .* (X*w)))", "", kGrad, "y: vector(n); X: matrix(n,k); w: vector(k)",
     Outcome::Silent},
    {"softmax_regression", "-y'*log(softmax(W*x + b))", "", kGrad,
     "y: vector(n); W: matrix(n,k); x: vector(k); b: vector(n)", Outcome::Silent},
    {"softmax_regression_logsumexp", "logsumexp(W*x + b) - y'*(W*x + b)", "", kGrad,
     "W: matrix(n,k); x: vector(k); b: vector(n); y: vector(n)", Outcome::Silent},
    {"svm_relu_hinge", "sum(relu(1 - y .* (X*w))) + lambda*norm2(w)^2", "", kGrad,
     "y: vector(n); X: matrix(n,k); w: vector(k); lambda: scalar", Outcome::Silent},
    {"poisson_regression", "sum(exp(X*w) - y .* (X*w))", "", kGrad, "X: matrix(n,k); w: vector(k); y: vector(n)",
     Outcome::Silent},
    {"attention_readout", "v'*softmax(K*q)", "", kGrad, "v: vector(n); K: matrix(n,k); q: vector(k)",
     Outcome::Silent},

    // ---------------------------------------------------------------- factorizations and networks
    {"matrix_factorization", "norm2(X - U*V')^2 + lambda*(norm2(U)^2 + norm2(V)^2)", "", kGrad,
     "X: matrix(n,k); U: matrix(n,m); V: matrix(k,m); lambda: scalar", Outcome::Silent},
    {"frobenius_distance", "norm2(X - Y)^2", "", kGrad, "X: matrix(n,k); Y: matrix(n,k)", Outcome::Silent},
    {"sylvester_residual", "norm2(A*X + X*B - C)^2", "", kGrad,
     "A: matrix(n,n); X: matrix(n,k); B: matrix(k,k); C: matrix(n,k)", Outcome::Silent},
    {"two_layer_tanh", "norm2(W2*tanh(W1*x + b1) + b2 - y)^2", "", kGrad,
     "W2: matrix(n,k); W1: matrix(k,m); x: vector(m); b1: vector(k); b2: vector(n); y: vector(n)",
     Outcome::Silent},
    {"two_layer_relu", "norm2(W2*relu(W1*x + b1) - y)^2", "", kGrad,
     "W2: matrix(n,k); W1: matrix(k,m); x: vector(m); b1: vector(k); y: vector(n)", Outcome::Silent},
    {"two_layer_sigmoid_softmax", "-y'*log(softmax(W2*sigmoid(W1*x)))", "", kGrad,
     "y: vector(n); W2: matrix(n,k); W1: matrix(k,m); x: vector(m)", Outcome::Silent},

    // ---------------------------------------------------------------- quadratic and trace forms
    {"rayleigh_quotient", "x'*A*x/(x'*x)", "", kGrad, "x: vector(n); A: matrix(n,n)", Outcome::Silent},
    {"quadratic_symmetric", "0.5*x'*Q*x - b'*x", "Q: symmetric(n)", kGrad,
     "x: vector(n); Q: symmetric(n); b: vector(n)", Outcome::Silent},
    {"quadratic_with_constant", "0.5*x'*A*x + b'*x + c", "", kGrad,
     "x: vector(n); A: matrix(n,n); b: vector(n); c: scalar", Outcome::Silent},
    {"quadratic_of_sum", "x'*inv(A + B)*x", "", kGrad, "x: vector(n); A: matrix(n,n); B: matrix(n,n)",
     Outcome::Silent},
    {"trace_form", "tr(X'*A*X)", "", kGrad, "X: matrix(n,k); A: matrix(n,n)", Outcome::Silent},
    {"laplacian_trace", "tr(W'*L*W)", "", kGrad, "W: matrix(n,k); L: matrix(n,n)", Outcome::Silent},
    {"frobenius_product", "A:B", "", kGrad, "A: matrix(n,k); B: matrix(n,k)", Outcome::Silent},
    {"inner_product", "x'*y", "", kGrad, "x: vector(n); y: vector(n)", Outcome::Silent},
    {"cosine_similarity", "x'*y/(norm2(x)*norm2(y))", "", kGrad, "x: vector(n); y: vector(n)", Outcome::Silent},
    {"matrix_power_quadratic", "norm2(A^2*x)^2", "", kGrad, "A: matrix(n,n); x: vector(n)", Outcome::Silent},
    // tr(W*c): W square with c a scalar scores above c a matrix
    {"trace_of_product_with_scalar", "tr(W*c)", "", kGrad, "W: matrix(n,n); c: scalar", Outcome::Silent},

    // ---------------------------------------------------------------- kernels, PCA, determinants, barriers
    {"rbf_kernel", "exp(-norm2(x - z)^2/(2*s^2))", "", kGrad, "x: vector(n); z: vector(n); s: scalar",
     Outcome::Silent},
    {"ppca_logdet", "logdet(W*W' + s^2*I)", "", kGrad, "W: matrix(n,k); s: scalar", Outcome::Silent},
    {"ppca_nll", "logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*C)", "", kGrad,
     "W: matrix(n,k); s: scalar; C: matrix(n,n)", Outcome::Silent},
    // the same with the sample covariance called S: s and S differ only in case
    {"warn_ppca_nll_s_and_S", "logdet(W*W' + s^2*I) + tr(inv(W*W' + s^2*I)*S)", "", kGrad,
     "W: matrix(n,k); s: scalar; S: matrix(n,n)", Outcome::Warns, {"s", "S", "case"}},
    {"log_det_gram", "log(det(X'*X))", "", kGrad, "X: matrix(n,k)", Outcome::Silent},
    {"trace_of_inverse", "tr(inv(X))", "", kGrad, "X: matrix(n,n)", Outcome::Silent},
    {"determinant", "det(X)", "", kGrad, "X: matrix(n,n)", Outcome::Silent},
    {"log_barrier_lp", "c'*x - sum(log(b - A*x))", "", kGrad,
     "c: vector(n); x: vector(n); b: vector(k); A: matrix(k,n)", Outcome::Silent},
    {"logdet_barrier_sdp", "tr(C*X) - logdet(X)", "", kGrad, "C: matrix(n,n); X: matrix(n,n)", Outcome::Silent},
    {"cholesky_diag", "sum(log(diag(L)))", "", kGrad, "L: matrix(n,n)", Outcome::Silent},
    {"entropy", "-sum(p .* log(p))", "", kGrad, "p: vector(n)", Outcome::Silent},
    {"kl_divergence", "sum(p .* log(p ./ q))", "", kGrad, "p: vector(n); q: vector(n)", Outcome::Silent},

    // ---------------------------------------------------------------- eval: no requirement, vector results
    {"eval_affine", "A*x + b", "", kEval, "A: matrix(n,k); x: vector(k); b: vector(n)", Outcome::Silent},
    {"eval_affine_declared_W", "W*x + b", "W: matrix(n,k)", kEval, "W: matrix(n,k); x: vector(k); b: vector(n)",
     Outcome::Silent},
    {"eval_inner_product", "x'*y", "", kEval, "x: vector(n); y: vector(n)", Outcome::Silent},
    {"eval_matvec", "W*x", "", kEval, "W: matrix(n,k); x: vector(k)", Outcome::Silent},
    {"eval_sigmoid_layer", "sigmoid(X*w)", "", kEval, "X: matrix(n,k); w: vector(k)", Outcome::Silent},
    {"eval_softmax_layer", "softmax(W*x + b)", "", kEval, "W: matrix(n,k); x: vector(k); b: vector(n)",
     Outcome::Silent},
    {"eval_tanh_layer", "tanh(W1*x + b1)", "", kEval, "W1: matrix(n,k); x: vector(k); b1: vector(n)",
     Outcome::Silent},
    {"eval_solve", "inv(A)*b", "", kEval, "A: matrix(n,n); b: vector(n)", Outcome::Silent},
    {"eval_outer_product", "x*y'", "", kEval, "x: vector(n); y: vector(k)", Outcome::Silent},
    {"eval_matmul", "A*B", "", kEval, "A: matrix(n,k); B: matrix(k,m)", Outcome::Silent},
    {"eval_scaled_matrix", "c*A", "", kEval, "c: scalar; A: matrix(n,k)", Outcome::Silent},
    {"eval_residual", "x - mu", "", kEval, "x: vector(n); mu: vector(n)", Outcome::Silent},
    {"eval_normal_equations", "X'*(X*w - y)", "", kEval, "X: matrix(n,k); w: vector(k); y: vector(n)",
     Outcome::Silent},
    {"eval_ppca_covariance", "W*W' + s^2*I", "", kEval, "W: matrix(n,k); s: scalar", Outcome::Silent},
    {"eval_softmax_by_hand", "exp(x)/sum(exp(x))", "", kEval, "x: vector(n)", Outcome::Silent},
    {"eval_vector_minus_one", "y - 1", "", kEval, "y: vector(n)", Outcome::Silent},
    {"eval_one_plus_exp", "1 + exp(v)", "", kEval, "v: vector(n)", Outcome::Silent},
    {"eval_transpose", "x'", "", kEval, "x: vector(n)", Outcome::Silent},
    {"eval_gram", "A'*A", "", kEval, "A: matrix(n,k)", Outcome::Silent},
    {"eval_twice", "2*x", "", kEval, "x: vector(n)", Outcome::Silent},
    // without the requirement the scalars are vectors, as their names prefer
    {"eval_alpha_tr_A", "alpha*tr(A)", "", kEval, "alpha: vector(n); A: matrix(k,k)", Outcome::Silent},
    {"eval_abs_a", "abs(a)", "", kEval, "a: vector(n)", Outcome::Silent},
    {"eval_log_t", "log(t)", "", kEval, "t: vector(n)", Outcome::Silent},

    // ---------------------------------------------------------------- ties: an Inference error with both readings
    {"tie_a_times_b", "a*b", "", kEval, "", Outcome::Fails, {"a: vector", "b: vector", "--decl"}},
    {"tie_alpha_times_x", "alpha*x", "", kEval, "", Outcome::Fails, {"alpha", "x: vector", "--decl"}},
    {"tie_axpy", "alpha*x + y", "", kEval, "", Outcome::Fails, {"alpha", "--decl"}},
    {"tie_gradient_step", "w - lr*g", "", kEval, "", Outcome::Fails, {"lr", "g", "--decl"}},
    {"tie_scaled_norm", "norm2(alpha*x)^2", "", kGrad, "", Outcome::Fails, {"alpha", "x", "--decl"}},
    {"tie_sum_of_product", "sum(c*v)", "", kGrad, "", Outcome::Fails, {"c", "v", "--decl"}},
    // the same product with the requirement has one reading
    {"no_tie_scalar_product", "a*b", "", kGrad, "a: scalar; b: scalar", Outcome::Silent},

    // ---------------------------------------------------------------- scalar + matrix: an error suggesting I and ones
    {"scalar_plus_matrix_trace", "tr(A + c)", "A: matrix(n,n); c: scalar", kGrad, "", Outcome::Fails,
     {"*I", "ones("}, ErrorKind::Shape},
    {"scalar_plus_matrix_logdet", "logdet(W*W' + s^2)", "W: matrix(n,k); s: scalar", kGrad, "", Outcome::Fails,
     {"s^2*I", "ones("}, ErrorKind::Shape},
    {"matrix_plus_one", "X + 1", "X: matrix(n,k)", kEval, "", Outcome::Fails, {"ones("}, ErrorKind::Shape},
    {"matrix_minus_scalar", "norm2(X - t)^2", "X: matrix(n,k); t: scalar", kGrad, "", Outcome::Fails, {"ones("},
     ErrorKind::Shape},

    // no reading at all: the error names the symbol
    {"no_reading_two_lengths", "ones(3)'*x + ones(2)'*x", "", kGrad, "", Outcome::Fails, {"x"}, ErrorKind::Shape},

    // ---------------------------------------------------------------- warnings
    {"warn_A_caret_T", "x'*A^T*x", "", kGrad, "x: vector(n); A: scalar; T: scalar", Outcome::Warns, {"A'"}},
    {"warn_tr_of_scalar", "tr(x'*A*x)", "", kGrad, "x: vector(n); A: matrix(n,n)", Outcome::Warns, {"tr"}},
    {"warn_sum_of_scalar", "sum(x'*y)", "", kGrad, "x: vector(n); y: vector(n)", Outcome::Warns, {"sum"}},
    {"warn_norm2_of_scalar", "norm2(w'*x)^2", "", kGrad, "w: vector(n); x: vector(n)", Outcome::Warns, {"norm2"}},
    {"warn_norm1_of_scalar", "norm1(x'*y)", "", kGrad, "x: vector(n); y: vector(n)", Outcome::Warns, {"norm1"}},
    {"warn_sum_of_declared_scalar", "sum(s)", "s: scalar", kGrad, "s: scalar", Outcome::Warns, {"sum"}},
    // a tr of a lower-case symbol that can only be a scalar
    // tr of a scalar made of scalars costs more than a lower-case matrix: a is the matrix, said so.
    {"warn_tr_of_lower_case", "tr(a)", "", kGrad, "a: matrix(n,n)", Outcome::Warns, {"a is read as a matrix"}},
    {"sum_v_minus_logsumexp", "sum(v - logsumexp(v))", "", kGrad, "v: vector(n)", Outcome::Silent, {}},
    {"norm_x_minus_mean", "norm2(x - sum(x)/3)^2", "", kGrad, "x: vector(n)", Outcome::Silent, {}},
    {"identity_is_never_1x1", "s^2*I", "", kGrad, "", Outcome::Fails, {"not a scalar"}, ErrorKind::Shape},
    {"warn_boltzmann_upper_case_scalars", "exp(-E/(K*T))", "", kGrad, "E: scalar; K: scalar; T: scalar",
     Outcome::Warns, {"E", "scalar"}},
    {"warn_lower_case_matrix", "x'*m*y", "x: vector(n); y: vector(k)", kGrad,
     "x: vector(n); m: matrix(n,k); y: vector(k)", Outcome::Warns, {"m", "matrix"}},
    {"warn_x_and_X", "norm2(x)^2 + norm2(X*x)^2", "", kGrad, "x: vector(n); X: matrix(k,n)", Outcome::Warns,
     {"x", "X"}},
    {"warn_upper_case_vector_eval", "V + 1", "", kEval, "V: vector(n)", Outcome::Warns, {"V", "vector"}},

    // ---------------------------------------------------------------- more than 8 and more than 20 symbols
    {"nine_symbols_three_layers",
     "norm2(W3*tanh(W2*tanh(W1*x + b1) + b2) + b3 - y)^2 + lambda*(norm2(W1)^2 + norm2(W2)^2 + norm2(W3)^2)", "",
     kGrad,
     "W3: matrix(n,k); W2: matrix(k,m); W1: matrix(m,p); x: vector(p); b1: vector(m); b2: vector(k); "
     "b3: vector(n); y: vector(n); lambda: scalar",
     Outcome::Silent},
    // every coefficient is a scalar only because the result must be one
    {"ten_symbols_scaled_traces", "c1*tr(A1) + c2*tr(A2) + c3*tr(A3) + c4*tr(A4) + c5*tr(A5)", "", kGrad,
     "c1: scalar; A1: matrix(n,n); c2: scalar; A2: matrix(k,k); c3: scalar; A3: matrix(m,m); c4: scalar; "
     "A4: matrix(p,p); c5: scalar; A5: matrix(q,q)",
     Outcome::Silent},
    {"eleven_symbols_eval_sum_of_layers", "W1*x1 + W2*x2 + W3*x3 + W4*x4 + W5*x5 + b", "", kEval,
     "W1: matrix(n,k); x1: vector(k); W2: matrix(n,m); x2: vector(m); W3: matrix(n,p); x3: vector(p); "
     "W4: matrix(n,q); x4: vector(q); W5: matrix(n,r); x5: vector(r); b: vector(n)",
     Outcome::Silent},
    {"twenty_one_symbols_seven_regressions",
     "norm2(A1*x1 - y1)^2 + norm2(A2*x2 - y2)^2 + norm2(A3*x3 - y3)^2 + norm2(A4*x4 - y4)^2 + "
     "norm2(A5*x5 - y5)^2 + norm2(A6*x6 - y6)^2 + norm2(A7*x7 - y7)^2",
     "", kGrad,
     "A1: matrix(n,k); x1: vector(k); y1: vector(n); A2: matrix(m,p); x2: vector(p); y2: vector(m); "
     "A3: matrix(q,r); x3: vector(r); y3: vector(q); A4: matrix(d,l); x4: vector(l); y4: vector(d); "
     "A5: matrix(t,u); x5: vector(u); y5: vector(t); A6: matrix(v,n1); x6: vector(n1); y6: vector(v); "
     "A7: matrix(n2,n3); x7: vector(n3); y7: vector(n2)",
     Outcome::Silent},
    {"twenty_two_symbols_inner_products",
     "x1'*y1 + x2'*y2 + x3'*y3 + x4'*y4 + x5'*y5 + x6'*y6 + x7'*y7 + x8'*y8 + x9'*y9 + x10'*y10 + x11'*y11", "",
     kGrad,
     "x1: vector(n); y1: vector(n); x2: vector(k); y2: vector(k); x3: vector(m); y3: vector(m); x4: vector(p); "
     "y4: vector(p); x5: vector(q); y5: vector(q); x6: vector(r); y6: vector(r); x7: vector(d); y7: vector(d); "
     "x8: vector(l); y8: vector(l); x9: vector(t); y9: vector(t); x10: vector(u); y10: vector(u); "
     "x11: vector(v); y11: vector(v)",
     Outcome::Silent},
    // a tie among many symbols is still found and named
    {"tie_among_nine_symbols", "norm2(A*x - b)^2 + norm2(C*z - d)^2 + e*f + g", "", kEval, "", Outcome::Fails,
     {"e", "f", "--decl"}},
};
// clang-format on

std::string joined(const std::vector<const char*>& parts) {
  std::string s;
  for (const char* p : parts) s += (s.empty() ? "'" : ", '") + std::string(p) + "'";
  return s;
}

bool contains_all(const std::string& text, const std::vector<const char*>& needles) {
  for (const char* n : needles)
    if (text.find(n) == std::string::npos) return false;
  return true;
}

std::string all_warnings(const Function& f) {
  std::string s;
  for (const Warning& w : f.warnings) s += "\n  warning: " + w.message;
  return s.empty() ? " (none)" : s;
}

// Checks one row with gtest assertions (non-fatal, so that a wrong row
// reports every way in which it is wrong).
void check_row(const Row& r) {
  SCOPED_TRACE(std::string("expr: ") + r.expr + (*r.decl ? std::string("  decl: ") + r.decl : "") +
               (r.scalar ? "  (scalar required)" : "  (eval)"));
  Session s;
  if (r.outcome == Outcome::Fails) {
    try {
      Function f = s.load(r.expr, r.decl, {.scalar = r.scalar});
      ADD_FAILURE() << "expected a " << error_kind_name(r.kind) << " error containing " << joined(r.needles)
                    << ", got the types '" << f.declaration_text() << "'";
    } catch (const Error& e) {
      EXPECT_EQ(error_kind_name(e.kind()), std::string(error_kind_name(r.kind))) << "message: " << e.what();
      EXPECT_TRUE(contains_all(e.what(), r.needles))
          << "the message '" << e.what() << "' lacks one of " << joined(r.needles);
    }
    return;
  }
  Function f;
  try {
    f = s.load(r.expr, r.decl, {.scalar = r.scalar});
  } catch (const Error& e) {
    ADD_FAILURE() << "expected the types '" << r.types << "', got a " << error_kind_name(e.kind())
                  << " error: " << e.what();
    return;
  }
  EXPECT_EQ(f.declaration_text(), r.types);
  // The per-symbol declarations are the same text, symbol by symbol.
  std::string from_symbols;
  for (const SymbolInfo& si : f.symbols) from_symbols += (from_symbols.empty() ? "" : "; ") + si.declaration;
  EXPECT_EQ(from_symbols, f.declaration_text());
  if (r.scalar) {
    EXPECT_TRUE(f.expression.is_scalar()) << "shape " << f.expression.shape();
  }
  if (r.outcome == Outcome::Silent) {
    EXPECT_TRUE(f.warnings.empty()) << "unexpected warnings:" << all_warnings(f);
  } else {
    bool found = false;
    for (const Warning& w : f.warnings) found = found || contains_all(w.message, r.needles);
    EXPECT_TRUE(found) << "no warning contains all of " << joined(r.needles) << "; warnings:" << all_warnings(f);
    for (const Warning& w : f.warnings) {
      EXPECT_GT(w.column, 0) << "a warning points nowhere: " << w.message;
      EXPECT_LE(w.column + w.length - 1, static_cast<int>(f.source.size())) << w.message;
    }
  }
  // strict: a warning becomes an Inference error, silence stays silence.
  try {
    Function g = s.load(r.expr, r.decl, {.scalar = r.scalar, .strict = true});
    EXPECT_EQ(r.outcome, Outcome::Silent) << "strict loads despite the warnings:" << all_warnings(f);
    EXPECT_EQ(g.declaration_text(), f.declaration_text());
  } catch (const Error& e) {
    EXPECT_EQ(r.outcome, Outcome::Warns) << "strict fails on a silent row: " << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::Inference) << e.what();
  }
}

// gtest names a failing row by its expression, not by its bytes.
void PrintTo(const Row& r, std::ostream* os) { *os << "'" << r.expr << "'"; }

class InferenceTable : public ::testing::TestWithParam<Row> {};

std::vector<std::string> failures_of(const Row& r);

// A row; a known failure must still fail.
void run_row(const Row& r) {
  if (!r.known) {
    check_row(r);
    return;
  }
  std::vector<std::string> failures = failures_of(r);
  EXPECT_FALSE(failures.empty()) << "the known failure '" << r.known << "' of row " << r.name
                                 << " is fixed: remove its marker";
  for (const std::string& m : failures)
    std::cout << "[ KNOWN    ] " << r.name << " (" << r.known << "): " << m.substr(0, m.find('\n')) << "\n";
}

TEST_P(InferenceTable, Row) { run_row(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Spec, InferenceTable, ::testing::ValuesIn(kRows),
                         [](const ::testing::TestParamInfo<Row>& info) { return std::string(info.param.name); });

TEST(InferenceTableRows, NamesAreUniqueAndEveryOutcomeIsPresent) {
  std::set<std::string> names;
  std::set<Outcome> outcomes;
  int warns_or_fails_without_needles = 0;
  for (const Row& r : kRows) {
    EXPECT_TRUE(names.insert(r.name).second) << "row name twice: " << r.name;
    outcomes.insert(r.outcome);
    if (r.outcome != Outcome::Silent && r.needles.empty()) ++warns_or_fails_without_needles;
  }
  EXPECT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(warns_or_fails_without_needles, 0);
}

// The failures check_row reports for a row, one message each.
std::vector<std::string> failures_of(const Row& r) {
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    check_row(r);
  }
  std::vector<std::string> out;
  for (int i = 0; i < results.size(); ++i) out.push_back(results.GetTestPartResult(i).message());
  return out;
}

bool some_failure_says(const Row& r, const std::string& what) {
  for (const std::string& m : failures_of(r))
    if (m.find(what) != std::string::npos) return true;
  return false;
}

// The checker itself fails on wrong expectations: a wrong type, a warning
// where there is none, an error where the load succeeds, a wrong error kind,
// a message without the needle.
TEST(InferenceTableRows, WrongRowsFail) {
  EXPECT_TRUE(some_failure_says({"wrong_types", "A*x + b", "A: matrix(n,k)", kEval,
                                 "A: matrix(n,k); x: vector(n); b: vector(n)", Outcome::Silent},
                                "declaration_text"));
  EXPECT_TRUE(some_failure_says({"wrong_warning",
                                 "A*x + b",
                                 "A: matrix(n,k)",
                                 kEval,
                                 "A: matrix(n,k); x: vector(k); b: vector(n)",
                                 Outcome::Warns,
                                 {"A"}},
                                "no warning contains"));
  EXPECT_TRUE(
      some_failure_says({"wrong_error", "x'*x", "x: vector(n)", kGrad, "", Outcome::Fails, {"x"}}, "expected a"));
  EXPECT_TRUE(some_failure_says(
      {"wrong_kind", "x + A", "x: vector(n); A: matrix(n,n)", kEval, "", Outcome::Fails, {}, ErrorKind::Syntax},
      "syntax error"));
  EXPECT_TRUE(some_failure_says({"wrong_needle",
                                 "x + A",
                                 "x: vector(n); A: matrix(n,n)",
                                 kEval,
                                 "",
                                 Outcome::Fails,
                                 {"no such text"},
                                 ErrorKind::Shape},
                                "lacks one of"));
  // a known failure that passes says so
  ::testing::TestPartResultArray results;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
    run_row({"fixed", "x'*x", "", kGrad, "x: vector(n)", Outcome::Silent, {}, ErrorKind::Inference, "a known one"});
  }
  ASSERT_EQ(results.size(), 1);
  EXPECT_NE(std::string(results.GetTestPartResult(0).message()).find("is fixed"), std::string::npos);
  // and a right row reports nothing
  EXPECT_TRUE(failures_of({"right", "A*x + b", "A: matrix(n,k)", kEval, "A: matrix(n,k); x: vector(k); b: vector(n)",
                           Outcome::Silent})
                  .empty());
}

}  // namespace
}  // namespace matcalc
