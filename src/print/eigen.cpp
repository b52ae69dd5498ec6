// Eigen / C++ code generation (see eigen.hpp and CLI.md). The source written
// here guarantees:
//   - it is self-contained C++17: it includes only <Eigen/Dense>, <cmath>,
//     <stdexcept> and <string>, and everything it defines lives in one
//     namespace (matcalc_generated unless EigenOptions say otherwise), with
//     private helpers in its nested namespace `detail`; every function is
//     inline, so the source can be used as a header;
//   - inputs are members of `Inputs`, read as in.<member>; a symbol's member
//     is its own name unless that is a keyword, a macro of the included
//     headers, reserved or not an identifier; generated locals are t0, t1,
//     ... (temporaries), fac0, ... (factorizations), sym0, ... (symmetric
//     inputs) and d_<dim> (dimensions),
//     so no user name can collide with them;
//   - values follow the IR's shapes with their orientation: double for a
//     scalar, VectorXd for n x 1, RowVectorXd for 1 x n, MatrixXd otherwise;
//     every scalar-shaped value is a double (a row times a column is a
//     .dot()), so no 1 x 1 Eigen object is ever formed; a product of
//     matrices ending in a column is evaluated right to left (matrix-vector
//     products only), else left to right;
//   - entrywise operations go through .array() and back;
//   - inv(A)*B is a solve and B*inv(A) a transposed solve, with one
//     factorization per matrix, computed once and shared by every solve, det,
//     logdet and standalone inverse of it: LLT for structurally symmetric
//     nodes when positive definite, PartialPivLU otherwise (so positive
//     definiteness is tested, never assumed); solves with a singular matrix
//     (reciprocal condition number below 1e-13, as in the evaluator) throw
//     std::domain_error; logdet throws std::domain_error when det <= 0;
//   - det is the product of the pivots renormalized by powers of two, and
//     det(A) and det(A)^p factors of a product are applied last, as c * 2^q
//     with |c| near 1 (Factor::times_det): det(X)*inv(X)' at X = 1e-200*I is
//     1e-200*I although det(X) underflows, and a det whose running product
//     of pivots overflows is still computed; a result too large for a double
//     throws std::domain_error, one too small is 0;
//   - norm2 is the plain 2-norm while its squares stay in range, else Eigen's
//     stableNorm (as the evaluator computes it), never a bare .norm();
//   - every subexpression the code refers to more than once is computed once
//     into a temporary (explicitly typed, so no Eigen expression template
//     outlives its operands), in dependency order, inside one function
//     detail::forward that value, gradient and the second-order function
//     (hessian, jacobian or hvp) share; value() computes only what the value
//     needs;
//   - hessian(in) and jacobian(in) return an Eigen::MatrixXd whatever the
//     IR shape (a 1 x 1 one for a scalar), hvp(in) a value shaped like its
//     variable; hvp's direction is a member of Inputs like every symbol;
//   - a dimension is read off the size of an input that has it; one that no
//     input has is a member dim_<name> of Inputs;
//   - input sizes are checked against the declared shapes and symmetric inputs
//     for symmetry entry by entry (|a_ij - a_ji| <= 1e-10 * max(|a_ij|,
//     |a_ji|, sqrt(|a_ii a_jj|)), as the value-file reader does), throwing
//     std::invalid_argument;
//     a symmetric input is then read through its exactly symmetrized copy, a
//     local sym0, sym1, ...;
//   - numbers are written so that the compiler reads back the same double;
//   - every operator is lowered: from its Eigen column of print/spellings.def
//     (a method, or an entrywise function), or (where the column says Own)
//     by its case of one switch over EigenOwn, no default.
// The target-independent lowering (one pass run twice, first counting how
// often the code refers to each node, then writing; temporaries, stages,
// products, chains and shared factorizations) is codegen::Emitter, shared
// with numpy.cpp; this file supplies C++ syntax and its helpers.
#include "print/eigen.hpp"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <unordered_map>

#include "ir/error.hpp"
#include "print/codegen.hpp"
#include "print/spellings.hpp"

namespace matcalc {

namespace {

// ------------------------------------------------------------ C++ code

using namespace codegen;

// Only an atom goes unparenthesized: -(-x), never --x.
Code negate(const Code& a) { return {"-" + paren_if(a, a.prec < kAtom), kUnary}; }

// x.name(args): a member call on an operand.
Code method(const Code& x, std::string_view name, std::initializer_list<Code> args = {}) {
  return call(as_atom(x) + "." + std::string(name), args);
}

// A double literal that reads back as the same double (never an int: 1/2).
Code cpp_number(double v) { return number_literal(v, "std::nan(\"\")", "HUGE_VAL"); }

// A C++ string literal.
std::string cpp_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f || u >= 0x80) {
      out += fmt::format("\\{:03o}", u);  // octal escapes take at most three digits
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Text inside a // comment: one line, no control characters.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  return out;
}

std::string cpp_type(Kind k) {
  switch (k) {
    case Kind::Scalar: return "double";
    case Kind::Col: return "Eigen::VectorXd";
    case Kind::Row: return "Eigen::RowVectorXd";
    case Kind::Matrix: return "Eigen::MatrixXd";
  }
  return "Eigen::MatrixXd";
}

// x' in code: nothing for a scalar; t.transpose().transpose() is t.
constexpr std::string_view kTransposeSuffix = ".transpose()";
bool ends_in_transpose(const Code& c) {
  return c.prec == kAtom && c.s.size() > kTransposeSuffix.size() && c.s.ends_with(kTransposeSuffix);
}
Code transpose_code(const Code& c, Kind k) {
  if (k == Kind::Scalar) return c;
  // Every atom that ends in .transpose() is <atom>.transpose(): the rest is an atom.
  if (ends_in_transpose(c)) return atom(c.s.substr(0, c.s.size() - kTransposeSuffix.size()));
  return atom(as_atom(c) + std::string(kTransposeSuffix));
}

// ------------------------------------------------------------ names

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s)
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

// Names a member may not have: C++20 keywords and alternative tokens, object
// macros the included headers define, and names the generated code uses.
const std::set<std::string, std::less<>>& unusable_names() {
  static const std::set<std::string, std::less<>> names = {
      // keywords
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case",
      "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const",
      "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await", "co_return",
      "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast", "else", "enum",
      "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int",
      "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr", "operator", "or",
      "or_eq", "private", "protected", "public", "register", "reinterpret_cast", "requires", "return",
      "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct", "switch",
      "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
      "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
      // object-like macros of <cmath>, <string> (<cerrno>, <cstdio>, <cstdlib>) and friends
      "errno", "stdin", "stdout", "stderr", "NULL", "EOF", "BUFSIZ", "FILENAME_MAX", "FOPEN_MAX",
      "L_tmpnam", "TMP_MAX", "SEEK_SET", "SEEK_CUR", "SEEK_END", "EXIT_SUCCESS", "EXIT_FAILURE",
      "RAND_MAX", "MB_CUR_MAX", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL", "INFINITY", "NAN",
      "MATH_ERRNO", "MATH_ERREXCEPT", "math_errhandling", "CHAR_BIT", "INT_MAX", "INT_MIN",
      "LONG_MAX", "LONG_MIN", "SIZE_MAX", "PTRDIFF_MAX", "WCHAR_MAX", "WCHAR_MIN", "WEOF",
      "CLOCKS_PER_SEC", "TIME_UTC", "assert", "linux", "unix", "i386",
      // names of the generated code
      "Inputs", "Gradient", "Eigen", "std", "detail"};
  return names;
}

