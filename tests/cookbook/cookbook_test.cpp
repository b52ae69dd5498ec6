// The cookbook suite: gradients "of the Matrix Cookbook kind", each checked
// against an independent oracle.
//
// Every row gives an expression, its declarations ("" exercises inference),
// one or more variables, and for each variable the CLOSED FORM of the
// gradient from the literature (The Matrix Cookbook, Petersen & Pedersen,
// 2012, section numbers in the comments; or the standard derivation noted
// beside the row), written in matcalc's language and NOT copied from what
// matcalc prints. For each row the test
//   1. compiles the expression (want_scalar), simplifies it and computes the
//      symbolic gradients w.r.t. the variables;
//   2. draws random inputs inside the domain (random_inputs; a fixed seed per
//      row, derived from its name and printed in every failure message;
//      dimensions random in [2,5] unless the row fixes them);
//   3. compares each symbolic gradient with central finite differences
//      (relative error <= 1e-5, or an absolute error at rounding-noise level);
//   4. compiles the closed form in the same Context with the same
//      declarations (for an inferred row: the declarations inference found,
//      so that the symbols are shared) and checks that it evaluates equal to
//      the symbolic gradient (relative 1e-8);
//   5. prints the gradient (to_text), compiles the text back in the same
//      context with the same declarations, and checks it evaluates equal.
// Gradient convention (LANGUAGE.md): G[i,j] = df/dX[i,j]; for a symmetric
// variable, sym(G).
//
// Expected failures: a row whose `known_bug` is set documents an engine bug.
// The test then asserts that the row still FAILS (so a fix is noticed and the
// marker removed); its failure details are printed for reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "diff/gradient.hpp"
#include "eval/check.hpp"
#include "eval/evaluate.hpp"
#include "ir/error.hpp"
#include "parse/typecheck.hpp"
#include "print/text.hpp"
#include "simplify/simplify.hpp"

using namespace matcalc;

