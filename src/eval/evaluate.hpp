// Numeric evaluation of IR in double precision with Eigen.
//   - every value is an Eigen::MatrixXd of the node's shape (a scalar is 1x1,
//     a vector n x 1);
//   - each distinct node is evaluated once (memoized by node), so shared
//     subexpressions cost nothing extra; a value is freed after its last
//     read by the nodes still to be evaluated (the roots planned with plan()
//     and the root being evaluated); roots stay. The values held at once
//     are capped (kMaxLiveEntries, docs/limits.md): past it, a Limit error;
//   - det, and scalar products, powers, sums and logs of a det, are computed
//     in scaled form (mantissa and 64-bit exponent), so that a result that is
//     representable comes out right although a factor under- or overflows
//     (det(X)*inv(X)' at X = 1e-200*I); det itself exactly for integer
//     matrices within Hadamard's bound, else from LU with partial pivoting;
//   - inv(A)*B is a solve with a factorization of A, never an explicit
//     inverse; a factorization is computed once per matrix and reused;
//   - logdet uses Cholesky for symmetric matrices (LU when not positive
//     definite) and LU otherwise; never log(det(A));
//   - a value outside a function's domain (singular matrix, log of a
//     non-positive number, det <= 0 under logdet, NaN) is an Error of kind
//     Domain naming the function.
#pragma once
#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ir/node.hpp"

namespace matcalc {

using Matrix = Eigen::MatrixXd;

struct Bindings {
  std::map<std::string, Matrix> values;         // by symbol name, shaped as the symbol
  std::map<std::string, std::int64_t> dims;     // dimension symbol -> size
};

class Evaluator {
 public:
  explicit Evaluator(const Bindings& b);
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;
  // The value of `e`, valid as long as the Evaluator (roots are never freed).
  const Matrix& eval(Expr e);
  // Declares the roots that eval() will be asked for: what they share is
  // kept until the last of them has read it (without a plan, a value that
  // one eval() call no longer needs is freed, and a later root that needs it
  // computes it again).
  void plan(std::span<const Expr> roots);
  // Lowers the cap on the entries held at once (default kMaxLiveEntries =
  // 2^28) and counts the nodes computed so far: for tests.
  void limit_live_entries(std::int64_t entries);
  std::size_t computed() const;
  // After eval threw: the node whose operation failed (an inv(A) that a
  // product solves with, a logdet, a division's y^-1); null when none did.
  Expr failed_at() const;

 private:
  struct Impl;
  Impl* impl_;
};

Matrix evaluate(Expr e, const Bindings& b);
std::vector<Matrix> evaluate(std::span<const Expr> roots, const Bindings& b);

// The concrete size of a symbolic dimension under `b` (Value error if unbound).
std::int64_t dim_value(const Dim& d, const Bindings& b);

}  // namespace matcalc
