// Scalars in scaled form, and determinants that never over- or underflow on
// the way (used by evaluate.cpp):
//   - Wide: m * 2^e with m = 0 or 0.5 <= |m| < 1 and a 64-bit exponent, so
//     that products, powers and sums of determinants (det(X)*inv(X)',
//     det(X)^-1) come out right whenever the result is representable,
//     although a factor under- or overflows a double;
//   - det_of: exact for integer matrices up to 100 x 100 within Hadamard's
//     bound (Bareiss elimination in 128-bit integers), else from LU with
//     partial pivoting, the pivot product accumulated with exponent
//     tracking; never Cholesky.
#pragma once
#include <Eigen/Dense>
#include <Eigen/LU>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace matcalc {

struct Wide {
  double m = 0;
  std::int64_t e = 0;

  // Far beyond any double (2^-1074 .. 2^1024): clamped so that exponents of
  // long products never overflow the int64.
  static constexpr std::int64_t kClamp = std::int64_t{1} << 40;

  static Wide of(double x) {  // x finite
    int k = 0;
    const double m = std::frexp(x, &k);
    return {m, m == 0 ? 0 : k};
  }
  void normalize() {
    int k = 0;
    m = std::frexp(m, &k);
    e = m == 0 ? 0 : std::clamp<std::int64_t>(e + k, -kClamp, kClamp);
  }
  Wide& operator*=(const Wide& o) {
    m *= o.m;  // in [0.25, 1): never under- or overflows
    e = std::clamp<std::int64_t>(e + o.e, -kClamp, kClamp);
    normalize();
    return *this;
  }
  Wide reciprocal() const {  // m != 0
    Wide r{1.0 / m, -e};
    r.normalize();
    return r;
  }
  // The nearest double: 0 or a subnormal on underflow, +-inf on overflow.
  double to_double() const {
    if (m == 0) return 0;
    if (e > 2000) return m * std::numeric_limits<double>::infinity();
    if (e < -2000) return m * 0.0;
    return std::ldexp(m, static_cast<int>(e));
  }
  // Whether to_double() is this value within rounding (a normal double or 0).
  bool fits() const { return m == 0 || std::fpclassify(to_double()) == FP_NORMAL; }
};

// x * w for a finite double x, never under- or overflowing on the way.
double scaled(double x, const Wide& w);

// w^p: an integer p by binary powering (one rounding per step), any other p
// through logarithms split into integer and fraction parts. The caller
// checks the domain: w > 0 unless p is an integer, w != 0 when p < 0.
Wide wide_pow(Wide w, double p);

// det(a) of a square matrix; `lu`, when given, is a's LU factorization.
Wide det_of(const Eigen::MatrixXd& a, const Eigen::PartialPivLU<Eigen::MatrixXd>* lu);

}  // namespace matcalc