namespace {

struct Case {
  const char* name;
  const char* expr;
  const char* decls;                         // "" exercises inference
  const char* wrt;                           // comma separated: "W,s"
  std::vector<const char*> closed;           // one closed form per variable
  std::map<std::string, std::int64_t> dims = {};  // fixed dimension sizes (others random)
  const char* known_bug = nullptr;           // engine bug: the row must still fail
};

// clang-format off
const std::vector<Case> kCases = {
  // ---- Determinants (Cookbook 2.1.2, eqs. 49-53) ---------------------------
  {"det", "det(X)", "X: matrix(n,n)", "X", {"det(X)*inv(X)'"}},
  {"det-inferred", "det(X)", "", "X", {"det(X)*inv(X)'"}},
  {"det-AXB", "det(A*X*B)", "A: matrix(n,n); X: matrix(n,n); B: matrix(n,n)", "X",
   {"det(A*X*B)*inv(X)'"}},                                               // eq. 50
  {"det-XtX", "det(X'*X)", "X: matrix(n,k)", "X",
   {"2*det(X'*X)*X*inv(X'*X)"}, {{"n", 5}, {"k", 3}}},                    // eq. 52
  {"det-X2", "det(X^2)", "X: matrix(n,n)", "X", {"2*det(X^2)*inv(X)'"}},  // eq. 53, k=2
  {"det-sym", "det(S)", "S: symmetric(n)", "S", {"det(S)*inv(S)"}},
  // ---- Log-determinants (eqs. 51, 55, 57) -----------------------------------
  {"logdet", "logdet(X)", "X: matrix(n,n)", "X", {"inv(X)'"}},            // eq. 57
  {"log-det-inferred", "log(det(X))", "", "X", {"inv(X)'"}},
  {"logdet-XtX", "logdet(X'*X)", "X: matrix(n,k)", "X",
   {"2*X*inv(X'*X)"}, {{"n", 5}, {"k", 3}}},                              // eq. 55
  {"logdet-inv", "logdet(inv(X))", "X: matrix(n,n)", "X", {"-inv(X)'"}},
  {"logdet-sym", "logdet(S)", "S: symmetric(n)", "S", {"inv(S)"}},
  {"logdet-ppca-seed", "log(det(W*W' + s^2*I))", "", "W,s",
   {"2*inv(W*W' + s^2*I)*W", "2*s*tr(inv(W*W' + s^2*I))"}},
  {"logdet-ppca-declared", "logdet(W*W' + s^2*eye(n))", "W: matrix(n,k); s: scalar", "W,s",
   {"2*inv(W*W' + s^2*eye(n))*W", "2*s*tr(inv(W*W' + s^2*eye(n)))"}},
  {"logdet-shift-scalar", "logdet(S + t*I)", "S: symmetric(n); t: scalar", "t",
   {"tr(inv(S + t*eye(n)))"}},
  // ---- Traces (Cookbook 2.5) --------------------------------------------------
  {"tr-X", "tr(X)", "X: matrix(n,n)", "X", {"eye(n)"}},                   // eq. 100
  {"tr-AX", "tr(A*X)", "A: matrix(k,n); X: matrix(n,k)", "X", {"A'"}},    // eq. 101
  {"tr-AXB", "tr(A*X*B)", "A: matrix(m,n); X: matrix(n,k); B: matrix(k,m)", "X", {"A'*B'"}},
  {"tr-AXtB", "tr(A*X'*B)", "A: matrix(m,k); X: matrix(n,k); B: matrix(n,m)", "X", {"B*A"}},  // eq. 102
  {"tr-XtX", "tr(X'*X)", "X: matrix(n,k)", "X", {"2*X"}},
  {"tr-XBXt", "tr(X*B*X')", "X: matrix(n,k); B: matrix(k,k)", "X", {"X*B' + X*B"}},          // eq. 109
  {"tr-XtBX", "tr(X'*B*X)", "X: matrix(n,k); B: matrix(n,n)", "X", {"B*X + B'*X"}},          // eq. 108
  {"tr-AXBX", "tr(A*X*B*X)", "A: matrix(n,n); X: matrix(n,n); B: matrix(n,n)", "X",
   {"A'*X'*B' + B'*X'*A'"}},                                              // eq. 110
  {"tr-X2", "tr(X^2)", "X: matrix(n,n)", "X", {"2*X'"}},                  // eq. 112
  {"tr-X3", "tr(X^3)", "X: matrix(n,n)", "X", {"3*(X^2)'"}},              // eq. 114
  {"tr-X2B", "tr(X^2*B)", "X: matrix(n,n); B: matrix(n,n)", "X", {"(X*B + B*X)'"}},        // eq. 113
  {"tr-invX", "tr(inv(X))", "X: matrix(n,n)", "X", {"-(inv(X)*inv(X))'"}},                 // eq. 124
  {"tr-AinvXB", "tr(A*inv(X)*B)", "A: matrix(m,n); X: matrix(n,n); B: matrix(n,m)", "X",
   {"-(inv(X)*B*A*inv(X))'"}},                                            // eq. 125
  {"tr-AXpow-1", "tr(A*X^-1)", "A: matrix(n,n); X: matrix(n,n)", "X", {"-(inv(X)*A*inv(X))'"}},
  {"frobenius", "A : X", "A: matrix(n,k); X: matrix(n,k)", "X", {"A"}},
  {"tr-AX-inferred", "tr(A*X)", "", "X,A", {"A'", "X'"}},
  // ---- Matrix powers in forms (eqs. 61, 90) -------------------------------------
  {"aX2b", "a'*X^2*b", "a: vector(n); X: matrix(n,n); b: vector(n)", "X",
   {"a*b'*X' + X'*a*b'"}},                                                // eq. 90, n=2
  {"aX3b", "a'*X^3*b", "a: vector(n); X: matrix(n,n); b: vector(n)", "X",
   {"a*b'*(X^2)' + X'*a*b'*X' + (X^2)'*a*b'"}},                           // eq. 90, n=3
  {"a-invX-b", "a'*X^-1*b", "a: vector(n); X: matrix(n,n); b: vector(n)", "X",
   {"-inv(X)'*a*b'*inv(X)'"}},                                            // eq. 61
  {"sum-invX", "sum(inv(X))", "X: matrix(n,n)", "X", {"-inv(X)'*ones(n,n)*inv(X)'"}},
  // ---- Norms (Cookbook 2.6, 10.4) -------------------------------------------------
  {"norm2-vec", "norm2(x)", "x: vector(n)", "x", {"x/norm2(x)"}},          // eq. 131
  {"norm2sq-vec", "norm2(x)^2", "x: vector(n)", "x", {"2*x"}},
  {"norm2-frob", "norm2(X)", "X: matrix(n,k)", "X", {"X/norm2(X)"}},
  {"norm2sq-frob", "norm2(X)^2", "X: matrix(n,k)", "X", {"2*X"}},          // eq. 133
  {"norm1-vec", "norm1(x)", "x: vector(n)", "x", {"sign(x)"}},
  {"norm1-mat", "norm1(X)", "X: matrix(n,k)", "X", {"sign(X)"}},
  {"norm2-residual", "norm2(A*x - b)", "A: matrix(m,n); x: vector(n); b: vector(m)", "x",
   {"A'*(A*x - b)/norm2(A*x - b)"}},
  {"norm1-residual", "norm1(A*x - b)", "A: matrix(m,n); x: vector(n); b: vector(m)", "x",
   {"A'*sign(A*x - b)"}},
  {"xtx-inferred", "x'*x", "", "x", {"2*x"}},
  // ---- Elementwise functions ---------------------------------------------------
  {"sum-exp", "sum(exp(x))", "x: vector(n)", "x", {"exp(x)"}},
  {"sum-log", "sum(log(x))", "x: vector(n)", "x", {"ones(n)./x"}},
  {"sum-sqrt", "sum(sqrt(x))", "x: vector(n)", "x", {"0.5*ones(n)./sqrt(x)"}},
  {"sum-sin-mat", "sum(sin(X))", "X: matrix(n,k)", "X", {"cos(X)"}},
  {"a-cos", "a'*cos(x)", "a: vector(n); x: vector(n)", "x", {"-a.*sin(x)"}},
  {"sum-tan", "sum(tan(0.5*x))", "x: vector(n)", "x", {"0.5*(ones(n) + tan(0.5*x).^2)"}},
  {"tanh-layer", "sum(tanh(W*x))", "W: matrix(m,n); x: vector(n)", "W,x",
   {"(ones(m) - tanh(W*x).^2)*x'", "W'*(ones(m) - tanh(W*x).^2)"}},
  {"a-abs", "a'*abs(x)", "a: vector(n); x: vector(n)", "x", {"a.*sign(x)"}},
  {"sum-sigmoid", "sum(sigmoid(x))", "x: vector(n)", "x", {"sigmoid(x).*(ones(n) - sigmoid(x))"}},
  {"sum-softplus", "sum(softplus(x))", "x: vector(n)", "x", {"sigmoid(x)"}},
  {"relu-layer", "a'*relu(W*x)", "a: vector(m); W: matrix(m,n); x: vector(n)", "W",
   {"(a.*(ones(m) + sign(W*x))/2)*x'"}},
  {"cube", "sum(x.^3)", "x: vector(n)", "x", {"3*x.^2"}},
  {"pow-frac", "sum(x.^1.5)", "x: vector(n)", "x", {"1.5*sqrt(x)"}},
  {"pow-neg", "sum(x.^-2)", "x: vector(n)", "x", {"-2*x.^-3"}},
  {"ediv", "sum(a./x)", "a: vector(n); x: vector(n)", "x,a", {"-a./(x.*x)", "ones(n)./x"}},
  {"hadamard-quad", "x'*(a.*x)", "a: vector(n); x: vector(n)", "x,a", {"2*a.*x", "x.*x"}},
  {"hadamard-mat", "sum(A.*X.*X)", "A: matrix(n,k); X: matrix(n,k)", "X", {"2*A.*X"}},
  {"exp-quad", "exp(x'*A*x)", "x: vector(n); A: matrix(n,n)", "x", {"exp(x'*A*x)*(A + A')*x"}},
  {"log-quad-sym", "log(x'*S*x)", "x: vector(n); S: symmetric(n)", "x,S",
   {"2*S*x/(x'*S*x)", "x*x'/(x'*S*x)"}},
  {"sum-log-mat", "sum(log(X))", "X: matrix(n,k)", "X", {"ones(n,k)./X"}},
  {"scalar-log1p", "log(s^2 + 1)", "s: scalar", "s", {"2*s/(s^2 + 1)"}},
  {"sqrt-inferred", "sum(sqrt(x)) + sum(exp(x))", "", "x", {"0.5*x.^-0.5 + exp(x)"}},
  // ---- Quadratic and bilinear forms (Cookbook 2.4.2, 2.4.3) ----------------------
  {"xAx", "x'*A*x", "x: vector(n); A: matrix(n,n)", "x,A", {"(A + A')*x", "x*x'"}},  // eqs. 81, 72
  {"xAx-inferred", "x'*A*x", "", "x", {"(A + A')*x"}},
  {"xSx-sym", "x'*S*x", "x: vector(n); S: symmetric(n)", "x,S", {"2*S*x", "x*x'"}},  // eq. 85
  {"aXb", "a'*X*b", "a: vector(n); X: matrix(n,k); b: vector(k)", "X", {"a*b'"}},     // eq. 70
  {"aXtb", "a'*X'*b", "a: vector(k); X: matrix(n,k); b: vector(n)", "X", {"b*a'"}},   // eq. 71
  {"aXa", "a'*X*a", "a: vector(n); X: matrix(n,n)", "X", {"a*a'"}},                   // eq. 72
  {"aXtXb", "a'*X'*X*b", "a: vector(k); X: matrix(n,k); b: vector(k)", "X", {"X*(a*b' + b*a')"}},  // eq. 77
  {"aXXtb", "a'*X*X'*b", "a: vector(n); X: matrix(n,k); b: vector(n)", "X", {"(a*b' + b*a')*X"}},
  {"bXtDXc", "b'*X'*D*X*c", "b: vector(k); X: matrix(n,k); D: matrix(n,n); c: vector(k)", "X",
   {"D'*X*b*c' + D*X*c*b'"}},                                             // eq. 79
  {"affine-bilinear", "(A*x + b)'*C*(D*x + e)",
   "A: matrix(m,n); x: vector(n); b: vector(m); C: matrix(m,p); D: matrix(p,n); e: vector(p)", "x",
   {"A'*C*(D*x + e) + D'*C'*(A*x + b)"}},                                 // eq. 80
  {"Xb-c-quad", "(X*b + c)'*D*(X*b + c)", "X: matrix(n,k); b: vector(k); c: vector(n); D: matrix(n,n)", "X",
   {"(D + D')*(X*b + c)*b'"}},                                            // eq. 82
  {"quad-plus-linear", "x'*A*x + b'*x", "x: vector(n); A: matrix(n,n); b: vector(n)", "x,b",
   {"(A + A')*x + b", "x"}},
  {"xAAx", "x'*A*A*x", "x: vector(n); A: matrix(n,n)", "x", {"(A^2 + (A^2)')*x"}},
  {"linear-forms-product", "(a'*x)*(b'*x)", "a: vector(n); b: vector(n); x: vector(n)", "x",
   {"a*b'*x + b*a'*x"}},
  {"linear-form-squared", "(a'*x)^2", "a: vector(n); x: vector(n)", "x", {"2*a*a'*x"}},
  {"aSb-sym", "a'*S*b", "a: vector(n); S: symmetric(n); b: vector(n)", "S", {"(a*b' + b*a')/2"}},
  // ---- Least squares ----------------------------------------------------------------
  {"lsq", "norm2(A*x - b)^2", "A: matrix(m,n); x: vector(n); b: vector(m)", "x,b,A",
   {"2*A'*(A*x - b)", "-2*(A*x - b)", "2*(A*x - b)*x'"}},
  {"lsq-inferred", "norm2(A*x - b)^2", "", "x", {"2*A'*(A*x - b)"}},
  {"ridge", "norm2(A*x - b)^2 + lam*norm2(x)^2", "A: matrix(m,n); x: vector(n); b: vector(m); lam: scalar",
   "x,lam", {"2*A'*(A*x - b) + 2*lam*x", "x'*x"}},
  {"lsq-matrix", "norm2(X*W - Y)^2", "X: matrix(m,n); W: matrix(n,k); Y: matrix(m,k)", "W",
   {"2*X'*(X*W - Y)"}},
  {"weighted-lsq", "(A*x - b)'*S*(A*x - b)", "A: matrix(m,n); x: vector(n); b: vector(m); S: symmetric(m)",
   "x,S", {"2*A'*S*(A*x - b)", "(A*x - b)*(A*x - b)'"}},
  {"lsq-scalar-step", "norm2(X - t*A)^2", "X: matrix(n,k); A: matrix(n,k); t: scalar", "t",
   {"-2*tr(A'*(X - t*A))"}},
  // ---- Logistic regression ----------------------------------------------------------
  {"logreg-softplus", "sum(softplus(-y .* (X*w)))", "X: matrix(m,n); w: vector(n); y: vector(m)", "w,X",
   {"-X'*(y.*sigmoid(-y.*(X*w)))", "-(y.*sigmoid(-y.*(X*w)))*w'"}},
  {"logreg-log1pexp", "sum(log(ones(m) + exp(-y .* (X*w))))", "X: matrix(m,n); w: vector(n); y: vector(m)", "w",
   {"-X'*(y.*sigmoid(-y.*(X*w)))"}},
  {"logreg-xent", "-(y'*log(sigmoid(X*w)) + (ones(m) - y)'*log(ones(m) - sigmoid(X*w)))",
   "X: matrix(m,n); w: vector(n); y: vector(m)", "w", {"X'*(sigmoid(X*w) - y)"}},
  {"logreg-l2", "sum(softplus(-y .* (X*w))) + lam/2*(w'*w)",
   "X: matrix(m,n); w: vector(n); y: vector(m); lam: scalar", "w",
   {"-X'*(y.*sigmoid(-y.*(X*w))) + lam*w"}},
  // ---- Softmax cross-entropy -----------------------------------------------------
  {"softmax-xent", "-y'*log(softmax(W*x))", "W: matrix(m,n); x: vector(n); y: vector(m)", "W,x",
   {"(sum(y)*softmax(W*x) - y)*x'", "W'*(sum(y)*softmax(W*x) - y)"}},
  {"logsumexp-xent", "logsumexp(W*x) - y'*W*x", "W: matrix(m,n); x: vector(n); y: vector(m)", "W,x",
   {"(softmax(W*x) - y)*x'", "W'*(softmax(W*x) - y)"}},
  {"logsumexp", "logsumexp(x)", "x: vector(n)", "x", {"softmax(x)"}},
  {"a-softmax", "a'*softmax(x)", "a: vector(n); x: vector(n)", "x",
   {"softmax(x).*a - softmax(x)*softmax(x)'*a"}},
  // ---- kron, vec, diag, sym -------------------------------------------------------
  {"kron-norm", "kron(x, y)'*kron(x, y)", "x: vector(n); y: vector(m)", "x,y",
   {"2*x*y'*y", "2*y*x'*x"}},
  {"kron-norm2sq", "norm2(kron(x, y))^2", "x: vector(n); y: vector(m)", "x,y",
   {"2*x*y'*y", "2*y*x'*x"}},
  {"kron-sum", "sum(kron(x, y))", "x: vector(n); y: vector(m)", "x", {"sum(y)*ones(n)"}},
  {"kron-weighted", "sum(kron(a, y).*kron(x, b))", "a: vector(n); x: vector(n); y: vector(m); b: vector(m)", "x",
   {"a*b'*y"}},                                                          // (a kron y) .* (x kron b) = (a.*x) kron (y.*b)
  {"vec-inner", "vec(X)'*vec(A)", "X: matrix(n,k); A: matrix(n,k)", "X", {"A"}},
  {"vec-dist", "norm2(vec(X) - vec(Y))^2", "X: matrix(n,k); Y: matrix(n,k)", "X,Y", {"2*(X - Y)", "2*(Y - X)"}},
  {"diag-part", "a'*diag(X)", "a: vector(n); X: matrix(n,n)", "X,a", {"diag(a)", "diag(X)"}},
  {"diag-matrix", "tr(diag(x)*A)", "x: vector(n); A: matrix(n,n)", "x", {"diag(A)"}},
  {"diag-quad", "x'*diag(d)*x", "x: vector(n); d: vector(n)", "x,d", {"2*d.*x", "x.*x"}},
  {"diag-norm", "norm2(diag(X))^2", "X: matrix(n,n)", "X", {"2*diag(diag(X))"}},
  {"sym-trace", "tr(sym(X)*A)", "X: matrix(n,n); A: matrix(n,n)", "X", {"(A + A')/2"}},
  {"sym-quad", "a'*sym(X)*a", "a: vector(n); X: matrix(n,n)", "X", {"a*a'"}},
  // ---- Symmetric variables (gradient sym(G)) -----------------------------------------
  {"sym-trAS", "tr(A*S)", "A: matrix(n,n); S: symmetric(n)", "S", {"(A + A')/2"}},
  {"sym-logdet-minus-tr", "logdet(S) - tr(S*B)", "S: symmetric(n); B: matrix(n,n)", "S",
   {"inv(S) - (B + B')/2"}},
  {"sym-tr-invS-A", "tr(inv(S)*A)", "S: symmetric(n); A: matrix(n,n)", "S",
   {"-inv(S)*(A + A')/2*inv(S)"}},
  {"sym-x-invS-x", "x'*inv(S)*x", "x: vector(n); S: symmetric(n)", "S,x",
   {"-inv(S)*x*x'*inv(S)", "2*inv(S)*x"}},
  {"sym-frob", "norm2(S)^2", "S: symmetric(n)", "S", {"2*S"}},
  {"sym-trS2", "tr(S^2)", "S: symmetric(n)", "S", {"2*S"}},
  {"sym-aSb-hadamard", "sum(S.*A)", "S: symmetric(n); A: matrix(n,n)", "S", {"(A + A')/2"}},
  // ---- Probabilistic PCA ----------------------------------------------------------
  {"ppca-nll", "N/2*logdet(W*W' + s^2*I) + 1/2*tr(inv(W*W' + s^2*I)*S)",
   "W: matrix(n,k); s: scalar; N: scalar; S: symmetric(n)", "W,s,S",
   {"N*inv(W*W' + s^2*eye(n))*W - inv(W*W' + s^2*eye(n))*S*inv(W*W' + s^2*eye(n))*W",
    "N*s*tr(inv(W*W' + s^2*eye(n))) - s*tr(inv(W*W' + s^2*eye(n))*S*inv(W*W' + s^2*eye(n)))",
    "inv(W*W' + s^2*eye(n))/2"}},
  {"ppca-tr-data", "tr(Y'*(W*W' + s^2*I)*Y)", "Y: matrix(n,m); W: matrix(n,k); s: scalar", "W,s,Y",
   {"2*Y*Y'*W", "2*s*tr(Y'*Y)", "2*(W*W' + s^2*eye(n))*Y"}},
  {"ppca-data-nll", "N*logdet(W*W' + s^2*I) + tr(Y'*inv(W*W' + s^2*I)*Y)",
   "Y: matrix(n,m); W: matrix(n,k); s: scalar; N: scalar", "W,s",
   {"2*N*inv(W*W' + s^2*eye(n))*W - 2*inv(W*W' + s^2*eye(n))*Y*Y'*inv(W*W' + s^2*eye(n))*W",
    "2*N*s*tr(inv(W*W' + s^2*eye(n))) - 2*s*tr(Y'*inv(W*W' + s^2*eye(n))^2*Y)"}},
  // ---- Gaussian log-likelihoods (Cookbook 8.1) -------------------------------------
  {"gauss-loglik", "-1/2*logdet(S) - 1/2*(x - mu)'*inv(S)*(x - mu)", "x: vector(n); mu: vector(n); S: symmetric(n)",
   "mu,x,S",
   {"inv(S)*(x - mu)", "-inv(S)*(x - mu)",
    "-inv(S)/2 + inv(S)*(x - mu)*(x - mu)'*inv(S)/2"}},
  {"gauss-precision-data", "N/2*logdet(P) - 1/2*tr(P*(X - mu*ones(m)')*(X - mu*ones(m)')')",
   "P: symmetric(n); X: matrix(n,m); mu: vector(n); N: scalar", "mu,P",
   {"P*(X - mu*ones(m)')*ones(m)", "N/2*inv(P) - (X - mu*ones(m)')*(X - mu*ones(m)')'/2"}},
  {"gauss-cholesky", "logdet(L*L') + x'*inv(L*L')*x", "L: matrix(n,n); x: vector(n)", "L",
   {"2*inv(L*L')*L - 2*inv(L*L')*x*x'*inv(L*L')*L"}},
  {"gauss-inferred", "logdet(S) + x'*inv(S)*x", "", "x", {"(inv(S) + inv(S)')*x"}},
  // ---- Scalar variables and small networks ----------------------------------------------
  {"scalar-scale-quad", "s^2*(x'*x)", "s: scalar; x: vector(n)", "s,x", {"2*s*(x'*x)", "2*s^2*x"}},
  {"scalar-inv-shift", "x'*inv(A + s^2*I)*x", "x: vector(n); A: symmetric(n); s: scalar", "s",
   {"-2*s*x'*inv(A + s^2*eye(n))^2*x"}},
  {"two-layer-relu", "norm2(V*relu(W*x) - y)^2", "V: matrix(p,h); W: matrix(h,n); x: vector(n); y: vector(p)", "W,V",
   {"((V'*(V*relu(W*x) - y)).*(ones(h) + sign(W*x)))*x'", "2*(V*relu(W*x) - y)*relu(W*x)'"}},
  {"ones-Xa", "sum(X*a)", "X: matrix(n,k); a: vector(k)", "X,a", {"ones(n)*a'", "X'*ones(n)"}},
};
// clang-format on

std::uint64_t seed_of(const std::string& name) {  // FNV-1a: stable per row
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Declarations text for the symbols inference found, so that the closed form
// and the printed gradient compile to the same symbols.
std::string declarations_of(const std::map<std::string, Expr>& symbols) {
  std::string out;
  for (const auto& [name, sym] : symbols) {
    if (!out.empty()) out += "; ";
    out += name + ": ";
    if (sym->symmetric)
      out += "symmetric(" + sym->shape.rows.str() + ")";
    else if (sym->is_scalar())
      out += "scalar";
    else if (sym->shape.cols.is_one())
      out += "vector(" + sym->shape.rows.str() + ")";
    else
      out += "matrix(" + sym->shape.rows.str() + "," + sym->shape.cols.str() + ")";
  }
  return out;
}

double relative_difference(const Matrix& a, const Matrix& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return INFINITY;
  return (a - b).norm() / std::max({a.norm(), b.norm(), 1e-12});
}

std::string matrix_text(const Matrix& m) {
  std::ostringstream os;
  os.precision(10);
  os << "[" << m.rows() << "x" << m.cols() << "]";
  if (m.size() <= 25) {
    Eigen::IOFormat fmt(Eigen::StreamPrecision, Eigen::DontAlignCols, ", ", "; ", "", "", "[", "]");
    os << " " << m.format(fmt);
  }
  return os.str();
}

// Runs every check of one row; returns the failures (empty when it passes).
std::vector<std::string> run_case(const Case& c, std::string& log) {
  std::vector<std::string> fails;
  const std::uint64_t seed = seed_of(c.name);
  std::ostringstream lg;
  lg << "row '" << c.name << "' seed=" << seed << " expr: " << c.expr << "  decls: \"" << c.decls
     << "\"  wrt: " << c.wrt << "\n";
  auto fail = [&](const std::string& what) { fails.push_back(what); };
  std::string stage = "setup";
  try {
    Context cx;
    const std::vector<std::string> names = split_names(c.wrt);
    if (names.size() != c.closed.size()) {
      fail("table error: " + std::to_string(names.size()) + " variables but " +
           std::to_string(c.closed.size()) + " closed forms");
      log = lg.str();
      return fails;
    }
    TypecheckOptions opt;
    opt.want_scalar = true;
    opt.extra_names = names;
    stage = "compiling the expression";
    TypedProgram prog = compile(cx, c.expr, c.decls, opt);
    const std::string decls = *c.decls ? std::string(c.decls) : declarations_of(prog.symbols);
    lg << "  declarations used for closed forms: " << decls << "\n";
    stage = "simplifying the expression";
    Expr f = simplify(prog.expr);
    std::vector<Expr> wrt;
    for (const auto& n : names) {
      auto it = prog.symbols.find(n);
      if (it == prog.symbols.end()) {
        fail("no symbol '" + n + "' in the expression");
        log = lg.str();
        return fails;
      }
      wrt.push_back(it->second);
    }
    stage = "differentiating";
    std::vector<Expr> grads = gradients(f, wrt);

    // Closed forms and printed gradients, compiled in the same context.
    std::vector<Expr> closed, reparsed;
    std::vector<std::string> texts;
    for (std::size_t k = 0; k < wrt.size(); ++k) {
      texts.push_back(to_text(grads[k]));
      lg << "  d/d" << names[k] << ": matcalc: " << texts[k] << "\n"
         << "       closed form: " << c.closed[k] << "\n";
      stage = "compiling the closed form for " + names[k];
      TypedProgram cp = compile(cx, c.closed[k], decls);
      for (const auto& [n, s] : cp.symbols)
        if (!prog.symbols.count(n) || prog.symbols.at(n) != s)
          fail("closed form for " + names[k] + " has a symbol '" + n + "' not shared with the expression");
      closed.push_back(cp.expr);
      TypedProgram rp;
      try {
        rp = compile(cx, texts[k], decls);
      } catch (const Error& e) {
        fail("printed gradient w.r.t. " + names[k] + " does not parse back: " + texts[k] + "\n" +
             format_error(e, texts[k]));
        rp.expr = grads[k];  // keep going with the other checks
      }
      reparsed.push_back(rp.expr);
      if (!(grads[k]->shape == wrt[k]->shape))
        fail("gradient w.r.t. " + names[k] + " has shape " + grads[k]->shape.str() + ", variable " +
             wrt[k]->shape.str());
      if (!(cp.expr->shape == wrt[k]->shape))
        fail("closed form for " + names[k] + " has shape " + cp.expr->shape.str() + ", variable " +
             wrt[k]->shape.str() + " (table error?)");
    }

    // Inputs in the domain of everything that is evaluated.
    std::vector<Expr> roots{f, prog.expr};
    roots.insert(roots.end(), grads.begin(), grads.end());
    roots.insert(roots.end(), closed.begin(), closed.end());
    roots.insert(roots.end(), reparsed.begin(), reparsed.end());
    CheckOptions copts;
    copts.seed = seed;
    copts.dims = c.dims;
    std::mt19937_64 rng(seed);
    stage = "drawing inputs (evaluates every root)";
    Bindings b = random_inputs(roots, prog.symbols, copts, rng);
    lg << "  dims:";
    for (const auto& [d, v] : b.dims) lg << " " << d << "=" << v;
    lg << "\n";

    stage = "evaluating";
    Evaluator ev(b);
    const double fval = ev.eval(f)(0, 0);
    const double f0 = ev.eval(prog.expr)(0, 0);
    if (!(std::fabs(fval - f0) <= 1e-10 * std::max(1.0, std::fabs(f0))))
      fail("simplify changed the value: " + std::to_string(f0) + " -> " + std::to_string(fval));
    const double abs_floor = 1e-9 * std::max(1.0, std::fabs(fval));
    for (std::size_t k = 0; k < wrt.size(); ++k) {
      const Matrix g = ev.eval(grads[k]);
      const Matrix gfd = finite_difference_gradient(prog.expr, wrt[k], b);
      const double rel = relative_difference(g, gfd);
      const double abs_err = (g.rows() == gfd.rows() && g.cols() == gfd.cols()) ? (g - gfd).norm() : INFINITY;
      if (!(rel <= 1e-5 || abs_err < abs_floor))
        fail("d/d" + names[k] + ": symbolic vs finite differences, relative error " + std::to_string(rel) +
             "\n    symbolic: " + matrix_text(g) + "\n    finite d: " + matrix_text(gfd));
      const Matrix cf = ev.eval(closed[k]);
      const double rel_c = relative_difference(g, cf);
      if (!(rel_c <= 1e-8))
        fail("d/d" + names[k] + ": symbolic vs closed form, relative error " + std::to_string(rel_c) +
             "\n    symbolic: " + matrix_text(g) + "\n    closed:   " + matrix_text(cf) +
             "\n    finite d: " + matrix_text(gfd));
      const Matrix rv = ev.eval(reparsed[k]);
      const double rel_r = relative_difference(g, rv);
      if (!(rel_r <= 1e-8))
        fail("d/d" + names[k] + ": printed text evaluates differently, relative error " + std::to_string(rel_r) +
             "\n    text: " + texts[k] + "\n    symbolic: " + matrix_text(g) + "\n    reparsed: " + matrix_text(rv));
    }
  } catch (const Error& e) {
    fail("matcalc error while " + stage + " (" + error_kind_name(e.kind()) + "): " + e.what());
  } catch (const std::exception& e) {
    fail("exception while " + stage + ": " + e.what());
  }
  log = lg.str();
  return fails;
}

// Keeps gtest from dumping the row's bytes in failure lines.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Cookbook : public ::testing::TestWithParam<Case> {};

TEST_P(Cookbook, GradientMatchesClosedForm) {
  const Case& c = GetParam();
  std::string log;
  const std::vector<std::string> fails = run_case(c, log);
  std::string all;
  for (const auto& f : fails) all += "  - " + f + "\n";
  if (c.known_bug) {
    EXPECT_FALSE(fails.empty()) << log << "row '" << c.name << "' is marked known_bug (" << c.known_bug
                                << ") but now passes: the bug looks fixed, remove the marker.";
    if (!fails.empty())
      std::cout << "[ KNOWN BUG ] " << c.name << ": " << c.known_bug << "\n" << log << all;
  } else {
    EXPECT_TRUE(fails.empty()) << log << "failures:\n" << all;
  }
}

std::string test_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s;
  for (char ch : std::string(info.param.name)) s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Table, Cookbook, ::testing::ValuesIn(kCases), test_name);

TEST(CookbookTable, AtLeastSeventyDistinctCases) {
  std::set<std::string> names, exprs;
  for (const auto& c : kCases) {
    EXPECT_TRUE(names.insert(test_name({c, 0})).second) << "duplicate row name " << c.name;
    exprs.insert(std::string(c.expr) + " | " + c.decls + " | " + c.wrt);
  }
  EXPECT_GE(kCases.size(), 70u);
  EXPECT_EQ(exprs.size(), kCases.size()) << "two rows check the same expression and variables";
}

TEST(CookbookTable, CoversInferenceSymmetricAndSeveralVariables) {
  int inferred = 0, symmetric = 0, multi = 0;
  for (const auto& c : kCases) {
    inferred += std::string(c.decls).empty();
    symmetric += std::string(c.decls).find("symmetric") != std::string::npos;
    multi += split_names(c.wrt).size() > 1;
  }
  EXPECT_GE(inferred, 5);
  EXPECT_GE(symmetric, 8);
  EXPECT_GE(multi, 10);
}

}  // namespace