bool reserved_prefix(std::string_view s) {
  if (s.find("__") != std::string_view::npos) return true;
  if (s.size() >= 2 && s[0] == '_' && s[1] >= 'A' && s[1] <= 'Z') return true;
  for (std::string_view p : {"EIGEN_", "M_", "FP_", "INT", "UINT", "LC_", "SIG", "PRI", "SCN"})
    if (s.starts_with(p) && s.size() > p.size()) {
      // Macro families are all upper case: INT8_MAX, SIGINT, PRId64 (SCN/PRI: then lower).
      if (p == "PRI" || p == "SCN") return true;
      bool upper = true;
      for (char c : s) upper = upper && !(c >= 'a' && c <= 'z');
      if (upper) return true;
    }
  // errno values: E2BIG, EDOM, EINVAL, ...
  if (s.size() >= 3 && s[0] == 'E') {
    bool upper = true;
    for (char c : s) upper = upper && ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    if (upper) return true;
  }
  return false;
}

// A valid, harmless C++ identifier for a user name: the name itself when it
// is one, name_ for a keyword or macro, sym_<escaped> otherwise.
std::string safe_identifier(const std::string& name) {
  if (is_identifier(name) && !reserved_prefix(name)) {
    if (!unusable_names().count(name)) return name;
    return name + "_";
  }
  std::string out = "sym_";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (ok)
      out += c;
    else
      out += fmt::format("_x{:02X}", static_cast<unsigned>(static_cast<unsigned char>(c)));
  }
  // sym_ + letters, digits and _xHH: never a double underscore, never a keyword.
  while (out.find("__") != std::string::npos) out.replace(out.find("__"), 2, "_x5F");
  return out;
}

// Helpers a source may define; only those used are written.
enum class Helper {
  CheckSize,
  CheckSymmetric,
  Factor,
  Norm2,
  MatPow,
  Kron,
  Vec,
  Reshape,
  Sym,
  LogSumExp,
  Softmax,
  Sigmoid,
  Softplus,
  Relu,
  Sign,
  Commutation,
  Permute,
  Finite
};
using Helpers = std::set<Helper>;

