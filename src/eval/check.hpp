// Numeric verification of gradients: random inputs drawn inside the domain
// of the function, symbolic gradients compared with central finite
// differences against a noise floor measured at the inputs.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "eval/evaluate.hpp"

namespace matcalc {

// Finite differences evaluate the function twice per entry of a variable:
// a variable with more entries than this is a Limit error (smaller --dims).
inline constexpr std::int64_t kMaxCheckedEntries = 10'000;
// The total work of one check, in floating-point operations estimated from
// the sizes (check_work): every evaluation of the function and its
// gradients, finite differences at two steps included. Past it: a Limit
// error before any evaluation, naming the sizes to lower.
inline constexpr double kMaxCheckFlops = 1e10;

struct CheckOptions {
  std::map<std::string, std::int64_t> dims;  // sizes for dimension symbols; others random in [2,5]
  std::uint64_t seed = 1;
  double tolerance = 1e-5;                   // on the relative error
  int attempts = 40;                         // draws tried before giving up on the domain
};

// Sizes for every dimension symbol of the roots and symbols: opts.dims, the
// others distinct in [2,5] where possible, then raised so that every matrix
// that must be invertible can be (an n x n product A*B whose factors have a
// dimension k needs k >= n; inv(A*A') with A n x k is singular for k < n).
std::map<std::string, std::int64_t> choose_dims(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                                                const CheckOptions& opts, std::mt19937_64& rng);

// Random values for `symbols` at which every node of each root evaluates
// (inside the domain of every function), with the sizes of choose_dims.
// Symmetric symbols get symmetric positive definite values; symbols under
// logdet, det, inv, log, sqrt get values that suit them. Throws a Domain
// error after opts.attempts draws.
Bindings random_inputs(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                       const CheckOptions& opts, std::mt19937_64& rng);

// The estimated cost of evaluating every root once at these sizes, in
// floating-point operations (n^3 per factorization, r*m*c per product in
// the cheapest order, one per entry elsewhere, and a fixed cost per node).
double evaluation_flops(std::span<const Expr> roots, const std::map<std::string, std::int64_t>& dims);

// Central finite-difference gradient of the scalar f w.r.t. symbol x at b,
// with step h = step_scale * cbrt(eps) * max(1, |x_ij|) for each entry.
// For a symmetric x the symmetric convention is used (entries (i,j) and
// (j,i) move together; the result matches sym(G)). `steps`, when given,
// receives each entry's h.
Matrix finite_difference_gradient(Expr f, Expr x, const Bindings& b, double step_scale = 1.0, Matrix* steps = nullptr);

// How a comparison came out.
enum class CheckVerdict : std::uint8_t {
  Agrees,         // relative error within the tolerance
  WithinNoise,    // above the tolerance, within the noise floor (itself below kMaxUsefulFloor)
  RoundingLevel,  // the symbolic and the numeric gradient are both at rounding level
  Mismatch,       // the error is above the tolerance and the noise floor
  Unresolved,     // the noise floor is above kMaxUsefulFloor: finite differences cannot tell
};
// A noise floor above this (relative) verifies nothing: Unresolved.
inline constexpr double kMaxUsefulFloor = 1e-2;

struct CheckResult {
  std::string variable;
  double relative_error = 0;          // ||G - G_fd|| / max(||G||, ||G_fd||) (0 when both are 0)
  double abs_error = 0;               // ||G - G_fd||
  double noise_floor = 0;             // relative: the error that rounding and truncation explain
  double gradient_norm = 0;           // ||G||
  double fd_norm = 0;                 // ||G_fd||
  double step_min = 0, step_max = 0;  // the central-difference steps h (first step)
  bool two_steps = false;             // also at 2h: the truncation error was measured
  double f_noise = 0;                 // the rounding noise of one evaluation of f (absolute)
  CheckVerdict verdict = CheckVerdict::Mismatch;
  bool ok = false;  // Agrees, WithinNoise or RoundingLevel
  // Second order (check_derivatives) only:
  int unit_directions = 0;    // the unit directions moved along (all of them, or none)
  int random_directions = 0;  // and the random ones
  double asymmetry = -1;      // a Hessian block of one variable: ||H - H'|| / ||H||; -1 otherwise
};

struct CheckReport {
  bool ok = true;
  Bindings inputs;
  double f_value = 0;
  double work_flops = 0;  // the estimate the work limit was checked against
  std::vector<CheckResult> results;
};

// The estimated total work of check_gradients at these sizes (flops).
double check_work(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                  const std::map<std::string, Expr>& symbols, const std::map<std::string, std::int64_t>& dims);

CheckReport check_gradients(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                            const std::map<std::string, Expr>& symbols, const CheckOptions& opts);

// ------------------------------------------------------------ second order

// The variable's unit directions are all moved along (so the whole matrix is
// compared) up to this many free entries; a few random directions always.
inline constexpr std::int64_t kMaxUnitDirections = 400;
inline constexpr int kRandomDirections = 2;      // beside the unit directions
inline constexpr int kOnlyRandomDirections = 8;  // past kMaxUnitDirections
// A derivative matrix evaluated by check_derivatives has at most this many
// entries (numel(of) * numel(x)): past it, a Limit error.
inline constexpr double kMaxCheckedMatrixEntries = 1 << 22;

// One first derivative of an expression of any shape, `of`, w.r.t. the
// symbol x, compared with central differences along directions D of x:
// (of(x + h*D) - of(x - h*D)) / 2h against `matrix`*vec(D) (a Jacobian; a
// Hessian block when `of` is a gradient), or against `along` with the symbol
// `direction` bound to D (a Hessian-vector product). For a symmetric x the
// directions are symmetric: the unit ones are sym(E_ij), whose central
// differences are the columns (i,j) and (j,i) of the matrix of X -> of(sym(X))
// in full vec coordinates (the convention of diff/jacobian.hpp).
struct DerivativeCheck {
  std::string label;           // names the result ("W", or "W,s" for a cross block)
  Expr of = nullptr;           // what is differentiated
  Expr x = nullptr;            // the variable moved
  Expr matrix = nullptr;       // d vec(of) / d vec(x), numel(of) x numel(x); or null, and then:
  Expr along = nullptr;        // the derivative along `direction`, shaped like `of`
  Expr direction = nullptr;    // a symbol shaped like x, not one of the function's
  bool hessian_block = false;  // `matrix` is a Hessian block of one variable: its asymmetry is judged too
};

// Inputs drawn in the domain of f, every `of` and `matrix` (as for
// check_gradients, from opts.seed), then each check judged like a gradient:
// the relative error in the Frobenius norm over all directions against a
// noise floor measured at the inputs (the spread of `of` and of the
// derivative under perturbations of one ulp; the difference between the
// steps h and 2h when the first comparison fails). A Hessian block of one
// variable also fails when ||H - H'|| / ||H|| is above the tolerance and the
// noise floor. A Limit error, before anything is evaluated, when the
// estimated work is past kMaxCheckFlops or a matrix past
// kMaxCheckedMatrixEntries. `f_value` is set for a scalar f.
CheckReport check_derivatives(Expr f, const std::vector<DerivativeCheck>& checks,
                              const std::map<std::string, Expr>& symbols, const CheckOptions& opts);

}  // namespace matcalc
