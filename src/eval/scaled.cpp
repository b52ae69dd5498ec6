// Scaled scalars and determinants (see scaled.hpp).
#include "eval/scaled.hpp"

#include <utility>
#include <vector>

namespace matcalc {

namespace {

using Index = Eigen::Index;
using Matrix = Eigen::MatrixXd;
__extension__ using Int128 = __int128;

bool is_integer(double p) { return std::isfinite(p) && p == std::round(p); }

// The determinant of a square matrix in scaled form, exactly when every
// entry is an integer and Hadamard's bound keeps every minor below 2^62
// (fraction-free Bareiss elimination in 128-bit integers: each step's
// products of two minors fit, and each division is exact); otherwise from
// an LU factorization with partial pivoting, the product of the pivots
// accumulated with exponent tracking so that it never overflows or
// underflows on the way. Never Cholesky: its square of a product of roots
// is inexact for integer matrices (176 as 175.99999999999994).
// Beyond this order the O(n^3) 128-bit divisions cost more than they are
// worth (and a Hadamard bound below 2^62 is rare): LU instead.
constexpr Index kMaxExactOrder = 100;

bool det_exact_integer(const Matrix& a, Wide& out) {
  const Index n = a.rows();
  if (n > kMaxExactOrder) return false;
  double bound = 1;
  for (Index i = 0; i < n; ++i) {
    double row = 0;
    for (Index j = 0; j < n; ++j) {
      const double v = a(i, j);
      if (!(std::fabs(v) < 9007199254740992.0) || v != std::floor(v)) return false;
      row += v * v;
    }
    bound *= std::max(1.0, std::sqrt(row));  // a zero row: det 0, bound unaffected
    if (bound > 1e18) return false;          // 2^62 = 4.6e18, with margin for rounding
  }
  std::vector<Int128> m(static_cast<std::size_t>(n * n));
  auto at = [&](Index i, Index j) -> Int128& { return m[static_cast<std::size_t>(i * n + j)]; };
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) at(i, j) = static_cast<Int128>(static_cast<std::int64_t>(a(i, j)));
  int sign = 1;
  Int128 prev = 1;
  for (Index k = 0; k < n; ++k) {
    if (at(k, k) == 0) {
      Index p = k + 1;
      while (p < n && at(p, k) == 0) ++p;
      if (p == n) {
        out = Wide{};
        return true;
      }
      for (Index j = 0; j < n; ++j) std::swap(at(k, j), at(p, j));
      sign = -sign;
    }
    for (Index i = k + 1; i < n; ++i) {
      for (Index j = k + 1; j < n; ++j) at(i, j) = (at(k, k) * at(i, j) - at(i, k) * at(k, j)) / prev;
      at(i, k) = 0;
    }
    prev = at(k, k);
  }
  const auto d = static_cast<std::int64_t>(at(n - 1, n - 1));  // |d| <= bound < 2^62
  out = Wide::of(sign * static_cast<double>(d));
  return true;
}

}  // namespace

// x * w for a finite double x, never under- or overflowing on the way.
double scaled(double x, const Wide& w) {
  Wide r = Wide::of(x);
  r *= w;
  return r.to_double();
}

// w^p: an integer p by binary powering (one rounding per step), any other p
// through logarithms split into integer and fraction parts. w > 0 unless p
// is an integer; w != 0 when p < 0 (the callers check both).
Wide wide_pow(Wide w, double p) {
  if (p == 0) return Wide::of(1);
  if (is_integer(p) && std::fabs(p) <= 1e12) {
    auto k = static_cast<std::int64_t>(std::fabs(p));
    Wide r = Wide::of(1), b = w;
    while (k > 0) {
      if (k & 1) r *= b;
      k >>= 1;
      if (k > 0) b *= b;
    }
    return p < 0 ? r.reciprocal() : r;
  }
  // |w|^p = 2^(p log2|m| + p e); the sign is + (w > 0, or an even p).
  const double lm = p * std::log2(std::fabs(w.m));
  const double pe = p * double(w.e);
  const double ei = std::floor(lm) + std::floor(pe);
  const double frac = (lm - std::floor(lm)) + std::fma(p, double(w.e), -std::floor(pe));
  if (!(std::fabs(ei) < double(Wide::kClamp))) return ei > 0 ? Wide{0.5, Wide::kClamp} : Wide{};
  Wide r{std::exp2(frac), static_cast<std::int64_t>(ei)};
  if (w.m < 0 && is_integer(p) && std::fmod(p, 2) != 0) r.m = -r.m;
  r.normalize();
  return r;
}

Wide det_of(const Matrix& a, const Eigen::PartialPivLU<Matrix>* lu_in) {
  if (a.rows() == 0) return Wide::of(1);
  Wide r;
  if (det_exact_integer(a, r)) return r;
  Eigen::PartialPivLU<Matrix> own;
  if (!lu_in) own.compute(a);
  const Eigen::PartialPivLU<Matrix>& lu = lu_in ? *lu_in : own;
  r = Wide::of(static_cast<double>(lu.permutationP().determinant()));
  const auto d = lu.matrixLU().diagonal();
  for (Index i = 0; i < d.size(); ++i) {
    if (d(i) == 0) return Wide{};
    r *= Wide::of(d(i));
  }
  return r;
}

}  // namespace matcalc