std::string helper_source(Helper h) {
  switch (h) {
    case Helper::CheckSize:
      return R"CPP(static inline void check_size(const char* name, const char* shape, Eigen::Index rows, Eigen::Index cols,
                              Eigen::Index want_rows, Eigen::Index want_cols) {
  if (rows != want_rows || cols != want_cols)
    throw std::invalid_argument(std::string("input ") + name + " is " + std::to_string(rows) + " x " +
                                std::to_string(cols) + ", but it is declared " + shape + " = " +
                                std::to_string(want_rows) + " x " + std::to_string(want_cols));
}
)CPP";
    case Helper::CheckSymmetric:
      return R"CPP(// A symmetric input, checked entry by entry as matcalc's values reader does
                   // (|a_ij - a_ji| <= 1e-10 * max(|a_ij|, |a_ji|, sqrt(|a_ii a_jj|))), then made exactly symmetric.
                   static inline Eigen::MatrixXd checked_symmetric(const char* name, const Eigen::MatrixXd& x) {
                     for (Eigen::Index j = 0; j < x.cols(); ++j)
                       for (Eigen::Index i = 0; i < j; ++i) {
                         const double a = x(i, j), b = x(j, i);
                         const double diagonal = std::sqrt(std::fabs(x(i, i))) * std::sqrt(std::fabs(x(j, j)));
                         if (!(std::fabs(a - b) <= 1e-10 * std::fmax(std::fmax(std::fabs(a), std::fabs(b)), diagonal)))
                           throw std::invalid_argument(std::string("input ") + name +
                                                       " is declared symmetric but its value is not: " + "entries (" +
                                                       std::to_string(i + 1) + "," + std::to_string(j + 1) + ") and (" +
                                                       std::to_string(j + 1) + "," + std::to_string(i + 1) +
                                                       ") differ");
                       }
                     return 0.5 * (x + x.transpose());
                   }
      )CPP";
    case Helper::Factor:
      return R"CPP(// One factorization of a square matrix, shared by every solve, inverse, det
                   // and logdet of it: Cholesky when the matrix is symmetric and positive
                   // definite, partial-pivoting LU otherwise.
                   class Factor {
                    public:
                     Factor(const Eigen::MatrixXd& a, bool symmetric) : n_(a.rows()) {
                       if (a.rows() != a.cols()) throw std::invalid_argument("matrix to factorize is not square");
                       if (symmetric) {
                         llt_.compute(a);
                         if (llt_.info() == Eigen::Success && (llt_.matrixLLT().diagonal().array() > 0.0).all()) {
                           cholesky_ = true;
                           rcond_ = llt_.rcond();
                           return;
                         }
                       }
                       lu_.compute(a);
                       zero_pivot_ = (lu_.matrixLU().diagonal().array() == 0.0).any();
                       rcond_ = zero_pivot_ ? 0.0 : lu_.rcond();
                       if (!std::isfinite(rcond_)) rcond_ = 0.0;
                     }
                     // A^-1 b and A^-T b.
                     template <class B>
                     typename B::PlainObject solve(const Eigen::MatrixBase<B>& b) const {
                       require_invertible();
                       if (cholesky_) return llt_.solve(b);
                       return lu_.solve(b);
                     }
                     template <class B>
                     typename B::PlainObject solve_transposed(const Eigen::MatrixBase<B>& b) const {
                       require_invertible();
                       if (cholesky_) return llt_.solve(b);
                       return lu_.transpose().solve(b);
                     }
                     Eigen::MatrixXd inverse() const { return solve(Eigen::MatrixXd::Identity(n_, n_)); }
                     Eigen::MatrixXd inverse_transposed() const { return solve_transposed(Eigen::MatrixXd::Identity(n_, n_)); }
                     // det A; one too large for a double throws, one too small is 0.
                     double det() const {
                       double m = 0.0;
                       long e = 0;
                       det_parts(&m, &e);
                       const double d = std::ldexp(m, clamped(static_cast<double>(e)));
                       if (!std::isfinite(d)) throw std::domain_error("det: result is not finite (overflow)");
                       return d;
                     }
                     // log(det A), from the factors (never log(det(A))); det A <= 0 throws.
                     double log_det() const {
                       if (cholesky_) return 2.0 * llt_.matrixLLT().diagonal().array().log().sum();
                       if (zero_pivot_)
                         throw std::domain_error(
                             "logdet: the determinant is not positive (the matrix "
                             "is singular)");
                       const auto d = lu_.matrixLU().diagonal();
                       double sign = lu_.permutationP().determinant();
                       double s = 0.0;
                       for (Eigen::Index i = 0; i < d.size(); ++i) {
                         s += std::log(std::fabs(d(i)));
                         if (d(i) < 0.0) sign = -sign;
                       }
                       if (sign <= 0.0)
                         throw std::domain_error(
                             "logdet: the determinant is not positive (it is "
                             "negative)");
                       return s;
                     }
                     // det(A)^p * x, with det(A)^p kept as c * 2^q (|c| near 1) and the power of
                     // two applied to each entry last: det(X)*inv(X)' at X = 1e-200*I is
                     // 1e-200*I although det(X) alone underflows. A result too large for a
                     // double throws; one too small is 0.
                     double times_det(double x, double p) const {
                       int q = 0;
                       const double c = det_power(p, &q);
                       const double r = std::ldexp(x * c, q);
                       if (std::isfinite(x) && !std::isfinite(r))
                         throw std::domain_error(
                             "det: result is not finite "
                             "(overflow)");
                       return r;
                     }
                     template <class D>
                     typename D::PlainObject times_det(const Eigen::MatrixBase<D>& x_in, double p) const {
                       typename D::PlainObject x = x_in;
                       int q = 0;
                       const double c = det_power(p, &q);
                       const bool finite = x.allFinite();
                       for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = std::ldexp(x.data()[i] * c, q);
                       if (finite && !x.allFinite()) throw std::domain_error("det: result is not finite (overflow)");
                       return x;
                     }

                    private:
                     // An exponent of two as an int, clamped far past the range of a double.
                     static int clamped(double e) { return static_cast<int>(std::fmax(-100000.0, std::fmin(100000.0, e))); }
                     // det A = m * 2^e with 0.5 <= |m| < 1 (m = 0 when A is singular): the
                     // product of the pivots, renormalized by powers of two at every step, so
                     // that no partial product under- or overflows and no rounding is added.
                     void det_parts(double* m_out, long* e_out) const {
                       double m = 1.0;
                       long e = 0;
                       auto times = [&](double f) {
                         int k = 0;
                         m *= std::frexp(f, &k);
                         e += k;
                         m = std::frexp(m, &k);
                         e += k;
                       };
                       if (cholesky_) {
                         for (Eigen::Index i = 0; i < n_; ++i) {
                           times(llt_.matrixLLT()(i, i));
                           times(llt_.matrixLLT()(i, i));
                         }
                       } else if (zero_pivot_) {
                         m = 0.0;
                       } else {
                         times(static_cast<double>(lu_.permutationP().determinant()));
                         for (Eigen::Index i = 0; i < n_; ++i) times(lu_.matrixLU()(i, i));
                       }
                       *m_out = m;
                       *e_out = m == 0.0 ? 0 : e;
                     }
                     // det(A)^p = c * 2^q, for a constant p.
                     double det_power(double p, int* q) const {
                       double m = 0.0;
                       long e = 0;
                       det_parts(&m, &e);
                       *q = 0;
                       if (m == 0.0) {
                         if (p < 0.0) throw std::domain_error("'/': division by zero (the determinant is 0)");
                         return p == 0.0 ? 1.0 : 0.0;
                       }
                       if (m < 0.0 && p != std::round(p))
                         throw std::domain_error("'^': a negative determinant raised to a non-integer power");
                       const double ep = static_cast<double>(e) * p;
                       const double whole = std::floor(ep);
                       *q = clamped(whole);
                       const double c = std::pow(std::fabs(m), p) * std::exp2(ep - whole);
                       return m < 0.0 && std::fmod(p, 2.0) != 0.0 ? -c : c;
                     }
                     void require_invertible() const {
                       if (!(rcond_ >= 1e-13))
                         throw std::domain_error("inv: matrix is singular (reciprocal condition number " +
                                                 scientific(rcond_) + " is below 1e-13)");
                     }
                     // A positive number as 1.54198e-18, for messages (std::to_string is fixed-point).
                     static std::string scientific(double v) {
                       if (!(v > 0.0) || !std::isfinite(v)) return v == 0.0 ? "0" : std::to_string(v);
                       const double e = std::floor(std::log10(v));
                       std::string m = std::to_string(v / std::pow(10.0, e));
                       while (m.size() > 1 && m.back() == '0') m.pop_back();
                       if (m.back() == '.') m.pop_back();
                       return m + "e" + std::to_string(static_cast<int>(e));
                     }
                     Eigen::LLT<Eigen::MatrixXd> llt_;
                     Eigen::PartialPivLU<Eigen::MatrixXd> lu_;
                     Eigen::Index n_ = 0;
                     bool cholesky_ = false;
                     bool zero_pivot_ = false;
                     double rcond_ = 0.0;
                   };
      )CPP";
    case Helper::Norm2:
      return R"CPP(// The 2-norm (Frobenius for a matrix), as matcalc eval computes it: the square
                   // root of the sum of squares, or Eigen's scaled stableNorm where the squares
                   // under- or overflow (norm2 of [1e-200, 1e-200] is not 0).
                   template <class D>
                   static inline double norm2(const Eigen::MatrixBase<D>& x) {
                     const typename D::PlainObject v = x;
                     const double r = v.norm();
                     if (r > 1e-140 && r < 1e140) return r;
                     return v.stableNorm();
                   }
      )CPP";
    case Helper::MatPow:
      return R"CPP(// x^k for k >= 0, by repeated squaring.
static inline Eigen::MatrixXd matpow(Eigen::MatrixXd x, long long k) {
  Eigen::MatrixXd r = Eigen::MatrixXd::Identity(x.rows(), x.cols());
  while (k > 0) {
    if (k & 1) r = r * x;
    k >>= 1;
    if (k > 0) x = x * x;
  }
  return r;
}
)CPP";
    case Helper::Commutation:
      return R"CPP(// The commutation matrix K_{m,n}: K*vec(X) = vec(X') for an m x n X (column-major vec).
                   static inline Eigen::MatrixXd commutation(Eigen::Index m, Eigen::Index n) {
                     Eigen::MatrixXd k = Eigen::MatrixXd::Zero(m * n, m * n);
                     for (Eigen::Index i = 0; i < m; ++i)
                       for (Eigen::Index j = 0; j < n; ++j) k(j + n * i, i + m * j) = 1.0;
                     return k;
                   }
      )CPP";
    case Helper::Permute:
      return R"CPP(// K*B and A*K for K = K_{m,n} (K(j + n*i, i + m*j) = 1): B's rows, A's columns permuted.
                   template <class D>
                   static inline typename D::PlainObject commute_rows(Eigen::Index m, Eigen::Index n,
                                                                      const Eigen::MatrixBase<D>& b_in) {
                     const typename D::PlainObject b = b_in;
                     typename D::PlainObject r(b.rows(), b.cols());
                     for (Eigen::Index i = 0; i < m; ++i)
                       for (Eigen::Index j = 0; j < n; ++j) r.row(j + n * i) = b.row(i + m * j);
                     return r;
                   }
                   template <class D>
                   static inline typename D::PlainObject commute_cols(const Eigen::MatrixBase<D>& a_in, Eigen::Index m,
                                                                      Eigen::Index n) {
                     const typename D::PlainObject a = a_in;
                     typename D::PlainObject r(a.rows(), a.cols());
                     for (Eigen::Index i = 0; i < m; ++i)
                       for (Eigen::Index j = 0; j < n; ++j) r.col(i + m * j) = a.col(j + n * i);
                     return r;
                   }
      )CPP";
    case Helper::Kron:
      return R"CPP(// The Kronecker product; a vector when both operands are vectors of one orientation.
