// Numeric verification of gradients: random inputs drawn inside the domain
// of the function, symbolic gradients compared with central finite
// differences.
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

struct CheckOptions {
  std::map<std::string, std::int64_t> dims;  // sizes for dimension symbols; others random in [2,5]
  std::uint64_t seed = 1;
  double tolerance = 1e-5;                   // on the relative error
  int attempts = 40;                         // draws tried before giving up on the domain
};

// Random values for `symbols` at which every node of each root evaluates
// (inside the domain of every function). Symmetric symbols get symmetric
// positive definite values; symbols under logdet, det, inv, log, sqrt get
// values that suit them. Throws a Domain error after opts.attempts draws.
Bindings random_inputs(std::span<const Expr> roots, const std::map<std::string, Expr>& symbols,
                       const CheckOptions& opts, std::mt19937_64& rng);

// Central finite-difference gradient of the scalar f w.r.t. symbol x at b.
// For a symmetric x the symmetric convention is used (entries (i,j) and
// (j,i) move together; the result matches sym(G)).
Matrix finite_difference_gradient(Expr f, Expr x, const Bindings& b);

struct CheckResult {
  std::string variable;
  double relative_error;   // ||G - G_fd|| / max(||G_fd||, ||G||, 1e-8)
  double abs_error;
  bool ok = false;         // within tolerance, or an absolute error at noise level
};

struct CheckReport {
  bool ok = true;
  Bindings inputs;
  std::vector<CheckResult> results;
};

CheckReport check_gradients(Expr f, const std::vector<Expr>& wrt, const std::vector<Expr>& grads,
                            const std::map<std::string, Expr>& symbols, const CheckOptions& opts);

}  // namespace matcalc