template <class A, class B>
static inline Eigen::Matrix<double, (A::RowsAtCompileTime == 1 && B::RowsAtCompileTime == 1) ? 1 : Eigen::Dynamic,
                            (A::ColsAtCompileTime == 1 && B::ColsAtCompileTime == 1) ? 1 : Eigen::Dynamic>
kron(const Eigen::MatrixBase<A>& a_in, const Eigen::MatrixBase<B>& b_in) {
  const typename A::PlainObject a = a_in;
  const typename B::PlainObject b = b_in;
  Eigen::Matrix<double, (A::RowsAtCompileTime == 1 && B::RowsAtCompileTime == 1) ? 1 : Eigen::Dynamic,
                (A::ColsAtCompileTime == 1 && B::ColsAtCompileTime == 1) ? 1 : Eigen::Dynamic>
      k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Eigen::Index j = 0; j < a.cols(); ++j)
    for (Eigen::Index i = 0; i < a.rows(); ++i) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}
)CPP";
    case Helper::Vec:
      return R"CPP(// The entries in column-major order, through a Map of an evaluated copy.
template <class D>
static inline Eigen::VectorXd vec(const Eigen::MatrixBase<D>& x) {
  const Eigen::MatrixXd v = x;
  return Eigen::Map<const Eigen::VectorXd>(v.data(), v.size());
}
)CPP";
    case Helper::Reshape:
      return R"CPP(// A column-major reshape, through a Map of an evaluated copy.
template <class D>
static inline Eigen::MatrixXd reshape(const Eigen::MatrixBase<D>& x, Eigen::Index rows, Eigen::Index cols) {
  const Eigen::MatrixXd v = x;
  if (v.size() != rows * cols) throw std::invalid_argument("reshape: the sizes do not match");
  return Eigen::Map<const Eigen::MatrixXd>(v.data(), rows, cols);
}
)CPP";
    case Helper::Sym:
      return "static inline Eigen::MatrixXd sym(const Eigen::MatrixXd& x) { return 0.5 * (x + x.transpose()); }\n";
    case Helper::LogSumExp:
      return R"CPP(// Shifted by the maximum so that large entries do not overflow.
template <class D>
static inline double logsumexp(const Eigen::MatrixBase<D>& x) {
  const typename D::PlainObject v = x;
  const double m = v.maxCoeff();
  if (std::isinf(m)) return m;
  return m + std::log((v.array() - m).exp().sum());
}
)CPP";
    case Helper::Softmax:
      return R"CPP(template <class D>
static inline typename D::PlainObject softmax(const Eigen::MatrixBase<D>& x) {
  const typename D::PlainObject v = x;
  const typename D::PlainObject e = (v.array() - v.maxCoeff()).exp().matrix();
  return e / e.sum();
}
)CPP";
    case Helper::Sigmoid:
      return R"CPP(// exp of a non-positive number only: no overflow for any input.
static inline double sigmoid(double t) {
  if (t >= 0.0) return 1.0 / (1.0 + std::exp(-t));
  const double e = std::exp(t);
  return e / (1.0 + e);
}
template <class D>
static inline typename D::PlainObject sigmoid(const Eigen::MatrixBase<D>& x) {
  return x.unaryExpr([](double t) { return sigmoid(t); });
}
)CPP";
    case Helper::Softplus:
      return R"CPP(// log(1 + exp(t)) without overflow or cancellation.
static inline double softplus(double t) { return std::log1p(std::exp(-std::fabs(t))) + (t > 0.0 ? t : 0.0); }
template <class D>
static inline typename D::PlainObject softplus(const Eigen::MatrixBase<D>& x) {
  return x.unaryExpr([](double t) { return softplus(t); });
}
)CPP";
    case Helper::Relu: return "static inline double relu(double t) { return t > 0.0 ? t : 0.0; }\n";
    case Helper::Sign:
      return "static inline double sign(double t) { return t > 0.0 ? 1.0 : (t < 0.0 ? -1.0 : 0.0); }\n";
    case Helper::Finite:
      return R"CPP(// Each output is checked finite, as matcalc eval checks every value: outside
                   // the domain (sqrt of a negative number) the arithmetic gives NaN, not an error.
                   static inline void not_finite(const char* what) {
                     throw std::domain_error(
                         std::string(what) +
                         " has no finite value at these inputs: an argument outside the domain (log or sqrt of a "
                         "negative number, a zero divisor, a fractional power of a negative number) or an overflow");
                   }
                   static inline double finite(double x, const char* what) {
                     if (!std::isfinite(x)) not_finite(what);
                     return x;
                   }
                   template <class D>
                   static inline typename D::PlainObject finite(const Eigen::MatrixBase<D>& x, const char* what) {
                     typename D::PlainObject r = x;
                     if (!r.allFinite()) not_finite(what);
                     return r;
                   }
      )CPP";
  }
  return "";
}

// ------------------------------------------------------------ the emitter

// One pass lowers every node to C++. It runs twice with the same decisions:
// first counting how often the code refers to each node (which is not how
// often the IR does: inv(A)*B refers to A's factorization and B, not to
// inv(A)), then writing, with nodes referred to more than once held in
// temporaries and every factorization in a named local.
class EigenEmitter final : public Emitter {
 public:
  EigenEmitter(const ModuleSpec& spec, const EigenOptions& opt) : Emitter(spec, "C++ code"), opt_(opt) {
    if (safe_identifier(opt.namespace_name) != opt.namespace_name)
      throw Error(ErrorKind::Usage, "'" + opt.namespace_name + "' is not a usable C++ namespace name");
    name_members();
  }

  std::string source() {
    count();
    std::string forward = forward_function();  // decides helpers and dimension sources
    std::string s = header();
    s += "namespace " + opt_.namespace_name + " {\n\n";
    s += structs();
    s += "namespace detail {\n\n";
    for (Helper h : helpers_) s += helper_source(h) + "\n";
    s += forward;
    s += "\n}  // namespace detail\n";
    s += public_functions();
    s += "\n}  // namespace " + opt_.namespace_name + "\n\n#endif  // " + guard() + "\n";
    return s;
  }

 private:
  const EigenOptions& opt_;
  std::set<std::string> dims_defined_;
  std::map<std::string, std::string> dim_doc_;  // dimension -> where it is read
  Helpers helpers_;

  std::map<std::string, Expr> symbols_;          // every symbol by name: the spec's and the roots'
  std::map<std::string, std::string> members_;   // symbol name -> member of Inputs
  std::map<std::string, std::string> dim_members_;  // dimension -> member of Inputs (no input has it)
  std::set<std::string> taken_;                  // member names in use

  std::string guard() const {
    std::string g;
    for (char c : opt_.namespace_name) g += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    return g + "_H_";
  }

  std::string unique_member(std::string m) {
    while (taken_.count(m)) m += "_";
    taken_.insert(m);
    return m;
  }

  void name_members() {
    symbols_ = spec_.symbols;
    std::vector<Expr> roots;
    for (const auto& stage : roots_) roots.insert(roots.end(), stage.begin(), stage.end());
    for (Expr e : topo_order(roots))
      if (e->op == Op::Symbol) symbols_.emplace(e->name, e);
    // Names that are usable as they are first, so that a renamed one never takes them.
    for (const auto& [name, sym] : symbols_)
      if (safe_identifier(name) == name) members_[name] = unique_member(name);
    for (const auto& [name, sym] : symbols_)
      if (!members_.count(name)) members_[name] = unique_member(safe_identifier(name));
  }

  std::string member_of(const std::string& name) const {
    auto it = members_.find(name);
    if (it == members_.end()) throw Error(ErrorKind::Unsupported, "no member for symbol '" + name + "'");
    return it->second;
  }

  std::string local_of_dim(const std::string& name) const override { return "d_" + safe_identifier(name); }

  // ---- syntax hooks

  Code number(double v) const override { return cpp_number(v); }
  Code negated(const Code& a) const override { return negate(a); }
  Code power_of(const Code& base, double p) const override { return call("std::pow", {base, cpp_number(p)}); }
  // Eigen folds a transpose into the operation that uses it.
  Code transposed(const Code& c, Kind k) const override { return transpose_code(c, k); }

  Code helper_call(Helper h, std::string_view fn, std::initializer_list<Code> args) {
    helpers_.insert(h);
    return call("detail::" + std::string(fn), args);
  }

  // An entrywise function: std::fn for a scalar, the array method otherwise.
  Code entrywise(Expr e, std::string_view std_fn, std::string_view array_method) {
    Expr a = e->kid(0);
    if (a->is_scalar()) return call(std_fn, {ref(a)});
    return method(method(method(ref(a), "array"), array_method), "matrix");
  }

  // A stable helper with an overload for double and one for Eigen objects.
  Code entrywise_helper(Expr e, Helper h, std::string_view fn) { return helper_call(h, fn, {ref(e->kid(0))}); }

  // ---- lowering

  Code lower(Expr e) override {
    if (std::optional<EigenOwn> own = eigen_own(e->op)) return lower_own(*own, e);
    // Spelled from print/spellings.def.
    const EigenSpelling& sp = spellings_of(e->op).eigen;
    switch (sp.kind) {
      case EigenSpelling::Kind::Method: return scalar_or(e, [&](const Code& x) { return method(x, sp.method); });
      case EigenSpelling::Kind::Entrywise: return entrywise(e, sp.fn, sp.method);
      case EigenSpelling::Kind::Own: break;  // eigen_own() has it
    }
    throw Error(ErrorKind::Unsupported, "no C++ form for operator " + std::string(op_name(e->op)));
  }

  // The operators written with code of their own (spellings.def): one case each.
  Code lower_own(EigenOwn op, Expr e) {
    Kind k = kind_of(e->shape);
    switch (op) {
      case EigenOwn::Const: return cpp_number(e->value);
      case EigenOwn::Symbol: return atom("in." + member_of(e->name));
      case EigenOwn::Identity: {
        Code n = dim(e->shape.rows);
        return call("Eigen::MatrixXd::Identity", {n, n});
      }
      case EigenOwn::Zeros: return filled(e, "Zero", 0.0);
      case EigenOwn::Commutation:
        return helper_call(Helper::Commutation, "commutation", {dim(e->param.rows), dim(e->param.cols)});
      case EigenOwn::Ones: return filled(e, "Ones", 1.0);
      case EigenOwn::Add: return lower_sum(e);
      case EigenOwn::Mul: return lower_product(e, false);
      case EigenOwn::Pow:
        // det(A)^p alone, scaled like det(A)^p times the rest of a product.
        if (DetPower d = det_power(e); d.matrix) return times_det(factorization(d.matrix), cpp_number(1), d.power);
        return call("std::pow", {ref(e->kid(0)), ref(e->kid(1))});
      case EigenOwn::MatPow: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return call("std::pow", {ref(a), cpp_number(static_cast<double>(e->power))});
        Code base = e->power < 0 ? method(factorization(a), "inverse") : ref(a);
        return helper_call(Helper::MatPow, "matpow", {base, atom(std::to_string(std::llabs(e->power)))});
      }
      case EigenOwn::ElemMul: return lower_entrywise_product(e);
      case EigenOwn::ElemDiv: {
        Expr a = e->kid(0), b = e->kid(1);
        if (k == Kind::Scalar) return binary(ref(a), "/", ref(b), kMul);
        return method(atom("(" + binary(array_operand(a), "/", array_operand(b), kMul).s + ")"), "matrix");
      }
      case EigenOwn::ElemPow: {
        Expr a = e->kid(0), p = e->kid(1);
        if (k == Kind::Scalar) return call("std::pow", {ref(a), ref(p)});
        Code x = method(ref(a), "array");
        if (p->is_const(2.0)) return method(method(x, "square"), "matrix");
        if (p->is_const(-1.0)) return method(method(x, "inverse"), "matrix");
        return method(method(x, "pow", {ref(p)}), "matrix");
      }
      case EigenOwn::Transpose: return transpose_code(ref(e->kid(0)), kind_of(e->kid(0)->shape));
      case EigenOwn::Det: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return ref(a);
        return method(factorization(determinant_source(a)), "det");
      }
      case EigenOwn::LogDet: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return call("std::log", {ref(a)});
        return method(factorization(determinant_source(a)), "log_det");
      }
      case EigenOwn::Inv: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return binary(atom("1.0"), "/", ref(a), kMul);
        InverseOf s = inverse_of(e);
        return method(factorization(s.matrix), s.transposed ? "inverse_transposed" : "inverse");
      }
      case EigenOwn::Diag: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return ref(a);
        return method(method(ref(a), "asDiagonal"), "toDenseMatrix");
      }
      case EigenOwn::DiagPart: {
        Expr a = e->kid(0);
        if (a->is_scalar()) return ref(a);
        Code d = method(ref(a), "diagonal");
        return k == Kind::Row ? transpose_code(d, Kind::Col) : d;
      }
      case EigenOwn::Norm2:
        if (e->kid(0)->is_scalar()) return call("std::fabs", {ref(e->kid(0))});
        return helper_call(Helper::Norm2, "norm2", {ref(e->kid(0))});
      case EigenOwn::Norm1:
        if (e->kid(0)->is_scalar()) return call("std::fabs", {ref(e->kid(0))});
        return method(method(ref(e->kid(0)), "cwiseAbs"), "sum");
      case EigenOwn::Vec: return lower_reshape(e);
      case EigenOwn::Reshape: return lower_reshape(e);
      case EigenOwn::Kron: {
        Expr a = e->kid(0), b = e->kid(1);
        if (a->is_scalar() || b->is_scalar()) return binary(ref(a), "*", ref(b), kMul);
        return helper_call(Helper::Kron, "kron", {ref(a), ref(b)});
      }
      case EigenOwn::Sym: return scalar_or(e, [&](const Code& x) { return helper_call(Helper::Sym, "sym", {x}); });
      case EigenOwn::LogSumExp:
        return scalar_or(e, [&](const Code& x) { return helper_call(Helper::LogSumExp, "logsumexp", {x}); });
      case EigenOwn::Softmax:
        if (e->kid(0)->is_scalar()) return atom("1.0");
        return helper_call(Helper::Softmax, "softmax", {ref(e->kid(0))});
      case EigenOwn::Sign:
        if (e->kid(0)->is_scalar()) return helper_call(Helper::Sign, "sign", {ref(e->kid(0))});
        return entrywise(e, "", "sign");
      case EigenOwn::Sigmoid: return entrywise_helper(e, Helper::Sigmoid, "sigmoid");
      case EigenOwn::Softplus: return entrywise_helper(e, Helper::Softplus, "softplus");
      case EigenOwn::Relu:
        if (e->kid(0)->is_scalar()) return helper_call(Helper::Relu, "relu", {ref(e->kid(0))});
        return method(ref(e->kid(0)), "cwiseMax", {atom("0.0")});
    }
    throw Error(ErrorKind::Unsupported, "no C++ form for operator " + std::string(op_name(e->op)));
  }

  // f(x) for a matrix argument; the builders fold f of a scalar to the scalar
  // (tr(s) = sum(s) = sym(s) = logsumexp(s) = s), which this mirrors.
  template <class F>
  Code scalar_or(Expr e, F f) {
    Expr a = e->kid(0);
    if (a->is_scalar()) return ref(a);
    return f(ref(a));
  }

  Code filled(Expr e, std::string_view what, double scalar) {
    const Shape& s = e->shape;
    switch (kind_of(s)) {
      case Kind::Scalar: return cpp_number(scalar);
      case Kind::Col: return call("Eigen::VectorXd::" + std::string(what), {dim(s.rows)});
      case Kind::Row: return call("Eigen::RowVectorXd::" + std::string(what), {dim(s.cols)});
      case Kind::Matrix: break;
    }
    return call("Eigen::MatrixXd::" + std::string(what), {dim(s.rows), dim(s.cols)});
  }

  // An operand of an entrywise operation: x.array(), or a scalar as it is.
  Code array_operand(Expr a) {
    if (a->is_scalar()) return ref(a);
    return method(ref(a), "array");
  }

  Code lower_entrywise_product(Expr e) {
    if (e->is_scalar()) {
      Code acc = ref(e->kid(0));
      for (std::size_t i = 1; i < e->kids.size(); ++i) acc = binary(acc, "*", ref(e->kid(i)), kMul);
      return acc;
    }
    Code acc = array_operand(e->kid(0));
    for (std::size_t i = 1; i < e->kids.size(); ++i) acc = binary(acc, "*", array_operand(e->kid(i)), kMul);
    return method(atom("(" + acc.s + ")"), "matrix");
  }

  // l.dot(r) for a row l and a column r; x'.dot(r) is x.dot(r).
  static Code dot(const Code& l, const Code& r) {
    if (ends_in_transpose(l)) return atom(l.s.substr(0, l.s.size() - kTransposeSuffix.size()) + ".dot(" + r.s + ")");
    return method(l, "dot", {r});
  }

  // L*R by the shapes: a row times a column is a double (a dot product),
  // anything else Eigen's product (outer, matrix-vector, matrix-matrix).
  Code multiply(const Code& l, const Shape& ls, const Code& r, const Shape& rs) override {
    if (kind_of(ls) == Kind::Row && kind_of(rs) == Kind::Col) return dot(l, r);
    return binary(l, "*", r, kMul);
  }

  // inv(A)*B = A \ B
  Code solve_left(Expr inv, const Code& b, const Shape&) override {
    InverseOf a = inverse_of(inv);
    return method(factorization(a.matrix), a.transposed ? "solve_transposed" : "solve", {b});
  }

  // B*inv(A) = (A' \ B')'
  Code solve_right(const Code& b, const Shape& bs, Expr inv, const Shape& s) override {
    InverseOf a = inverse_of(inv);
    Code bt = transpose_code(b, kind_of(bs));
    Code x = method(factorization(a.matrix), a.transposed ? "solve" : "solve_transposed", {bt});
    return transpose_code(x, kind_of(s.transposed()));
  }

  // Eigen's diagonal products scale rows or columns without forming the matrix.
  Code scale_rows(const Code& d, const Code& b, const Shape&) override {
    return binary(method(d, "asDiagonal"), "*", b, kMul);
  }
  Code scale_cols(const Code& a, const Shape&, const Code& d) override {
    return binary(a, "*", method(d, "asDiagonal"), kMul);
  }

  Code permute_rows(const Code& m, const Code& n, const Code& b, const Shape&) override {
    return helper_call(Helper::Permute, "commute_rows", {m, n, b});
  }
  Code permute_cols(const Code& a, const Shape&, const Code& m, const Code& n) override {
    return helper_call(Helper::Permute, "commute_cols", {a, m, n});
  }

  Code times_det(const Code& fac, const Code& x, double power) override {
    return method(fac, "times_det", {x, cpp_number(power)});
  }

  // vec(X) and reshape(X, r, c), both column-major.
  Code lower_reshape(Expr e) {
    Expr a = e->kid(0);
    Kind from = kind_of(a->shape), to = kind_of(e->shape);
    Code x = ref(a);
    if (to == Kind::Scalar || from == Kind::Scalar) return x;  // 1 x 1 either way
    if (one_d(to) && one_d(from)) return from == to ? x : transpose_code(x, from);
    if (one_d(to)) {
      Code v = helper_call(Helper::Vec, "vec", {x});
      return to == Kind::Col ? v : transpose_code(v, Kind::Col);
    }
    return helper_call(Helper::Reshape, "reshape", {x, dim(e->shape.rows), dim(e->shape.cols)});
  }

  // ---- inputs and dimensions

  // rows(), cols() or size(): the accessor of an input axis.
  static std::string accessor(const DimSource& s) {
    return s.axis == 0 ? "rows()" : s.axis == 1 ? "cols()" : "size()";
  }

  int symbol_stage(const std::string& name) const {
    auto it = symbols_.find(name);
    if (it == symbols_.end()) return -1;
    auto st = first_stage_.find(it->second);
    return st == first_stage_.end() ? -1 : st->second;
  }

  // const Eigen::Index d_n = in.W.rows(); preferring an input this stage
  // already reads, then one a later stage reads, then any declared one.
  std::string define_dim(const std::string& name, int stage) {
    std::vector<DimSource> sources = dim_sources(symbols_, name);
    const DimSource* best = nullptr;
    int best_rank = 3;
    for (const DimSource& s : sources) {
      int st = symbol_stage(s.symbol);
      int rank = st >= 0 && st <= stage ? 0 : st >= 0 ? 1 : 2;
      if (rank < best_rank) {
        best_rank = rank;
        best = &s;
      }
    }
    std::string local = local_of_dim(name);
    if (best) {
      std::string x = "in." + member_of(best->symbol) + "." + accessor(*best);
      if (best->factor != 1) x += " / " + std::to_string(best->factor);
      dim_doc_[name] = comment_text(name) + " = " + comment_text(best->symbol) + "." + accessor(*best) +
                       (best->factor != 1 ? " / " + std::to_string(best->factor) : "");
      return "  const Eigen::Index " + local + " = " + x + ";\n";
    }
    std::string member = dim_members_.count(name) ? dim_members_[name] : unique_member("dim_" + safe_identifier(name));
    dim_members_[name] = member;
    dim_doc_[name] = comment_text(name) + " = Inputs::" + member + " (no input has it)";
    return "  const Eigen::Index " + local + " = in." + member + ";\n" + "  if (" + local +
           " < 0) throw std::invalid_argument(" +
           cpp_string("set Inputs::" + member + " to the size of dimension " + name) + ");\n";
  }

  static bool is_symmetric_input(Expr sym) { return sym->symmetric && kind_of(sym->shape) == Kind::Matrix; }

  // Size and symmetry checks of an input, on its first use.
  std::string check_input(Expr sym) {
    Kind k = kind_of(sym->shape);
    if (k == Kind::Scalar) return "";
    helpers_.insert(Helper::CheckSize);
    std::string x = "in." + member_of(sym->name);
    std::string s = "  detail::check_size(" + cpp_string(sym->name) + ", " + cpp_string(sym->shape.str()) + ", " +
                    x + ".rows(), " + x + ".cols(), " + dim(sym->shape.rows).s + ", " + dim(sym->shape.cols).s +
                    ");\n";
    if (is_symmetric_input(sym)) {
      helpers_.insert(Helper::CheckSymmetric);
      s += "  const Eigen::MatrixXd " + names_.at(sym) + " = detail::checked_symmetric(" + cpp_string(sym->name) +
           ", " + x + ");\n";
    }
    return s;
  }

  // ---- the source

  std::string value_type() const { return cpp_type(kind_of(spec_.value->shape)); }
  // What the second-order function returns: a matrix for a Hessian or a
  // Jacobian, the variable's type for an hvp.
  std::string second_type() const {
    return second_is_matrix() ? "Eigen::MatrixXd" : cpp_type(kind_of(spec_.second_order()->shape));
  }
  bool has_gradient() const { return !spec_.gradients.empty(); }

  // ---- the stages of detail::forward

  // Dimensions the code or the inputs' checks need from here on, then the
  // checks of the inputs the stage reads first.
  std::string stage_prologue(int st) override {
    std::string s;
    std::vector<Expr> inputs = inputs_of_stage(st);
    std::set<std::string> dims;
    for (const auto& [name, first] : dim_stage_)
      if (first == st) dims.insert(name);
    for (Expr sym : inputs)
      if (!sym->is_scalar())
        for (const Dim* d : {&sym->shape.rows, &sym->shape.cols})
          for (const auto& f : d->factors()) dims.insert(f);
    for (const std::string& d : dims)
      if (dims_defined_.insert(d).second) s += define_dim(d, st);
    for (Expr sym : inputs) s += check_input(sym);
    return s;
  }

  std::string factorization_line(const std::string& name, Expr m) override {
    helpers_.insert(Helper::Factor);
    return "  const detail::Factor " + name + "(" + ref(m).s + ", " + (m->symmetric ? "true" : "false") + ");\n";
  }

  std::string temporary(const std::string& name, Expr e, const Code& code) override {
    return "  const " + cpp_type(kind_of(e->shape)) + " " + name + " = " + code.s + ";\n";
  }

  std::string stage_epilogue(int st, int last) override {
    std::string s;
    helpers_.insert(Helper::Finite);
    auto checked = [&](Expr root, const std::string& what) { return "finite(" + ref(root).s + ", \"" + what + "\")"; };
    if (st == 0) s += "  *value_out = " + checked(roots_[0][0], "the value") + ";\n";
    if (st == 1)
      for (std::size_t i = 0; i < roots_[1].size(); ++i)
        s += "  gradient_out->" + member_of(spec_.gradients[i].first) + " = " +
             checked(roots_[1][i], "the gradient with respect to " + spec_.gradients[i].first) + ";\n";
    if (st == 2) {
      std::string out = checked(roots_[2][0], second_what());
      // A scalar-shaped Hessian or Jacobian is computed as a double.
      if (second_is_matrix() && roots_[2][0]->is_scalar()) out = "Eigen::MatrixXd::Constant(1, 1, " + out + ")";
      s += "  *" + second_name() + "_out = " + out + ";\n";
    }
    if (st < last) s += "  if (stage == " + std::to_string(st) + ") return;\n";
    return s;
  }

  std::string forward_function() {
    const int last = static_cast<int>(roots_.size()) - 1;
    std::string params = "const Inputs& in";
    if (last > 0) params += ", int stage";
    params += ", " + value_type() + "* value_out";
    if (has_gradient()) params += ", Gradient* gradient_out";
    if (spec_.second_order()) params += ", " + second_type() + "* " + second_name() + "_out";
    std::string third = spec_.second_order() ? ", 2: " + second_name() : "";
    std::string s = "// The outputs up to `stage` (0: value, 1: gradient" + third + "), sharing temporaries.\n";
    s += "inline void forward(" + params + ") {\n";
    // A symmetric input is read through its checked, exactly symmetric copy sym<k>.
    int copies = 0;
    for (const auto& [name, sym] : symbols_)
      names_[sym] = is_symmetric_input(sym) ? "sym" + std::to_string(copies++) : "in." + member_of(name);
    return s + stages() + "}\n";
  }

  // Words as // comment lines of at most ~100 characters.
  static std::string wrapped_comment(const std::string& text) {
    std::string out, line = "//";
    std::size_t at = 0;
    while (at < text.size()) {
      std::size_t end = text.find(' ', at);
      if (end == std::string::npos) end = text.size();
      std::string word = text.substr(at, end - at);
      if (line.size() > 2 && line.size() + 1 + word.size() > 100) {
        out += line + "\n";
        line = "//";
      }
      line += " " + word;
      at = end + 1;
    }
    return out + line + "\n";
  }

  std::string header() const {
    std::string s = "// Generated by matcalc";
    if (!spec_.source.empty()) s += " from \"" + comment_text(spec_.source) + "\"";
    s += ".\n//\n";
    std::string about = "value(in) returns the function's value";
    if (has_gradient()) {
      about += ", gradient(in) its gradient with respect to ";
      for (std::size_t i = 0; i < spec_.gradients.size(); ++i)
        about += (i == 0 ? "" : i + 1 == spec_.gradients.size() ? " and " : ", ") + comment_text(spec_.gradients[i].first);
      about += " (a Gradient, one member per variable), value_and_gradient(in, g) both";
    }
    if (spec_.second_order()) about += ", " + second_doc();
    about += ". The symbols are the members of Inputs: double for a scalar, Eigen::VectorXd for a vector, "
             "Eigen::RowVectorXd for a 1 x n matrix, Eigen::MatrixXd otherwise.";
    s += wrapped_comment(about) + "// Symbols:\n";
    for (const auto& [name, sym] : symbols_) {
      s += "//   " + comment_text(name) + ": " + comment_text(sym->shape.str()) +
           (sym->symmetric && !sym->is_scalar() ? ", symmetric" : "");
      if (member_of(name) != name) s += " (member " + member_of(name) + ")";
      s += "\n";
    }
    if (!dim_doc_.empty()) {
      s += "// Dimensions are read off the inputs' sizes:";
      bool first = true;
      for (const auto& [name, doc] : dim_doc_) {
        s += (first ? " " : ", ") + doc;
        first = false;
      }
      s += ".\n";
    }
    s += "// Input sizes are checked (std::invalid_argument); a singular matrix, or a logdet of a\n"
         "// matrix whose determinant is not positive, throws std::domain_error.\n";
    s += "#ifndef " + guard() + "\n#define " + guard() + "\n\n";
    s += "#include <Eigen/Dense>\n#include <cmath>\n#include <stdexcept>\n#include <string>\n\n";
    return s;
  }

  // What the second-order function returns, for the header comment.
  std::string second_doc() const {
    const std::string x = spec_.second_wrt.empty() ? "the variable" : comment_text(spec_.second_wrt[0]);
    if (spec_.jacobian) return "jacobian(in) its Jacobian with respect to " + x + " (numel(value) x numel(" + x + "))";
    if (spec_.hvp)
      return "hvp(in) its Hessian with respect to " + x + " applied to the direction " + comment_text(spec_.direction) +
             " (a member of Inputs), shaped like " + x;
    if (spec_.second_wrt.size() == 2 && spec_.second_wrt[0] != spec_.second_wrt[1]) {
      const std::string y = comment_text(spec_.second_wrt[1]);
      return "hessian(in) the block of its Hessian with rows " + x + " and columns " + y + " (numel(" + x +
             ") x numel(" + y + "))";
    }
    return "hessian(in) its Hessian with respect to " + x + " (numel(" + x + ") x numel(" + x + "))";
  }

  // A member declaration, aligned comment and all.
  static std::string member_line(const std::string& type, const std::string& member, const std::string& comment) {
    std::string init = type == "double" ? " = 0.0" : "";
    return "  " + type + " " + member + init + ";  // " + comment + "\n";
  }

  std::string structs() {
    std::string s = "struct Inputs {\n";
    for (const auto& [name, sym] : symbols_) {
      std::string comment = comment_text(sym->shape.str()) + (sym->symmetric && !sym->is_scalar() ? ", symmetric" : "");
      if (member_of(name) != name) {
        comment += is_identifier(name) ? ", the symbol " + comment_text(name) + " (renamed: a C++ keyword, macro or reserved name)"
                                       : ", the symbol \"" + comment_text(name) + "\" (renamed: not a C++ identifier)";
      }
      s += member_line(cpp_type(kind_of(sym->shape)), member_of(name), comment);
    }
    for (const auto& [name, member] : dim_members_)
      s += "  Eigen::Index " + member + " = -1;  // the size of dimension " + comment_text(name) +
           ", which no input's size gives\n";
    s += "};\n\n";
    if (has_gradient()) {
      s += "struct Gradient {\n";
      for (const auto& [name, g] : spec_.gradients)
        s += member_line(cpp_type(kind_of(g->shape)), member_of(name),
                         "df/d" + comment_text(name) + ", " + comment_text(g->shape.str()));
      s += "};\n\n";
    }
    return s;
  }

  std::string public_functions() const {
    const int last = static_cast<int>(roots_.size()) - 1;
    auto forward_call = [&](int stage, const std::string& v, const std::string& g, const std::string& h) {
      std::string c = "detail::forward(in";
      if (last > 0) c += ", " + std::to_string(stage);
      c += ", " + v;
      if (has_gradient()) c += ", " + g;
      if (spec_.second_order()) c += ", " + h;
      return c + ");\n";
    };
    auto local = [](const std::string& type, const std::string& name) {
      return "  " + type + " " + name + (type == "double" ? " = 0.0" : "") + ";\n";
    };
    std::string s;
    s += "\n// The function's value.\n";
    s += "inline " + value_type() + " value(const Inputs& in) {\n";
    s += local(value_type(), "v");
    s += "  " + forward_call(0, "&v", "nullptr", "nullptr");
    s += "  return v;\n}\n";
    if (has_gradient()) {
      s += "\n// The gradient, each member shaped like its variable.\n";
      s += "inline Gradient gradient(const Inputs& in) {\n";
      s += local(value_type(), "v");
      s += "  Gradient g;\n";
      s += "  " + forward_call(1, "&v", "&g", "nullptr");
      s += "  return g;\n}\n";
      s += "\n// The value, and the gradient into g, sharing the work.\n";
      s += "inline " + value_type() + " value_and_gradient(const Inputs& in, Gradient& g) {\n";
      s += local(value_type(), "v");
      s += "  " + forward_call(1, "&v", "&g", "nullptr");
      s += "  return v;\n}\n";
    }
    if (spec_.second_order()) {
      s += spec_.hvp ? "\n// The Hessian-vector product, shaped like the variable.\n"
                     : std::string("\n// The ") + (spec_.jacobian ? "Jacobian" : "Hessian") +
                           " (rows and columns in column-major vec order).\n";
      s += "inline " + second_type() + " " + second_name() + "(const Inputs& in) {\n";
      s += local(value_type(), "v");
      if (has_gradient()) s += "  Gradient g;\n";
      s += local(second_type(), "h");
      s += "  " + forward_call(2, "&v", "&g", "&h");
      s += "  return h;\n}\n";
    }
    return s;
  }
};

}  // namespace

std::string to_eigen_source(const ModuleSpec& spec, const EigenOptions& options) {
  return EigenEmitter(spec, options).source();
}

std::string to_eigen_source(const ModuleSpec& spec) { return to_eigen_source(spec, EigenOptions{}); }

}  // namespace matcalc
